--- A golden-image pipeline on IMS: import a disk image from a bucket, tag it, share it with a
-- second project that accepts it, back up a stopped server as a whole image, export the golden
-- image to the bucket, find what was made with IMS filters, and clean up.
--
-- Configuration (`make demo` sets all of it for the local emulator; on Huawei Cloud use your
-- own values):
--   IMS_ENDPOINT                         https://ims.<region>.myhuaweicloud.com
--   IMS_PROJECT_A, IMS_AK_A, IMS_SK_A    the owner project and its AK/SK
--   IMS_PROJECT_B, IMS_AK_B, IMS_SK_B    the consumer project
--   IMS_BUCKET, IMS_IMPORT_OBJECT        the object to import ("bucket:object")
--   IMS_INSTANCE_STOPPED                 a stopped server to back up
local ims = require "ims"

local env = setmetatable({}, { __index = function(_, k)
  return os.getenv(k) or error("golden_image.lua: set " .. k, 2)
end })

-- Runtime failures come back as nil, err: stop the pipeline with the error's one-line story.
local function check(value, err)
  if value == nil then
    io.stderr:write(tostring(err), "\n")
    os.exit(1)
  end
  return value
end

-- One line per job state change, with the server's progress when it reports one.
local function job_reporter(label)
  return function(job)
    local pct = job.entities and job.entities.process_percent
    print(string.format("  %-14s %-8s %s", label, job.status,
      pct and string.format("%3.0f%%", pct) or ""))
  end
end

-- A progress bar for byte transfers.
local function progress_bar(label)
  local last = -1
  return function(done, total)
    local pct = total > 0 and done * 100 // total or 100
    if pct == last then return end
    last = pct
    io.write(string.format("\r  %-14s [%-30s] %3d%% %7.1f MiB", label, string.rep("#", pct * 30 // 100),
      pct, done / 1048576))
    if done >= total then io.write("\n") end
    io.flush()
  end
end

local function client(who)
  return ims.new { endpoint = env.IMS_ENDPOINT, project_id = env["IMS_PROJECT_" .. who],
    auth = { ak = env["IMS_AK_" .. who], sk = env["IMS_SK_" .. who] } }
end

local owner <close> = client("A")
local consumer <close> = client("B")
local stamp = os.date("!%Y%m%d-%H%M%S")
local wait = { interval = 1, max_interval = 5, timeout = 1800 }

print("1. import " .. env.IMS_BUCKET .. ":" .. env.IMS_IMPORT_OBJECT)
local import = check(owner.cloudimages:create {
  name = "golden-" .. stamp, image_url = env.IMS_BUCKET .. ":" .. env.IMS_IMPORT_OBJECT,
  min_disk = 40, os_version = "Debian GNU/Linux 12.0.0 64bit", description = "golden image",
})
check(import:wait { interval = wait.interval, max_interval = wait.max_interval,
  timeout = wait.timeout, progress = job_reporter("import") })
local golden = check(import:image())
print("   image " .. golden.id .. " " .. golden.status)

print("2. tag and verify")
check(golden:update_tag("role=golden"))
check(golden:update_tag("os=debian-12"))
local copy = os.tmpname()
local got = check(golden:download(copy, { progress = progress_bar("download") }))
print(string.format("   %d bytes, sha512 %s... verified", got.bytes, got.sha512:sub(1, 16)))
os.remove(copy)

print("3. share with project " .. consumer.project_id)
check(owner.images:update(golden, { visibility = "shared" }))
check(golden:create_member(consumer.project_id))
local member = check(consumer.images:accept(golden.id))
print("   consumer " .. member.status)

print("4. back up a stopped server as a whole image, export the golden image")
local object = "exports/golden-" .. stamp .. ".qcow2"
local whole = check(owner.cloudimages:create_whole_image {
  name = "backup-" .. stamp, instance_id = env.IMS_INSTANCE_STOPPED })
local export = check(owner.cloudimages:export(golden, {
  bucket_url = env.IMS_BUCKET .. ":" .. object, file_format = "qcow2" }))
local reporters = { [whole] = job_reporter("whole image"), [export] = job_reporter("export") }
-- one wait for both jobs: polled together, each on its own backoff
local _, err = owner.jobs:wait_all({ whole, export }, { interval = wait.interval,
  max_interval = wait.max_interval, timeout = wait.timeout,
  progress = function(job) reporters[job](job) end })
if err then check(nil, err) end
print("   exported to " .. env.IMS_BUCKET .. ":" .. object)

print("5. what this run made (IMS filters)")
for img in owner.cloudimages:each { __imagetype = "private", sort_key = "created_at", sort_dir = "desc" } do
  if img.name:find(stamp, 1, true) then
    print(string.format("   %s  %-28s %-7s whole=%s", img.id, img.name, img.status,
      img.__whole_image or "false"))
  end
end

print("6. clean up")
check(golden:delete_member(consumer.project_id))
check(owner.images:delete(whole.image_id))
check(golden:delete())
print("done")
