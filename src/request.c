/* A request table -> a transfer on the session's multi handle. Everything is read and checked
 * before any I/O; every resource goes into the transfer userdata as soon as it exists, so a
 * raise at any point leaks nothing (its __gc releases it). One function configures an easy
 * handle, for every request the session makes. */
#include "engine.h"
#include "sign.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>

#define REQ_FN "ims.Session:request"

static const char *const REQ_KEYS[] = {
  "method", "url", "headers", "timeout", "body", "body_file", "body_reader", "body_size",
  "sink_file", "sink", "append", "range_from", "upload_digests", "download_digests", "progress",
  "header_hook", "max_error_body", "max_body", "sign", "body_offset", "body_length", NULL};

/* Raises "<fn>: option 'k' must be <what> (got <type>)" unless field k of table idx is nil or
 * of type tp; leaves the value on the stack. Returns 1 when present. */
static int opt_field(lua_State *L, int idx, const char *k, int tp, const char *what) {
  int t = lua_getfield(L, idx, k);
  if (t == LUA_TNIL) return 0;
  if (t != tp) luaL_error(L, REQ_FN ": option '%s' must be %s (got %s)", k, what, luaL_typename(L, -1));
  return 1;
}

static lua_Integer opt_count(lua_State *L, const char *k, lua_Integer dflt) {
  lua_Integer v = dflt;
  if (opt_field(L, 2, k, LUA_TNUMBER, "an integer")) {
    if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0)
      luaL_error(L, REQ_FN ": option '%s' must be a non-negative integer", k);
    v = lua_tointeger(L, -1);
  }
  lua_pop(L, 1);
  return v;
}

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

/* A path handed to the C library: a NUL would silently cut it short. */
static const char *path_option(lua_State *L, const char *k) {
  size_t n;
  const char *p = lua_tolstring(L, -1, &n);
  if (strlen(p) != n) luaL_error(L, REQ_FN ": option '%s' must not contain NUL", k);
  return p;
}

/* Hashes the part of a file being resumed; returns its size (0 when absent), or -1 with the
 * failure in t. */
static curl_off_t hash_prefix(ims_transfer *t, const char *path) {
  FILE *f = fopen(path, "rb");
  char msg[300];
  if (!f) {
    if (errno == ENOENT) return 0;
    snprintf(msg, sizeof msg, "cannot read %s: %s", path, strerror(errno));
    return ims_transfer_stop(t, "FILE", msg);
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
  if (bad) {
    snprintf(msg, sizeof msg, "cannot read %s", path);
    return ims_transfer_stop(t, "FILE", msg);
  }
  return total;
}

/* The header hook sees (method, url, headers as a plain table) and returns extra headers. */
static void run_header_hook(lua_State *L, int set, int method, int url, int opts) {
  if (lua_getfield(L, 2, "header_hook") == LUA_TNIL) {
    lua_pop(L, 1);
    lua_getfield(L, opts, "header_hook");
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
  lua_pushvalue(L, method);
  lua_pushvalue(L, url);
  ims_headers_push_plain(L, set);
  lua_call(L, 3, 1);
  if (lua_type(L, -1) == LUA_TTABLE) ims_headers_merge(L, set, -1, REQ_FN, "header_hook");
  else if (!lua_isnil(L, -1)) luaL_error(L, REQ_FN ": header_hook must return a table or nil");
  lua_pop(L, 1);
}

/* AK/SK: signs the request as it will be sent, through the one signer (sign.c). Streamed and
 * non-JSON bodies go as UNSIGNED-PAYLOAD, so they are never hashed twice. */
static void sign_request(lua_State *L, ims_transfer *t, int set, int sign, const char *method,
                         const char *url, int streamed) {
  static const char *const KEYS[] = {"ak", "sk", "security_token", "clock_offset", "scheme", NULL};
  check_keys(L, sign, REQ_FN ": sign", KEYS);
  ims_sign_in in = {0};
  if (lua_getfield(L, sign, "ak") != LUA_TSTRING || lua_getfield(L, sign, "sk") != LUA_TSTRING)
    luaL_error(L, REQ_FN ": option 'sign' needs 'ak' and 'sk' (strings)");
  in.ak = lua_tostring(L, -2);
  in.sk = lua_tolstring(L, -1, &in.sk_len);
  lua_pop(L, 2); /* anchored by the sign table */
  int obs = 0;
  int tt = lua_getfield(L, sign, "scheme");
  if (tt == LUA_TSTRING && strcmp(lua_tostring(L, -1), "obs") == 0) obs = 1;
  else if (tt != LUA_TNIL && !(tt == LUA_TSTRING && strcmp(lua_tostring(L, -1), "sdk") == 0))
    luaL_error(L, REQ_FN ": option 'sign.scheme' must be \"sdk\" or \"obs\"");
  lua_pop(L, 1);
  tt = lua_getfield(L, sign, "security_token");
  if (tt == LUA_TSTRING) {
    size_t tl;
    const char *tok = lua_tolstring(L, -1, &tl);
    if (ims_header_unsafe(tok, tl))
      luaL_error(L, REQ_FN ": option 'sign.security_token' must not contain CR, LF or NUL");
    if (obs) in.security_token = tok; /* anchored by the sign table */
    else ims_headers_put(L, set, "X-Security-Token", tok, 1);
  } else if (tt != LUA_TNIL) {
    luaL_error(L, REQ_FN ": option 'sign.security_token' must be a string");
  }
  lua_pop(L, 1);
  /* clock_offset: seconds to add to our clock to get the server's (learnt from its Date) */
  double offset = 0;
  tt = lua_getfield(L, sign, "clock_offset");
  if (tt == LUA_TNUMBER) offset = lua_tonumber(L, -1);
  else if (tt != LUA_TNIL) luaL_error(L, REQ_FN ": option 'sign.clock_offset' must be a number");
  lua_pop(L, 1);
  if (!(fabs(offset) < 1e9)) luaL_error(L, REQ_FN ": option 'sign.clock_offset' is out of range");
  in.method = method;
  in.url = url;
  in.body = t->body;
  in.body_len = t->body_len;
  in.streamed = streamed;
  ims_buf *bufs = ims_sign_scratch(L);
  if (obs) {
    char date[40];
    ims_http_date((double)llround(offset), date);
    in.date = date;
    ims_sign_obs_set(L, set, &in, bufs, REQ_FN);
    lua_pop(L, 1); /* scratch */
    return;
  }
  char date[17];
  time_t now = time(NULL) + (time_t)llround(offset);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(date, sizeof date, "%Y%m%dT%H%M%SZ", &tm);
  in.date = date; /* always fresh: every attempt signs anew */
  ims_sign_set(L, set, &in, bufs, REQ_FN);
  lua_pop(L, 2); /* names, scratch */
}

/* ---- sockets: TCP_QUICKACK needs the fd of the connection a transfer uses ----------------- */

static curl_socket_t open_socket(void *ud, curlsocktype purpose, struct curl_sockaddr *a) {
  ims_session *s = ud;
  (void)purpose;
  curl_socket_t fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
  if (fd != CURL_SOCKET_BAD && s->nsocks < IMS_SOCKS_MAX) {
    s->socks[s->nsocks].fd = fd;
    s->socks[s->nsocks].port = -1;
    s->nsocks++;
  }
  return fd;
}

static int close_socket(void *ud, curl_socket_t fd) {
  ims_session *s = ud;
  for (int i = 0; i < s->nsocks; i++)
    if (s->socks[i].fd == fd) {
      s->socks[i] = s->socks[--s->nsocks];
      break;
    }
  return close(fd);
}

/* ---- one configuration for every easy handle ------------------------------------------------ */

#define SETOPT(opt, val)                                                         \
  do {                                                                           \
    CURLcode rc_ = curl_easy_setopt(e, opt, val);                                \
    if (rc_ != CURLE_OK) luaL_error(L, REQ_FN ": %s: %s", #opt, curl_easy_strerror(rc_)); \
  } while (0)

static void configure(lua_State *L, ims_session *s, ims_transfer *t, int opts, const char *method,
                      const char *url, double timeout, int has_body) {
  CURL *e = t->easy;
  curl_easy_reset(e); /* the multi handle keeps the connections: they are reused */
  SETOPT(CURLOPT_PRIVATE, (void *)t);
  SETOPT(CURLOPT_NOSIGNAL, 1L);
  SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
  SETOPT(CURLOPT_ERRORBUFFER, t->errbuf);
  SETOPT(CURLOPT_URL, url);
  SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
  SETOPT(CURLOPT_OPENSOCKETFUNCTION, open_socket);
  SETOPT(CURLOPT_OPENSOCKETDATA, (void *)s);
  SETOPT(CURLOPT_CLOSESOCKETFUNCTION, close_socket);
  SETOPT(CURLOPT_CLOSESOCKETDATA, (void *)s);
  /* buffer sizes are hints: libcurl 7.88 refuses them on a handle whose last transfer failed
   * in name resolution, which must not turn the next request into a raise */
  (void)curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 512L * 1024);
  (void)curl_easy_setopt(e, CURLOPT_UPLOAD_BUFFERSIZE, 1024L * 1024);
  SETOPT(CURLOPT_CONNECTTIMEOUT_MS, s->connect_timeout_ms);
  if (timeout > 0) SETOPT(CURLOPT_TIMEOUT_MS, (long)ceil(timeout * 1000));
  SETOPT(CURLOPT_SSL_VERIFYPEER, s->verify ? 1L : 0L);
  SETOPT(CURLOPT_SSL_VERIFYHOST, s->verify ? 2L : 0L);
  if (lua_getfield(L, opts, "ca_file") == LUA_TSTRING) SETOPT(CURLOPT_CAINFO, lua_tostring(L, -1));
  if (lua_getfield(L, opts, "proxy") == LUA_TSTRING) SETOPT(CURLOPT_PROXY, lua_tostring(L, -1));
  if (lua_getfield(L, opts, "user_agent") == LUA_TSTRING) SETOPT(CURLOPT_USERAGENT, lua_tostring(L, -1));
  lua_pop(L, 3);
  SETOPT(CURLOPT_HEADERFUNCTION, ims_cb_header);
  SETOPT(CURLOPT_HEADERDATA, t);
  SETOPT(CURLOPT_WRITEFUNCTION, ims_cb_write);
  SETOPT(CURLOPT_WRITEDATA, t);
  SETOPT(CURLOPT_XFERINFOFUNCTION, ims_cb_progress);
  SETOPT(CURLOPT_XFERINFODATA, t);
  SETOPT(CURLOPT_NOPROGRESS, 0L);
  if (strcmp(method, "HEAD") == 0) SETOPT(CURLOPT_NOBODY, 1L);
  else if (strcmp(method, "GET") != 0 || has_body) SETOPT(CURLOPT_CUSTOMREQUEST, method);
  if (t->body) {
    SETOPT(CURLOPT_POSTFIELDS, t->body);
    SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)t->body_len);
  } else if (t->in || t->has_reader) {
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
  SETOPT(CURLOPT_HTTPHEADER, t->slist);
}

/* ---- the request table ---------------------------------------------------------------------- */

static int transfer_fail(lua_State *L, ims_transfer *t) {
  lua_pushnil(L);
  lua_createtable(L, 0, 2);
  lua_pushstring(L, t->abort_code);
  lua_setfield(L, -2, "code");
  lua_pushstring(L, t->abort_msg);
  lua_setfield(L, -2, "message");
  ims_transfer_release(t);
  return 2;
}

ims_transfer *ims_request_start(lua_State *L, ims_session *s, int blocking) {
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  luaL_checkstack(L, 40, REQ_FN);
  check_keys(L, 2, REQ_FN, REQ_KEYS);
  lua_getiuservalue(L, 1, 1); /* 3: the session's options */
  const int OPTS = 3, T = 4, V = 5, SET = 6, METHOD = 7, URL = 8;
  ims_transfer *t = lua_newuserdatauv(L, sizeof *t, 1); /* 4 */
  memset(t, 0, sizeof *t);
  t->fd = -1;
  t->self_ref = LUA_NOREF;
  t->in_size = -1;
  t->max_error_body = 65536;
  t->max_body = s->max_body;
  t->stall_s = s->stall_s;
  t->blocking = blocking;
  luaL_setmetatable(L, IMS_TRANSFER_MT);
  lua_newtable(L); /* 5: its Lua values */
  lua_pushvalue(L, V);
  lua_setiuservalue(L, T, 1);
  lua_newtable(L); /* 6: the header set */

  if (!opt_field(L, 2, "method", LUA_TSTRING, "a string")) {
    lua_pop(L, 1);
    lua_pushliteral(L, "GET");
  } /* 7 */
  const char *method = lua_tostring(L, METHOD);
  if (!*method) luaL_error(L, REQ_FN ": option 'method' must not be empty");
  for (const char *c = method; *c; c++)
    if (!isupper((unsigned char)*c)) luaL_error(L, REQ_FN ": option 'method' must be upper case");
  if (!opt_field(L, 2, "url", LUA_TSTRING, "a string")) luaL_error(L, REQ_FN ": missing required field 'url'");
  size_t url_len;
  const char *url = lua_tolstring(L, URL, &url_len); /* 8 */
  if (ims_header_unsafe(url, url_len)) luaL_error(L, REQ_FN ": url must not contain CR, LF or NUL");
  double timeout = 0;
  if (opt_field(L, 2, "timeout", LUA_TNUMBER, "a number of seconds")) {
    timeout = lua_tonumber(L, -1);
    if (!(timeout >= 0) || timeout > 1e9) luaL_error(L, REQ_FN ": option 'timeout' must be >= 0 and finite");
  }
  lua_pop(L, 1);

  int nbodies = 0, nsinks = 0;
  if (opt_field(L, 2, "body", LUA_TSTRING, "a string")) {
    nbodies++;
    t->body = lua_tolstring(L, -1, &t->body_len);
    lua_setfield(L, V, "body"); /* pinned for CURLOPT_POSTFIELDS */
  } else {
    lua_pop(L, 1);
  }
  const char *body_file = NULL;
  if (opt_field(L, 2, "body_file", LUA_TSTRING, "a string")) {
    nbodies++;
    body_file = path_option(L, "body_file");
  }
  lua_pop(L, 1); /* still referenced by req */
  if (opt_field(L, 2, "body_reader", LUA_TFUNCTION, "a function")) {
    nbodies++;
    t->has_reader = 1;
    lua_setfield(L, V, "reader");
  } else {
    lua_pop(L, 1);
  }
  if (opt_field(L, 2, "body_size", LUA_TNUMBER, "an integer")) {
    if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0)
      luaL_error(L, REQ_FN ": option 'body_size' must be a non-negative integer");
    if (!t->has_reader) luaL_error(L, REQ_FN ": option 'body_size' needs 'body_reader'");
    t->in_size = (curl_off_t)lua_tointeger(L, -1);
  }
  lua_pop(L, 1);
  if (nbodies > 1) luaL_error(L, REQ_FN ": give only one of 'body', 'body_file', 'body_reader'");
  curl_off_t part_len = -1; /* a part of body_file: body_offset, body_length */
  if (lua_getfield(L, 2, "body_offset") != LUA_TNIL || lua_getfield(L, 2, "body_length") != LUA_TNIL) {
    if (!body_file) luaL_error(L, REQ_FN ": options 'body_offset' and 'body_length' need 'body_file'");
    t->in_part = 1;
  }
  lua_settop(L, URL);
  t->in_offset = (curl_off_t)opt_count(L, "body_offset", 0);
  if (lua_getfield(L, 2, "body_length") != LUA_TNIL) part_len = (curl_off_t)opt_count(L, "body_length", 0);
  lua_pop(L, 1);

  if (opt_field(L, 2, "sink_file", LUA_TSTRING, "a string")) {
    nsinks++;
    t->sink_path = strdup(path_option(L, "sink_file"));
    if (!t->sink_path) luaL_error(L, REQ_FN ": out of memory");
  }
  lua_pop(L, 1);
  if (opt_field(L, 2, "sink", LUA_TFUNCTION, "a function")) {
    nsinks++;
    t->has_sink = 1;
    lua_setfield(L, V, "sink");
  } else {
    lua_pop(L, 1);
  }
  if (nsinks > 1) luaL_error(L, REQ_FN ": give only one of 'sink', 'sink_file'");
  if (opt_field(L, 2, "append", LUA_TBOOLEAN, "a boolean")) t->append = lua_toboolean(L, -1);
  lua_pop(L, 1);
  if (t->append && !t->sink_path) luaL_error(L, REQ_FN ": option 'append' needs 'sink_file'");
  t->range_from = (curl_off_t)opt_count(L, "range_from", 0);
  t->max_error_body = (size_t)opt_count(L, "max_error_body", (lua_Integer)t->max_error_body);
  t->max_body = (size_t)opt_count(L, "max_body", (lua_Integer)t->max_body);
  if (opt_field(L, 2, "progress", LUA_TFUNCTION, "a function")) {
    t->has_progress = 1;
    lua_setfield(L, V, "progress");
  } else {
    lua_pop(L, 1);
  }
  add_digest_list(L, "upload_digests", &t->up);
  add_digest_list(L, "download_digests", &t->down);
  /* large bodies are hashed on a worker thread, overlapping the hash with the transfer */
  ims_digests_background(&t->up);
  ims_digests_background(&t->down);

  if (opt_field(L, 2, "headers", LUA_TTABLE, "a table")) ims_headers_merge(L, SET, -1, REQ_FN, "headers");
  lua_pop(L, 1);
  run_header_hook(L, SET, METHOD, URL, OPTS);
  if (opt_field(L, 2, "sign", LUA_TTABLE, "a table"))
    sign_request(L, t, SET, lua_gettop(L), method, url, body_file || t->has_reader);
  lua_pop(L, 1);
  t->slist = ims_headers_slist(L, SET, REQ_FN);

  /* everything checked: now the resources */
  if (t->append && (t->range_from = hash_prefix(t, t->sink_path)) < 0) return transfer_fail(L, t), NULL;
  if (body_file) {
    struct stat st;
    t->in = fopen(body_file, "rb");
    if (!t->in || fstat(fileno(t->in), &st) != 0) {
      char msg[300];
      snprintf(msg, sizeof msg, "cannot read %s: %s", body_file, strerror(errno));
      ims_transfer_stop(t, "FILE", msg);
      return transfer_fail(L, t), NULL;
    }
    t->in_size = (curl_off_t)st.st_size;
    if (t->in_part) {
      if (t->in_offset > t->in_size || (part_len >= 0 && part_len > t->in_size - t->in_offset) ||
          fseeko(t->in, (off_t)t->in_offset, SEEK_SET) != 0) {
        char msg[300];
        snprintf(msg, sizeof msg, "%s is shorter than body_offset + body_length", body_file);
        ims_transfer_stop(t, "FILE", msg);
        return transfer_fail(L, t), NULL;
      }
      t->in_size = part_len >= 0 ? part_len : t->in_size - t->in_offset;
    }
  }
  if (t->body && t->up.n) ims_digests_update(&t->up, t->body, t->body_len);

  t->easy = s->nidle ? s->idle[--s->nidle] : curl_easy_init();
  if (!t->easy) luaL_error(L, REQ_FN ": out of memory");
  configure(L, s, t, OPTS, method, url, timeout, nbodies);
  if (curl_multi_add_handle(s->multi, t->easy) != CURLM_OK) {
    curl_easy_cleanup(t->easy);
    t->easy = NULL;
    luaL_error(L, REQ_FN ": cannot add the transfer to the engine");
  }
  /* running: anchored, listed, found by the callbacks */
  lua_pushvalue(L, T);
  t->self_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  t->s = s;
  t->state = XF_ACTIVE;
  t->next = s->active;
  s->active = t;
  s->nactive++;
  lua_settop(L, T);
  return t;
}
