/* The one header path. Out: a request's headers are a header set (a Lua table, lower-case
 * name -> "Name: value" line) built from layers (the caller's, the hook's, the signer's), and
 * every line passes one check before it becomes libcurl's list. In: a response's raw header
 * block becomes a table of lower-case names, repeated headers joined with ", ". */
#include "engine.h"

#include <ctype.h>
#include <string.h>

#include <lauxlib.h>

int ims_header_unsafe(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0') return 1;
  return 0;
}

/* An HTTP token (RFC 9110 tchar): what a header name may be. */
static int token(const char *s, size_t n) {
  if (n == 0 || n > 256) return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (!isalnum(c) && !strchr("!#$%&'*+-.^_`|~", c)) return 0;
  }
  return 1;
}

static void push_lower(lua_State *L, const char *s, size_t n) {
  luaL_Buffer b;
  char *p = luaL_buffinitsize(L, &b, n);
  for (size_t i = 0; i < n; i++) p[i] = (char)tolower((unsigned char)s[i]);
  luaL_pushresultsize(&b, n);
}

void ims_headers_merge(lua_State *L, int set, int src, const char *fn, const char *origin) {
  set = lua_absindex(L, set);
  src = lua_absindex(L, src);
  lua_newtable(L); /* lower-case names of this layer: one header named twice is misuse */
  int seen = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, src)) {
    size_t nl, vl = 0;
    if (lua_type(L, -2) != LUA_TSTRING) luaL_error(L, "%s: %s: header names must be strings", fn, origin);
    const char *name = lua_tolstring(L, -2, &nl);
    if (!token(name, nl))
      luaL_error(L, "%s: %s: invalid header name (not an HTTP token; CR, LF, NUL, ':' and spaces "
                 "are refused)", fn, origin);
    push_lower(L, name, nl);
    lua_pushvalue(L, -1);
    if (lua_rawget(L, seen) == LUA_TSTRING)
      luaL_error(L, "%s: %s: header '%s' is given twice ('%s' and '%s'): name it once", fn, origin,
                 name, lua_tostring(L, -1), name);
    lua_pop(L, 1);
    lua_pushvalue(L, -1);
    lua_pushvalue(L, -4);
    lua_rawset(L, seen);
    int vt = lua_type(L, -2);
    if (vt == LUA_TBOOLEAN && !lua_toboolean(L, -2)) {
      lua_pushfstring(L, "%s:", name); /* "Name:" removes a header libcurl would add */
    } else if (vt == LUA_TSTRING || vt == LUA_TNUMBER) {
      lua_pushvalue(L, -2);
      const char *v = lua_tolstring(L, -1, &vl);
      if (ims_header_unsafe(v, vl))
        luaL_error(L, "%s: %s: header '%s' must not contain CR, LF or NUL", fn, origin, name);
      if (vl == 0) lua_pushfstring(L, "%s;", name); /* libcurl sends "Name;" empty */
      else lua_pushfstring(L, "%s: %s", name, v);
      lua_remove(L, -2);
    } else {
      luaL_error(L, "%s: %s: header '%s' must be a string, a number or false (got %s)", fn,
                 origin, name, luaL_typename(L, -2));
    }
    lua_rawset(L, set); /* set[lower] = line */
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

void ims_headers_put(lua_State *L, int set, const char *name, const char *value, int replace) {
  set = lua_absindex(L, set);
  push_lower(L, name, strlen(name));
  if (!replace) {
    lua_pushvalue(L, -1);
    if (lua_rawget(L, set) != LUA_TNIL) {
      lua_pop(L, 2);
      return;
    }
    lua_pop(L, 1);
  }
  lua_pushfstring(L, "%s: %s", name, value);
  lua_rawset(L, set);
}

const char *ims_headers_value(lua_State *L, int set, const char *lname) {
  if (lua_getfield(L, set, lname) != LUA_TSTRING) {
    lua_pop(L, 1);
    return NULL;
  }
  const char *line = lua_tostring(L, -1); /* anchored by the set */
  lua_pop(L, 1);
  size_t kl = strcspn(line, ":;");
  if (line[kl] == ';') return "";
  if (line[kl + 1] == '\0') return NULL; /* a removal */
  return line + kl + 2;
}

void ims_headers_push_plain(lua_State *L, int set) {
  set = lua_absindex(L, set);
  lua_newtable(L);
  lua_pushnil(L);
  while (lua_next(L, set)) {
    const char *line = lua_tostring(L, -1);
    size_t kl = strcspn(line, ":;");
    if (!(line[kl] == ':' && line[kl + 1] == '\0')) { /* removals are not headers */
      lua_pushlstring(L, line, kl);
      lua_pushstring(L, line[kl] == ':' ? line + kl + 2 : "");
      lua_settable(L, -5);
    }
    lua_pop(L, 1);
  }
}

struct curl_slist *ims_headers_slist(lua_State *L, int set, const char *fn) {
  struct curl_slist *list = NULL;
  set = lua_absindex(L, set);
  lua_pushnil(L);
  while (lua_next(L, set)) {
    size_t ll;
    const char *line = lua_tolstring(L, -1, &ll);
    /* the one check every line passes, whatever added it (caller, hook, signer) */
    if (ims_header_unsafe(line, ll)) {
      curl_slist_free_all(list);
      luaL_error(L, "%s: header '%s' must not contain CR, LF or NUL", fn, lua_tostring(L, -2));
    }
    struct curl_slist *n = curl_slist_append(list, line);
    if (!n) {
      curl_slist_free_all(list);
      luaL_error(L, "%s: out of memory", fn);
    }
    list = n;
    lua_pop(L, 1);
  }
  return list;
}

void ims_headers_push_response(lua_State *L, const char *p, size_t len) {
  lua_newtable(L);
  const char *e = p ? p + len : NULL;
  while (p && p < e) {
    const char *eol = memchr(p, '\n', (size_t)(e - p));
    if (!eol) eol = e;
    const char *colon = memchr(p, ':', (size_t)(eol - p));
    if (colon && colon > p) {
      push_lower(L, p, (size_t)(colon - p));
      const char *v = colon + 1, *ve = eol;
      while (v < ve && (*v == ' ' || *v == '\t')) v++;
      while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t' || ve[-1] == '\r')) ve--;
      lua_pushvalue(L, -1);
      if (lua_rawget(L, -3) == LUA_TSTRING) {
        lua_pushliteral(L, ", ");
        lua_pushlstring(L, v, (size_t)(ve - v));
        lua_concat(L, 3);
      } else {
        lua_pop(L, 1);
        lua_pushlstring(L, v, (size_t)(ve - v));
      }
      lua_rawset(L, -3);
    }
    p = eol + 1;
  }
}
