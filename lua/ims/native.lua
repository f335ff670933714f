-- ims.core (the C core), loaded on first use. Mapping libcurl, OpenSSL and their ~30 libraries
-- takes about 4 ms, which `require "ims"` would otherwise pay for scripts that only build
-- clients or check input, and for every run of the CLI's help and bash completion. The first
-- field read loads the core and copies its fields here, so later reads are plain table reads.
return setmetatable({}, { __index = function(self, k)
  local core = require "ims.core"
  for name, v in pairs(core) do rawset(self, name, v) end
  setmetatable(self, nil)
  return core[k]
end })
