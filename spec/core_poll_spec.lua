-- session:poll: many requests on one multi handle, each on its own backoff schedule.
local core = require "ims.core"
local env = require "support.env"

describe("ims.Session:poll", function()
  local s
  before_each(function() s = core.session {} end)
  after_each(function() s:close() end)

  it("polls every job until decide says it is finished, backing off between polls", function()
    local times, n = {}, 50
    local r = s:poll { count = n, delay = 0, interval = 0.05, max_interval = 0.2, timeout = 10,
      prepare = function(i) return env.httpd_url .. "/conn", { ["X-Job"] = tostring(i) } end,
      decide = function(i, res, err)
        assert.is_nil(err)
        assert.equal(200, res.status)
        assert.matches('"conn"', res.body)
        times[i] = times[i] or {}
        table.insert(times[i], core.now())
        return #times[i] >= 4
      end }
    assert.equal(4 * n, r.requests)
    assert.same({}, r.pending)
    for i = 1, n do
      local t = times[i]
      -- gaps grow 0.05 -> 0.075 -> 0.1125 (each +-25 %)
      assert.is_true(t[2] - t[1] >= 0.03, "first gap")
      assert.is_true(t[4] - t[3] >= 0.08, "third gap")
    end
  end)

  it("polls again after the delay decide returns", function()
    local seen = {}
    s:poll { count = 1, delay = 0, interval = 5, timeout = 10,
      prepare = function() return env.httpd_url .. "/echo", {} end,
      decide = function() seen[#seen + 1] = core.now(); return #seen >= 2 or 0.3 end }
    assert.equal(2, #seen)
    assert.is_true(seen[2] - seen[1] >= 0.29 and seen[2] - seen[1] < 2)
  end)

  it("pulls waiting jobs forward when decide returns hints, and ignores hints it cannot use", function()
    local polls, finished_at = {}, nil
    local t0 = core.now()
    local r = s:poll { count = 3, delay = 0, interval = 30, max_interval = 30, timeout = 20,
      prepare = function() return env.httpd_url .. "/echo", {} end,
      decide = function(i)
        polls[i] = (polls[i] or 0) + 1
        if i == 1 then
          if polls[1] == 1 then return 1 end -- job 1 comes back in 1 s; 2 and 3 wait 30 s
          finished_at = core.now()
          -- 2 now, 3 in 0.3 s; 1 is in flight, 9 and "x" are no jobs: all ignored
          return true, { [2] = 0, [3] = 0.3, [1] = 0, [9] = 0, x = 1 }
        end
        return polls[i] == 2
      end }
    assert.same({}, r.pending)
    assert.same({ 2, 2, 2 }, polls)
    assert.equal(6, r.requests)
    -- without the hints jobs 2 and 3 would have waited their 30 s backoff (±25 %)
    assert.is_true(core.now() - t0 < 10)
    assert.is_true(finished_at ~= nil)
  end)

  it("stops at the deadline and returns the unfinished jobs", function()
    local t0 = core.now()
    local r = s:poll { count = 3, delay = 0, interval = 0.1, timeout = 0.6,
      prepare = function() return env.httpd_url .. "/echo", {} end,
      decide = function(i) return i == 2 end }
    assert.same({ 1, 3 }, r.pending)
    assert.is_true(core.now() - t0 < 1.5)
  end)

  it("hands transport failures to decide", function()
    local got
    s:poll { count = 1, delay = 0, timeout = 5,
      prepare = function() return env.httpd_url .. "/reset", {} end,
      decide = function(_, res, err) got = { res = res, err = err }; return true end }
    assert.is_nil(got.res)
    assert.is_string(got.err.code)
  end)

  it("re-raises an error from prepare or decide after cleaning up", function()
    assert.has_error(function()
      s:poll { count = 2, delay = 0, prepare = function() error("prep boom") end, decide = function() return true end }
    end)
    local ok, err = pcall(s.poll, s, { count = 2, delay = 0,
      prepare = function() return env.httpd_url .. "/echo", {} end,
      decide = function() error({ mine = true }) end })
    assert.is_false(ok)
    assert.same({ mine = true }, err)
    assert.equal(200, s:request { url = env.httpd_url .. "/echo" }.status)
  end)

  it("rejects misuse", function()
    assert.has_error(function() s:poll { count = 1, prepare = print } end,
      "ims.Session:poll: option 'decide' must be a function")
    assert.has_error(function() s:poll { count = 1, prepare = print, decide = print, bogus = 1 } end,
      "ims.Session:poll: unknown option 'bogus'")
  end)
end)
