#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <blake2.h>
#include <errno.h>
#include <sodium.h>
#include <string.h>

#include "wgd/addr.h"
#include "wgd/constants.h"
#include "wgd/cookie.h"
#include "wgd/crypto.h"
#include "wgd/ratelimiter.h"

#define SEC	 WG_NSEC_PER_SEC
#define T0	 (5000 * SEC)
#define MAC1_OFF (WG_MSG_INITIATION_LEN - 32)
#define MAC2_OFF (WG_MSG_INITIATION_LEN - 16)

/* One responder (checker + rate limiter) and one initiator talking to it
 * from src. */
struct fixture {
	uint8_t resp_pub[WG_KEY_LEN];
	struct wg_cookie_checker checker;
	struct wg_cookie ck;
	struct wg_ratelimiter *rl;
	union wg_sockaddr src;
	uint8_t msg[WG_MSG_INITIATION_LEN];
};

static union wg_sockaddr v4(const char *ip, uint16_t port)
{
	union wg_sockaddr a;

	memset(&a, 0, sizeof(a));
	a.in4.sin_family = AF_INET;
	a.in4.sin_port = htons(port);
	assert_int_equal(inet_pton(AF_INET, ip, &a.in4.sin_addr), 1);
	return a;
}

static union wg_sockaddr v6(const char *ip, uint16_t port)
{
	union wg_sockaddr a;

	memset(&a, 0, sizeof(a));
	a.in6.sin6_family = AF_INET6;
	a.in6.sin6_port = htons(port);
	assert_int_equal(inet_pton(AF_INET6, ip, &a.in6.sin6_addr), 1);
	return a;
}

/* A fresh initiation-sized message with random content and MACs added. */
static void new_msg(struct fixture *f, uint64_t now)
{
	wg_random_bytes(f->msg, sizeof(f->msg));
	wg_msg_header_put(f->msg, WG_MSG_INITIATION);
	wg_cookie_add_macs(&f->ck, f->msg, sizeof(f->msg), now);
}

static enum wg_cookie_verdict check(struct fixture *f, bool load, uint64_t now)
{
	return wg_cookie_validate(&f->checker, f->msg, sizeof(f->msg), &f->src, load, f->rl, now);
}

static int setup(void **state)
{
	static struct fixture f;
	uint8_t sk[WG_KEY_LEN];

	assert_int_equal(wg_crypto_init(), 0);
	memset(&f, 0, sizeof(f));
	wg_x25519_generate(sk);
	wg_x25519_public(f.resp_pub, sk);
	wg_memzero(sk, sizeof(sk));
	wg_cookie_checker_init(&f.checker, f.resp_pub);
	wg_cookie_init(&f.ck, f.resp_pub);
	f.rl = wg_ratelimiter_new(0);
	assert_non_null(f.rl);
	f.src = v4("192.0.2.7", 51820);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	wg_ratelimiter_free(f->rl);
	return 0;
}

/* Under load: no cookie yet, so the responder answers with a reply that
 * the initiator consumes; returns after the consume. */
static void get_cookie(struct fixture *f, uint64_t now)
{
	struct wg_msg_cookie_reply reply;

	new_msg(f, now);
	assert_int_equal(check(f, true, now), WG_COOKIE_VALID_NO_COOKIE);
	assert_int_equal(wg_cookie_reply_create(&reply, &f->checker, f->msg, sizeof(f->msg),
						0x11223344, &f->src, now),
			 0);
	assert_int_equal(wg_cookie_reply_consume(&f->ck, &reply, now), 0);
}

/* mac1 recomputed here from the spec with libb2 directly. */
static void test_mac1_known_construction(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[8 + WG_KEY_LEN], key[32], mac[16];

	new_msg(f, T0);
	memcpy(buf, "mac1----", 8);
	memcpy(buf + 8, f->resp_pub, WG_KEY_LEN);
	assert_int_equal(blake2s(key, buf, NULL, 32, sizeof(buf), 0), 0);
	assert_int_equal(blake2s(mac, f->msg, key, 16, MAC1_OFF, 32), 0);
	assert_memory_equal(mac, f->msg + MAC1_OFF, 16);
	assert_memory_equal(f->ck.last_mac1_sent, mac, 16);
	assert_true(wg_ct_is_zero(f->msg + MAC2_OFF, 16)); /* no cookie yet */
}

static void test_mac1_valid_invalid(void **state)
{
	struct fixture *f = *state;
	struct wg_cookie_checker other, none;
	uint8_t other_pub[WG_KEY_LEN];

	new_msg(f, T0);
	assert_int_equal(check(f, false, T0), WG_COOKIE_VALID_NO_COOKIE);
	/* A response-sized message works the same way. */
	wg_cookie_add_macs(&f->ck, f->msg, WG_MSG_RESPONSE_LEN, T0);
	assert_int_equal(wg_cookie_validate(&f->checker, f->msg, WG_MSG_RESPONSE_LEN, &f->src,
					    false, f->rl, T0),
			 WG_COOKIE_VALID_NO_COOKIE);
	/* Another responder's key, no identity, too short. */
	new_msg(f, T0);
	wg_random_bytes(other_pub, sizeof(other_pub));
	wg_cookie_checker_init(&other, other_pub);
	assert_int_equal(
		wg_cookie_validate(&other, f->msg, sizeof(f->msg), &f->src, false, NULL, T0),
		WG_COOKIE_INVALID);
	wg_cookie_checker_init(&none, NULL);
	assert_int_equal(
		wg_cookie_validate(&none, f->msg, sizeof(f->msg), &f->src, false, NULL, T0),
		WG_COOKIE_INVALID);
	assert_int_equal(wg_cookie_validate(&f->checker, f->msg, 32, &f->src, false, NULL, T0),
			 WG_COOKIE_INVALID);
	assert_int_equal(wg_cookie_validate(&f->checker, f->msg, 0, &f->src, false, NULL, T0),
			 WG_COOKIE_INVALID);
}

/* Every byte before mac2 is covered by mac1: flipping any of them (the
 * body or mac1 itself) must fail, under load or not. */
static void test_flip_mac1_and_body(void **state)
{
	struct fixture *f = *state;
	size_t i;

	get_cookie(f, T0);
	new_msg(f, T0);
	assert_int_equal(check(f, true, T0), WG_COOKIE_VALID_WITH_COOKIE);
	for (i = 0; i < MAC2_OFF; i++) {
		f->msg[i] ^= 0xff;
		assert_int_equal(check(f, false, T0), WG_COOKIE_INVALID);
		assert_int_equal(check(f, true, T0), WG_COOKIE_INVALID);
		f->msg[i] ^= 0x01 ^ 0xff;
		assert_int_equal(check(f, true, T0), WG_COOKIE_INVALID);
		f->msg[i] ^= 0x01;
	}
	assert_int_equal(check(f, true, T0), WG_COOKIE_VALID_WITH_COOKIE);
}

static void test_flip_mac2(void **state)
{
	struct fixture *f = *state;
	size_t i;

	get_cookie(f, T0);
	new_msg(f, T0);
	for (i = MAC2_OFF; i < sizeof(f->msg); i++) {
		f->msg[i] ^= 0x80;
		assert_int_equal(check(f, true, T0), WG_COOKIE_VALID_NO_COOKIE);
		assert_int_equal(check(f, false, T0), WG_COOKIE_VALID_NO_COOKIE);
		f->msg[i] ^= 0x80;
	}
	assert_int_equal(check(f, true, T0), WG_COOKIE_VALID_WITH_COOKIE);
	/* Not under load a valid mac2 is reported too, without rate limiting. */
	assert_int_equal(check(f, false, T0), WG_COOKIE_VALID_WITH_COOKIE);
}

/* Every byte of the reply's nonce and encrypted cookie is authenticated;
 * the header must say cookie reply; a failed consume keeps waiting. */
static void test_flip_cookie_reply(void **state)
{
	struct fixture *f = *state;
	struct wg_msg_cookie_reply reply, bad;
	size_t i;

	new_msg(f, T0);
	assert_int_equal(
		wg_cookie_reply_create(&reply, &f->checker, f->msg, sizeof(f->msg), 7, &f->src, T0),
		0);
	assert_int_equal(wg_le32_get(reply.header), WG_MSG_COOKIE_REPLY);
	assert_int_equal(wg_le32_get(reply.receiver), 7);
	for (i = 0; i < sizeof(reply.nonce) + sizeof(reply.cookie_enc); i++) {
		bad = reply;
		/* nonce and cookie_enc are contiguous in the wire layout */
		((uint8_t *)&bad)[offsetof(struct wg_msg_cookie_reply, nonce) + i] ^= 0x01;
		assert_int_equal(wg_cookie_reply_consume(&f->ck, &bad, T0), -EBADMSG);
	}
	for (i = 0; i < sizeof(reply.header); i++) {
		bad = reply;
		bad.header[i] ^= 0x04;
		assert_int_equal(wg_cookie_reply_consume(&f->ck, &bad, T0), -EBADMSG);
	}
	assert_false(f->ck.has_cookie);
	assert_int_equal(wg_cookie_reply_consume(&f->ck, &reply, T0), 0);
	assert_true(f->ck.has_cookie);
	/* The same reply again answers nothing we are waiting for. */
	assert_int_equal(wg_cookie_reply_consume(&f->ck, &reply, T0), -EINVAL);
}

/* A reply must answer the last message we sent (AD = its mac1). */
static void test_reply_bound_to_mac1(void **state)
{
	struct fixture *f = *state;
	struct wg_msg_cookie_reply reply;
	uint8_t old[WG_MSG_INITIATION_LEN];

	new_msg(f, T0);
	memcpy(old, f->msg, sizeof(old));
	new_msg(f, T0);
	assert_int_equal(
		wg_cookie_reply_create(&reply, &f->checker, old, sizeof(old), 1, &f->src, T0), 0);
	assert_int_equal(wg_cookie_reply_consume(&f->ck, &reply, T0), -EBADMSG);
	/* Another responder's cookie key fails too. */
	{
		struct wg_cookie_checker other;
		uint8_t other_pub[WG_KEY_LEN];

		wg_random_bytes(other_pub, sizeof(other_pub));
		wg_cookie_checker_init(&other, other_pub);
		assert_int_equal(wg_cookie_reply_create(&reply, &other, f->msg, sizeof(f->msg), 1,
							&f->src, T0),
				 0);
		assert_int_equal(wg_cookie_reply_consume(&f->ck, &reply, T0), -EBADMSG);
	}
}

static void test_consume_without_sent(void **state)
{
	struct fixture *f = *state;
	struct wg_msg_cookie_reply reply;

	/* A reply for someone else's message: we sent nothing to this peer. */
	wg_random_bytes(f->msg, sizeof(f->msg));
	assert_int_equal(
		wg_cookie_reply_create(&reply, &f->checker, f->msg, sizeof(f->msg), 1, &f->src, T0),
		0);
	assert_int_equal(wg_cookie_reply_consume(&f->ck, &reply, T0), -EINVAL);
	assert_false(f->ck.has_cookie);
}

static void test_reply_create_errors(void **state)
{
	struct fixture *f = *state;
	struct wg_msg_cookie_reply reply;
	struct wg_cookie_checker none;
	union wg_sockaddr unset;

	memset(&unset, 0, sizeof(unset));
	wg_cookie_checker_init(&none, NULL);
	new_msg(f, T0);
	assert_int_equal(
		wg_cookie_reply_create(&reply, &none, f->msg, sizeof(f->msg), 1, &f->src, T0),
		-EINVAL);
	assert_int_equal(wg_cookie_reply_create(&reply, &f->checker, f->msg, 32, 1, &f->src, T0),
			 -EINVAL);
	assert_int_equal(
		wg_cookie_reply_create(&reply, &f->checker, f->msg, sizeof(f->msg), 1, &unset, T0),
		-EINVAL);
}

/* The whole exchange under load, with the cookie checked against the
 * spec: cookie = MAC(secret, address || port), decrypted with libsodium. */
static void test_round_trip(void **state)
{
	struct fixture *f = *state;
	struct wg_msg_cookie_reply reply;
	uint8_t buf[8 + WG_KEY_LEN], key[32], cookie[16], expect[16], bytes[18];
	unsigned long long n;

	new_msg(f, T0);
	assert_int_equal(check(f, true, T0), WG_COOKIE_VALID_NO_COOKIE);
	assert_int_equal(wg_cookie_reply_create(&reply, &f->checker, f->msg, sizeof(f->msg),
						0xa1b2c3d4, &f->src, T0),
			 0);
	assert_int_equal(wg_le32_get(reply.receiver), 0xa1b2c3d4);

	memcpy(buf, "cookie--", 8);
	memcpy(buf + 8, f->resp_pub, WG_KEY_LEN);
	assert_int_equal(blake2s(key, buf, NULL, 32, sizeof(buf), 0), 0);
	assert_int_equal(crypto_aead_xchacha20poly1305_ietf_decrypt(
				 cookie, &n, NULL, reply.cookie_enc, sizeof(reply.cookie_enc),
				 f->msg + MAC1_OFF, 16, reply.nonce, key),
			 0);
	assert_int_equal(n, 16);
	assert_int_equal(wg_sockaddr_bytes(&f->src, bytes), 6);
	assert_int_equal(blake2s(expect, bytes, f->checker.secret, 16, 6, 32), 0);
	assert_memory_equal(cookie, expect, 16);

	assert_int_equal(wg_cookie_reply_consume(&f->ck, &reply, T0 + SEC), 0);
	assert_memory_equal(f->ck.cookie, expect, 16);
	new_msg(f, T0 + SEC);
	assert_int_equal(blake2s(expect, f->msg, cookie, 16, MAC2_OFF, 16), 0);
	assert_memory_equal(f->msg + MAC2_OFF, expect, 16);
	assert_int_equal(check(f, true, T0 + SEC), WG_COOKIE_VALID_WITH_COOKIE);
}

static void test_reply_nonce_random(void **state)
{
	struct fixture *f = *state;
	struct wg_msg_cookie_reply a, b;

	new_msg(f, T0);
	assert_int_equal(
		wg_cookie_reply_create(&a, &f->checker, f->msg, sizeof(f->msg), 1, &f->src, T0), 0);
	assert_int_equal(
		wg_cookie_reply_create(&b, &f->checker, f->msg, sizeof(f->msg), 1, &f->src, T0), 0);
	assert_memory_not_equal(a.nonce, b.nonce, sizeof(a.nonce));
}

/* mac2 proves a round trip with one address and port only. */
static void test_mac2_bound_to_source(void **state)
{
	struct fixture *f = *state;
	union wg_sockaddr orig = f->src;

	get_cookie(f, T0);
	new_msg(f, T0);
	assert_int_equal(check(f, true, T0), WG_COOKIE_VALID_WITH_COOKIE);
	f->src = v4("192.0.2.8", 51820);
	assert_int_equal(check(f, true, T0), WG_COOKIE_VALID_NO_COOKIE);
	f->src = v4("192.0.2.7", 51821);
	assert_int_equal(check(f, true, T0), WG_COOKIE_VALID_NO_COOKIE);
	f->src = v6("::ffff:192.0.2.7", 51820);
	assert_int_equal(check(f, true, T0), WG_COOKIE_VALID_NO_COOKIE);
	f->src = orig;
	assert_int_equal(check(f, true, T0), WG_COOKIE_VALID_WITH_COOKIE);

	/* Same over IPv6. */
	f->src = v6("2001:db8::7", 443);
	get_cookie(f, T0);
	new_msg(f, T0);
	assert_int_equal(check(f, true, T0), WG_COOKIE_VALID_WITH_COOKIE);
	f->src = v6("2001:db8::8", 443);
	assert_int_equal(check(f, true, T0), WG_COOKIE_VALID_NO_COOKIE);
	f->src = v6("2001:db8::7", 444);
	assert_int_equal(check(f, true, T0), WG_COOKIE_VALID_NO_COOKIE);
}

/* The responder's secret lives WG_COOKIE_SECRET_MAX_AGE from its first
 * use; a cookie minted late in its life dies with it even though the
 * initiator still considers the cookie fresh. */
static void test_secret_rotation(void **state)
{
	struct fixture *f = *state;
	uint64_t born = T0, minted = T0 + 100 * SEC;
	uint8_t old_secret[WG_HASH_LEN];

	new_msg(f, born);
	assert_int_equal(check(f, true, born), WG_COOKIE_VALID_NO_COOKIE); /* secret born */
	memcpy(old_secret, f->checker.secret, sizeof(old_secret));
	get_cookie(f, minted);

	new_msg(f, born + WG_COOKIE_SECRET_MAX_AGE - 1);
	assert_false(wg_ct_is_zero(f->msg + MAC2_OFF, 16));
	assert_int_equal(check(f, true, born + WG_COOKIE_SECRET_MAX_AGE - 1),
			 WG_COOKIE_VALID_WITH_COOKIE);
	assert_memory_equal(old_secret, f->checker.secret, sizeof(old_secret));

	new_msg(f, born + WG_COOKIE_SECRET_MAX_AGE);
	assert_false(wg_ct_is_zero(f->msg + MAC2_OFF, 16)); /* initiator still uses it */
	assert_int_equal(check(f, true, born + WG_COOKIE_SECRET_MAX_AGE),
			 WG_COOKIE_VALID_NO_COOKIE);
	assert_memory_not_equal(old_secret, f->checker.secret, sizeof(old_secret));
	assert_int_equal(f->checker.secret_birthdate_ns, born + WG_COOKIE_SECRET_MAX_AGE);

	/* A new cookie from the new secret works again. */
	get_cookie(f, born + WG_COOKIE_SECRET_MAX_AGE + SEC);
	new_msg(f, born + WG_COOKIE_SECRET_MAX_AGE + SEC);
	assert_int_equal(check(f, true, born + WG_COOKIE_SECRET_MAX_AGE + SEC),
			 WG_COOKIE_VALID_WITH_COOKIE);
}

/* The initiator stops sending a cookie 5 s before the secret that made it
 * could have died. */
static void test_stale_cookie_not_used(void **state)
{
	struct fixture *f = *state;
	uint64_t got = T0, limit = WG_COOKIE_SECRET_MAX_AGE - 5 * SEC;

	get_cookie(f, got);
	new_msg(f, got + limit - 1);
	assert_false(wg_ct_is_zero(f->msg + MAC2_OFF, 16));
	assert_true(f->ck.has_cookie);
	new_msg(f, got + limit);
	assert_true(wg_ct_is_zero(f->msg + MAC2_OFF, 16));
	assert_false(f->ck.has_cookie);
	assert_true(wg_ct_is_zero(f->ck.cookie, sizeof(f->ck.cookie)));
	/* A time before the cookie's birth is not trusted either. */
	get_cookie(f, got + 2 * limit);
	new_msg(f, got + limit);
	assert_true(wg_ct_is_zero(f->msg + MAC2_OFF, 16));
}

static void test_ratelimited_under_load(void **state)
{
	struct fixture *f = *state;
	int i;

	get_cookie(f, T0);
	new_msg(f, T0);
	for (i = 0; i < WG_RATELIMIT_BURST; i++)
		assert_int_equal(check(f, true, T0), WG_COOKIE_VALID_WITH_COOKIE);
	assert_int_equal(check(f, true, T0), WG_COOKIE_RATELIMITED);
	/* Not under load the limiter is not consulted. */
	assert_int_equal(check(f, false, T0), WG_COOKIE_VALID_WITH_COOKIE);
	/* A bad mac2 is answered with a cookie, not counted as ratelimited. */
	f->msg[MAC2_OFF] ^= 1;
	assert_int_equal(check(f, true, T0), WG_COOKIE_VALID_NO_COOKIE);
	f->msg[MAC2_OFF] ^= 1;
	/* One more after 50 ms. */
	assert_int_equal(check(f, true, T0 + SEC / WG_RATELIMIT_PACKETS_PER_SECOND),
			 WG_COOKIE_VALID_WITH_COOKIE);
	assert_int_equal(check(f, true, T0 + SEC / WG_RATELIMIT_PACKETS_PER_SECOND),
			 WG_COOKIE_RATELIMITED);
	/* Without a limiter nothing is ratelimited. */
	assert_int_equal(
		wg_cookie_validate(&f->checker, f->msg, sizeof(f->msg), &f->src, true, NULL, T0),
		WG_COOKIE_VALID_WITH_COOKIE);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_mac1_known_construction),
		T(test_mac1_valid_invalid),
		T(test_flip_mac1_and_body),
		T(test_flip_mac2),
		T(test_flip_cookie_reply),
		T(test_reply_bound_to_mac1),
		T(test_consume_without_sent),
		T(test_reply_create_errors),
		T(test_round_trip),
		T(test_reply_nonce_random),
		T(test_mac2_bound_to_source),
		T(test_secret_rotation),
		T(test_stale_cookie_not_used),
		T(test_ratelimited_under_load),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
