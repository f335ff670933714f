-- The emulator's OBS (emulator/obs.py, started by scripts/stack at IMS_OBS_ENDPOINT) is real
-- enough for real S3 clients: Debian's awscli (SigV4, multipart) and s3cmd, OBS-native requests
-- signed here (openssl HMAC-SHA1, independent of the SDK's and the emulator's signers), IAM
-- temporary keys, and IMS jobs reading and writing objects through it.
local core = require "ims.core"
local env = require "support.env"
local json = require "ims.json"
local raw = require "support.raw"

local S = env.stack

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function sh(cmd)
  local p = assert(io.popen("env -u LD_PRELOAD " .. cmd .. " 2>&1; echo \"rc=$?\""))
  local out = p:read("a")
  p:close()
  local rc = tonumber(out:match("rc=(%d+)%s*$"))
  return rc, out:gsub("rc=%d+%s*$", "")
end

local function sha256(path) return assert(core.file_digests(path, { "sha256" })).sha256 end

local function unique(prefix) return string.format("%s-%d-%d", prefix, os.time(), math.random(1e9)) end

local function hex_to_bin(hex) return (hex:gsub("%x%x", function(c) return string.char(tonumber(c, 16)) end)) end

-- ---------------------------------------------------------------------------------------------
-- OBS-native requests: Authorization: OBS AK:base64(HMAC-SHA1(SK, StringToSign))

local SUBRESOURCES = { acl = true, location = true, partNumber = true, storageClass = true,
  uploadId = true, uploads = true, delete = true }

local function hmac_sha1_b64(key, data)
  local path = env.tmpfile("sts")
  env.write(path, data)
  local rc, out = sh("openssl dgst -sha1 -hmac " .. q(key) .. " -binary < " .. q(path) .. " | base64")
  assert(rc == 0, out)
  os.remove(path)
  return (out:gsub("%s", ""))
end

local function http_date(offset) return os.date("!%a, %d %b %Y %H:%M:%S GMT", os.time() + (offset or 0)) end

local session = core.session { stall_timeout = 30 }

-- obs{method=, target="/bucket/key?query", headers=, body=, body_file=, ak=, sk=, date=,
-- token=} -> res; the StringToSign sent is res.sts
local function obs(req)
  local method = req.method or "GET"
  local headers = {}
  for k, v in pairs(req.headers or {}) do headers[k] = v end
  headers.Date = req.date or http_date()
  if req.token then headers["x-obs-security-token"] = req.token end
  if (req.body or req.body_file) and not headers["Content-Type"] then
    headers["Content-Type"] = "application/octet-stream"
  end
  local path, query = req.target:match("^([^?]*)%??(.*)$")
  local subs = {}
  for part in query:gmatch("[^&]+") do
    local name = part:match("^[^=]+")
    if SUBRESOURCES[name] then
      local value = part:match("=(.*)$")
      subs[#subs + 1] = value and (name .. "=" .. value:gsub("%%(%x%x)", function(h)
        return string.char(tonumber(h, 16)) end)) or name
    end
  end
  table.sort(subs)
  local resource = path .. (#subs > 0 and ("?" .. table.concat(subs, "&")) or "")
  local obsh = {}
  for k, v in pairs(headers) do
    if k:lower():match("^x%-obs%-") then obsh[#obsh + 1] = k:lower() .. ":" .. v end
  end
  table.sort(obsh)
  local sts = table.concat({ method, headers["Content-MD5"] or "", headers["Content-Type"] or "",
    headers["x-obs-date"] and "" or headers.Date, "" }, "\n") .. table.concat(obsh, "\n")
    .. (#obsh > 0 and "\n" or "") .. resource
  headers.Authorization = "OBS " .. (req.ak or S.IMS_AK_A) .. ":" .. hmac_sha1_b64(req.sk or S.IMS_SK_A, sts)
  local res = assert(session:request { method = method, url = S.IMS_OBS_ENDPOINT .. req.target,
    headers = headers, body = req.body, body_file = req.body_file, sink_file = req.sink_file,
    timeout = 60 })
  res.sts, res.authorization, res.date = sts, headers.Authorization, headers.Date
  return res
end

local function obs_error(res, status, code)
  assert.equal(status, res.status, res.body)
  assert.equal(code, (res.body or ""):match("<Code>([^<]*)</Code>"), res.body)
  assert.is_string(res.headers["x-obs-request-id"])
  assert.matches("<RequestId>", res.body)
end

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

local function b64(bin)
  local out = {}
  for i = 1, #bin, 3 do
    local a, b, c = bin:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    for k = 3, 0, -1 do
      local idx = (n >> (6 * k)) & 63
      out[#out + 1] = B64:sub(idx + 1, idx + 1)
    end
    if not c then out[#out] = "=" end
    if not b then out[#out - 1] = "=" end
  end
  return table.concat(out)
end

local function md5_b64(data)
  local path = env.tmpfile("md5")
  env.write(path, data)
  local hex = env.md5_file(path)
  os.remove(path)
  return b64(hex_to_bin(hex)), hex
end

-- ---------------------------------------------------------------------------------------------
-- awscli and s3cmd, each in a HOME of its own

local function aws(args, opts)
  opts = opts or {}
  local home = env.tmpfile("aws-home")
  assert(os.execute("mkdir -p " .. q(home)))
  env.write(home .. "/config", "[default]\nregion = cn-north-4\ns3 =\n    addressing_style = path\n")
  local vars = { HOME = home, AWS_CONFIG_FILE = home .. "/config",
    AWS_SHARED_CREDENTIALS_FILE = home .. "/credentials", AWS_ACCESS_KEY_ID = opts.ak or S.IMS_AK_A,
    AWS_SECRET_ACCESS_KEY = opts.sk or S.IMS_SK_A, AWS_EC2_METADATA_DISABLED = "true", AWS_PAGER = "" }
  local words = {}
  for k, v in pairs(vars) do words[#words + 1] = k .. "=" .. q(v) end
  return sh("-u AWS_PROFILE -u AWS_SESSION_TOKEN -u PYTHONPATH -u PYTHONHOME " .. table.concat(words, " ")
    .. " /usr/bin/aws --no-cli-pager --endpoint-url " .. q(S.IMS_OBS_ENDPOINT) .. " " .. args)
end

local function s3cmd(args)
  local home = env.tmpfile("s3cmd-home")
  assert(os.execute("mkdir -p " .. q(home)))
  local host = S.IMS_OBS_ENDPOINT:gsub("^http://", "")
  env.write(home .. "/s3cfg", table.concat({ "[default]", "access_key = " .. S.IMS_AK_B,
    "secret_key = " .. S.IMS_SK_B, "host_base = " .. host, "host_bucket = " .. host, "use_https = False",
    "signature_v2 = False", "bucket_location = cn-north-4", "" }, "\n"))
  return sh("-u PYTHONPATH -u PYTHONHOME HOME=" .. q(home) .. " /usr/bin/s3cmd -c " .. q(home .. "/s3cfg")
    .. " --host=" .. host .. " --host-bucket=" .. host .. " --no-ssl " .. args)
end

local function stats(key) return raw.admin("GET", "/stats")[key] or 0 end

describe("OBS emulator", function()
  after_each(function()
    raw.admin("DELETE", "/faults")
    raw.admin("POST", "/clock", { offset = 0 })
  end)

  it("verifies the signers against published vectors (emulator/test_obs.py)", function()
    local rc, out = env.emulator_unittest("test_obs")
    assert.equal(0, rc, out)
    assert.matches("OK", out)
  end)

  describe("awscli (SigV4)", function()
    it("copies a 20 MiB file up in parts and back byte for byte, lists it, heads it", function()
      local src = env.write_random(env.tmpfile("aws-up.bin"), 20 * 1024 * 1024 + 333)
      local key = unique("aws") .. "/disk.raw"
      local parts = stats("PUT OBS /{bucket}/{key}?partNumber&uploadId")
      local rc, out = aws("s3 cp --only-show-errors " .. q(src) .. " " .. q("s3://" .. S.IMS_BUCKET .. "/" .. key))
      assert.equal(0, rc, out)
      assert.is_true(stats("PUT OBS /{bucket}/{key}?partNumber&uploadId") - parts >= 3) -- multipart
      assert.equal(sha256(src), sha256(S.IMS_BUCKET_DIR .. "/" .. key))
      local back = env.tmpfile("aws-back.bin")
      rc, out = aws("s3 cp --only-show-errors " .. q("s3://" .. S.IMS_BUCKET .. "/" .. key) .. " " .. q(back))
      assert.equal(0, rc, out)
      assert.equal(sha256(src), sha256(back))
      rc, out = aws("s3 ls " .. q("s3://" .. S.IMS_BUCKET .. "/" .. key:match("^[^/]+") .. "/"))
      assert.equal(0, rc, out)
      assert.matches(tostring(20 * 1024 * 1024 + 333) .. " disk%.raw", out)
      rc, out = aws("s3 ls " .. q("s3://" .. S.IMS_BUCKET .. "/"))
      assert.equal(0, rc, out)
      assert.matches("PRE images/", out, 1, true)
      rc, out = aws("s3api head-object --bucket " .. S.IMS_BUCKET .. " --key " .. q(key))
      assert.equal(0, rc, out)
      local head = json.decode(out)
      assert.equal(20 * 1024 * 1024 + 333, head.ContentLength)
      assert.matches('^"%x+%-3"$', head.ETag) -- 8 MiB parts: 3
      rc, out = aws("s3 rm --only-show-errors " .. q("s3://" .. S.IMS_BUCKET .. "/" .. key))
      assert.equal(0, rc, out)
      assert.is_nil(env.read(S.IMS_BUCKET_DIR .. "/" .. key))
    end)

    it("fails with SignatureDoesNotMatch for a wrong secret", function()
      local rc, out = aws("s3 ls " .. q("s3://" .. S.IMS_BUCKET .. "/"), { sk = "wrong" .. S.IMS_SK_A })
      assert.is_not.equal(0, rc)
      assert.matches("SignatureDoesNotMatch", out)
    end)
  end)

  describe("s3cmd (SigV4, path-style)", function()
    it("puts, lists, gets and deletes, bytes intact", function()
      local dir = unique("s3cmd")
      local big = env.write_random(env.tmpfile("s3cmd-big.bin"), 17 * 1000 * 1000) -- multipart (15 MiB)
      local small = env.write_random(env.tmpfile("s3cmd-small.bin"), 4321)
      local base = "s3://" .. S.IMS_BUCKET .. "/" .. dir .. "/"
      local rc, out = s3cmd("put " .. q(big) .. " " .. q(base .. "big.bin"))
      assert.equal(0, rc, out)
      rc, out = s3cmd("put " .. q(small) .. " " .. q(base .. "small name+1.bin"))
      assert.equal(0, rc, out)
      rc, out = s3cmd("ls " .. q(base))
      assert.equal(0, rc, out)
      assert.matches("17000000%s+" .. base:gsub("%p", "%%%0") .. "big%.bin", out)
      assert.matches("4321%s+", out)
      for name, src in pairs { ["big.bin"] = big, ["small name+1.bin"] = small } do
        local back = env.tmpfile("s3cmd-back")
        rc, out = s3cmd("get --force " .. q(base .. name) .. " " .. q(back))
        assert.equal(0, rc, out)
        assert.equal(sha256(src), sha256(back))
      end
      rc, out = s3cmd("del " .. q(base .. "big.bin") .. " " .. q(base .. "small name+1.bin"))
      assert.equal(0, rc, out)
      rc, out = s3cmd("ls " .. q(base))
      assert.equal(0, rc, out)
      assert.is_nil(out:find("bin", 1, true))
    end)
  end)

  describe("OBS-native requests", function()
    local B = "/" .. S.IMS_BUCKET

    it("PUT, GET, HEAD, list and DELETE a correctly signed object", function()
      local key = unique("native") .. "/hello.txt"
      local md5, hex = md5_b64("hello, obs")
      local put = obs { method = "PUT", target = B .. "/" .. key, body = "hello, obs",
        headers = { ["Content-Type"] = "text/plain", ["Content-MD5"] = md5, ["x-obs-meta-who"] = "spec" } }
      assert.equal(200, put.status, put.body)
      assert.equal('"' .. hex .. '"', put.headers.etag)
      assert.equal(put.headers["x-obs-request-id"], put.headers["x-amz-request-id"])
      local get = obs { target = B .. "/" .. key }
      assert.equal(200, get.status)
      assert.equal("hello, obs", get.body)
      assert.equal("text/plain", get.headers["content-type"])
      assert.equal("spec", get.headers["x-obs-meta-who"])
      local part = obs { target = B .. "/" .. key, headers = { Range = "bytes=-3" } }
      assert.equal(206, part.status)
      assert.equal("obs", part.body)
      assert.equal("bytes 7-9/10", part.headers["content-range"])
      obs_error(obs { target = B .. "/" .. key, headers = { Range = "bytes=10-" } }, 416, "InvalidRange")
      local head = obs { method = "HEAD", target = B .. "/" .. key }
      assert.equal(200, head.status)
      assert.equal("10", head.headers["content-length"])
      assert.equal("STANDARD", head.headers["x-obs-storage-class"])
      local list = obs { target = B .. "?prefix=" .. key:match("^[^/]+") .. "/" }
      assert.equal(200, list.status)
      assert.matches('<ListBucketResult xmlns="http://obs.myhwclouds.com/doc/2015%-06%-30/">', list.body)
      assert.matches("<Key>" .. key:gsub("%p", "%%%0") .. "</Key>", list.body)
      assert.matches("<ETag>\"" .. hex .. "\"</ETag>", list.body)
      local del = obs { method = "DELETE", target = B .. "/" .. key }
      assert.equal(204, del.status)
      obs_error(obs { target = B .. "/" .. key }, 404, "NoSuchKey")
      obs_error(obs { target = "/no-such-bucket/x" }, 404, "NoSuchBucket")
    end)

    it("answers bucket location and storage class", function()
      local loc = obs { target = B .. "?location" }
      assert.equal(200, loc.status)
      assert.matches("<Location[^>]*>cn%-north%-4</Location>", loc.body)
      local cold = obs { target = "/" .. S.IMS_BUCKET_COLD .. "?storageClass" }
      assert.matches("<StorageClass[^>]*>COLD</StorageClass>", cold.body)
      local south = obs { method = "HEAD", target = "/" .. S.IMS_BUCKET_SOUTH }
      assert.equal(200, south.status)
      assert.equal("cn-south-1", south.headers["x-obs-bucket-location"])
      assert.equal("STANDARD", south.headers["x-obs-storage-class"])
    end)

    it("refuses anonymous requests, a wrong SK and a skewed clock", function()
      local anon = assert(session:request { url = S.IMS_OBS_ENDPOINT .. B .. "/x" })
      obs_error(anon, 403, "AccessDenied")
      local bad = obs { target = B .. "/" .. S.IMS_IMPORT_OBJECT, sk = "not-" .. S.IMS_SK_A }
      obs_error(bad, 403, "SignatureDoesNotMatch")
      assert.matches("<StringToSign>GET\n\n\n" .. bad.date, bad.body, 1, true)
      obs_error(obs { target = B .. "/" .. S.IMS_IMPORT_OBJECT, ak = "NOSUCHAK000000000000" },
        403, "InvalidAccessKeyId")
      obs_error(obs { target = B .. "/" .. S.IMS_IMPORT_OBJECT, date = http_date(-16 * 60) },
        403, "RequestTimeTooSkewed")
      -- the emulator's clock (admin offset) is the one that counts
      raw.admin("POST", "/clock", { offset = 3600 })
      obs_error(obs { target = B .. "/" .. S.IMS_IMPORT_OBJECT }, 403, "RequestTimeTooSkewed")
      local ok = obs { method = "HEAD", target = B .. "/" .. S.IMS_IMPORT_OBJECT, date = http_date(3600) }
      assert.equal(200, ok.status)
    end)

    it("refuses a body that does not match its Content-MD5, keeping no object", function()
      local key = unique("digest") .. ".bin"
      local md5 = md5_b64("something else")
      obs_error(obs { method = "PUT", target = B .. "/" .. key, body = "the body",
        headers = { ["Content-MD5"] = md5 } }, 400, "BadDigest")
      obs_error(obs { method = "PUT", target = B .. "/" .. key, body = "the body",
        headers = { ["Content-MD5"] = "not-base64!" } }, 400, "InvalidDigest")
      assert.equal(404, obs({ method = "HEAD", target = B .. "/" .. key }).status)
      assert.is_nil(env.read(S.IMS_BUCKET_DIR .. "/" .. key))
    end)

    it("needs every part but the last to be at least 100 KiB", function()
      local key = unique("parts") .. ".bin"
      local init = obs { method = "POST", target = B .. "/" .. key .. "?uploads" }
      assert.equal(200, init.status, init.body)
      local id = init.body:match("<UploadId>(%x+)</UploadId>")
      assert.is_string(id)
      local function part(n, path)
        local res = obs { method = "PUT", target = B .. "/" .. key .. "?partNumber=" .. n .. "&uploadId=" .. id,
          body_file = path }
        assert.equal(200, res.status, res.body)
        return res.headers.etag
      end
      local function complete(etags)
        local xml = { "<CompleteMultipartUpload>" }
        for i, e in ipairs(etags) do
          xml[#xml + 1] = "<Part><PartNumber>" .. i .. "</PartNumber><ETag>" .. e .. "</ETag></Part>"
        end
        xml[#xml + 1] = "</CompleteMultipartUpload>"
        return obs { method = "POST", target = B .. "/" .. key .. "?uploadId=" .. id,
          body = table.concat(xml), headers = { ["Content-Type"] = "application/xml" } }
      end
      local small = env.write_random(env.tmpfile("p99"), 99 * 1024)
      local exact = env.write_random(env.tmpfile("p100"), 100 * 1024)
      local last = env.write_random(env.tmpfile("plast"), 10)
      local e2 = part(2, last)
      obs_error(complete { part(1, small), e2 }, 400, "EntityTooSmall")
      obs_error(obs { method = "PUT", target = B .. "/" .. key .. "?partNumber=10001&uploadId=" .. id,
        body = "x" }, 400, "InvalidArgument")
      obs_error(complete { e2, e2 }, 400, "InvalidPart")
      local e1 = part(1, exact)
      local listed = obs { target = B .. "/" .. key .. "?uploadId=" .. id }
      assert.equal(200, listed.status)
      assert.matches("<PartNumber>1</PartNumber>.*<Size>102400</Size>.*<PartNumber>2</PartNumber>", listed.body)
      local uploads = obs { target = B .. "?uploads" }
      assert.matches("<UploadId>" .. id .. "</UploadId>", uploads.body)
      local done = complete { e1, e2 }
      assert.equal(200, done.status, done.body)
      -- ETag: md5 of the parts' binary md5s, then -N
      local both = hex_to_bin(env.md5_file(exact)) .. hex_to_bin(env.md5_file(last))
      local _, want = md5_b64(both)
      assert.matches("<ETag>\"" .. want .. "%-2\"</ETag>", done.body)
      local whole = assert(env.read(S.IMS_BUCKET_DIR .. "/" .. key))
      assert.equal(assert(env.read(exact)) .. assert(env.read(last)), whole)
      assert.equal('"' .. want .. '-2"', obs({ method = "HEAD", target = B .. "/" .. key }).headers.etag)
      obs_error(obs { target = B .. "/" .. key .. "?uploadId=" .. id }, 404, "NoSuchUpload")
      assert.equal(204, obs({ method = "DELETE", target = B .. "/" .. key }).status)
    end)

    it("leaves no object behind a PUT whose sender dies half way", function()
      local key = unique("killed") .. ".bin"
      local date = http_date()
      local sts = "PUT\n\napplication/octet-stream\n" .. date .. "\n/" .. S.IMS_BUCKET .. "/" .. key
      local auth = "OBS " .. S.IMS_AK_A .. ":" .. hmac_sha1_b64(S.IMS_SK_A, sts)
      local port = S.IMS_OBS_ENDPOINT:match(":(%d+)$")
      local script = table.concat({
        "import os, socket, sys, time",
        "s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))",
        "head = 'PUT /%s HTTP/1.1\\r\\nHost: x\\r\\nDate: %s\\r\\nAuthorization: %s\\r\\n'"
          .. " % (sys.argv[2], sys.argv[3], sys.argv[4])",
        "head += 'Content-Type: application/octet-stream\\r\\nContent-Length: 2097152\\r\\n\\r\\n'",
        "s.sendall(head.encode() + os.urandom(700 * 1024))",
        "time.sleep(0.3)",
        "os._exit(0)",
      }, "\n")
      local rc, out = sh("/usr/bin/python3 -c " .. q(script) .. " " .. port .. " " .. q(S.IMS_BUCKET .. "/" .. key)
        .. " " .. q(date) .. " " .. q(auth))
      assert.equal(0, rc, out)
      core.sleep(0.5)
      assert.equal(404, obs({ method = "HEAD", target = B .. "/" .. key }).status)
      assert.is_nil(env.read(S.IMS_BUCKET_DIR .. "/" .. key))
      local p = assert(io.popen("ls -A " .. q(S.IMS_BUCKET_DIR .. "/.obs/tmp") .. " 2>/dev/null | wc -l"))
      local left = tonumber(p:read("a"))
      p:close()
      assert.equal(0, left)
    end)

    it("answers injected faults with OBS XML and counts its routes", function()
      raw.admin("POST", "/faults", { route = "/fault-probe$", kind = "status",
        status = 503, count = 1 })
      local before = stats("GET OBS /{bucket}/{key}")
      obs_error(obs { target = B .. "/fault-probe" }, 503, "ServiceUnavailable")
      obs_error(obs { target = B .. "/fault-probe" }, 404, "NoSuchKey")
      assert.equal(before + 2, stats("GET OBS /{bucket}/{key}"))
      raw.admin("POST", "/faults", { route = "uploads", kind = "throttle", retry_after = 3 })
      local res = obs { target = B .. "?uploads" }
      obs_error(res, 503, "SlowDown")
      assert.equal("3", res.headers["retry-after"])
    end)
  end)

  describe("IAM temporary access keys", function()
    local function issue(duration)
      return assert(raw.call { method = "POST", url = S.IMS_ENDPOINT .. "/v3.0/OS-CREDENTIAL/securitytokens",
        json = { auth = { identity = { methods = { "token" }, token = { duration_seconds = duration } } } } })
    end

    it("work for OBS and IMS with their token, and expire", function()
      assert.equal(400, issue(899).status)
      local res = issue(900)
      assert.equal(201, res.status, res.body)
      local c = res.json.credential
      assert.matches("^[%u%d]+$", c.access)
      assert.equal(20, #c.access)
      assert.matches("Z$", c.expires_at)
      local target = "/" .. S.IMS_BUCKET .. "/" .. S.IMS_IMPORT_OBJECT
      local ok = obs { method = "HEAD", target = target, ak = c.access, sk = c.secret, token = c.securitytoken }
      assert.equal(200, ok.status, ok.body)
      obs_error(obs { target = target, ak = c.access, sk = c.secret }, 403, "InvalidAccessKeyId")
      local function ims(offset)
        local url = S.IMS_ENDPOINT .. "/v2/cloudimages?limit=1"
        local signed = core.sign { ak = c.access, sk = c.secret, method = "GET", url = url,
          headers = { ["X-Project-Id"] = S.IMS_PROJECT_A, ["X-Security-Token"] = c.securitytoken },
          date = os.date("!%Y%m%dT%H%M%SZ", os.time() + offset) }
        return assert(session:request { url = signed.url, headers = signed.headers })
      end
      assert.equal(200, ims(0).status)
      -- 1000 s later (the emulator's clock), signed on that clock: expired
      raw.admin("POST", "/clock", { offset = 1000 })
      local late = obs { target = target, ak = c.access, sk = c.secret, token = c.securitytoken,
        date = http_date(1000) }
      obs_error(late, 403, "ExpiredToken")
      local expired = ims(1000)
      assert.equal(401, expired.status)
      assert.equal("APIGW.0301", json.decode(expired.body).error_code)
    end)
  end)

  describe("IMS jobs and OBS", function()
    local function create(image_url)
      return assert(raw.call { method = "POST", path = "/v2/cloudimages/action",
        json = { name = unique("obs"), image_url = image_url, min_disk = 40 } })
    end

    local function ims_error(res, code, pattern)
      assert.equal(400, res.status, res.body)
      assert.equal(code, res.json.error.code, res.body)
      if pattern then assert.matches(pattern, res.json.error.message) end
    end

    it("refuses a COLD bucket (IMG.0069) and a bucket of another region (IMG.0058)", function()
      ims_error(create(S.IMS_BUCKET_COLD .. ":x.raw"), "IMG.0069", "COLD")
      ims_error(create(S.IMS_BUCKET_SOUTH .. ":x.raw"), "IMG.0058", "cn%-south%-1")
      ims_error(create("no-such-bucket:x.raw"), "IMG.0069")
      ims_error(create(S.IMS_BUCKET .. ":a/../b.raw"), "IMG.0017")
    end)

    it("imports an object uploaded through OBS and exports through it (ETag, listing)", function()
      local src = env.write_random(env.tmpfile("obs-import.raw"), 1024 * 1024 + 17)
      local key = unique("via-obs") .. "/disk.raw"
      local put = obs { method = "PUT", target = "/" .. S.IMS_BUCKET .. "/" .. key, body_file = src }
      assert.equal(200, put.status, put.body)
      local res = create(S.IMS_BUCKET .. ":" .. key)
      assert.equal(200, res.status, res.body)
      local job = raw.wait_job(res.json.job_id)
      assert.equal("SUCCESS", job.status, job.fail_reason)
      local id = job.entities.image_id
      local back = env.tmpfile("glance-copy")
      local got = assert(raw.call { path = "/v2/images/" .. id .. "/file", sink_file = back })
      assert.equal(200, got.status)
      assert.equal(sha256(src), sha256(back))
      -- export: the object appears through OBS with the MD5 of its bytes
      local out = key:gsub("disk%.raw$", "exported.qcow2")
      local exp = assert(raw.call { method = "POST", path = "/v1/cloudimages/" .. id .. "/file",
        json = { bucket_url = S.IMS_BUCKET .. ":" .. out, file_format = "qcow2" } })
      assert.equal(200, exp.status, exp.body)
      assert.equal("SUCCESS", raw.wait_job(exp.json.job_id).status)
      local head = obs { method = "HEAD", target = "/" .. S.IMS_BUCKET .. "/" .. out }
      assert.equal(200, head.status)
      assert.equal('"' .. env.md5_file(src) .. '"', head.headers.etag)
      local list = obs { target = "/" .. S.IMS_BUCKET .. "?prefix=" .. key:match("^[^/]+") .. "/" }
      assert.matches("exported%.qcow2</Key>", list.body)
      assert.is_nil(list.body:find(".part", 1, true))
      raw.call { method = "DELETE", path = "/v2/images/" .. id }
    end)
  end)
end)
