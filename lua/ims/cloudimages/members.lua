-- client.cloudimages, members: IMS batch sharing (many images with many projects in one job,
-- a result per image and project in `job.entities.results`) and the v1 member queries. Each call
-- is a row for ims.verb.

--- The IMS-native API: sharing images in batches.
-- @module ims.cloudimages
local base = require "ims.cloudimages.base"
local json = require "ims.json"
local validate = require "ims.validate"
local verb = require "ims.verb"

local Cloud = base.Cloud -- ims.CloudImages
local svc, R = base.svc, base.R

-- BatchAddMembersRequestBody (POST and DELETE), BatchUpdateMembersRequestBody (PUT)
local SHARE = { images = R "strings", projects = R "strings", domains = "strings",
  organizations = "strings" }
local ANSWER = { images = R "strings", project_id = R "string",
  status = R { "accepted", "rejected" }, vault_id = "string" }

local function ids(fname, c, field, level)
  local list = c[field]
  if list == nil then return end
  if #list == 0 then error(fname .. ": field '" .. field .. "' must not be empty", level + 1) end
  for i, id in ipairs(list) do
    if id == "" or id == "." or id == ".." then
      error(fname .. ": field '" .. field .. "[" .. i .. "]' must be an id (got '" .. id .. "')",
        level + 1)
    end
  end
  c[field] = json.array(list)
end

local function batch(name, method, sch)
  return verb.make(svc, { name = name, method = method, path = { "v1", "cloudimages", "members" },
    args = { "body" }, kinds = { body = "table" }, wrap = "job",
    check = function(fname, a, level)
      local c = validate.options(fname, a.body, sch, level + 1)
      for _, f in ipairs { "images", "projects", "domains", "organizations" } do
        ids(fname, c, f, level)
      end
      a.body = c
    end,
    json = function(a) return a.body end })
end

--- Shares images with projects in one job (`POST /v1/cloudimages/members`). The job's
-- `entities.results` holds `{image_id =, project_id =, status = "success" | "failed"}` per pair;
-- the job fails when any pair failed. Each project then accepts (`update_members`).
-- @function CloudImages:add_members
-- @tparam table body `images` (list of image ids), `projects` (list of project ids), and
-- optionally `domains`, `organizations`
-- @treturn[1] ims.jobs.Job the job
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`: e.g. `IMG.0047` not the owner, `IMG.0076`
-- the own project, `IMG.0135` a full-ECS image; `transport`, `timeout`, `auth`, `decode`)
-- @raise on misuse: a missing or empty list, an entry that is not a non-empty string, an unknown
-- field, a closed client
-- @usage
-- local job = assert(client.cloudimages:add_members { images = { id1, id2 },
--   projects = { other_project } })
-- assert(job:wait())
Cloud.add_members = batch("add_members", "POST", SHARE)

--- Accepts or rejects images shared with the client's project, in one job
-- (`PUT /v1/cloudimages/members`); the member project calls it, not the owner.
-- @function CloudImages:update_members
-- @tparam table body `images` (list of image ids), `project_id` (the caller's project),
-- `status` (`accepted`, `rejected`), and optionally `vault_id` (for full-ECS images)
-- @treturn[1] ims.jobs.Job the job (`entities.results` per image)
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`: `IMG.0067` another project's id;
-- `transport`, `timeout`, `auth`, `decode`)
-- @raise on misuse: a missing field, an empty list, a status outside its enum, an unknown field,
-- a closed client
-- @usage
-- local job = assert(other.cloudimages:update_members { images = { id1, id2 },
--   project_id = other.project_id, status = "accepted" })
-- assert(job:wait())
Cloud.update_members = batch("update_members", "PUT", ANSWER)

--- Stops sharing images with projects, in one job (`DELETE /v1/cloudimages/members`).
-- @function CloudImages:delete_members
-- @tparam table body `images` (list of image ids), `projects` (list of project ids), and
-- optionally `domains`, `organizations`
-- @treturn[1] ims.jobs.Job the job (`entities.results` per pair; a project that was no member
-- counts as a success)
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, `decode`)
-- @raise on misuse: a missing or empty list, an unknown field, a closed client
-- @usage assert(assert(client.cloudimages:delete_members { images = { id1 },
--   projects = { other_project } }):wait())
Cloud.delete_members = batch("delete_members", "DELETE", SHARE)

--- Lists an image's members through IMS (`GET /v1/{project_id}/cloudimages/{id}/members`).
-- @function CloudImages:list_members
-- @param image the image: its id (string) or an image table (`id` or `image_id` field)
-- @treturn[1] {ims.images.Member,...} the members (`member_id`, `image_id`, `status`,
-- `member_type`, `created_at`, `updated_at`)
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...)
-- @raise on misuse: an image that is neither a non-empty id nor a table with one, the client has
-- no `project_id` (and no password `auth` to learn it from), a closed client
-- @usage
-- for _, m in ipairs(assert(client.cloudimages:list_members(id))) do print(m.member_id, m.status) end
Cloud.list_members = verb.make(svc, { name = "list_members",
  path = { "v1", "{project}", "cloudimages", "{image}", "members" }, wrap = "members" })

--- Gets one member of an image through IMS
-- (`GET /v1/{project_id}/cloudimages/{id}/members/{member_id}`).
-- @function CloudImages:get_member
-- @param image the image: its id (string) or an image table (`id` or `image_id` field)
-- @param member the member: a project id (string) or a member table (`member_id` field)
-- @treturn[1] ims.images.Member the member
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...)
-- @raise on misuse: an image or member that is neither a non-empty id nor a table with one, the
-- client has no `project_id` (and no password `auth` to learn it from), a closed client
-- @usage local m = assert(client.cloudimages:get_member(id, other_project)); print(m.status)
Cloud.get_member = verb.make(svc, { name = "get_member",
  path = { "v1", "{project}", "cloudimages", "{image}", "members", "{member}" }, wrap = "member" })
