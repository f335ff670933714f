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
/* Queues bytes to be hashed and written to fd (the same fd every call) by a writer thread;
 * returns 0, the errno of a failed write (nothing more is written then), or -1 when no writer
 * thread can start (the caller pushes and writes itself). */
int ims_hasher_tee(struct ims_hasher *h, int fd, const char *p, size_t n);
/* Returns once every byte pushed so far is in the digest contexts and every byte teed is
 * written: 0, or the errno of the first failed write. */
int ims_hasher_drain(struct ims_hasher *h);
/* Stops the worker, dropping what it has not hashed yet (the writer writes what it holds),
 * and frees everything. */
void ims_hasher_stop(struct ims_hasher *h);
/* write(2) until done or failed: 0 or errno. */
int ims_write_all(int fd, const char *p, size_t n);

#endif
