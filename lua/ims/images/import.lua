-- client.images, interoperable import (Glance's image import API, for OpenStack clouds):
-- stage data, import it with glance-direct, web-download or copy-image, wait for the import
-- to end (understanding the import states and failure markers), and the info, store, usage,
-- task and (de)activation calls around it. Calls that are one request are rows for ims.verb.

--- The Glance v2 image API: interoperable import.
-- @module ims.images
local core = require "ims.native"
local errors = require "ims.errors"
local json = require "ims.json"
local url = require "ims.url"
local validate = require "ims.validate"
local verb = require "ims.verb"
local base = require "ims.images.base"

local Images = base.Images -- ims.Images
local svc, F, check, image_id = base.svc, base.F, base.check, base.image_id

local STAGE_OPTS = { progress = "function" }
local IMPORT = { method = { type = { "glance-direct", "web-download", "copy-image" }, required = true },
  uri = "string", stores = "strings", all_stores = "boolean", all_stores_must_succeed = "boolean" }
local WAIT_OPTS = { timeout = "number", interval = "number", max_interval = "number",
  progress = "function" }

--- Stages an image's data for a later `glance-direct` import (`PUT /v2/images/{id}/stage`),
-- streamed in constant memory like `upload`; the image goes `uploading`.
-- @param image the image: its id (string) or an image table (`id` or `image_id` field)
-- @param source a file path, `{path = "..."}`, or `{reader = function() ... end, size = n?}`
-- @tparam[opt] table opts `progress = function(done_bytes, total_bytes)`
-- @treturn[1] boolean `true`
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`: 409 when the image is not `queued`;
-- `transport`, `timeout`, `auth`)
-- @raise on misuse: a `source` of no known shape, an unknown option, an image that is neither a
-- non-empty id nor a table with one, a closed client
-- @usage
-- assert(client.images:stage(image, "disk.qcow2"))
-- assert(client.images:import_image(image, { method = "glance-direct" }))
function Images:stage(image, source, opts)
  local fname = F "stage"
  check(self, fname)
  local id = image_id(fname, image)
  local body = base.parse_source(fname, source)
  opts = validate.options(fname, opts, STAGE_OPTS)
  local progress = base.upload_progress(opts.progress)
  local res, err = self.client:request { method = "PUT", path = url.path("v2", "images", id, "stage"),
    content_type = "application/octet-stream", body_file = body.body_file,
    body_reader = body.body_reader, body_size = body.body_size, progress = progress,
    expect = 204, transfer = true }
  if not res then return nil, err end
  return true
end

--- Starts an import (`POST /v2/images/{id}/import`, answered 202): `glance-direct` (the staged
-- data), `web-download` (Glance fetches `uri`) or `copy-image` (an active image into more
-- `stores`). `wait` follows it to the end.
-- @param image the image: its id (string) or an image table (`id` or `image_id` field)
-- @tparam table how `method`, and `uri` (required for, and only with, `web-download`),
-- `stores` (store ids, see `stores()`), `all_stores`, `all_stores_must_succeed`
-- @treturn[1] boolean `true`
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`: 400 for a method the cloud does not
-- offer or a `uri` it filters out, 409 for an image in the wrong state; ...)
-- @raise on misuse: a method outside its enum, `uri` missing for `web-download` or given for
-- another method, `stores` together with `all_stores`, an unknown field, an image that is
-- neither a non-empty id nor a table with one, a closed client
-- @function Images:import_image
-- @usage
-- assert(client.images:import_image(image, { method = "web-download",
--   uri = "https://cloud-images.example/debian-12.qcow2" }))
-- local img = assert(client.images:wait(image))
Images.import_image = verb.make(svc, { name = "import_image", method = "POST",
  path = { "v2", "images", "{image}", "import" }, args = { "image", "how" },
  kinds = { how = "table" }, expect = 202,
  check = function(fname, a, level)
    local c = validate.options(fname, a.how, IMPORT, level + 1)
    if (c.method == "web-download") ~= (c.uri ~= nil) then
      error(fname .. ": field 'uri' goes with method 'web-download', and only with it", level)
    end
    if c.stores and c.all_stores then error(fname .. ": give only one of 'stores', 'all_stores'", level) end
    a.how = c
  end,
  json = function(a)
    local c = a.how
    return { method = { name = c.method, uri = c.uri },
      stores = c.stores and json.array(c.stores) or nil, all_stores = c.all_stores,
      all_stores_must_succeed = c.all_stores_must_succeed }
  end })

-- Store lists Glance keeps as comma-separated properties.
local function stores_of(v)
  local out = {}
  if type(v) == "string" then for s in v:gmatch("[^,%s]+") do out[#out + 1] = s end end
  return out
end

-- The image's newest task (an import), or nil; and the request's error.
local function newest_task(self, id)
  local tasks, err = self:tasks(id)
  local newest
  for _, t in ipairs(tasks or {}) do
    if type(t) == "table" and (newest == nil or tostring(t.created_at) > tostring(newest.created_at)) then
      newest = t
    end
  end
  return newest, err
end

local function task_message(self, id)
  local t = newest_task(self, id)
  return t and type(t.message) == "string" and t.message ~= "" and t.message or nil
end

--- Waits until an image is `active` with no import in progress, through every state an upload
-- or an interoperable import passes (`queued`, `saving`, `uploading`, `importing`, and an
-- `active` image still copying to stores, or whose newest import task is still pending or
-- processing); fails on `killed`, `deleted`, or stores listed in `os_glance_failed_import`,
-- with the import task's message.
-- @param image the image: its id (string) or an image table (`id` or `image_id` field)
-- @tparam[opt] table opts `timeout` (seconds, default 600), `interval` (first poll delay,
-- default 1), `max_interval` (default 5), `progress = function(image)` (called when the status
-- or the stores being imported to change)
-- @treturn[1] Image the image, active
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error kind `job_failed` (`code` = `"killed"`, `"deleted"` or
-- `"os_glance_failed_import"`, `message` with the failed stores and the task's message, `image`)
-- or `timeout` (`image`), else what a request failed with
-- @raise on misuse: an unknown option or a wrong type, a number that is not finite and >= 0, an
-- image that is neither a non-empty id nor a table with one, a closed client; an error raised by
-- `progress` is raised again
-- @usage
-- assert(client.images:import_image(image, { method = "copy-image", stores = { "secondary" } }))
-- local img = assert(client.images:wait(image, { timeout = 1800 }))
-- print(img.stores)
function Images:wait(image, opts)
  local fname = F "wait"
  check(self, fname)
  local id = image_id(fname, image)
  local o = validate.options(fname, opts, WAIT_OPTS)
  for _, k in ipairs { "timeout", "interval", "max_interval" } do
    local v = o[k]
    if v ~= nil and not (v >= 0 and v < math.huge) then
      error(fname .. ": option '" .. k .. "' must be a finite number >= 0", 2)
    end
  end
  local deadline = core.now() + (o.timeout or 600)
  local delay, max_delay = math.max(o.interval or 1, 0.05), math.max(o.max_interval or 5, 0.05)
  local last
  while true do
    local img, err = self:get(id)
    if not img then return nil, err end
    local importing = stores_of(img.os_glance_importing_to_stores)
    local failed = stores_of(img.os_glance_failed_import)
    local seen = tostring(img.status) .. "|" .. table.concat(importing, ",")
    if o.progress and seen ~= last then o.progress(img) end
    last = seen
    if img.status == "killed" or img.status == "deleted" or (#failed > 0 and #importing == 0) then
      local code = #failed > 0 and "os_glance_failed_import" or img.status
      local why = task_message(self, id)
      return nil, errors.new { kind = "job_failed", code = code, image = img,
        method = "GET", url = self.client:url(url.path("v2", "images", id)),
        message = (#failed > 0 and ("the import to " .. table.concat(failed, ", ") .. " failed")
          or ("the image is " .. img.status)) .. (why and (": " .. why) or "") }
    end
    if img.status == "active" and #importing == 0 then
      -- a copy-image just accepted may not have marked its stores yet: its task tells
      local t, terr = newest_task(self, id)
      if terr and terr.status ~= 404 then return nil, terr end
      if not (t and (t.status == "pending" or t.status == "processing")) then return img end
    end
    local left = deadline - core.now()
    if left <= 0 then
      return nil, errors.new { kind = "timeout", code = "TIMEOUT", image = img, method = "GET",
        url = self.client:url(url.path("v2", "images", id)),
        message = "the image is still " .. tostring(img.status) .. " after the wait's timeout" }
    end
    self.client:sleep(math.min(delay, left))
    delay = math.min(delay * 1.5, max_delay)
  end
end

local function doc(field, what)
  return function(_, j)
    local v = type(j) == "table" and j[field]
    if type(v) ~= "table" then return nil, what end
    return v
  end
end

--- The import methods the cloud offers (`GET /v2/info/import`).
-- @function Images:import_info
-- @treturn[1] {string,...} the methods (e.g. `glance-direct`, `web-download`, `copy-image`)
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, `decode`)
-- @raise on misuse: a closed client
-- @usage for _, m in ipairs(assert(client.images:import_info())) do print(m) end
Images.import_info = verb.make(svc, { name = "import_info", path = { "v2", "info", "import" },
  wrap = function(_, j)
    local m = type(j) == "table" and j["import-methods"]
    if type(m) ~= "table" or type(m.value) ~= "table" then
      return nil, "import info (an object with import-methods.value)"
    end
    return m.value
  end })

--- The stores of a multi-store cloud (`GET /v2/info/stores`).
-- @function Images:stores
-- @treturn[1] {table,...} `{id =, description =?, default = "true"?, ["read-only"] = "true"?}`
-- per store
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`: 404 where the cloud has one store; ...)
-- @raise on misuse: a closed client
-- @usage for _, s in ipairs(assert(client.images:stores())) do print(s.id, s.default) end
Images.stores = verb.make(svc, { name = "stores", path = { "v2", "info", "stores" },
  wrap = doc("stores", "a store list (an object with stores)") })

--- The project's quota usage (`GET /v2/info/usage`): per limit `{limit =, usage =}`; empty
-- where the cloud sets no limits.
-- @function Images:usage
-- @treturn[1] table e.g. `{image_count_total = {limit =, usage =}, ...}`
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, `decode`)
-- @raise on misuse: a closed client
-- @usage for k, u in pairs(assert(client.images:usage())) do print(k, u.usage, u.limit) end
Images.usage = verb.make(svc, { name = "usage", path = { "v2", "info", "usage" },
  wrap = doc("usage", "usage (an object with usage)") })

--- An image's tasks (`GET /v2/images/{id}/tasks`): imports and their outcome (`status`,
-- `message`).
-- @function Images:tasks
-- @param image the image: its id (string) or an image table (`id` or `image_id` field)
-- @treturn[1] {table,...} the tasks
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, `decode`)
-- @raise on misuse: an image that is neither a non-empty id nor a table with one, a closed client
-- @usage for _, t in ipairs(assert(client.images:tasks(id))) do print(t.type, t.status, t.message) end
Images.tasks = verb.make(svc, { name = "tasks", path = { "v2", "images", "{image}", "tasks" },
  wrap = doc("tasks", "a task list (an object with tasks)") })

--- Deactivates an image (`POST /v2/images/{id}/actions/deactivate`): its data cannot be
-- downloaded until it is reactivated.
-- @function Images:deactivate
-- @param image the image: its id (string) or an image table (`id` or `image_id` field)
-- @treturn[1] boolean `true`
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`: 403 for an image that is not active or
-- deactivated, or not the project's; ...)
-- @raise on misuse: an image that is neither a non-empty id nor a table with one, a closed client
-- @usage assert(client.images:deactivate(id))
Images.deactivate = verb.make(svc, { name = "deactivate", method = "POST",
  path = { "v2", "images", "{image}", "actions", "deactivate" }, expect = 204 })

--- Reactivates a deactivated image (`POST /v2/images/{id}/actions/reactivate`).
-- @function Images:reactivate
-- @param image the image: its id (string) or an image table (`id` or `image_id` field)
-- @treturn[1] boolean `true`
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`)
-- @raise on misuse: an image that is neither a non-empty id nor a table with one, a closed client
-- @usage assert(client.images:reactivate(id))
Images.reactivate = verb.make(svc, { name = "reactivate", method = "POST",
  path = { "v2", "images", "{image}", "actions", "reactivate" }, expect = 204 })
