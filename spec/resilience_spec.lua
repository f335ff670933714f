-- What a user sees when the cloud misbehaves (the emulator's fault switches): retries that
-- recover, never duplicate a create, resume cut downloads, and give up in the configured time.
local ims = require "ims"
local core = require "ims.core"
local env = require "support.env"
local raw = require "support.raw"

local S = env.stack

local function unique(prefix) return string.format("%s-%d-%d", prefix, os.time(), math.random(1e9)) end
local function sha256_file(path) return assert(core.file_digests(path, { "sha256" })).sha256 end

local function client(extra)
  local opts = { endpoint = S.IMS_ENDPOINT, project_id = S.IMS_PROJECT_A,
    auth = { ak = S.IMS_AK_A, sk = S.IMS_SK_A }, retry = { attempts = 4, base_delay = 0.05, max_delay = 0.5 } }
  for k, v in pairs(extra or {}) do opts[k] = v end
  return ims.new(opts)
end

local function count_named(c, name)
  return #assert(c.images:list { name = name })
end

describe("resilience", function()
  after_each(function()
    raw.admin("DELETE", "/faults")
    raw.admin("POST", "/clock", { offset = 0 })
  end)

  it("retries a burst of 5xx, logging every attempt", function()
    local attempts = {}
    local c <close> = client { log = function(ev) attempts[#attempts + 1] = ev end }
    raw.admin("POST", "/faults", { route = "^/v2/cloudimages$", kind = "status", status = 503, count = 2 })
    assert(c.cloudimages:list { max = 1 })
    assert.equal(3, #attempts)
    assert.same({ 503, 503, 200 }, { attempts[1].status, attempts[2].status, attempts[3].status })
    assert.same({ 1, 2, 3 }, { attempts[1].attempt, attempts[2].attempt, attempts[3].attempt })
  end)

  it("waits out a 429's Retry-After", function()
    local c <close> = client()
    raw.admin("POST", "/faults", { route = "^/v2/cloudimages$", kind = "throttle", retry_after = 1, count = 1 })
    local t0 = core.now()
    assert(c.cloudimages:list { max = 1 })
    assert.is_true(core.now() - t0 >= 0.95)
  end)

  it("re-sends an upload reset mid-body from the start: identical bytes, one image", function()
    local c <close> = client()
    local name = unique("reset-up")
    local img = assert(c.images:create { name = name, disk_format = "raw", container_format = "bare" })
    local src = env.tmpfile("reset.bin")
    env.write_random(src, 8 * 1024 * 1024)
    raw.admin("POST", "/faults", { route = "/file$", method = "PUT", kind = "reset", after_bytes = 3 * 1024 * 1024 })
    assert(img:upload(src))
    assert.equal("active", img.status)
    assert.equal(8 * 1024 * 1024, img.size)
    local dest = env.tmpfile("reset-back.bin")
    assert(img:download(dest))
    assert.equal(sha256_file(src), sha256_file(dest))
    assert.equal(1, count_named(c, name))
  end)

  it("never repeats a create whose connection was reset", function()
    local c <close> = client()
    local name = unique("no-dup")
    raw.admin("POST", "/faults", { route = "^/v2/images$", method = "POST", kind = "reset" })
    local img, err = c.images:create { name = name, disk_format = "raw", container_format = "bare" }
    assert.is_nil(img)
    assert.equal("transport", err.kind)
    raw.admin("DELETE", "/faults")
    assert.is_true(count_named(c, name) <= 1)
    raw.admin("POST", "/faults", { route = "^/v2/images$", method = "POST", kind = "status", status = 500 })
    local logged = 0
    local counted <close> = client { log = function() logged = logged + 1 end }
    assert.is_nil(counted.images:create { name = name .. "-500", disk_format = "raw", container_format = "bare" })
    assert.equal(1, logged) -- a POST answered 500 may have acted: not repeated
  end)

  it("detects a truncated download and completes it with Range", function()
    local c <close> = client()
    local img = assert(c.images:create { name = unique("trunc"), disk_format = "raw", container_format = "bare" })
    local src = env.tmpfile("trunc.bin")
    env.write_random(src, 6 * 1024 * 1024)
    assert(img:upload(src))
    raw.admin("POST", "/faults", { route = "/file$", method = "GET", kind = "truncate", after_bytes = 2 * 1024 * 1024 })
    local ranges = {}
    local watched <close> = client { log = function(ev) ranges[#ranges + 1] = ev end }
    local dest = env.tmpfile("trunc-back.bin")
    local got = assert(watched.images:download(img, dest))
    assert.equal(6 * 1024 * 1024, got.bytes)
    assert.equal(img.os_hash_value, got.sha512) -- verified over the whole file
    assert.equal(sha256_file(src), sha256_file(dest))
    assert.equal("PARTIAL_FILE", ranges[1].error)
    assert.equal(206, ranges[2].status)
    assert.is_true(ranges[2].downloaded < 6 * 1024 * 1024)
  end)

  it("gives up on a silent server after the stall timeout", function()
    local c <close> = client { stall_timeout = 1, retry = false }
    raw.admin("POST", "/faults", { route = "^/v2/cloudimages$", kind = "delay", delay = 6 })
    local t0 = core.now()
    local res, err = c.cloudimages:list { max = 1 }
    assert.is_nil(res)
    assert.equal("timeout", err.kind)
    assert.is_true(core.now() - t0 < 3)
  end)

  it("gives up on a host that never answers after connect_timeout, each attempt", function()
    local port, stop = env.unanswered_port()
    local attempts = 0
    local c <close> = client { endpoint = "http://127.0.0.1:" .. port, connect_timeout = 0.5,
      retry = { attempts = 2, base_delay = 0.05, max_delay = 0.1 },
      log = function(ev) if ev.attempt then attempts = attempts + 1 end end }
    local t0 = core.now()
    local res, err = c.images:get("00000000-0000-0000-0000-000000000000")
    local took = core.now() - t0
    stop()
    assert.is_nil(res)
    assert.equal("timeout", err.kind)
    assert.equal("GET", err.method)
    assert.matches("127.0.0.1:" .. port, err.url, 1, true)
    assert.equal(2, attempts)
    assert.is_true(took >= 0.9 and took < 5, string.format("%.2f s", took))
  end)

  it("signs with the server's clock when ours is off, learning it from Date", function()
    local events = {}
    local c <close> = client { log = function(ev) events[#events + 1] = ev end }
    raw.admin("POST", "/clock", { offset = 3600 }) -- the server is an hour ahead of us
    assert(c.cloudimages:list { max = 1 })
    assert.same({ 401, 200 }, { events[1].status, events[2].status }) -- refused once, then signed right
    events = {}
    assert(c.images:list { max = 1 })
    assert.same({ 200 }, { events[1].status, events[2] and events[2].status })
    -- job polls sign with the learnt clock too
    local job = assert(c.cloudimages:create_whole_image { name = unique("skew"), instance_id = S.IMS_INSTANCE_STOPPED })
    assert(job:wait { interval = 0.2, max_interval = 0.5, timeout = 60 })
    -- the server's clock comes back: one refusal, and the offset is dropped
    raw.admin("POST", "/clock", { offset = 0 })
    events = {}
    assert(c.cloudimages:list { max = 1 })
    assert.same({ 401, 200 }, { events[1].status, events[2].status })
    -- within a minute is no skew worth correcting: nothing learnt, nothing retried
    raw.admin("POST", "/clock", { offset = 30 })
    events = {}
    assert(c.cloudimages:list { max = 1 })
    assert.equal(1, #events)
  end)

  it("corrects the clock of a wait that began with a skewed signature", function()
    local c <close> = client {}
    local job = assert(c.cloudimages:create_whole_image { name = unique("skew-poll"), instance_id = S.IMS_INSTANCE_STOPPED })
    raw.admin("POST", "/clock", { offset = -3600 }) -- now the server is an hour behind
    local jobs, err = c.jobs:wait_all({ job }, { interval = 0.2, max_interval = 0.5, timeout = 60 })
    assert.is_nil(err)
    assert.equal("SUCCESS", jobs[1].status)
  end)

  it("waits out IMS flow control (IMG.0060) on job-starting calls, within the call's timeout", function()
    raw.admin("POST", "/jobs", { duration = 0.6, max_running = 2 })
    local refused = 0
    local c <close> = client { timeout = 30, log = function(ev) if ev.status == 400 then refused = refused + 1 end end }
    local ok, err = pcall(function()
      local jobs = {}
      for i = 1, 5 do
        jobs[i] = assert(c.cloudimages:create_whole_image { name = unique("flow-" .. i),
          instance_id = S.IMS_INSTANCE_STOPPED })
      end
      assert.is_true(refused >= 1, "the limit was never hit")
      local done, werr = c.jobs:wait_all(jobs, { interval = 0.2, max_interval = 0.5, timeout = 60 })
      assert.is_nil(werr)
      for _, j in ipairs(done) do assert.equal("SUCCESS", j.status) end
      -- without retries the refusal comes back at once, marked retryable, with a hint
      local busy = { assert(c.cloudimages:create_whole_image { name = unique("flow-a"), instance_id = S.IMS_INSTANCE_STOPPED }),
        assert(c.cloudimages:create_whole_image { name = unique("flow-b"), instance_id = S.IMS_INSTANCE_STOPPED }) }
      local once <close> = client { retry = false }
      local res, ferr = once.cloudimages:create_whole_image { name = unique("flow-c"), instance_id = S.IMS_INSTANCE_STOPPED }
      assert.is_nil(res)
      assert.equal("IMG.0060", ferr.code)
      assert.equal(400, ferr.status)
      assert.is_true(ferr.retryable)
      assert.matches("flow control", ferr.hint)
      -- and a short timeout gives up with it
      local short <close> = client { timeout = 0.3 }
      res, ferr = short.cloudimages:create_whole_image { name = unique("flow-d"), instance_id = S.IMS_INSTANCE_STOPPED }
      assert.is_nil(res)
      assert.equal("IMG.0060", ferr.code)
      assert(c.jobs:wait_all(busy, { interval = 0.2, timeout = 60 }))
    end)
    raw.admin("POST", "/jobs", { duration = 0.3, max_running = 0 })
    assert(ok, err)
  end)

  it("renews an expired token in the middle of an upload and re-sends the file", function()
    local c <close> = ims.new { endpoint = S.IMS_ENDPOINT, auth = { auth_url = S.IAM_ENDPOINT, user = S.IMS_USER_A,
      password = S.IMS_PASSWORD_A, domain = S.IMS_DOMAIN, project_id = S.IMS_PROJECT_A } }
    local img = assert(c.images:create { name = unique("expiring"), disk_format = "raw", container_format = "bare" })
    local src = env.tmpfile("expiring.bin")
    env.write_random(src, 5 * 1024 * 1024)
    raw.admin("POST", "/clock", { offset = 2 * 86400 }) -- the token is now expired on the server
    assert(img:upload(src))
    assert.equal(5 * 1024 * 1024, img.size)
  end)

  it("shares the rate limit with job polling", function()
    local c <close> = client { rate_limit = 10 }
    local jobs = {}
    for i = 1, 3 do
      jobs[i] = assert(c.cloudimages:create_whole_image { name = unique("rl-" .. i), instance_id = S.IMS_INSTANCE_STOPPED })
    end
    raw.admin("DELETE", "/stats")
    local t0 = core.now()
    assert.is_nil(select(2, c.jobs:wait_all(jobs, { interval = 0.05, max_interval = 0.05, timeout = 30 })))
    local elapsed = core.now() - t0
    local polls = 0
    for k, v in pairs(raw.admin("GET", "/stats")) do if k:match("jobs") then polls = polls + v end end
    assert.is_true(polls / elapsed <= 12, string.format("%d polls in %.2fs", polls, elapsed))
  end)
end)
