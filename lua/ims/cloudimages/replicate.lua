-- client.cloudimages:replicate: one image into many regions at once. The cross-region copies
-- start one after another (IMS allows 5 running per project: the sixth waits for room inside
-- the call's timeout), are waited on together in one wait_all, and in each target region whose
-- client is given the source's tags and min_ram/max_ram are applied again (a copy carries
-- neither). One result per target, in order, with the reason of a failure.

--- The IMS-native API: replication to many regions.
-- @module ims.cloudimages
local base = require "ims.cloudimages.base"
local errors = require "ims.errors"
local validate = require "ims.validate"

local Cloud = base.Cloud -- ims.CloudImages

local OPTS = { agency_name = base.R "string", name = "string", description = "string",
  timeout = "number", interval = "number", max_interval = "number", reapply = "boolean" }
local TARGET = { region = base.R "string", project_name = "string", name = "string",
  client = "table" }

-- The source's IMS tags as {key, value} pairs (Glance tags "key=value", or "key").
local function tag_pairs(tags)
  local out = {}
  for _, t in ipairs(type(tags) == "table" and tags or {}) do
    if type(t) == "string" then
      local k, v = t:match("^([^=]*)=?(.*)$")
      if k ~= "" and #k <= 36 and #v <= 43 then out[#out + 1] = { key = k, value = v } end
    end
  end
  return out
end

-- Tags and min_ram/max_ram of `src` onto the new image, through the target region's client.
local function reapply(target, image_id, src)
  local c = target.client.cloudimages
  local pairs_ = tag_pairs(src.tags)
  if #pairs_ > 0 then
    local ok, err = c:batch_tags(image_id, "create", pairs_)
    if not ok then return nil, err end
  end
  local changes = {}
  if math.type(src.min_ram) == "integer" and src.min_ram > 0 then changes.min_ram = src.min_ram end
  local max_ram = math.tointeger(tonumber(src.max_ram))
  if max_ram and max_ram > 0 then changes.max_ram = max_ram end
  if next(changes) then
    local ok, err = c:update(image_id, changes)
    if not ok then return nil, err end
  end
  return true
end

--- Copies an image to many regions at once and waits for every copy
-- (`POST /v1/cloudimages/{id}/cross_region_copy` per target, one `wait_all`).
-- @function CloudImages:replicate
-- @param image the image: its id (string) or an image table (`id` or `image_id` field)
-- @tparam {string|table,...} targets a region name each, or `{region =, project_name =?
-- (default: the region), name =? (default: the source's), client =?}`; with `client` (a client
-- of that region's project) the source's tags and `min_ram`/`max_ram` are set on the copy there
-- @tparam table opts `agency_name` (required: the IAM agency IMS acts through), and optionally
-- `name`, `description`, `reapply` (default true), and the wait's `timeout`, `interval`,
-- `max_interval`
-- @treturn[1] {table,...} one result per target, in order: `{region =, image_id =? (the copy),
-- job =? (the copy's job), err =? (an `ims.errors.Error`: why the copy could not start, failed
-- (`job_failed` with IMS's `fail_reason`) or was not re-tagged), reapplied = true|false}`
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error the source image could not be read
-- @raise on misuse: `targets` not a non-empty list, a target without `region`, a region given
-- twice, a missing `agency_name`, an unknown option or a wrong type, an image that is neither a
-- non-empty id nor a table with one, a closed client
-- @usage
-- local results = assert(client.cloudimages:replicate(image, { "cn-south-1",
--   { region = "ap-southeast-1", client = singapore } }, { agency_name = "ims_admin_agency" }))
-- for _, r in ipairs(results) do print(r.region, r.image_id or tostring(r.err)) end
function Cloud:replicate(image, targets, opts)
  local fname = base.F "replicate"
  base.check(self, fname)
  local id = base.image_id(fname, image)
  validate.arg(fname, "targets", targets, "table")
  local o = validate.options(fname, opts, OPTS)
  if #targets == 0 then error(fname .. ": argument 'targets' must not be empty", 2) end
  local list, seen = {}, {}
  for i, t in ipairs(targets) do
    if type(t) == "string" then t = { region = t } end
    local c = validate.options(fname .. ": targets[" .. i .. "]", t, TARGET)
    if c.region == "" or seen[c.region] then
      error(fname .. ": targets[" .. i .. "]: region '" .. c.region .. "' is empty or given twice", 2)
    end
    seen[c.region] = true
    list[i] = c
  end
  local src, err = self.client.images:get(id)
  if not src then return nil, err end

  local results, jobs, index = {}, {}, {}
  for i, t in ipairs(list) do
    results[i] = { region = t.region, reapplied = false }
    local job, jerr = self:copy_cross_region(id, { name = t.name or o.name or src.name,
      region = t.region, project_name = t.project_name or t.region, agency_name = o.agency_name,
      description = o.description })
    if job then
      results[i].job = job
      jobs[#jobs + 1], index[#jobs + 1] = job, i
    else
      results[i].err = jerr
    end
  end
  if #jobs > 0 then
    local _, werr = self.client.jobs:wait_all(jobs, { timeout = o.timeout, interval = o.interval,
      max_interval = o.max_interval })
    for k, job in ipairs(jobs) do
      local r = results[index[k]]
      if job.status == "SUCCESS" and job.image_id then
        r.image_id = job.image_id
      elseif werr and werr.errors and werr.errors[k] then
        r.err = werr.errors[k]
      elseif job.status == "FAIL" then
        r.err = errors.new { kind = "job_failed", code = job.error_code, job = job,
          message = job.fail_reason or "the copy to " .. r.region .. " failed with no reason given" }
      else
        r.err = werr or errors.new { kind = "decode", job = job,
          message = "the copy's job names no image" }
      end
    end
  end
  if o.reapply ~= false then
    for i, t in ipairs(list) do
      local r = results[i]
      if r.image_id and t.client then
        local ok, rerr = reapply(t, r.image_id, src)
        r.reapplied, r.err = ok == true, r.err or rerr
      end
    end
  end
  return results
end
