-- The SDK's IMS surface (client.cloudimages, client.jobs, AK/SK and IAM password auth) end to
-- end against the local stack: the IMS emulator in front of the real Glance.
local ims = require "ims"
local core = require "ims.core"
local env = require "support.env"
local raw = require "support.raw"

local S = env.stack

local function aksk(who)
  local W = (who or "a"):upper()
  return ims.new { endpoint = S.IMS_ENDPOINT, project_id = S["IMS_PROJECT_" .. W],
    auth = { ak = S["IMS_AK_" .. W], sk = S["IMS_SK_" .. W] } }
end

local function password(who, extra)
  local W = (who or "a"):upper()
  local opts = { endpoint = S.IMS_ENDPOINT, auth = { auth_url = S.IAM_ENDPOINT,
    user = S["IMS_USER_" .. W], password = S["IMS_PASSWORD_" .. W], domain = S.IMS_DOMAIN,
    project_id = S["IMS_PROJECT_" .. W] } }
  for k, v in pairs(extra or {}) do opts[k] = v end
  return ims.new(opts)
end

local function unique(prefix) return string.format("%s-%d-%d", prefix, os.time(), math.random(1e9)) end

local function sha256_file(path) return assert(core.file_digests(path, { "sha256" })).sha256 end

local function image_sha256(c, id)
  local got = assert(c.images:download(id, function() end, { digests = { "sha256" } }))
  return got.sha256
end

local FAST = { interval = 0.2, max_interval = 0.5, timeout = 60 }

describe("client.cloudimages and client.jobs", function()
  local c
  setup(function()
    raw.admin("POST", "/jobs", { duration = 0.3 })
    c = aksk("a")
  end)
  teardown(function() c:close() end)

  it("uploads and downloads through the emulator with AK/SK (streamed, unsigned payload)", function()
    local img = assert(c.images:create { name = unique("aksk-up"), disk_format = "raw", container_format = "bare" })
    local src = env.tmpfile("aksk.bin")
    env.write_random(src, 20 * 1024 * 1024)
    assert(img:upload(src))
    assert.equal("active", img.status)
    assert.equal(sha256_file(src), image_sha256(c, img.id))
    assert.is_true(img:delete())
  end)

  it("marks Glance-made images private for IMS's filters, and prints objects by id and name", function()
    local name = unique("typed")
    local img = assert(c.images:create { name = name, disk_format = "raw", container_format = "bare" })
    assert.equal("private", img.__imagetype)
    local found = 0
    for x in c.cloudimages:each { __imagetype = "private", name = name } do
      if x.id == img.id then found = found + 1 end
    end
    assert.equal(1, found)
    assert.equal("ims.Image " .. img.id .. " (" .. name .. ", queued)", tostring(img))
    assert(img:delete())
  end)

  it("creates an image from a stopped instance and waits for it", function()
    local job = assert(c.cloudimages:create { name = unique("from-ecs"), instance_id = S.IMS_INSTANCE_STOPPED,
      description = "spec", image_tags = { { key = "env", value = "test" } } })
    assert.is_string(job.job_id)
    local states = {}
    local done = assert(job:wait { interval = 0.1, max_interval = 0.3, timeout = 60,
      progress = function(j) states[#states + 1] = j.status end })
    assert.equal(job, done)
    assert.equal("SUCCESS", job.status)
    assert.equal("SUCCESS", states[#states])
    local img = assert(job:image())
    assert.equal("active", img.status)
    assert.equal(sha256_file(S.IMS_INSTANCE_STOPPED_DISK), image_sha256(c, img.id))
    local again = assert(c.jobs:get(job.job_id))
    assert.equal(job.image_id, again.image_id)
  end)

  it("imports a bucket object, registers one, and exports an image into the bucket", function()
    local object_sha = sha256_file(S.IMS_BUCKET_DIR .. "/" .. S.IMS_IMPORT_OBJECT)
    local job = assert(c.cloudimages:create { name = unique("import"), min_disk = 40,
      image_url = S.IMS_BUCKET .. ":" .. S.IMS_IMPORT_OBJECT, os_version = "Debian GNU/Linux 12.0.0 64bit" })
    assert(job:wait(FAST))
    assert.equal(object_sha, image_sha256(c, job.image_id))

    local queued = assert(c.images:create { name = unique("register"), disk_format = "raw", container_format = "bare" })
    local reg = assert(c.cloudimages:register(queued, S.IMS_BUCKET .. ":" .. S.IMS_IMPORT_OBJECT))
    assert(reg:wait(FAST))
    assert.equal("active", assert(queued:refresh()).status)
    assert.equal(object_sha, image_sha256(c, queued.id))

    local object = "exports/" .. unique("sdk") .. ".qcow2"
    local exp = assert(c.cloudimages:export(queued, { bucket_url = S.IMS_BUCKET .. ":" .. object, file_format = "qcow2" }))
    assert(exp:wait(FAST))
    assert.equal(object_sha, sha256_file(S.IMS_BUCKET_DIR .. "/" .. object))
  end)

  it("creates data images and whole images", function()
    local data = assert(c.cloudimages:create_data_image { name = unique("data"), min_disk = 40,
      image_url = S.IMS_BUCKET .. ":" .. S.IMS_IMPORT_OBJECT })
    local whole = assert(c.cloudimages:create_whole_image { name = unique("whole"), instance_id = S.IMS_INSTANCE_STOPPED })
    local jobs, err = c.jobs:wait_all({ data, whole }, FAST)
    assert.is_nil(err)
    assert.equal("SUCCESS", jobs[1].status)
    assert.equal("SUCCESS", jobs[2].status)
    assert.equal("true", assert(jobs[2]:image()).__whole_image)
  end)

  it("reports a failing job as job_failed with the IMS code and reason", function()
    local job = assert(c.cloudimages:create { name = unique("missing"), min_disk = 40,
      image_url = S.IMS_BUCKET .. ":no/such/object.qcow2" })
    local ok, err = job:wait(FAST)
    assert.is_nil(ok)
    assert.equal("job_failed", err.kind)
    assert.equal("IMG.0057", err.code)
    assert.equal(job, err.job)
    assert.equal("FAIL", job.status)
    assert.is_string(job.fail_reason)
    assert.equal(job.fail_reason, err.message) -- IMS's own words (api.md)
    assert.matches("IMG.0057", tostring(err))
  end)

  it("times out a wait, keeps the job, and resumes waiting", function()
    raw.admin("POST", "/jobs", { duration = 2.5 })
    local job = assert(c.cloudimages:create_whole_image { name = unique("slow"), instance_id = S.IMS_INSTANCE_STOPPED })
    raw.admin("POST", "/jobs", { duration = 0.3 })
    local ok, err = job:wait { interval = 0.2, timeout = 0.6 }
    assert.is_nil(ok)
    assert.equal("timeout", err.kind)
    assert.equal(job, err.job)
    assert.is_true(err.job.status == "INIT" or err.job.status == "RUNNING")
    assert(err.job:wait(FAST))
    assert.equal("SUCCESS", job.status)
  end)

  it("waits for 100 jobs at once within the longest job plus two poll intervals", function()
    raw.admin("POST", "/jobs", { duration = 1.0 })
    raw.admin("DELETE", "/stats")
    local jobs = {}
    for i = 1, 100 do
      jobs[i] = assert(c.cloudimages:create_whole_image { name = unique("many-" .. i), instance_id = S.IMS_INSTANCE_STOPPED })
    end
    raw.admin("POST", "/jobs", { duration = 0.3 })
    local opts = { interval = 0.5, max_interval = 1, timeout = 120 }
    local done, err = c.jobs:wait_all(jobs, opts)
    local returned = core.time()
    assert.is_nil(err)
    local last_end = 0
    for i, j in ipairs(done) do
      assert.equal(jobs[i], j)
      assert.equal("SUCCESS", j.status)
      local secs = require("ims.utc").seconds(j.end_time)
      if secs > last_end then last_end = secs end
    end
    -- end_time has whole seconds here: allow that second on top of two intervals
    assert.is_true(returned - last_end <= 2 * opts.max_interval + 1.0,
      string.format("returned %.2fs after the last job ended", returned - last_end))
    local stats = raw.admin("GET", "/stats")
    local polls = 0
    for k, v in pairs(stats) do if k:match("^GET /v1/.*/jobs/") then polls = polls + v end end
    assert.is_true(polls >= 100)
  end)

  it("keeps waiting through 503s, 429 with Retry-After and resets while polling", function()
    local jobs = {}
    for i = 1, 3 do
      jobs[i] = assert(c.cloudimages:create_whole_image { name = unique("faulty-" .. i), instance_id = S.IMS_INSTANCE_STOPPED })
    end
    raw.admin("POST", "/faults", { route = "^/v1/[^/]+/jobs/", kind = "status", status = 503, count = 3 })
    raw.admin("POST", "/faults", { route = "^/v1/[^/]+/jobs/", kind = "throttle", retry_after = 1, count = 2 })
    raw.admin("POST", "/faults", { route = "^/v1/[^/]+/jobs/", kind = "reset", count = 2 })
    local t0 = core.now()
    local done, err = c.jobs:wait_all(jobs, { interval = 0.1, max_interval = 0.3, timeout = 30 })
    raw.admin("DELETE", "/faults")
    assert.is_nil(err)
    for _, j in ipairs(done) do assert.equal("SUCCESS", j.status) end
    assert.is_true(core.now() - t0 >= 0.9) -- the throttled job waited for its Retry-After
  end)

  it("reports wait_all failures by index", function()
    local good = assert(c.cloudimages:create_whole_image { name = unique("ok"), instance_id = S.IMS_INSTANCE_STOPPED })
    local bad = assert(c.cloudimages:create { name = unique("bad"), min_disk = 40, image_url = S.IMS_BUCKET .. ":nope.raw" })
    -- entries may be job objects, ids, or tables with `id`
    local jobs, err = c.jobs:wait_all({ good, { id = bad.job_id } }, FAST)
    assert.equal("job_failed", err.kind)
    assert.same({ 2 }, err.failed)
    assert.equal("SUCCESS", jobs[1].status)
    assert.equal("FAIL", jobs[2].status)
    assert.equal("IMG.0057", err.code)
    assert.equal(jobs[2].fail_reason, err.message)
    assert.equal(jobs[2], err.job)
    assert.equal("SUCCESS", assert(c.jobs:wrap({ id = good.job_id }):wait(FAST)).status)
    assert.has_error(function() c.jobs:wait_all({ 5 }) end,
      "ims.jobs:wait_all: argument 'job' must be an id string or a table with 'job_id' or 'id' (got 5)")
    assert.has_error(function() c.jobs.get("abc") end, "ims.jobs:get: call it with ':' (client.jobs:get(...))")
  end)

  it("lets progress act on each job as it succeeds, with requests of its own", function()
    local jobs = {}
    for i = 1, 3 do
      jobs[i] = assert(c.cloudimages:create_whole_image { name = unique("act-" .. i), instance_id = S.IMS_INSTANCE_STOPPED })
    end
    local tagged = {}
    assert(c.jobs:wait_all(jobs, { interval = 0.2, max_interval = 0.5, timeout = 60,
      progress = function(job)
        if job.status == "SUCCESS" then
          assert(c.images:update_tag(job.image_id, "pipeline=tagged"))
          tagged[#tagged + 1] = job.image_id
        end
      end }))
    assert.equal(3, #tagged)
    for _, id in ipairs(tagged) do
      local img = assert(c.images:get(id))
      assert.is_truthy(table.concat(img.tags, ","):find("pipeline=tagged", 1, true))
    end
  end)

  it("logs every request: each job poll and the token request too", function()
    local events = {}
    local pc <close> = password("a", { log = function(ev) events[#events + 1] = ev end })
    local job = assert(pc.cloudimages:create_whole_image { name = unique("logged"), instance_id = S.IMS_INSTANCE_STOPPED })
    assert(job:wait(FAST))
    assert.equal("POST", events[1].method)
    assert.matches("/v3/auth/tokens$", events[1].url)
    assert.equal(201, events[1].status)
    assert.matches("/v1/cloudimages/wholeimages/action$", events[2].url)
    local polls = 0
    for i = 3, #events do
      assert.equal("GET", events[i].method)
      assert.matches("/jobs/" .. job.job_id .. "$", events[i].url)
      assert.equal(200, events[i].status)
      assert.is_number(events[i].ms)
      polls = polls + 1
      assert.equal(polls, events[i].attempt)
    end
    assert.is_true(polls >= 1)
  end)

  it("lists with IMS filters, paging by marker, and updates", function()
    local name = unique("ims-list")
    local jobs = {}
    for i = 1, 5 do
      jobs[i] = assert(c.cloudimages:create_whole_image { name = name .. "-" .. i, instance_id = S.IMS_INSTANCE_STOPPED })
    end
    assert.is_nil(select(2, c.jobs:wait_all(jobs, FAST)))
    local requests = 0
    local counted <close> = ims.new { endpoint = S.IMS_ENDPOINT, project_id = S.IMS_PROJECT_A,
      auth = { ak = S.IMS_AK_A, sk = S.IMS_SK_A }, log = function() requests = requests + 1 end }
    local got = {}
    for img in counted.cloudimages:each { __whole_image = true, sort_key = "name", sort_dir = "asc", limit = 2 } do
      if img.name:sub(1, #name) == name then got[#got + 1] = img.name end
    end
    assert.same({ name .. "-1", name .. "-2", name .. "-3", name .. "-4", name .. "-5" }, got)
    assert.is_true(requests >= 3)
    local one = assert(c.cloudimages:list { name = name .. "-2" })
    assert.equal(1, #one)
    local up = assert(c.cloudimages:update(one[1], { name = name .. "-renamed", __description = "new" }))
    assert.equal(name .. "-renamed", up.name)
    assert.equal("new", up.__description)
    local res, err = c.cloudimages:update(one[1].id, { { op = "replace", path = "/max_ram", value = "1024" } })
    assert.is_nil(res)
    assert.equal(400, err.status)
    assert.equal("IMG.0035", err.code)
  end)

  it("validates IMS bodies before any I/O", function()
    local function raises(f, frag)
      local ok, e = pcall(f)
      assert.is_false(ok)
      assert.is_truthy(e:find(frag, 1, true), e)
    end
    raises(function() c.cloudimages:create { instance_id = "x" } end, "'name'")
    raises(function() c.cloudimages:create { name = "n" } end, "one of 'instance_id'")
    raises(function() c.cloudimages:create { name = "n", instance_id = "x", data_images = {} } end, "only one of")
    raises(function() c.cloudimages:create { name = "n", instance_id = "x", tags = { "a" }, image_tags = {} } end, "'tags', 'image_tags'")
    raises(function() c.cloudimages:create { name = "n", image_url = "nobucket", min_disk = 40 } end, "bucket:object")
    raises(function() c.cloudimages:create { name = "n", image_url = "b:o" } end, "'min_disk'")
    raises(function() c.cloudimages:create { name = "n", image_url = "b:o", min_disk = 2000 } end, "between 1 and 1024")
    raises(function() c.cloudimages:create { name = "n", image_url = "b:o", min_disk = 40, os_type = "BeOS" } end, "'os_type'")
    raises(function() c.cloudimages:create { name = "n", instance_id = "x", colour = "red" } end, "unknown option 'colour'")
    raises(function() c.cloudimages:create_data_image { name = "n", image_url = "b:o", min_disk = 10 } end, "between 40 and 2048")
    raises(function() c.cloudimages:create_whole_image { name = "n" } end, "exactly one of")
    raises(function() c.cloudimages:register("id", "nocolon") end, "bucket:object")
    raises(function() c.cloudimages:export("id", { bucket_url = "b:o" }) end, "'file_format'")
    raises(function() c.cloudimages:export("id", { bucket_url = "b:o", file_format = "qcow2", is_quick_export = true }) end, "omit")
    raises(function() c.cloudimages:list { sort_key = "colour" } end, "'sort_key'")
    raises(function() c.jobs:get() end, "'job'")
    raises(function() c.jobs:wait_all({}, { intervall = 1 }) end, "'intervall'")
  end)
end)

describe("IAM password authentication", function()
  it("gets a token, uses it, and refreshes it once after a 401", function()
    raw.admin("DELETE", "/stats")
    local c <close> = password("a")
    assert(c.cloudimages:list { limit = 1, max = 1 })
    -- every token issued so far expires at once (the emulator's clock jumps a day ahead)
    raw.admin("POST", "/clock", { offset = 2 * 86400 })
    local ok, err = pcall(function()
      local job = assert(c.cloudimages:create_whole_image { name = unique("reauth"), instance_id = S.IMS_INSTANCE_STOPPED })
      return assert(job:wait(FAST))
    end)
    raw.admin("POST", "/clock", { offset = 0 })
    assert.is_true(ok, tostring(err))
    local stats = raw.admin("GET", "/stats")
    local issued = 0
    for k, v in pairs(stats) do if k:match("^POST /v3/auth/tokens") then issued = issued + v end end
    assert.equal(2, issued)
  end)

  it("refreshes a short-lived token before it expires", function()
    raw.admin("POST", "/tokens", { lifetime = 2 })
    local unauthorized = 0
    local c <close> = password("b", { log = function(ev) if ev.status == 401 then unauthorized = unauthorized + 1 end end })
    assert(c.cloudimages:list { max = 1 })
    core.sleep(2.1)
    assert(c.cloudimages:list { max = 1 })
    raw.admin("POST", "/tokens", { lifetime = 86400 })
    assert.equal(0, unauthorized) -- renewed before use, not after a refusal
  end)

  it("reports bad credentials as kind 'auth'", function()
    local c <close> = ims.new { endpoint = S.IMS_ENDPOINT, auth = { auth_url = S.IAM_ENDPOINT,
      user = S.IMS_USER_A, password = "wrong", domain = S.IMS_DOMAIN, project_id = S.IMS_PROJECT_A } }
    local res, err = c.cloudimages:list()
    assert.is_nil(res)
    assert.equal("auth", err.kind)
    assert.equal(401, err.status)
    assert.is_nil(tostring(err):find("wrong", 1, true))
  end)

  it("finds the endpoint in the token's catalog when none is given", function()
    local c <close> = ims.new { auth = { auth_url = S.IAM_ENDPOINT, user = S.IMS_USER_A,
      password = S.IMS_PASSWORD_A, domain = S.IMS_DOMAIN, project_id = S.IMS_PROJECT_A } }
    assert(c.images:list { max = 1 })
    assert.equal(S.IMS_ENDPOINT, c.endpoint)
  end)
end)
