-- ims.cohort: when to poll each of many jobs waited on together (jobs:wait_all, job:wait).
--
-- Jobs of one type started together end about as long after their start as each other, so
-- polling each on its own backoff mostly asks "not yet". Instead:
--   * A few jobs (fewer than 4) get the plain backoff: `interval`, growing x1.5 to
--     `max_interval`.
--   * Otherwise the first job is the scout: polled at `interval`, then ever more closely as it
--     runs (7 % to half of its age so far, the bigger the cohort the closer; between 0.2 s and
--     the plain backoff, so never more than max_interval apart). It watches for the others,
--     which are polled every 3 x max_interval (they might fail early) until the scout's type
--     is known to end: when a job of a type succeeds, its duration D (server times) predicts the
--     end of every job of that type: begin + D. A job never polled yet has its begin estimated
--     from its neighbours in the list (jobs are usually listed as they were started); the last
--     such job is polled at once, as an anchor.
--   * Predictions are in server time; the offset to our clock (local = server + offset) is
--     bracketed by what polls show: a response's Date (whole seconds) was written between our
--     sending and receiving it; a job seen begun or ended at local time t gives offset <=
--     t - that time; a job seen running at t that later ended at `end` gives offset > t - end.
--     A poll goes out at begin + D + the bracket's middle + a margin (a fortieth of D, at
--     most 1 s). D follows the recent durations (jobs started together slow each other down).
--   * Predicted polls of a type go out a window at a time: it doubles with each job found
--     done and drops to one when a job is still running at its predicted end. Such a job also
--     shows its type runs longer (a first job done early, on a server not yet busy, misled the
--     prediction): no job of the type is then predicted to end before the age it had (the
--     floor), each such miss in a row reaching 1.5 x further past it, and that job backs off
--     on its own, so the next try is another job's. 200 jobs whose first ends 2 s before the
--     others cost about 1.1 polls each this way, 4-5 without.
-- Server times are compared only with server times, and with our clock only through the
-- bracket, so clock skew cannot mislead.
local policy = require "ims.policy"
local utc = require "ims.utc"

local M = {}
local Schedule = {}
Schedule.__index = Schedule

local function finished(status) return status == "SUCCESS" or status == "FAIL" end
M.finished = finished -- a job status that will not change again

local SMALL = 4      -- fewer jobs than this: the plain backoff for each
local WATCHED = 3    -- a job its cohort's scout watches for is polled every WATCHED x max_interval
local MIN_GAP = 0.05 -- never poll one job twice within this

-- jobs: the job objects; now: core.now().
function M.new(jobs, interval, max_interval, now)
  local n = #jobs
  local self = setmetatable({ n = n, interval = interval, max_interval = max_interval,
    small = n < SMALL, st = {}, at = {}, live = {}, kinds = {}, lo = -math.huge,
    hi = math.huge, pending = n }, Schedule)
  for i = 1, n do
    local first = (self.small or i == 1) and interval or WATCHED * max_interval
    self.st[i] = { state = "unknown", polls = 0, fixed = now + first, last = -math.huge }
    self.at[i] = now + first
    self.live[i] = i -- the jobs not done, in list order
  end
  return self
end

-- The offset (local - server) to predict with: the middle of the bracket, or its top.
function Schedule:offset()
  if self.hi == math.huge then return nil end
  if self.lo > -math.huge then return (self.lo + self.hi) / 2 end
  return self.hi
end

-- Begin times for jobs never seen: from their nearest seen neighbours in the list (below[i],
-- above[i]), interpolated by position; nil without one on each side. The two passes are made
-- again only when a begin became known since (seen drops them), and only when an estimate is
-- asked for.
function Schedule:neighbours()
  local below, above, st, last = self.below or {}, self.above or {}, self.st, false
  for k = 1, self.n do
    below[k] = last
    if st[k].begin then last = k end
  end
  last = false
  for k = self.n, 1, -1 do
    above[k] = last
    if st[k].begin then last = k end
  end
  self.below, self.above, self.fresh = below, above, true
end

function Schedule:estimate(i)
  if not self.fresh then self:neighbours() end
  local lo, hi = self.below[i], self.above[i]
  if not (lo and hi) then return nil end
  local b1, b2 = self.st[lo].begin, self.st[hi].begin
  return b1 + (b2 - b1) * (i - lo) / (hi - lo), self.st[lo].kind
end

-- Local time to poll job i at, to find it ended, and the type that predicts it; nil when
-- nothing does (`off`: the offset, when the caller has it).
local function predict(self, i, off)
  if not self.durations then return nil end -- no job has ended yet: nothing to go by
  local s = self.st[i]
  off = off or self:offset()
  if not off then return nil end
  local b, kind = s.begin, s.kind
  if not b then b, kind = self:estimate(i) end
  local c = kind and self.kinds[kind]
  if not (b and c and c.D) then return nil end
  return b + math.max(c.D, c.floor) + off + c.reach, kind
end
Schedule.predict = predict

-- How far past a type's expected duration its jobs are polled (c.reach): the margin, 1.5 x
-- further for each prediction of the type found wrong in a row.
function Schedule:aim(c)
  c.reach = math.min(self.max_interval, c.margin * 1.5 ^ math.max(0, c.misses - 1))
end

-- Recomputes when each waiting job is next polled. Polls land one by one and each may move
-- every prediction, so they only mark the plan stale; it is made again, in one pass over the
-- jobs not done, when the driver asks (due, next_wake): once per turn of the driver.
function Schedule:reschedule()
  self.stale = false
  local st, at, live, kinds, n = self.st, self.at, self.live, self.kinds, 0
  local off = not self.small and self.durations and self:offset()
  local passed, pp, pk = {}, {}, {} -- found running since their type's last success
  for _, c in pairs(kinds) do c.fresh = false end
  for k = 1, #live do
    local i = live[k]
    local s = st[i]
    if s.state ~= "done" then
      n = n + 1
      live[n] = i
      if not s.inflight then
        local t, p, kind = s.fixed, nil, nil
        if off then p, kind = predict(self, i, off) end
        s.pk = nil
        -- a prediction counts when it is still ahead of the last poll
        if p and p > s.last + MIN_GAP and p < t then
          if s.missed ~= kinds[kind].round then
            t, s.pk, kinds[kind].fresh = p, kind, true
          else
            passed[#passed + 1], pp[#pp + 1], pk[#pk + 1] = i, p, kind
          end
        end
        at[i] = t
      end
    end
  end
  for k = #live, n + 1, -1 do live[k] = nil end
  -- the next try of a type's prediction is a job not yet found running, while there is one
  for k, i in ipairs(passed) do
    if not kinds[pk[k]].fresh then at[i], st[i].pk = pp[k], pk[k] end
  end
end

-- The `max` (nil: all) soonest of `list` by at[], soonest first. Selection for a few of many
-- (when one job succeeds, all the others may be due at once), a sort otherwise.
local function soonest(list, at, max)
  local n = #list
  if max and n > max then
    for k = 1, max do
      local best = k
      for j = k + 1, n do if at[list[j]] < at[list[best]] then best = j end end
      list[k], list[best] = list[best], list[k]
    end
    for k = n, max + 1, -1 do list[k] = nil end
  elseif n > 1 then
    table.sort(list, function(a, b) return at[a] < at[b] end)
  end
  return list
end

-- The jobs to poll at `now`, soonest first; only the `max` soonest when given (when one
-- succeeds, all the others are due at once, and the driver has room for a few).
function Schedule:due(now, max)
  if self.stale then self:reschedule() end
  local list, st, at, live, kinds = {}, self.st, self.at, self.live, self.kinds
  local held -- kind -> its predicted polls due, which its window limits
  for k = 1, #live do
    local i = live[k]
    local s = st[i]
    if at[i] <= now and not s.inflight then
      if s.pk then
        held = held or {}
        local h = held[s.pk] or {}
        held[s.pk], h[#h + 1] = h, i
      else
        list[#list + 1] = i
      end
    end
  end
  for kind, h in pairs(held or {}) do
    local c = kinds[kind]
    local room = c.window - c.flying -- (beyond the max soonest, none could be picked anyway)
    if max and max < room then room = max end
    for _, i in ipairs(soonest(h, at, room)) do list[#list + 1] = i end
  end
  return soonest(list, at, max)
end

-- When the next waiting job is due (math.huge: none).
function Schedule:next_wake()
  if self.stale then self:reschedule() end
  local first, st, at, live, kinds = math.huge, self.st, self.at, self.live, self.kinds
  for k = 1, #live do
    local i = live[k]
    local s = st[i]
    local c = s.pk and kinds[s.pk]
    if at[i] < first and not s.inflight and not (c and c.flying >= c.window) then first = at[i] end
  end
  return first -- (a job its type's full window holds back waits for an answer instead)
end

-- Job i's poll leaves now.
function Schedule:sent(i, now)
  local s = self.st[i]
  s.inflight, s.sent = true, now
  s.aimed = s.pk -- a predicted poll: in its type's window
  if s.aimed then self.kinds[s.aimed].flying = self.kinds[s.aimed].flying + 1 end
end

local function landed(self, i, now)
  local s = self.st[i]
  if s.aimed then self.kinds[s.aimed].flying = self.kinds[s.aimed].flying - 1 end
  s.inflight = false
  s.last = s.sent or now
  s.polls = s.polls + 1
  return s
end

-- The plain backoff: interval x1.5 per poll, up to max_interval.
function Schedule:backoff(s)
  local d = policy.backoff(math.max(1, s.polls), self.interval, self.max_interval, 1.5) * 4 / 3
  return math.min(d, self.max_interval) -- jitter around the step, never past max_interval
end

-- The scout's next gap: a share of its age so far (7 % for 150 jobs or more, half for 20
-- or fewer: how late the cohort's end is seen, against what watching it costs), between 0.2 s
-- and the plain backoff.
function Schedule:scout_gap(s, now)
  local off = self:offset()
  local age = off and s.begin and now - (s.begin + off) or 0
  local cap = math.min(self.max_interval, self.interval * 1.5 ^ (s.polls - 1))
  local share = math.min(0.5, math.max(0.07, 10 / self.n))
  return math.max(0.2, math.min(cap, age * share))
end

-- The first unknown job from the start of the list, and the last one: scouts and anchors.
function Schedule:unknown(from_end)
  local a, b, step = 1, self.n, 1
  if from_end then a, b, step = self.n, 1, -1 end
  for i = a, b, step do
    if self.st[i].state == "unknown" and not self.st[i].inflight then return i end
  end
end

-- Narrows the offset bracket with a response's Date (whole seconds of server time, written
-- between t_send and t_recv).
function Schedule:dated(date, t_send, t_recv)
  if not date then return end
  self.lo = math.max(self.lo, t_send - date - 1)
  self.hi = math.min(self.hi, t_recv - date)
end

-- A poll of job i (sent at t_send, answered at t_recv, with the response's Date in epoch
-- seconds or nil) returned its document.
function Schedule:seen(i, doc, t_send, t_recv, date)
  local s = landed(self, i, t_send)
  local now = t_recv
  self:dated(date, t_send, t_recv)
  local kind = type(doc.job_type) == "string" and doc.job_type or s.kind
  local b = s.begin
  if doc.begin_time ~= s.begin_time then -- parsed once per job, not at every poll
    s.begin_time, b = doc.begin_time, utc.seconds(doc.begin_time) or s.begin
  end
  local e = utc.seconds(doc.end_time)
  if b ~= s.begin then self.fresh = false end -- the estimates of its neighbours move
  s.kind, s.begin = kind, b
  if b then self.hi = math.min(self.hi, t_recv - b) end
  local c = kind and self.kinds[kind]
  if kind and not c then
    c = { floor = 0, misses = 0, missed = -math.huge, window = 1, flying = 0, round = 0 }
    self.kinds[kind] = c
  end
  if finished(doc.status) then
    s.state = "done"
    self.pending = self.pending - 1
    if e then
      self.hi = math.min(self.hi, t_recv - e)
      if s.last_running then self.lo = math.max(self.lo, s.last_running - e) end
    end
    if self.lo > self.hi then self.lo = -math.huge end -- a clock that jumped: trust the top
    if c then
      if doc.status == "SUCCESS" and b and e and e >= b then
        local first, d = not c.D, e - b
        -- recent durations weigh most: jobs started together slow each other down; after
        -- predictions that failed, the one that held replaces what misled them
        c.D = (first or c.misses > 0) and d or (c.D + d) / 2
        -- a prediction held: twice as many of them at once, as each holds
        c.misses, c.window, c.round = 0, math.min(2 * c.window, self.n), c.round + 1
        self.durations = true
        c.margin = math.min(1, math.max(0.05, c.D / 40))
        self:aim(c)
        if first then -- released: anchor the estimates of jobs never seen
          local last = self:unknown(true)
          if last then self.st[last].fixed = now end
        end
      end
      if c.scout == i or (not c.scout and not c.D) then
        -- hand over to the earliest-begun job still running, else to one not seen yet
        c.scout = nil
        local best
        for k = 1, self.n do
          local sk = self.st[k]
          if sk.state == "running" and sk.kind == kind and (not best or sk.begin < self.st[best].begin) then
            best = k
          end
        end
        best = best or (not c.D and self:unknown())
        if best then
          c.scout = best
          self.st[best].fixed = math.min(self.st[best].fixed, now + self.interval / 4)
        end
      end
    end
  else
    s.state = "running"
    s.last_running = t_send
    if self.small or not (c and b) then
      s.fixed = now + self:backoff(s)
    elseif c.D then -- predicted: polled then; at most max_interval from now
      local p = predict(self, i)
      if (p and p <= now + MIN_GAP) or s.missed == c.round then
        -- still running at (or since) its predicted end: it runs longer, and so, likely, do
        -- the others of its type: none is predicted to end sooner, one predicted poll of them
        -- at a time until one holds, each reaching further (a poll aimed before the last miss
        -- came back is no new miss)
        c.floor = math.max(c.floor, t_send - self:offset() - b)
        if s.aimed and t_send >= c.missed then
          c.misses, c.missed = c.misses + 1, now
          self:aim(c)
        end
        c.window, s.missed = 1, c.round
        -- its type's predictions pass it over until one holds, or no other job is left to try
        s.fixed = now + self.max_interval
      else
        s.fixed = now + WATCHED * self.max_interval
      end
    else
      if not c.scout or (self.st[c.scout].begin and b < self.st[c.scout].begin
          and self.st[c.scout].state ~= "done") then
        c.scout = i
      end
      s.fixed = now + (c.scout == i and self:scout_gap(s, now) or WATCHED * self.max_interval)
    end
  end
  self.stale = true
end

-- A poll of job i failed for now (a 5xx, a reset, garbage): poll again after `delay` seconds
-- (Retry-After), or after the plain backoff.
function Schedule:failed(i, delay, now)
  local s = landed(self, i, now)
  s.fixed = now + (delay or self:backoff(s))
  self.stale = true
end

-- Job i will not be polled again (its poll failed for good).
function Schedule:drop(i)
  local s = landed(self, i, 0)
  s.state = "done"
  self.pending = self.pending - 1
  self.stale = true
end

return M
