-- ims.cloudimages.base: what the pieces of client.cloudimages share (cloudimages.lua and
-- cloudimages/*.lua): the class table, its verb service, and the body checks every IMS call
-- makes before any I/O.
local json = require "ims.json"
local validate = require "ims.validate"
local verb = require "ims.verb"

local M = {}

local Cloud = {}
Cloud.__index = Cloud
Cloud.__name = "ims.CloudImages"
M.Cloud = Cloud
M.svc = verb.service("ims.cloudimages", Cloud, "client.cloudimages")

function M.F(name) return verb.fname(M.svc, name) end

-- The guard of the methods that are code, not rows.
function M.check(self, fname) verb.check(M.svc, self, fname, 4) end

-- A schema from parts: schema(TAGS, COMMON, {...}).
function M.schema(...)
  local out = {}
  for _, part in ipairs { ... } do for k, v in pairs(part) do out[k] = v end end
  return out
end

function M.R(t) return { type = t, required = true } end

M.TAGS = { tags = "strings", image_tags = "table" }
M.COMMON = { description = "string", enterprise_project_id = "string", max_ram = "integer",
  min_ram = "integer" }

-- "bucket:object", both parts present.
function M.bucket_object(fname, field, v, level)
  if type(v) ~= "string" or not v:match("^[^:]+:.+$") then
    error(fname .. ": field '" .. field .. "' must be \"bucket:object\" (got "
      .. (type(v) == "string" and ("'" .. v .. "'") or type(v)) .. ")", level + 1)
  end
end

function M.range(fname, field, v, lo, hi, level)
  if v ~= nil and (v < lo or v > hi) then
    error(string.format("%s: field '%s' must be between %d and %d (got %d)", fname, field, lo, hi, v),
      level + 1)
  end
end

-- A string field's length in bytes, lo..hi.
function M.length(fname, field, v, lo, hi, level)
  if v ~= nil and (#v < lo or #v > hi) then
    error(string.format("%s: field '%s' must be %d to %d characters", fname, field, lo, hi), level + 1)
  end
end

-- Checks a body against a schema plus the rules every IMS body shares; returns the copy.
function M.body(fname, b, sch, level)
  level = level + 1
  if type(b) ~= "table" then
    error(fname .. ": argument 'body' must be a table (got " .. type(b) .. ")", level)
  end
  local c = validate.options(fname, b, sch, level + 1)
  if c.tags ~= nil and c.image_tags ~= nil then
    error(fname .. ": give only one of 'tags', 'image_tags'", level)
  end
  if c.image_tags then
    for i, t in ipairs(c.image_tags) do
      validate.options(fname .. ": image_tags[" .. i .. "]", t,
        { key = M.R "string", value = M.R "string" }, level + 1)
    end
    c.image_tags = json.array(c.image_tags)
  end
  if c.tags then c.tags = json.array(c.tags) end
  if c.name ~= nil and (#c.name < 1 or #c.name > 128) then
    error(fname .. ": field 'name' must be 1 to 128 characters", level)
  end
  if c.description ~= nil and #c.description > 1024 then
    error(fname .. ": field 'description' must be at most 1024 characters", level)
  end
  if c.image_url ~= nil then M.bucket_object(fname, "image_url", c.image_url, level) end
  return c
end

-- The opts of a call that has a /v2.1 "safe mode" twin: nil or {safe_mode = boolean}; returns
-- whether to send the twin (`level`: the user as seen from the caller).
function M.safe_mode(fname, opts, level)
  local c = validate.options(fname, opts, { safe_mode = "boolean" }, level + 2)
  return c.safe_mode == true
end

-- A path template and its /v2.1 twin: {"v2", "cloudimages", "action"} -> the twin when
-- a.safe is true.
function M.twin(path)
  local safe = { "v2.1", table.unpack(path, 2) }
  return function(a) return a.safe and safe or path end
end

function M.image_id(fname, v) return validate.id(fname, "image", v, { "id", "image_id" }) end

return M
