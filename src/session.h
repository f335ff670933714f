/* The ims.Session userdata: one libcurl easy handle and the state of the request it runs. */
#ifndef IMS_SESSION_H
#define IMS_SESSION_H

#include <stdio.h>

#include <curl/curl.h>
#include <lua.h>

#include "digest.h"

#define IMS_SESSION_MT "ims.Session"

typedef struct ims_buf {
  char *p;
  size_t len, cap;
} ims_buf;

/* Per-request state. It lives inside the session, not on the C stack, so anything it owns
 * (header list, files, buffers, digest contexts) is released by the next request or by
 * close/__gc even if a Lua error or an allocation failure interrupts the request. */
typedef struct ims_transfer {
  lua_State *L;
  int err_slot;      /* stack slot holding a Lua callback's error value (nil: none) */
  int chunk_slot;    /* stack slot pinning the reader's current chunk */
  char abort_msg[256];
  const char *abort_code; /* why the transfer was stopped from our side (NULL: it was not) */
  int raised;        /* a callback raised; its error value sits in err_slot */

  /* request body */
  const char *body;  /* string body (pinned on the stack) */
  size_t body_len;
  FILE *in;          /* body_file */
  curl_off_t in_size;
  int reader_idx;    /* stack index of body_reader, 0 when none */
  const char *chunk; /* reader chunk not yet handed to libcurl */
  size_t chunk_len, chunk_pos;
  int reader_done;

  /* response */
  int status;        /* of the current header block (100 Continue blocks are replaced) */
  ims_buf reason;
  ims_buf scratch[3]; /* signing: canonical request, string to sign, Authorization */
  ims_buf headers;   /* raw header lines of the final block */
  ims_buf resp;      /* memory body, or a non-2xx body when streaming to a sink */
  size_t max_error_body;
  int sink_idx;      /* stack index of the sink function, 0 when none */
  const char *sink_path;
  int fd;            /* sink_file, opened at the first 2xx body byte; -1 when closed */
  int sink_opened;
  int append;
  curl_off_t range_from;
  int range_checked; /* 206 Content-Range verified / 200 restart handled */
  int restarted;     /* the server ignored Range and sent the whole body */

  ims_digests up, down;
  curl_off_t uploaded, downloaded;

  long stall_s;      /* abort when no byte moved for this long (0: never) */
  double last_move;  /* when a byte last moved */
  curl_off_t moved;  /* bytes moved either way, as libcurl counts them */

  int progress_idx;  /* stack index of the progress function, 0 when none */
  double progress_last;
  curl_off_t p_dl, p_ul;            /* counts last reported */
  curl_off_t cur_ul, cur_dlt, cur_ult; /* latest counts from libcurl */

  struct curl_slist *slist;
  char errbuf[CURL_ERROR_SIZE];
  curl_socket_t *sock; /* the session's connection socket, for TCP_QUICKACK */
} ims_transfer;

typedef struct ims_session {
  CURL *curl;
  int busy;
  long connect_timeout_ms;
  long stall_s;
  int verify;
  curl_socket_t sock; /* the socket of the connection last opened (CURLOPT_SOCKOPTFUNCTION) */
  ims_transfer t;
} ims_session;

/* session.c */
int ims_session_new(lua_State *L);
void ims_session_open(lua_State *L);

/* poll.c */
int ims_session_poll(lua_State *L);

/* transfer.c: libcurl callbacks and per-request resources */
void ims_transfer_release(ims_transfer *t);
size_t ims_cb_read(char *buf, size_t size, size_t nitems, void *ud);
int ims_cb_seek(void *ud, curl_off_t offset, int origin);
size_t ims_cb_write(char *data, size_t size, size_t nmemb, void *ud);
size_t ims_cb_header(char *data, size_t size, size_t nitems, void *ud);
int ims_cb_sockopt(void *ud, curl_socket_t fd, curlsocktype purpose);
int ims_cb_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                    curl_off_t ulnow);
int ims_progress_call(ims_transfer *t, int final);
int ims_open_sink(ims_transfer *t);
int ims_buf_add(ims_buf *b, const char *p, size_t n);
void ims_buf_free(ims_buf *b);
/* 1 when a header line holds CR, LF or NUL (it would split into more lines on the wire) */
int ims_header_unsafe(const char *s, size_t n);

/* core.c */
const char *ims_curl_code_name(CURLcode code);

#endif
