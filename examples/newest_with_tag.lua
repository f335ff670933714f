--- Find the newest image carrying a tag and print its id, for pipelines that build on "the
-- latest golden image".
--
--   image_id=$(lua5.4 examples/newest_with_tag.lua role=golden) || exit 1
--
-- Only the id goes to stdout; a description of the image goes to stderr.
--
-- Configuration (the client comes from ims.from_env()):
--   IMS_ENDPOINT, HUAWEICLOUD_SDK_PROJECT_ID, HUAWEICLOUD_SDK_AK, HUAWEICLOUD_SDK_SK
--   IMS_STATUS    only images in this status, e.g. active (optional; default any status)
--
-- Exit status: 0 found, 1 no image has the tag, 2 usage or API error.
local ims = require "ims"

local tag = arg[1]
if not tag or tag == "" then
  io.stderr:write("usage: newest_with_tag.lua TAG\n")
  os.exit(2)
end
local status = os.getenv("IMS_STATUS")
if status == "" then status = nil end

-- Runtime failures come back as nil, err: stop with the error's one-line story.
local function check(value, err)
  if value == nil then
    io.stderr:write(tostring(err), "\n")
    os.exit(2)
  end
  return value
end

local client <close> = ims.from_env()

-- Glance sorts on the server: newest first, one image per page, stop after the first.
local found = check(client.images:list { tag = tag, status = status,
  sort = "created_at:desc", limit = 1, max = 1 })
local image = found[1]
if not image then
  io.stderr:write(string.format("no image tagged '%s'%s\n", tag,
    status and (" with status " .. status) or ""))
  os.exit(1)
end

io.stderr:write(string.format("newest image tagged '%s': %s (%s, %s, created %s)\n", tag,
  tostring(image.name), image.status, image.size and (image.size .. " bytes") or "no data",
  image.created_at))
print(image.id)
