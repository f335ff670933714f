-- ims.policy: the one retry and deadline policy. Every request the SDK makes (API calls,
-- transfers, job polls, token fetches) asks it the same questions: may this failure be tried
-- again, after how long, and is there time left. Also the rate limiter's wait, which counts
-- against the same deadline. Pure decisions: the caller does the sleeping (ims.engine), so a
-- call inside client:map waits without blocking the others.
local core = require "ims.native"
local utc = require "ims.utc"

local M = {}

-- Methods a server may receive twice without harm.
M.IDEMPOTENT = { GET = true, HEAD = true, PUT = true, DELETE = true, OPTIONS = true }

-- curl failures where the request cannot have reached the server: safe to send again whatever
-- the method.
M.NOT_SENT = { COULDNT_CONNECT = true, COULDNT_RESOLVE_HOST = true, COULDNT_RESOLVE_PROXY = true }

-- curl failures that may go away on their own (the network, the server restarting). Anything
-- else is permanent and never retried: a certificate that does not verify, a bad URL or
-- option, a local file, a callback that stopped the transfer, a body over its limit.
M.TRANSIENT = { COULDNT_CONNECT = true, COULDNT_RESOLVE_HOST = true, COULDNT_RESOLVE_PROXY = true,
  OPERATION_TIMEDOUT = true, SEND_ERROR = true, RECV_ERROR = true, GOT_NOTHING = true,
  PARTIAL_FILE = true, SSL_CONNECT_ERROR = true }

-- Statuses worth another try: rate limited, or the server (or a gateway) failing for now.
M.RETRY_STATUS = { [408] = true, [429] = true, [500] = true, [502] = true, [503] = true,
  [504] = true }

M.DEFAULT = { attempts = 4, base_delay = 0.5, max_delay = 30 }

-- IMS flow control: 400 IMG.0060 ("the number of tasks exceeds the flow control limit") means
-- the job-starting call was refused and started nothing, so it is safe to send again once
-- running jobs have finished.
function M.flow_controlled(res)
  return res ~= nil and res.status == 400 and type(res.body) == "string"
    and res.body:find('"IMG.0060"', 1, true) ~= nil
end

-- Whether a failed attempt may be repeated. `req` is what was sent (its method and body
-- kind; `delivered`: bytes already handed to a sink function, which cannot be taken back),
-- `res` a response with an unexpected status, or `terr` a transport failure. Returns
-- retry (boolean) and why not (a word for messages) when it may not.
function M.retryable(req, res, terr)
  if req.body_reader then return false, "reader" end -- a reader cannot be rewound
  if req.sink and (res or terr).downloaded > 0 then return false, "delivered" end
  local idempotent = M.IDEMPOTENT[req.method or "GET"]
  if terr then
    if M.NOT_SENT[terr.code] then return true end
    if not M.TRANSIENT[terr.code] then return false, "permanent" end
    return idempotent == true, "not idempotent"
  end
  local s = res.status
  if s == 429 then return true end -- refused before any work was done
  if s == 503 then return true end -- API gateways answer 503 before forwarding
  return idempotent == true and M.RETRY_STATUS[s] == true, "status"
end

-- Retry-After as seconds from now, from its two forms: delta-seconds ("120") or an HTTP-date
-- ("Wed, 21 Oct 2026 07:28:00 GMT", measured against the response's own Date when it has one,
-- so a skewed local clock does not matter). nil when absent or unreadable.
function M.retry_after(headers)
  local v = type(headers) == "table" and headers["retry-after"]
  if type(v) ~= "string" then return nil end
  local n = v:match("^%s*(%d+)%s*$")
  if n then return math.min(tonumber(n), 86400) end
  local at = utc.http_date(v:match("^%s*(.-)%s*$"))
  if not at then return nil end
  local now = utc.http_date(headers.date) or core.time()
  return math.max(0, math.min(at - now, 86400))
end

-- The one backoff: step n (1, 2, ...) of base * factor^(n-1), capped at max, with "equal
-- jitter" (between half and all of it), so a crowd of clients (or of jobs) spreads out but
-- never hammers.
function M.backoff(n, base, max, factor)
  local d = math.min(max, base * (factor or 2) ^ (n - 1))
  return d * (0.5 + math.random() / 2)
end

---------------------------------------------------------------------------------------------
-- deadlines

local Deadline = {}
Deadline.__index = Deadline

-- A deadline `seconds` from now; nil or math.huge: none (transfers: each attempt is bounded by
-- the stall timeout instead).
function M.deadline(seconds)
  return setmetatable({ at = seconds and core.now() + seconds or math.huge }, Deadline)
end

function Deadline:left() return self.at - core.now() end
function Deadline:expired() return core.now() >= self.at end
-- Whether waiting `delay` seconds still ends before the deadline.
function Deadline:allows(delay) return core.now() + delay < self.at end

---------------------------------------------------------------------------------------------
-- rate limiting: a token bucket shared by every request of a client

local Bucket = {}
Bucket.__index = Bucket

function M.bucket(rate)
  return setmetatable({ rate = rate, tokens = 1, at = core.now() }, Bucket)
end

-- Takes a token: returns how long to wait for it first (0: none), or nil when that wait would
-- pass `deadline` (nothing is taken then).
function Bucket:take(deadline)
  local now = core.now()
  self.tokens = math.min(1, self.tokens + (now - self.at) * self.rate)
  self.at = now
  local wait = self.tokens >= 1 and 0 or (1 - self.tokens) / self.rate
  if wait > 0 and deadline and not deadline:allows(wait) then return nil end
  self.tokens = self.tokens - 1 -- may go negative: the wait pays it back
  return wait
end

return M
