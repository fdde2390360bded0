#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "wgd/replay.h"

#define WIN    WG_COUNTER_WINDOW_SIZE
#define LIM    (WIN + 1)
#define REJECT WG_REJECT_AFTER_MESSAGES

struct kase {
	uint64_t counter;
	bool accept;
};

static void run_cases(struct wg_replay *r, const struct kase *k, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (wg_replay_check(r, k[i].counter) != k[i].accept)
			fail_msg("case %zu: counter %llu expected %s", i + 1,
				 (unsigned long long)k[i].counter,
				 k[i].accept ? "accept" : "reject");
	}
}

/* The sequence of the kernel's counter selftest: duplicates, out-of-order
 * inside the window, both window edges, far jumps, the reject limit. */
static void test_kernel_sequence(void **state)
{
	static const struct kase k[] = {
		{0, true},
		{1, true},
		{1, false},
		{9, true},
		{8, true},
		{7, true},
		{7, false},
		{LIM, true},
		{LIM - 1, true},
		{LIM - 1, false},
		{LIM - 2, true},
		{2, true}, /* greatest - 2 == WIN - 1... still inside */
		{2, false},
		{LIM + 16, true},
		{3, false}, /* now outside */
		{LIM + 16, false},
		{LIM * 4, true},
		{LIM * 4 - (LIM - 1), true}, /* exactly greatest - WIN */
		{10, false},
		{LIM * 4 - LIM, false}, /* greatest - WIN - 1 */
		{LIM * 4 - (LIM + 1), false},
		{LIM * 4 - (LIM - 2), true},
		{LIM * 4 + 1 - LIM, false},
		{0, false},
		{REJECT, false},
		{REJECT - 1, true},
		{REJECT, false},
		{REJECT - 1, false},
		{REJECT - 2, true},
		{REJECT + 1, false},
		{REJECT + 2, false},
		{REJECT - 2, false},
		{REJECT - 3, true},
		{0, false},
	};
	struct wg_replay r;

	(void)state;
	wg_replay_init(&r);
	run_cases(&r, k, sizeof(k) / sizeof(k[0]));
}

static void check_range(struct wg_replay *r, uint64_t from, uint64_t to, bool accept)
{
	uint64_t i;

	for (i = from; i <= to; i++)
		assert_true(wg_replay_check(r, i) == accept);
}

static void check_down(struct wg_replay *r, uint64_t from, uint64_t to)
{
	uint64_t i;

	for (i = from + 1; i-- > to;)
		assert_true(wg_replay_check(r, i));
}

/* The kernel's bulk cases around a window filled exactly to its size. */
static void test_bulk_forward(void **state)
{
	struct wg_replay r;

	(void)state;
	wg_replay_init(&r);
	check_range(&r, 1, WIN, true);
	assert_true(wg_replay_check(&r, 0)); /* greatest - WIN: last slot */
	assert_false(wg_replay_check(&r, 0));

	wg_replay_init(&r);
	check_range(&r, 2, WIN + 1, true);
	assert_true(wg_replay_check(&r, 1));
	assert_false(wg_replay_check(&r, 0)); /* greatest - WIN - 1 */
}

static void test_bulk_backward(void **state)
{
	struct wg_replay r;

	(void)state;
	wg_replay_init(&r);
	check_down(&r, WIN, 0);

	wg_replay_init(&r);
	check_down(&r, WIN + 1, 1);
	assert_false(wg_replay_check(&r, 0));

	wg_replay_init(&r);
	check_down(&r, WIN, 1);
	assert_true(wg_replay_check(&r, WIN + 1));
	assert_false(wg_replay_check(&r, 0));

	wg_replay_init(&r);
	check_down(&r, WIN, 1);
	assert_true(wg_replay_check(&r, 0));
	assert_true(wg_replay_check(&r, WIN + 1));
}

/* A jump of exactly the ring size lands on the same bit: the stale bit
 * must have been cleared, and the old counter is now too old. */
static void test_ring_wrap_same_bit(void **state)
{
	struct wg_replay r;
	uint64_t k;

	(void)state;
	wg_replay_init(&r);
	for (k = 0; k < 8; k++) {
		uint64_t c = 100 + k * WG_COUNTER_WINDOW_BITS;

		assert_true(wg_replay_check(&r, c));
		assert_false(wg_replay_check(&r, c));
		if (k)
			assert_false(wg_replay_check(&r, c - WG_COUNTER_WINDOW_BITS));
	}
}

/* Sliding across the ring boundary one word at a time keeps every bit of
 * the window intact: fill a full window, then advance by 64 repeatedly and
 * check that all still-acceptable counters read as duplicates. */
static void test_ring_wrap_slide(void **state)
{
	struct wg_replay r;
	uint64_t top, c;

	(void)state;
	wg_replay_init(&r);
	check_range(&r, 0, 3 * WG_COUNTER_WINDOW_BITS, true);
	for (top = 3 * WG_COUNTER_WINDOW_BITS; top < 5 * WG_COUNTER_WINDOW_BITS; top += 64) {
		for (c = top + 1; c <= top + 64; c++)
			assert_true(wg_replay_check(&r, c));
		for (c = top + 64 - WIN; c <= top + 64; c += 61)
			assert_false(wg_replay_check(&r, c));
		assert_false(wg_replay_check(&r, top + 64 - WIN - 1));
	}
}

/* Jumps forward by the window, the ring, and just around them. Invariant:
 * the whole window below the greatest counter g has been seen, so after a
 * jump to ng exactly the counters above g are fresh. */
static void test_far_jumps(void **state)
{
	static const uint64_t jumps[] = {
		WIN - 1,
		WIN,
		WIN + 1,
		WG_COUNTER_WINDOW_BITS - 1,
		WG_COUNTER_WINDOW_BITS,
		WG_COUNTER_WINDOW_BITS + 1,
		2 * WG_COUNTER_WINDOW_BITS,
		63,
		64,
		65,
		1ULL << 40,
	};
	struct wg_replay r;
	uint64_t g = 5000, c;
	size_t i;

	(void)state;
	wg_replay_init(&r);
	check_range(&r, 0, g, true);
	for (i = 0; i < sizeof(jumps) / sizeof(jumps[0]); i++) {
		uint64_t ng = g + jumps[i];

		assert_true(wg_replay_check(&r, ng));
		assert_false(wg_replay_check(&r, ng - WIN - 1));
		for (c = ng - WIN; c < ng; c++)
			assert_true(wg_replay_check(&r, c) == (c > g));
		assert_false(wg_replay_check(&r, g));
		g = ng;
	}
}

static void test_reject_limit(void **state)
{
	struct wg_replay r;

	(void)state;
	wg_replay_init(&r);
	assert_false(wg_replay_check(&r, REJECT));
	assert_false(wg_replay_check(&r, UINT64_MAX));
	assert_true(wg_replay_check(&r, REJECT - 1));
	assert_false(wg_replay_check(&r, REJECT - 1));
	assert_true(wg_replay_check(&r, REJECT - 1 - WIN));
	assert_false(wg_replay_check(&r, REJECT - 2 - WIN));
	assert_false(wg_replay_check(&r, REJECT));
}

/* Naive reference: the set of counters seen (a bitmap over a bounded span
 * above base) and the greatest one. */
#define REF_SPAN (1ULL << 24)

struct ref {
	uint8_t *seen;
	uint64_t base, greatest;
	bool any;
};

static bool ref_check(struct ref *f, uint64_t x)
{
	uint64_t c = f->base + x;

	if (c >= REJECT)
		return false;
	if (f->any && c + WIN < f->greatest)
		return false;
	if (f->seen[x >> 3] & (1u << (x & 7)))
		return false;
	f->seen[x >> 3] |= (uint8_t)(1u << (x & 7));
	if (!f->any || c > f->greatest)
		f->greatest = c;
	f->any = true;
	return true;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* Next counter offset to try, relative to the greatest offset g: mostly
 * near the top of the window, with edges, duplicates and jumps mixed in. */
static uint64_t pick(uint64_t g)
{
	static const uint64_t edges[] = {WIN - 1, WIN, WIN + 1, WG_COUNTER_WINDOW_BITS, 64};
	uint64_t r = rnd() % 1000, back;

	if (r < 400)
		return g + 1 + rnd() % 2;
	if (r < 402)
		return g + edges[rnd() % 5] + rnd() % 3;
	if (r < 404)
		return g + rnd() % 40000;
	if (r < 450)
		back = edges[rnd() % 5] - 1 + rnd() % 3;
	else if (r < 700)
		back = rnd() % 128;
	else if (r < 970)
		back = rnd() % (WIN + 200);
	else
		back = rnd() % (g + 1);
	return back > g ? 0 : g - back;
}

/* ops operations on a window starting empty at base; when the walk leaves
 * the reference's span both start over. Returns how many were accepted. */
static size_t random_run(uint64_t base, size_t ops)
{
	struct ref f = {.base = base};
	struct wg_replay r;
	size_t i, accepted = 0;
	uint64_t x;
	bool ok;

	f.seen = calloc(REF_SPAN / 8, 1);
	assert_non_null(f.seen);
	wg_replay_init(&r);
	for (i = 0; i < ops; i++) {
		x = pick(f.any ? f.greatest - base : 0);
		if (x >= REF_SPAN) {
			memset(f.seen, 0, REF_SPAN / 8);
			f.any = false;
			wg_replay_init(&r);
			continue;
		}
		ok = wg_replay_check(&r, base + x);
		if (ok != ref_check(&f, x))
			fail_msg("op %zu: counter %llu (base %llu) disagrees", i,
				 (unsigned long long)(base + x), (unsigned long long)base);
		accepted += ok;
	}
	free(f.seen);
	return accepted;
}

static void test_random_vs_reference(void **state)
{
	size_t n;

	(void)state;
	/* ~1M operations from zero, both outcomes well represented. */
	n = random_run(0, 1000000);
	assert_in_range(n, 500000, 900000);
	/* A run that crosses the reject limit. */
	n = random_run(REJECT - REF_SPAN / 64, 200000);
	assert_in_range(n, 5000, 100000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kernel_sequence), cmocka_unit_test(test_bulk_forward),
		cmocka_unit_test(test_bulk_backward),	cmocka_unit_test(test_ring_wrap_same_bit),
		cmocka_unit_test(test_ring_wrap_slide), cmocka_unit_test(test_far_jumps),
		cmocka_unit_test(test_reject_limit),	cmocka_unit_test(test_random_vs_reference),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
