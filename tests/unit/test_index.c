#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "wgd/crypto.h"
#include "wgd/index.h"

#define MANY 100000

static int setup(void **state)
{
	(void)state;
	return wg_crypto_init();
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* Longest chain: growth must keep it short even at MANY entries. */
static size_t longest_chain(const struct wg_index_table *t)
{
	size_t worst = 0;

	for (size_t i = 0; i <= t->h.mask; i++) {
		size_t len = 0;

		for (const struct wg_hlink *l = t->h.buckets[i]; l; l = l->next)
			len++;
		if (len > worst)
			worst = len;
	}
	return worst;
}

static void test_index_many(void **state)
{
	struct wg_index_table t;
	struct wg_index_entry *e = calloc(MANY, sizeof(*e));
	uint32_t *idx = calloc(MANY, sizeof(*idx));

	(void)state;
	assert_non_null(e);
	assert_non_null(idx);
	assert_int_equal(wg_index_table_init(&t), 0);
	for (size_t i = 0; i < MANY; i++) {
		e[i].kind = WG_INDEX_HANDSHAKE;
		e[i].peer = &e[i];
		assert_int_equal(wg_index_insert(&t, &e[i]), 0);
		assert_int_not_equal(e[i].index, 0);
		idx[i] = e[i].index;
	}
	assert_int_equal(t.h.count, MANY);
	/* Load factor at most 1 after growth, power-of-two buckets. */
	assert_true(t.h.mask + 1 >= MANY);
	assert_int_equal((t.h.mask + 1) & t.h.mask, 0);
	assert_true(longest_chain(&t) < 16);
	for (size_t i = 0; i < MANY; i++)
		assert_ptr_equal(wg_index_lookup(&t, e[i].index), &e[i]);
	qsort(idx, MANY, sizeof(*idx), cmp_u32);
	for (size_t i = 1; i < MANY; i++)
		assert_true(idx[i - 1] != idx[i]);
	/* Remove every other entry; the rest stay found. */
	for (size_t i = 0; i < MANY; i += 2)
		wg_index_remove(&t, &e[i]);
	assert_int_equal(t.h.count, MANY / 2);
	for (size_t i = 0; i < MANY; i++)
		assert_ptr_equal(wg_index_lookup(&t, e[i].index), i % 2 ? &e[i] : NULL);
	wg_index_table_free(&t);
	free(e);
	free(idx);
}

static void test_index_absent(void **state)
{
	struct wg_index_table t;
	struct wg_index_entry a = {0}, b = {0};
	int found = 0;

	(void)state;
	assert_int_equal(wg_index_table_init(&t), 0);
	assert_null(wg_index_lookup(&t, 0));
	assert_null(wg_index_lookup(&t, 12345));
	assert_int_equal(wg_index_insert(&t, &a), 0);
	assert_null(wg_index_lookup(&t, 0));
	/* Probe many absent indices; only a's is present. */
	for (uint32_t i = 1; i < 100000; i++)
		found += wg_index_lookup(&t, a.index ^ i) != NULL;
	assert_int_equal(found, 0);
	/* Removing an entry that is not in the table is a no-op. */
	b.index = a.index ^ 1;
	wg_index_remove(&t, &b);
	b.index = a.index; /* same index, different object */
	wg_index_remove(&t, &b);
	assert_int_equal(t.h.count, 1);
	assert_ptr_equal(wg_index_lookup(&t, a.index), &a);
	wg_index_remove(&t, &a);
	wg_index_remove(&t, &a); /* twice */
	assert_int_equal(t.h.count, 0);
	assert_null(wg_index_lookup(&t, a.index));
	wg_index_table_free(&t);
}

static void test_index_replace(void **state)
{
	struct wg_index_table t;
	struct wg_index_entry hs[64] = {0}, kp = {.kind = WG_INDEX_KEYPAIR}, other = {0};
	uint32_t index;

	(void)state;
	assert_int_equal(wg_index_table_init(&t), 0);
	for (int i = 0; i < 64; i++) /* populate so chains are not trivial */
		assert_int_equal(wg_index_insert(&t, &hs[i]), 0);
	index = hs[17].index;
	wg_index_replace(&t, &hs[17], &kp);
	assert_int_equal(kp.index, index);
	assert_int_equal(t.h.count, 64);
	assert_ptr_equal(wg_index_lookup(&t, index), &kp);
	assert_int_equal(wg_index_lookup(&t, index)->kind, WG_INDEX_KEYPAIR);
	for (int i = 0; i < 64; i++)
		if (i != 17)
			assert_ptr_equal(wg_index_lookup(&t, hs[i].index), &hs[i]);
	/* old is gone: replacing it again does nothing. */
	other.index = 77;
	wg_index_replace(&t, &hs[17], &other);
	assert_int_equal(other.index, 77);
	assert_ptr_equal(wg_index_lookup(&t, index), &kp);
	/* Replacing with itself is harmless. */
	wg_index_replace(&t, &kp, &kp);
	assert_ptr_equal(wg_index_lookup(&t, index), &kp);
	wg_index_remove(&t, &kp);
	assert_null(wg_index_lookup(&t, index));
	assert_int_equal(t.h.count, 63);
	wg_index_table_free(&t);
}

/* Two tables draw different secrets and different indices. */
static void test_index_secrets(void **state)
{
	struct wg_index_table a, b;

	(void)state;
	assert_int_equal(wg_index_table_init(&a), 0);
	assert_int_equal(wg_index_table_init(&b), 0);
	assert_memory_not_equal(a.h.secret, b.h.secret, sizeof(a.h.secret));
	wg_index_table_free(&a);
	wg_index_table_free(&b);
	assert_null(a.h.buckets);
}

static void make_key(uint8_t key[WG_KEY_LEN], uint32_t i)
{
	memset(key, 0xa5, WG_KEY_LEN);
	memcpy(key, &i, sizeof(i));
}

static void test_pubkey_basic(void **state)
{
	struct wg_pubkey_table t;
	struct wg_pubkey_entry a, b, c;
	uint8_t k[WG_KEY_LEN];

	(void)state;
	assert_int_equal(wg_pubkey_table_init(&t), 0);
	make_key(a.key, 1);
	make_key(b.key, 1); /* same key as a */
	make_key(c.key, 2);
	assert_null(wg_pubkey_lookup(&t, a.key));
	assert_int_equal(wg_pubkey_insert(&t, &a), 0);
	assert_int_equal(wg_pubkey_insert(&t, &b), -EEXIST);
	assert_int_equal(wg_pubkey_insert(&t, &a), -EEXIST);
	assert_int_equal(wg_pubkey_insert(&t, &c), 0);
	assert_int_equal(t.h.count, 2);
	assert_ptr_equal(wg_pubkey_lookup(&t, b.key), &a);
	assert_ptr_equal(wg_pubkey_lookup(&t, c.key), &c);
	make_key(k, 3);
	assert_null(wg_pubkey_lookup(&t, k));
	/* Keys differing only in the last byte are distinct. */
	memcpy(k, a.key, WG_KEY_LEN);
	k[WG_KEY_LEN - 1] ^= 1;
	assert_null(wg_pubkey_lookup(&t, k));
	wg_pubkey_remove(&t, &b); /* not in the table: no-op */
	assert_ptr_equal(wg_pubkey_lookup(&t, a.key), &a);
	wg_pubkey_remove(&t, &a);
	assert_null(wg_pubkey_lookup(&t, a.key));
	assert_int_equal(t.h.count, 1);
	assert_int_equal(wg_pubkey_insert(&t, &b), 0); /* now free */
	assert_ptr_equal(wg_pubkey_lookup(&t, a.key), &b);
	wg_pubkey_remove(&t, &b);
	wg_pubkey_remove(&t, &c);
	assert_int_equal(t.h.count, 0);
	wg_pubkey_table_free(&t);
}

static void test_pubkey_growth(void **state)
{
	struct wg_pubkey_table t;
	struct wg_pubkey_entry *e = calloc(MANY, sizeof(*e));
	size_t initial;

	(void)state;
	assert_non_null(e);
	assert_int_equal(wg_pubkey_table_init(&t), 0);
	initial = t.h.mask + 1;
	for (uint32_t i = 0; i < MANY; i++) {
		make_key(e[i].key, i);
		assert_int_equal(wg_pubkey_insert(&t, &e[i]), 0);
	}
	assert_true(t.h.mask + 1 > initial);
	assert_true(t.h.mask + 1 >= MANY);
	assert_int_equal((t.h.mask + 1) & t.h.mask, 0);
	for (uint32_t i = 0; i < MANY; i++)
		assert_ptr_equal(wg_pubkey_lookup(&t, e[i].key), &e[i]);
	for (uint32_t i = 0; i < MANY; i += 3)
		wg_pubkey_remove(&t, &e[i]);
	for (uint32_t i = 0; i < MANY; i++)
		assert_ptr_equal(wg_pubkey_lookup(&t, e[i].key), i % 3 ? &e[i] : NULL);
	wg_pubkey_table_free(&t);
	free(e);
}

/* After a reserve for n entries, inserting up to n never moves the bucket
 * array (a configuration commit relies on it); find_or_insert inserts a
 * new key and returns the entry already holding a known one. */
static void test_pubkey_reserve(void **state)
{
	struct wg_pubkey_table t;
	struct wg_pubkey_entry *e = calloc(MANY + 1, sizeof(*e));
	struct wg_hlink **buckets;

	(void)state;
	assert_non_null(e);
	assert_int_equal(wg_pubkey_table_init(&t), 0);
	assert_int_equal(wg_pubkey_table_reserve(&t, MANY), 0);
	assert_true(t.h.mask + 1 >= MANY);
	buckets = t.h.buckets;
	for (uint32_t i = 0; i < MANY; i++) {
		make_key(e[i].key, i);
		assert_ptr_equal(wg_pubkey_find_or_insert(&t, &e[i]), &e[i]);
	}
	assert_ptr_equal(t.h.buckets, buckets);
	assert_int_equal(t.h.count, MANY);
	make_key(e[MANY].key, 7);
	assert_ptr_equal(wg_pubkey_find_or_insert(&t, &e[MANY]), &e[7]);
	assert_int_equal(t.h.count, MANY);
	assert_int_equal(wg_pubkey_table_reserve(&t, 10), 0); /* never shrinks */
	assert_ptr_equal(t.h.buckets, buckets);
	for (uint32_t i = 0; i < MANY; i++)
		assert_ptr_equal(wg_pubkey_lookup(&t, e[i].key), &e[i]);
	wg_pubkey_table_free(&t);
	free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_index_many),     cmocka_unit_test(test_index_absent),
		cmocka_unit_test(test_index_replace),  cmocka_unit_test(test_index_secrets),
		cmocka_unit_test(test_pubkey_basic),   cmocka_unit_test(test_pubkey_growth),
		cmocka_unit_test(test_pubkey_reserve),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
