/* AllowedIPs: one path-compressed binary trie per address family.
 *
 * Every node stands for a prefix (key, cidr). Keys are kept as two
 * host-order 64-bit words holding the address most significant bit first
 * (IPv4 uses the top 32 bits of word 0), so matching and branching are a
 * few word operations for either family. A child sits at child[b] where b
 * is the bit of its key just past the parent's cidr; its cidr is larger.
 * Nodes without an owner exist only as branch points and always have two
 * children: removal splices out or frees any node that breaks that rule,
 * so the node count tracks the number of prefixes (at most 2n - 1).
 *
 * A configuration commit must not fail, so it first reserves the nodes it
 * may need (wg_allowedips_reserve); inserts take those, and nodes freed
 * meanwhile go back to the reserve until it is released.
 *
 * Each owner's nodes form a doubly linked list through the nodes, in
 * insertion order; the head's oprev points at the tail so appending is
 * O(1). Behaviour follows the Linux allowedips; the code is independent. */
#include "wgd/allowedips.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* Fields read by lookups come first so a visit mostly touches one line. */
struct wg_aip_node {
	uint64_t key[2]; /* bits beyond cidr are zero */
	struct wg_aip_node *child[2];
	struct wg_aip_owner *owner; /* NULL for a branch-only node */
	uint8_t cidr;
	uint8_t maxbits;	    /* 32 or 128: the family */
	struct wg_aip_node *parent; /* NULL for a family root */
	struct wg_aip_node *onext;  /* owner list, insertion order */
	struct wg_aip_node *oprev;  /* head's oprev is the tail */
};

static unsigned int family_bits(int family)
{
	if (family == AF_INET)
		return 32;
	if (family == AF_INET6)
		return 128;
	return 0;
}

static uint64_t load_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void store_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint32_t load_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void load_key(uint64_t key[2], unsigned int maxbits, const uint8_t *addr)
{
	if (maxbits == 32) {
		key[0] = (uint64_t)load_be32(addr) << 32;
		key[1] = 0;
	} else {
		key[0] = load_be64(addr);
		key[1] = load_be64(addr + 8);
	}
}

/* The top `bits` bits set, bits in [0, 64]. */
static inline uint64_t mask64(unsigned int bits)
{
	return bits ? ~0ULL << (64 - bits) : 0;
}

static void mask_key(uint64_t key[2], unsigned int cidr)
{
	key[0] &= mask64(cidr > 64 ? 64 : cidr);
	key[1] &= mask64(cidr > 64 ? cidr - 64 : 0);
}

/* True if key agrees with n on n's first cidr bits. */
static inline bool prefix_matches(const struct wg_aip_node *n, uint64_t k0, uint64_t k1)
{
	unsigned int c = n->cidr;
	uint64_t d0 = (k0 ^ n->key[0]) & mask64(c > 64 ? 64 : c);
	uint64_t d1 = (k1 ^ n->key[1]) & mask64(c > 64 ? c - 64 : 0);

	return (d0 | d1) == 0;
}

static inline unsigned int key_bit(uint64_t k0, uint64_t k1, unsigned int i)
{
	uint64_t w = i < 64 ? k0 : k1;

	return (unsigned int)(w >> (63 - (i & 63))) & 1;
}

/* Index of the first bit where a and b differ, 128 if none. */
static unsigned int first_diff(const uint64_t a[2], const uint64_t b[2])
{
	uint64_t x = a[0] ^ b[0];

	if (x)
		return (unsigned int)__builtin_clzll(x);
	x = a[1] ^ b[1];
	return x ? 64 + (unsigned int)__builtin_clzll(x) : 128;
}

static struct wg_aip_node **root_of(struct wg_allowedips *t, unsigned int maxbits)
{
	return maxbits == 32 ? &t->root4 : &t->root6;
}

/* The pointer that holds n: a root or a slot of its parent. */
static struct wg_aip_node **slot_of(struct wg_allowedips *t, struct wg_aip_node *n)
{
	struct wg_aip_node *p = n->parent;

	if (!p)
		return root_of(t, n->maxbits);
	return p->child[0] == n ? &p->child[0] : &p->child[1];
}

static void set_child(struct wg_aip_node *p, unsigned int dir, struct wg_aip_node *c)
{
	p->child[dir] = c;
	if (c)
		c->parent = p;
}

/* A zeroed node: from the reserve while one is held, else the heap. */
static struct wg_aip_node *node_take(struct wg_allowedips *t)
{
	struct wg_aip_node *n = t->spare;

	/* The reserve's bound (wg_allowedips_reserve) is never exceeded. */
	assert(n || !t->reserved);
	if (!n)
		return calloc(1, sizeof(*n));
	t->spare = n->child[0];
	t->n_spare--;
	n->child[0] = NULL;
	return n;
}

static struct wg_aip_node *node_new(struct wg_allowedips *t, const uint64_t key[2],
				    unsigned int cidr, unsigned int maxbits)
{
	struct wg_aip_node *n = node_take(t);

	if (!n)
		return NULL;
	n->key[0] = key[0];
	n->key[1] = key[1];
	mask_key(n->key, cidr);
	n->cidr = (uint8_t)cidr;
	n->maxbits = (uint8_t)maxbits;
	t->nodes++;
	return n;
}

/* While a reserve is held, freed nodes return to it: the bound it was
 * sized by counts on that. */
static void node_free(struct wg_allowedips *t, struct wg_aip_node *n)
{
	t->nodes--;
	if (!t->reserved) {
		free(n);
		return;
	}
	memset(n, 0, sizeof(*n));
	n->child[0] = t->spare;
	t->spare = n;
	t->n_spare++;
}

static void owner_append(struct wg_allowedips *t, struct wg_aip_owner *o, struct wg_aip_node *n)
{
	t->prefixes++;
	n->owner = o;
	n->onext = NULL;
	if (!o->head) {
		o->head = n;
		n->oprev = n;
	} else {
		n->oprev = o->head->oprev;
		n->oprev->onext = n;
		o->head->oprev = n;
	}
	o->count++;
}

static void owner_unlink(struct wg_allowedips *t, struct wg_aip_node *n)
{
	struct wg_aip_owner *o = n->owner;

	t->prefixes--;
	if (n == o->head)
		o->head = n->onext;
	else
		n->oprev->onext = n->onext;
	if (n->onext)
		n->onext->oprev = n->oprev;
	else if (o->head)
		o->head->oprev = n->oprev; /* n was the tail */
	n->owner = NULL;
	n->onext = n->oprev = NULL;
	o->count--;
}

static void set_owner(struct wg_allowedips *t, struct wg_aip_node *n, struct wg_aip_owner *o)
{
	if (n->owner == o)
		return; /* keep its place in the owner's order */
	if (n->owner)
		owner_unlink(t, n);
	owner_append(t, o, n);
}

void wg_allowedips_init(struct wg_allowedips *t)
{
	memset(t, 0, sizeof(*t));
}

/* Post-order walk through parent pointers: no recursion, no stack. */
static void free_tree(struct wg_allowedips *t, struct wg_aip_node *n)
{
	while (n) {
		struct wg_aip_node *p;

		if (n->child[0] || n->child[1]) {
			n = n->child[0] ? n->child[0] : n->child[1];
			continue;
		}
		p = n->parent;
		if (p)
			p->child[p->child[0] == n ? 0 : 1] = NULL;
		if (n->owner)
			owner_unlink(t, n);
		node_free(t, n);
		n = p;
	}
}

void wg_allowedips_free(struct wg_allowedips *t)
{
	free_tree(t, t->root4);
	free_tree(t, t->root6);
	t->root4 = t->root6 = NULL;
	wg_allowedips_release(t);
}

bool wg_allowedips_valid(int family, uint8_t cidr)
{
	unsigned int maxbits = family_bits(family);

	return maxbits && cidr <= maxbits;
}

/* Inserts a fresh leaf (key, cidr) where the walk from *slot fell off. */
static int insert_at(struct wg_allowedips *t, struct wg_aip_node **slot, struct wg_aip_node *parent,
		     const uint64_t key[2], unsigned int cidr, unsigned int maxbits,
		     struct wg_aip_owner *owner)
{
	struct wg_aip_node *leaf = node_new(t, key, cidr, maxbits);

	if (!leaf)
		return -ENOMEM;
	leaf->parent = parent;
	*slot = leaf;
	owner_append(t, owner, leaf);
	return 0;
}

/* n's prefix and (key, cidr) diverge at bit `at`, before the end of either:
 * a branch-only node at `at` takes n's place with n and a new leaf below. */
static int insert_branch(struct wg_allowedips *t, struct wg_aip_node *n, const uint64_t key[2],
			 unsigned int cidr, unsigned int at, struct wg_aip_owner *owner)
{
	struct wg_aip_node **slot = slot_of(t, n);
	struct wg_aip_node *branch = node_new(t, key, at, n->maxbits);
	struct wg_aip_node *leaf = node_new(t, key, cidr, n->maxbits);
	unsigned int dir = key_bit(key[0], key[1], at);

	if (!branch || !leaf) {
		if (branch)
			node_free(t, branch);
		if (leaf)
			node_free(t, leaf);
		return -ENOMEM;
	}
	branch->parent = n->parent;
	*slot = branch;
	set_child(branch, dir, leaf);
	set_child(branch, !dir, n);
	owner_append(t, owner, leaf);
	return 0;
}

/* (key, cidr) is a strict prefix of n: a new node takes n's place above it. */
static int insert_above(struct wg_allowedips *t, struct wg_aip_node *n, const uint64_t key[2],
			unsigned int cidr, struct wg_aip_owner *owner)
{
	struct wg_aip_node **slot = slot_of(t, n);
	struct wg_aip_node *up = node_new(t, key, cidr, n->maxbits);

	if (!up)
		return -ENOMEM;
	up->parent = n->parent;
	*slot = up;
	set_child(up, key_bit(n->key[0], n->key[1], cidr), n);
	owner_append(t, owner, up);
	return 0;
}

int wg_allowedips_insert(struct wg_allowedips *t, int family, const uint8_t *addr, uint8_t cidr,
			 struct wg_aip_owner *owner)
{
	unsigned int maxbits = family_bits(family);
	struct wg_aip_node **slot, *n, *parent = NULL;
	uint64_t key[2];

	if (!maxbits || cidr > maxbits || !addr || !owner)
		return -EINVAL;
	load_key(key, maxbits, addr);
	mask_key(key, cidr);
	slot = root_of(t, maxbits);
	while ((n = *slot)) {
		unsigned int at = first_diff(key, n->key);

		if (at >= n->cidr && n->cidr == cidr) {
			set_owner(t, n, owner);
			return 0;
		}
		if (at >= cidr && cidr < n->cidr)
			return insert_above(t, n, key, cidr, owner);
		if (at < n->cidr)
			return insert_branch(t, n, key, cidr, at, owner);
		parent = n;
		slot = &n->child[key_bit(key[0], key[1], n->cidr)];
	}
	return insert_at(t, slot, parent, key, cidr, maxbits, owner);
}

static struct wg_aip_node *find_exact(const struct wg_allowedips *t, unsigned int maxbits,
				      const uint64_t key[2], unsigned int cidr)
{
	struct wg_aip_node *n = maxbits == 32 ? t->root4 : t->root6;

	while (n && n->cidr <= cidr && prefix_matches(n, key[0], key[1])) {
		if (n->cidr == cidr)
			return n;
		n = n->child[key_bit(key[0], key[1], n->cidr)];
	}
	return NULL;
}

/* Nodes the trie can need at most while `inserts` prefixes go in, `fresh`
 * of them not held now, and any are removed in between: each insert takes
 * at most two nodes, and as every node without an owner has two children,
 * a trie holding k prefixes has at most 2k - 1 nodes per family, while the
 * prefixes held never exceed those held now plus the fresh ones. */
static size_t nodes_needed(const struct wg_allowedips *t, size_t inserts, size_t fresh)
{
	size_t by_inserts = inserts * WG_AIP_NODES_PER_INSERT;
	size_t most = 2 * (t->prefixes + fresh);
	size_t by_size = most > t->nodes ? most - t->nodes : 0;

	return by_inserts < by_size ? by_inserts : by_size;
}

/* Reserved nodes are zeroed and linked through child[0]. */
int wg_allowedips_reserve(struct wg_allowedips *t, size_t inserts, size_t fresh)
{
	size_t want = nodes_needed(t, inserts, fresh);

	t->reserved = true;
	while (t->n_spare < want) {
		struct wg_aip_node *n = calloc(1, sizeof(*n));

		if (!n)
			return -ENOMEM;
		n->child[0] = t->spare;
		t->spare = n;
		t->n_spare++;
	}
	return 0;
}

void wg_allowedips_release(struct wg_allowedips *t)
{
	while (t->spare) {
		struct wg_aip_node *n = t->spare;

		t->spare = n->child[0];
		free(n);
	}
	t->n_spare = 0;
	t->reserved = false;
}

static bool node_is(const struct wg_aip_node *n, unsigned int maxbits, const uint64_t key[2],
		    unsigned int cidr)
{
	return n->maxbits == maxbits && n->cidr == cidr && n->key[0] == key[0] &&
	       n->key[1] == key[1];
}

/* Scans the owner's list, not the trie: a few nodes for a typical peer. */
bool wg_allowedips_owner_holds(const struct wg_aip_owner *owner, int family, const uint8_t *addr,
			       uint8_t cidr)
{
	unsigned int maxbits = family_bits(family);
	uint64_t key[2];

	if (!maxbits || cidr > maxbits)
		return false;
	load_key(key, maxbits, addr);
	mask_key(key, cidr);
	for (const struct wg_aip_node *n = owner->head; n; n = n->onext)
		if (node_is(n, maxbits, key, cidr))
			return true;
	return false;
}

/* n has just lost its owner: free or splice out every node that is now
 * neither owned nor a branch point, walking up as parents empty. */
static void collapse(struct wg_allowedips *t, struct wg_aip_node *n)
{
	while (n && !n->owner) {
		struct wg_aip_node *c0 = n->child[0], *c1 = n->child[1];
		struct wg_aip_node *p = n->parent;

		if (c0 && c1)
			return;
		*slot_of(t, n) = c0 ? c0 : c1;
		if (c0 || c1) {
			(c0 ? c0 : c1)->parent = p;
			node_free(t, n);
			return; /* p keeps the same number of children */
		}
		node_free(t, n);
		n = p;
	}
}

int wg_allowedips_remove(struct wg_allowedips *t, int family, const uint8_t *addr, uint8_t cidr,
			 struct wg_aip_owner *owner)
{
	unsigned int maxbits = family_bits(family);
	struct wg_aip_node *n;
	uint64_t key[2];

	if (!maxbits || cidr > maxbits || !addr)
		return -EINVAL;
	load_key(key, maxbits, addr);
	mask_key(key, cidr);
	n = find_exact(t, maxbits, key, cidr);
	if (!n || !owner || n->owner != owner)
		return -ENOENT;
	owner_unlink(t, n);
	collapse(t, n);
	return 0;
}

void wg_allowedips_remove_owner(struct wg_allowedips *t, struct wg_aip_owner *owner)
{
	while (owner->head) {
		struct wg_aip_node *n = owner->head;

		owner_unlink(t, n);
		collapse(t, n);
	}
}

/* The per-packet path: no allocation, a handful of word operations per
 * level, and the deepest owned node wins. */
static inline struct wg_aip_owner *walk(const struct wg_aip_node *n, uint64_t k0, uint64_t k1,
					unsigned int maxbits)
{
	struct wg_aip_owner *best = NULL;

	while (n && prefix_matches(n, k0, k1)) {
		if (n->owner)
			best = n->owner;
		if (n->cidr >= maxbits)
			break;
		n = n->child[key_bit(k0, k1, n->cidr)];
	}
	return best;
}

struct wg_aip_owner *wg_allowedips_lookup(const struct wg_allowedips *t, int family,
					  const uint8_t *addr)
{
	if (family == AF_INET)
		return walk(t->root4, (uint64_t)load_be32(addr) << 32, 0, 32);
	if (family == AF_INET6)
		return walk(t->root6, load_be64(addr), load_be64(addr + 8), 128);
	return NULL;
}

int wg_allowedips_foreach(const struct wg_aip_owner *owner, wg_aip_fn fn, void *ctx)
{
	for (const struct wg_aip_node *n = owner->head; n; n = n->onext) {
		uint8_t addr[16];
		int ret;

		store_be64(addr, n->key[0]);
		store_be64(addr + 8, n->key[1]);
		ret = fn(ctx, n->maxbits == 32 ? AF_INET : AF_INET6, addr, n->cidr);
		if (ret)
			return ret;
	}
	return 0;
}

size_t wg_allowedips_node_size(void)
{
	return sizeof(struct wg_aip_node);
}
