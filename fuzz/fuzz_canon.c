/* libFuzzer: the signer's URI and query canonicalisation (src/sign.c) on untrusted input.
 * Checks, besides memory safety: only unreserved bytes and %XX escapes come out, the URI ends
 * with '/', and canonicalising a canonical URI or query changes nothing. */
#include <stdlib.h>
#include <string.h>

#include "../src/sign.h"

static int canonical_bytes(const ims_buf *b) {
  for (size_t i = 0; i < b->len; i++) {
    unsigned char c = (unsigned char)b->p[i];
    if (c == '%') { /* an escape: two upper-case hex digits */
      if (i + 2 >= b->len) return 0;
      for (int k = 1; k <= 2; k++) {
        char h = b->p[i + k];
        if (!((h >= '0' && h <= '9') || (h >= 'A' && h <= 'F'))) return 0;
      }
      i += 2;
    } else if (!(c == '/' || c == '&' || c == '=' || c == '-' || c == '_' || c == '.' || c == '~' ||
                 (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) {
      return 0;
    }
  }
  return 1;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
  const char *s = (const char *)data;
  const char *q = memchr(s, '?', size);
  size_t plen = q ? (size_t)(q - s) : size, qlen = q ? size - plen - 1 : 0;
  ims_buf uri = {0}, uri2 = {0}, query = {0}, query2 = {0};
  if (ims_canon_uri(&uri, s, plen) == 0) {
    if (!uri.len || uri.p[uri.len - 1] != '/' || !canonical_bytes(&uri)) abort();
    if (ims_canon_uri(&uri2, uri.p, uri.len) == 0 &&
        (uri2.len != uri.len || memcmp(uri2.p, uri.p, uri.len) != 0))
      abort();
  }
  if (q && ims_canon_query(&query, q + 1, qlen) == 0) {
    if (!canonical_bytes(&query)) abort();
    if (ims_canon_query(&query2, query.p ? query.p : "", query.len) == 0 &&
        (query2.len != query.len || (query.len && memcmp(query2.p, query.p, query.len) != 0)))
      abort();
  }
  ims_buf_free(&uri);
  ims_buf_free(&uri2);
  ims_buf_free(&query);
  ims_buf_free(&query2);
  return 0;
}
