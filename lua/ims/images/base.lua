-- ims.images.base: what the pieces of client.images share (src: images.lua, images/data.lua,
-- images/members.lua, images/objects.lua): the class table, its verb service, the attribute
-- schema, and the helpers both metadata and data calls use.
local json = require "ims.json"
local validate = require "ims.validate"
local verb = require "ims.verb"

local M = {}

local Images = {}
Images.__index = Images
Images.__name = "ims.Images"
M.Images = Images
M.svc = verb.service("ims.images", Images, "client.images")

function M.F(name) return verb.fname(M.svc, name) end

-- The guard of the methods that are code, not rows (upload, list, ...).
function M.check(self, fname) verb.check(M.svc, self, fname, 4) end

-- (a tail call: its frame is gone, so the user is level 3 from validate.id)
function M.image_id(fname, v) return validate.id(fname, "image", v, { "id", "image_id" }, 3) end

-- Glance core attributes and their types; anything else is an extra property (a string).
M.ATTRS = {
  name = "string", id = "string", visibility = { "private", "shared", "community", "public" },
  protected = "boolean", container_format = "string", disk_format = "string",
  tags = "strings", min_ram = "integer", min_disk = "integer", os_hidden = "boolean",
}
local ATTRS = M.ATTRS

-- The POST body for create(attrs), checked; misuse raises at the caller of the public
-- function that called this (create or import).
function M.create_body(fname, attrs)
  validate.arg(fname, "attrs", attrs, "table", 4)
  local body = {}
  for k, v in pairs(attrs) do
    if type(k) ~= "string" then error(fname .. ": attribute names must be strings", 3) end
    local spec = ATTRS[k]
    if spec then
      body[k] = validate.arg(fname, k, v, spec, 4)
    elseif v == json.null then
      error(fname .. ": attribute '" .. k .. "' cannot be null on create", 3)
    elseif type(v) ~= "string" then
      -- not an attribute, and not a string: a typo like min_dsik = 40 is the likely cause
      error(fname .. ": unknown option '" .. k .. "' (not a Glance attribute; an extra property "
        .. "must be a string, got " .. type(v) .. ")", 3)
    else
      body[k] = v
    end
  end
  if body.tags then body.tags = json.array(body.tags) end
  return body
end

-- A body source (a path, {path =}, or {reader =, size =?}) as request fields; misuse raises at
-- the caller of the public function that called this.
function M.parse_source(fname, source)
  if type(source) == "string" then
    validate.arg(fname, "source", source, "path", 4)
    return { body_file = source }
  end
  if type(source) ~= "table" then
    error(fname .. ": argument 'source' must be a file path or a table with 'path' or 'reader' "
      .. "(got " .. type(source) .. ")", 3)
  end
  local s = validate.options(fname .. ": source", source,
    { path = "path", reader = "function", size = "integer" }, 4)
  if (s.path ~= nil) == (s.reader ~= nil) then
    error(fname .. ": argument 'source' needs exactly one of 'path', 'reader'", 3)
  end
  if s.size and not s.reader then error(fname .. ": source 'size' goes with 'reader'", 3) end
  if s.size and s.size < 0 then error(fname .. ": source 'size' must be >= 0", 3) end
  return s.path and { body_file = s.path } or { body_reader = s.reader, body_size = s.size }
end

-- A user's progress(done, total) as the core's upload progress callback (nil stays nil).
function M.upload_progress(user)
  if not user then return nil end
  return function(_, _, ul_now, ul_total) user(ul_now, ul_total) end
end

function M.post_image(self, body)
  return verb.send(self, { method = "POST", path = "/v2/images", json = body, expect = 201 }, "image")
end

return M
