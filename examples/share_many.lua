--- Share one image with many projects, and accept it as each of them: the owner adds every
-- consumer project as a member, then each consumer (with its own credentials) accepts. Safe to
-- re-run: a project that is already a member (409) is accepted again, not reported as a failure.
--
--   lua5.4 examples/share_many.lua IMAGE_ID
--
-- Configuration:
--   IMS_ENDPOINT                          https://ims.<region>.myhuaweicloud.com
--   IMS_SHARE_FROM                        the owner's label (default A): credentials below
--   IMS_SHARE_WITH                        the consumers' labels, e.g. "B C D" (spaces or commas)
--   IMS_PROJECT_<L>, IMS_AK_<L>, IMS_SK_<L>   the project id and AK/SK of each label <L>
--
-- Prints one line per project and exits 1 when any project could not be shared or accepted.
local ims = require "ims"

local image_id = arg[1] or os.getenv("IMS_IMAGE_ID")
if not image_id or image_id == "" then
  io.stderr:write("usage: share_many.lua IMAGE_ID (with IMS_SHARE_WITH=\"B C ...\")\n")
  os.exit(2)
end

local function env(name)
  local v = os.getenv(name)
  if v == nil or v == "" then
    io.stderr:write("share_many.lua: set " .. name .. "\n")
    os.exit(2)
  end
  return v
end

-- Runtime failures come back as nil, err: stop with the error's one-line story.
local function check(value, err)
  if value == nil then
    io.stderr:write(tostring(err), "\n")
    os.exit(1)
  end
  return value
end

local function client(label)
  return ims.new { endpoint = env "IMS_ENDPOINT", project_id = env("IMS_PROJECT_" .. label),
    auth = { ak = env("IMS_AK_" .. label), sk = env("IMS_SK_" .. label) } }
end

local labels = {}
for label in env("IMS_SHARE_WITH"):gmatch("[^%s,]+") do labels[#labels + 1] = label end

local owner <close> = client(os.getenv("IMS_SHARE_FROM") or "A")
local image = check(owner.images:get(image_id))
print(string.format("sharing %s (%s) with %d project(s)", image.id, image.name, #labels))

-- Glance shows members an image only while its visibility is "shared".
if image.visibility ~= "shared" then
  check(image:update { visibility = "shared" })
  print("  visibility set to shared")
end

-- The owner's half: add the member; an existing member is fine (409 Conflict).
local function add_member(project)
  local member, err = image:create_member(project)
  if member then return "added" end
  if err.status == 409 then return "already a member" end
  return nil, err
end

-- The consumer's half: accept with the consumer's own credentials.
local function accept_as(label)
  local consumer <close> = client(label)
  return consumer.images:accept(image.id)
end

local failed = 0
for _, label in ipairs(labels) do
  local project = env("IMS_PROJECT_" .. label)
  local how, err = add_member(project)
  local member
  if how then member, err = accept_as(label) end
  if not member then failed = failed + 1 end
  print(string.format("  %-2s %s  %-16s %s", label, project, how or "FAILED",
    member and member.status or (how and "FAILED  " or "") .. tostring(err)))
end

print(string.format("%d accepted, %d failed", #labels - failed, failed))
os.exit(failed == 0 and 0 or 1)
