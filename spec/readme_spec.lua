-- Every Lua block of README.md runs as is, each in its own lua5.4 process, against the local
-- stack (its DIR/env as a user would have sourced it: ims.from_env() acts as project A) or,
-- for the OpenStack block, the real Keystone with its Glance. A block that names something it
-- never defines, or a call that changed, fails here.
local env = require "support.env"
local S = env.stack

local function blocks()
  local f = assert(io.open("README.md", "rb"))
  local text = f:read("a")
  f:close()
  local out = {}
  for line_no, code in text:gmatch("()```lua\n(.-)\n```") do
    out[#out + 1] = { code = code, line = select(2, text:sub(1, line_no):gsub("\n", "")) + 1 }
  end
  return out
end

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- Runs `code` in a fresh directory with `vars` (plus the Lua paths); returns output, exit code.
local function run(code, vars)
  local dir = env.tmpfile("readme")
  assert(os.execute("mkdir -p " .. q(dir)))
  local path = dir .. "/block.lua"
  local f = assert(io.open(path, "wb"))
  f:write(code, "\n")
  f:close()
  local cwd = os.getenv("PWD")
  local parts = { "cd", q(dir), "&& env",
    "LUA_PATH_5_4=" .. q(cwd .. "/lua/?.lua;" .. cwd .. "/lua/?/init.lua;;"),
    "LUA_CPATH_5_4=" .. q((os.getenv("IMS_TEST_CPATH") or "build/?.so"):gsub("^build", cwd .. "/build") .. ";;") }
  for k, v in pairs(vars) do parts[#parts + 1] = k .. "=" .. q(v) end
  parts[#parts + 1] = "lua5.4 block.lua 2>&1; echo rc=$?"
  local p = io.popen(table.concat(parts, " "))
  local out = p:read("a")
  p:close()
  return out:gsub("rc=%d+%s*$", ""), tonumber(out:match("rc=(%d+)%s*$")), dir
end

-- What the stack's DIR/env gives a user for ims.from_env(), as project A.
local function as_a(extra)
  local v = { IMS_ENDPOINT = S.IMS_ENDPOINT, IMS_OBS_ENDPOINT = S.IMS_OBS_ENDPOINT,
    HUAWEICLOUD_SDK_AK = S.IMS_AK_A, HUAWEICLOUD_SDK_SK = S.IMS_SK_A,
    HUAWEICLOUD_SDK_PROJECT_ID = S.IMS_PROJECT_A, HUAWEICLOUD_SDK_REGION = S.IMS_REGION,
    IMS_BUCKET = S.IMS_BUCKET, IMS_IMPORT_OBJECT = S.IMS_IMPORT_OBJECT }
  for k, x in pairs(extra or {}) do v[k] = x end
  return v
end

describe("README.md", function()
  local raw = require "support.raw"
  setup(function() raw.admin("POST", "/jobs", { duration = 0.3 }) end)

  it("has five Lua blocks, and each runs as is", function()
    local bs = blocks()
    assert.equal(5, #bs)
    local checks = {
      -- create, upload with a progress line that ends, list, download
      function(out) assert.matches("\r1048576 / 1048576\n[^\r]*golden%-debian%-12", out) end,
      -- jobs, map, journal
      function(out) assert.matches("SUCCESS", out) end,
      -- three clients, no request made
      function(out) assert.matches("ims%.Client %(https://ims%.cn%-north%-4%.myhuaweicloud%.com%)", out) end,
      -- a qcow2 file to an image through OBS
      function(out) assert.matches("%x+%-[%x%-]+\tactive\t%x+", out) end,
      -- the OpenStack block against the real Keystone and its Glance
      function() end,
    }
    for i, b in ipairs(bs) do
      local vars = as_a()
      if i == 4 then
        vars.DISK = env.tmpfile("web.qcow2")
        assert(os.execute("env -u LD_PRELOAD qemu-img create -q -f qcow2 " .. q(vars.DISK) .. " 1G"))
      elseif i == 5 then
        vars = { OS_AUTH_URL = S.KEYSTONE_URL, OS_USERNAME = S.KEYSTONE_USER_A,
          OS_PASSWORD = S.KEYSTONE_PASSWORD_A, OS_USER_DOMAIN_NAME = S.KEYSTONE_DOMAIN,
          OS_PROJECT_NAME = S.KEYSTONE_PROJECT_A_NAME, OS_REGION_NAME = S.KEYSTONE_REGION }
      end
      local out, rc = run(b.code, vars)
      assert.equal(0, rc, "README.md block at line " .. b.line .. ":\n" .. out)
      checks[i](out)
    end
  end)
end)
