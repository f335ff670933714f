--- A complete Glance v2 workflow: import a file as an image with a progress bar, tag it,
-- share it with a second project (which accepts it and downloads identical bytes), list,
-- and clean up.
--
--   IMS_ENDPOINT=https://ims.cn-north-4.myhuaweicloud.com IMS_TOKEN=... \
--   HUAWEICLOUD_SDK_PROJECT_ID=<owner project> \
--   IMS_CONSUMER_TOKEN=... IMS_CONSUMER_PROJECT_ID=<consumer project> \
--   lua5.4 examples/glance_workflow.lua disk.raw
--
-- (`make test` runs it against a local Glance.)
local ims = require "ims"

local file = arg[1] or error("usage: glance_workflow.lua FILE")

-- A one-line progress bar on stderr.
local function progress_bar(label)
  local last = -1
  return function(done, total)
    local pct = total > 0 and math.floor(done * 100 / total) or 100
    if pct == last then return end
    last = pct
    local width = 30
    local filled = math.floor(width * pct / 100)
    io.stderr:write(string.format("\r%-8s [%s%s] %3d%% %8.1f MiB", label,
      string.rep("#", filled), string.rep(".", width - filled), pct, done / 1048576))
    if done >= total then io.stderr:write("\n") end
  end
end

-- Runtime failures come back as nil, err; this script stops on the first one.
local function check(value, err)
  if value == nil then error(tostring(err), 2) end
  return value
end

local owner <close> = ims.from_env()
local consumer <close> = ims.from_env {
  auth = { token = os.getenv("IMS_CONSUMER_TOKEN") },
  project_id = os.getenv("IMS_CONSUMER_PROJECT_ID"),
}

-- 1. create and upload in one call: the digest Glance records is verified while the bytes
-- stream, and a failed upload deletes the image again (no `queued` leftovers)
local image, err, how = owner.images:import(file, {
  name = "golden-" .. os.date("!%Y%m%dT%H%M%S"),
  disk_format = "raw", container_format = "bare", visibility = "shared",
  tags = { "pipeline=glance-workflow" },
}, { progress = progress_bar("upload") })
check(image, err)
print(how .. " " .. image.id)
print(string.format("uploaded %d bytes, %s %s...", image.size, image.os_hash_algo,
  image.os_hash_value:sub(1, 16)))

-- 2. tag it
check(image:update_tag("os=linux"))
check(image:update { os_distro = "debian", min_disk = 1 })

-- 3. share it: the owner adds the consumer project, the consumer accepts
check(image:create_member(consumer.project_id))
local member = check(consumer.images:accept(image.id))
print("shared with " .. member.member_id .. ": " .. member.status)

-- 4. list what the owner has with this tag
for img in owner.images:each { tag = "os=linux", sort = "created_at:desc", limit = 50 } do
  print(string.format("  %s  %-40s %s", img.id, img.name, img.status))
end

-- 5. the consumer downloads the bytes, verified against the image's sha512
local copy = os.tmpname()
local got = check(consumer.images:download(image.id, copy, { progress = progress_bar("download") }))
print(string.format("downloaded %d bytes, sha512 verified", got.bytes))
os.remove(copy)

-- 6. clean up
check(image:delete_member(consumer.project_id))
check(image:delete())
print("deleted " .. image.id)
