/* SDK-HMAC-SHA256 request signing (Huawei API Gateway AK/SK), see docs/core.md. */
#ifndef IMS_SIGN_H
#define IMS_SIGN_H

#include <stddef.h>

#include "engine.h"

typedef struct ims_hdr {
  const char *name, *value; /* value untrimmed, as it will be sent */
} ims_hdr;

/* Appends s percent-encoded: every byte but A-Z a-z 0-9 - _ . ~ becomes %XX (upper case). */
int ims_uri_escape(ims_buf *out, const char *s, size_t n);
/* Plain %XX decoding ('+' stays '+'; a malformed escape stays as it is). */
int ims_uri_unescape(ims_buf *out, const char *s, size_t n);
/* Canonical URI: the path decoded, each segment encoded, always ending in '/'. */
int ims_canon_uri(ims_buf *out, const char *path, size_t n);
/* Canonical query: pairs decoded with plain %XX rules, sorted by key then value, encoded. */
int ims_canon_query(ims_buf *out, const char *query, size_t n);

/* Splits an http(s) URL: netloc (host[:port]), path, query (without '?'); fragment dropped.
 * Returns -1 when it is not an absolute http(s) URL. */
int ims_split_url(const char *url, const char **netloc, size_t *netloc_len, const char **path,
                  size_t *path_len, const char **query, size_t *query_len);

/* Builds the canonical request into `canon`, the string to sign into `sts` and the
 * Authorization header value into `auth`. `signed_names` is the ';'-joined sorted lower-case
 * list; every name in it must be among hdrs (case-insensitive). Returns 0, or -1 with a
 * message in err. */
int ims_sign(const char *ak, const char *sk, size_t sk_len, const char *method, const char *url,
             const ims_hdr *hdrs, int nhdrs, const char *signed_names, const char *payload_hash,
             ims_buf *canon, ims_buf *sts, ims_buf *auth, char *err, size_t errlen);

/* What to sign a header set for. */
typedef struct ims_sign_in {
  const char *ak, *sk;
  size_t sk_len;
  const char *method, *url;
  const char *body;  /* a string body (hashed unless UNSIGNED-PAYLOAD applies) */
  size_t body_len;
  int streamed;      /* a file or reader body: UNSIGNED-PAYLOAD */
  const char *date;  /* X-Sdk-Date to set (replacing); NULL: keep the set's, else now */
  int signed_idx;    /* stack index of a signed_headers override; 0: the default policy */
  const char *security_token; /* OBS scheme: sent as x-obs-security-token (signed) */
} ims_sign_in;

/* The one signer (ims.sign, every signed request): one rule set. Adds Host (when absent),
 * X-Sdk-Date and, for a streamed or non-JSON body, X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD to
 * the header set at `set` (see engine.h), signs it and sets Authorization. bufs[3] receive
 * the canonical request, the string to sign and the Authorization value (ims_sign_scratch).
 * Pushes the ';'-joined signed names. Raises "fn: ..." on misuse. */
void ims_sign_set(lua_State *L, int set, const ims_sign_in *in, ims_buf *bufs, const char *fn);
/* OBS's scheme (sign_obs.c): sets Date (in->date, an HTTP date) unless x-obs-date is given,
 * x-obs-security-token, sends an absent Content-Type as absent, and sets Authorization:
 * OBS AK:signature. bufs[1] receives the string to sign, bufs[2] the Authorization value. */
void ims_sign_obs_set(lua_State *L, int set, const ims_sign_in *in, ims_buf *bufs, const char *fn);
/* Appends OBS's canonical resource of an http(s) URL: its path as given ("/" when empty), then
 * "?" and the query's OBS sub-resources sorted by name ("name" or "name=decoded value").
 * Returns 0, -1 when it is not an http(s) URL, -2 when out of memory. */
int ims_obs_resource(ims_buf *b, const char *url);
/* An HTTP date (RFC 9110 IMF-fixdate) of now + offset seconds. */
void ims_http_date(double offset, char out[40]);
/* Pushes a userdata holding 3 buffers freed by __gc. */
ims_buf *ims_sign_scratch(lua_State *L);

/* luaopen helper: core.sign */
int ims_l_sign(lua_State *L);

#endif
