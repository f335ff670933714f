-- client.images: the Glance v2 image API (images, data, tags, members) and the methods of
-- image and member objects. Objects are plain tables of the server's fields; their methods
-- come from per-client metatables, so pairs(image) shows only what Glance returned.

--- The Glance v2 image API: `client.images`, and the methods of image and member objects.
-- Not required directly: every client has an `images` table (`Images`).
--
-- Objects are plain tables of the server's fields (`pairs(image)` shows only what Glance
-- returned: `id`, `name`, `status`, `size`, `checksum`, `os_hash_algo`, `os_hash_value`,
-- `tags`, `visibility`, ...); their methods come from a metatable (`Image`, `Member`).
-- @module ims.images
local core = require "ims.core"
local errors = require "ims.errors"
local json = require "ims.json"
local pager = require "ims.pager"
local patch = require "ims.patch"
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
local IMPORT_OPTS = { progress = "function", verify = "boolean", digests = "strings",
  cleanup = "boolean", reuse = "boolean" }
local MEMBER_STATUS = { "accepted", "rejected", "pending" }

-- (a plain comment first, so LDoc does not take the rule below for a doc comment)
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
  self.client:check_open(fname, 4)
  return images
end

-- Runs one request; the result is `true` (wrap == true) or wrap(self, decoded body).
local function send(self, req, wrap)
  local res, err = self.client:request(req)
  if not res then return nil, err end
  if wrap == true then return true end
  return wrap(self, res.json)
end

-- (a plain comment first, so LDoc does not take the rule below for a doc comment)
---------------------------------------------------------------------------------------------
-- images

--- The Glance v2 image API of a client: `client.images`. Call its functions with `:`
-- (`client.images:get(id)`); calling with `.` raises.
-- @type Images
-- @usage
-- local image = assert(client.images:create { name = "golden", disk_format = "qcow2",
--   container_format = "bare" })
-- assert(image:upload("golden.qcow2"))

-- The POST body for create(attrs), checked; misuse raises at the caller of the public
-- function that called this (create or import).
local function create_body(fname, attrs)
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

local function post_image(self, body)
  return send(self, { method = "POST", path = "/v2/images", json = body, expect = 201 }, wrap_image)
end

--- Creates an image record (`POST /v2/images`); the image is `queued` until data is uploaded.
-- @tparam table attrs Glance's attributes, with their types checked: `name`, `disk_format`,
-- `container_format`, `visibility` (`private`, `shared`, `community`, `public`), `protected`,
-- `tags` (list of strings), `min_ram`, `min_disk` (integers), `os_hidden`, `id`; any other key is
-- an extra property and must be a string (Glance stores them as strings), e.g. `__os_version`,
-- `hw_disk_bus`
-- @treturn[1] Image the new image
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...)
-- @raise on misuse: `attrs` not a table, an attribute of the wrong type
-- (`ims.images:create: attribute 'min_disk' must be an integer (got 1.5)`), a property that is
-- not a string, `ims.null` as a value, a closed client
-- @usage
-- local image, err = client.images:create { name = "web", disk_format = "raw",
--   container_format = "bare", tags = { "os=linux" }, hw_disk_bus = "scsi" }
-- if not image then error(tostring(err)) end
function Images:create(attrs)
  local fname = F "create"
  check(self, fname)
  local body = create_body(fname, attrs)
  return post_image(self, body)
end

--- Gets an image (`GET /v2/images/{id}`).
-- @param image the image: its id (string) or an image table (`id` or `image_id` field)
-- @treturn[1] Image the image
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...); a
-- missing image is kind `http`, `status` 404
-- @raise on misuse: an image that is neither a non-empty id nor a table with one, a closed client
-- @usage
-- local image, err = client.images:get(id)
-- if not image and err.status == 404 then print("gone") end
function Images:get(image)
  local fname = F "get"
  check(self, fname)
  local id = image_id(fname, image)
  return send(self, { path = url.path("v2", "images", id), expect = 200 }, wrap_image)
end

local function list_query(fname, query)
  query = validate.options(fname, query, LIST_QUERY, 4) -- raised at list's/each's caller
  local max = query.max
  if max and max < 0 then error(fname .. ": option 'max' must be >= 0", 3) end
  query.max = nil
  -- a few items need no full page (Glance's page size is at most 1000)
  if max and max > 0 and not query.limit then query.limit = math.min(max, 1000) end
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

--- Lists images (`GET /v2/images`), following `next` through every page.
-- @tparam[opt] table query filters: `name`, `status`, `visibility`, `owner`, `tag` (string or
-- list: all must match; a `key=value` tag is a plain tag), `member_status`, `sort`
-- (`"name:asc,created_at:desc"`), `sort_key`, `sort_dir`, `limit` (page size), `marker`,
-- `created_at`, `updated_at` (`gt:2026-01-01T00:00:00Z`), `size_min`, `size_max`, `disk_format`,
-- `container_format`, `id`, `min_ram`, `min_disk`, `protected`, `os_hidden`;
-- `properties = {hw_disk_bus = "scsi"}` for property filters; `max` stops after that many
-- images
-- @treturn[1] {Image,...} every image of every page (at most `max`)
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...)
-- @raise on misuse: an unknown option (`ims.images:list: unknown option 'limt'`), a wrong
-- type, `max` < 0, a `properties` key that is a filter of its own, a closed client
-- @usage
-- local imgs = assert(client.images:list { tag = "os=linux", sort = "created_at:desc", max = 20 })
-- for _, img in ipairs(imgs) do print(img.id, img.name) end
function Images:list(query)
  local fname = F "list"
  check(self, fname)
  local q, max = list_query(fname, query)
  if max == 0 then return {} end
  return pager.list(pager.glance(self.client, "/v2/images", q, "images"),
    function(t) return wrap_image(self, t) end, max)
end

--- Iterates over images lazily, one page at a time (`GET /v2/images`, following `next`).
-- @tparam[opt] table query the filters of `Images:list` (with `max`)
-- @treturn function an iterator for a generic `for`, giving one `Image` per step
-- @raise on misuse, at the call (as `Images:list`); a page that fails raises its
-- `ims.errors.Error` from inside the loop (a `for` has no other way to report it): wrap the loop
-- in `pcall` to get it as a value
-- @usage
-- for img in client.images:each { tag = "os=linux", sort = "created_at:desc" } do
--   print(img.id, img.name, img.size)
-- end
function Images:each(query)
  local fname = F "each"
  check(self, fname)
  local q, max = list_query(fname, query)
  return pager.each(pager.glance(self.client, "/v2/images", q, "images"),
    function(t) return wrap_image(self, t) end, max)
end

--- Updates an image (`PATCH /v2/images/{id}`, JSON patch v2.1).
-- @param image the image: its id (string) or an image table (`id` or `image_id` field)
-- @tparam table changes `{name = "x", min_ram = 1024, os_distro = ims.null}` (core attributes
-- are replaced, properties added or replaced, `ims.null` removes), or explicit operations
-- `{{op = "replace", path = "/name", value = "x"}, {op = "remove", path = "/os_distro"}}`
-- @treturn[1] Image the updated image
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...)
-- @raise on misuse: `changes` not a table or empty, a core attribute of the wrong type, an
-- operation without `op` (`add`, `replace`, `remove`) or a `path` starting with `/`, an image that
-- is neither a non-empty id nor a table with one, a closed client
-- @usage
-- local img = assert(client.images:update(id, { name = "golden-v2", os_distro = ims.null }))
function Images:update(image, changes)
  local fname = F "update"
  check(self, fname)
  local id = image_id(fname, image)
  local ops = patch.ops(fname, image, changes, { known = ATTRS, arrays = { tags = true },
    string_properties = true })
  return send(self, { method = "PATCH", path = url.path("v2", "images", id),
    json = json.array(ops), content_type = PATCH_TYPE, expect = 200 }, wrap_image)
end

--- Deletes an image (`DELETE /v2/images/{id}`).
-- @param image the image: its id (string) or an image table (`id` or `image_id` field)
-- @tparam[opt] table opts `{ignore_missing = true}`: a missing image (404) is not an error
-- @treturn[1] boolean `true`; `false` when the image was missing and `ignore_missing` is set
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...)
-- @raise on misuse: an unknown option, an image that is neither a non-empty id nor a table with
-- one, a closed client
-- @usage
-- assert(client.images:delete(id, { ignore_missing = true }))
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
        error(fname .. ": unknown digest '" .. n .. "' (md5, sha1, sha256, sha512)", 3)
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
    self.client:sleep(0.2)
  end
end

--- Uploads an image's data (`PUT /v2/images/{id}/file`), streaming in constant memory.
-- With `verify` (the default) the strongest digest Glance recorded (`os_hash_algo` /
-- `os_hash_value`, else the MD5 `checksum`) is computed while streaming and compared. A file
-- upload is retried from its start; a 409 left by a broken earlier attempt is settled. Reader
-- bodies are never retried.
-- @param image the image: its id (string) or an image table (`id` or `image_id` field)
-- @param source a file path, `{path = "..."}`, or
-- `{reader = function() return chunk_or_nil end, size = n?}` (chunked transfer without `size`)
-- @tparam[opt] table opts `progress = function(done_bytes, total_bytes)` (grows, ends at the
-- total); `verify = false` to skip the check; `digests = {"md5", "sha256", ...}` computed in
-- the same pass
-- @treturn[1] Image the image, refreshed (`status`, `size`, `checksum`, `os_hash_value`)
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed: kind `checksum` on a digest mismatch (`code` = the
-- digest name), else `http`, `transport`, `timeout`, `auth`
-- @raise on misuse: a `source` of no known shape, both or neither of `path`/`reader`, `size`
-- without `reader`, an unknown option or digest name, an image that is neither a non-empty id nor
-- a table with one, a closed client; an error raised by `reader` or `progress` is raised again
-- @usage
-- local img = assert(client.images:upload(image, "debian-12.qcow2", {
--   progress = function(done, total) io.write(("\r%d / %d"):format(done, total)) end,
-- }))
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

-- An active image of ours named attrs.name whose bytes are the file's (size, then sha512 as
-- Glance recorded it), for import{reuse = true}; nil when there is none.
local function reusable(self, attrs, path)
  local f = io.open(path, "rb")
  local size = f and f:seek("end")
  if f then f:close() end
  if not size then return nil end
  -- ours: owned by the client's project; without a project_id, private (only owners see those)
  local pid = self.client.project_id
  local list, err = self:list { name = attrs.name, status = "active", owner = pid,
    visibility = not pid and "private" or nil }
  if not list then return nil, err end
  local sha512
  for _, img in ipairs(list) do
    if img.size == size and img.os_hash_algo == "sha512" and (attrs.disk_format == nil
        or img.disk_format == attrs.disk_format) then
      sha512 = sha512 or assert(core.file_digests(path, { "sha512" })).sha512
      if img.os_hash_value == sha512 then return img end
    end
  end
end

--- Creates an image and uploads its data in one call (`POST /v2/images`, then
-- `PUT /v2/images/{id}/file`), verified like `upload`. If the upload fails, the image this call
-- created is deleted (`cleanup`), so a failed run leaves no `queued` image behind; with `reuse`,
-- a rerun finds the image an earlier run made instead of making another.
-- @param source a file path, `{path = "..."}`, or `{reader = function() ... end, size = n?}`
-- @tparam table attrs as for `create` (`name`, `disk_format`, `container_format`, ...)
-- @tparam[opt] table opts `progress`, `verify`, `digests` as for `upload`; `cleanup = false`
-- keeps the image when the upload fails; `reuse = true` (file sources): return an active image
-- of the client's project with the same `name` (and `disk_format`, when given) whose recorded
-- sha512 is the file's, instead of creating one
-- @treturn[1] Image the image, `active`, refreshed
-- @treturn[1] nil
-- @treturn[1] string `"created"`, or `"reused"`
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (as `create` or `upload`), with `err.image_id` and
-- `err.cleanup`: `"deleted"`, `"kept"` (`cleanup = false`), or `"failed"` (then
-- `err.cleanup_error` says why)
-- @raise on misuse, before any request: as `create` and `upload`, an unknown option, `reuse` with
-- a reader source; an error raised by `reader` or `progress` is raised again, after the cleanup
-- @usage
-- local img, err, how = client.images:import("golden.qcow2", { name = "golden",
--   disk_format = "qcow2", container_format = "bare" }, { reuse = true })
-- if not img then error(tostring(err)) end
-- print(img.id, how)
function Images:import(source, attrs, opts)
  local fname = F "import"
  check(self, fname)
  local body = parse_source(fname, source)
  local post = create_body(fname, attrs)
  opts = validate.options(fname, opts, IMPORT_OPTS)
  if opts.reuse and not body.body_file then
    error(fname .. ": option 'reuse' needs a file source (a reader cannot be hashed first)", 2)
  end
  digest_list(fname, opts.digests) -- names checked now, not after the image exists
  if opts.reuse and attrs.name then
    local found, ferr = reusable(self, attrs, body.body_file)
    if ferr then return nil, ferr end
    if found then return found, nil, "reused" end
  end
  local img, err = post_image(self, post)
  if not img then return nil, err end
  local ok, up, uerr = pcall(self.upload, self, img,
    body.body_file or { reader = body.body_reader, size = body.body_size },
    { progress = opts.progress, verify = opts.verify, digests = opts.digests })
  if ok and up then return up, nil, "created" end
  local cleanup, cerr = "kept", nil
  if opts.cleanup ~= false then
    local deleted, derr = self:delete(img, { ignore_missing = true })
    cleanup, cerr = deleted ~= nil and "deleted" or "failed", derr
  end
  if not ok then error(up, 0) end -- the caller's reader or progress raised
  uerr.image_id, uerr.cleanup, uerr.cleanup_error = img.id, cleanup, cerr
  return nil, uerr
end

-- download(image, dest, opts): dest is a path or function(chunk). Returns
-- {bytes =, <digest> = hex, ...} with every digest computed.

--- Downloads an image's data (`GET /v2/images/{id}/file`), streaming in constant memory.
-- With `verify` (the default) the strongest digest Glance recorded is computed while streaming
-- and compared, and the size must match. A download to a file cut short continues with `Range`
-- on retry (the digest still covers the whole file).
-- @param image the image: its id (string) or an image table (`id` or `image_id` field)
-- @param dest a file path (truncated first, unless `resume`), or `function(chunk)` called
-- with each piece (raise, or return `nil, msg`, to stop the transfer)
-- @tparam[opt] table opts `progress = function(done_bytes, total_bytes)`; `verify = false`;
-- `digests = {"md5", ...}` computed in the same pass; `resume = true` continues a partial file
-- with `Range` (a complete file is verified without transferring anything)
-- @treturn[1] table `{bytes = n, sha512 = hex, md5 = hex?, ...}`: every digest computed
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed: kind `checksum` on a digest or size mismatch, kind
-- `http` with `status` 204 when the image has no data yet, else `http`, `transport`,
-- `timeout`, `auth`
-- @raise on misuse: `dest` neither a path nor a function, `resume` without a path, an unknown
-- option or digest name, an image that is neither a non-empty id nor a table with one, a closed
-- client; an error raised by `dest` or `progress` is raised again
-- @usage
-- local result, err = client.images:download(image.id, "copy.qcow2", { resume = true })
-- if not result then error(tostring(err)) end
-- print(result.bytes, result.sha512)
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
  digest_list(fname, opts.digests) -- names checked before any request
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
  -- a verified download always reports sha512 (api.md's shape), even for an image whose
  -- only recorded digest is the md5 checksum
  local digests = digest_list(fname, opts.digests, verify and { "sha512", algo } or nil)
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
  if resume then -- progress starts at the partial file's size
    local f = io.open(dest, "rb")
    offset = f and f:seek("end") or 0
    if f then f:close() end
    -- a partial file longer than the image cannot be a prefix of it: start over
    if size and offset > size then resume, offset = false, 0 end
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

--- Adds a tag to an image (`PUT /v2/images/{id}/tags/{tag}`).
-- @param image the image: its id (string) or an image table (`id` or `image_id` field)
-- @tparam string tag the tag, 1 to 255 bytes
-- @treturn[1] boolean `true`
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...)
-- @raise on misuse: a tag that is not a string of 1 to 255 bytes, an image that is neither a
-- non-empty id nor a table with one, a closed client
-- @usage assert(client.images:update_tag(id, "os=linux"))
function Images:update_tag(image, tag)
  local fname = F "update_tag"
  check(self, fname)
  local id = image_id(fname, image)
  tag = tag_arg(fname, tag)
  return send(self, { method = "PUT",
    path = url.path("v2", "images", id, "tags", tag), expect = 204 }, true)
end

--- Removes a tag from an image (`DELETE /v2/images/{id}/tags/{tag}`).
-- @param image the image: its id (string) or an image table (`id` or `image_id` field)
-- @tparam string tag the tag, 1 to 255 bytes
-- @treturn[1] boolean `true`
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...)
-- @raise on misuse: a tag that is not a string of 1 to 255 bytes, an image that is neither a
-- non-empty id nor a table with one, a closed client
-- @usage assert(client.images:delete_tag(id, "beta"))
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

--- Shares an image with a project (`POST /v2/images/{id}/members`); the member is `pending`
-- until that project accepts it.
-- @param image the image: its id (string) or an image table (`id` or `image_id` field)
-- @tparam string project_id the project to share with
-- @treturn[1] Member the member
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...)
-- @raise on misuse: `project_id` not a non-empty string, an image that is neither a non-empty id
-- nor a table with one, a closed client
-- @usage local member = assert(client.images:create_member(id, other_project))
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

--- Lists the members of an image (`GET /v2/images/{id}/members`).
-- @param image the image: its id (string) or an image table (`id` or `image_id` field)
-- @treturn[1] {Member,...} the members
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...)
-- @raise on misuse: an image that is neither a non-empty id nor a table with one, a closed client
-- @usage
-- for _, m in ipairs(assert(client.images:list_members(id))) do print(m.member_id, m.status) end
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

--- Gets one member of an image (`GET /v2/images/{id}/members/{member_id}`).
-- @param image the image: its id (string) or an image table (`id` or `image_id` field)
-- @param member the member: a project id (string) or a member table (`member_id` field)
-- @treturn[1] Member the member
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...)
-- @raise on misuse: a member that is neither a non-empty id nor a table with one, an image that is
-- neither a non-empty id nor a table with one, a closed client
-- @usage local m = assert(client.images:get_member(id, other_project)); print(m.status)
function Images:get_member(image, member)
  local fname = F "get_member"
  check(self, fname)
  local id = image_id(fname, image)
  local mid = member_id(fname, member)
  return send(self, { path = url.path("v2", "images", id, "members", mid),
    expect = 200 }, wrap_member)
end

--- Sets a member's status (`PUT /v2/images/{id}/members/{member_id}`); the member project
-- does this to accept or reject a shared image.
-- @param image the image: its id (string) or an image table (`id` or `image_id` field)
-- @param member the member: a project id (string) or a member table (`member_id` field)
-- @tparam string status `"accepted"`, `"rejected"` or `"pending"`
-- @treturn[1] Member the member
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...)
-- @raise on misuse: any other status, a member that is neither a non-empty id nor a table
-- with one, an image that is neither a non-empty id nor a table with one, a closed client
-- @usage assert(client.images:update_member(id, my_project, "accepted"))
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

--- Stops sharing an image with a project (`DELETE /v2/images/{id}/members/{member_id}`).
-- @param image the image: its id (string) or an image table (`id` or `image_id` field)
-- @param member the member: a project id (string) or a member table (`member_id` field)
-- @treturn[1] boolean `true`
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...)
-- @raise on misuse: a member that is neither a non-empty id nor a table with one, an image that is
-- neither a non-empty id nor a table with one, a closed client
-- @usage assert(client.images:delete_member(id, other_project))
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
    -- level 2: accept/reject tail-call this, so its caller is the user's line
    error(fname .. ": the client has no 'project_id' (ims.new{project_id = ...})", 2)
  end
  local project, err = self.client:project() -- a project_name scope learns it from the token
  if not project then return nil, err end
  return self:update_member(id, project, status)
end

--- Rejects an image shared with the client's project: `update_member` with the client's
-- `project_id` and `"rejected"`.
-- @function Images:reject
-- @param image the image: its id (string) or an image table (`id` or `image_id` field)
-- @treturn[1] Member the client's member record
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...)
-- @raise on misuse: as `Images:accept`
-- @usage assert(other_client.images:reject(id))

--- Accepts an image shared with the client's project: `update_member` with the client's
-- `project_id` and `"accepted"`.
-- @param image the image: its id (string) or an image table (`id` or `image_id` field)
-- @treturn[1] Member the client's member record
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...)
-- @raise on misuse: the client has no `project_id` (and no password `auth` to learn it from),
-- an image that is neither a non-empty id nor a table with one, a closed client
-- @usage assert(other_client.images:accept(id))
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

--- An image: a plain table of Glance's fields (`id`, `name`, `status`, `size`, `checksum`,
-- `os_hash_algo`, `os_hash_value`, `tags`, `visibility`, `min_disk`, properties, ...) with
-- these methods, each the `Images` call of the same name with the image as first argument.
-- `refresh`, `update` and `upload` update the object in place and return it. Images come from
-- `Images:create`, `get`, `list`, `each`, `update`, `upload`, `CloudImages:list` and `Job:image`.
-- @type Image
-- @usage
-- local image = assert(client.images:get(id))
-- assert(image:update { name = "golden-v2" })   -- image.name is now "golden-v2"
-- assert(image:download("copy.qcow2"))

--- Reloads the image's fields from the server (`Images:get`), in place.
-- @function Image:refresh
-- @treturn[1] Image the same object, refreshed
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...)
-- @raise on misuse: a closed client
-- @usage repeat assert(image:refresh()) until image.status ~= "saving"
function image_methods:refresh()
  local fresh, err = images_of(self):get(self)
  if not fresh then return nil, err end
  return refill(self, fresh)
end

--- Updates the image (`Images:update`) and refills the object with the answer.
-- @function Image:update
-- @tparam table changes as for `Images:update`
-- @treturn[1] Image the same object, updated
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...)
-- @raise on misuse: as `Images:update`
-- @usage assert(image:update { min_ram = 1024, os_distro = ims.null })
function image_methods:update(changes)
  local fresh, err = images_of(self):update(self, changes)
  if not fresh then return nil, err end
  return refill(self, fresh)
end

--- Uploads the image's data (`Images:upload`) and refills the object (`status`, `size`,
-- `checksum`, `os_hash_value`).
-- @function Image:upload
-- @param source a file path, `{path =}` or `{reader =, size =?}`, as for `Images:upload`
-- @tparam[opt] table opts `progress`, `verify`, `digests`, as for `Images:upload`
-- @treturn[1] Image the same object, now `active`
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `checksum` on a digest mismatch)
-- @raise on misuse: as `Images:upload`
-- @usage assert(image:upload("disk.qcow2")); print(image.status, image.size)
function image_methods:upload(source, opts)
  local fresh, err = images_of(self):upload(self, source, opts)
  if not fresh then return nil, err end
  return refill(self, fresh)
end

--- Deletes the image (`Images:delete`).
-- @function Image:delete
-- @tparam[opt] table opts `{ignore_missing = true}`
-- @treturn[1] boolean `true`; `false` when missing and `ignore_missing` is set
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...)
-- @raise on misuse: as `Images:delete`
-- @usage assert(image:delete())

--- Downloads the image's data (`Images:download`); the object's recorded digest is used
-- for verification without another request when it has one.
-- @function Image:download
-- @param dest a file path or `function(chunk)`
-- @tparam[opt] table opts `progress`, `verify`, `digests`, `resume`, as for `Images:download`
-- @treturn[1] table `{bytes = n, sha512 = hex, ...}`
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `checksum` on a digest or size mismatch)
-- @raise on misuse: as `Images:download`
-- @usage local r = assert(image:download("copy.qcow2", { resume = true })); print(r.bytes)

--- Adds a tag (`Images:update_tag`).
-- @function Image:update_tag
-- @tparam string tag the tag, 1 to 255 bytes
-- @treturn[1] boolean `true`
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...)
-- @raise on misuse: as `Images:update_tag`
-- @usage assert(image:update_tag("os=linux"))

--- Removes a tag (`Images:delete_tag`).
-- @function Image:delete_tag
-- @tparam string tag the tag
-- @treturn[1] boolean `true`
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...)
-- @raise on misuse: as `Images:delete_tag`
-- @usage assert(image:delete_tag("beta"))

--- Shares the image with a project (`Images:create_member`).
-- @function Image:create_member
-- @tparam string project_id the project
-- @treturn[1] Member the member (`pending`)
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...)
-- @raise on misuse: as `Images:create_member`
-- @usage local member = assert(image:create_member(other_project))

--- Lists the image's members (`Images:list_members`).
-- @function Image:list_members
-- @treturn[1] {Member,...} the members
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...)
-- @raise on misuse: a closed client
-- @usage for _, m in ipairs(assert(image:list_members())) do print(m.member_id, m.status) end

--- Gets one member (`Images:get_member`).
-- @function Image:get_member
-- @param member a project id or a member table
-- @treturn[1] Member the member
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...)
-- @raise on misuse: as `Images:get_member`
-- @usage print(assert(image:get_member(other_project)).status)

--- Sets a member's status (`Images:update_member`).
-- @function Image:update_member
-- @param member a project id or a member table
-- @tparam string status `"accepted"`, `"rejected"` or `"pending"`
-- @treturn[1] Member the member
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...)
-- @raise on misuse: as `Images:update_member`
-- @usage assert(image:update_member(my_project, "accepted"))

--- Stops sharing with a project (`Images:delete_member`).
-- @function Image:delete_member
-- @param member a project id or a member table
-- @treturn[1] boolean `true`
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...)
-- @raise on misuse: as `Images:delete_member`
-- @usage assert(image:delete_member(other_project))

--- Accepts the image for the client's project (`Images:accept`).
-- @function Image:accept
-- @treturn[1] Member the client's member record
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...)
-- @raise on misuse: as `Images:accept`
-- @usage assert(shared_image:accept())

--- Rejects the image for the client's project (`Images:reject`).
-- @function Image:reject
-- @treturn[1] Member the client's member record
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...)
-- @raise on misuse: as `Images:accept`
-- @usage assert(shared_image:reject())
for _, name in ipairs { "delete", "download", "update_tag", "delete_tag", "create_member",
  "list_members", "get_member", "update_member", "delete_member", "accept", "reject" } do
  image_methods[name] = function(self, ...) return images_of(self)[name](images_of(self), self, ...) end
end

--- A member: a plain table of Glance's fields (`member_id` = the project, `image_id`,
-- `status`, `created_at`, `updated_at`, `schema`) with these methods. Members come from
-- `Images:create_member`, `list_members`, `get_member`, `update_member`, `accept`, `reject`.
-- @type Member
-- @usage
-- local member = assert(image:create_member(other_project))
-- assert(other_client.images:get_member(image.id, member.member_id)):accept()

--- Accepts the shared image for this member (`Images:update_member` with `"accepted"`); the
-- client must be the member project's.
-- @function Member:accept
-- @treturn[1] Member the updated member (a new table)
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...)
-- @raise on misuse: a closed client
-- @usage assert(member:accept())
function member_methods:accept()
  return images_of(self):update_member(self.image_id, self.member_id, "accepted")
end

--- Rejects the shared image for this member (`Images:update_member` with `"rejected"`).
-- @function Member:reject
-- @treturn[1] Member the updated member (a new table)
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...)
-- @raise on misuse: a closed client
-- @usage assert(member:reject())
function member_methods:reject()
  return images_of(self):update_member(self.image_id, self.member_id, "rejected")
end

--- Reloads the member's fields (`Images:get_member`), in place.
-- @function Member:refresh
-- @treturn[1] Member the same object, refreshed
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...)
-- @raise on misuse: a closed client
-- @usage assert(member:refresh()); print(member.status)
function member_methods:refresh()
  local fresh, err = images_of(self):get_member(self.image_id, self.member_id)
  if not fresh then return nil, err end
  return refill(self, fresh)
end

--- Removes this member: the image is no longer shared with its project
-- (`Images:delete_member`).
-- @function Member:delete
-- @treturn[1] boolean `true`
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...)
-- @raise on misuse: a closed client
-- @usage assert(member:delete())
function member_methods:delete()
  return images_of(self):delete_member(self.image_id, self.member_id)
end

M.Images = Images
return M
