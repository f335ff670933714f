-- lua-ims: creates N metadata-only images, then deletes them.
-- usage: lua5.4 lua_crud.lua N PREFIX
local b = dofile(arg[0]:match("^(.-)[^/]*$") .. "common.lua")
local n, prefix = math.tointeger(tonumber(arg[1])), arg[2] or "crud"
local client <close> = b.glance()
local made = {}
for i = 1, n do
  made[i] = b.check(client.images:create { name = prefix .. "-" .. i, disk_format = "raw",
    container_format = "bare" })
end
for i = 1, n do b.check(client.images:delete(made[i])) end
b.result { created = #made, deleted = n }
