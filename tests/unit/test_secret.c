/* The secret slabs: zeroed objects, zeroed on free, chunks shared and
 * released; and, on two devices over a socketpair TUN and loopback UDP,
 * that removing a peer leaves its memory (handshake, PSK, keypairs) all
 * zero, as does destroying a device and freeing a change set. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "wgd/crypto.h"
#include "wgd/device.h"
#include "dev.h"
#include "wgd/secret.h"
#include "wgd/uapi.h"
#include "helpers/devpair.h"

static bool all_zero(const void *p, size_t len)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < len; i++)
		if (b[i])
			return false;
	return true;
}

static struct wg_secret_stats secret_stats(void)
{
	struct wg_secret_stats s;

	wg_secret_get_stats(&s);
	return s;
}

/* --- the allocator --- */

static void test_alloc_zeroed_aligned(void **state)
{
	size_t live = secret_stats().live;
	uint8_t *p = wg_secret_alloc(100);

	(void)state;
	assert_non_null(p);
	assert_int_equal((uintptr_t)p % 16, 0);
	assert_true(all_zero(p, 100));
	assert_int_equal(secret_stats().live, live + 1);
	memset(p, 0xa5, 100);
	wg_secret_free(p);
	/* The slab keeps the chunk: the freed bytes are there, and zero. */
	assert_true(all_zero(p, 100));
	assert_int_equal(secret_stats().live, live);
	wg_secret_free(NULL);
}

static void test_reuse_after_free(void **state)
{
	uint8_t *a = wg_secret_alloc(48), *b;

	(void)state;
	memset(a, 0xff, 48);
	wg_secret_free(a);
	b = wg_secret_alloc(48);
	assert_ptr_equal(a, b);
	assert_true(all_zero(b, 48));
	wg_secret_free(b);
}

/* Thousands of objects share a few chunks; freeing them all keeps one
 * empty chunk, trimming releases it. */
#define MANY 5000
static void test_many_share_chunks(void **state)
{
	static void *objs[MANY];
	struct wg_secret_stats before, full;

	(void)state;
	wg_secret_trim();
	before = secret_stats();
	for (int i = 0; i < MANY; i++) {
		objs[i] = wg_secret_alloc(784);
		assert_non_null(objs[i]);
		memset(objs[i], i & 0xff, 784);
	}
	full = secret_stats();
	assert_int_equal(full.live, before.live + MANY);
	/* 16 KiB doubling to 1 MiB: well under one chunk per 100 objects. */
	assert_true(full.chunks - before.chunks <= MANY / 100);
	assert_true(full.bytes - before.bytes < 2 * MANY * 800 + (1u << 20));
	for (int i = 0; i < MANY; i += 2)
		wg_secret_free(objs[i]);
	for (int i = 1; i < MANY; i += 2)
		wg_secret_free(objs[i]);
	assert_int_equal(secret_stats().live, before.live);
	assert_int_equal(secret_stats().chunks, before.chunks + 1);
	wg_secret_trim();
	assert_int_equal(secret_stats().chunks, before.chunks);
}

static void test_sizes_apart_and_large(void **state)
{
	uint8_t *small = wg_secret_alloc(16), *big = wg_secret_alloc(3u << 20);

	(void)state;
	assert_non_null(small);
	assert_non_null(big);
	assert_true(all_zero(big, 3u << 20));
	memset(big, 1, 3u << 20);
	memset(small, 2, 16);
	assert_int_equal(small[15], 2);
	wg_secret_free(big);
	wg_secret_free(small);
	wg_secret_trim();
}

static void test_memory_is_locked(void **state)
{
	void *p = wg_secret_alloc(64);

	(void)state;
	/* First: even a 64 KiB RLIMIT_MEMLOCK covers one 16 KiB chunk. */
	assert_false(secret_stats().lock_failed);
	wg_secret_free(p);
}

/* --- devices --- */

struct env {
	struct fake_clock clk;
	struct wg_clock clock;
	struct node a, b;
	char psk_hex[65];
};

static void apply(struct node *n, const char *fmt, ...)
{
	struct wg_uapi_set set;
	char body[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(body, sizeof(body), fmt, ap);
	va_end(ap);
	assert_int_equal(wg_uapi_parse_set(body, strlen(body), &set), 0);
	assert_int_equal(wg_device_set(n->dev, &set), 0);
	wg_uapi_set_free(&set);
	assert_true(all_zero(&set, sizeof(set))); /* the change set is wiped */
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	uint8_t psk[WG_KEY_LEN];

	assert_int_equal(wg_crypto_init(), 0);
	e->clk.mono = 1000 * WG_NSEC_PER_SEC;
	e->clk.unix_ns = 1700000000 * WG_NSEC_PER_SEC;
	e->clock = fake_clock_of(&e->clk);
	node_init(&e->a, &e->clock, "tunA");
	node_init(&e->b, &e->clock, "tunB");
	wg_random_bytes(psk, sizeof(psk));
	hex(e->psk_hex, psk);
	apply(&e->a,
	      "private_key=%s\npublic_key=%s\npreshared_key=%s\nendpoint=127.0.0.1:%u\n"
	      "allowed_ip=10.0.0.2/32\n",
	      e->a.priv_hex, e->b.pub_hex, e->psk_hex, wg_device_listen_port(e->b.dev));
	apply(&e->b, "private_key=%s\npublic_key=%s\npreshared_key=%s\nallowed_ip=10.0.0.1/32\n",
	      e->b.priv_hex, e->a.pub_hex, e->psk_hex);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	node_fini(&e->a);
	node_fini(&e->b);
	free(e);
	wg_secret_trim();
	return 0;
}

static void pump(struct env *e)
{
	for (int i = 0; i < 16; i++) {
		event_base_loop(e->a.base, EVLOOP_NONBLOCK);
		event_base_loop(e->b.base, EVLOOP_NONBLOCK);
	}
}

/* One packet A -> B: handshake (with the PSK), session both ways. */
static void establish(struct env *e)
{
	uint8_t pkt[48] = {0x45, 0, 0, 48, 0, 0, 0, 0, 64, 17};
	uint8_t got[128];

	assert_int_equal(inet_pton(AF_INET, "10.0.0.1", pkt + 12), 1);
	assert_int_equal(inet_pton(AF_INET, "10.0.0.2", pkt + 16), 1);
	assert_int_equal(send(e->a.tun_fd, pkt, sizeof(pkt), 0), (ssize_t)sizeof(pkt));
	pump(e);
	assert_int_equal(recv(e->b.tun_fd, got, sizeof(got), MSG_DONTWAIT), (ssize_t)sizeof(pkt));
}

static void test_peer_removal_zeroes(void **state)
{
	struct env *e = *state;
	struct wg_peer *pa;
	struct wg_peer_keypair *kp;

	establish(e);
	pa = wg_peer_lookup(e->a.dev, e->b.pub);
	assert_non_null(pa);
	kp = pa->kp_current;
	assert_non_null(kp);
	assert_false(all_zero(pa->hs.preshared_key, WG_KEY_LEN));
	assert_false(all_zero(kp->kp.sending_key, WG_KEY_LEN));
	apply(&e->a, "public_key=%s\nremove=true\n", e->b.pub_hex);
	assert_null(wg_peer_lookup(e->a.dev, e->b.pub));
	/* B's slabs still hold live objects, so A's freed slots stay mapped. */
	assert_true(all_zero(pa, sizeof(*pa)));
	assert_true(all_zero(kp, sizeof(*kp)));
}

static void test_device_destroy_zeroes(void **state)
{
	struct env *e = *state;
	struct wg_peer *pb;
	struct wg_device *dev = e->a.dev;

	establish(e);
	pb = wg_peer_lookup(e->b.dev, e->a.pub);
	assert_non_null(pb->kp_current);
	wg_device_destroy(dev);
	e->a.dev = NULL;
	/* B still lives: A's device object sits in the same slab, zeroed. */
	assert_true(all_zero(dev, sizeof(*dev)));
	assert_non_null(wg_peer_lookup(e->b.dev, e->a.pub));
}

static void test_key_change_zeroes_keypairs(void **state)
{
	struct env *e = *state;
	struct wg_peer_keypair *kp;
	uint8_t priv[WG_KEY_LEN];
	char priv_hex[65];

	establish(e);
	kp = wg_peer_lookup(e->a.dev, e->b.pub)->kp_current;
	assert_non_null(kp);
	wg_x25519_generate(priv);
	hex(priv_hex, priv);
	apply(&e->a, "private_key=%s\n", priv_hex);
	assert_null(wg_peer_lookup(e->a.dev, e->b.pub)->kp_current);
	assert_true(all_zero(kp, sizeof(*kp)));
}

/* wg_uapi_set_free wipes the PSKs and the private key it held. */
static void test_change_set_wiped(void **state)
{
	static const char body[] =
		"private_key=1111111111111111111111111111111111111111111111111111111111111111\n"
		"public_key=2222222222222222222222222222222222222222222222222222222222222222\n"
		"preshared_key=3333333333333333333333333333333333333333333333333333333333333333\n";
	struct wg_uapi_set set;

	(void)state;
	assert_int_equal(wg_uapi_parse_set(body, strlen(body), &set), 0);
	assert_int_equal(set.n_peers, 1);
	assert_int_equal(set.peers[0].preshared_key[0], 0x33);
	wg_uapi_set_free(&set);
	assert_true(all_zero(&set, sizeof(set)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_memory_is_locked),
		cmocka_unit_test(test_alloc_zeroed_aligned),
		cmocka_unit_test(test_reuse_after_free),
		cmocka_unit_test(test_many_share_chunks),
		cmocka_unit_test(test_sizes_apart_and_large),
		cmocka_unit_test(test_change_set_wiped),
		cmocka_unit_test_setup_teardown(test_peer_removal_zeroes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_device_destroy_zeroes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_change_zeroes_keypairs, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
