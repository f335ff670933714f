/* Digests on a worker thread: the receiving thread copies each chunk into a small ring and
 * returns to the socket while the worker hashes, so a verified download takes as long as the
 * slower of the two instead of their sum. Used only through digest.c. */
#ifndef IMS_HASHER_H
#define IMS_HASHER_H

#include <stddef.h>

#include "digest.h"

/* Starts a worker for ds; returns NULL (the caller keeps hashing inline) when it cannot. */
struct ims_hasher *ims_hasher_start(ims_digests *ds);
/* Queues bytes; blocks only while every slot is waiting to be hashed. */
void ims_hasher_push(struct ims_hasher *h, const char *p, size_t n);
/* Returns once every byte pushed so far is in the digest contexts. */
void ims_hasher_drain(struct ims_hasher *h);
/* Stops the worker, dropping what it has not hashed yet, and frees everything. */
void ims_hasher_stop(struct ims_hasher *h);

#endif
