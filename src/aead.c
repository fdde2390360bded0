/* ChaCha20-Poly1305 (RFC 8439) for data messages. ChaCha20 runs eight
 * blocks at a time with AVX2 where the CPU has it (lane i of vector w
 * holds word w of block i; written from the RFC), Poly1305 is poly1305.c's (AVX2 too);
 * without AVX2 the whole AEAD is libsodium's. Same bytes as
 * wg_aead_encrypt/decrypt, checked by test_aead. Constant time: no branch
 * or index depends on key or data; the tag is compared with
 * crypto_verify_16 before any plaintext is written. */
#include "aead.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>

#include "wgd/constants.h"
#include "cpu.h"
#include "wgd/crypto.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2")))

AVX2 static inline __m256i rotl(__m256i v, int n)
{
	return _mm256_or_si256(_mm256_slli_epi32(v, n), _mm256_srli_epi32(v, 32 - n));
}

/* Rotations by 16 and 8 are byte shuffles. */
AVX2 static inline __m256i rotl16(__m256i v)
{
	const __m256i m = _mm256_set_epi8(13, 12, 15, 14, 9, 8, 11, 10, 5, 4, 7, 6, 1, 0, 3, 2, 13,
					  12, 15, 14, 9, 8, 11, 10, 5, 4, 7, 6, 1, 0, 3, 2);
	return _mm256_shuffle_epi8(v, m);
}

AVX2 static inline __m256i rotl8(__m256i v)
{
	const __m256i m = _mm256_set_epi8(14, 13, 12, 15, 10, 9, 8, 11, 6, 5, 4, 7, 2, 1, 0, 3, 14,
					  13, 12, 15, 10, 9, 8, 11, 6, 5, 4, 7, 2, 1, 0, 3);
	return _mm256_shuffle_epi8(v, m);
}

#define QR(a, b, c, d)                                                                             \
	do {                                                                                       \
		a = _mm256_add_epi32(a, b);                                                        \
		d = rotl16(_mm256_xor_si256(d, a));                                                \
		c = _mm256_add_epi32(c, d);                                                        \
		b = rotl(_mm256_xor_si256(b, c), 12);                                              \
		a = _mm256_add_epi32(a, b);                                                        \
		d = rotl8(_mm256_xor_si256(d, a));                                                 \
		c = _mm256_add_epi32(c, d);                                                        \
		b = rotl(_mm256_xor_si256(b, c), 7);                                               \
	} while (0)

static uint32_t le32(const uint8_t *p)
{
	return wg_le32_get(p);
}

/* Transposes 8 vectors of 8 words: out[i] = word i of every input. */
AVX2 static void transpose8(__m256i v[8])
{
	__m256i a[8], b[8];

#pragma GCC unroll 16
	for (int i = 0; i < 8; i += 2) {
		a[i] = _mm256_unpacklo_epi32(v[i], v[i + 1]);
		a[i + 1] = _mm256_unpackhi_epi32(v[i], v[i + 1]);
	}
#pragma GCC unroll 16
	for (int i = 0; i < 8; i += 4) {
		b[i] = _mm256_unpacklo_epi64(a[i], a[i + 2]);
		b[i + 1] = _mm256_unpackhi_epi64(a[i], a[i + 2]);
		b[i + 2] = _mm256_unpacklo_epi64(a[i + 1], a[i + 3]);
		b[i + 3] = _mm256_unpackhi_epi64(a[i + 1], a[i + 3]);
	}
#pragma GCC unroll 16
	for (int i = 0; i < 4; i++) {
		v[i] = _mm256_permute2x128_si256(b[i], b[i + 4], 0x20);
		v[i + 4] = _mm256_permute2x128_si256(b[i], b[i + 4], 0x31);
	}
}

#define DOUBLE_ROUND()                                                                             \
	do {                                                                                       \
		QR(x0, x4, x8, x12);                                                               \
		QR(x1, x5, x9, x13);                                                               \
		QR(x2, x6, x10, x14);                                                              \
		QR(x3, x7, x11, x15);                                                              \
		QR(x0, x5, x10, x15);                                                              \
		QR(x1, x6, x11, x12);                                                              \
		QR(x2, x7, x8, x13);                                                               \
		QR(x3, x4, x9, x14);                                                               \
	} while (0)

#define BCAST(i) _mm256_set1_epi32((int)in[i])

/* Eight keystream blocks, counters ctr .. ctr + 7: lo[j] and hi[j] are
 * the first and second 32 bytes of block j. Sixteen named vectors rather
 * than an array, so the compiler keeps what it can in registers. */
AVX2 static inline void keystream8(const uint32_t in[16], uint32_t ctr, __m256i lo[8],
				   __m256i hi[8])
{
	const __m256i c12 = _mm256_add_epi32(_mm256_set1_epi32((int)ctr),
					     _mm256_set_epi32(7, 6, 5, 4, 3, 2, 1, 0));
	__m256i x0 = BCAST(0), x1 = BCAST(1), x2 = BCAST(2), x3 = BCAST(3), x4 = BCAST(4),
		x5 = BCAST(5), x6 = BCAST(6), x7 = BCAST(7), x8 = BCAST(8), x9 = BCAST(9),
		x10 = BCAST(10), x11 = BCAST(11), x12 = c12, x13 = BCAST(13), x14 = BCAST(14),
		x15 = BCAST(15);

	for (int r = 0; r < 10; r++)
		DOUBLE_ROUND();
	lo[0] = _mm256_add_epi32(x0, BCAST(0));
	lo[1] = _mm256_add_epi32(x1, BCAST(1));
	lo[2] = _mm256_add_epi32(x2, BCAST(2));
	lo[3] = _mm256_add_epi32(x3, BCAST(3));
	lo[4] = _mm256_add_epi32(x4, BCAST(4));
	lo[5] = _mm256_add_epi32(x5, BCAST(5));
	lo[6] = _mm256_add_epi32(x6, BCAST(6));
	lo[7] = _mm256_add_epi32(x7, BCAST(7));
	hi[0] = _mm256_add_epi32(x8, BCAST(8));
	hi[1] = _mm256_add_epi32(x9, BCAST(9));
	hi[2] = _mm256_add_epi32(x10, BCAST(10));
	hi[3] = _mm256_add_epi32(x11, BCAST(11));
	hi[4] = _mm256_add_epi32(x12, c12);
	hi[5] = _mm256_add_epi32(x13, BCAST(13));
	hi[6] = _mm256_add_epi32(x14, BCAST(14));
	hi[7] = _mm256_add_epi32(x15, BCAST(15));
	transpose8(lo);
	transpose8(hi);
}

/* The keystream of blocks ctr .. ctr + 7 into out (512 bytes). */
AVX2 static void blocks8(const uint32_t in[16], uint32_t ctr, uint8_t *out)
{
	__m256i lo[8], hi[8];

	keystream8(in, ctr, lo, hi);
#pragma GCC unroll 8
	for (int j = 0; j < 8; j++) {
		_mm256_storeu_si256((__m256i *)(void *)(out + 64 * j), lo[j]);
		_mm256_storeu_si256((__m256i *)(void *)(out + 64 * j + 32), hi[j]);
	}
}

/* dst = src ^ keystream of blocks ctr .. ctr + 7, 512 bytes. */
AVX2 static void xor8(const uint32_t in[16], uint32_t ctr, uint8_t *dst, const uint8_t *src)
{
	__m256i lo[8], hi[8];

	keystream8(in, ctr, lo, hi);
#pragma GCC unroll 8
	for (int j = 0; j < 8; j++) {
		const __m256i *s = (const __m256i *)(const void *)(src + 64 * j);
		__m256i *d = (__m256i *)(void *)(dst + 64 * j);
		_mm256_storeu_si256(d, _mm256_xor_si256(_mm256_loadu_si256(s), lo[j]));
		_mm256_storeu_si256(d + 1, _mm256_xor_si256(_mm256_loadu_si256(s + 1), hi[j]));
	}
}

AVX2 static void xor_bytes(uint8_t *dst, const uint8_t *src, const uint8_t *ks, size_t len)
{
	size_t i = 0;

	for (; i + 32 <= len; i += 32) {
		__m256i a = _mm256_loadu_si256((const __m256i *)(const void *)(src + i));
		__m256i k = _mm256_loadu_si256((const __m256i *)(const void *)(ks + i));
		_mm256_storeu_si256((__m256i *)(void *)(dst + i), _mm256_xor_si256(a, k));
	}
	for (; i < len; i++)
		dst[i] = src[i] ^ ks[i];
}

static void setup_state(uint32_t st[16], const uint8_t key[32], const uint8_t nonce[12])
{
	st[0] = 0x61707865;
	st[1] = 0x3320646e;
	st[2] = 0x79622d32;
	st[3] = 0x6b206574;
	for (int i = 0; i < 8; i++)
		st[4 + i] = le32(key + 4 * i);
	st[12] = 0;
	for (int i = 0; i < 3; i++)
		st[13 + i] = le32(nonce + 4 * i);
}

static bool avx2_usable(void)
{
	return wg_cpu_has_avx2();
}

static void wipe(void *p, size_t n)
{
	sodium_memzero(p, n);
}

/* tag NULL: encrypt src into dst and write the tag after it. Otherwise
 * src is ciphertext: decrypt into dst only if tag verifies (-EBADMSG if
 * not). dst may equal src. */
AVX2 static int aead_avx2(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *tag,
			  const uint8_t key[32], const uint8_t nonce[12])
{
	uint8_t ks[512] __attribute__((aligned(32))), mac[16], poly_key[32];
	uint32_t st[16], ctr;
	size_t off, n;
	int ret = 0;

	setup_state(st, key, nonce);
	blocks8(st, 0, ks);
	memcpy(poly_key, ks, 32);
	/* Block 0 holds the one-time Poly1305 key. */
	if (tag) {
		wg_poly1305_data(mac, src, len, ks, true);
		if (crypto_verify_16(mac, tag) != 0) {
			ret = -EBADMSG;
			goto out;
		}
	}
	n = len < 448 ? len : 448;
	xor_bytes(dst, src, ks + 64, n);
	for (off = n, ctr = 8; off + 512 <= len; ctr += 8, off += 512)
		xor8(st, ctr, dst + off, src + off);
	if (off < len) {
		blocks8(st, ctr, ks);
		xor_bytes(dst + off, src + off, ks, len - off);
	}
	if (!tag) {
		/* ks was reused: the key came from the first batch. */
		wg_poly1305_data(dst + len, dst, len, poly_key, true);
	}
out:
	_mm256_zeroupper();
	wipe(ks, sizeof(ks)); /* keystream is key-equivalent */
	wipe(st, sizeof(st));
	wipe(poly_key, sizeof(poly_key));
	return ret;
}

#else

static bool avx2_usable(void)
{
	return false;
}

static int aead_avx2(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *tag,
		     const uint8_t key[32], const uint8_t nonce[12])
{
	(void)dst, (void)src, (void)len, (void)tag, (void)key, (void)nonce;
	return -ENOSYS;
}

#endif

static bool use_avx2 = true;

void wg_dp_aead_set_simd(bool on)
{
	use_avx2 = on;
}

bool wg_dp_aead_simd(void)
{
	return use_avx2 && avx2_usable();
}

static void nonce_of(uint8_t nonce[12], uint64_t counter)
{
	memset(nonce, 0, 4);
	wg_le64_put(nonce + 4, counter);
}

void wg_dp_aead_encrypt(uint8_t *dst, const uint8_t *src, size_t len, uint64_t counter,
			const uint8_t key[WG_KEY_LEN])
{
	uint8_t nonce[12];

	if (!wg_dp_aead_simd()) {
		wg_aead_encrypt(dst, src, len, NULL, 0, counter, key);
		return;
	}
	nonce_of(nonce, counter);
	aead_avx2(dst, src, len, NULL, key, nonce);
}

int wg_dp_aead_decrypt(uint8_t *dst, const uint8_t *src, size_t len, uint64_t counter,
		       const uint8_t key[WG_KEY_LEN])
{
	uint8_t nonce[12];

	if (!wg_dp_aead_simd())
		return wg_aead_decrypt(dst, src, len, NULL, 0, counter, key);
	if (len < WG_AEAD_TAG_LEN)
		return -EBADMSG;
	nonce_of(nonce, counter);
	return aead_avx2(dst, src, len - WG_AEAD_TAG_LEN, src + len - WG_AEAD_TAG_LEN, key, nonce);
}

/* wg_noise_seal / wg_noise_open with this AEAD. */
int wg_dp_seal(struct wg_keypair *kp, struct wg_msg_data *msg, const uint8_t *plain,
	       size_t plain_len)
{
	uint64_t counter;
	int ret = wg_noise_seal_header(kp, msg, &counter);

	if (ret == 0)
		wg_dp_aead_encrypt(msg->payload, plain, plain_len, counter, kp->sending_key);
	return ret;
}

int wg_dp_open(const struct wg_keypair *kp, struct wg_msg_data *msg, size_t msg_len,
	       uint64_t *counter_out)
{
	uint64_t counter;

	if (wg_noise_open_header(msg, msg_len, &counter) ||
	    wg_dp_aead_decrypt(msg->payload, msg->payload, msg_len - WG_MSG_DATA_HEADER_LEN,
			       counter, kp->receiving_key))
		return -EBADMSG;
	if (counter_out)
		*counter_out = counter;
	return 0;
}
