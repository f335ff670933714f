-- client.obs against the emulator's OBS (IMS_OBS_ENDPOINT): OBS-signed requests, single and
-- multipart uploads with parallel parts, checkpoints surviving a killed process, faults,
-- downloads with Range resume, listings, bucket facts, temporary keys for a password client.
-- Every check reads the bytes or the server's state back.
local ims = require "ims"
local core = require "ims.core"
local env = require "support.env"
local raw = require "support.raw"

local S = env.stack
local KIB, MIB = 1024, 1024 * 1024

local function client(opts)
  opts = opts or {}
  return ims.new { endpoint = S.IMS_ENDPOINT, project_id = S.IMS_PROJECT_A,
    obs_endpoint = S.IMS_OBS_ENDPOINT, retry = opts.retry, log = opts.log,
    auth = { ak = S.IMS_AK_A, sk = opts.sk or S.IMS_SK_A } }
end

local function unique(prefix) return string.format("spec/%s-%d-%d", prefix, os.time(), math.random(1e9)) end

local function md5_file(path) return assert(core.file_digests(path, { "md5" })).md5 end

local function random_file(name, bytes)
  local path = env.tmpfile(name)
  env.write_random(path, bytes)
  return path
end

local function same_file(a, b)
  return md5_file(a) == md5_file(b) and assert(core.file_info(a)).size == assert(core.file_info(b)).size
end

local function shell_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

describe("ims.sign scheme obs", function()
  it("signs VERB, Content-MD5, Content-Type, Date, x-obs-* headers and the resource", function()
    local r = core.sign { scheme = "obs", ak = "AK", sk = "secret", method = "PUT",
      url = "http://127.0.0.1:1/bucket/a%20b/c?uploadId=U1&partNumber=2&other=x",
      headers = { ["Content-MD5"] = "1B2M2Y8AsgTpgAmY7PhCfg==", ["X-Obs-Meta-Color"] = " blue ",
        ["x-obs-acl"] = "private" },
      date = "Tue, 01 Dec 2026 10:00:00 GMT", security_token = "tok" }
    local want = "PUT\n1B2M2Y8AsgTpgAmY7PhCfg==\n\nTue, 01 Dec 2026 10:00:00 GMT\n"
      .. "x-obs-acl:private\nx-obs-meta-color:blue\nx-obs-security-token:tok\n"
      .. "/bucket/a%20b/c?partNumber=2&uploadId=U1"
    assert.are.equal(want, r.string_to_sign)
    -- the signature, by openssl from the same string
    local tmp = env.tmpfile("sts")
    local f = assert(io.open(tmp, "wb"))
    f:write(want)
    f:close()
    local p = assert(io.popen("env -u LD_PRELOAD openssl dgst -sha1 -hmac secret -binary < " .. tmp .. " | base64"))
    local b64 = p:read("l")
    p:close()
    assert.are.equal("OBS AK:" .. b64, r.authorization)
    assert.are.equal("tok", r.headers["x-obs-security-token"])
    assert.are.equal("Tue, 01 Dec 2026 10:00:00 GMT", r.headers.Date)
  end)

  it("leaves Date out of the string when x-obs-date is sent", function()
    local r = core.sign { scheme = "obs", ak = "AK", sk = "s", method = "GET", url = "http://h/b",
      headers = { ["x-obs-date"] = "Tue, 01 Dec 2026 10:00:00 GMT" } }
    assert.are.equal("GET\n\n\n\nx-obs-date:Tue, 01 Dec 2026 10:00:00 GMT\n/b", r.string_to_sign)
    assert.is_nil(r.headers.Date)
  end)

  it("refuses options of the other scheme", function()
    assert.has_error(function()
      core.sign { scheme = "obs", ak = "a", sk = "b", method = "GET", url = "http://h/", signed_headers = "host" }
    end, "ims.sign: field 'signed_headers' is not for scheme \"obs\"")
    assert.has_error(function()
      core.sign { scheme = "nope", ak = "a", sk = "b", method = "GET", url = "http://h/" }
    end, "ims.sign: field 'scheme' must be \"sdk\" or \"obs\"")
  end)
end)

describe("ims.core body_offset / body_length", function()
  it("sends exactly that range of the file, and refuses a range past its end", function()
    local src = random_file("range.bin", 300 * KIB)
    local c = client()
    local key = unique("range")
    local res = assert(c.obs:request { method = "PUT", bucket = S.IMS_BUCKET, key = key, body_file = src,
      body_offset = 1000, body_length = 5000, expect = 200 })
    assert.are.equal(200, res.status)
    local meta = assert(c.obs:head(S.IMS_BUCKET, key))
    assert.are.equal(5000, meta.size)
    local f = assert(io.open(src, "rb"))
    f:seek("set", 1000)
    assert.are.equal(core.digest("md5", f:read(5000)), meta.etag)
    f:close()
    local _, err = c.obs:request { method = "PUT", bucket = S.IMS_BUCKET, key = key, body_file = src,
      body_offset = 300 * KIB - 10, body_length = 11, expect = 200 }
    assert.are.equal("file", err.kind)
    assert.matches("shorter than body_offset", err.message, 1, true)
    c.obs:delete(S.IMS_BUCKET, key)
  end)
end)

describe("client.obs", function()
  local c
  setup(function() c = client() end)
  before_each(function() raw.admin("DELETE", "/faults") end)
  teardown(function() raw.admin("DELETE", "/faults") end)

  it("puts, heads, gets and deletes a small object; the ETag is its MD5", function()
    local src = random_file("small.bin", 300 * KIB)
    local key = unique("small")
    local r = assert(c.obs:put(S.IMS_BUCKET, key, src, { content_type = "application/x-test" }))
    assert.are.same({ bucket = S.IMS_BUCKET, key = key, size = 300 * KIB, etag = md5_file(src) }, r)
    local meta = assert(c.obs:head(S.IMS_BUCKET, key))
    assert.are.equal(300 * KIB, meta.size)
    assert.are.equal(md5_file(src), meta.etag)
    assert.are.equal("application/x-test", meta.content_type)
    assert.are.equal("STANDARD", meta.storage_class)
    local dest = env.tmpfile("small.out")
    local got = assert(c.obs:get(S.IMS_BUCKET, key, dest))
    assert.are.equal(300 * KIB, got.bytes)
    assert.are.equal(md5_file(src), got.md5)
    assert.is_true(same_file(src, dest))
    assert.is_true(assert(c.obs:delete(S.IMS_BUCKET, key)))
    local none, err = c.obs:head(S.IMS_BUCKET, key)
    assert.is_nil(none)
    assert.are.equal(404, err.status)
    assert.is_true(assert(c.obs:delete(S.IMS_BUCKET, key))) -- absent: still fine
  end)

  it("uploads in parallel parts above the threshold, with no upload left behind", function()
    local size = 2 * MIB + 12345
    local src = random_file("multi.bin", size)
    local key = unique("multi")
    local seen, last = {}, 0
    local r = assert(c.obs:put(S.IMS_BUCKET, key, src, { multipart_threshold = MIB, part_size = 256 * KIB,
      concurrency = 4, progress = function(done, total)
        assert.are.equal(size, total)
        last = done
        seen[#seen + 1] = done
      end }))
    assert.are.equal(9, r.parts)
    assert.are.equal(size, last)
    assert.is_true(#seen >= 9)
    assert.matches("^%x+%-9$", r.etag)
    local dest = env.tmpfile("multi.out")
    assert(c.obs:get(S.IMS_BUCKET, key, dest))
    assert.is_true(same_file(src, dest))
    for _, u in ipairs(assert(c.obs:uploads(S.IMS_BUCKET))) do assert.are_not.equal(key, u.key) end
    assert(c.obs:delete(S.IMS_BUCKET, key))
  end)

  it("has `concurrency` parts in flight at once (each part delayed at the server)", function()
    local src = random_file("conc.bin", 8 * 128 * KIB)
    local key = unique("conc")
    raw.admin("POST", "/faults", { route = "^/" .. S.IMS_BUCKET .. "/spec/conc", method = "PUT",
      kind = "delay", delay = 0.6, count = 8 })
    local t0 = core.now()
    local r = assert(c.obs:put(S.IMS_BUCKET, key, src, { multipart_threshold = 0, part_size = 128 * KIB,
      concurrency = 4 }))
    local took = core.now() - t0
    assert.are.equal(8, r.parts)
    -- 8 parts of 0.6 s: about 1.2 s four at a time, 4.8 s one at a time
    assert.is_true(took >= 1.2 and took < 3.5, "took " .. took)
    assert(c.obs:delete(S.IMS_BUCKET, key))
  end)

  it("retries a part whose connection is reset or answered 503", function()
    local src = random_file("fault.bin", 6 * 128 * KIB)
    local key = unique("fault")
    raw.admin("POST", "/faults", { route = "^/" .. S.IMS_BUCKET .. "/spec/fault", method = "PUT",
      kind = "reset", after_bytes = 50 * KIB, count = 1 })
    raw.admin("POST", "/faults", { route = "^/" .. S.IMS_BUCKET .. "/spec/fault", method = "PUT",
      kind = "status", status = 503, count = 2 })
    assert(c.obs:put(S.IMS_BUCKET, key, src, { multipart_threshold = 0, part_size = 128 * KIB }))
    local dest = env.tmpfile("fault.out")
    assert(c.obs:get(S.IMS_BUCKET, key, dest))
    assert.is_true(same_file(src, dest))
    assert(c.obs:delete(S.IMS_BUCKET, key))
  end)

  it("aborts the multipart upload when it gives up without a checkpoint", function()
    local src = random_file("giveup.bin", 4 * 128 * KIB)
    local key = unique("giveup")
    raw.admin("POST", "/faults", { route = "^/" .. S.IMS_BUCKET .. "/spec/giveup", method = "PUT",
      kind = "status", status = 500, code = "InternalError", count = 100 })
    local q = client { retry = { attempts = 2, base_delay = 0.01 } }
    local r, err = q.obs:put(S.IMS_BUCKET, key, src, { multipart_threshold = 0, part_size = 128 * KIB })
    assert.is_nil(r)
    assert.are.equal(500, err.status)
    raw.admin("DELETE", "/faults")
    for _, u in ipairs(assert(c.obs:uploads(S.IMS_BUCKET))) do assert.are_not.equal(key, u.key) end
    assert.are.equal(404, select(2, c.obs:head(S.IMS_BUCKET, key)).status)
  end)

  it("resumes from a checkpoint after the process was killed, sending only the missing parts", function()
    local size = 10 * 128 * KIB
    local src = random_file("crash.bin", size)
    local key = unique("crash")
    local cp = env.tmpfile("crash.checkpoint")
    -- a child process uploads and dies (os.exit, no cleanup) once 4 parts are done
    local script = env.tmpfile("crash.lua")
    local f = assert(io.open(script, "w"))
    f:write(string.format([[
      package.path = %q; package.cpath = %q
      local ims = require "ims"
      local c = ims.new { endpoint = %q, obs_endpoint = %q, auth = { ak = %q, sk = %q } }
      c.obs:put(%q, %q, %q, { multipart_threshold = 0, part_size = 131072, concurrency = 1,
        checkpoint = %q, progress = function(done) if done >= 4 * 131072 then os.exit(3) end end })
      os.exit(0)
    ]], package.path, package.cpath, S.IMS_ENDPOINT, S.IMS_OBS_ENDPOINT, S.IMS_AK_A, S.IMS_SK_A,
      S.IMS_BUCKET, key, src, cp))
    f:close()
    local ok, how, code = os.execute("lua5.4 " .. shell_quote(script))
    assert.are.same({ nil, "exit", 3 }, { ok, how, code })
    assert.is_not_nil(io.open(cp, "rb"), "the checkpoint is on disk")
    local pending = 0
    for _, u in ipairs(assert(c.obs:uploads(S.IMS_BUCKET))) do if u.key == key then pending = pending + 1 end end
    assert.are.equal(1, pending)
    -- the rerun sends the 6 (or 7, if the 5th was in flight) missing parts only
    local puts = 0
    local again = client { log = function(ev)
      if ev.method == "PUT" and ev.url:find("partNumber=", 1, true) then puts = puts + 1 end
    end }
    local r = assert(again.obs:put(S.IMS_BUCKET, key, src, { multipart_threshold = 0, part_size = 128 * KIB,
      checkpoint = cp }))
    assert.are.equal(10, r.parts)
    assert.is_true(puts >= 6 and puts <= 7, puts .. " parts sent")
    assert.is_nil(io.open(cp, "rb"), "the checkpoint is removed after success")
    local dest = env.tmpfile("crash.out")
    assert(c.obs:get(S.IMS_BUCKET, key, dest))
    assert.is_true(same_file(src, dest))
    for _, u in ipairs(assert(c.obs:uploads(S.IMS_BUCKET))) do assert.are_not.equal(key, u.key) end
    -- a file changed since the checkpoint is uploaded afresh, the stale upload aborted
    assert(c.obs:delete(S.IMS_BUCKET, key))
  end)

  it("finishes at once when the crash came after the upload completed", function()
    local src = random_file("done.bin", 3 * 128 * KIB)
    local key = unique("done")
    local cp = env.tmpfile("done.checkpoint")
    -- complete an upload but keep a copy of its checkpoint as it was before completion
    local copy
    local r = assert(c.obs:put(S.IMS_BUCKET, key, src, { multipart_threshold = 0, part_size = 128 * KIB,
      checkpoint = cp, progress = function(done, total)
        if done == total then
          local f = io.open(cp, "rb")
          if f then copy = f:read("a"); f:close() end
        end
      end }))
    assert.is_string(copy)
    local f = assert(io.open(cp, "wb"))
    f:write(copy)
    f:close()
    local puts = 0
    local again = client { log = function(ev) if ev.method ~= "HEAD" and ev.method ~= "GET" then puts = puts + 1 end end }
    local r2 = assert(again.obs:put(S.IMS_BUCKET, key, src, { multipart_threshold = 0, part_size = 128 * KIB,
      checkpoint = cp }))
    assert.are.equal(r.etag, r2.etag)
    assert.are.equal(0, puts)
    assert(c.obs:delete(S.IMS_BUCKET, key))
  end)

  it("resumes a download from its .part file, and starts over when the prefix is wrong", function()
    local src = random_file("dl.bin", 700 * KIB)
    local key = unique("dl")
    assert(c.obs:put(S.IMS_BUCKET, key, src))
    local dest = env.tmpfile("dl.out")
    local whole = assert(io.open(src, "rb")):read("a")
    local part = assert(io.open(dest .. ".part", "wb"))
    part:write(whole:sub(1, 300 * KIB))
    part:close()
    local got = 0
    local r = assert(c.obs:get(S.IMS_BUCKET, key, dest, { resume = true, progress = function(d) got = d end }))
    assert.are.equal(700 * KIB, r.bytes)
    assert.are.equal(700 * KIB, got)
    assert.is_true(same_file(src, dest))
    os.remove(dest)
    part = assert(io.open(dest .. ".part", "wb"))
    part:write(string.rep("x", 300 * KIB))
    part:close()
    r = assert(c.obs:get(S.IMS_BUCKET, key, dest, { resume = true }))
    assert.are.equal(700 * KIB, r.bytes)
    assert.is_true(same_file(src, dest))
    -- a truncated answer is continued with Range within the same call
    raw.admin("POST", "/faults", { route = "^/" .. S.IMS_BUCKET .. "/spec/dl", method = "GET",
      kind = "truncate", after_bytes = 200 * KIB, count = 1 })
    os.remove(dest)
    r = assert(c.obs:get(S.IMS_BUCKET, key, dest))
    assert.are.equal(700 * KIB, r.bytes)
    assert.is_true(same_file(src, dest))
    assert(c.obs:delete(S.IMS_BUCKET, key))
  end)

  it("lists with prefix, marker, max and delimiter, and iterates with each", function()
    local base = unique("list")
    local src = random_file("l.bin", 1000)
    for i = 1, 5 do assert(c.obs:put(S.IMS_BUCKET, base .. "/k" .. i, src)) end
    assert(c.obs:put(S.IMS_BUCKET, base .. "/sub/x", src))
    local all = assert(c.obs:list(S.IMS_BUCKET, { prefix = base .. "/" }))
    assert.are.equal(6, #all)
    assert.are.equal(base .. "/k1", all[1].key)
    assert.are.equal(1000, all[1].size)
    assert.are.equal(md5_file(src), all[1].etag)
    local after = assert(c.obs:list(S.IMS_BUCKET, { prefix = base .. "/", marker = base .. "/k3", max = 2 }))
    assert.are.same({ base .. "/k4", base .. "/k5" }, { after[1].key, after[2].key })
    local rolled = assert(c.obs:list(S.IMS_BUCKET, { prefix = base .. "/", delimiter = "/" }))
    assert.are.equal(6, #rolled)
    assert.are.equal(base .. "/sub/", rolled[6].prefix)
    local n = 0
    for o, err in c.obs:each(S.IMS_BUCKET, { prefix = base .. "/" }) do
      assert(o, err)
      n = n + 1
    end
    assert.are.equal(6, n)
    for _, o in ipairs(all) do assert(c.obs:delete(S.IMS_BUCKET, o.key)) end
    assert.are.same({}, assert(c.obs:list(S.IMS_BUCKET, { prefix = base .. "/" })))
  end)

  it("tells a bucket's region and storage class", function()
    assert.are.same({ region = S.IMS_REGION, storage_class = "STANDARD" }, assert(c.obs:bucket(S.IMS_BUCKET)))
    assert.are.same({ region = S.IMS_REGION, storage_class = "COLD" }, assert(c.obs:bucket(S.IMS_BUCKET_COLD)))
    assert.are.same({ region = S.IMS_REGION_2, storage_class = "STANDARD" },
      assert(c.obs:bucket(S.IMS_BUCKET_SOUTH)))
    local none, err = c.obs:bucket("no-such-bucket-here")
    assert.is_nil(none)
    assert.are.equal(404, err.status)
    assert.are.equal("NoSuchBucket", err.code)
  end)

  it("reports OBS's XML errors: code, message, request id", function()
    local none, err = c.obs:get(S.IMS_BUCKET, unique("absent"), function() end)
    assert.is_nil(none)
    assert.are.equal(404, err.status)
    assert.are.equal("NoSuchKey", err.code)
    assert.is_string(err.request_id)
    local bad = client { sk = "wrong-secret-key" }
    none, err = bad.obs:head(S.IMS_BUCKET, "images/import.raw")
    assert.is_nil(none)
    assert.are.equal(403, err.status)
    none, err = bad.obs:list(S.IMS_BUCKET, { max = 1 })
    assert.is_nil(none)
    assert.are.equal("SignatureDoesNotMatch", err.code)
    assert.is_nil(tostring(err):find(S.IMS_SK_A, 1, true))
  end)

  it("signs with temporary keys from IAM for a password client", function()
    local p = ims.new { obs_endpoint = S.IMS_OBS_ENDPOINT, auth = { auth_url = S.IAM_ENDPOINT,
      user = S.IMS_USER_A, password = S.IMS_PASSWORD_A, domain = S.IMS_DOMAIN, project_id = S.IMS_PROJECT_A } }
    local src = random_file("temp.bin", 2000)
    local key = unique("temp")
    assert(p.obs:put(S.IMS_BUCKET, key, src))
    assert.are.equal(2000, assert(c.obs:head(S.IMS_BUCKET, key)).size)
    assert(p.obs:delete(S.IMS_BUCKET, key))
  end)

  it("raises on misuse before any request", function()
    assert.has_error(function() c.obs:put("B", "k", "f") end,
      "ims.obs:put: argument 'bucket' must be an OBS bucket name (3-63 of a-z, 0-9, '.', '-'; got 'B')")
    assert.has_error(function() c.obs:put(S.IMS_BUCKET, "", "f") end,
      "ims.obs:put: argument 'key' must be 1 to 1024 bytes (got 0)")
    assert.has_error(function() c.obs:put(S.IMS_BUCKET, "k", "f", { part_size = 1000 }) end,
      "ims.obs:put: option 'part_size' must be between 102400 and 5368709120 (got 1000)")
    assert.has_error(function() c.obs:list(S.IMS_BUCKET, { prefx = "a" }) end)
    assert.has_error(function() c.obs.head(S.IMS_BUCKET, "k") end)
    local none = ims.new { endpoint = S.IMS_ENDPOINT, auth = { ak = "a", sk = "b" } }
    assert.has_error(function() none.obs:head(S.IMS_BUCKET, "k") end,
      "ims.obs:head: the client has no 'obs_endpoint' (ims.new{obs_endpoint = ..., or region = ...})")
  end)
end)
