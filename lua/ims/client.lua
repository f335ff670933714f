-- The client: options, authentication headers, and `request`, the one path every API call
-- takes (URL -> headers -> ims.core -> status check -> JSON decode -> ims.Error).

--- The client made by `ims.new` / `ims.from_env`. Not required directly: `require "ims"` gives
-- `ims.new`, which returns a `Client`.
-- @module ims.client
local core = require "ims.native"
local auth = require "ims.auth"
local engine = require "ims.engine"
local errors = require "ims.errors"
local journal = require "ims.journal"
local json = require "ims.json"
local policy = require "ims.policy"
local url = require "ims.url"
local validate = require "ims.validate"

local M = {}

local VERSION = "0.1.0"
M.VERSION = VERSION

local Client = {}
Client.__index = Client

-- The services load their modules on first use, so `require "ims"` stays fast and a script
-- pays only for the services it touches: until then each is a table holding the client, whose
-- first lookup makes that same table the service (its module's `new(client, self)`), so its
-- identity never changes. The client's own method lookups stay plain table reads.
local function lazy(module)
  return { __index = function(t, k)
    local m = require(module) -- a failing require leaves the stub to try again
    setmetatable(t, nil)
    m.new(t.client, t)
    return t[k]
  end }
end
local SERVICES = { images = lazy "ims.images", cloudimages = lazy "ims.cloudimages",
  jobs = lazy "ims.jobs", obs = lazy "ims.obs" }
Client.__name = "ims.Client"

local OPTIONS = {
  endpoint = "string", region = "string", interface = "string", project_id = "text",
  auth = "table", headers = "table", timeout = "number", connect_timeout = "number",
  stall_timeout = "number", retry = "any", rate_limit = "number", verify = "boolean",
  ca_file = "string", proxy = "string", user_agent = "text", log = "function",
  allow_insecure = "boolean", max_body = "integer", obs_endpoint = "string",
}
M.OPTIONS = OPTIONS
local RETRY = { attempts = "integer", base_delay = "number", max_delay = "number" }

-- Plain http to anything but this machine would expose tokens and signatures on the wire.
local function insecure(u)
  local p = url.parse(u)
  if not p or p.scheme ~= "http" then return false end
  local h = p.host:lower()
  return not (h == "localhost" or h == "[::1]" or h:match("^127%.%d+%.%d+%.%d+$"))
end

-- A number option: finite and within [lo, hi] (lo excluded when `open`), checked here where the
-- user passed it, not where it is used.
local function number_in(field, v, lo, hi, open)
  if v == nil then return end
  if v ~= v or v == math.huge or v == -math.huge or v < lo or v > hi or (open and v == lo) then
    error(string.format("ims.new: option '%s' must be a finite number %s %s and <= %s (got %s)",
      field, open and ">" or ">=", tostring(lo), tostring(hi), tostring(v)), 3)
  end
end

function M.new(opts)
  opts = validate.options("ims.new", opts, OPTIONS)
  number_in("timeout", opts.timeout, 0, 1e7, true)
  number_in("connect_timeout", opts.connect_timeout, 0, 1e6, true)
  number_in("stall_timeout", opts.stall_timeout, 0, 1e7)
  number_in("rate_limit", opts.rate_limit, 0, 1e6, true)
  number_in("max_body", opts.max_body, 0, math.maxinteger)
  local endpoint = opts.endpoint
  local credentials = opts.auth and auth.new(opts.auth, 2)
  -- with a password, a missing endpoint comes from the token's catalog (`region` picks the
  -- catalog's region); otherwise `region` names Huawei's public endpoint
  if not endpoint and opts.region and not (credentials and credentials.kind == "password") then
    endpoint = "https://ims." .. opts.region .. ".myhuaweicloud.com"
  end
  if not endpoint and not (credentials and credentials.kind == "password") then
    error("ims.new: missing required field 'endpoint' (or 'region')", 2)
  end
  local parsed = url.parse(endpoint or "http://catalog")
  if not parsed or (parsed.scheme ~= "http" and parsed.scheme ~= "https") or parsed.query then
    error("ims.new: option 'endpoint' must be an http(s) URL without a query (got '"
      .. endpoint .. "')", 2)
  end
  if parsed.userinfo then error("ims.new: option 'endpoint' must not hold credentials", 2) end
  if credentials and not opts.allow_insecure then
    for _, u in ipairs { endpoint or "https://x", credentials.auth_url or "https://x" } do
      if insecure(u) then
        error("ims.new: refusing to send credentials over plain http to " .. u
          .. " (use https, or allow_insecure = true)", 2)
      end
    end
  end
  local obs_endpoint = opts.obs_endpoint
  if obs_endpoint then
    local p = url.parse(obs_endpoint)
    if not p or (p.scheme ~= "http" and p.scheme ~= "https") or p.query or p.userinfo
        or (p.path ~= "" and p.path ~= "/") then
      error("ims.new: option 'obs_endpoint' must be an http(s) URL with no path, query or "
        .. "credentials (got '" .. obs_endpoint .. "')", 2)
    end
    if credentials and not opts.allow_insecure and insecure(obs_endpoint) then
      error("ims.new: refusing to send credentials over plain http to " .. obs_endpoint
        .. " (use https, or allow_insecure = true)", 2)
    end
  elseif opts.region then
    obs_endpoint = "https://obs." .. opts.region .. ".myhuaweicloud.com"
  end
  local retry = opts.retry
  if retry == nil then
    retry = { attempts = policy.DEFAULT.attempts, base_delay = policy.DEFAULT.base_delay,
      max_delay = policy.DEFAULT.max_delay }
  elseif retry ~= false then
    if type(retry) ~= "table" then
      error("ims.new: option 'retry' must be a table or false (got " .. type(retry) .. ")", 2)
    end
    retry = validate.options("ims.new: retry", retry, RETRY)
    number_in("retry.attempts", retry.attempts, 1, 1000)
    number_in("retry.base_delay", retry.base_delay, 0, 3600)
    number_in("retry.max_delay", retry.max_delay, 0, 86400)
    for k, v in pairs(policy.DEFAULT) do if retry[k] == nil then retry[k] = v end end
  end
  local headers, lower = {}, {}
  for k, v in pairs(opts.headers or {}) do
    local l = type(k) == "string" and k:lower()
    if l and lower[l] then -- which one would be sent would depend on table order
      error("ims.new: option 'headers' names '" .. k .. "' twice ('" .. lower[l] .. "' and '" .. k
        .. "'): name it once", 2)
    end
    if l then lower[l] = k end
    if type(k) ~= "string" or (type(v) ~= "string" and type(v) ~= "number") then
      error("ims.new: option 'headers' must map header names to strings", 2)
    end
    if not k:match("^[!#$%%&'*+.^_`|~%w-]+$") then -- an HTTP token: no ':', space, CR, LF, NUL
      error("ims.new: option 'headers': invalid header name '" .. k:gsub("%c", "?") .. "'", 2)
    end
    if tostring(v):find("[\r\n%z]") then
      error("ims.new: option 'headers': header '" .. k .. "' must not contain CR, LF or NUL", 2)
    end
    headers[k] = tostring(v)
  end
  local user_agent = opts.user_agent or ("lua-ims/" .. VERSION)
  local self = setmetatable({
    endpoint = endpoint and endpoint:gsub("/+$", ""), -- nil: from the token's catalog
    obs_endpoint = obs_endpoint and obs_endpoint:gsub("/+$", ""),
    region = opts.region,
    project_id = opts.project_id or (credentials and credentials.project_id),
    _auth = credentials,
    _region = opts.region,
    _interface = opts.interface,
    _allow_insecure = opts.allow_insecure,
    _headers = headers,
    _timeout = opts.timeout or 60,
    _retry = retry,
    _log = opts.log,
    _rate = opts.rate_limit and policy.bucket(opts.rate_limit),
    _session = core.session {
      connect_timeout = opts.connect_timeout or 10,
      stall_timeout = opts.stall_timeout or 60,
      verify = opts.verify ~= false,
      ca_file = opts.ca_file,
      proxy = opts.proxy,
      user_agent = user_agent,
      max_body = opts.max_body,
    },
  }, Client)
  self._engine = engine.new(self._session)
  for name, mt in pairs(SERVICES) do self[name] = setmetatable({ client = self }, mt) end
  return self
end

--- A client: holds the options, the credentials and one connection (a libcurl session).
-- Made by `ims.new` or `ims.from_env`. Use it from one coroutine at a time.
-- @type Client
-- @field endpoint the base URL (trailing `/` removed); with a password `auth` and no
-- `endpoint`, `nil` until the first call reads it from the token's catalog
-- @field project_id the project (`project_id` option, the password `auth`'s `project_id`, or
-- learnt from a `project_name`-scoped token on the first call)
-- @field images the Glance v2 image API (`ims.images.Images`)
-- @field cloudimages the IMS-native API (`ims.cloudimages.CloudImages`)
-- @field jobs IMS asynchronous jobs (`ims.jobs.Jobs`)
-- @field obs OBS object storage (`ims.obs.Obs`), at `obs_endpoint`
-- @field region the `region` option (nil when not given)
-- @field obs_endpoint the OBS endpoint (`obs_endpoint` option, else
-- `https://obs.{region}.myhuaweicloud.com` from `region`, else nil)
-- @usage
-- local client <close> = ims.new { endpoint = os.getenv("IMS_ENDPOINT"), project_id = project,
--   auth = { token = token } }
-- print(client.endpoint, client.project_id)
-- local images = assert(client.images:list { max = 10 })

--- Internal: used by the SDK's own modules, not part of the public API.
-- The client's project: given, or (password auth with a project_name scope) the token's,
-- which needs the first token. Returns it, or nil, err.
-- @local
function Client:project()
  if self.project_id then return self.project_id end
  local ok, err = self:ready()
  if not ok then return nil, err end
  if not self.project_id then
    return nil, errors.new { kind = "auth", url = self._auth and self._auth.auth_url,
      message = "the token names no usable project id" }
  end
  return self.project_id
end

--- Internal: used by the SDK's own modules, not part of the public API.
-- The project a call needs (job URLs, accepting a shared image): raises, naming `fname`, when
-- the client cannot know it (no `project_id`, no password auth to learn it from); `level` is
-- the user's call as seen from here. Returns it, or nil, err when getting the token failed.
-- @local
function Client:project_for(fname, level)
  if not self.project_id and not (self._auth and self._auth.kind == "password") then
    error(fname .. ": the client has no 'project_id' (ims.new{project_id = ...})", level)
  end
  return self:project()
end

--- Internal: used by the SDK's own modules, not part of the public API.
-- Raises when the client was closed; level points at the caller of the public function.
-- @local
function Client:check_open(fname, level)
  -- level: the user's call, counted from here (3 when the public function calls this itself)
  if getmetatable(self) ~= Client then
    error(fname .. ": call it with ':' (client:" .. fname:match("[^:]+$") .. "(...))", level or 3)
  end
  if not self._session then error(fname .. ": the client is closed", level or 3) end
end

--- Closes the client's connection. Idempotent; also the `__close` metamethod, so
-- `local c <close> = ims.new{...}` closes it at the end of the scope. Afterwards every call of the
-- client raises (`ims.images:get: the client is closed`).
-- @treturn boolean `true`
-- @raise never (closing twice is fine)
-- @usage
-- local client = ims.new { endpoint = "http://127.0.0.1:9292" }
-- client:close()
-- client:close() -- still true
function Client:close()
  if getmetatable(self) ~= Client then error("ims.client:close: call it with ':' (client:close())", 2) end
  if self._session then
    self._session:close()
    self._session = nil
  end
  return true
end

--- Runs `fn(item, i)` for every item, up to `concurrency` at once, from one Lua thread: each
-- call of `fn` runs in a task of its own, and every SDK call it makes on this client (requests,
-- transfers, job waits) sends its request and lets the other tasks run until the answer
-- comes, all on the client's one curl multi handle. Outside `map`, calls block as before.
-- `rate_limit`, retries and deadlines apply to each request as usual.
-- @tparam table items the items (an array)
-- @tparam function fn `function(item, i)` returning a value, or `nil, err`
-- @tparam[opt] table opts `concurrency` (calls in flight at once, default 8),
-- `progress = function(done, total)` (after each item)
-- @treturn table `values`: `values[i]` is `fn`'s first result for item `i`
-- @treturn table|nil `errs`: `nil` when every `fn` returned a value, else `errs[i]` is the
-- second result (an `ims.Error`) of each item whose `fn` returned `nil`
-- @raise on misuse (`items` not a table, `fn` not a function, a bad option, a closed client);
-- an error raised inside `fn` stops the map (nothing new starts, requests in flight are
-- cancelled) and is raised again from here
-- @usage
-- local images, errs = client:map(ids, function(id) return client.images:get(id) end,
--   { concurrency = 8 })
function Client:map(items, fn, opts)
  local fname = "ims.client:map"
  Client.check_open(self, fname)
  validate.arg(fname, "items", items, "table")
  validate.arg(fname, "fn", fn, "function")
  opts = validate.options(fname, opts, { concurrency = "integer", progress = "function" })
  local concurrency = opts.concurrency or 8
  if concurrency < 1 or concurrency > 1000 then
    error(fname .. ": option 'concurrency' must be between 1 and 1000 (got " .. concurrency .. ")", 2)
  end
  return self._engine:map(items, fn, concurrency, opts.progress)
end

--- Internal: a deadline of the client's `timeout` from now, for a call made of many requests
-- (a whole listing).
-- @local
function Client:deadline() return policy.deadline(self._timeout) end

--- Internal: sleeps `seconds`; inside `map`, other tasks run meanwhile.
-- @local
function Client:sleep(seconds) self._engine:sleep(seconds) end

--- Internal: the client's engine (ims.engine), for modules that run tasks of their own.
-- @local
function Client:engine() return self._engine end
Client.__close = Client.close

--- Opens (creating it) a journal file: `journal:job(key, start)` and
-- `journal:image(key, create)` start a job or make an image once per key, across reruns of
-- the script (`ims.journal`).
-- @tparam string path the journal file (appended to; one line per record)
-- @treturn[1] ims.journal.Journal the journal (close it, or use `<close>`)
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error kind `file` when the file cannot be written
-- @raise on misuse: `path` not a string, a closed client
-- @usage
-- local journal <close> = assert(client:journal("pipeline.journal"))
-- local job = assert(journal:job("import", function() return client.cloudimages:create(body) end))
function Client:journal(path)
  local fname = "ims.client:journal"
  Client.check_open(self, fname)
  validate.arg(fname, "path", path, "path")
  return journal.open(self, path)
end

--- `tostring(client)`: `ims.Client (<endpoint>)`, with `, closed` once closed.
-- No credential is shown.
-- @treturn string the description
-- @usage print(client) --> ims.Client (https://ims.cn-north-4.myhuaweicloud.com)
function Client:__tostring()
  return "ims.Client (" .. (self.endpoint or "endpoint from the catalog")
    .. (self._session and ")" or ", closed)")
end

--- Internal: used by the SDK's own modules, not part of the public API.
-- Gets what a request needs before it can be built: a valid token (password auth) and, with
-- a Keystone catalog, the endpoint. Returns true or nil, err.
-- @local
function Client:ready()
  local a = self._auth
  if a then
    local ok, err = a:ensure(self)
    if not ok then return nil, err end
    if not self.project_id then self.project_id = a.token_project end
  end
  if not self.endpoint then
    local ep = a and a:catalog_endpoint(self._interface, self._region)
    if not ep then
      return nil, errors.new { kind = "auth", message = "no endpoint given and the token's catalog "
        .. "has no image service with interface " .. (self._interface or "public")
        .. (self._region and (" in region " .. self._region) or "") .. " (it has: "
        .. (a and a:catalog_images() or "no catalog") .. ")" }
    end
    if insecure(ep) and not self._allow_insecure then
      return nil, errors.new { kind = "auth", url = ep, message = "the catalog's image endpoint "
        .. "is plain http: refusing to send credentials (use allow_insecure = true)" }
    end
    self.endpoint = ep
  end
  return true
end

--- Internal: used by the SDK's own modules, not part of the public API.
-- Absolute URL for an already escaped path ("/v2/images/ID") and an optional query table.
-- @local
function Client:url(path, query)
  local q = url.query(query)
  return self.endpoint .. path .. (q ~= "" and ("?" .. q) or "")
end

--- The headers a request starts from: Accept JSON, the client's `headers`, the content type,
-- then `extra`; a later layer replaces an earlier one whatever the case of the name.
-- @local
function Client:headers(content_type, extra)
  if not (content_type or extra or next(self._headers)) then -- most calls (job polls, gets)
    return { Accept = "application/json" }
  end
  local merged = { accept = { "Accept", "application/json" } }
  local function set(k, v) merged[k:lower()] = { k, v } end
  for k, v in pairs(self._headers) do set(k, v) end
  if content_type then set("Content-Type", content_type) end
  for k, v in pairs(extra or {}) do set(k, v) end
  local headers = {}
  for _, kv in pairs(merged) do headers[kv[1]] = kv[2] end
  return headers
end

--- Internal: used by the SDK's own modules, not part of the public API.
-- Gives the `log` hook one event for one request (an API call's attempt, a job poll, a token
-- request): method, redacted URL, status or curl error, ms, attempt, request id.
-- @local
function Client:log_request(method, u, res, terr, attempt, seconds)
  if not self._log then return end
  local h = res and res.headers or {}
  self._log {
    method = method, url = url.redact(u), status = res and res.status,
    error = terr and terr.code, ms = math.floor(seconds * 1000 + 0.5),
    attempt = attempt, request_id = h["x-request-id"] or h["x-openstack-request-id"],
    uploaded = (res or terr).uploaded, downloaded = (res or terr).downloaded,
  }
end

local function expected(spec, status)
  local e = spec.expect
  if type(e) == "number" then return status == e end
  for _, s in ipairs(e) do if s == status then return true end end
  return false
end

local CORE_KEYS = {
  "body", "body_file", "body_offset", "body_length", "body_reader", "body_size", "sink",
  "sink_file", "append",
  "upload_digests", "download_digests", "progress",
}

-- The attempts of one request, as ims.policy decides: each attempt waits for the rate limit
-- and is signed anew; a failure is retried while the policy allows and the deadline holds;
-- IMS flow control (IMG.0060) waits for room until the deadline, outside `attempts`; a
-- download cut short continues where it stopped (Range). Returns the last (res, terr), or
-- nil, nil, err when the rate limit's wait would pass the deadline.
local function attempts(self, req, spec, headers, deadline, obs_keys)
  local retry = self._retry
  if spec.retry == false then retry = false end
  local limit = retry and retry.attempts or 1
  local res, terr, reclocked
  local attempt, refused = 0, 0 -- tries made; of those, refused by IMS flow control
  while true do
    attempt = attempt + 1
    if self._rate then
      local wait = self._rate:take(deadline)
      if not wait then
        return nil, nil, errors.new { kind = "timeout", code = "RATE_LIMIT", method = req.method,
          url = req.url, retryable = true, message = "waiting for the rate limit (" .. self._rate.rate
            .. "/s) would pass the call's deadline" }
      end
      self._engine:sleep(wait)
    end
    if not spec.transfer then req.timeout = math.max(0.001, deadline:left()) end
    if spec.obs then
      req.sign = self._auth:obs_sign(obs_keys)
    elseif not spec.raw then
      req.sign = self._auth and self._auth:apply(headers, self.project_id)
    end
    local t0 = core.now()
    res, terr = self._engine:request(req)
    self:log_request(req.method, req.url, res, terr, spec.log_attempt or attempt, core.now() - t0)
    if res and self._auth and self._auth:learn_clock(res.headers.date) then reclocked = true end
    if (res and expected(spec, res.status)) or not retry then break end
    local delay
    if not spec.transfer and policy.flow_controlled(res) and not req.body_reader then
      refused = refused + 1 -- waits for running jobs: longer steps
      delay = policy.backoff(refused + 1, retry.base_delay, retry.max_delay)
    else
      if attempt - refused >= limit or not policy.retryable(req, res, terr) then break end
      delay = policy.backoff(attempt - refused, retry.base_delay, retry.max_delay)
    end
    -- a download cut short continues where it stopped (Range), the digest still whole-file
    if req.sink_file and terr and terr.downloaded > 0 then req.append = true end
    delay = math.max(delay, policy.retry_after(res and res.headers) or 0)
    if not deadline:allows(delay) then break end
    self._engine:sleep(delay)
  end
  return res, terr, nil, reclocked
end

--- Internal: used by the SDK's own modules, not part of the public API.
-- One API call. spec: method, path (escaped) or url, query, headers, json (value to send),
-- body/body_file/body_reader/body_size, sink/sink_file/append, digests, progress,
-- expect (status or list), transfer (true: no call deadline; each attempt is bounded by the
-- stall timeout, and retried however long it ran), deadline (an ims.policy deadline, instead
-- of the client's `timeout`), retry = false (one attempt), raw (no credentials and no origin
-- check: the token request itself), obs (an OBS request: `url` on `obs_endpoint`, signed with
-- OBS's scheme), log_attempt (the attempt number to log).
-- Returns the core response with `json` decoded for JSON bodies, or nil, ims.Error.
-- @local
function Client:request(spec)
  local obs_keys
  if spec.obs then
    local kerr
    obs_keys, kerr = self._auth:obs_keys(self)
    if not obs_keys then return nil, kerr end
  elseif not spec.raw then
    local ready, aerr = self:ready()
    if not ready then return nil, aerr end
  end
  local method = spec.method or "GET"
  local full = spec.url or self:url(spec.path, spec.query)
  -- a URL from the wire (a `next` link) may point anywhere: credentials go only to the endpoint
  local origin = spec.obs and self.obs_endpoint or self.endpoint
  if spec.url and not spec.raw and not url.same_origin(full, origin) then
    return nil, errors.cross_origin(method, full, origin)
  end
  local req = { method = method, url = full }
  for _, k in ipairs(CORE_KEYS) do req[k] = spec[k] end
  local content_type = spec.content_type
  if spec.json ~= nil then
    local ok, body = pcall(json.encode, spec.json)
    if not ok then -- the calls check what they send; this names any that let a value through
      error((spec.fname or "ims.client:request") .. ": the request body cannot be sent as JSON ("
        .. tostring(body) .. ")", 2)
    end
    req.body = body
    content_type = content_type or "application/json"
  end
  -- the token request carries only what it needs: the client's headers are the endpoint's
  local headers
  if spec.raw or spec.obs then -- the client's headers are the IMS endpoint's
    headers = { Accept = not spec.obs and "application/json" or nil, ["Content-Type"] = content_type }
    for k, v in pairs(spec.headers or {}) do headers[k] = v end
  else
    headers = self:headers(content_type, spec.headers)
  end
  req.headers = headers
  local deadline = spec.deadline or policy.deadline(not spec.transfer and self._timeout or nil)
  local res, terr, lerr, reclocked = attempts(self, req, spec, headers, deadline, obs_keys)
  if lerr then return nil, lerr end
  -- One more try after a 401 our side can mend (files are re-read, readers cannot be): AK/SK
  -- refused while our clock was off (its Date taught us the right one), or a password's token
  -- expired or revoked (a new one is fetched). The auth kinds exclude each other: one flag.
  local password = self._auth and self._auth.kind == "password"
  local refused = res and (res.status == 401 or (spec.obs and res.status == 403))
  if refused and (reclocked or password) and not spec._retried_401
      and not spec.raw and not req.body_reader then
    if password then self._auth:invalidate() end
    return self:request(setmetatable({ _retried_401 = true }, { __index = spec }))
  end
  if not res then
    local err = errors.from_transport(terr, method, full)
    if req.body_reader and err.retryable and self._retry then
      err.message = err.message .. " (not retried: a reader body cannot be rewound; give a file path)"
    end
    return nil, err
  end
  if not expected(spec, res.status) then
    local err = errors.from_response(res, method, full)
    if res.status == 401 then err.kind = "auth" end
    return nil, err
  end
  local ctype = res.headers["content-type"] or ""
  if res.body and res.body ~= "" and ctype:find("json", 1, true) then
    local value, msg = json.decode(res.body)
    if value == nil then
      return nil, errors.new { kind = "decode", status = res.status, method = method, url = full,
        message = "invalid JSON in response: " .. tostring(msg), body = res.body:sub(1, 4096),
        request_id = res.headers["x-request-id"] or res.headers["x-openstack-request-id"] }
    end
    res.json = value
  end
  return res
end

return M
