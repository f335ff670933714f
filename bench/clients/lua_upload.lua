-- lua-ims: client.images:upload(ID, PATH, {verify = ...}) into a queued image.
-- usage: lua5.4 lua_upload.lua ID PATH verify|noverify
local b = dofile(arg[0]:match("^(.-)[^/]*$") .. "common.lua")
local id, path, mode = arg[1], arg[2], arg[3] or "verify"
local client <close> = b.glance()
local image = b.check(client.images:upload(id, path, { verify = mode ~= "noverify" }))
b.result { id = image.id, status = image.status, bytes = image.size }
