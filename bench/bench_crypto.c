/* The crypto bound of a WireGuard data path on one core: libsodium's
 * ChaCha20-Poly1305 (IETF) sealing and opening packets of one size
 * (default 1420 B, the default MTU). Every tunnelled bit is sealed once and
 * opened once, so 1 / (1/enc + 1/dec) is the most Gbit a pair of daemons
 * can carry per CPU-second spent on both ends together.
 * The same figures follow for wgd's data-path AEAD (aead.c: AVX2 ChaCha20
 * where the CPU has it, libsodium's Poly1305).
 * Usage: bench_crypto [bytes]. Median of 5 runs of at least 0.5 s of CPU
 * time each (CPU time, so other load on the machine does not count);
 * prints one key=value line for bench/run.sh. */
#include <sodium.h>

#include "aead.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RUNS	   5
#define MIN_RUN_NS 500000000ull
#define MAX_LEN	   65535

static uint8_t key[crypto_aead_chacha20poly1305_ietf_KEYBYTES];
static uint8_t plain[MAX_LEN], sealed[MAX_LEN + crypto_aead_chacha20poly1305_ietf_ABYTES];

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void nonce_for(uint8_t nonce[12], uint64_t counter)
{
	memset(nonce, 0, 12);
	memcpy(nonce + 4, &counter, 8);
}

static void seal_one(size_t len, uint64_t counter)
{
	uint8_t nonce[12];

	nonce_for(nonce, counter);
	crypto_aead_chacha20poly1305_ietf_encrypt(sealed, NULL, plain, len, NULL, 0, NULL, nonce,
						  key);
}

static void open_one(size_t len, uint64_t counter)
{
	uint8_t nonce[12];

	nonce_for(nonce, 0);
	(void)counter;
	if (crypto_aead_chacha20poly1305_ietf_decrypt(
		    plain, NULL, NULL, sealed, len + crypto_aead_chacha20poly1305_ietf_ABYTES, NULL,
		    0, nonce, key) != 0) {
		fprintf(stderr, "bench_crypto: open failed\n");
		exit(1);
	}
}

/* The same with the data path's AEAD (SIMD ChaCha20 where available). */
static void wgd_seal_one(size_t len, uint64_t counter)
{
	wg_dp_aead_encrypt(sealed, plain, len, counter, key);
}

static void wgd_open_one(size_t len, uint64_t counter)
{
	(void)counter;
	if (wg_dp_aead_decrypt(plain, sealed, len + 16, 0, key) != 0) {
		fprintf(stderr, "bench_crypto: wgd open failed\n");
		exit(1);
	}
}

/* Gbit/s of payload for one run of fn. */
static double one_run(void (*fn)(size_t, uint64_t), size_t len)
{
	uint64_t t0 = now_ns(), t, n = 0;

	do {
		for (int i = 0; i < 256; i++)
			fn(len, n++);
		t = now_ns() - t0;
	} while (t < MIN_RUN_NS);
	return (double)n * (double)len * 8.0 / (double)t;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median_rate(void (*fn)(size_t, uint64_t), size_t len)
{
	double r[RUNS];

	for (int i = 0; i < RUNS; i++)
		r[i] = one_run(fn, len);
	qsort(r, RUNS, sizeof(r[0]), cmp_double);
	return r[RUNS / 2];
}

int main(int argc, char **argv)
{
	size_t len = argc > 1 ? strtoul(argv[1], NULL, 10) : 1420;
	double enc, dec;

	if (len == 0 || len > MAX_LEN || sodium_init() < 0)
		return 1;
	randombytes_buf(key, sizeof(key));
	randombytes_buf(plain, len);
	seal_one(len, 0); /* open_one opens this one, counter 0, every time */
	dec = median_rate(open_one, len);
	seal_one(len, 0);
	enc = median_rate(seal_one, len);
	printf("bytes=%zu seal_gbps=%.2f open_gbps=%.2f bound_gbit_per_cpu_s=%.2f", len, enc, dec,
	       1.0 / (1.0 / enc + 1.0 / dec));
	seal_one(len, 0);
	dec = median_rate(wgd_open_one, len);
	enc = median_rate(wgd_seal_one, len);
	printf(" wgd_seal_gbps=%.2f wgd_open_gbps=%.2f wgd_bound_gbit_per_cpu_s=%.2f simd=%d\n",
	       enc, dec, 1.0 / (1.0 / enc + 1.0 / dec), wg_dp_aead_simd());
	return 0;
}
