-- Raw HTTP against the IMS emulator through ims.core, for the emulator's contract specs:
-- requests authenticated with a token or an AK/SK signature (ims.sign), JSON in and out.
local core = require "ims.core"
local json = require "ims.json"
local env = require "support.env"

local raw = {}

local session
local function s()
  session = session or core.session { stall_timeout = 30 }
  return session
end

local tokens = {}

-- A token for "a" or "b" from the emulator's IAM (cached for the run).
function raw.token(who)
  if tokens[who] then return tokens[who] end
  local W = who:upper()
  local body = json.encode { auth = {
    identity = { methods = { "password" }, password = { user = {
      name = env.stack["IMS_USER_" .. W], password = env.stack["IMS_PASSWORD_" .. W],
      domain = { name = env.stack.IMS_DOMAIN } } } },
    scope = { project = { id = env.stack["IMS_PROJECT_" .. W] } } } }
  local res = assert(s():request { method = "POST", url = env.stack.IAM_ENDPOINT .. "/auth/tokens",
    body = body, headers = { ["Content-Type"] = "application/json" } })
  assert(res.status == 201, res.body)
  tokens[who] = res.headers["x-subject-token"]
  return tokens[who]
end

-- raw.call{method=, path= (or url=), who="a"|"b", auth="token"|"aksk"|"none", json=, body=,
-- headers=, sink_file=, ...} -> res with res.json decoded (when the body is JSON).
function raw.call(req)
  local who = req.who or "a"
  local W = who:upper()
  local headers = {}
  for k, v in pairs(req.headers or {}) do headers[k] = v end
  local body = req.body
  if req.json ~= nil then
    body = json.encode(req.json)
    headers["Content-Type"] = headers["Content-Type"] or "application/json"
  end
  local u = req.url or (env.stack.IMS_ENDPOINT .. req.path)
  local method = req.method or "GET"
  local auth = req.auth or "token"
  if auth == "token" then
    headers["X-Auth-Token"] = raw.token(who)
  elseif auth == "aksk" then
    headers["X-Project-Id"] = headers["X-Project-Id"] or env.stack["IMS_PROJECT_" .. W]
    local signed = core.sign { ak = env.stack["IMS_AK_" .. W], sk = env.stack["IMS_SK_" .. W],
      method = method, url = u, headers = headers, body = body, date = req.date }
    headers, u = signed.headers, signed.url
  end
  local r = { method = method, url = u, headers = headers, body = body }
  for _, k in ipairs { "body_file", "sink_file", "timeout" } do r[k] = req[k] end
  local res, err = s():request(r)
  if not res then return nil, err end
  if res.body and (res.headers["content-type"] or ""):find("json", 1, true) then
    res.json = json.decode(res.body)
  end
  return res
end

-- The emulator's admin API (no auth): raw.admin("POST", "/faults", {...}).
function raw.admin(method, path, value)
  local res = assert(s():request { method = method, url = env.stack.IMS_ADMIN_URL .. path,
    body = value ~= nil and json.encode(value) or nil,
    headers = { ["Content-Type"] = "application/json" } })
  assert(res.status >= 200 and res.status < 300, res.body)
  return res.body ~= "" and json.decode(res.body) or nil
end

-- Polls a job until SUCCESS or FAIL (a plain loop: the SDK's waiter is tested elsewhere).
function raw.wait_job(job_id, who, limit)
  local project = env.stack["IMS_PROJECT_" .. (who or "a"):upper()]
  local deadline = core.now() + (limit or 60)
  while core.now() < deadline do
    local res = assert(raw.call { path = "/v1/" .. project .. "/jobs/" .. job_id, who = who })
    assert(res.status == 200, res.body)
    if res.json.status == "SUCCESS" or res.json.status == "FAIL" then return res.json end
    core.sleep(0.2)
  end
  error("job " .. job_id .. " did not finish")
end

return raw
