/* The request engine: one curl multi handle per session owns every easy handle. A blocking
 * request is a set of one transfer run to completion; Session:submit/wait run many at once.
 *
 *   engine.c    the session userdata, the run loop, the transfer userdata's lifecycle
 *   request.c   a Lua request table -> a configured transfer (checks everything before I/O)
 *   headers.c   the one header path: header sets out, response header blocks in
 *   transfer.c  libcurl callbacks of one transfer (bodies, sinks, headers, progress)
 *   result.c    a finished transfer -> res / err tables
 *   sign.c      the signer (ims.sign and every signed request) */
#ifndef IMS_ENGINE_H
#define IMS_ENGINE_H

#include <stdio.h>

#include <curl/curl.h>
#include <poll.h>
#include <lua.h>

#include "digest.h"

#define IMS_SESSION_MT "ims.Session"
#define IMS_TRANSFER_MT "ims.Transfer"

typedef struct ims_buf {
  char *p;
  size_t len, cap;
} ims_buf;

typedef struct ims_session ims_session;

enum { XF_NEW, XF_ACTIVE, XF_DONE, XF_COLLECTED };

/* One transfer. The userdata holds every resource it owns (files, buffers, header list,
 * digest contexts), so a raise at any point leaks nothing: __gc releases them. Its Lua values
 * (string body, reader, sink, progress, the reader's current chunk, a callback's parked
 * error) live in its uservalue table; while active it is anchored in the registry. */
typedef struct ims_transfer {
  ims_session *s;      /* the engine running it (NULL once finished or the session closed) */
  CURL *easy;          /* while active */
  struct ims_transfer *next; /* in the session's active or done list */
  int state;
  int blocking;        /* Session:request's own: never handed out by Session:wait */
  int self_ref;        /* registry anchor while active or queued (LUA_NOREF otherwise) */
  CURLcode code;       /* how it ended */

  char abort_msg[256];
  const char *abort_code; /* why we stopped it (NULL: we did not) */
  int raised;          /* a callback raised; its error is the uservalue's "err" */

  /* request body */
  const char *body;    /* string body (pinned by the uservalue's "body") */
  size_t body_len;
  FILE *in;            /* body_file */
  curl_off_t in_size;
  curl_off_t in_offset; /* body_offset: where in body_file the body starts */
  int in_part;         /* body_offset/body_length given: send exactly in_size bytes */
  curl_off_t p_last[4]; /* the counts the last progress call reported */
  int p_calls;
  int has_reader;
  const char *chunk;   /* reader chunk not yet handed to libcurl (pinned: "chunk") */
  size_t chunk_len, chunk_pos;
  int reader_done;

  /* response */
  int status;          /* of the current header block (1xx blocks are replaced) */
  ims_buf reason;
  ims_buf headers;     /* raw header lines of the final block */
  ims_buf resp;        /* memory body, or a non-2xx body when streaming to a sink */
  size_t max_body;     /* bytes a memory body may hold */
  size_t max_error_body; /* bytes of a non-2xx body kept when streaming */
  int has_sink;
  char *sink_path;
  int fd;              /* sink_file, opened at the first 2xx body byte; -1 when closed */
  int sink_opened;
  int append;
  curl_off_t range_from;
  int range_checked;
  int restarted;

  ims_digests up, down;
  curl_off_t uploaded, downloaded;

  long stall_s;        /* abort when no byte moved for this long (0: never) */
  double last_move;
  curl_off_t moved;

  int has_progress;
  double progress_last;
  curl_off_t p_dl, p_ul;
  curl_off_t cur_ul, cur_dlt, cur_ult;

  struct curl_slist *slist;
  char errbuf[CURL_ERROR_SIZE];

  /* finished digests, computed when the transfer ends (its hashing threads are gone then) */
  struct ims_hex {
    const char *name;
    char hex[129];
  } up_hex[IMS_MAX_DIGESTS], down_hex[IMS_MAX_DIGESTS];
  int n_up_hex, n_down_hex;

  /* kept from the easy handle when the transfer ends */
  long connects;
  curl_off_t total_us;
  char *effective_url, *primary_ip;
} ims_transfer;

#define IMS_IDLE_MAX 16
#define IMS_SOCKS_MAX 64

struct ims_session {
  CURLM *multi;
  int busy;            /* inside libcurl or a transfer's final callback: no re-entry */
  lua_State *L;        /* the thread running the engine now: callbacks call Lua on it */
  long connect_timeout_ms;
  long stall_s;
  int verify;
  size_t max_body;
  ims_transfer *active, *done, *done_tail;
  int nactive;
  CURL *idle[IMS_IDLE_MAX];
  int nidle;
  /* open sockets and their local ports, for TCP_QUICKACK on a reused connection */
  struct { curl_socket_t fd; long port; } socks[IMS_SOCKS_MAX];
  int nsocks;
  /* what libcurl asks the run loop to watch (CURLMOPT_SOCKETFUNCTION, _TIMERFUNCTION) */
  struct pollfd *watch;
  int nwatch, cap_watch;
  double timer_at;     /* when libcurl wants its timeout handled (HUGE_VAL: never) */
  double sweep_at;     /* the next look at every transfer, for stall limits */
};

/* engine.c */
int ims_session_new(lua_State *L);
void ims_session_open(lua_State *L);
double ims_now(void);
curl_socket_t ims_session_socket(ims_session *s, long local_port);

/* request.c: reads the request table at index 2 into a new transfer (pushed) and adds it to
 * the session's multi handle; raises on misuse; returns NULL with (nil, err) pushed instead
 * of the transfer when a local file cannot be read */
ims_transfer *ims_request_start(lua_State *L, ims_session *s, int blocking);

/* result.c */
int ims_push_result(lua_State *L, ims_transfer *t); /* res | nil, err: 1 or 2 values */

/* headers.c: a header set is a Lua table, lower-case name -> "Name: value" line ("Name:"
 * removes a header libcurl would add, "Name;" sends it empty) */
void ims_headers_merge(lua_State *L, int set, int src, const char *fn, const char *origin);
void ims_headers_put(lua_State *L, int set, const char *name, const char *value, int replace);
const char *ims_headers_value(lua_State *L, int set, const char *lname); /* NULL: absent */
void ims_headers_push_plain(lua_State *L, int set); /* {Name = value} */
struct curl_slist *ims_headers_slist(lua_State *L, int set, const char *fn);
void ims_headers_push_response(lua_State *L, const char *p, size_t len);
/* 1 when a header line holds CR, LF or NUL (it would split into more lines on the wire) */
int ims_header_unsafe(const char *s, size_t n);

/* transfer.c: libcurl callbacks and per-transfer resources */
void ims_transfer_release(ims_transfer *t);
void ims_transfer_free(ims_transfer *t);
size_t ims_cb_read(char *buf, size_t size, size_t nitems, void *ud);
int ims_cb_seek(void *ud, curl_off_t offset, int origin);
size_t ims_cb_write(char *data, size_t size, size_t nmemb, void *ud);
size_t ims_cb_header(char *data, size_t size, size_t nitems, void *ud);
int ims_cb_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                    curl_off_t ulnow);
int ims_progress_call(ims_transfer *t, int final);
int ims_open_sink(ims_transfer *t);
int ims_transfer_stop(ims_transfer *t, const char *code, const char *msg);
int ims_buf_add(ims_buf *b, const char *p, size_t n);
void ims_buf_free(ims_buf *b);

/* core.c */
const char *ims_curl_code_name(CURLcode code);

#endif
