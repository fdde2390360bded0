/* AllowedIPs: a path-compressed binary trie per address family mapping
 * prefixes to owners (peers), longest-prefix match. Each owner keeps the
 * list of its own nodes so "remove all of a peer" and "list a peer's
 * prefixes" cost O(its prefixes). */
#ifndef WGD_ALLOWEDIPS_H
#define WGD_ALLOWEDIPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct wg_aip_node;

/* Embedded in whatever owns prefixes (the peer); find the peer back with
 * container_of. Zero-initialise before first use. */
struct wg_aip_owner {
	struct wg_aip_node *head; /* this owner's nodes, linked through the trie nodes */
	size_t count;
};

struct wg_allowedips {
	struct wg_aip_node *root4;
	struct wg_aip_node *root6;
	size_t nodes;		   /* trie nodes, both families */
	size_t prefixes;	   /* nodes with an owner */
	struct wg_aip_node *spare; /* reserved nodes, not in the trie */
	size_t n_spare;
	bool reserved; /* a reserve is held (wg_allowedips_reserve) */
};

/* Nodes one insert can need at most: a leaf and a branch point. */
#define WG_AIP_NODES_PER_INSERT 2

/* family is AF_INET (addr 4 bytes, cidr <= 32) or AF_INET6 (16, <= 128). */
void wg_allowedips_init(struct wg_allowedips *t);
/* True if insert and remove accept this family and cidr. */
bool wg_allowedips_valid(int family, uint8_t cidr);
/* Frees every node (and the reserve); owners are left with empty lists. */
void wg_allowedips_free(struct wg_allowedips *t);
/* Sets aside every node that inserting `inserts` prefixes can take, with
 * removals in between, when at most `fresh` of them are not held by any
 * owner now: until wg_allowedips_release those inserts cannot
 * fail for memory, and nodes freed meanwhile return to the reserve. A
 * configuration commit relies on it. 0 or -ENOMEM; either way the reserve
 * is held until released. */
int wg_allowedips_reserve(struct wg_allowedips *t, size_t inserts, size_t fresh);
/* Frees the reserved nodes no insert took and ends the reserve. */
void wg_allowedips_release(struct wg_allowedips *t);
/* True if owner holds exactly addr/cidr. O(its prefixes). */
bool wg_allowedips_owner_holds(const struct wg_aip_owner *owner, int family, const uint8_t *addr,
			       uint8_t cidr);
/* Inserts addr/cidr (host bits are masked off) for owner; an existing owner
 * of exactly that prefix is replaced. 0, -EINVAL or -ENOMEM (only when the
 * reserve is empty). */
int wg_allowedips_insert(struct wg_allowedips *t, int family, const uint8_t *addr, uint8_t cidr,
			 struct wg_aip_owner *owner);
/* Removes addr/cidr if (and only if) owner holds exactly it. 0, -ENOENT,
 * or -EINVAL (bad family or cidr). */
int wg_allowedips_remove(struct wg_allowedips *t, int family, const uint8_t *addr, uint8_t cidr,
			 struct wg_aip_owner *owner);
/* Removes every prefix of owner. */
void wg_allowedips_remove_owner(struct wg_allowedips *t, struct wg_aip_owner *owner);
/* Longest-prefix match for a destination/source; NULL if none (or bad
 * family). No allocation; O(depth) word compares. */
struct wg_aip_owner *wg_allowedips_lookup(const struct wg_allowedips *t, int family,
					  const uint8_t *addr);

/* Calls fn for each prefix of owner, in insertion order. Stops and returns
 * fn's value if it is non-zero. addr holds 4 or 16 bytes (host bits zero). */
typedef int (*wg_aip_fn)(void *ctx, int family, const uint8_t *addr, uint8_t cidr);
int wg_allowedips_foreach(const struct wg_aip_owner *owner, wg_aip_fn fn, void *ctx);

/* Bytes of one trie node (for memory reports). */
size_t wg_allowedips_node_size(void);

#endif
