-- ims.validate: misuse checks. Every public call checks its arguments and option tables before
-- any I/O and raises at the *user's* line with the function and field named, so a typo such as
-- `min_dsik` fails loudly instead of silently widening a list or a delete.
--
-- Levels: `level` is the error() level as seen from inside the validate.* function itself
-- (1 = validate.*, 2 = the public function, 3 = the user: the default). Helpers below only build
-- messages; the raise always happens in the validate.* function, so the count stays simple.
-- A caller that tail-calls (`return validate.options(...)`) loses its own frame: count it out.
local M = {}

local mtype, tointeger, concat, sort, format = math.type, math.tointeger, table.concat,
  table.sort, string.format

local ARTICLE = { string = "a string", integer = "an integer", number = "a number",
  boolean = "a boolean", table = "a table", ["function"] = "a function", any = "any value",
  strings = "a list of strings", text = "a string without CR, LF or NUL",
  path = "a file path (a string without NUL)" }

-- A spec is a type string ("string", "string|strings", ...), an enum ({"asc", "desc"}), or a
-- field spec ({type = <spec>, required = true}).
local function unwrap(spec)
  if type(spec) == "table" and spec.type ~= nil then return spec.type, spec.required end
  return spec, nil
end

local function alternatives(spec)
  local alts = {}
  for a in spec:gmatch("[^|]+") do alts[#alts + 1] = a end
  return alts
end

local function describe(spec)
  if type(spec) == "table" then
    local names = {}
    for i, v in ipairs(spec) do names[i] = "'" .. tostring(v) .. "'" end
    return "one of " .. concat(names, ", ")
  end
  local words = {}
  for i, a in ipairs(alternatives(spec)) do
    words[i] = ARTICLE[a] or error("ims.validate: unknown type spec '" .. a .. "'", 4)
  end
  return concat(words, " or ")
end
M.describe = describe

-- What the user passed, for "(got ...)": numbers and booleans by value (no secret is a number),
-- strings only where quoting helps and is safe (enums), everything else by type.
local function got(v, show_string)
  local tv = type(v)
  if tv == "number" then
    return mtype(v) == "integer" and format("%d", v) or tostring(v)
  elseif tv == "boolean" then
    return tostring(v)
  elseif tv == "string" and show_string then
    return "'" .. (#v > 40 and v:sub(1, 40) .. "..." or v) .. "'"
  end
  return tv
end

-- Checks one non-nil value against one base type; returns ok, normalised value, got-text.
local function check_base(base, v)
  local tv = type(v)
  if base == "any" then return true, v end
  if base == "integer" then
    local i = tv == "number" and tointeger(v)
    if i then return true, i end
    return false
  end
  if base == "number" then
    if tv == "number" then return true, tointeger(v) or v end
    return false
  end
  if base == "strings" then
    if tv ~= "table" then return false end
    local n = 0
    for k in pairs(v) do
      if mtype(k) ~= "integer" or k < 1 then return false, nil, "a table with key " .. got(k, true) end
      n = n + 1
    end
    for i = 1, n do
      if type(v[i]) ~= "string" then return false, nil, got(v[i]) .. " at index " .. i end
    end
    return true, v
  end
  if base == "path" then -- the C library would cut it at a NUL and use another file
    if tv ~= "string" then return false end
    if v:find("%z") then return false, nil, "a string holding NUL" end
    return true, v
  end
  if base == "text" then -- goes into a header line: CR/LF would start another header
    if tv ~= "string" then return false end
    if v:find("[\r\n%z]") then return false, nil, "a string holding CR, LF or NUL" end
    return true, v
  end
  if tv == base then return true, v end
  return false
end

-- Returns ok, normalised value, message tail ("must be ... (got ...)").
local function check(spec, v)
  local t = unwrap(spec)
  if type(t) == "table" then
    for _, allowed in ipairs(t) do
      if v == allowed then return true, v end
    end
    return false, nil, "must be " .. describe(t) .. " (got " .. got(v, true) .. ")"
  end
  local detail
  for _, base in ipairs(alternatives(t)) do
    local ok, nv, d = check_base(base, v)
    if ok then return true, nv end
    detail = detail or d
  end
  return false, nil, "must be " .. describe(t) .. " (got " .. (detail or got(v)) .. ")"
end

-- Validates an options table against `schema` ({key = spec}); returns a shallow copy with
-- integral floats turned into integers. nil opts = {}.
function M.options(fname, opts, schema, level)
  level = (level or 3)
  if opts == nil then opts = {} end
  if type(opts) ~= "table" then
    error(fname .. ": options must be a table (got " .. type(opts) .. ")", level)
  end
  local keys = {}
  for k in pairs(opts) do
    if type(k) ~= "string" then error(fname .. ": option keys must be strings", level) end
    keys[#keys + 1] = k
  end
  sort(keys)   -- deterministic: the same misuse always reports the same key
  local out = {}
  for _, k in ipairs(keys) do
    local spec = schema[k]
    if spec == nil then error(fname .. ": unknown option '" .. k .. "'", level) end
    local ok, v, msg = check(spec, opts[k])
    if not ok then error(fname .. ": option '" .. k .. "' " .. msg, level) end
    out[k] = v
  end
  local required = {}
  for k, spec in pairs(schema) do
    local _, req = unwrap(spec)
    if req and out[k] == nil then required[#required + 1] = k end
  end
  if #required > 0 then
    sort(required)
    error(fname .. ": missing required field '" .. required[1] .. "'", level)
  end
  return out
end

-- Validates a positional argument; nil is refused unless the spec says {required = false}.
-- Returns the normalised value (integral float -> integer).
function M.arg(fname, name, value, spec, level)
  level = level or 3
  if value == nil then
    local _, req = unwrap(spec)
    if req == false then return nil end
  end
  local ok, v, msg = check(spec, value)
  if not ok then error(fname .. ": argument '" .. name .. "' " .. msg, level) end
  return v
end

-- An id string, or an object (image, member, job) holding it in one of `fields`
-- (default {"id"}). Also accepts validate.id(fname, name, value, level).
function M.id(fname, name, value, fields, level)
  if type(fields) == "number" then fields, level = nil, fields end
  fields = fields or { "id" }
  level = level or 3
  -- "", "." and ".." name no resource (in a path they would name another one)
  local function usable(v) return type(v) == "string" and v ~= "" and v ~= "." and v ~= ".." end
  if usable(value) then return value end
  if type(value) == "table" then
    for _, f in ipairs(fields) do
      local id = value[f]
      if usable(id) then return id end
    end
  end
  local names = {}
  for i, f in ipairs(fields) do names[i] = "'" .. f .. "'" end
  local g = value == "" and "empty string"
    or (value == "." or value == "..") and "'" .. value .. "'"
    or type(value) == "table" and "table without " .. concat(names, " or ")
    or got(value)
  error(fname .. ": argument '" .. name .. "' must be an id string or a table with "
    .. concat(names, " or ") .. " (got " .. g .. ")", level)
end

-- An id from the wire, used in a path, a header or a journal line: a string of id characters
-- (letters, digits, '-', '_', '.'), not "." or ".."; anything else is nil.
function M.wire_id(v)
  if type(v) ~= "string" or #v > 255 or not v:match("^[%w][%w._-]*$") then return nil end
  return v
end

return M
