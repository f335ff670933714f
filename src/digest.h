/* Streaming digests (MD5, SHA-1, SHA-256, SHA-512) over OpenSSL's EVP interface. */
#ifndef IMS_DIGEST_H
#define IMS_DIGEST_H

#include <stddef.h>

#define IMS_MAX_DIGESTS 4

typedef struct ims_digests {
  int n;
  const char *names[IMS_MAX_DIGESTS]; /* static strings from the known-name table */
  void *ctx[IMS_MAX_DIGESTS];         /* EVP_MD_CTX *, opaque here to keep OpenSSL out of headers */
  int background;                     /* hash on a worker thread once `inline_bytes` is large */
  size_t inline_bytes;                /* bytes hashed on the caller's thread so far */
  struct ims_hasher *worker;          /* the worker, once started (hasher.c) */
} ims_digests;

/* Returns the canonical static name for a digest name, or NULL when unknown. */
const char *ims_digest_name(const char *name);
/* Adds one digest; returns 0, or -1 with a message in err (unknown, duplicate, too many, OOM). */
int ims_digests_add(ims_digests *ds, const char *name, char *err, size_t errlen);
/* Moves hashing of everything after the first IMS_BACKGROUND_AFTER bytes to a worker thread,
 * so it overlaps the transfer; small bodies never start one. The other calls stay the same:
 * reset and hex wait for the worker, free stops it. */
#define IMS_BACKGROUND_AFTER (1u << 20)
void ims_digests_background(ims_digests *ds);
void ims_digests_update(ims_digests *ds, const void *data, size_t len);
/* Hashes on the calling thread (the worker's own entry point). */
void ims_digests_update_inline(ims_digests *ds, const void *data, size_t len);
/* Restarts every digest from empty input (a rewound upload, a restarted download). */
int ims_digests_reset(ims_digests *ds);
/* Finishes digest i into hex (at least 129 bytes); the context is restarted afterwards. */
int ims_digests_hex(ims_digests *ds, int i, char *hex);
void ims_digests_free(ims_digests *ds);

#endif
