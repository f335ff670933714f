-- ims.obs.upload: obs:put. One PUT for a small file; above the threshold a multipart upload:
-- parts in flight at once on the client's engine (client:map), each read from its range of
-- the file (never into memory), sent with its Content-MD5, its ETag checked; a checkpoint file
-- records the upload id and the finished parts so that a rerun sends only what is missing.
local core = require "ims.native"
local errors = require "ims.errors"
local json = require "ims.json"
local validate = require "ims.validate"
local xml = require "ims.xml"

local M = {}

local KIB, MIB, GIB = 1024, 1024 * 1024, 1024 * 1024 * 1024
M.MIN_PART = 100 * KIB          -- OBS: every part but the last
M.MAX_PART = 5 * GIB
M.MAX_PARTS = 10000
M.MAX_SINGLE = 5 * GIB          -- one PUT
M.MAX_OBJECT = 48800 * GIB      -- "48.8 TB"
M.THRESHOLD = 64 * MIB
M.DEFAULT_PART = 16 * MIB

local OPTS = { multipart_threshold = "integer", part_size = "integer", concurrency = "integer",
  progress = "function", checkpoint = "path", content_type = "text", verify = "boolean" }

local function between(fname, opts, k, lo, hi)
  local v = opts[k]
  if v ~= nil and (v < lo or v > hi) then
    error(string.format("%s: option '%s' must be between %d and %d (got %d)", fname, k, lo, hi, v), 4)
  end
end

-- The put options, checked (raises at the user's call of obs:put).
function M.options(fname, opts)
  opts = validate.options(fname, opts, OPTS, 4)
  between(fname, opts, "multipart_threshold", 0, M.MAX_SINGLE)
  between(fname, opts, "part_size", M.MIN_PART, M.MAX_PART)
  between(fname, opts, "concurrency", 1, 64)
  opts.verify = opts.verify ~= false
  return opts
end

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

local function base64(bin)
  return ((bin:gsub("..?.?", function(c)
    local a, b, d = c:byte(1, 3)
    local n = a * 65536 + (b or 0) * 256 + (d or 0)
    local out = {}
    for i = 1, 4 do
      local k = (n >> (6 * (4 - i))) & 63
      out[i] = B64:sub(k + 1, k + 1)
    end
    if not b then out[3], out[4] = "=", "=" elseif not d then out[4] = "=" end
    return table.concat(out)
  end)))
end
M.base64 = base64

local function unhex(h) return (h:gsub("%x%x", function(x) return string.char(tonumber(x, 16)) end)) end
M.unhex = unhex

-- S3/OBS multipart ETag: md5 of the parts' binary md5s, "-" count.
function M.multipart_etag(md5s)
  local bins = {}
  for i, h in ipairs(md5s) do bins[i] = unhex(h) end
  return core.digest("md5", table.concat(bins)) .. "-" .. #md5s
end

local function file_error(msg)
  return errors.new { kind = "file", code = "FILE", message = msg }
end

---------------------------------------------------------------------------------------------
-- the checkpoint: one JSON record, rewritten atomically after every part

local function load_checkpoint(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local text = f:read(1024 * 1024)
  f:close()
  local ok, rec = pcall(json.decode, text or "")
  if not ok or type(rec) ~= "table" or type(rec.upload_id) ~= "string" or type(rec.parts) ~= "table" then
    return nil
  end
  return rec
end

local function save_checkpoint(path, rec)
  local tmp = path .. ".tmp"
  local f, msg = io.open(tmp, "wb")
  if not f then return nil, file_error("cannot write the checkpoint " .. tmp .. ": " .. tostring(msg)) end
  local ok, werr = f:write(json.encode(rec))
  f:close()
  if not ok then return nil, file_error("cannot write the checkpoint " .. tmp .. ": " .. tostring(werr)) end
  local renamed, rerr = os.rename(tmp, path)
  if not renamed then
    return nil, file_error("cannot write the checkpoint " .. path .. ": " .. tostring(rerr))
  end
  return true
end

---------------------------------------------------------------------------------------------

local function check_etag(obs, bucket, key, res, md5, what)
  local etag = res.headers.etag and res.headers.etag:match('^"?(.-)"?$')
  if md5 and etag and etag:lower() ~= md5 then
    return nil, errors.new { kind = "checksum", code = "md5", method = "PUT", url = obs:url(bucket, key),
      message = what .. ": the ETag " .. etag .. " is not the MD5 sent (" .. md5 .. ")" }
  end
  return etag
end

local function put_single(obs, bucket, key, source, size, opts)
  local headers = { ["Content-Type"] = opts.content_type or "application/octet-stream" }
  local md5
  if opts.verify then
    local d, msg = core.file_digests(source, { "md5" })
    if not d then return nil, file_error(msg) end
    md5 = d.md5
    headers["Content-MD5"] = base64(unhex(md5))
  end
  local user = opts.progress
  local res, err = obs:request { method = "PUT", bucket = bucket, key = key, body_file = source,
    headers = headers, expect = 200, transfer = true,
    progress = user and function(_, _, up) user(up, size) end }
  if not res then return nil, err end
  local etag, eerr = check_etag(obs, bucket, key, res, md5, "PUT")
  if eerr then return nil, eerr end
  if user then user(size, size) end
  return { bucket = bucket, key = key, size = size, etag = etag }
end

local function initiate(obs, bucket, key, opts)
  local res, err = obs:request { method = "POST", bucket = bucket, key = key, query = "uploads",
    headers = { ["Content-Type"] = opts.content_type or "application/octet-stream" }, body = "",
    expect = 200 }
  if not res then return nil, err end
  local id = xml.text(res.body, "UploadId")
  if not id or not id:match("^[\33-\126]+$") then
    return nil, require("ims.obs").decode_error(res, obs:url(bucket, key, "uploads"),
      "the answer to InitiateMultipartUpload has no UploadId")
  end
  return id
end

local function complete(obs, bucket, key, id, n, md5s)
  local parts = { "<CompleteMultipartUpload>" }
  for i = 1, n do
    parts[#parts + 1] = string.format('<Part><PartNumber>%d</PartNumber><ETag>"%s"</ETag></Part>', i, md5s[i])
  end
  parts[#parts + 1] = "</CompleteMultipartUpload>"
  local q = require("ims.obs").q
  local res, err = obs:request { method = "POST", bucket = bucket, key = key, query = q { "uploadId", id },
    headers = { ["Content-Type"] = "application/xml" }, body = table.concat(parts), expect = 200 }
  if not res then return nil, err end
  -- S3 style: a 200 whose body is an <Error> (the assembly failed after the headers left)
  if type(res.body) == "string" and res.body:find("<Error>", 1, true) then
    local e = errors.from_response(res, "POST", obs:url(bucket, key))
    e.kind = "http"
    return nil, e
  end
  local etag = xml.text(res.body, "ETag")
  return etag and etag:match('^"?(.-)"?$') or M.multipart_etag(md5s)
end

-- The parts to send and those a checkpoint (confirmed by the server) says are done; or, when
-- the upload of the checkpoint finished already, the result.
local function resume(obs, bucket, key, info, plan, opts)
  local rec = opts.checkpoint and load_checkpoint(opts.checkpoint)
  if not rec then return nil end
  local same = rec.bucket == bucket and rec.key == key and rec.size == info.size
    and rec.mtime == info.mtime and rec.part_size == plan.part_size
  if not same then -- another file or target: its upload is of no use
    if type(rec.bucket) == "string" and type(rec.key) == "string" then
      pcall(obs.abort, obs, rec.bucket, rec.key, rec.upload_id)
    end
    return nil
  end
  local server, err = obs:parts(bucket, key, rec.upload_id)
  if not server then
    if err.status ~= 404 then return nil, nil, err end
    -- the upload is gone: completed before the crash (the object is what it would be), or
    -- aborted; either way this checkpoint is spent
    local md5s = {}
    for i = 1, plan.count do md5s[i] = rec.parts[tostring(i)] end
    if #md5s == plan.count then
      local meta = obs:head(bucket, key)
      if meta and meta.size == info.size and meta.etag == M.multipart_etag(md5s) then
        os.remove(opts.checkpoint)
        return nil, { bucket = bucket, key = key, size = info.size, etag = meta.etag, parts = plan.count }
      end
    end
    return nil
  end
  local done = {}
  for n, part in pairs(server) do
    local md5 = rec.parts[tostring(n)]
    if md5 and part.etag and part.etag:lower() == md5 then done[n] = md5 end
  end
  rec.parts = {}
  for n, md5 in pairs(done) do rec.parts[tostring(n)] = md5 end
  return rec
end

local function put_multipart(obs, bucket, key, source, info, plan, opts)
  local size, part_size, count = info.size, plan.part_size, plan.count
  local rec, finished, rerr = resume(obs, bucket, key, info, plan, opts)
  if finished then return finished end
  if rerr then return nil, rerr end
  if not rec then
    local id, err = initiate(obs, bucket, key, opts)
    if not id then return nil, err end
    rec = { bucket = bucket, key = key, size = size, mtime = info.mtime, part_size = part_size,
      upload_id = id, parts = {} }
  end
  local function save()
    if not opts.checkpoint then return true end
    return save_checkpoint(opts.checkpoint, rec)
  end
  local ok, serr = save()
  if not ok then return nil, serr end

  local todo, sent = {}, 0
  for n = 1, count do
    if rec.parts[tostring(n)] then
      sent = sent + math.min(part_size, size - (n - 1) * part_size)
    else
      todo[#todo + 1] = n
    end
  end
  local q = require("ims.obs").q
  local user, inflight = opts.progress, {}
  local function report()
    if not user then return end
    local moving = 0
    for _, b in pairs(inflight) do moving = moving + b end
    user(sent + moving, size)
  end
  local function send(n)
    local offset = (n - 1) * part_size
    local len = math.min(part_size, size - offset)
    local d, msg = core.file_digests(source, { "md5" }, offset, len)
    if not d or d.bytes ~= len then
      return nil, file_error(msg or ("cannot read part " .. n .. " of " .. source))
    end
    local res, err = obs:request { method = "PUT", bucket = bucket, key = key,
      query = q { "partNumber", n, "uploadId", rec.upload_id }, body_file = source,
      body_offset = offset, body_length = len, headers = { ["Content-MD5"] = base64(unhex(d.md5)) },
      expect = 200, transfer = true,
      progress = user and function(_, _, up) inflight[n] = up; report() end }
    inflight[n] = nil
    if not res then return nil, err end
    local _, eerr = check_etag(obs, bucket, key, res, opts.verify and d.md5, "part " .. n)
    if eerr then return nil, eerr end
    rec.parts[tostring(n)] = d.md5
    sent = sent + len
    local saved, werr = save() -- recorded before anyone hears of it
    if not saved then return nil, werr end
    report()
    return n
  end
  local function give_up(err)
    if opts.checkpoint then -- the next run continues this upload
      err.upload_id = rec.upload_id
    else
      obs:abort(bucket, key, rec.upload_id)
    end
    return nil, err
  end
  local mapped, raised, errs = pcall(obs.client.map, obs.client, todo, send,
    { concurrency = math.min(opts.concurrency or 4, math.max(1, #todo)) })
  if not mapped then -- a raise in `progress`: no orphan upload unless a rerun will use it
    if not opts.checkpoint then obs:abort(bucket, key, rec.upload_id) end
    error(raised, 0)
  end
  if errs then
    for i = 1, #todo do if errs[i] then return give_up(errs[i]) end end
  end
  local md5s = {}
  for n = 1, count do md5s[n] = rec.parts[tostring(n)] end
  local etag, cerr = complete(obs, bucket, key, rec.upload_id, count, md5s)
  if not etag then return give_up(cerr) end
  if opts.checkpoint then os.remove(opts.checkpoint) end
  return { bucket = bucket, key = key, size = size, etag = etag, parts = count }
end

function M.put(obs, bucket, key, source, opts)
  local info, msg = core.file_info(source)
  if not info then return nil, file_error(msg) end
  if info.type ~= "file" then return nil, file_error(source .. " is not a regular file") end
  if info.size > M.MAX_OBJECT then
    error("ims.obs:put: " .. source .. " has " .. info.size .. " bytes; an OBS object holds at most "
      .. M.MAX_OBJECT, 3)
  end
  local size = info.size
  local plan, perr = M.plan(size, opts)
  if perr then error("ims.obs:put: " .. perr, 3) end
  if not plan then return put_single(obs, bucket, key, source, size, opts) end
  return put_multipart(obs, bucket, key, source, info, plan, opts)
end

-- How put sends `size` bytes: nil (one PUT) or {part_size =, count =}; nil, message when
-- the parts would be too many.
function M.plan(size, opts)
  if size <= (opts.multipart_threshold or M.THRESHOLD) then return nil end
  local part_size = opts.part_size
    or math.max(M.DEFAULT_PART, ((size + M.MAX_PARTS - 1) // M.MAX_PARTS + MIB - 1) // MIB * MIB)
  local count = (size + part_size - 1) // part_size
  if count > M.MAX_PARTS then
    return nil, string.format("%d bytes in parts of %d make %d parts; OBS takes at most %d "
      .. "(use a larger 'part_size')", size, part_size, count, M.MAX_PARTS)
  end
  return { part_size = part_size, count = count }
end

-- Whether bucket/key holds the file's bytes already, as put with `opts` would have stored
-- them (same size, and the ETag of the same parts' MD5s): the put's result, or nil. A rerun
-- after a crash that came after the upload completed need not send it again.
function M.stored(obs, bucket, key, source, opts)
  local meta = obs:head(bucket, key)
  local info = meta and core.file_info(source)
  if not info or meta.size ~= info.size or not meta.etag then return nil end
  local plan = M.plan(info.size, opts)
  local md5s = {}
  for n = 1, plan and plan.count or 1 do
    local offset = plan and (n - 1) * plan.part_size or 0
    local d = core.file_digests(source, { "md5" }, offset, plan and plan.part_size or nil)
    if not d then return nil end
    md5s[n] = d.md5
  end
  local want = plan and M.multipart_etag(md5s) or md5s[1]
  if meta.etag:lower() ~= want then return nil end
  return { bucket = bucket, key = key, size = info.size, etag = meta.etag, parts = plan and plan.count }
end

return M
