-- lua-ims: the Lua SDK for Huawei Cloud IMS and OpenStack Glance v2. See README.md.

--- The Lua 5.4 SDK for Huawei Cloud's Image Management Service (IMS) and any OpenStack Glance v2.
--
-- `require "ims"` gives this module: it makes clients (`ims.new`, `ims.from_env`) whose
-- `images` (`ims.images.Images`), `cloudimages` (`ims.cloudimages.CloudImages`) and `jobs`
-- (`ims.jobs.Jobs`) tables hold the API calls. `docs/api.md` is the contract; this reference
-- follows it call by call.
--
-- Conventions, for every call:
--
-- * **Misuse raises** at once, before any I/O: a wrong type, an unknown option key, a missing
--   required field, a closed client. The message names the function and the field
--   (`ims.images:create: attribute 'min_disk' must be an integer (got 1.5)`), and the error
--   position is the caller's line.
-- * **Runtime failures return `nil, err`**, `err` being an `ims.Error` (`ims.errors.Error`).
--   Success returns a value, never `nil`; calls with nothing to return give `true`.
-- * Calls taking an image accept its id string or an image table; calls taking a member accept
--   a project id or a member table.
-- * Objects are plain tables of the server's fields (`pairs` shows only those); JSON `null`
--   becomes `nil`, integral numbers are Lua integers.
-- @module ims
-- @usage
-- local ims = require "ims"
-- local client <close> = ims.new {
--   endpoint = "https://ims.cn-north-4.myhuaweicloud.com",
--   project_id = "0123456789abcdef0123456789abcdef",
--   auth = { ak = os.getenv("HUAWEICLOUD_SDK_AK"), sk = os.getenv("HUAWEICLOUD_SDK_SK") },
-- }
-- for img in client.images:each { tag = "os=linux" } do print(img.id, img.name) end
local client = require "ims.client"
local errors = require "ims.errors"
local json = require "ims.json"
local validate = require "ims.validate"

-- ims.sign wraps the core's: the core loads on first use, and a misuse error names the caller's
-- line, as the Lua functions' do.
local function sign(req)
  local ok, r = pcall(require("ims.native").sign, req)
  if not ok then error(r, 2) end
  return r
end

local ims = {
  _VERSION = client.VERSION,
  null = json.null,       -- sends a JSON null (and removes a property in images:update)
  Error = errors.Error,
  new = client.new,
  is_error = errors.is_error,
  sign = sign, -- AK/SK SDK-HMAC-SHA256 (docs/api.md)
}

--- The SDK's version, `"0.1.0"`.
-- @field _VERSION
-- @usage print(ims._VERSION) --> 0.1.0

--- A value that sends a JSON `null`. In `images:update` (and `image:update`, `cloudimages:update`)
-- it removes a property. Compare with `==`; it is not `nil`.
-- @field null
-- @usage client.images:update(image, { os_distro = ims.null }) -- removes the property

--- The metatable of every `ims.Error` (`ims.errors.Error`); `ims.is_error` tests for it.
-- @field Error
-- @usage assert(getmetatable(err) == ims.Error)

--- Makes a client. Nothing is sent: credentials are checked for shape here and used by the first
-- call (a password `auth` gets its token then), so a bad password shows as an `auth` error of that
-- call.
-- @function new
-- @tparam table opts the options:
--
-- * `endpoint` (string): base URL, `https://ims.cn-north-4.myhuaweicloud.com` or
--   `http://127.0.0.1:9292`
-- * `region` (string): instead of `endpoint`: `https://ims.{region}.myhuaweicloud.com`; with a
--   password `auth` and no `endpoint`, the catalog region to pick
-- * `project_id` (string): the project (needed by `accept`/`reject` and jobs)
-- * `auth` (table): `{token = "..."}` sent as `X-Auth-Token`; `{ak =, sk =, security_token = ?}`
--   signs every attempt in C (`SDK-HMAC-SHA256`, `X-Project-Id` from `project_id`, streamed bodies
--   as `UNSIGNED-PAYLOAD`);
--   `{auth_url =, user =, password =, domain =, project_id = | project_name =}` gets an
--   IAM/Keystone v3 token (cached, renewed before `expires_at`, renewed once after a 401 and the
--   request repeated); absent = no authentication
-- * `interface` (string): with a password `auth` and no `endpoint`: the catalog interface of
--   the `image` service (default `public`)
-- * `headers` (table): extra headers on every request
-- * `timeout` (number): seconds one API call may take, retries included (default 60);
--   transfers are bounded by `stall_timeout` instead
-- * `connect_timeout` (number): seconds to connect (default 10)
-- * `stall_timeout` (number): a transfer moving no byte for this long fails with kind
--   `timeout` (default 60)
-- * `retry` (table or false): `{attempts = 4, base_delay = 0.5, max_delay = 30}` (the defaults)
--   or `false`. GET, HEAD, PUT and DELETE are retried after connection failures, 429 (honouring
--   `Retry-After`) and 500/502/503/504; any request after a refused connection, 429 or 503.
--   Full-jitter exponential backoff, within `timeout`. Reader bodies are never retried.
-- * `rate_limit` (number): requests per second for this client (token bucket)
-- * `verify` (boolean), `ca_file`, `proxy`, `user_agent` (strings): TLS verification (default
--   `true`), CA bundle, proxy URL, User-Agent
-- * `allow_insecure` (boolean): send credentials over plain `http://` to a host that is not
--   this machine (default `false`; loopback is always allowed)
-- * `log` (function): `function(event)` called once per attempt with
--   `{method, url, status, error, ms, attempt, request_id, uploaded, downloaded}`; the URL is
--   redacted and no header is included
-- @treturn ims.client.Client the client (close it with `client:close()`, or `<close>`)
-- @raise on misuse: an unknown option or a wrong type (`ims.new: unknown option 'timout'`), no
-- `endpoint` nor `region` (`ims.new: missing required field 'endpoint' (or 'region')`), an
-- `auth` table of no known shape, credentials over plain http off-loopback without
-- `allow_insecure`. Never returns `nil, err`.
-- @usage
-- local client <close> = ims.new {
--   region = "cn-north-4", project_id = project,
--   auth = { ak = ak, sk = sk },
--   retry = { attempts = 6 }, log = function(e) print(e.method, e.url, e.status, e.ms) end,
-- }

--- Whether `x` is an `ims.Error`.
-- @function is_error
-- @param x any value
-- @treturn boolean `true` for an `ims.Error`, else `false`
-- @raise never
-- @usage
-- local ok, err = pcall(function() for img in client.images:each() do end end)
-- if not ok and ims.is_error(err) then print(err.kind, err.status) end

--- Signs a request with AK/SK (`SDK-HMAC-SHA256`, Huawei API Gateway signing), in C.
-- Policy (python-v3 reference): every header in `headers` whose name has no `_` is signed,
-- plus `Host` (added from the URL when absent) and `X-Sdk-Date` (the current UTC time when
-- absent); a non-empty body whose `Content-Type` is set and not JSON gets
-- `X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD` (signed) instead of a body hash. This is
-- `ims.core.sign`.
-- @function sign
-- @tparam table req the request: `ak`, `sk`, `method`, `url` (required), `headers` (table),
-- `body` (string), `date` (`"YYYYMMDDTHHMMSSZ"`), `signed_headers` (`"a;b"` or `{"a", "b"}`:
-- replaces the list of signed headers), `scheme = "obs"` (OBS's own `Authorization: OBS AK:sig`
-- instead; `date` is then an HTTP date, and `security_token` goes as `x-obs-security-token`)
-- @treturn table `authorization`, `headers` (every header to send, `Authorization`
-- included), `canonical_request`, `string_to_sign`, `signed_headers`, `url` (the URL with its
-- query in canonical order, as the reference signer sends it)
-- @raise on misuse: an unknown key, a missing `ak`/`sk`/`method`/`url`, a URL that is not
-- absolute http(s), a lower-case method, headers that are not strings. Nothing is sent, so
-- there is no `nil, err` form.
-- @usage
-- local s = ims.sign { ak = ak, sk = sk, method = "GET",
--   url = "https://ims.cn-north-4.myhuaweicloud.com/v2/cloudimages?limit=10",
--   headers = { ["X-Project-Id"] = project } }
-- -- send s.url with s.headers (Authorization, X-Sdk-Date and Host included)

-- ims.from_env(overrides?): a client configured from the environment (see README).

--- A client configured from the environment. Reads `IMS_ENDPOINT`, `IMS_OBS_ENDPOINT`,
-- `HUAWEICLOUD_SDK_REGION` / `OS_REGION_NAME`, `HUAWEICLOUD_SDK_PROJECT_ID` / `OS_PROJECT_ID`,
-- and credentials: AK/SK from `HUAWEICLOUD_SDK_AK`, `HUAWEICLOUD_SDK_SK` (and
-- `HUAWEICLOUD_SDK_SECURITY_TOKEN`); else a password from `OS_AUTH_URL`, `OS_USERNAME`,
-- `OS_PASSWORD`, `OS_USER_DOMAIN_NAME`, `OS_PROJECT_ID`; else a token from `IMS_TOKEN` /
-- `OS_AUTH_TOKEN`. An empty variable counts as unset.
-- @tparam[opt] table overrides `ims.new` options that replace what the environment gave
-- @treturn ims.client.Client the client
-- @raise as `ims.new` (e.g. no `IMS_ENDPOINT` nor region set, an unknown override key), and
-- when the environment holds no credentials (and `overrides` no `auth`).
-- Never returns `nil, err`.
-- @usage
-- -- IMS_ENDPOINT=... HUAWEICLOUD_SDK_PROJECT_ID=... HUAWEICLOUD_SDK_AK=... HUAWEICLOUD_SDK_SK=...
-- local client <close> = ims.from_env { timeout = 120 }
function ims.from_env(overrides)
  overrides = validate.options("ims.from_env", overrides, client.OPTIONS)
  local function env(name) -- an empty variable counts as unset
    local v = os.getenv(name)
    return v ~= "" and v or nil
  end
  local opts = {
    endpoint = env "IMS_ENDPOINT",
    region = env "HUAWEICLOUD_SDK_REGION" or env "OS_REGION_NAME",
    obs_endpoint = env "IMS_OBS_ENDPOINT",
    project_id = env "HUAWEICLOUD_SDK_PROJECT_ID" or env "OS_PROJECT_ID",
  }
  if env "HUAWEICLOUD_SDK_AK" or env "HUAWEICLOUD_SDK_SK" then
    opts.auth = { ak = env "HUAWEICLOUD_SDK_AK", sk = env "HUAWEICLOUD_SDK_SK",
      security_token = env "HUAWEICLOUD_SDK_SECURITY_TOKEN" }
  elseif env "OS_AUTH_URL" then
    opts.auth = { auth_url = env "OS_AUTH_URL", user = env "OS_USERNAME",
      password = env "OS_PASSWORD", domain = env "OS_USER_DOMAIN_NAME",
      project_id = env "OS_PROJECT_ID" }
  elseif env "IMS_TOKEN" or env "OS_AUTH_TOKEN" then
    opts.auth = { token = env "IMS_TOKEN" or env "OS_AUTH_TOKEN" }
  end
  for k, v in pairs(overrides) do opts[k] = v end
  if opts.auth == nil then -- an anonymous client is never what a script reading these meant
    error("ims.from_env: no credentials in the environment: set HUAWEICLOUD_SDK_AK and "
      .. "HUAWEICLOUD_SDK_SK, or OS_AUTH_URL, OS_USERNAME, OS_PASSWORD, OS_USER_DOMAIN_NAME and "
      .. "OS_PROJECT_ID, or IMS_TOKEN (the local stack's DIR/env sets the first), or pass auth", 2)
  end
  return client.new(opts)
end

return ims
