-- The IMS calls beyond the seed ("More IMS calls" in docs/api.md) end to end against the
-- emulator and the real Glance behind it: quick import, in-region copy, the /v2.1 twins, batch
-- sharing, key/value tags, quota, OS versions, API versions, job progress and Glance schemas.
-- Each checks the effect on the server side (bytes, members, tags, counts), not only the answer.
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

local function unique(prefix) return string.format("%s-%d-%d", prefix, os.time(), math.random(1e9)) end

local FAST = { interval = 0.1, max_interval = 0.3, timeout = 60 }

local function sha256_file(path) return assert(core.file_digests(path, { "sha256" })).sha256 end

local function image_sha256(c, id)
  return assert(c.images:download(id, function() end, { digests = { "sha256" } })).sha256
end

local uploader = ims.new { endpoint = S.IMS_ENDPOINT, obs_endpoint = S.IMS_OBS_ENDPOINT,
  auth = { ak = S.IMS_AK_A, sk = S.IMS_SK_A } }

-- An object in the bucket, uploaded through the emulator's OBS from a local file of random
-- bytes (starting with `head`); returns "bucket:key", the local file, the key.
local function object(key, bytes, head)
  local path = env.tmpfile(key:match("[^/]+$"))
  env.write_random(path, bytes)
  if head then
    local f = assert(io.open(path, "r+b"))
    f:write(head)
    f:close()
  end
  assert(uploader.obs:put(S.IMS_BUCKET, key, path))
  return S.IMS_BUCKET .. ":" .. key, path, key
end

local function stats_count(pattern)
  local n = 0
  for k, v in pairs(raw.admin("GET", "/stats")) do if k:match(pattern) then n = n + v end end
  return n
end

-- An active image of project a with random bytes, made through Glance.
local function glance_image(c, name, bytes)
  local src = env.tmpfile(name .. ".bin")
  env.write_random(src, bytes or 256 * 1024)
  local img = assert(c.images:import(src, { name = name, disk_format = "raw", container_format = "bare" }))
  return img, src
end

describe("more IMS calls", function()
  local a, b
  setup(function()
    raw.admin("POST", "/jobs", { duration = 0.3 })
    a, b = aksk("a"), aksk("b")
  end)
  teardown(function() a:close(); b:close() end)

  describe("quick import", function()
    it("imports a ZVHD2 file into an image with the same bytes", function()
      local url, path = object("quick/" .. unique("z") .. ".zvhd2", 512 * 1024)
      local job = assert(a.cloudimages:quick_import { name = unique("quick"), min_disk = 40,
        os_version = "Ubuntu 22.04 server 64bit", image_url = url, image_tags = { { key = "src", value = "quick" } } })
      assert(job:wait(FAST))
      assert.equal("imsQuickImportImageJob", job.job_type)
      local img = assert(job:image())
      assert.equal("active", img.status)
      assert.equal("Ubuntu", img.__platform)
      assert.same({ "src=quick" }, img.tags)
      assert.equal(sha256_file(path), image_sha256(a, img.id))
    end)

    it("imports RAW only with its bitmap file, and refuses other formats in the job", function()
      local url, path, key = object("quick/" .. unique("r") .. ".raw", 300 * 1024)
      local body = { name = unique("quick-raw"), min_disk = 40, os_version = "Debian GNU/Linux 12.0.0 64bit",
        image_url = url }
      local _, err = assert(a.cloudimages:quick_import(body)):wait(FAST)
      assert.equal("job_failed", err.kind)
      assert.equal("IMG.0057", err.code)
      assert.matches("bitmap", err.message)
      object(key .. ".bitmap", 1024)
      local job = assert(a.cloudimages:quick_import(body))
      assert(job:wait(FAST))
      assert.equal(sha256_file(path), image_sha256(a, job.image_id))

      local qurl = object("quick/" .. unique("q") .. ".img", 64 * 1024, "QFI\xfb\0\0\0\3")
      _, err = assert(a.cloudimages:quick_import { name = unique("quick-qcow2"), min_disk = 40,
        os_version = "Debian GNU/Linux 12.0.0 64bit", image_url = qurl }):wait(FAST)
      assert.equal("IMG.0057", err.code)
      assert.matches("qcow2", err.message)
    end)

    it("checks the body before any I/O and the OS version at the server", function()
      assert.error_matches(function() a.cloudimages:quick_import { name = "x", min_disk = 40, image_url = "b:o" } end,
        "ims.cloudimages:quick_import: .*'os_version'")
      assert.error_matches(function()
        a.cloudimages:quick_import { name = "x", min_disk = 2000, image_url = "b:o", os_version = "v" }
      end, "field 'min_disk' must be between 1 and 1024")
      assert.error_matches(function()
        a.cloudimages:quick_import({ name = "x", min_disk = 4, image_url = "b:o", os_version = "v" }, { safe = true })
      end, "unknown option 'safe'")
      local url = object("quick/" .. unique("z") .. ".zvhd2", 1024)
      local job, err = a.cloudimages:quick_import { name = "x", min_disk = 40, image_url = url,
        os_version = "Ubuntu 99.04 server 64bit" }
      assert.is_nil(job)
      assert.equal(400, err.status)
      assert.equal("IMG.0056", err.code)
    end)
  end)

  describe("copy", function()
    it("copies an image within the region: a new image, the same bytes, named after its source", function()
      local src, file = glance_image(a, unique("copy-src"))
      local name = unique("copy")
      local job = assert(a.cloudimages:copy(src, { name = name, description = "a copy" }))
      assert(job:wait(FAST))
      assert.equal("imsCopyImageInRegionJob", job.job_type)
      local copy = assert(job:image())
      assert.not_equal(src.id, copy.id)
      assert.equal(name, copy.name)
      assert.equal(src.id, copy.__originalimagename)
      assert.equal("a copy", copy.__description)
      assert.equal(sha256_file(file), image_sha256(a, copy.id))
    end)

    it("refuses another project's image, and an unknown one", function()
      local src = glance_image(a, unique("copy-mine"))
      local job, err = b.cloudimages:copy(src, { name = "theirs" })
      assert.is_nil(job)
      assert.equal("IMG.0027", err.code)   -- a private image of another project: none b can see
      job, err = a.cloudimages:copy("0d7b4a0e-0000-4000-8000-000000000000", { name = "none" })
      assert.is_nil(job)
      assert.equal("IMG.0027", err.code)
      assert.error_matches(function() a.cloudimages:copy(src, {}) end,
        "ims.cloudimages:copy: .*'name'")
    end)

    it("sends the /v2.1 twins with safe_mode = true", function()
      raw.admin("DELETE", "/stats")
      local src = glance_image(a, unique("safe-src"))
      assert(assert(a.cloudimages:copy(src, { name = unique("safe") }, { safe_mode = true })):wait(FAST))
      local url = object("quick/" .. unique("s") .. ".zvhd2", 4096)
      assert(assert(a.cloudimages:quick_import({ name = unique("safe-q"), min_disk = 40, image_url = url,
        os_version = "Ubuntu 22.04 server 64bit" }, { safe_mode = true })):wait(FAST))
      assert(assert(a.cloudimages:create({ name = unique("safe-c"), min_disk = 40, image_url = url },
        { safe_mode = true })):wait(FAST))
      assert(assert(a.cloudimages:create_data_image({ name = unique("safe-d"), min_disk = 40, image_url = url },
        { safe_mode = true })):wait(FAST))
      local dest = unique("safe-export") .. ".qcow2"
      assert(assert(a.cloudimages:export(src, { bucket_url = S.IMS_BUCKET .. ":" .. dest, file_format = "qcow2",
        safe_mode = true })):wait(FAST))
      assert.equal(1, stats_count("^POST /v2%.1/cloudimages/{image_id}/copy$"))
      assert.equal(1, stats_count("^POST /v2%.1/cloudimages/quickimport/action$"))
      assert.equal(1, stats_count("^POST /v2%.1/cloudimages/action$"))
      assert.equal(1, stats_count("^POST /v2%.1/cloudimages/dataimages/action$"))
      assert.equal(1, stats_count("^POST /v2%.1/cloudimages/{image_id}/file$"))
      assert.equal(0, stats_count("^POST /v[12]/cloudimages"))
      local f = assert(io.open(S.IMS_BUCKET_DIR .. "/" .. dest, "rb"))
      f:close()
    end)
  end)

  describe("other regions", function()
    local a2, a3
    setup(function()
      local function in_region(n)
        return ims.new { endpoint = S["IMS_ENDPOINT_" .. n], project_id = S["IMS_PROJECT_A_" .. n],
          obs_endpoint = S.IMS_OBS_ENDPOINT, auth = { ak = S.IMS_AK_A, sk = S.IMS_SK_A } }
      end
      a2, a3 = in_region(2), in_region(3)
    end)
    teardown(function() a2:close(); a3:close() end)

    local function cross(name) return { name = name, region = S.IMS_REGION_2, project_name = S.IMS_REGION_2,
      agency_name = S.IMS_AGENCY } end

    it("copies an image to another region: the job is the source's, the image the target's", function()
      local src, file = glance_image(a, unique("xr-src"))
      local job = assert(a.cloudimages:copy_cross_region(src, cross(unique("xr"))))
      assert(job:wait(FAST))
      assert.equal("imsCrossRegionCopyImageJob", job.job_type)
      local copy = assert(a2.images:get(job.image_id))       -- in the target region's project
      assert.equal(S.IMS_PROJECT_A_2, copy.owner)
      assert.equal(src.id, copy.__originalimagename)
      assert.equal(sha256_file(file), image_sha256(a2, copy.id))
      local none, err = a.images:get(job.image_id)          -- not the source project's
      assert.is_nil(none)
      assert.equal(404, err.status)
      assert.is_nil(a2.jobs:get(job))                       -- the job lives in the source region
    end)

    it("refuses the own region, an unknown region, a wrong project name and an unknown agency", function()
      local src = glance_image(a, unique("xr-bad"))
      local function code(body)
        local job, err = a.cloudimages:copy_cross_region(src, body)
        assert.is_nil(job)
        return err.code, err.message
      end
      local body = cross("x")
      body.region = "cn-north-4"
      assert.equal("IMG.0001", code(body))
      body.region = "eu-west-0"
      assert.equal("IMG.0001", code(body))
      body = cross("x")
      body.project_name = "cn-south-1_nope"
      assert.equal("IMG.0145", code(body))
      body = cross("x")
      body.agency_name = "no_agency"
      assert.equal("IMG.0179", code(body))
      assert.error_matches(function() a.cloudimages:copy_cross_region(src, { name = "x", region = "r" }) end,
        "ims.cloudimages:copy_cross_region: .*'agency_name'")
      -- a project acts in its own region only
      local wrong <close> = ims.new { endpoint = S.IMS_ENDPOINT, project_id = S.IMS_PROJECT_A_2,
        auth = { ak = S.IMS_AK_A, sk = S.IMS_SK_A } }
      local q, qerr = wrong.cloudimages:quota()
      assert.is_nil(q)
      assert.equal("IMG.0067", qerr.code)
    end)

    it("replicates to many regions in one wait, re-applying tags and RAM where it has a client", function()
      local src = glance_image(a, unique("repl"))
      assert(a.images:update(src, { min_ram = 1024, tags = { "env=prod", "team=web" } }))
      local results = assert(a.cloudimages:replicate(src, {
        { region = S.IMS_REGION_2, client = a2 }, S.IMS_REGION_3, "eu-west-0" },
        { agency_name = S.IMS_AGENCY, interval = 0.1, max_interval = 0.3, timeout = 60 }))
      assert.equal(3, #results)
      local r2, r3, bad = results[1], results[2], results[3]
      assert.equal(S.IMS_REGION_2, r2.region)
      assert.is_nil(r2.err)
      assert.is_true(r2.reapplied)
      local copy = assert(a2.images:get(r2.image_id))
      assert.equal(src.name, copy.name)
      assert.equal(1024, copy.min_ram)
      local tags = {}
      for _, t in ipairs(assert(a2.cloudimages:list_tags(copy))) do tags[t.key] = t.value end
      assert.same({ env = "prod", team = "web" }, tags)
      assert.is_string(r3.image_id)
      assert.is_false(r3.reapplied)
      assert.equal(S.IMS_PROJECT_A_3, assert(a3.images:get(r3.image_id)).owner)
      assert.same({}, assert(a3.cloudimages:list_tags(r3.image_id)))
      assert.equal("eu-west-0", bad.region)
      assert.is_nil(bad.image_id)
      assert.equal("IMG.0001", bad.err.code)
      assert.error_matches(function() a.cloudimages:replicate(src, { "r", "r" }, { agency_name = "x" }) end,
        "region 'r' is empty or given twice")
      assert.error_matches(function() a.cloudimages:replicate(src, { "r" }, {}) end, "'agency_name'")
    end)
  end)

  describe("replication's fallback", function()
    it("gets the image there by export, OBS and import when the cross-region copy fails", function()
      local a2 = ims.new { endpoint = S.IMS_ENDPOINT_2, project_id = S.IMS_PROJECT_A_2,
        obs_endpoint = S.IMS_OBS_ENDPOINT, auth = { ak = S.IMS_AK_A, sk = S.IMS_SK_A } }
      local ao = ims.new { endpoint = S.IMS_ENDPOINT, project_id = S.IMS_PROJECT_A,
        obs_endpoint = S.IMS_OBS_ENDPOINT, auth = { ak = S.IMS_AK_A, sk = S.IMS_SK_A } }
      local src, path = glance_image(ao, unique("fallback"))
      assert(ao.images:update(src, { tags = { "tier=gold" } }))
      raw.admin("POST", "/faults", { route = "/cross_region_copy$", method = "POST", kind = "status",
        status = 400, code = "IMG.0179", message = "Injected: the agency is missing.", count = 1 })
      local results = assert(ao.cloudimages:replicate(src, { { region = S.IMS_REGION_2, client = a2,
        bucket = S.IMS_BUCKET_SOUTH } }, { agency_name = S.IMS_AGENCY, interval = 0.1, max_interval = 0.3,
        timeout = 60, fallback = { bucket = S.IMS_BUCKET } }))
      raw.admin("DELETE", "/faults")
      local r = results[1]
      assert.is_nil(r.err)
      assert.equal("export", r.fallback)
      assert.equal("IMG.0179", r.copy_err.code)
      assert.is_true(r.reapplied)
      local copy = assert(a2.images:get(r.image_id))
      assert.equal(S.IMS_PROJECT_A_2, copy.owner)
      assert.equal(src.name, copy.name)
      assert.equal(sha256_file(path), image_sha256(a2, copy.id))
      local tags = {}
      for _, t in ipairs(assert(a2.cloudimages:list_tags(copy))) do tags[t.key] = t.value end
      assert.same({ tier = "gold" }, tags)
      -- nothing left in either bucket
      assert.same({}, assert(ao.obs:list(S.IMS_BUCKET, { prefix = "ims-replicate/" })))
      assert.same({}, assert(ao.obs:list(S.IMS_BUCKET_SOUTH, { prefix = "ims-replicate/" })))
      assert.error_matches(function()
        ao.cloudimages:replicate(src, { S.IMS_REGION_2 }, { agency_name = "x", fallback = { bucket = "b" } })
      end, "needs 'client' and 'bucket' for the fallback")
      a2:close(); ao:close()
    end)
  end)

  describe("batch sharing", function()
    it("shares two images with a project in one job, the member accepts in one job, then unshares", function()
      local i1, i2 = glance_image(a, unique("share-1")), glance_image(a, unique("share-2"))
      local job = assert(a.cloudimages:add_members { images = { i1.id, i2.id }, projects = { S.IMS_PROJECT_B } })
      assert(job:wait(FAST))
      assert.equal("imsAddImageMembersJob", job.job_type)
      local results = job.entities.results
      assert.equal(2, #results)
      for _, r in ipairs(results) do
        assert.equal("success", r.status)
        assert.equal(S.IMS_PROJECT_B, r.project_id)
      end
      local m = assert(a.cloudimages:get_member(i1, S.IMS_PROJECT_B))
      assert.equal("pending", m.status)
      assert.equal(i1.id, m.image_id)

      job = assert(b.cloudimages:update_members { images = { i1.id, i2.id }, project_id = S.IMS_PROJECT_B,
        status = "accepted" })
      assert(job:wait(FAST))
      assert.equal("accepted", assert(a.cloudimages:get_member(i2, S.IMS_PROJECT_B)).status)
      assert.equal(i1.id, assert(b.images:get(i1.id)).id)       -- b sees it now
      local members = assert(a.cloudimages:list_members(i1))
      assert.equal(1, #members)
      assert.equal(S.IMS_PROJECT_B, members[1].member_id)
      assert.equal("project", members[1].member_type)

      assert(assert(a.cloudimages:delete_members { images = { i1.id }, projects = { S.IMS_PROJECT_B } }):wait(FAST))
      assert.same({}, assert(a.cloudimages:list_members(i1)))
      assert.equal(1, #assert(a.cloudimages:list_members(i2)))
    end)

    it("refuses the own project, another project's image and an id list that is not one", function()
      local img = glance_image(a, unique("share-own"))
      local job, err = a.cloudimages:add_members { images = { img.id }, projects = { S.IMS_PROJECT_A } }
      assert.is_nil(job)
      assert.equal("IMG.0076", err.code)
      job, err = b.cloudimages:add_members { images = { img.id }, projects = { S.IMS_PROJECT_A } }
      assert.is_nil(job)
      assert.equal("IMG.0027", err.code)   -- b cannot see a's private image
      job, err = b.cloudimages:update_members { images = { img.id }, project_id = S.IMS_PROJECT_A,
        status = "accepted" }
      assert.is_nil(job)
      assert.equal("IMG.0067", err.code)
      assert.error_matches(function() a.cloudimages:add_members { images = {}, projects = { "p" } } end,
        "ims.cloudimages:add_members: field 'images' must not be empty")
      assert.error_matches(function() a.cloudimages:add_members { images = { ".." }, projects = { "p" } } end,
        "field 'images%[1%]' must be an id")
      assert.error_matches(function()
        a.cloudimages:update_members { images = { "x" }, project_id = "p", status = "maybe" }
      end, "ims.cloudimages:update_members: .*'status'")
    end)

    it("reports a failed pair in the job's results and fails the job with its reason", function()
      local img = glance_image(a, unique("share-fail"))
      local job = assert(a.cloudimages:update_members { images = { img.id }, project_id = S.IMS_PROJECT_A,
        status = "accepted" })   -- the owner is no member of its own image
      local _, err = job:wait(FAST)
      assert.equal("job_failed", err.kind)
      assert.equal("failed", job.entities.results[1].status)
    end)
  end)

  describe("key/value tags", function()
    it("adds, changes, lists, batches and deletes an image's tags", function()
      local img = glance_image(a, unique("tags"))
      assert.is_true(a.cloudimages:add_tag(img, "env", "test"))
      assert.is_true(a.cloudimages:add_tag(img, "env", "prod"))        -- a new value, one tag
      assert.is_true(a.cloudimages:add_tag(img.id, "flag"))
      assert.same({ { key = "env", value = "prod" }, { key = "flag", value = "" } }, assert(a.cloudimages:list_tags(img)))
      local glance_tags = assert(a.images:get(img.id)).tags                    -- where IMS keeps them
      table.sort(glance_tags)
      assert.same({ "env=prod", "flag" }, glance_tags)

      assert.is_true(a.cloudimages:batch_tags(img, "create", { { key = "team", value = "web" }, { key = "tier", value = "1" } }))
      assert.is_true(a.cloudimages:batch_tags(img, "delete", { { key = "tier" }, { key = "absent" } }))
      assert.is_true(a.cloudimages:batch_delete_tags(img, { { key = "flag" } }))
      assert.same({ { key = "env", value = "prod" }, { key = "team", value = "web" } }, assert(a.cloudimages:list_tags(img)))
      assert.is_true(a.cloudimages:delete_tag(img, "team"))
      local ok, err = a.cloudimages:delete_tag(img, "team")
      assert.is_nil(ok)
      assert.equal(404, err.status)
      assert.same({ { key = "env", value = "prod" } }, assert(a.cloudimages:list_tags(img)))
      ok, err = b.cloudimages:add_tag(img, "x", "y")
      assert.is_nil(ok)
      assert.equal("IMG.0027", err.code)                -- b cannot see a's private image
      assert(a.images:update(img, { visibility = "shared" }))
      assert(a.images:create_member(img, S.IMS_PROJECT_B))
      assert(b.images:update_member(img, S.IMS_PROJECT_B, "accepted"))
      assert.equal(1, #assert(b.cloudimages:list_tags(img)))   -- b reads a shared image's tags
      ok, err = b.cloudimages:add_tag(img, "x", "y")
      assert.is_nil(ok)
      assert.equal("IMG.0047", err.code)                -- but only the owner writes them
    end)

    it("stops at the tag limit with IMG.0116", function()
      local img = glance_image(a, unique("tag-limit"))
      raw.admin("POST", "/limits", { tags_per_image = 2 })
      finally(function() raw.admin("POST", "/limits", { tags_per_image = 10 }) end)
      assert(a.cloudimages:batch_tags(img, "create", { { key = "k1", value = "a" }, { key = "k2", value = "b" } }))
      local ok, err = a.cloudimages:add_tag(img, "k3", "c")
      assert.is_nil(ok)
      assert.equal("IMG.0116", err.code)
      assert.is_true(a.cloudimages:add_tag(img, "k2", "changed"))         -- a change is no new tag
      assert.equal(2, #assert(a.cloudimages:list_tags(img)))
    end)

    it("finds and counts the project's images by tags, and lists the project's tag keys", function()
      local team = unique("team"):gsub("[^%w_-]", "_")
      local i1, i2 = glance_image(a, unique("bytag-1")), glance_image(a, unique("bytag-2"))
      assert(a.cloudimages:batch_tags(i1, "create", { { key = "team", value = team }, { key = "env", value = "prod" } }))
      assert(a.cloudimages:batch_tags(i2, "create", { { key = "team", value = team }, { key = "env", value = "dev" } }))
      local both = assert(a.cloudimages:list_by_tags { action = "filter", tags = { { key = "team", values = { team } } } })
      assert.equal(2, both.total_count)
      local prod = assert(a.cloudimages:list_by_tags { action = "filter", limit = 5,
        tags = { { key = "team", values = { team } } }, not_tags = { { key = "env", values = { "dev" } } } })
      assert.equal(1, prod.total_count)
      assert.equal(i1.id, prod.resources[1].resource_id)
      assert.equal(i1.name, prod.resources[1].resource_name)
      assert.equal("active", prod.resources[1].resource_detail.status)
      local count = assert(a.cloudimages:list_by_tags { action = "count", tags = { { key = "team", values = { team } } },
        matches = { { key = "resource_name", value = "bytag-2" } } })
      assert.equal(1, count.total_count)
      local page = assert(a.cloudimages:list_by_tags { action = "filter", limit = 1, offset = 1,
        tags = { { key = "team", values = { team } } } })
      assert.equal(2, page.total_count)
      assert.equal(1, #page.resources)

      local keys = {}
      for _, t in ipairs(assert(a.cloudimages:project_tags())) do keys[t.key] = t.values end
      assert.is_truthy(keys.team)
      local seen = {}
      for _, v in ipairs(keys.team) do seen[v] = true end
      assert.is_true(seen[team])
      assert.error_matches(function() a.cloudimages:list_by_tags { action = "filter", limit = 0 } end,
        "field 'limit' must be an integer 1")
      assert.error_matches(function() a.cloudimages:list_by_tags { action = "find" } end, "'action'")
    end)

    it("sets and lists tags the legacy v1 way", function()
      local img = glance_image(a, unique("legacy"))
      assert.is_true(a.cloudimages:set_tags { image_id = img.id, tag = "stage.beta" })
      assert.is_true(a.cloudimages:set_tags { image_id = img.id, image_tag = { key = "os", value = "linux" } })
      local glance_tags = assert(a.images:get(img.id)).tags
      table.sort(glance_tags)
      assert.same({ "os=linux", "stage=beta" }, glance_tags)
      local all = assert(a.cloudimages:tags { id = img.id })
      table.sort(all)
      assert.same({ "os=linux", "stage=beta" }, all)
      assert.error_matches(function() a.cloudimages:set_tags { image_id = img.id } end, "give one of 'tag', 'image_tag'")
    end)
  end)

  describe("quota, OS versions, API versions, job progress, schemas", function()
    it("reports the private-image quota and refuses a job past it with IMG.0015", function()
      local q = assert(a.cloudimages:quota()).resources[1]
      assert.equal("image", q.type)
      local owned = 0
      for _ in a.images:each { owner = S.IMS_PROJECT_A } do owned = owned + 1 end
      assert.equal(owned, q.used)
      raw.admin("POST", "/limits", { image_quota = owned + 1 })
      finally(function() raw.admin("POST", "/limits", { image_quota = ims.null }) end)
      assert.equal(owned + 1, assert(a.cloudimages:quota()).resources[1].quota)
      local first = assert(a.cloudimages:create { name = unique("quota-1"), instance_id = S.IMS_INSTANCE_STOPPED })
      local job, err = a.cloudimages:create { name = unique("quota-2"), instance_id = S.IMS_INSTANCE_STOPPED }
      assert.is_nil(job)    -- the first job's image counts while it runs
      assert.equal("IMG.0015", err.code)
      assert(first:wait(FAST))
      assert.equal(owned + 1, assert(a.cloudimages:quota()).resources[1].used)
    end)

    it("lists the OS versions by platform, filtered by tag", function()
      local all, n = {}, 0
      for _, p in ipairs(assert(a.cloudimages:os_versions())) do
        for _, v in ipairs(p.version_list) do
          all[v.os_version] = p.platform
          n = n + 1
          assert.equal(v.os_version, v.os_version_key)
          assert.is_true(v.os_bit == 32 or v.os_bit == 64)
        end
      end
      assert.equal("Debian", all["Debian GNU/Linux 12.0.0 64bit"])
      assert.equal("Windows", all["Windows Server 2019 Standard 64bit"])
      local bms = 0
      for _, p in ipairs(assert(a.cloudimages:os_versions { tag = "bms" })) do bms = bms + #p.version_list end
      assert.is_true(bms > 0 and bms < n)
      local none, err = a.cloudimages:os_versions { tag = "gpu" }
      assert.is_nil(none)
      assert.equal(400, err.status)
    end)

    it("lists the API versions and shows one", function()
      local ids = {}
      for _, v in ipairs(assert(a.cloudimages:versions())) do ids[v.id] = v.status end
      assert.same({ v1 = "SUPPORTED", v2 = "CURRENT" }, ids)
      assert.equal("v2", assert(a.cloudimages:version("v2")).id)
      local v, err = a.cloudimages:version("v9")
      assert.is_nil(v)
      assert.equal(404, err.status)
    end)

    it("shows a job's progress without a project id", function()
      local job = assert(a.cloudimages:create { name = unique("progress"), instance_id = S.IMS_INSTANCE_STOPPED })
      local p = assert(a.jobs:progress(job))
      assert.is_true(p.status == "INIT" or p.status == "RUNNING")
      assert.is_true(p.process_percent >= 0 and p.process_percent < 100)
      assert(job:wait(FAST))
      p = assert(a.jobs:progress(job.job_id))
      assert.equal("SUCCESS", p.status)
      assert.equal(100, p.process_percent)
      assert.equal(job.image_id, p.entities.image_id)
    end)

    it("gets Glance's schemas", function()
      for _, name in ipairs { "image", "images", "member", "members" } do
        local s = assert(a.images:schema(name))
        assert.equal(name, s.name)
        assert.is_table(s.properties)
      end
      assert.error_matches(function() a.images:schema "task" end, "ims.images:schema: .*'name'")
    end)
  end)
end)
