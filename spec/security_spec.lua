-- Secrets stay secret, path parts stay path parts, credentials stay off plain http.
local ims = require "ims"
local env = require "support.env"
local raw = require "support.raw"

local S = env.stack

-- Everything a value says when printed, tables walked (what a logger would write).
local function dump(v, out, seen)
  out, seen = out or {}, seen or {}
  if type(v) == "table" then
    if seen[v] then return out end
    seen[v] = true
    out[#out + 1] = tostring(v)
    for k, x in pairs(v) do dump(k, out, seen); dump(x, out, seen) end
  else
    out[#out + 1] = tostring(v)
  end
  return out
end

describe("security", function()
  it("refuses to send credentials over plain http to another host", function()
    for _, opts in ipairs {
      { endpoint = "http://ims.example.com", auth = { token = "t" } },
      { endpoint = "http://10.1.2.3:8774", auth = { ak = "a", sk = "s" } },
      { endpoint = "https://ims.example.com", auth = { auth_url = "http://iam.example.com/v3", user = "u",
        password = "p", domain = "d", project_id = "x" } },
    } do
      local ok, err = pcall(ims.new, opts)
      assert.is_false(ok)
      assert.matches("refusing to send credentials over plain http", err)
    end
    local fine = {
      ims.new { endpoint = "http://127.0.0.1:1", auth = { token = "t" } },
      ims.new { endpoint = "http://localhost:1", auth = { token = "t" } },
      ims.new { endpoint = "https://ims.example.com", auth = { token = "t" } },
      ims.new { endpoint = "http://ims.example.com", auth = { token = "t" }, allow_insecure = true },
      ims.new { endpoint = "http://ims.example.com" }, -- nothing secret to send
    }
    for _, c in ipairs(fine) do c:close() end
  end)

  it("never shows a token, SK, password or signature in logs or errors", function()
    local seen = {}
    local function log(ev) seen[#seen + 1] = ev end
    local a <close> = ims.new { endpoint = S.IMS_ENDPOINT, project_id = S.IMS_PROJECT_A, log = log,
      auth = { ak = S.IMS_AK_A, sk = S.IMS_SK_A } }
    local p <close> = ims.new { endpoint = S.IMS_ENDPOINT, log = log, auth = { auth_url = S.IAM_ENDPOINT,
      user = S.IMS_USER_B, password = S.IMS_PASSWORD_B, domain = S.IMS_DOMAIN, project_id = S.IMS_PROJECT_B } }
    local errs = {}
    local function keep(_, e) if e then errs[#errs + 1] = e end end
    local img = assert(a.images:create { name = "secret-check", disk_format = "raw", container_format = "bare" })
    assert(img:upload { reader = (function() local d = { "bytes" }; return function() return table.remove(d) end end)() })
    keep(a.images:get("00000000-0000-0000-0000-000000000000"))
    keep(p.images:get("00000000-0000-0000-0000-000000000000"))
    local job = assert(a.cloudimages:create { name = "secret-fail", min_disk = 40, image_url = S.IMS_BUCKET .. ":nope" })
    keep(job:wait { interval = 0.1, timeout = 30 })
    assert(p.cloudimages:list { max = 1 })
    local bad <close> = ims.new { endpoint = S.IMS_ENDPOINT, log = log, auth = { auth_url = S.IAM_ENDPOINT,
      user = S.IMS_USER_A, password = "not-the-password-1234", domain = S.IMS_DOMAIN, project_id = S.IMS_PROJECT_A } }
    keep(bad.images:list())
    keep(ims.new { endpoint = S.IMS_ENDPOINT, log = log, auth = { token = "secret-token-5678" } }.images:list())
    assert(img:delete())
    assert.is_true(#errs >= 5)
    local text = table.concat(dump(seen), "\n") .. table.concat(dump(errs), "\n")
    for _, e in ipairs(errs) do text = text .. tostring(e) end
    text = text .. tostring(a) .. tostring(p) .. table.concat(dump(a), "\n")
    assert.matches(S.IMS_PROJECT_A, text) -- the dump does reach request details
    for _, secret in ipairs { S.IMS_SK_A, S.IMS_PASSWORD_B, "not-the-password-1234", "secret-token-5678",
      p._auth:token(), "Signature=" } do
      assert.is_nil(text:find(secret, 1, true), "leaked: " .. secret)
    end
  end)

  it("escapes ids and tags as single path segments", function()
    local urls = {}
    local c <close> = ims.new { endpoint = env.httpd_url, retry = false,
      log = function(ev) urls[#urls + 1] = ev.url end }
    c.images:update_tag("img/../x?y#z", "a/b?c#d%e\r\nX-Injected: 1")
    assert.equal(env.httpd_url .. "/v2/images/img%2F..%2Fx%3Fy%23z/tags/a%2Fb%3Fc%23d%25e%0D%0AX-Injected%3A%201", urls[1])
    c.images:get_member("id", "p q")
    assert.equal(env.httpd_url .. "/v2/images/id/members/p%20q", urls[2])
    for _, bad in ipairs { "..", "." } do
      assert.has_error(function() c.images:get(bad) end)
      assert.has_error(function() c.images:update_tag("id", bad) end)
    end
    local res = raw.admin("GET", "/stats") -- the stack is untouched by the above
    assert.is_table(res)
  end)
  describe("TLS and proxies", function()
    local dir, cert, port, stop
    setup(function()
      dir = env.tmpfile("tls")
      assert(os.execute("mkdir -p '" .. dir .. "'"))
      cert = env.self_signed(dir)
      port, stop = env.netpeer("tls", cert, dir .. "/key.pem")
    end)
    teardown(function() stop() end)

    it("verifies certificates by default, trusts a ca_file, and says what to do", function()
      local endpoint = "https://127.0.0.1:" .. port
      local c <close> = ims.new { endpoint = endpoint, auth = { token = "t" } }
      local res, err = c.images:list()
      assert.is_nil(res)
      assert.equal("transport", err.kind)
      assert.equal("PEER_FAILED_VERIFICATION", err.code)
      assert.matches("ca_file", err.hint)
      local trusted <close> = ims.new { endpoint = endpoint, auth = { token = "t" }, ca_file = cert }
      assert.same({}, assert(trusted.images:list()))
      local unverified <close> = ims.new { endpoint = endpoint, auth = { token = "t" }, verify = false }
      assert.same({}, assert(unverified.images:list()))
    end)

    it("goes through a forward proxy", function()
      local glance_port = env.glance_url:match(":(%d+)")
      local pport, pstop = env.netpeer("proxy", glance_port)
      -- the host does not resolve: only the proxy can reach it
      local c <close> = ims.new { endpoint = "http://glance.invalid:" .. glance_port,
        proxy = "http://127.0.0.1:" .. pport, headers = env.identity_headers("a") }
      local list, err = c.images:list { limit = 1, max = 1 }
      local direct <close> = ims.new { endpoint = "http://glance.invalid:" .. glance_port,
        headers = env.identity_headers("a"), retry = false }
      local _, derr = direct.images:list { max = 1 }
      pstop()
      assert(list, tostring(err))
      assert.equal("COULDNT_RESOLVE_HOST", derr.code)
    end)
  end)
end)
