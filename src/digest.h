/* Streaming digests (MD5, SHA-1, SHA-256, SHA-512) over OpenSSL's EVP interface. */
#ifndef IMS_DIGEST_H
#define IMS_DIGEST_H

#include <stddef.h>

#define IMS_MAX_DIGESTS 4

typedef struct ims_digests {
  int n;
  const char *names[IMS_MAX_DIGESTS]; /* static strings from the known-name table */
  void *ctx[IMS_MAX_DIGESTS];         /* EVP_MD_CTX *, opaque here to keep OpenSSL out of headers */
} ims_digests;

/* Returns the canonical static name for a digest name, or NULL when unknown. */
const char *ims_digest_name(const char *name);
/* Adds one digest; returns 0, or -1 with a message in err (unknown, duplicate, too many, OOM). */
int ims_digests_add(ims_digests *ds, const char *name, char *err, size_t errlen);
void ims_digests_update(ims_digests *ds, const void *data, size_t len);
/* Restarts every digest from empty input (a rewound upload, a restarted download). */
int ims_digests_reset(ims_digests *ds);
/* Finishes digest i into hex (at least 129 bytes); the context is restarted afterwards. */
int ims_digests_hex(ims_digests *ds, int i, char *hex);
void ims_digests_free(ims_digests *ds);

#endif
