--- From a local disk file to an IMS image, the way real images travel on Huawei Cloud: plan the
-- import (every problem at once, before moving a byte), upload the file to an OBS bucket in
-- parallel parts, let IMS import it, wait, and delete the object. With IMS_JOURNAL, a rerun
-- after a crash continues the upload where it stopped and re-attaches to a job already started.
--
--   lua5.4 examples/import_file.lua FILE NAME [OS_VERSION]
--
-- Configuration:
--   IMS_ENDPOINT, IMS_OBS_ENDPOINT    the IMS and OBS endpoints (or HUAWEICLOUD_SDK_REGION)
--   HUAWEICLOUD_SDK_AK, _SK, _PROJECT_ID   credentials (or OS_AUTH_URL, ... for a password)
--   IMS_BUCKET                        a Standard bucket in the images' region
--   IMS_JOURNAL                       optional: a journal file, so a rerun resumes
--   IMS_PLAN_ONLY=1                   print the plan and stop
--
-- Prints the plan, a progress line per step, then the image id; exits 1 on failure.
local ims = require "ims"

local path, name, os_version = arg[1], arg[2], arg[3]
if not path or not name then
  io.stderr:write("usage: import_file.lua FILE NAME [OS_VERSION]\n")
  os.exit(2)
end
local bucket = os.getenv("IMS_BUCKET")
if not bucket or bucket == "" then
  io.stderr:write("import_file.lua: set IMS_BUCKET\n")
  os.exit(2)
end

local client <close> = ims.from_env()
local body = { name = name, os_version = os_version }
local opts = { bucket = bucket }

local plan, err = client.cloudimages:plan_import(path, body, opts)
if not plan then
  for _, p in ipairs(err.problems or {}) do print("problem: " .. p.message) end
  if not err.problems then print(tostring(err)) end
  os.exit(1)
end
print(string.format("plan: %s route, %s, %d bytes (virtual %s), min_disk %d GB, to %s:%s",
  plan.route, plan.format, plan.size, tostring(plan.virtual_size), plan.min_disk, plan.bucket, plan.key))
if os.getenv("IMS_PLAN_ONLY") == "1" then os.exit(0) end

local journal
if os.getenv("IMS_JOURNAL") and os.getenv("IMS_JOURNAL") ~= "" then
  journal = assert(client:journal(os.getenv("IMS_JOURNAL")))
end
opts.journal = journal
local last
opts.progress = function(ev)
  local line
  if ev.phase == "upload" then
    line = string.format("upload %d%%", ev.total > 0 and ev.done * 100 // ev.total or 100)
  else
    line = string.format("job %s %s%%", tostring(ev.status), tostring(ev.percent or "?"))
  end
  if line ~= last then print(line) end
  last = line
end

local image, job_or_err = client.cloudimages:import_file(path, body, opts)
if journal then journal:close() end
if not image then
  print("failed: " .. tostring(job_or_err))
  os.exit(1)
end
print(string.format("image %s %s (%s)", image.id, image.status, image.name))
