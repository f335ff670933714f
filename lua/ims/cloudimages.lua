-- client.cloudimages: the IMS-native API. Request bodies are checked against the contract's
-- schemas (required fields, enums, ranges, mutually exclusive fields) before any I/O; the
-- asynchronous calls return job objects (client.jobs) to wait on. This file: creating,
-- registering, exporting, updating and listing images; cloudimages/copy.lua: quick import and
-- copies; cloudimages/members.lua: batch sharing; cloudimages/tags.lua: key/value tags;
-- cloudimages/info.lua: quota, OS versions, API versions; cloudimages/importfile.lua: from a
-- local file to an image (plan_import, import_file); cloudimages/base.lua: shared checks.

--- The IMS-native API: `client.cloudimages`. Not required directly: every client has a
-- `cloudimages` table (`CloudImages`). Request bodies use the contract's field names and are
-- checked before any I/O: required fields, enums, ranges (`min_disk` 1–1024 for imports, 40–2048
-- for data images, `name` 1–128 characters), `"bucket:object"` URLs and mutually exclusive fields.
-- The asynchronous calls return a `ims.jobs.Job` to wait on.
-- @module ims.cloudimages
local json = require "ims.json"
local pager = require "ims.pager"
local patch = require "ims.patch"
local url = require "ims.url"
local validate = require "ims.validate"
local verb = require "ims.verb"
local base = require "ims.cloudimages.base"
require "ims.cloudimages.copy"
require "ims.cloudimages.replicate"
require "ims.cloudimages.members"
require "ims.cloudimages.tags"
require "ims.cloudimages.info"

local M = {}

local Cloud = base.Cloud -- ims.CloudImages
local svc, F, schema, R = base.svc, base.F, base.schema, base.R
local TAGS, COMMON = base.TAGS, base.COMMON
local body, bucket_object, range = base.body, base.bucket_object, base.range

-- POST /v2/cloudimages/action, one schema per source (ims-api.md §4.1)
local FROM_INSTANCE = schema(TAGS, COMMON, { name = "string", instance_id = "string",
  data_images = "table" })
local FROM_FILE = schema(TAGS, COMMON, { name = R "string", image_url = R "string",
  min_disk = R "integer", os_version = "string", os_type = { "Linux", "Windows", "Other" },
  is_config = "boolean", cmk_id = "string",
  type = { "ECS", "BMS", "FusionCompute", "Ironic", "IsoImage" }, data_images = "table",
  is_quick_import = "boolean", architecture = { "x86", "arm" }, hw_firmware_type = { "bios", "uefi" } })
base.FROM_FILE = FROM_FILE -- (import_file checks a body against it before uploading)
local FROM_VOLUME = schema(TAGS, COMMON, { name = R "string", volume_id = R "string",
  os_version = R "string", type = { "ECS", "BMS", "FusionCompute", "Ironic" } })
local INSTANCE_DATA_IMAGE = schema(TAGS, { name = R "string", volume_id = R "string",
  description = "string" })
local FILE_DATA_IMAGE = schema(TAGS, { name = "string", description = "string",
  image_url = R "string", min_disk = R "integer", is_quick_import = "boolean" })
-- POST /v1/cloudimages/dataimages/action (§5.1)
local DATA_IMAGE = schema(TAGS, { name = R "string", image_url = R "string", min_disk = R "integer",
  os_type = { "Windows", "Linux" }, description = "string", cmk_id = "string",
  enterprise_project_id = "string" })
-- POST /v1/cloudimages/wholeimages/action (§5.4)
local WHOLE = schema(TAGS, COMMON, { name = R "string", instance_id = "string", backup_id = "string",
  vault_id = "string", whole_image_type = { "CBR", "CSBS" } })
local EXPORT = { bucket_url = R "string", file_format = { "qcow2", "vhd", "zvhd", "vmdk" },
  is_quick_export = "boolean", safe_mode = "boolean" }

local LIST_QUERY = {
  __isregistered = "string", __imagetype = { "gold", "private", "shared", "market" },
  __whole_image = "boolean", __system__cmkid = "string", protected = "boolean",
  visibility = { "public", "private", "shared" }, owner = "string", id = "string",
  status = { "queued", "saving", "deleted", "killed", "active" }, name = "string",
  container_format = "string", disk_format = { "zvhd2", "vhd", "zvhd", "raw", "qcow2" },
  min_ram = "integer", min_disk = "integer", __os_bit = { "32", "64" }, __platform = "string",
  __os_type = { "Linux", "Windows", "Other" }, tag = "string",
  member_status = { "accepted", "rejected", "pending" }, virtual_env_type = "string",
  enterprise_project_id = "string", created_at = "string", updated_at = "string",
  flavor_id = "string", architecture = { "x86", "arm" }, __support_kvm = "string",
  __support_xen = "string", __support_largememory = "string", __support_diskintensive = "string",
  __support_highperformance = "string", __support_xen_gpu_type = "string",
  __support_kvm_gpu_type = "string", __support_xen_hana = "string",
  __support_kvm_infiniband = "string", marker = "string", limit = "integer",
  sort_key = { "name", "container_format", "disk_format", "status", "id", "size", "created_at" },
  sort_dir = { "asc", "desc" }, max = "integer",
}

-- The service for `client`, made in `self` when given (client.lua's first-use stub).
function M.new(client, self)
  self = setmetatable(self or {}, Cloud)
  self.client = client
  return self
end

local check = base.check

local function send_job(self, req) return verb.send(self, req, "job") end

--- The IMS-native API of a client: `client.cloudimages`. Call its functions with `:`; calling with
-- `.` raises.
-- @type CloudImages
-- @usage
-- local job = assert(client.cloudimages:create { name = "web-golden", instance_id = server_id })
-- local done, err = job:wait { timeout = 1800 }
-- create(body): from `instance_id`, `data_images`, `image_url` or `volume_id`.

--- Creates a system (or data) image (`POST /v2/cloudimages/action`) from a server, a file in
-- a bucket or a volume: the body's source field picks the schema.
-- @function CloudImages:create
-- @tparam table body one of:
--
-- * from a server: `instance_id` and `name`, or `data_images` alone (not both), a list of
--   `{name =, volume_id =, description =?, tags =?}`
-- * from a file: `name`, `image_url` (`"bucket:object"`), `min_disk` (1–1024), and optionally
--   `os_version` (required with `is_quick_import` or `type = "IsoImage"`), `os_type` (`Linux`,
--   `Windows`, `Other`), `is_config`, `cmk_id`, `type` (`ECS`, `BMS`, `FusionCompute`, `Ironic`,
--   `IsoImage`), `is_quick_import`, `architecture` (`x86`, `arm`), `hw_firmware_type` (`bios`,
--   `uefi`), `data_images` (at most 3 `{image_url =, min_disk = 1–2048, name =?, ...}`)
-- * from a volume: `name`, `volume_id`, `os_version`, and optionally `type`
--
-- and in each: `description` (at most 1024 characters), `enterprise_project_id`, `min_ram`,
-- `max_ram`, and
-- `tags` (list of strings) or `image_tags` (list of `{key =, value =}`), not both
-- @tparam[opt] table opts `safe_mode = true` sends the `/v2.1` twin (`POST /v2.1/cloudimages/action`)
-- @treturn[1] ims.jobs.Job the job (only `job_id` is set until it is refreshed or waited on)
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`; `decode`
-- when the answer has no `job_id`)
-- @raise on misuse: `body` not a table, no source field, a missing required field, an unknown
-- field or a wrong type, a value outside its enum or range, exclusive fields together
-- (`instance_id` / `data_images`, `tags` / `image_tags`), an `image_url` that is not
-- `"bucket:object"`, a closed client
-- @usage
-- local job = assert(client.cloudimages:create { name = "imported", image_url =
-- "bucket:disk.qcow2",
--   min_disk = 40, os_version = "Debian GNU/Linux 12.0.0 64bit" })
-- local image = assert(assert(job:wait()):image())
function Cloud:create(b, opts)
  local fname = F "create"
  check(self, fname)
  local safe = base.safe_mode(fname, opts, 2)
  if type(b) ~= "table" then
    error(fname .. ": argument 'body' must be a table (got " .. type(b) .. ")", 2)
  end
  local c
  if b.instance_id ~= nil or (b.data_images ~= nil and b.image_url == nil) then
    if b.instance_id ~= nil and b.data_images ~= nil then
      error(fname .. ": give only one of 'instance_id', 'data_images'", 2)
    end
    c = body(fname, b, FROM_INSTANCE, 2)
    if c.data_images then c.data_images = { table.unpack(c.data_images) } end -- not the caller's
    if c.instance_id and not c.name then error(fname .. ": missing required field 'name'", 2) end
    for i, d in ipairs(c.data_images or {}) do
      c.data_images[i] = body(fname .. ": data_images[" .. i .. "]", d, INSTANCE_DATA_IMAGE, 2)
    end
  elseif b.image_url ~= nil then
    c = body(fname, b, FROM_FILE, 2)
    if c.data_images then c.data_images = { table.unpack(c.data_images) } end
    range(fname, "min_disk", c.min_disk, 1, 1024, 2)
    if c.data_images and #c.data_images > 3 then
      error(fname .. ": field 'data_images' holds at most 3 images", 2)
    end
    for i, d in ipairs(c.data_images or {}) do
      local dc = body(fname .. ": data_images[" .. i .. "]", d, FILE_DATA_IMAGE, 2)
      range(fname, "data_images[" .. i .. "].min_disk", dc.min_disk, 1, 2048, 2)
      c.data_images[i] = dc
    end
    if (c.is_quick_import or c.type == "IsoImage") and not c.os_version then
      error(fname .. ": field 'os_version' is required with is_quick_import or type IsoImage", 2)
    end
  elseif b.volume_id ~= nil then
    c = body(fname, b, FROM_VOLUME, 2)
  else
    error(fname .. ": the body needs one of 'instance_id', 'data_images', 'image_url', 'volume_id'", 2)
  end
  if c.data_images then c.data_images = json.array(c.data_images) end
  return send_job(self, { method = "POST", path = safe and "/v2.1/cloudimages/action"
    or "/v2/cloudimages/action", json = c, expect = 200 })
end

--- Creates a data-disk image from a file in a bucket (`POST /v1/cloudimages/dataimages/action`).
-- @function CloudImages:create_data_image
-- @tparam table body `name`, `image_url` (`"bucket:object"`), `min_disk` (40–2048), and
-- optionally `os_type` (`Windows`, `Linux`), `description`, `cmk_id`, `enterprise_project_id`,
-- `tags` or `image_tags`
-- @tparam[opt] table opts `safe_mode = true` sends the `/v2.1` twin
-- @treturn[1] ims.jobs.Job the job
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`; `decode`
-- when the answer has no `job_id`)
-- @raise on misuse: a missing required field, an unknown field or a wrong type, `min_disk`
-- outside 40–2048, an `image_url` that is not `"bucket:object"`, a closed client
-- @usage
-- local job = assert(client.cloudimages:create_data_image { name = "data", min_disk = 40,
--   image_url = "bucket:data.qcow2" })
Cloud.create_data_image = verb.make(svc, { name = "create_data_image", method = "POST",
  path = base.twin { "v1", "cloudimages", "dataimages", "action" }, args = { "body", "opts" },
  kinds = { body = "table", opts = "any" }, wrap = "job",
  check = function(fname, a, level)
    a.safe = base.safe_mode(fname, a.opts, level)
    a.body = body(fname, a.body, DATA_IMAGE, level)
    range(fname, "min_disk", a.body.min_disk, 40, 2048, level)
  end,
  json = function(a) return a.body end })

--- Creates a whole-server image, system and data disks (`POST /v1/cloudimages/wholeimages/action`).
-- @function CloudImages:create_whole_image
-- @tparam table body `name`, exactly one of `instance_id`, `backup_id`, and optionally `vault_id`,
-- `whole_image_type` (`CBR`, `CSBS`), `description` (at most 1024 characters),
-- `enterprise_project_id`, `min_ram`, `max_ram`, and `tags` (list of strings) or `image_tags`
-- (list of `{key =, value =}`), not both
-- @treturn[1] ims.jobs.Job the job
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`; `decode`
-- when the answer has no `job_id`)
-- @raise on misuse: a missing `name`, both or neither of `instance_id`/`backup_id`, an unknown
-- field or a wrong type, a closed client
-- @usage
-- local job = assert(client.cloudimages:create_whole_image { name = "backup-web",
--   instance_id = server_id, vault_id = vault })
Cloud.create_whole_image = verb.make(svc, { name = "create_whole_image", method = "POST",
  path = { "v1", "cloudimages", "wholeimages", "action" }, args = { "body" },
  kinds = { body = "table" }, wrap = "job",
  check = function(fname, a, level)
    a.body = body(fname, a.body, WHOLE, level)
    if (a.body.instance_id == nil) == (a.body.backup_id == nil) then
      error(fname .. ": the body needs exactly one of 'instance_id', 'backup_id'", level)
    end
  end,
  json = function(a) return a.body end })

local image_id = base.image_id


-- register(image, "bucket:object"): the object's bytes into a queued image.

--- Fills a `queued` image with the bytes of an object in a bucket.
-- `PUT /v1/cloudimages/{id}/upload`.
-- @function CloudImages:register
-- @param image the image: its id (string) or an image table (`id` or `image_id` field)
-- @tparam string image_url `"bucket:object"`
-- @treturn[1] ims.jobs.Job the job
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`; `decode`
-- when the answer has no `job_id`)
-- @raise on misuse: an `image_url` that is not `"bucket:object"`, an image that is neither a
-- non-empty id nor a table with one, a closed client
-- @usage
-- local image = assert(client.images:create { name = "reg", disk_format = "qcow2",
--   container_format = "bare" })
-- assert(assert(client.cloudimages:register(image, "bucket:disk.qcow2")):wait())
Cloud.register = verb.make(svc, { name = "register", method = "PUT",
  path = { "v1", "cloudimages", "{image}", "upload" }, args = { "image", "image_url" },
  kinds = { image_url = "any" }, wrap = "job",
  check = function(fname, a, level) bucket_object(fname, "image_url", a.image_url, level) end,
  json = function(a) return { image_url = a.image_url } end })

-- export(image, {bucket_url=, file_format=?, is_quick_export=?})

--- Exports an image to a bucket (`POST /v1/cloudimages/{id}/file`).
-- @function CloudImages:export
-- @param image the image: its id (string) or an image table (`id` or `image_id` field)
-- @tparam table opts `bucket_url` (`"bucket:object"`, required), and `file_format` (`qcow2`,
-- `vhd`, `zvhd`, `vmdk`) or `is_quick_export = true` (one of the two); `safe_mode = true`
-- sends the `/v2.1` twin
-- @treturn[1] ims.jobs.Job the job
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`; `decode`
-- when the answer has no `job_id`)
-- @raise on misuse: a missing or malformed `bucket_url`, neither or both of `file_format` /
-- `is_quick_export`, an unknown option, an image that is neither a non-empty id nor a table
-- with one, a closed client
-- @usage
-- local job = assert(client.cloudimages:export(id, { bucket_url = "bucket:golden.qcow2",
--   file_format = "qcow2" }))
Cloud.export = verb.make(svc, { name = "export", method = "POST",
  path = base.twin { "v1", "cloudimages", "{image}", "file" }, args = { "image", "opts" },
  kinds = { opts = "any" }, wrap = "job",
  check = function(fname, a, level)
    local c = validate.options(fname, a.opts, EXPORT, level + 1)
    bucket_object(fname, "bucket_url", c.bucket_url, level)
    if c.is_quick_export then
      if c.file_format then error(fname .. ": omit 'file_format' with is_quick_export", level) end
    elseif not c.file_format then
      error(fname .. ": missing required field 'file_format' (or is_quick_export = true)", level)
    end
    a.safe, c.safe_mode = c.safe_mode, nil -- ours, not the body's
    a.opts = c
  end,
  json = function(a) return a.opts end })

-- update(image, changes): {name = "x", __description = ims.null} or explicit ops.

--- Updates an IMS image (`PATCH /v2/cloudimages/{id}`, a JSON array of operations).
-- @function CloudImages:update
-- @param image the image: its id (string) or an image table (`id` or `image_id` field)
-- @tparam table changes `{name = "x", __description = ims.null}` (`ims.null` removes), or
-- explicit operations `{{op =, path =, value =}}`
-- @treturn[1] ims.images.Image the updated image
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...)
-- @raise on misuse: `changes` not a table or empty, an operation without `op` (`add`,
-- `replace`, `remove`) or `path`, an image that is neither a non-empty id nor a table with
-- one, a closed client
-- @usage assert(client.cloudimages:update(id, { name = "golden", __description = ims.null }))
function Cloud:update(image, changes)
  local fname = F "update"
  check(self, fname)
  local id = image_id(fname, image)
  -- every IMS image has a name; a removal must carry a value for IMS
  local ops = patch.ops(fname, image, changes, { known = { name = true }, remove_value = "" })
  return verb.send(self, { method = "PATCH", path = url.path("v2", "cloudimages", id),
    json = json.array(ops), expect = 200 }, "image")
end

local function pages(self, q, deadline)
  return pager.marker(self.client, "/v2/cloudimages", q, "images", q.limit or 500, deadline)
end

--- Lists IMS images (`GET /v2/cloudimages`), paging by `marker` through every page.
-- @function CloudImages:list
-- @tparam[opt] table query the IMS filters (`__imagetype` (`gold`, `private`, `shared`,
-- `market`), `__whole_image`, `__platform`, `__os_type`, `name`, `status`, `tag`, `visibility`,
-- `member_status`, `sort_key`, `sort_dir`, `limit` = page size (default 500), `marker`, ...)
-- plus `max` (stop after that many images)
-- @treturn[1] {ims.images.Image,...} every image of every page (at most `max`)
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...)
-- @raise on misuse: an unknown filter, a wrong type or a value outside its enum, a closed
-- client
-- @usage
-- local gold = assert(client.cloudimages:list { __imagetype = "gold", __os_type = "Linux" })
function Cloud:list(query)
  local fname = F "list"
  check(self, fname)
  local q, max = pager.query(fname, query, LIST_QUERY, 500)
  local wrap = function(t) return self.client.images:_wrap(t) end
  return pager.list(pages(self, q, self.client:deadline()), wrap, max) -- every page in `timeout`
end

--- Iterates over IMS images lazily, one page at a time (`GET /v2/cloudimages`).
-- @function CloudImages:each
-- @tparam[opt] table query the IMS filters (`__imagetype` (`gold`, `private`, `shared`,
-- `market`), `__whole_image`, `__platform`, `__os_type`, `name`, `status`, `tag`, `visibility`,
-- `member_status`, `sort_key`, `sort_dir`, `limit` = page size (default 500), `marker`, ...)
-- plus `max` (stop after that many images)
-- @treturn function an iterator for a generic `for`, giving one `ims.images.Image` per step
-- @raise on misuse, at the call (as `CloudImages:list`); a page that fails raises its
-- `ims.errors.Error` from inside the loop
-- @usage
-- for img in client.cloudimages:each { __imagetype = "private", status = "active" } do
--   print(img.id, img.name)
-- end
function Cloud:each(query)
  local fname = F "each"
  check(self, fname)
  local q, max = pager.query(fname, query, LIST_QUERY, 500)
  return pager.each(pages(self, q), function(t) return self.client.images:_wrap(t) end, max)
end

-- plan_import and import_file live in cloudimages/importfile.lua (documented there), loaded
-- on first use: they pull in OBS, XML and disk-format code that `require "ims"` need not load.
local function lazy(name)
  return function(self, ...) return require("ims.cloudimages.importfile")[name](self, ...) end
end
Cloud.plan_import = lazy("plan_import")
Cloud.import_file = lazy("import_file")

M.Cloud = Cloud
return M
