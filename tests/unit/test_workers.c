/* Crypto workers: batches of seal and open jobs give the same bytes and
 * verdicts as running them one by one, for batch sizes around the
 * parallel thresholds (jobs and bytes), thousands of batches in a row (a worker late for one
 * batch must never touch the next), with one and three extra threads. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "aead.h"
#include "wgd/crypto.h"
#include "workers.h"

#define MAXJOBS 80
#define LEN	1024

static uint8_t key[WG_KEY_LEN];
static uint8_t bufs[MAXJOBS][LEN + 16], ref[MAXJOBS][LEN + 16];
static struct wg_crypto_job jobs[MAXJOBS];

static void make_jobs(size_t n, uint8_t op, uint64_t base)
{
	for (size_t i = 0; i < n; i++) {
		jobs[i].buf = bufs[i];
		jobs[i].key = key;
		jobs[i].counter = base + i;
		jobs[i].len = op == WG_JOB_SEAL ? LEN - (uint32_t)(i % 7) * 16 : LEN + 16;
		jobs[i].op = op;
		jobs[i].result = 99;
	}
}

static void run_rounds(unsigned int threads)
{
	struct wg_workers *w;

	assert_int_equal(wg_crypto_init(), 0);
	assert_int_equal(wg_workers_create(threads, &w), 0);
	wg_random_bytes(key, sizeof(key));
	for (unsigned int round = 0; round < 3000; round++) {
		size_t n = 1 + round % MAXJOBS;
		for (size_t i = 0; i < n; i++) {
			wg_random_bytes(bufs[i], LEN);
			memcpy(ref[i], bufs[i], LEN);
			wg_dp_aead_encrypt(ref[i], ref[i], LEN - (i % 7) * 16, round * 100 + i,
					   key);
		}
		make_jobs(n, WG_JOB_SEAL, round * 100);
		wg_workers_run(w, jobs, n);
		for (size_t i = 0; i < n; i++) {
			assert_int_equal(jobs[i].result, 0);
			assert_memory_equal(bufs[i], ref[i], LEN - (i % 7) * 16 + 16);
		}
		/* Open them again (same length), one in five forged. */
		for (size_t i = 0; i < n; i++) {
			wg_random_bytes(bufs[i], LEN);
			memcpy(ref[i], bufs[i], LEN);
			wg_dp_aead_encrypt(bufs[i], bufs[i], LEN, round * 100 + i, key);
			if (i % 5 == 3)
				bufs[i][i % LEN] ^= 1;
		}
		make_jobs(n, WG_JOB_OPEN, round * 100);
		wg_workers_run(w, jobs, n);
		for (size_t i = 0; i < n; i++) {
			assert_int_equal(jobs[i].result, i % 5 == 3 ? -1 : 0);
			if (i % 5 != 3)
				assert_memory_equal(bufs[i], ref[i], LEN);
		}
	}
	wg_workers_destroy(w);
}

static void test_one_worker(void **state)
{
	run_rounds(1);
}

static void test_three_workers(void **state)
{
	run_rounds(3);
}

/* No workers at all: the caller does everything. */
static void test_null_workers(void **state)
{
	wg_random_bytes(key, sizeof(key));
	memset(bufs[0], 7, LEN);
	memcpy(ref[0], bufs[0], LEN);
	wg_dp_aead_encrypt(ref[0], ref[0], LEN, 5, key);
	make_jobs(1, WG_JOB_SEAL, 5);
	wg_workers_run(NULL, jobs, 1);
	assert_memory_equal(bufs[0], ref[0], LEN + 16);
	wg_workers_destroy(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_worker),
		cmocka_unit_test(test_three_workers),
		cmocka_unit_test(test_null_workers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
