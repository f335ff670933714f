/* libFuzzer: response header parsing (src/transfer.c ims_cb_header) and the resumed-download
 * checks on Content-Range, fed with fuzzed header lines as libcurl would deliver them. */
#include <stdlib.h>
#include <string.h>

#include "../src/session.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
  ims_transfer t;
  memset(&t, 0, sizeof t);
  t.fd = -1;
  t.range_from = 100;
  t.sink_path = "/dev/null";
  /* split into lines, each given to the header callback with its CRLF */
  size_t start = 0;
  for (size_t i = 0; i <= size; i++) {
    if (i == size || data[i] == '\n') {
      ims_cb_header((char *)data + start, 1, i - start + (i < size), &t);
      start = i + 1;
    }
  }
  /* a 2xx body chunk runs the Range checks (resume) on what was parsed; writes go to /dev/null */
  if (t.status >= 200 && t.status <= 299) ims_cb_write("x", 1, 1, &t);
  ims_transfer_release(&t);
  ims_buf_free(&t.resp);
  ims_buf_free(&t.headers);
  ims_buf_free(&t.reason);
  return 0;
}
