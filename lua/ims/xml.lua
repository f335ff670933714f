-- ims.xml: the little XML that OBS (S3-style) answers and takes. Responses are flat records
-- (<Contents><Key>..</Key>..</Contents>, <Part>..</Part>), so reading means finding an
-- element's text or its repeated blocks; no DTDs, no attributes, no namespaces needed.
-- Bodies come from the wire: every function returns nil (never raises) on what it cannot read,
-- and the caller's size cap (ims.core max_body) bounds the work.
local M = {}

local ENTITIES = { amp = "&", lt = "<", gt = ">", quot = '"', apos = "'" }

local function utf8_char(n)
  if n and n >= 0 and n <= 0x10FFFF and not (n >= 0xD800 and n <= 0xDFFF) then
    return utf8.char(n)
  end
  return "\u{FFFD}"
end

-- Entity and character references decoded; CDATA kept as is.
function M.unescape(s)
  if not s:find("&", 1, true) then return s end
  return (s:gsub("&(#?x?)(%w+);", function(kind, name)
    if kind == "" then return ENTITIES[name] or ("&" .. name .. ";") end
    if kind == "#" then return utf8_char(tonumber(name, 10)) end
    if kind == "#x" then return utf8_char(tonumber(name, 16)) end
  end))
end

function M.escape(s)
  return (tostring(s):gsub("[&<>\"']", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;",
    ['"'] = "&quot;", ["'"] = "&apos;" }))
end

-- The content of the first <tag>...</tag> (or <tag/>: "") in s, from `init`, raw.
local function raw(s, tag, init)
  local open_at, open_end, attrs, empty = s:find("<" .. tag .. "([^>]-)(/?)>", init)
  while open_at do
    -- <Key> must not match <KeyCount>: what follows the name is a space, '>' or '/'
    if attrs == "" or attrs:find("^%s") then
      if empty == "/" then return "", open_end end
      local close_at, close_end = s:find("</" .. tag .. "%s*>", open_end + 1)
      if not close_at then return nil end
      return s:sub(open_end + 1, close_at - 1), close_end
    end
    open_at, open_end, attrs, empty = s:find("<" .. tag .. "([^>]-)(/?)>", open_end + 1)
  end
  return nil
end

-- The text of the first element `tag` in s (entities decoded), or nil.
function M.text(s, tag)
  if type(s) ~= "string" then return nil end
  local v = raw(s, tag, 1)
  if v == nil then return nil end
  local cdata = v:match("^<!%[CDATA%[(.-)%]%]>$")
  return cdata or M.unescape(v)
end

-- Every <tag>...</tag> block of s, as strings (to read with M.text), in order.
function M.blocks(s, tag)
  local out = {}
  if type(s) ~= "string" then return out end
  local at = 1
  while true do
    local v, stop = raw(s, tag, at)
    if v == nil then return out end
    out[#out + 1] = v
    at = stop + 1
  end
end

return M
