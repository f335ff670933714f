-- A seeded, bounded fuzzer over the public API (spec/api_fuzz_spec.lua runs it; `make fuzz-api`
-- runs it longer). Every call gets arguments of wrong types, NUL and CR/LF in strings, huge and
-- non-finite numbers, option tables with the call's own keys holding such values, and callbacks
-- that raise, yield, return garbage, re-enter the client or close it; the server (the hostile
-- peer, spec/support/hostile.py) answers every path with a response drawn from a pool of good and
-- bad ones. What must hold, call after call:
--   * the call returns normally; when its first value is nil, the second is an ims.Error whose
--     tostring prints no control byte;
--   * or it raises a misuse error naming an `ims.` function, or the very error one of our
--     callbacks or hostile tables raised (the SDK does not hide a caller's own error);
--   * it never leaves a coroutine suspended, never takes more than a few seconds, and the client
--     still works afterwards (a periodic get against a good answer).
local ims = require "ims"
local json = require "ims.json"

local M = {}

local UUID = "8f3c1d2e-0000-4000-8000-000000000001"
local UUID2 = "8f3c1d2e-0000-4000-8000-000000000002"

-- What the server may answer, to any path (hostile.py's response objects).
local function responses(img, job)
  local J = { ["Content-Type"] = "application/json" }
  local function j(status, body, extra)
    local h = { ["Content-Type"] = "application/json" }
    for k, v in pairs(extra or {}) do h[k] = v end
    return { status = status, headers = h, body = type(body) == "string" and body or json.encode(body) }
  end
  return {
    j(200, img),
    j(200, { images = { img }, next = json.null }),
    j(200, { images = { img, img } }),
    j(200, { images = { img }, next = "{other}/v2/images?marker=" .. UUID }),
    j(200, { images = { { id = UUID2 } }, next = "/v2/images?marker={n}" }),
    j(200, { members = { { member_id = "p", image_id = UUID, status = "pending" } } }),
    j(200, { member_id = "p", image_id = UUID, status = "accepted" }),
    j(200, { tags = { "a" } }),
    j(200, job("SUCCESS")),
    j(200, job("FAIL")),
    j(200, { job_id = "../\r\nx", status = "SUCCESS", entities = { image_id = { 1 } } }),
    j(200, { job_id = 5, status = { "SUCCESS" }, begin_time = 1e308 }),
    j(202, { job_id = UUID }),
    j(200, "null"), j(200, '"a string"'), j(200, "{}"), j(200, "[]"), j(200, "1e999"),
    j(200, string.rep("[", 5000) .. string.rep("]", 5000)),
    j(200, '{"id": "\27]0;title\7", "name": "\255\254"}'),
    { status = 200, headers = { ["Content-Type"] = "text/html" }, body = "<html><h1>ok</h1></html>" },
    { status = 200, body = "no content type \0 here" },
    { status = 204 },
    j(404, { message = "no such \27[2J thing" }),
    j(409, { error = { code = "IMG.0027", message = "conflict" } }),
    j(401, { error_code = "APIGW.0301", error_msg = "bad token", request_id = "r\r\n1" }),
    j(429, { message = "slow down" }, { ["Retry-After"] = "0" }),
    j(503, { message = "busy" }, { ["Retry-After"] = "Wed, 21 Oct 2015 07:28:00 GMT" }),
    { status = 500, headers = { ["Content-Type"] = "text/html" }, body = "<h1>Internal\7 error</h1>" },
    { status = 200, headers = J, size = 100000 },            -- over the fuzz client's max_body
    { status = 200, headers = J, body = '{"id": "' .. UUID .. '"', close_after = 5 },
    { raw = "HTTP/1.1 2000 Weird\r\nContent-Length: -5\r\n\r\n" },
    { raw = "garbage\r\n\r\n" },
    -- OBS's XML, good and bad
    { status = 200, headers = { ["Content-Type"] = "application/xml" }, body = "<ListBucketResult>"
      .. "<IsTruncated>true</IsTruncated><Contents><Key>k</Key><Size>1</Size></Contents></ListBucketResult>" },
    { status = 200, headers = { ["Content-Type"] = "application/xml", ETag = '"\27[2Jx"' },
      body = "<InitiateMultipartUploadResult><UploadId>\r\nU</UploadId></InitiateMultipartUploadResult>" },
    { status = 403, headers = { ["Content-Type"] = "application/xml" },
      body = "<Error><Code>\27]0;t\7</Code><Message>&#0;&#x1b;<![CDATA[x]]></Message></Error>" },
    { reset = true },
    { pattern = 3000 },
    { pattern = 3000, cut_after = 1000 },
  }
end

local function image_body(rng)
  return { id = UUID, name = "fuzz", status = rng(2) == 1 and "active" or "queued", size = 3000,
    checksum = string.rep("0", 32), os_hash_algo = "sha512", os_hash_value = string.rep("a", 128),
    disk_format = "qcow2", container_format = "bare", visibility = "private", tags = {} }
end

local function job_body(status)
  return { job_id = UUID, status = status, job_type = "createImageByInstance",
    begin_time = "2026-12-01T00:00:00.000Z", end_time = "2026-12-01T00:00:05.000Z",
    entities = { image_id = UUID }, error_code = status == "FAIL" and "IMS.0001" or json.null,
    fail_reason = status == "FAIL" and "it failed" or json.null }
end

-- Keys the calls know (so option tables reach past "unknown option" into each field's check).
local KEYS = {
  "endpoint", "region", "interface", "project_id", "auth", "headers", "timeout", "connect_timeout",
  "stall_timeout", "retry", "rate_limit", "verify", "ca_file", "proxy", "user_agent", "log",
  "allow_insecure", "max_body", "token", "ak", "sk", "security_token", "auth_url", "user",
  "password", "domain", "attempts", "base_delay", "max_delay",
  "name", "disk_format", "container_format", "visibility", "protected", "tags", "min_ram",
  "min_disk", "os_hidden", "id", "status", "owner", "tag", "member_status", "sort", "sort_key",
  "sort_dir", "limit", "marker", "created_at", "updated_at", "size_min", "size_max", "properties",
  "max", "progress", "verify", "digests", "resume", "cleanup", "reuse", "path", "reader", "size",
  "ignore_missing", "interval", "max_interval", "concurrency", "image_url", "instance_id",
  "data_images", "volume_id", "os_version", "os_type", "type", "architecture", "file_format",
  "is_quick_export", "bucket_url", "backup_id", "image_tags", "__imagetype", "__os_type",
  "__platform", "__whole_image", "description", "method", "url", "body", "date", "signed_headers",
  "op", "value", "job_id", "hw_disk_bus", "__os_version", "x_dup", "X-Dup",
  "safe_mode", "license_type", "hw_firmware_type", "cmk_id", "enterprise_project_id", "images",
  "projects", "domains", "organizations", "vault_id", "action", "tags_any", "not_tags",
  "not_tags_any", "offset", "matches", "without_any_tag", "image_tag", "page", "key", "values",
}

local STRINGS = {
  "", "x", "fuzz", UUID, UUID2, "..", ".", "/", "a/b", "%2e%2e", "?x=1#f", "\0", "a\0b",
  "a\r\nX-Evil: 1", "\n", "\t", "\255\254", "\27]0;t\7", "é", "bucket:object", "b:", ":o",
  "obs://b/o", "active", "queued", "SUCCESS", "pending", "accepted", "rejected", "private",
  "public", "shared", "qcow2", "vhd", "zvhd2", "raw", "bare", "Linux", "Windows", "x86", "arm",
  "name:asc", "gt:2026-01-01T00:00:00Z", "key=value", "md5", "sha256", "sha512", "crc",
  "http://127.0.0.1:1/", "https://example.invalid/", "ftp://x", "GET", "PUT", "get",
  "20261201T000000Z", "Host", "x-dup", "X-Dup", "a;b", "CentOS 7.9 64bit", "ECS", "FusionCompute",
  string.rep("a", 300), string.rep("é", 200),
}

local NUMBERS = {
  0, 1, -1, 2, 3, 40, 128, 1024, 2049, 0.5, -0.0, 3.7, 1 / 0, -1 / 0, 0 / 0, 1e308, -1e308,
  2 ^ 53, math.maxinteger, math.mininteger, 65536,
}

-- The fuzzer's state for one run: a seeded generator, the callbacks' record, a temp dir.
local function new_state(seed, dir)
  local s = { raised = {}, yielded = false, dir = dir }
  local x = seed % 2147483647
  if x <= 0 then x = x + 2147483646 end
  function s.rng(n) -- 1..n, Park-Miller (our own, so a seed replays on any Lua)
    x = x * 48271 % 2147483647
    return x % n + 1
  end
  return s
end

local function pick(s, t) return t[s.rng(#t)] end

local gen -- value of any type

-- A callback: records what it does so an error it raised is recognised.
local function callback(s)
  local what = s.rng(9)
  return function(...)
    if what == 1 then return end
    if what == 2 then return gen(s, 1) end
    if what == 3 then return nil, "fuzz-stop" end
    if what == 4 then
      s.raised["fuzz-boom"] = true
      error("fuzz-boom", 0)
    end
    if what == 5 then
      local e = setmetatable({}, { __tostring = function() return "fuzz-table-error" end })
      s.raised[e] = true
      error(e)
    end
    if what == 6 then
      s.yielded = true
      return coroutine.yield("fuzz-yield")
    end
    if what == 7 and s.client then -- re-enter the client from inside a call
      return s.client.images:get(UUID)
    end
    if what == 8 and s.client then
      s.closed = true
      return s.client:close()
    end
    return select("#", ...) > 0 and (...) or false
  end
end

-- A table whose reads raise (a caller's proxy object gone wrong).
local function hostile_table(s)
  s.raised["fuzz-index"] = true
  return setmetatable({}, { __index = function() error("fuzz-index", 0) end })
end

local function table_of(s, depth, keys)
  local t = {}
  local n = s.rng(4) - 1
  if s.rng(2) == 1 then
    for i = 1, n do t[i] = gen(s, depth - 1) end
  else
    for _ = 1, n do t[pick(s, keys or KEYS)] = gen(s, depth - 1) end
  end
  return t
end

function gen(s, depth)
  depth = depth or 2
  local r = s.rng(20)
  if r <= 6 then return pick(s, STRINGS) end
  if r <= 10 then return pick(s, NUMBERS) end
  if r == 11 then return nil end
  if r == 12 then return s.rng(2) == 1 end
  if r == 13 then return callback(s) end
  if r == 14 then return ims.null end
  if r == 15 then return depth > 0 and hostile_table(s) or io.stdout end
  if r == 16 then return coroutine.create(function() end) end
  if depth <= 0 then return {} end
  return table_of(s, depth)
end

-- Arguments by kind: mostly plausible, sometimes anything.
local function arg(s, kind)
  if s.rng(4) == 1 then
    local v = gen(s)
    -- a path argument never names a file outside the run's directory (a download or a
    -- journal would write it wherever the suite runs)
    if (kind == "path" or kind == "source") and type(v) == "string" then v = s.dir .. "/" .. v end
    return v
  end
  if kind == "id" then
    local r = s.rng(4)
    return r <= 2 and UUID or (r == 3 and pick(s, STRINGS) or s.image)
  elseif kind == "path" then
    local r = s.rng(6)
    if r == 1 then return s.dir .. "/f" .. s.rng(4) end
    if r == 2 then return s.dir .. "/nul\0evil" end
    if r == 3 then return s.dir .. "/missing/dir/f" end
    if r == 4 then return s.dir end
    if r == 5 then return s.dir .. "/src" end
    return callback(s)
  elseif kind == "source" then
    local r = s.rng(4)
    if r == 1 then return s.dir .. "/src" end
    if r == 2 then return { path = arg(s, "path") } end
    if r == 3 then return { reader = callback(s), size = pick(s, NUMBERS) } end
    return { reader = (function() local left = 3 return function()
      left = left - 1
      return left > 0 and "chunk" or nil end end)() }
  elseif kind == "opts" then
    return s.rng(3) == 1 and nil or table_of(s, 2)
  elseif kind == "fn" then
    return callback(s)
  elseif kind == "job" then
    local r = s.rng(3)
    return r == 1 and UUID or (r == 2 and s.job or { job_id = UUID })
  elseif kind == "bucket" then
    return pick(s, { "bkt-fuzz", "bkt-fuzz", "a", "Bad_Name", "bkt/../x", "bkt\0z" })
  elseif kind == "key" then
    return pick(s, { "k", "a/b c.qcow2", "../../etc/passwd", "", "k\r\nX-Evil: 1", "%00", string.rep("k", 1100) })
  end
  return gen(s)
end

-- Job waits must end however long a valid timeout the fuzzer chose: at most 1 s here.
local function bounded_wait(opts)
  if opts == nil or (type(opts) == "table" and getmetatable(opts) ~= nil) then
    return { timeout = 1 } -- (a table whose reads raise lists no keys: the 1200 s default)
  end
  if type(opts) == "table" and getmetatable(opts) == nil then
    if opts.timeout == nil or (type(opts.timeout) == "number" and opts.timeout > 1) then
      opts.timeout = 1
    end
  end
  return opts
end

-- The calls: receiver name, method, argument kinds.
local CALLS = {
  { "images", "create", "opts" }, { "images", "get", "id" }, { "images", "list", "opts" },
  { "images", "each", "opts" }, { "images", "update", "id", "opts" },
  { "images", "delete", "id", "opts" }, { "images", "upload", "id", "source", "opts" },
  { "images", "import", "source", "opts", "opts" }, { "images", "download", "id", "path", "opts" },
  { "images", "update_tag", "id", "any" }, { "images", "delete_tag", "id", "any" },
  { "images", "create_member", "id", "any" }, { "images", "list_members", "id" },
  { "images", "get_member", "id", "any" }, { "images", "update_member", "id", "any", "any" },
  { "images", "delete_member", "id", "any" }, { "images", "accept", "id" },
  { "images", "reject", "id" },
  { "cloudimages", "list", "opts" }, { "cloudimages", "each", "opts" },
  { "cloudimages", "update", "id", "opts" }, { "cloudimages", "create", "opts" },
  { "cloudimages", "create_data_image", "opts" }, { "cloudimages", "create_whole_image", "opts" },
  { "cloudimages", "register", "id", "any" }, { "cloudimages", "export", "id", "opts" },
  { "cloudimages", "quick_import", "opts", "opts" }, { "cloudimages", "copy", "id", "opts", "opts" },
  { "cloudimages", "add_members", "opts" }, { "cloudimages", "update_members", "opts" },
  { "cloudimages", "delete_members", "opts" }, { "cloudimages", "list_members", "id" },
  { "cloudimages", "get_member", "id", "any" }, { "cloudimages", "add_tag", "id", "any", "any" },
  { "cloudimages", "delete_tag", "id", "any" }, { "cloudimages", "list_tags", "id" },
  { "cloudimages", "batch_tags", "id", "any", "any" }, { "cloudimages", "batch_delete_tags", "id", "any" },
  { "cloudimages", "project_tags" }, { "cloudimages", "list_by_tags", "opts" },
  { "cloudimages", "set_tags", "opts" }, { "cloudimages", "tags", "opts" },
  { "cloudimages", "quota" }, { "cloudimages", "os_versions", "opts" },
  { "cloudimages", "versions" }, { "cloudimages", "version", "any" },
  { "jobs", "progress", "job" }, { "images", "schema", "any" },
  { "jobs", "get", "job" }, { "jobs", "wrap", "id" }, { "jobs", "wait_all", "any", "wait" },
  { "job", "refresh" }, { "job", "wait", "wait" }, { "job", "image" },
  { "image", "refresh" }, { "image", "update", "opts" }, { "image", "upload", "source", "opts" },
  { "image", "download", "path", "opts" }, { "image", "delete", "opts" },
  { "image", "update_tag", "any" }, { "image", "delete_tag", "any" },
  { "image", "create_member", "any" }, { "image", "list_members" }, { "image", "get_member", "any" },
  { "image", "update_member", "any", "any" }, { "image", "delete_member", "any" },
  { "image", "accept" }, { "image", "reject" },
  { "client", "map", "any", "fn", "opts" }, { "client", "journal", "path" },
  { "journal", "job", "any", "fn" }, { "journal", "image", "any", "fn" }, { "journal", "close" },
  { "ims", "new", "opts" }, { "ims", "sign", "opts" }, { "ims", "from_env", "opts" },
  { "obs", "put", "bucket", "key", "path", "opts" }, { "obs", "get", "bucket", "key", "path", "opts" },
  { "obs", "head", "bucket", "key" }, { "obs", "delete", "bucket", "key" },
  { "obs", "list", "bucket", "opts" }, { "obs", "each", "bucket", "opts" }, { "obs", "bucket", "bucket" },
  { "obs", "uploads", "bucket", "opts" }, { "obs", "abort", "bucket", "key", "any" },
  { "cloudimages", "plan_import", "path", "opts", "opts" },
  { "cloudimages", "import_file", "path", "opts", "opts" }, { "journal", "has", "any" },
}

local function receiver(s, name)
  if name == "ims" then return ims end
  if name == "client" then return s.client end
  if name == "image" then return s.image end
  if name == "job" then return s.job end
  if name == "journal" then return s.journal end
  if name == "obs" then return s.obs_client.obs end
  return s.client[name]
end

-- Runs one call inside a coroutine (so a yielding callback can really yield); resumes a
-- suspended call a few times, as a caller's scheduler would.
local function run_call(fn)
  local co = coroutine.create(fn)
  local out = table.pack(coroutine.resume(co))
  local resumes = 0
  while coroutine.status(co) == "suspended" and resumes < 20 do
    resumes = resumes + 1
    out = table.pack(coroutine.resume(co))
  end
  return coroutine.status(co), out
end

local CONTROL = "[%z\1-\8\11-\31\127]"

-- What a call's outcome must be (nil when it is fine, else why not).
local function judge(s, status, out)
  if status ~= "dead" then return "the call is still suspended after 20 resumes" end
  local ok, a, b = out[1], out[2], out[3]
  if not ok then
    if s.raised[a] then return nil end
    if type(a) ~= "string" then return "raised a non-string error: " .. tostring(a) end
    for k in pairs(s.raised) do
      if type(k) == "string" and a:find(k, 1, true) then return nil end
    end
    if s.yielded and a:find("yield", 1, true) then return nil end
    if a:find("ims[%.%w_]*[:.]%w") then return nil end
    return "raised an error that is not misuse: " .. a
  end
  if a == nil and out.n >= 2 then
    if b == "fuzz-stop" then return nil end -- our callback's own nil, err, handed back
    if not ims.is_error(b) then return "returned nil and a non-ims.Error: " .. tostring(b) end
    local text = tostring(b)
    if text:find(CONTROL) then return "tostring(err) carries a control byte: " .. text end
    if type(b.kind) ~= "string" then return "err.kind is not a string" end
  end
  return nil
end

local function new_client(s, url)
  if s.client then pcall(s.client.close, s.client) end
  s.client = ims.new { endpoint = url, project_id = "p", auth = { token = "fuzz-token" },
    timeout = 1, stall_timeout = 1, connect_timeout = 1, max_body = 65536,
    retry = { attempts = 2, base_delay = 0.01, max_delay = 0.02 } }
  s.closed = false
  if s.obs_client then pcall(s.obs_client.close, s.obs_client) end
  s.obs_client = ims.new { endpoint = url, obs_endpoint = url, auth = { ak = "AK", sk = "fuzz-SK" },
    timeout = 1, stall_timeout = 1, connect_timeout = 1, max_body = 65536,
    retry = { attempts = 2, base_delay = 0.01, max_delay = 0.02 } }
  s.image = s.client.images:_wrap(image_body(s.rng))
  s.job = s.client.jobs:wrap(UUID)
  if s.journal then pcall(s.journal.close, s.journal) end
  s.journal = assert(s.client:journal(s.dir .. "/fuzz.journal"))
end

-- Runs `iters` calls from `seed` against the hostile peer `h`, files under `dir`. Returns the
-- failures ({{i, call, why}}) and counts {calls, raised, errors, values}.
function M.run(h, seed, iters, dir)
  local s = new_state(seed, dir)
  local f = assert(io.open(dir .. "/src", "wb"))
  f:write(string.rep("s", 3000))
  f:close()
  local pool = responses(image_body(s.rng), job_body)
  local failures, counts = {}, { calls = 0, raised = 0, errors = 0, values = 0 }
  new_client(s, h.url)
  for i = 1, iters do
    if i % 200 == 1 then h:reset() end -- the peer's log stays small on long runs
    local answers = {}
    for k = 1, s.rng(3) do answers[k] = pick(s, pool) end
    h:routes { ["*"] = answers }
    local c = pick(s, CALLS)
    local recv = receiver(s, c[1])
    s.raised, s.yielded = {}, false
    local args = {}
    for k = 3, #c do
      args[k - 2] = c[k] == "wait" and bounded_wait(arg(s, "opts")) or arg(s, c[k])
    end
    local n = #c - 2
    -- too few or too many arguments (a wait keeps its bounded opts)
    if s.rng(8) == 1 and c[#c] ~= "wait" then n = s.rng(n + 2) - 1 end
    local self_arg = recv
    if c[1] ~= "ims" and s.rng(20) == 1 then self_arg = gen(s) end -- called with '.'
    if M.trace then M.trace(i, c[1] .. ":" .. c[2], answers, table.unpack(args, 1, n)) end
    local w0 = os.time()
    local status, out = run_call(function()
      local method = recv[c[2]]
      if c[1] == "ims" then return method(table.unpack(args, 1, n)) end
      return method(self_arg, table.unpack(args, 1, n))
    end)
    counts.calls = counts.calls + 1
    if not out[1] then counts.raised = counts.raised + 1
    elseif out[2] == nil then counts.errors = counts.errors + 1
    else counts.values = counts.values + 1 end
    local why = judge(s, status, out)
    if not why and os.time() - w0 > 8 then why = "took " .. (os.time() - w0) .. " s" end
    if why then
      failures[#failures + 1] = { i = i, call = c[1] .. ":" .. c[2], why = why }
      if #failures >= 20 then break end
    end
    if c[1] == "ims" and out[1] and type(out[2]) == "table" and out[2].close then
      pcall(out[2].close, out[2]) -- a client ims.new made
    end
    -- The client must still work: a good answer gives an image (unless a callback closed it).
    if s.closed or i % 10 == 0 then
      if s.closed then new_client(s, h.url) end
      h:routes { ["*"] = { { status = 200, headers = { ["Content-Type"] = "application/json" },
        body = json.encode(image_body(s.rng)) } } }
      local img, err = s.client.images:get(UUID)
      if not (img and img.id == UUID) then
        failures[#failures + 1] = { i = i, call = c[1] .. ":" .. c[2],
          why = "the client no longer works: " .. tostring(err) }
        new_client(s, h.url)
      end
    end
  end
  pcall(s.journal.close, s.journal)
  s.client:close()
  return failures, counts
end

return M
