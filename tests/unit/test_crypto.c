/* Known-answer tests of the primitives: RFC 7693 and the BLAKE2 reference
 * KAT, RFC 8439, draft-irtf-cfrg-xchacha, RFC 7748, plus HMAC/KDF checked
 * against a by-hand RFC 2104 construction and CPython's hmac + blake2s. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "wgd/crypto.h"

static size_t unhex(uint8_t *out, size_t max, const char *hex)
{
	size_t n = strlen(hex) / 2;
	unsigned int v;

	assert_true(n <= max);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
	return n;
}

static void assert_hex(const uint8_t *got, size_t len, const char *hex)
{
	uint8_t want[256];

	assert_int_equal(unhex(want, sizeof(want), hex), len);
	assert_memory_equal(got, want, len);
}

static void seq(uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)i;
}

/* --- BLAKE2s --- */

static void test_blake2s_rfc7693(void **state)
{
	uint8_t out[32];

	(void)state;
	wg_hash(out, "abc", 3); /* RFC 7693 Appendix B */
	assert_hex(out, 32, "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982");
	wg_hash(out, "", 0);
	assert_hex(out, 32, "69217a3079908094e11121d042354a7c1f55b6482ca1a51e1b250dfd1ed0eef9");
	wg_blake2s(out, 32, NULL, 0, "abc", 3);
	assert_hex(out, 32, "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982");
}

/* blake2s-kat.txt (keyed, key = 00..1f, in = 00..len-1). */
static void test_blake2s_keyed_kat(void **state)
{
	static const struct {
		size_t len;
		const char *hash;
	} kat[] = {
		{0, "48a8997da407876b3d79c0d92325ad3b89cbb754d86ab71aee047ad345fd2c49"},
		{1, "40d15fee7c328830166ac3f918650f807e7e01e177258cdc0a39b11f598066f1"},
		{2, "6bb71300644cd3991b26ccd4d274acd1adeab8b1d7914546c1198bbe9fc9d803"},
		{63, "c65382513f07460da39833cb666c5ed82e61b9e998f4b0c4287cee56c3cc9bcd"},
		{64, "8975b0577fd35566d750b362b0897a26c399136df07bababbde6203ff2954ed4"},
		{255, "3fb735061abc519dfe979e54c1ee5bfad0a9d858b3315bad34bde999efd724dd"},
	};
	uint8_t key[32], in[255], out[32];

	(void)state;
	seq(key, sizeof(key));
	seq(in, sizeof(in));
	for (size_t i = 0; i < sizeof(kat) / sizeof(kat[0]); i++) {
		wg_blake2s(out, 32, key, sizeof(key), in, kat[i].len);
		assert_hex(out, 32, kat[i].hash);
	}
}

/* A 16-byte BLAKE2s (mac1/mac2) is its own parameter block, not a truncated
 * 32-byte hash. Expected value from CPython's hashlib. */
static void test_blake2s_short_output(void **state)
{
	uint8_t key[32], out16[16], out32[32];

	(void)state;
	seq(key, sizeof(key));
	wg_blake2s(out16, 16, key, sizeof(key), "abc", 3);
	assert_hex(out16, 16, "61ba5f165c194692e09d12520cc4c74a");
	wg_blake2s(out32, 32, key, sizeof(key), "abc", 3);
	assert_memory_not_equal(out16, out32, 16);
}

/* --- HMAC and KDF --- */

/* RFC 2104 by hand on top of wg_blake2s. */
static void ref_hmac(uint8_t out[32], const uint8_t *key, size_t keylen, const uint8_t *in,
		     size_t inlen)
{
	uint8_t k[64] = {0}, buf[64 + 512], inner[32];

	assert_true(inlen <= 512);
	if (keylen > 64)
		wg_blake2s(k, 32, NULL, 0, key, keylen);
	else
		memcpy(k, key, keylen);
	for (int i = 0; i < 64; i++)
		buf[i] = k[i] ^ 0x36;
	if (inlen)
		memcpy(buf + 64, in, inlen);
	wg_blake2s(inner, 32, NULL, 0, buf, 64 + inlen);
	for (int i = 0; i < 64; i++)
		buf[i] = k[i] ^ 0x5c;
	memcpy(buf + 64, inner, 32);
	wg_blake2s(out, 32, NULL, 0, buf, 64 + 32);
}

static void test_hmac_known_answer(void **state)
{
	uint8_t key[100], out[32];

	(void)state;
	seq(key, sizeof(key));
	/* hmac.new(key, b"abc", hashlib.blake2s) in CPython */
	wg_hmac(out, key, 32, "abc", 3);
	assert_hex(out, 32, "82623be5bc0a391b24dce53e67d028eff92d586de0485ac37822e597d049c74f");
	wg_hmac(out, key, 100, "abc", 3); /* key longer than a block: hashed */
	assert_hex(out, 32, "c1b751501db12b753069a918627b623179be55c8cc7ca5c4e14bdf32274ac656");
}

static void test_hmac_matches_rfc2104(void **state)
{
	static const size_t keylens[] = {0, 1, 32, 63, 64, 65, 100};
	uint8_t key[100], msg[200], got[32], want[32];

	(void)state;
	seq(key, sizeof(key));
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(0xa5 ^ i);
	for (size_t i = 0; i < sizeof(keylens) / sizeof(keylens[0]); i++) {
		for (size_t m = 0; m <= sizeof(msg); m += 50) {
			wg_hmac(got, key, keylens[i], msg, m);
			ref_hmac(want, key, keylens[i], msg, m);
			assert_memory_equal(got, want, 32);
		}
	}
}

static void test_kdf(void **state)
{
	uint8_t key[32], prk[32], t[33], t1[32], t2[32], t3[32], a[32], b[32];

	(void)state;
	seq(key, sizeof(key));
	/* CPython: T0 = HMAC(key, "input"), Ti = HMAC(T0, T(i-1) || i). */
	wg_kdf(t1, t2, t3, key, "input", 5);
	assert_hex(t1, 32, "87b7f70b24183c6db5dc4f6d9f4c47cdb203321aa2a0bef714896adb3107a040");
	assert_hex(t2, 32, "538a02e1eb2e31b7e4d4b82476d1fe2acf50085d3fb584537279195f5d1f5824");
	assert_hex(t3, 32, "9ad858025593be88de0f9442a589cfe84a88dc19e4753d93684d1c5efc4837f9");

	/* The same chain through the by-hand HMAC. */
	ref_hmac(prk, key, 32, (const uint8_t *)"input", 5);
	t[32] = 1;
	ref_hmac(t, prk, 32, t + 32, 1);
	assert_memory_equal(t, t1, 32);
	t[32] = 2;
	ref_hmac(t, prk, 32, t, 33);
	assert_memory_equal(t, t2, 32);

	/* Skipped outputs do not change the others. */
	wg_kdf(NULL, NULL, a, key, "input", 5);
	assert_memory_equal(a, t3, 32);
	wg_kdf(NULL, a, NULL, key, "input", 5);
	assert_memory_equal(a, t2, 32);
	wg_kdf(a, NULL, NULL, key, "input", 5);
	assert_memory_equal(a, t1, 32);
	wg_kdf(NULL, NULL, NULL, key, "input", 5);

	/* Outputs may alias the key: ck = KDF2(ck, x). */
	memcpy(a, key, 32);
	wg_kdf(a, b, NULL, a, "input", 5);
	assert_memory_equal(a, t1, 32);
	assert_memory_equal(b, t2, 32);

	/* Empty input (transport key derivation). */
	wg_kdf(a, b, NULL, key, NULL, 0);
	ref_hmac(prk, key, 32, NULL, 0);
	t[32] = 1;
	ref_hmac(t, prk, 32, t + 32, 1);
	assert_memory_equal(a, t, 32);
}

/* --- AEAD --- */

static const char sunscreen[] = "Ladies and Gentlemen of the class of '99: If I could offer you "
				"only one tip for the future, sunscreen would be it.";

/* RFC 8439 2.8.2. Its nonce 07000000 40..47 does not fit the WireGuard
 * layout (4 zero bytes), so this checks libsodium itself. */
static void test_aead_rfc8439(void **state)
{
	uint8_t key[32], nonce[12], ad[12], out[sizeof(sunscreen) - 1 + 16], back[sizeof(out)];
	unsigned long long clen, mlen;
	size_t len = sizeof(sunscreen) - 1;

	(void)state;
	unhex(key, 32, "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
	unhex(nonce, 12, "070000004041424344454647");
	unhex(ad, 12, "50515253c0c1c2c3c4c5c6c7");
	crypto_aead_chacha20poly1305_ietf_encrypt(out, &clen, (const uint8_t *)sunscreen, len, ad,
						  12, NULL, nonce, key);
	assert_int_equal(clen, len + 16);
	assert_hex(out, len,
		   "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca967"
		   "1282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee32809"
		   "1b58fab324e4fad675945585808b4831d7bc3ff4def08e4b7a9de576d26586cec64b6116");
	assert_hex(out + len, 16, "1ae10b594f09e26a7e902ecbd0600691");
	assert_int_equal(crypto_aead_chacha20poly1305_ietf_decrypt(back, &mlen, NULL, out, clen, ad,
								   12, nonce, key),
			 0);
	assert_memory_equal(back, sunscreen, len);
}

/* wg_aead uses nonce = 4 zero bytes || LE64(counter). */
static void test_aead_wg_nonce_layout(void **state)
{
	uint8_t key[32], nonce[12] = {0}, got[64 + 16], want[64 + 16], msg[64];
	uint64_t counter = 0x0102030405060708ULL;

	(void)state;
	seq(key, sizeof(key));
	seq(msg, sizeof(msg));
	wg_aead_encrypt(got, msg, sizeof(msg), (const uint8_t *)"ad", 2, counter, key);
	for (int i = 0; i < 8; i++)
		nonce[4 + i] = (uint8_t)(counter >> (8 * i));
	crypto_aead_chacha20poly1305_ietf_encrypt(want, NULL, msg, sizeof(msg),
						  (const uint8_t *)"ad", 2, NULL, nonce, key);
	assert_memory_equal(got, want, sizeof(got));
}

static void test_aead_round_trip_and_tamper(void **state)
{
	uint8_t key[32], other[32], msg[100], ct[116], pt[100], buf[116];
	const uint8_t ad[] = "associated";

	(void)state;
	seq(key, sizeof(key));
	memcpy(other, key, 32);
	other[31] ^= 1;
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 7);
	wg_aead_encrypt(ct, msg, sizeof(msg), ad, sizeof(ad), 42, key);
	assert_int_equal(wg_aead_decrypt(pt, ct, sizeof(ct), ad, sizeof(ad), 42, key), 0);
	assert_memory_equal(pt, msg, sizeof(msg));

	/* In place both ways. */
	memcpy(buf, msg, sizeof(msg));
	wg_aead_encrypt(buf, buf, sizeof(msg), ad, sizeof(ad), 42, key);
	assert_memory_equal(buf, ct, sizeof(ct));
	assert_int_equal(wg_aead_decrypt(buf, buf, sizeof(buf), ad, sizeof(ad), 42, key), 0);
	assert_memory_equal(buf, msg, sizeof(msg));

	for (size_t i = 0; i < sizeof(ct); i++) {
		memcpy(buf, ct, sizeof(ct));
		buf[i] ^= 0x80;
		assert_int_equal(wg_aead_decrypt(pt, buf, sizeof(buf), ad, sizeof(ad), 42, key),
				 -EBADMSG);
	}
	assert_int_equal(wg_aead_decrypt(pt, ct, sizeof(ct), ad, sizeof(ad), 43, key), -EBADMSG);
	assert_int_equal(wg_aead_decrypt(pt, ct, sizeof(ct), ad, sizeof(ad) - 1, 42, key),
			 -EBADMSG);
	assert_int_equal(wg_aead_decrypt(pt, ct, sizeof(ct), ad, sizeof(ad), 42, other), -EBADMSG);
	assert_int_equal(wg_aead_decrypt(pt, ct, sizeof(ct) - 1, ad, sizeof(ad), 42, key),
			 -EBADMSG);
	assert_int_equal(wg_aead_decrypt(pt, ct, 15, ad, sizeof(ad), 42, key), -EBADMSG);

	/* Empty plaintext: tag only (keepalives, the response's empty field). */
	wg_aead_encrypt(buf, NULL, 0, NULL, 0, 0, key);
	assert_int_equal(wg_aead_decrypt(pt, buf, 16, NULL, 0, 0, key), 0);
	buf[0] ^= 1;
	assert_int_equal(wg_aead_decrypt(pt, buf, 16, NULL, 0, 0, key), -EBADMSG);
}

/* draft-irtf-cfrg-xchacha-03 A.3.1 */
static void test_xaead_draft_vector(void **state)
{
	uint8_t key[32], nonce[24], ad[12], out[sizeof(sunscreen) - 1 + 16], pt[sizeof(out)];
	size_t len = sizeof(sunscreen) - 1;

	(void)state;
	unhex(key, 32, "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
	unhex(nonce, 24, "404142434445464748494a4b4c4d4e4f5051525354555657");
	unhex(ad, 12, "50515253c0c1c2c3c4c5c6c7");
	wg_xaead_encrypt(out, (const uint8_t *)sunscreen, len, ad, 12, nonce, key);
	assert_hex(out, len,
		   "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb731c7f1b0b4aa6"
		   "440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b4522f8c9ba40db5d945b11b69b982c1"
		   "bb9e3f3fac2bc369488f76b2383565d3fff921f9664c97637da9768812f615c68b13b52e");
	assert_hex(out + len, 16, "c0875924c1c7987947deafd8780acf49");
	assert_int_equal(wg_xaead_decrypt(pt, out, sizeof(out), ad, 12, nonce, key), 0);
	assert_memory_equal(pt, sunscreen, len);

	out[len] ^= 1;
	assert_int_equal(wg_xaead_decrypt(pt, out, sizeof(out), ad, 12, nonce, key), -EBADMSG);
	out[len] ^= 1;
	nonce[23] ^= 1;
	assert_int_equal(wg_xaead_decrypt(pt, out, sizeof(out), ad, 12, nonce, key), -EBADMSG);
	assert_int_equal(wg_xaead_decrypt(pt, out, 15, ad, 12, nonce, key), -EBADMSG);
}

/* --- X25519 --- */

static void test_x25519_rfc7748(void **state)
{
	static const char *const v[][3] = {
		{"a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
		 "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
		 "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"},
		{"4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
		 "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
		 "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957"},
	};
	uint8_t sk[32], pk[32], out[32];

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		unhex(sk, 32, v[i][0]);
		unhex(pk, 32, v[i][1]);
		assert_int_equal(wg_x25519(out, sk, pk), 0);
		assert_hex(out, 32, v[i][2]);
	}
}

/* RFC 7748 5.2 iterated: k = X25519(k, u), u = old k, from k = u = 9. */
static void test_x25519_iterated(void **state)
{
	uint8_t k[32] = {9}, u[32] = {9}, r[32];

	(void)state;
	for (int i = 1; i <= 1000; i++) {
		assert_int_equal(wg_x25519(r, k, u), 0);
		memcpy(u, k, 32);
		memcpy(k, r, 32);
		if (i == 1)
			assert_hex(
				k, 32,
				"422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079");
	}
	assert_hex(k, 32, "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51");
}

/* RFC 7748 6.1 */
static void test_x25519_alice_bob(void **state)
{
	uint8_t a[32], b[32], apub[32], bpub[32], s1[32], s2[32];

	(void)state;
	unhex(a, 32, "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
	unhex(b, 32, "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
	wg_x25519_public(apub, a);
	wg_x25519_public(bpub, b);
	assert_hex(apub, 32, "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
	assert_hex(bpub, 32, "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
	assert_int_equal(wg_x25519(s1, a, bpub), 0);
	assert_int_equal(wg_x25519(s2, b, apub), 0);
	assert_memory_equal(s1, s2, 32);
	assert_hex(s1, 32, "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
}

/* The seven low-order encodings (0, 1, the two points of order 8, p - 1,
 * p, p + 1), as listed by cr.yp.to/ecdh.html and libsodium. */
static const char *const low_order[7] = {
	"0000000000000000000000000000000000000000000000000000000000000000",
	"0100000000000000000000000000000000000000000000000000000000000000",
	"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
	"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
};

static void test_x25519_low_order(void **state)
{
	uint8_t sk[32], pk[32], out[32];

	(void)state;
	wg_x25519_generate(sk);
	for (size_t i = 0; i < 7; i++) {
		unhex(pk, 32, low_order[i]);
		memset(out, 0xaa, sizeof(out));
		assert_int_equal(wg_x25519(out, sk, pk), -EINVAL);
		assert_true(wg_ct_is_zero(out, sizeof(out)));
	}
}

static void test_x25519_keys_and_count(void **state)
{
	uint8_t a[32], b[32], apub[32], bpub[32], s1[32], s2[32], raw[32], clamped[32];
	uint64_t before;

	(void)state;
	wg_x25519_generate(a);
	assert_int_equal(a[0] & 7, 0);
	assert_int_equal(a[31] & 0xc0, 0x40);
	wg_x25519_generate(b);
	assert_memory_not_equal(a, b, 32);

	before = wg_x25519_op_count();
	wg_x25519_public(apub, a);
	wg_x25519_public(bpub, b);
	assert_int_equal(wg_x25519(s1, a, bpub), 0);
	assert_int_equal(wg_x25519(s2, b, apub), 0);
	assert_memory_equal(s1, s2, 32);
	assert_int_equal(wg_x25519_op_count() - before, 4);

	/* The public key of an unclamped key is that of its clamped form. */
	memset(raw, 0xff, sizeof(raw));
	memcpy(clamped, raw, 32);
	wg_x25519_clamp(clamped);
	assert_int_equal(clamped[0], 0xf8);
	assert_int_equal(clamped[31], 0x7f);
	wg_x25519_public(apub, raw);
	wg_x25519_public(bpub, clamped);
	assert_memory_equal(apub, bpub, 32);
	assert_int_equal(raw[0], 0xff); /* input untouched */
}

/* --- TAI64N and helpers --- */

static void test_tai64n(void **state)
{
	uint8_t out[12];

	(void)state;
	wg_tai64n(out, 0);
	assert_hex(out, 12, "400000000000000a00000000");
	/* 2023-11-14T22:13:20.123456789Z */
	wg_tai64n(out, 1700000000ULL * 1000000000ULL + 123456789ULL);
	assert_hex(out, 12, "400000006553f10a075bcd15");
	wg_tai64n(out, 999999999ULL);
	assert_hex(out, 12, "400000000000000a3b9ac9ff");
}

static void test_helpers(void **state)
{
	uint8_t a[64], b[64], z[64] = {0};
	uint32_t seen = 0;

	(void)state;
	assert_int_equal(wg_crypto_init(), 0); /* idempotent */
	seq(a, sizeof(a));
	memcpy(b, a, sizeof(a));
	assert_true(wg_ct_equal(a, b, sizeof(a)));
	b[63] ^= 1;
	assert_false(wg_ct_equal(a, b, sizeof(a)));
	assert_true(wg_ct_is_zero(z, sizeof(z)));
	assert_false(wg_ct_is_zero(a, sizeof(a)));

	wg_memzero(a, sizeof(a));
	assert_memory_equal(a, z, sizeof(a));
	wg_random_bytes(a, sizeof(a));
	assert_false(wg_ct_is_zero(a, sizeof(a)));
	for (int i = 0; i < 200; i++) {
		uint32_t r = wg_random_uniform(8);

		assert_true(r < 8);
		seen |= 1U << r;
	}
	assert_int_equal(seen, 0xff);
	assert_true(wg_random_u32() != wg_random_u32() || wg_random_u32() != wg_random_u32());
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_blake2s_rfc7693),
		cmocka_unit_test(test_blake2s_keyed_kat),
		cmocka_unit_test(test_blake2s_short_output),
		cmocka_unit_test(test_hmac_known_answer),
		cmocka_unit_test(test_hmac_matches_rfc2104),
		cmocka_unit_test(test_kdf),
		cmocka_unit_test(test_aead_rfc8439),
		cmocka_unit_test(test_aead_wg_nonce_layout),
		cmocka_unit_test(test_aead_round_trip_and_tamper),
		cmocka_unit_test(test_xaead_draft_vector),
		cmocka_unit_test(test_x25519_rfc7748),
		cmocka_unit_test(test_x25519_iterated),
		cmocka_unit_test(test_x25519_alice_bob),
		cmocka_unit_test(test_x25519_low_order),
		cmocka_unit_test(test_x25519_keys_and_count),
		cmocka_unit_test(test_tai64n),
		cmocka_unit_test(test_helpers),
	};

	if (wg_crypto_init())
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
