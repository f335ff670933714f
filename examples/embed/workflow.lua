--- Run by examples/embed/host.c: the host supplies the global `host` (credentials, log).
-- luacheck: globals host
local ims = require "ims"

local cred = host.credentials
local client <close> = ims.new {
  endpoint = cred.endpoint, project_id = cred.project_id,
  auth = { ak = cred.ak, sk = cred.sk },
  log = host.log, -- every request reaches the host's C logger
}

local image = assert(client.images:create { name = "embedded-" .. os.time(), disk_format = "raw",
  container_format = "bare" })
local parts = { string.rep("embedded bytes ", 4096) }
assert(image:upload { reader = function() return table.remove(parts) end })
print("uploaded " .. image.id .. " " .. image.size .. " bytes")
for img in client.cloudimages:each { name = image.name } do
  print("listed " .. img.id .. " " .. img.status)
end
assert(image:delete())
print("done")
