-- Hostile servers (spec/support/hostile.py): what a misbehaving or malicious server can make
-- the SDK do. Each block is one item of the hostile-server issue; the whole class is checked,
-- not only the example.
local ims = require "ims"
local core = require "ims.core"
local url = require "ims.url"
local env = require "support.env"

local h
setup(function() h = env.hostile() end)
teardown(function() h:stop() end)
before_each(function() h:reset() end)

-- The requests the hostile server saw on the other origin, and every raw header block.
local function seen()
  local other_port = tonumber(h.other:match(":(%d+)$"))
  local on_other, raw = {}, {}
  for _, r in ipairs(h:log()) do
    if r.port == other_port then on_other[#on_other + 1] = r end
    raw[#raw + 1] = r.raw
  end
  return on_other, table.concat(raw, "\n")
end

local function listing(next_link)
  return { { status = 200, headers = { ["Content-Type"] = "application/json" },
    body = '{"images": [{"id": "11111111-1111-1111-1111-111111111111", "name": "a"}], '
      .. '"next": "' .. next_link .. '"}' } }
end

describe("credentials go only to the endpoint's origin", function()
  local clients = {
    token = function(endpoint) return ims.new { endpoint = endpoint, auth = { token = "tok-SECRET" } } end,
    aksk = function(endpoint)
      return ims.new { endpoint = endpoint, project_id = "p1",
        auth = { ak = "AK-SECRET", sk = "sk", security_token = "STS-SECRET" } }
    end,
  }
  -- other port, other host name, scheme change (https), and each of them with a path that
  -- looks like ours
  local links = {
    function() return h.other .. "/v2/images?marker=1" end,
    function() return h.url:gsub("127%.0%.0%.1", "localhost") .. "/v2/images?marker=1" end,
    function() return h.url:gsub("^http:", "https:") .. "/v2/images?marker=1" end,
    function() return "http://user@" .. h.other:match("//(.*)$") .. "/v2/images" end,
  }

  for kind, make in pairs(clients) do
    it("refuses a next link to another origin (" .. kind .. ")", function()
      for _, link in ipairs(links) do
        h:reset()
        local l = link()
        h:routes { ["/v2/images"] = listing(l) }
        local c <close> = make(h.url)
        local list, err = c.images:list()
        assert.is_nil(list)
        assert.equal("origin", err.kind)
        assert.equal("CROSS_ORIGIN", err.code)
        assert.equal(url.redact(l), err.url) -- names the link
        assert.matches("another origin", tostring(err))
        assert.is_string(err.hint)
        -- each() raises the same error from inside the loop
        local ok, raised = pcall(function() for _ in c.images:each() do end end)
        assert.is_false(ok)
        assert.equal("CROSS_ORIGIN", raised.code)
        local other, raw = seen()
        assert.same({}, other)
        assert.equal(2, select(2, raw:gsub("GET /v2/images ", ""))) -- only the first pages
      end
    end)
  end

  it("follows a next link on the endpoint's origin, relative or absolute", function()
    h:routes {
      ["/v2/images"] = {
        { status = 200, headers = { ["Content-Type"] = "application/json" },
          body = '{"images": [{"id": "a1"}], "next": "/v2/images/page2"}' } },
      ["/v2/images/page2"] = {
        { status = 200, headers = { ["Content-Type"] = "application/json" },
          body = '{"images": [{"id": "a2"}], "next": "{self}/v2/images/page3"}' } },
      ["/v2/images/page3"] = {
        { status = 200, headers = { ["Content-Type"] = "application/json" },
          body = '{"images": [{"id": "a3"}]}' } },
    }
    local c <close> = clients.token(h.url)
    local list = assert(c.images:list())
    assert.same({ "a1", "a2", "a3" }, { list[1].id, list[2].id, list[3].id })
  end)

  it("compares origins with default ports and case filled in", function()
    assert.is_true(url.same_origin("http://H:80/a", "http://h/b"))
    assert.is_true(url.same_origin("https://h:443/a", "HTTPS://h"))
    assert.is_false(url.same_origin("http://h/a", "https://h/a")) -- downgrade / upgrade
    assert.is_false(url.same_origin("http://h:8080/a", "http://h/a"))
    assert.is_false(url.same_origin("http://h.evil/a", "http://h/a"))
    assert.is_false(url.same_origin("not a url", "http://h/a"))
  end)
end)

describe("no header injection", function()
  local EVIL = "v\r\nX-Evil: 1"

  it("refuses CR, LF and NUL in every header value a client is given, naming the field", function()
    local cases = {
      { { headers = { ["X-A"] = EVIL } }, "header 'X%-A'" },
      { { headers = { ["X-A"] = "a\0b" } }, "header 'X%-A'" },
      { { headers = { ["X-A\r\nX-Evil"] = "1" } }, "invalid header name" },
      { { headers = { ["X A"] = "1" } }, "invalid header name" },
      { { user_agent = EVIL }, "option 'user_agent'" },
      { { project_id = EVIL }, "option 'project_id'" },
      { { auth = { token = EVIL } }, "option 'token'" },
      { { auth = { ak = EVIL, sk = "s" } }, "option 'ak'" },
      { { auth = { ak = "a", sk = "s", security_token = "t\0u" } }, "option 'security_token'" },
      { { auth = { auth_url = h.url, user = "u", password = "p", domain = "d", project_id = EVIL } },
        "option 'project_id'" },
    }
    for _, case in ipairs(cases) do
      local opts = case[1]
      opts.endpoint = h.url
      local ok, err = pcall(ims.new, opts)
      assert.is_false(ok)
      assert.matches("^ims.new", err)
      assert.matches(case[2], err)
    end
  end)

  it("refuses them in the core, for every request: blocking or concurrent, signed, hooked", function()
    local s <close> = core.session()
    local target = h.url .. "/anything"
    local attempts = {
      function() return s:request { url = target, headers = { ["X-A"] = EVIL } } end,
      function() return s:request { url = target, headers = { ["X-A"] = "a\0b" } } end,
      function() return s:request { url = target, headers = { ["X-A\nX-Evil"] = "1" } } end,
      function()
        return s:request { url = target, sign = { ak = "a", sk = "s", security_token = EVIL } }
      end,
      function()
        return s:request { url = target, sign = { ak = "a", sk = "s", security_token = "t\0u" } }
      end,
      function()
        return s:request { url = target, header_hook = function() return { ["X-B"] = EVIL } end }
      end,
      function() return core.session { user_agent = EVIL } end,
      function() return core.session { user_agent = "ua\0x" } end,
      -- concurrent requests (job polls among them) take the same path
      function() return s:submit { url = target, headers = { ["X-A"] = EVIL } } end,
      function()
        return s:submit { url = target, sign = { ak = "a", sk = "s", security_token = EVIL } }
      end,
      function() return s:submit { url = target .. "\r\nX-Evil: 1" } end,
    }
    for i, attempt in ipairs(attempts) do
      local ok, err = pcall(attempt)
      assert.is_false(ok, "attempt " .. i)
      assert.is_truthy(err:find("CR, LF or NUL", 1, true) or err:find("invalid header name", 1, true)
        or err:find("must not contain NUL", 1, true), err)
    end
    assert.equal(0, s:pending())
    local _, raw = seen()
    assert.is_nil(raw:find("X-Evil", 1, true))
    assert.equal("", raw) -- nothing was sent at all
  end)

  it("refuses a token from the wire that no header line can carry", function()
    for _, token in ipairs { "abc def", "abc\1def", "" } do
      h:reset()
      h:routes { ["/v3/auth/tokens"] = { { status = 201,
        headers = { ["Content-Type"] = "application/json", ["X-Subject-Token"] = token },
        body = '{"token": {"expires_at": "2099-01-01T00:00:00Z", "project": {"id": "p\\r\\nX-Evil: 1"}}}' } } }
      local c <close> = ims.new { endpoint = h.url, auth = { auth_url = h.url .. "/v3", user = "u",
        password = "p", domain = "d", project_name = "x" } }
      local list, err = c.images:list()
      assert.is_nil(list)
      assert.equal("auth", err.kind)
      local _, raw = seen()
      assert.is_nil(raw:find("X-Evil", 1, true))
      assert.is_nil(raw:find("GET /v2/images", 1, true))
    end
  end)

  it("does not learn a project id from the wire that is not a plain id", function()
    h:routes {
      ["/v3/auth/tokens"] = { { status = 201,
        headers = { ["Content-Type"] = "application/json", ["X-Subject-Token"] = "tok" },
        body = '{"token": {"expires_at": "2099-01-01T00:00:00Z", "project": {"id": "../p"}}}' } },
    }
    local c <close> = ims.new { endpoint = h.url, auth = { auth_url = h.url .. "/v3", user = "u",
      password = "p", domain = "d", project_name = "x" } }
    local job, err = c.jobs:get("j1")
    assert.is_nil(job)
    assert.is_table(err)
    assert.is_nil(c.project_id)
    local _, raw = seen()
    assert.is_nil(raw:find("/jobs/", 1, true))
  end)
end)

local JSON = { ["Content-Type"] = "application/json" }

local function token_client(opts)
  opts = opts or {}
  opts.endpoint = opts.endpoint or h.url
  opts.auth = opts.auth or { token = "t" }
  if opts.retry == nil then opts.retry = false end
  return ims.new(opts)
end

describe("errors print safely", function()
  it("escapes control bytes and invalid UTF-8 in everything tostring(err) shows", function()
    h:routes { ["/v2/images/x"] = { { status = 404,
      headers = { ["Content-Type"] = "application/json", ["X-Request-Id"] = "req-\27[2J-\7" },
      body = '{"message": "gone \\u001b]0;pwned\\u0007 \\u009b31m caf\\u00e9", "code": "IMG.\\u001b0027"}' } } }
    local c <close> = token_client()
    local _, err = c.images:get("x")
    local text = tostring(err)
    assert.is_nil(text:find("[%c\127]"), text)
    assert.is_nil(text:find("\194\155", 1, true)) -- C1 CSI as UTF-8
    assert.matches("\\x1B]0;pwned\\x07", text, 1, true)
    assert.matches("café", text, 1, true) -- real text survives
    assert.matches("(request req-\\x1B[2J-\\x07)", text, 1, true)
    assert.truthy(err.body:find("\\u001b", 1, true)) -- the raw body stays raw
    h:routes { ["/v2/images/y"] = { { status = 500, headers = { ["Content-Type"] = "text/plain" },
      body = "bad \255\254 bytes" } } }
    local _, err2 = c.images:get("y")
    assert.matches("bad \\xFF\\xFE bytes", tostring(err2), 1, true)
  end)
end)

describe("values from the wire are data", function()
  local function job_doc(id, status, entities)
    return { headers = JSON, body = require("ims.json").encode { job_id = id, status = status,
      job_type = "t", begin_time = "2026-01-01T00:00:00Z", entities = entities or {} } }
  end

  it("keeps polling our job whatever job_id the answers carry, and never raises on them", function()
    h:routes { ["/v1/p1/jobs/j1"] = { job_doc("other", "RUNNING"), job_doc("..", "RUNNING"),
      { headers = JSON, body = '{"job_id": 5, "status": "RUNNING"}' },
      job_doc("j2", "SUCCESS", { image_id = ".." }) } }
    local c <close> = token_client { project_id = "p1" }
    local job = assert(c.jobs:wrap("j1"):wait { interval = 0.05, max_interval = 0.05, timeout = 10 })
    assert.equal("j1", job.job_id)
    assert.equal("SUCCESS", job.status)
    for _, r in ipairs(h:log()) do assert.equal("/v1/p1/jobs/j1", r.target) end
    assert.is_nil(job.image_id)
    local img, err = job:image() -- the server named "..": not an image we can ask for
    assert.is_nil(img)
    assert.equal("decode", err.kind)
    for _, bad in ipairs { '{"job_id": 5, "status": "SUCCESS", "entities": {"image_id": {"a": 1}}}',
      '{"job_id": "j1", "status": "SUCCESS", "entities": {"image_id": 42}}' } do
      h:reset()
      h:routes { ["/v1/p1/jobs/j1"] = { { headers = JSON, body = bad } } }
      local got = assert(c.jobs:get("j1"))
      assert.equal("j1", got.job_id)
      local i2, e2 = got:image()
      assert.is_nil(i2)
      assert.equal("decode", e2.kind)
    end
  end)

  it("refuses a job id from the wire that could forge a journal record, and encodes records", function()
    h:routes { ["/v1/cloudimages/wholeimages/action"] = {
      { headers = JSON, body = '{"job_id": "j1\\nevil\\tjob\\t1"}' } } }
    local c <close> = token_client { project_id = "p1" }
    local path = env.tmpfile("forge.journal")
    local j <close> = assert(c:journal(path))
    local job, err = j:job("whole", function()
      return c.cloudimages:create_whole_image { name = "w", instance_id = "i" }
    end)
    assert.is_nil(job)
    assert.equal("decode", err.kind)
    -- a value of our own with tabs and line breaks round-trips as one record
    assert(j:job("mine", function() return { job_id = "a\tb\nc%d" } end))
    j:close()
    local text = env.read(path)
    assert.equal(1, select(2, text:gsub("\n", "")))
    local again <close> = assert(c:journal(path))
    local job2, _, how = again:job("mine", function() error("must not start again") end)
    assert.equal("recorded", how)
    assert.equal("a\tb\nc%d", job2.job_id)
  end)
end)

describe("bounded memory, bounded paging", function()
  it("caps a JSON or error body, endless or huge, with a clear error and no crash", function()
    h:routes { ["/v2/images/big"] = { { size = 5 * 1024 * 1024, headers = JSON } },
      ["/v2/images/endless"] = { { endless = true, headers = JSON } },
      ["/v2/images/bad"] = { { status = 500, endless = true } } }
    local c <close> = token_client { max_body = 1024 * 1024 }
    for _, id in ipairs { "big", "endless", "bad" } do
      local img, err = c.images:get(id)
      assert.is_nil(img)
      assert.equal("BODY_TOO_LARGE", err.code)
      assert.matches("max_body", tostring(err))
    end
    assert.has_error(function() token_client { max_body = -1 } end)
  end)

  it("stops a listing whose next link keeps changing, or that never ends", function()
    h:routes { ["/v2/images"] = { { headers = JSON,
      body = '{"images": [{"id": "same"}], "next": "/v2/images?marker={n}"}' } } }
    local c <close> = token_client()
    local list, err = c.images:list()
    assert.is_nil(list)
    assert.equal("PAGE_LOOP", err.code)
    assert.equal(2, #h:log())
    local ok, raised = pcall(function() for _ in c.images:each() do end end)
    assert.is_false(ok)
    assert.equal("PAGE_LOOP", raised.code)

    h:reset()
    h:routes { ["/v2/images"] = { { headers = JSON,
      body = '{"images": [{"id": "i{n}"}], "next": "/v2/images?marker=i{n}"}' } } }
    local pager = require "ims.pager"
    local saved = pager.MAX_PAGES
    pager.MAX_PAGES = 30
    local l2, e2 = c.images:list()
    pager.MAX_PAGES = saved
    assert.is_nil(l2)
    assert.equal("TOO_MANY_PAGES", e2.code)
    assert.equal(30, #h:log())
    -- and a whole listing is one call: bounded by the client's timeout
    h:reset()
    h:routes { ["/v2/images"] = { { headers = JSON, pause = 0.1,
      body = '{"images": [{"id": "i{n}"}], "next": "/v2/images?marker=i{n}"}' } } }
    local slow <close> = token_client { timeout = 0.6 }
    local t0 = core.now()
    local l3, e3 = slow.images:list()
    assert.is_nil(l3)
    assert.equal("timeout", e3.kind)
    assert.is_true(core.now() - t0 < 2)
  end)

  it("stops an IMS marker loop", function()
    h:routes { ["/v2/cloudimages"] = { { headers = JSON,
      body = '{"images": [{"id": "a"}, {"id": "b"}]}' }, { headers = JSON,
      body = '{"images": [{"id": "c"}, {"id": "d"}]}' } } } -- then c, d for ever
    local c <close> = token_client()
    local list, err = c.cloudimages:list { limit = 2 }
    assert.is_nil(list)
    assert.equal("PAGE_LOOP", err.code)
    assert.equal(3, #h:log())
  end)
end)

describe("malformed 200 answers", function()
  local variants = {
    { headers = { ["Content-Type"] = "text/html" }, body = "<html><body>Welcome</body></html>" },
    { headers = JSON, body = '"a string"' },
    { headers = JSON, body = "null" },
    { headers = JSON, body = "{}" },
    { headers = JSON, body = "[1, 2]" },
    { body = '{"id": "x", "images": [], "job_id": "j"}' }, -- no content type: not JSON to us
    { headers = JSON, body = '{"images": [1, "x", null]}' },
    { headers = JSON, body = '{"images": [{"id": {"nested": true}}]}' },
  }
  local calls = {
    function(c) return c.images:get("x") end,
    function(c) return c.images:create { name = "n" } end,
    function(c) return c.images:update("x", { name = "n" }) end,
    function(c) return c.images:list() end,
    function(c) return c.images:create_member("x", "p2") end,
    function(c) return c.images:list_members("x") end,
    function(c) return c.images:get_member("x", "p2") end,
    function(c) return c.images:update_member("x", "p2", "accepted") end,
    function(c) return c.images:accept("x") end,
    function(c) return c.cloudimages:create { name = "n", image_url = "b:o", min_disk = 1 } end,
    function(c) return c.cloudimages:update("x", { name = "n" }) end,
    function(c) return c.cloudimages:list() end,
    function(c) return c.cloudimages:export("x", { bucket_url = "b:o", file_format = "qcow2" }) end,
    function(c) return c.jobs:get("j") end,
    function(c) return c.images:download("x", function() end) end,
  }
  it("give nil, err of kind decode from every call, never a Lua error", function()
    for v, variant in ipairs(variants) do
      h:reset()
      local routes = {}
      for _, path in ipairs { "/v2/images", "/v2/images/x", "/v2/images/x/members",
        "/v2/images/x/members/p2", "/v2/cloudimages/action", "/v2/cloudimages/x", "/v2/cloudimages",
        "/v1/cloudimages/x/file", "/v1/p1/jobs/j" } do
        routes[path] = { variant }
      end
      h:routes(routes)
      local c <close> = token_client { project_id = "p1" }
      for k, call in ipairs(calls) do
        local ok, value, err = pcall(call, c)
        assert.is_true(ok, "variant " .. v .. ", call " .. k .. " raised: " .. tostring(value))
        if value == nil then
          assert.is_true(ims.is_error(err), "variant " .. v .. ", call " .. k)
          assert.is_truthy(err.kind == "decode" or err.kind == "http", err.kind)
        end
      end
    end
  end)
end)

describe("files", function()
  local n = 256 * 1024
  local data
  setup(function()
    local t = {}
    for i = 0, n - 1 do t[#t + 1] = string.char(i % 251) end
    data = table.concat(t)
  end)
  local function routes(md5, file)
    h:routes { ["/v2/images/img"] = { { headers = JSON, body = '{"id": "img", "status": "active", "size": '
      .. n .. ', "checksum": "' .. md5 .. '"}' } }, ["/v2/images/img/file"] = file or { { pattern = n } } }
  end

  it("never leaves a complete-looking wrong file at dest, nor clobbers one there", function()
    routes(string.rep("0", 32)) -- the server's checksum is not its data's
    local c <close> = token_client()
    local dest = env.tmpfile("wrong.bin")
    local r, err = c.images:download("img", dest)
    assert.is_nil(r)
    assert.equal("checksum", err.kind)
    assert.is_nil(io.open(dest, "rb"))
    assert.is_nil(io.open(dest .. ".part", "rb"))
    env.write(dest, "precious")
    local r2 = c.images:download("img", dest)
    assert.is_nil(r2)
    assert.equal("precious", env.read(dest))
  end)

  it("keeps a resumable partial file aside, and starts over once when its tail is corrupt", function()
    local md5 = core.digest("md5", data)
    routes(md5, { { pattern = n, cut_after = 100000 }, { pattern = n } })
    local c <close> = token_client()
    local dest = env.tmpfile("resume.bin")
    local r, err = c.images:download("img", dest, { resume = true })
    assert.is_nil(r)
    assert.equal("PARTIAL_FILE", err.code)
    assert.is_nil(io.open(dest, "rb"))
    assert.equal(100000, #env.read(dest .. ".part"))
    assert(c.images:download("img", dest, { resume = true }))
    assert.equal(data, env.read(dest))
    assert.is_nil(io.open(dest .. ".part", "rb"))
    -- a partial file whose bytes are not the image's: the resumed check fails, one fresh try
    h:reset()
    routes(md5)
    env.write(dest .. ".part", string.rep("x", 5000))
    local r3 = assert(c.images:download("img", dest, { resume = true }))
    assert.equal(n, r3.bytes)
    assert.equal(data, env.read(dest))
    local gets = 0
    for _, q in ipairs(h:log()) do if q.target == "/v2/images/img/file" then gets = gets + 1 end end
    assert.equal(2, gets)
  end)

  it("refuses NUL in paths as misuse, and reports file trouble as kind file", function()
    local c <close> = token_client()
    assert.has_error(function() c.images:download("img", "nul\0.evil") end,
      "ims.images:download: argument 'dest' must be a file path (a string without NUL) (got a string holding NUL)")
    assert.has_error(function() c.images:upload("img", "up\0.other") end)
    assert.has_error(function() c.images:upload("img", { path = "up\0.other" }) end)
    assert.has_error(function() c:journal("j\0x") end)
    local _, err = c.images:upload("img", "/nonexistent/file.raw")
    assert.equal("file", err.kind)
    routes(core.digest("md5", data))
    local _, err2 = c.images:download("img", "/nonexistent/dir/x.bin", { resume = true })
    assert.equal("file", err2.kind)
  end)
end)

describe("numbers", function()
  it("refuses non-finite and out-of-range numbers where the user passed them", function()
    for _, case in ipairs {
      { { timeout = -1 }, "timeout" }, { { timeout = 0 / 0 }, "timeout" },
      { { timeout = math.huge }, "timeout" }, { { connect_timeout = 0 }, "connect_timeout" },
      { { stall_timeout = -5 }, "stall_timeout" }, { { rate_limit = 0 }, "rate_limit" },
      { { rate_limit = 0 / 0 }, "rate_limit" }, { { retry = { attempts = 0 } }, "retry.attempts" },
      { { retry = { base_delay = -1 } }, "retry.base_delay" },
    } do
      local opts = case[1]
      opts.endpoint = h.url
      local ok, err = pcall(ims.new, opts)
      assert.is_false(ok)
      assert.matches("^ims.new: option '" .. case[2]:gsub("%p", "%%%0") .. "'", err)
    end
    local c <close> = token_client { project_id = "p1" }
    local ok, err = pcall(function() c.jobs:wrap("j"):wait { interval = -1 } end)
    assert.is_false(ok)
    assert.matches("ims.job:wait: option 'interval'", err, 1, true)
    assert.has_error(function() c.images:list { max = -1 } end, "ims.images:list: option 'max' must be >= 0")
  end)
end)
