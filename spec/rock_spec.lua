-- The rock builds offline with Debian's luarocks into a fresh tree, lists every module, and
-- `require "ims"` then loads that copy.
local env = require "support.env"

local function sh(cmd)
  -- no LD_PRELOAD: under `make asan` it holds libasan, which luarocks and gcc must not get
  local p = io.popen("unset LD_PRELOAD; " .. cmd .. " 2>&1; echo \"rc=$?\"")
  local out = p:read("a")
  p:close()
  return out, tonumber(out:match("rc=(%d+)%s*$"))
end

describe("rockspec", function()
  it("lists every Lua module and C source of the tree", function()
    local f = assert(io.open("rockspec/ims-scm-1.rockspec"))
    local text = f:read("a")
    f:close()
    for path in io.popen("ls lua/ims/*.lua lua/ims/*/*.lua src/*.c"):lines() do
      assert.is_truthy(text:find('"' .. path .. '"', 1, true), path .. " missing from the rockspec")
    end
  end)

  it("installs offline with luarocks make and loads from the fresh tree", function()
    -- built from a copy: luarocks' builtin backend leaves objects in the source tree
    local src, tree = env.tmp .. "/rocksrc", env.tmp .. "/rocktree"
    local out, rc = sh("rm -rf " .. src .. " && mkdir -p " .. src .. " && cp -r lua src rockspec bin "
      .. "examples docs " .. src .. " && cd " .. src .. " && LUAROCKS_CONFIG=" .. src
      .. "/rockspec/luarocks-config.lua luarocks --lua-version=5.4 make --tree=" .. tree
      .. " rockspec/ims-scm-1.rockspec")
    assert.equal(0, rc, out)
    out, rc = sh("cd / && eval \"$(luarocks --lua-version=5.4 --tree=" .. tree .. " path)\" && "
      .. "unset LUA_PATH_5_4 LUA_CPATH_5_4; lua5.4 -e 'local ims = require \"ims\"; "
      .. "print(ims._VERSION, package.searchpath(\"ims.core\", package.cpath), "
      .. "package.searchpath(\"ims\", package.path))'")
    assert.equal(0, rc, out)
    assert.matches("0%.1%.0", out)
    assert.is_truthy(out:find(tree .. "/lib/lua/5.4/ims/core.so", 1, true), out)
    assert.is_truthy(out:find(tree .. "/share/lua/5.4/ims/init.lua", 1, true), out)
    -- the `ims` command comes with the rock, wrapped to find the tree's modules
    out, rc = sh("cd / && " .. tree .. "/bin/ims --help")
    assert.equal(0, rc, out)
    assert.matches("usage: ims", out)
  end)
end)
