-- client.images: the Glance v2 image API. This file: the class, image metadata (create, get,
-- list, each, update, delete) and tags; images/data.lua: upload, download, import;
-- images/members.lua: sharing; images/objects.lua: the methods of image and member objects.
-- Calls that are one request are rows for ims.verb.

--- The Glance v2 image API: `client.images`, and the methods of image and member objects.
-- Not required directly: every client has an `images` table (`Images`).
--
-- Objects are plain tables of the server's fields (`pairs(image)` shows only what Glance
-- returned: `id`, `name`, `status`, `size`, `checksum`, `os_hash_algo`, `os_hash_value`,
-- `tags`, `visibility`, ...); their methods come from a metatable (`Image`, `Member`).
-- @module ims.images
local json = require "ims.json"
local pager = require "ims.pager"
local patch = require "ims.patch"
local url = require "ims.url"
local validate = require "ims.validate"
local verb = require "ims.verb"
local base = require "ims.images.base"
local objects = require "ims.images.objects"
require "ims.images.data"
require "ims.images.import"
require "ims.images.members"

local M = {}

local Images = base.Images -- ims.Images
local svc, F, check, image_id = base.svc, base.F, base.check, base.image_id
local ATTRS = base.ATTRS

local PATCH_TYPE = "application/openstack-images-v2.1-json-patch"

local LIST_QUERY = {
  name = "string", status = "string", visibility = "string", owner = "string",
  tag = "string|strings", member_status = { "pending", "accepted", "rejected", "all" },
  sort = "string", sort_key = "string", sort_dir = { "asc", "desc" }, limit = "integer",
  marker = "string", created_at = "string", updated_at = "string", size_min = "integer",
  size_max = "integer", disk_format = "string", container_format = "string", id = "string",
  min_ram = "integer", min_disk = "integer", protected = "boolean", os_hidden = "boolean",
  properties = "table", max = "integer",
}
local DELETE_OPTS = { ignore_missing = "boolean" }

-- The service for `client`, made in `self` when given (client.lua's first-use stub).
function M.new(client, self)
  self = setmetatable(self or {}, Images)
  self.client = client
  self._image_mt, self._member_mt = objects.metatables(self)
  return self
end

-- For the SDK's other modules (client.cloudimages, ims.verb): IMS images are the same objects.
function Images:_wrap(t) return setmetatable(t, self._image_mt) end
function Images:_wrap_member(t) return setmetatable(t, self._member_mt) end

--- The Glance v2 image API of a client: `client.images`. Call its functions with `:`
-- (`client.images:get(id)`); calling with `.` raises.
-- @type Images
-- @usage
-- local image = assert(client.images:create { name = "golden", disk_format = "qcow2",
--   container_format = "bare" })
-- assert(image:upload("golden.qcow2"))

--- Creates an image record (`POST /v2/images`); the image is `queued` until data is uploaded.
-- @tparam table attrs Glance's attributes, with their types checked: `name`, `disk_format`,
-- `container_format`, `visibility` (`private`, `shared`, `community`, `public`), `protected`,
-- `tags` (list of strings), `min_ram`, `min_disk` (integers), `os_hidden`, `id`; any other key is
-- an extra property and must be a string (Glance stores them as strings), e.g. `__os_version`,
-- `hw_disk_bus`
-- @treturn[1] Image the new image
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...)
-- @raise on misuse: `attrs` not a table, an attribute of the wrong type
-- (`ims.images:create: attribute 'min_disk' must be an integer (got 1.5)`), a property that is
-- not a string, `ims.null` as a value, a closed client
-- @usage
-- local image, err = client.images:create { name = "web", disk_format = "raw",
--   container_format = "bare", tags = { "os=linux" }, hw_disk_bus = "scsi" }
-- if not image then error(tostring(err)) end
function Images:create(attrs)
  local fname = F "create"
  check(self, fname)
  return base.post_image(self, base.create_body(fname, attrs))
end

--- Gets an image (`GET /v2/images/{id}`).
-- @param image the image: its id (string) or an image table (`id` or `image_id` field)
-- @treturn[1] Image the image
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...); a
-- missing image is kind `http`, `status` 404
-- @raise on misuse: an image that is neither a non-empty id nor a table with one, a closed client
-- @function Images:get
-- @usage
-- local image, err = client.images:get(id)
-- if not image and err.status == 404 then print("gone") end
Images.get = verb.make(svc, { name = "get", path = { "v2", "images", "{image}" }, wrap = "image" })

local function images_wrap(self) return function(t) return self:_wrap(t) end end

--- Lists images (`GET /v2/images`), following `next` through every page.
-- @tparam[opt] table query filters: `name`, `status`, `visibility`, `owner`, `tag` (string or
-- list: all must match; a `key=value` tag is a plain tag), `member_status`, `sort`
-- (`"name:asc,created_at:desc"`), `sort_key`, `sort_dir`, `limit` (page size), `marker`,
-- `created_at`, `updated_at` (`gt:2026-01-01T00:00:00Z`), `size_min`, `size_max`, `disk_format`,
-- `container_format`, `id`, `min_ram`, `min_disk`, `protected`, `os_hidden`;
-- `properties = {hw_disk_bus = "scsi"}` for property filters; `max` stops after that many
-- images
-- @treturn[1] {Image,...} every image of every page (at most `max`)
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...)
-- @raise on misuse: an unknown option (`ims.images:list: unknown option 'limt'`), a wrong
-- type, `max` < 0, a `properties` key that is a filter of its own, a closed client
-- @usage
-- local imgs = assert(client.images:list { tag = "os=linux", sort = "created_at:desc", max = 20 })
-- for _, img in ipairs(imgs) do print(img.id, img.name) end
function Images:list(query)
  local fname = F "list"
  check(self, fname)
  local q, max = pager.query(fname, query, LIST_QUERY, 1000)
  if max == 0 then return {} end
  -- one call: every page within the client's timeout
  return pager.list(pager.glance(self.client, "/v2/images", q, "images", self.client:deadline()),
    images_wrap(self), max)
end

--- Iterates over images lazily, one page at a time (`GET /v2/images`, following `next`).
-- @tparam[opt] table query the filters of `Images:list` (with `max`)
-- @treturn function an iterator for a generic `for`, giving one `Image` per step
-- @raise on misuse, at the call (as `Images:list`); a page that fails raises its
-- `ims.errors.Error` from inside the loop (a `for` has no other way to report it): wrap the loop
-- in `pcall` to get it as a value
-- @usage
-- for img in client.images:each { tag = "os=linux", sort = "created_at:desc" } do
--   print(img.id, img.name, img.size)
-- end
function Images:each(query)
  local fname = F "each"
  check(self, fname)
  local q, max = pager.query(fname, query, LIST_QUERY, 1000)
  return pager.each(pager.glance(self.client, "/v2/images", q, "images"), images_wrap(self), max)
end

--- Updates an image (`PATCH /v2/images/{id}`, JSON patch v2.1).
-- @param image the image: its id (string) or an image table (`id` or `image_id` field)
-- @tparam table changes `{name = "x", min_ram = 1024, os_distro = ims.null}` (core attributes
-- are replaced, properties added or replaced, `ims.null` removes), or explicit operations
-- `{{op = "replace", path = "/name", value = "x"}, {op = "remove", path = "/os_distro"}}`
-- @treturn[1] Image the updated image
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...)
-- @raise on misuse: `changes` not a table or empty, a core attribute of the wrong type, an
-- operation without `op` (`add`, `replace`, `remove`) or a `path` starting with `/`, an image that
-- is neither a non-empty id nor a table with one, a closed client
-- @usage
-- local img = assert(client.images:update(id, { name = "golden-v2", os_distro = ims.null }))
function Images:update(image, changes)
  local fname = F "update"
  check(self, fname)
  local id = image_id(fname, image)
  local ops = patch.ops(fname, image, changes, { known = ATTRS, arrays = { tags = true },
    string_properties = true })
  return verb.send(self, { method = "PATCH", path = url.path("v2", "images", id),
    json = json.array(ops), content_type = PATCH_TYPE, expect = 200 }, "image")
end

--- Deletes an image (`DELETE /v2/images/{id}`).
-- @param image the image: its id (string) or an image table (`id` or `image_id` field)
-- @tparam[opt] table opts `{ignore_missing = true}`: a missing image (404) is not an error
-- @treturn[1] boolean `true`; `false` when the image was missing and `ignore_missing` is set
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...)
-- @raise on misuse: an unknown option, an image that is neither a non-empty id nor a table with
-- one, a closed client
-- @usage
-- assert(client.images:delete(id, { ignore_missing = true }))
function Images:delete(image, opts)
  local fname = F "delete"
  check(self, fname)
  local id = image_id(fname, image)
  opts = validate.options(fname, opts, DELETE_OPTS)
  local res, err = self.client:request { method = "DELETE", path = url.path("v2", "images", id),
    expect = 204 }
  if res then return true end
  if opts.ignore_missing and err.status == 404 then return false end
  return nil, err
end

local TAG = { "v2", "images", "{image}", "tags", "{tag}" }

--- Adds a tag to an image (`PUT /v2/images/{id}/tags/{tag}`).
-- @param image the image: its id (string) or an image table (`id` or `image_id` field)
-- @tparam string tag the tag, 1 to 255 bytes
-- @treturn[1] boolean `true`
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...)
-- @raise on misuse: a tag that is not a string of 1 to 255 bytes, an image that is neither a
-- non-empty id nor a table with one, a closed client
-- @function Images:update_tag
-- @usage assert(client.images:update_tag(id, "os=linux"))
Images.update_tag = verb.make(svc, { name = "update_tag", method = "PUT", path = TAG, expect = 204 })

--- Removes a tag from an image (`DELETE /v2/images/{id}/tags/{tag}`).
-- @param image the image: its id (string) or an image table (`id` or `image_id` field)
-- @tparam string tag the tag, 1 to 255 bytes
-- @treturn[1] boolean `true`
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...)
-- @raise on misuse: a tag that is not a string of 1 to 255 bytes, an image that is neither a
-- non-empty id nor a table with one, a closed client
-- @function Images:delete_tag
-- @usage assert(client.images:delete_tag(id, "beta"))
Images.delete_tag = verb.make(svc, { name = "delete_tag", method = "DELETE", path = TAG, expect = 204 })

--- A JSON schema of the Glance API (`GET /v2/schemas/{name}`): what an image or member holds,
-- which properties are read-only, the enums.
-- @tparam string name `"image"`, `"images"`, `"member"` or `"members"`
-- @treturn[1] table the schema (`name`, `properties`, `links`, ...)
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, `decode`)
-- @raise on misuse: a name outside its enum, a closed client
-- @function Images:schema
-- @usage
-- local s = assert(client.images:schema "image")
-- for name in pairs(s.properties) do print(name) end
Images.schema = verb.make(svc, { name = "schema", path = { "v2", "schemas", "{name}" },
  kinds = { name = "any" },
  check = function(fname, a, level)
    validate.arg(fname, "name", a.name, { "image", "images", "member", "members" }, level + 1)
  end,
  wrap = function(_, j)
    if type(j) ~= "table" or type(j.name) ~= "string" or type(j.properties) ~= "table" then
      return nil, "a JSON schema (an object with name and properties)"
    end
    return j
  end })

M.Images = Images
return M
