/* A ring of SLOTS buffers between one producer (libcurl's write or read callback) and one
 * worker thread that feeds them to the digest contexts.
 *
 * Slots tail..tail+count-1 hold bytes waiting for the worker; slot `head` is the one the
 * producer fills. The producer hands a slot over only when it is full (or on drain), so the
 * lock is taken once per SLOT bytes, not once per libcurl chunk. The digest contexts belong to
 * the worker while it runs and come back to the caller in ims_hasher_drain, whose wait on the
 * mutex also orders the worker's writes before the caller's reads. */
#include "hasher.h"

#include <pthread.h>
#include <sys/prctl.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 4
#define SLOT (256 * 1024) /* 1 MiB in flight at most: well inside the 16 MiB budget */

struct ims_hasher {
  ims_digests *ds;
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t filled, freed;
  char *buf[SLOTS];
  size_t len[SLOTS];
  int head, tail, count, quit;
  size_t fill; /* bytes in buf[head]; only the producer touches it */
};

static void *worker(void *arg) {
  struct ims_hasher *h = arg;
  prctl(PR_SET_NAME, "ims-hash", 0, 0, 0); /* findable in /proc/self/task/<tid>/comm */
  pthread_mutex_lock(&h->mu);
  for (;;) {
    while (h->count == 0 && !h->quit) pthread_cond_wait(&h->filled, &h->mu);
    if (h->quit) break;
    int i = h->tail;
    pthread_mutex_unlock(&h->mu);
    ims_digests_update_inline(h->ds, h->buf[i], h->len[i]);
    pthread_mutex_lock(&h->mu);
    h->tail = (h->tail + 1) % SLOTS;
    h->count--;
    pthread_cond_signal(&h->freed);
  }
  pthread_mutex_unlock(&h->mu);
  return NULL;
}

static void free_hasher(struct ims_hasher *h) {
  for (int i = 0; i < SLOTS; i++) free(h->buf[i]);
  pthread_cond_destroy(&h->freed);
  pthread_cond_destroy(&h->filled);
  pthread_mutex_destroy(&h->mu);
  free(h);
}

struct ims_hasher *ims_hasher_start(ims_digests *ds) {
  struct ims_hasher *h = calloc(1, sizeof *h);
  if (!h) return NULL;
  h->ds = ds;
  pthread_mutex_init(&h->mu, NULL);
  pthread_cond_init(&h->filled, NULL);
  pthread_cond_init(&h->freed, NULL);
  for (int i = 0; i < SLOTS; i++)
    if (!(h->buf[i] = malloc(SLOT))) return free_hasher(h), NULL;
  if (pthread_create(&h->thread, NULL, worker, h) != 0) return free_hasher(h), NULL;
  return h;
}

/* Gives the head slot to the worker and waits until the next head is free. */
static void hand_off(struct ims_hasher *h) {
  pthread_mutex_lock(&h->mu);
  h->len[h->head] = h->fill;
  h->head = (h->head + 1) % SLOTS;
  h->count++;
  pthread_cond_signal(&h->filled);
  while (h->count == SLOTS) pthread_cond_wait(&h->freed, &h->mu);
  pthread_mutex_unlock(&h->mu);
  h->fill = 0;
}

void ims_hasher_push(struct ims_hasher *h, const char *p, size_t n) {
  while (n > 0) {
    size_t k = SLOT - h->fill < n ? SLOT - h->fill : n;
    memcpy(h->buf[h->head] + h->fill, p, k);
    h->fill += k;
    p += k;
    n -= k;
    if (h->fill == SLOT) hand_off(h);
  }
}

void ims_hasher_drain(struct ims_hasher *h) {
  if (h->fill) hand_off(h);
  pthread_mutex_lock(&h->mu);
  while (h->count > 0) pthread_cond_wait(&h->freed, &h->mu);
  pthread_mutex_unlock(&h->mu);
}

void ims_hasher_stop(struct ims_hasher *h) {
  pthread_mutex_lock(&h->mu);
  h->quit = 1;
  pthread_cond_signal(&h->filled);
  pthread_mutex_unlock(&h->mu);
  pthread_join(h->thread, NULL);
  free_hasher(h);
}
