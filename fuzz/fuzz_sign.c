/* libFuzzer: a whole signature (src/sign.c ims_sign) over a fuzzed URL, method and headers.
 * Input: NUL-separated fields "method\0url\0name\0value\0name\0value..." (missing fields are
 * empty). Checks memory safety and that a successful signature has the documented shape. */
#include <stdlib.h>
#include <string.h>

#include "../src/sign.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
  char *buf = malloc(size + 1);
  if (!buf) return 0;
  memcpy(buf, data, size);
  buf[size] = '\0';
  const char *field[34];
  int n = 0;
  for (char *p = buf; n < 34 && p <= buf + size; p += strlen(p) + 1) field[n++] = p;
  ims_hdr hdrs[17];
  int nh = 0;
  hdrs[nh].name = "X-Sdk-Date";
  hdrs[nh++].value = "20240101T000000Z";
  for (int i = 2; i + 1 < n && nh < 17; i += 2) {
    hdrs[nh].name = field[i];
    hdrs[nh++].value = field[i + 1];
  }
  ims_buf canon = {0}, sts = {0}, auth = {0};
  char err[160];
  const char *signed_names = "x-sdk-date";
  if (ims_sign("AK", "SK", 2, n > 0 ? field[0] : "GET", n > 1 ? field[1] : "", hdrs, nh, signed_names,
               "UNSIGNED-PAYLOAD", &canon, &sts, &auth, err, sizeof err) == 0) {
    static const char prefix[] = "SDK-HMAC-SHA256 Access=AK, SignedHeaders=x-sdk-date, Signature=";
    if (auth.len != sizeof prefix - 1 + 64 || memcmp(auth.p, prefix, sizeof prefix - 1) != 0) abort();
    if (sts.len != 16 + 16 + 1 + 64) abort();
  }
  ims_buf_free(&canon);
  ims_buf_free(&sts);
  ims_buf_free(&auth);
  free(buf);
  return 0;
}
