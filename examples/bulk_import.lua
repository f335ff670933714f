--- Import several disk images from a bucket at once: one IMS import job per object, waited on
-- together with client.jobs:wait_all, a line per job state change while they run and a summary
-- table at the end.
--
--   lua5.4 examples/bulk_import.lua images/web.qcow2 images/db.raw ...
--
-- Configuration (the client comes from ims.from_env()):
--   IMS_ENDPOINT, HUAWEICLOUD_SDK_PROJECT_ID, HUAWEICLOUD_SDK_AK, HUAWEICLOUD_SDK_SK
--   IMS_BUCKET            the bucket holding the objects
--   IMS_IMPORT_OBJECTS    the objects, when not given as arguments (spaces or commas)
--   IMS_NAME_PREFIX       image names are this plus the object's file name (default import-)
--   IMS_MIN_DISK          minimum disk in GB (default 40)
--   IMS_OS_VERSION        e.g. "Debian GNU/Linux 12.0.0 64bit" (optional)
--   IMS_IMPORT_TAG        an IMS tag "key.value" for every image (optional)
--   IMS_JOURNAL           a journal file (optional): a rerun after a crash or a timeout waits
--                         for the imports the first run started instead of starting them again
--
-- Exits 1 when an import could not start or its job failed, 2 on a usage error.
local ims = require "ims"

local function setting(name, default)
  local v = os.getenv(name)
  if v == nil or v == "" then return default end
  return v
end

-- Runtime failures come back as nil, err: stop with the error's one-line story.
local function check(value, err)
  if value == nil then
    io.stderr:write(tostring(err), "\n")
    os.exit(1)
  end
  return value
end

local objects = { table.unpack(arg) }
if #objects == 0 then
  for o in setting("IMS_IMPORT_OBJECTS", ""):gmatch("[^%s,]+") do objects[#objects + 1] = o end
end
local bucket = setting "IMS_BUCKET"
if #objects == 0 or not bucket then
  io.stderr:write("usage: IMS_BUCKET=... bulk_import.lua OBJECT... (or IMS_IMPORT_OBJECTS)\n")
  os.exit(2)
end
local prefix = setting("IMS_NAME_PREFIX", "import-")
local tag = setting "IMS_IMPORT_TAG"
local min_disk = math.tointeger(tonumber(setting("IMS_MIN_DISK", "40")))
if not min_disk then
  io.stderr:write("bulk_import.lua: IMS_MIN_DISK must be a whole number of GB\n")
  os.exit(2)
end

local client <close> = ims.from_env()
local journal <close> = setting "IMS_JOURNAL" and check(client:journal(setting "IMS_JOURNAL")) or nil

-- 1. start one import per object ("images/web.qcow2" becomes the image "<prefix>web")
print(string.format("importing %d object(s) from bucket %s", #objects, bucket))
local rows, jobs = {}, {}
for _, object in ipairs(objects) do
  local base = object:match("([^/]+)$"):gsub("%.[^.]*$", ""):gsub("[^%w%-_. ]", "_")
  local row = { object = object, name = prefix .. base }
  rows[#rows + 1] = row
  local function start()
    return client.cloudimages:create { name = row.name, image_url = bucket .. ":" .. object,
      min_disk = min_disk, os_version = setting "IMS_OS_VERSION", tags = tag and { tag } or nil }
  end
  local job, err, how
  if journal then job, err, how = journal:job("import " .. bucket .. ":" .. object, start)
  else job, err = start() end
  if job then
    row.job, jobs[#jobs + 1] = job, job
    if how == "recorded" then
      print(string.format("%s  %-28s resumed: job %s from the journal", os.date("%H:%M:%S"),
        object, job.job_id))
    end
  else
    row.error = err
    print(string.format("%s  %-28s NOT STARTED  %s", os.date("%H:%M:%S"), object, tostring(err)))
  end
end

-- 2. one wait for all of them; a line whenever a job's state changes
local row_of, last = {}, {}
for _, row in ipairs(rows) do if row.job then row_of[row.job] = row end end
if #jobs > 0 then
  local _, err = client.jobs:wait_all(jobs, { interval = 1, max_interval = 10, timeout = 3600,
    progress = function(job)
      if last[job] == job.status then return end -- a percentage change only
      print(string.format("%s  %-28s %-8s -> %s", os.date("%H:%M:%S"), row_of[job].object,
        last[job] or "submitted", job.status))
      last[job] = job.status
    end })
  -- failed or unfinished jobs go into the table below; anything else (auth, ...) stops here
  if err and err.kind ~= "job_failed" and err.kind ~= "timeout" then check(nil, err) end
end

-- 3. the summary table
local failures = 0
print(string.format("\n%-28s %-8s %-36s %-7s %s", "object", "job", "image", "status", "bytes"))
for _, row in ipairs(rows) do
  local job = row.job
  local image, err = nil, row.error
  if job and job.status == "SUCCESS" then image, err = job:image() end
  if image then
    print(string.format("%-28s %-8s %-36s %-7s %d", row.object, job.status, image.id,
      image.status, image.size or 0))
  else
    failures = failures + 1
    local why = err and tostring(err)
      or (job.error_code or "") .. " " .. (job.fail_reason or "no final status before the deadline")
    print(string.format("%-28s %-8s %s", row.object, job and job.status or "-", why))
  end
end
print(string.format("\n%d imported, %d failed", #rows - failures, failures))
os.exit(failures == 0 and 0 or 1)
