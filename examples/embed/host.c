/*** A C host program embedding Lua 5.4 and lua-ims.
 *
 * The lua-ims core is linked into the program (no core.so to find): luaL_requiref registers
 * it as "ims.core", and the Lua half of the SDK is loaded from IMS_LUA_DIR. The host hands the
 * script its credentials in a `host` table (here from its own configuration: environment
 * variables) and receives every request the SDK makes through a C log function.
 *
 *   make embed-example
 *   IMS_ENDPOINT=... IMS_PROJECT=... IMS_AK=... IMS_SK=... build/embed/ims-host examples/embed/workflow.lua
 */
#include <stdio.h>
#include <stdlib.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "ims_core.h"

#ifndef IMS_LUA_DIR
#define IMS_LUA_DIR "lua"
#endif

/* host.log(event): one table per request attempt, secrets already redacted by the SDK. */
static int host_log(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_getfield(L, 1, "method");
  lua_getfield(L, 1, "url");
  lua_getfield(L, 1, "status");
  lua_getfield(L, 1, "ms");
  fprintf(stderr, "[host] %s %s -> %s in %s ms\n", luaL_optstring(L, 2, "?"), luaL_optstring(L, 3, "?"),
          lua_isnil(L, 4) ? "no response" : lua_tostring(L, 4), luaL_optstring(L, 5, "?"));
  return 0;
}

/* Sets field k of the table on top to the environment variable `var` (when set). */
static void set_from_env(lua_State *L, const char *k, const char *var) {
  const char *v = getenv(var);
  if (v && *v) {
    lua_pushstring(L, v);
    lua_setfield(L, -2, k);
  }
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s SCRIPT\n", argv[0]);
    return 2;
  }
  lua_State *L = luaL_newstate();
  if (!L) return 1;
  luaL_openlibs(L);
  luaL_requiref(L, "ims.core", luaopen_ims_core, 0); /* the statically linked core */
  lua_pop(L, 1);

  /* package.path: the SDK's Lua modules first */
  const char *dir = getenv("IMS_LUA_DIR") ? getenv("IMS_LUA_DIR") : IMS_LUA_DIR;
  lua_getglobal(L, "package");
  lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;", dir, dir);
  lua_getfield(L, -2, "path");
  lua_concat(L, 2);
  lua_setfield(L, -2, "path");
  lua_pop(L, 1);

  /* host = {credentials = {...}, log = host_log} */
  lua_newtable(L);
  lua_newtable(L);
  set_from_env(L, "endpoint", "IMS_ENDPOINT");
  set_from_env(L, "project_id", "IMS_PROJECT");
  set_from_env(L, "ak", "IMS_AK");
  set_from_env(L, "sk", "IMS_SK");
  lua_setfield(L, -2, "credentials");
  lua_pushcfunction(L, host_log);
  lua_setfield(L, -2, "log");
  lua_setglobal(L, "host");

  int rc = 0;
  if (luaL_dofile(L, argv[1]) != LUA_OK) {
    fprintf(stderr, "ims-host: %s\n", lua_tostring(L, -1));
    rc = 1;
  }
  lua_close(L); /* closes every client and session the script left open */
  return rc;
}
