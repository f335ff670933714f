-- lua-ims: client.cloudimages:import_file(PATH, {name = NAME}, {bucket = BUCKET}): the whole
-- pipeline (plan, OBS upload, IMS job, wait, image, object deleted).
-- usage: lua5.4 lua_import_file.lua BUCKET NAME PATH
local b = dofile(arg[0]:match("^(.-)[^/]*$") .. "common.lua")
local bucket, name, path = arg[1], arg[2], arg[3]
local client <close> = b.ims.new { endpoint = b.need "IMS_ENDPOINT", project_id = b.need "IMS_PROJECT_A",
  obs_endpoint = b.need "IMS_OBS_ENDPOINT", region = b.need "IMS_REGION",
  auth = { ak = b.need "IMS_AK_A", sk = b.need "IMS_SK_A" } }
local image, job = client.cloudimages:import_file(path, { name = name,
  os_version = "Ubuntu 22.04 server 64bit" }, { bucket = bucket, interval = 0.2, timeout = 600 })
b.check(image, job)
b.result { id = image.id, status = image.status, bytes = image.size, job_id = job.job_id }
