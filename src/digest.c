/* Streaming digests over EVP: one context per requested algorithm, fed as bytes stream. */
#include "digest.h"
#include "hasher.h"

#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

static const struct {
  const char *name;
  const EVP_MD *(*md)(void);
} known[] = {
  {"md5", EVP_md5}, {"sha1", EVP_sha1}, {"sha256", EVP_sha256}, {"sha512", EVP_sha512},
};

const char *ims_digest_name(const char *name) {
  for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
    if (strcmp(known[i].name, name) == 0) return known[i].name;
  return NULL;
}

static const EVP_MD *md_of(const char *name) {
  for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
    if (known[i].name == name) return known[i].md();
  return NULL;
}

int ims_digests_add(ims_digests *ds, const char *name, char *err, size_t errlen) {
  const char *canon = ims_digest_name(name);
  if (!canon) {
    snprintf(err, errlen, "unknown digest '%s' (md5, sha1, sha256, sha512)", name);
    return -1;
  }
  for (int i = 0; i < ds->n; i++)
    if (ds->names[i] == canon) return 0; /* asked twice: computed once */
  if (ds->n == IMS_MAX_DIGESTS) {
    snprintf(err, errlen, "too many digests");
    return -1;
  }
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  if (!ctx || !EVP_DigestInit_ex(ctx, md_of(canon), NULL)) {
    EVP_MD_CTX_free(ctx);
    snprintf(err, errlen, "cannot initialise digest '%s'", canon);
    return -1;
  }
  ds->names[ds->n] = canon;
  ds->ctx[ds->n] = ctx;
  ds->n++;
  return 0;
}

void ims_digests_background(ims_digests *ds) { ds->background = 1; }

void ims_digests_update_inline(ims_digests *ds, const void *data, size_t len) {
  for (int i = 0; i < ds->n; i++) EVP_DigestUpdate(ds->ctx[i], data, len);
}

void ims_digests_update(ims_digests *ds, const void *data, size_t len) {
  if (!ds->n || !len) return;
  if (!ds->worker && ds->background && ds->inline_bytes >= IMS_BACKGROUND_AFTER) {
    ds->worker = ims_hasher_start(ds);
    if (!ds->worker) ds->background = 0; /* no thread: hashing inline is slower, not wrong */
  }
  if (ds->worker) {
    ims_hasher_push(ds->worker, data, len);
    return;
  }
  ds->inline_bytes += len;
  ims_digests_update_inline(ds, data, len);
}

int ims_digests_reset(ims_digests *ds) {
  if (ds->worker) ims_hasher_drain(ds->worker);
  for (int i = 0; i < ds->n; i++)
    if (!EVP_DigestInit_ex(ds->ctx[i], md_of(ds->names[i]), NULL)) return -1;
  return 0;
}

int ims_digests_hex(ims_digests *ds, int i, char *hex) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  static const char digits[] = "0123456789abcdef";
  if (ds->worker) ims_hasher_drain(ds->worker);
  if (!EVP_DigestFinal_ex(ds->ctx[i], md, &len)) return -1;
  for (unsigned int k = 0; k < len; k++) {
    hex[2 * k] = digits[md[k] >> 4];
    hex[2 * k + 1] = digits[md[k] & 15];
  }
  hex[2 * len] = '\0';
  return EVP_DigestInit_ex(ds->ctx[i], md_of(ds->names[i]), NULL) ? 0 : -1;
}

void ims_digests_free(ims_digests *ds) {
  if (ds->worker) ims_hasher_stop(ds->worker);
  ds->worker = NULL;
  ds->inline_bytes = 0;
  for (int i = 0; i < ds->n; i++) EVP_MD_CTX_free(ds->ctx[i]);
  ds->n = 0;
}
