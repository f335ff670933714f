/* libFuzzer: the engine's header and response path with fuzzed bytes: response header lines as
 * libcurl delivers them (src/transfer.c ims_cb_header), the resumed-download checks on
 * Content-Range, the bounded memory body, the response header table Lua sees
 * (src/headers.c ims_headers_push_response) and a request's header set built from fuzzed
 * names and values (ims_headers_merge + ims_headers_slist, which must raise, not crash, on
 * anything unsafe). */
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "../src/engine.h"

static lua_State *L;

/* (set, src) -> the slist built from them, freed at once */
static int build_set(lua_State *Ls) {
  ims_headers_merge(Ls, 1, 2, "fuzz", "headers");
  curl_slist_free_all(ims_headers_slist(Ls, 1, "fuzz"));
  return 0;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
  if (!L) L = luaL_newstate();
  ims_transfer t;
  memset(&t, 0, sizeof t);
  t.fd = -1;
  t.range_from = 100;
  t.max_body = 4096;
  t.max_error_body = 64;
  t.sink_path = size % 2 ? strdup("/dev/null") : NULL; /* a file sink, or a memory body */
  /* split into lines, each given to the header callback with its CRLF */
  size_t start = 0;
  for (size_t i = 0; i <= size; i++) {
    if (i == size || data[i] == '\n') {
      ims_cb_header((char *)data + start, 1, i - start + (i < size), &t);
      start = i + 1;
    }
  }
  /* body chunks run the Range checks (resume) or the memory bound on what was parsed */
  for (int k = 0; k < 3; k++) ims_cb_write((char *)data, 1, size, &t);
  ims_headers_push_response(L, t.headers.p, t.headers.len);
  lua_pop(L, 1);
  ims_transfer_free(&t);

  /* a header set from the same bytes: name/value pairs split at NUL bytes */
  lua_settop(L, 0);
  lua_pushcfunction(L, build_set);
  lua_newtable(L);
  lua_newtable(L);
  const char *p = (const char *)data, *e = p + size;
  while (p < e) {
    const char *n_end = memchr(p, 0, (size_t)(e - p));
    if (!n_end) break;
    const char *v = n_end + 1, *v_end = v < e ? memchr(v, 0, (size_t)(e - v)) : NULL;
    if (!v_end) v_end = e;
    lua_pushlstring(L, p, (size_t)(n_end - p));
    lua_pushlstring(L, v, (size_t)(v_end - v));
    lua_settable(L, -3);
    p = v_end + 1;
  }
  lua_pcall(L, 2, 0, 0);
  lua_settop(L, 0);
  return 0;
}
