-- Image and member objects: plain tables of the server's fields (pairs shows only those) whose
-- methods come from per-client metatables, each the client.images call of the same name.

--- The Glance v2 image API: image and member objects.
-- @module ims.images
local M = {}

local image_methods, member_methods = {}, {}

-- The metatables of one client's objects; `images` is its client.images.
-- tostring: what a print or a log line needs to tell objects apart (id and name, not 0x...)
local function image_text(img)
  return string.format("ims.Image %s (%s, %s)", tostring(rawget(img, "id")),
    tostring(rawget(img, "name") or "no name"), tostring(rawget(img, "status") or "?"))
end

local function member_text(m)
  return string.format("ims.Member %s of %s (%s)", tostring(rawget(m, "member_id")),
    tostring(rawget(m, "image_id")), tostring(rawget(m, "status") or "?"))
end

function M.metatables(images)
  return { __index = image_methods, __name = "ims.Image", images = images, __tostring = image_text },
    { __index = member_methods, __name = "ims.Member", images = images, __tostring = member_text }
end

local verb = require "ims.verb"

-- The client.images an object belongs to, after the ':' guard (`fname`: "ims.image:refresh").
local function images_of(obj, methods, fname)
  return verb.object(obj, methods, fname, 3).images
end

-- Replaces the fields of obj with those of fresh (same object, methods kept).
local function refill(obj, fresh)
  for k in pairs(obj) do obj[k] = nil end
  for k, v in pairs(fresh) do obj[k] = v end
  return obj
end

--- An image: a plain table of Glance's fields (`id`, `name`, `status`, `size`, `checksum`,
-- `os_hash_algo`, `os_hash_value`, `tags`, `visibility`, `min_disk`, properties, ...) with
-- these methods, each the `Images` call of the same name with the image as first argument.
-- `refresh`, `update` and `upload` update the object in place and return it. Images come from
-- `Images:create`, `get`, `list`, `each`, `update`, `upload`, `CloudImages:list` and `Job:image`.
-- @type Image
-- @usage
-- local image = assert(client.images:get(id))
-- assert(image:update { name = "golden-v2" })   -- image.name is now "golden-v2"
-- assert(image:download("copy.qcow2"))

--- Reloads the image's fields from the server (`Images:get`), in place.
-- @function Image:refresh
-- @treturn[1] Image the same object, refreshed
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...)
-- @raise on misuse: a closed client
-- @usage repeat assert(image:refresh()) until image.status ~= "saving"
function image_methods:refresh()
  local fresh, err = images_of(self, image_methods, "ims.image:refresh"):get(self)
  if not fresh then return nil, err end
  return refill(self, fresh)
end

--- Updates the image (`Images:update`) and refills the object with the answer.
-- @function Image:update
-- @tparam table changes as for `Images:update`
-- @treturn[1] Image the same object, updated
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...)
-- @raise on misuse: as `Images:update`
-- @usage assert(image:update { min_ram = 1024, os_distro = ims.null })
function image_methods:update(changes)
  local fresh, err = images_of(self, image_methods, "ims.image:update"):update(self, changes)
  if not fresh then return nil, err end
  return refill(self, fresh)
end

--- Uploads the image's data (`Images:upload`) and refills the object (`status`, `size`,
-- `checksum`, `os_hash_value`).
-- @function Image:upload
-- @param source a file path, `{path =}` or `{reader =, size =?}`, as for `Images:upload`
-- @tparam[opt] table opts `progress`, `verify`, `digests`, as for `Images:upload`
-- @treturn[1] Image the same object, now `active`
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `checksum` on a digest mismatch)
-- @raise on misuse: as `Images:upload`
-- @usage assert(image:upload("disk.qcow2")); print(image.status, image.size)
function image_methods:upload(source, opts)
  local fresh, err = images_of(self, image_methods, "ims.image:upload"):upload(self, source, opts)
  if not fresh then return nil, err end
  return refill(self, fresh)
end

--- Deletes the image (`Images:delete`).
-- @function Image:delete
-- @tparam[opt] table opts `{ignore_missing = true}`
-- @treturn[1] boolean `true`; `false` when missing and `ignore_missing` is set
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...)
-- @raise on misuse: as `Images:delete`
-- @usage assert(image:delete())

--- Downloads the image's data (`Images:download`); the object's recorded digest is used
-- for verification without another request when it has one.
-- @function Image:download
-- @param dest a file path or `function(chunk)`
-- @tparam[opt] table opts `progress`, `verify`, `digests`, `resume`, as for `Images:download`
-- @treturn[1] table `{bytes = n, sha512 = hex, ...}`
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `checksum` on a digest or size mismatch)
-- @raise on misuse: as `Images:download`
-- @usage local r = assert(image:download("copy.qcow2", { resume = true })); print(r.bytes)

--- Adds a tag (`Images:update_tag`).
-- @function Image:update_tag
-- @tparam string tag the tag, 1 to 255 bytes
-- @treturn[1] boolean `true`
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...)
-- @raise on misuse: as `Images:update_tag`
-- @usage assert(image:update_tag("os=linux"))

--- Removes a tag (`Images:delete_tag`).
-- @function Image:delete_tag
-- @tparam string tag the tag
-- @treturn[1] boolean `true`
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...)
-- @raise on misuse: as `Images:delete_tag`
-- @usage assert(image:delete_tag("beta"))

--- Shares the image with a project (`Images:create_member`).
-- @function Image:create_member
-- @tparam string project_id the project
-- @treturn[1] Member the member (`pending`)
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...)
-- @raise on misuse: as `Images:create_member`
-- @usage local member = assert(image:create_member(other_project))

--- Lists the image's members (`Images:list_members`).
-- @function Image:list_members
-- @treturn[1] {Member,...} the members
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...)
-- @raise on misuse: a closed client
-- @usage for _, m in ipairs(assert(image:list_members())) do print(m.member_id, m.status) end

--- Gets one member (`Images:get_member`).
-- @function Image:get_member
-- @param member a project id or a member table
-- @treturn[1] Member the member
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...)
-- @raise on misuse: as `Images:get_member`
-- @usage print(assert(image:get_member(other_project)).status)

--- Sets a member's status (`Images:update_member`).
-- @function Image:update_member
-- @param member a project id or a member table
-- @tparam string status `"accepted"`, `"rejected"` or `"pending"`
-- @treturn[1] Member the member
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...)
-- @raise on misuse: as `Images:update_member`
-- @usage assert(image:update_member(my_project, "accepted"))

--- Stops sharing with a project (`Images:delete_member`).
-- @function Image:delete_member
-- @param member a project id or a member table
-- @treturn[1] boolean `true`
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...)
-- @raise on misuse: as `Images:delete_member`
-- @usage assert(image:delete_member(other_project))

--- Accepts the image for the client's project (`Images:accept`).
-- @function Image:accept
-- @treturn[1] Member the client's member record
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...)
-- @raise on misuse: as `Images:accept`
-- @usage assert(shared_image:accept())

--- Rejects the image for the client's project (`Images:reject`).
-- @function Image:reject
-- @treturn[1] Member the client's member record
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...)
-- @raise on misuse: as `Images:accept`
-- @usage assert(shared_image:reject())
for _, name in ipairs { "delete", "download", "update_tag", "delete_tag", "create_member",
  "list_members", "get_member", "update_member", "delete_member", "accept", "reject" } do
  image_methods[name] = function(self, ...)
    local images = images_of(self, image_methods, "ims.image:" .. name)
    return images[name](images, self, ...)
  end
end

-- The client.images of a member, after the ':' guard for its method `name`.
local function of_member(obj, name)
  return verb.object(obj, member_methods, "ims.member:" .. name, 3).images
end

--- A member: a plain table of Glance's fields (`member_id` = the project, `image_id`,
-- `status`, `created_at`, `updated_at`, `schema`) with these methods. Members come from
-- `Images:create_member`, `list_members`, `get_member`, `update_member`, `accept`, `reject`.
-- @type Member
-- @usage
-- local member = assert(image:create_member(other_project))
-- assert(other_client.images:get_member(image.id, member.member_id)):accept()

--- Accepts the shared image for this member (`Images:update_member` with `"accepted"`); the
-- client must be the member project's. On the owner's side (the member `create_member`
-- returned) Glance answers 403, and `err.hint` names the member project that can call it.
-- @function Member:accept
-- @treturn[1] Member the updated member (a new table)
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...;
-- 403 with `err.hint` from the owner's client)
-- @raise on misuse: a closed client
-- @usage assert(member:accept())
function member_methods:accept()
  return of_member(self, "accept"):update_member(self.image_id, self.member_id, "accepted")
end

--- Rejects the shared image for this member (`Images:update_member` with `"rejected"`); as
-- `Member:accept`, the member project's call (403 with `err.hint` from the owner's client).
-- @function Member:reject
-- @treturn[1] Member the updated member (a new table)
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...;
-- 403 with `err.hint` from the owner's client)
-- @raise on misuse: a closed client
-- @usage assert(member:reject())
function member_methods:reject()
  return of_member(self, "reject"):update_member(self.image_id, self.member_id, "rejected")
end

--- Reloads the member's fields (`Images:get_member`), in place.
-- @function Member:refresh
-- @treturn[1] Member the same object, refreshed
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...)
-- @raise on misuse: a closed client
-- @usage assert(member:refresh()); print(member.status)
function member_methods:refresh()
  local fresh, err = of_member(self, "refresh"):get_member(self.image_id, self.member_id)
  if not fresh then return nil, err end
  return refill(self, fresh)
end

--- Removes this member: the image is no longer shared with its project
-- (`Images:delete_member`).
-- @function Member:delete
-- @treturn[1] boolean `true`
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...)
-- @raise on misuse: a closed client
-- @usage assert(member:delete())
function member_methods:delete()
  return of_member(self, "delete"):delete_member(self.image_id, self.member_id)
end

M.refill = refill
return M
