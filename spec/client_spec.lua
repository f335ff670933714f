-- The request path every call takes (client:request), against the loopback test server:
-- headers, retries, rate limiting, the log hook, timeouts.
local ims = require "ims"
local core = require "ims.core"
local env = require "support.env"

local function client(opts)
  opts = opts or {}
  opts.endpoint = env.httpd_url
  return ims.new(opts)
end

describe("client:request", function()
  it("sends Accept, the token, client headers and per-call headers, later layers winning", function()
    local c <close> = client { auth = { token = "tok-123" }, headers = { ["x-extra"] = "1", accept = "text/plain" } }
    local res = assert(c:request { path = "/echo", headers = { ["X-Extra"] = "2" }, expect = 200 })
    local h = res.json.headers
    assert.equal("tok-123", h["x-auth-token"])
    assert.equal("2", h["x-extra"])
    assert.equal("text/plain", h["accept"])
    assert.matches("^lua%-ims/", h["user-agent"])
  end)

  it("retries idempotent requests on 5xx with backoff, and logs every attempt", function()
    local events = {}
    local c <close> = client { retry = { attempts = 3, base_delay = 0.01, max_delay = 0.05 },
      log = function(ev) events[#events + 1] = ev end }
    local res, err = c:request { path = "/status/503", expect = 200 }
    assert.is_nil(res)
    assert.equal(503, err.status)
    assert.is_true(err.retryable)
    assert.equal(3, #events)
    for i, ev in ipairs(events) do
      assert.equal(i, ev.attempt)
      assert.equal(503, ev.status)
      assert.equal("req-test-503", ev.request_id)
      assert.equal("GET", ev.method)
    end
  end)

  it("does not retry what cannot succeed or may not be repeated", function()
    local n = 0
    local c <close> = client { retry = { attempts = 3, base_delay = 0.01 }, log = function() n = n + 1 end }
    assert.is_nil(c:request { path = "/status/404", expect = 200 })
    assert.equal(1, n)
    assert.is_nil(c:request { method = "POST", path = "/status/500", json = {}, expect = 200 })
    assert.equal(2, n) -- a POST that reached the server is never repeated on a 500
    local nc <close> = client { retry = false, log = function() n = n + 1 end }
    assert.is_nil(nc:request { path = "/status/503", expect = 200 })
    assert.equal(3, n)
  end)

  it("honours Retry-After on 429 within the call's timeout", function()
    local n = 0
    local c <close> = client { timeout = 5, retry = { attempts = 2, base_delay = 0.01 },
      log = function() n = n + 1 end }
    local t0 = core.now()
    local res = c:request { path = "/status/429?retry_after=1", expect = 200 }
    assert.is_nil(res)
    assert.equal(2, n)
    assert.is_true(core.now() - t0 >= 0.9)
  end)

  it("limits the request rate", function()
    local c <close> = client { rate_limit = 20 }
    local t0 = core.now()
    for _ = 1, 11 do assert(c:request { path = "/echo", expect = 200 }) end
    assert.is_true(core.now() - t0 >= 0.45) -- 10 intervals of 50 ms after the first
  end)

  it("bounds a call by its timeout", function()
    local c <close> = client { timeout = 0.5, retry = false }
    local res, err = c:request { path = "/sleep?secs=3", expect = 200 }
    assert.is_nil(res)
    assert.equal("timeout", err.kind)
    assert.matches("^ims: GET http://127%.0%.0%.1:%d+/sleep%?secs=3: timeout OPERATION_TIMEDOUT", tostring(err))
  end)

  it("reports an undecodable JSON body as kind 'decode'", function()
    local c <close> = client()
    local res, err = c:request { path = "/status/200?ctype=application/json&body=%7Bnope", expect = 200 }
    assert.is_nil(res)
    assert.equal("decode", err.kind)
    assert.equal(200, err.status)
  end)
end)
