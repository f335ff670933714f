-- The test harness itself (scripts/test): both servers answer, and the /bytes pattern that
-- spec/support/env.lua recomputes is what spec/support/httpd.py serves. Needs no ims module.
local env = require "support.env"

local function sh(cmd)
  -- no LD_PRELOAD: under `make asan` it holds libasan, and curl hangs with it preloaded
  local p = assert(io.popen("env -u LD_PRELOAD " .. cmd))
  local out = p:read("a")
  p:close()
  return out
end

describe("test harness", function()
  it("has a Glance and the loopback test server running", function()
    local versions = sh("curl -s --max-time 10 '" .. env.glance_url .. "/versions'")
    assert.matches('"versions"', versions)
    assert.matches('"CURRENT"', versions)
    local conn = sh("curl -s --max-time 10 '" .. env.httpd_url .. "/conn'")
    assert.matches('^{"conn": %d+, "requests": 1}$', conn)
  end)

  it("recomputes the /bytes pattern exactly", function()
    local served = env.tmpfile("bytes.bin")
    sh("curl -s --max-time 10 -o '" .. served .. "' '" .. env.httpd_url .. "/bytes/1000'")
    assert.equal(1000, #env.read(served))
    assert.equal(env.pattern_bytes(1000), env.read(served))
    local file = env.pattern_file(env.tmpfile("pattern.bin"), 1000)
    assert.equal(env.read(served), env.read(file))
    assert.equal(env.sha512_file(served), env.sha512_file(file))
    local tail = sh("curl -s --max-time 10 -r 700- '" .. env.httpd_url .. "/bytes/1000'")
    assert.equal(env.pattern_bytes(1000, 700), tail)
  end)
end)
