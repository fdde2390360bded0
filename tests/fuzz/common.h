/* Shared by every fuzz target (one translation unit each, so everything
 * here is static, except the two libsodium functions interposed below).
 *
 * - Determinism: libsodium's random source is replaced by a seeded
 *   generator that each run reseeds, so a crashing input replays exactly.
 * - Speed: X25519 results are memoised (an exact cache of a pure function;
 *   the deterministic RNG makes the same key pairs recur across runs).
 * - Memory: the secret-object slabs are replaced by the heap (see below).
 * - Logging: debug level, so the log formatting runs too, into /dev/null
 *   (set WGD_FUZZ_LOG=1 to see it on stderr).
 * - A byte reader that hands out fuzzer data and zeroes once it runs dry. */
#ifndef WGD_FUZZ_COMMON_H
#define WGD_FUZZ_COMMON_H

#include <malloc.h>
#include <sodium.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wgd/crypto.h"
#include "wgd/log.h"
#include "wgd/secret.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* An invariant of the code under test failed: make it a crash. */
#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(fuzz_report, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__,  \
				#cond);                                                            \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static FILE *fuzz_report; /* the real stderr, for FUZZ_CHECK */

/* --- deterministic random source (splitmix64) --- */

static uint64_t fuzz_rng_state;

static uint64_t fuzz_rng_next(void)
{
	uint64_t z = (fuzz_rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void fuzz_rng_seed(uint64_t seed)
{
	fuzz_rng_state = seed;
}

static const char *fuzz_rng_name(void)
{
	return "wgd-fuzz";
}

static uint32_t fuzz_rng_random(void)
{
	return (uint32_t)fuzz_rng_next();
}

static void fuzz_rng_stir(void)
{
}

static void fuzz_rng_buf(void *const buf, const size_t size)
{
	uint8_t *p = buf;

	for (size_t i = 0; i < size; i += 8) {
		uint64_t v = fuzz_rng_next();
		memcpy(p + i, &v, size - i < 8 ? size - i : 8);
	}
}

static int fuzz_rng_close(void)
{
	return 0;
}

static randombytes_implementation fuzz_rng_impl = {
	.implementation_name = fuzz_rng_name,
	.random = fuzz_rng_random,
	.stir = fuzz_rng_stir,
	.uniform = NULL, /* libsodium derives it from random() */
	.buf = fuzz_rng_buf,
	.close = fuzz_rng_close,
};

/* --- memoised X25519 --- */

#define MEMO_SLOTS 65536

struct memo_slot {
	uint8_t sk[32], pk[32], out[32];
	int ret;
	bool used, base;
};

static struct memo_slot memo[MEMO_SLOTS];
static uint64_t memo_calls, memo_misses;

static void memo_report(void)
{
	fprintf(fuzz_report, "x25519 memo: %llu calls, %llu computed\n",
		(unsigned long long)memo_calls, (unsigned long long)memo_misses);
}

static size_t memo_hash(const uint8_t *sk, const uint8_t *pk)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (int i = 0; i < 32; i++)
		h = (h ^ sk[i] ^ (uint64_t)(pk ? pk[i] : 9) << 8) * 0x100000001b3ULL;
	return (size_t)(h % MEMO_SLOTS);
}

static struct memo_slot *memo_find(const uint8_t *sk, const uint8_t *pk, bool *hit)
{
	struct memo_slot *s = &memo[memo_hash(sk, pk)];

	*hit = s->used && s->base == !pk && !memcmp(s->sk, sk, 32) &&
	       (!pk || !memcmp(s->pk, pk, 32));
	return s;
}

/* Interposed on libsodium's (wg_x25519 and wg_x25519_public call these). */
int crypto_scalarmult(unsigned char *q, const unsigned char *n, const unsigned char *p)
{
	bool hit;
	struct memo_slot *s = memo_find(n, p, &hit);

	memo_calls++;
	if (!hit) {
		memo_misses++;
		s->ret = crypto_scalarmult_curve25519(s->out, n, p);
		memcpy(s->sk, n, 32);
		memcpy(s->pk, p, 32);
		s->base = false;
		s->used = true;
	}
	memcpy(q, s->out, 32);
	return s->ret;
}

int crypto_scalarmult_base(unsigned char *q, const unsigned char *n)
{
	bool hit;
	struct memo_slot *s = memo_find(n, NULL, &hit);

	memo_calls++;
	if (!hit) {
		memo_misses++;
		s->ret = crypto_scalarmult_curve25519_base(s->out, n);
		memcpy(s->sk, n, 32);
		s->base = true;
		s->used = true;
	}
	memcpy(q, s->out, 32);
	return s->ret;
}

/* --- locked memory: plain heap objects under the fuzzers ---
 * sodium_malloc (the device identity, UAPI request and change-set buffers)
 * costs an mmap, mprotects and an mlock per block, which made the UAPI
 * target 50x slower, and ASan cannot see into its pages. Interposed here
 * with the same contract: the block is filled with 0xdb like libsodium's,
 * and wiped when freed. */

void *sodium_malloc(size_t size)
{
	void *p = malloc(size ? size : 1);

	if (p)
		memset(p, 0xdb, size);
	return p;
}

void sodium_free(void *p)
{
	if (!p)
		return;
	wg_memzero(p, malloc_usable_size(p));
	free(p);
}

/* --- secret memory: plain heap objects under the fuzzers ---
 * secret.c packs peers, keypairs and the device into sodium_malloc'd slabs.
 * ASan sees neither the bounds of each object in a slab nor the pointers
 * stored there (LeakSanitizer would call everything they point to leaked).
 * The fuzzers therefore define the four functions of secret.h themselves,
 * on calloc/free with the same contract (zeroed, zeroed again when freed),
 * so every such object gets exact ASan bounds; secret.o is not linked. */

static size_t secret_live;

void *wg_secret_alloc(size_t size)
{
	void *p = calloc(1, size ? size : 1);

	secret_live += p != NULL;
	return p;
}

void wg_secret_free(void *p)
{
	if (!p)
		return;
	wg_memzero(p, malloc_usable_size(p));
	free(p);
	secret_live--;
}

void wg_secret_trim(void)
{
}

void wg_secret_get_stats(struct wg_secret_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->live = secret_live;
}

/* --- set-up --- */

static ssize_t fuzz_log_drop(void *cookie, const char *buf, size_t len)
{
	(void)cookie;
	(void)buf;
	return (ssize_t)len;
}

static void fuzz_common_init(void)
{
	static bool done;

	if (done)
		return;
	done = true;
	fuzz_report = stderr;
	randombytes_set_implementation(&fuzz_rng_impl);
	fuzz_rng_seed(1);
	if (wg_crypto_init() < 0)
		abort();
	wg_log_init("fuzz", WG_LOG_DEBUG);
	if (getenv("WGD_FUZZ_MEMO_STATS"))
		atexit(memo_report);
	/* libFuzzer and the sanitizers keep writing to the real stderr; the
	 * log is formatted in full, then dropped without a system call. */
	if (!getenv("WGD_FUZZ_LOG")) {
		FILE *null =
			fopencookie(NULL, "w", (cookie_io_functions_t){.write = fuzz_log_drop});
		if (null)
			stderr = null;
	}
}

/* --- reading the fuzzer's bytes (not every target uses every reader) --- */

#define FZ_API static __attribute__((unused))

struct fz {
	const uint8_t *p;
	size_t n;
};

FZ_API uint8_t fz_u8(struct fz *f)
{
	if (!f->n)
		return 0;
	f->n--;
	return *f->p++;
}

/* Little-endian; each read is a separate statement (evaluation order). */
FZ_API uint16_t fz_u16(struct fz *f)
{
	uint16_t lo = fz_u8(f);

	return (uint16_t)(lo | fz_u8(f) << 8);
}

FZ_API uint32_t fz_u32(struct fz *f)
{
	uint32_t lo = fz_u16(f);

	return lo | (uint32_t)fz_u16(f) << 16;
}

FZ_API uint64_t fz_u64(struct fz *f)
{
	uint64_t lo = fz_u32(f);

	return lo | (uint64_t)fz_u32(f) << 32;
}

/* Copies len bytes (zeroes past the end of the input). */
FZ_API void fz_bytes(struct fz *f, void *out, size_t len)
{
	size_t n = len < f->n ? len : f->n;

	memcpy(out, f->p, n);
	memset((uint8_t *)out + n, 0, len - n);
	f->p += n;
	f->n -= n;
}

#endif
