-- examples/embed: a C host with the core linked in runs a workflow script, supplies its
-- credentials and receives the SDK's log events.
local env = require "support.env"

describe("embedding in a C host", function()
  it("builds with make embed-example and runs a workflow", function()
    local S = env.stack
    local p = io.popen("env -u LD_PRELOAD make -s embed-example 2>&1; echo rc=$?")
    local build = p:read("a")
    p:close()
    assert.matches("rc=0%s*$", build)
    local errf = env.tmpfile("host.err")
    p = io.popen(string.format("env -u LD_PRELOAD -u LUA_PATH_5_4 -u LUA_CPATH_5_4 IMS_ENDPOINT='%s' "
      .. "IMS_PROJECT='%s' IMS_AK='%s' IMS_SK='%s' build/embed/ims-host examples/embed/workflow.lua "
      .. "2>%s; echo rc=$?", S.IMS_ENDPOINT, S.IMS_PROJECT_A, S.IMS_AK_A, S.IMS_SK_A, errf))
    local out = p:read("a")
    p:close()
    local f = assert(io.open(errf))
    local log = f:read("a")
    f:close()
    assert.matches("rc=0%s*$", out, log)
    local id = out:match("uploaded (%x+%-[%x%-]+) 61440 bytes")
    assert.is_string(id, out)
    assert.matches("listed " .. id:gsub("%-", "%%-") .. " active", out)
    assert.matches("done", out)
    assert.matches("%[host%] POST http://127%.0%.0%.1:%d+/v2/images %-> 201", log)
    assert.matches("%[host%] PUT [^\n]*/file %-> 204", log)
    assert.is_nil(log:find(S.IMS_SK_A, 1, true))
  end)
end)
