-- ims.patch: the operation list of an update, shared by images:update (Glance's JSON patch)
-- and cloudimages:update (IMS's array of ops). Changes are either explicit operations
-- {{op =, path =, value =}} or a table {attribute = value | ims.null}: ims.null removes, a
-- known attribute or one the image already has is replaced, anything else is added.
local json = require "ims.json"
local validate = require "ims.validate"

local M = {}

-- A value must be one JSON can carry (no function, no NaN, no cycle...): misuse otherwise.
local function sendable(where, v)
  if v == nil then return nil end -- no value (a remove)
  local ok, why = pcall(json.encode, v)
  if not ok then
    error(where .. " cannot be sent as JSON (" .. tostring(why):gsub("^json: ", "") .. ")", 4)
  end
  return v
end

local OP = { op = { type = { "add", "replace", "remove" }, required = true },
  path = { type = "string", required = true }, value = "any" }

-- The ops for `changes` to `image` (an id or the image table, whose fields tell what it has).
-- policy.known = {attribute = validate spec | true}: attributes every image has (a spec also
-- checks the value); policy.arrays = {attribute = true}: sent as JSON arrays even when empty;
-- policy.remove_value: sent with a generated "remove" (IMS wants one);
-- policy.string_properties: other attributes must be strings (Glance's extra properties).
-- Misuse raises at the caller of the public function that called this.
function M.ops(fname, image, changes, policy)
  validate.arg(fname, "changes", changes, "table", 4)
  local ops = {}
  if changes[1] ~= nil then
    for i, op in ipairs(changes) do
      local where = fname .. ": changes[" .. i .. "]"
      if type(op) ~= "table" then error(where .. " must be a table", 3) end
      validate.options(where, op, OP, 4)
      if op.path:sub(1, 1) ~= "/" then error(where .. ".path must start with '/'", 3) end
      ops[i] = { op = op.op, path = op.path, value = sendable(where .. ".value", op.value) }
    end
    return ops
  end
  local keys = {}
  for k in pairs(changes) do
    if type(k) ~= "string" then error(fname .. ": change keys must be attribute names", 3) end
    keys[#keys + 1] = k
  end
  if #keys == 0 then error(fname .. ": no changes given", 3) end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local v = changes[k]
    local path = "/" .. k:gsub("~", "~0"):gsub("/", "~1") -- JSON pointer escapes
    local known = policy.known[k]
    if v == json.null then
      ops[#ops + 1] = { op = "remove", path = path, value = policy.remove_value }
    else
      if type(known) == "table" or type(known) == "string" then
        v = validate.arg(fname, k, v, known, 4)
      elseif not known and policy.string_properties and type(v) ~= "string" then
        error(fname .. ": unknown option '" .. k .. "' (not a Glance attribute; an extra property "
          .. "must be a string, got " .. type(v) .. ")", 3)
      end
      sendable(fname .. ": '" .. k .. "'", v)
      if policy.arrays and policy.arrays[k] then v = json.array(v) end
      local present = known or (type(image) == "table" and image[k] ~= nil)
      ops[#ops + 1] = { op = present and "replace" or "add", path = path, value = v }
    end
  end
  return ops
end

return M
