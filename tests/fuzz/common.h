/* Shared by every fuzz target (one translation unit each, so everything
 * here is static, except the two libsodium functions interposed below).
 *
 * - Determinism: libsodium's random source is replaced by a seeded
 *   generator that each run reseeds, so a crashing input replays exactly.
 * - Speed: X25519 and BLAKE2s are replaced by fast stand-ins (below).
 * - Memory: the secret-object slabs are replaced by the heap (see below).
 * - Logging: debug level, so the log formatting runs too, into /dev/null
 *   (set WGD_FUZZ_LOG=1 to see it on stderr).
 * - A byte reader that hands out fuzzer data and zeroes once it runs dry. */
#ifndef WGD_FUZZ_COMMON_H
#define WGD_FUZZ_COMMON_H

#include <blake2.h>
#include <sanitizer/asan_interface.h>
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

/* --- X25519 stand-in ---
 * A real X25519 costs ~55 us, and fuzzed inputs keep bringing new points
 * (mutated ephemerals, MAC-fixed initiations): even memoised it was a
 * quarter of every run. The engine only needs Diffie-Hellman's algebra
 * (dh(a, pub(b)) == dh(b, pub(a))) and libsodium's contract (-1 and a zero
 * output for a low-order point), so the fuzzers interpose on libsodium's
 * two functions (wg_x25519 and wg_x25519_public call these) a commutative
 * stand-in: exponentiation modulo the Mersenne prime 2^61 - 1. A public key
 * is the 61-bit value little-endian, then 24 bytes derived from it; a point
 * reads as its first 8 bytes modulo the prime, and one reading as 0 or 1
 * (the all-zero key among them) is "low order". Scalars are clamped as
 * X25519 clamps them, then folded to 64 bits. Not cryptography: a fast,
 * deterministic model for the code around it. */

#define DH_P ((1ULL << 61) - 1)

static uint64_t dh_calls;

static void dh_report(void)
{
	fprintf(fuzz_report, "x25519 stand-in: %llu calls\n", (unsigned long long)dh_calls);
}

static uint64_t dh_mulmod(uint64_t a, uint64_t b)
{
	unsigned __int128 x = (unsigned __int128)a * b;
	uint64_t r = (uint64_t)(x & DH_P) + (uint64_t)(x >> 61);

	r = (r & DH_P) + (r >> 61);
	return r >= DH_P ? r - DH_P : r;
}

static uint64_t dh_pow(uint64_t base, uint64_t e)
{
	uint64_t r = 1;

	for (; e; e >>= 1, base = dh_mulmod(base, base))
		if (e & 1)
			r = dh_mulmod(r, base);
	return r;
}

static uint64_t dh_scalar(const uint8_t *n)
{
	uint8_t k[32];
	uint64_t e = 0, w;

	memcpy(k, n, 32);
	k[0] &= 248;
	k[31] = (uint8_t)((k[31] & 127) | 64);
	for (int i = 0; i < 32; i += 8) {
		memcpy(&w, k + i, 8);
		e = (e ^ w) * 0x9e3779b97f4a7c15ULL + 1;
	}
	return e % (DH_P - 1) + 1;
}

/* 32 bytes from a 61-bit value: the value, then a derivation of it. */
static void dh_encode(uint8_t *q, uint64_t v)
{
	uint64_t z = v;

	memcpy(q, &v, 8);
	for (int i = 8; i < 32; i += 8) {
		z = (z ^ (z >> 31)) * 0xbf58476d1ce4e5b9ULL + 0x94d049bb133111ebULL;
		memcpy(q + i, &z, 8);
	}
}

/* Interposed on libsodium's. */
int crypto_scalarmult(unsigned char *q, const unsigned char *n, const unsigned char *p)
{
	uint64_t u;

	dh_calls++;
	memcpy(&u, p, 8);
	u %= DH_P;
	if (u <= 1) {
		memset(q, 0, 32);
		return -1;
	}
	dh_encode(q, dh_pow(u, dh_scalar(n)));
	return 0;
}

int crypto_scalarmult_base(unsigned char *q, const unsigned char *n)
{
	dh_calls++;
	dh_encode(q, dh_pow(37, dh_scalar(n)));
	return 0;
}

/* --- BLAKE2s stand-in ---
 * The same reasoning for libb2's BLAKE2s (HMAC, KDF, MACs, cookies: about
 * 150 calls per handshake, a quarter of a run): the fuzzers interpose a
 * fast keyed hash with the same interface and streaming contract (any
 * split of the input gives the same digest; outlen and key change it).
 * Harness and engine hash alike, so every MAC and key derivation agrees;
 * the buffers it is given are bounds-checked against ASan (fz_region_check),
 * which libb2's were not. */

/* The state lives in libb2's (packed) blake2s_state: h[] as four 64-bit
 * lanes, t[] the length, buf[0..7] a partial word, outlen. */
#define FZ_HOT static inline __attribute__((always_inline, no_sanitize("address", "undefined")))
#define FZ_RAW __attribute__((no_sanitize("address")))

/* The hash loops run without per-access ASan checks (a sixth of a
 * handshake target's time); the buffers they are given are checked whole,
 * once per call, here: a range ASan forbids is touched through an
 * instrumented access, so ASan reports it as any overrun. */
static void fz_region_check(const void *p, size_t n, bool write)
{
	volatile uint8_t *bad = n ? __asan_region_is_poisoned((void *)(uintptr_t)p, n) : NULL;

	if (!bad)
		return;
	if (write)
		*bad = 0;
	else
		(void)*bad;
	abort(); /* poisoned, yet not reported */
}

FZ_HOT uint64_t fz_lane(const blake2s_state *S, unsigned int i)
{
	return S->h[2 * i] | (uint64_t)S->h[2 * i + 1] << 32;
}

FZ_HOT void fz_lane_set(blake2s_state *S, unsigned int i, uint64_t v)
{
	S->h[2 * i] = (uint32_t)v;
	S->h[2 * i + 1] = (uint32_t)(v >> 32);
}

FZ_HOT void fz_hash_word(blake2s_state *S, uint64_t w)
{
	unsigned int i = (S->t[0] >> 3) & 3;
	uint64_t h = (fz_lane(S, i) ^ w) * 0x9e3779b97f4a7c15ULL;

	fz_lane_set(S, i, h ^ h >> 29);
	S->t[0] += 8;
}

FZ_RAW static void fz_hash_init(blake2s_state *S, size_t outlen, const uint8_t *key, size_t keylen)
{
	static const uint64_t iv[4] = {0x6a09e667f3bcc908ULL, 0xbb67ae8584caa73bULL,
				       0x3c6ef372fe94f82bULL, 0xa54ff53a5f1d36f1ULL};

	S->t[0] = S->t[1] = 0;
	S->buflen = 0;
	S->outlen = (uint8_t)outlen;
	for (unsigned int i = 0; i < 4; i++)
		fz_lane_set(S, i, iv[i] ^ (i ? 0 : outlen | (uint64_t)keylen << 8));
	for (size_t i = 0; i < keylen; i++) /* the key as a first block */
		fz_lane_set(S, i & 3, (fz_lane(S, i & 3) ^ key[i]) * 0xff51afd7ed558ccdULL);
}

FZ_RAW static void fz_hash_update(blake2s_state *S, const uint8_t *in, size_t len)
{
	uint64_t w;

	while (len && S->buflen) {
		S->buf[S->buflen++] = *in++;
		len--;
		if (S->buflen == 8) {
			memcpy(&w, S->buf, 8);
			fz_hash_word(S, w);
			S->buflen = 0;
		}
	}
	for (; len >= 8; in += 8, len -= 8) {
		memcpy(&w, in, 8);
		fz_hash_word(S, w);
	}
	for (size_t i = 0; i < len; i++)
		S->buf[S->buflen++] = in[i];
}

FZ_RAW static void fz_hash_final(blake2s_state *S, uint8_t *out, size_t outlen)
{
	uint64_t z = S->t[0] + S->buflen, w = 0;
	uint8_t digest[32];

	for (uint32_t i = 0; i < S->buflen; i++)
		w |= (uint64_t)S->buf[i] << (8 * i);
	z ^= w * 0xc4ceb9fe1a85ec53ULL;
	for (unsigned int i = 0; i < 4; i++)
		z = (z ^ fz_lane(S, i)) * 0x9e3779b97f4a7c15ULL + (z >> 32);
	for (size_t i = 0; i < 32; i += 8) {
		z += 0x9e3779b97f4a7c15ULL;
		w = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
		w = (w ^ (w >> 27)) * 0x94d049bb133111ebULL;
		w ^= w >> 31;
		memcpy(digest + i, &w, 8);
	}
	memcpy(out, digest, outlen);
}

/* Interposed on libb2's (crypto.c's wg_blake2s and wg_hmac call these). */
int blake2s_init(blake2s_state *S, size_t outlen)
{
	if (!outlen || outlen > 32)
		return -1;
	fz_region_check(S, sizeof(*S), true);
	fz_hash_init(S, outlen, NULL, 0);
	return 0;
}

int blake2s_update(blake2s_state *S, const uint8_t *in, size_t inlen)
{
	fz_region_check(S, sizeof(*S), true);
	fz_region_check(in, inlen, false);
	fz_hash_update(S, in, inlen);
	return 0;
}

int blake2s_final(blake2s_state *S, uint8_t *out, size_t outlen)
{
	if (outlen < S->outlen)
		return -1;
	fz_region_check(out, outlen, true);
	fz_hash_final(S, out, S->outlen);
	wg_memzero(S->h, sizeof(S->h));
	return 0;
}

int blake2s(uint8_t *out, const void *in, const void *key, size_t outlen, size_t inlen,
	    size_t keylen)
{
	blake2s_state S;

	if (!out || (!in && inlen) || (!key && keylen) || !outlen || outlen > 32 || keylen > 32)
		return -1;
	fz_region_check(out, outlen, true);
	fz_region_check(in, inlen, false);
	fz_region_check(key, keylen, false);
	fz_hash_init(&S, outlen, key, keylen);
	fz_hash_update(&S, in, inlen);
	fz_hash_final(&S, out, outlen);
	wg_memzero(S.h, sizeof(S.h));
	return 0;
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
	if (getenv("WGD_FUZZ_DH_STATS"))
		atexit(dh_report);
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
