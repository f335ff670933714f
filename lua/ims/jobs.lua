-- client.jobs: IMS asynchronous jobs. get/refresh are plain requests; wait and wait_all hand
-- the polling to the C core (session:poll: one multi handle, backoff with jitter, one
-- deadline) and keep only the meaning here: what a job document says, what is transient.

--- IMS asynchronous jobs: `client.jobs` and job objects. Not required directly: every client has a
-- `jobs` table (`Jobs`); the asynchronous `ims.cloudimages.CloudImages` calls return `Job`
-- objects. Waiting runs in the C core on one curl multi handle, backing off ×1.5 from `interval`
-- to `max_interval` with ±25 % jitter. Jobs of one type waited on together share a schedule:
-- the earliest begun is watched closely, the others every `max_interval`, and when one
-- succeeds the others are polled when they should end (lua/ims/cohort.lua). 429 (after its
-- `Retry-After`), 5xx and connection failures are retried inside the deadline; a 401 with
-- password auth renews the token once. Jobs need the client's `project_id` (it is in the job
-- URL).
-- @module ims.jobs
local core = require "ims.native"
local errors = require "ims.errors"
local policy = require "ims.policy"
local url = require "ims.url"
local cohort = require "ims.cohort"
local utc = require "ims.utc"
local validate = require "ims.validate"
local verb = require "ims.verb"

local M = {}

local Jobs = {}
Jobs.__index = Jobs
Jobs.__name = "ims.Jobs"
local svc = verb.service("ims.jobs", Jobs, "client.jobs")

local WAIT_OPTS = { timeout = "number", interval = "number", max_interval = "number",
  progress = "function" }

local methods = {}

-- The service for `client`, made in `self` when given (client.lua's first-use stub).
function M.new(client, self)
  self = setmetatable(self or {}, Jobs)
  self.client = client
  self._mt = { __index = methods, __name = "ims.Job", jobs = self }
  return self
end

local function F(name) return "ims.jobs:" .. name end

-- The wait options, checked where the user passed them: finite numbers >= 0.
local function wait_opts(fname, opts)
  opts = validate.options(fname, opts, WAIT_OPTS, 4)
  for _, k in ipairs { "timeout", "interval", "max_interval" } do
    local v = opts[k]
    if v ~= nil and not (v >= 0 and v < math.huge) then
      error(fname .. ": option '" .. k .. "' must be a finite number >= 0 (got " .. tostring(v) .. ")", 3)
    end
  end
  return opts
end

-- A Jobs method called with '.' instead of ':' gets a message, not an index error.
local function check_self(self, fname)
  if getmetatable(self) ~= Jobs then
    error(fname .. ": call it with ':' (client.jobs:" .. fname:match("[^:]+$") .. "(...))", 3)
  end
end

local function job_id(fname, v) return validate.id(fname, "job", v, { "job_id", "id" }) end

local wire_id = validate.wire_id

-- The image a job produced: entities.image_id, else the first sub-job's.
local function image_of(doc)
  local e = type(doc.entities) == "table" and doc.entities or {}
  if e.image_id ~= nil then return wire_id(e.image_id) end
  for _, sub in ipairs(type(e.sub_jobs_result) == "table" and e.sub_jobs_result or {}) do
    if type(sub) == "table" and type(sub.entities) == "table" and sub.entities.image_id then
      return wire_id(sub.entities.image_id)
    end
  end
end

-- Fills `job` (kept: its identity and methods) with a job document. The job's id stays ours:
-- a server naming another job in the answer must not make us poll that one.
local function fill(self, job, doc)
  local id = job.job_id
  for k in pairs(job) do job[k] = nil end
  for k, v in pairs(doc) do job[k] = v end
  job.job_id = id or wire_id(doc.job_id)
  job.image_id = image_of(doc)
  return setmetatable(job, self._mt)
end

-- The project in job URLs: given, or learnt from a project_name-scoped token. Raises when
-- the client cannot know it; returns nil, err when getting the token failed.
local function project(self, fname, level)
  return self.client:project_for(fname, level + 1)
end

--- The job API of a client: `client.jobs`.
-- @type Jobs
-- @usage
-- local jobs, err = client.jobs:wait_all({ job1, job2 }, { interval = 2, max_interval = 10 })

--- Gets a job (`GET /v1/{project_id}/jobs/{job_id}`).
-- @param job a job id (string) or a job table (`job_id` or `id` field)
-- @treturn[1] Job a new job object: `job_id`, `status`, `job_type`, `begin_time`, `end_time`,
-- `entities`, `error_code`, `fail_reason`, `image_id`
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...)
-- @raise on misuse: the client has no `project_id` (and no password `auth` to learn it from), a
-- job that is neither a non-empty id nor a table with one, a closed client
-- @usage local job = assert(client.jobs:get(job_id)); print(job.status, job.image_id)
function Jobs:get(job)
  local fname = F "get"
  verb.check(svc, self, fname, 3)
  local id = job_id(fname, job)
  local p, perr = project(self, fname, 2)
  if not p then return nil, perr end
  return verb.send(self, { path = url.path("v1", p, "jobs", id), expect = 200 }, function(_, doc)
    if type(doc) ~= "table" or type(doc.status) ~= "string" then return nil, "a job document" end
    return fill(self, { job_id = id }, doc) -- our id, whatever the answer says
  end)
end

--- A job's progress (`GET /v1/cloudimages/job/{job_id}`, ShowJobProgress): the job document with
-- `entities.process_percent` (0–100), `current_task`, `subJobId` and sub-job results where IMS
-- gives them. It needs no project id.
-- @param job a job id (string) or a job table (`job_id` or `id` field)
-- @treturn[1] table the document: `status`, `job_id`, `job_type`, `begin_time`, `end_time`,
-- `error_code`, `fail_reason`, `entities`, and `process_percent` (from `entities`, 0 when
-- absent)
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, `decode`)
-- @raise on misuse: a job that is neither a non-empty id nor a table with one, a closed client
-- @usage local p = assert(client.jobs:progress(job)); print(p.status, p.process_percent .. " %")
Jobs.progress = verb.make(svc, { name = "progress", path = { "v1", "cloudimages", "job", "{job}" },
  wrap = function(_, doc)
    if type(doc) ~= "table" or type(doc.status) ~= "string" then return nil, "a job document" end
    local e = type(doc.entities) == "table" and doc.entities or {}
    local pct = tonumber(e.process_percent)
    doc.process_percent = pct and pct == pct and math.max(0, math.min(100, pct)) or 0
    doc.current_task = type(e.current_task) == "string" and e.current_task or nil
    return doc
  end })

-- A job object for an id (or a job table), without a request.

--- A job object for an id, without a request.
-- @param job a job id (string), or a job table (`job_id` or `id` field), which is given the
-- job methods in place
-- @treturn Job the job (only `job_id` set for an id)
-- @raise on misuse: a job that is neither a non-empty id nor a table with one. Never returns
-- `nil, err`.
-- @usage local job = client.jobs:wrap(saved_job_id); assert(job:wait())
function Jobs:wrap(job)
  check_self(self, F "wrap")
  local id = job_id(F "wrap", job)
  -- a plain table (or one of our jobs) becomes the job in place; an object of another kind
  -- (an image, another client's job) is left as it is, and a new job is made
  if type(job) == "table" and (getmetatable(job) == nil or getmetatable(job) == self._mt) then
    job.job_id = id -- a table holding only `id` gets `job_id` too: polls need it
    return setmetatable(job, self._mt)
  end
  return setmetatable({ job_id = id }, self._mt)
end

local finished = cohort.finished
local MAX_IN_FLIGHT = 16 -- polls of one wait at once
local MIN_INTERVAL = 0.05
-- Answers to polls in flight are taken together when they end within this of each other
-- (ims.engine's linger), and polls due within it go together: each wake-up of the process
-- costs far more than one more poll handled in it (200 jobs: ~0.065 s of CPU, was ~0.09 s).
local LINGER = 0.02

-- Polls jobs (objects, updated in place) until each is SUCCESS or FAIL, or the deadline, on
-- the client's engine: a driver task starts each job's poll when ims.cohort says, up to
-- MAX_IN_FLIGHT at once, and sleeps until the next is due or a poll answers. Each poll is one
-- request of the client's (signed, logged, rate limited, a 401 mended once); a failure that
-- may pass (429 after its Retry-After, 5xx, resets) is polled again later, one that will not
-- ends that job's wait. Returns the 1-based indexes that failed, those still unfinished, and
-- request errors by index; or nil, nil, nil, err when a token could not be had.
local function poll(self, fname, jobs, opts)
  local client = self.client
  local p, aerr = project(self, fname, 3)
  if not p then return nil, nil, nil, aerr end
  local progress = opts.progress
  local interval = math.max(MIN_INTERVAL, opts.interval or 2)
  local max_interval = math.max(interval, opts.max_interval or 10)
  local deadline = policy.deadline(opts.timeout or 1200)
  local eng = client:engine()
  local schedule = cohort.new(jobs, interval, max_interval, core.now())
  local paths, seen, request_errors, polls = {}, {}, {}, {}
  for i, job in ipairs(jobs) do paths[i] = url.path("v1", p, "jobs", job.job_id) end
  local wake = { at = 0 }
  local in_flight, stop = 0, nil -- stop = {err =} (a token failure) or {raised =}

  local function poll_body(i)
    local t_send = core.now()
    local ready, rerr = client:ready() -- a token that cannot be had ends the wait
    if not ready then
      stop = stop or { err = rerr }
      return
    end
    polls[i] = (polls[i] or 0) + 1
    local res, err = client:request { path = paths[i], expect = 200, retry = false,
      log_attempt = polls[i], deadline = policy.deadline(math.min(30, math.max(0.001, deadline:left()))) }
    local t_recv = core.now()
    local doc = res and res.json
    if res and (type(doc) ~= "table" or type(doc.status) ~= "string") then
      schedule:failed(i, nil, t_recv) -- not a job document: ask again later
    elseif res then
      local job = fill(self, jobs[i], doc)
      schedule:seen(i, doc, t_send, t_recv, utc.http_date(res.headers.date))
      if progress then
        local pct = type(doc.entities) == "table" and doc.entities.process_percent or nil
        local key = doc.status .. "/" .. tostring(pct)
        if seen[i] ~= key then
          seen[i] = key
          progress(job)
        end
      end
    elseif err.retryable then
      schedule:failed(i, err.retry_after and math.max(err.retry_after, 0.1) or nil, t_recv)
    else
      request_errors[i] = err
      schedule:drop(i)
    end
  end

  local function poll_one(i)
    local ok, perr = pcall(poll_body, i)
    if not ok then stop = stop or { raised = perr } end -- the caller's progress raised
    in_flight = in_flight - 1
    eng:move(wake, 0) -- the driver looks again
  end

  local driver = eng:spawn(function()
    local me = eng:current()
    -- until every job is done and every poll's progress call has returned
    while (schedule.pending > 0 or in_flight > 0) and not stop and not deadline:expired() do
      local now = core.now()
      -- those due within LINGER go now too: one wake-up for polls due close together
      for _, i in ipairs(schedule:due(now + LINGER, MAX_IN_FLIGHT - in_flight)) do
        in_flight = in_flight + 1
        schedule:sent(i, now)
        eng:spawn(poll_one, i)
      end
      local next_at = schedule:next_wake()
      if in_flight >= MAX_IN_FLIGHT then next_at = math.huge end -- a poll's answer wakes us
      wake.at = math.min(next_at, deadline.at)
      eng:sleep_until(wake)
    end
    for child in pairs(me.children) do eng:stop(child) end -- polls still out at the deadline
  end)
  -- (counted: waits run side by side in client:map's tasks)
  eng.waits, eng.linger = (eng.waits or 0) + 1, LINGER
  local ok, jerr = pcall(eng.join, eng, { driver })
  eng.waits = eng.waits - 1
  if eng.waits == 0 then eng.linger = nil end
  if not ok then error(jerr, 0) end
  if driver.error ~= nil then error(driver.error, 0) end
  if stop and stop.raised ~= nil then error(stop.raised, 0) end
  if stop and stop.err then return nil, nil, nil, stop.err end
  local failed, pending = {}, {}
  for i, job in ipairs(jobs) do
    if job.status == "FAIL" or request_errors[i] then failed[#failed + 1] = i
    elseif not finished(job.status) then pending[#pending + 1] = i end
  end
  return failed, pending, request_errors
end

local function job_error(job, rerr)
  if rerr then
    rerr.job = job
    return rerr
  end
  -- the message is IMS's own fail_reason (api.md); the job says which job it was
  return errors.new { kind = "job_failed", code = job.error_code, job = job,
    message = job.fail_reason or string.format("job %s (%s) failed with no reason given",
      tostring(job.job_id), tostring(job.job_type)) }
end

-- wait_all(jobs, opts) -> jobs (in input order, each updated), err | nil

--- Waits for many jobs at once, polling them all on one curl multi handle within one
-- deadline.
-- @tparam {Job|string,...} jobs job objects, job tables or ids
-- @tparam[opt] table opts `timeout` (seconds, default 1200), `interval` (first poll delay,
-- default 2), `max_interval` (default 10), `progress = function(job)` (called when the status or
-- `entities.process_percent` changes)
-- @treturn[1] {Job,...} the jobs, in input order, each updated in place (ids become job
-- objects), when all succeeded
-- @treturn[2] {Job,...} the jobs, as above
-- @treturn[2] ims.errors.Error kind `job_failed` (a job ended in `FAIL` or could not be polled;
-- `err.failed` = their indexes, `err.code` and `err.job` from the first, `err.errors[i]` the
-- request error of a job that could not be polled) or `timeout`
-- (`err.failed` = the indexes still running, which can be waited on again)
-- @treturn[3] nil
-- @treturn[3] ims.errors.Error getting a token failed (kind `auth`, ...)
-- @raise on misuse: `jobs` not a table, an entry that is neither a job id nor a job table, an
-- unknown option, the client has no `project_id` (and no password `auth` to learn it from), a
-- closed client; an error raised by `progress` is raised again
-- @usage
-- local jobs, err = client.jobs:wait_all({ import_job, export_job }, { timeout = 3600,
--   progress = function(j) print(j.job_id, j.status) end })
-- if err then print(err.kind, table.concat(err.failed, ",")) end
function Jobs:wait_all(jobs, opts)
  local fname = F "wait_all"
  verb.check(svc, self, fname, 3)
  validate.arg(fname, "jobs", jobs, "table")
  opts = wait_opts(fname, opts)
  local list = {}
  for i, j in ipairs(jobs) do
    job_id(fname, j) -- a bad entry is named for wait_all, not wrap
    list[i] = self:wrap(j)
  end
  local failed, pending, rerrs, err = poll(self, fname, list, opts)
  if err then return nil, err end
  if #failed > 0 then
    local first = job_error(list[failed[1]], rerrs[failed[1]])
    -- each failure explains itself: a FAIL job by its error_code/fail_reason, a job whose
    -- status could not be read by the request's ims.Error in `errors[i]`
    -- like job:wait's: the first failure's code and message (fail_reason); `failed` says which
    return list, errors.new { kind = "job_failed", code = first.code, failed = failed,
      message = first.message, status = first.status, job = first.job, errors = rerrs }
  end
  if #pending > 0 then
    return list, errors.new { kind = "timeout", failed = pending, job = list[pending[1]],
      message = string.format("%d of %d jobs still running after %gs", #pending, #list,
        opts.timeout or 1200), retryable = true }
  end
  return list
end

-- job:wait(opts) -> job (SUCCESS) | nil, err (job_failed or timeout; err.job is the job)

--- A job: a plain table of the job document's fields (`job_id`, `status` — `SUCCESS`,
-- `FAIL`, `RUNNING`, `INIT` —, `job_type`, `begin_time`, `end_time`, `entities`, `error_code`,
-- `fail_reason`) plus `image_id` (`entities.image_id`, or the first sub-job's), with these
-- methods. Jobs come from the `ims.cloudimages.CloudImages` calls and from `Jobs:get`,
-- `Jobs:wrap`, `Jobs:wait_all`.
-- @type Job
-- @usage
-- local job = assert(client.cloudimages:export(id, { bucket_url = "b:o.qcow2", file_format =
-- "qcow2" }))
-- assert(job:wait())

--- Waits until the job ends.
-- @function Job:wait
-- @tparam[opt] table opts `timeout` (seconds, default 1200), `interval` (first poll delay,
-- default 2), `max_interval` (default 10), `progress = function(job)` (called when the status or
-- `entities.process_percent` changes)
-- @treturn[1] Job the job (updated in place) once `SUCCESS`
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error kind `job_failed` (`err.code` = `error_code`, `err.message`
-- carries `fail_reason`, `err.job`), or `timeout` (`err.job`, which can be waited on again), or
-- the error of a poll that was not transient (e.g. `http` 404, with `err.job`)
-- @raise on misuse: an unknown option, the client has no `project_id` (and no password `auth` to
-- learn it from), a closed client; an error raised by `progress` is raised again
-- @usage
-- local done, err = job:wait { timeout = 1800, progress = function(j) print(j.status) end }
-- if not done and err.kind == "timeout" then done, err = err.job:wait() end
function methods:wait(opts)
  local fname = "ims.job:wait"
  local self_jobs = verb.object(self, methods, fname).jobs
  self_jobs.client:check_open(fname)
  opts = wait_opts(fname, opts)
  local failed, pending, rerrs, err = poll(self_jobs, fname, { self }, opts)
  if err then return nil, err end
  if #failed > 0 then return nil, job_error(self, rerrs[1]) end
  if #pending > 0 then
    return nil, errors.new { kind = "timeout", job = self, retryable = true,
      message = string.format("job %s still %s after %gs", tostring(self.job_id),
        tostring(self.status or "unknown"), opts.timeout or 1200) }
  end
  return self
end

--- Reloads the job's fields (`Jobs:get`), in place.
-- @function Job:refresh
-- @treturn[1] Job the same object, updated
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...)
-- @raise on misuse: the client has no `project_id` (and no password `auth` to learn it from), a
-- closed client
-- @usage assert(job:refresh()); print(job.status, job.entities.process_percent)
function methods:refresh()
  local jobs = verb.object(self, methods, "ims.job:refresh").jobs
  local fresh, err = jobs:get(self)
  if not fresh then return nil, err end
  return fill(jobs, self, fresh)
end

--- Gets the image the job made (`Images:get` of its `image_id`).
-- @function Job:image
-- @treturn[1] ims.images.Image the image
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, ...)
-- @raise when the job has no `image_id` (not finished, or a job that makes no image), a
-- closed client
-- @usage local image = assert(assert(job:wait()):image()); print(image.id, image.status)
function methods:image()
  local jobs = verb.object(self, methods, "ims.job:image").jobs
  if not self.image_id and type(self.entities) == "table" and self.entities.image_id ~= nil then
    -- the server named an image, or was expected to, but nothing usable as an id: its doing
    return nil, errors.new { kind = "decode", job = self, message = "the job (" .. tostring(self.status)
      .. ") names no usable image id" }
  end
  if not self.image_id then
    error("ims.job:image: the job has no image_id (status " .. tostring(self.status) .. ")", 2)
  end
  return jobs.client.images:get(self.image_id)
end

M.Jobs = Jobs
return M
