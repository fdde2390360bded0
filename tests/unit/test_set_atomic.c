/* A configuration set is applied whole or not at all, even when memory
 * runs out: every allocation a large set makes is failed in turn (the
 * test links with --wrap for malloc, calloc, realloc and wg_secret_alloc),
 * and each time the set must answer -ENOMEM and leave the get reply (what
 * `wg showconf` prints) byte for byte as it was, with no peer, trie node or
 * table entry left behind. Once no allocation fails the set succeeds and
 * the device equals a reference device that got the same set directly.
 * Also: a streamed get keeps its place when peers go away under it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "dev.h"
#include "wgd/crypto.h"
#include "wgd/device.h"
#include "wgd/secret.h"
#include "wgd/uapi.h"
#include "helpers/devpair.h"

/* --- allocation failure injection --- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__real_wg_secret_alloc(size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_wg_secret_alloc(size_t n);

/* While armed, allocation number fail_at (from 1) fails. */
struct injection {
	bool armed, fired, by_libevent;
	unsigned long count, fail_at;
};
static struct injection inj;

static bool fail_now(void)
{
	if (!inj.armed || ++inj.count != inj.fail_at)
		return false;
	inj.fired = true;
	return true;
}

void *__wrap_malloc(size_t n)
{
	return fail_now() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
	return fail_now() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
	return fail_now() ? NULL : __real_realloc(p, n);
}

void *__wrap_wg_secret_alloc(size_t n)
{
	return fail_now() ? NULL : __real_wg_secret_alloc(n);
}

/* --- fixture: the device under test and a reference --- */

enum { BASE_PEERS = 200, NEW_PEERS = 100 };

struct env {
	struct fake_clock clk;
	struct wg_clock clock;
	struct node a, ref;
	uint8_t priv2[WG_KEY_LEN], pub2[WG_KEY_LEN]; /* the set's new device key */
};

struct text {
	char *buf;
	size_t len, cap;
};

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->cap - t->len < 512) {
		t->cap = t->cap ? t->cap * 2 : 1 << 16;
		t->buf = realloc(t->buf, t->cap);
		assert_non_null(t->buf);
	}
	va_start(ap, fmt);
	n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
	va_end(ap);
	assert_true(n > 0 && (size_t)n < t->cap - t->len);
	t->len += (size_t)n;
}

static void put_key(struct text *t, const char *name, const uint8_t k[WG_KEY_LEN])
{
	char h[65];

	hex(h, k);
	put(t, "%s=%s\n", name, h);
}

/* Peer i's public key (any 32 bytes are a valid one). */
static void peer_key(uint8_t k[WG_KEY_LEN], uint32_t i)
{
	memset(k, 0x5a, WG_KEY_LEN);
	memcpy(k, &i, sizeof(i));
}

static void put_peer(struct text *t, uint32_t i)
{
	uint8_t k[WG_KEY_LEN];

	peer_key(k, i);
	put_key(t, "public_key", k);
}

static void put_psk(struct text *t, uint32_t seed)
{
	uint8_t k[WG_KEY_LEN];

	memset(k, (int)(seed % 255) + 1, WG_KEY_LEN);
	put_key(t, "preshared_key", k);
}

/* 200 peers with four prefixes each, a third with a PSK, half with an
 * endpoint (IPv4 or IPv6 loopback), some with persistent keepalive, and
 * the peer whose key the set will make the device's own. */
static void base_config(struct env *e, struct text *t)
{
	put_key(t, "private_key", e->a.priv);
	for (uint32_t i = 0; i < BASE_PEERS; i++) {
		put_peer(t, i);
		if (i % 3 == 0)
			put_psk(t, i);
		if (i % 4 == 0)
			put(t, "endpoint=127.0.0.%u:%u\n", i % 250 + 1, 20000 + i);
		else if (i % 4 == 2)
			put(t, "endpoint=[::1]:%u\n", 20000 + i);
		if (i % 10 == 5)
			put(t, "persistent_keepalive_interval=25\n");
		put(t, "allowed_ip=10.0.%u.0/24\nallowed_ip=10.1.%u.1/32\n", i, i);
		put(t, "allowed_ip=fd00:%x::/64\nallowed_ip=fd01::%x/128\n", i, i);
	}
	put_key(t, "public_key", e->pub2);
	put(t, "allowed_ip=10.250.0.1/32\n");
}

static void apply_text(struct wg_device *dev, const struct text *t)
{
	struct wg_uapi_set set;

	assert_int_equal(wg_uapi_parse_set(t->buf, t->len, &set), 0);
	assert_int_equal(wg_device_set(dev, &set), 0);
	wg_uapi_set_free(&set);
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	struct text t = {0};

	assert_int_equal(wg_crypto_init(), 0);
	e->clk.mono = 1000 * WG_NSEC_PER_SEC;
	e->clk.unix_ns = 1700000000 * WG_NSEC_PER_SEC;
	e->clock = fake_clock_of(&e->clk);
	node_init(&e->a, &e->clock, "tunA");
	node_init(&e->ref, &e->clock, "tunR");
	memcpy(e->ref.priv, e->a.priv, WG_KEY_LEN); /* same device key in both */
	wg_x25519_generate(e->priv2);
	wg_x25519_public(e->pub2, e->priv2);
	base_config(e, &t);
	apply_text(e->a.dev, &t);
	apply_text(e->ref.dev, &t);
	free(t.buf);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	node_fini(&e->a);
	node_fini(&e->ref);
	free(e);
	return 0;
}

/* Drops every line starting with key= from s. */
static void drop_lines(char *s, const char *key)
{
	char *p = s;

	while ((p = strstr(p, key))) {
		char *eol = strchr(p, '\n');

		if (p != s && p[-1] != '\n') {
			p++;
			continue;
		}
		memmove(p, eol + 1, strlen(eol + 1) + 1);
	}
}

/* The get reply without the listen_port line (each device has its own). */
static char *showconf(struct wg_device *dev)
{
	struct wg_uapi_writer w;
	char *s;

	wg_uapi_writer_init(&w);
	assert_int_equal(wg_device_get(dev, &w), 0);
	s = strndup(w.buf, w.len);
	wg_uapi_writer_free(&w);
	assert_non_null(s);
	assert_non_null(strstr(s, "listen_port="));
	drop_lines(s, "listen_port=");
	return s;
}

/* What a failed set must leave exactly as it was, beyond the get reply
 * (secrets: objects in locked memory, process-wide). */
struct counts {
	size_t peers, keys, nodes, prefixes, secrets;
};

static struct counts counts_of(const struct wg_device *dev)
{
	struct wg_secret_stats st;

	wg_secret_get_stats(&st);
	return (struct counts){dev->n_peers, dev->pubkeys.h.count, dev->aips.nodes,
			       dev->aips.prefixes, st.live};
}

static void assert_counts_equal(struct counts x, struct counts y)
{
	assert_int_equal(x.peers, y.peers);
	assert_int_equal(x.keys, y.keys);
	assert_int_equal(x.nodes, y.nodes);
	assert_int_equal(x.prefixes, y.prefixes);
	assert_int_equal(x.secrets, y.secrets);
}

/* The set with allocation n failing: its result, and whether it fired. */
static int set_failing(struct wg_device *dev, const struct wg_uapi_set *set, unsigned long n,
		       bool *fired)
{
	int ret;

	inj = (struct injection){.armed = true, .fail_at = n};
	ret = wg_device_set(dev, set);
	*fired = inj.fired;
	inj.armed = false;
	return ret;
}

/* After the set succeeded on A: the reference gets it directly and the
 * two must agree. With after_commit a keepalive may have been lost on A,
 * which only its tx_bytes show. */
static void assert_like_reference(struct env *e, const struct wg_uapi_set *set, const char *before,
				  bool after_commit)
{
	char *now = showconf(e->a.dev), *want;
	struct counts c;

	assert_int_equal(wg_device_set(e->ref.dev, set), 0);
	want = showconf(e->ref.dev);
	assert_string_not_equal(before, now);
	if (after_commit) {
		drop_lines(now, "tx_bytes=");
		drop_lines(want, "tx_bytes=");
	}
	assert_string_equal(want, now);
	c = counts_of(e->a.dev);
	c.secrets = counts_of(e->ref.dev).secrets; /* process-wide */
	assert_counts_equal(counts_of(e->ref.dev), c);
	free(now);
	free(want);
}

/* Fails allocation 1, 2, ... of the set on A until the set succeeds. Each
 * failed attempt must answer -ENOMEM and change nothing; the set may only
 * succeed when no allocation failed (the commit allocates nothing), unless
 * after_commit: then allocations after the commit (a keepalive being sent)
 * may fail without failing the set. Returns the allocations made. */
static unsigned long fail_each_allocation(struct env *e, const struct text *t, bool after_commit)
{
	struct wg_uapi_set set;
	char *before = showconf(e->a.dev), *now;
	struct counts c0 = counts_of(e->a.dev);
	unsigned long n;
	bool fired;
	int ret;

	assert_int_equal(wg_uapi_parse_set(t->buf, t->len, &set), 0);
	for (n = 1; (ret = set_failing(e->a.dev, &set, n, &fired)) != 0; n++) {
		assert_true(fired);
		assert_int_equal(ret, -ENOMEM);
		now = showconf(e->a.dev);
		assert_string_equal(before, now);
		free(now);
		assert_counts_equal(c0, counts_of(e->a.dev));
		assert_int_equal(e->a.dev->aips.n_spare, 0);
	}
	if (!after_commit)
		assert_false(fired);
	assert_like_reference(e, &set, before, after_commit);
	wg_uapi_set_free(&set);
	free(before);
	return n - 1;
}

/* libevent is a shared library, out of reach of --wrap: its allocations
 * (the read events of a new socket) go through the same injection. */
static void *ev_malloc(size_t n)
{
	void *p = __wrap_malloc(n);

	inj.by_libevent |= !p;
	return p;
}

static void *ev_realloc(void *p, size_t n)
{
	void *q = __wrap_realloc(p, n);

	inj.by_libevent |= !q;
	return q;
}

static void ev_free(void *p)
{
	free(p);
}

/* --- the sets --- */

/* The base peers: a seventh removed, a quarter with new prefixes in place
 * of theirs and a new endpoint, PSK or keepalive, a quarter losing a
 * prefix and taking their neighbour's, update_only sections. */
static void put_base_changes(struct text *t)
{
	for (uint32_t i = 0; i < BASE_PEERS; i++) {
		put_peer(t, i);
		if (i % 7 == 0) {
			put(t, "remove=true\n");
		} else if (i % 4 == 1) {
			put(t, "replace_allowed_ips=true\nendpoint=[::1]:%u\n", 30000 + i);
			put(t, "allowed_ip=10.2.%u.0/24\nallowed_ip=fd02:%x::/48\n", i, i);
			put(t, "allowed_ip=10.1.%u.1/32\n", i); /* one it had */
			if (i % 3 == 0)
				put(t, "preshared_key=%064d\n", 0);
			if (i % 10 == 5)
				put(t, "persistent_keepalive_interval=0\n");
		} else if (i % 4 == 2) {
			put(t, "allowed_ip=-10.0.%u.0/24\nallowed_ip=10.3.%u.128/25\n", i, i);
			put(t, "allowed_ip=10.0.%u.0/24\n", i + 1);
			put_psk(t, i + 7);
		} else if (i % 4 == 3) {
			put(t, "update_only=true\nendpoint=127.0.0.9:%u\n", 40000 + i);
		}
	}
}

/* New peers (some taking prefixes from base peers), one created and
 * removed again, one removed above and created anew, an update_only for
 * no peer, and a section naming the new device key (ignored). */
static void put_new_peers(struct env *e, struct text *t)
{
	for (uint32_t j = BASE_PEERS; j < BASE_PEERS + NEW_PEERS; j++) {
		put_peer(t, j);
		if (j % 2)
			put_psk(t, j);
		if (j % 3 == 0)
			put(t, "endpoint=127.0.0.%u:%u\n", j % 250 + 1, 50000 + j);
		put(t, "allowed_ip=10.4.%u.0/24\nallowed_ip=fd04:%x::/64\n", j - BASE_PEERS, j);
		put(t, "allowed_ip=10.5.%u.0/25\nallowed_ip=fd05::%x:0/112\n", j - BASE_PEERS, j);
		if (j % 10 == 0)
			put(t, "allowed_ip=10.1.%u.1/32\n", j - BASE_PEERS);
	}
	put_peer(t, 500);
	put(t, "allowed_ip=10.6.0.0/16\n");
	put_peer(t, 500);
	put(t, "remove=true\n");
	put_peer(t, 14); /* removed above (14 % 7 == 0) */
	put(t, "allowed_ip=10.7.0.0/16\nendpoint=127.0.0.7:7\n");
	put_peer(t, 1000);
	put(t, "update_only=true\nallowed_ip=10.8.0.0/16\n");
	put_key(t, "public_key", e->pub2);
	put(t, "allowed_ip=10.9.0.0/16\n");
}

static void test_big_set_all_or_nothing(void **state)
{
	struct env *e = *state;
	struct text t = {0};
	unsigned long made;
	uint8_t k[WG_KEY_LEN];

	put_key(&t, "private_key", e->priv2); /* takes the peer holding it away */
	put_base_changes(&t);
	put_new_peers(e, &t);
	made = fail_each_allocation(e, &t, false);
	print_message("the set made %lu allocations, each failed once\n", made);
	assert_true(made > NEW_PEERS);
	assert_null(wg_peer_lookup(e->a.dev, e->pub2));
	peer_key(k, 500);
	assert_null(wg_peer_lookup(e->a.dev, k));
	peer_key(k, 14);
	assert_non_null(wg_peer_lookup(e->a.dev, k));
	peer_key(k, 7);
	assert_null(wg_peer_lookup(e->a.dev, k));
	/* 200 - 29 removed + 100 new + 14 again */
	assert_int_equal(wg_device_peer_count(e->a.dev), BASE_PEERS - 29 + NEW_PEERS + 1);
	free(t.buf);
}

/* replace_peers: most of the device goes, a few peers named are created
 * again (new, without their old prefixes), keepalive turned on sends one
 * after the commit, whose allocations may fail without failing the set. */
static void test_replace_peers_all_or_nothing(void **state)
{
	struct env *e = *state;
	struct text t = {0};
	uint8_t k[WG_KEY_LEN];

	put(&t, "replace_peers=true\n");
	for (uint32_t i = 0; i < 40; i++) {
		put_peer(&t, i * 5);
		put(&t, "allowed_ip=10.0.%u.0/24\nallowed_ip=fd09:%x::/64\n", i * 5 + 1, i);
		if (i % 2)
			put(&t, "endpoint=127.0.0.1:%u\npersistent_keepalive_interval=15\n",
			    60000 + i);
	}
	fail_each_allocation(e, &t, true);
	assert_int_equal(wg_device_peer_count(e->a.dev), 40);
	peer_key(k, 5);
	assert_int_equal(wg_peer_lookup(e->a.dev, k)->persistent_keepalive, 15);
	free(t.buf);
}

/* A small set on the large device: the same guarantee, and few allocations. */
static void test_small_set_all_or_nothing(void **state)
{
	struct env *e = *state;
	struct text t = {0};

	put_peer(&t, 3);
	put(&t, "allowed_ip=10.10.0.0/16\nallowed_ip=10.0.4.0/24\n");
	put_peer(&t, 4);
	put(&t, "remove=true\n");
	put_peer(&t, 900);
	put(&t, "allowed_ip=10.11.0.0/16\n");
	assert_true(fail_each_allocation(e, &t, false) < 16);
	free(t.buf);
}

/* --- streamed get --- */

static size_t count_peers(const struct wg_uapi_writer *w)
{
	size_t n = 0;

	for (const char *p = w->buf; (p = strstr(p, "public_key=")); p++)
		n++;
	return n;
}

static void assert_has_peer(const struct wg_uapi_writer *w, uint32_t i, bool has)
{
	uint8_t k[WG_KEY_LEN];
	char h[65], line[80], *s = strndup(w->buf, w->len);

	peer_key(k, i);
	hex(h, k);
	snprintf(line, sizeof(line), "public_key=%s\n", h);
	assert_int_equal(strstr(s, line) != NULL, has);
	free(s);
}

/* The cursor is the last peer written: when it and the next are removed
 * and it comes back (a new peer, at the end) the dump goes on with the
 * peer after them and writes the new one last. */
static void test_dump_cursor_removed(void **state)
{
	struct env *e = *state;
	struct wg_device_dump *d;
	struct wg_uapi_writer w;
	struct text t = {0};

	wg_uapi_writer_init(&w);
	assert_int_equal(wg_device_dump_begin(e->a.dev, &w, &d), 0);
	assert_true(wg_device_dump_next(d, &w, 2)); /* peers 0 and 1 */
	put_peer(&t, 1);
	put(&t, "remove=true\n");
	put_peer(&t, 2);
	put(&t, "remove=true\n");
	put_peer(&t, 1);
	put(&t, "allowed_ip=10.12.0.0/16\n");
	apply_text(e->a.dev, &t);
	assert_true(wg_device_dump_next(d, &w, 1)); /* peer 3 */
	assert_int_equal(count_peers(&w), 3);
	assert_has_peer(&w, 2, false);
	assert_has_peer(&w, 3, true);
	while (wg_device_dump_next(d, &w, 50))
		;
	wg_device_dump_end(d);
	/* 0, 1, 3..199, the device-key peer, 1 again; 2 never */
	assert_int_equal(count_peers(&w), BASE_PEERS + 1);
	assert_true(strstr(w.buf, "allowed_ip=10.12.0.0/16\n") != NULL);
	wg_uapi_writer_free(&w);
	free(t.buf);
}

/* A new listen port: the socket and its libevent read events are made
 * while planning, so failing any allocation of the set (libevent's
 * included) leaves the old socket, its port and its events in place. The
 * socket's route watch is optional (without it sources stay sticky to
 * their address alone): a set whose watch could not be had still applies
 * whole, and the next attempt starts from there. */
static void test_listen_port_all_or_nothing(void **state)
{
	struct env *e = *state;
	struct text t = {0};
	struct wg_uapi_set set;
	uint16_t port = wg_device_listen_port(e->a.dev);
	struct event *ev0 = e->a.dev->udp_ev[0];
	bool fired, libevent_failed = false;
	int ret;

	put(&t, "listen_port=0\n"); /* 0: a new random port each time */
	assert_int_equal(wg_uapi_parse_set(t.buf, t.len, &set), 0);
	for (unsigned long n = 1;; n++) {
		inj.by_libevent = false;
		ret = set_failing(e->a.dev, &set, n, &fired);
		if (ret < 0) {
			assert_true(fired);
			assert_int_equal(ret, -ENOMEM);
			assert_int_equal(wg_device_listen_port(e->a.dev), port);
			assert_ptr_equal(e->a.dev->udp_ev[0], ev0);
			libevent_failed |= inj.by_libevent;
			continue;
		}
		/* Applied: a new port, watched. With the events made in the
		 * commit, a failed one used to leave it unwatched here. */
		assert_int_equal(ret, 0);
		assert_false(inj.by_libevent);
		assert_int_not_equal(wg_device_listen_port(e->a.dev), port);
		assert_non_null(e->a.dev->udp_ev[0]);
		assert_ptr_not_equal(e->a.dev->udp_ev[0], ev0);
		if (!fired)
			break;
		port = wg_device_listen_port(e->a.dev);
		ev0 = e->a.dev->udp_ev[0];
	}
	assert_true(libevent_failed);
	wg_uapi_set_free(&set);
	free(t.buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_big_set_all_or_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replace_peers_all_or_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_small_set_all_or_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dump_cursor_removed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_listen_port_all_or_nothing, setup, teardown),
	};

	event_set_mem_functions(ev_malloc, ev_realloc, ev_free);

	return cmocka_run_group_tests(tests, NULL, NULL);
}
