/* Memory for objects that hold secrets (peers with their handshake and
 * PSK, session keypairs, the device with its cookie secret): locked so it
 * never reaches swap, excluded from core dumps, fenced by guard pages and
 * zeroed whenever an object is freed.
 *
 * sodium_malloc gives all of that but costs three pages and four system
 * calls per object, too much for 100k peers. So objects of one size share
 * slabs: chunks of 16 KiB doubling to 1 MiB, each one sodium_malloc'd
 * (guard pages around the chunk, not around each object). The trade-off:
 * an overflow inside a chunk reaches the neighbouring object, not a guard
 * page; whole objects are locked, not just their key bytes (about 3x the
 * strict minimum for peers, 18x for keypairs whose replay window is
 * public), which keeps the data path's keys next to their counters and
 * leaves the protocol structures unchanged.
 *
 * If the lock fails (RLIMIT_MEMLOCK without CAP_IPC_LOCK) the memory is
 * still guarded, undumpable and zeroed; wg_secret_get_stats reports it and
 * one error line is logged. Single-threaded, like the rest of the engine. */
#ifndef WGD_SECRET_H
#define WGD_SECRET_H

#include <stdbool.h>
#include <stddef.h>

/* size bytes, zeroed, aligned for any type; NULL when out of memory. */
void *wg_secret_alloc(size_t size);
/* Zeroes the whole object and returns it to its slab. NULL is a no-op. */
void wg_secret_free(void *p);
/* Releases every chunk that holds no live object (a slab otherwise keeps
 * one empty chunk per size for the next allocation). */
void wg_secret_trim(void);

struct wg_secret_stats {
	size_t live;	  /* objects allocated and not freed */
	size_t chunks;	  /* chunks mapped */
	size_t bytes;	  /* bytes in those chunks */
	bool lock_failed; /* some chunk could not be locked */
};
void wg_secret_get_stats(struct wg_secret_stats *out);

#endif
