/* Per-source token bucket. Tokens are kept in nanoseconds of credit: a
 * packet costs 1 s / WG_RATELIMIT_PACKETS_PER_SECOND and a bucket holds at
 * most WG_RATELIMIT_BURST packets' worth, so refill is just "add the elapsed
 * time". Entries live in a fixed pool (no allocation per packet, memory
 * bounded by max_entries) chained from a SipHash-keyed bucket array, so an
 * attacker cannot aim many sources at one chain without knowing the key. */
#include "wgd/ratelimiter.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "wgd/constants.h"
#include "wgd/crypto.h"

#define PACKET_COST (WG_NSEC_PER_SEC / WG_RATELIMIT_PACKETS_PER_SECOND)
#define TOKEN_MAX   (PACKET_COST * WG_RATELIMIT_BURST)
#define IDLE_EXPIRY WG_NSEC_PER_SEC
/* Links hold pool index + 1, so 0 ends a chain: the bucket array and the
 * pool start as calloc'd zero pages, which the kernel maps only once a
 * flood first touches them (the pool is 256 KiB an idle daemon never
 * needs). */
#define END	 0u
#define LINK(i)	 ((uint32_t)(i) + 1u)
#define INDEX(l) ((l)-1u)

/* A source: IPv4 address or IPv6 /64 prefix, plus the family so that the
 * two spaces never collide. */
struct rl_key {
	uint64_t prefix;
	uint8_t family;
};

struct rl_entry {
	uint64_t prefix;
	uint64_t tokens; /* ns of credit, <= TOKEN_MAX */
	uint64_t last_ns;
	uint32_t next; /* chain or free list link, END terminated */
	uint8_t family;
};

struct wg_ratelimiter {
	uint8_t hash_key[crypto_shorthash_KEYBYTES];
	size_t max_entries;
	size_t count;
	size_t nbuckets; /* power of two */
	uint64_t last_gc_ns;
	uint32_t free_head; /* link to a freed entry */
	size_t bump;	    /* entries from here on were never used */
	uint32_t *buckets;
	struct rl_entry *pool;
};

static size_t pow2_at_least(size_t n)
{
	size_t p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

struct wg_ratelimiter *wg_ratelimiter_new(size_t max_entries)
{
	struct wg_ratelimiter *rl;

	if (!max_entries)
		max_entries = WG_RATELIMIT_MAX_ENTRIES;
	if (max_entries >= UINT32_MAX)
		return NULL;
	rl = calloc(1, sizeof(*rl));
	if (!rl)
		return NULL;
	rl->max_entries = max_entries;
	rl->nbuckets = pow2_at_least(max_entries);
	rl->buckets = calloc(rl->nbuckets, sizeof(*rl->buckets));
	rl->pool = calloc(max_entries, sizeof(*rl->pool));
	if (!rl->buckets || !rl->pool) {
		wg_ratelimiter_free(rl);
		return NULL;
	}
	wg_random_bytes(rl->hash_key, sizeof(rl->hash_key));
	return rl;
}

void wg_ratelimiter_free(struct wg_ratelimiter *rl)
{
	if (!rl)
		return;
	wg_memzero(rl->hash_key, sizeof(rl->hash_key));
	free(rl->buckets);
	free(rl->pool);
	free(rl);
}

size_t wg_ratelimiter_count(const struct wg_ratelimiter *rl)
{
	return rl->count;
}

/* IPv4: the address; IPv6: its upper 64 bits, since one host usually owns
 * a whole /64. Returns false for other families. */
static bool rl_key_of(const union wg_sockaddr *src, struct rl_key *key)
{
	memset(key, 0, sizeof(*key));
	if (src->sa.sa_family == AF_INET) {
		memcpy(&key->prefix, &src->in4.sin_addr, 4);
		key->family = 4;
		return true;
	}
	if (src->sa.sa_family == AF_INET6) {
		memcpy(&key->prefix, &src->in6.sin6_addr, 8);
		key->family = 6;
		return true;
	}
	return false;
}

static size_t rl_bucket(const struct wg_ratelimiter *rl, const struct rl_key *key)
{
	uint8_t in[9], out[crypto_shorthash_BYTES];
	uint64_t h;

	memcpy(in, &key->prefix, 8);
	in[8] = key->family;
	crypto_shorthash(out, in, sizeof(in), rl->hash_key);
	memcpy(&h, out, sizeof(h));
	return (size_t)(h & (rl->nbuckets - 1));
}

static struct rl_entry *rl_find(const struct wg_ratelimiter *rl, size_t b, const struct rl_key *key)
{
	for (uint32_t l = rl->buckets[b]; l != END; l = rl->pool[INDEX(l)].next) {
		struct rl_entry *e = &rl->pool[INDEX(l)];
		if (e->prefix == key->prefix && e->family == key->family)
			return e;
	}
	return NULL;
}

/* Takes a pool entry for a new source; NULL when the table is full. */
static struct rl_entry *rl_insert(struct wg_ratelimiter *rl, size_t b, const struct rl_key *key,
				  uint64_t now_ns)
{
	struct rl_entry *e;
	size_t i;

	if (rl->free_head != END) {
		i = INDEX(rl->free_head);
		rl->free_head = rl->pool[i].next;
	} else if (rl->bump < rl->max_entries) {
		i = rl->bump++;
	} else {
		return NULL;
	}
	e = &rl->pool[i];
	e->prefix = key->prefix;
	e->family = key->family;
	e->tokens = TOKEN_MAX;
	e->last_ns = now_ns;
	e->next = rl->buckets[b];
	rl->buckets[b] = LINK(i);
	rl->count++;
	return e;
}

/* The tokens e holds at now_ns: refilled by the time elapsed since its
 * last packet. */
static uint64_t rl_tokens(const struct rl_entry *e, uint64_t now_ns)
{
	uint64_t elapsed = now_ns > e->last_ns ? now_ns - e->last_ns : 0;

	return elapsed >= TOKEN_MAX - e->tokens ? TOKEN_MAX : e->tokens + elapsed;
}

/* Refills, then spends one. */
static bool rl_take(struct rl_entry *e, uint64_t now_ns)
{
	if (now_ns > e->last_ns) {
		e->tokens = rl_tokens(e, now_ns);
		e->last_ns = now_ns;
	}
	if (e->tokens < PACKET_COST)
		return false;
	e->tokens -= PACKET_COST;
	return true;
}

/* Takes a token; a source with no entry and no room for one passes if
 * unlisted_ok. */
static bool take(struct wg_ratelimiter *rl, const union wg_sockaddr *src, uint64_t now_ns,
		 bool unlisted_ok)
{
	struct rl_key key;
	struct rl_entry *e;
	size_t b;

	if (!rl_key_of(src, &key))
		return false;
	b = rl_bucket(rl, &key);
	e = rl_find(rl, b, &key);
	if (!e && rl->count == rl->max_entries && now_ns - rl->last_gc_ns >= IDLE_EXPIRY) {
		/* Full: reclaim idle sources, at most once a second so a flood
		 * of new sources cannot make every packet scan the table. */
		wg_ratelimiter_gc(rl, now_ns);
	}
	if (!e)
		e = rl_insert(rl, b, &key, now_ns);
	return e ? rl_take(e, now_ns) : unlisted_ok;
}

bool wg_ratelimiter_allow(struct wg_ratelimiter *rl, const union wg_sockaddr *src, uint64_t now_ns)
{
	return take(rl, src, now_ns, false);
}

bool wg_ratelimiter_allow_unlisted(struct wg_ratelimiter *rl, const union wg_sockaddr *src,
				   uint64_t now_ns)
{
	return take(rl, src, now_ns, true);
}

bool wg_ratelimiter_would_allow(const struct wg_ratelimiter *rl, const union wg_sockaddr *src,
				uint64_t now_ns)
{
	struct rl_key key;
	const struct rl_entry *e;

	if (!rl_key_of(src, &key))
		return false;
	e = rl_find(rl, rl_bucket(rl, &key), &key);
	/* A new source starts with a full bucket (if allow finds room). */
	return !e || rl_tokens(e, now_ns) >= PACKET_COST;
}

/* Unlinks the idle entries of one chain, returning them to the free list. */
static void rl_gc_chain(struct wg_ratelimiter *rl, uint32_t *link, uint64_t now_ns)
{
	while (*link != END) {
		uint32_t l = *link;
		struct rl_entry *e = &rl->pool[INDEX(l)];

		if (now_ns > e->last_ns && now_ns - e->last_ns > IDLE_EXPIRY) {
			*link = e->next;
			e->next = rl->free_head;
			rl->free_head = l;
			rl->count--;
		} else {
			link = &e->next;
		}
	}
}

void wg_ratelimiter_gc(struct wg_ratelimiter *rl, uint64_t now_ns)
{
	size_t b;

	for (b = 0; b < rl->nbuckets; b++)
		rl_gc_chain(rl, &rl->buckets[b], now_ns);
	rl->last_gc_ns = now_ns;
}
