-- client.cloudimages:replicate: one image into many regions at once. The cross-region copies
-- start one after another (IMS allows 5 running per project: the sixth waits for room inside
-- the call's timeout), are waited on together in one wait_all, and in each target region whose
-- client is given the source's tags and min_ram/max_ram are applied again (a copy carries
-- neither). One result per target, in order, with the reason of a failure. With `fallback`, a
-- target whose copy failed (refused, congested, FAIL) gets the image the long way instead:
-- export to an OBS bucket of the source region, the object carried to a bucket of the target
-- region through this machine, imported there, the objects deleted.

--- The IMS-native API: replication to many regions.
-- @module ims.cloudimages
local base = require "ims.cloudimages.base"
local errors = require "ims.errors"
local validate = require "ims.validate"

local Cloud = base.Cloud -- ims.CloudImages

local OPTS = { agency_name = base.R "string", name = "string", description = "string",
  timeout = "number", interval = "number", max_interval = "number", reapply = "boolean",
  fallback = "table" }
local TARGET = { region = base.R "string", project_name = "string", name = "string",
  client = "table", bucket = "string" }
local FALLBACK = { bucket = base.R "string", file_format = { "qcow2", "vhd", "zvhd", "vmdk" } }

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

-- The fallback for the targets (indexes `todo`) whose copy failed: one export, then per target
-- the object carried over and imported. Sets r.image_id, r.fallback and keeps the copy's
-- failure as r.copy_err.
local function fall_back(self, src, list, results, todo, o)
  local fb = o.fallback
  local wait = { timeout = o.timeout, interval = o.interval, max_interval = o.max_interval }
  local key = string.format("ims-replicate/%s-%d.%s", src.id, math.random(1e9), fb.file_format or "qcow2")
  local function fail(err)
    for _, i in ipairs(todo) do results[i].copy_err, results[i].err = results[i].err, err end
  end
  local job, err = self:export(src.id, { bucket_url = fb.bucket .. ":" .. key,
    file_format = fb.file_format or "qcow2" })
  if job then job, err = job:wait(wait) end
  if not job then return fail(err) end
  local tmp = os.tmpname()
  local got
  got, err = self.client.obs:get(fb.bucket, key, tmp)
  self.client.obs:delete(fb.bucket, key)
  if not got then
    os.remove(tmp)
    return fail(err)
  end
  for _, i in ipairs(todo) do
    local t, r = list[i], results[i]
    local put, perr = t.client.obs:put(t.bucket, key, tmp)
    local ijob
    if put then
      ijob, perr = t.client.cloudimages:create { name = t.name or o.name or src.name,
        image_url = t.bucket .. ":" .. key, min_disk = math.max(1, math.tointeger(src.min_disk) or 1),
        os_version = type(src.__os_version) == "string" and src.__os_version or nil,
        description = o.description }
      if ijob then ijob, perr = ijob:wait(wait) end
      t.client.obs:delete(t.bucket, key)
    end
    r.copy_err = r.err
    if ijob and ijob.image_id then
      r.image_id, r.job, r.err, r.fallback = ijob.image_id, ijob, nil, "export"
    else
      r.err = perr or errors.new { kind = "decode", job = ijob, message = "the import names no image" }
    end
  end
  os.remove(tmp)
end

--- Copies an image to many regions at once and waits for every copy
-- (`POST /v1/cloudimages/{id}/cross_region_copy` per target, one `wait_all`).
-- @function CloudImages:replicate
-- @param image the image: its id (string) or an image table (`id` or `image_id` field)
-- @tparam {string|table,...} targets a region name each, or `{region =, project_name =?
-- (default: the region), name =? (default: the source's), client =?, bucket =?}`; with `client`
-- (a client of that region's project) the source's tags and `min_ram`/`max_ram` are set on the
-- copy there; `bucket` (of that region) is for the fallback
-- @tparam table opts `agency_name` (required: the IAM agency IMS acts through), and optionally
-- `name`, `description`, `reapply` (default true), the wait's `timeout`, `interval`,
-- `max_interval`, and `fallback = {bucket =, file_format =? (default qcow2)}`: a bucket of the
-- source region; a target whose copy fails and that has a `client` (with `obs_endpoint`) and a
-- `bucket` of its region then gets the image by export, the object carried there, and import
-- (`fallback = "export"` in its result, the copy's failure in `copy_err`)
-- @treturn[1] {table,...} one result per target, in order: `{region =, image_id =? (the copy),
-- job =? (the copy's job, or the fallback's import job), err =? (an `ims.errors.Error`: why the
-- copy could not start, failed (`job_failed` with IMS's `fail_reason`) or was not re-tagged),
-- reapplied = true|false, fallback = "export"?, copy_err =?}`
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
  if o.fallback then
    validate.options(fname .. ": fallback", o.fallback, FALLBACK)
    for i, t in ipairs(list) do
      if not (t.client and t.bucket) then
        error(fname .. ": targets[" .. i .. "] needs 'client' and 'bucket' for the fallback", 2)
      end
    end
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
  if o.fallback then
    local todo = {}
    for i, r in ipairs(results) do if not r.image_id then todo[#todo + 1] = i end end
    if #todo > 0 then fall_back(self, src, list, results, todo, o) end
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
