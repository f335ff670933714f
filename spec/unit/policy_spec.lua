-- ims.policy: the one retry and deadline policy, as pure decisions.
local core = require "ims.core"
local policy = require "ims.policy"

describe("ims.policy", function()
  it("reads Retry-After as delta-seconds or as an HTTP-date against the response's Date", function()
    assert.equal(120, policy.retry_after { ["retry-after"] = "120" })
    assert.equal(0, policy.retry_after { ["retry-after"] = " 0 " })
    assert.equal(7, policy.retry_after { ["retry-after"] = "Wed, 21 Oct 2026 07:28:07 GMT",
      date = "Wed, 21 Oct 2026 07:28:00 GMT" })
    -- a date in the past means now; without Date, our clock is the reference
    assert.equal(0, policy.retry_after { ["retry-after"] = "Wed, 21 Oct 2015 07:28:00 GMT",
      date = "Wed, 21 Oct 2026 07:28:00 GMT" })
    local soon = os.date("!%a, %d %b %Y %H:%M:%S GMT", math.floor(core.time()) + 30)
    local d = policy.retry_after { ["retry-after"] = soon }
    assert.is_true(d > 28 and d <= 31, tostring(d))
    -- capped at a day; garbage is ignored
    assert.equal(86400, policy.retry_after { ["retry-after"] = "99999999999" })
    for _, bad in ipairs { "soon", "-5", "1.5", "", "Wed, 21 Oct 2026 07:28:00 PST" } do
      assert.is_nil(policy.retry_after { ["retry-after"] = bad }, bad)
    end
    assert.is_nil(policy.retry_after {})
    assert.is_nil(policy.retry_after(nil))
  end)

  it("retries what may pass and is safe to repeat, never a permanent failure", function()
    local get, post = { method = "GET" }, { method = "POST" }
    local function t(code) return { code = code, downloaded = 0 } end
    local function r(status) return { status = status, downloaded = 0 } end
    assert.is_true(policy.retryable(post, nil, t "COULDNT_CONNECT")) -- never reached the server
    assert.is_true(policy.retryable(get, nil, t "RECV_ERROR"))
    assert.is_false(policy.retryable(post, nil, t "RECV_ERROR")) -- may have acted on it
    for _, code in ipairs { "PEER_FAILED_VERIFICATION", "SSL_CACERT_BADFILE", "FILE",
      "BODY_TOO_LARGE", "ABORTED_BY_CALLBACK", "URL_MALFORMAT", "CANCELLED" } do
      assert.is_false(policy.retryable(get, nil, t(code)), code)
    end
    assert.is_true(policy.retryable(post, r(429)))
    assert.is_true(policy.retryable(post, r(503)))
    assert.is_false(policy.retryable(post, r(500)))
    assert.is_true(policy.retryable(get, r(502)))
    assert.is_false(policy.retryable(get, r(404)))
    assert.is_false(policy.retryable({ method = "PUT", body_reader = print }, r(503)))
    assert.is_false(policy.retryable({ method = "GET", sink = print }, { status = 503, downloaded = 5 }))
  end)

  it("backs off by one formula, jittered between half and all of the step", function()
    for n = 1, 8 do
      local step = math.min(30, 0.5 * 2 ^ (n - 1))
      for _ = 1, 20 do
        local d = policy.backoff(n, 0.5, 30)
        assert.is_true(d >= step / 2 and d <= step)
      end
    end
    assert.is_true(policy.backoff(3, 1, 100, 1.5) <= 2.25)
  end)

  it("holds a deadline, and a rate limit that will not wait past it", function()
    local dl = policy.deadline(0.5)
    assert.is_false(dl:expired())
    assert.is_true(dl:allows(0.1))
    assert.is_false(dl:allows(1))
    assert.is_true(policy.deadline(nil):allows(1e9))
    local b = policy.bucket(2) -- 2 per second
    assert.equal(0, b:take(dl))
    local w = b:take(policy.deadline(2))
    assert.is_true(w > 0.4 and w <= 0.5) -- the next token in half a second
    assert.is_nil(b:take(policy.deadline(0.2))) -- a third would wait ~1 s: past this deadline
    assert.is_true(b:take(policy.deadline(5)) > 0.9)
  end)
end)
