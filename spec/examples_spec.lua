-- The examples run as a user would run them, against the test Glance.
local ims = require "ims"
local env = require "support.env"

local function run(script, args, vars)
  local cpath = os.getenv("IMS_TEST_CPATH") or "build/?.so"
  local cmd = { "LUA_PATH_5_4='lua/?.lua;lua/?/init.lua;;'", "LUA_CPATH_5_4='" .. cpath .. ";;'" }
  for k, v in pairs(vars) do cmd[#cmd + 1] = k .. "='" .. v .. "'" end
  cmd[#cmd + 1] = "lua5.4 " .. script .. " " .. table.concat(args, " ") .. " 2>&1; echo rc=$?"
  local p = io.popen(table.concat(cmd, " "))
  local out = p:read("a")
  p:close()
  return out, tonumber(out:match("rc=(%d+)%s*$"))
end

describe("examples", function()
  it("glance_workflow.lua runs the whole workflow", function()
    local file = env.tmpfile("workflow.raw")
    env.write_random(file, 3 * 1024 * 1024 + 1)
    local out, rc = run("examples/glance_workflow.lua", { file }, {
      IMS_ENDPOINT = env.glance_url,
      IMS_TOKEN = "user-a:" .. env.project_a,
      HUAWEICLOUD_SDK_PROJECT_ID = env.project_a,
      IMS_CONSUMER_TOKEN = "user-b:" .. env.project_b,
      IMS_CONSUMER_PROJECT_ID = env.project_b,
    })
    assert.equal(0, rc, out)
    local id = out:match("created (%x+%-[%x%-]+)")
    assert.is_string(id, out)
    assert.matches("uploaded 3145729 bytes, sha512", out)
    assert.matches("upload%s+%[#+%] 100%%", out)
    assert.matches("shared with " .. env.project_b .. ": accepted", out)
    assert.is_truthy(out:find(id, 1, true))
    assert.matches("downloaded 3145729 bytes, sha512 verified", out)
    assert.matches("deleted " .. id:gsub("%-", "%%-"), out)
    local c <close> = ims.new { endpoint = env.glance_url, headers = env.identity_headers("a") }
    local gone, err = c.images:get(id)
    assert.is_nil(gone)
    assert.equal(404, err.status)
  end)

  it("golden_image.lua runs the IMS pipeline against the stack", function()
    -- the stack's DIR/env variables (IMS_ENDPOINT, IMS_AK_A, ...) are inherited from scripts/test
    local out, rc = run("examples/golden_image.lua", {}, {})
    assert.equal(0, rc, out)
    local golden = out:match("image (%x+%-[%x%-]+) active")
    assert.is_string(golden, out)
    assert.matches("import%s+SUCCESS", out)
    assert.matches("verified", out)
    assert.matches("consumer accepted", out)
    assert.matches("whole image%s+SUCCESS", out)
    assert.matches("export%s+SUCCESS", out)
    local object = out:match("exported to [^:]+:(%S+)")
    local f = assert(io.open(env.stack.IMS_BUCKET_DIR .. "/" .. object, "rb"))
    f:close()
    assert.matches("done%s*rc=0", out)
    local c <close> = ims.new { endpoint = env.glance_url, headers = env.identity_headers("a") }
    assert.equal(404, select(2, c.images:get(golden)).status)
  end)
end)
