-- Offline luarocks settings for Debian (LUAROCKS_CONFIG=rockspec/luarocks-config.lua):
-- lua-cjson comes from Debian's lua-cjson package, which no luarocks tree records, and
-- Debian puts curl.h under include/x86_64-linux-gnu.
rocks_provided = { ["lua-cjson"] = "2.1.0-1" }
external_deps_subdirs = {
  bin = "bin",
  include = { "include", "include/x86_64-linux-gnu" },
  lib = { "lib", "lib/x86_64-linux-gnu", "lib64" },
}
