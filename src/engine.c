/* ims.Session: core.session(opts); session:request(req) (blocking), session:submit(req) and
 * session:wait(timeout) (many at once), session:close(); transfer:result(), transfer:cancel().
 *
 * One curl multi handle owns every easy handle of the session: connections, DNS and TLS
 * sessions are shared, idle easy handles are pooled. The run loop below is the only place
 * libcurl is driven; a blocking request is a set of one transfer run to completion. */

/***
Sessions and transfers: `core.session`, `Session:request`, `Session:submit`, `Session:wait`,
`Session:close`, `Transfer:result`, `Transfer:cancel`.
@module ims.core
*/

#include "engine.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>

double ims_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

curl_socket_t ims_session_socket(ims_session *s, long port) {
  for (int i = 0; i < s->nsocks; i++) {
    if (s->socks[i].port < 0) { /* learnt once the socket is bound */
      struct sockaddr_storage a;
      socklen_t len = sizeof a;
      if (getsockname(s->socks[i].fd, (struct sockaddr *)&a, &len) == 0) {
        long p = a.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&a)->sin_port)
               : a.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&a)->sin6_port) : 0;
        if (p > 0) s->socks[i].port = p;
      }
    }
    if (s->socks[i].port == port) return s->socks[i].fd;
  }
  return CURL_SOCKET_BAD;
}

static ims_session *check_session(lua_State *L, const char *fn) {
  ims_session *s = luaL_checkudata(L, 1, IMS_SESSION_MT);
  if (!s->multi) luaL_error(L, "attempt to use a closed " IMS_SESSION_MT);
  if (s->busy) luaL_error(L, IMS_SESSION_MT " is busy: %s cannot be called from a callback of its own transfers", fn);
  return s;
}

/* ---- what libcurl wants watched ------------------------------------------------------------ */

/* libcurl names each socket it waits on and for what (CURLMOPT_SOCKETFUNCTION); the run loop
 * polls exactly those and tells libcurl which became ready, so a wake-up costs libcurl only the
 * transfers it concerns (curl_multi_perform looks at every transfer, a poll(2) each). Never
 * calls Lua. */
static int watch_socket(CURL *e, curl_socket_t fd, int what, void *ud, void *socketp) {
  ims_session *s = ud;
  (void)e;
  (void)socketp;
  int i = 0;
  while (i < s->nwatch && s->watch[i].fd != fd) i++;
  if (what == CURL_POLL_REMOVE) {
    if (i < s->nwatch) s->watch[i] = s->watch[--s->nwatch];
    return 0;
  }
  if (i == s->nwatch) {
    if (s->nwatch == s->cap_watch) {
      int cap = s->cap_watch ? 2 * s->cap_watch : 16;
      struct pollfd *w = realloc(s->watch, (size_t)cap * sizeof *w);
      if (!w) return -1; /* unwatched: its transfer ends by the stall limit or its timeout */
      s->watch = w;
      s->cap_watch = cap;
    }
    s->watch[s->nwatch++].fd = fd;
  }
  s->watch[i].events = (short)((what & CURL_POLL_IN ? POLLIN : 0) | (what & CURL_POLL_OUT ? POLLOUT : 0));
  s->watch[i].revents = 0;
  return 0;
}

/* When libcurl wants CURL_SOCKET_TIMEOUT handled (CURLMOPT_TIMERFUNCTION; -1: never). */
static int watch_timer(CURLM *m, long ms, void *ud) {
  ims_session *s = ud;
  (void)m;
  s->timer_at = ms < 0 ? HUGE_VAL : ims_now() + (double)ms / 1000;
  return 0;
}

/* ---- core.session(opts) ------------------------------------------------------------------- */

static double opt_seconds(lua_State *L, const char *fn, const char *k, double dflt) {
  double v = dflt;
  int t = lua_getfield(L, 1, k);
  if (t == LUA_TNUMBER) v = lua_tonumber(L, -1);
  else if (t != LUA_TNIL) luaL_error(L, "%s: option '%s' must be a number of seconds (got %s)", fn, k, luaL_typename(L, -1));
  if (!(v >= 0) || v > 1e9) luaL_error(L, "%s: option '%s' must be >= 0 and finite", fn, k);
  lua_pop(L, 1);
  return v;
}

static const char *const SESSION_KEYS[] = {"connect_timeout", "stall_timeout", "verify", "ca_file",
                                           "proxy", "user_agent", "header_hook", "max_body", NULL};

/***
Makes a session: one curl multi handle that runs every request of the session, alone
(`Session:request`) or many at once (`Session:submit`, `Session:wait`), sharing kept-alive
connections.
@function session
@tparam[opt] table opts `connect_timeout` (seconds, default 10), `stall_timeout` (abort when no
byte moved for this long, default 60; 0 = never), `verify` (TLS peer and host verification,
default `true`), `ca_file` (CA bundle path), `proxy` (proxy URL; `""` disables proxies from the
environment), `user_agent`, `header_hook` (`function(method, url, headers)` returning a table
of extra headers or `nil`), `max_body` (bytes a response body held in memory may have, default
64 MiB; more fails with `BODY_TOO_LARGE`)
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
  lua_pushnil(L);
  while (lua_next(L, 1)) {
    lua_pop(L, 1);
    int known = 0;
    for (int i = 0; SESSION_KEYS[i] && !known; i++)
      known = lua_type(L, -1) == LUA_TSTRING && strcmp(SESSION_KEYS[i], lua_tostring(L, -1)) == 0;
    if (!known) luaL_error(L, "%s: unknown option '%s'", fn, luaL_tolstring(L, -1, NULL));
  }
  double ct = opt_seconds(L, fn, "connect_timeout", 10);
  double st = opt_seconds(L, fn, "stall_timeout", 60);
  lua_Integer max_body = 64 << 20;
  if (lua_getfield(L, 1, "max_body") != LUA_TNIL) {
    if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0)
      luaL_error(L, "%s: option 'max_body' must be a non-negative integer", fn);
    max_body = lua_tointeger(L, -1);
  }
  lua_pop(L, 1);
  int verify = 1;
  int vt = lua_getfield(L, 1, "verify");
  if (vt == LUA_TBOOLEAN) verify = lua_toboolean(L, -1);
  else if (vt != LUA_TNIL) luaL_error(L, "%s: option 'verify' must be a boolean", fn);
  lua_pop(L, 1);
  /* the option table the requests read strings and the hook from */
  lua_createtable(L, 0, 4);
  static const char *const strs[] = {"ca_file", "proxy", "user_agent", NULL};
  for (int i = 0; strs[i]; i++) {
    int t = lua_getfield(L, 1, strs[i]);
    size_t n = 0;
    if (t != LUA_TNIL && t != LUA_TSTRING)
      luaL_error(L, "%s: option '%s' must be a string (got %s)", fn, strs[i], luaL_typename(L, -1));
    const char *v = t == LUA_TSTRING ? lua_tolstring(L, -1, &n) : NULL;
    if (v && strlen(v) != n) luaL_error(L, "%s: option '%s' must not contain NUL", fn, strs[i]);
    if (v && i == 2 && ims_header_unsafe(v, n))
      luaL_error(L, "%s: option 'user_agent' must not contain CR, LF or NUL", fn);
    lua_setfield(L, 2, strs[i]);
  }
  int ht = lua_getfield(L, 1, "header_hook");
  if (ht != LUA_TNIL && ht != LUA_TFUNCTION)
    luaL_error(L, "%s: option 'header_hook' must be a function (got %s)", fn, luaL_typename(L, -1));
  lua_setfield(L, 2, "header_hook");

  ims_session *s = lua_newuserdatauv(L, sizeof *s, 1);
  memset(s, 0, sizeof *s);
  s->connect_timeout_ms = (long)(ct * 1000);
  s->stall_s = (long)(st + 0.999);
  s->verify = verify;
  s->max_body = (size_t)max_body;
  luaL_setmetatable(L, IMS_SESSION_MT);
  lua_pushvalue(L, 2);
  lua_setiuservalue(L, -2, 1);
  s->multi = curl_multi_init();
  if (!s->multi) return luaL_error(L, "%s: curl_multi_init failed", fn);
  /* kept-alive connections for a burst of parallel calls, not only for the handles in use */
  curl_multi_setopt(s->multi, CURLMOPT_MAXCONNECTS, 64L);
  curl_multi_setopt(s->multi, CURLMOPT_SOCKETFUNCTION, watch_socket);
  curl_multi_setopt(s->multi, CURLMOPT_SOCKETDATA, (void *)s);
  curl_multi_setopt(s->multi, CURLMOPT_TIMERFUNCTION, watch_timer);
  curl_multi_setopt(s->multi, CURLMOPT_TIMERDATA, (void *)s);
  s->timer_at = HUGE_VAL;
  return 1;
}

/* ---- transfers ending --------------------------------------------------------------------- */

static void unlink_from(ims_transfer **head, ims_transfer *t) {
  for (ims_transfer **p = head; *p; p = &(*p)->next)
    if (*p == t) {
      *p = t->next;
      t->next = NULL;
      return;
    }
}

static void unanchor(lua_State *L, ims_transfer *t) {
  if (t->self_ref != LUA_NOREF) luaL_unref(L, LUA_REGISTRYINDEX, t->self_ref);
  t->self_ref = LUA_NOREF;
}

/* Takes the easy handle back from a transfer that leaves the multi handle (pooled for reuse). */
static void detach_easy(ims_session *s, ims_transfer *t) {
  if (!t->easy) return;
  curl_multi_remove_handle(s->multi, t->easy);
  if (s->nidle < IMS_IDLE_MAX) s->idle[s->nidle++] = t->easy;
  else curl_easy_cleanup(t->easy);
  t->easy = NULL;
}

static char *dup_info(CURL *e, CURLINFO what) {
  char *v = NULL;
  return curl_easy_getinfo(e, what, &v) == CURLE_OK && v ? strdup(v) : NULL;
}

static void keep_digests(ims_digests *ds, struct ims_hex *out, int *n) {
  *n = ds->n;
  for (int i = 0; i < ds->n; i++) {
    out[i].name = ds->names[i];
    if (ims_digests_hex(ds, i, out[i].hex)) out[i].hex[0] = '\0';
  }
}

/* A transfer libcurl is done with: its last steps (file closed, an empty body's file made, the
 * final progress call, digests finished), then out of the multi handle and into the done
 * queue (or back to its blocking caller). Runs between libcurl calls, never inside one. */
static void finish(lua_State *L, ims_session *s, ims_transfer *t, CURLcode code) {
  curl_easy_getinfo(t->easy, CURLINFO_NUM_CONNECTS, &t->connects);
  curl_easy_getinfo(t->easy, CURLINFO_TOTAL_TIME_T, &t->total_us);
  t->effective_url = dup_info(t->easy, CURLINFO_EFFECTIVE_URL);
  t->primary_ip = dup_info(t->easy, CURLINFO_PRIMARY_IP);
  detach_easy(s, t);
  if (t->fd >= 0) { /* close now: a failed close is a failed write */
    int rc = close(t->fd);
    t->fd = -1;
    if (rc != 0 && code == CURLE_OK) {
      char msg[300];
      snprintf(msg, sizeof msg, "cannot write %s: %s", t->sink_path, strerror(errno));
      ims_transfer_stop(t, "FILE", msg);
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
  if (code == CURLE_OK && t->has_progress && !t->raised) {
    s->busy = 1;
    s->L = L;
    if (ims_progress_call(t, 1) && !t->raised) code = CURLE_ABORTED_BY_CALLBACK;
    s->busy = 0;
  }
  if (code == CURLE_OK) {
    keep_digests(&t->up, t->up_hex, &t->n_up_hex);
    keep_digests(&t->down, t->down_hex, &t->n_down_hex);
  }
  t->code = code;
  ims_transfer_release(t);
  unlink_from(&s->active, t);
  s->nactive--;
  t->state = XF_DONE;
  if (t->blocking) { /* its caller holds it on the stack */
    unanchor(L, t);
    t->s = NULL;
  } else { /* queued for Session:wait, still anchored */
    if (s->done_tail) s->done_tail->next = t;
    else s->done = t;
    s->done_tail = t;
  }
}

/* One call into libcurl for a socket that is ready (ev: CURL_CSELECT_*; 0: let libcurl look)
 * or for its timeout (CURL_SOCKET_TIMEOUT); then the transfers it finished are finished. */
static void act(lua_State *L, ims_session *s, curl_socket_t fd, int ev) {
  int running = 0;
  s->busy = 1;
  s->L = L;
  curl_multi_socket_action(s->multi, fd, ev, &running);
  s->busy = 0;
  CURLMsg *m;
  int left;
  while ((m = curl_multi_info_read(s->multi, &left))) {
    if (m->msg != CURLMSG_DONE) continue;
    ims_transfer *t = NULL;
    curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&t);
    if (t && t->state == XF_ACTIVE) finish(L, s, t, m->data.result);
  }
}

/* Calls act for each socket of a snapshot of the watch list (act may change the list). */
static void act_all(lua_State *L, ims_session *s, int only_ready) {
  int n = 0;
  struct { curl_socket_t fd; int ev; } ready[s->nwatch > 0 ? s->nwatch : 1];
  for (int i = 0; i < s->nwatch; i++) {
    short r = s->watch[i].revents;
    int ev = (r & (POLLIN | POLLPRI | POLLHUP) ? CURL_CSELECT_IN : 0) |
             (r & POLLOUT ? CURL_CSELECT_OUT : 0) | (r & (POLLERR | POLLNVAL) ? CURL_CSELECT_ERR : 0);
    s->watch[i].revents = 0;
    if (ev || !only_ready) {
      ready[n].fd = s->watch[i].fd;
      ready[n++].ev = ev;
    }
  }
  for (int i = 0; i < n; i++) act(L, s, ready[i].fd, ready[i].ev);
}

/* The run loop: drives libcurl until `until` is done (a blocking request), or until the done
 * queue holds a transfer (Session:wait) and `linger` seconds more have passed or nothing else
 * runs, or `timeout` seconds pass (< 0: no limit). libcurl
 * runs only for the sockets that are ready and for its timers; besides, once a second it looks
 * at every transfer, so a stalled one meets its stall limit (checked by the progress callback,
 * which libcurl calls only when it runs the transfer). */
static void run(lua_State *L, ims_session *s, ims_transfer *until, double timeout, double linger) {
  double deadline = timeout >= 0 ? ims_now() + timeout : HUGE_VAL;
  int lingering = 0;
  for (;;) {
    double now = ims_now();
    if (now >= s->timer_at) {
      s->timer_at = HUGE_VAL;
      act(L, s, CURL_SOCKET_TIMEOUT, 0);
    }
    if (now >= s->sweep_at) {
      s->sweep_at = now + 1;
      act_all(L, s, 0);
    }
    if (until && until->state != XF_ACTIVE) return;
    if (!until && s->done) {
      if (s->nactive == 0 || !(linger > 0)) return;
      if (!lingering) { /* what ends meanwhile comes back with it: one wake-up of the caller */
        lingering = 1;
        if (ims_now() + linger < deadline) deadline = ims_now() + linger;
      }
    }
    now = ims_now();
    if (now >= deadline) return;
    double wake = s->timer_at < deadline ? s->timer_at : deadline;
    if (s->sweep_at < wake) wake = s->sweep_at;
    int ms = wake <= now ? 0 : (int)ceil((wake - now) * 1000);
    if (ms > 1000) ms = 1000;
    if (poll(s->watch, (nfds_t)s->nwatch, ms) > 0) act_all(L, s, 1);
  }
}

/* Hands the result of a done transfer to Lua (consuming it), or raises a callback's error. */
static int collect(lua_State *L, ims_transfer *t) {
  t->state = XF_COLLECTED;
  if (t->raised) {
    lua_getiuservalue(L, -1, 1);
    lua_getfield(L, -1, "err");
    ims_transfer_free(t);
    return lua_error(L);
  }
  int n = ims_push_result(L, t);
  ims_transfer_free(t);
  return n;
}

/* ---- Session methods ---------------------------------------------------------------------- */

/***
A session made by `session`: one curl multi handle running its requests, one at a time or
many at once, on kept-alive connections.
@type Session
*/

/***
Performs one HTTP request, to completion. Bodies stream in constant memory; digests are
computed while they stream. Response bodies of non-2xx statuses never reach `sink`/`sink_file`:
they are kept in `res.body` so the caller can build an error from them. Other transfers of the
session (`Session:submit`) move on while it runs.
@function Session:request
@tparam table req the request:

* `method`: `"GET"` (default), `"HEAD"`, `"PUT"`, `"POST"`, `"PATCH"`, `"DELETE"`, ... (upper case)
* `url`: absolute `http://` or `https://` URL (required)
* `headers`: `{name = value}`, values strings or numbers; a `false` value removes a header
  libcurl would add (`Expect = false`); one name given twice in different case raises
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
* `max_body`: bytes a body held in memory may have (default: the session's, 64 MiB); more fails
  with `BODY_TOO_LARGE`
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
`curl_code` (7), `message`, `uploaded`, `downloaded`, `time`, and `status`, `headers` when a
response had begun; timeouts are `OPERATION_TIMEDOUT`, a bad local file `FILE`, a
`sink`/`body_reader` that returned `nil, msg` `ABORTED_BY_CALLBACK`, a memory body over
`max_body` `BODY_TOO_LARGE`
@raise on misuse (wrong types, unknown keys, conflicting bodies or sinks, CR/LF/NUL in a header
or the URL, NUL in a path, use after close, a request started from inside a callback of the
session's transfers); an error raised by `body_reader`, `sink`, `progress` or `header_hook`
aborts the transfer, releases everything and is raised again with its original value
@usage
local res, err = s:request { method = "PUT", url = url .. "/v2/images/" .. id .. "/file",
  headers = { ["Content-Type"] = "application/octet-stream" }, body_file = "disk.qcow2",
  upload_digests = { "sha512" } }
if res then print(res.status, res.upload_digests.sha512) else print(err.code, err.message) end
*/
static int l_request(lua_State *L) {
  ims_session *s = check_session(L, "request");
  ims_transfer *t = ims_request_start(L, s, 1);
  if (!t) return 2;
  run(L, s, t, -1, 0);
  return collect(L, t);
}

/***
Starts a request without waiting for it: it runs while the session's other calls run
(`Session:wait`, `Session:request`).
@function Session:submit
@tparam table req as for `Session:request`
@treturn[1] Transfer the running transfer; `Session:wait` hands it back when it ends
@treturn[2] nil
@treturn[2] table `err` as for `Session:request` (an unreadable `body_file`, ...)
@raise on misuse, as `Session:request`
@usage
local a, b = s:submit { url = u1 }, s:submit { url = u2 }
repeat for _, t in ipairs(s:wait()) do print(t:result().status) end until s:pending() == 0
*/
static int l_submit(lua_State *L) {
  ims_session *s = check_session(L, "submit");
  return ims_request_start(L, s, 0) ? 1 : 2;
}

/***
Runs the session's transfers until at least one has ended, or `timeout` seconds pass, and
hands back the ones that ended (each once).
@function Session:wait
@tparam[opt] number timeout seconds (default: no limit; with nothing running, returns at once
unless a timeout is given: then it sleeps that long)
@tparam[opt] number linger once one has ended, seconds to go on while others run, so that those
ending meanwhile come back in the same list (default 0; `timeout` still bounds the call): many
answers arriving close together then cost the caller one wake-up, not one each
@treturn {Transfer,...} the transfers that ended, in the order they ended (maybe none)
@raise on misuse: a negative timeout, a closed session, a call from a transfer's callback
@usage for _, t in ipairs(s:wait(0.5)) do local res, err = t:result() end
*/
static int l_wait(lua_State *L) {
  ims_session *s = check_session(L, "wait");
  double timeout = -1, linger = 0;
  if (!lua_isnoneornil(L, 2)) {
    timeout = luaL_checknumber(L, 2);
    if (!(timeout >= 0) || timeout > 1e9) luaL_error(L, IMS_SESSION_MT ":wait: timeout must be >= 0 and finite");
  }
  if (!lua_isnoneornil(L, 3)) {
    linger = luaL_checknumber(L, 3);
    if (!(linger >= 0) || linger > 1e9) luaL_error(L, IMS_SESSION_MT ":wait: linger must be >= 0 and finite");
  }
  if (!s->done && (s->nactive > 0 || timeout >= 0)) {
    if (s->nactive == 0) { /* nothing to drive: a plain sleep */
      struct timespec ts = {(time_t)timeout, (long)((timeout - floor(timeout)) * 1e9)};
      while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
    } else {
      run(L, s, NULL, timeout, linger);
    }
  }
  lua_newtable(L);
  int i = 0;
  while (s->done) {
    ims_transfer *t = s->done;
    s->done = t->next;
    if (!s->done) s->done_tail = NULL;
    t->next = NULL;
    t->s = NULL;
    lua_rawgeti(L, LUA_REGISTRYINDEX, t->self_ref);
    lua_rawseti(L, -2, ++i);
    unanchor(L, t); /* the caller holds it now */
  }
  return 1;
}

/***
How many submitted transfers are running or ended but not yet handed out by `Session:wait`.
@function Session:pending
@treturn integer the count
@raise on a closed session
@usage while s:pending() > 0 do s:wait() end
*/
static int l_pending(lua_State *L) {
  ims_session *s = luaL_checkudata(L, 1, IMS_SESSION_MT);
  if (!s->multi) return luaL_error(L, "attempt to use a closed " IMS_SESSION_MT);
  int n = 0;
  for (ims_transfer *t = s->active; t; t = t->next) n += !t->blocking;
  for (ims_transfer *t = s->done; t; t = t->next) n++;
  lua_pushinteger(L, n);
  return 1;
}

/* Ends every transfer of a session that goes away: none is left in libcurl or anchored. */
static void session_free(lua_State *L, ims_session *s) {
  if (!s->multi) return;
  while (s->active) {
    ims_transfer *t = s->active;
    detach_easy(s, t);
    ims_transfer_release(t);
    s->active = t->next;
    t->next = NULL;
    t->code = CURLE_ABORTED_BY_CALLBACK;
    ims_transfer_stop(t, "CLOSED", "the session was closed");
    t->state = XF_DONE;
    t->s = NULL;
    unanchor(L, t);
  }
  while (s->done) {
    ims_transfer *t = s->done;
    s->done = t->next;
    t->next = NULL;
    t->s = NULL;
    unanchor(L, t);
  }
  s->done_tail = NULL;
  s->nactive = 0;
  for (int i = 0; i < s->nidle; i++) curl_easy_cleanup(s->idle[i]);
  s->nidle = 0;
  curl_multi_cleanup(s->multi); /* closes the cached connections (close_socket) */
  s->multi = NULL;
  free(s->watch);
  s->watch = NULL;
  s->nwatch = s->cap_watch = 0;
}

/***
Closes the session: running transfers are stopped (`CLOSED`), connections closed. Idempotent;
also `__gc` and `__close`. A closed session raises when used (`attempt to use a closed
ims.Session`).
@function Session:close
@raise when called from inside a callback of one of the session's transfers
@usage s:close(); s:close() -- fine
*/
static int l_close(lua_State *L) {
  ims_session *s = luaL_checkudata(L, 1, IMS_SESSION_MT);
  if (s->busy) return luaL_error(L, IMS_SESSION_MT ": close called from inside a callback of its own transfers");
  session_free(L, s);
  return 0;
}

static int l_gc(lua_State *L) {
  session_free(L, luaL_checkudata(L, 1, IMS_SESSION_MT));
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
  if (s->multi) lua_pushfstring(L, IMS_SESSION_MT " (%p)", (void *)s);
  else lua_pushliteral(L, IMS_SESSION_MT " (closed)");
  return 1;
}

/* ---- Transfer methods --------------------------------------------------------------------- */

/***
A request started by `Session:submit`.
@type Transfer
*/

/***
The result of a transfer that has ended (handed back by `Session:wait`), once.
@function Transfer:result
@treturn[1] table `res`, as `Session:request` returns it
@treturn[2] nil
@treturn[2] table `err`, as `Session:request` returns it (`CANCELLED` when cancelled)
@raise when the transfer is still running or its result was taken; an error raised by one of
its callbacks is raised again here
@usage local res, err = t:result()
*/
static int l_result(lua_State *L) {
  ims_transfer *t = luaL_checkudata(L, 1, IMS_TRANSFER_MT);
  lua_settop(L, 1);
  if (t->state == XF_ACTIVE || t->s) luaL_error(L, IMS_TRANSFER_MT ":result: the transfer is still running");
  if (t->state != XF_DONE) luaL_error(L, IMS_TRANSFER_MT ":result: the result was already taken");
  return collect(L, t);
}

/***
Stops a running transfer (its result is then `nil, {code = "CANCELLED"}`); an ended one is
left as it is. Idempotent.
@function Transfer:cancel
@treturn boolean whether it was running
@raise from inside a callback of the session's transfers
@usage t:cancel()
*/
static int l_cancel(lua_State *L) {
  ims_transfer *t = luaL_checkudata(L, 1, IMS_TRANSFER_MT);
  ims_session *s = t->s;
  if (s && s->busy) return luaL_error(L, IMS_TRANSFER_MT ":cancel: called from a transfer's callback");
  int was = t->state == XF_ACTIVE;
  if (was && s) {
    detach_easy(s, t);
    ims_transfer_release(t);
    unlink_from(&s->active, t);
    s->nactive--;
    t->code = CURLE_ABORTED_BY_CALLBACK;
    ims_transfer_stop(t, "CANCELLED", "the transfer was cancelled");
    t->state = XF_DONE;
  } else if (s && t->state == XF_DONE) { /* ended, still queued: the caller no longer wants it */
    unlink_from(&s->done, t);
    s->done_tail = NULL;
    for (ims_transfer *q = s->done; q; q = q->next) s->done_tail = q;
  }
  if (s) {
    t->s = NULL;
    unanchor(L, t);
  }
  lua_pushboolean(L, was);
  return 1;
}

static int l_transfer_gc(lua_State *L) {
  ims_transfer *t = luaL_checkudata(L, 1, IMS_TRANSFER_MT);
  ims_session *s = t->s;
  if (s && s->multi) { /* only at lua_close: a listed transfer is anchored */
    if (t->state == XF_ACTIVE) {
      detach_easy(s, t);
      unlink_from(&s->active, t);
      s->nactive--;
    } else {
      unlink_from(&s->done, t);
      s->done_tail = NULL;
      for (ims_transfer *q = s->done; q; q = q->next) s->done_tail = q;
    }
  } else if (t->easy) { /* configured, never started */
    curl_easy_cleanup(t->easy);
  }
  t->easy = NULL;
  t->s = NULL;
  ims_transfer_free(t);
  return 0;
}

void ims_session_open(lua_State *L) {
  static const luaL_Reg methods[] = {{"request", l_request}, {"submit", l_submit},
                                     {"wait", l_wait},       {"pending", l_pending},
                                     {"close", l_close},     {NULL, NULL}};
  static const luaL_Reg meta[] = {
    {"__gc", l_gc}, {"__close", l_gc}, {"__tostring", l_tostring}, {NULL, NULL}};
  luaL_newmetatable(L, IMS_SESSION_MT);
  luaL_setfuncs(L, meta, 0);
  luaL_newlib(L, methods);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  static const luaL_Reg tmethods[] = {{"result", l_result}, {"cancel", l_cancel}, {NULL, NULL}};
  luaL_newmetatable(L, IMS_TRANSFER_MT);
  lua_pushcfunction(L, l_transfer_gc);
  lua_setfield(L, -2, "__gc");
  luaL_newlib(L, tmethods);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
}
