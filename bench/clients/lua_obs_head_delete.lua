-- bench/run's check of an OBS upload (not measured): HEAD the object, print its size and ETag
-- as JSON, then delete it. usage: lua5.4 lua_obs_head_delete.lua BUCKET KEY
local b = dofile(arg[0]:match("^(.-)[^/]*$") .. "common.lua")
local client <close> = b.ims.new { endpoint = b.need "IMS_ENDPOINT", obs_endpoint = b.need "IMS_OBS_ENDPOINT",
  auth = { ak = b.need "IMS_AK_A", sk = b.need "IMS_SK_A" } }
local meta = b.check(client.obs:head(arg[1], arg[2]))
b.check(client.obs:delete(arg[1], arg[2]))
b.result { bytes = meta.size, etag = meta.etag }
