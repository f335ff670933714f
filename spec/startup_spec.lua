-- `require "ims"` loads no C core and no OBS code: mapping libcurl and OpenSSL costs ~4 ms that
-- a script pays only when it first sends something or signs (bench/ times the require itself).
-- Each case runs in a fresh lua5.4, since this process has loaded everything already.
local cpath = (os.getenv("IMS_TEST_CPATH") or "build/?.so") .. ";;"

local function run(code)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(code)
  f:close()
  local p = assert(io.popen("LUA_PATH_5_4='lua/?.lua;lua/?/init.lua;;' LUA_CPATH_5_4='" .. cpath ..
    "' lua5.4 " .. path .. " 2>&1"))
  local out = p:read("a")
  p:close()
  os.remove(path)
  return out
end

describe("require \"ims\"", function()
  it("loads each service on its first use, as the same table", function()
    local out = run [[
      local ims = require "ims"
      local c = ims.new { endpoint = "http://127.0.0.1:9", auth = { token = "t" } }
      local function loaded()
        local t = {}
        for _, m in ipairs { "ims.images", "ims.cloudimages", "ims.jobs", "ims.obs" } do
          t[#t + 1] = tostring(package.loaded[m] ~= nil)
        end
        return table.concat(t, " ")
      end
      print("before", loaded())
      local images = c.images
      print("images", type(images.list), rawequal(images, c.images), getmetatable(images).__name,
        images.client == c, loaded())
      print("cloudimages", type(c.cloudimages.list), loaded())
      print("jobs", type(c.jobs.wait_all), getmetatable(c.jobs).__name, loaded())
    ]]
    assert.matches("before\tfalse false false false\n", out, 1, true)
    assert.matches("images\tfunction\ttrue\tims.Images\ttrue\ttrue false false false\n", out, 1, true)
    assert.matches("cloudimages\tfunction\ttrue true ", out, 1, true)
    assert.matches("jobs\tfunction\tims.Jobs\ttrue true true ", out, 1, true)
  end)

  it("leaves the C core and OBS unloaded until they are used", function()
    local out = run [[
      local ims = require "ims"
      print("core", package.loaded["ims.core"] ~= nil, "obs", package.loaded["ims.obs"] ~= nil)
      local c = ims.new { endpoint = "http://127.0.0.1:9", auth = { token = "t" } }
      print("core", package.loaded["ims.core"] ~= nil)
      local _ = c.obs.put -- the first field read makes the real one
      print("obs", getmetatable(c.obs).__name, package.loaded["ims.obs"] ~= nil)
    ]]
    assert.matches("core\tfalse\tobs\tfalse\n", out, 1, true)
    assert.matches("core\ttrue\n", out, 1, true)
    assert.matches("obs\tims.Obs\ttrue\n", out, 1, true)
  end)

  it("ims.sign loads the core on its first call, and raises naming itself", function()
    local out = run [[
      local ims = require "ims"
      local h = ims.sign { ak = "a", sk = "b", method = "GET", url = "https://h.example/v1/x",
        date = "20260101T000000Z" }
      print(package.loaded["ims.core"] ~= nil, h.authorization:match("^SDK%-HMAC%-SHA256 "))
      print(select(2, pcall(ims.sign, "GET")))
    ]]
    assert.matches("true\tSDK-HMAC-SHA256 \n", out, 1, true)
    assert.matches("ims.sign: argument 'req' must be a table (got string)", out, 1, true)
  end)
end)
