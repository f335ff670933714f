-- The seeded API fuzzer (spec/support/apifuzz.lua) for a few seconds: IMS_API_FUZZ_ITERS calls
-- (default 1000) from IMS_API_FUZZ_SEED (default: a fixed seed, so a failure replays). `make
-- fuzz-api` runs many more from a fresh seed.
local env = require "support.env"
local apifuzz = require "support.apifuzz"

describe("the public API under random input and a hostile server", function()
  local h, dir
  setup(function()
    h = env.hostile()
    dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. dir))
  end)
  teardown(function()
    h:stop()
    os.execute("rm -rf " .. dir)
  end)

  it("returns a value or nil, ims.Error, or raises misuse, for every call", function()
    local seed = tonumber(os.getenv("IMS_API_FUZZ_SEED") or "") or 20261202
    local iters = tonumber(os.getenv("IMS_API_FUZZ_ITERS") or "") or 1000
    local function entries() -- what the suite's directory holds: the run must not write there
      local p = assert(io.popen("ls -A"))
      local list = p:read("a")
      p:close()
      return list
    end
    local before = entries()
    local failures, counts = apifuzz.run(h, seed, iters, dir)
    assert.equal(before, entries())
    local lines = {}
    for _, f in ipairs(failures) do
      lines[#lines + 1] = string.format("#%d %s: %s", f.i, f.call, f.why)
    end
    assert(#failures == 0, "seed " .. seed .. ":\n" .. table.concat(lines, "\n"))
    -- the run reached every outcome: misuse, runtime errors and values
    assert.is_true(counts.raised > 0 and counts.errors > 0 and counts.values > 0)
    assert.equal(iters, counts.calls)
  end)
end)
