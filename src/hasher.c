/* A ring of SLOTS buffers between one producer (libcurl's write or read callback) and two
 * consumers: a worker thread that feeds every slot to the digest contexts and, for a download
 * to a file, a writer thread that writes the slots marked for it to that file.
 *
 * Slots are numbered by sequence: the producer has handed over `head` of them, the hasher has
 * hashed `hashed`, the writer has passed `written` (it skips slots not marked). Slot k lives in
 * buf[k % SLOTS] and is free again once both consumers are past it. The producer fills
 * buf[head % SLOTS] and hands it over only when it is full (or on drain), so the lock is taken
 * once per SLOT bytes, not once per libcurl chunk.
 *
 * Why a writer thread: on a disk the page-cache copy of a write costs as much as the receive
 * (and far more when the kernel hands out pages the hypervisor has to fault in). Done on the
 * receiving thread, it makes receive + write the critical path; on its own thread the receive
 * only copies into the ring and the hasher, the slowest part, is never starved.
 *
 * The digest contexts belong to the worker while it runs and come back to the caller in
 * ims_hasher_drain, whose wait on the mutex also orders the worker's writes before the
 * caller's reads. */
#include "hasher.h"

#include <errno.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SLOTS 4
#define SLOT (256 * 1024) /* 1 MiB in flight at most: well inside the 16 MiB budget */

struct ims_hasher {
  ims_digests *ds;
  pthread_t thread, wthread;
  pthread_mutex_t mu;
  pthread_cond_t filled, freed;
  char *buf[SLOTS];
  size_t len[SLOTS];
  char to_fd[SLOTS];              /* slot is to be written to fd too */
  unsigned long head, hashed, written;
  int quit, fd, has_writer, no_writer, werr; /* werr: the first write's errno; later slots are skipped */
  size_t fill;                    /* bytes in the head slot; only the producer touches it */
  char fill_to_fd;                /* whether the head slot's bytes go to fd */
};

static unsigned long oldest(const struct ims_hasher *h) {
  return h->has_writer && h->written < h->hashed ? h->written : h->hashed;
}

static void *hash_worker(void *arg) {
  struct ims_hasher *h = arg;
  prctl(PR_SET_NAME, "ims-hash", 0, 0, 0); /* findable in /proc/self/task/<tid>/comm */
  pthread_mutex_lock(&h->mu);
  for (;;) {
    while (h->hashed == h->head && !h->quit) pthread_cond_wait(&h->filled, &h->mu);
    if (h->quit) break;
    int i = (int)(h->hashed % SLOTS);
    pthread_mutex_unlock(&h->mu);
    ims_digests_update_inline(h->ds, h->buf[i], h->len[i]);
    pthread_mutex_lock(&h->mu);
    h->hashed++;
    pthread_cond_broadcast(&h->freed);
  }
  pthread_mutex_unlock(&h->mu);
  return NULL;
}

int ims_write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return errno;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static void *write_worker(void *arg) {
  struct ims_hasher *h = arg;
  prctl(PR_SET_NAME, "ims-write", 0, 0, 0);
  pthread_mutex_lock(&h->mu);
  for (;;) {
    while (h->written == h->head && !h->quit) pthread_cond_wait(&h->filled, &h->mu);
    if (h->written == h->head) break; /* quit, and nothing is left to write */
    int i = (int)(h->written % SLOTS);
    int todo = h->to_fd[i] && !h->werr;
    pthread_mutex_unlock(&h->mu);
    int err = todo ? ims_write_all(h->fd, h->buf[i], h->len[i]) : 0;
    pthread_mutex_lock(&h->mu);
    if (err && !h->werr) h->werr = err;
    h->written++;
    pthread_cond_broadcast(&h->freed);
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
  h->fd = -1;
  pthread_mutex_init(&h->mu, NULL);
  pthread_cond_init(&h->filled, NULL);
  pthread_cond_init(&h->freed, NULL);
  for (int i = 0; i < SLOTS; i++)
    if (!(h->buf[i] = malloc(SLOT))) return free_hasher(h), NULL;
  if (pthread_create(&h->thread, NULL, hash_worker, h) != 0) return free_hasher(h), NULL;
  return h;
}

/* Gives the head slot to the consumers and waits until the next head is free. */
static void hand_off(struct ims_hasher *h) {
  pthread_mutex_lock(&h->mu);
  int i = (int)(h->head % SLOTS);
  h->len[i] = h->fill;
  h->to_fd[i] = h->fill_to_fd;
  h->head++;
  pthread_cond_broadcast(&h->filled);
  while (h->head - oldest(h) == SLOTS) pthread_cond_wait(&h->freed, &h->mu);
  pthread_mutex_unlock(&h->mu);
  h->fill = 0;
}

static void push(struct ims_hasher *h, const char *p, size_t n, char to_fd) {
  if (h->fill && h->fill_to_fd != to_fd) hand_off(h); /* a slot is all for the file or none */
  h->fill_to_fd = to_fd;
  while (n > 0) {
    size_t k = SLOT - h->fill < n ? SLOT - h->fill : n;
    memcpy(h->buf[(int)(h->head % SLOTS)] + h->fill, p, k);
    h->fill += k;
    p += k;
    n -= k;
    if (h->fill == SLOT) hand_off(h);
  }
}

void ims_hasher_push(struct ims_hasher *h, const char *p, size_t n) { push(h, p, n, 0); }

int ims_hasher_tee(struct ims_hasher *h, int fd, const char *p, size_t n) {
  if (!h->has_writer) {
    h->fd = fd;
    if (h->no_writer || pthread_create(&h->wthread, NULL, write_worker, h) != 0) return h->no_writer = 1, -1;
    pthread_mutex_lock(&h->mu);
    h->written = h->head; /* nothing before this was for the file */
    h->has_writer = 1;
    pthread_mutex_unlock(&h->mu);
  }
  push(h, p, n, 1);
  pthread_mutex_lock(&h->mu);
  int err = h->werr;
  pthread_mutex_unlock(&h->mu);
  return err;
}

int ims_hasher_drain(struct ims_hasher *h) {
  if (h->fill) hand_off(h);
  pthread_mutex_lock(&h->mu);
  while (oldest(h) != h->head || h->hashed != h->head) pthread_cond_wait(&h->freed, &h->mu);
  int err = h->werr;
  pthread_mutex_unlock(&h->mu);
  return err;
}

void ims_hasher_stop(struct ims_hasher *h) {
  pthread_mutex_lock(&h->mu);
  h->quit = 1;
  pthread_cond_broadcast(&h->filled);
  pthread_mutex_unlock(&h->mu);
  pthread_join(h->thread, NULL);
  if (h->has_writer) pthread_join(h->wthread, NULL);
  free_hasher(h);
}
