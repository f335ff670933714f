-- The one engine: concurrent transfers on one multi handle (ims.core Session:submit/wait),
-- tasks (client:map), and the one retry/deadline policy as calls meet it: long transfers
-- retried however long they ran, Retry-After as an HTTP-date, the rate limit inside the
-- deadline, job polling intervals bounded.
local ims = require "ims"
local core = require "ims.core"
local env = require "support.env"

local h
setup(function() h = env.hostile() end)
teardown(function() h:stop() end)
before_each(function() h:reset() end)

local JSON = { ["Content-Type"] = "application/json" }

local function pattern(n)
  local t = {}
  for i = 0, n - 1 do t[#t + 1] = string.char(i % 251) end
  return table.concat(t)
end

local function stats()
  local s <close> = core.session()
  local res = assert(s:request { url = h.url .. "/_hostile/stats" })
  return require("ims.json").decode(res.body)
end

describe("the C engine", function()
  it("runs submitted transfers at once on one multi handle, each handed back once", function()
    h:routes { ["/slow"] = { { pause = 0.4, body = "ok" } } }
    local s <close> = core.session()
    local t0 = core.now()
    for _ = 1, 6 do assert(s:submit { url = h.url .. "/slow" }) end
    assert.equal(6, s:pending())
    local got = {}
    while s:pending() > 0 do
      for _, t in ipairs(s:wait()) do
        local res = assert(t:result())
        assert.equal("ok", res.body)
        got[#got + 1] = t
      end
    end
    assert.equal(6, #got)
    assert.is_true(core.now() - t0 < 1.5, "parallel, not 6 x 0.4 s")
    assert.equal(6, stats().max_in_flight)
    assert.has_error(function() got[1]:result() end, "ims.Transfer:result: the result was already taken")
    -- a blocking request meanwhile: other transfers keep moving, none is lost
    local bg = assert(s:submit { url = h.url .. "/slow" })
    local res = assert(s:request { url = h.url .. "/slow" })
    assert.equal(200, res.status)
    local later = s:wait()
    assert.equal(1, #later)
    assert.equal(bg, later[1])
    assert.equal("ok", assert(bg:result()).body)
    -- wait with nothing running returns at once, or sleeps its timeout
    assert.same({}, s:wait())
    local t1 = core.now()
    assert.same({}, s:wait(0.2))
    assert.is_true(core.now() - t1 >= 0.19)
  end)

  it("with a linger, hands back together what ends meanwhile (one wake-up for many answers)", function()
    h:routes { ["/slow"] = { { pause = 0.3, body = "ok" } } }
    local s <close> = core.session()
    assert(s:submit { url = h.url .. "/_hostile/stats" })
    assert(s:submit { url = h.url .. "/slow" })
    local got = s:wait(nil, 60) -- ends at the second answer: nothing else runs then
    assert.equal(2, #got)
    for _, t in ipairs(got) do assert.equal(200, assert(t:result()).status) end
    assert.equal(0, s:pending())
    assert.has_error(function() s:wait(nil, -1) end, "ims.Session:wait: linger must be >= 0 and finite")
  end)

  it("cancels a running transfer, and closing the session stops the rest", function()
    h:routes { ["/slow"] = { { pause = 2, body = "late" } } }
    local s = core.session()
    local a, b = assert(s:submit { url = h.url .. "/slow" }), assert(s:submit { url = h.url .. "/slow" })
    s:wait(0.1)
    assert.is_true(a:cancel())
    assert.is_false(a:cancel())
    local res, err = a:result()
    assert.is_nil(res)
    assert.equal("CANCELLED", err.code)
    s:close()
    local _, err2 = b:result()
    assert.equal("CLOSED", err2.code)
  end)

  it("bounds a memory body whatever the server sends", function()
    h:routes { ["/big"] = { { size = 3 * 1024 * 1024 } }, ["/endless"] = { { endless = true } } }
    local s <close> = core.session { max_body = 1024 * 1024 }
    for _, path in ipairs { "/big", "/endless" } do
      local res, err = s:request { url = h.url .. path, timeout = 10 }
      assert.is_nil(res)
      assert.equal("BODY_TOO_LARGE", err.code)
    end
    local ok = assert(s:request { url = h.url .. "/big", max_body = 4 * 1024 * 1024 })
    assert.equal(3 * 1024 * 1024, #ok.body)
  end)
end)

describe("retries, deadlines and waits: one policy", function()
  local function client(opts)
    opts = opts or {}
    opts.endpoint = h.url
    opts.auth = opts.auth or { token = "t" }
    return ims.new(opts)
  end

  it("resumes a download and re-sends an upload cut after more than `timeout` seconds", function()
    local n = 3 * 1024 * 1024
    local data = pattern(n)
    local md5 = core.digest("md5", data)
    local meta = '{"id": "img1", "status": "active", "size": ' .. n .. ', "checksum": "' .. md5 .. '"}'
    h:routes {
      ["/v2/images/img1"] = { { headers = JSON, body = meta } },
      -- the first GET sends 1 MiB, stalls past the call timeout, and is cut; then Range resumes
      ["/v2/images/img1/file"] = { { pattern = n, cut_after = 1024 * 1024, pause = 1.5 }, { pattern = n } },
    }
    local c <close> = client { timeout = 1, retry = { attempts = 3, base_delay = 0.05 } }
    local dest = env.tmpfile("resumed.bin")
    local t0 = core.now()
    local r = assert(c.images:download("img1", dest, { verify = true }))
    assert.is_true(core.now() - t0 > 1.5, "the first attempt outlived the call timeout")
    assert.equal(n, r.bytes)
    assert.equal(md5, r.md5)
    assert.equal(data, env.read(dest))
    local ranges = 0
    for _, req in ipairs(h:log()) do
      if req.raw:find("\r\nRange: bytes=1048576%-") then ranges = ranges + 1 end
    end
    assert.equal(1, ranges)

    -- an upload the server resets after reading it for longer than `timeout`: sent again
    h:reset()
    h:routes {
      ["/v2/images/img2/file"] = { { reset = true, pause = 1.5 }, { status = 204 } },
      ["/v2/images/img2"] = { { headers = JSON, body = '{"id": "img2", "status": "active", "size": '
        .. n .. ', "checksum": "' .. md5 .. '"}' } },
    }
    local src = env.write(env.tmpfile("up.bin"), data)
    local img = assert(c.images:upload("img2", src))
    assert.equal("active", img.status)
    local puts = 0
    for _, req in ipairs(h:log()) do
      if req.method == "PUT" then
        puts = puts + 1
        assert.equal(n, req.body_len)
      end
    end
    assert.equal(2, puts)
  end)

  it("waits for a Retry-After given as an HTTP-date, measured on the server's Date", function()
    -- the server's clock is an hour ahead of ours: only its own Date makes the date meaningful
    local server_now = math.floor(core.time()) + 3600
    local date = os.date("!%a, %d %b %Y %H:%M:%S GMT", server_now)
    local later = os.date("!%a, %d %b %Y %H:%M:%S GMT", server_now + 2)
    h:routes { ["/v2/images/x"] = {
      { status = 503, headers = { ["Retry-After"] = later, Date = date }, body = "busy" },
      { headers = JSON, body = '{"id": "x"}' } } }
    local c <close> = client { timeout = 10, retry = { attempts = 2, base_delay = 0.01, max_delay = 0.01 } }
    local t0 = core.now()
    local img = assert(c.images:get("x"))
    local waited = core.now() - t0
    assert.equal("x", img.id)
    assert.is_true(waited >= 1.5 and waited < 4, "waited " .. waited)
    -- a Retry-After past the call's deadline is not waited for: the error comes back at once
    h:reset()
    h:routes { ["/v2/images/x"] = { { status = 429, headers = { ["Retry-After"] = "30" }, body = "slow down" } } }
    local c2 <close> = client { timeout = 2 }
    local t1 = core.now()
    local res, err = c2.images:get("x")
    assert.is_nil(res)
    assert.equal(429, err.status)
    assert.equal(30, err.retry_after)
    assert.is_true(core.now() - t1 < 1)
  end)

  it("waits for the rate limit only inside the call's deadline", function()
    h:routes { ["/v2/images/x"] = { { headers = JSON, body = '{"id": "x"}' } } }
    local c <close> = client { rate_limit = 0.25, timeout = 1 } -- one request per 4 s
    assert(c.images:get("x"))
    local t0 = core.now()
    local res, err = c.images:get("x")
    assert.is_nil(res)
    assert.equal("timeout", err.kind)
    assert.equal("RATE_LIMIT", err.code)
    assert.is_true(core.now() - t0 < 0.5, "refused at once, not after the wait")
    assert.equal(1, #h:log())
    local patient <close> = client { rate_limit = 4, timeout = 5 }
    local t1 = core.now()
    for _ = 1, 3 do assert(patient.images:get("x")) end
    assert.is_true(core.now() - t1 >= 0.45) -- 3 requests at 4/s: two waits of 0.25 s
  end)

  it("clamps a zero poll interval, and refuses numbers that are not finite and >= 0", function()
    h:routes { ["/v1/p1/jobs/j1"] = { { headers = JSON,
      body = '{"job_id": "j1", "status": "RUNNING", "job_type": "x", "begin_time": "2026-01-01T00:00:00Z"}' } } }
    local c <close> = client { project_id = "p1" }
    local t0 = core.now()
    local job, err = c.jobs:wrap("j1"):wait { interval = 0, max_interval = 0, timeout = 1 }
    assert.is_nil(job)
    assert.equal("timeout", err.kind)
    local polls = #h:log()
    assert.is_true(polls >= 5 and polls <= 25, "polls in 1 s: " .. polls)
    assert.is_true(core.now() - t0 < 2)
    for _, bad in ipairs { -1, 0 / 0, math.huge } do
      assert.has_error(function() c.jobs:wrap("j1"):wait { interval = bad } end)
      assert.has_error(function() c.jobs:wait_all({ "j1" }, { timeout = bad }) end)
    end
  end)
end)

describe("client:map", function()
  local function client()
    return ims.new { endpoint = h.url, auth = { token = "t" }, retry = false }
  end

  it("runs calls concurrently from one thread, results in order, errors by index", function()
    local routes = {}
    for i = 1, 16 do
      routes["/v2/images/i" .. i] = { i % 5 == 0
        and { status = 404, headers = JSON, body = '{"message": "no image ' .. i .. '"}', pause = 0.3 }
        or { headers = JSON, body = '{"id": "i' .. i .. '"}', pause = 0.3 } }
    end
    h:routes(routes)
    local c <close> = client()
    local items, seen = {}, {}
    for i = 1, 16 do items[i] = "i" .. i end
    local t0 = core.now()
    local values, errs = c:map(items, function(id, i)
      assert.equal(items[i], id)
      return c.images:get(id)
    end, { concurrency = 8, progress = function(done, total) seen[#seen + 1] = done .. "/" .. total end })
    local took = core.now() - t0
    assert.is_true(took < 1.2, "16 calls of 0.3 s at 8 at once took " .. took)
    assert.equal(8, stats().max_in_flight) -- concurrency observed at the server
    for i = 1, 16 do
      if i % 5 == 0 then
        assert.is_nil(values[i])
        assert.equal(404, errs[i].status)
        assert.matches("no image " .. i, errs[i].message)
      else
        assert.equal("i" .. i, values[i].id)
        assert.is_nil(errs[i])
      end
    end
    assert.equal(16, #seen)
    assert.equal("16/16", seen[16])
    -- no errors at all: errs is nil; outside map, calls block as before
    local v2, e2 = c:map({ "i1", "i2" }, function(id) return c.images:get(id) end)
    assert.is_nil(e2)
    assert.equal("i2", v2[2].id)
    assert.equal("i3", assert(c.images:get("i3")).id)
  end)

  it("stops on a raise inside fn: nothing new starts, requests in flight are cancelled", function()
    local routes = {}
    for i = 1, 20 do routes["/v2/images/r" .. i] = { { headers = JSON, body = '{"id": "r' .. i .. '"}', pause = 1 } } end
    routes["/v2/images/boom"] = { { headers = JSON, body = '{"id": "boom"}', pause = 0.1 } }
    h:routes(routes)
    local c <close> = client()
    local items = { "boom" }
    for i = 1, 20 do items[#items + 1] = "r" .. i end
    local started = 0
    local t0 = core.now()
    local ok, err = pcall(c.map, c, items, function(id)
      started = started + 1
      local img = assert(c.images:get(id))
      if img.id == "boom" then error("fn failed on " .. id) end
      return img
    end, { concurrency = 4 })
    assert.is_false(ok)
    assert.matches("fn failed on boom", err)
    assert.is_true(core.now() - t0 < 0.8, "returned before the others' 1 s answers")
    assert.equal(4, started) -- nothing new started after the raise
    assert.equal(0, c._session:pending()) -- the other three were cancelled
    -- the client still works
    assert.equal("r1", assert(c.images:get("r1")).id)
  end)

  it("refuses misuse at once", function()
    local c <close> = client()
    assert.has_error(function() c:map("x", print) end)
    assert.has_error(function() c:map({}, "f") end)
    assert.has_error(function() c:map({}, print, { concurrency = 0 }) end)
    assert.has_error(function() c:map({}, print, { width = 2 }) end, "ims.client:map: unknown option 'width'")
    assert.same({}, (c:map({}, print)))
  end)
end)

describe("client:map on the real stack", function()
  local S = env.stack
  it("creates, tags and deletes images in Glance concurrently", function()
    local c <close> = ims.new { endpoint = S.IMS_ENDPOINT, project_id = S.IMS_PROJECT_A,
      auth = { ak = S.IMS_AK_A, sk = S.IMS_SK_A } }
    local names = {}
    for i = 1, 12 do names[i] = "map-" .. i .. "-" .. math.random(1e9) end
    local imgs, errs = c:map(names, function(name)
      local img, err = c.images:create { name = name, disk_format = "raw", container_format = "bare" }
      if not img then return nil, err end
      local ok, terr = c.images:update_tag(img, "mapped")
      if not ok then return nil, terr end
      return img
    end, { concurrency = 6 })
    assert.is_nil(errs)
    for i, img in ipairs(imgs) do
      assert.equal(names[i], img.name)
      assert.same({ "mapped" }, assert(c.images:get(img.id)).tags)
    end
    local gone = c:map(imgs, function(img) return c.images:delete(img) end)
    for i = 1, 12 do assert.is_true(gone[i]) end
    local _, err = c.images:get(imgs[1].id)
    assert.equal(404, err.status)
  end)
end)
