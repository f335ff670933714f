-- client.obs against a misbehaving OBS (spec/support/hostile.py), and its parsers (ims.xml,
-- ims.diskfile) against random input: whatever comes back, a call returns nil, err (never
-- raises), bounds what it holds, leaves no upload behind when it gives up, and no file that
-- looks complete.
local ims = require "ims"
local core = require "ims.core"
local env = require "support.env"
local xml = require "ims.xml"
local diskfile = require "ims.diskfile"

local h
setup(function() h = env.hostile() end)
teardown(function() h:stop() end)
before_each(function() h:reset() end)

local function client(opts)
  opts = opts or {}
  return ims.new { endpoint = h.url, obs_endpoint = h.url, retry = { attempts = 2, base_delay = 0.01 },
    max_body = opts.max_body, auth = { ak = "AK", sk = "SK-SECRET" } }
end

local function xml_response(body, status, headers)
  local hs = { ["Content-Type"] = "application/xml" }
  for k, v in pairs(headers or {}) do hs[k] = v end
  return { status = status or 200, headers = hs, body = body }
end

local function methods_seen()
  local out = {}
  for _, r in ipairs(h:log()) do out[#out + 1] = r.method .. " " .. r.target end
  return out
end

describe("obs against a hostile server", function()
  it("returns decode errors for listings that are not listings, or that loop", function()
    local c = client()
    for _, body in ipairs { "<html>oops</html>", "", "not xml at all",
        "<ListBucketResult><Contents><Size>3</Size></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Key>a</Key><Size>-1</Size></Contents></ListBucketResult>" } do
      h:routes { ["/bkt"] = { xml_response(body) } }
      local list, err = c.obs:list("bkt")
      assert.is_nil(list)
      assert.equal("decode", err.kind, body)
    end
    -- a truncated listing whose marker does not move: a loop, not forever
    h:reset()
    h:routes { ["/bkt"] = { xml_response("<ListBucketResult><IsTruncated>true</IsTruncated>"
      .. "<NextMarker>m</NextMarker><Contents><Key>m</Key><Size>1</Size></Contents></ListBucketResult>") } }
    local list, err = c.obs:list("bkt")
    assert.is_nil(list)
    assert.matches("pagination loop", err.message)
    assert.equal(2, #h:log()) -- the first page, then the same marker again: stop
  end)

  it("bounds an endless body", function()
    h:routes { ["/bkt"] = { { status = 200, headers = { ["Content-Type"] = "application/xml" }, endless = true } } }
    local list, err = client { max_body = 1024 * 1024 }.obs:list("bkt")
    assert.is_nil(list)
    assert.equal("BODY_TOO_LARGE", err.code)
  end)

  it("gives up a multipart upload without an UploadId, or whose complete fails, and aborts it", function()
    local src = env.tmpfile("hostile.bin")
    env.write_random(src, 300 * 1024)
    local c = client()
    h:routes { ["/bkt/k"] = { xml_response("<InitiateMultipartUploadResult><Bucket>bkt</Bucket>"
      .. "</InitiateMultipartUploadResult>") } }
    local r, err = c.obs:put("bkt", "k", src, { multipart_threshold = 0, part_size = 100 * 1024 })
    assert.is_nil(r)
    assert.equal("decode", err.kind)
    for _, m in ipairs(methods_seen()) do assert.is_nil(m:find("^PUT")) end
    -- parts answered with the right ETag by no one: a wrong ETag is a checksum error, then abort
    h:reset()
    h:routes { ["/bkt/k"] = {
      xml_response("<InitiateMultipartUploadResult><UploadId>U1</UploadId></InitiateMultipartUploadResult>"),
      { status = 200, headers = { ETag = '"00000000000000000000000000000000"' }, body = "" } } }
    r, err = c.obs:put("bkt", "k", src, { multipart_threshold = 0, part_size = 100 * 1024, concurrency = 1 })
    assert.is_nil(r)
    assert.equal("checksum", err.kind)
    local seen = methods_seen()
    assert.matches("^DELETE /bkt/k%?uploadId=U1$", seen[#seen])
  end)

  it("reports a 200 whose body is an <Error> on complete, and aborts", function()
    local src = env.tmpfile("hostile2.bin")
    env.write_random(src, 150 * 1024)
    local md5s = {}
    local f = assert(io.open(src, "rb"))
    md5s[1] = core.digest("md5", f:read(100 * 1024))
    md5s[2] = core.digest("md5", f:read("a"))
    f:close()
    -- the route answers initiate, then the two parts, then complete, then the abort
    h:routes { ["/bkt/k"] = {
      xml_response("<InitiateMultipartUploadResult><UploadId>U2</UploadId></InitiateMultipartUploadResult>"),
      { status = 200, headers = { ETag = '"' .. md5s[1] .. '"' }, body = "" },
      { status = 200, headers = { ETag = '"' .. md5s[2] .. '"' }, body = "" },
      xml_response("<Error><Code>InternalError</Code><Message>We encountered \27]0;pwned\7 an error"
        .. "</Message><RequestId>R1</RequestId></Error>"),
      { status = 204, body = "" } } }
    local r, err = client().obs:put("bkt", "k", src, { multipart_threshold = 0, part_size = 100 * 1024,
      concurrency = 1 })
    assert.is_nil(r)
    assert.equal("InternalError", err.code)
    assert.equal("R1", err.request_id)
    assert.is_nil(tostring(err):find("\27", 1, true)) -- no terminal escapes printed
    local seen = methods_seen()
    assert.matches("^DELETE /bkt/k%?uploadId=U2$", seen[#seen])
  end)

  it("leaves no file at dest when the bytes do not match the ETag, and raises for nothing", function()
    local dest = env.tmpfile("hostile.out")
    h:routes { ["/bkt/k"] = { { status = 200, headers = { ETag = '"0123456789abcdef0123456789abcdef"' },
      body = "some bytes" } } }
    local r, err = client().obs:get("bkt", "k", dest)
    assert.is_nil(r)
    assert.equal("checksum", err.kind)
    assert.is_nil(io.open(dest, "rb"))
    assert.is_nil(io.open(dest .. ".part", "rb"))
    -- no Content-Length on HEAD, garbage location answers
    h:routes { ["/bkt"] = { xml_response("<Nothing/>") } }
    local b
    b, err = client().obs:bucket("bkt")
    assert.is_nil(b)
    assert.equal("decode", err.kind)
  end)

  it("never signs with the secret visible, and sends credentials only to obs_endpoint", function()
    h:routes { ["*"] = { xml_response("<Error><Code>AccessDenied</Code><Message>no</Message></Error>", 403) } }
    local _, err = client().obs:head("bkt", "k")
    assert.equal(403, err.status)
    for _, r in ipairs(h:log()) do
      assert.is_nil(r.raw:find("SK-SECRET", 1, true))
      assert.matches("Authorization: OBS AK:", r.raw)
    end
  end)
end)

describe("ims.xml and ims.diskfile on random input", function()
  local seed = tonumber(os.getenv("IMS_API_FUZZ_SEED") or "") or 20261202
  local rng = math.random
  math.randomseed(seed)
  local PIECES = { "<", ">", "/", "<Key>", "</Key>", "<Contents>", "</Contents>", "&amp;", "&#x41;",
    "&#99999999;", "&#xD800;", "&", ";", "<![CDATA[", "]]>", "<Key/>", "<Key a='1'>", "\0", "\255",
    "<KeyCount>", "x", " " }

  local function random_doc()
    local out = {}
    for i = 1, rng(0, 60) do out[i] = PIECES[rng(#PIECES)] end
    return table.concat(out)
  end

  it("never raises on 5,000 random documents (seed " .. seed .. ")", function()
    for _ = 1, 5000 do
      local d = random_doc()
      local ok, v = pcall(xml.text, d, "Key")
      assert(ok, "xml.text raised on " .. string.format("%q", d) .. ": " .. tostring(v))
      assert(v == nil or type(v) == "string")
      local ok2, blocks = pcall(xml.blocks, d, "Contents")
      assert(ok2, "xml.blocks raised on " .. string.format("%q", d))
      assert.is_table(blocks)
      assert(pcall(xml.unescape, d))
    end
  end)

  it("inspects 300 random disk headers without raising; sizes are plausible or nil", function()
    local path = env.tmpfile("random.img")
    local magics = { "QFI\251", "KDMV", "conectix", "vhdxfile", "# Disk DescriptorFile\n", "" }
    for _ = 1, 300 do
      local f = assert(io.open(path, "wb"))
      local head = magics[rng(#magics)]
      local bytes = {}
      for i = 1, rng(0, 600) do bytes[i] = string.char(rng(0, 255)) end
      f:write(head, table.concat(bytes))
      f:close()
      local ok, r = pcall(diskfile.inspect, path)
      assert(ok, tostring(r))
      assert.is_table(r)
      assert(r.virtual_size == nil or (math.type(r.virtual_size) == "integer" and r.virtual_size > 0))
    end
  end)
end)
