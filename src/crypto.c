/* Cryptographic primitives: BLAKE2s from libb2 (libsodium has only BLAKE2b),
 * everything else from libsodium. */
#include "wgd/crypto.h"

#include <blake2.h>
#include <errno.h>
#include <sodium.h>
#include <stdatomic.h>
#include <string.h>

#define BLAKE2S_BLOCK_LEN 64

/* TAI64 label of the Unix epoch: 2^62 + 10 s (TAI - UTC in 1970), the
 * base the kernel and wireguard-go use. */
#define TAI64_UNIX_EPOCH 0x400000000000000aULL

static _Atomic uint64_t x25519_ops;

int wg_crypto_init(void)
{
	return sodium_init() < 0 ? -EIO : 0;
}

void wg_hash(uint8_t out[WG_HASH_LEN], const void *in, size_t inlen)
{
	wg_blake2s(out, WG_HASH_LEN, NULL, 0, in, inlen);
}

void wg_blake2s(uint8_t *out, size_t outlen, const uint8_t *key, size_t keylen, const void *in,
		size_t inlen)
{
	/* libb2 only fails on invalid lengths, which callers never pass. */
	(void)blake2s(out, in, keylen ? key : NULL, outlen, inlen, keylen);
}

/* HMAC(K, m) = H((K' ^ opad) || H((K' ^ ipad) || m)), K' = K padded (or
 * hashed first when longer than a block). */
void wg_hmac(uint8_t out[WG_HASH_LEN], const uint8_t *key, size_t keylen, const void *in,
	     size_t inlen)
{
	uint8_t block[BLAKE2S_BLOCK_LEN] = {0};
	uint8_t inner[WG_HASH_LEN];
	blake2s_state st;
	size_t i;

	if (keylen > BLAKE2S_BLOCK_LEN)
		wg_hash(block, key, keylen);
	else if (keylen)
		memcpy(block, key, keylen);

	for (i = 0; i < sizeof(block); i++)
		block[i] ^= 0x36;
	blake2s_init(&st, WG_HASH_LEN);
	blake2s_update(&st, block, sizeof(block));
	blake2s_update(&st, in, inlen);
	blake2s_final(&st, inner, WG_HASH_LEN);

	for (i = 0; i < sizeof(block); i++)
		block[i] ^= 0x36 ^ 0x5c;
	blake2s_init(&st, WG_HASH_LEN);
	blake2s_update(&st, block, sizeof(block));
	blake2s_update(&st, inner, WG_HASH_LEN);
	blake2s_final(&st, out, WG_HASH_LEN);

	wg_memzero(block, sizeof(block));
	wg_memzero(inner, sizeof(inner));
	wg_memzero(&st, sizeof(st));
}

/* Whitepaper KDFn: T0 = HMAC(key, in); Ti = HMAC(T0, T(i-1) || i). */
void wg_kdf(uint8_t *t1, uint8_t *t2, uint8_t *t3, const uint8_t key[WG_HASH_LEN], const void *in,
	    size_t inlen)
{
	uint8_t prk[WG_HASH_LEN];
	uint8_t t[WG_HASH_LEN + 1];
	uint8_t *outs[3] = {t1, t2, t3};
	int n = t3 ? 3 : t2 ? 2 : t1 ? 1 : 0;
	int i;

	wg_hmac(prk, key, WG_HASH_LEN, in, inlen);
	for (i = 0; i < n; i++) {
		t[WG_HASH_LEN] = (uint8_t)(i + 1);
		if (i == 0)
			wg_hmac(t, prk, WG_HASH_LEN, t + WG_HASH_LEN, 1);
		else
			wg_hmac(t, prk, WG_HASH_LEN, t, WG_HASH_LEN + 1);
		if (outs[i])
			memcpy(outs[i], t, WG_HASH_LEN);
	}
	wg_memzero(prk, sizeof(prk));
	wg_memzero(t, sizeof(t));
}

static void aead_nonce(uint8_t nonce[crypto_aead_chacha20poly1305_IETF_NPUBBYTES], uint64_t counter)
{
	memset(nonce, 0, 4);
	wg_le64_put(nonce + 4, counter);
}

void wg_aead_encrypt(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad, size_t adlen,
		     uint64_t counter, const uint8_t key[WG_KEY_LEN])
{
	uint8_t nonce[crypto_aead_chacha20poly1305_IETF_NPUBBYTES];

	aead_nonce(nonce, counter);
	crypto_aead_chacha20poly1305_ietf_encrypt(dst, NULL, src, len, ad, adlen, NULL, nonce, key);
}

int wg_aead_decrypt(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad, size_t adlen,
		    uint64_t counter, const uint8_t key[WG_KEY_LEN])
{
	uint8_t nonce[crypto_aead_chacha20poly1305_IETF_NPUBBYTES];

	if (len < WG_AEAD_TAG_LEN)
		return -EBADMSG;
	aead_nonce(nonce, counter);
	if (crypto_aead_chacha20poly1305_ietf_decrypt(dst, NULL, NULL, src, len, ad, adlen, nonce,
						      key))
		return -EBADMSG;
	return 0;
}

void wg_xaead_encrypt(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad, size_t adlen,
		      const uint8_t nonce[WG_XNONCE_LEN], const uint8_t key[WG_KEY_LEN])
{
	crypto_aead_xchacha20poly1305_ietf_encrypt(dst, NULL, src, len, ad, adlen, NULL, nonce,
						   key);
}

int wg_xaead_decrypt(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad, size_t adlen,
		     const uint8_t nonce[WG_XNONCE_LEN], const uint8_t key[WG_KEY_LEN])
{
	if (len < WG_AEAD_TAG_LEN)
		return -EBADMSG;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(dst, NULL, NULL, src, len, ad, adlen, nonce,
						       key))
		return -EBADMSG;
	return 0;
}

/* libsodium already refuses small-order inputs; the explicit zero test keeps
 * the guarantee independent of its version. */
int wg_x25519(uint8_t out[WG_KEY_LEN], const uint8_t sk[WG_KEY_LEN], const uint8_t pk[WG_KEY_LEN])
{
	atomic_fetch_add_explicit(&x25519_ops, 1, memory_order_relaxed);
	if (crypto_scalarmult(out, sk, pk) != 0 || sodium_is_zero(out, WG_KEY_LEN)) {
		wg_memzero(out, WG_KEY_LEN);
		return -EINVAL;
	}
	return 0;
}

void wg_x25519_public(uint8_t pub[WG_KEY_LEN], const uint8_t sk[WG_KEY_LEN])
{
	uint8_t clamped[WG_KEY_LEN];

	memcpy(clamped, sk, WG_KEY_LEN);
	wg_x25519_clamp(clamped);
	atomic_fetch_add_explicit(&x25519_ops, 1, memory_order_relaxed);
	crypto_scalarmult_base(pub, clamped);
	wg_memzero(clamped, sizeof(clamped));
}

void wg_x25519_generate(uint8_t sk[WG_KEY_LEN])
{
	randombytes_buf(sk, WG_KEY_LEN);
	wg_x25519_clamp(sk);
}

void wg_x25519_clamp(uint8_t sk[WG_KEY_LEN])
{
	sk[0] &= 248;
	sk[31] = (uint8_t)((sk[31] & 127) | 64);
}

uint64_t wg_x25519_op_count(void)
{
	return atomic_load_explicit(&x25519_ops, memory_order_relaxed);
}

static void be32_put(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

void wg_tai64n(uint8_t out[WG_TAI64N_LEN], uint64_t unix_ns)
{
	uint64_t secs = TAI64_UNIX_EPOCH + unix_ns / 1000000000ULL;

	be32_put(out, (uint32_t)(secs >> 32));
	be32_put(out + 4, (uint32_t)secs);
	be32_put(out + 8, (uint32_t)(unix_ns % 1000000000ULL));
}

bool wg_ct_equal(const void *a, const void *b, size_t len)
{
	return sodium_memcmp(a, b, len) == 0;
}

bool wg_ct_is_zero(const void *a, size_t len)
{
	return sodium_is_zero(a, len) == 1;
}

void wg_random_bytes(void *buf, size_t len)
{
	randombytes_buf(buf, len);
}

uint32_t wg_random_u32(void)
{
	return randombytes_random();
}

uint32_t wg_random_uniform(uint32_t upper)
{
	return randombytes_uniform(upper);
}

void wg_memzero(void *buf, size_t len)
{
	sodium_memzero(buf, len);
}

__attribute__((noinline)) void wg_stack_wipe(void)
{
	unsigned char below[WG_STACK_WIPE_BYTES];

	sodium_memzero(below, sizeof(below));
	__asm__ volatile("" : : "r"(below) : "memory"); /* keep the array */
}
