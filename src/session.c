/* ims.Session: core.session(opts), session:request(req), session:close().
 *
 * request() reads and checks its whole argument table before any I/O, pins every Lua value
 * libcurl or a callback will use in stack slots of its own frame, and keeps everything it
 * allocates in the session's ims_transfer, so a raise at any point leaks nothing. */

/***
Sessions: `core.session`, `Session:request`, `Session:close` (`Session:poll` is in `src/poll.c`).
@module ims.core
*/

#include "session.h"
#include "sign.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>

#define REQ_FN "ims.Session:request"

/* Stack slots of request(): 1 self, 2 req, then these. */
enum {
  S_ERR = 3,   /* a callback's error value */
  S_CHUNK,     /* the reader's current chunk */
  S_METHOD,
  S_URL,
  S_BODY,      /* string body (pinned for CURLOPT_POSTFIELDS) */
  S_READER,
  S_SINK,
  S_PROGRESS,
  S_HEADERS,   /* merged headers: lower-case name -> "Name: value" line */
  S_UV,        /* the session's option table */
  S_TOP = S_UV
};

static ims_session *check_open(lua_State *L) {
  ims_session *s = luaL_checkudata(L, 1, IMS_SESSION_MT);
  if (!s->curl) luaL_error(L, "attempt to use a closed " IMS_SESSION_MT);
  if (s->busy) luaL_error(L, IMS_SESSION_MT " is busy: a request cannot start from its own callback");
  return s;
}

/* Raises "<fn>: option 'k' must be <what> (got <type>)" unless field k of table idx is nil or
 * of type tp; leaves the value on the stack. Returns 1 when present. */
static int opt_field(lua_State *L, int idx, const char *fn, const char *k, int tp, const char *what) {
  int t = lua_getfield(L, idx, k);
  if (t == LUA_TNIL) return 0;
  if (t != tp) luaL_error(L, "%s: option '%s' must be %s (got %s)", fn, k, what, luaL_typename(L, -1));
  return 1;
}

static double opt_seconds(lua_State *L, int idx, const char *fn, const char *k, double dflt) {
  double v = dflt;
  if (opt_field(L, idx, fn, k, LUA_TNUMBER, "a number of seconds")) {
    v = lua_tonumber(L, -1);
    if (!(v >= 0)) luaL_error(L, "%s: option '%s' must be >= 0", fn, k);
  }
  lua_pop(L, 1);
  return v;
}

/* Raises on any key of table idx not in names (NULL-terminated). */
static void check_keys(lua_State *L, int idx, const char *fn, const char *const names[]) {
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "%s: option keys must be strings", fn);
    const char *k = lua_tostring(L, -1);
    int known = 0;
    for (int i = 0; names[i] && !known; i++) known = strcmp(names[i], k) == 0;
    if (!known) luaL_error(L, "%s: unknown option '%s'", fn, k);
  }
}

/* ---- core.session(opts) ------------------------------------------------------------------- */

static const char *const SESSION_KEYS[] = {"connect_timeout", "stall_timeout", "verify", "ca_file",
                                           "proxy", "user_agent", "header_hook", NULL};

/***
Makes a session: one libcurl easy handle whose connection cache is kept between requests, so
consecutive requests to one host reuse the connection.
@function session
@tparam[opt] table opts `connect_timeout` (seconds, default 10), `stall_timeout` (abort when no
byte moved for this long, default 60; 0 = never), `verify` (TLS peer and host verification,
default `true`), `ca_file` (CA bundle path), `proxy` (proxy URL; `""` disables proxies from the
environment), `user_agent`, `header_hook` (`function(method, url, headers)` returning a table
of extra headers or `nil`)
@treturn Session the session (closed by `close`, `__close` or `__gc`)
@raise on an unknown option, a wrong type, a negative timeout; there is no `nil, err` form
@usage
local s <close> = core.session { connect_timeout = 10, stall_timeout = 60,
  user_agent = "lua-ims/0.1.0" }
*/
int ims_session_new(lua_State *L) {
  const char *fn = "ims.core.session";
  if (lua_isnoneornil(L, 1)) {
    lua_settop(L, 0);
    lua_newtable(L);
  }
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  check_keys(L, 1, fn, SESSION_KEYS);
  double ct = opt_seconds(L, 1, fn, "connect_timeout", 10);
  double st = opt_seconds(L, 1, fn, "stall_timeout", 60);
  int verify = 1;
  if (opt_field(L, 1, fn, "verify", LUA_TBOOLEAN, "a boolean")) verify = lua_toboolean(L, -1);
  lua_pop(L, 1);
  /* the option table the requests read strings and the hook from */
  lua_createtable(L, 0, 4);
  static const char *const strs[] = {"ca_file", "proxy", "user_agent", NULL};
  for (int i = 0; strs[i]; i++) {
    opt_field(L, 1, fn, strs[i], LUA_TSTRING, "a string");
    lua_setfield(L, 2, strs[i]);
  }
  if (lua_getfield(L, 2, "user_agent") == LUA_TSTRING) {
    size_t n;
    const char *ua = lua_tolstring(L, -1, &n);
    if (ims_header_unsafe(ua, n)) luaL_error(L, "%s: option 'user_agent' must not contain CR, LF or NUL", fn);
  }
  lua_pop(L, 1);
  opt_field(L, 1, fn, "header_hook", LUA_TFUNCTION, "a function");
  lua_setfield(L, 2, "header_hook");

  ims_session *s = lua_newuserdatauv(L, sizeof *s, 1);
  memset(s, 0, sizeof *s);
  s->t.fd = -1;
  s->sock = CURL_SOCKET_BAD;
  s->connect_timeout_ms = (long)(ct * 1000);
  s->stall_s = (long)(st + 0.999);
  s->verify = verify;
  luaL_setmetatable(L, IMS_SESSION_MT);
  lua_pushvalue(L, 2);
  lua_setiuservalue(L, -2, 1);
  s->curl = curl_easy_init();
  if (!s->curl) return luaL_error(L, "%s: curl_easy_init failed", fn);
  return 1;
}

/* ---- close / __gc / __close --------------------------------------------------------------- */

static void session_free(ims_session *s) {
  ims_transfer_release(&s->t);
  ims_buf_free(&s->t.resp);
  ims_buf_free(&s->t.headers);
  ims_buf_free(&s->t.reason);
  for (int i = 0; i < 3; i++) ims_buf_free(&s->t.scratch[i]);
  if (s->curl) curl_easy_cleanup(s->curl);
  s->curl = NULL;
}

/***
A session made by `session`: one libcurl easy handle (its connection cache is kept between
requests), used by one request at a time; `Session:poll` polls many requests on a curl multi
handle of its own.
@type Session
*/

/***
Closes the session and frees its handle. Idempotent; also `__gc` and `__close`. A closed session
raises when used (`attempt to use a closed ims.Session`).
@function Session:close
@raise when called from inside one of the session's own request callbacks
@usage s:close(); s:close() -- fine
*/
static int l_close(lua_State *L) {
  ims_session *s = luaL_checkudata(L, 1, IMS_SESSION_MT);
  if (s->busy) return luaL_error(L, IMS_SESSION_MT ": close called from inside its own request");
  session_free(s);
  return 0;
}

static int l_gc(lua_State *L) {
  session_free(luaL_checkudata(L, 1, IMS_SESSION_MT));
  return 0;
}

/***
`tostring(session)`: `ims.Session (0x...)`, or `ims.Session (closed)`.
@function Session:__tostring
@treturn string
@usage print(s)
*/
static int l_tostring(lua_State *L) {
  ims_session *s = luaL_checkudata(L, 1, IMS_SESSION_MT);
  if (s->curl) lua_pushfstring(L, IMS_SESSION_MT " (%p)", (void *)s);
  else lua_pushliteral(L, IMS_SESSION_MT " (closed)");
  return 1;
}

/* ---- request: arguments ------------------------------------------------------------------- */

static const char *const REQ_KEYS[] = {
  "method", "url", "headers", "timeout", "body", "body_file", "body_reader", "body_size",
  "sink_file", "sink", "append", "range_from", "upload_digests", "download_digests", "progress",
  "header_hook", "max_error_body", "sign", NULL};

static void check_header_text(lua_State *L, const char *s, size_t n, const char *what) {
  for (size_t i = 0; i < n; i++)
    if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0')
      luaL_error(L, REQ_FN ": header %s must not contain CR, LF or NUL", what);
}

/* Adds the headers of the table on top of the stack to the merged table at S_HEADERS. */
static void merge_headers(lua_State *L, const char *origin) {
  int src = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, src)) {
    size_t nl, vl = 0;
    if (lua_type(L, -2) != LUA_TSTRING)
      luaL_error(L, REQ_FN ": %s: header names must be strings", origin);
    const char *name = lua_tolstring(L, -2, &nl);
    if (nl == 0 || nl > 256) luaL_error(L, REQ_FN ": %s: bad header name", origin);
    check_header_text(L, name, nl, "names");
    char lower[257];
    for (size_t i = 0; i < nl; i++) lower[i] = (char)tolower((unsigned char)name[i]);
    if (memchr(name, ':', nl)) luaL_error(L, REQ_FN ": %s: header names must not contain ':'", origin);
    int vt = lua_type(L, -1);
    if (vt == LUA_TBOOLEAN && !lua_toboolean(L, -1)) {
      lua_pushfstring(L, "%s:", name); /* "Name:" removes a header libcurl would add */
    } else if (vt == LUA_TSTRING || vt == LUA_TNUMBER) {
      lua_pushvalue(L, -1);
      const char *v = lua_tolstring(L, -1, &vl);
      check_header_text(L, v, vl, "values");
      lua_pushfstring(L, "%s: %s", name, v);
      lua_remove(L, -2);
      if (vl == 0) { /* libcurl sends "Name;" for an empty value */
        lua_pop(L, 1);
        lua_pushfstring(L, "%s;", name);
      }
    } else {
      luaL_error(L, REQ_FN ": %s: header '%s' must be a string, a number or false (got %s)",
                 origin, name, luaL_typename(L, -1));
    }
    lua_pushlstring(L, lower, nl);
    lua_insert(L, -2);
    lua_settable(L, S_HEADERS);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

/* The header hook sees (method, url, headers as a plain table) and returns extra headers. */
static void run_header_hook(lua_State *L) {
  if (lua_getfield(L, 2, "header_hook") == LUA_TNIL) {
    lua_pop(L, 1);
    lua_getfield(L, S_UV, "header_hook");
  } else if (lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1)) {
    lua_pop(L, 1);
    return;
  } else if (lua_type(L, -1) != LUA_TFUNCTION) {
    luaL_error(L, REQ_FN ": option 'header_hook' must be a function or false (got %s)",
               luaL_typename(L, -1));
  }
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return;
  }
  lua_pushvalue(L, S_METHOD);
  lua_pushvalue(L, S_URL);
  lua_newtable(L); /* name -> value, as the request will send them */
  lua_pushnil(L);
  while (lua_next(L, S_HEADERS)) {
    const char *line = lua_tostring(L, -1);
    const char *colon = strpbrk(line, ":;");
    lua_pushlstring(L, line, (size_t)(colon - line));
    lua_pushstring(L, colon[0] == ':' && colon[1] == ' ' ? colon + 2 : "");
    lua_settable(L, -5);
    lua_pop(L, 1);
  }
  lua_call(L, 3, 1);
  if (lua_type(L, -1) == LUA_TTABLE) merge_headers(L, "header_hook");
  else if (!lua_isnil(L, -1)) luaL_error(L, REQ_FN ": header_hook must return a table or nil");
  else lua_pop(L, 1);
}

static void add_digest_list(lua_State *L, const char *key, ims_digests *ds) {
  int t = lua_getfield(L, 2, key);
  if (t == LUA_TTABLE) {
    char err[128];
    lua_Integer n = luaL_len(L, -1);
    for (lua_Integer i = 1; i <= n; i++) {
      if (lua_geti(L, -1, i) != LUA_TSTRING)
        luaL_error(L, REQ_FN ": option '%s' must be a list of digest names", key);
      if (ims_digests_add(ds, lua_tostring(L, -1), err, sizeof err))
        luaL_error(L, REQ_FN ": option '%s': %s", key, err);
      lua_pop(L, 1);
    }
  } else if (t != LUA_TNIL) {
    luaL_error(L, REQ_FN ": option '%s' must be a list of digest names (got %s)", key,
               luaL_typename(L, -1));
  }
  lua_pop(L, 1);
}

/* Hashes the part of a file being resumed; returns its size (0 when absent). */
static curl_off_t hash_prefix(lua_State *L, ims_transfer *t, const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    if (errno == ENOENT) return 0;
    luaL_error(L, REQ_FN ": cannot read %s: %s", path, strerror(errno));
  }
  t->in = f; /* owned by the transfer until closed, so a raise cannot leak it */
  char buf[1 << 16];
  size_t n;
  curl_off_t total = 0;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
    ims_digests_update(&t->down, buf, n);
    total += (curl_off_t)n;
  }
  int bad = ferror(f);
  fclose(f);
  t->in = NULL;
  if (bad) luaL_error(L, REQ_FN ": cannot read %s", path);
  return total;
}

/* Sets header `name` (lower-case key lname) in the merged table unless present. */
static void default_header(lua_State *L, const char *lname, const char *name, const char *value) {
  if (lua_getfield(L, S_HEADERS, lname) == LUA_TNIL) {
    lua_pushfstring(L, "%s: %s", name, value);
    lua_setfield(L, S_HEADERS, lname);
  }
  lua_pop(L, 1);
}

/* AK/SK: signs the request as it will be sent (every attempt signs anew: X-Sdk-Date moves).
 * Streamed and non-JSON bodies are sent as UNSIGNED-PAYLOAD, so they are never hashed twice. */
static void sign_request(lua_State *L, ims_transfer *t, int streamed) {
  static const char *const KEYS[] = {"ak", "sk", "security_token", "clock_offset", NULL};
  int st = lua_gettop(L);
  check_keys(L, st, REQ_FN ": sign", KEYS);
  size_t sk_len;
  if (!opt_field(L, st, REQ_FN, "ak", LUA_TSTRING, "a string") ||
      !opt_field(L, st, REQ_FN, "sk", LUA_TSTRING, "a string"))
    luaL_error(L, REQ_FN ": option 'sign' needs 'ak' and 'sk'");
  const char *sk = lua_tolstring(L, -1, &sk_len), *ak = lua_tostring(L, -2);
  if (opt_field(L, st, REQ_FN, "security_token", LUA_TSTRING, "a string")) {
    size_t tl;
    const char *tok = lua_tolstring(L, -1, &tl);
    if (ims_header_unsafe(tok, tl)) luaL_error(L, REQ_FN ": option 'sign.security_token' must not contain CR, LF or NUL");
    lua_pushfstring(L, "X-Security-Token: %s", tok);
    lua_setfield(L, S_HEADERS, "x-security-token");
  }
  lua_pop(L, 1);
  const char *url = lua_tostring(L, S_URL), *netloc, *path, *query;
  size_t nl, pl, ql;
  if (ims_split_url(url, &netloc, &nl, &path, &pl, &query, &ql))
    luaL_error(L, REQ_FN ": option 'sign' needs an http(s) URL");
  /* clock_offset: seconds to add to our clock to get the server's (learnt from its Date) */
  double offset = 0;
  if (opt_field(L, st, REQ_FN, "clock_offset", LUA_TNUMBER, "a number")) offset = lua_tonumber(L, -1);
  lua_pop(L, 1);
  if (!(fabs(offset) < 1e9)) luaL_error(L, REQ_FN ": option 'sign.clock_offset' is out of range");
  char date[17];
  time_t now = time(NULL) + (time_t)llround(offset);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(date, sizeof date, "%Y%m%dT%H%M%SZ", &tm);
  lua_pushlstring(L, netloc, nl);
  default_header(L, "host", "Host", lua_tostring(L, -1));
  lua_pop(L, 1);
  lua_pushfstring(L, "X-Sdk-Date: %s", date); /* always fresh: a retried request re-signs */
  lua_setfield(L, S_HEADERS, "x-sdk-date");
  int ct_json = 0;
  if (lua_getfield(L, S_HEADERS, "content-type") == LUA_TSTRING)
    ct_json = strstr(lua_tostring(L, -1), "application/json") != NULL;
  int has_ct = !lua_isnil(L, -1);
  lua_pop(L, 1);
  int unsigned_payload = streamed || (t->body_len > 0 && has_ct && !ct_json);
  if (unsigned_payload) default_header(L, "x-sdk-content-sha256", "X-Sdk-Content-Sha256", "UNSIGNED-PAYLOAD");
  /* the header array and the sorted list of names to sign (removals "Name:" are not sent) */
  ims_hdr hdrs[64];
  const char *names[64];
  int n = 0;
  lua_pushnil(L);
  while (lua_next(L, S_HEADERS)) {
    const char *line = lua_tostring(L, -1);
    size_t ll = strlen(line), kl = strcspn(line, ":;");
    lua_pop(L, 1);
    if (kl == ll || (line[kl] == ':' && line[kl + 1] == '\0')) continue;
    if (n == 64) luaL_error(L, REQ_FN ": too many headers to sign");
    const char *key = lua_tostring(L, -1); /* lower-case name, anchored as the table's key */
    hdrs[n].name = key;
    hdrs[n].value = line[kl] == ':' ? line + kl + 2 : "";
    names[n] = strchr(key, '_') ? NULL : key;
    n++;
  }
  /* insertion sort of the signed names (few) into a ';'-joined list */
  luaL_Buffer b;
  const char *sorted[64];
  int ns = 0;
  for (int i = 0; i < n; i++) {
    if (!names[i]) continue;
    int j = ns++;
    while (j > 0 && strcmp(sorted[j - 1], names[i]) > 0) sorted[j] = sorted[j - 1], j--;
    sorted[j] = names[i];
  }
  luaL_buffinit(L, &b);
  for (int i = 0; i < ns; i++) {
    if (i) luaL_addchar(&b, ';');
    luaL_addstring(&b, sorted[i]);
  }
  luaL_pushresult(&b);
  char hash[65];
  if (unsigned_payload) {
    strcpy(hash, "UNSIGNED-PAYLOAD");
  } else {
    ims_digests d = {0};
    char err[64];
    if (ims_digests_add(&d, "sha256", err, sizeof err)) luaL_error(L, REQ_FN ": %s", err);
    ims_digests_update(&d, t->body ? t->body : "", t->body_len);
    int rc = ims_digests_hex(&d, 0, hash);
    ims_digests_free(&d);
    if (rc) luaL_error(L, REQ_FN ": sha256 failed");
  }
  char err[160];
  for (int i = 0; i < 3; i++) t->scratch[i].len = 0;
  const char *method = lua_tostring(L, S_METHOD);
  if (ims_sign(ak, sk, sk_len, method, url, hdrs, n, lua_tostring(L, -1), hash, &t->scratch[0],
               &t->scratch[1], &t->scratch[2], err, sizeof err))
    luaL_error(L, REQ_FN ": signing failed: %s", err);
  lua_pushliteral(L, "Authorization: ");
  lua_pushlstring(L, t->scratch[2].p, t->scratch[2].len);
  lua_concat(L, 2);
  lua_setfield(L, S_HEADERS, "authorization");
  lua_settop(L, st - 1);
}

/* ---- request: results --------------------------------------------------------------------- */

static void push_digests(lua_State *L, ims_digests *ds) {
  char hex[2 * 64 + 1];
  lua_createtable(L, 0, ds->n);
  for (int i = 0; i < ds->n; i++) {
    if (ims_digests_hex(ds, i, hex)) continue;
    lua_pushstring(L, hex);
    lua_setfield(L, -2, ds->names[i]);
  }
}

/* Response headers as a table: lower-case names, repeated headers joined with ", ". */
static void push_headers(lua_State *L, ims_transfer *t) {
  lua_newtable(L);
  const char *p = t->headers.p, *e = p ? p + t->headers.len : NULL;
  while (p && p < e) {
    const char *eol = memchr(p, '\n', (size_t)(e - p));
    if (!eol) eol = e;
    const char *colon = memchr(p, ':', (size_t)(eol - p));
    if (colon && colon > p) {
      luaL_Buffer b;
      luaL_buffinit(L, &b);
      for (const char *c = p; c < colon; c++) luaL_addchar(&b, (char)tolower((unsigned char)*c));
      luaL_pushresult(&b);
      const char *v = colon + 1, *ve = eol;
      while (v < ve && (*v == ' ' || *v == '\t')) v++;
      while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) ve--;
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

static void set_int(lua_State *L, const char *k, lua_Integer v) {
  lua_pushinteger(L, v);
  lua_setfield(L, -2, k);
}

static int push_failure(lua_State *L, ims_session *s, CURLcode code) {
  ims_transfer *t = &s->t;
  lua_pushnil(L);
  lua_createtable(L, 0, 8);
  lua_pushstring(L, t->abort_code ? t->abort_code : ims_curl_code_name(code));
  lua_setfield(L, -2, "code");
  set_int(L, "curl_code", code);
  lua_pushstring(L, t->abort_code ? t->abort_msg
                                  : (t->errbuf[0] ? t->errbuf : curl_easy_strerror(code)));
  lua_setfield(L, -2, "message");
  set_int(L, "uploaded", t->uploaded);
  set_int(L, "downloaded", t->downloaded);
  if (t->status) {
    set_int(L, "status", t->status);
    push_headers(L, t);
    lua_setfield(L, -2, "headers");
  }
  return 2;
}

static void push_response(lua_State *L, ims_session *s) {
  ims_transfer *t = &s->t;
  long conns = 0;
  curl_off_t us = 0;
  char *eff = NULL, *ip = NULL;
  curl_easy_getinfo(s->curl, CURLINFO_NUM_CONNECTS, &conns);
  curl_easy_getinfo(s->curl, CURLINFO_TOTAL_TIME_T, &us);
  curl_easy_getinfo(s->curl, CURLINFO_EFFECTIVE_URL, &eff);
  curl_easy_getinfo(s->curl, CURLINFO_PRIMARY_IP, &ip);
  lua_createtable(L, 0, 14);
  set_int(L, "status", t->status);
  lua_pushlstring(L, t->reason.p ? t->reason.p : "", t->reason.len);
  lua_setfield(L, -2, "reason");
  push_headers(L, t);
  lua_setfield(L, -2, "headers");
  if (t->resp.len || !(t->sink_idx || t->sink_path)) {
    lua_pushlstring(L, t->resp.p ? t->resp.p : "", t->resp.len);
    lua_setfield(L, -2, "body");
  }
  set_int(L, "uploaded", t->uploaded);
  set_int(L, "downloaded", t->downloaded);
  set_int(L, "new_connections", conns);
  lua_pushnumber(L, (double)us / 1e6);
  lua_setfield(L, -2, "time");
  if (eff) {
    lua_pushstring(L, eff);
    lua_setfield(L, -2, "effective_url");
  }
  if (ip && *ip) {
    lua_pushstring(L, ip);
    lua_setfield(L, -2, "primary_ip");
  }
  if (t->range_from > 0) set_int(L, "resumed_from", t->restarted ? 0 : t->range_from);
  if (t->restarted) {
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "restarted");
  }
  if (t->up.n) {
    push_digests(L, &t->up);
    lua_setfield(L, -2, "upload_digests");
  }
  if (t->down.n) {
    push_digests(L, &t->down);
    lua_setfield(L, -2, "download_digests");
  }
}

/* ---- request ------------------------------------------------------------------------------ */

#define SETOPT(opt, val)                                                         \
  do {                                                                           \
    CURLcode rc_ = curl_easy_setopt(curl, opt, val);                             \
    if (rc_ != CURLE_OK)                                                         \
      luaL_error(L, REQ_FN ": %s: %s", #opt, curl_easy_strerror(rc_));           \
  } while (0)

/***
Performs one HTTP request. Bodies stream in constant memory; digests are computed while they
stream. Response bodies of non-2xx statuses never reach `sink`/`sink_file`: they are kept in
`res.body` so the caller can build an error from them.
@function Session:request
@tparam table req the request:

* `method`: `"GET"` (default), `"HEAD"`, `"PUT"`, `"POST"`, `"PATCH"`, `"DELETE"`, ... (upper case)
* `url`: absolute `http://` or `https://` URL (required)
* `headers`: `{name = value}`, values strings or numbers; a `false` value removes a header
  libcurl would add (`Expect = false`)
* `timeout`: seconds for the whole request (default: none; stalls still end by `stall_timeout`)
* `body` (string), `body_file` (path streamed, `Content-Length` from its size), or
  `body_reader` (`function() return chunk_or_nil end`) with `body_size` (chunked transfer when
  absent)
* `sink_file` (path, truncated first) or `sink` (`function(chunk)`) for a 2xx response body;
  `append = true` with `sink_file` keeps the file and appends (resume), hashing its bytes first
* `range_from`: send `Range: bytes=N-`; a `200` answer restarts the file and the digests
* `upload_digests`, `download_digests`: lists of digest names computed over the request body as
  it is sent and over the (2xx) response body
* `progress`: `function(dl_now, dl_total, ul_now, ul_total)`, called when a count grows
  (throttled) and once at the end
* `header_hook`: per-request override of the session's hook (`false` disables it)
* `max_error_body`: bytes of a non-2xx body kept when streaming to a sink (default 65536)
* `sign`: `{ak =, sk =, security_token =?, clock_offset =?}` signs the request in C as it is
  sent (`SDK-HMAC-SHA256`; streamed and non-JSON bodies as `UNSIGNED-PAYLOAD`); `X-Sdk-Date` is
  our clock plus `clock_offset` seconds (the server's clock, when ours is off)
@treturn[1] table `res`: `status`, `reason`, `headers` (lower-case names; repeats joined with
`", "`), `body` (memory responses and non-2xx bodies), `uploaded`, `downloaded`,
`upload_digests`, `download_digests` (`{md5 = hex, ...}`), `new_connections` (0 when a kept-alive
connection was reused), `time`, `effective_url`, `primary_ip`, and with `range_from`/`append`
`resumed_from` (0 when the server restarted: `restarted = true`)
@treturn[2] nil
@treturn[2] table `err`, a plain table (not an `ims.Error`): `code` (`"COULDNT_CONNECT"`, ...),
`curl_code` (7), `message`, `uploaded`, `downloaded`, and `status`, `headers` when a response
had begun;
timeouts are `OPERATION_TIMEDOUT`, a bad local file `FILE`, a `sink`/`body_reader` that returned
`nil, msg` `ABORTED_BY_CALLBACK`
@raise on misuse (wrong types, unknown keys, conflicting bodies or sinks, use after close, a
request started from inside one of its own callbacks); an error raised by `body_reader`, `sink`,
`progress` or `header_hook` aborts the transfer, releases everything and is raised again with
its original value
@usage
local res, err = s:request { method = "PUT", url = url .. "/v2/images/" .. id .. "/file",
  headers = { ["Content-Type"] = "application/octet-stream" }, body_file = "disk.qcow2",
  upload_digests = { "sha512" } }
if res then print(res.status, res.upload_digests.sha512) else print(err.code, err.message) end
*/
static int l_request(lua_State *L) {
  ims_session *s = check_open(L);
  ims_transfer *t = &s->t;
  CURL *curl = s->curl;
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  luaL_checkstack(L, 40, REQ_FN);
  for (int i = S_ERR; i <= S_TOP; i++) lua_pushnil(L);
  lua_getiuservalue(L, 1, 1);
  lua_replace(L, S_UV);

  /* a previous request interrupted by a raise may have left resources behind */
  ims_transfer_release(t);
  memset(&t->up, 0, sizeof t->up);
  memset(&t->down, 0, sizeof t->down);
  t->L = L;
  t->err_slot = S_ERR;
  t->chunk_slot = S_CHUNK;
  t->abort_code = NULL;
  t->abort_msg[0] = t->errbuf[0] = '\0';
  t->raised = 0;
  t->body = NULL;
  t->body_len = 0;
  t->in_size = -1;
  t->reader_idx = t->sink_idx = t->progress_idx = 0;
  t->chunk = NULL;
  t->chunk_len = t->chunk_pos = 0;
  t->reader_done = 0;
  t->status = 0;
  t->sink_path = NULL;
  t->sink_opened = t->append = t->range_checked = t->restarted = 0;
  t->range_from = 0;
  t->uploaded = t->downloaded = 0;
  t->progress_last = 0;
  t->p_dl = t->p_ul = t->cur_ul = t->cur_dlt = t->cur_ult = 0;
  t->max_error_body = 65536;
  t->stall_s = s->stall_s;
  t->last_move = 0;
  t->moved = 0;

  check_keys(L, 2, REQ_FN, REQ_KEYS);
  if (!opt_field(L, 2, REQ_FN, "method", LUA_TSTRING, "a string")) {
    lua_pop(L, 1);
    lua_pushliteral(L, "GET");
  }
  lua_replace(L, S_METHOD);
  const char *method = lua_tostring(L, S_METHOD);
  for (const char *c = method; *c; c++)
    if (!isupper((unsigned char)*c)) luaL_error(L, REQ_FN ": option 'method' must be upper case");
  if (!opt_field(L, 2, REQ_FN, "url", LUA_TSTRING, "a string"))
    luaL_error(L, REQ_FN ": missing required field 'url'");
  lua_replace(L, S_URL);
  check_header_text(L, lua_tostring(L, S_URL), strlen(lua_tostring(L, S_URL)), "url");
  double timeout = opt_seconds(L, 2, REQ_FN, "timeout", 0);

  int nbodies = 0, nsinks = 0;
  if (opt_field(L, 2, REQ_FN, "body", LUA_TSTRING, "a string")) {
    nbodies++;
    t->body = lua_tolstring(L, -1, &t->body_len);
  }
  lua_replace(L, S_BODY);
  const char *body_file = NULL;
  if (opt_field(L, 2, REQ_FN, "body_file", LUA_TSTRING, "a string")) {
    nbodies++;
    body_file = lua_tostring(L, -1);
  }
  lua_pop(L, 1); /* still referenced by req */
  if (opt_field(L, 2, REQ_FN, "body_reader", LUA_TFUNCTION, "a function")) {
    nbodies++;
    t->reader_idx = S_READER;
  }
  lua_replace(L, S_READER);
  if (opt_field(L, 2, REQ_FN, "body_size", LUA_TNUMBER, "an integer")) {
    if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0)
      luaL_error(L, REQ_FN ": option 'body_size' must be a non-negative integer");
    if (!t->reader_idx) luaL_error(L, REQ_FN ": option 'body_size' needs 'body_reader'");
    t->in_size = (curl_off_t)lua_tointeger(L, -1);
  }
  lua_pop(L, 1);
  if (nbodies > 1) luaL_error(L, REQ_FN ": give only one of 'body', 'body_file', 'body_reader'");

  if (opt_field(L, 2, REQ_FN, "sink_file", LUA_TSTRING, "a string")) {
    nsinks++;
    t->sink_path = lua_tostring(L, -1);
  }
  lua_pop(L, 1);
  if (opt_field(L, 2, REQ_FN, "sink", LUA_TFUNCTION, "a function")) {
    nsinks++;
    t->sink_idx = S_SINK;
  }
  lua_replace(L, S_SINK);
  if (nsinks > 1) luaL_error(L, REQ_FN ": give only one of 'sink', 'sink_file'");
  if (opt_field(L, 2, REQ_FN, "append", LUA_TBOOLEAN, "a boolean")) t->append = lua_toboolean(L, -1);
  lua_pop(L, 1);
  if (t->append && !t->sink_path) luaL_error(L, REQ_FN ": option 'append' needs 'sink_file'");
  if (opt_field(L, 2, REQ_FN, "range_from", LUA_TNUMBER, "an integer")) {
    if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0)
      luaL_error(L, REQ_FN ": option 'range_from' must be a non-negative integer");
    t->range_from = (curl_off_t)lua_tointeger(L, -1);
  }
  lua_pop(L, 1);
  if (opt_field(L, 2, REQ_FN, "max_error_body", LUA_TNUMBER, "an integer")) {
    if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0)
      luaL_error(L, REQ_FN ": option 'max_error_body' must be a non-negative integer");
    t->max_error_body = (size_t)lua_tointeger(L, -1);
  }
  lua_pop(L, 1);
  if (opt_field(L, 2, REQ_FN, "progress", LUA_TFUNCTION, "a function")) t->progress_idx = S_PROGRESS;
  lua_replace(L, S_PROGRESS);
  add_digest_list(L, "upload_digests", &t->up);
  add_digest_list(L, "download_digests", &t->down);
  /* large bodies are hashed on a worker thread, overlapping the hash with the transfer */
  ims_digests_background(&t->up);
  ims_digests_background(&t->down);

  lua_newtable(L);
  lua_replace(L, S_HEADERS);
  if (opt_field(L, 2, REQ_FN, "headers", LUA_TTABLE, "a table")) merge_headers(L, "headers");
  else lua_pop(L, 1);
  run_header_hook(L);
  if (opt_field(L, 2, REQ_FN, "sign", LUA_TTABLE, "a table")) sign_request(L, t, body_file || t->reader_idx);
  else lua_pop(L, 1);

  /* everything checked: now the resources */
  if (t->append) t->range_from = hash_prefix(L, t, t->sink_path);
  if (body_file) {
    struct stat st;
    t->in = fopen(body_file, "rb");
    if (!t->in || fstat(fileno(t->in), &st) != 0) {
      lua_pushnil(L);
      lua_createtable(L, 0, 3);
      lua_pushliteral(L, "FILE");
      lua_setfield(L, -2, "code");
      lua_pushfstring(L, "cannot read %s: %s", body_file, strerror(errno));
      lua_setfield(L, -2, "message");
      ims_transfer_release(t);
      return 2;
    }
    t->in_size = (curl_off_t)st.st_size;
  }
  if (t->body && t->up.n) ims_digests_update(&t->up, t->body, t->body_len);

  curl_easy_reset(curl); /* keeps the connection cache: the next request reuses connections */
  SETOPT(CURLOPT_NOSIGNAL, 1L);
  SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
  SETOPT(CURLOPT_ERRORBUFFER, t->errbuf);
  SETOPT(CURLOPT_URL, lua_tostring(L, S_URL));
  SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
  SETOPT(CURLOPT_SOCKOPTFUNCTION, ims_cb_sockopt);
  SETOPT(CURLOPT_SOCKOPTDATA, &s->sock);
  t->sock = &s->sock;
  /* buffer sizes are hints: libcurl 7.88 refuses them on a handle whose last transfer failed
   * in name resolution, which must not turn the next request into a raise */
  (void)curl_easy_setopt(curl, CURLOPT_BUFFERSIZE, 512L * 1024);
  (void)curl_easy_setopt(curl, CURLOPT_UPLOAD_BUFFERSIZE, 1024L * 1024);
  SETOPT(CURLOPT_CONNECTTIMEOUT_MS, s->connect_timeout_ms);
  if (timeout > 0) SETOPT(CURLOPT_TIMEOUT_MS, (long)(timeout * 1000));
  SETOPT(CURLOPT_SSL_VERIFYPEER, s->verify ? 1L : 0L);
  SETOPT(CURLOPT_SSL_VERIFYHOST, s->verify ? 2L : 0L);
  if (lua_getfield(L, S_UV, "ca_file") == LUA_TSTRING) SETOPT(CURLOPT_CAINFO, lua_tostring(L, -1));
  if (lua_getfield(L, S_UV, "proxy") == LUA_TSTRING) SETOPT(CURLOPT_PROXY, lua_tostring(L, -1));
  if (lua_getfield(L, S_UV, "user_agent") == LUA_TSTRING) SETOPT(CURLOPT_USERAGENT, lua_tostring(L, -1));
  lua_pop(L, 3);

  SETOPT(CURLOPT_HEADERFUNCTION, ims_cb_header);
  SETOPT(CURLOPT_HEADERDATA, t);
  SETOPT(CURLOPT_WRITEFUNCTION, ims_cb_write);
  SETOPT(CURLOPT_WRITEDATA, t);
  SETOPT(CURLOPT_XFERINFOFUNCTION, ims_cb_progress);
  SETOPT(CURLOPT_XFERINFODATA, t);
  SETOPT(CURLOPT_NOPROGRESS, 0L);

  if (strcmp(method, "HEAD") == 0) SETOPT(CURLOPT_NOBODY, 1L);
  else if (strcmp(method, "GET") != 0 || nbodies) SETOPT(CURLOPT_CUSTOMREQUEST, method);
  if (t->body) {
    SETOPT(CURLOPT_POSTFIELDS, t->body);
    SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)t->body_len);
  } else if (t->in || t->reader_idx) {
    SETOPT(CURLOPT_UPLOAD, 1L);
    SETOPT(CURLOPT_READFUNCTION, ims_cb_read);
    SETOPT(CURLOPT_READDATA, t);
    SETOPT(CURLOPT_SEEKFUNCTION, ims_cb_seek);
    SETOPT(CURLOPT_SEEKDATA, t);
    if (t->in_size >= 0) SETOPT(CURLOPT_INFILESIZE_LARGE, t->in_size);
  }
  if (t->range_from > 0) {
    char range[32];
    snprintf(range, sizeof range, "%lld-", (long long)t->range_from);
    SETOPT(CURLOPT_RANGE, range);
  }
  lua_pushnil(L);
  while (lua_next(L, S_HEADERS)) {
    /* the one check every header line passes, whatever added it (caller, hook, signer) */
    size_t ll;
    const char *line = lua_tolstring(L, -1, &ll);
    if (ims_header_unsafe(line, ll))
      luaL_error(L, REQ_FN ": header '%s' must not contain CR, LF or NUL", lua_tostring(L, -2));
    struct curl_slist *n = curl_slist_append(t->slist, line);
    if (!n) luaL_error(L, REQ_FN ": out of memory");
    t->slist = n;
    lua_pop(L, 1);
  }
  SETOPT(CURLOPT_HTTPHEADER, t->slist);

  s->busy = 1;
  CURLcode code = curl_easy_perform(curl);
  s->busy = 0;
  if (t->fd >= 0) { /* close now: a failed close is a failed write */
    int rc = close(t->fd);
    t->fd = -1;
    if (rc != 0 && code == CURLE_OK) {
      t->abort_code = "FILE";
      snprintf(t->abort_msg, sizeof t->abort_msg, "cannot write %s: %s", t->sink_path, strerror(errno));
      code = CURLE_WRITE_ERROR;
    }
  }
  if (code == CURLE_OK && t->sink_path && !t->sink_opened && t->status >= 200 && t->status <= 299 &&
      t->status != 204) { /* an empty body still makes an (empty) file */
    if (ims_open_sink(t) == 0) {
      close(t->fd);
      t->fd = -1;
    } else {
      code = CURLE_WRITE_ERROR;
    }
  }
  if (code == CURLE_OK && t->progress_idx && ims_progress_call(t, 1) && !t->raised)
    code = CURLE_ABORTED_BY_CALLBACK;
  if (t->raised) {
    ims_transfer_release(t);
    lua_pushvalue(L, S_ERR);
    return lua_error(L);
  }
  if (code != CURLE_OK) {
    int n = push_failure(L, s, code);
    ims_transfer_release(t);
    return n;
  }
  push_response(L, s);
  ims_transfer_release(t);
  return 1;
}

void ims_session_open(lua_State *L) {
  static const luaL_Reg methods[] = {{"request", l_request}, {"poll", ims_session_poll}, {"close", l_close}, {NULL, NULL}};
  static const luaL_Reg meta[] = {
    {"__gc", l_gc}, {"__close", l_gc}, {"__tostring", l_tostring}, {NULL, NULL}};
  luaL_newmetatable(L, IMS_SESSION_MT);
  luaL_setfuncs(L, meta, 0);
  luaL_newlib(L, methods);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
}
