-- lua-ims: adds TAG to every image in IDS_FILE; one after another, or with client:map at
-- CONCURRENCY calls in flight.
-- usage: lua5.4 lua_tag.lua IDS_FILE TAG [CONCURRENCY]
local b = dofile(arg[0]:match("^(.-)[^/]*$") .. "common.lua")
local ids, tag = b.read_ids(arg[1]), arg[2]
local concurrency = math.tointeger(tonumber(arg[3] or "1"))
local client <close> = b.glance()
local tagged = 0
if concurrency > 1 then
  local done, errs = client:map(ids, function(id) return client.images:update_tag(id, tag) end,
    { concurrency = concurrency })
  if errs then b.check(nil, select(2, next(errs))) end
  tagged = #done
else
  for _, id in ipairs(ids) do
    b.check(client.images:update_tag(id, tag))
    tagged = tagged + 1
  end
end
b.result { tagged = tagged }
