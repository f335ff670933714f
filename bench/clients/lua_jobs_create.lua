-- Setup for the job benchmarks (not itself measured against anything): starts N emulator
-- jobs that import bucket object OBJECT, writes their ids to OUT, one per line.
-- usage: lua5.4 lua_jobs_create.lua N OBJECT OUT
local b = dofile(arg[0]:match("^(.-)[^/]*$") .. "common.lua")
local n, object, out = math.tointeger(tonumber(arg[1])), arg[2], arg[3]
local client <close> = b.emulator()
local bucket = b.need "IMS_BUCKET"
local f = assert(io.open(out, "w"))
for i = 1, n do
  local job = b.check(client.cloudimages:create { name = "bench-job-" .. i,
    image_url = bucket .. ":" .. object, min_disk = 1 })
  f:write(job.job_id, "\n")
end
f:close()
b.result { jobs = n }
