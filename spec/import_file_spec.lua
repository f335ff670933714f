-- cloudimages:plan_import and import_file against the emulator: a local disk file (real qcow2
-- and vmdk files from qemu-img, a RAW file with its bitmap, a ZVHD2 file) goes to OBS, the IMS
-- job turns it into an image in the real Glance (its bytes checked), the object is deleted;
-- the plan reports every problem at once; a process killed mid-upload or after the job started
-- is rerun from its journal without re-sending parts or starting a second job.
local ims = require "ims"
local core = require "ims.core"
local env = require "support.env"
local raw = require "support.raw"

local S = env.stack
local KIB, MIB = 1024, 1024 * 1024
local OS = "Ubuntu 22.04 server 64bit"

local function client(log)
  return ims.new { endpoint = S.IMS_ENDPOINT, project_id = S.IMS_PROJECT_A, region = S.IMS_REGION,
    obs_endpoint = S.IMS_OBS_ENDPOINT, log = log, auth = { ak = S.IMS_AK_A, sk = S.IMS_SK_A } }
end

local function unique(prefix) return string.format("%s-%d-%d", prefix, os.time(), math.random(1e9)) end

-- (without LD_PRELOAD: under `make asan` the sanitizer preloaded into qemu-img deadlocks it)
local function run(cmd)
  local ok = os.execute("env -u LD_PRELOAD " .. cmd .. " >/dev/null 2>&1")
  assert(ok, "failed: " .. cmd)
end

-- A qcow2 (or vmdk) of `virtual` bytes holding `data` MiB of random bytes at its start.
local function disk(fmt, virtual, data_mib)
  local rawf = env.tmpfile("src.raw")
  run(string.format("truncate -s %d %s", virtual, rawf))
  if data_mib then
    run(string.format("dd if=/dev/urandom of=%s bs=1M count=%d conv=notrunc", rawf, data_mib))
  end
  local out = env.tmpfile("disk." .. fmt)
  run(string.format("qemu-img convert -f raw -O %s %s %s", fmt, rawf, out))
  return out
end

local function sha256(path) return assert(core.file_digests(path, { "sha256" })).sha256 end

local function image_sha256(c, id)
  return assert(c.images:download(id, function() end, { digests = { "sha256" } })).sha256
end

local function codes(err)
  local out = {}
  for _, p in ipairs(err.problems) do out[p.code] = (out[p.code] or 0) + 1 end
  return out
end

describe("cloudimages:plan_import", function()
  local c
  setup(function()
    raw.admin("POST", "/jobs", { duration = 0.3 })
    c = client()
  end)

  it("plans a qcow2 import: format and virtual size from the file, min_disk from the disk", function()
    local path = disk("qcow2", 3 * 1024 * MIB)
    local plan = assert(c.cloudimages:plan_import(path, { name = unique("plan"), os_version = OS },
      { bucket = S.IMS_BUCKET }))
    assert.are.equal("obs", plan.route)
    assert.are.equal("qcow2", plan.format)
    assert.are.equal(3 * 1024 * MIB, plan.virtual_size)
    assert.are.equal(3, plan.min_disk)
    assert.are.equal(S.IMS_REGION, plan.bucket_region)
    assert.are.equal("STANDARD", plan.storage_class)
    local vmdk = assert(c.cloudimages:plan_import(disk("vmdk", 2 * 1024 * MIB), { name = unique("v") },
      { bucket = S.IMS_BUCKET }))
    assert.are.same({ "vmdk", 2 }, { vmdk.format, vmdk.min_disk })
  end)

  it("reports every problem at once, moving no byte", function()
    local taken = unique("taken")
    local img = assert(c.images:create { name = taken, disk_format = "raw", container_format = "bare" })
    local path = disk("qcow2", 5 * 1024 * MIB)
    local log = {}
    local q = client(function(ev) log[#log + 1] = ev.method end)
    local plan, err = q.cloudimages:plan_import(path, { name = taken, min_disk = 2,
      os_version = "Plan9 4th edition" }, { bucket = S.IMS_BUCKET_COLD })
    assert.is_nil(plan)
    assert.are.equal("plan", err.kind)
    assert.are.same({ min_disk = 1, os_version = 1, bucket = 1, name = 1 }, codes(err))
    for _, m in ipairs(log) do assert.are_not.equal("PUT", m) end
    -- the bucket of another region
    plan, err = q.cloudimages:plan_import(path, { name = unique("south") }, { bucket = S.IMS_BUCKET_SOUTH })
    assert.is_nil(plan)
    assert.matches(S.IMS_REGION_2, err.problems[1].message, 1, true)
    assert(c.images:delete(img))
  end)

  it("refuses files beyond the routes' limits (sparse files: nothing is read but the header)", function()
    local big = env.tmpfile("big.raw")
    run("truncate -s 129G " .. big)
    local _, err = c.cloudimages:plan_import(big, { name = unique("big") }, { bucket = S.IMS_BUCKET })
    assert.are.same({ size = 1 }, codes(err)) -- over 128 GiB (its 129 GB of min_disk are fine)
    local glance
    glance, err = c.cloudimages:plan_import(big, { name = unique("g") }, { route = "glance" })
    assert.is_nil(glance)
    assert.are.equal(1, codes(err).size)
    local q = env.tmpfile("huge.qcow2")
    run("qemu-img create -q -f qcow2 " .. q .. " 2T")
    _, err = c.cloudimages:plan_import(q, { name = unique("huge") }, { bucket = S.IMS_BUCKET })
    assert.are.equal(1, codes(err).min_disk)
    local iso = env.tmpfile("x.qcow2")
    run("qemu-img create -q -f qcow2 " .. iso .. " 1G")
    _, err = c.cloudimages:plan_import(iso, { name = unique("q"), os_version = OS },
      { bucket = S.IMS_BUCKET, route = "quick" })
    assert.are.equal(1, codes(err).format)
  end)

  it("reports a quota used up", function()
    local used = assert(c.cloudimages:quota()).resources[1].used
    raw.admin("POST", "/limits", { image_quota = used })
    local _, err = c.cloudimages:plan_import(disk("qcow2", 1024 * MIB), { name = unique("quota") },
      { bucket = S.IMS_BUCKET })
    raw.admin("POST", "/limits", { image_quota = ims.null })
    assert.are.same({ quota = 1 }, codes(err))
  end)

  it("raises on misuse before any request", function()
    assert.has_error(function() c.cloudimages:plan_import("x", { name = "n" }) end,
      "ims.cloudimages:plan_import: missing required option 'bucket'")
    assert.has_error(function() c.cloudimages:plan_import("x", { name = "n", min_dsik = 3 }, { bucket = "abc" }) end)
    assert.has_error(function() c.cloudimages:import_file("x", { name = "n", image_url = "a:b" }, { bucket = "abc" }) end,
      "ims.cloudimages:import_file: field 'image_url' is set by the call (it names the uploaded object)")
  end)
end)

describe("cloudimages:import_file", function()
  local c
  setup(function()
    raw.admin("POST", "/jobs", { duration = 0.3 })
    c = client()
  end)

  it("takes a qcow2 file to an active image holding its bytes, and deletes the object", function()
    local path = disk("qcow2", 1024 * MIB, 2)
    local name = unique("qcow2")
    local key = unique("import") .. ".qcow2"
    local phases = {}
    local image, job = c.cloudimages:import_file(path, { name = name, os_version = OS },
      { bucket = S.IMS_BUCKET, key = key, timeout = 120, interval = 0.1,
        progress = function(ev) phases[#phases + 1] = ev.phase end })
    assert(image, job)
    assert.are.equal("active", image.status)
    assert.are.equal(name, image.name)
    assert.are.equal("SUCCESS", job.status)
    assert.are.equal(1, image.min_disk)
    assert.are.equal(sha256(path), image_sha256(c, image.id))
    assert.are.equal("upload", phases[1])
    assert.are.equal("job", phases[#phases])
    assert.are.equal(404, select(2, c.obs:head(S.IMS_BUCKET, key)).status)
    assert(c.images:delete(image))
  end)

  it("quick-imports a ZVHD2 file, and a RAW file with its bitmap", function()
    local z = env.tmpfile("disk.zvhd2")
    env.write_random(z, 300 * KIB)
    local image, job = c.cloudimages:import_file(z, { name = unique("zvhd2"), os_version = OS },
      { bucket = S.IMS_BUCKET, timeout = 120, interval = 0.1 })
    assert(image, job)
    assert.are.equal("imsQuickImportImageJob", job.job_type)
    assert.are.equal(sha256(z), image_sha256(c, image.id))
    assert(c.images:delete(image))
    local r, bm = env.tmpfile("disk.raw"), env.tmpfile("disk.bitmap")
    env.write_random(r, 400 * KIB)
    env.write_random(bm, 4 * KIB)
    local key = unique("quick") .. ".raw"
    image, job = c.cloudimages:import_file(r, { name = unique("raw"), os_version = OS },
      { bucket = S.IMS_BUCKET, key = key, bitmap = bm, timeout = 120, interval = 0.1 })
    assert(image, job)
    assert.are.equal("imsQuickImportImageJob", job.job_type)
    assert.are.equal(sha256(r), image_sha256(c, image.id))
    assert.are.equal(404, select(2, c.obs:head(S.IMS_BUCKET, key .. ".bitmap")).status)
    assert(c.images:delete(image))
  end)

  it("goes through Glance with route = glance", function()
    local path = disk("qcow2", 64 * MIB, 1)
    local image = assert(c.cloudimages:import_file(path, { name = unique("glance") }, { route = "glance" }))
    assert.are.equal("active", image.status)
    assert.are.equal("qcow2", image.disk_format)
    assert.are.equal(sha256(path), image_sha256(c, image.id))
    assert(c.images:delete(image))
  end)

  -- A child process runs import_file with a journal and exits (no cleanup) at `when`.
  local function crash(path, name, key, journal, when)
    local script = env.tmpfile("crash.lua")
    local f = assert(io.open(script, "w"))
    f:write((string.format([[
      package.path = %q; package.cpath = %q
      local ims = require "ims"
      local c = ims.new { endpoint = %q, project_id = %q, region = %q, obs_endpoint = %q,
        auth = { ak = %q, sk = %q } }
      local j = assert(c:journal(%q))
      local parts = 0
      c.cloudimages:import_file(%q, { name = %q, os_version = %q }, { bucket = %q, key = %q,
        journal = j, multipart_threshold = 0, part_size = 131072, concurrency = 1, interval = 0.1,
        progress = function(ev)
          if %q == "upload" and ev.phase == "upload" and ev.done >= 3 * 131072 then os.exit(3) end
          if %q == "job" and ev.phase == "job" then os.exit(3) end
        end })
      os.exit(0)
    ]], package.path, package.cpath, S.IMS_ENDPOINT, S.IMS_PROJECT_A, S.IMS_REGION,
      S.IMS_OBS_ENDPOINT, S.IMS_AK_A, S.IMS_SK_A, journal, path, name, OS, S.IMS_BUCKET, key,
      when, when):gsub("local parts = 0", when == "complete"
        -- dies the moment the upload is complete, before the job is asked for
        and "c.cloudimages.create = function() os.exit(3) end" or "local parts = 0")))
    f:close()
    local ok, how, code = os.execute("lua5.4 '" .. script .. "'")
    assert.are.same({ nil, "exit", 3 }, { ok, how, code })
  end

  for _, when in ipairs { "upload", "complete", "job" } do
    it("resumes from its journal after the process was killed during the " .. when, function()
      raw.admin("POST", "/jobs", { duration = 1 })
      local path = env.tmpfile("crash.raw")
      env.write_random(path, 10 * 128 * KIB) -- 10 parts of 128 KiB
      local name, key = unique("crash-" .. when), unique("crash") .. ".raw"
      local jpath = env.tmpfile("import.journal")
      crash(path, name, key, jpath, when)
      local puts, starts = 0, 0
      local again = client(function(ev)
        if ev.method == "PUT" and ev.url:find("partNumber=", 1, true) then puts = puts + 1 end
        if ev.method == "POST" and ev.url:find("/cloudimages/action", 1, true) then starts = starts + 1 end
      end)
      local j <close> = assert(again:journal(jpath))
      local image, job = again.cloudimages:import_file(path, { name = name, os_version = OS },
        { bucket = S.IMS_BUCKET, key = key, journal = j, multipart_threshold = 0, part_size = 128 * KIB,
          timeout = 120,
          interval = 0.1 })
      raw.admin("POST", "/jobs", { duration = 0.3 })
      assert(image, job)
      assert.are.equal(sha256(path), image_sha256(again, image.id))
      if when == "upload" then
        assert.is_true(puts >= 1 and puts <= 8, puts .. " parts sent again")
        assert.are.equal(1, starts)
      elseif when == "complete" then
        assert.are.equal(0, puts) -- the object was whole: found, not sent again
        assert.are.equal(1, starts)
      else
        assert.are.equal(0, puts)
        assert.are.equal(0, starts) -- the job of the first run, re-attached
      end
      local same = assert(again.cloudimages:list { name = name })
      assert.are.equal(1, #same)
      for _, u in ipairs(assert(again.obs:uploads(S.IMS_BUCKET))) do assert.are_not.equal(key, u.key) end
      assert(again.images:delete(image))
    end)
  end
end)
