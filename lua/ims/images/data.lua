-- client.images, data transfer: upload, download, and import (create + upload). Bodies
-- stream in constant memory with digests computed on the fly (ims.core); verification is
-- against the strongest digest Glance recorded.

--- The Glance v2 image API: data transfer (`upload`, `download`, `import`).
-- @module ims.images
local core = require "ims.native"
local errors = require "ims.errors"
local partfile = require "ims.partfile"
local url = require "ims.url"
local validate = require "ims.validate"
local base = require "ims.images.base"

local Images = base.Images -- ims.Images
local F, check, image_id, create_body, post_image = base.F, base.check, base.image_id,
  base.create_body, base.post_image
local parse_source = base.parse_source

local UPLOAD_OPTS = { progress = "function", verify = "boolean", digests = "strings" }
local DOWNLOAD_OPTS = { progress = "function", verify = "boolean", digests = "strings",
  resume = "boolean" }
local IMPORT_OPTS = { progress = "function", verify = "boolean", digests = "strings",
  cleanup = "boolean", reuse = "boolean" }

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
  local progress = base.upload_progress(opts.progress)
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

local file_size = partfile.size

-- One GET of the image's data into the file `part` (continued when `resume`) or the function
-- `sink`, checked against `meta` (size, the recorded digest when `algo`): result or nil, err.
local function fetch(self, id, meta, t)
  local size = meta and math.tointeger(meta.size)
  local resume, offset = t.resume, 0
  if resume then
    offset = file_size(t.part) or 0
    -- a partial file longer than the image cannot be a prefix of it: start over
    if size and offset > size then resume, offset = false, 0 end
  end
  local progress
  if t.progress then
    local user = t.progress
    progress = function(dl_now, dl_total)
      user(offset + dl_now, dl_total > 0 and offset + dl_total or (size or offset + dl_now))
    end
  end
  local path = url.path("v2", "images", id, "file")
  local res, err = self.client:request { path = path, sink_file = t.part, sink = t.sink,
    append = resume or nil, download_digests = t.digests, progress = progress,
    expect = { 200, 206, 416, 204 }, transfer = true }
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
  if t.algo and result[t.algo] ~= t.want then
    return nil, checksum_error("GET", u, t.algo, t.want, result[t.algo],
      resume and " (after resuming a partial file)" or nil)
  end
  return result
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
  if type(dest) == "string" then validate.arg(fname, "dest", dest, "path") end
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
  local t = { digests = digest_list(fname, opts.digests, verify and { "sha512", algo } or nil),
    progress = opts.progress, algo = verify and algo or nil, want = want }
  if type(dest) == "function" then
    t.sink = dest
    return fetch(self, id, meta, t)
  end
  return partfile.download(dest, opts.resume, t, function(tt) return fetch(self, id, meta, tt) end)
end

return Images
