/* session:poll(spec): many GET requests polled on one curl multi handle, each on its own
 * schedule (first delay, then backoff from interval to max_interval with jitter), within one
 * deadline. Lua gives meaning through two functions called between transfers, never inside
 * a libcurl callback: prepare(i) -> url, headers and decide(i, res, err) -> true (finished) |
 * seconds (poll again after that long) | nil (poll again after the next backoff step), and
 * optionally {[k] = seconds}: poll other waiting jobs sooner.
 * Everything allocated lives in a "poller" userdata anchored on the stack, whose __gc frees it,
 * so a raise from prepare/decide (re-raised after cleanup) cannot leak handles. */

/***
Job polling: `Session:poll`.
@module ims.core
*/

/***
A session made by `session`: one libcurl easy handle (its connection cache is kept between
requests), used by one request at a time; `Session:poll` polls many requests on a curl multi
handle of its own.
@type Session
*/

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>

#include "session.h"

#define POLL_FN "ims.Session:poll"
#define POLLER_MT "ims.Poller"
#define MAX_BODY (1 << 20) /* a job document is small; a huge body is cut, not buffered */

typedef struct slot {
  CURL *easy;
  int job;              /* index (0-based) of the job in flight here, -1 when free */
  int status;
  ims_buf body, headers;
  struct curl_slist *slist;
  char errbuf[CURL_ERROR_SIZE];
} slot;

typedef struct poller {
  CURLM *multi;
  slot *slots;
  int nslots;
  int njobs;
  double *next_at, *interval;
  char *state;          /* 0 waiting, 1 in flight, 2 finished */
  unsigned long long rng;
} poller;

static void poller_free(poller *p) {
  for (int i = 0; p->slots && i < p->nslots; i++) {
    slot *s = &p->slots[i];
    if (s->easy) {
      if (p->multi) curl_multi_remove_handle(p->multi, s->easy);
      curl_easy_cleanup(s->easy);
    }
    curl_slist_free_all(s->slist);
    ims_buf_free(&s->body);
    ims_buf_free(&s->headers);
  }
  free(p->slots);
  free(p->next_at);
  free(p->interval);
  free(p->state);
  if (p->multi) curl_multi_cleanup(p->multi);
  memset(p, 0, sizeof *p);
}

static int poller_gc(lua_State *L) {
  poller_free(luaL_checkudata(L, 1, POLLER_MT));
  return 0;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Uniform in [0.75, 1.25): jitter keeps hundreds of jobs from polling in lockstep. */
static double jitter(poller *p) {
  p->rng ^= p->rng << 13;
  p->rng ^= p->rng >> 7;
  p->rng ^= p->rng << 17;
  return 0.75 + (double)(p->rng % 1000000) / 2e6;
}

static size_t on_body(char *d, size_t size, size_t n, void *ud) {
  slot *s = ud;
  size_t len = size * n, keep = len;
  if (s->body.len + keep > MAX_BODY) keep = s->body.len < MAX_BODY ? MAX_BODY - s->body.len : 0;
  if (keep && ims_buf_add(&s->body, d, keep)) return 0;
  return len;
}

static size_t on_header(char *d, size_t size, size_t n, void *ud) {
  slot *s = ud;
  size_t len = size * n, end = len;
  while (end && (d[end - 1] == '\r' || d[end - 1] == '\n')) end--;
  if (len >= 5 && memcmp(d, "HTTP/", 5) == 0) {
    size_t i = 5;
    s->headers.len = 0;
    s->status = 0;
    while (i < end && d[i] != ' ') i++;
    while (i < end && d[i] == ' ') i++;
    for (int k = 0; k < 3 && i < end && d[i] >= '0' && d[i] <= '9'; k++)  /* 3 digits: no overflow */
      s->status = s->status * 10 + (d[i++] - '0');
    return len;
  }
  if (end && (ims_buf_add(&s->headers, d, end) || ims_buf_add(&s->headers, "\n", 1))) return 0;
  return len;
}

static double opt_num(lua_State *L, const char *k, double dflt) {
  int t = lua_getfield(L, 2, k);
  double v = dflt;
  if (t == LUA_TNUMBER) v = lua_tonumber(L, -1);
  else if (t != LUA_TNIL) luaL_error(L, POLL_FN ": option '%s' must be a number", k);
  lua_pop(L, 1);
  if (!(v >= 0)) luaL_error(L, POLL_FN ": option '%s' must be >= 0", k);
  return v;
}

/* Pushes the headers of a finished slot as a table (lower-case names). */
static void push_slot_headers(lua_State *L, slot *s) {
  lua_newtable(L);
  const char *p = s->headers.p, *e = p ? p + s->headers.len : NULL;
  while (p && p < e) {
    const char *eol = memchr(p, '\n', (size_t)(e - p));
    const char *colon = memchr(p, ':', (size_t)(eol - p));
    if (colon) {
      luaL_Buffer b;
      luaL_buffinit(L, &b);
      for (const char *c = p; c < colon; c++) luaL_addchar(&b, (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c));
      luaL_pushresult(&b);
      const char *v = colon + 1;
      while (v < eol && (*v == ' ' || *v == '\t')) v++;
      lua_pushlstring(L, v, (size_t)(eol - v));
      lua_rawset(L, -3);
    }
    p = eol + 1;
  }
}

/* (fn, args...) -> fn(args...) with 2 results, under lua_pcall */
static int call2(lua_State *L) {
  lua_call(L, lua_gettop(L) - 1, 2);
  return 2;
}

enum { P_SELF = 1, P_SPEC, P_PREPARE, P_DECIDE, P_POLLER, P_ERR };

/* Starts job j on slot s: prepare(j) gives its URL and headers. Returns 0, or -1 when
 * prepare raised (its error is in P_ERR). */
static int start(lua_State *L, ims_session *se, poller *p, slot *s, int j, double timeout) {
  lua_pushcfunction(L, call2);
  lua_pushvalue(L, P_PREPARE);
  lua_pushinteger(L, j + 1);
  if (lua_pcall(L, 2, 2, 0) != LUA_OK) {
    lua_replace(L, P_ERR);
    return -1;
  }
  if (lua_type(L, -2) != LUA_TSTRING) {
    lua_pushfstring(L, POLL_FN ": prepare must return a URL string (got %s)", luaL_typename(L, -2));
    lua_replace(L, P_ERR);
    lua_pop(L, 2);
    return -1;
  }
  if (!s->easy && !(s->easy = curl_easy_init())) luaL_error(L, POLL_FN ": out of memory");
  CURL *e = s->easy;
  curl_easy_reset(e);
  curl_slist_free_all(s->slist);
  s->slist = NULL;
  s->body.len = s->headers.len = 0;
  s->status = 0;
  s->errbuf[0] = '\0';
  if (lua_type(L, -1) == LUA_TTABLE) {
    lua_pushnil(L);
    while (lua_next(L, -2)) {
      if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TSTRING) {
        lua_pushfstring(L, "%s: %s", lua_tostring(L, -2), lua_tostring(L, -1));
        size_t ll;
        const char *line = lua_tolstring(L, -1, &ll);
        /* %s stops at a NUL: compare lengths, then look for CR/LF */
        if (ll != lua_rawlen(L, -3) + 2 + lua_rawlen(L, -2) || ims_header_unsafe(line, ll))
          luaL_error(L, POLL_FN ": header '%s' must not contain CR, LF or NUL", lua_tostring(L, -3));
        struct curl_slist *n = curl_slist_append(s->slist, lua_tostring(L, -1));
        if (!n) luaL_error(L, POLL_FN ": out of memory");
        s->slist = n;
        lua_pop(L, 1);
      }
      lua_pop(L, 1);
    }
  }
  curl_easy_setopt(e, CURLOPT_URL, lua_tostring(L, -2));
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, s->slist);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, s);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, s);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, s->errbuf);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, se->connect_timeout_ms);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(timeout * 1000) + 1);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, se->verify ? 1L : 0L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, se->verify ? 2L : 0L);
  lua_getiuservalue(L, P_SELF, 1);
  if (lua_getfield(L, -1, "ca_file") == LUA_TSTRING) curl_easy_setopt(e, CURLOPT_CAINFO, lua_tostring(L, -1));
  if (lua_getfield(L, -2, "proxy") == LUA_TSTRING) curl_easy_setopt(e, CURLOPT_PROXY, lua_tostring(L, -1));
  if (lua_getfield(L, -3, "user_agent") == LUA_TSTRING) curl_easy_setopt(e, CURLOPT_USERAGENT, lua_tostring(L, -1));
  lua_pop(L, 6);
  if (curl_multi_add_handle(p->multi, e) != CURLM_OK) luaL_error(L, POLL_FN ": cannot add a transfer");
  s->job = j;
  p->state[j] = 1;
  return 0;
}

/* decide's second result {[k] = seconds}: poll waiting job k no later than that from now, and
 * back off from the start again if it is still running then (the hint was a guess). Jobs in
 * flight or finished, and keys that are not job indexes, are left alone. */
static void pull_forward(poller *p, lua_State *L, double now, double initial_interval) {
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    if (lua_isinteger(L, -2) && lua_isnumber(L, -1)) {
      lua_Integer k = lua_tointeger(L, -2);
      double at = now + fmax(0, lua_tonumber(L, -1));
      if (k >= 1 && k <= p->njobs && p->state[k - 1] == 0 && at < p->next_at[k - 1]) {
        p->next_at[k - 1] = at;
        p->interval[k - 1] = initial_interval;
      }
    }
    lua_pop(L, 1);
  }
}

/* A finished transfer: decide(i, res, err). Returns 0, or -1 when decide raised. */
static int finish(lua_State *L, poller *p, slot *s, CURLcode code, double interval,
                  double max_interval) {
  int j = s->job;
  curl_multi_remove_handle(p->multi, s->easy);
  s->job = -1;
  lua_pushcfunction(L, call2);
  lua_pushvalue(L, P_DECIDE);
  lua_pushinteger(L, j + 1);
  curl_off_t took_us = 0; /* how long the poll took, for the caller's log */
  curl_easy_getinfo(s->easy, CURLINFO_TOTAL_TIME_T, &took_us);
  if (code == CURLE_OK) {
    lua_createtable(L, 0, 4);
    lua_pushinteger(L, s->status);
    lua_setfield(L, -2, "status");
    lua_pushnumber(L, (double)took_us / 1e6);
    lua_setfield(L, -2, "time");
    lua_pushlstring(L, s->body.p ? s->body.p : "", s->body.len);
    lua_setfield(L, -2, "body");
    push_slot_headers(L, s);
    lua_setfield(L, -2, "headers");
    lua_pushnil(L);
  } else {
    lua_pushnil(L);
    lua_createtable(L, 0, 3);
    lua_pushstring(L, ims_curl_code_name(code));
    lua_setfield(L, -2, "code");
    lua_pushinteger(L, code);
    lua_setfield(L, -2, "curl_code");
    lua_pushstring(L, s->errbuf[0] ? s->errbuf : curl_easy_strerror(code));
    lua_setfield(L, -2, "message");
    lua_pushnumber(L, (double)took_us / 1e6);
    lua_setfield(L, -2, "time");
  }
  if (lua_pcall(L, 4, 2, 0) != LUA_OK) {
    lua_replace(L, P_ERR);
    p->state[j] = 0;
    return -1;
  }
  double now = now_s();
  if (lua_type(L, -1) == LUA_TTABLE) pull_forward(p, L, now, interval);
  if (lua_toboolean(L, -2) && !lua_isnumber(L, -2)) {
    p->state[j] = 2;
  } else {
    p->state[j] = 0;
    if (lua_isnumber(L, -2)) {
      p->next_at[j] = now + lua_tonumber(L, -2);
    } else {
      p->next_at[j] = now + p->interval[j] * jitter(p);
      p->interval[j] = fmin(p->interval[j] * 1.5, max_interval);
    }
  }
  lua_pop(L, 2);
  return 0;
}

/***
Polls many GET requests on one curl multi handle (one thread, kept-alive connections), each on
its own schedule, within one deadline. Job `i` is first polled `delay` seconds after the start;
then `decide(i, res, err)` answers `true` (finished), a number (poll again after that many
seconds: `Retry-After`) or `nil`/`false` (poll again after the next backoff step: `interval`
growing ×1.5 up to `max_interval`, each ±25 % jitter). A second result `{[k] = seconds}` pulls
waiting job `k` forward to at most that many seconds from now (its backoff starts again from
`interval`), e.g. when one job's end says others like it are about to end. `prepare` and
`decide` run between transfers, never inside a libcurl callback.
@function Session:poll
@tparam table spec `count` (number of jobs, required),
`prepare = function(i) return url, headers end` (required; builds each request anew, so tokens
and signatures are fresh),
`decide = function(i, res, err)` (required; `res = {status, headers, body, time}` or
`err = {code, curl_code, message, time}`), `delay` (default `interval`), `interval` (default 2),
`max_interval` (default 10), `timeout` (default 1200), `max_concurrent` (default 16),
`request_timeout` (default 30)
@treturn table `{requests = n, pending = {indexes not finished by the deadline}}`
@raise on misuse (an unknown key, a missing `count`/`prepare`/`decide`, a closed session); an
error raised by `prepare` or `decide` is raised again after every handle is released. Failed
polls are given to `decide`, so there is no `nil, err` form.
@usage
local r = s:poll { count = #urls, interval = 2, max_interval = 10, timeout = 600,
  prepare = function(i) return urls[i], { Accept = "application/json" } end,
  decide = function(i, res, err) return res and res.status == 200 end }
print(r.requests, #r.pending)
*/
int ims_session_poll(lua_State *L) {
  ims_session *se = luaL_checkudata(L, 1, IMS_SESSION_MT);
  if (!se->curl) return luaL_error(L, "attempt to use a closed " IMS_SESSION_MT);
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  static const char *const keys[] = {"count", "prepare", "decide", "delay", "interval", "max_interval",
                                     "timeout", "max_concurrent", "request_timeout", NULL};
  lua_pushnil(L);
  while (lua_next(L, 2)) {
    lua_pop(L, 1);
    int known = 0;
    for (int i = 0; keys[i] && !known; i++)
      known = lua_type(L, -1) == LUA_TSTRING && strcmp(keys[i], lua_tostring(L, -1)) == 0;
    if (!known) luaL_error(L, POLL_FN ": unknown option '%s'", luaL_tolstring(L, -1, NULL));
  }
  if (lua_getfield(L, 2, "count") != LUA_TNUMBER || !lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0)
    luaL_error(L, POLL_FN ": option 'count' must be a non-negative integer");
  lua_Integer njobs = lua_tointeger(L, -1);
  lua_pop(L, 1);
  if (lua_getfield(L, 2, "prepare") != LUA_TFUNCTION) luaL_error(L, POLL_FN ": option 'prepare' must be a function");
  if (lua_getfield(L, 2, "decide") != LUA_TFUNCTION) luaL_error(L, POLL_FN ": option 'decide' must be a function");
  double interval = opt_num(L, "interval", 2), max_interval = opt_num(L, "max_interval", 10);
  double delay = opt_num(L, "delay", interval), timeout = opt_num(L, "timeout", 1200);
  double request_timeout = opt_num(L, "request_timeout", 30);
  double conc = opt_num(L, "max_concurrent", 16);
  if (max_interval < interval) max_interval = interval;
  int nslots = conc < 1 ? 1 : (conc > 256 ? 256 : (int)conc);
  if (njobs < nslots) nslots = njobs ? (int)njobs : 1;
  if (njobs > 1000000) luaL_error(L, POLL_FN ": too many jobs");

  poller *p = lua_newuserdatauv(L, sizeof *p, 0); /* P_POLLER */
  memset(p, 0, sizeof *p);
  if (luaL_newmetatable(L, POLLER_MT)) {
    lua_pushcfunction(L, poller_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  lua_pushnil(L); /* P_ERR */
  p->multi = curl_multi_init();
  p->slots = calloc((size_t)nslots, sizeof *p->slots);
  p->next_at = calloc((size_t)njobs + 1, sizeof *p->next_at);
  p->interval = calloc((size_t)njobs + 1, sizeof *p->interval);
  p->state = calloc((size_t)njobs + 1, 1);
  if (!p->multi || !p->slots || !p->next_at || !p->interval || !p->state) luaL_error(L, POLL_FN ": out of memory");
  p->nslots = nslots;
  p->njobs = (int)njobs;
  p->rng = (unsigned long long)time(NULL) * 2654435761ULL + (unsigned long long)(size_t)p;
  if (!p->rng) p->rng = 88172645463325252ULL;
  for (int i = 0; i < nslots; i++) p->slots[i].job = -1;
  double t0 = now_s(), deadline = t0 + timeout;
  for (int j = 0; j < p->njobs; j++) {
    p->next_at[j] = t0 + delay;
    p->interval[j] = interval;
  }

  int requests = 0, failed = 0;
  for (;;) {
    double now = now_s();
    int pending = 0, in_flight = 0;
    double next_due = deadline;
    for (int j = 0; j < p->njobs; j++) {
      if (p->state[j] == 2) continue;
      pending++;
      if (p->state[j] == 1) in_flight++;
      else if (p->next_at[j] < next_due) next_due = p->next_at[j];
    }
    if (!pending || now >= deadline) break;
    /* start what is due, as slots allow */
    for (int j = 0; j < p->njobs && !failed; j++) {
      if (p->state[j] != 0 || p->next_at[j] > now || p->next_at[j] >= deadline) continue;
      slot *s = NULL;
      for (int k = 0; k < nslots && !s; k++)
        if (p->slots[k].job < 0) s = &p->slots[k];
      if (!s) break;
      double left = deadline - now;
      if (start(L, se, p, s, j, left < request_timeout ? left : request_timeout)) failed = 1;
      else requests++, in_flight++;
    }
    if (failed) break;
    int running = 0;
    curl_multi_perform(p->multi, &running);
    CURLMsg *m;
    int left_msgs;
    while (!failed && (m = curl_multi_info_read(p->multi, &left_msgs))) {
      if (m->msg != CURLMSG_DONE) continue;
      for (int k = 0; k < nslots; k++)
        if (p->slots[k].easy == m->easy_handle && p->slots[k].job >= 0) {
          if (finish(L, p, &p->slots[k], m->data.result, interval, max_interval)) failed = 1;
          break;
        }
    }
    if (failed) break;
    /* sleep until the next poll is due (decide just rescheduled some) or a transfer moves */
    now = now_s();
    next_due = deadline;
    pending = 0;
    int busy = 0;
    for (int k = 0; k < nslots; k++) busy += p->slots[k].job >= 0;
    for (int j = 0; j < p->njobs; j++) {
      pending += p->state[j] != 2;
      /* with every slot busy a due job waits for a transfer to end: no spinning */
      if (busy < nslots && p->state[j] == 0 && p->next_at[j] < next_due) next_due = p->next_at[j];
    }
    if (!pending) break;
    double wait = (running ? fmin(next_due, now + 1.0) : next_due) - now;
    if (wait > deadline - now) wait = deadline - now;
    if (wait > 0) curl_multi_poll(p->multi, NULL, 0, (int)(wait * 1000) + 1, NULL);
  }
  if (failed) {
    lua_pushvalue(L, P_ERR);
    poller_free(p);
    return lua_error(L);
  }
  /* result: requests made, and the (1-based) indexes still not finished */
  lua_createtable(L, 0, 2);
  lua_pushinteger(L, requests);
  lua_setfield(L, -2, "requests");
  lua_newtable(L);
  for (int j = 0, n = 0; j < p->njobs; j++)
    if (p->state[j] != 2) {
      lua_pushinteger(L, j + 1);
      lua_rawseti(L, -2, ++n);
    }
  lua_setfield(L, -2, "pending");
  poller_free(p);
  return 1;
}
