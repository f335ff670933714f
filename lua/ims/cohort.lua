-- ims.cohort: the polling schedule of jobs waited on together (jobs:wait_all, job:wait).
--
-- Jobs of one type started together usually end together, so polling each on its own backoff
-- mostly asks "not yet", hundreds of times. Instead, per job type:
--   * one job, the scout (the earliest begun), is polled often: the normal backoff capped at
--     2 * max_interval / n for n jobs of the type (never below `interval`), so a big cohort
--     is watched every `interval` for the price of about two of its members;
--   * the others are polled every max_interval, the same bound as the plain backoff;
--   * when a job of the type succeeds the cohort is released: each waiting job is pulled forward
--     to when it should end, given that it began `d` seconds after the one that ended (so, `d`
--     seconds from now), and falls back to the backoff from `interval` if it has not.
-- A lone job of its type gets the plain backoff. Server times are compared only with server
-- times (begin_time), so clock skew cannot mislead.
local utc = require "ims.utc"

local M = {}
local Cohort = {}
Cohort.__index = Cohort

local function finished(status) return status == "SUCCESS" or status == "FAIL" end
M.finished = finished -- a job status that will not change again

-- jobs: the job objects being waited on (filled in place as polls return).
function M.new(jobs, interval, max_interval)
  return setmetatable({ jobs = jobs, interval = interval, max_interval = max_interval,
    kind_of = {}, size = {}, polled = 0, scout = {}, released = {} }, Cohort)
end

-- Notes that job i was polled, and counts it in its type's cohort (kind may be nil: unknown).
function Cohort:learn(i, kind)
  local old = self.kind_of[i] -- nil: never polled; false: polled, type unknown
  if old == nil then self.polled = self.polled + 1 end
  if kind == nil then
    if old == nil then self.kind_of[i] = false end
    return
  end
  if old == kind then return end
  if old then self.size[old] = self.size[old] - 1 end
  self.kind_of[i] = kind
  self.size[kind] = (self.size[kind] or 0) + 1
end

-- Job i will not be polled again: it leaves its cohort's count.
function Cohort:forget(i)
  local old = self.kind_of[i]
  if old == nil then self.polled = self.polled + 1 elseif old then self.size[old] = self.size[old] - 1 end
  self.kind_of[i] = false
end

-- How many waiting jobs may be of this type: those known to be, and those not polled yet
-- (during the first round the first job of a type is a scout, not a lone job).
function Cohort:cohort_size(kind)
  return (self.size[kind] or 0) + #self.jobs - self.polled
end

-- The scout's next delay: the backoff (interval × 1.5 per poll), capped for big cohorts.
function Cohort:scout_delay(s, kind)
  local share = 2 * self.max_interval / self:cohort_size(kind)
  local cap = math.max(self.interval, math.min(self.max_interval, share))
  local d = math.min(self.interval * 1.5 ^ s.polls, cap)
  s.polls = s.polls + 1
  return d
end

-- Job i is still running (doc is its document): seconds until its next poll, or nil for the
-- next step of the poller's own backoff.
function Cohort:running(i, doc, now)
  local kind, b = doc.job_type, utc.seconds(doc.begin_time)
  self:learn(i, kind)
  if not (kind and b) then return nil end
  local rel = self.released[kind]
  if rel then
    local due = rel.at + (b - rel.begin) - now
    return due > 0 and due or nil
  end
  if self:cohort_size(kind) < 2 then return nil end
  local s = self.scout[kind]
  if not s or b < s.begin then
    s = { i = i, begin = b, polls = 0 }
    self.scout[kind] = s
  end
  if s.i == i then return self:scout_delay(s, kind) end
  return self.max_interval
end

-- Job i has finished: {[k] = seconds} for waiting jobs to poll sooner (the poller's hints), or
-- nil. A success releases its cohort; a failed scout hands over to the earliest-begun job
-- still running.
function Cohort:finished(i, doc, now)
  self:forget(i)
  local kind, b = doc.job_type, utc.seconds(doc.begin_time)
  if not kind or self.released[kind] then return nil end
  local s = self.scout[kind]
  if s and s.i == i then self.scout[kind] = nil end
  local success = doc.status == "SUCCESS" and b
  if success then self.released[kind] = { at = now, begin = b } end
  local hints, next_scout, next_begin
  for k, job in ipairs(self.jobs) do
    local bk = k ~= i and not finished(job.status) and job.job_type == kind and utc.seconds(job.begin_time)
    if bk and success then
      hints = hints or {}
      hints[k] = math.max(0, bk - b)
    elseif bk and not self.scout[kind] and (not next_begin or bk < next_begin) then
      next_scout, next_begin = k, bk
    end
  end
  if next_scout then
    self.scout[kind] = { i = next_scout, begin = next_begin, polls = 0 }
    hints = { [next_scout] = self.interval }
  end
  return hints
end

return M
