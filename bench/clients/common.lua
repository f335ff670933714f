-- Shared by the lua_*.lua bench clients (loaded with dofile): clients built from the
-- environment bench/run sets, and a one-line JSON result on stdout.
--   BENCH_GLANCE_URL, BENCH_PROJECT, BENCH_USER   Glance with identity headers
--   BENCH_TOKEN (with BENCH_GLANCE_URL = the emulator)  its Glance pass-through, by IAM token
--   IMS_ENDPOINT, IMS_PROJECT_A, IMS_AK_A, IMS_SK_A   the IMS emulator with AK/SK
local ims = require "ims"

local M = { ims = ims }

local function need(name)
  local v = os.getenv(name)
  if not v or v == "" then error("bench: " .. name .. " is not set (run bench/run)", 0) end
  return v
end
M.need = need

-- A client of the plain Glance, identity from the X-* headers (no Keystone in the bench); or,
-- with BENCH_TOKEN, of the emulator's Glance pass-through with that IAM token.
function M.glance()
  local token = os.getenv "BENCH_TOKEN"
  if token and token ~= "" then
    return ims.new { endpoint = need "BENCH_GLANCE_URL", auth = { token = token } }
  end
  return ims.new {
    endpoint = need "BENCH_GLANCE_URL",
    headers = {
      ["X-Identity-Status"] = "Confirmed",
      ["X-Project-Id"] = need "BENCH_PROJECT",
      ["X-User-Id"] = need "BENCH_USER",
      ["X-Roles"] = "member,reader",
    },
  }
end

-- A client of the IMS emulator, signing with AK/SK.
function M.emulator()
  return ims.new {
    endpoint = need "IMS_ENDPOINT",
    project_id = need "IMS_PROJECT_A",
    auth = { ak = need "IMS_AK_A", sk = need "IMS_SK_A" },
  }
end

-- Returns value, or exits 1 printing the error (the driver records it).
function M.check(value, err)
  if value == nil then
    io.stderr:write("bench: ", tostring(err), "\n")
    os.exit(1)
  end
  return value
end

-- Prints a flat table as one JSON object line (strings and numbers only).
function M.result(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do
    local v = t[k]
    local s = type(v) == "number" and string.format("%.17g", v)
      or string.format("%q", tostring(v))
    parts[#parts + 1] = string.format("%q: %s", k, s)
  end
  io.write("{", table.concat(parts, ", "), "}\n")
end

-- The job ids bench/run wrote, one per line.
function M.read_ids(path)
  local ids = {}
  for line in assert(io.open(path)):lines() do
    if line ~= "" then ids[#ids + 1] = line end
  end
  return ids
end

return M
