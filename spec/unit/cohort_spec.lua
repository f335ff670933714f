-- The pure parts of waiting on many jobs: IMS timestamps (ims.utc) and the cohort schedule
-- (ims.cohort) that jobs:wait_all's driver follows, run here against a simulated IMS with a
-- simulated clock (the driver itself is checked against the emulator in cloudimages_spec).
local cohort = require "ims.cohort"
local utc = require "ims.utc"

describe("ims.utc.seconds", function()
  it("reads IMS and Keystone times with their fractions, in UTC", function()
    assert.equal(0, utc.seconds("1970-01-01T00:00:00Z"))
    assert.equal(951782400, utc.seconds("2000-02-29T00:00:00Z")) -- a leap day
    assert.equal(1730873983.195, utc.seconds("2024-11-06T06:19:43.195Z"))
    assert.equal(1730873983, utc.seconds("2024-11-06T06:19:43.000000Z"))
    assert.is_nil(utc.seconds("yesterday"))
    assert.is_nil(utc.seconds(nil))
  end)
end)

describe("ims.utc.http_date", function()
  it("reads the HTTP Date format, and nothing else", function()
    assert.equal(784111777, utc.http_date("Sun, 06 Nov 1994 08:49:37 GMT"))
    assert.equal(utc.seconds("2026-11-23T15:40:00Z"), utc.http_date("Mon, 23 Nov 2026 15:40:00 GMT"))
    assert.is_nil(utc.http_date("Sun, 06 Nov 1994 08:49:37 PST"))
    assert.is_nil(utc.http_date("Sunday, 06-Nov-94 08:49:37 GMT"))
    assert.is_nil(utc.http_date("Sun, 06 Foo 1994 08:49:37 GMT"))
    assert.is_nil(utc.http_date(nil))
  end)
end)

describe("ims.cohort", function()
  local T0 = utc.seconds("2026-11-23T10:00:00Z")
  local function stamp(t)
    return os.date("!%Y-%m-%dT%H:%M:%S", math.floor(t)) .. string.format(".%03dZ", math.floor(t % 1 * 1000))
  end

  -- Runs a wait over simulated jobs {begin =, duration =, kind =?, fail =?} (server seconds
  -- after T0) the way jobs.lua drives the schedule; our clock is the server's plus `offset`,
  -- a poll takes `rtt`. Returns per-job poll times (local), the time each end was seen, and
  -- the schedule.
  local function simulate(jobs, o)
    o = o or {}
    local offset, rtt, start = o.offset or 1000, o.rtt or 0.004, o.start or 0.2
    local list = {}
    for i = 1, #jobs do list[i] = { job_id = "j" .. i } end
    local now = T0 + start + offset
    local c = cohort.new(list, o.interval or 2, o.max_interval or 10, now)
    local polls, seen_end = {}, {}
    for i = 1, #jobs do polls[i] = {} end
    local limit = now + (o.timeout or 600)
    while c.pending > 0 and now < limit do
      local due = c:due(now)
      if #due == 0 then
        now = math.max(now, c:next_wake())
      else
        for _, i in ipairs(due) do c:sent(i, now) end
        for _, i in ipairs(due) do
          local j = jobs[i]
          local server = now - offset + rtt / 2
          local b = T0 + j.begin
          local e = b + j.duration
          local status = server >= e and (j.fail and "FAIL" or "SUCCESS") or "RUNNING"
          table.insert(polls[i], now)
          if status ~= "RUNNING" then seen_end[i] = now + rtt end
          c:seen(i, { status = status, job_type = j.kind or "import", begin_time = stamp(b),
            end_time = status ~= "RUNNING" and stamp(e) or nil }, now, now + rtt, math.floor(server))
        end
        now = now + rtt
      end
    end
    return polls, seen_end, c, offset
  end

  local function total(polls)
    local n = 0
    for _, p in ipairs(polls) do n = n + #p end
    return n
  end

  -- How long after its end (local time) the last job to end was seen.
  local function lateness(jobs, seen_end, offset)
    local worst = -math.huge
    for i, j in ipairs(jobs) do
      local ended = T0 + j.begin + j.duration + offset
      worst = math.max(worst, seen_end[i] - ended)
    end
    return worst
  end

  local function cohort_of(n, duration, spread, order)
    local jobs = {}
    for i = 1, n do
      local k = order == "reversed" and n - i + 1 or i
      jobs[i] = { begin = (k - 1) * spread / n, duration = duration + (k % 7) * 0.01 }
    end
    return jobs
  end

  it("sees 200 jobs of 5 s end with little more than one poll each, soon after the last ends", function()
    local jobs = cohort_of(200, 5, 1.5)
    local polls, seen_end, c, offset = simulate(jobs)
    assert.equal(0, c.pending)
    assert.is_true(total(polls) <= 1.25 * 200, "polls: " .. total(polls))
    assert.is_true(lateness(jobs, seen_end, offset) <= 1, "late by " .. lateness(jobs, seen_end, offset))
  end)

  it("does as well for jobs longer than max_interval, and with our clock an hour off", function()
    for _, offset in ipairs { -3600, 3600.37 } do
      local jobs = cohort_of(200, 17, 0.5)
      local polls, seen_end, c = simulate(jobs, { offset = offset })
      assert.equal(0, c.pending)
      assert.is_true(total(polls) <= 1.25 * 200, "polls: " .. total(polls))
      assert.is_true(lateness(jobs, seen_end, offset) <= 1.5)
    end
  end)

  it("still finishes jobs listed against their start order, at most twice each", function()
    local jobs = cohort_of(100, 5, 2, "reversed")
    local polls, _, c = simulate(jobs)
    assert.equal(0, c.pending)
    assert.is_true(total(polls) <= 2 * 100 + 20, "polls: " .. total(polls))
  end)

  it("gives a few jobs the plain backoff, never max_interval apart", function()
    local jobs = { { begin = 0, duration = 30 }, { begin = 0, duration = 31 }, { begin = 1, duration = 40, kind = "export" } }
    local polls, _, c = simulate(jobs, { interval = 1, max_interval = 4 })
    assert.equal(0, c.pending)
    for _, p in ipairs(polls) do
      assert.is_true(p[2] - p[1] >= 0.5)
      for k = 2, #p do assert.is_true(p[k] - p[k - 1] <= 4 + 0.01, "gap " .. (p[k] - p[k - 1])) end
    end
  end)

  it("watches a long cohort through its scout: it at most max_interval apart, the others 3x", function()
    local jobs = cohort_of(20, 200, 1)
    local polls = simulate(jobs, { interval = 1, max_interval = 5, timeout = 120 })
    local scout = polls[1]
    for k = 2, #scout do assert.is_true(scout[k] - scout[k - 1] <= 5 + 0.01) end
    for i = 2, #jobs do
      local p = polls[i]
      assert.is_true(#p >= 1)
      for k = 2, #p do assert.is_true(p[k] - p[k - 1] <= 15 + 0.01) end
      assert.is_true(#p <= 120 / 15 + 2)
    end
  end)

  it("hands the scout over when it fails, and predicts from the jobs that succeed", function()
    local jobs = cohort_of(50, 6, 1)
    jobs[1] = { begin = 0, duration = 1, fail = true }
    local polls, seen_end, c, offset = simulate(jobs)
    assert.equal(0, c.pending)
    assert.is_true(total(polls) <= 1.5 * 50, "polls: " .. total(polls))
    assert.is_true(lateness(jobs, seen_end, offset) <= 1.5, "late by " .. lateness(jobs, seen_end, offset))
  end)

  it("is not misled by a first job that ends well before the others (a server not yet busy)", function()
    -- what the emulator does under bench/run: the first of 200 jobs is done 1.5 s before the
    -- rest, which end within 0.8 s of each other
    local jobs = {}
    for i = 1, 200 do
      local b = (i - 1) * 0.25 / 200
      jobs[i] = { begin = b, duration = i == 1 and 6.1 or 7.6 + 0.8 * (i * 7 % 13) / 13 - b }
    end
    local polls, seen_end, c = simulate(jobs)
    assert.equal(0, c.pending)
    assert.is_true(total(polls) <= 1.25 * 200, "polls: " .. total(polls))
    local last_end, last_seen = -math.huge, -math.huge
    for i, j in ipairs(jobs) do
      last_end, last_seen = math.max(last_end, j.begin + j.duration), math.max(last_seen, seen_end[i])
    end
    local late = last_seen - (T0 + 1000 + last_end) -- simulate's default offset
    assert.is_true(late <= 1, "the last end seen late by " .. late)
  end)

  it("keeps a slowing cohort's predictions moving later instead of polling early", function()
    local jobs = {}
    for i = 1, 100 do jobs[i] = { begin = i * 0.01, duration = 5 + i * 0.02 } end -- 5 s to 7 s
    local polls, seen_end, c, offset = simulate(jobs)
    assert.equal(0, c.pending)
    assert.is_true(total(polls) <= 2 * 100, "polls: " .. total(polls))
    assert.is_true(lateness(jobs, seen_end, offset) <= 1.5)
  end)
end)
