#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>

#include "wgd/addr.h"
#include "wgd/constants.h"
#include "wgd/crypto.h"
#include "wgd/ratelimiter.h"

#define COST (WG_NSEC_PER_SEC / WG_RATELIMIT_PACKETS_PER_SECOND) /* 50 ms */
#define T0   (1000 * WG_NSEC_PER_SEC)

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

static union wg_sockaddr v4_n(uint32_t n)
{
	union wg_sockaddr a;

	memset(&a, 0, sizeof(a));
	a.in4.sin_family = AF_INET;
	a.in4.sin_addr.s_addr = htonl(0x0a000000 + n);
	return a;
}

/* Spends the whole burst at time t, then checks the next is refused. */
static void drain(struct wg_ratelimiter *rl, const union wg_sockaddr *a, uint64_t t)
{
	int i;

	for (i = 0; i < WG_RATELIMIT_BURST; i++)
		assert_true(wg_ratelimiter_allow(rl, a, t));
	assert_false(wg_ratelimiter_allow(rl, a, t));
}

static int setup(void **state)
{
	assert_int_equal(wg_crypto_init(), 0);
	*state = wg_ratelimiter_new(0);
	return *state ? 0 : -1;
}

static int teardown(void **state)
{
	wg_ratelimiter_free(*state);
	return 0;
}

static void test_burst_then_refuse(void **state)
{
	struct wg_ratelimiter *rl = *state;
	union wg_sockaddr a = v4("192.0.2.1", 1000);

	drain(rl, &a, T0);
	assert_false(wg_ratelimiter_allow(rl, &a, T0));
	assert_int_equal(wg_ratelimiter_count(rl), 1);
}

static void test_refill_rate(void **state)
{
	struct wg_ratelimiter *rl = *state;
	union wg_sockaddr a = v4("192.0.2.1", 1000);
	uint64_t t = T0;
	int i, n;

	drain(rl, &a, t);
	/* Just under one packet's worth of time: still refused. */
	assert_false(wg_ratelimiter_allow(rl, &a, t + COST - 1));
	/* One packet per 50 ms, sustained over 10 s. */
	for (i = 1; i <= 200; i++) {
		t = T0 + (uint64_t)i * COST;
		assert_true(wg_ratelimiter_allow(rl, &a, t));
		assert_false(wg_ratelimiter_allow(rl, &a, t));
	}
	/* 2.5 packets' worth of idle time gives exactly 2 packets. */
	t += 5 * COST / 2;
	assert_true(wg_ratelimiter_allow(rl, &a, t));
	assert_true(wg_ratelimiter_allow(rl, &a, t));
	assert_false(wg_ratelimiter_allow(rl, &a, t));
	/* A long idle spell refills to the burst, not beyond. */
	t += 900 * WG_NSEC_PER_MSEC;
	for (n = 0; wg_ratelimiter_allow(rl, &a, t); n++)
		;
	assert_int_equal(n, WG_RATELIMIT_BURST);
	/* Over one second: 20 packets at most (burst + refill). */
	t += 10 * WG_NSEC_PER_SEC;
	for (n = 0, i = 0; i < 1000; i++)
		n += wg_ratelimiter_allow(rl, &a, t + (uint64_t)i * WG_NSEC_PER_MSEC);
	assert_int_equal(n, WG_RATELIMIT_BURST + 1000 / 50 - 1);
}

static void test_clock_backwards(void **state)
{
	struct wg_ratelimiter *rl = *state;
	union wg_sockaddr a = v4("192.0.2.1", 1000);

	drain(rl, &a, T0);
	/* An earlier time gives no credit and does not corrupt the bucket. */
	assert_false(wg_ratelimiter_allow(rl, &a, T0 - WG_NSEC_PER_SEC));
	assert_false(wg_ratelimiter_allow(rl, &a, T0 + COST - 1));
	assert_true(wg_ratelimiter_allow(rl, &a, T0 + COST));
}

static void test_v4_keyed_by_address(void **state)
{
	struct wg_ratelimiter *rl = *state;
	union wg_sockaddr a = v4("192.0.2.1", 1000), a2 = v4("192.0.2.1", 2000),
			  b = v4("192.0.2.2", 1000);

	drain(rl, &a, T0);
	/* Another port of the same host shares the bucket. */
	assert_false(wg_ratelimiter_allow(rl, &a2, T0));
	drain(rl, &b, T0);
	assert_int_equal(wg_ratelimiter_count(rl), 2);
}

static void test_v6_keyed_by_prefix(void **state)
{
	struct wg_ratelimiter *rl = *state;
	union wg_sockaddr a = v6("2001:db8:1:2::1", 1), a2 = v6("2001:db8:1:2:ffff::9", 2),
			  b = v6("2001:db8:1:3::1", 1), c = v6("2001:db9:1:2::1", 1);

	drain(rl, &a, T0);
	assert_false(wg_ratelimiter_allow(rl, &a2, T0)); /* same /64 */
	drain(rl, &b, T0);				 /* neighbouring /64 */
	drain(rl, &c, T0);
	assert_int_equal(wg_ratelimiter_count(rl), 3);
}

static void test_families_apart(void **state)
{
	struct wg_ratelimiter *rl = *state;
	/* Same leading bytes in both families must not share a bucket. */
	union wg_sockaddr a = v4("1.2.3.4", 1), b = v6("102:304::", 1), u;

	drain(rl, &a, T0);
	drain(rl, &b, T0);
	memset(&u, 0, sizeof(u));
	assert_false(wg_ratelimiter_allow(rl, &u, T0)); /* AF_UNSPEC */
	assert_int_equal(wg_ratelimiter_count(rl), 2);
}

static void test_table_full(void **state)
{
	struct wg_ratelimiter *rl = wg_ratelimiter_new(4);
	union wg_sockaddr a;
	uint32_t i;

	(void)state;
	assert_non_null(rl);
	for (i = 0; i < 4; i++) {
		a = v4_n(i);
		assert_true(wg_ratelimiter_allow(rl, &a, T0));
	}
	a = v4_n(4);
	assert_false(wg_ratelimiter_allow(rl, &a, T0));
	assert_false(wg_ratelimiter_allow(rl, &a, T0 + 500 * WG_NSEC_PER_MSEC));
	assert_int_equal(wg_ratelimiter_count(rl), 4);
	/* Known sources keep their buckets. */
	a = v4_n(0);
	assert_true(wg_ratelimiter_allow(rl, &a, T0));
	/* Once the others have idled over a second, a full table reclaims
	 * them for a new source (live source 0 stays). */
	assert_true(wg_ratelimiter_allow(rl, &a, T0 + 600 * WG_NSEC_PER_MSEC));
	a = v4_n(5);
	assert_true(wg_ratelimiter_allow(rl, &a, T0 + 1200 * WG_NSEC_PER_MSEC));
	assert_int_equal(wg_ratelimiter_count(rl), 2);
	wg_ratelimiter_free(rl);
}

/* allow_unlisted (cookie replies): a source the full table has no room
 * for passes, untracked, every time; listed sources keep their limit. */
static void test_table_full_unlisted(void **state)
{
	struct wg_ratelimiter *rl = wg_ratelimiter_new(4);
	union wg_sockaddr a;
	uint32_t i;

	(void)state;
	assert_non_null(rl);
	for (i = 0; i < 4; i++) {
		a = v4_n(i);
		drain(rl, &a, T0);
		assert_false(wg_ratelimiter_allow_unlisted(rl, &a, T0));
	}
	a = v4_n(4);
	assert_false(wg_ratelimiter_allow(rl, &a, T0));
	for (i = 0; i < 2 * WG_RATELIMIT_BURST; i++)
		assert_true(wg_ratelimiter_allow_unlisted(rl, &a, T0));
	assert_int_equal(wg_ratelimiter_count(rl), 4);
	wg_ratelimiter_free(rl);
}

static void test_gc(void **state)
{
	struct wg_ratelimiter *rl = *state;
	union wg_sockaddr a;
	uint32_t i;

	for (i = 0; i < 100; i++) {
		a = v4_n(i);
		assert_true(wg_ratelimiter_allow(rl, &a, T0 + i * WG_NSEC_PER_MSEC));
	}
	assert_int_equal(wg_ratelimiter_count(rl), 100);
	/* Idle exactly one second is kept; over it is dropped. */
	wg_ratelimiter_gc(rl, T0 + WG_NSEC_PER_SEC + 49 * WG_NSEC_PER_MSEC);
	assert_int_equal(wg_ratelimiter_count(rl), 51);
	wg_ratelimiter_gc(rl, T0 + WG_NSEC_PER_SEC + 49 * WG_NSEC_PER_MSEC + 1);
	assert_int_equal(wg_ratelimiter_count(rl), 50);
	/* A dropped source starts over with a full burst. */
	a = v4_n(0);
	drain(rl, &a, T0 + 2 * WG_NSEC_PER_SEC);
	wg_ratelimiter_gc(rl, T0 + 10 * WG_NSEC_PER_SEC);
	assert_int_equal(wg_ratelimiter_count(rl), 0);
	/* The freed slots are usable again. */
	for (i = 0; i < 100; i++) {
		a = v4_n(1000 + i);
		assert_true(wg_ratelimiter_allow(rl, &a, T0 + 11 * WG_NSEC_PER_SEC));
	}
	assert_int_equal(wg_ratelimiter_count(rl), 100);
}

static uint64_t rng_state = 0x2545f4914f6cdd1dULL;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* A flood of random sources over simulated time with periodic gc: the
 * count never exceeds the bound and every slot can be reused. */
static void test_bounded(void **state)
{
	struct wg_ratelimiter *rl = wg_ratelimiter_new(64);
	union wg_sockaddr a;
	uint64_t t = T0;
	size_t allowed = 0;
	int i;

	(void)state;
	assert_non_null(rl);
	for (i = 0; i < 200000; i++) {
		t += rnd() % (100 * 1000);
		if (rnd() & 1) {
			a = v4_n((uint32_t)(rnd() % 300));
		} else {
			a = v6("2001:db8::1", 1);
			a.in6.sin6_addr.s6_addr[7] = (uint8_t)rnd(); /* 256 /64s */
		}
		allowed += wg_ratelimiter_allow(rl, &a, t);
		assert_true(wg_ratelimiter_count(rl) <= 64);
		if (i % 5000 == 0)
			wg_ratelimiter_gc(rl, t);
	}
	assert_true(allowed > 1000);
	wg_ratelimiter_gc(rl, t + 2 * WG_NSEC_PER_SEC);
	assert_int_equal(wg_ratelimiter_count(rl), 0);
	wg_ratelimiter_free(rl);
}

static void test_new_limits(void **state)
{
	(void)state;
	assert_null(wg_ratelimiter_new(SIZE_MAX));
	wg_ratelimiter_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_burst_then_refuse, setup, teardown),
		cmocka_unit_test(test_table_full_unlisted),
		cmocka_unit_test_setup_teardown(test_refill_rate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clock_backwards, setup, teardown),
		cmocka_unit_test_setup_teardown(test_v4_keyed_by_address, setup, teardown),
		cmocka_unit_test_setup_teardown(test_v6_keyed_by_prefix, setup, teardown),
		cmocka_unit_test_setup_teardown(test_families_apart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gc, setup, teardown),
		cmocka_unit_test(test_table_full),
		cmocka_unit_test(test_bounded),
		cmocka_unit_test(test_new_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
