-- ims.verb: API calls as data. A row says what a call is (method, path template, arguments
-- and their kinds, JSON body, expected statuses, what the answer becomes); `verb.make` turns
-- it into the method. Every piece of a call's boilerplate lives here once: the ':' guard, the
-- closed-client check, argument checks naming the function and the field, the path escaped
-- segment by segment, the request, and the answer's shape checked before it is wrapped (a
-- server answering HTML, `null` or `{}` gets `nil, err` of kind `decode`, never a Lua error).
local errors = require "ims.errors"
local url = require "ims.url"
local validate = require "ims.validate"

local M = {}

-- A service: `prefix` names its functions in messages ("ims.images"), `class` is the table
-- its methods hang on, `how` is how a user reaches it ("client.images").
function M.service(prefix, class, how)
  return { prefix = prefix, class = class, how = how }
end

function M.fname(svc, name) return svc.prefix .. ":" .. name end

-- The guard every method starts with: called with ':' on its service, client open. `level`:
-- the user's call as seen from here.
function M.check(svc, self, fname, level)
  level = level or 3
  if getmetatable(self) ~= svc.class then
    error(fname .. ": call it with ':' (" .. svc.how .. ":" .. fname:match("[^:]+$") .. "(...))", level)
  end
  self.client:check_open(fname, level + 1)
end

-- The guard of an object's method (an image, a member, a job): `self` must carry the class's
-- metatable, whose `__index` is `methods`; returns that metatable. `fname` is
-- "ims.image:refresh"; the message shows the call as "image:refresh(...)".
function M.object(self, methods, fname, level)
  local mt = getmetatable(self)
  if type(mt) ~= "table" or mt.__index ~= methods then
    error(fname .. ": call it with ':' on an object the client made (" .. fname:match("[^.]+$")
      .. "(...))", (level or 2) + 1)
  end
  return mt
end

-- Argument kinds: kind(fname, name, value) -> the value to use, raising at the user's line
-- (seen from a kind function: 1 itself, 2 the method, 3 the user; a tail call to validate.*
-- leaves the kind's frame out, so it is 3 there too).
M.kinds = {
  image = function(fname, _, v) return validate.id(fname, "image", v, { "id", "image_id" }, 3) end,
  member = function(fname, _, v) return validate.id(fname, "member", v, { "member_id" }, 3) end,
  job = function(fname, _, v) return validate.id(fname, "job", v, { "job_id", "id" }, 3) end,
  tag = function(fname, name, v)
    validate.arg(fname, name, v, "string", 4)
    if #v == 0 or #v > 255 then error(fname .. ": argument '" .. name .. "' must be 1 to 255 bytes", 3) end
    if v == "." or v == ".." then
      error(fname .. ": argument '" .. name .. "' cannot be '" .. v .. "' (no URL can name it)", 3)
    end
    return v
  end,
  project_id = function(fname, name, v)
    validate.arg(fname, name, v, "string", 4)
    if v == "" or v == "." or v == ".." then
      error(fname .. ": argument '" .. name .. "' must be a project id (got '" .. v .. "')", 3)
    end
    return v
  end,
  status = function(fname, name, v)
    return validate.arg(fname, name, v, { "accepted", "rejected", "pending" }, 3)
  end,
  table = function(fname, name, v) return validate.arg(fname, name, v, "table", 3) end,
  any = function(_, _, v) return v end,
}

local function decode_error(res, method, u, what)
  return errors.new { kind = "decode", status = res.status, method = method, url = u,
    message = "the response is not " .. what, body = type(res.body) == "string" and res.body or nil,
    request_id = res.headers and (res.headers["x-request-id"] or res.headers["x-openstack-request-id"]) }
end
M.decode_error = decode_error

-- What an answer becomes, its shape checked first: (self, json) -> value, or nil and the
-- shape it should have had.
M.wraps = {
  ["true"] = function() return true end,
  image = function(self, j)
    if type(j) ~= "table" or not validate.wire_id(j.id) then
      return nil, "an image (an object with an id)"
    end
    return self.client.images:_wrap(j)
  end,
  member = function(self, j)
    if type(j) ~= "table" or type(j.member_id) ~= "string" then
      return nil, "a member (an object with member_id)"
    end
    return self.client.images:_wrap_member(j)
  end,
  members = function(self, j)
    local list = type(j) == "table" and j.members
    if type(list) ~= "table" then return nil, "a member list (an object with members)" end
    local out = {}
    for i, m in ipairs(list) do
      if type(m) ~= "table" then return nil, "a member list (members[" .. i .. "] is not an object)" end
      out[i] = self.client.images:_wrap_member(m)
    end
    return out
  end,
  job = function(self, j)
    local id = type(j) == "table" and validate.wire_id(j.job_id)
    if not id then return nil, "a job (an object with a job_id)" end
    return self.client.jobs:wrap { job_id = id }
  end,
}

-- Runs a request spec for a method and wraps the answer (wrap: a M.wraps name or a function
-- (self, json, res) -> value | nil, what).
function M.send(self, spec, wrap)
  local res, err = self.client:request(spec)
  if not res then return nil, err end
  local w = type(wrap) == "function" and wrap or M.wraps[wrap or "true"]
  local v, what = w(self, res.json, res)
  if v == nil then
    return nil, decode_error(res, spec.method or "GET", spec.url or self.client:url(spec.path, spec.query),
      what or "what was expected")
  end
  return v
end

-- The names of a path template's placeholders, in order: {"v2", "images", "{image}"} -> image.
local function placeholders(path)
  local out = {}
  for _, seg in ipairs(path) do
    local name = seg:match("^{([%w_]+)}$")
    if name and name ~= "project" then out[#out + 1] = name end
  end
  return out
end

-- Makes the method for `row` of service `svc`:
--   name, method (GET), path (template; "{project}" is the client's project id, not an
--   argument), args (positional names; default: the other placeholders), kinds ({arg = kind
--   name}; default: the arg's own name), check(fname, a, level) (more misuse checks), json(a)
--   (the body), query(a), content_type, expect (200, or a list), wrap, on_error(err, a) (may
--   set err.hint for what this call's failures mean).
function M.make(svc, row)
  local fname = M.fname(svc, row.name)
  -- path: a template, or function(a) -> template (e.g. a /v2.1 twin); args must then be given
  local template = type(row.path) == "function" and row.path or function() return row.path end
  local args = row.args or placeholders(row.path)
  local needs_project = false
  if type(row.path) == "table" then
    for _, seg in ipairs(row.path) do needs_project = needs_project or seg == "{project}" end
  end
  local kinds = {}
  for _, a in ipairs(args) do
    local k = (row.kinds or {})[a] or a
    kinds[a] = M.kinds[k] or error("ims.verb: no argument kind '" .. k .. "' for " .. fname)
  end
  return function(self, ...)
    M.check(svc, self, fname, 3)
    local a = {}
    for i, name in ipairs(args) do a[name] = kinds[name](fname, name, (select(i, ...))) end
    if row.check then row.check(fname, a, 3) end
    if needs_project then
      local p, err = self.client:project_for(fname, 3)
      if not p then return nil, err end
      a.project = p
    end
    local segs = {}
    for i, seg in ipairs(template(a)) do
      local p = seg:match("^{([%w_]+)}$")
      segs[i] = p and a[p] or seg
    end
    local spec = { method = row.method or "GET", path = url.path(table.unpack(segs)),
      json = row.json and row.json(a) or nil, query = row.query and row.query(a) or nil,
      content_type = row.content_type, expect = row.expect or 200 }
    if not row.on_error then return M.send(self, spec, row.wrap) end
    local v, err = M.send(self, spec, row.wrap)
    if v == nil and err then row.on_error(err, a) end
    return v, err
  end
end

return M
