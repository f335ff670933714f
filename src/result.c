/* A finished transfer as Lua sees it: one response shape and one failure shape, whoever ran
 * it (Session:request, Session:wait). */
#include "engine.h"

#include <lauxlib.h>

static void set_int(lua_State *L, const char *k, lua_Integer v) {
  lua_pushinteger(L, v);
  lua_setfield(L, -2, k);
}

static void push_digests(lua_State *L, const struct ims_hex *h, int n) {
  lua_createtable(L, 0, n);
  for (int i = 0; i < n; i++) {
    if (!h[i].hex[0]) continue; /* the digest failed */
    lua_pushstring(L, h[i].hex);
    lua_setfield(L, -2, h[i].name);
  }
}

static void push_time(lua_State *L, ims_transfer *t) {
  lua_pushnumber(L, (double)t->total_us / 1e6);
  lua_setfield(L, -2, "time");
}

static int push_failure(lua_State *L, ims_transfer *t) {
  lua_pushnil(L);
  lua_createtable(L, 0, 9);
  lua_pushstring(L, t->abort_code ? t->abort_code : ims_curl_code_name(t->code));
  lua_setfield(L, -2, "code");
  set_int(L, "curl_code", t->code);
  lua_pushstring(L, t->abort_code ? t->abort_msg
                                  : (t->errbuf[0] ? t->errbuf : curl_easy_strerror(t->code)));
  lua_setfield(L, -2, "message");
  set_int(L, "uploaded", t->uploaded);
  set_int(L, "downloaded", t->downloaded);
  push_time(L, t);
  if (t->status) {
    set_int(L, "status", t->status);
    ims_headers_push_response(L, t->headers.p, t->headers.len);
    lua_setfield(L, -2, "headers");
  }
  return 2;
}

static int push_response(lua_State *L, ims_transfer *t) {
  lua_createtable(L, 0, 14);
  set_int(L, "status", t->status);
  lua_pushlstring(L, t->reason.p ? t->reason.p : "", t->reason.len);
  lua_setfield(L, -2, "reason");
  ims_headers_push_response(L, t->headers.p, t->headers.len);
  lua_setfield(L, -2, "headers");
  if (t->resp.len || !(t->has_sink || t->sink_path)) {
    lua_pushlstring(L, t->resp.p ? t->resp.p : "", t->resp.len);
    lua_setfield(L, -2, "body");
  }
  set_int(L, "uploaded", t->uploaded);
  set_int(L, "downloaded", t->downloaded);
  set_int(L, "new_connections", t->connects);
  push_time(L, t);
  if (t->effective_url) {
    lua_pushstring(L, t->effective_url);
    lua_setfield(L, -2, "effective_url");
  }
  if (t->primary_ip && *t->primary_ip) {
    lua_pushstring(L, t->primary_ip);
    lua_setfield(L, -2, "primary_ip");
  }
  if (t->range_from > 0) set_int(L, "resumed_from", t->restarted ? 0 : t->range_from);
  if (t->restarted) {
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "restarted");
  }
  if (t->n_up_hex) {
    push_digests(L, t->up_hex, t->n_up_hex);
    lua_setfield(L, -2, "upload_digests");
  }
  if (t->n_down_hex) {
    push_digests(L, t->down_hex, t->n_down_hex);
    lua_setfield(L, -2, "download_digests");
  }
  return 1;
}

int ims_push_result(lua_State *L, ims_transfer *t) {
  return t->code == CURLE_OK ? push_response(L, t) : push_failure(L, t);
}
