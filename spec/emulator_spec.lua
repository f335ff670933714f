-- The IMS emulator (emulator/, started by scripts/stack) keeps the contract of
-- docs/ims-api: auth, every IMS route, real jobs, the Glance proxy and the fault switches.
-- Requests are raw HTTP through ims.core (spec/support/raw.lua), not the SDK.
local core = require "ims.core"
local env = require "support.env"
local raw = require "support.raw"

local S = env.stack

local function sha256_file(path)
  return assert(core.file_digests(path, { "sha256" })).sha256
end

-- sha256 of an image's bytes, downloaded from the real Glance behind the emulator.
local function glance_sha256(id, who)
  local path = env.tmpfile("glance-" .. id)
  local res = assert(raw.call { path = "/v2/images/" .. id .. "/file", who = who, sink_file = path })
  assert.equal(200, res.status)
  return sha256_file(path)
end

local function ims_error(res, status, code)
  assert.equal(status, res.status, res.body)
  assert.equal(code, res.json.error.code, res.body)
  assert.is_string(res.json.error.message)
  assert.is_string(res.headers["x-request-id"])
end

local function apigw_error(res, code)
  assert.equal(code == "APIGW.0308" and 429 or 401, res.status, res.body)
  assert.equal(code, res.json.error_code, res.body)
  assert.is_string(res.json.error_msg)
  assert.is_string(res.json.request_id)
end

local function unique(prefix) return string.format("%s-%d-%d", prefix, os.time(), math.random(1e9)) end

local function job_of(res)
  assert.equal(200, res.status, res.body)
  assert.matches("^%x+", res.json.job_id)
  return res.json.job_id
end

describe("IMS emulator", function()
  after_each(function() raw.admin("DELETE", "/faults") end)

  describe("IAM tokens", function()
    it("issues a project-scoped token with X-Subject-Token and expires_at", function()
      local res = assert(raw.call { method = "POST", url = S.IAM_ENDPOINT .. "/auth/tokens", auth = "none",
        json = { auth = { identity = { methods = { "password" }, password = { user = {
          name = S.IMS_USER_A, password = S.IMS_PASSWORD_A, domain = { name = S.IMS_DOMAIN } } } },
          scope = { project = { id = S.IMS_PROJECT_A } } } } })
      assert.equal(201, res.status, res.body)
      assert.is_string(res.headers["x-subject-token"])
      assert.matches("^%d%d%d%d%-%d%d%-%d%dT", res.json.token.expires_at)
      assert.equal(S.IMS_PROJECT_A, res.json.token.project.id)
      local list = assert(raw.call { path = "/v2/images?limit=1", auth = "none",
        headers = { ["X-Auth-Token"] = res.headers["x-subject-token"] } })
      assert.equal(200, list.status)
    end)

    it("refuses a wrong password with the Keystone error shape", function()
      local res = assert(raw.call { method = "POST", url = S.IAM_ENDPOINT .. "/auth/tokens", auth = "none",
        json = { auth = { identity = { methods = { "password" }, password = { user = {
          name = S.IMS_USER_A, password = "wrong", domain = { name = S.IMS_DOMAIN } } } },
          scope = { project = { id = S.IMS_PROJECT_A } } } } })
      assert.equal(401, res.status)
      assert.equal(401, res.json.error.code)
      assert.is_string(res.json.error.message)
    end)

    it("refuses unknown and expired tokens", function()
      local res = assert(raw.call { path = "/v2/cloudimages", auth = "none", headers = { ["X-Auth-Token"] = "nope" } })
      apigw_error(res, "APIGW.0301")
      raw.admin("POST", "/tokens", { lifetime = 1 })
      local short = assert(raw.call { method = "POST", url = S.IAM_ENDPOINT .. "/auth/tokens", auth = "none",
        json = { auth = { identity = { methods = { "password" }, password = { user = {
          name = S.IMS_USER_B, password = S.IMS_PASSWORD_B, domain = { name = S.IMS_DOMAIN } } } },
          scope = { project = { id = S.IMS_PROJECT_B } } } } })
      raw.admin("POST", "/tokens", { lifetime = 86400 })
      local token = short.headers["x-subject-token"]
      local ok = assert(raw.call { path = "/v2/cloudimages?limit=1", auth = "none", headers = { ["X-Auth-Token"] = token } })
      assert.equal(200, ok.status)
      core.sleep(1.2)
      local expired = assert(raw.call { path = "/v2/cloudimages?limit=1", auth = "none", headers = { ["X-Auth-Token"] = token } })
      apigw_error(expired, "APIGW.0301")
    end)
  end)

  describe("AK/SK", function()
    it("accepts requests signed by ims.sign", function()
      local res = assert(raw.call { path = "/v2/cloudimages?limit=2&__imagetype=private", auth = "aksk" })
      assert.equal(200, res.status, res.body)
      local post = assert(raw.call { method = "POST", path = "/v2/cloudimages/action", auth = "aksk",
        json = { name = unique("aksk"), instance_id = S.IMS_INSTANCE_STOPPED } })
      job_of(post)
    end)

    it("refuses a tampered signature, a missing project, no credentials and clock skew", function()
      local u = S.IMS_ENDPOINT .. "/v2/cloudimages?limit=2"
      local signed = core.sign { ak = S.IMS_AK_A, sk = S.IMS_SK_A, method = "GET", url = u,
        headers = { ["X-Project-Id"] = S.IMS_PROJECT_A } }
      local h = signed.headers
      h.Authorization = h.Authorization:gsub("Signature=(%x)", function(c) return "Signature=" .. (c == "0" and "1" or "0") end)
      apigw_error(assert(raw.call { url = signed.url, auth = "none", headers = h }), "APIGW.0301")
      -- the signed query changed after signing
      local h2 = core.sign { ak = S.IMS_AK_A, sk = S.IMS_SK_A, method = "GET", url = u,
        headers = { ["X-Project-Id"] = S.IMS_PROJECT_A } }.headers
      apigw_error(assert(raw.call { url = u:gsub("limit=2", "limit=3"), auth = "none", headers = h2 }), "APIGW.0301")
      local noproj = core.sign { ak = S.IMS_AK_A, sk = S.IMS_SK_A, method = "GET", url = u }
      apigw_error(assert(raw.call { url = noproj.url, auth = "none", headers = noproj.headers }), "APIGW.0301")
      apigw_error(assert(raw.call { path = "/v2/cloudimages", auth = "none" }), "APIGW.0301")
      local old = os.date("!%Y%m%dT%H%M%SZ", os.time() - 20 * 60)
      local skewed = assert(raw.call { path = "/v2/cloudimages?limit=1", auth = "aksk", date = old })
      apigw_error(skewed, "APIGW.0301")
      assert.matches("[Cc]lock", skewed.json.error_msg)
      local fine = os.date("!%Y%m%dT%H%M%SZ", os.time() - 5 * 60)
      assert.equal(200, assert(raw.call { path = "/v2/cloudimages?limit=1", auth = "aksk", date = fine }).status)
    end)

    it("tells its clock, offset included, in every Date header (Glance's too)", function()
      local utc = require "ims.utc"
      raw.admin("POST", "/clock", { offset = 7200 })
      local ok, err = pcall(function()
        for _, path in ipairs { "/v2/cloudimages?limit=1", "/v2/images?limit=1" } do
          local res = assert(raw.call { path = path })
          assert.equal(200, res.status)
          assert.equal(1, select(2, res.headers.date:gsub("GMT", ""))) -- one Date, not Glance's too
          local skew = utc.http_date(res.headers.date) - core.time()
          assert.is_true(math.abs(skew - 7200) < 5, path .. string.format(": skew %.1f s", skew))
        end
      end)
      raw.admin("POST", "/clock", { offset = 0 })
      assert(ok, err)
    end)

    it("verifies every reference signer vector (emulator/test_auth.py)", function()
      local rc, out = env.emulator_unittest("test_auth")
      assert.equal(0, rc, out)
      assert.matches("OK", out)
    end)
  end)

  describe("the Glance proxy", function()
    it("streams image data both ways as the authenticated project", function()
      local created = assert(raw.call { method = "POST", path = "/v2/images", json = {
        name = unique("proxy"), disk_format = "raw", container_format = "bare" } })
      assert.equal(201, created.status, created.body)
      local id = created.json.id
      assert.equal(S.IMS_PROJECT_A, created.json.owner)
      local src = env.tmpfile("proxy.bin")
      env.write_random(src, 40 * 1024 * 1024 + 7)
      local up = assert(raw.call { method = "PUT", path = "/v2/images/" .. id .. "/file", body_file = src,
        headers = { ["Content-Type"] = "application/octet-stream" } })
      assert.equal(204, up.status, up.body)
      assert.equal(sha256_file(src), glance_sha256(id))
      -- project B cannot see it, even when it claims to be A
      local b = assert(raw.call { path = "/v2/images/" .. id, who = "b",
        headers = { ["X-Project-Id"] = S.IMS_PROJECT_A, ["X-Identity-Status"] = "Confirmed" } })
      assert.equal(404, b.status)
      assert(raw.call { method = "DELETE", path = "/v2/images/" .. id })
    end)

    it("keeps upstream connections alive, safely (emulator/test_proxy.py)", function()
      local rc, out = env.emulator_unittest("test_proxy")
      assert.equal(0, rc, out)
      assert.matches("Ran 9 tests", out)
      assert.not_matches("ResourceWarning", out)
    end)
  end)

  describe("jobs", function()
    it("create from a stopped instance uploads its disk into a new active image", function()
      local job = raw.wait_job(job_of(assert(raw.call { method = "POST", path = "/v2/cloudimages/action",
        json = { name = unique("from-ecs"), instance_id = S.IMS_INSTANCE_STOPPED, description = "spec" } })))
      assert.equal("SUCCESS", job.status)
      assert.equal("imsCreateImageByInstance", job.job_type)
      assert.is_string(job.begin_time)
      assert.is_string(job.end_time)
      local id = job.entities.image_id
      local img = assert(raw.call { path = "/v2/images/" .. id })
      assert.equal("active", img.json.status)
      assert.equal("private", img.json.__imagetype)
      assert.equal(sha256_file(S.IMS_INSTANCE_STOPPED_DISK), glance_sha256(id))
    end)

    it("refuses a running instance, an unknown one and bad bodies with IMS errors", function()
      ims_error(assert(raw.call { method = "POST", path = "/v2/cloudimages/action",
        json = { name = unique("x"), instance_id = S.IMS_INSTANCE_RUNNING } }), 400, "IMG.0008")
      ims_error(assert(raw.call { method = "POST", path = "/v2/cloudimages/action",
        json = { name = unique("x"), instance_id = "00000000-0000-0000-0000-000000000000" } }), 400, "IMG.0005")
      local nobody = assert(raw.call { method = "POST", path = "/v2/cloudimages/action", json = { instance_id = S.IMS_INSTANCE_STOPPED } })
      assert.equal(400, nobody.status)
      assert.matches("^IMG%.%d+$", nobody.json.error.code)
      local both = assert(raw.call { method = "POST", path = "/v2/cloudimages/action", json = {
        name = unique("x"), instance_id = S.IMS_INSTANCE_STOPPED, tags = { "a.b" }, image_tags = { { key = "a", value = "b" } } } })
      assert.equal(400, both.status)
    end)

    it("imports an image file from a bucket, and fails a job for a missing object", function()
      local job = raw.wait_job(job_of(assert(raw.call { method = "POST", path = "/v2/cloudimages/action",
        json = { name = unique("import"), image_url = S.IMS_BUCKET .. ":" .. S.IMS_IMPORT_OBJECT, min_disk = 40,
          os_version = "Debian GNU/Linux 12.0.0 64bit" } })))
      assert.equal("SUCCESS", job.status)
      assert.equal(sha256_file(S.IMS_BUCKET_DIR .. "/" .. S.IMS_IMPORT_OBJECT), glance_sha256(job.entities.image_id))
      local failed = raw.wait_job(job_of(assert(raw.call { method = "POST", path = "/v2/cloudimages/action",
        json = { name = unique("missing"), image_url = S.IMS_BUCKET .. ":no/such/object.qcow2", min_disk = 40 } })))
      assert.equal("FAIL", failed.status)
      assert.equal("IMG.0057", failed.error_code)
      assert.is_string(failed.fail_reason)
    end)

    it("registers an object into a queued image and exports an image into the bucket", function()
      local created = assert(raw.call { method = "POST", path = "/v2/images", json = {
        name = unique("register"), disk_format = "raw", container_format = "bare" } })
      local id = created.json.id
      local reg = raw.wait_job(job_of(assert(raw.call { method = "PUT", path = "/v1/cloudimages/" .. id .. "/upload",
        json = { image_url = S.IMS_BUCKET .. ":" .. S.IMS_IMPORT_OBJECT } })))
      assert.equal("SUCCESS", reg.status)
      assert.equal(sha256_file(S.IMS_BUCKET_DIR .. "/" .. S.IMS_IMPORT_OBJECT), glance_sha256(id))
      local object = "exports/" .. unique("export") .. ".qcow2"
      local exp = raw.wait_job(job_of(assert(raw.call { method = "POST", path = "/v1/cloudimages/" .. id .. "/file",
        json = { bucket_url = S.IMS_BUCKET .. ":" .. object, file_format = "qcow2" } })))
      assert.equal("SUCCESS", exp.status)
      assert.equal(glance_sha256(id), sha256_file(S.IMS_BUCKET_DIR .. "/" .. object))
      ims_error(assert(raw.call { method = "POST", path = "/v1/cloudimages/" .. id .. "/file",
        json = { bucket_url = S.IMS_BUCKET .. ":" .. object, file_format = "qcow2" } }), 400, "IMG.0070")
    end)

    it("creates data images and whole images", function()
      local data = raw.wait_job(job_of(assert(raw.call { method = "POST", path = "/v1/cloudimages/dataimages/action",
        json = { name = unique("data"), image_url = S.IMS_BUCKET .. ":" .. S.IMS_IMPORT_OBJECT, min_disk = 40 } })))
      assert.equal("SUCCESS", data.status)
      local whole = raw.wait_job(job_of(assert(raw.call { method = "POST", path = "/v1/cloudimages/wholeimages/action",
        json = { name = unique("whole"), instance_id = S.IMS_INSTANCE_STOPPED } })))
      assert.equal("SUCCESS", whole.status)
      local img = assert(raw.call { path = "/v2/images/" .. whole.entities.image_id })
      assert.equal("true", img.json.__whole_image)
    end)

    it("goes INIT/RUNNING before SUCCESS, and a forced failure fails", function()
      raw.admin("POST", "/jobs", { duration = 1.5 })
      local id = job_of(assert(raw.call { method = "POST", path = "/v1/cloudimages/wholeimages/action",
        json = { name = unique("slow"), instance_id = S.IMS_INSTANCE_STOPPED } }))
      local first = assert(raw.call { path = "/v1/" .. S.IMS_PROJECT_A .. "/jobs/" .. id }).json
      assert.is_truthy(first.status == "INIT" or first.status == "RUNNING", first.status)
      assert.equal("SUCCESS", raw.wait_job(id).status)
      raw.admin("POST", "/jobs", { fail_next = 1, fail_code = "IMG.1075", fail_reason = "forced" })
      local failed = raw.wait_job(job_of(assert(raw.call { method = "POST", path = "/v1/cloudimages/wholeimages/action",
        json = { name = unique("forced"), instance_id = S.IMS_INSTANCE_STOPPED } })))
      raw.admin("POST", "/jobs", { duration = 0.3 })
      assert.equal("FAIL", failed.status)
      assert.equal("IMG.1075", failed.error_code)
      assert.equal("forced", failed.fail_reason)
    end)

    it("refuses a job over the flow-control limit with IMG.0060, starting nothing", function()
      raw.admin("POST", "/jobs", { duration = 1.5, max_running = 1 })
      local function start()
        return assert(raw.call { method = "POST", path = "/v1/cloudimages/wholeimages/action",
          json = { name = unique("flow"), instance_id = S.IMS_INSTANCE_STOPPED } })
      end
      local ok, err = pcall(function()
        local first = job_of(start())
        local before = #raw.admin("GET", "/jobs").jobs
        local refused = start()
        assert.equal(400, refused.status)
        assert.equal("IMG.0060", refused.json.error.code)
        assert.equal(before, #raw.admin("GET", "/jobs").jobs) -- no job was made
        assert.equal("SUCCESS", raw.wait_job(first).status)
        raw.wait_job(job_of(start())) -- room again once the first ended
        assert.is_false(pcall(raw.admin, "POST", "/jobs", { max_running = -1 }))
      end)
      raw.admin("POST", "/jobs", { duration = 0.3, max_running = 0 })
      assert(ok, err)
    end)

    it("keeps jobs to their project", function()
      local id = job_of(assert(raw.call { method = "POST", path = "/v1/cloudimages/wholeimages/action",
        json = { name = unique("mine"), instance_id = S.IMS_INSTANCE_STOPPED } }))
      local other = assert(raw.call { path = "/v1/" .. S.IMS_PROJECT_A .. "/jobs/" .. id, who = "b" })
      assert.is_true(other.status >= 400 and other.status < 500)
      local unknown = assert(raw.call { path = "/v1/" .. S.IMS_PROJECT_A .. "/jobs/ffffffffffffffffffffffffffffffff" })
      assert.is_true(unknown.status >= 400 and unknown.status < 500)
      raw.wait_job(id)
    end)
  end)

  describe("cloudimages list and update", function()
    local name, ids = unique("list"), {}
    setup(function()
      local jobs = {}
      for i = 1, 5 do
        jobs[i] = job_of(assert(raw.call { method = "POST", path = "/v1/cloudimages/wholeimages/action",
          json = { name = name .. "-" .. i, instance_id = S.IMS_INSTANCE_STOPPED } }))
      end
      for i, j in ipairs(jobs) do ids[i] = raw.wait_job(j).entities.image_id end
    end)

    it("filters, pages by marker and has no links", function()
      local res = assert(raw.call { path = "/v2/cloudimages?name=" .. name .. "-3" })
      assert.equal(200, res.status)
      assert.equal(1, #res.json.images)
      assert.equal(ids[3], res.json.images[1].id)
      assert.is_nil(res.json.next)
      local seen, marker, pages = {}, nil, 0
      repeat
        local q = "/v2/cloudimages?__whole_image=true&sort_key=name&sort_dir=asc&limit=2" .. (marker and ("&marker=" .. marker) or "")
        local page = assert(raw.call { path = q }).json.images
        pages = pages + 1
        for _, img in ipairs(page) do
          if img.name:sub(1, #name) == name then seen[#seen + 1] = img.name end
          marker = img.id
        end
      until #page < 2
      assert.is_true(pages >= 3)
      assert.same({ name .. "-1", name .. "-2", name .. "-3", name .. "-4", name .. "-5" }, seen)
    end)

    it("patches active images, with IMG.0035 for replacing an absent attribute", function()
      local res = assert(raw.call { method = "PATCH", path = "/v2/cloudimages/" .. ids[1],
        json = { { op = "replace", path = "/name", value = name .. "-renamed" },
                 { op = "add", path = "/__description", value = "patched" } } })
      assert.equal(200, res.status, res.body)
      assert.equal(name .. "-renamed", res.json.name)
      assert.equal("patched", res.json.__description)
      ims_error(assert(raw.call { method = "PATCH", path = "/v2/cloudimages/" .. ids[2],
        json = { { op = "replace", path = "/max_ram", value = "1024" } } }), 400, "IMG.0035")
    end)
  end)

  describe("fault switches", function()
    it("answers a burst of 503s, then serves again", function()
      raw.admin("POST", "/faults", { route = "^/v2/cloudimages$", kind = "status", status = 503, count = 2 })
      assert.equal(503, assert(raw.call { path = "/v2/cloudimages" }).status)
      assert.equal(503, assert(raw.call { path = "/v2/cloudimages" }).status)
      assert.equal(200, assert(raw.call { path = "/v2/cloudimages" }).status)
    end)

    it("throttles with 429, Retry-After and APIGW.0308", function()
      raw.admin("POST", "/faults", { route = "^/v2/cloudimages$", kind = "throttle", retry_after = 3 })
      local res = assert(raw.call { path = "/v2/cloudimages" })
      apigw_error(res, "APIGW.0308")
      assert.equal("3", res.headers["retry-after"])
    end)

    it("resets the connection, truncates a body and delays a response", function()
      raw.admin("POST", "/faults", { route = "^/v2/cloudimages$", kind = "reset" })
      local res, err = raw.call { path = "/v2/cloudimages" }
      assert.is_nil(res)
      assert.is_string(err.code)
      raw.admin("POST", "/faults", { route = "^/v2/cloudimages$", kind = "truncate", after_bytes = 5 })
      res, err = raw.call { path = "/v2/cloudimages" }
      assert.is_nil(res)
      assert.equal("PARTIAL_FILE", err.code)
      raw.admin("POST", "/faults", { route = "^/v2/cloudimages$", kind = "delay", delay = 0.6 })
      local t0 = core.now()
      assert.equal(200, assert(raw.call { path = "/v2/cloudimages" }).status)
      assert.is_true(core.now() - t0 >= 0.55)
    end)

    it("counts requests per route", function()
      raw.admin("DELETE", "/stats")
      for _ = 1, 3 do raw.call { path = "/v2/cloudimages?limit=1" } end
      local stats = raw.admin("GET", "/stats")
      local n = 0
      for k, v in pairs(stats) do if k:match("GET /v2/cloudimages") then n = n + v end end
      assert.equal(3, n)
    end)
  end)
end)
