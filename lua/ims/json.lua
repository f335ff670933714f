-- ims.json: the SDK's private JSON layer.
-- Decoding goes through a private cjson instance (fast C parser) and is then normalised, because
-- cjson 2.1.0 returns every number as a float and JSON null as a sentinel (toolchain.md §6).
-- Encoding is pure Lua, because cjson 2.1.0 rounds integers above 14 digits (image sizes!) and
-- cannot emit [] for an empty array.
local cjson = require("cjson").new()   -- own instance: our settings never leak to the user's cjson
cjson.decode_invalid_numbers(false)     -- strict JSON: no NaN/Infinity/hex literals

local M = {}

local null = cjson.null
M.null = null

-- Marker metatable: a table carrying it is encoded as a JSON array, even when empty.
M.array_mt = { __name = "ims.json.array" }

function M.array(t)
  return setmetatable(t or {}, M.array_mt)
end

---------------------------------------------------------------------------------------------
-- decode

local tointeger, mtype = math.tointeger, math.type

-- In place: integral floats -> integers; null in objects -> key removed (so fields read as nil);
-- null in arrays stays json.null (so indexes keep their places). cjson gives arrays integer
-- keys and objects string keys, which is how the two are told apart here.
local function normalise(t)
  for k, v in next, t do
    local tv = type(v)
    if tv == "table" then
      normalise(v)
    elseif tv == "number" then
      if mtype(v) == "float" then
        local i = tointeger(v)
        if i then t[k] = i end
      end
    elseif v == null and type(k) == "string" then
      t[k] = nil   -- clearing an existing field during traversal is allowed
    end
  end
end

function M.decode(s)
  if type(s) ~= "string" then
    return nil, "json: expected a string to decode (got " .. type(s) .. ")"
  end
  local ok, v = pcall(cjson.decode, s)
  if not ok then return nil, "json: " .. tostring(v) end
  local tv = type(v)
  if tv == "table" then
    normalise(v)
  elseif tv == "number" then
    v = tointeger(v) or v
  end
  return v
end

---------------------------------------------------------------------------------------------
-- encode

local concat, sort, format = table.concat, table.sort, string.format

local ESCAPES = { ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
  ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }
for c = 0, 31 do
  local ch = string.char(c)
  ESCAPES[ch] = ESCAPES[ch] or format("\\u%04x", c)
end

-- "/" is deliberately left alone (cjson escapes it; JSON does not require it).
local function quote(s)
  return '"' .. s:gsub('[%z\1-\31"\\]', ESCAPES) .. '"'
end

-- Shortest of %.15g..%.17g that reads back as the same double: exact, and 0.1 stays "0.1".
local function float_text(v)
  for p = 15, 16 do
    local s = format("%." .. p .. "g", v)
    if tonumber(s) == v then return s end
  end
  return format("%.17g", v)
end

local function number_text(v)
  if mtype(v) == "integer" then return format("%d", v) end
  if v ~= v or v == math.huge or v == -math.huge then
    error("json: cannot encode NaN or infinity", 0)
  end
  local i = tointeger(v)
  if i then return format("%d", i) end
  return float_text(v)
end

-- Returns n when the keys of t are exactly 1..n (n >= 1), else nil.
local function list_length(t)
  local n, max = 0, 0
  for k in next, t do
    if mtype(k) ~= "integer" or k < 1 then return nil end
    n = n + 1
    if k > max then max = k end
  end
  if n == 0 or max ~= n then return nil end  -- n distinct keys in 1..n => exactly 1..n
  return n
end

local encode_value

local function encode_table(t, buf, stack)
  if stack[t] then error("json: cannot encode a cyclic table", 0) end
  stack[t] = true
  local n
  if getmetatable(t) == M.array_mt then
    -- Explicit array: positive integer keys only; holes become null.
    n = 0
    for k in next, t do
      if mtype(k) ~= "integer" or k < 1 then
        error("json: cannot encode key " .. tostring(k) .. " in a json.array", 0)
      end
      if k > n then n = k end
    end
  else
    n = list_length(t)
  end
  if n then
    buf[#buf + 1] = "["
    for i = 1, n do
      if i > 1 then buf[#buf + 1] = "," end
      local v = t[i]
      if v == nil then buf[#buf + 1] = "null" else encode_value(v, buf, stack) end
    end
    buf[#buf + 1] = "]"
  else
    local keys = {}
    for k in next, t do
      if type(k) ~= "string" then
        error("json: cannot encode key of type " .. type(k), 0)
      end
      keys[#keys + 1] = k
    end
    sort(keys)   -- deterministic output (signatures, fixtures, logs)
    buf[#buf + 1] = "{"
    for i, k in ipairs(keys) do
      if i > 1 then buf[#buf + 1] = "," end
      buf[#buf + 1] = quote(k)
      buf[#buf + 1] = ":"
      encode_value(t[k], buf, stack)
    end
    buf[#buf + 1] = "}"
  end
  stack[t] = nil   -- shared (non-cyclic) sub-tables are fine
end

function encode_value(v, buf, stack)
  local tv = type(v)
  if tv == "string" then
    buf[#buf + 1] = quote(v)
  elseif tv == "number" then
    buf[#buf + 1] = number_text(v)
  elseif tv == "boolean" then
    buf[#buf + 1] = v and "true" or "false"
  elseif tv == "table" then
    encode_table(v, buf, stack)
  elseif v == null then
    buf[#buf + 1] = "null"
  else
    error("json: cannot encode a " .. tv, 0)
  end
end

-- Raises (at the caller) on values JSON cannot hold; never returns nil.
function M.encode(value)
  local buf = {}
  local ok, err = pcall(encode_value, value, buf, {})
  if not ok then error(err, 2) end
  return concat(buf)
end

-- Exposed for byte-level helpers (e.g. hand-built fragments).
M.quote = quote
M.number_text = number_text

return M
