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

  it("ims.from_env configures a client from the environment (AK/SK, token, IAM password)", function()
    local S = env.stack
    local script = "-e 'local ims = require \"ims\"; local c = ims.from_env(); "
      .. "local l = assert(c.cloudimages:list { max = 1 }); print(\"ok\", c.endpoint, c.project_id, #l)'"
    local base = { IMS_ENDPOINT = S.IMS_ENDPOINT, HUAWEICLOUD_SDK_PROJECT_ID = S.IMS_PROJECT_A,
      IMS_AK_A = "", IMS_SK_A = "" }
    local function with(extra)
      local v = {}
      for k, x in pairs(base) do v[k] = x end
      for k, x in pairs(extra) do v[k] = x end
      return v
    end
    local out, rc = run("", { script }, with { HUAWEICLOUD_SDK_AK = S.IMS_AK_A, HUAWEICLOUD_SDK_SK = S.IMS_SK_A })
    assert.equal(0, rc, out)
    assert.matches("ok\t" .. S.IMS_ENDPOINT:gsub("%p", "%%%0") .. "\t" .. S.IMS_PROJECT_A, out)
    out, rc = run("", { script }, with { OS_AUTH_URL = S.IAM_ENDPOINT, OS_USERNAME = S.IMS_USER_A,
      OS_PASSWORD = S.IMS_PASSWORD_A, OS_USER_DOMAIN_NAME = S.IMS_DOMAIN, OS_PROJECT_ID = S.IMS_PROJECT_A })
    assert.equal(0, rc, out)
    assert.matches("^ok", out)
  end)
end)
