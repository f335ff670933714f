-- ims.url: the one place URLs are built, parsed and redacted, so that no caller-supplied id,
-- tag or query value can change the shape of a request and no secret reaches a log or error.
local json = require "ims.json"

local M = {}

local format, mtype, tointeger = string.format, math.type, math.tointeger

local function hex(c) return format("%%%02X", c:byte()) end

-- Everything but RFC 3986 "unreserved" is encoded: safe for path segments and query parts
-- alike ("/", "?", "#", "%", "=", "&", ":", spaces, CR/LF all become %XX).
function M.escape(s)
  if type(s) == "number" then
    s = tointeger(s) and format("%d", tointeger(s)) or tostring(s)
  elseif type(s) ~= "string" then
    error("ims.url.escape: expected a string (got " .. type(s) .. ")", 2)
  end
  return (s:gsub("[^A-Za-z0-9%-._~]", hex))
end

local function unescape(s)
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

-- "/v2/images/<id>/tags/<tag>": each segment escaped. "", "." and ".." are refused, since
-- they would survive escaping (dots are unreserved) and change which resource is addressed.
function M.path(...)
  local n = select("#", ...)
  local parts = {}
  for i = 1, n do
    local seg = select(i, ...)
    if mtype(seg) == "float" then
      seg = tointeger(seg)
      if not seg then error("ims: invalid path segment " .. tostring((select(i, ...))), 2) end
    end
    if mtype(seg) == "integer" then
      seg = format("%d", seg)
    elseif type(seg) ~= "string" then
      error("ims: invalid path segment (" .. type(seg) .. ")", 2)
    end
    if seg == "" or seg == "." or seg == ".." then
      error("ims: invalid path segment '" .. seg .. "'", 2)
    end
    parts[i] = M.escape(seg)
  end
  return "/" .. table.concat(parts, "/")
end

local function query_value(k, v)
  local tv = type(v)
  if tv == "string" then return M.escape(v) end
  if tv == "boolean" then return v and "true" or "false" end
  if tv == "number" then
    if v ~= v or v == math.huge or v == -math.huge then
      error("ims: query value '" .. k .. "' must be finite", 3)
    end
    return json.number_text(v) -- integral numbers as "%d", floats exactly
  end
  error("ims: query value '" .. k .. "' must be a string, number, boolean or a list of them (got "
    .. tv .. ")", 3)
end

-- "a=1&tag=x&tag=y" (no leading "?"): keys sorted so URLs (and signatures, logs, fixtures)
-- are deterministic; a list repeats its key, in order, as Glance expects for `tag`.
function M.query(t)
  if t == nil then return "" end
  if type(t) ~= "table" then error("ims: query must be a table (got " .. type(t) .. ")", 2) end
  local keys = {}
  for k in pairs(t) do
    if type(k) ~= "string" then error("ims: query keys must be strings (got " .. type(k) .. ")", 2) end
    keys[#keys + 1] = k
  end
  table.sort(keys)
  local out = {}
  for _, k in ipairs(keys) do
    local v, ek = t[k], M.escape(k)
    if type(v) == "table" then
      local n = 0
      for _ in pairs(v) do n = n + 1 end
      if n ~= #v then error("ims: query value '" .. k .. "' must be a list (keys 1..n)", 2) end
      for _, item in ipairs(v) do out[#out + 1] = ek .. "=" .. query_value(k, item) end
    else
      out[#out + 1] = ek .. "=" .. query_value(k, v)
    end
  end
  return table.concat(out, "&")
end

-- base ("http://h:9292" or "https://h/prefix/") + "/v2/images?x".
function M.join(base, path_and_query)
  base = base:gsub("/+$", "")
  if path_and_query == nil or path_and_query == "" then return base end
  if path_and_query:sub(1, 1) ~= "/" then path_and_query = "/" .. path_and_query end
  return base .. path_and_query
end

local redact   -- forward: parse messages quote the URL, minus any secret it holds

-- Returns {scheme, userinfo?, host, port?, path, query?, fragment?} or nil, msg.
-- IPv6 hosts keep their brackets ("[::1]"), as libcurl's CURLUPART_HOST does.
function M.parse(u)
  if type(u) ~= "string" then return nil, "url: expected a string (got " .. type(u) .. ")" end
  if u:find("[%s%c]") then return nil, "url: invalid character in '" .. redact(u) .. "'" end
  local scheme, rest = u:match("^([%a][%w+.-]*)://(.*)$")
  if not scheme then return nil, "url: missing scheme in '" .. redact(u) .. "'" end
  local authority, tail = rest:match("^([^/?#]*)(.*)$")
  local userinfo, hostport = authority:match("^(.*)@(.*)$")
  if not userinfo then hostport = authority end
  local host, port = hostport:match("^(%[[%x:.]+%])(.*)$")
  if not host then host, port = hostport:match("^([^:%[%]]*)(.*)$") end
  if not host or host == "" then return nil, "url: missing or invalid host in '" .. redact(u) .. "'" end
  if port ~= "" then
    local digits = port:match("^:(%d+)$")
    local p = digits and tonumber(digits)
    if not p or p > 65535 then return nil, "url: invalid port in '" .. redact(u) .. "'" end
    port = math.tointeger(p)
  else
    port = nil
  end
  local fragment
  tail, fragment = tail:match("^([^#]*)#?(.*)$")
  local path, query = tail:match("^([^?]*)%??(.*)$")
  if not tail:find("?", 1, true) then query = nil end
  if not u:find("#", 1, true) then fragment = nil end
  return { scheme = scheme:lower(), userinfo = userinfo, host = host, port = port,
    path = path, query = query, fragment = fragment }
end

-- "scheme://host[:port]", or nil, msg.
function M.origin(u)
  local p, msg = M.parse(u)
  if not p then return nil, msg end
  return p.scheme .. "://" .. p.host .. (p.port and (":" .. p.port) or "")
end

local DEFAULT_PORT = { http = 80, https = 443 }

-- Whether two URLs have the same origin (scheme, host, port; default ports filled in, case
-- ignored), the test every request passes before it may carry the client's credentials.
function M.same_origin(a, b)
  local pa, pb = M.parse(a), M.parse(b)
  if not (pa and pb) then return false end
  return pa.scheme == pb.scheme and pa.host:lower() == pb.host:lower()
    and (pa.port or DEFAULT_PORT[pa.scheme]) == (pb.port or DEFAULT_PORT[pb.scheme])
end

-- Glance `next`/`first` links are server-absolute paths ("/v2/images?marker=x"); behind a
-- prefix ("https://h/image") they must be re-rooted under it. Absolute links are used as is.
function M.resolve(endpoint, ref)
  if ref:match("^[%a][%w+.-]*://") then return ref end
  local p = assert(M.parse(endpoint))
  local prefix = p.path:gsub("/+$", ""):gsub("/v2$", "")
  if ref:sub(1, 1) ~= "/" then ref = "/" .. ref end
  return p.scheme .. "://" .. p.host .. (p.port and (":" .. p.port) or "") .. prefix .. ref
end

-- Query keys whose values are replaced by REDACTED (matched case-insensitively, as substrings).
local SECRET_WORDS = { "token", "signature", "password", "secret", "sig", "key", "credential",
  "auth" }
-- Known-harmless keys that merely contain a secret word.
local NOT_SECRET = { sort_key = true }

local function secret_key(k)
  k = unescape(k):lower()
  if NOT_SECRET[k] then return false end
  for _, w in ipairs(SECRET_WORDS) do
    if k:find(w, 1, true) then return true end
  end
  return false
end

-- Drops userinfo and masks secret-looking query values; anything else is kept verbatim.
-- Non-strings are returned unchanged (so it can be applied to optional fields blindly).
function redact(u)
  if type(u) ~= "string" then return u end
  local scheme, authority, tail = u:match("^([%a][%w+.-]*://)([^/?#]*)(.*)$")
  if scheme then
    authority = authority:gsub("^.*@", "")
    u = scheme .. authority .. tail
  end
  local head, query, frag = u:match("^([^?#]*)%?([^#]*)(.*)$")
  if not head then return u end
  query = query:gsub("[^&]+", function(pair)
    local k = pair:match("^([^=]*)=")
    if k and secret_key(k) then return k .. "=REDACTED" end
  end)
  return head .. "?" .. query .. frag
end
M.redact = redact

return M
