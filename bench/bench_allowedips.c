/* AllowedIPs trie benchmark: 1,000,000 random routes per family spread
 * over 1000 owners, then longest-prefix lookups per second (median of 5
 * runs) for uniformly random addresses and for addresses inside a random
 * route, plus node bytes and resident memory per route.
 *
 * usage: bench_allowedips [4|6] [routes]   (default: both families, 1e6) */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "wgd/allowedips.h"

#define OWNERS	1000
#define QUERIES 1000000
#define RUNS	5

struct route {
	uint8_t addr[16];
	uint8_t cidr;
};

static uint64_t rng = 0x243f6a8885a308d3ULL;

static uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545F4914F6CDD1DULL;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Current resident set in bytes, 0 where /proc is not available. */
static size_t rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long size, res = 0;

	if (!f)
		return 0;
	if (fscanf(f, "%lu %lu", &size, &res) != 2)
		res = 0;
	fclose(f);
	return res * 4096;
}

static void random_bytes(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rnd();
}

static void make_routes(struct route *r, size_t n, int family)
{
	for (size_t i = 0; i < n; i++) {
		random_bytes(r[i].addr, 16);
		if (family == AF_INET)
			r[i].cidr = (uint8_t)(16 + rnd() % 17); /* /16../32 */
		else
			r[i].cidr = (uint8_t)(32 + rnd() % 97); /* /32../128 */
	}
}

/* An address inside route r: its prefix bits, random host bits. */
static void inside(uint8_t *q, const struct route *r, size_t len)
{
	random_bytes(q, len);
	for (unsigned int bit = 0; bit < r->cidr; bit++) {
		uint8_t m = (uint8_t)(0x80 >> (bit % 8));

		q[bit / 8] = (uint8_t)((q[bit / 8] & ~m) | (r->addr[bit / 8] & m));
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Median lookups/s over RUNS passes of the query array. */
static double lookup_rate(const struct wg_allowedips *t, int family, const uint8_t *q, size_t len,
			  size_t *hits)
{
	double rate[RUNS];

	for (int run = 0; run < RUNS; run++) {
		size_t found = 0;
		double t0 = now();

		for (size_t i = 0; i < QUERIES; i++)
			found += wg_allowedips_lookup(t, family, q + i * len) != NULL;
		rate[run] = QUERIES / (now() - t0);
		*hits = found;
	}
	qsort(rate, RUNS, sizeof(rate[0]), cmp_double);
	return rate[RUNS / 2];
}

static size_t distinct_routes(const struct wg_aip_owner *owners)
{
	size_t n = 0;

	for (int i = 0; i < OWNERS; i++)
		n += owners[i].count;
	return n;
}

static int bench_family(int family, size_t nroutes)
{
	size_t len = family == AF_INET ? 4 : 16, hits, distinct, rss0, rss1;
	struct wg_aip_owner *owners = calloc(OWNERS, sizeof(*owners));
	struct route *routes = malloc(nroutes * sizeof(*routes));
	uint8_t *q = malloc(QUERIES * len);
	struct wg_allowedips t;
	double t0, rate;

	if (!owners || !routes || !q)
		return -ENOMEM;
	make_routes(routes, nroutes, family);
	wg_allowedips_init(&t);
	rss0 = rss_bytes();
	t0 = now();
	for (size_t i = 0; i < nroutes; i++)
		if (wg_allowedips_insert(&t, family, routes[i].addr, routes[i].cidr,
					 &owners[rnd() % OWNERS]) != 0)
			return -ENOMEM;
	printf("IPv%d: %zu routes inserted in %.3f s (%.0f inserts/s)\n", family == AF_INET ? 4 : 6,
	       nroutes, now() - t0, nroutes / (now() - t0));
	rss1 = rss_bytes();
	distinct = distinct_routes(owners);
	printf("  distinct prefixes %zu, trie nodes %zu (%.2f per prefix), node %zu B\n", distinct,
	       t.nodes, (double)t.nodes / distinct, wg_allowedips_node_size());
	printf("  node bytes per prefix %.1f; RSS growth per prefix %.1f B\n",
	       (double)t.nodes * wg_allowedips_node_size() / distinct,
	       rss1 > rss0 ? (double)(rss1 - rss0) / distinct : 0.0);

	random_bytes(q, QUERIES * len);
	rate = lookup_rate(&t, family, q, len, &hits);
	printf("  uniform random addresses: %.2f M lookups/s (%.1f%% matched)\n", rate / 1e6,
	       100.0 * hits / QUERIES);
	for (size_t i = 0; i < QUERIES; i++)
		inside(q + i * len, &routes[rnd() % nroutes], len);
	rate = lookup_rate(&t, family, q, len, &hits);
	printf("  addresses inside a random route: %.2f M lookups/s (%.1f%% matched)\n", rate / 1e6,
	       100.0 * hits / QUERIES);

	t0 = now();
	for (int i = 0; i < OWNERS; i++)
		wg_allowedips_remove_owner(&t, &owners[i]);
	printf("  remove_owner x %d: %.3f s, nodes left %zu\n", OWNERS, now() - t0, t.nodes);
	wg_allowedips_free(&t);
	free(q);
	free(routes);
	free(owners);
	return 0;
}

int main(int argc, char **argv)
{
	int which = argc > 1 ? atoi(argv[1]) : 0;
	size_t n = argc > 2 ? strtoul(argv[2], NULL, 10) : 1000000;

	if ((which == 0 || which == 4) && bench_family(AF_INET, n) != 0)
		return 1;
	if ((which == 0 || which == 6) && bench_family(AF_INET6, n) != 0)
		return 1;
	return 0;
}
