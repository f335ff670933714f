-- client.jobs: IMS asynchronous jobs. get/refresh are plain requests; wait and wait_all hand
-- the polling to the C core (session:poll: one multi handle, backoff with jitter, one
-- deadline) and keep only the meaning here: what a job document says, what is transient.
local errors = require "ims.errors"
local json = require "ims.json"
local url = require "ims.url"
local validate = require "ims.validate"

local M = {}

local Jobs = {}
Jobs.__index = Jobs
Jobs.__name = "ims.Jobs"

local WAIT_OPTS = { timeout = "number", interval = "number", max_interval = "number",
  progress = "function" }

local methods = {}

function M.new(client)
  local self = setmetatable({ client = client }, Jobs)
  self._mt = { __index = methods, __name = "ims.Job", jobs = self }
  return self
end

local function F(name) return "ims.jobs:" .. name end

local function job_id(fname, v) return validate.id(fname, "job", v, { "job_id", "id" }) end

-- The image a job produced: entities.image_id, else the first sub-job's.
local function image_of(doc)
  local e = type(doc.entities) == "table" and doc.entities or {}
  if e.image_id then return e.image_id end
  for _, sub in ipairs(e.sub_jobs_result or {}) do
    if type(sub) == "table" and type(sub.entities) == "table" and sub.entities.image_id then
      return sub.entities.image_id
    end
  end
end

-- Fills `job` (kept: its identity and methods) with a job document.
local function fill(self, job, doc)
  for k in pairs(job) do job[k] = nil end
  for k, v in pairs(doc) do job[k] = v end
  job.image_id = image_of(doc)
  return setmetatable(job, self._mt)
end

-- The project in job URLs: given, or learnt from a project_name-scoped token. Raises when
-- the client cannot know it; returns nil, err when getting the token failed.
local function project(self, fname, level)
  local c = self.client
  if not c.project_id and not (c._auth and c._auth.kind == "password") then
    error(fname .. ": the client has no 'project_id' (ims.new{project_id = ...})", level + 1)
  end
  return c:project()
end

function Jobs:get(job)
  local fname = F "get"
  self.client:check_open(fname)
  local id = job_id(fname, job)
  local p, perr = project(self, fname, 2)
  if not p then return nil, perr end
  local res, err = self.client:request { path = url.path("v1", p, "jobs", id), expect = 200 }
  if not res then return nil, err end
  return fill(self, {}, res.json)
end

-- A job object for an id (or a job table), without a request.
function Jobs:wrap(job)
  local id = job_id(F "wrap", job)
  if type(job) == "table" then return setmetatable(job, self._mt) end
  return setmetatable({ job_id = id }, self._mt)
end

local function finished(status) return status == "SUCCESS" or status == "FAIL" end

-- Polls jobs (objects, updated in place) until each is SUCCESS or FAIL, or the deadline.
-- Returns the 1-based indexes that failed, those still unfinished, and request errors by index.
local function poll(self, fname, jobs, opts)
  local client = self.client
  local p, aerr = project(self, fname, 3)
  if not p then return nil, nil, nil, aerr end
  local progress = opts.progress
  local seen, request_errors, reauthed = {}, {}, false
  local urls = {}
  for i, job in ipairs(jobs) do
    urls[i] = client:url(url.path("v1", p, "jobs", job.job_id))
  end
  local auth_failure = {}
  local ok, r = pcall(client._session.poll, client._session, {
    count = #jobs, delay = opts.interval or 2, interval = opts.interval or 2,
    max_interval = opts.max_interval or 10, timeout = opts.timeout or 1200,
    prepare = function(i)
      client:throttle()
      local headers = { Accept = "application/json" }
      for k, v in pairs(client._headers) do headers[k] = v end
      local a = client._auth
      if a then
        local fresh, err = a:ensure(client._session)
        if not fresh then -- a token refresh failure ends the wait
          auth_failure.err = err
          error(auth_failure)
        end
        headers = a:poll_headers(urls[i], headers, client.project_id)
      end
      return urls[i], headers
    end,
    decide = function(i, res, terr)
      if terr then return nil end -- resets, timeouts: transient, back off
      local s = res.status
      if s == 200 then
        local doc = json.decode(res.body)
        if type(doc) ~= "table" or type(doc.status) ~= "string" then return nil end
        local job = fill(self, jobs[i], doc)
        local pct = type(doc.entities) == "table" and doc.entities.process_percent or nil
        local key = doc.status .. "/" .. tostring(pct)
        if progress and seen[i] ~= key then progress(job) end
        seen[i] = key
        return finished(doc.status)
      end
      if s == 429 then
        local after = tonumber(res.headers["retry-after"] or "")
        return after and math.max(after, 0.1) or nil
      end
      if s >= 500 then return nil end
      if s == 401 and client._auth and client._auth.kind == "password" and not reauthed then
        reauthed = true -- one new token for the whole wait, then poll again at once
        client._auth:invalidate()
        return 0
      end
      request_errors[i] = errors.from_response(res, "GET", urls[i])
      return true
    end,
  })
  if not ok then
    if r == auth_failure then return nil, nil, nil, auth_failure.err end
    error(r, 0) -- the caller's progress function raised: let it through
  end
  local failed = {}
  for i, job in ipairs(jobs) do
    if job.status == "FAIL" or request_errors[i] then failed[#failed + 1] = i end
  end
  return failed, r.pending, request_errors
end

local function job_error(job, rerr)
  if rerr then
    rerr.job = job
    return rerr
  end
  return errors.new { kind = "job_failed", code = job.error_code, job = job,
    message = string.format("job %s (%s) failed: %s", tostring(job.job_id), tostring(job.job_type),
      tostring(job.fail_reason or "no reason given")) }
end

-- wait_all(jobs, opts) -> jobs (in input order, each updated), err | nil
function Jobs:wait_all(jobs, opts)
  local fname = F "wait_all"
  self.client:check_open(fname)
  validate.arg(fname, "jobs", jobs, "table")
  opts = validate.options(fname, opts, WAIT_OPTS)
  local list = {}
  for i, j in ipairs(jobs) do list[i] = self:wrap(j) end
  local failed, pending, rerrs, err = poll(self, fname, list, opts)
  if err then return nil, err end
  if #failed > 0 then
    local first = job_error(list[failed[1]], rerrs[failed[1]])
    return list, errors.new { kind = "job_failed", code = first.code, failed = failed,
      message = string.format("%d of %d jobs failed; first: %s", #failed, #list, first.message),
      job = first.job }
  end
  if #pending > 0 then
    return list, errors.new { kind = "timeout", failed = pending, job = list[pending[1]],
      message = string.format("%d of %d jobs still running after %gs", #pending, #list,
        opts.timeout or 1200), retryable = true }
  end
  return list
end

-- job:wait(opts) -> job (SUCCESS) | nil, err (job_failed or timeout; err.job is the job)
function methods:wait(opts)
  local self_jobs = getmetatable(self).jobs
  local fname = "ims.job:wait"
  self_jobs.client:check_open(fname)
  opts = validate.options(fname, opts, WAIT_OPTS)
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

function methods:refresh()
  local jobs = getmetatable(self).jobs
  local fresh, err = jobs:get(self)
  if not fresh then return nil, err end
  return fill(jobs, self, fresh)
end

function methods:image()
  local jobs = getmetatable(self).jobs
  if not self.image_id then
    error("ims.job:image: the job has no image_id (status " .. tostring(self.status) .. ")", 2)
  end
  return jobs.client.images:get(self.image_id)
end

M.Jobs = Jobs
return M
