--- OBS object storage: `client.obs`. Huawei's Glance upload is deprecated and limited to files
-- under 2 GB, so real images go to an OBS bucket and IMS imports them from there. Requests go
-- to the client's `obs_endpoint` (path-style: `{obs_endpoint}/{bucket}/{key}`), signed with
-- OBS's own scheme (`Authorization: OBS AK:signature`, in the C core) with the client's AK/SK,
-- or with temporary AK/SK that a password client obtains from IAM. Uploads: `put`
-- (`ims.obs.upload`: one PUT, or multipart with parallel parts and a checkpoint).
-- @module ims.obs
local errors = require "ims.errors"
local partfile = require "ims.partfile"
local upload = require "ims.obs.upload"
local url = require "ims.url"
local validate = require "ims.validate"
local xml = require "ims.xml"

local M = {}

--- The OBS API of a client (`client.obs`).
-- @type Obs
local Obs = {}
Obs.__index = Obs
Obs.__name = "ims.Obs"

-- The service for `client`, made in `self` when given (client.lua's first-use stub).
function M.new(client, self)
  self = setmetatable(self or {}, Obs)
  self.client = client
  return self
end
M.Obs = Obs

local function F(name) return "ims.obs:" .. name end

-- level: the user's call as seen from the public function (2)
local function check(self, fname)
  if getmetatable(self) ~= Obs then
    error(fname .. ": call it with ':' (client.obs:" .. fname:match("[^:]+$") .. "(...))", 3)
  end
  self.client:check_open(fname, 4)
  if not self.client.obs_endpoint then
    error(fname .. ": the client has no 'obs_endpoint' (ims.new{obs_endpoint = ..., or region = ...})", 3)
  end
end

-- OBS bucket names: 3-63 of a-z 0-9 . -, starting and ending with a letter or digit.
local function check_bucket(fname, bucket)
  validate.arg(fname, "bucket", bucket, "string", 4)
  if #bucket < 3 or #bucket > 63 or not bucket:match("^[a-z0-9][a-z0-9.-]*[a-z0-9]$") then
    error(fname .. ": argument 'bucket' must be an OBS bucket name (3-63 of a-z, 0-9, '.', '-'; got '"
      .. bucket:sub(1, 70):gsub("%c", "?") .. "')", 3)
  end
end

local function check_key(fname, key)
  validate.arg(fname, "key", key, "path", 4)
  if key == "" or #key > 1024 then
    error(fname .. ": argument 'key' must be 1 to 1024 bytes (got " .. #key .. ")", 3)
  end
end
M.check_bucket, M.check_key = check_bucket, check_key

-- A key in a path: every byte but the unreserved ones and '/' as %XX.
local function escape_key(key)
  return (key:gsub("[^A-Za-z0-9%-._~/]", function(c) return string.format("%%%02X", c:byte()) end))
end

--- Internal: the URL of a bucket (key nil) or an object, with a raw query string.
-- @local
function Obs:url(bucket, key, query)
  return self.client.obs_endpoint .. "/" .. bucket .. (key and ("/" .. escape_key(key)) or "")
    .. (query and query ~= "" and ("?" .. query) or "")
end

--- Internal: one OBS request (spec as Client:request, plus bucket, key, query as a string).
-- @local
function Obs:request(spec)
  local u = self:url(spec.bucket, spec.key, spec.query)
  local req = { obs = true, url = u }
  for k, v in pairs(spec) do
    if k ~= "bucket" and k ~= "key" and k ~= "query" then req[k] = v end
  end
  return self.client:request(req)
end

local function unquote(etag)
  return type(etag) == "string" and (etag:match('^"(.*)"$') or etag) or nil
end
M.unquote = unquote

local function decode_error(res, u, message)
  return errors.new { kind = "decode", status = res.status, method = "GET", url = u,
    message = message, body = type(res.body) == "string" and res.body:sub(1, 4096) or nil,
    request_id = res.headers["x-obs-request-id"] or res.headers["x-amz-request-id"] }
end
M.decode_error = decode_error

local function q(pairs_)
  local parts = {}
  for i = 1, #pairs_, 2 do
    local k, v = pairs_[i], pairs_[i + 1]
    if v ~= nil then parts[#parts + 1] = k .. (v == true and "" or ("=" .. url.escape(v))) end
  end
  return table.concat(parts, "&")
end
M.q = q

--- Object metadata (`HEAD /{bucket}/{key}`).
-- @tparam string bucket the bucket
-- @tparam string key the object key
-- @treturn[1] table `{size =, etag =, content_type =, last_modified =, storage_class =?}`
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error `http` with `status` 404 when there is no such object, ...
-- @raise on misuse: a bucket name OBS would refuse, a key that is empty or longer than 1024
-- bytes, a client without `obs_endpoint`
-- @usage local meta = assert(client.obs:head("my-images", "web.qcow2")); print(meta.size)
function Obs:head(bucket, key)
  local fname = F "head"
  check(self, fname)
  check_bucket(fname, bucket)
  check_key(fname, key)
  local res, err = self:request { method = "HEAD", bucket = bucket, key = key, expect = 200 }
  if not res then return nil, err end
  local h = res.headers
  local size = math.tointeger(tonumber(h["content-length"]))
  if not size or size < 0 then
    return nil, decode_error(res, self:url(bucket, key), "HEAD answered no Content-Length")
  end
  return { size = size, etag = unquote(h.etag), content_type = h["content-type"],
    last_modified = h["last-modified"], storage_class = h["x-obs-storage-class"] or "STANDARD" }
end

--- Deletes an object (`DELETE /{bucket}/{key}`); deleting an absent object succeeds.
-- @tparam string bucket the bucket
-- @tparam string key the object key
-- @treturn[1] boolean `true`
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed
-- @raise on misuse (as `head`)
-- @usage assert(client.obs:delete("my-images", "web.qcow2"))
function Obs:delete(bucket, key)
  local fname = F "delete"
  check(self, fname)
  check_bucket(fname, bucket)
  check_key(fname, key)
  local res, err = self:request { method = "DELETE", bucket = bucket, key = key, expect = { 204, 200 } }
  if not res then return nil, err end
  return true
end

local LIST_OPTS = { prefix = "string", marker = "string", max = "integer", delimiter = "string" }
local PAGE = 1000

-- One page of a bucket listing: items, next marker (nil: the last page) | nil, err.
local function list_page(self, bucket, query, marker, limit)
  local res, err = self:request { bucket = bucket, expect = 200, deadline = query.deadline,
    query = q { "delimiter", query.delimiter, "marker", marker, "max-keys", limit,
      "prefix", query.prefix } }
  if not res then return nil, nil, err end
  local body = res.body
  if type(body) ~= "string" or not body:find("<ListBucketResult", 1, true) then
    return nil, nil, decode_error(res, self:url(bucket), "the listing is not a ListBucketResult")
  end
  local items = {}
  for i, block in ipairs(xml.blocks(body, "Contents")) do
    local key, size = xml.text(block, "Key"), math.tointeger(tonumber(xml.text(block, "Size")))
    if not key or key == "" or not size or size < 0 then
      return nil, nil, decode_error(res, self:url(bucket), "listing entry " .. i .. " has no key or size")
    end
    items[i] = { key = key, size = size, etag = unquote(xml.text(block, "ETag")),
      last_modified = xml.text(block, "LastModified"),
      storage_class = xml.text(block, "StorageClass") }
  end
  for _, block in ipairs(xml.blocks(body, "CommonPrefixes")) do
    local p = xml.text(block, "Prefix")
    if p then items[#items + 1] = { prefix = p } end
  end
  if xml.text(body, "IsTruncated") ~= "true" then return items, nil end
  local last = items[#items]
  local nxt = xml.text(body, "NextMarker") or (last and (last.key or last.prefix))
  -- keys come in order: a marker that does not move forward would page forever
  if not nxt or (marker and nxt <= marker) then
    return nil, nil, decode_error(res, self:url(bucket), "pagination loop: the listing's next "
      .. "marker does not move past " .. tostring(marker))
  end
  return items, nxt
end

-- The listing as a page function for list and each: returns items | nil (done) | false, err.
local function pages(self, fname, bucket, query)
  local opts = validate.options(fname, query, LIST_OPTS, 4)
  if opts.max and opts.max < 0 then error(fname .. ": option 'max' must be >= 0", 3) end
  opts.deadline = self.client:deadline()
  local marker, done, count, npages = opts.marker, false, 0, 0
  return function()
    if done or (opts.max and count >= opts.max) then return nil end
    npages = npages + 1
    if npages > 10000 then
      return false, errors.new { kind = "decode", code = "PAGE_LIMIT", method = "GET",
        url = self:url(bucket), message = "the listing did not end after 10000 pages" }
    end
    local limit = opts.max and math.min(PAGE, opts.max - count) or PAGE
    local items, nxt, err = list_page(self, bucket, opts, marker, limit)
    if not items then return false, err end
    if opts.max and count + #items > opts.max then
      for i = #items, opts.max - count + 1, -1 do items[i] = nil end
    end
    count = count + #items
    marker, done = nxt, nxt == nil
    return items
  end
end

--- Lists a bucket's objects (`GET /{bucket}?prefix=&marker=`, every page).
-- @tparam string bucket the bucket
-- @tparam[opt] table query `prefix`, `marker` (start after this key), `delimiter` (keys
-- holding it after the prefix are rolled up into `{prefix = ...}` entries), `max` (at most
-- this many entries)
-- @treturn[1] table array of `{key =, size =, etag =, last_modified =, storage_class =}`
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `decode` for an answer that is no listing or
-- whose marker does not move on)
-- @raise on misuse: a bad bucket name, an unknown query field
-- @usage for _, o in ipairs(assert(client.obs:list("my-images", { prefix = "web/" }))) do
--   print(o.key, o.size) end
function Obs:list(bucket, query)
  local fname = F "list"
  check(self, fname)
  check_bucket(fname, bucket)
  local next_page = pages(self, fname, bucket, query)
  local all = {}
  while true do
    local items, err = next_page()
    if items == nil then return all end
    if items == false then return nil, err end
    table.move(items, 1, #items, #all + 1, all)
  end
end

--- Iterates a bucket's objects page by page (as `list`, without holding them all).
-- @tparam string bucket the bucket
-- @tparam[opt] table query as `list`
-- @treturn function an iterator: `for object, err in client.obs:each(bucket) do`; on a failure
-- it yields `nil, err` once and stops
-- @raise on misuse (as `list`)
-- @usage for o, err in client.obs:each("my-images") do assert(o, err); print(o.key) end
function Obs:each(bucket, query)
  local fname = F "each"
  check(self, fname)
  check_bucket(fname, bucket)
  local next_page = pages(self, fname, bucket, query)
  local items, i, failed = {}, 0, false
  return function()
    if failed then return nil end
    while i >= #items do
      local page, err = next_page()
      if page == nil then return nil end
      if page == false then
        failed = true
        return nil, err
      end
      items, i = page, 0
    end
    i = i + 1
    return items[i]
  end
end

--- A bucket's region and default storage class (`GET /{bucket}?location`, `?storageClass`):
-- IMS imports only from a Standard bucket in the image's region.
-- @tparam string bucket the bucket
-- @treturn[1] table `{region =, storage_class =}` (`STANDARD`, `WARM` or `COLD`)
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error `http` with `status` 404 when there is no such bucket, ...
-- @raise on misuse: a bad bucket name
-- @usage local b = assert(client.obs:bucket("my-images")); print(b.region, b.storage_class)
function Obs:bucket(bucket)
  local fname = F "bucket"
  check(self, fname)
  check_bucket(fname, bucket)
  local res, err = self:request { bucket = bucket, query = "location", expect = 200 }
  if not res then return nil, err end
  local region = xml.text(res.body, "Location") or xml.text(res.body, "LocationConstraint")
  if not region then
    return nil, decode_error(res, self:url(bucket, nil, "location"), "no Location in the answer")
  end
  res, err = self:request { bucket = bucket, query = "storageClass", expect = 200 }
  if not res then return nil, err end
  local class = xml.text(res.body, "StorageClass") or xml.text(res.body, "DefaultStorageClass")
  if not class then
    return nil, decode_error(res, self:url(bucket, nil, "storageClass"), "no StorageClass in the answer")
  end
  return { region = region, storage_class = class }
end

--- The bucket's multipart uploads not yet completed or aborted (`GET /{bucket}?uploads`).
-- @tparam string bucket the bucket
-- @tparam[opt] table query `prefix` (keys starting with it)
-- @treturn[1] table array of `{key =, upload_id =, initiated =}`
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed
-- @raise on misuse: a bad bucket name, an unknown query field
-- @usage for _, u in ipairs(assert(client.obs:uploads("my-images"))) do
--   client.obs:abort("my-images", u.key, u.upload_id) end
function Obs:uploads(bucket, query)
  local fname = F "uploads"
  check(self, fname)
  check_bucket(fname, bucket)
  query = validate.options(fname, query, { prefix = "string" })
  local all, key_marker, id_marker = {}, nil, nil
  local deadline = self.client:deadline()
  for _ = 1, 10000 do
    local res, err = self:request { bucket = bucket, expect = 200, deadline = deadline,
      query = q { "key-marker", key_marker, "prefix", query.prefix, "upload-id-marker", id_marker,
        "uploads", true } }
    if not res then return nil, err end
    if type(res.body) ~= "string" or not res.body:find("<ListMultipartUploadsResult", 1, true) then
      return nil, decode_error(res, self:url(bucket, nil, "uploads"), "not a ListMultipartUploadsResult")
    end
    for _, block in ipairs(xml.blocks(res.body, "Upload")) do
      local key, id = xml.text(block, "Key"), xml.text(block, "UploadId")
      if key and id then
        all[#all + 1] = { key = key, upload_id = id, initiated = xml.text(block, "Initiated") }
      end
    end
    if xml.text(res.body, "IsTruncated") ~= "true" then return all end
    local nk, ni = xml.text(res.body, "NextKeyMarker"), xml.text(res.body, "NextUploadIdMarker")
    if not nk or (nk == key_marker and ni == id_marker) then
      return nil, decode_error(res, self:url(bucket, nil, "uploads"),
        "pagination loop in the uploads listing")
    end
    key_marker, id_marker = nk, ni
  end
  return nil, errors.new { kind = "decode", code = "PAGE_LIMIT", method = "GET",
    url = self:url(bucket, nil, "uploads"), message = "the uploads listing did not end after 10000 pages" }
end

--- Aborts a multipart upload (`DELETE /{bucket}/{key}?uploadId=`): its parts are dropped.
-- @tparam string bucket the bucket
-- @tparam string key the object key
-- @tparam string upload_id the upload
-- @treturn[1] boolean `true`
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error `http` with `status` 404 (`NoSuchUpload`) when it is gone, ...
-- @raise on misuse: a bad bucket name or key, `upload_id` not a non-empty string
-- @usage assert(client.obs:abort("my-images", "web.qcow2", upload_id))
function Obs:abort(bucket, key, upload_id)
  local fname = F "abort"
  check(self, fname)
  check_bucket(fname, bucket)
  check_key(fname, key)
  validate.arg(fname, "upload_id", upload_id, "text")
  if upload_id == "" then error(fname .. ": argument 'upload_id' must not be empty", 2) end
  local res, err = self:request { method = "DELETE", bucket = bucket, key = key,
    query = q { "uploadId", upload_id }, expect = { 204, 200 } }
  if not res then return nil, err end
  return true
end

--- Internal: the parts an upload holds (`GET /{bucket}/{key}?uploadId=`, every page):
-- {[part_number] = {etag =, size =}} | nil, err.
-- @local
function Obs:parts(bucket, key, upload_id)
  local parts, marker = {}, nil
  local deadline = self.client:deadline()
  for _ = 1, 100 do -- 10,000 parts at most, 1000 a page
    local res, err = self:request { bucket = bucket, key = key, expect = 200, deadline = deadline,
      query = q { "part-number-marker", marker, "uploadId", upload_id } }
    if not res then return nil, err end
    if type(res.body) ~= "string" or not res.body:find("<ListPartsResult", 1, true) then
      return nil, decode_error(res, self:url(bucket, key), "not a ListPartsResult")
    end
    for _, block in ipairs(xml.blocks(res.body, "Part")) do
      local n = math.tointeger(tonumber(xml.text(block, "PartNumber")))
      local size = math.tointeger(tonumber(xml.text(block, "Size")))
      if n and n >= 1 and n <= 10000 and size then
        parts[n] = { etag = unquote(xml.text(block, "ETag")), size = size }
      end
    end
    if xml.text(res.body, "IsTruncated") ~= "true" then return parts end
    local nxt = math.tointeger(tonumber(xml.text(res.body, "NextPartNumberMarker")))
    if not nxt or (marker and nxt <= marker) then
      return nil, decode_error(res, self:url(bucket, key), "pagination loop in the parts listing")
    end
    marker = nxt
  end
  return nil, errors.new { kind = "decode", code = "PAGE_LIMIT", method = "GET",
    url = self:url(bucket, key), message = "the parts listing did not end" }
end

local GET_OPTS = { progress = "function", resume = "boolean", verify = "boolean" }

local file_size = partfile.size

-- One GET into t.part (continued when t.resume) or t.sink: {bytes =, md5 =} | nil, err.
local function fetch(self, bucket, key, t)
  local offset = t.resume and file_size(t.part) or 0
  local progress
  if t.progress then
    local user = t.progress
    progress = function(now, total) user(offset + now, total > 0 and offset + total or offset + now) end
  end
  local res, err = self:request { bucket = bucket, key = key, sink_file = t.part, sink = t.sink,
    append = (t.resume and offset > 0) or nil, download_digests = t.verify and { "md5" } or nil,
    progress = progress, expect = { 200, 206, 416 }, transfer = true }
  if not res then return nil, err end
  local u = self:url(bucket, key)
  local h = res.headers
  local bytes = (res.resumed_from or 0) + res.downloaded
  local total = tonumber((h["content-range"] or ""):match("/(%d+)$"))
    or (res.status == 200 and tonumber(h["content-length"]))
  if res.status == 416 then -- the partial file may be whole already: HEAD says
    local meta, herr = self:head(bucket, key)
    if not meta then return nil, herr end
    if meta.size ~= offset then return nil, errors.from_response(res, "GET", u) end
    bytes, total, h = offset, offset, { etag = '"' .. (meta.etag or "") .. '"' }
    res.download_digests = nil
    if t.verify then
      local d = require("ims.native").file_digests(t.part, { "md5" })
      res.download_digests = d and { md5 = d.md5 }
    end
  end
  if total and bytes ~= total then
    return nil, errors.new { kind = "checksum", code = "size", method = "GET", url = u,
      message = string.format("size mismatch: the object has %d bytes, received %d", total, bytes) }
  end
  local result = { bytes = bytes, md5 = res.download_digests and res.download_digests.md5 }
  -- a plain ETag is the object's MD5 (a multipart one, "...-N", is not)
  local etag = unquote(h.etag)
  if t.verify and etag and etag:match("^%x+$") and #etag == 32 and result.md5 ~= etag:lower() then
    return nil, errors.new { kind = "checksum", code = "md5", method = "GET", url = u,
      message = "md5 mismatch: the object's ETag is " .. etag .. ", received " .. tostring(result.md5)
        .. (t.resume and offset > 0 and " (after resuming a partial file)" or "") }
  end
  return result
end

--- Downloads an object (`GET /{bucket}/{key}`) in constant memory. To a path, the bytes go to
-- `dest .. ".part"`, renamed to `dest` only once complete and verified; a download cut short
-- continues with `Range` on retry, and `resume = true` continues a `.part` file (or `dest`)
-- of an earlier run. With `verify` (default) the MD5 is computed while streaming and checked against the
-- ETag when that is an MD5 (single-PUT objects; multipart ETags are not).
-- @tparam string bucket the bucket
-- @tparam string key the object key
-- @param dest a file path, or `function(chunk)` given each piece
-- @tparam[opt] table opts `progress = function(done, total)`, `resume`, `verify = false`
-- @treturn[1] table `{bytes =, md5 =?}`
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error `checksum` on a size or MD5 mismatch, `http` (404 no such
-- object), `transport`, `timeout`, `file`
-- @raise on misuse: bad bucket or key, `dest` neither a path nor a function, `resume` without
-- a path, an unknown option
-- @usage local r = assert(client.obs:get("my-images", "web.qcow2", "web.qcow2")); print(r.bytes)
function Obs:get(bucket, key, dest, opts)
  local fname = F "get"
  check(self, fname)
  check_bucket(fname, bucket)
  check_key(fname, key)
  if type(dest) ~= "string" and type(dest) ~= "function" then
    error(fname .. ": argument 'dest' must be a file path or a function (got " .. type(dest) .. ")", 2)
  end
  if type(dest) == "string" then validate.arg(fname, "dest", dest, "path") end
  opts = validate.options(fname, opts, GET_OPTS)
  if opts.resume and type(dest) ~= "string" then
    error(fname .. ": option 'resume' needs a file path as 'dest'", 2)
  end
  local t = { verify = opts.verify ~= false, progress = opts.progress }
  if type(dest) == "function" then
    t.sink = dest
    return fetch(self, bucket, key, t)
  end
  return partfile.download(dest, opts.resume, t, function(tt) return fetch(self, bucket, key, tt) end)
end

--- Internal: the put's result when bucket/key holds the file already as put(opts) stores it
-- (size and the ETag of the same parts), else nil (import_file's rerun after a crash).
-- @local
function Obs:stored(bucket, key, source, opts)
  return upload.stored(self, bucket, key, source, opts or {})
end

--- Uploads a file to `bucket`/`key`: one `PUT` up to `multipart_threshold`, else a multipart
-- upload with `concurrency` parts in flight on the client's engine, each with its
-- `Content-MD5` and its ETag checked. With `checkpoint` (a file path), the upload id and the
-- finished parts are recorded there (guarded by the file's size and mtime), so a rerun after a
-- crash sends only the missing parts; without one, a failed multipart upload is aborted.
-- @tparam string bucket the bucket
-- @tparam string key the object key
-- @tparam string source the file to upload
-- @tparam[opt] table opts `multipart_threshold` (bytes, default 64 MiB), `part_size`
-- (default the larger of 16 MiB and size / 10000; 100 KiB to 5 GiB), `concurrency` (parts in
-- flight, default 4), `progress = function(done, total)`, `checkpoint` (path), `content_type`,
-- `verify` (default true)
-- @treturn[1] table `{bucket =, key =, size =, etag =, parts =?}` (`parts`: how many, multipart)
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (`checksum` when an ETag is not the MD5 sent; with a
-- checkpoint, `err.upload_id` names the upload a rerun continues)
-- @raise on misuse: bad bucket or key, `source` not a path, an option out of range, a file
-- larger than 10,000 parts of `part_size` or than OBS's 48.8 TB
-- @usage local r = assert(client.obs:put("my-images", "web.qcow2", "web.qcow2",
--   { checkpoint = "web.qcow2.obs-checkpoint", progress = function(d, t) io.write(d, "/", t, "\r") end }))
function Obs:put(bucket, key, source, opts)
  local fname = F "put"
  check(self, fname)
  check_bucket(fname, bucket)
  check_key(fname, key)
  validate.arg(fname, "source", source, "path")
  opts = upload.options(fname, opts)
  local result, err = upload.put(self, bucket, key, source, opts) -- not a tail call: raise levels
  return result, err
end

return M
