-- ims.errors: the ims.Error object returned (as `nil, err`) by every runtime failure.
-- One constructor per source (HTTP response, curl failure) so that every error carries the same
-- fields, a redacted URL, and a message in the server's own words, whatever shape the server
-- used for its body (IMS, API Gateway, Keystone, Glance JSON, or HTML/text).

--- `ims.Error`: what every runtime failure returns, as `nil, err`.
-- Not required directly: `ims.Error` is the metatable and `ims.is_error(x)` tests for it. The
-- IMS (`{"error": {"code", "message"}}`), API gateway
-- (`{"error_code", "error_msg", "request_id"}`), Keystone
-- (`{"error": {"code": 401, "title", "message"}}`) and Glance
-- (`{"message", "code": "404 Not Found", "title"}`, or HTML) error bodies are all understood.
-- @module ims.errors
local hints = require "ims.hints"
local json = require "ims.json"
local policy = require "ims.policy"
local url = require "ims.url"
local xml = require "ims.xml"

local M = {}

local BODY_MAX = 4096

local Error = { __name = "ims.Error" }
M.Error = Error

local function nonempty(s) return type(s) == "string" and s ~= "" and s or nil end

--- An error: a table with these fields (absent when they do not apply) and `ims.Error` as
-- metatable. Misuse is not reported this way: it raises a string naming the function.
-- @type Error
-- @field kind `transport`, `http`, `timeout`, `checksum`, `decode`, `auth` (a 401, or no
-- token), `job_failed`, `file` (a journal file that cannot be written), `origin` (the server
-- sent a link to another origin, which is never followed: code `CROSS_ORIGIN`)
-- @field status HTTP status, when there was a response
-- @field code `IMG.0027`, `APIGW.0301`, a curl error name (`COULDNT_CONNECT`), the digest name
-- for `checksum`
-- @field message the server's words, cleaned of HTML
-- @field method the request's method
-- @field url the request's URL (credentials and secret query values redacted)
-- @field request_id `X-Request-Id` / `X-Openstack-Request-Id` / the body's `request_id`
-- @field retryable whether repeating the request may succeed (429, 5xx, connection failures)
-- @field body the first 4 KiB of the response body
-- @field job for job errors (`Job:wait`, `Jobs:wait_all`): the job concerned (`ims.jobs.Job`)
-- @field failed for `Jobs:wait_all`: the indexes of the jobs that failed (or, for `timeout`,
-- still run)
-- @field hint one line on what to do, for common IMS, API gateway and curl codes (`IMG.0057`:
-- "IMS could not read the object: check bucket:object, ..."); not part of `tostring(err)`
-- @usage
-- local image, err = client.images:get(id)
-- if not image then
--   if err.kind == "http" and err.status == 404 then print("no such image")
--   elseif err.retryable then print("try again later: " .. tostring(err))
--   else error(tostring(err)) end
-- end
-- "ims: GET https://x/v2/images/abc: 404 IMG.0027 Image not found (request 7c1)"

--- `tostring(err)`: one readable line. `ims: METHOD URL: [kind] status code message (request id)`;
-- the kind is shown unless it is `http`, `transport`, or `auth` with a status (a status or a
-- curl name speaks for itself): `ims: GET …: 401 APIGW.0301 …`, `ims: GET …: timeout
-- OPERATION_TIMEDOUT …`.
-- @function Error:__tostring
-- @treturn string e.g.
-- `ims: GET https://…/v2/images/abc: 404 IMG.0027 Image not found (request 7c1…)`
-- @raise never
-- @usage
-- local ok, err = client.images:get("missing")
-- print(tostring(err)) --> ims: GET https://…/v2/images/missing: 404 ... (request req-…)
-- What a terminal may safely show of a value from the wire: control characters (C0, DEL, C1:
-- ESC, BEL, CSI, ...) and bytes that are not UTF-8 become \xNN, so printing an error cannot
-- retitle, clear or recolour a terminal. err.body stays raw.
local function printable(s)
  s = tostring(s)
  if utf8.len(s) and not s:find("[%c\127]") and not s:find("\xC2[\x80-\x9F]") then return s end
  local out, i, n = {}, 1, #s
  while i <= n do
    local b = s:byte(i)
    local len = b < 0x80 and 1 or b >= 0xC2 and b <= 0xDF and 2 or b >= 0xE0 and b <= 0xEF and 3
      or b >= 0xF0 and b <= 0xF4 and 4 or 0
    local ch = len > 0 and s:sub(i, i + len - 1)
    local ok, cp = false, nil
    if ch and #ch == len and utf8.len(ch) == 1 then ok, cp = pcall(utf8.codepoint, ch) end
    if ok and not (cp < 0x20 or (cp >= 0x7F and cp < 0xA0)) then
      out[#out + 1] = ch
      i = i + len
    else
      out[#out + 1] = string.format("\\x%02X", b)
      i = i + 1
    end
  end
  return table.concat(out)
end
M.printable = printable

function Error.__tostring(e)
  local parts = {}
  local function add(v)
    if v ~= nil and v ~= "" then parts[#parts + 1] = printable(v) end
  end
  -- a status or a curl name speaks for itself (an auth failure is a 401 like any other);
  -- other failures say what kind they are
  if e.kind ~= "http" and e.kind ~= "transport" and not (e.kind == "auth" and e.status) then
    add(e.kind)
  end
  add(e.status)
  add(e.code)
  add(e.message)
  if #parts == 0 then add(e.kind or "error") end
  local rest = table.concat(parts, " ")
  if e.request_id then rest = rest .. " (request " .. printable(e.request_id) .. ")" end
  local where = {}
  if nonempty(e.method) then where[#where + 1] = printable(e.method) end
  if nonempty(e.url) then where[#where + 1] = printable(e.url) end
  if #where > 0 then return "ims: " .. table.concat(where, " ") .. ": " .. rest end
  return "ims: " .. rest
end

-- Copies `fields` (any extra field is kept), redacts the URL, caps the body, makes `retryable`
-- a boolean. Never stores headers: they may carry X-Auth-Token / X-Subject-Token.
function M.new(fields)
  local e = {}
  for k, v in pairs(fields or {}) do e[k] = v end
  e.headers = nil
  e.url = url.redact(e.url)
  if type(e.body) == "string" and #e.body > BODY_MAX then e.body = e.body:sub(1, BODY_MAX) end
  e.retryable = e.retryable == true
  if e.hint == nil then e.hint = hints(e) end
  return setmetatable(e, Error)
end

function M.is_error(x)
  return getmetatable(x) == Error
end

---------------------------------------------------------------------------------------------
-- HTTP responses


local REASONS = {
  [400] = "Bad Request", [401] = "Unauthorized", [403] = "Forbidden", [404] = "Not Found",
  [405] = "Method Not Allowed", [406] = "Not Acceptable", [408] = "Request Timeout",
  [409] = "Conflict", [410] = "Gone", [411] = "Length Required", [412] = "Precondition Failed",
  [413] = "Request Entity Too Large", [414] = "Request-URI Too Long",
  [415] = "Unsupported Media Type", [416] = "Requested Range Not Satisfiable",
  [422] = "Unprocessable Entity", [429] = "Too Many Requests",
  [431] = "Request Header Fields Too Large", [500] = "Internal Server Error",
  [501] = "Not Implemented", [502] = "Bad Gateway", [503] = "Service Unavailable",
  [504] = "Gateway Timeout",
}

local ENTITIES = { amp = "&", lt = "<", gt = ">", quot = '"', apos = "'", nbsp = " " }

local function decode_entity(name)
  local n = name:match("^#(%d+)$")
  if n then
    n = tonumber(n)
    return n < 0x110000 and utf8.char(n) or nil
  end
  n = name:match("^#[xX](%x+)$")
  if n then
    n = tonumber(n, 16)
    return n < 0x110000 and utf8.char(n) or nil
  end
  return ENTITIES[name]
end

-- Tags out (a tag starts "<" + letter, "/" or "!", so "size < 10" survives), entities decoded,
-- whitespace collapsed: webob puts "<br /><br />\n\n\n" even into its JSON messages.
local function clean(s)
  s = s:gsub("<[%a/!][^>]*>", " ")
  s = s:gsub("&(#?%w+);", decode_entity)
  s = s:gsub("%s+", " ")
  return (s:gsub("^ ", ""):gsub(" $", ""))
end

-- "head" -> "[Hh][Ee][Aa][Dd]": Lua patterns have no case-insensitive flag.
local function ci(word)
  return (word:gsub("%a", function(c) return "[" .. c:upper() .. c:lower() .. "]" end))
end

-- An HTML/text error page: <head> (its <title> repeats the status), scripts and styles dropped.
local function clean_html(s)
  for _, tag in ipairs { "head", "script", "style" } do
    s = s:gsub("<" .. ci(tag) .. "[%s>].-</" .. ci(tag) .. "%s*>", " ")
  end
  return clean(s)
end

-- An error code is a string like "IMG.0027" / "APIGW.0301"; Glance's "404 Not Found" and
-- Keystone's integer 401 only repeat the status.
local function error_code(c)
  if type(c) ~= "string" or c == "" or c:match("^%d+$") or c:match("^%d%d%d%s") then return nil end
  return c
end

local function text(v) return type(v) == "string" and v ~= "" and v or nil end

-- Finds {code, message, request_id} in a decoded body, python-v3 style: error_code/error_msg,
-- errorCode/errorMsg, code/message, else a nested object ({"error": {...}}, {"itemNotFound": {...}}).
local function parse_json(t, depth)
  if type(t) ~= "table" or depth > 3 then return nil end
  local msg = text(t.error_msg) or text(t.errorMsg) or text(t.message)
  local code = error_code(t.error_code) or error_code(t.errorCode) or error_code(t.code)
  if msg or code then
    return { message = msg or text(t.title), code = code, request_id = text(t.request_id) }
  end
  if type(t.error) == "table" then return parse_json(t.error, depth + 1) end
  local only, count = nil, 0
  for _, v in pairs(t) do
    count = count + 1
    only = v
  end
  if count == 1 and type(only) == "table" then return parse_json(only, depth + 1) end
  return nil
end

-- "401 Unauthorized This server could not..." -> "This server could not...".
local function drop_status_line(msg, status, reason)
  if math.type(status) ~= "integer" then return msg end
  local rest = msg:match("^" .. status .. "%s+(.*)$")
  if not rest then return msg end
  local phrases = { reason or false, REASONS[status] or false }
  for i = 1, 2 do
    local phrase = phrases[i]
    if phrase and rest:sub(1, #phrase):lower() == phrase:lower() then
      local after = rest:sub(#phrase + 1):gsub("^[%s:.-]+", "")
      return after ~= "" and after or nil
    end
  end
  return msg
end


-- res = {status=, reason=, headers={lower-case names}, body=string|nil}
function M.from_response(res, method, u)
  local status = res.status
  local headers = res.headers or {}
  local body = type(res.body) == "string" and res.body or nil
  local reason = nonempty(res.reason) and clean(res.reason) or nil
  local default_msg = reason or REASONS[status] or (status and "HTTP " .. tostring(status) or nil)
  local code, msg, body_rid
  if body and body:find("^%s*[{%[]") then
    local t = json.decode(body)
    local found = parse_json(t, 0)
    if found then
      code, body_rid = found.code, found.request_id
      msg = found.message and clean(found.message)
    end
  end
  if body and body:find("^%s*<[?%w]") and body:find("<Error>", 1, true) then
    -- OBS / S3: <Error><Code>NoSuchKey</Code><Message>...</Message><RequestId>...</RequestId>
    local head = body:sub(1, 65536)
    code = error_code(xml.text(head, "Code"))
    msg = xml.text(head, "Message")
    msg = msg and clean(msg) or nil
    body_rid = text(xml.text(head, "RequestId"))
  end
  if not msg and not code and body and body:find("%S") then
    local s = body:sub(1, 65536)   -- an error page, not a download: enough to find the words
    msg = drop_status_line(clean_html(s), status, reason)
    if msg and #msg > 1024 then msg = msg:sub(1, 1024) .. "..." end
  end
  if msg == "" then msg = nil end
  return M.new {
    kind = "http", status = status, code = code, message = msg or default_msg,
    method = method, url = u,
    request_id = nonempty(headers["x-request-id"]) or nonempty(headers["x-openstack-request-id"])
      or nonempty(headers["x-compute-request-id"]) or nonempty(headers["x-obs-request-id"])
      or nonempty(headers["x-amz-request-id"]) or body_rid,
    -- IMG.0060 (IMS flow control) refused the task: the same call can succeed later
    retryable = policy.RETRY_STATUS[status] == true or code == "IMG.0060",
    retry_after = policy.retry_after(headers), -- seconds, from either form
    body = body,
  }
end

-- A link from the server (a listing's `next`) to another origin than the endpoint's: other
-- host, other port, or https downgraded to http. Never followed: it would carry credentials.
function M.cross_origin(method, link, endpoint)
  return M.new { kind = "origin", code = "CROSS_ORIGIN", method = method, url = link,
    message = "refusing to follow a link to another origin than " .. tostring(url.origin(endpoint))
      .. ": " .. tostring(url.redact(link)) }
end

-- (a plain comment first, so LDoc does not take the rule below for a doc comment)
---------------------------------------------------------------------------------------------
-- Transport (curl) failures

-- terr = {code = "COULDNT_CONNECT", curl_code = 7, message = "..."} from ims.core
function M.from_transport(terr, method, u)
  terr = type(terr) == "table" and terr or { message = terr ~= nil and tostring(terr) or nil }
  local code = terr.code
  return M.new {
    kind = code == "OPERATION_TIMEDOUT" and "timeout" or code == "FILE" and "file" or "transport",
    code = code, curl_code = terr.curl_code, message = terr.message,
    method = method, url = u,
    retryable = policy.TRANSIENT[code] == true,
  }
end

return M
