/* Receiver-index and public-key tables: chained hash tables with a
 * power-of-two bucket count, hashed by SipHash-2-4 (crypto_shorthash) under
 * a secret drawn per table, so neither the bucket of an index nor of a key
 * can be steered by a remote party. A table doubles once it holds more
 * entries than buckets, keeping chains O(1) long at 2^20 entries and more.
 * A table can be grown ahead (wg_pubkey_table_reserve) so that inserts up
 * to a known count never allocate: a configuration commit relies on it.
 * Both are built on one chained table (struct wg_htable) that knows its
 * entries only through a function giving the bytes an entry is hashed by.
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

/* --- the shared chained table --------------------------------------------- */

/* The bytes an entry is hashed by (its index or its key). */
typedef size_t (*hkey_fn)(const struct wg_hlink *l, uint8_t out[WG_KEY_LEN]);

static size_t hash_bytes(const uint8_t secret[16], const void *in, size_t len)
{
	uint8_t h[crypto_shorthash_BYTES];
	uint64_t v;

	crypto_shorthash(h, in, len, secret);
	memcpy(&v, h, sizeof(v));
	return (size_t)v;
}

static struct wg_hlink **ht_bucket(const struct wg_htable *t, const void *key, size_t len)
{
	return &t->buckets[hash_bytes(t->secret, key, len) & t->mask];
}

static int ht_init(struct wg_htable *t)
{
	memset(t, 0, sizeof(*t));
	t->buckets = calloc(INITIAL_BUCKETS, sizeof(*t->buckets));
	if (!t->buckets)
		return -ENOMEM;
	t->mask = INITIAL_BUCKETS - 1;
	wg_random_bytes(t->secret, sizeof(t->secret));
	return 0;
}

static void ht_free(struct wg_htable *t)
{
	free(t->buckets);
	wg_memzero(t, sizeof(*t));
}

/* Moves every entry into a new array of n buckets (a power of two).
 * 0, or -ENOMEM with the table as it was. */
static int ht_resize(struct wg_htable *t, size_t n, hkey_fn key_of)
{
	struct wg_hlink **old = t->buckets;
	size_t old_n = t->mask + 1;
	uint8_t key[WG_KEY_LEN];

	t->buckets = calloc(n, sizeof(*t->buckets));
	if (!t->buckets) {
		t->buckets = old;
		return -ENOMEM;
	}
	t->mask = n - 1;
	for (size_t i = 0; i < old_n; i++) {
		struct wg_hlink *l, *next;

		for (l = old[i]; l; l = next) {
			struct wg_hlink **b = ht_bucket(t, key, key_of(l, key));

			next = l->next;
			l->next = *b;
			*b = l;
		}
	}
	free(old);
	return 0;
}

/* Doubles the bucket array once the table holds as many entries as
 * buckets. On allocation failure the table stays as it is: still correct,
 * only with longer chains. */
static void ht_maybe_grow(struct wg_htable *t, hkey_fn key_of)
{
	if (t->count >= t->mask + 1)
		(void)ht_resize(t, (t->mask + 1) * 2, key_of);
}

/* Enough buckets that the table can hold `entries` without growing. */
static int ht_reserve(struct wg_htable *t, size_t entries, hkey_fn key_of)
{
	size_t n = t->mask + 1;

	while (n < entries && n <= SIZE_MAX / 2 / sizeof(*t->buckets))
		n *= 2;
	return n == t->mask + 1 ? 0 : ht_resize(t, n, key_of);
}

static void ht_push(struct wg_htable *t, struct wg_hlink **b, struct wg_hlink *l)
{
	l->next = *b;
	*b = l;
	t->count++;
}

/* The link pointing at l in its chain, NULL if l is not in the table. */
static struct wg_hlink **ht_link(const struct wg_htable *t, const struct wg_hlink *l,
				 hkey_fn key_of)
{
	uint8_t key[WG_KEY_LEN];
	struct wg_hlink **p = ht_bucket(t, key, key_of(l, key));

	while (*p && *p != l)
		p = &(*p)->next;
	return *p ? p : NULL;
}

static void ht_remove(struct wg_htable *t, struct wg_hlink *l, hkey_fn key_of)
{
	struct wg_hlink **p = ht_link(t, l, key_of);

	if (!p)
		return;
	*p = l->next;
	l->next = NULL;
	t->count--;
}

/* --- receiver indices ---------------------------------------------------- */

static void index_le(uint8_t out[4], uint32_t index)
{
	out[0] = (uint8_t)index;
	out[1] = (uint8_t)(index >> 8);
	out[2] = (uint8_t)(index >> 16);
	out[3] = (uint8_t)(index >> 24);
}

static size_t index_key(const struct wg_hlink *l, uint8_t out[WG_KEY_LEN])
{
	index_le(out, wg_container_of(l, const struct wg_index_entry, link)->index);
	return 4;
}

int wg_index_table_init(struct wg_index_table *t)
{
	return ht_init(&t->h);
}

void wg_index_table_free(struct wg_index_table *t)
{
	ht_free(&t->h);
}

struct wg_index_entry *wg_index_lookup(const struct wg_index_table *t, uint32_t index)
{
	uint8_t le[4];
	struct wg_hlink *l;

	index_le(le, index);
	for (l = *ht_bucket(&t->h, le, sizeof(le)); l; l = l->next) {
		struct wg_index_entry *e = wg_container_of(l, struct wg_index_entry, link);
		if (e->index == index)
			return e;
	}
	return NULL;
}

int wg_index_insert(struct wg_index_table *t, struct wg_index_entry *e)
{
	uint8_t le[4];
	uint32_t index;

	ht_maybe_grow(&t->h, index_key);
	do
		index = wg_random_u32();
	while (index == 0 || wg_index_lookup(t, index));
	e->index = index;
	index_le(le, index);
	ht_push(&t->h, ht_bucket(&t->h, le, sizeof(le)), &e->link);
	return 0;
}

void wg_index_replace(struct wg_index_table *t, struct wg_index_entry *old,
		      struct wg_index_entry *new_entry)
{
	struct wg_hlink **p = ht_link(&t->h, &old->link, index_key);

	if (!p || old == new_entry)
		return;
	new_entry->index = old->index;
	new_entry->link.next = old->link.next;
	*p = &new_entry->link;
	old->link.next = NULL;
}

void wg_index_remove(struct wg_index_table *t, struct wg_index_entry *e)
{
	ht_remove(&t->h, &e->link, index_key);
}

/* --- public keys --------------------------------------------------------- */

static size_t pubkey_key(const struct wg_hlink *l, uint8_t out[WG_KEY_LEN])
{
	memcpy(out, wg_container_of(l, const struct wg_pubkey_entry, link)->key, WG_KEY_LEN);
	return WG_KEY_LEN;
}

int wg_pubkey_table_init(struct wg_pubkey_table *t)
{
	return ht_init(&t->h);
}

void wg_pubkey_table_free(struct wg_pubkey_table *t)
{
	ht_free(&t->h);
}

/* Public keys are not secret: memcmp is fine here. */
struct wg_pubkey_entry *wg_pubkey_lookup(const struct wg_pubkey_table *t,
					 const uint8_t key[WG_KEY_LEN])
{
	struct wg_hlink *l;

	for (l = *ht_bucket(&t->h, key, WG_KEY_LEN); l; l = l->next) {
		struct wg_pubkey_entry *e = wg_container_of(l, struct wg_pubkey_entry, link);
		if (!memcmp(e->key, key, WG_KEY_LEN))
			return e;
	}
	return NULL;
}

int wg_pubkey_table_reserve(struct wg_pubkey_table *t, size_t entries)
{
	return ht_reserve(&t->h, entries, pubkey_key);
}

int wg_pubkey_insert(struct wg_pubkey_table *t, struct wg_pubkey_entry *e)
{
	if (wg_pubkey_lookup(t, e->key))
		return -EEXIST;
	ht_maybe_grow(&t->h, pubkey_key);
	ht_push(&t->h, ht_bucket(&t->h, e->key, WG_KEY_LEN), &e->link);
	return 0;
}

struct wg_pubkey_entry *wg_pubkey_find_or_insert(struct wg_pubkey_table *t,
						 struct wg_pubkey_entry *e)
{
	struct wg_hlink **b, *l;

	ht_maybe_grow(&t->h, pubkey_key);
	b = ht_bucket(&t->h, e->key, WG_KEY_LEN);
	for (l = *b; l; l = l->next) {
		struct wg_pubkey_entry *old = wg_container_of(l, struct wg_pubkey_entry, link);
		if (!memcmp(old->key, e->key, WG_KEY_LEN))
			return old;
	}
	ht_push(&t->h, b, &e->link);
	return e;
}

void wg_pubkey_remove(struct wg_pubkey_table *t, struct wg_pubkey_entry *e)
{
	ht_remove(&t->h, &e->link, pubkey_key);
}
