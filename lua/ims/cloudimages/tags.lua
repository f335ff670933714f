-- client.cloudimages, tags: IMS key/value tags of images (the nine tag calls of the official
-- SDKs: one tag, batches, the project's tags, search by tags, and the legacy v1 pair). Each
-- call is a row for ims.verb; answers are checked for their shape before they are returned.

--- The IMS-native API: key/value tags.
-- @module ims.cloudimages
local base = require "ims.cloudimages.base"
local json = require "ims.json"
local validate = require "ims.validate"
local verb = require "ims.verb"

local Cloud = base.Cloud -- ims.CloudImages
local svc, R = base.svc, base.R

local IMAGE_TAGS = { "v2", "{project}", "images", "{image}", "tags" }

-- A {key =, value =} pair: key 1..max_key bytes, value (default "") 0..max_value.
-- (`level`: the user as seen from the caller)
local function pair(fname, what, t, max_key, max_value, level)
  level = level + 1
  local c = validate.options(fname .. ": " .. what, t, { key = R "string", value = "string" },
    level + 1)
  base.length(fname, what .. ".key", c.key, 1, max_key, level)
  base.length(fname, what .. ".value", c.value or "", 0, max_value, level)
  return { key = c.key, value = c.value or "" }
end

local function pairs_list(fname, field, list, max_key, max_value, level)
  level = level + 1
  validate.arg(fname, field, list, "table", level + 1)
  if #list == 0 then error(fname .. ": argument '" .. field .. "' must not be empty", level) end
  local out = {}
  for i, t in ipairs(list) do
    out[i] = pair(fname, field .. "[" .. i .. "]", t, max_key, max_value, level)
  end
  return json.array(out)
end

-- Answers: a list of tables of strings, or the list inside `field`.
local function list_of(field, keys, what)
  return function(_, j)
    local list = type(j) == "table" and (field and j[field] or not field and j) or nil
    if type(list) ~= "table" then return nil, what end
    local out = {}
    for i, t in ipairs(list) do
      if type(t) ~= "table" then return nil, what .. " (entry " .. i .. " is not an object)" end
      for k, kind in pairs(keys) do
        if type(t[k]) ~= kind then return nil, what .. " (entry " .. i .. " has no " .. k .. ")" end
      end
      out[i] = t
    end
    return out
  end
end

--- Adds a tag to an image, or changes its value (`POST /v2/{project_id}/images/{id}/tags`).
-- @function CloudImages:add_tag
-- @param image the image: its id (string) or an image table (`id` or `image_id` field)
-- @tparam string key 1–36 characters
-- @tparam[opt] string value 0–43 characters (default `""`)
-- @treturn[1] boolean `true`
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`: `IMG.0115` a bad tag, `IMG.0116` too
-- many tags (10 per image), `IMG.0047` not the owner; `transport`, `timeout`, `auth`)
-- @raise on misuse: a key or value of the wrong type or length, an image that is neither a
-- non-empty id nor a table with one, no project id, a closed client
-- @usage assert(client.cloudimages:add_tag(id, "env", "prod"))
Cloud.add_tag = verb.make(svc, { name = "add_tag", method = "POST", path = IMAGE_TAGS,
  args = { "image", "key", "value" }, kinds = { key = "any", value = "any" }, expect = 204,
  check = function(fname, a, level)
    a.tag = pair(fname, "tag", { key = a.key, value = a.value }, 36, 43, level)
  end,
  json = function(a) return { tag = a.tag } end })

--- Deletes one tag of an image (`DELETE /v2/{project_id}/images/{id}/tags/{key}`); a key the
-- image does not have is an error (404).
-- @function CloudImages:delete_tag
-- @param image the image: its id (string) or an image table (`id` or `image_id` field)
-- @tparam string key the tag's key
-- @treturn[1] boolean `true`
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`)
-- @raise on misuse: a key that is not a string of 1–255 bytes (or is `.`/`..`), an image that is
-- neither a non-empty id nor a table with one, no project id, a closed client
-- @usage assert(client.cloudimages:delete_tag(id, "env"))
Cloud.delete_tag = verb.make(svc, { name = "delete_tag", method = "DELETE",
  path = { "v2", "{project}", "images", "{image}", "tags", "{key}" }, kinds = { key = "tag" },
  expect = 204 })

--- Lists an image's tags (`GET /v2/{project_id}/images/{id}/tags`).
-- @function CloudImages:list_tags
-- @param image the image: its id (string) or an image table (`id` or `image_id` field)
-- @treturn[1] {table,...} `{key =, value =}` per tag
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, `decode`)
-- @raise on misuse: an image that is neither a non-empty id nor a table with one, no project id,
-- a closed client
-- @usage for _, t in ipairs(assert(client.cloudimages:list_tags(id))) do print(t.key, t.value) end
Cloud.list_tags = verb.make(svc, { name = "list_tags", path = IMAGE_TAGS,
  wrap = list_of("tags", { key = "string", value = "string" }, "a tag list (an object with tags)") })

--- Adds or deletes several tags of an image at once
-- (`POST /v2/{project_id}/images/{id}/tags/action`); adding a key the image has changes its
-- value, deleting one it lacks is no error.
-- @function CloudImages:batch_tags
-- @param image the image: its id (string) or an image table (`id` or `image_id` field)
-- @tparam string action `"create"` or `"delete"`
-- @tparam {table,...} tags `{key =, value =?}` each (keys 1–36 and values 0–43 characters to
-- create; up to 127 and 255 to delete)
-- @treturn[1] boolean `true`
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`: `IMG.0116` too many tags; ...)
-- @raise on misuse: an action outside its enum, an empty list, a pair of the wrong type or
-- length, an image that is neither a non-empty id nor a table with one, no project id, a closed
-- client
-- @usage assert(client.cloudimages:batch_tags(id, "create", { { key = "env", value = "prod" },
--   { key = "team", value = "web" } }))
Cloud.batch_tags = verb.make(svc, { name = "batch_tags", method = "POST",
  path = { "v2", "{project}", "images", "{image}", "tags", "action" },
  args = { "image", "action", "tags" }, kinds = { action = "any", tags = "any" }, expect = 204,
  check = function(fname, a, level)
    validate.arg(fname, "action", a.action, { "create", "delete" }, level + 1)
    local create = a.action == "create"
    a.tags = pairs_list(fname, "tags", a.tags, create and 36 or 127, create and 43 or 255, level)
  end,
  json = function(a) return { action = a.action, tags = a.tags } end })

--- Deletes several tags of an image (`DELETE /v1/{project_id}/cloudimages/{id}/tags/delete`);
-- tags the image lacks are no error.
-- @function CloudImages:batch_delete_tags
-- @param image the image: its id (string) or an image table (`id` or `image_id` field)
-- @tparam {table,...} tags `{key =, value =?}` each (a value, when given, must match)
-- @treturn[1] boolean `true`
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`)
-- @raise on misuse: an empty list, a pair of the wrong type or length, an image that is neither a
-- non-empty id nor a table with one, no project id, a closed client
-- @usage assert(client.cloudimages:batch_delete_tags(id, { { key = "env" } }))
Cloud.batch_delete_tags = verb.make(svc, { name = "batch_delete_tags", method = "DELETE",
  path = { "v1", "{project}", "cloudimages", "{image}", "tags", "delete" },
  args = { "image", "tags" }, kinds = { tags = "any" }, expect = 204,
  check = function(fname, a, level) a.tags = pairs_list(fname, "tags", a.tags, 127, 255, level) end,
  json = function(a) return { tags = a.tags } end })

--- Every tag key of the project's images with the values in use
-- (`GET /v2/{project_id}/images/tags`).
-- @function CloudImages:project_tags
-- @treturn[1] {table,...} `{key =, values = {...}}` per key
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, `decode`)
-- @raise on misuse: no project id, a closed client
-- @usage for _, t in ipairs(assert(client.cloudimages:project_tags())) do print(t.key, #t.values) end
Cloud.project_tags = verb.make(svc, { name = "project_tags",
  path = { "v2", "{project}", "images", "tags" },
  wrap = list_of("tags", { key = "string", values = "table" }, "a tag list (an object with tags)") })

local TAG_FILTER = { key = R "string", values = R "strings" }
local BY_TAGS = { action = R { "filter", "count" }, tags = "table", tags_any = "table",
  not_tags = "table", not_tags_any = "table", limit = "integer|string",
  offset = "integer|string", matches = "table", without_any_tag = "boolean" }

--- Finds or counts the project's images by tags
-- (`POST /v2/{project_id}/images/resource_instances/action`).
-- @function CloudImages:list_by_tags
-- @tparam table body `action` (`"filter"`: a page of images, `"count"`: only the number), and
-- optionally `tags` (all of), `tags_any`, `not_tags`, `not_tags_any` (each a list of
-- `{key =, values = {...}}`, an empty `values` meaning any value), `without_any_tag`, `matches`
-- (`{{key = "resource_name" | "resource_id", value =}}`), `limit` (1–1000, default 10),
-- `offset` (default 0)
-- @treturn[1] table `{total_count =, resources = {{resource_id =, resource_name =,
-- resource_detail = {status =}, tags = {{key =, value =}}}, ...}}` (`resources` empty for a count)
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, `decode`)
-- @raise on misuse: an action outside its enum, a filter entry without `key` or `values`, an
-- unknown field or a wrong type, `limit` outside 1–1000 or a negative `offset`, no project id, a
-- closed client
-- @usage
-- local found = assert(client.cloudimages:list_by_tags { action = "filter",
--   tags = { { key = "env", values = { "prod" } } } })
-- for _, r in ipairs(found.resources) do print(r.resource_id, r.resource_name) end
Cloud.list_by_tags = verb.make(svc, { name = "list_by_tags", method = "POST",
  path = { "v2", "{project}", "images", "resource_instances", "action" }, args = { "body" },
  kinds = { body = "table" },
  check = function(fname, a, level)
    local c = validate.options(fname, a.body, BY_TAGS, level + 1)
    for _, f in ipairs { "tags", "tags_any", "not_tags", "not_tags_any" } do
      if c[f] then
        local list = {}
        for i, t in ipairs(c[f]) do
          local e = validate.options(fname .. ": " .. f .. "[" .. i .. "]", t, TAG_FILTER, level + 1)
          list[i] = { key = e.key, values = json.array(e.values) }
        end
        c[f] = json.array(list)
      end
    end
    if c.matches then
      local list = {}
      for i, m in ipairs(c.matches) do
        list[i] = validate.options(fname .. ": matches[" .. i .. "]", m,
          { key = R { "resource_name", "resource_id" }, value = R "string" }, level + 1)
      end
      c.matches = json.array(list)
    end
    for f, lo, hi in ([[limit 1 1000 offset 0 -]]):gmatch("(%a+) (%d+) (%S+)") do
      local v = c[f] ~= nil and math.tointeger(tonumber(c[f]))
      if c[f] ~= nil and (not v or v < tonumber(lo) or (hi ~= "-" and v > tonumber(hi))) then
        error(fname .. ": field '" .. f .. "' must be an integer " .. lo .. (hi ~= "-" and
          ("–" .. hi) or " or more"), level)
      end
      if v then c[f] = tostring(v) end -- the API takes strings
    end
    a.body = c
  end,
  json = function(a) return a.body end,
  wrap = function(_, j)
    if type(j) ~= "table" or math.type(j.total_count) ~= "integer" then
      return nil, "a search result (an object with total_count)"
    end
    local res = j.resources == nil and {} or j.resources
    if type(res) ~= "table" then return nil, "a search result (resources is not a list)" end
    for i, r in ipairs(res) do
      if type(r) ~= "table" or not validate.wire_id(r.resource_id) then
        return nil, "a search result (resources[" .. i .. "] has no resource_id)"
      end
    end
    return { total_count = j.total_count, resources = res }
  end })

--- Sets one tag of an image, the legacy way (`PUT /v1/cloudimages/tags`).
-- @function CloudImages:set_tags
-- @tparam table body `image_id`, and `tag` (`"key.value"` or `"key=value"`) or `image_tag`
-- (`{key =, value =}`), not both
-- @treturn[1] boolean `true`
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`)
-- @raise on misuse: a missing `image_id`, neither or both of `tag` / `image_tag`, an unknown field
-- or a wrong type, a closed client
-- @usage assert(client.cloudimages:set_tags { image_id = id, image_tag = { key = "env",
--   value = "prod" } })
Cloud.set_tags = verb.make(svc, { name = "set_tags", method = "PUT",
  path = { "v1", "cloudimages", "tags" }, args = { "body" }, kinds = { body = "table" },
  expect = 204,
  check = function(fname, a, level)
    local c = validate.options(fname, a.body, { image_id = R "string", tag = "string",
      image_tag = "table" }, level + 1)
    c.image_id = validate.id(fname, "image_id", c.image_id, {}, level + 1)
    if (c.tag == nil) == (c.image_tag == nil) then
      error(fname .. ": give one of 'tag', 'image_tag'", level)
    end
    if c.image_tag then c.image_tag = pair(fname, "image_tag", c.image_tag, 36, 43, level) end
    a.body = c
  end,
  json = function(a) return a.body end })

local LEGACY_QUERY = { limit = "integer", page = "integer",
  __imagetype = { "gold", "private", "shared", "market" }, id = "string",
  status = { "queued", "saving", "deleted", "killed", "active" }, name = "string",
  min_disk = "integer", __platform = "string", __os_type = { "Linux", "Windows", "Other" },
  member_status = { "accepted", "rejected", "pending" },
  virtual_env_type = { "FusionCompute", "Ironic", "DataImage" }, enterprise_project_id = "string",
  architecture = { "x86", "arm" }, created_at = "string", updated_at = "string" }

--- The tags of the images a query selects, the legacy way (`GET /v1/cloudimages/tags`).
-- @function CloudImages:tags
-- @tparam[opt] table query image filters (`__imagetype`, `id`, `status`, `name`, `min_disk`,
-- `__platform`, `__os_type`, `member_status`, `virtual_env_type`, `enterprise_project_id`,
-- `architecture`, `created_at`, `updated_at`) and paging (`limit`, `page`)
-- @treturn[1] {string,...} the tags (`"key=value"`, or `"key"` for an empty value)
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, `decode`)
-- @raise on misuse: an unknown filter, a wrong type or a value outside its enum, a closed client
-- @usage for _, t in ipairs(assert(client.cloudimages:tags { __imagetype = "private" })) do
--   print(t) end
Cloud.tags = verb.make(svc, { name = "tags", path = { "v1", "cloudimages", "tags" },
  args = { "query" }, kinds = { query = "any" },
  check = function(fname, a, level)
    a.query = validate.options(fname, a.query, LEGACY_QUERY, level + 1)
    for _, f in ipairs { "limit", "page" } do
      if a.query[f] and a.query[f] < 1 then
        error(fname .. ": option '" .. f .. "' must be at least 1", level)
      end
    end
  end,
  query = function(a) return a.query end,
  wrap = function(_, j)
    local list = type(j) == "table" and j.tags
    if type(list) ~= "table" then return nil, "a tag list (an object with tags)" end
    for i, t in ipairs(list) do
      if type(t) ~= "string" then return nil, "a tag list (tags[" .. i .. "] is not a string)" end
    end
    return list
  end })
