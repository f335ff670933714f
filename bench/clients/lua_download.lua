-- lua-ims: client.images:download(ID, PATH, {verify = ...}) to a file (verify: the sha512
-- Glance recorded, computed while streaming).
-- usage: lua5.4 lua_download.lua ID PATH verify|noverify
local b = dofile(arg[0]:match("^(.-)[^/]*$") .. "common.lua")
local id, path, mode = arg[1], arg[2], arg[3] or "verify"
local client <close> = b.glance()
local r = b.check(client.images:download(id, path, { verify = mode ~= "noverify" }))
b.result { bytes = r.bytes, sha512 = r.sha512 or "" }
