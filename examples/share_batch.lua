--- Share several images with several projects through IMS's batch calls: one job shares every
-- image with every project, one job per consumer accepts them all, and each job reports, per
-- image and project, whether it worked. (share_many.lua does the same one call at a time with
-- Glance's member API.)
--
--   lua5.4 examples/share_batch.lua IMAGE_ID [IMAGE_ID ...]
--
-- Configuration:
--   IMS_ENDPOINT                          https://ims.<region>.myhuaweicloud.com
--   IMS_SHARE_FROM                        the owner's label (default A): credentials below
--   IMS_SHARE_WITH                        the consumers' labels, e.g. "B C D" (spaces or commas)
--   IMS_PROJECT_<L>, IMS_AK_<L>, IMS_SK_<L>   the project id and AK/SK of each label <L>
--
-- Prints one line per image and project and exits 1 when any pair failed.
local ims = require "ims"

if #arg == 0 then
  io.stderr:write("usage: share_batch.lua IMAGE_ID [IMAGE_ID ...] (with IMS_SHARE_WITH=\"B C ...\")\n")
  os.exit(2)
end

local function env(name)
  local v = os.getenv(name)
  if v == nil or v == "" then
    io.stderr:write("share_batch.lua: set " .. name .. "\n")
    os.exit(2)
  end
  return v
end

local function client(label)
  return ims.new { endpoint = env "IMS_ENDPOINT", project_id = env("IMS_PROJECT_" .. label),
    auth = { ak = env("IMS_AK_" .. label), sk = env("IMS_SK_" .. label) } }
end

-- A job's per-pair results, printed; returns how many failed.
local function report(step, job, err)
  local failed = 0
  local results = job and job.entities and job.entities.results or {}
  for _, r in ipairs(results) do
    if r.status ~= "success" then failed = failed + 1 end
    print(string.format("  %-6s %s -> %s  %s", step, r.image_id, r.project_id, r.status))
  end
  if err then
    print(string.format("  %-6s job %s: %s", step, job and job.status or "not started", tostring(err)))
    if #results == 0 then failed = failed + 1 end
  end
  return failed
end

local WAIT = { interval = 1, max_interval = 5, timeout = 600 }

-- Waits for a started job; returns the job (with its results) and the error, if any.
local function finish(job, err)
  if not job then return nil, err end
  local done, werr = job:wait(WAIT)
  return done or job, werr
end

local images = { table.unpack(arg) } -- (arg also holds the interpreter at -1 and the script at 0)
local labels, projects = {}, {}
for label in env("IMS_SHARE_WITH"):gmatch("[^%s,]+") do
  labels[#labels + 1] = label
  projects[#projects + 1] = env("IMS_PROJECT_" .. label)
end

local owner <close> = client(os.getenv("IMS_SHARE_FROM") or "A")
print(string.format("sharing %d image(s) with %d project(s)", #images, #projects))

-- The owner's half: one job for every image and project.
local failed = report("share", finish(owner.cloudimages:add_members { images = images,
  projects = projects }))

-- Each consumer's half, with its own credentials: one job accepting every image.
for i, label in ipairs(labels) do
  local consumer <close> = client(label)
  failed = failed + report("accept", finish(consumer.cloudimages:update_members {
    images = images, project_id = projects[i], status = "accepted" }))
end

print(string.format("%d pair(s) failed", failed))
os.exit(failed == 0 and 0 or 1)
