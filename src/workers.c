/* Crypto worker threads. A batch lives on the caller's stack; workers find
 * it through w->cur under the mutex, take a reference, and claim jobs by
 * an atomic index until none are left. The caller claims jobs the same
 * way, then unpublishes the batch and waits until every job is done and
 * every reference is dropped, so no worker can touch the batch (or its
 * buffers) once wg_workers_run has returned. */
#include "workers.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "aead.h"
#include "wgd/log.h"

/* Below this many jobs or bytes waking a thread costs more than it saves
 * (a batch of TCP ACKs is many jobs of a few dozen bytes). */
#define MIN_PARALLEL	   8
#define MIN_PARALLEL_BYTES 16384

struct batch {
	struct wg_crypto_job *jobs;
	size_t n;
	uint64_t gen;
	atomic_size_t next, done;
	atomic_uint refs;
};

struct wg_workers {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct batch *cur; /* published batch, under mu */
	uint64_t gen;
	bool stop;
	unsigned int n;
	pthread_t tids[];
};

static void run_job(struct wg_crypto_job *j)
{
	if (j->op == WG_JOB_SEAL) {
		wg_dp_aead_encrypt(j->buf, j->src ? j->src : j->buf, j->len, j->counter, j->key);
		j->result = 0;
	} else {
		j->result = wg_dp_aead_decrypt(j->buf, j->buf, j->len, j->counter, j->key) ? -1 : 0;
	}
}

static void claim_jobs(struct batch *b)
{
	size_t i;

	while ((i = atomic_fetch_add_explicit(&b->next, 1, memory_order_relaxed)) < b->n) {
		run_job(&b->jobs[i]);
		atomic_fetch_add_explicit(&b->done, 1, memory_order_release);
	}
}

/* The next batch not seen yet, referenced; NULL when stopping. */
static struct batch *wait_batch(struct wg_workers *w, uint64_t *seen)
{
	struct batch *b;

	pthread_mutex_lock(&w->mu);
	while (!w->stop && (!w->cur || w->cur->gen == *seen))
		pthread_cond_wait(&w->cv, &w->mu);
	b = w->stop ? NULL : w->cur;
	if (b) {
		*seen = b->gen;
		atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
	}
	pthread_mutex_unlock(&w->mu);
	return b;
}

static void *worker_main(void *arg)
{
	struct wg_workers *w = arg;
	uint64_t seen = 0;
	struct batch *b;

	while ((b = wait_batch(w, &seen)) != NULL) {
		claim_jobs(b);
		atomic_fetch_sub_explicit(&b->refs, 1, memory_order_release);
	}
	return NULL;
}

int wg_workers_create(unsigned int threads, struct wg_workers **out)
{
	struct wg_workers *w = calloc(1, sizeof(*w) + threads * sizeof(pthread_t));

	if (!w)
		return -ENOMEM;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	for (; w->n < threads; w->n++) {
		if (pthread_create(&w->tids[w->n], NULL, worker_main, w) != 0)
			break;
	}
	if (w->n == 0) {
		wg_workers_destroy(w);
		return -EAGAIN;
	}
	*out = w;
	return 0;
}

void wg_workers_destroy(struct wg_workers *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = true;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	for (unsigned int i = 0; i < w->n; i++)
		pthread_join(w->tids[i], NULL);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w);
}

static void publish(struct wg_workers *w, struct batch *b)
{
	pthread_mutex_lock(&w->mu);
	b->gen = ++w->gen;
	w->cur = b;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

static void unpublish(struct wg_workers *w)
{
	pthread_mutex_lock(&w->mu);
	w->cur = NULL;
	pthread_mutex_unlock(&w->mu);
}

static size_t total_len(const struct wg_crypto_job *jobs, size_t n)
{
	size_t t = 0;

	for (size_t i = 0; i < n; i++)
		t += jobs[i].len;
	return t;
}

void wg_workers_run(struct wg_workers *w, struct wg_crypto_job *jobs, size_t n)
{
	struct batch b = {.jobs = jobs, .n = n};
	unsigned int spins = 0;

	if (!w || n < MIN_PARALLEL || total_len(jobs, n) < MIN_PARALLEL_BYTES) {
		for (size_t i = 0; i < n; i++)
			run_job(&jobs[i]);
		return;
	}
	atomic_init(&b.next, 0);
	atomic_init(&b.done, 0);
	atomic_init(&b.refs, 0);
	publish(w, &b);
	claim_jobs(&b);
	unpublish(w);
	/* The jobs still running are a worker's: a few microseconds. */
	while (atomic_load_explicit(&b.done, memory_order_acquire) < n ||
	       atomic_load_explicit(&b.refs, memory_order_acquire) != 0) {
		if (++spins % 64 == 0)
			sched_yield();
	}
}
