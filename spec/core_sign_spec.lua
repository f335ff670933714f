-- ims.sign (the C signer) reproduces every case of the official reference signers byte for byte.
local ims = require "ims"
local json = require "ims.json"

local function b64decode(s)
  local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
  local bits = s:gsub("[^%w+/]", ""):gsub(".", function(c)
    local v = alphabet:find(c, 1, true) - 1
    local out = {}
    for i = 5, 0, -1 do out[#out + 1] = (v >> i) & 1 end
    return table.concat(out)
  end)
  return (bits:gsub("%d%d%d%d%d%d%d%d", function(byte) return string.char(tonumber(byte, 2)) end)
    :sub(1, #bits // 8))
end

local f = assert(io.open("spec/fixtures/signer-vectors.json"))
local vectors = assert(json.decode(f:read("a")))
f:close()

describe("ims.sign", function()
  assert.is_true(#vectors >= 9)
  for _, v in ipairs(vectors) do
    it("reproduces " .. v.name, function()
      local body = v.body ~= nil and (v.body_encoding == "base64" and b64decode(v.body) or v.body) or nil
      local go = v.name:match("^go_") -- the Go policy: a fixed, minimal signed-header list
      local s = ims.sign { ak = v.ak, sk = v.sk, method = v.method, url = v.url, headers = v.headers,
        body = body, signed_headers = go and v.signed_headers or nil }
      assert.equal(v.canonical_request, s.canonical_request)
      assert.equal(v.string_to_sign, s.string_to_sign)
      assert.equal(v.authorization, s.authorization)
      assert.equal(v.signed_headers, s.signed_headers)
      assert.equal(v.sent_url, s.url)
      assert.equal(v.authorization, s.headers.Authorization)
      if not go then
        for k, val in pairs(v.signer_added_headers) do assert.equal(val, s.headers[k]) end
      end
    end)
  end

  it("adds Host and the current X-Sdk-Date when absent", function()
    local s = ims.sign { ak = "AK", sk = "SK", method = "GET", url = "http://127.0.0.1:8774/v2/images?b=2&a=1" }
    assert.equal("127.0.0.1:8774", s.headers.Host)
    assert.matches("^%d%d%d%d%d%d%d%dT%d%d%d%d%d%dZ$", s.headers["X-Sdk-Date"])
    assert.equal("host;x-sdk-date", s.signed_headers)
    assert.equal("http://127.0.0.1:8774/v2/images?a=1&b=2", s.url)
    local d = ims.sign { ak = "AK", sk = "SK", method = "GET", url = "http://h/x", date = "20240101T000000Z" }
    assert.equal("20240101T000000Z", d.headers["X-Sdk-Date"])
  end)

  it("decodes with plain %XX rules and encodes every byte outside the unreserved set", function()
    local s = ims.sign { ak = "AK", sk = "SK", method = "GET", date = "20240101T000000Z",
      url = "http://h/a%20b/c+d/%E2%82%AC?q=a+b&e=%2f&z&empty=" }
    assert.equal("/a%20b/c%2Bd/%E2%82%AC/", s.canonical_request:match("^GET\n([^\n]*)"))
    assert.equal("e=%2F&empty=&q=a%2Bb&z=", s.canonical_request:match("^GET\n[^\n]*\n([^\n]*)"))
  end)

  it("rejects misuse", function()
    assert.has_error(function() ims.sign { ak = "a", sk = "b", method = "GET" } end,
      "ims.sign: missing required field 'url'")
    assert.has_error(function() ims.sign { ak = "a", sk = "b", method = "GET", url = "ftp://x/" } end,
      "ims.sign: field 'url' must be an absolute http(s) URL")
    assert.has_error(function() ims.sign { ak = "a", sk = "b", method = "GET", url = "http://h/", x = 1 } end,
      "ims.sign: unknown option 'x'")
    assert.has_error(function()
      ims.sign { ak = "a", sk = "b", method = "GET", url = "http://h/", signed_headers = "x-missing" }
    end, "ims.sign: signed header 'x-missing' is not among the headers")
  end)
end)
