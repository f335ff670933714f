-- client.images, members: sharing an image with other projects, and accepting or rejecting
-- what was shared with ours. Each call is a row for ims.verb.

--- The Glance v2 image API: members (sharing between projects).
-- @module ims.images
local verb = require "ims.verb"
local base = require "ims.images.base"

local Images = base.Images -- ims.Images
local svc = base.svc

local MEMBERS = { "v2", "images", "{image}", "members" }
local MEMBER = { "v2", "images", "{image}", "members", "{member}" }

--- Shares an image with a project (`POST /v2/images/{id}/members`); the member is `pending`
-- until that project accepts it.
-- @param image the image: its id (string) or an image table (`id` or `image_id` field)
-- @tparam string project_id the project to share with
-- @treturn[1] Member the member
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...)
-- @raise on misuse: `project_id` not a non-empty string, an image that is neither a non-empty id
-- nor a table with one, a closed client
-- @function Images:create_member
-- @usage local member = assert(client.images:create_member(id, other_project))
Images.create_member = verb.make(svc, { name = "create_member", method = "POST", path = MEMBERS,
  args = { "image", "project_id" }, json = function(a) return { member = a.project_id } end,
  wrap = "member" })

--- Lists the members of an image (`GET /v2/images/{id}/members`).
-- @param image the image: its id (string) or an image table (`id` or `image_id` field)
-- @treturn[1] {Member,...} the members
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...)
-- @raise on misuse: an image that is neither a non-empty id nor a table with one, a closed client
-- @function Images:list_members
-- @usage
-- for _, m in ipairs(assert(client.images:list_members(id))) do print(m.member_id, m.status) end
Images.list_members = verb.make(svc, { name = "list_members", path = MEMBERS, wrap = "members" })

--- Gets one member of an image (`GET /v2/images/{id}/members/{member_id}`).
-- @param image the image: its id (string) or an image table (`id` or `image_id` field)
-- @param member the member: a project id (string) or a member table (`member_id` field)
-- @treturn[1] Member the member
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...)
-- @raise on misuse: a member that is neither a non-empty id nor a table with one, an image that is
-- neither a non-empty id nor a table with one, a closed client
-- @function Images:get_member
-- @usage local m = assert(client.images:get_member(id, other_project)); print(m.status)
Images.get_member = verb.make(svc, { name = "get_member", path = MEMBER, wrap = "member" })

--- Sets a member's status (`PUT /v2/images/{id}/members/{member_id}`); the member project
-- does this to accept or reject a shared image. Glance refuses the image owner's client with
-- 403: `err.hint` then says that only the member project can.
-- @param image the image: its id (string) or an image table (`id` or `image_id` field)
-- @param member the member: a project id (string) or a member table (`member_id` field)
-- @tparam string status `"accepted"`, `"rejected"` or `"pending"`
-- @treturn[1] Member the member
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...)
-- @raise on misuse: any other status, a member that is neither a non-empty id nor a table
-- with one, an image that is neither a non-empty id nor a table with one, a closed client
-- @function Images:update_member
-- @usage assert(client.images:update_member(id, my_project, "accepted"))
-- Glance lets only the member project set a member's status: the owner's client gets 403.
local function owner_side_hint(member)
  return "only the member project (" .. member .. ") can accept or reject an image shared with "
    .. "it, with its own client; the image's owner gets 403 here (the owner adds and removes "
    .. "members: create_member, delete_member)"
end

Images.update_member = verb.make(svc, { name = "update_member", method = "PUT", path = MEMBER,
  args = { "image", "member", "status" }, json = function(a) return { status = a.status } end,
  wrap = "member",
  on_error = function(err, a) if err.status == 403 then err.hint = owner_side_hint(a.member) end end })

--- Stops sharing an image with a project (`DELETE /v2/images/{id}/members/{member_id}`).
-- @param image the image: its id (string) or an image table (`id` or `image_id` field)
-- @param member the member: a project id (string) or a member table (`member_id` field)
-- @treturn[1] boolean `true`
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...)
-- @raise on misuse: a member that is neither a non-empty id nor a table with one, an image that is
-- neither a non-empty id nor a table with one, a closed client
-- @function Images:delete_member
-- @usage assert(client.images:delete_member(id, other_project))
Images.delete_member = verb.make(svc, { name = "delete_member", method = "DELETE", path = MEMBER,
  expect = 204 })

-- accept/reject: update_member with the client's own project, which a project_name-scoped
-- password client learns from its token.
local function own_status(self, fname, image, status)
  base.check(self, fname)
  local id = base.image_id(fname, image)
  local project, err = self.client:project_for(fname, 3) -- accept/reject tail-call this
  if not project then return nil, err end
  local m, uerr = self:update_member(id, project, status)
  if not m and uerr and uerr.status == 403 then
    uerr.hint = "this client's project (" .. project .. ") is not a member of the image (is it "
      .. "the owner?): only a project the image is shared with can accept or reject it, with "
      .. "its own client; the owner adds and removes members (create_member, delete_member)"
  end
  return m, uerr
end

--- Rejects an image shared with the client's project: `update_member` with the client's
-- `project_id` and `"rejected"`.
-- @function Images:reject
-- @param image the image: its id (string) or an image table (`id` or `image_id` field)
-- @treturn[1] Member the client's member record
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...)
-- @raise on misuse: as `Images:accept`
-- @usage assert(other_client.images:reject(id))

--- Accepts an image shared with the client's project: `update_member` with the client's
-- `project_id` and `"accepted"`.
-- @param image the image: its id (string) or an image table (`id` or `image_id` field)
-- @treturn[1] Member the client's member record
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...;
-- a 403 when the client's project is not a member, e.g. the owner's: `err.hint` says so)
-- @raise on misuse: the client has no `project_id` (and no password `auth` to learn it from),
-- an image that is neither a non-empty id nor a table with one, a closed client
-- @usage assert(other_client.images:accept(id))
function Images:accept(image) return own_status(self, base.F "accept", image, "accepted") end
function Images:reject(image) return own_status(self, base.F "reject", image, "rejected") end

return Images
