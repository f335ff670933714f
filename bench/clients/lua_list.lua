-- lua-ims: client.images:list{limit = PAGE} (every page, following `next`, one connection).
-- usage: lua5.4 lua_list.lua PAGE
local b = dofile(arg[0]:match("^(.-)[^/]*$") .. "common.lua")
local client <close> = b.glance()
local images = b.check(client.images:list { limit = math.tointeger(tonumber(arg[1] or "100")) })
b.result { count = #images }
