/* Receiver-index and public-key tables: chained hash tables with a
 * power-of-two bucket count, hashed by SipHash-2-4 (crypto_shorthash) under
 * a secret drawn per table, so neither the bucket of an index nor of a key
 * can be steered by a remote party. A table doubles once it holds more
 * entries than buckets, keeping chains O(1) long at 2^20 entries and more.
 *
 * Indices are random 32-bit values, never 0 (0 is left free to mean "no
 * index" to callers), and never one already in the table. */
#include "wgd/index.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "wgd/crypto.h"

#define INITIAL_BUCKETS 16

static size_t hash_bytes(const uint8_t secret[16], const void *in, size_t len)
{
	uint8_t h[crypto_shorthash_BYTES];
	uint64_t v;

	crypto_shorthash(h, in, len, secret);
	memcpy(&v, h, sizeof(v));
	return (size_t)v;
}

/* Allocates a zeroed bucket array of n (a power of two) slots. */
static void *buckets_new(size_t n)
{
	return calloc(n, sizeof(void *));
}

/* --- receiver indices ---------------------------------------------------- */

static struct wg_index_entry **index_bucket(const struct wg_index_table *t, uint32_t index)
{
	uint8_t le[4] = {(uint8_t)index, (uint8_t)(index >> 8), (uint8_t)(index >> 16),
			 (uint8_t)(index >> 24)};

	return &t->buckets[hash_bytes(t->secret, le, sizeof(le)) & t->mask];
}

int wg_index_table_init(struct wg_index_table *t)
{
	memset(t, 0, sizeof(*t));
	t->buckets = buckets_new(INITIAL_BUCKETS);
	if (!t->buckets)
		return -ENOMEM;
	t->mask = INITIAL_BUCKETS - 1;
	wg_random_bytes(t->secret, sizeof(t->secret));
	return 0;
}

void wg_index_table_free(struct wg_index_table *t)
{
	free(t->buckets);
	wg_memzero(t, sizeof(*t));
}

/* Doubles the bucket array. On allocation failure the table stays as it
 * is: still correct, only with longer chains. */
static void index_grow(struct wg_index_table *t)
{
	struct wg_index_entry **old = t->buckets;
	size_t n = t->mask + 1;

	t->buckets = buckets_new(n * 2);
	if (!t->buckets) {
		t->buckets = old;
		return;
	}
	t->mask = n * 2 - 1;
	for (size_t i = 0; i < n; i++) {
		struct wg_index_entry *e, *next;

		for (e = old[i]; e; e = next) {
			struct wg_index_entry **b = index_bucket(t, e->index);

			next = e->next;
			e->next = *b;
			*b = e;
		}
	}
	free(old);
}

struct wg_index_entry *wg_index_lookup(const struct wg_index_table *t, uint32_t index)
{
	struct wg_index_entry *e = *index_bucket(t, index);

	while (e && e->index != index)
		e = e->next;
	return e;
}

int wg_index_insert(struct wg_index_table *t, struct wg_index_entry *e)
{
	struct wg_index_entry **b;
	uint32_t index;

	if (t->count >= t->mask + 1)
		index_grow(t);
	do
		index = wg_random_u32();
	while (index == 0 || wg_index_lookup(t, index));
	b = index_bucket(t, index);
	e->index = index;
	e->next = *b;
	*b = e;
	t->count++;
	return 0;
}

/* The link pointing at e in its chain, NULL if e is not in the table. */
static struct wg_index_entry **index_link(const struct wg_index_table *t,
					  const struct wg_index_entry *e)
{
	struct wg_index_entry **p = index_bucket(t, e->index);

	while (*p && *p != e)
		p = &(*p)->next;
	return *p ? p : NULL;
}

void wg_index_replace(struct wg_index_table *t, struct wg_index_entry *old,
		      struct wg_index_entry *new_entry)
{
	struct wg_index_entry **p = index_link(t, old);

	if (!p || old == new_entry)
		return;
	new_entry->index = old->index;
	new_entry->next = old->next;
	*p = new_entry;
	old->next = NULL;
}

void wg_index_remove(struct wg_index_table *t, struct wg_index_entry *e)
{
	struct wg_index_entry **p = index_link(t, e);

	if (!p)
		return;
	*p = e->next;
	e->next = NULL;
	t->count--;
}

/* --- public keys --------------------------------------------------------- */

static struct wg_pubkey_entry **pubkey_bucket(const struct wg_pubkey_table *t,
					      const uint8_t key[WG_KEY_LEN])
{
	return &t->buckets[hash_bytes(t->secret, key, WG_KEY_LEN) & t->mask];
}

int wg_pubkey_table_init(struct wg_pubkey_table *t)
{
	memset(t, 0, sizeof(*t));
	t->buckets = buckets_new(INITIAL_BUCKETS);
	if (!t->buckets)
		return -ENOMEM;
	t->mask = INITIAL_BUCKETS - 1;
	wg_random_bytes(t->secret, sizeof(t->secret));
	return 0;
}

void wg_pubkey_table_free(struct wg_pubkey_table *t)
{
	free(t->buckets);
	wg_memzero(t, sizeof(*t));
}

static void pubkey_grow(struct wg_pubkey_table *t)
{
	struct wg_pubkey_entry **old = t->buckets;
	size_t n = t->mask + 1;

	t->buckets = buckets_new(n * 2);
	if (!t->buckets) {
		t->buckets = old;
		return;
	}
	t->mask = n * 2 - 1;
	for (size_t i = 0; i < n; i++) {
		struct wg_pubkey_entry *e, *next;

		for (e = old[i]; e; e = next) {
			struct wg_pubkey_entry **b = pubkey_bucket(t, e->key);

			next = e->next;
			e->next = *b;
			*b = e;
		}
	}
	free(old);
}

/* Public keys are not secret: memcmp is fine here. */
struct wg_pubkey_entry *wg_pubkey_lookup(const struct wg_pubkey_table *t,
					 const uint8_t key[WG_KEY_LEN])
{
	struct wg_pubkey_entry *e = *pubkey_bucket(t, key);

	while (e && memcmp(e->key, key, WG_KEY_LEN) != 0)
		e = e->next;
	return e;
}

int wg_pubkey_insert(struct wg_pubkey_table *t, struct wg_pubkey_entry *e)
{
	struct wg_pubkey_entry **b;

	if (wg_pubkey_lookup(t, e->key))
		return -EEXIST;
	if (t->count >= t->mask + 1)
		pubkey_grow(t);
	b = pubkey_bucket(t, e->key);
	e->next = *b;
	*b = e;
	t->count++;
	return 0;
}

void wg_pubkey_remove(struct wg_pubkey_table *t, struct wg_pubkey_entry *e)
{
	struct wg_pubkey_entry **p = pubkey_bucket(t, e->key);

	while (*p && *p != e)
		p = &(*p)->next;
	if (!*p)
		return;
	*p = e->next;
	e->next = NULL;
	t->count--;
}
