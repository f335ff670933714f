-- The legacy Go SDK's way of waiting, for comparison: one job at a time, GET it every second
-- until it is SUCCESS or FAIL, then the next (requests made with lua-ims's jobs:get).
-- usage: lua5.4 lua_wait_legacy.lua IDS_FILE
local b = dofile(arg[0]:match("^(.-)[^/]*$") .. "common.lua")
local core = require "ims.core"
local ids = b.read_ids(arg[1])
local client <close> = b.emulator()
local ok = 0
for _, id in ipairs(ids) do
  while true do
    local job = b.check(client.jobs:get(id))
    if job.status == "SUCCESS" or job.status == "FAIL" then
      if job.status == "SUCCESS" then ok = ok + 1 end
      break
    end
    core.sleep(1)
  end
end
b.result { jobs = #ids, success = ok }
