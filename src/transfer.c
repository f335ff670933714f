/* libcurl callbacks of one transfer: bodies in, bodies out, headers, progress.
 *
 * Every call into Lua from here goes through lua_pcall on a small C trampoline, on the thread
 * running the engine (ims_session.L), so nothing that can raise runs outside a protected call
 * and no Lua error ever unwinds through libcurl. A raised error is parked in the transfer's
 * uservalue ("err") and the transfer is aborted; the engine hands it back once libcurl has
 * returned. */
#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <lauxlib.h>

int ims_buf_add(ims_buf *b, const char *p, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + n + 1) cap *= 2;
    char *np = realloc(b->p, cap);
    if (!np) return -1;
    b->p = np;
    b->cap = cap;
  }
  if (n) memcpy(b->p + b->len, p, n); /* p may be NULL when n is 0 */
  b->len += n;
  b->p[b->len] = '\0';
  return 0;
}

void ims_buf_free(ims_buf *b) {
  free(b->p);
  b->p = NULL;
  b->len = b->cap = 0;
}

/* Files, header list and digest contexts: what a transfer holds only while it runs. */
void ims_transfer_release(ims_transfer *t) {
  if (t->in) fclose(t->in);
  t->in = NULL;
  if (t->fd >= 0) close(t->fd);
  t->fd = -1;
  curl_slist_free_all(t->slist);
  t->slist = NULL;
  ims_digests_free(&t->up);
  ims_digests_free(&t->down);
}

/* Everything, buffers included (the transfer is collected or the session closed). */
void ims_transfer_free(ims_transfer *t) {
  ims_transfer_release(t);
  ims_buf_free(&t->resp);
  ims_buf_free(&t->headers);
  ims_buf_free(&t->reason);
  free(t->sink_path);
  free(t->effective_url);
  free(t->primary_ip);
  t->sink_path = t->effective_url = t->primary_ip = NULL;
}

int ims_transfer_stop(ims_transfer *t, const char *code, const char *msg) {
  t->abort_code = code;
  snprintf(t->abort_msg, sizeof t->abort_msg, "%s", msg);
  return -1;
}
#define stop ims_transfer_stop

/* ---- calling Lua ---------------------------------------------------------------------------- */

/* Pushes field k of the transfer's uservalue table (the transfer is anchored while active). */
static int push_value(lua_State *L, ims_transfer *t, const char *k) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, t->self_ref);
  lua_getiuservalue(L, -1, 1);
  lua_remove(L, -2);
  int tp = lua_getfield(L, -1, k);
  lua_remove(L, -2);
  return tp;
}

/* Stores the value on top of the stack as field k of the uservalue table (pops it). */
static void set_value(lua_State *L, ims_transfer *t, const char *k) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, t->self_ref);
  lua_getiuservalue(L, -1, 1);
  lua_insert(L, -3);
  lua_pop(L, 1);
  lua_setfield(L, -2, k);
  lua_pop(L, 1);
}

/* After a lua_pcall of a callback that returned (ok, msg): park errors, honour nil/false, msg. */
static int callback_result(ims_transfer *t, int status, const char *what) {
  lua_State *L = t->s->L;
  if (status != LUA_OK) {
    set_value(L, t, "err");
    t->raised = 1;
    t->abort_code = "ABORTED_BY_CALLBACK";
    return -1;
  }
  int abort = lua_type(L, -2) == LUA_TBOOLEAN ? !lua_toboolean(L, -2)
                                              : (lua_isnil(L, -2) && lua_type(L, -1) == LUA_TSTRING);
  if (abort) {
    char msg[sizeof t->abort_msg];
    snprintf(msg, sizeof msg, "%s: %s", what,
             lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "aborted");
    lua_pop(L, 2);
    return stop(t, "ABORTED_BY_CALLBACK", msg);
  }
  lua_pop(L, 2);
  return 0;
}

/* (fn, lightuserdata, len) -> fn(string of len bytes) */
static int call_with_chunk(lua_State *L) {
  const char *p = lua_touserdata(L, 2);
  size_t n = (size_t)lua_tointeger(L, 3);
  lua_settop(L, 1);
  lua_pushlstring(L, p, n);
  lua_call(L, 1, 2);
  return 2;
}

/* (fn, args...) -> fn(args...) (two results) */
static int call_plain(lua_State *L) {
  lua_call(L, lua_gettop(L) - 1, 2);
  return 2;
}

/* Pushes the trampoline and the callback `k`; -1 when the stack cannot grow. */
static int prepare_call(ims_transfer *t, lua_CFunction tramp, const char *k) {
  lua_State *L = t->s->L;
  if (!lua_checkstack(L, 10)) return stop(t, "OUT_OF_MEMORY", "Lua stack overflow");
  lua_pushcfunction(L, tramp);
  push_value(L, t, k);
  return 0;
}

/* ---- request body ------------------------------------------------------------------------- */

static int next_chunk(ims_transfer *t) {
  lua_State *L = t->s->L;
  if (prepare_call(t, call_plain, "reader")) return -1;
  int st = lua_pcall(L, 1, 2, 0);
  if (st == LUA_OK && lua_type(L, -2) == LUA_TSTRING) {
    lua_pop(L, 1);
    t->chunk = lua_tolstring(L, -1, &t->chunk_len);
    t->chunk_pos = 0;
    set_value(L, t, "chunk"); /* pinned while libcurl copies it out */
    return 0;
  }
  if (st == LUA_OK && lua_isnil(L, -2) && lua_isnil(L, -1)) { /* end of body */
    lua_pop(L, 2);
    t->reader_done = 1;
    return 0;
  }
  if (st == LUA_OK && !lua_isnil(L, -2)) {
    lua_pop(L, 2);
    return stop(t, "ABORTED_BY_CALLBACK", "body_reader must return a string or nil");
  }
  return callback_result(t, st, "body_reader");
}

size_t ims_cb_read(char *buf, size_t size, size_t nitems, void *ud) {
  ims_transfer *t = ud;
  size_t cap = size * nitems, n = 0;
  if (t->in) {
    if (t->in_part && (curl_off_t)cap > t->in_size - t->uploaded) cap = (size_t)(t->in_size - t->uploaded);
    n = cap ? fread(buf, 1, cap, t->in) : 0;
    if (n == 0 && ferror(t->in)) {
      stop(t, "FILE", "cannot read body_file");
      return CURL_READFUNC_ABORT;
    }
  } else if (t->has_reader) {
    while (t->chunk_pos >= t->chunk_len && !t->reader_done)
      if (next_chunk(t)) return CURL_READFUNC_ABORT;
    if (!t->reader_done) {
      n = t->chunk_len - t->chunk_pos;
      if (n > cap) n = cap;
      memcpy(buf, t->chunk + t->chunk_pos, n);
      t->chunk_pos += n;
    }
  }
  if (t->in_size >= 0 && (n ? t->uploaded + (curl_off_t)n > t->in_size : t->uploaded < t->in_size)) {
    char msg[128];
    snprintf(msg, sizeof msg, "request body %s its declared size %" CURL_FORMAT_CURL_OFF_T,
             n ? "exceeds" : "ended before", t->in_size);
    stop(t, "BODY_SIZE", msg);
    return CURL_READFUNC_ABORT;
  }
  ims_digests_update(&t->up, buf, n);
  t->uploaded += (curl_off_t)n;
  /* as for downloads: at every 1 % of a known size, whatever libcurl's loop turns are */
  if (t->has_progress && t->in_size >= 100 && t->uploaded - t->p_ul >= t->in_size / 100) {
    t->cur_ul = t->p_ul = t->uploaded;
    t->cur_ult = t->in_size;
    t->progress_last = ims_now();
    if (ims_progress_call(t, 0)) return CURL_READFUNC_ABORT;
  }
  return n;
}

/* libcurl rewinds a body to resend it (a kept-alive connection that turned out closed). */
int ims_cb_seek(void *ud, curl_off_t offset, int origin) {
  ims_transfer *t = ud;
  if (!t->in || origin != SEEK_SET || offset != 0) return CURL_SEEKFUNC_CANTSEEK;
  if (fseeko(t->in, (off_t)t->in_offset, SEEK_SET) != 0 || ims_digests_reset(&t->up) != 0) return CURL_SEEKFUNC_FAIL;
  t->uploaded = 0;
  return CURL_SEEKFUNC_OK;
}

/* ---- response ----------------------------------------------------------------------------- */

/* Servers that write a response's headers and body separately (Glance's eventlet) meet the
 * Nagle algorithm: the body waits for our ACK of the headers, which a kept-alive connection
 * delays ~40 ms. Asking for an immediate ACK when headers arrive removes that stall
 * (listing 1000 images: 0.54 s -> ~0.3 s in bench/). The socket is found by the connection's
 * local port, which libcurl reports for reused connections too. */
static void quickack(ims_transfer *t) {
#ifdef TCP_QUICKACK
  long port = -1;
  if (!t->s || !t->easy || curl_easy_getinfo(t->easy, CURLINFO_LOCAL_PORT, &port) != CURLE_OK) return;
  curl_socket_t fd = ims_session_socket(t->s, port);
  int one = 1;
  if (fd != CURL_SOCKET_BAD) (void)setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
#else
  (void)t;
#endif
}

size_t ims_cb_header(char *data, size_t size, size_t nitems, void *ud) {
  ims_transfer *t = ud;
  size_t n = size * nitems, end = n;
  while (end > 0 && (data[end - 1] == '\r' || data[end - 1] == '\n')) end--;
  if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) { /* a new block: 1xx blocks are replaced */
    size_t i = 5;
    quickack(t);
    t->headers.len = t->reason.len = 0;
    t->status = 0;
    while (i < end && data[i] != ' ') i++;
    while (i < end && data[i] == ' ') i++;
    /* a status has three digits: more would overflow (found by fuzz/fuzz_headers) */
    for (int k = 0; k < 3 && i < end && data[i] >= '0' && data[i] <= '9'; k++)
      t->status = t->status * 10 + (data[i++] - '0');
    while (i < end && data[i] == ' ') i++;
    if (ims_buf_add(&t->reason, data + i, end - i)) return stop(t, "OUT_OF_MEMORY", "out of memory"), 0;
    return n;
  }
  if (end == 0) { /* the blank line ending the block */
    quickack(t);
    return n;
  }
  /* a header block is small; one that is not is an attack on our memory */
  if (t->headers.len + end > (size_t)1 << 20)
    return stop(t, "HEADERS_TOO_LARGE", "response headers exceed 1 MiB"), 0;
  if (ims_buf_add(&t->headers, data, end) || ims_buf_add(&t->headers, "\n", 1))
    return stop(t, "OUT_OF_MEMORY", "out of memory"), 0;
  return n;
}

static int is_2xx(int status) { return status >= 200 && status <= 299; }

/* Value of a header of the current block (case-insensitive name), copied into out. */
static int header_value(ims_transfer *t, const char *name, char *out, size_t outlen) {
  size_t nl = strlen(name);
  const char *p = t->headers.p, *e = p ? p + t->headers.len : NULL;
  while (p && p < e) {
    const char *eol = memchr(p, '\n', (size_t)(e - p));
    if (!eol) eol = e;
    if ((size_t)(eol - p) > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
      const char *v = p + nl + 1;
      while (v < eol && (*v == ' ' || *v == '\t')) v++;
      size_t vl = (size_t)(eol - v) < outlen - 1 ? (size_t)(eol - v) : outlen - 1;
      memcpy(out, v, vl);
      out[vl] = '\0';
      return 0;
    }
    p = eol + 1;
  }
  return -1;
}

/* A resumed download: a 206 must start where the file ends; a 200 restarts from byte 0. */
static int check_range(ims_transfer *t) {
  t->range_checked = 1;
  if (t->range_from <= 0) return 0;
  if (t->status == 206) {
    char v[128];
    long long first = -1;
    if (header_value(t, "content-range", v, sizeof v) == 0) sscanf(v, "bytes %lld-", &first);
    if (first != (long long)t->range_from) {
      char msg[200];
      snprintf(msg, sizeof msg, "server resumed at byte %lld, expected %lld", first,
               (long long)t->range_from);
      return stop(t, "RANGE_MISMATCH", msg);
    }
    return 0;
  }
  t->restarted = 1;
  return ims_digests_reset(&t->down) ? stop(t, "OUT_OF_MEMORY", "digest reset failed") : 0;
}

int ims_open_sink(ims_transfer *t) {
  off_t start = t->status == 206 ? (off_t)t->range_from : 0;
  char msg[256];
  t->sink_opened = 1;
  t->fd = open(t->sink_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  struct stat st;
  int bad = t->fd < 0 || fstat(t->fd, &st) != 0;
  /* Truncate only when the size is wrong: on ext4 a truncate to 0, even of an empty file, arms
   * auto_da_alloc, and the close then writes the whole file back (0.6 s for 1 GiB here). */
  if (!bad && st.st_size != start) bad = ftruncate(t->fd, start) != 0;
  if (bad || lseek(t->fd, start, SEEK_SET) < 0) {
    snprintf(msg, sizeof msg, "cannot write %s: %s", t->sink_path, strerror(errno));
    return stop(t, "FILE", msg);
  }
  return 0;
}

/* A progress call at every 1 % of a known download total, from the write path: libcurl calls
 * its progress function once per loop turn, and a fast download fills many buffers a turn. */
static int progress_by_bytes(ims_transfer *t) {
  if (!t->has_progress) return 0;
  if (t->cur_dlt <= 0) { /* the headers are in: their length is the total until libcurl says */
    curl_off_t cl = -1;
    if (curl_easy_getinfo(t->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) == CURLE_OK && cl > 0)
      t->cur_dlt = cl;
  }
  if (t->cur_dlt < 100 || t->downloaded - t->p_dl < t->cur_dlt / 100) return 0;
  t->progress_last = ims_now();
  t->p_dl = t->downloaded;
  return ims_progress_call(t, 0);
}

size_t ims_cb_write(char *data, size_t size, size_t nmemb, void *ud) {
  ims_transfer *t = ud;
  size_t n = size * nmemb;
  int streaming = t->has_sink || t->sink_path;
  if (!streaming || !is_2xx(t->status)) {
    if (!streaming) { /* a memory body: bounded, whatever the server sends */
      if (t->resp.len + n > t->max_body) {
        char msg[128];
        snprintf(msg, sizeof msg, "response body exceeds max_body (%zu bytes)", t->max_body);
        return stop(t, "BODY_TOO_LARGE", msg), 0;
      }
      if (ims_buf_add(&t->resp, data, n)) return stop(t, "OUT_OF_MEMORY", "out of memory"), 0;
      return n;
    }
    size_t keep = n; /* an error body beside a sink: its start is enough to explain it */
    if (t->resp.len + keep > t->max_error_body)
      keep = t->resp.len < t->max_error_body ? t->max_error_body - t->resp.len : 0;
    if (keep && ims_buf_add(&t->resp, data, keep)) return stop(t, "OUT_OF_MEMORY", "out of memory"), 0;
    return n;
  }
  if (!t->range_checked && check_range(t)) return 0;
  if (t->sink_path && !t->sink_opened && ims_open_sink(t)) return 0;
  ims_digests_update(&t->down, data, n);
  t->downloaded += (curl_off_t)n;
  if (t->fd >= 0) {
    for (size_t done = 0; done < n;) {
      ssize_t w = write(t->fd, data + done, n - done);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) {
        char msg[256];
        snprintf(msg, sizeof msg, "cannot write %s: %s", t->sink_path, strerror(errno));
        return stop(t, "FILE", msg), 0;
      }
      done += (size_t)w;
    }
    return progress_by_bytes(t) ? 0 : n;
  }
  lua_State *L = t->s->L;
  if (prepare_call(t, call_with_chunk, "sink")) return 0;
  lua_pushlightuserdata(L, data);
  lua_pushinteger(L, (lua_Integer)n);
  if (callback_result(t, lua_pcall(L, 3, 2, 0), "sink")) return 0;
  return progress_by_bytes(t) ? 0 : n;
}

/* ---- progress ----------------------------------------------------------------------------- */

/* Calls progress(dl_now, dl_total, ul_now, ul_total); final = once, with the end counts. */
int ims_progress_call(ims_transfer *t, int final) {
  lua_State *L = t->s->L;
  curl_off_t dl = t->downloaded, ul = final ? t->uploaded : t->cur_ul;
  curl_off_t dlt = t->cur_dlt, ult = t->cur_ult;
  if (final) {
    if (dlt < dl) dlt = dl;
    if (ult < ul) ult = ul;
    /* the end, once: not again when the last call already said exactly this */
    if (t->p_calls && t->p_last[0] == dl && t->p_last[1] == dlt && t->p_last[2] == ul && t->p_last[3] == ult)
      return 0;
  }
  t->p_calls++;
  t->p_last[0] = dl, t->p_last[1] = dlt, t->p_last[2] = ul, t->p_last[3] = ult;
  if (prepare_call(t, call_plain, "progress")) return -1;
  lua_pushinteger(L, (lua_Integer)dl);
  lua_pushinteger(L, (lua_Integer)dlt);
  lua_pushinteger(L, (lua_Integer)ul);
  lua_pushinteger(L, (lua_Integer)ult);
  return callback_result(t, lua_pcall(L, 5, 2, 0), "progress");
}

int ims_cb_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                    curl_off_t ulnow) {
  ims_transfer *t = ud;
  /* libcurl's low-speed limit averages over seconds, so a burst hides a stall: watch for
   * "no byte moved for stall_s" ourselves (the engine runs libcurl at least once a second) */
  double now = ims_now();
  if (dlnow + ulnow != t->moved || t->last_move == 0) {
    t->moved = dlnow + ulnow;
    t->last_move = now;
  } else if (t->stall_s > 0 && now - t->last_move >= (double)t->stall_s) {
    char msg[128];
    snprintf(msg, sizeof msg, "Stalled: no data moved for %ld seconds", t->stall_s);
    stop(t, "OPERATION_TIMEDOUT", msg);
    return 1;
  }
  if (!t->has_progress) return 0;
  /* the download total is only meaningful for the body we keep (not a 1xx/error body) */
  t->cur_dlt = is_2xx(t->status) ? dltotal : 0;
  t->cur_ul = ulnow;
  t->cur_ult = ultotal;
  if (t->downloaded == t->p_dl && ulnow == t->p_ul) return 0;
  /* ~20 calls a second, and besides at every 1 % of a known total, so that a fast transfer
   * still draws a smooth bar (a 50 MiB upload on loopback gave 4 calls with time alone) */
  curl_off_t total = ultotal > 0 ? ultotal : t->cur_dlt, done = ultotal > 0 ? ulnow : t->downloaded;
  curl_off_t last = ultotal > 0 ? t->p_ul : t->p_dl;
  if (now - t->progress_last < 0.05 && !(total >= 100 && done - last >= total / 100)) return 0;
  t->progress_last = now;
  t->p_dl = t->downloaded;
  t->p_ul = ulnow;
  return ims_progress_call(t, 0) ? 1 : 0;
}
