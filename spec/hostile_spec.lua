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
