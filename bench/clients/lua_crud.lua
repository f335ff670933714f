-- lua-ims: creates N metadata-only images, then deletes them; one after another, or with
-- client:map at CONCURRENCY calls in flight.
-- usage: lua5.4 lua_crud.lua N PREFIX [CONCURRENCY]
local b = dofile(arg[0]:match("^(.-)[^/]*$") .. "common.lua")
local n, prefix = math.tointeger(tonumber(arg[1])), arg[2] or "crud"
local concurrency = math.tointeger(tonumber(arg[3] or "1"))
local client <close> = b.glance()
local function create(i)
  return client.images:create { name = prefix .. "-" .. i, disk_format = "raw",
    container_format = "bare" }
end
local made = {}
if concurrency > 1 then
  local items = {}
  for i = 1, n do items[i] = i end
  local errs
  made, errs = client:map(items, create, { concurrency = concurrency })
  if errs then b.check(nil, select(2, next(errs))) end
  local _, derrs = client:map(made, function(img) return client.images:delete(img) end,
    { concurrency = concurrency })
  if derrs then b.check(nil, select(2, next(derrs))) end
else
  for i = 1, n do made[i] = b.check(create(i)) end
  for i = 1, n do b.check(client.images:delete(made[i])) end
end
b.result { created = #made, deleted = n }
