-- lua-ims: the Lua SDK for Huawei Cloud IMS and OpenStack Glance v2. See README.md.
local client = require "ims.client"
local errors = require "ims.errors"
local json = require "ims.json"
local validate = require "ims.validate"

local ims = {
  _VERSION = client.VERSION,
  null = json.null,       -- sends a JSON null (and removes a property in images:update)
  Error = errors.Error,
  new = client.new,
  is_error = errors.is_error,
  sign = require("ims.core").sign, -- AK/SK SDK-HMAC-SHA256 (docs/api.md)
}

-- ims.from_env(overrides?): a client configured from the environment (see README).
function ims.from_env(overrides)
  overrides = validate.options("ims.from_env", overrides, client.OPTIONS)
  local function env(name) -- an empty variable counts as unset
    local v = os.getenv(name)
    return v ~= "" and v or nil
  end
  local opts = {
    endpoint = env "IMS_ENDPOINT",
    region = env "HUAWEICLOUD_SDK_REGION" or env "OS_REGION_NAME",
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
  return client.new(opts)
end

return ims
