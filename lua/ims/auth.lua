-- Authentication state of a client: a fixed token, AK/SK signing (done in C on every attempt),
-- or an IAM/Keystone v3 password that yields a token, cached and refreshed before it expires.
local core = require "ims.native"
local errors = require "ims.errors"
local utc = require "ims.utc"
local validate = require "ims.validate"

local M = {}

-- what goes into a header line is "text": no CR, LF or NUL
local TOKEN = { token = { type = "text", required = true } }
local AKSK = { ak = { type = "text", required = true }, sk = { type = "string", required = true },
  security_token = "text" }
local PASSWORD = {
  auth_url = { type = "string", required = true }, user = { type = "string", required = true },
  password = { type = "string", required = true }, domain = { type = "string", required = true },
  project_id = "text", project_name = "string",
}
-- refresh this long before expires_at (a tenth of the lifetime for short-lived tokens), so a
-- request never leaves with a dying token
local EARLY = 300

local Auth = {}
Auth.__index = Auth

-- The secrets (SK, password, security token, token) live here, not in the auth table, so a
-- debug dump of a client (inspect(client), a serialised log) cannot reveal them.
local secret = setmetatable({}, { __mode = "k" })
local SECRET_FIELDS = { "sk", "password", "security_token", "token" }
-- The table never shows its secrets when printed.
Auth.__tostring = function(a) return "ims.Auth (" .. a.kind .. ")" end

-- Validates the `auth` option of ims.new (level: the user's ims.new call).
function M.new(opts, level)
  level = level + 1
  local kind, checked
  if opts.token ~= nil then
    kind, checked = "token", validate.options("ims.new: auth", opts, TOKEN, level + 1)
  elseif opts.ak ~= nil or opts.sk ~= nil then
    kind, checked = "aksk", validate.options("ims.new: auth", opts, AKSK, level + 1)
  elseif opts.auth_url ~= nil or opts.password ~= nil or opts.user ~= nil then
    kind, checked = "password", validate.options("ims.new: auth", opts, PASSWORD, level + 1)
    if (checked.project_id == nil) == (checked.project_name == nil) then
      error("ims.new: option 'auth' needs one of 'project_id', 'project_name'", level)
    end
    checked.auth_url = checked.auth_url:gsub("/+$", "")
  else
    error("ims.new: option 'auth' must hold 'token', or 'ak' and 'sk', or 'auth_url', 'user', "
      .. "'password' and 'domain'", level)
  end
  checked.kind = kind
  local hidden = {}
  for _, k in ipairs(SECRET_FIELDS) do
    hidden[k], checked[k] = checked[k], nil
  end
  secret[checked] = hidden
  return setmetatable(checked, Auth)
end

-- POST {auth_url}/auth/tokens through the client's one request path (its retry policy and
-- `timeout`, no credentials of ours); stores the token, its expiry and the catalog.
function Auth:fetch(client)
  local scope = self.project_id and { id = self.project_id }
    or { name = self.project_name, domain = { name = self.domain } }
  local u = self.auth_url .. "/auth/tokens"
  local res, err = client:request { method = "POST", url = u, raw = true, expect = 201,
    json = { auth = {
      identity = { methods = { "password" }, password = { user = {
        name = self.user, password = secret[self].password, domain = { name = self.domain } } } },
      scope = { project = scope } } } }
  if not res then
    if err.status then err.kind = "auth" end
    return nil, err
  end
  local doc = res.json
  local token = res.headers["x-subject-token"]
  -- the token goes into every request's headers: a value no header line can carry is refused
  if token and not token:match("^[\33-\126]+$") then token = nil end
  if not token or type(doc) ~= "table" or type(doc.token) ~= "table" then
    return nil, errors.new { kind = "auth", status = res.status, method = "POST", url = u,
      message = "the token response has no X-Subject-Token or token body" }
  end
  secret[self].token = token
  self.expires = utc.seconds(doc.token.expires_at) or (core.time() + 3600)
  local issued = utc.seconds(doc.token.issued_at) or core.time()
  self.early = math.min(EARLY, math.max(0, self.expires - issued) / 10)
  self.catalog = type(doc.token.catalog) == "table" and doc.token.catalog or nil
  -- from the wire: a project id goes into paths and headers, so only a plain id is learnt
  local project = type(doc.token.project) == "table" and doc.token.project.id
  self.token_project = type(project) == "string" and project:match("^[%w_-]+$") and project or nil
  return true
end

-- Makes sure a password client holds a token that will not expire in the next EARLY seconds.
-- Calls running at once (client:map) share one fetch: the others wait for it.
function Auth:ensure(client)
  if self.kind ~= "password" then return true end
  while self.fetching do client:sleep(0.005) end
  if secret[self].token and core.time() < self.expires - self.early then return true end
  self.fetching = true
  local ok, ok2, err = pcall(self.fetch, self, client)
  self.fetching = nil
  if not ok then error(ok2, 0) end
  return ok2, err
end

-- Forgets the token after a 401, so the next ensure() fetches a new one (and the temporary
-- OBS keys made with it).
function Auth:invalidate()
  secret[self].token = nil
  secret[self].obs = nil
end

-- Temporary AK/SK for OBS from IAM (POST /v3.0/OS-CREDENTIAL/securitytokens, with the token):
-- a password client has no keys of its own. Kept until shortly before they expire.
local function fetch_obs_keys(self, client)
  local ok, err = self:ensure(client)
  if not ok then return nil, err end
  local u = self.auth_url:gsub("/v3$", "") .. "/v3.0/OS-CREDENTIAL/securitytokens"
  local res
  res, err = client:request { method = "POST", url = u, raw = true, expect = 201,
    headers = { ["X-Auth-Token"] = secret[self].token },
    json = { auth = { identity = { methods = { "token" }, token = { duration_seconds = 3600 } } } } }
  if not res then
    if err.status then err.kind = "auth" end
    return nil, err
  end
  local c = type(res.json) == "table" and type(res.json.credential) == "table" and res.json.credential
  local function field(k)
    local v = c and c[k]
    return type(v) == "string" and v:match("^[\33-\126]+$") and v or nil
  end
  if not (field("access") and field("secret") and field("securitytoken")) then
    return nil, errors.new { kind = "auth", status = res.status, method = "POST", url = u,
      message = "the securitytokens response has no credential (access, secret, securitytoken)" }
  end
  local expires = utc.seconds(c.expires_at) or (core.time() + 900)
  return { ak = field("access"), sk = field("secret"), security_token = field("securitytoken"),
    refresh_at = expires - math.min(EARLY, math.max(0, expires - core.time()) / 10) }
end

-- The keys OBS requests are signed with: the client's AK/SK, or temporary ones (password).
-- Returns an opaque table for obs_sign, or nil, err.
function Auth:obs_keys(client)
  if self.kind == "aksk" then return self end
  if self.kind ~= "password" then
    return nil, errors.new { kind = "auth", message = "OBS requests need AK/SK or a password "
      .. "client (a fixed token cannot sign them)" }
  end
  local keys = secret[self].obs
  if keys and core.time() < keys.refresh_at then return keys end
  while self.fetching_obs do client:sleep(0.005) end
  keys = secret[self].obs
  if keys and core.time() < keys.refresh_at then return keys end
  self.fetching_obs = true
  local ok, k, err = pcall(fetch_obs_keys, self, client)
  self.fetching_obs = nil
  if not ok then error(k, 0) end
  if not k then return nil, err end
  secret[self].obs = k
  return k
end

-- The `sign` option of an OBS request for keys from obs_keys.
function Auth:obs_sign(keys)
  if keys == self then
    return { scheme = "obs", ak = self.ak, sk = secret[self].sk,
      security_token = secret[self].security_token, clock_offset = self.clock_offset }
  end
  return { scheme = "obs", ak = keys.ak, sk = keys.sk, security_token = keys.security_token,
    clock_offset = self.clock_offset }
end

-- The current token (nil before the first request of a password client).
function Auth:token() return secret[self].token end

-- The image endpoint from a Keystone catalog: service type "image", the interface and region
-- asked for (any region when nil).
function Auth:catalog_endpoint(interface, region)
  for _, svc in ipairs(self.catalog or {}) do
    if svc.type == "image" then
      for _, ep in ipairs(svc.endpoints or {}) do
        if ep.interface == (interface or "public") and (region == nil or ep.region == region
            or ep.region_id == region) then
          if type(ep.url) == "string" then return (ep.url:gsub("/+$", "")) end
        end
      end
    end
  end
end

-- What the catalog offers for the image service, for an error: "public in cn-north-4, ..."
-- (or "no image service").
function Auth:catalog_images()
  local seen = {}
  for _, svc in ipairs(self.catalog or {}) do
    if svc.type == "image" then
      for _, ep in ipairs(svc.endpoints or {}) do
        local region = ep.region or ep.region_id or "any region"
        seen[#seen + 1] = tostring(ep.interface) .. " in " .. tostring(region)
      end
    end
  end
  return #seen > 0 and table.concat(seen, ", ") or "no image service"
end

-- Adds the credentials to the headers of a request about to be sent (a table of name ->
-- value); returns the `sign` option for ims.core when the request must be signed.
function Auth:apply(headers, project_id)
  if self.kind == "aksk" then
    if project_id then headers["X-Project-Id"] = project_id end
    return { ak = self.ak, sk = secret[self].sk, security_token = secret[self].security_token,
      clock_offset = self.clock_offset }
  end
  headers["X-Auth-Token"] = secret[self].token
end

-- AK/SK signatures carry our clock (X-Sdk-Date) and APIG refuses one more than 15 minutes off
-- its own. Every response's Date tells the server's clock, so a skew larger than this is
-- corrected by signing with the server's time instead; Date has whole seconds, and anything
-- under a minute is far from the limit.
local SKEW_TOLERANCE = 60

-- Learns the server's clock from a response's Date header (AK/SK only). Returns true when the
-- offset used for signing changed, i.e. a refused signature is worth one more try.
function Auth:learn_clock(date)
  if self.kind ~= "aksk" then return false end
  local server = utc.http_date(date)
  if not server then return false end
  local skew = server - core.time()
  local now = self.clock_offset or 0
  if math.abs(skew - now) <= SKEW_TOLERANCE then return false end
  self.clock_offset = math.abs(skew) > SKEW_TOLERANCE and math.floor(skew + 0.5) or nil
  return true
end

return M
