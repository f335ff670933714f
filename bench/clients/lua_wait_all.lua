-- lua-ims: client.jobs:wait_all(ids, {interval, max_interval}): every job polled from C on
-- one curl multi handle, each with its own backoff.
-- usage: lua5.4 lua_wait_all.lua IDS_FILE INTERVAL MAX_INTERVAL
local b = dofile(arg[0]:match("^(.-)[^/]*$") .. "common.lua")
local ids = b.read_ids(arg[1])
local client <close> = b.emulator()
local jobs, err = client.jobs:wait_all(ids, { interval = tonumber(arg[2] or "2"),
  max_interval = tonumber(arg[3] or "10"), timeout = 600 })
b.check(jobs, err)
if err then b.check(nil, err) end
local ok = 0
for _, j in ipairs(jobs) do if j.status == "SUCCESS" then ok = ok + 1 end end
b.result { jobs = #jobs, success = ok }
