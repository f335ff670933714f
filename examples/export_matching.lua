--- Export every image that matches an IMS filter to a bucket: one export job per image, all
-- waited on together with ONE client.jobs:wait_all, then one result line per image.
--
--   lua5.4 examples/export_matching.lua [TAG]
--
-- Configuration (the client comes from ims.from_env()):
--   IMS_ENDPOINT, HUAWEICLOUD_SDK_PROJECT_ID, HUAWEICLOUD_SDK_AK, HUAWEICLOUD_SDK_SK
--   IMS_BUCKET            the bucket to export to
--   IMS_EXPORT_TAG        IMS tag filter, e.g. "release=2024.06" (or the first argument)
--   IMS_EXPORT_PREFIX     only images whose name starts with this (optional)
--   IMS_EXPORT_DIR        object prefix in the bucket (default exports/<UTC time>)
--   IMS_EXPORT_FORMAT     qcow2 (default), vhd, zvhd or vmdk
--
-- Exits 1 when an export could not start or its job failed, 2 on a usage error.
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

local tag = arg[1] or setting "IMS_EXPORT_TAG"
local prefix = setting("IMS_EXPORT_PREFIX", "")
local bucket = setting "IMS_BUCKET"
local format = setting("IMS_EXPORT_FORMAT", "qcow2")
local dir = setting("IMS_EXPORT_DIR", "exports/" .. os.date("!%Y%m%d-%H%M%S"))
if not bucket or (not tag and prefix == "") then
  io.stderr:write("usage: IMS_BUCKET=... export_matching.lua TAG (or IMS_EXPORT_PREFIX=...)\n")
  os.exit(2)
end

local client <close> = ims.from_env()

-- 1. the images: IMS filters on the server, the name prefix here (IMS matches names exactly)
local images = {}
local query = { owner = client.project_id, status = "active", tag = tag,
  sort_key = "name", sort_dir = "asc" }
for _, img in ipairs(check(client.cloudimages:list(query))) do
  img.name = img.name or ""
  if img.name:sub(1, #prefix) == prefix then images[#images + 1] = img end
end
print(string.format("%d image(s) match tag=%s prefix=%q", #images, tag or "(any)", prefix))
if #images == 0 then os.exit(0) end

-- 2. one export job per image; an export refused at once is reported, the others go on
local jobs, rows, failures = {}, {}, 0
for _, img in ipairs(images) do
  local object = string.format("%s/%s-%s.%s", dir, img.name:gsub("[^%w._-]", "_"), img.id:sub(1, 8),
    format)
  local row = { image = img, object = object }
  rows[#rows + 1] = row
  local job, err = client.cloudimages:export(img, { bucket_url = bucket .. ":" .. object,
    file_format = format })
  if job then
    jobs[#jobs + 1] = job
    row.job = job
  else
    row.error, failures = err, failures + 1
  end
end

-- 3. one wait for every job, a line per state change
local by_job = {}
for _, row in ipairs(rows) do if row.job then by_job[row.job] = row end end
if #jobs > 0 then
  print(string.format("waiting for %d export job(s)", #jobs))
  local _, err = client.jobs:wait_all(jobs, { interval = 1, max_interval = 10, timeout = 3600,
    progress = function(job)
      local pct = job.entities and job.entities.process_percent
      print(string.format("  %-36s %-8s %s", by_job[job].image.name, job.status,
        pct and string.format("%3.0f%%", pct) or ""))
    end })
  -- failed or unfinished jobs are reported below; anything else (auth, ...) stops here
  if err and err.kind ~= "job_failed" and err.kind ~= "timeout" then check(nil, err) end
end

-- 4. results
print("results:")
for _, row in ipairs(rows) do
  local job, outcome = row.job
  if row.error then
    outcome = "NOT STARTED  " .. tostring(row.error)
  elseif job.status == "SUCCESS" then
    outcome = "SUCCESS      " .. bucket .. ":" .. row.object
  else
    failures = failures + 1
    outcome = string.format("%-12s %s %s", job.status, job.error_code or "",
      job.fail_reason or "(no final status before the deadline)")
  end
  print(string.format("  %s  %-28s %s", row.image.id, row.image.name, outcome))
end
print(string.format("%d exported, %d failed", #rows - failures, failures))
os.exit(failures == 0 and 0 or 1)
