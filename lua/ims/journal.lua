-- ims.journal: a small file that maps a script's own keys to the jobs and images it started,
-- so a rerun after a crash or a timeout picks them up instead of starting them twice. One line
-- per record, "key<TAB>kind<TAB>id", appended and flushed as soon as the id is known; the last
-- record of a key wins, and a torn last line (a crash mid-write) is ignored.

--- Journals: `client:journal(path)`.
-- A rerun of a pipeline must not import, create or export the same thing twice. A journal
-- records, under a key the script chooses, the job or image a call started; on a rerun the same
-- key gives back the recorded one without calling again.
-- @module ims.journal
local errors = require "ims.errors"

local M = {}

-- Every field is written %-encoded (tabs, line breaks, '%' and every other control byte), so no
-- value, whatever a server put in it, can end a record or forge another.
local function encode(v)
  return (v:gsub("[%c%%\127]", function(c) return string.format("%%%02X", c:byte()) end))
end
local function decode(v)
  return (v:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

local Journal = {}
Journal.__index = Journal
Journal.__name = "ims.Journal"

local function F(name) return "ims.journal:" .. name end

local function check_key(fname, key)
  if type(key) ~= "string" or key == "" or key:find("[\t\r\n]") then
    error(fname .. ": argument 'key' must be a non-empty string without tabs or line breaks", 4)
  end
end

-- Opens (creating it) the journal at `path` for `client`; returns the journal or nil, err.
function M.open(client, path)
  local records, torn = {}, false
  local f = io.open(path, "rb")
  if f then
    local text, rerr = f:read("a") -- nil on a directory (opening one succeeds)
    f:close()
    if not text then
      return nil, errors.new { kind = "file", code = "FILE",
        message = "cannot read " .. path .. ": " .. tostring(rerr) }
    end
    for line in text:gmatch("([^\n]*)\n") do -- a torn last line (no newline yet) is not a record
      local key, kind, id = line:match("^([^\t]+)\t(%a+)\t([^\t]+)$")
      if key then records[decode(key)] = { kind = kind, id = decode(id) } end
    end
    torn = text ~= "" and text:sub(-1) ~= "\n"
  end
  local out, msg = io.open(path, "ab")
  if out and torn then out:write("\n") end -- the next record starts on a line of its own
  if not out then
    return nil, errors.new { kind = "file", code = "FILE", message = "cannot write " .. tostring(msg) }
  end
  return setmetatable({ client = client, path = path, records = records, file = out }, Journal)
end

-- Checks a call's arguments: an open journal, a key, a function.
local function check(self, fname, key, fn, fn_name)
  if getmetatable(self) ~= Journal then
    error(fname .. ": call it with ':' (journal:" .. fname:match("[^:]+$") .. "(...))", 3)
  end
  if not self.file then error(fname .. ": the journal is closed", 3) end
  check_key(fname, key)
  if type(fn) ~= "function" then error(fname .. ": argument '" .. fn_name .. "' must be a function", 3) end
end

-- Appends one record and flushes it to the file before returning.
local function record(self, key, kind, id)
  self.records[key] = { kind = kind, id = id }
  local ok, msg = self.file:write(encode(key), "\t", kind, "\t", encode(id), "\n")
  if ok then ok, msg = self.file:flush() end
  if not ok then
    return errors.new { kind = "file", code = "FILE", message = "cannot write " .. self.path .. ": "
      .. tostring(msg) }
  end
end

-- The record of `key` when it is of `kind`; raises when the key names another kind.
local function recorded(self, fname, key, kind)
  local r = self.records[key]
  if r and r.kind ~= kind then
    error(fname .. ": key '" .. key .. "' is recorded for a " .. r.kind, 3)
  end
  return r
end

--- A journal: `job` and `image` run their function once per key across runs.
-- @type Journal
-- @usage
-- local journal <close> = assert(client:journal("pipeline.journal"))
-- local job = assert(journal:job("import golden", function()
--   return client.cloudimages:create { name = "golden", image_url = "bucket:golden.qcow2",
--     min_disk = 40 }
-- end))
-- assert(job:wait()) -- a rerun waits for the same job (or sees it already done)

--- The job recorded under `key`, or the one `start()` starts, then recorded.
-- @tparam string key the script's name for this step (no tabs or line breaks)
-- @tparam function start called only when `key` has no record: returns a job (a job object
-- or table with `job_id`) or `nil, err`
-- @treturn[1] ims.jobs.Job the job (recorded: a job object with only `job_id`, no request made)
-- @treturn[1] nil
-- @treturn[1] string `"started"` or `"recorded"`
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what `start` returned (nothing is recorded), or kind `file` when
-- the record could not be written (the job was started: `err.job`)
-- @raise on misuse: a bad key, `start` not a function, a key recorded for an image, a closed
-- journal; an error raised by `start` is raised again
-- @usage local job = assert(journal:job("export", function() return client.cloudimages:export(id, opts) end))
function Journal:job(key, start)
  local fname = F "job"
  check(self, fname, key, start, "start")
  local r = recorded(self, fname, key, "job")
  if r then return self.client.jobs:wrap(r.id), nil, "recorded" end
  local job, err = start()
  if not job then
    if err == nil then error(fname .. ": 'start' returned nothing (a job, or nil and an error)", 2) end
    return nil, err
  end
  local id = type(job) == "table" and (job.job_id or job.id)
  if type(id) ~= "string" then error(fname .. ": 'start' must return a job (a table with job_id)", 2) end
  local werr = record(self, key, "job", id)
  if werr then
    werr.job = job
    return nil, werr
  end
  return self.client.jobs:wrap(job), nil, "started"
end

--- What is recorded under `key`, without a request: `"job"`, `"image"` or `false`.
-- @tparam string key the script's name for a step
-- @treturn string|boolean the kind of the record, or `false`
-- @raise on misuse: a bad key, a closed journal
-- @usage if journal:has("import") then print("resuming the import") end
function Journal:has(key)
  local fname = F "has"
  check(self, fname, key, function() end, "fn")
  local r = self.records[key]
  return r and r.kind or false
end

--- The image recorded under `key` (fetched again), or the one `create()` makes, then recorded.
-- A recorded image that no longer exists (404) is made again.
-- @tparam string key the script's name for this step (no tabs or line breaks)
-- @tparam function create called only when `key` has no (living) image: returns an image (a
-- table with `id`) or `nil, err`
-- @treturn[1] ims.images.Image the image
-- @treturn[1] nil
-- @treturn[1] string `"created"` or `"recorded"`
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what `create` or the lookup returned, or kind `file` when the
-- record could not be written (`err.image_id`)
-- @raise on misuse: a bad key, `create` not a function, a key recorded for a job, a closed
-- journal; an error raised by `create` is raised again
-- @usage
-- local img = assert(journal:image("golden", function()
--   return client.images:import("golden.qcow2", { name = "golden", disk_format = "qcow2",
--     container_format = "bare" })
-- end))
function Journal:image(key, create)
  local fname = F "image"
  check(self, fname, key, create, "create")
  local r = recorded(self, fname, key, "image")
  if r then
    local img, err = self.client.images:get(r.id)
    if img then return img, nil, "recorded" end
    if err.status ~= 404 then return nil, err end
  end
  local img, err = create()
  if not img then
    if err == nil then error(fname .. ": 'create' returned nothing (an image, or nil and an error)", 2) end
    return nil, err
  end
  if type(img) ~= "table" or type(img.id) ~= "string" then
    error(fname .. ": 'create' must return an image (a table with id)", 2)
  end
  local werr = record(self, key, "image", img.id)
  if werr then
    werr.image_id = img.id
    return nil, werr
  end
  return img, nil, "created"
end

--- Closes the journal's file. Idempotent; also `__close` and `__gc`.
-- @treturn boolean `true`
-- @raise never
-- @usage journal:close()
function Journal:close()
  if getmetatable(self) ~= Journal then error("ims.journal:close: call it with ':' (journal:close())", 2) end
  if self.file then
    self.file:close()
    self.file = nil
  end
  return true
end
Journal.__close = Journal.close
Journal.__gc = Journal.close

M.Journal = Journal
return M
