/* Public header for C hosts embedding lua-ims: luaL_requiref(L, "ims.core", luaopen_ims_core, 0). */
#ifndef IMS_CORE_H
#define IMS_CORE_H

#include <lua.h>

int luaopen_ims_core(lua_State *L);

#endif
