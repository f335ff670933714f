-- The SDK's password path against a real OpenStack Keystone (scripts/keystone, started by
-- scripts/test) in front of a Glance whose keystonemiddleware validates every token there. No
-- client below is given an `endpoint`: the image endpoint comes from the token's catalog.
local ims = require "ims"
local core = require "ims.core"
local env = require "support.env"

local K = env.stack -- KEYSTONE_URL, KEYSTONE_GLANCE_URL, ... (scripts/keystone's DIR/env)

-- A password client for user-a or user-b, scoped by project id (default) or by project name.
local function password(who, opts)
  opts = opts or {}
  local W = who:upper()
  local auth = { auth_url = K.KEYSTONE_URL, user = K["KEYSTONE_USER_" .. W],
    password = opts.password or K["KEYSTONE_PASSWORD_" .. W], domain = K.KEYSTONE_DOMAIN }
  if opts.by_name then
    auth.project_name = K["KEYSTONE_PROJECT_" .. W .. "_NAME"]
  else
    auth.project_id = K["KEYSTONE_PROJECT_" .. W]
  end
  return ims.new { auth = auth, region = opts.region, interface = opts.interface, log = opts.log,
    timeout = 30 }
end

local function unique(prefix) return string.format("%s-%d-%d", prefix, os.time(), math.random(1e9)) end

-- Keystone answers tokens issued so far (POST /v3/auth/tokens -> 201), from its access log.
local function tokens_issued()
  local n = 0
  for line in io.lines(K.KEYSTONE_LOG) do
    if line:find('"POST /v3/auth/tokens HTTP/1.1" 201', 1, true) then n = n + 1 end
  end
  return n
end

-- Revokes a token at Keystone (DELETE /v3/auth/tokens, the token revoking itself).
local function revoke(token)
  local s <close> = core.session {}
  local res = assert(s:request { method = "DELETE", url = K.KEYSTONE_URL .. "/auth/tokens",
    headers = { ["X-Auth-Token"] = token, ["X-Subject-Token"] = token }, timeout = 10 })
  assert.equal(204, res.status)
end

-- The token a password client holds (white-box: the SDK does not expose it publicly).
local function token_of(c)
  local a = c._auth
  local t = a.token
  if type(t) == "function" then t = a:token() end
  assert.is_string(t)
  return t
end

describe("a real Keystone and a Glance behind keystonemiddleware", function()
  local a, b, img, src
  local SIZE = 5 * 1024 * 1024 + 12345

  setup(function()
    a = password("a")
    src = env.write_random(env.tmpfile("ks-upload.bin"), SIZE)
  end)

  teardown(function()
    if img then a.images:delete(img, { ignore_missing = true }) end
    a:close()
    if b then b:close() end
  end)

  it("lists images with the image endpoint from the token's catalog", function()
    assert.is_nil(a.endpoint)
    local list = assert(a.images:list { max = 5 })
    assert.is_table(list)
    assert.equal(K.KEYSTONE_GLANCE_URL, a.endpoint)
    assert.equal(K.KEYSTONE_PROJECT_A, a.project_id)
  end)

  it("creates an image, uploads 5 MiB from a file and downloads the same verified bytes", function()
    img = assert(a.images:create { name = unique("ks-golden"), disk_format = "raw",
      container_format = "bare" })
    assert.equal(K.KEYSTONE_PROJECT_A, img.owner) -- Keystone's project id, via keystonemiddleware
    assert(img:upload(src))
    assert.equal("active", img.status)
    assert.equal(SIZE, img.size)
    local want = env.sha512_file(src)
    assert.equal(want, img.os_hash_value)
    local dst = env.tmpfile("ks-download.bin")
    local got = assert(a.images:download(img.id, dst))
    assert.equal(SIZE, got.bytes)
    assert.equal(want, got.sha512)
    assert.equal(want, env.sha512_file(dst))
  end)

  it("shares it with project B, whose project_name-scoped client accepts and downloads it", function()
    assert.is_table(img, "needs the image of the previous test")
    local member = assert(a.images:create_member(img, K.KEYSTONE_PROJECT_B))
    assert.equal("pending", member.status)
    b = password("b", { by_name = true })
    -- B learns its project id from its token (project_name scope) on its first call
    local before = assert(b.images:list { max = 1000 })
    for _, i in ipairs(before) do assert.not_equal(img.id, i.id) end -- pending: not listed yet
    assert.equal(K.KEYSTONE_PROJECT_B, b.project_id)
    assert.equal(K.KEYSTONE_GLANCE_URL, b.endpoint)
    local accepted = assert(b.images:accept(img))
    assert.equal("accepted", accepted.status)
    local seen = false
    for i in b.images:each() do if i.id == img.id then seen = true end end
    assert.is_true(seen)
    local dst = env.tmpfile("ks-b.bin")
    local got = assert(b.images:download(img.id, dst))
    assert.equal(SIZE, got.bytes)
    assert.equal(env.sha512_file(src), got.sha512)
    assert.equal(got.sha512, env.sha512_file(dst))
    -- B may read it, not delete it
    local ok, err = b.images:delete(img.id)
    assert.is_nil(ok)
    assert.equal(403, err.status)
  end)

  it("renews a token Keystone revoked mid-workflow once, and repeats the call", function()
    local statuses = {} -- of every attempt, through the `log` hook
    local function clear() for k in pairs(statuses) do statuses[k] = nil end end
    local c <close> = password("a", { log = function(ev) statuses[#statuses + 1] = ev.status end })
    assert(c.images:list { max = 1 })
    local old = token_of(c)
    local issued = tokens_issued()
    revoke(old)
    clear()
    local list = assert(c.images:list { max = 1 })
    assert.is_table(list)
    -- refused once, a new token (its POST is logged too), then the call repeated
    assert.same({ 401, 201, 200 }, statuses)
    assert.equal(issued + 1, tokens_issued()) -- exactly one new token
    assert.not_equal(old, token_of(c))

    -- the same in the middle of a transfer: the file body is sent again from its start
    local up = assert(c.images:create { name = unique("ks-reauth"), disk_format = "raw",
      container_format = "bare" })
    local ok, err = pcall(function()
      revoke(token_of(c))
      issued = tokens_issued()
      clear()
      assert(up:upload(src))
      assert.equal(issued + 1, tokens_issued())
      assert.same({ 401, 201, 204 }, { statuses[1], statuses[2], statuses[3] }) -- 201: the new token
      assert.equal(env.sha512_file(src), up.os_hash_value)
      assert.equal(SIZE, up.size)
    end)
    assert(c.images:delete(up))
    assert.is_true(ok, tostring(err))
  end)

  it("reports a wrong password as kind 'auth', status 401, without the password", function()
    local c <close> = password("a", { password = "not-the-password" })
    local res, err = c.images:list()
    assert.is_nil(res)
    assert.is_true(ims.is_error(err))
    assert.equal("auth", err.kind)
    assert.equal(401, err.status)
    assert.is_nil(tostring(err):find("not-the-password", 1, true))
  end)

  it("finds the image endpoint of the interface asked for", function()
    local c <close> = password("a", { interface = "internal" })
    assert(c.images:list { max = 1 })
    assert.equal(K.KEYSTONE_GLANCE_URL, c.endpoint)
    local bad <close> = password("a", { interface = "nonesuch" })
    local res, err = bad.images:list { max = 1 }
    assert.is_nil(res)
    assert.equal("auth", err.kind)
  end)

  it("picks the catalog's endpoint in the region asked for", function()
    local c <close> = password("a", { region = K.KEYSTONE_REGION })
    assert(c.images:list { max = 1 })
    assert.equal(K.KEYSTONE_GLANCE_URL, c.endpoint)
  end)

  it("reports a region that is not in the catalog as kind 'auth', naming the region", function()
    local c <close> = password("a", { region = "Atlantis-1" })
    local res, err = c.images:list { max = 1 }
    assert.is_nil(res)
    assert.equal("auth", err.kind, tostring(err))
    assert.truthy(tostring(err):find("Atlantis-1", 1, true))
    -- and what the catalog has instead
    assert.truthy(tostring(err):find("(it has: public in " .. K.KEYSTONE_REGION, 1, true), tostring(err))
  end)

  it("knows its project id for accept() as the first call of a project_name-scoped client", function()
    assert.is_table(img, "needs the image of the earlier tests")
    local c <close> = password("b", { by_name = true })
    local member = assert(c.images:accept(img.id))
    assert.equal("accepted", member.status)
    assert.equal(K.KEYSTONE_PROJECT_B, c.project_id)
  end)

  it("prints a client whose endpoint will come from the catalog", function()
    local c <close> = password("a")
    local ok, s = pcall(tostring, c)
    assert.is_true(ok, tostring(s))
    assert.truthy(s:find("^ims%.Client"))
  end)
end)
