/* Cryptographic primitives of WireGuard: BLAKE2s (libb2), HMAC-BLAKE2s and
 * the HKDF-style KDFn, ChaCha20-Poly1305 with the WireGuard nonce and
 * XChaCha20-Poly1305 (libsodium), X25519, TAI64N. Nothing here reads a clock
 * or logs; every comparison of secret data is constant time. */
#ifndef WGD_CRYPTO_H
#define WGD_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

/* Must be called once before anything else (initialises libsodium).
 * 0 or -EIO. Safe to call more than once. */
int wg_crypto_init(void);

/* BLAKE2s-256(in). */
void wg_hash(uint8_t out[WG_HASH_LEN], const void *in, size_t inlen);
/* BLAKE2s(in) of outlen bytes; with a key if keylen > 0 (keyed MAC, used
 * for mac1/mac2 with outlen 16). */
void wg_blake2s(uint8_t *out, size_t outlen, const uint8_t *key, size_t keylen, const void *in,
		size_t inlen);
/* HMAC-BLAKE2s-256 (RFC 2104 over BLAKE2s, block size 64). */
void wg_hmac(uint8_t out[WG_HASH_LEN], const uint8_t *key, size_t keylen, const void *in,
	     size_t inlen);
/* KDF1/2/3 of the whitepaper: any of t1/t2/t3 may be NULL to skip it.
 * Outputs may alias key (ck = KDF1(ck, x) is fine). */
void wg_kdf(uint8_t *t1, uint8_t *t2, uint8_t *t3, const uint8_t key[WG_HASH_LEN], const void *in,
	    size_t inlen);

/* ChaCha20-Poly1305 (IETF) with nonce = 4 zero bytes || LE64(counter).
 * dst receives len + 16 bytes; dst may equal src (in place). */
void wg_aead_encrypt(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad, size_t adlen,
		     uint64_t counter, const uint8_t key[WG_KEY_LEN]);
/* src holds len bytes of ciphertext+tag (len >= 16); dst receives len - 16.
 * 0 or -EBADMSG. dst may equal src. */
int wg_aead_decrypt(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad, size_t adlen,
		    uint64_t counter, const uint8_t key[WG_KEY_LEN]);
/* XChaCha20-Poly1305 with a 24-byte nonce (cookie replies). */
void wg_xaead_encrypt(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad, size_t adlen,
		      const uint8_t nonce[WG_XNONCE_LEN], const uint8_t key[WG_KEY_LEN]);
int wg_xaead_decrypt(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad, size_t adlen,
		     const uint8_t nonce[WG_XNONCE_LEN], const uint8_t key[WG_KEY_LEN]);

/* X25519(sk, pk). Returns -EINVAL (and zeroes out) if the result is all
 * zero, i.e. pk is a low-order point. */
int wg_x25519(uint8_t out[WG_KEY_LEN], const uint8_t sk[WG_KEY_LEN], const uint8_t pk[WG_KEY_LEN]);
/* Public key for a private key (the private key is clamped first). */
void wg_x25519_public(uint8_t pub[WG_KEY_LEN], const uint8_t sk[WG_KEY_LEN]);
/* Fresh random clamped private key. */
void wg_x25519_generate(uint8_t sk[WG_KEY_LEN]);
/* Clamps a private key in place as X25519 requires. */
void wg_x25519_clamp(uint8_t sk[WG_KEY_LEN]);
/* Number of X25519 scalar multiplications performed by this process
 * (for benchmarks: operations per handshake). */
uint64_t wg_x25519_op_count(void);

/* TAI64N label for a Unix time in nanoseconds: big-endian (2^62 + 10 +
 * seconds), big-endian nanoseconds (the base the kernel and wireguard-go
 * use). No rounding here; the caller whitens the time if it wants. */
void wg_tai64n(uint8_t out[WG_TAI64N_LEN], uint64_t unix_ns);

/* Constant-time equality and all-zero test. */
bool wg_ct_equal(const void *a, const void *b, size_t len);
bool wg_ct_is_zero(const void *a, size_t len);

void wg_random_bytes(void *buf, size_t len);
uint32_t wg_random_u32(void);
/* Uniform in [0, upper). */
uint32_t wg_random_uniform(uint32_t upper);
/* Zeroes memory in a way the compiler cannot elide. */
void wg_memzero(void *buf, size_t len);
/* Zeroes WG_STACK_WIPE_BYTES of stack below the caller's frame: what the
 * calls it made left behind where their own wiping cannot reach (libraries'
 * locals, the compiler's copies). Deeper than the event loop's callbacks
 * go (about 30 KiB under ASan); costs about 0.3 us. */
#define WG_STACK_WIPE_BYTES (48u << 10)
void wg_stack_wipe(void);

#endif
