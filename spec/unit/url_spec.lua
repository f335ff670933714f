-- ims.url: escaping, path/query building, joining/resolving, parsing and redaction.
local url = require "ims.url"

describe("ims.url.escape", function()
  it("keeps only unreserved characters", function()
    assert.are.equal("AZaz09-._~", url.escape("AZaz09-._~"))
  end)

  it("percent-encodes everything else with upper-case hex", function()
    assert.are.equal("%2F", url.escape("/"))
    assert.are.equal("%3F", url.escape("?"))
    assert.are.equal("%23", url.escape("#"))
    assert.are.equal("%25", url.escape("%"))
    assert.are.equal("%20", url.escape(" "))
    assert.are.equal("%0D%0A", url.escape("\r\n"))
    assert.are.equal("%3D%26%3A%2B", url.escape("=&:+"))
    assert.are.equal("%C3%A9", url.escape("é"))
    assert.are.equal("%00", url.escape("\0"))
    assert.are.equal("a%2F..%3Fb%23c%25d%0D%0A", url.escape("a/..?b#c%d\r\n"))
  end)

  it("formats integers with %d", function()
    assert.are.equal("42", url.escape(42))
    assert.are.equal("42", url.escape(42.0))
  end)
end)

describe("ims.url.path", function()
  it("joins escaped segments with a leading slash", function()
    assert.are.equal("/v2/images/abc/tags/x%20y", url.path("v2", "images", "abc", "tags", "x y"))
  end)

  it("cannot be steered by ids or tags holding / .. ? # % CR LF", function()
    assert.are.equal("/v2/images/..%2F..%2Fv1%3Fa%3D1%23f/tags/50%25%0D%0AX-Evil%3A%201",
      url.path("v2", "images", "../../v1?a=1#f", "tags", "50%\r\nX-Evil: 1"))
  end)

  it("refuses segments that escaping cannot neutralise", function()
    assert.has_error(function() url.path("v2", "images", "..") end, "ims: invalid path segment '..'")
    assert.has_error(function() url.path("v2", "images", ".") end, "ims: invalid path segment '.'")
    assert.has_error(function() url.path("v2", "images", "") end, "ims: invalid path segment ''")
    assert.has_error(function() url.path("v2", nil, "x") end)
    assert.has_error(function() url.path("v2", {}) end)
    assert.has_error(function() url.path("v2", 1.5) end)
  end)

  it("formats numbers with %d", function()
    assert.are.equal("/v1/p/jobs/7/8", url.path("v1", "p", "jobs", 7, 8.0))
  end)
end)

describe("ims.url.query", function()
  it("is empty for nil and empty tables", function()
    assert.are.equal("", url.query(nil))
    assert.are.equal("", url.query({}))
  end)

  it("sorts keys and has no leading '?'", function()
    assert.are.equal("a=1&b=2&c=3", url.query({ c = 3, a = 1, b = 2 }))
  end)

  it("repeats the key for each element of a list, in order", function()
    assert.are.equal("limit=2&tag=b&tag=a%20c", url.query({ tag = { "b", "a c" }, limit = 2 }))
    assert.are.equal("", url.query({ tag = {} }))
  end)

  it("formats booleans, integers, integral floats and escapes strings", function()
    assert.are.equal("os_hidden=false&protected=true", url.query({ os_hidden = false, protected = true }))
    assert.are.equal("size_min=123456789012345678", url.query({ size_min = 123456789012345678 }))
    assert.are.equal("limit=25", url.query({ limit = 25.0 }))
    assert.are.equal("x=0.5", url.query({ x = 0.5 }))
    assert.are.equal("name=a%26b%3Dc%23d%2Fe", url.query({ name = "a&b=c#d/e" }))
    assert.are.equal("__os_type=Linux", url.query({ __os_type = "Linux" }))
  end)

  it("raises on values it cannot express", function()
    assert.has_error(function() url.query({ x = print }) end)
    assert.has_error(function() url.query({ x = { a = 1 } }) end)
    assert.has_error(function() url.query({ [1] = "x" }) end)
    assert.has_error(function() url.query({ x = 0 / 0 }) end)
    assert.has_error(function() url.query("a=1") end)
  end)
end)

describe("ims.url.join", function()
  it("appends a path to a base with or without a trailing slash", function()
    assert.are.equal("http://127.0.0.1:9292/v2/images", url.join("http://127.0.0.1:9292", "/v2/images"))
    assert.are.equal("https://host/prefix/v2/images?limit=1",
      url.join("https://host/prefix/", "/v2/images?limit=1"))
    assert.are.equal("https://host/prefix", url.join("https://host/prefix//", ""))
  end)
end)

describe("ims.url.resolve", function()
  it("returns absolute references unchanged", function()
    assert.are.equal("https://other/v2/images?marker=x",
      url.resolve("http://127.0.0.1:9292", "https://other/v2/images?marker=x"))
  end)

  it("roots a server path at the endpoint's origin", function()
    assert.are.equal("http://127.0.0.1:9292/v2/images?limit=2&marker=x",
      url.resolve("http://127.0.0.1:9292", "/v2/images?limit=2&marker=x"))
  end)

  it("keeps the endpoint's path prefix, minus a trailing /v2", function()
    assert.are.equal("https://h/image/v2/images?x", url.resolve("https://h/image/", "/v2/images?x"))
    assert.are.equal("https://h/image/v2/images?x", url.resolve("https://h/image/v2", "/v2/images?x"))
    assert.are.equal("https://h:8443/v2/images?x", url.resolve("https://h:8443/v2/", "/v2/images?x"))
  end)
end)

describe("ims.url.parse", function()
  it("splits a full URL", function()
    local p = url.parse("https://user:pw@ims.example.com:8443/v2/images?limit=1#frag")
    assert.are.equal("https", p.scheme)
    assert.are.equal("user:pw", p.userinfo)
    assert.are.equal("ims.example.com", p.host)
    assert.are.equal(8443, p.port)
    assert.are.equal("integer", math.type(p.port))
    assert.are.equal("/v2/images", p.path)
    assert.are.equal("limit=1", p.query)
  end)

  it("allows an empty path and no port or query", function()
    local p = url.parse("http://127.0.0.1")
    assert.are.equal("127.0.0.1", p.host)
    assert.is_nil(p.port)
    assert.are.equal("", p.path)
    assert.is_nil(p.query)
    assert.is_nil(p.userinfo)
  end)

  it("accepts bracketed IPv6 hosts", function()
    local p = url.parse("http://[::1]:9292/v2")
    assert.are.equal("[::1]", p.host)
    assert.are.equal(9292, p.port)
    assert.are.equal("/v2", p.path)
  end)

  it("returns nil, msg for malformed URLs", function()
    for _, bad in ipairs { "ims.example.com/v2", "http://", "http://h:99999", "http://h:x",
      "http://h /v2", "http://h/\r\n", "http://[::1/x" } do
      local p, msg = url.parse(bad)
      assert.is_nil(p, bad)
      assert.matches("^url: ", msg)
    end
    assert.is_nil(url.parse(nil))
  end)

  it("does not echo credentials in its messages", function()
    local _, msg = url.parse("http://user:hunter2@h:99999/")
    assert.is_nil(msg:find("hunter2", 1, true))
  end)
end)

describe("ims.url.origin", function()
  it("gives scheme://host[:port]", function()
    assert.are.equal("https://h:8443", url.origin("https://u:p@h:8443/x/y?z"))
    assert.are.equal("http://h", url.origin("http://h/v2"))
    assert.are.equal("http://[::1]:80", url.origin("http://[::1]:80"))
    assert.is_nil(url.origin("nope"))
  end)
end)

describe("ims.url.redact", function()
  it("removes userinfo", function()
    assert.are.equal("https://h/v2/images", url.redact("https://user:secret@h/v2/images"))
  end)

  it("replaces values of secret-looking query keys", function()
    assert.are.equal("https://h/o?X-Auth-Token=REDACTED&limit=2&Signature=REDACTED"
      .. "&AccessKeyId=REDACTED&password=REDACTED&client_secret=REDACTED&sig=REDACTED"
      .. "&X-Amz-Credential=REDACTED&authorization=REDACTED&marker=m",
      url.redact("https://h/o?X-Auth-Token=t1&limit=2&Signature=s1&AccessKeyId=k1&password=p"
        .. "&client_secret=c&sig=z&X-Amz-Credential=cr&authorization=a&marker=m"))
  end)

  it("leaves ordinary URLs and harmless keys alone", function()
    local u = "http://127.0.0.1:9292/v2/images?limit=2&marker=abc&sort_key=name&tag=a"
    assert.are.equal(u, url.redact(u))
    assert.are.equal("/v2/images?token=REDACTED#f", url.redact("/v2/images?token=x#f"))
    assert.is_nil(url.redact(nil))
  end)
end)
