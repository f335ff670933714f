-- client.cloudimages, info: what IMS says about the account and the region (quota, the OS
-- versions it accepts, its API versions). Each call is a row for ims.verb.

--- The IMS-native API: quota, OS versions, API versions.
-- @module ims.cloudimages
local base = require "ims.cloudimages.base"
local validate = require "ims.validate"
local verb = require "ims.verb"

local Cloud = base.Cloud -- ims.CloudImages
local svc = base.svc

--- The project's private-image quota in this region (`GET /v1/cloudimages/quota`).
-- @function CloudImages:quota
-- @treturn[1] table `{resources = {{type = "image", used =, quota =, min =, max =}, ...}}`
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, `decode`)
-- @raise on misuse: a closed client
-- @usage
-- local q = assert(client.cloudimages:quota()).resources[1]
-- print(q.type, q.used .. " of " .. q.quota)
Cloud.quota = verb.make(svc, { name = "quota", path = { "v1", "cloudimages", "quota" },
  wrap = function(_, j)
    local res = type(j) == "table" and type(j.quotas) == "table" and j.quotas.resources
    if type(res) ~= "table" then return nil, "a quota (an object with quotas.resources)" end
    for i, r in ipairs(res) do
      if type(r) ~= "table" or type(r.type) ~= "string" or math.type(r.used) ~= "integer"
          or math.type(r.quota) ~= "integer" then
        return nil, "a quota (resources[" .. i .. "] has no type, used and quota)"
      end
    end
    return { resources = res }
  end })

--- The OS versions IMS accepts for `os_version` (`GET /v1/cloudimages/os_version`).
-- @function CloudImages:os_versions
-- @tparam[opt] table query `tag`: only versions that support it (`bms`, `uefi`, `arm`, `x86`;
-- several joined by commas)
-- @treturn[1] {table,...} `{platform =, version_list = {{platform =, os_version_key =,
-- os_version =, os_bit =, os_type =}, ...}}` per platform
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, `decode`)
-- @raise on misuse: an unknown option or a wrong type, a closed client
-- @usage
-- for _, p in ipairs(assert(client.cloudimages:os_versions { tag = "uefi" })) do
--   for _, v in ipairs(p.version_list) do print(v.os_version) end
-- end
Cloud.os_versions = verb.make(svc, { name = "os_versions",
  path = { "v1", "cloudimages", "os_version" },
  args = { "query" }, kinds = { query = "any" },
  check = function(fname, a, level)
    a.query = validate.options(fname, a.query, { tag = "string" }, level + 1)
  end,
  query = function(a) return a.query end,
  wrap = function(_, j)
    if type(j) ~= "table" then return nil, "a list of platforms" end
    for i, p in ipairs(j) do
      if type(p) ~= "table" or type(p.platform) ~= "string" or type(p.version_list) ~= "table" then
        return nil, "a list of platforms (entry " .. i .. " has no platform and version_list)"
      end
      for k, v in ipairs(p.version_list) do
        if type(v) ~= "table" or type(v.os_version) ~= "string" then
          return nil, "a list of platforms (" .. p.platform .. " version " .. k .. " has no os_version)"
        end
      end
    end
    return j
  end })

local function versions_of(_, j)
  local list = type(j) == "table" and j.versions
  if type(list) ~= "table" then return nil, "a version list (an object with versions)" end
  for i, v in ipairs(list) do
    if type(v) ~= "table" or type(v.id) ~= "string" or type(v.status) ~= "string" then
      return nil, "a version list (versions[" .. i .. "] has no id and status)"
    end
  end
  return list
end

--- The API versions the endpoint serves (`GET /`, answered with 300 Multiple Choices).
-- @function CloudImages:versions
-- @treturn[1] {table,...} `{id =, status = "CURRENT" | "SUPPORTED" | "DEPRECATED", links =, ...}`
-- per version
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`, `transport`, `timeout`, `auth`, `decode`)
-- @raise on misuse: a closed client
-- @usage for _, v in ipairs(assert(client.cloudimages:versions())) do print(v.id, v.status) end
Cloud.versions = verb.make(svc, { name = "versions", path = {}, expect = { 200, 300 },
  wrap = versions_of })

--- One API version (`GET /{version}`).
-- @function CloudImages:version
-- @tparam string v the version id (`"v1"`, `"v2"`)
-- @treturn[1] table `{id =, status =, links =, ...}`
-- @treturn[2] nil
-- @treturn[2] ims.errors.Error what failed (kind `http`: 404 for an unknown version; `decode`, ...)
-- @raise on misuse: `v` not a string of 1–255 bytes (or `.`/`..`), a closed client
-- @usage print(assert(client.cloudimages:version("v2")).status)
Cloud.version = verb.make(svc, { name = "version", path = { "{v}" }, kinds = { v = "tag" },
  expect = { 200, 300 },
  wrap = function(self, j)
    local list, what = versions_of(self, j)
    if not list then return nil, what end
    if not list[1] then return nil, "a version list (empty)" end
    return list[1]
  end })
