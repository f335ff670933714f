-- client.images: the Glance v2 image API (images, data, tags, members) and the methods of
-- image and member objects. Objects are plain tables of the server's fields; their methods
-- come from per-client metatables, so pairs(image) shows only what Glance returned.
local core = require "ims.core"
local errors = require "ims.errors"
local json = require "ims.json"
local pager = require "ims.pager"
local url = require "ims.url"
local validate = require "ims.validate"

local M = {}

local Images = {}
Images.__index = Images
Images.__name = "ims.Images"

local PATCH_TYPE = "application/openstack-images-v2.1-json-patch"

-- Glance core attributes and their types; anything else is an extra property (a string).
local ATTRS = {
  name = "string", id = "string", visibility = { "private", "shared", "community", "public" },
  protected = "boolean", container_format = "string", disk_format = "string",
  tags = "strings", min_ram = "integer", min_disk = "integer", os_hidden = "boolean",
}

local LIST_QUERY = {
  name = "string", status = "string", visibility = "string", owner = "string",
  tag = "string|strings", member_status = { "pending", "accepted", "rejected", "all" },
  sort = "string", sort_key = "string", sort_dir = { "asc", "desc" }, limit = "integer",
  marker = "string", created_at = "string", updated_at = "string", size_min = "integer",
  size_max = "integer", disk_format = "string", container_format = "string", id = "string",
  min_ram = "integer", min_disk = "integer", protected = "boolean", os_hidden = "boolean",
  properties = "table", max = "integer",
}

local UPLOAD_OPTS = { progress = "function", verify = "boolean", digests = "strings" }
local DOWNLOAD_OPTS = { progress = "function", verify = "boolean", digests = "strings",
  resume = "boolean" }
local DELETE_OPTS = { ignore_missing = "boolean" }
local MEMBER_STATUS = { "accepted", "rejected", "pending" }

---------------------------------------------------------------------------------------------
-- objects

local image_methods, member_methods = {}, {}

function M.new(client)
  local self = setmetatable({ client = client }, Images)
  self._image_mt = { __index = image_methods, __name = "ims.Image", images = self }
  self._member_mt = { __index = member_methods, __name = "ims.Member", images = self }
  return self
end

local function wrap_image(self, t) return setmetatable(t, self._image_mt) end
-- For client.cloudimages: IMS images are the same objects, with the same methods.
function Images:_wrap(t) return wrap_image(self, t) end
local function wrap_member(self, t) return setmetatable(t, self._member_mt) end

local function image_id(fname, v) return validate.id(fname, "image", v, { "id", "image_id" }) end

-- fname for messages: "ims.images:get"
local function F(name) return "ims.images:" .. name end

local function check(self, fname, images)
  if getmetatable(self) ~= Images then
    error(fname .. ": call it with ':' (client.images:" .. fname:match("[^:]+$") .. "(...))", 3)
  end
  self.client:check_open(fname)
  return images
end

-- Runs one request; the result is `true` (wrap == true) or wrap(self, decoded body).
local function send(self, req, wrap)
  local res, err = self.client:request(req)
  if not res then return nil, err end
  if wrap == true then return true end
  return wrap(self, res.json)
end

---------------------------------------------------------------------------------------------
-- images

function Images:create(attrs)
  local fname = F "create"
  check(self, fname)
  validate.arg(fname, "attrs", attrs, "table")
  local body = {}
  for k, v in pairs(attrs) do
    if type(k) ~= "string" then error(fname .. ": attribute names must be strings", 2) end
    local spec = ATTRS[k]
    if spec then
      body[k] = validate.arg(fname, k, v, spec)
    elseif v == json.null then
      error(fname .. ": attribute '" .. k .. "' cannot be null on create", 2)
    elseif type(v) ~= "string" then
      error(fname .. ": property '" .. k .. "' must be a string (Glance stores extra properties "
        .. "as strings; got " .. type(v) .. ")", 2)
    else
      body[k] = v
    end
  end
  if body.tags then body.tags = json.array(body.tags) end
  return send(self, { method = "POST", path = "/v2/images", json = body,
    expect = 201 }, wrap_image)
end

function Images:get(image)
  local fname = F "get"
  check(self, fname)
  local id = image_id(fname, image)
  return send(self, { path = url.path("v2", "images", id), expect = 200 }, wrap_image)
end

local function list_query(fname, query)
  query = validate.options(fname, query, LIST_QUERY)
  local max = query.max
  if max and max < 0 then error(fname .. ": option 'max' must be >= 0", 3) end
  query.max = nil
  local props = query.properties
  query.properties = nil
  for k, v in pairs(props or {}) do
    if type(k) ~= "string" or (type(v) ~= "string" and type(v) ~= "number"
        and type(v) ~= "boolean") then
      error(fname .. ": option 'properties' must map property names to values", 3)
    end
    if LIST_QUERY[k] then
      error(fname .. ": '" .. k .. "' is a filter of its own, not a property", 3)
    end
    query[k] = v
  end
  return query, max
end

function Images:list(query)
  local fname = F "list"
  check(self, fname)
  local q, max = list_query(fname, query)
  if max == 0 then return {} end
  return pager.list(pager.glance(self.client, "/v2/images", q, "images"),
    function(t) return wrap_image(self, t) end, max)
end

function Images:each(query)
  local fname = F "each"
  check(self, fname)
  local q, max = list_query(fname, query)
  return pager.each(pager.glance(self.client, "/v2/images", q, "images"),
    function(t) return wrap_image(self, t) end, max)
end

-- `changes`: {name = "x", os_distro = ims.null} (set / remove) or an array of JSON-patch ops.
local function patch_ops(fname, image, changes)
  if changes[1] ~= nil then
    local ops = {}
    for i, op in ipairs(changes) do
      local where = "changes[" .. i .. "]"
      if type(op) ~= "table" then error(fname .. ": " .. where .. " must be a table", 3) end
      validate.options(fname .. ": " .. where, op, { op = { type = { "add", "replace", "remove" },
        required = true }, path = { type = "string", required = true }, value = "any" }, 4)
      if op.path:sub(1, 1) ~= "/" then
        error(fname .. ": " .. where .. ".path must start with '/'", 3)
      end
      ops[i] = { op = op.op, path = op.path, value = op.value }
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
  local ops = {}
  for _, k in ipairs(keys) do
    local v = changes[k]
    local path = "/" .. k:gsub("~", "~0"):gsub("/", "~1")
    if v == json.null then
      ops[#ops + 1] = { op = "remove", path = path }
    else
      if ATTRS[k] then v = validate.arg(fname, k, v, ATTRS[k], 4) end
      if k == "tags" then v = json.array(v) end
      -- core attributes always exist (replace); a property may not yet (add sets either way)
      local present = ATTRS[k] or (type(image) == "table" and image[k] ~= nil)
      ops[#ops + 1] = { op = present and "replace" or "add", path = path, value = v }
    end
  end
  return ops
end

function Images:update(image, changes)
  local fname = F "update"
  check(self, fname)
  local id = image_id(fname, image)
  validate.arg(fname, "changes", changes, "table")
  local ops = patch_ops(fname, image, changes)
  return send(self, { method = "PATCH", path = url.path("v2", "images", id),
    json = json.array(ops), content_type = PATCH_TYPE, expect = 200 }, wrap_image)
end

function Images:delete(image, opts)
  local fname = F "delete"
  check(self, fname)
  local id = image_id(fname, image)
  opts = validate.options(fname, opts, DELETE_OPTS)
  local res, err = self.client:request { method = "DELETE", path = url.path("v2", "images", id),
    expect = 204 }
  if res then return true end
  if opts.ignore_missing and err.status == 404 then return false end
  return nil, err
end

---------------------------------------------------------------------------------------------
-- image data

local function digest_list(fname, names, extra)
  local out, seen = {}, {}
  for _, list in ipairs { names or {}, extra or {} } do
    for _, n in ipairs(list) do
      local canon = n:lower():gsub("-", "")
      if canon ~= "md5" and canon ~= "sha1" and canon ~= "sha256" and canon ~= "sha512" then
        error(fname .. ": unknown digest '" .. n .. "' (md5, sha1, sha256, sha512)", 4)
      end
      if not seen[canon] then
        seen[canon] = true
        out[#out + 1] = canon
      end
    end
  end
  return out
end

-- The strongest digest Glance recorded for an image: (algorithm, hex) or nil.
local function recorded_digest(img)
  if type(img.os_hash_algo) == "string" and type(img.os_hash_value) == "string" then
    return img.os_hash_algo:lower():gsub("-", ""), img.os_hash_value:lower()
  end
  if type(img.checksum) == "string" then return "md5", img.checksum:lower() end
end

local function checksum_error(method, u, algo, want, got, extra)
  return errors.new { kind = "checksum", method = method, url = u, code = algo,
    message = string.format("%s mismatch: server recorded %s, data has %s%s", algo, want, got,
      extra or ""), retryable = false }
end

local function parse_source(fname, source)
  if type(source) == "string" then return { body_file = source } end
  if type(source) ~= "table" then
    error(fname .. ": argument 'source' must be a file path or a table with 'path' or 'reader' "
      .. "(got " .. type(source) .. ")", 3)
  end
  local s = validate.options(fname .. ": source", source,
    { path = "string", reader = "function", size = "integer" }, 4)
  if (s.path ~= nil) == (s.reader ~= nil) then
    error(fname .. ": argument 'source' needs exactly one of 'path', 'reader'", 3)
  end
  if s.size and not s.reader then error(fname .. ": source 'size' goes with 'reader'", 3) end
  if s.size and s.size < 0 then error(fname .. ": source 'size' must be >= 0", 3) end
  return s.path and { body_file = s.path } or { body_reader = s.reader, body_size = s.size }
end

-- A 409 to a file upload: an earlier attempt whose connection broke may still be settling at
-- the server ("saving"), or may even have stored everything. Wait for the image to leave
-- "saving"; upload again if it went back to "queued"; if it is active, the file's digests
-- (computed from the file, as they would have been sent) decide whether it holds our bytes.
-- Returns what request() would: res / nil, err, plus the digests of the bytes the image holds.
local function settle_upload(self, id, req, digests)
  local first_err
  local deadline = core.now() + 30
  while true do
    local img, gerr = self:get(id)
    if not img then return nil, gerr end
    if img.status == "queued" then
      local res, err = self.client:request(req)
      if res or err.status ~= 409 or first_err then return res, err end
      first_err = err
    elseif img.status ~= "saving" or core.now() > deadline then
      if img.status ~= "active" then return nil, first_err or errors.new { kind = "http",
        status = 409, method = "PUT", url = self.client:url(req.path),
        message = "the image is " .. tostring(img.status) .. ", not queued" } end
      local d = core.file_digests(req.body_file, digests)
      local algo, want = recorded_digest(img)
      if d and algo and d[algo] == want and d.bytes == img.size then return { uploaded = 0 }, nil, d end
      return nil, first_err or errors.new { kind = "http", status = 409, method = "PUT",
        url = self.client:url(req.path), message = "the image already holds other data" }
    end
    core.sleep(0.2)
  end
end

function Images:upload(image, source, opts)
  local fname = F "upload"
  check(self, fname)
  local id = image_id(fname, image)
  local body = parse_source(fname, source)
  opts = validate.options(fname, opts, UPLOAD_OPTS)
  local verify = opts.verify ~= false
  -- Glance records sha512 (its default multihash) and md5 (`checksum`); verify against the
  -- first unless the caller asked for md5, so a verified upload hashes once.
  local digests = digest_list(fname, opts.digests, verify and { "sha512" } or nil)
  local progress
  if opts.progress then
    local user = opts.progress
    progress = function(_, _, ul_now, ul_total) user(ul_now, ul_total) end
  end
  local path = url.path("v2", "images", id, "file")
  local req = { method = "PUT", path = path,
    content_type = "application/octet-stream", body_file = body.body_file,
    body_reader = body.body_reader, body_size = body.body_size, upload_digests = digests,
    progress = progress, expect = 204, transfer = true }
  local res, err = self.client:request(req)
  local sent
  if not res and err.status == 409 and body.body_file then
    res, err, sent = settle_upload(self, id, req, digests)
  end
  if not res then return nil, err end
  sent = sent or res.upload_digests
  local img, gerr = self:get(id)
  if not img then return nil, gerr end
  if verify then
    local algo, want = recorded_digest(img)
    local got = algo and sent[algo]
    if not got and algo == "sha512" and img.checksum then -- the md5 checksum then
      algo, want, got = "md5", img.checksum, sent.md5
    end
    if got and got ~= want then
      return nil, checksum_error("PUT", self.client:url(path), algo, want, got)
    end
  end
  return img
end

-- download(image, dest, opts): dest is a path or function(chunk). Returns
-- {bytes =, <digest> = hex, ...} with every digest computed.
function Images:download(image, dest, opts)
  local fname = F "download"
  check(self, fname)
  local id = image_id(fname, image)
  if type(dest) ~= "string" and type(dest) ~= "function" then
    error(fname .. ": argument 'dest' must be a file path or a function (got " .. type(dest)
      .. ")", 2)
  end
  opts = validate.options(fname, opts, DOWNLOAD_OPTS)
  if opts.resume and type(dest) ~= "string" then
    error(fname .. ": option 'resume' needs a file path as 'dest'", 2)
  end
  local verify = opts.verify ~= false
  local meta = type(image) == "table" and image or nil
  local algo, want
  if verify then
    if not (meta and recorded_digest(meta)) then
      local err
      meta, err = self:get(id)
      if not meta then return nil, err end
    end
    algo, want = recorded_digest(meta)
  end
  local digests = digest_list(fname, opts.digests, algo and { algo } or nil)
  local size = meta and math.tointeger(meta.size)
  local offset = 0
  local progress
  if opts.progress then
    local user = opts.progress
    progress = function(dl_now, dl_total)
      user(offset + dl_now, dl_total > 0 and offset + dl_total or (size or offset + dl_now))
    end
  end
  local resume = opts.resume
  if resume and size then -- a partial file longer than the image cannot be a prefix of it
    local f = io.open(dest, "rb")
    local have = f and f:seek("end")
    if f then f:close() end
    if have and have > size then resume = false end
  end
  if resume then
    local f = io.open(dest, "rb")
    if f then
      offset = f:seek("end")
      f:close()
    end
  end
  local path = url.path("v2", "images", id, "file")
  local res, err = self.client:request { path = path,
    sink_file = type(dest) == "string" and dest or nil,
    sink = type(dest) == "function" and dest or nil, append = resume or nil,
    download_digests = digests, progress = progress, expect = { 200, 206, 416, 204 },
    transfer = true }
  if not res then return nil, err end
  local u = self.client:url(path)
  if res.status == 204 then
    return nil, errors.new { kind = "http", status = 204, method = "GET", url = u,
      message = "the image has no data yet", retryable = false }
  end
  local bytes = (res.resumed_from or 0) + res.downloaded
  if res.status == 416 then -- the partial file may already be complete
    if not (resume and size and offset == size) then
      return nil, errors.from_response(res, "GET", u)
    end
    bytes = offset
    if progress then progress(0, 0) end
  end
  local result = { bytes = bytes }
  for name, hex in pairs(res.download_digests or {}) do result[name] = hex end
  if size and bytes ~= size then
    return nil, errors.new { kind = "checksum", method = "GET", url = u, code = "size",
      message = string.format("size mismatch: image has %d bytes, received %d", size, bytes) }
  end
  if verify and algo and result[algo] ~= want then
    return nil, checksum_error("GET", u, algo, want, result[algo])
  end
  return result
end

---------------------------------------------------------------------------------------------
-- tags

local function tag_arg(fname, tag)
  validate.arg(fname, "tag", tag, "string", 4)
  if #tag == 0 or #tag > 255 then error(fname .. ": argument 'tag' must be 1 to 255 bytes", 3) end
  return tag
end

function Images:update_tag(image, tag)
  local fname = F "update_tag"
  check(self, fname)
  local id = image_id(fname, image)
  tag = tag_arg(fname, tag)
  return send(self, { method = "PUT",
    path = url.path("v2", "images", id, "tags", tag), expect = 204 }, true)
end

function Images:delete_tag(image, tag)
  local fname = F "delete_tag"
  check(self, fname)
  local id = image_id(fname, image)
  tag = tag_arg(fname, tag)
  return send(self, { method = "DELETE",
    path = url.path("v2", "images", id, "tags", tag), expect = 204 }, true)
end

---------------------------------------------------------------------------------------------
-- members

local function member_id(fname, v)
  return validate.id(fname, "member", v, { "member_id" })
end

function Images:create_member(image, project_id)
  local fname = F "create_member"
  check(self, fname)
  local id = image_id(fname, image)
  validate.arg(fname, "project_id", project_id, "string")
  if project_id == "" then error(fname .. ": argument 'project_id' must not be empty", 2) end
  return send(self, { method = "POST",
    path = url.path("v2", "images", id, "members"), json = { member = project_id },
    expect = 200 }, wrap_member)
end

function Images:list_members(image)
  local fname = F "list_members"
  check(self, fname)
  local id = image_id(fname, image)
  local res, err = self.client:request { path = url.path("v2", "images", id, "members"),
    expect = 200 }
  if not res then return nil, err end
  local out = {}
  for i, m in ipairs(res.json.members or {}) do out[i] = wrap_member(self, m) end
  return out
end

function Images:get_member(image, member)
  local fname = F "get_member"
  check(self, fname)
  local id = image_id(fname, image)
  local mid = member_id(fname, member)
  return send(self, { path = url.path("v2", "images", id, "members", mid),
    expect = 200 }, wrap_member)
end

function Images:update_member(image, member, status)
  local fname = F "update_member"
  check(self, fname)
  local id = image_id(fname, image)
  local mid = member_id(fname, member)
  validate.arg(fname, "status", status, MEMBER_STATUS)
  return send(self, { method = "PUT",
    path = url.path("v2", "images", id, "members", mid), json = { status = status },
    expect = 200 }, wrap_member)
end

function Images:delete_member(image, member)
  local fname = F "delete_member"
  check(self, fname)
  local id = image_id(fname, image)
  local mid = member_id(fname, member)
  return send(self, { method = "DELETE",
    path = url.path("v2", "images", id, "members", mid), expect = 204 }, true)
end

local function own_status(self, fname, image, status)
  check(self, fname)
  local id = image_id(fname, image)
  if not self.client.project_id and not (self.client._auth and self.client._auth.kind == "password") then
    error(fname .. ": the client has no 'project_id' (ims.new{project_id = ...})", 3)
  end
  local project, err = self.client:project() -- a project_name scope learns it from the token
  if not project then return nil, err end
  return self:update_member(id, project, status)
end

function Images:accept(image) return own_status(self, F "accept", image, "accepted") end
function Images:reject(image) return own_status(self, F "reject", image, "rejected") end

---------------------------------------------------------------------------------------------
-- object methods (image:..., member:...)

local function images_of(obj) return getmetatable(obj).images end

-- Replaces the fields of obj with those of fresh (same object, methods kept).
local function refill(obj, fresh)
  for k in pairs(obj) do obj[k] = nil end
  for k, v in pairs(fresh) do obj[k] = v end
  return obj
end

function image_methods:refresh()
  local fresh, err = images_of(self):get(self)
  if not fresh then return nil, err end
  return refill(self, fresh)
end

function image_methods:update(changes)
  local fresh, err = images_of(self):update(self, changes)
  if not fresh then return nil, err end
  return refill(self, fresh)
end

function image_methods:upload(source, opts)
  local fresh, err = images_of(self):upload(self, source, opts)
  if not fresh then return nil, err end
  return refill(self, fresh)
end

for _, name in ipairs { "delete", "download", "update_tag", "delete_tag", "create_member",
  "list_members", "get_member", "update_member", "delete_member", "accept", "reject" } do
  image_methods[name] = function(self, ...) return images_of(self)[name](images_of(self), self, ...) end
end

function member_methods:accept()
  return images_of(self):update_member(self.image_id, self.member_id, "accepted")
end

function member_methods:reject()
  return images_of(self):update_member(self.image_id, self.member_id, "rejected")
end

function member_methods:refresh()
  local fresh, err = images_of(self):get_member(self.image_id, self.member_id)
  if not fresh then return nil, err end
  return refill(self, fresh)
end

function member_methods:delete()
  return images_of(self):delete_member(self.image_id, self.member_id)
end

M.Images = Images
return M
