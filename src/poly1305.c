/* Poly1305 (RFC 8439) of a WireGuard data message: the MAC input is the
 * ciphertext zero-padded to 16 bytes then one block of lengths (no
 * associated data), so every block is a full one. Written from the RFC's
 * arithmetic: h = (h + m) * r mod 2^130 - 5 per 16-byte block.
 *
 * Scalar: three limbs of 44/44/42 bits and 64x64->128-bit products.
 * AVX2: four lanes, each with five 26-bit limbs; lane j takes blocks j,
 * j + 4, ... and multiplies by r^4 per step, the last step by r^(4-j), so
 * the lane sums are the scalar result; what is left (< 4 blocks, the
 * padded tail, the lengths) goes through the scalar code. No branch or
 * index depends on secret data. Elsewhere than x86-64: libsodium. */
#include <sodium.h>
#include <string.h>

#include "aead.h"
#include "cpu.h"
#include "wgd/wire.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

typedef unsigned __int128 u128;

#define M44 0xfffffffffffULL
#define M42 0x3ffffffffffULL
#define M26 0x3ffffffULL

struct poly {
	uint64_t r[3], s[3]; /* s = 20 r: 2^132 = 5 * 4 (mod p) folds */
	uint64_t h[3];
	uint64_t pad[2];
};

static uint64_t le64(const uint8_t *p)
{
	return wg_le64_get(p);
}

static void poly_init(struct poly *st, const uint8_t key[32])
{
	uint64_t t0 = le64(key), t1 = le64(key + 8);

	/* r clamped as the RFC says, split into 44/44/42 bits. */
	st->r[0] = t0 & 0xffc0fffffffULL;
	st->r[1] = ((t0 >> 44) | (t1 << 20)) & 0xfffffc0ffffULL;
	st->r[2] = (t1 >> 24) & 0x00ffffffc0fULL;
	st->s[1] = st->r[1] * 20;
	st->s[2] = st->r[2] * 20;
	st->h[0] = st->h[1] = st->h[2] = 0;
	st->pad[0] = le64(key + 16);
	st->pad[1] = le64(key + 24);
}

/* h = h * r for h in 44/44/42 limbs (slightly above is fine). */
static void mul_r(uint64_t h[3], const uint64_t r[3], const uint64_t s[3])
{
	u128 d0 = (u128)h[0] * r[0] + (u128)h[1] * s[2] + (u128)h[2] * s[1];
	u128 d1 = (u128)h[0] * r[1] + (u128)h[1] * r[0] + (u128)h[2] * s[2];
	u128 d2 = (u128)h[0] * r[2] + (u128)h[1] * r[1] + (u128)h[2] * r[0];
	uint64_t c;

	c = (uint64_t)(d0 >> 44);
	h[0] = (uint64_t)d0 & M44;
	d1 += c;
	c = (uint64_t)(d1 >> 44);
	h[1] = (uint64_t)d1 & M44;
	d2 += c;
	c = (uint64_t)(d2 >> 42);
	h[2] = (uint64_t)d2 & M42;
	h[0] += c * 5;
	c = h[0] >> 44;
	h[0] &= M44;
	h[1] += c;
}

static void block(struct poly *st, const uint8_t m[16])
{
	uint64_t t0 = le64(m), t1 = le64(m + 8);

	st->h[0] += t0 & M44;
	st->h[1] += ((t0 >> 44) | (t1 << 20)) & M44;
	st->h[2] += ((t1 >> 24) & M42) | (1ULL << 40); /* the 2^128 bit */
	mul_r(st->h, st->r, st->s);
}

/* h mod p, plus the pad, mod 2^128. */
static void poly_finish(struct poly *st, uint8_t tag[16])
{
	uint64_t h0 = st->h[0], h1 = st->h[1], h2 = st->h[2], c, g0, g1, g2, mask;

	c = h1 >> 44;
	h1 &= M44;
	h2 += c;
	c = h2 >> 42;
	h2 &= M42;
	h0 += c * 5;
	c = h0 >> 44;
	h0 &= M44;
	h1 += c;
	c = h1 >> 44;
	h1 &= M44;
	h2 += c;
	c = h2 >> 42;
	h2 &= M42;
	h0 += c * 5;
	c = h0 >> 44;
	h0 &= M44;
	h1 += c;
	/* g = h + 5 - 2^130: take it when it does not borrow (h >= p). */
	g0 = h0 + 5;
	c = g0 >> 44;
	g0 &= M44;
	g1 = h1 + c;
	c = g1 >> 44;
	g1 &= M44;
	g2 = h2 + c - (1ULL << 42);
	mask = (g2 >> 63) - 1; /* all ones when no borrow */
	h0 = (h0 & ~mask) | (g0 & mask);
	h1 = (h1 & ~mask) | (g1 & mask);
	h2 = (h2 & ~mask) | (g2 & mask);
	/* 130 bits in three limbs -> two words, plus the pad. */
	{
		uint64_t lo = h0 | (h1 << 44), hi = (h1 >> 20) | (h2 << 24);
		u128 sum = (u128)lo + st->pad[0];
		lo = (uint64_t)sum;
		hi = hi + st->pad[1] + (uint64_t)(sum >> 64);
		wg_le64_put(tag, lo);
		wg_le64_put(tag + 8, hi);
	}
}

/* --- AVX2: four lanes of five 26-bit limbs --- */

#define AVX2 __attribute__((target("avx2")))

/* A carried value (limbs within 44/44/42 bits) in 26-bit limbs. */
static void to26(const uint64_t h[3], uint32_t l[5])
{
	u128 v = (u128)h[0] | (u128)h[1] << 44 | (u128)h[2] << 88; /* bits 128, 129 cut */

	l[0] = (uint32_t)(v & M26);
	l[1] = (uint32_t)((v >> 26) & M26);
	l[2] = (uint32_t)((v >> 52) & M26);
	l[3] = (uint32_t)((v >> 78) & M26);
	l[4] = (uint32_t)(h[2] >> 16); /* bits 104 .. 129 */
}

/* Fully carried copy of h (each limb within its width). */
static void carried(const uint64_t in[3], uint64_t h[3])
{
	uint64_t c;

	h[0] = in[0];
	h[1] = in[1];
	h[2] = in[2];
	c = h[0] >> 44;
	h[0] &= M44;
	h[1] += c;
	c = h[1] >> 44;
	h[1] &= M44;
	h[2] += c;
	c = h[2] >> 42;
	h[2] &= M42;
	h[0] += c * 5;
	c = h[0] >> 44;
	h[0] &= M44;
	h[1] += c;
}

/* Sum of 26-bit-limb values (limbs up to ~2^28 each) into 44/44/42. */
static void from26(const uint64_t l[5], uint64_t h[3])
{
	u128 v = (u128)l[0] + ((u128)l[1] << 26) + ((u128)l[2] << 52);
	u128 w;

	h[0] = (uint64_t)v & M44;
	w = (v >> 44) + ((u128)l[3] << 34) + ((u128)l[4] << 60);
	h[1] = (uint64_t)w & M44;
	h[2] = (uint64_t)(w >> 44);
	/* h[2] may pass 42 bits: the block code carries it. */
}

struct vkey {
	__m256i r[5], s[5];   /* r^4 in every lane, s = 5 r */
	__m256i fr[5], fs[5]; /* lane j: r^(4-j) */
};

AVX2 static void vkey_init(struct vkey *k, const struct poly *st)
{
	uint64_t p[4][3], c[3];
	uint32_t l[4][5];

	/* p[i] = r^(i+1), carried. */
	carried(st->r, p[0]);
	for (int i = 1; i < 4; i++) {
		memcpy(c, p[i - 1], sizeof(c));
		mul_r(c, st->r, st->s);
		carried(c, p[i]);
	}
	for (int i = 0; i < 4; i++)
		to26(p[i], l[i]);
	for (int j = 0; j < 5; j++) {
		k->r[j] = _mm256_set1_epi64x(l[3][j]);
		k->s[j] = _mm256_set1_epi64x((uint64_t)l[3][j] * 5);
		k->fr[j] = _mm256_set_epi64x(l[0][j], l[1][j], l[2][j], l[3][j]);
		k->fs[j] = _mm256_set_epi64x((uint64_t)l[0][j] * 5, (uint64_t)l[1][j] * 5,
					     (uint64_t)l[2][j] * 5, (uint64_t)l[3][j] * 5);
	}
	sodium_memzero(p, sizeof(p));
	sodium_memzero(l, sizeof(l));
	sodium_memzero(c, sizeof(c));
}

/* Adds four blocks (64 bytes) to the lanes' limbs a[]. */
AVX2 static inline void load4(const uint8_t *m, __m256i a[5])
{
	const __m256i mask = _mm256_set1_epi64x((long long)M26);
	__m256i x = _mm256_loadu_si256((const __m256i *)(const void *)m);
	__m256i y = _mm256_loadu_si256((const __m256i *)(const void *)(m + 32));
	/* lo words of blocks 0..3, hi words of blocks 0..3 */
	__m256i lo = _mm256_permute4x64_epi64(_mm256_unpacklo_epi64(x, y), 0xd8);
	__m256i hi = _mm256_permute4x64_epi64(_mm256_unpackhi_epi64(x, y), 0xd8);

	a[0] = _mm256_add_epi64(a[0], _mm256_and_si256(lo, mask));
	a[1] = _mm256_add_epi64(a[1], _mm256_and_si256(_mm256_srli_epi64(lo, 26), mask));
	a[2] = _mm256_add_epi64(a[2], _mm256_and_si256(_mm256_or_si256(_mm256_srli_epi64(lo, 52),
								       _mm256_slli_epi64(hi, 12)),
						       mask));
	a[3] = _mm256_add_epi64(a[3], _mm256_and_si256(_mm256_srli_epi64(hi, 14), mask));
	a[4] = _mm256_add_epi64(
		a[4], _mm256_or_si256(_mm256_srli_epi64(hi, 40), _mm256_set1_epi64x(1 << 24)));
}

#define MUL(a, b) _mm256_mul_epu32(a, b)
#define ADD(a, b) _mm256_add_epi64(a, b)

/* h = a * (r, s) per lane, limbs carried back to about 26 bits. */
AVX2 static inline void vmul(__m256i h[5], const __m256i a[5], const __m256i r[5],
			     const __m256i s[5])
{
	const __m256i mask = _mm256_set1_epi64x((long long)M26);
	__m256i d0, d1, d2, d3, d4, c;

	d0 = ADD(ADD(MUL(a[0], r[0]), MUL(a[1], s[4])),
		 ADD(ADD(MUL(a[2], s[3]), MUL(a[3], s[2])), MUL(a[4], s[1])));
	d1 = ADD(ADD(MUL(a[0], r[1]), MUL(a[1], r[0])),
		 ADD(ADD(MUL(a[2], s[4]), MUL(a[3], s[3])), MUL(a[4], s[2])));
	d2 = ADD(ADD(MUL(a[0], r[2]), MUL(a[1], r[1])),
		 ADD(ADD(MUL(a[2], r[0]), MUL(a[3], s[4])), MUL(a[4], s[3])));
	d3 = ADD(ADD(MUL(a[0], r[3]), MUL(a[1], r[2])),
		 ADD(ADD(MUL(a[2], r[1]), MUL(a[3], r[0])), MUL(a[4], s[4])));
	d4 = ADD(ADD(MUL(a[0], r[4]), MUL(a[1], r[3])),
		 ADD(ADD(MUL(a[2], r[2]), MUL(a[3], r[1])), MUL(a[4], r[0])));
	/* Two carry chains side by side: d0 -> d1, d3 -> d4 -> d0. */
	c = _mm256_srli_epi64(d0, 26);
	d0 = _mm256_and_si256(d0, mask);
	d1 = ADD(d1, c);
	c = _mm256_srli_epi64(d3, 26);
	d3 = _mm256_and_si256(d3, mask);
	d4 = ADD(d4, c);
	c = _mm256_srli_epi64(d1, 26);
	d1 = _mm256_and_si256(d1, mask);
	d2 = ADD(d2, c);
	c = _mm256_srli_epi64(d4, 26);
	d4 = _mm256_and_si256(d4, mask);
	d0 = ADD(d0, ADD(c, _mm256_slli_epi64(c, 2))); /* 5 c */
	c = _mm256_srli_epi64(d2, 26);
	d2 = _mm256_and_si256(d2, mask);
	d3 = ADD(d3, c);
	c = _mm256_srli_epi64(d0, 26);
	d0 = _mm256_and_si256(d0, mask);
	d1 = ADD(d1, c);
	c = _mm256_srli_epi64(d3, 26);
	d3 = _mm256_and_si256(d3, mask);
	d4 = ADD(d4, c);
	h[0] = d0;
	h[1] = d1;
	h[2] = d2;
	h[3] = d3;
	h[4] = d4;
}

/* Blocks 0 .. 4k-1 of m (4k >= 4) into st->h (which must be 0). */
AVX2 static void blocks_avx2(struct poly *st, const uint8_t *m, size_t groups)
{
	struct vkey k;
	__m256i h[5], a[5];
	uint64_t lane[4], l[5];

	vkey_init(&k, st);
	for (int j = 0; j < 5; j++)
		h[j] = _mm256_setzero_si256();
	for (size_t g = 0; g < groups; g++, m += 64) {
		for (int j = 0; j < 5; j++)
			a[j] = h[j];
		load4(m, a);
		if (g + 1 < groups)
			vmul(h, a, k.r, k.s);
		else
			vmul(h, a, k.fr, k.fs);
	}
	for (int j = 0; j < 5; j++) {
		_mm256_storeu_si256((__m256i *)(void *)lane, h[j]);
		l[j] = lane[0] + lane[1] + lane[2] + lane[3];
	}
	from26(l, st->h);
	_mm256_zeroupper();
	sodium_memzero(&k, sizeof(k));
	sodium_memzero(lane, sizeof(lane));
	sodium_memzero(l, sizeof(l));
}

static bool avx2_ok(void)
{
	return wg_cpu_has_avx2();
}

void wg_poly1305_data(uint8_t tag[16], const uint8_t *ct, size_t len, const uint8_t key[32],
		      bool simd)
{
	struct poly st;
	uint8_t last[16] = {0};
	size_t full = len / 16, groups = simd && avx2_ok() ? full / 4 : 0, i;

	poly_init(&st, key);
	if (groups)
		blocks_avx2(&st, ct, groups);
	for (i = groups * 4; i < full; i++)
		block(&st, ct + 16 * i);
	if (len % 16) {
		memcpy(last, ct + 16 * full, len % 16);
		block(&st, last);
	}
	memset(last, 0, 8); /* lengths: no associated data, then len */
	wg_le64_put(last + 8, (uint64_t)len);
	block(&st, last);
	poly_finish(&st, tag);
	sodium_memzero(&st, sizeof(st));
}

#else

void wg_poly1305_data(uint8_t tag[16], const uint8_t *ct, size_t len, const uint8_t key[32],
		      bool simd)
{
	static const uint8_t zero[16];
	crypto_onetimeauth_poly1305_state ps;
	uint8_t lens[16] = {0};

	(void)simd;
	crypto_onetimeauth_poly1305_init(&ps, key);
	crypto_onetimeauth_poly1305_update(&ps, ct, len);
	crypto_onetimeauth_poly1305_update(&ps, zero, (16 - len % 16) % 16);
	wg_le64_put(lens + 8, (uint64_t)len);
	crypto_onetimeauth_poly1305_update(&ps, lens, sizeof(lens));
	crypto_onetimeauth_poly1305_final(&ps, tag);
	sodium_memzero(&ps, sizeof(ps));
}

#endif
