/* Lookup tables of the device: receiver index -> handshake or keypair, and
 * static public key -> peer. Hash tables keyed by SipHash
 * (crypto_shorthash) under a per-table random secret, so a remote party
 * cannot aim collisions; they grow with the peer count. */
#ifndef WGD_INDEX_H
#define WGD_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

/* The object holding member ptr points at. */
#define wg_container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* Hash chain link, embedded in each table's entries. */
struct wg_hlink {
	struct wg_hlink *next;
};

/* The part both tables share: buckets of chains, hashed under a secret. */
struct wg_htable {
	struct wg_hlink **buckets;
	size_t mask; /* buckets - 1, a power of two */
	size_t count;
	uint8_t secret[16];
};

enum wg_index_kind {
	WG_INDEX_HANDSHAKE = 1,
	WG_INDEX_KEYPAIR = 2,
};

/* Embedded in a handshake or keypair; index is assigned by the table. */
struct wg_index_entry {
	struct wg_hlink link; /* hash chain (private) */
	uint32_t index;
	enum wg_index_kind kind;
	void *peer; /* not owned: the peer owning the embedding object */
};

struct wg_index_table {
	struct wg_htable h;
};

/* wg_crypto_init() must have run (the secret comes from wg_random_bytes).
 * 0 or -ENOMEM. */
int wg_index_table_init(struct wg_index_table *t);
void wg_index_table_free(struct wg_index_table *t);
/* Assigns e a fresh random index, never 0 and not present in the table, and
 * inserts it; e must not be in the table already. Returns 0 (a failed
 * growth only lengthens chains; -ENOMEM is reserved). */
int wg_index_insert(struct wg_index_table *t, struct wg_index_entry *e);
/* Puts new in place of old, with old's index (a handshake becoming a
 * keypair keeps the index the peer already knows). No-op if old is not in
 * the table. */
void wg_index_replace(struct wg_index_table *t, struct wg_index_entry *old,
		      struct wg_index_entry *new_entry);
/* Removes e if present (no-op otherwise). */
void wg_index_remove(struct wg_index_table *t, struct wg_index_entry *e);
struct wg_index_entry *wg_index_lookup(const struct wg_index_table *t, uint32_t index);

/* Embedded in a peer. */
struct wg_pubkey_entry {
	struct wg_hlink link;
	uint8_t key[WG_KEY_LEN];
};

struct wg_pubkey_table {
	struct wg_htable h;
};

/* Same precondition and result as wg_index_table_init. */
int wg_pubkey_table_init(struct wg_pubkey_table *t);
void wg_pubkey_table_free(struct wg_pubkey_table *t);
/* Grows the table so it holds `entries` in all without growing again:
 * inserts up to that count allocate nothing. 0 or -ENOMEM. */
int wg_pubkey_table_reserve(struct wg_pubkey_table *t, size_t entries);
/* 0 or -EEXIST (same key present). e->key must be set. A failed growth
 * only lengthens chains. */
int wg_pubkey_insert(struct wg_pubkey_table *t, struct wg_pubkey_entry *e);
/* The entry with e's key if there is one, else e, inserted (one hash and
 * one chain walk for both). */
struct wg_pubkey_entry *wg_pubkey_find_or_insert(struct wg_pubkey_table *t,
						 struct wg_pubkey_entry *e);
void wg_pubkey_remove(struct wg_pubkey_table *t, struct wg_pubkey_entry *e);
struct wg_pubkey_entry *wg_pubkey_lookup(const struct wg_pubkey_table *t,
					 const uint8_t key[WG_KEY_LEN]);

#endif
