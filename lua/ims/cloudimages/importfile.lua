-- client.cloudimages, from a local file to an image: plan_import (every check, no bytes moved)
-- and import_file (upload to OBS, the IMS job, the wait, the image, the object deleted), with
-- a journal so that a rerun after a crash resumes the upload and re-attaches to the job.

--- The IMS-native API: importing a local disk file.
-- @module ims.cloudimages
local base = require "ims.cloudimages.base"
local diskfile = require "ims.diskfile"
local errors = require "ims.errors"
local obs = require "ims.obs"
local validate = require "ims.validate"

local F = base.F
local M = {} -- plan_import, import_file: CloudImages methods (cloudimages.lua loads them lazily)

local GIB = 1024 * 1024 * 1024
local LIMITS = { glance = 2 * GIB, obs = 128 * GIB, quick = 1024 * GIB }
-- what each route takes (IMS: qcow2, vmdk, vhd, vhdx, raw, iso, zvhd, zvhd2 from OBS; quick
-- import only ZVHD2, or RAW with its bitmap)
local FORMATS = {
  obs = { qcow2 = true, vmdk = true, vhd = true, vhdx = true, raw = true, iso = true, zvhd = true,
    zvhd2 = true },
  quick = { zvhd2 = true, raw = true },
  glance = { qcow2 = true, vmdk = true, vhd = true, vhdx = true, raw = true, iso = true },
}

local OPTS = { bucket = "string", key = "string", route = { "auto", "obs", "quick", "glance" },
  bitmap = "path", journal = "table", keep_object = "boolean", progress = "function",
  checkpoint = "path", part_size = "integer", concurrency = "integer", timeout = "number",
  multipart_threshold = "integer",
  interval = "number", region = "string" }

local function human(n) return string.format("%.1f GiB", n / GIB) end

-- The call's arguments, checked (raises at the user's call: level 3 from here).
local function arguments(fname, path, body, opts)
  validate.arg(fname, "path", path, "path", 4)
  if type(body) ~= "table" then
    error(fname .. ": argument 'body' must be a table (got " .. type(body) .. ")", 3)
  end
  opts = validate.options(fname, opts, OPTS, 4)
  if body.image_url ~= nil then
    error(fname .. ": field 'image_url' is set by the call (it names the uploaded object)", 3)
  end
  if (opts.route or "auto") ~= "glance" then
    if not opts.bucket then error(fname .. ": missing required option 'bucket'", 3) end
    obs.check_bucket(fname, opts.bucket)
  end
  if opts.key then obs.check_key(fname, opts.key) end
  local j = opts.journal
  if j ~= nil and (type(j.job) ~= "function" or type(j.has) ~= "function") then
    error(fname .. ": option 'journal' must be a journal (client:journal(path))", 3)
  end
  -- the body as the job call will check it, so a typo fails here and not after the upload
  local probe = {}
  for k, v in pairs(body) do probe[k] = v end
  probe.image_url, probe.min_disk = "b:o", probe.min_disk or 1
  local quick = opts.route == "quick" or (opts.route ~= "obs" and opts.route ~= "glance"
    and (opts.bitmap ~= nil or path:lower():match("%.zvhd2$")))
  if opts.route ~= "glance" then
    base.body(fname, probe, quick and base.QUICK or base.FROM_FILE, 3)
  end
  return opts
end

-- The plan: route, format, sizes, min_disk, bucket/key; `problems` lists what would fail.
local function make_plan(self, path, body, opts, skip_name)
  local problems = {}
  local function problem(code, message) problems[#problems + 1] = { code = code, message = message } end
  local client = self.client
  local plan = { path = path, bucket = opts.bucket, problems = problems }
  plan.key = opts.key or path:match("([^/]+)$")
  local file, ferr = diskfile.inspect(path)
  if not file then
    problem("file", ferr)
    return plan
  end
  plan.format, plan.size, plan.virtual_size = file.format, file.size, file.virtual_size
  local route = opts.route or "auto"
  if route == "auto" then
    if file.format == "zvhd2" or (file.format == "raw" and opts.bitmap) then
      route = "quick"
    else
      route = "obs"
    end
  end
  plan.route = route
  if not FORMATS[route][file.format] then
    problem("format", string.format("a %s file cannot take the %s route%s", file.format, route,
      route == "quick" and " (quick import takes ZVHD2, or RAW with its bitmap file)" or ""))
  end
  if route == "quick" and file.format == "raw" then
    if not opts.bitmap then
      problem("bitmap", "quick import of a RAW file needs its bitmap file (option 'bitmap', made by "
        .. "qemu-img-hw)")
    elseif not diskfile.inspect(opts.bitmap) then
      problem("bitmap", "the bitmap file " .. opts.bitmap .. " cannot be read")
    end
    plan.bitmap = opts.bitmap
  end
  if file.size > LIMITS[route] or (route == "glance" and file.size >= LIMITS.glance) then
    problem("size", string.format("%s holds %s: the %s route takes %s %s%s", path, human(file.size),
      route, route == "glance" and "under" or "at most", human(LIMITS[route]),
      route == "obs" and file.format == "raw" and " (quick import goes to 1 TiB: give the RAW file's "
        .. "bitmap, or convert it to ZVHD2)" or ""))
  end
  -- min_disk must hold the disk
  local vsize = file.virtual_size
  local need = vsize and diskfile.min_disk(vsize)
  plan.min_disk = body.min_disk or need or diskfile.min_disk(file.size)
  if need and body.min_disk and body.min_disk < need then
    problem("min_disk", string.format("min_disk %d GB is smaller than the disk's virtual size (%s)",
      body.min_disk, human(vsize)))
  end
  if plan.min_disk > 1024 then
    problem("min_disk", string.format("the disk needs %d GB; IMS images take at most 1024", plan.min_disk))
  end
  if route ~= "glance" then
    local quota = self:quota()
    local q = quota and quota.resources and quota.resources[1]
    if q and math.type(q.quota) == "integer" and math.type(q.used) == "integer" and q.used >= q.quota then
      problem("quota", string.format("the private image quota is used up (%d of %d)", q.used, q.quota))
    end
    if body.os_version then
      local versions, verr = self:os_versions()
      if versions then
        local known = false
        for _, p in ipairs(versions) do
          for _, v in ipairs(p.version_list) do if v.os_version == body.os_version then known = true end end
        end
        if not known then
          problem("os_version", "os_version '" .. body.os_version .. "' is not one of os_versions()")
        end
      else
        problem("os_version", "cannot check os_version: " .. tostring(verr))
      end
    end
    local b, berr = client.obs:bucket(opts.bucket)
    local region = opts.region or client.region
    if not b then
      problem("bucket", "bucket " .. opts.bucket .. ": " .. tostring(berr))
    else
      plan.bucket_region, plan.storage_class = b.region, b.storage_class
      if region and b.region ~= region then
        problem("bucket", string.format("bucket %s is in %s, the images in %s (IMS imports from its "
          .. "own region only)", opts.bucket, b.region, region))
      end
      if b.storage_class ~= "STANDARD" then
        problem("bucket", string.format("bucket %s is of storage class %s; IMS imports from Standard "
          .. "buckets only", opts.bucket, b.storage_class))
      end
    end
  end
  if body.name and not skip_name then
    local same = self:list { name = body.name, max = 1 }
    if same and #same > 0 then
      problem("name", "an image named '" .. body.name .. "' exists already (" .. tostring(same[1].id) .. ")")
    end
  end
  return plan
end

local function plan_error(plan)
  local lines = {}
  for i, p in ipairs(plan.problems) do lines[i] = p.message end
  local e = errors.new { kind = "plan", code = plan.problems[1].code,
    message = #lines .. " problem" .. (#lines > 1 and "s" or "") .. ": " .. table.concat(lines, "; ") }
  e.problems, e.plan = plan.problems, plan
  return e
end

--- Checks an import of a local disk file without moving a byte, and reports every problem at
-- once: the file's format (magic bytes) and size against the route's limits (Glance under
-- 2 GB, OBS import 128 GiB, quick import 1 TiB for ZVHD2 or RAW with its bitmap), its virtual
-- size against `min_disk`, the private image quota, `os_version` against `os_versions()`, the
-- bucket's region and storage class (Standard, the images' region), a name already taken.
-- @function CloudImages:plan_import
-- @tparam string path the disk image file
-- @tparam table body the image: `name`, and the fields of `create` from a file (or of
-- `quick_import`) but `image_url`; `min_disk` defaults to what the virtual size needs
-- @tparam[opt] table opts `bucket` (required unless `route = "glance"`), `key` (default: the
-- file's name), `route` (`auto`, `obs`, `quick`, `glance`), `bitmap` (the RAW file's bitmap,
-- for quick import), `region` (the images' region, default the client's `region`)
-- @treturn[1] table the plan: `{route =, format =, size =, virtual_size =, min_disk =, bucket =,
-- key =, bucket_region =, storage_class =, problems = {}}`
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error kind `plan`, `err.problems` = `{{code =, message =}, ...}` (codes
-- `file`, `format`, `bitmap`, `size`, `min_disk`, `quota`, `os_version`, `bucket`, `name`),
-- `err.plan`
-- @raise on misuse: `path` not a path, `body` not a table or with an unknown field, a missing
-- `bucket`, an unknown option, a closed client
-- @usage local plan, err = client.cloudimages:plan_import("web.qcow2", { name = "web" }, { bucket = "b" })
-- if not plan then for _, p in ipairs(err.problems) do print(p.message) end end
function M.plan_import(self, path, body, opts)
  local fname = F "plan_import"
  base.check(self, fname)
  opts = arguments(fname, path, body, opts)
  local plan = make_plan(self, path, body, opts)
  if #plan.problems > 0 then return nil, plan_error(plan) end
  return plan
end

--- From a local disk file to an active IMS image in one call: checks the plan
-- (`plan_import`), uploads the file to OBS (`obs:put`: multipart with parallel parts above
-- 64 MiB, checkpointed), starts the job (`create` from `bucket:key`, or `quick_import`), waits
-- for it, gets the image and deletes the object (and the bitmap). With `route = "glance"` the
-- file goes through `images:import` instead (under 2 GB). With a `journal`, a rerun after a
-- crash resumes the upload's missing parts (its checkpoint lives beside the journal) and
-- re-attaches to a job already started instead of starting another.
-- @function CloudImages:import_file
-- @tparam string path the disk image file
-- @tparam table body the image, as for `plan_import`
-- @tparam[opt] table opts as `plan_import`, plus `progress = function(event)` (`{phase =
-- "upload", done =, total =}`, then `{phase = "job", status =, percent =}`), `journal`,
-- `keep_object` (keep the uploaded object), `checkpoint`, `multipart_threshold`, `part_size`,
-- `concurrency` (as for `obs:put`),
-- `timeout` and `interval` (of the job wait)
-- @treturn[1] ims.images.Image the image
-- @treturn[1] ims.jobs.Job the job (nil for the Glance route)
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error kind `plan` (`err.problems`), or what the upload, the job
-- (`job_failed`) or a request returned
-- @raise on misuse (as `plan_import`); an error raised by `progress` is raised again
-- @usage local image = assert(client.cloudimages:import_file("web.qcow2",
--   { name = "web", os_version = "Ubuntu 22.04 server 64bit" }, { bucket = "my-images" }))
function M.import_file(self, path, body, opts)
  local fname = F "import_file"
  base.check(self, fname)
  opts = arguments(fname, path, body, opts)
  local client, journal, user = self.client, opts.journal, opts.progress
  local key = opts.key or path:match("([^/]+)$")
  local jkey = "import_file " .. (opts.bucket or "glance") .. ":" .. key
  local resumed = journal and journal:has(jkey)
  local plan = make_plan(self, path, body, opts, resumed)
  if #plan.problems > 0 then return nil, plan_error(plan) end
  if plan.route == "glance" then
    local img, gerr = client.images:import(path, { name = body.name, disk_format = plan.format,
      container_format = "bare", min_disk = plan.min_disk },
      { progress = user and function(done, total) user { phase = "upload", done = done, total = total } end })
    return img, gerr
  end
  local function start()
    local checkpoint = opts.checkpoint or (journal and journal.path .. ".obs-" .. key:gsub("[^%w._-]", "_"))
    local popts = { checkpoint = checkpoint, part_size = opts.part_size,
      concurrency = opts.concurrency, multipart_threshold = opts.multipart_threshold,
      progress = user and function(done, total) user { phase = "upload", done = done, total = total } end }
    -- a run that ended after its upload completed (and before the job) left the object whole
    local stored = client.obs:stored(opts.bucket, key, path, popts)
    if stored then
      if user then user { phase = "upload", done = stored.size, total = stored.size } end
    else
      local put, perr = client.obs:put(opts.bucket, key, path, popts)
      if not put then return nil, perr end
    end
    if plan.bitmap then
      local put, perr = client.obs:put(opts.bucket, key .. ".bitmap", plan.bitmap)
      if not put then return nil, perr end
    end
    local b = {}
    for k, v in pairs(body) do b[k] = v end
    b.image_url, b.min_disk = opts.bucket .. ":" .. key, plan.min_disk
    if plan.route == "quick" then return self:quick_import(b) end
    return self:create(b)
  end
  local job, err
  if journal then job, err = journal:job(jkey, start) else job, err = start() end
  if not job then return nil, err end
  local done, werr = job:wait { timeout = opts.timeout, interval = opts.interval,
    progress = user and function(j)
      local e = type(j.entities) == "table" and j.entities or {}
      user { phase = "job", status = j.status, percent = tonumber(e.process_percent) }
    end }
  if not done then return nil, werr end
  local image, ierr = job:image()
  if not image then return nil, ierr end
  if not opts.keep_object then
    client.obs:delete(opts.bucket, key)
    if plan.bitmap then client.obs:delete(opts.bucket, key .. ".bitmap") end
  end
  return image, job
end

return M
