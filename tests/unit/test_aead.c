/* The data-path AEAD against libsodium (through wg_aead_encrypt /
 * wg_aead_decrypt): every length from 0 to 2100 bytes and random keys and
 * counters, in place and not; any flipped bit of ciphertext or tag, or a
 * wrong counter, is refused and leaves the buffer untouched; seal/open
 * framing equals wg_noise_seal/wg_noise_open byte for byte. Run with and
 * without the SIMD ChaCha20. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "aead.h"
#include "wgd/crypto.h"
#include "wgd/noise.h"
#include "wgd/wire.h"

#include <sodium.h>

#define MAXLEN 2100

static uint8_t plain[MAXLEN], a[MAXLEN + 16], b[MAXLEN + 16], key[WG_KEY_LEN];

static int setup(void **state)
{
	assert_int_equal(wg_crypto_init(), 0);
	wg_random_bytes(plain, sizeof(plain));
	return 0;
}

static void all_lengths(bool simd)
{
	wg_dp_aead_set_simd(simd);
	for (size_t len = 0; len <= MAXLEN; len++) {
		uint64_t ctr = ((uint64_t)wg_random_u32() << 32) | wg_random_u32();
		wg_random_bytes(key, sizeof(key));
		wg_aead_encrypt(a, plain, len, NULL, 0, ctr, key);
		wg_dp_aead_encrypt(b, plain, len, ctr, key);
		assert_memory_equal(a, b, len + 16);
		/* In place, then back. */
		memcpy(b, plain, len);
		wg_dp_aead_encrypt(b, b, len, ctr, key);
		assert_memory_equal(a, b, len + 16);
		assert_int_equal(wg_dp_aead_decrypt(b, b, len + 16, ctr, key), 0);
		assert_memory_equal(b, plain, len);
		assert_int_equal(wg_dp_aead_decrypt(b, a, len + 16, ctr, key), 0);
		assert_memory_equal(b, plain, len);
	}
	wg_dp_aead_set_simd(true);
}

static void test_matches_libsodium_simd(void **state)
{
	all_lengths(true);
}

static void test_matches_libsodium_plain(void **state)
{
	all_lengths(false);
}

/* Flip each bit of a 1420-byte message (ciphertext and tag) in turn. */
static void test_forgeries_refused(void **state)
{
	const size_t len = 1420;
	const uint64_t ctr = 77;

	wg_random_bytes(key, sizeof(key));
	wg_dp_aead_encrypt(a, plain, len, ctr, key);
	for (size_t bit = 0; bit < (len + 16) * 8; bit += 7) {
		memcpy(b, a, len + 16);
		b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_int_equal(wg_dp_aead_decrypt(b, b, len + 16, ctr, key), -EBADMSG);
		/* Nothing decrypted into the buffer. */
		b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_memory_equal(a, b, len + 16);
	}
	assert_int_equal(wg_dp_aead_decrypt(b, a, len + 16, ctr + 1, key), -EBADMSG);
	assert_int_equal(wg_dp_aead_decrypt(b, a, 15, ctr, key), -EBADMSG);
	assert_int_equal(wg_dp_aead_decrypt(b, a, 16, ctr, key), -EBADMSG);
}

/* RFC 8439 2.8.2 has associated data; WireGuard never does, so check the
 * keystream path with the RFC's key and nonce through libsodium instead
 * (above) and here a fixed WireGuard-style vector: empty plaintext. */
static void test_empty_message(void **state)
{
	memset(key, 0x42, sizeof(key));
	wg_aead_encrypt(a, plain, 0, NULL, 0, 5, key);
	wg_dp_aead_encrypt(b, plain, 0, 5, key);
	assert_memory_equal(a, b, 16);
	assert_int_equal(wg_dp_aead_decrypt(plain + 100, b, 16, 5, key), 0);
}

static void test_seal_open_framing(void **state)
{
	struct wg_keypair kp1, kp2;
	uint8_t m1[sizeof(struct wg_msg_data) + 1500], m2[sizeof(m1)];
	uint64_t c1, c2;

	memset(&kp1, 0, sizeof(kp1));
	wg_random_bytes(kp1.sending_key, WG_KEY_LEN);
	memcpy(kp1.receiving_key, kp1.sending_key, WG_KEY_LEN);
	kp1.remote_index = 0x12345678;
	kp1.sending_counter = 1000;
	kp2 = kp1;
	for (size_t len = 0; len <= 1440; len += 16) {
		assert_int_equal(wg_noise_seal(&kp1, (void *)m1, plain, len), 0);
		assert_int_equal(wg_dp_seal(&kp2, (void *)m2, plain, len), 0);
		assert_memory_equal(m1, m2, 16 + len + 16);
		assert_int_equal(kp1.sending_counter, kp2.sending_counter);
		assert_int_equal(wg_dp_open(&kp2, (void *)m2, 16 + len + 16, &c2), 0);
		assert_int_equal(wg_noise_open(&kp1, (void *)m1, 16 + len + 16, &c1), 0);
		assert_int_equal(c1, c2);
		assert_memory_equal(m1, m2, 16 + len);
	}
	m2[0] = 3;
	assert_int_equal(wg_dp_open(&kp2, (void *)m2, 48, NULL), -EBADMSG);
	assert_int_equal(wg_dp_open(&kp2, (void *)m2, 31, NULL), -EBADMSG);
	kp2.sending_counter = WG_REJECT_AFTER_MESSAGES;
	assert_int_equal(wg_dp_seal(&kp2, (void *)m2, plain, 16), -EKEYEXPIRED);
}

/* Poly1305 of ct zero-padded to 16, then the lengths block, by libsodium. */
static void ref_poly(uint8_t tag[16], const uint8_t *ct, size_t len, const uint8_t k[32])
{
	static const uint8_t zero[16];
	crypto_onetimeauth_poly1305_state ps;
	uint8_t lens[16] = {0};

	crypto_onetimeauth_poly1305_init(&ps, k);
	crypto_onetimeauth_poly1305_update(&ps, ct, len);
	crypto_onetimeauth_poly1305_update(&ps, zero, (16 - len % 16) % 16);
	wg_le64_put(lens + 8, (uint64_t)len);
	crypto_onetimeauth_poly1305_update(&ps, lens, sizeof(lens));
	crypto_onetimeauth_poly1305_final(&ps, tag);
}

static void check_poly(const uint8_t *msg, size_t len, const uint8_t k[32])
{
	uint8_t t1[16], t2[16], t3[16];

	ref_poly(t1, msg, len, k);
	wg_poly1305_data(t2, msg, len, k, true);
	wg_poly1305_data(t3, msg, len, k, false);
	assert_memory_equal(t1, t2, 16);
	assert_memory_equal(t1, t3, 16);
}

/* Random keys and messages of every length; then the extremes: all-ones
 * keys (largest r after clamping) and all-ones messages, where limbs and
 * the final reduction run fullest. */
static void test_poly1305(void **state)
{
	static uint8_t ones[MAXLEN];
	uint8_t k[32];

	for (size_t len = 0; len <= MAXLEN; len++) {
		wg_random_bytes(k, sizeof(k));
		check_poly(plain, len, k);
	}
	memset(ones, 0xff, sizeof(ones));
	memset(k, 0xff, sizeof(k));
	for (size_t len = 0; len <= MAXLEN; len += 13) {
		check_poly(ones, len, k);
		check_poly(plain, len, k);
	}
	for (int i = 0; i < 2000; i++) {
		wg_random_bytes(k, sizeof(k));
		k[i % 16] = 0xff;
		check_poly(ones, 64 * (size_t)(1 + i % 30), k);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_matches_libsodium_simd),
		cmocka_unit_test(test_matches_libsodium_plain),
		cmocka_unit_test(test_forgeries_refused),
		cmocka_unit_test(test_empty_message),
		cmocka_unit_test(test_seal_open_framing),
		cmocka_unit_test(test_poly1305),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
