#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "wgd/allowedips.h"

struct peer {
	struct wg_aip_owner aip;
	int id;
};

/* ------------------------------------------------------------------ */
/* Hand-written cases                                                 */

static int family_of(const char *ip)
{
	return strchr(ip, ':') ? AF_INET6 : AF_INET;
}

static void ins(struct wg_allowedips *t, struct peer *p, const char *ip, uint8_t cidr)
{
	uint8_t a[16];

	assert_int_equal(inet_pton(family_of(ip), ip, a), 1);
	assert_int_equal(wg_allowedips_insert(t, family_of(ip), a, cidr, &p->aip), 0);
}

static int rem(struct wg_allowedips *t, struct peer *p, const char *ip, uint8_t cidr)
{
	uint8_t a[16];

	assert_int_equal(inet_pton(family_of(ip), ip, a), 1);
	return wg_allowedips_remove(t, family_of(ip), a, cidr, p ? &p->aip : NULL);
}

static struct wg_aip_owner *look(const struct wg_allowedips *t, const char *ip)
{
	uint8_t a[16];

	assert_int_equal(inet_pton(family_of(ip), ip, a), 1);
	return wg_allowedips_lookup(t, family_of(ip), a);
}

static struct wg_aip_owner *aip_of(struct peer *p)
{
	return p ? &p->aip : NULL;
}

#define LOOKS(t, p, ip) assert_ptr_equal(look(t, ip), aip_of(p))
#define NOMATCH(t, ip)	assert_null(look(t, ip))

static struct peer pa = {.id = 1}, pb = {.id = 2}, pc = {.id = 3}, pd = {.id = 4}, pe = {.id = 5},
		   pf = {.id = 6}, pg = {.id = 7}, ph = {.id = 8};

static int reset_peers(void **state)
{
	struct peer *all[] = {&pa, &pb, &pc, &pd, &pe, &pf, &pg, &ph};

	(void)state;
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		memset(&all[i]->aip, 0, sizeof(all[i]->aip));
	return 0;
}

/* The classic overlapping-prefix table (cases after the Linux selftest). */
static void build_classic(struct wg_allowedips *t)
{
	ins(t, &pa, "192.168.4.0", 24);
	ins(t, &pb, "192.168.4.4", 32);
	ins(t, &pc, "192.168.0.0", 16);
	ins(t, &pd, "192.95.5.64", 27);
	ins(t, &pc, "192.95.5.65", 27); /* host bits set; replaces d */
	ins(t, &pd, "2607:5300:6000:6b00::c05f:543", 128);
	ins(t, &pc, "2607:5300:6000:6b00::", 64);
	ins(t, &pe, "0.0.0.0", 0);
	ins(t, &pe, "::", 0);
	ins(t, &pf, "::", 0); /* replaces e */
	ins(t, &pg, "2404:6800::", 32);
	ins(t, &ph, "2404:6800:4004:800:dead:beef:dead:beef", 64);
	ins(t, &pa, "2404:6800:4004:800:dead:beef:dead:beef", 128);
	ins(t, &pc, "2444:6800:40e4:800:deae:beef:def:beef", 128);
	ins(t, &pb, "2444:6800:f0e4:800:eeae:beef::", 98);
	ins(t, &pg, "64.15.112.0", 20);
	ins(t, &ph, "64.15.123.211", 25);
	ins(t, &pa, "10.0.0.0", 25);
	ins(t, &pb, "10.0.0.128", 25);
	ins(t, &pa, "10.1.0.0", 30);
	ins(t, &pb, "10.1.0.4", 30);
	ins(t, &pc, "10.1.0.8", 29);
	ins(t, &pd, "10.1.0.16", 29);
}

static void test_classic(void **state)
{
	struct wg_allowedips t;

	(void)state;
	wg_allowedips_init(&t);
	build_classic(&t);
	LOOKS(&t, &pa, "192.168.4.20");
	LOOKS(&t, &pa, "192.168.4.0");
	LOOKS(&t, &pb, "192.168.4.4");
	LOOKS(&t, &pc, "192.168.200.182");
	LOOKS(&t, &pc, "192.95.5.68");
	LOOKS(&t, &pe, "192.95.5.96");
	LOOKS(&t, &pd, "2607:5300:6000:6b00::c05f:543");
	LOOKS(&t, &pc, "2607:5300:6000:6b00::c02e:1ee");
	LOOKS(&t, &pf, "2607:5300:6000:6b01::");
	LOOKS(&t, &pg, "2404:6800:4004:806::1006");
	LOOKS(&t, &pg, "2404:6800:4004:806:0:1234:0:5678");
	LOOKS(&t, &pf, "2404:67ff:4004:806:0:1234:0:5678");
	LOOKS(&t, &pf, "2404:6801:4004:806:0:1234:0:5678");
	LOOKS(&t, &ph, "2404:6800:4004:800:0:1234:0:5678");
	LOOKS(&t, &ph, "2404:6800:4004:800::");
	LOOKS(&t, &ph, "2404:6800:4004:800:1010:1010:1010:1010");
	LOOKS(&t, &pa, "2404:6800:4004:800:dead:beef:dead:beef");
	LOOKS(&t, &pc, "2444:6800:40e4:800:deae:beef:def:beef");
	LOOKS(&t, &pb, "2444:6800:f0e4:800:eeae:beef:0:1");
	LOOKS(&t, &pb, "2444:6800:f0e4:800:eeae:beef:3fff:ffff");
	LOOKS(&t, &pf, "2444:6800:f0e4:800:eeae:beef:4000:0");
	LOOKS(&t, &pg, "64.15.116.26");
	LOOKS(&t, &pg, "64.15.127.3");
	LOOKS(&t, &pg, "64.15.123.1");
	LOOKS(&t, &ph, "64.15.123.128");
	LOOKS(&t, &ph, "64.15.123.129");
	LOOKS(&t, &pa, "10.0.0.52");
	LOOKS(&t, &pb, "10.0.0.220");
	LOOKS(&t, &pa, "10.1.0.2");
	LOOKS(&t, &pb, "10.1.0.6");
	LOOKS(&t, &pc, "10.1.0.10");
	LOOKS(&t, &pd, "10.1.0.20");
	LOOKS(&t, &pe, "10.1.0.24");
	assert_int_equal(pd.aip.count, 2); /* 10.1.0.16/29 and the v6 /128 */
	wg_allowedips_free(&t);
	assert_int_equal(t.nodes, 0);
	assert_null(t.root4);
	assert_null(t.root6);
	assert_null(pa.aip.head);
	assert_int_equal(pa.aip.count, 0);
	assert_null(pf.aip.head);
}

static void test_empty_and_invalid(void **state)
{
	struct wg_allowedips t;
	uint8_t a[16] = {10};

	(void)state;
	wg_allowedips_init(&t);
	NOMATCH(&t, "10.0.0.1");
	NOMATCH(&t, "::1");
	assert_int_equal(wg_allowedips_insert(&t, AF_UNIX, a, 8, &pa.aip), -EINVAL);
	assert_int_equal(wg_allowedips_insert(&t, AF_INET, a, 33, &pa.aip), -EINVAL);
	assert_int_equal(wg_allowedips_insert(&t, AF_INET6, a, 129, &pa.aip), -EINVAL);
	assert_int_equal(wg_allowedips_insert(&t, AF_INET, NULL, 8, &pa.aip), -EINVAL);
	assert_int_equal(wg_allowedips_insert(&t, AF_INET, a, 8, NULL), -EINVAL);
	assert_int_equal(wg_allowedips_remove(&t, AF_UNIX, a, 8, &pa.aip), -EINVAL);
	assert_int_equal(wg_allowedips_remove(&t, AF_INET, a, 33, &pa.aip), -EINVAL);
	assert_int_equal(wg_allowedips_remove(&t, AF_INET, NULL, 8, &pa.aip), -EINVAL);
	assert_int_equal(wg_allowedips_remove(&t, AF_INET, a, 8, &pa.aip), -ENOENT);
	assert_int_equal(t.nodes, 0);
	ins(&t, &pa, "10.0.0.0", 8);
	assert_null(wg_allowedips_lookup(&t, AF_UNIX, a));
	assert_ptr_equal(wg_allowedips_lookup(&t, AF_INET, a), &pa.aip);
	/* A v4 prefix does not match the v6 address with the same leading bytes. */
	assert_null(wg_allowedips_lookup(&t, AF_INET6, a));
	wg_allowedips_remove_owner(&t, &pb.aip); /* no prefixes: no-op */
	assert_int_equal(t.nodes, 1);
	wg_allowedips_free(&t);
	wg_allowedips_free(&t); /* twice is harmless */
	assert_int_equal(t.nodes, 0);
}

static void test_extremes(void **state)
{
	struct wg_allowedips t;

	(void)state;
	wg_allowedips_init(&t);
	ins(&t, &pa, "0.0.0.0", 0);
	ins(&t, &pb, "255.255.255.255", 32);
	ins(&t, &pc, "::", 0);
	ins(&t, &pd, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 128);
	ins(&t, &pe, "::", 128);
	ins(&t, &pf, "0.0.0.0", 32);
	LOOKS(&t, &pa, "1.2.3.4");
	LOOKS(&t, &pb, "255.255.255.255");
	LOOKS(&t, &pa, "255.255.255.254");
	LOOKS(&t, &pf, "0.0.0.0");
	LOOKS(&t, &pa, "0.0.0.1");
	LOOKS(&t, &pd, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
	LOOKS(&t, &pc, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe");
	LOOKS(&t, &pe, "::");
	LOOKS(&t, &pc, "::1");
	LOOKS(&t, &pc, "8000::");
	/* Any address with host bits masks to the /0. */
	ins(&t, &pg, "203.0.113.9", 0);
	LOOKS(&t, &pg, "1.2.3.4");
	assert_int_equal(pa.aip.count, 0);
	assert_int_equal(rem(&t, &pg, "0.0.0.0", 0), 0);
	NOMATCH(&t, "1.2.3.4");
	LOOKS(&t, &pb, "255.255.255.255");
	wg_allowedips_free(&t);
	assert_int_equal(t.nodes, 0);
}

/* A deep chain of /128s sharing ever longer prefixes, then a full free. */
static void test_deep(void **state)
{
	struct wg_allowedips t;
	uint8_t ip[16];

	(void)state;
	wg_allowedips_init(&t);
	for (int i = 0; i < 64; i++) {
		uint64_t part = ~0ULL << i;

		for (int j = 0; j < 8; j++)
			ip[j] = 0xff, ip[8 + j] = (uint8_t)(part >> (56 - 8 * j));
		assert_int_equal(wg_allowedips_insert(&t, AF_INET6, ip, 128, &pa.aip), 0);
		for (int j = 0; j < 8; j++)
			ip[j] = (uint8_t)(part >> (56 - 8 * j)), ip[8 + j] = 0;
		assert_int_equal(wg_allowedips_insert(&t, AF_INET6, ip, 128, &pa.aip), 0);
	}
	memset(ip, 0, sizeof(ip));
	assert_int_equal(wg_allowedips_insert(&t, AF_INET6, ip, 128, &pa.aip), 0);
	assert_int_equal(pa.aip.count, 129);
	assert_true(t.nodes >= 129 && t.nodes <= 2 * 129 - 1);
	assert_ptr_equal(wg_allowedips_lookup(&t, AF_INET6, ip), &pa.aip);
	ip[15] = 1;
	assert_null(wg_allowedips_lookup(&t, AF_INET6, ip));
	wg_allowedips_free(&t);
	assert_int_equal(t.nodes, 0);
	assert_int_equal(pa.aip.count, 0);
}

static void test_remove_owner(void **state)
{
	struct wg_allowedips t;

	(void)state;
	wg_allowedips_init(&t);
	ins(&t, &pa, "1.0.0.0", 32);
	ins(&t, &pa, "64.0.0.0", 32);
	ins(&t, &pa, "128.0.0.0", 32);
	ins(&t, &pa, "192.0.0.0", 32);
	ins(&t, &pa, "255.0.0.0", 32);
	ins(&t, &pb, "255.0.0.0", 8);
	wg_allowedips_remove_owner(&t, &pa.aip);
	assert_null(pa.aip.head);
	assert_int_equal(pa.aip.count, 0);
	NOMATCH(&t, "1.0.0.0");
	NOMATCH(&t, "64.0.0.0");
	NOMATCH(&t, "128.0.0.0");
	NOMATCH(&t, "192.0.0.0");
	LOOKS(&t, &pb, "255.0.0.0");
	assert_int_equal(t.nodes, 1);

	/* Nested prefixes of one owner. */
	ins(&t, &pa, "192.168.0.0", 16);
	ins(&t, &pa, "192.168.0.0", 24);
	wg_allowedips_remove_owner(&t, &pa.aip);
	NOMATCH(&t, "192.168.0.1");
	wg_allowedips_remove_owner(&t, &pb.aip);
	assert_int_equal(t.nodes, 0);
	assert_null(t.root4);
	wg_allowedips_free(&t);
}

static void test_remove_one(void **state)
{
	struct wg_allowedips t;

	(void)state;
	wg_allowedips_init(&t);
	ins(&t, &pa, "192.168.0.0", 16);
	ins(&t, &pb, "192.168.1.0", 24);
	ins(&t, &pc, "192.168.1.128", 25);
	ins(&t, &pa, "2001:db8::", 32);
	ins(&t, &pb, "2001:db8:1::", 48);
	LOOKS(&t, &pc, "192.168.1.200");
	/* Wrong owner, wrong length, absent prefix, no owner: nothing changes. */
	assert_int_equal(rem(&t, &pa, "192.168.1.0", 24), -ENOENT);
	assert_int_equal(rem(&t, &pb, "192.168.1.0", 23), -ENOENT);
	assert_int_equal(rem(&t, &pb, "192.168.2.0", 24), -ENOENT);
	assert_int_equal(rem(&t, NULL, "192.168.1.0", 24), -ENOENT);
	assert_int_equal(rem(&t, &pb, "10.0.0.0", 8), -ENOENT);
	LOOKS(&t, &pb, "192.168.1.1");
	/* Removing the /24 leaves the /25 and the covering /16 in effect. */
	assert_int_equal(rem(&t, &pb, "192.168.1.77", 24), 0); /* host bits masked */
	LOOKS(&t, &pa, "192.168.1.1");
	LOOKS(&t, &pc, "192.168.1.200");
	assert_int_equal(rem(&t, &pb, "192.168.1.0", 24), -ENOENT);
	assert_int_equal(rem(&t, &pc, "192.168.1.128", 25), 0);
	LOOKS(&t, &pa, "192.168.1.200");
	assert_int_equal(t.nodes, 3);
	assert_int_equal(rem(&t, &pb, "2001:db8:1::", 48), 0);
	LOOKS(&t, &pa, "2001:db8:1::1");
	assert_int_equal(rem(&t, &pa, "2001:db8::", 32), 0);
	NOMATCH(&t, "2001:db8:1::1");
	/* Removing the covering prefix keeps the longer one below it. */
	ins(&t, &pb, "192.168.7.0", 24);
	assert_int_equal(rem(&t, &pa, "192.168.0.0", 16), 0);
	LOOKS(&t, &pb, "192.168.7.7");
	NOMATCH(&t, "192.168.8.7");
	assert_int_equal(t.nodes, 1);
	assert_int_equal(rem(&t, &pb, "192.168.7.0", 24), 0);
	assert_int_equal(t.nodes, 0);
	assert_null(pa.aip.head);
	assert_null(pb.aip.head);
	wg_allowedips_free(&t);
}

/* Removing a branch point's owner turns it back into a plain branch. */
static void test_remove_branch_owner(void **state)
{
	struct wg_allowedips t;

	(void)state;
	wg_allowedips_init(&t);
	ins(&t, &pa, "10.0.0.0", 24);
	ins(&t, &pb, "10.0.1.0", 24);
	assert_int_equal(t.nodes, 3); /* branch 10.0.0.0/23 + two leaves */
	ins(&t, &pc, "10.0.0.0", 23); /* takes over the branch node */
	assert_int_equal(t.nodes, 3);
	LOOKS(&t, &pa, "10.0.0.1");
	assert_int_equal(rem(&t, &pc, "10.0.0.0", 23), 0);
	assert_int_equal(t.nodes, 3);
	LOOKS(&t, &pb, "10.0.1.1");
	assert_int_equal(rem(&t, &pa, "10.0.0.0", 24), 0);
	assert_int_equal(t.nodes, 1);
	LOOKS(&t, &pb, "10.0.1.1");
	NOMATCH(&t, "10.0.0.1");
	wg_allowedips_free(&t);
	assert_int_equal(t.nodes, 0);
}

struct collected {
	int n;
	int family[8];
	char text[8][INET6_ADDRSTRLEN + 4];
	int stop_at;
};

static int collect(void *ctx, int family, const uint8_t *addr, uint8_t cidr)
{
	struct collected *c = ctx;
	char buf[INET6_ADDRSTRLEN];

	assert_true(c->n < 8);
	assert_non_null(inet_ntop(family, addr, buf, sizeof(buf)));
	c->family[c->n] = family;
	snprintf(c->text[c->n], sizeof(c->text[0]), "%s/%u", buf, cidr);
	return ++c->n == c->stop_at ? 42 : 0;
}

static void test_foreach_order(void **state)
{
	struct wg_allowedips t;
	struct collected c = {0};
	static const char *const want[] = {"192.95.5.64/27", "2607:5300:6000:6b00::c05f:543/128",
					   "10.1.0.16/29", "2607:5300:6d8a:6bf8:dab1:e000::/83",
					   "2607:5000::/21"};

	(void)state;
	wg_allowedips_init(&t);
	ins(&t, &pa, "192.95.5.93", 27);
	ins(&t, &pa, "2607:5300:6000:6b00::c05f:543", 128);
	ins(&t, &pa, "10.1.0.20", 29);
	ins(&t, &pa, "2607:5300:6d8a:6bf8:dab1:f1df:c05f:1523", 83);
	ins(&t, &pa, "2607:5300:6d8a:6bf8:dab1:f1df:c05f:1523", 21);
	ins(&t, &pa, "10.1.0.16", 29); /* same owner again: keeps its place */
	assert_int_equal(wg_allowedips_foreach(&pa.aip, collect, &c), 0);
	assert_int_equal(c.n, 5);
	for (int i = 0; i < 5; i++)
		assert_string_equal(c.text[i], want[i]);
	assert_int_equal(c.family[0], AF_INET);
	assert_int_equal(c.family[1], AF_INET6);

	/* Stopping early returns the callback's value. */
	memset(&c, 0, sizeof(c));
	c.stop_at = 2;
	assert_int_equal(wg_allowedips_foreach(&pa.aip, collect, &c), 42);
	assert_int_equal(c.n, 2);

	/* Replacing the owner moves the prefix to the new owner's tail. */
	ins(&t, &pb, "172.16.0.0", 12);
	ins(&t, &pb, "10.1.0.16", 29);
	memset(&c, 0, sizeof(c));
	assert_int_equal(wg_allowedips_foreach(&pb.aip, collect, &c), 0);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.text[0], "172.16.0.0/12");
	assert_string_equal(c.text[1], "10.1.0.16/29");
	assert_int_equal(pa.aip.count, 4);
	/* Removing the head, the middle and the tail keeps the order. */
	assert_int_equal(rem(&t, &pa, "192.95.5.64", 27), 0);
	assert_int_equal(rem(&t, &pa, "2607:5000::", 21), 0);
	assert_int_equal(rem(&t, &pa, "2607:5300:6d8a:6bf8:dab1:e000::", 83), 0);
	memset(&c, 0, sizeof(c));
	assert_int_equal(wg_allowedips_foreach(&pa.aip, collect, &c), 0);
	assert_int_equal(c.n, 1);
	assert_string_equal(c.text[0], "2607:5300:6000:6b00::c05f:543/128");
	ins(&t, &pa, "10.9.0.0", 16);
	memset(&c, 0, sizeof(c));
	assert_int_equal(wg_allowedips_foreach(&pa.aip, collect, &c), 0);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.text[1], "10.9.0.0/16");
	wg_allowedips_free(&t);
	memset(&c, 0, sizeof(c));
	assert_int_equal(wg_allowedips_foreach(&pa.aip, collect, &c), 0);
	assert_int_equal(c.n, 0);
}

static void test_node_size(void **state)
{
	(void)state;
	assert_true(wg_allowedips_node_size() >= 2 * sizeof(void *) + 16);
	assert_true(wg_allowedips_node_size() <= 96);
}

/* ------------------------------------------------------------------ */
/* Randomized comparison with a naive reference                       */

#define NOWNERS 48
#define MAXREF	4096

struct ref_entry {
	uint8_t addr[16]; /* host bits zero */
	uint8_t cidr;
	int owner;
	uint64_t seq; /* when the current owner got it: foreach order */
};

struct ref {
	int family;
	unsigned int bytes, bits;
	struct ref_entry e[MAXREF];
	size_t n;
	uint64_t seq;
};

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t x = rng_state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static unsigned int rnd_below(unsigned int n)
{
	return (unsigned int)(rnd() % n);
}

static void mask_bytes(uint8_t *a, unsigned int bytes, unsigned int cidr)
{
	for (unsigned int i = 0; i < bytes; i++) {
		unsigned int keep = cidr > 8 * i ? cidr - 8 * i : 0;

		if (keep < 8)
			a[i] &= (uint8_t)(0xff00 >> keep);
	}
}

static bool ref_matches(const struct ref_entry *e, const uint8_t *addr)
{
	unsigned int full = e->cidr / 8, rest = e->cidr % 8;

	if (memcmp(e->addr, addr, full) != 0)
		return false;
	return !rest || ((e->addr[full] ^ addr[full]) & (0xff00 >> rest)) == 0;
}

static int ref_lookup(const struct ref *r, const uint8_t *addr)
{
	int best = -1, best_cidr = -1;

	for (size_t i = 0; i < r->n; i++) {
		if (r->e[i].cidr > best_cidr && ref_matches(&r->e[i], addr)) {
			best = r->e[i].owner;
			best_cidr = r->e[i].cidr;
		}
	}
	return best;
}

static ssize_t ref_find(const struct ref *r, const uint8_t *addr, unsigned int cidr)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->e[i].cidr == cidr && memcmp(r->e[i].addr, addr, r->bytes) == 0)
			return (ssize_t)i;
	return -1;
}

static void ref_insert(struct ref *r, const uint8_t *addr, unsigned int cidr, int owner)
{
	ssize_t i = ref_find(r, addr, cidr);
	struct ref_entry *e;

	if (i >= 0) {
		e = &r->e[i];
		if (e->owner != owner)
			e->seq = r->seq++;
		e->owner = owner;
		return;
	}
	assert_true(r->n < MAXREF);
	e = &r->e[r->n++];
	memset(e->addr, 0, sizeof(e->addr));
	memcpy(e->addr, addr, r->bytes);
	e->cidr = (uint8_t)cidr;
	e->owner = owner;
	e->seq = r->seq++;
}

static void ref_delete(struct ref *r, size_t i)
{
	r->e[i] = r->e[--r->n];
}

struct world {
	struct ref ref;
	struct wg_allowedips t;
	struct peer owners[NOWNERS];
	uint8_t bases[16][16];
};

static int owner_id(const struct wg_aip_owner *o)
{
	return o ? ((const struct peer *)o)->id : -1;
}

/* A random address near one of a few bases, so prefixes nest and overlap. */
static void rnd_addr(const struct world *w, uint8_t *a)
{
	memcpy(a, w->bases[rnd_below(16)], 16);
	for (unsigned int i = rnd_below(4); i > 0; i--) {
		unsigned int bit = rnd_below(w->ref.bits);

		a[bit / 8] ^= (uint8_t)(0x80 >> (bit % 8));
	}
	if (rnd_below(8) == 0)
		for (unsigned int i = 0; i < w->ref.bytes; i++)
			a[i] = (uint8_t)rnd();
}

/* Mostly addresses inside an inserted prefix (often at its edges). */
static void rnd_query(const struct world *w, uint8_t *a)
{
	const struct ref_entry *e;

	if (w->ref.n == 0 || rnd_below(4) == 0) {
		rnd_addr(w, a);
		return;
	}
	e = &w->ref.e[rnd_below((unsigned int)w->ref.n)];
	for (unsigned int i = 0; i < w->ref.bytes; i++)
		a[i] = (uint8_t)rnd();
	for (unsigned int bit = 0; bit < e->cidr; bit++) {
		uint8_t m = (uint8_t)(0x80 >> (bit % 8));

		a[bit / 8] = (uint8_t)((a[bit / 8] & ~m) | (e->addr[bit / 8] & m));
	}
	if (rnd_below(4) == 0 && e->cidr > 0) {
		unsigned int bit = e->cidr - 1 - rnd_below(e->cidr < 3 ? e->cidr : 3);

		a[bit / 8] ^= (uint8_t)(0x80 >> (bit % 8));
	}
}

struct planned_insert {
	uint8_t a[16];
	unsigned int cidr;
	int owner;
};

static void plan_insert(struct world *w, struct planned_insert *p)
{
	memset(p->a, 0, sizeof(p->a));
	p->cidr = rnd_below(w->ref.bits + 1);
	p->owner = (int)rnd_below(NOWNERS);
	rnd_addr(w, p->a);
	if (rnd_below(3) == 0)
		p->cidr = w->ref.bits - rnd_below(4); /* host routes are common */
}

static void apply_insert(struct world *w, struct planned_insert *p)
{
	assert_int_equal(wg_allowedips_insert(&w->t, w->ref.family, p->a, (uint8_t)p->cidr,
					      &w->owners[p->owner].aip),
			 0);
	mask_bytes(p->a, w->ref.bytes, p->cidr);
	ref_insert(&w->ref, p->a, p->cidr, p->owner);
}

static void do_insert(struct world *w)
{
	struct planned_insert p;

	plan_insert(w, &p);
	apply_insert(w, &p);
}

static void do_remove(struct world *w)
{
	size_t i;
	struct ref_entry *e;
	int wrong;

	if (w->ref.n == 0)
		return;
	i = rnd_below((unsigned int)w->ref.n);
	e = &w->ref.e[i];
	wrong = (e->owner + 1 + (int)rnd_below(NOWNERS - 1)) % NOWNERS;
	assert_int_equal(
		wg_allowedips_remove(&w->t, w->ref.family, e->addr, e->cidr, &w->owners[wrong].aip),
		-ENOENT);
	assert_int_equal(wg_allowedips_remove(&w->t, w->ref.family, e->addr, e->cidr,
					      &w->owners[e->owner].aip),
			 0);
	ref_delete(&w->ref, i);
}

static void do_remove_owner(struct world *w, int owner)
{
	wg_allowedips_remove_owner(&w->t, &w->owners[owner].aip);
	for (size_t i = 0; i < w->ref.n;) {
		if (w->ref.e[i].owner == owner)
			ref_delete(&w->ref, i);
		else
			i++;
	}
	assert_null(w->owners[owner].aip.head);
	assert_int_equal(w->owners[owner].aip.count, 0);
}

struct foreach_check {
	const struct world *w;
	int owner;
	uint64_t last_seq;
	size_t seen;
};

static int check_one(void *ctx, int family, const uint8_t *addr, uint8_t cidr)
{
	struct foreach_check *fc = ctx;
	const struct ref *r = &fc->w->ref;
	ssize_t i;

	assert_int_equal(family, r->family);
	i = ref_find(r, addr, cidr);
	assert_true(i >= 0);
	assert_int_equal(r->e[i].owner, fc->owner);
	assert_true(fc->seen == 0 || r->e[i].seq > fc->last_seq);
	fc->last_seq = r->e[i].seq;
	fc->seen++;
	return 0;
}

static void check_foreach(const struct world *w)
{
	size_t total = 0;

	for (int o = 0; o < NOWNERS; o++) {
		struct foreach_check fc = {.w = w, .owner = o};
		size_t want = 0;

		for (size_t i = 0; i < w->ref.n; i++)
			want += w->ref.e[i].owner == o;
		assert_int_equal(wg_allowedips_foreach(&w->owners[o].aip, check_one, &fc), 0);
		assert_int_equal(fc.seen, want);
		assert_int_equal(w->owners[o].aip.count, want);
		total += fc.seen;
	}
	assert_int_equal(total, w->ref.n);
	assert_int_equal(w->t.prefixes, w->ref.n);
	/* No dead nodes: owned nodes plus at most n - 1 branch points. */
	assert_true(w->t.nodes >= w->ref.n);
	assert_true(w->t.nodes <= (w->ref.n ? 2 * w->ref.n - 1 : 0));
}

static void check_lookups(const struct world *w, int count)
{
	for (int i = 0; i < count; i++) {
		uint8_t a[16] = {0};
		int want, got;

		rnd_query(w, a);
		want = ref_lookup(&w->ref, a);
		got = owner_id(wg_allowedips_lookup(&w->t, w->ref.family, a));
		if (want != got) {
			char buf[INET6_ADDRSTRLEN];

			inet_ntop(w->ref.family, a, buf, sizeof(buf));
			fail_msg("lookup %s: want owner %d, got %d", buf, want, got);
		}
	}
}

/* One round: a burst of mutations (inserts outweigh removals until the
 * table is large enough), then a batch of lookups and a foreach check. */
static void random_round(struct world *w, size_t target)
{
	int ops = 10 + (int)rnd_below(40);

	for (int i = 0; i < ops; i++) {
		unsigned int r = rnd_below(100);

		if (r < (w->ref.n < target ? 70u : 45u))
			do_insert(w);
		else if (r < 98)
			do_remove(w);
		else
			do_remove_owner(w, (int)rnd_below(NOWNERS));
	}
	check_lookups(w, 5000);
	check_foreach(w);
}

/* A fresh world of one family: owners numbered, 16 random base
 * addresses drawn from the given seed, an empty trie. */
static void world_init(struct world *w, int family, uint64_t seed)
{
	rng_state = seed;
	w->ref.family = family;
	w->ref.bytes = family == AF_INET ? 4 : 16;
	w->ref.bits = w->ref.bytes * 8;
	for (int i = 0; i < NOWNERS; i++)
		w->owners[i].id = i;
	for (int i = 0; i < 16; i++)
		for (unsigned int j = 0; j < w->ref.bytes; j++)
			w->bases[i][j] = (uint8_t)rnd();
	wg_allowedips_init(&w->t);
}

static void random_family(int family)
{
	struct world *w = calloc(1, sizeof(*w));
	const char *seed_env = getenv("WGD_TEST_SEED");
	uint64_t seed = seed_env ? strtoull(seed_env, NULL, 0) : 0x9e3779b97f4a7c15ULL;

	assert_non_null(w);
	world_init(w, family, seed ^ (uint64_t)family);
	/* 200 rounds x 5000 = 1,000,000 lookups against the reference. */
	for (int round = 0; round < 200; round++)
		random_round(w, round < 100 ? 400 : 150);
	/* Drain: single removals and whole owners until nothing is left. */
	while (w->ref.n > 0) {
		if (rnd_below(4) == 0)
			do_remove_owner(w, (int)rnd_below(NOWNERS));
		else
			do_remove(w);
		if (rnd_below(16) == 0)
			check_lookups(w, 100);
	}
	check_foreach(w);
	assert_int_equal(w->t.nodes, 0);
	assert_null(w->t.root4);
	assert_null(w->t.root6);
	wg_allowedips_free(&w->t);
	free(w);
}

/* Like a configuration commit: the round's inserts are drawn first, nodes
 * reserved for them (a prefix its owner holds already counts as not
 * fresh), then inserts and removals run in random order. The reserve must
 * never run dry: trie plus reserve keep their size throughout (freed nodes
 * return to it, a node taken from the heap would grow it). */
static void reserved_round(struct world *w)
{
	struct planned_insert ins[50];
	unsigned int kind[50], n = 10 + rnd_below(40);
	size_t n_ins = 0, fresh = 0, total;

	for (unsigned int i = 0; i < n; i++) {
		unsigned int r = rnd_below(100);

		kind[i] = r < (w->ref.n < 300 ? 70u : 45u) ? 0 : r < 97 ? 1 : 2;
		if (kind[i] != 0)
			continue;
		plan_insert(w, &ins[n_ins]);
		fresh += !wg_allowedips_owner_holds(&w->owners[ins[n_ins].owner].aip, w->ref.family,
						    ins[n_ins].a, (uint8_t)ins[n_ins].cidr);
		n_ins++;
	}
	assert_int_equal(wg_allowedips_reserve(&w->t, n_ins, fresh), 0);
	assert_true(w->t.n_spare <= 2 * n_ins);
	total = w->t.nodes + w->t.n_spare;
	for (unsigned int i = 0, j = 0; i < n; i++) {
		if (kind[i] == 0)
			apply_insert(w, &ins[j++]);
		else if (kind[i] == 1)
			do_remove(w);
		else
			do_remove_owner(w, (int)rnd_below(NOWNERS));
		assert_int_equal(w->t.nodes + w->t.n_spare, total);
	}
	wg_allowedips_release(&w->t);
	assert_int_equal(w->t.n_spare, 0);
	check_foreach(w);
}

static void test_reserve_random(void **state)
{
	struct world *w = calloc(1, sizeof(*w));

	(void)state;
	assert_non_null(w);
	for (int family = 0; family < 2; family++) {
		memset(w, 0, sizeof(*w));
		world_init(w, family ? AF_INET6 : AF_INET,
			   0x243f6a8885a308d3ULL + (uint64_t)family);
		for (int round = 0; round < 400; round++)
			reserved_round(w);
		check_lookups(w, 5000);
		wg_allowedips_free(&w->t);
	}
	free(w);
}

/* A reserve of nothing when every prefix is held already; inserts and
 * holds checks behave as before around it. */
static void test_reserve_held(void **state)
{
	struct wg_allowedips t;
	uint8_t a[16] = {10, 0, 0, 0};

	(void)state;
	wg_allowedips_init(&t);
	ins(&t, &pa, "10.0.0.0", 8);
	ins(&t, &pa, "10.1.0.0", 16);
	assert_int_equal(t.prefixes, 2);
	assert_true(wg_allowedips_owner_holds(&pa.aip, AF_INET, a, 8));
	assert_false(wg_allowedips_owner_holds(&pa.aip, AF_INET, a, 9));
	assert_false(wg_allowedips_owner_holds(&pa.aip, AF_INET6, a, 8));
	assert_int_equal(wg_allowedips_reserve(&t, 2, 0), 0);
	assert_int_equal(t.n_spare, 2 * 2 - t.nodes);
	ins(&t, &pa, "10.0.0.0", 8);
	wg_allowedips_release(&t);
	assert_int_equal(wg_allowedips_reserve(&t, 3, 3), 0);
	assert_int_equal(t.n_spare, 6);
	wg_allowedips_free(&t);
	assert_int_equal(t.n_spare, 0);
	assert_false(t.reserved);
	assert_true(wg_allowedips_valid(AF_INET, 32));
	assert_false(wg_allowedips_valid(AF_INET, 33));
	assert_true(wg_allowedips_valid(AF_INET6, 128));
	assert_false(wg_allowedips_valid(AF_UNIX, 0));
}

static void test_random_v4(void **state)
{
	(void)state;
	random_family(AF_INET);
}

static void test_random_v6(void **state)
{
	(void)state;
	random_family(AF_INET6);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_classic, reset_peers),
		cmocka_unit_test_setup(test_empty_and_invalid, reset_peers),
		cmocka_unit_test_setup(test_extremes, reset_peers),
		cmocka_unit_test_setup(test_deep, reset_peers),
		cmocka_unit_test_setup(test_remove_owner, reset_peers),
		cmocka_unit_test_setup(test_remove_one, reset_peers),
		cmocka_unit_test_setup(test_remove_branch_owner, reset_peers),
		cmocka_unit_test_setup(test_foreach_order, reset_peers),
		cmocka_unit_test(test_node_size),
		cmocka_unit_test(test_random_v4),
		cmocka_unit_test(test_random_v6),
		cmocka_unit_test(test_reserve_random),
		cmocka_unit_test_setup(test_reserve_held, reset_peers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
