/* Crypto helpers for the data path: extra threads that seal or open part
 * of a batch while the event-loop thread does the rest. Only the AEAD runs
 * there, on buffers and keys the loop thread prepared and does not touch
 * until wg_workers_run returns; counters, replay windows, timers and every
 * table stay on the loop thread, so per-peer order is the loop's order. */
#ifndef WGD_WORKERS_H
#define WGD_WORKERS_H

#include <stddef.h>
#include <stdint.h>

#include "wgd/wire.h"

enum wg_job_op {
	WG_JOB_SEAL = 0, /* src (or buf when NULL) holds len bytes of padded plaintext;
			  * buf gets the ciphertext, and the tag after it */
	WG_JOB_OPEN,	 /* buf holds len bytes of ciphertext and tag */
};

struct wg_crypto_job {
	uint8_t *buf;
	const uint8_t *src; /* seal: the plaintext, NULL = in place */
	const uint8_t *key; /* sending or receiving key of a live keypair */
	uint64_t counter;
	uint32_t len;
	uint8_t op;
	int8_t result; /* open: 0 or -1 (forged) */
};

struct wg_workers;

/* threads extra threads (>= 1). 0 or -errno. */
int wg_workers_create(unsigned int threads, struct wg_workers **out);
void wg_workers_destroy(struct wg_workers *w);
/* Runs every job, the calling thread taking its share; returns when all
 * are done. w NULL: the caller does them all. */
void wg_workers_run(struct wg_workers *w, struct wg_crypto_job *jobs, size_t n);

#endif
