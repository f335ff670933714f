-- lua-ims: client.obs:put(BUCKET, KEY, PATH) to the emulator's OBS (multipart above 64 MiB,
-- CONCURRENCY parts in flight, each with its Content-MD5 checked against the ETag).
-- usage: lua5.4 lua_obs_put.lua BUCKET KEY PATH [CONCURRENCY]
local b = dofile(arg[0]:match("^(.-)[^/]*$") .. "common.lua")
local bucket, key, path, conc = arg[1], arg[2], arg[3], tonumber(arg[4] or "4")
local client <close> = b.ims.new { endpoint = b.need "IMS_ENDPOINT", obs_endpoint = b.need "IMS_OBS_ENDPOINT",
  auth = { ak = b.need "IMS_AK_A", sk = b.need "IMS_SK_A" } }
local r = b.check(client.obs:put(bucket, key, path, { concurrency = math.tointeger(conc) }))
b.result { key = r.key, bytes = r.size, etag = r.etag, parts = r.parts }
