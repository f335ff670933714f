-- The pure parts of waiting on many jobs: IMS timestamps (ims.utc) and the cohort schedule
-- (ims.cohort) that jobs:wait_all hands to session:poll (whose hint handling has its own spec
-- in spec/core_poll_spec.lua).
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
  local function stamp(s)
    local whole = math.floor(s)
    return string.format("2026-11-23T10:%02d:%02d.%03dZ", whole // 60, whole % 60,
      math.floor((s - whole) * 1000 + 0.5))
  end
  -- job documents: status, begin (seconds after T0), end, type
  local function doc(status, b, e, kind)
    return { status = status, job_type = kind or "import", begin_time = b and stamp(b),
      end_time = e and stamp(e) }
  end
  -- a wait over `docs` after a first poll of each, as jobs:wait_all runs it: returns the
  -- schedule and each job's answer (delay or nil)
  local function first_round(docs, interval, max_interval)
    local jobs = {}
    for i, d in ipairs(docs) do jobs[i] = d end
    local c = cohort.new(jobs, interval or 2, max_interval or 10)
    local answers = {}
    for i, d in ipairs(docs) do
      answers[i] = (d.status == "SUCCESS" or d.status == "FAIL") and "done" or c:running(i, d, 100) or "backoff"
    end
    return c, answers
  end

  it("reads the test times it builds", function()
    assert.equal(T0 + 61.5, utc.seconds(stamp(61.5)))
  end)

  it("scouts with the earliest-begun job and parks the rest at max_interval", function()
    local docs = {}
    for i = 1, 20 do docs[i] = doc("RUNNING", 10 - i % 7) end -- job 6 began first (at 4 s)
    local c, answers = first_round(docs)
    -- during the first round each job that began earlier than all before it scouts for a while
    local earliest = math.huge
    for i = 1, 20 do
      local b = 10 - i % 7
      assert.equal(b < earliest and 2 or 10, answers[i], "job " .. i)
      earliest = math.min(earliest, b)
    end
    -- then only job 6 does: every `interval` (cap 2 * 10 / 20 = 1 s, never below 2 s)
    for i = 1, 20 do assert.equal(i == 6 and 2 or 10, c:running(i, docs[i], 110), "job " .. i) end
  end)

  it("backs the scout off like the plain schedule when the cohort is small", function()
    local c = first_round({ doc("RUNNING", 1), doc("RUNNING", 2) })
    local got = {}
    for k = 1, 6 do got[k] = c:running(1, doc("RUNNING", 1), 100 + k) end
    -- after the first round's 2: the plain backoff's gaps (cap 2 * 10 / 2 = 10)
    assert.same({ 3, 4.5, 6.75, 10, 10, 10 }, got)
  end)

  it("leaves a lone job, and jobs without a type or begin time, to the plain backoff", function()
    local docs = { doc("RUNNING", 1), doc("RUNNING", 2, nil, "export"), { status = "INIT" },
      { status = "RUNNING", begin_time = stamp(3) } }
    local c, answers = first_round(docs)
    -- in the first round the unpolled jobs might have been of the same type
    assert.same({ 2, 2, "backoff", "backoff" }, answers)
    for i = 1, 4 do assert.is_nil(c:running(i, docs[i], 110), "job " .. i) end
  end)

  it("counts only jobs still waiting: the last one running of its type is a lone job", function()
    local docs = { doc("FAIL", 1, 2), doc("FAIL", 1, 2), doc("FAIL", 2, 3), doc("RUNNING", 3) }
    local c = cohort.new(docs, 2, 10)
    for i = 1, 3 do c:finished(i, docs[i], 100) end
    assert.is_nil(c:running(4, docs[4], 100))
  end)

  it("releases the cohort on a success: each waiting job is due as long after as it began", function()
    local docs = { doc("RUNNING", 5), doc("RUNNING", 3), doc("RUNNING", 7), doc("RUNNING", 6, nil, "export"),
      doc("RUNNING", 9), doc("FAIL", 4, 6) }
    local c = first_round(docs)
    docs[1] = doc("SUCCESS", 5, 20) -- job 1 (not the scout: 2 began first) ends
    local hints = c:finished(1, docs[1], 200)
    -- 2 began earlier: now; 3 two seconds later; 5 four. The other type, the finished job: none.
    assert.same({ [2] = 0, [3] = 2, [5] = 4 }, hints)
    -- asked later, a job that is not yet due gets the rest of its wait, an overdue one the backoff
    assert.equal(1.5, c:running(5, docs[5], 202.5))
    assert.is_nil(c:running(2, docs[2], 200.5))
    -- one release per type
    docs[3] = doc("SUCCESS", 7, 21)
    assert.is_nil(c:finished(3, docs[3], 201))
  end)

  it("hands scouting to the earliest-begun running job when the scout fails", function()
    local docs = { doc("RUNNING", 1), doc("RUNNING", 3), doc("RUNNING", 2), doc("RUNNING", 4) }
    local c = first_round(docs)
    docs[1] = doc("FAIL", 1, 2)
    assert.same({ [3] = 2 }, c:finished(1, docs[1], 150)) -- job 3 scouts, polled after `interval`
    assert.equal(2, c:running(3, docs[3], 152))
    assert.equal(10, c:running(2, docs[2], 152))
  end)
end)
