/* Two devices in one process: each with a socketpair standing in for its
 * TUN and a real loopback UDP socket, configured through parsed UAPI change
 * sets, on an injected clock. Covers the data path both ways, staging,
 * get output, the source filter, set atomicity, peer removal and every
 * timer transition that needs a live partner. No root needed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
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
#include "receive.h"
#include "wgd/platform/tun.h"
#include "wgd/uapi.h"
#include "helpers/devpair.h"

#define SEC  WG_NSEC_PER_SEC
#define MSEC WG_NSEC_PER_MSEC

/* Tests that call the receive path directly (one loop turn, no hook)
 * start a new turn after moving the clock: the engine reads the clock
 * once per entry. */
static void new_turn(struct devpair *e)
{
	wg_dev_tick(e->a.dev);
	wg_dev_tick(e->b.dev);
}

static void advance(struct devpair *e, uint64_t ns)
{
	e->clk.mono += ns;
	e->clk.unix_ns += ns;
	wg_device_run_timers(e->a.dev);
	wg_device_run_timers(e->b.dev);
	devpair_pump(e);
}

/* Advances in 1 s steps (timers fire in order), then by the remainder. */
static void advance_steps(struct devpair *e, uint64_t ns)
{
	while (ns >= SEC) {
		advance(e, SEC);
		ns -= SEC;
	}
	if (ns)
		advance(e, ns);
}

static struct wg_device_stats stats(struct node *n)
{
	struct wg_device_stats s;

	wg_device_get_stats(n->dev, &s);
	return s;
}

/* --- packets --- */

static size_t ipv4_packet(uint8_t *buf, const char *src, const char *dst, size_t payload,
			  uint8_t fill)
{
	size_t len = 20 + payload;

	memset(buf, 0, 20);
	buf[0] = 0x45;
	buf[2] = (uint8_t)(len >> 8);
	buf[3] = (uint8_t)len;
	buf[8] = 64;
	buf[9] = 17;
	assert_int_equal(inet_pton(AF_INET, src, buf + 12), 1);
	assert_int_equal(inet_pton(AF_INET, dst, buf + 16), 1);
	memset(buf + 20, fill, payload);
	return len;
}

static size_t ipv6_packet(uint8_t *buf, const char *src, const char *dst, size_t payload,
			  uint8_t fill)
{
	memset(buf, 0, 40);
	buf[0] = 0x60;
	buf[4] = (uint8_t)(payload >> 8);
	buf[5] = (uint8_t)payload;
	buf[6] = 17;
	buf[7] = 64;
	assert_int_equal(inet_pton(AF_INET6, src, buf + 8), 1);
	assert_int_equal(inet_pton(AF_INET6, dst, buf + 24), 1);
	memset(buf + 40, fill, payload);
	return 40 + payload;
}

static void tun_inject(struct node *n, const uint8_t *pkt, size_t len)
{
	assert_int_equal(send(n->tun_fd, pkt, len, 0), (ssize_t)len);
}

/* Next packet the device wrote to its TUN, -1 if none. */
static ssize_t tun_take(struct node *n, uint8_t *buf, size_t len)
{
	return recv(n->tun_fd, buf, len, MSG_DONTWAIT);
}

static void expect_delivered(struct node *to, const uint8_t *pkt, size_t len)
{
	uint8_t got[2048];
	ssize_t n = tun_take(to, got, sizeof(got));

	assert_int_equal(n, (ssize_t)len);
	assert_memory_equal(got, pkt, len);
}

static void expect_tun_empty(struct node *n)
{
	uint8_t got[2048];

	assert_int_equal(tun_take(n, got, sizeof(got)), -1);
}

static struct wg_peer *peer_of(struct node *n, const struct node *other)
{
	struct wg_peer *p = wg_peer_lookup(n->dev, other->pub);

	assert_non_null(p);
	return p;
}

/* First packet A -> B: handshake, then delivery. */
static void establish(struct devpair *e)
{
	uint8_t pkt[128];
	size_t len = ipv4_packet(pkt, "10.0.0.1", "10.0.0.2", 20, 0xab);

	tun_inject(&e->a, pkt, len);
	devpair_pump(e);
	expect_delivered(&e->b, pkt, len);
}

static char *get_text(struct node *n);
static void expect_line(const char *text, const char *line);

/* --- data path --- */

static void test_handshake_on_first_packet(void **state)
{
	struct devpair *e = *state;

	assert_int_equal(stats(&e->a).handshake_initiations_sent, 0);
	establish(e);
	assert_int_equal(stats(&e->a).handshake_initiations_sent, 1);
	assert_int_equal(stats(&e->b).handshake_responses_sent, 1);
	assert_int_equal(stats(&e->a).handshakes_completed, 1);
	assert_int_equal(stats(&e->b).handshakes_completed, 1); /* on the first data */
	assert_non_null(peer_of(&e->a, &e->b)->kp_current);
	assert_non_null(peer_of(&e->b, &e->a)->kp_current);
	assert_null(peer_of(&e->b, &e->a)->kp_next);
	/* B learned where A is from the authenticated initiation. */
	assert_true(wg_peer_has_endpoint(peer_of(&e->b, &e->a)));
}

static void test_ipv4_ipv6_both_ways(void **state)
{
	struct devpair *e = *state;
	uint8_t pkt[1500];
	size_t len;

	establish(e);
	len = ipv4_packet(pkt, "10.0.0.2", "10.0.0.1", 1, 0x11);
	tun_inject(&e->b, pkt, len);
	devpair_pump(e);
	expect_delivered(&e->a, pkt, len);

	len = ipv6_packet(pkt, "fd00::1", "fd00::2", 333, 0x22);
	tun_inject(&e->a, pkt, len);
	devpair_pump(e);
	expect_delivered(&e->b, pkt, len);

	len = ipv6_packet(pkt, "fd00::2", "fd00::1", 1380, 0x33); /* full MTU */
	tun_inject(&e->b, pkt, len);
	devpair_pump(e);
	expect_delivered(&e->a, pkt, len);
	/* Still one handshake: the session carried everything. */
	assert_int_equal(stats(&e->a).handshake_initiations_sent, 1);
	assert_int_equal(stats(&e->b).handshake_initiations_sent, 0);
}

static void test_ipv6_underlay(void **state)
{
	struct devpair *e = *state;
	char line[128], *t;

	assert_int_equal(node_apply(&e->a, "public_key=%s\nendpoint=[::1]:%u\n", e->b.pub_hex,
				    wg_device_listen_port(e->b.dev)),
			 0);
	establish(e);
	t = get_text(&e->b);
	snprintf(line, sizeof(line), "endpoint=[::1]:%u", wg_device_listen_port(e->a.dev));
	expect_line(t, line);
	free(t);
}

static void test_staged_flushed_in_order(void **state)
{
	struct devpair *e = *state;
	uint8_t pkt[5][128];
	size_t len[5];

	for (int i = 0; i < 5; i++) {
		len[i] = ipv4_packet(pkt[i], "10.0.0.1", "10.0.0.2", 10 + (size_t)i, (uint8_t)i);
		tun_inject(&e->a, pkt[i], len[i]);
	}
	node_pump(&e->a); /* all staged, one initiation */
	assert_int_equal(peer_of(&e->a, &e->b)->n_staged, 5);
	assert_int_equal(stats(&e->a).handshake_initiations_sent, 1);
	devpair_pump(e);
	assert_int_equal(peer_of(&e->a, &e->b)->n_staged, 0);
	for (int i = 0; i < 5; i++)
		expect_delivered(&e->b, pkt[i], len[i]);
	expect_tun_empty(&e->b);
	/* The flushed data confirmed the session: no extra keepalive. */
	assert_int_equal(stats(&e->a).keepalives_sent, 0);
}

static void test_staging_drops_oldest(void **state)
{
	struct devpair *e = *state;
	uint8_t pkt[128];

	/* B has no endpoint for A yet: to stage, give A's peer a dead one. */
	assert_int_equal(node_apply(&e->a, "public_key=%s\nendpoint=127.0.0.1:9\n", e->b.pub_hex),
			 0);
	for (int i = 0; i < WG_MAX_STAGED_PACKETS + 3; i++) {
		size_t len = ipv4_packet(pkt, "10.0.0.1", "10.0.0.2", 8, (uint8_t)i);
		tun_inject(&e->a, pkt, len);
		node_pump(&e->a);
	}
	assert_int_equal(peer_of(&e->a, &e->b)->n_staged, WG_MAX_STAGED_PACKETS);
	assert_int_equal(stats(&e->a).staged_overflow, 3);
	/* The oldest went: the head is packet number 3. */
	assert_int_equal(peer_of(&e->a, &e->b)->staged_head->data[20], 3);
}

static void test_no_endpoint_dropped(void **state)
{
	struct devpair *e = *state;
	uint8_t pkt[128];
	size_t len = ipv4_packet(pkt, "10.0.0.2", "10.0.0.1", 8, 1);

	tun_inject(&e->b, pkt, len); /* B never heard from A */
	devpair_pump(e);
	assert_int_equal(stats(&e->b).tun_no_endpoint, 1);
	assert_int_equal(stats(&e->b).handshake_initiations_sent, 0);
	assert_int_equal(peer_of(&e->b, &e->a)->n_staged, 0);
}

static void test_unreachable_icmp(void **state)
{
	struct devpair *e = *state;
	uint8_t pkt[128], got[2048];
	size_t len = ipv4_packet(pkt, "10.0.0.1", "10.7.7.7", 30, 5);
	ssize_t n;

	tun_inject(&e->a, pkt, len);
	devpair_pump(e);
	n = tun_take(&e->a, got, sizeof(got));
	assert_int_equal(n, 20 + 8 + (ssize_t)len);
	assert_int_equal(got[9], 1);		    /* ICMP */
	assert_memory_equal(got + 12, pkt + 16, 4); /* from the destination */
	assert_memory_equal(got + 16, pkt + 12, 4); /* to the sender */
	assert_int_equal(got[20], 3);
	assert_int_equal(got[21], 1);
	assert_memory_equal(got + 28, pkt, len);
	assert_int_equal(stats(&e->a).tun_no_peer, 1);

	len = ipv6_packet(pkt, "fd00::1", "fd00::99", 16, 6);
	tun_inject(&e->a, pkt, len);
	devpair_pump(e);
	n = tun_take(&e->a, got, sizeof(got));
	assert_int_equal(n, 40 + 8 + (ssize_t)len);
	assert_int_equal(got[6], 58);
	assert_int_equal(got[40], 1);
	assert_int_equal(got[41], 3);
	/* An ICMP error is never answered with another. */
	memcpy(pkt, got, (size_t)n);
	memcpy(pkt + 24, got + 8, 16); /* aim it at the unroutable side */
	pkt[24 + 15] = 0x77;
	tun_inject(&e->a, pkt, (size_t)n);
	devpair_pump(e);
	expect_tun_empty(&e->a);
	assert_int_equal(stats(&e->a).icmp_sent, 2);
}

static void test_garbage_from_tun(void **state)
{
	struct devpair *e = *state;
	uint8_t pkt[64] = {0x45, 0, 0, 200}; /* claims 200 bytes */

	tun_inject(&e->a, pkt, sizeof(pkt));
	pkt[0] = 0x75;
	tun_inject(&e->a, pkt, sizeof(pkt));
	devpair_pump(e);
	assert_int_equal(stats(&e->a).tun_garbage, 2);
	expect_tun_empty(&e->a);
}

static void test_source_filter(void **state)
{
	struct devpair *e = *state;
	uint8_t pkt[128];
	size_t len;

	establish(e);
	/* A routes by destination; B checks the source belongs to A. */
	len = ipv4_packet(pkt, "10.9.9.9", "10.0.0.2", 12, 7);
	tun_inject(&e->a, pkt, len);
	devpair_pump(e);
	expect_tun_empty(&e->b);
	assert_int_equal(stats(&e->b).inner_src_mismatch, 1);
	len = ipv6_packet(pkt, "fd00::5", "fd00::2", 12, 7);
	tun_inject(&e->a, pkt, len);
	devpair_pump(e);
	expect_tun_empty(&e->b);
	assert_int_equal(stats(&e->b).inner_src_mismatch, 2);
}

static void on_fatal(void *ctx)
{
	struct node *n = ctx;

	wg_device_destroy(n->dev); /* allowed from the callback */
	n->dev = NULL;
}

static void test_tun_gone_is_fatal(void **state)
{
	struct devpair *e = *state;
	struct wg_device_params p = {0};
	struct node n = {.base = e->a.base};
	struct wg_tun *tun;
	int sv[2];

	/* SEQPACKET, unlike DGRAM, reports the closed end as EOF. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	assert_int_equal(wg_tun_from_fd(sv[0], false, "tunX", &tun), 0);
	p.base = n.base;
	p.tun = tun;
	p.clock = &e->clock;
	assert_int_equal(wg_device_create(&p, &n.dev), 0);
	wg_device_on_fatal(n.dev, on_fatal, &n);
	close(sv[1]);
	node_pump(&n);
	assert_null(n.dev);
}

/* --- get / set --- */

static char *get_text(struct node *n)
{
	struct wg_uapi_writer w;
	char *s;

	wg_uapi_writer_init(&w);
	assert_int_equal(wg_device_get(n->dev, &w), 0);
	s = strndup(w.buf ? w.buf : "", w.len);
	wg_uapi_writer_free(&w);
	return s;
}

static void expect_line(const char *text, const char *line)
{
	char want[256];

	snprintf(want, sizeof(want), "%s\n", line);
	if (!strstr(text, want))
		fail_msg("missing line \"%s\" in:\n%s", line, text);
}

static void test_get_fields(void **state)
{
	struct devpair *e = *state;
	char line[256], *t;

	t = get_text(&e->a);
	assert_true(strncmp(t, "private_key=", 12) == 0);
	free(t);
	establish(e);
	t = get_text(&e->a);
	snprintf(line, sizeof(line), "private_key=%s", e->a.priv_hex);
	expect_line(t, line);
	snprintf(line, sizeof(line), "listen_port=%u", wg_device_listen_port(e->a.dev));
	expect_line(t, line);
	assert_null(strstr(t, "fwmark="));
	snprintf(line, sizeof(line), "public_key=%s", e->b.pub_hex);
	expect_line(t, line);
	expect_line(
		t,
		"preshared_key=0000000000000000000000000000000000000000000000000000000000000000");
	expect_line(t, "protocol_version=1");
	snprintf(line, sizeof(line), "endpoint=127.0.0.1:%u", wg_device_listen_port(e->b.dev));
	expect_line(t, line);
	expect_line(t, "last_handshake_time_sec=1700000000");
	expect_line(t, "last_handshake_time_nsec=0");
	/* Initiation 148 + one 40-byte packet padded to 48 (16+48+16 = 80). */
	expect_line(t, "tx_bytes=228");
	expect_line(t, "rx_bytes=92"); /* the response */
	expect_line(t, "persistent_keepalive_interval=0");
	expect_line(t, "allowed_ip=10.0.0.2/32");
	expect_line(t, "allowed_ip=fd00::2/128");
	free(t);
	t = get_text(&e->b);
	expect_line(t, "tx_bytes=92");
	expect_line(t, "rx_bytes=228");
	snprintf(line, sizeof(line), "endpoint=127.0.0.1:%u", wg_device_listen_port(e->a.dev));
	expect_line(t, line);
	free(t);
}

static void test_set_fields(void **state)
{
	struct devpair *e = *state;
	char *t;

	assert_int_equal(
		node_apply(
			&e->a,
			"fwmark=0\npublic_key=%s\npreshared_key=%s\n"
			"persistent_keepalive_interval=0\nreplace_allowed_ips=true\n"
			"allowed_ip=10.1.0.0/16\nallowed_ip=10.2.0.0/16\nallowed_ip=-10.1.0.0/16\n",
			e->b.pub_hex, e->a.pub_hex),
		0);
	t = get_text(&e->a);
	expect_line(t, "allowed_ip=10.2.0.0/16");
	assert_null(strstr(t, "allowed_ip=10.0.0.2/32"));
	assert_null(strstr(t, "allowed_ip=10.1.0.0/16"));
	assert_null(strstr(t, "fwmark="));
	assert_non_null(strstr(t, e->a.pub_hex)); /* as the PSK */
	free(t);
	/* update_only never creates; remove takes the peer away. */
	assert_int_equal(node_apply(&e->a, "public_key=%s\nupdate_only=true\nendpoint=1.2.3.4:5\n",
				    e->a.priv_hex),
			 0);
	assert_int_equal(wg_device_peer_count(e->a.dev), 1);
	assert_int_equal(node_apply(&e->a, "public_key=%s\nremove=true\n", e->b.pub_hex), 0);
	assert_int_equal(wg_device_peer_count(e->a.dev), 0);
	/* Our own public key as a peer is ignored. */
	assert_int_equal(node_apply(&e->a, "public_key=%s\n", e->a.pub_hex), 0);
	assert_int_equal(wg_device_peer_count(e->a.dev), 0);
}

static void test_set_is_atomic(void **state)
{
	struct devpair *e = *state;
	uint8_t other[WG_KEY_LEN];
	char other_hex[65], *before, *after;
	int ret;

	establish(e);
	wg_x25519_generate(other);
	hex(other_hex, other);
	before = get_text(&e->a);
	/* Everything valid except the port, which B holds: nothing changes. */
	ret = node_apply(&e->a,
			 "private_key=%s\nlisten_port=%u\nreplace_peers=true\n"
			 "public_key=%s\nallowed_ip=10.5.0.0/16\n",
			 other_hex, wg_device_listen_port(e->b.dev), other_hex);
	assert_int_equal(ret, -EADDRINUSE);
	after = get_text(&e->a);
	assert_string_equal(before, after);
	free(after);
	/* The session survived too. */
	assert_non_null(peer_of(&e->a, &e->b)->kp_current);
	/* A good port moves the socket; B follows A by roaming. */
	ret = node_apply(&e->a, "listen_port=0\n");
	assert_int_equal(ret, 0);
	after = get_text(&e->a);
	assert_string_not_equal(before, after);
	free(before);
	free(after);
	establish(e);
	assert_int_equal(stats(&e->a).handshake_initiations_sent, 1);
}

/* SO_MARK needs CAP_NET_ADMIN: with it the mark shows in get, without it
 * the request fails whole. Either way the state matches the answer. */
static void test_fwmark(void **state)
{
	struct devpair *e = *state;
	char *before = get_text(&e->a), *after;
	int ret = node_apply(&e->a, "fwmark=51820\npublic_key=%s\nremove=true\n", e->b.pub_hex);

	after = get_text(&e->a);
	if (ret == 0) {
		expect_line(after, "fwmark=51820");
		assert_int_equal(wg_device_peer_count(e->a.dev), 0);
		free(after);
		assert_int_equal(node_apply(&e->a, "fwmark=0\n"), 0);
		after = get_text(&e->a);
		assert_null(strstr(after, "fwmark="));
	} else {
		assert_int_equal(ret, -EPERM);
		assert_string_equal(before, after);
	}
	free(before);
	free(after);
}

static void test_private_key_change(void **state)
{
	struct devpair *e = *state;

	establish(e);
	/* Same key again (wg setconf): sessions stay. */
	assert_int_equal(node_apply(&e->a, "private_key=%s\n", e->a.priv_hex), 0);
	assert_non_null(peer_of(&e->a, &e->b)->kp_current);
	/* New key equal to the peer's: that peer goes, as in the kernel. */
	assert_int_equal(node_apply(&e->a, "private_key=%s\n", e->b.priv_hex), 0);
	assert_int_equal(wg_device_peer_count(e->a.dev), 0);
}

static void test_remove_peer_zeroes_state(void **state)
{
	struct devpair *e = *state;
	struct wg_device *a = e->a.dev;

	establish(e);
	assert_true(a->index.h.count > 0);
	assert_int_not_equal(wg_device_next_deadline(a), UINT64_MAX);
	assert_int_equal(node_apply(&e->a, "public_key=%s\nremove=true\n", e->b.pub_hex), 0);
	assert_int_equal(a->index.h.count, 0);
	assert_int_equal(a->pubkeys.h.count, 0);
	assert_int_equal(a->aips.nodes, 0);
	assert_int_equal(a->n_peers, 0);
	assert_int_equal(wg_device_next_deadline(a), UINT64_MAX);
	/* B's data for the removed peer finds no keypair. */
	uint8_t pkt[64];
	size_t len = ipv4_packet(pkt, "10.0.0.2", "10.0.0.1", 4, 1);
	tun_inject(&e->b, pkt, len);
	devpair_pump(e);
	assert_int_equal(stats(&e->a).data_unknown_index, 1);
}

static void test_replace_peers(void **state)
{
	struct devpair *e = *state;
	uint8_t k[3][WG_KEY_LEN];
	char h[3][65];

	for (int i = 0; i < 3; i++) {
		wg_x25519_generate(k[i]);
		wg_x25519_public(k[i], k[i]);
		hex(h[i], k[i]);
	}
	/* Create, remove and re-create in one request, then replace all. */
	assert_int_equal(node_apply(&e->a,
				    "public_key=%s\npublic_key=%s\nremove=true\npublic_key=%s\n",
				    h[0], h[0], h[0]),
			 0);
	assert_int_equal(wg_device_peer_count(e->a.dev), 2);
	assert_int_equal(
		node_apply(&e->a, "replace_peers=true\npublic_key=%s\npublic_key=%s\n", h[1], h[2]),
		0);
	assert_int_equal(wg_device_peer_count(e->a.dev), 2);
	assert_null(wg_peer_lookup(e->a.dev, e->b.pub));
	assert_non_null(wg_peer_lookup(e->a.dev, k[1]));
}

/* --- many peers --- */

enum { SCALE_PEERS = 100000 };

/* Peer i of a generated hub config: key bytes from i (any 32 bytes are a
 * valid public key), 10.x.y.z/32 and fd00::i/128, an endpoint for even i. */
static void scale_key(uint8_t k[WG_KEY_LEN], uint32_t i)
{
	memset(k, 0xa5, WG_KEY_LEN);
	memcpy(k, &i, sizeof(i));
}

static size_t scale_peer_text(char *out, size_t cap, uint32_t i)
{
	uint8_t k[WG_KEY_LEN];
	char h[65];
	int n;

	scale_key(k, i);
	hex(h, k);
	n = snprintf(out, cap,
		     "public_key=%s\nallowed_ip=10.%u.%u.%u/32\nallowed_ip=fd00::%x:%x/128\n", h,
		     (i >> 16) & 255, (i >> 8) & 255, i & 255, i >> 16, i & 0xffff);
	if (i % 2 == 0)
		n += snprintf(out + n, cap - (size_t)n, "endpoint=192.0.2.%u:%u\n", i % 250 + 1,
			      1024 + i % 60000);
	return (size_t)n;
}

static int apply_text(struct node *n, const char *body, size_t len)
{
	struct wg_uapi_set set;
	int ret = wg_uapi_parse_set(body, len, &set);

	assert_int_equal(ret, 0);
	ret = wg_device_set(n->dev, &set);
	wg_uapi_set_free(&set);
	return ret;
}

static void apply_scale(struct node *n, const char *head, uint32_t count)
{
	size_t cap = strlen(head) + (size_t)count * 256 + 1, len;
	char *body = malloc(cap);

	assert_non_null(body);
	len = (size_t)snprintf(body, cap, "%s", head);
	for (uint32_t i = 0; i < count; i++)
		len += scale_peer_text(body + len, cap - len, i);
	assert_int_equal(apply_text(n, body, len), 0);
	free(body);
}

/* Peer i's block in a get reply: deterministic, as it never had traffic. */
static const char *expect_scale_peer(const char *p, uint32_t i)
{
	uint8_t k[WG_KEY_LEN], v6[16] = {0xfd};
	char want[768], h[65], ep[64] = "", v6s[INET6_ADDRSTRLEN];
	uint32_t be = htonl(i);
	int n;

	scale_key(k, i);
	hex(h, k);
	memcpy(v6 + 12, &be, 4);
	inet_ntop(AF_INET6, v6, v6s, sizeof(v6s));
	if (i % 2 == 0)
		snprintf(ep, sizeof(ep), "endpoint=192.0.2.%u:%u\n", i % 250 + 1, 1024 + i % 60000);
	n = snprintf(want, sizeof(want),
		     "public_key=%s\npreshared_key=%064d\nprotocol_version=1\n%s"
		     "last_handshake_time_sec=0\nlast_handshake_time_nsec=0\ntx_bytes=0\n"
		     "rx_bytes=0\npersistent_keepalive_interval=0\n"
		     "allowed_ip=10.%u.%u.%u/32\nallowed_ip=%s/128\n",
		     h, 0, ep, (i >> 16) & 255, (i >> 8) & 255, i & 255, v6s);
	if (strncmp(p, want, (size_t)n))
		fail_msg("peer %u: want\n%s\ngot\n%.*s", i, want, n, p);
	return p + n;
}

/* 100,000 peers in one set, read back whole and in steps, then one-peer
 * changes and a replacement on that device. */
static void test_scale_set_get(void **state)
{
	struct devpair *e = *state;
	struct wg_device_dump *d;
	struct wg_uapi_writer w;
	uint8_t k[WG_KEY_LEN];
	char *whole, line[160], h[65];
	const char *p;

	apply_scale(&e->a, "", SCALE_PEERS);
	assert_int_equal(wg_device_peer_count(e->a.dev), SCALE_PEERS + 1);
	assert_int_equal(e->a.dev->aips.nodes > 2 * SCALE_PEERS, true);
	/* nothing per peer on the data path until it handshakes */
	scale_key(k, 77);
	assert_int_equal(wg_peer_lookup(e->a.dev, k)->hs.static_static, WG_SS_PENDING);
	assert_null(wg_peer_lookup(e->a.dev, k)->kp_current);

	whole = get_text(&e->a);
	p = strstr(whole, "public_key=");
	p = strstr(p + 1, "public_key="); /* after B, the first peer */
	for (uint32_t i = 0; i < SCALE_PEERS; i++)
		p = expect_scale_peer(p, i);
	assert_null(strstr(p, "public_key="));

	/* the streamed reply is the same bytes */
	wg_uapi_writer_init(&w);
	assert_int_equal(wg_device_dump_begin(e->a.dev, &w, &d), 0);
	while (wg_device_dump_next(d, &w, 1000))
		;
	wg_device_dump_end(d);
	assert_false(w.failed);
	assert_int_equal(w.len, strlen(whole));
	assert_memory_equal(w.buf, whole, w.len);
	wg_uapi_writer_free(&w);
	free(whole);

	/* one peer changed, one removed */
	scale_key(k, 50000);
	hex(h, k);
	assert_int_equal(node_apply(&e->a,
				    "public_key=%s\nendpoint=198.51.100.7:9\n"
				    "allowed_ip=10.200.0.0/16\n",
				    h),
			 0);
	scale_key(k, 3);
	hex(h, k);
	assert_int_equal(node_apply(&e->a, "public_key=%s\nremove=true\n", h), 0);
	assert_int_equal(wg_device_peer_count(e->a.dev), SCALE_PEERS);
	whole = get_text(&e->a);
	snprintf(line, sizeof(line), "public_key=%s", h);
	assert_null(strstr(whole, line));
	expect_line(whole, "endpoint=198.51.100.7:9");
	expect_line(whole, "allowed_ip=10.200.0.0/16");
	free(whole);

	/* a smaller replacement removes the rest */
	apply_scale(&e->a, "replace_peers=true\n", 10);
	assert_int_equal(wg_device_peer_count(e->a.dev), 10);
	assert_int_equal(e->a.dev->aips.nodes <= 40, true);
}

/* A dump moves on past peers removed under it and sees peers added after
 * it started; a device destroyed under it ends it. */
static void test_dump_survives_changes(void **state)
{
	struct devpair *e = *state;
	struct wg_device_dump *d, *d2;
	struct wg_uapi_writer w;
	uint8_t k[WG_KEY_LEN];
	char h[65], *t;

	apply_scale(&e->a, "replace_peers=true\n", 6); /* peers 0..5 */
	wg_uapi_writer_init(&w);
	assert_int_equal(wg_device_dump_begin(e->a.dev, &w, &d), 0);
	assert_int_equal(wg_device_dump_begin(e->a.dev, &w, &d2), 0);
	wg_device_dump_end(d2);			    /* unlinked from the middle of nothing */
	assert_true(wg_device_dump_next(d, &w, 2)); /* 0, 1 */
	scale_key(k, 2);			    /* the next one the dump would write */
	hex(h, k);
	assert_int_equal(node_apply(&e->a, "public_key=%s\nremove=true\n", h), 0);
	scale_key(k, 0); /* already written */
	hex(h, k);
	assert_int_equal(node_apply(&e->a, "public_key=%s\nremove=true\n", h), 0);
	scale_key(k, 9); /* new, at the end */
	hex(h, k);
	assert_int_equal(node_apply(&e->a, "public_key=%s\n", h), 0);
	assert_false(wg_device_dump_next(d, &w, 100));
	wg_device_dump_end(d);
	t = strndup(w.buf, w.len);
	for (uint32_t i = 0; i < 10; i++) {
		char line[80];
		scale_key(k, i);
		hex(h, k);
		snprintf(line, sizeof(line), "public_key=%s\n", h);
		if (i == 2 || (i > 5 && i != 9))
			assert_null(strstr(t, line));
		else
			assert_non_null(strstr(t, line));
	}
	free(t);
	wg_uapi_writer_free(&w);

	wg_uapi_writer_init(&w);
	assert_int_equal(wg_device_dump_begin(e->a.dev, &w, &d), 0);
	wg_device_destroy(e->a.dev);
	e->a.dev = NULL;
	assert_false(wg_device_dump_next(d, &w, 100));
	wg_device_dump_end(d);
	wg_uapi_writer_free(&w);
}

/* --- timers with a live partner --- */

static void test_idle_arms_nothing(void **state)
{
	struct devpair *e = *state;

	assert_int_equal(wg_device_next_deadline(e->a.dev), UINT64_MAX);
	assert_int_equal(wg_device_next_deadline(e->b.dev), UINT64_MAX);
	establish(e);
	advance_steps(e, WG_ZERO_KEYS_AFTER);
	assert_int_equal(stats(&e->a).keys_zeroed, 1);
	assert_int_equal(stats(&e->b).keys_zeroed, 1);
	assert_null(peer_of(&e->a, &e->b)->kp_current);
	assert_null(peer_of(&e->a, &e->b)->kp_previous);
	assert_null(peer_of(&e->b, &e->a)->kp_current);
	assert_int_equal(peer_of(&e->a, &e->b)->hs.state, WG_HS_ZEROED);
	assert_int_equal(e->a.dev->index.h.count, 0);
	/* Zeroed and quiet: no wake-up is pending on either side. */
	assert_int_equal(wg_device_next_deadline(e->a.dev), UINT64_MAX);
	assert_int_equal(wg_device_next_deadline(e->b.dev), UINT64_MAX);
}

static void test_passive_keepalive(void **state)
{
	struct devpair *e = *state;

	establish(e);
	advance(e, WG_KEEPALIVE_TIMEOUT - 1);
	assert_int_equal(stats(&e->b).keepalives_sent, 0);
	advance(e, 1);
	assert_int_equal(stats(&e->b).keepalives_sent, 1);
	assert_int_equal(stats(&e->a).keepalives_received, 1);
	/* Nothing more to acknowledge. */
	advance_steps(e, 30 * SEC);
	assert_int_equal(stats(&e->b).keepalives_sent, 1);
	assert_int_equal(stats(&e->a).keepalives_sent, 0);
}

/* A sends; B (whose timers we hold back) never answers. */
static void test_new_handshake_when_unanswered(void **state)
{
	struct devpair *e = *state;
	uint8_t pkt[64];
	size_t len = ipv4_packet(pkt, "10.0.0.1", "10.0.0.2", 4, 1);
	uint64_t start;

	establish(e);
	advance_steps(e, 20 * SEC); /* keepalive exchanged, quiet */
	tun_inject(&e->a, pkt, len);
	devpair_pump(e);
	start = e->clk.mono;
	for (uint64_t t = 0; t < WG_NEW_HANDSHAKE_TIMEOUT; t += 500 * MSEC) {
		e->clk.mono = start + t;
		wg_device_run_timers(e->a.dev);
		assert_int_equal(stats(&e->a).handshake_initiations_sent, 1);
	}
	e->clk.mono = start + WG_NEW_HANDSHAKE_TIMEOUT + WG_REKEY_TIMEOUT_JITTER_MAX;
	wg_device_run_timers(e->a.dev);
	assert_int_equal(stats(&e->a).handshake_initiations_sent, 2);
	devpair_pump(e);
	assert_int_equal(stats(&e->a).handshakes_completed, 2);
}

static void test_persistent_keepalive(void **state)
{
	struct devpair *e = *state;

	establish(e);
	advance_steps(e, 20 * SEC);
	assert_int_equal(stats(&e->a).keepalives_sent, 0);
	assert_int_equal(node_apply(&e->a, "public_key=%s\npersistent_keepalive_interval=25\n",
				    e->b.pub_hex),
			 0);
	devpair_pump(e);
	assert_int_equal(stats(&e->a).keepalives_sent, 1); /* at once */
	advance(e, 25 * SEC - 1);
	assert_int_equal(stats(&e->a).keepalives_sent, 1);
	advance(e, 1);
	assert_int_equal(stats(&e->a).keepalives_sent, 2);
	advance(e, 25 * SEC);
	assert_int_equal(stats(&e->a).keepalives_sent, 3);
	/* Turning it off cancels it. */
	assert_int_equal(
		node_apply(&e->a, "public_key=%s\npersistent_keepalive_interval=0\n", e->b.pub_hex),
		0);
	advance_steps(e, 60 * SEC);
	assert_int_equal(stats(&e->a).keepalives_sent, 3);
}

static void test_rekey_after_time(void **state)
{
	struct devpair *e = *state;
	uint8_t pkt[64];
	size_t len = ipv4_packet(pkt, "10.0.0.1", "10.0.0.2", 4, 1);
	uint64_t born;

	establish(e);
	born = peer_of(&e->a, &e->b)->kp_current->kp.birthdate_ns;
	advance_steps(e, WG_REKEY_AFTER_TIME - SEC);
	tun_inject(&e->a, pkt, len);
	devpair_pump(e);
	expect_delivered(&e->b, pkt, len);
	assert_int_equal(stats(&e->a).handshake_initiations_sent, 1);
	/* The responder never rekeys on time. */
	len = ipv4_packet(pkt, "10.0.0.2", "10.0.0.1", 4, 1);
	advance(e, SEC);
	tun_inject(&e->b, pkt, len);
	devpair_pump(e);
	expect_delivered(&e->a, pkt, len);
	assert_int_equal(stats(&e->b).handshake_initiations_sent, 0);
	len = ipv4_packet(pkt, "10.0.0.1", "10.0.0.2", 4, 1);
	tun_inject(&e->a, pkt, len);
	devpair_pump(e);
	assert_int_equal(stats(&e->a).handshake_initiations_sent, 2);
	assert_int_equal(peer_of(&e->a, &e->b)->kp_current->kp.birthdate_ns, e->clk.mono);
	assert_int_equal(peer_of(&e->a, &e->b)->kp_previous->kp.birthdate_ns, born);
	expect_delivered(&e->b, pkt, len);
}

static void test_message_limits(void **state)
{
	struct devpair *e = *state;
	uint8_t pkt[64];
	size_t len = ipv4_packet(pkt, "10.0.0.1", "10.0.0.2", 4, 1);
	struct wg_peer *pa;

	establish(e);
	pa = peer_of(&e->a, &e->b);
	advance(e, WG_REKEY_TIMEOUT); /* initiations are at most one per 5 s */
	/* Past REKEY_AFTER_MESSAGES: still sends, and rekeys. */
	pa->kp_current->kp.sending_counter = WG_REKEY_AFTER_MESSAGES + 1;
	tun_inject(&e->a, pkt, len);
	node_pump(&e->a);
	assert_int_equal(stats(&e->a).handshake_initiations_sent, 2);
	assert_int_equal(stats(&e->a).data_packets_sent, 2);
	devpair_pump(e);
	assert_int_equal(stats(&e->a).handshakes_completed, 2);
	/* At REJECT_AFTER_MESSAGES the session may not send at all. */
	advance(e, WG_REKEY_TIMEOUT);
	while (tun_take(&e->b, pkt, sizeof(pkt)) > 0)
		;
	len = ipv4_packet(pkt, "10.0.0.1", "10.0.0.2", 4, 1);
	pa->kp_current->kp.sending_counter = WG_REJECT_AFTER_MESSAGES;
	tun_inject(&e->a, pkt, len);
	node_pump(&e->a);
	assert_int_equal(pa->n_staged, 1);
	assert_int_equal(stats(&e->a).handshake_initiations_sent, 3);
	devpair_pump(e);
	expect_delivered(&e->b, pkt, len);
}

static void test_rekey_on_receive(void **state)
{
	struct devpair *e = *state;
	uint8_t pkt[64];
	size_t len = ipv4_packet(pkt, "10.0.0.2", "10.0.0.1", 4, 1);

	establish(e);
	advance_steps(e, WG_REKEY_ON_RECEIVE_AGE - SEC);
	tun_inject(&e->b, pkt, len);
	devpair_pump(e);
	expect_delivered(&e->a, pkt, len);
	assert_int_equal(stats(&e->a).handshake_initiations_sent, 1);
	advance(e, SEC);
	tun_inject(&e->b, pkt, len);
	devpair_pump(e);
	expect_delivered(&e->a, pkt, len);
	assert_int_equal(stats(&e->a).handshake_initiations_sent, 2);
	assert_int_equal(stats(&e->a).handshakes_completed, 2);
}

static void test_reject_after_time(void **state)
{
	struct devpair *e = *state;
	uint8_t pkt[64];
	size_t len = ipv4_packet(pkt, "10.0.0.1", "10.0.0.2", 4, 1);

	establish(e);
	/* At 180 s the session may not send: staged, new handshake. */
	advance_steps(e, WG_REJECT_AFTER_TIME);
	assert_int_equal(stats(&e->a).handshake_initiations_sent, 1);
	tun_inject(&e->a, pkt, len);
	node_pump(&e->a);
	assert_int_equal(stats(&e->a).handshake_initiations_sent, 2);
	assert_int_equal(peer_of(&e->a, &e->b)->n_staged, 1);
	devpair_pump(e);
	expect_delivered(&e->b, pkt, len);
	assert_int_equal(stats(&e->a).handshakes_completed, 2);
	/* Nor receive: sealed at 179 s, opened after 180 s. */
	advance_steps(e, WG_REJECT_AFTER_TIME - SEC);
	tun_inject(&e->a, pkt, len);
	node_pump(&e->a);
	e->clk.mono += 2 * SEC;
	devpair_pump(e);
	assert_int_equal(stats(&e->b).data_expired_keypair, 1);
	expect_tun_empty(&e->b);
}

/* --- handshake backlog and cookies --- */

static int open_sink(struct wg_endpoint *ep)
{
	socklen_t len = sizeof(ep->addr.in4);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);

	assert_true(fd >= 0);
	memset(ep, 0, sizeof(*ep));
	ep->addr.in4.sin_family = AF_INET;
	ep->addr.in4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, &ep->addr.sa, len), 0);
	assert_int_equal(getsockname(fd, &ep->addr.sa, &len), 0);
	return fd;
}

/* B's initiation to A, built by hand so the test can replay it. */
static void make_initiation(struct devpair *e, struct wg_handshake *hs, struct wg_cookie *ck,
			    struct wg_msg_initiation *msg)
{
	struct wg_static_identity idb = {.has_identity = true};

	memcpy(idb.private_key, e->b.priv, WG_KEY_LEN);
	memcpy(idb.public_key, e->b.pub, WG_KEY_LEN);
	wg_noise_handshake_init(hs, &idb, e->a.pub, NULL);
	e->clk.unix_ns += SEC; /* a newer timestamp each time */
	assert_int_equal(wg_noise_create_initiation(msg, hs, &idb, 0x1234, e->clk.unix_ns), 0);
	wg_cookie_add_macs(ck, msg, sizeof(*msg), e->clk.mono);
	wg_memzero(&idb, sizeof(idb));
}

static int count_type(int fd, uint8_t type, size_t len, uint8_t *last)
{
	uint8_t buf[256];
	ssize_t n;
	int count = 0;

	while ((n = recv(fd, buf, sizeof(buf), 0)) > 0)
		if (buf[0] == type && (size_t)n == len) {
			count++;
			if (last)
				memcpy(last, buf, len);
		}
	return count;
}

static void test_under_load_demands_cookie(void **state)
{
	struct devpair *e = *state;
	struct wg_device *a = e->a.dev;
	struct wg_msg_cookie_reply reply;
	struct wg_msg_initiation msg;
	struct wg_handshake hs;
	struct wg_cookie ck;
	struct wg_endpoint from;
	int sink = open_sink(&from);
	int n = WG_UNDER_LOAD_BACKLOG + 100;

	wg_cookie_init(&ck, e->a.pub);
	make_initiation(e, &hs, &ck, &msg);
	/* A backlog deeper than WG_UNDER_LOAD_BACKLOG builds up within one
	 * loop turn; feed it directly. Past that depth each message is judged
	 * as it is read, and those queued before are judged under load too:
	 * none reaches Noise, and the one source gets its burst of cookie
	 * replies, no more. */
	for (int i = 0; i < n; i++)
		wg_receive_datagram(a, (uint8_t *)&msg, sizeof(msg), &from);
	assert_int_equal(a->hsq_len, WG_UNDER_LOAD_BACKLOG);
	while (wg_receive_handshake_batch(a))
		;
	assert_int_equal(stats(&e->a).cookie_replies_sent, WG_RATELIMIT_BURST);
	assert_int_equal(stats(&e->a).cookie_replies_ratelimited, n - WG_RATELIMIT_BURST);
	assert_int_equal(stats(&e->a).handshake_responses_sent, 0);
	assert_int_equal(count_type(sink, WG_MSG_COOKIE_REPLY, sizeof(reply), (uint8_t *)&reply),
			 WG_RATELIMIT_BURST);
	/* With the cookie, mac2 is valid and the handshake goes through while
	 * the device is still under load (it lingers for a second). */
	assert_int_equal(wg_cookie_reply_consume(&ck, &reply, e->clk.mono), 0);
	make_initiation(e, &hs, &ck, &msg);
	wg_receive_datagram(a, (uint8_t *)&msg, sizeof(msg), &from);
	wg_receive_handshake_batch(a);
	assert_int_equal(stats(&e->a).handshake_responses_sent, 1);
	assert_int_equal(count_type(sink, WG_MSG_RESPONSE, WG_MSG_RESPONSE_LEN, NULL), 1);
	/* After the linger, no cookie is demanded any more. */
	e->clk.mono += WG_UNDER_LOAD_LINGER;
	new_turn(e);
	wg_cookie_init(&ck, e->a.pub);
	make_initiation(e, &hs, &ck, &msg);
	wg_receive_datagram(a, (uint8_t *)&msg, sizeof(msg), &from);
	wg_receive_handshake_batch(a);
	assert_int_equal(stats(&e->a).handshake_responses_sent, 2);
	wg_memzero(&hs, sizeof(hs));
	close(sink);
}

/* Under load, cookie replies are limited per source: a flood from other
 * addresses, however fast, leaves a peer's own initiation its reply (the
 * one its mac2 retry needs); and in all, per second. */
static void test_flood_leaves_peer_its_cookie(void **state)
{
	struct devpair *e = *state;
	struct wg_device *a = e->a.dev;
	struct wg_msg_cookie_reply reply;
	struct wg_msg_initiation msg, flood;
	struct wg_handshake hs, hs2;
	struct wg_cookie ck, ck_wrong;
	struct wg_endpoint from, src;
	int sink = open_sink(&from);
	const uint32_t per_src = 2 * WG_RATELIMIT_BURST;
	uint64_t invalid, limited;
	const uint32_t n_src = WG_COOKIE_REPLIES_PER_SECOND / WG_RATELIMIT_BURST + 10;
	uint64_t sent;

	wg_cookie_init(&ck, e->a.pub);
	make_initiation(e, &hs2, &ck, &flood);
	/* Spoofed loopback sources (their replies go nowhere): one of them
	 * fills the backlog (under load), then 8 flood at twice their burst. */
	src = from;
	src.addr.in4.sin_addr.s_addr = htonl(0x7f000164u);
	for (int i = 0; i < WG_UNDER_LOAD_BACKLOG; i++)
		wg_receive_datagram(a, (uint8_t *)&flood, sizeof(flood), &src);
	while (wg_receive_handshake_batch(a))
		;
	for (uint32_t i = 0; i < 8 * per_src; i++) {
		src.addr.in4.sin_addr.s_addr = htonl(0x7f000101u + i % 8);
		wg_receive_datagram(a, (uint8_t *)&flood, sizeof(flood), &src);
	}
	assert_int_equal(stats(&e->a).cookie_replies_sent, 9 * WG_RATELIMIT_BURST);
	assert_int_equal(stats(&e->a).handshake_responses_sent, 0);
	/* Past its limit a source is dropped before its mac1 is checked; a
	 * wrong mac1 spends no token, even from the peer's address. */
	wg_cookie_init(&ck_wrong, e->b.pub);
	make_initiation(e, &hs, &ck_wrong, &msg);
	invalid = stats(&e->a).mac_invalid;
	limited = stats(&e->a).cookie_replies_ratelimited;
	wg_receive_datagram(a, (uint8_t *)&msg, sizeof(msg), &src);
	assert_int_equal(stats(&e->a).mac_invalid, invalid);
	assert_int_equal(stats(&e->a).cookie_replies_ratelimited, limited + 1);
	for (uint32_t i = 0; i < per_src; i++)
		wg_receive_datagram(a, (uint8_t *)&msg, sizeof(msg), &from);
	assert_int_equal(stats(&e->a).mac_invalid, invalid + per_src);
	/* the peer, from an address of its own, is answered at once */
	make_initiation(e, &hs, &ck, &msg);
	wg_receive_datagram(a, (uint8_t *)&msg, sizeof(msg), &from);
	assert_int_equal(count_type(sink, WG_MSG_COOKIE_REPLY, sizeof(reply), (uint8_t *)&reply),
			 1);
	assert_int_equal(wg_cookie_reply_consume(&ck, &reply, e->clk.mono), 0);
	/* many sources: no more than the global limit in one second */
	for (uint32_t i = 0; i < n_src * WG_RATELIMIT_BURST; i++) {
		src.addr.in4.sin_addr.s_addr = htonl(0x7f010000u + i / WG_RATELIMIT_BURST);
		wg_receive_datagram(a, (uint8_t *)&flood, sizeof(flood), &src);
	}
	sent = stats(&e->a).cookie_replies_sent;
	assert_int_equal(sent, WG_COOKIE_REPLIES_PER_SECOND);
	/* and its retry with mac2 completes the handshake */
	make_initiation(e, &hs, &ck, &msg);
	wg_receive_datagram(a, (uint8_t *)&msg, sizeof(msg), &from);
	while (wg_receive_handshake_batch(a))
		;
	assert_int_equal(stats(&e->a).handshake_responses_sent, 1);
	assert_int_equal(count_type(sink, WG_MSG_RESPONSE, WG_MSG_RESPONSE_LEN, NULL), 1);
	wg_memzero(&hs, sizeof(hs));
	wg_memzero(&hs2, sizeof(hs2));
	close(sink);
}

/* Messages answered as they are read never deepen the backlog, yet a
 * steady flood of them keeps the device under load: a fresh initiation
 * 3 s in still gets a cookie reply, not Diffie-Hellman work. */
static void test_steady_flood_keeps_load(void **state)
{
	struct devpair *e = *state;
	struct wg_device *a = e->a.dev;
	struct wg_msg_initiation msg, flood;
	struct wg_handshake hs, hs2;
	struct wg_cookie ck;
	struct wg_endpoint from, src;
	int sink = open_sink(&from);

	wg_cookie_init(&ck, e->a.pub);
	make_initiation(e, &hs2, &ck, &flood);
	src = from;
	src.addr.in4.sin_addr.s_addr = htonl(0x7f000164u);
	for (int i = 0; i < WG_UNDER_LOAD_BACKLOG; i++)
		wg_receive_datagram(a, (uint8_t *)&flood, sizeof(flood), &src);
	while (wg_receive_handshake_batch(a))
		;
	for (int step = 0; step < 4; step++) {
		e->clk.mono += WG_UNDER_LOAD_LINGER * 3 / 4;
		new_turn(e);
		for (uint32_t i = 0; i < WG_UNDER_LOAD_BACKLOG; i++) {
			src.addr.in4.sin_addr.s_addr = htonl(0x7f000200u + i % 200);
			wg_receive_datagram(a, (uint8_t *)&flood, sizeof(flood), &src);
		}
		assert_int_equal(a->hsq_len, 0);
	}
	make_initiation(e, &hs, &ck, &msg);
	wg_receive_datagram(a, (uint8_t *)&msg, sizeof(msg), &from);
	while (wg_receive_handshake_batch(a))
		;
	assert_int_equal(stats(&e->a).handshake_responses_sent, 0);
	assert_int_equal(
		count_type(sink, WG_MSG_COOKIE_REPLY, sizeof(struct wg_msg_cookie_reply), NULL), 1);
	/* the flood over, the load ends a linger later */
	e->clk.mono += WG_UNDER_LOAD_LINGER;
	new_turn(e);
	make_initiation(e, &hs, &ck, &msg);
	wg_receive_datagram(a, (uint8_t *)&msg, sizeof(msg), &from);
	while (wg_receive_handshake_batch(a))
		;
	assert_int_equal(stats(&e->a).handshake_responses_sent, 1);
	wg_memzero(&hs, sizeof(hs));
	wg_memzero(&hs2, sizeof(hs2));
	close(sink);
}

static void test_backlog_bounded_and_mac1(void **state)
{
	struct devpair *e = *state;
	struct wg_device *a = e->a.dev;
	struct wg_msg_cookie_reply junk;
	struct wg_msg_initiation msg;
	struct wg_handshake hs;
	struct wg_cookie ck;
	struct wg_endpoint from;
	int sink = open_sink(&from);

	wg_cookie_init(&ck, e->b.pub); /* mac1 for the wrong key */
	make_initiation(e, &hs, &ck, &msg);
	/* a wrong mac1 is dropped as it is read: no backlog slot */
	for (int i = 0; i < WG_MAX_QUEUED_HANDSHAKES + 10; i++)
		wg_receive_datagram(a, (uint8_t *)&msg, sizeof(msg), &from);
	assert_int_equal(stats(&e->a).mac_invalid, WG_MAX_QUEUED_HANDSHAKES + 10);
	assert_int_equal(stats(&e->a).handshake_queue_full, 0);
	assert_int_equal(a->hsq_len, 0);
	/* cookie-reply messages are queued; the reserved last eighth is not
	 * for them */
	memset(&junk, 0x5a, sizeof(junk));
	wg_msg_header_put(junk.header, WG_MSG_COOKIE_REPLY);
	for (int i = 0; i < WG_MAX_QUEUED_HANDSHAKES + 10; i++)
		wg_receive_datagram(a, (uint8_t *)&junk, sizeof(junk), &from);
	assert_int_equal(a->hsq_len, WG_HS_RESERVED_FROM);
	assert_int_equal(stats(&e->a).handshake_queue_full,
			 WG_MAX_QUEUED_HANDSHAKES + 10 - WG_HS_RESERVED_FROM);
	while (wg_receive_handshake_batch(a))
		;
	assert_int_equal(stats(&e->a).cookie_reply_unknown_index, WG_HS_RESERVED_FROM);
	assert_int_equal(stats(&e->a).cookie_replies_sent, 0);
	/* Truncated or unknown messages never reach the backlog. */
	wg_receive_datagram(a, (uint8_t *)&msg, sizeof(msg) - 1, &from);
	msg.header[0] = 9;
	wg_receive_datagram(a, (uint8_t *)&msg, sizeof(msg), &from);
	assert_int_equal(stats(&e->a).udp_garbage, 2);
	assert_int_equal(a->hsq_len, 0);
	wg_memzero(&hs, sizeof(hs));
	close(sink);
}

/* One batch per loop turn: reading the sockets is not starved by the
 * backlog. A batch is a budget: 64 messages that need Noise, or 4 times
 * as many that end cheaply (a cookie-reply message for no handshake). */
static void test_backlog_budget_per_turn(void **state)
{
	struct devpair *e = *state;
	struct wg_device *a = e->a.dev;
	struct wg_msg_cookie_reply junk;
	struct wg_msg_initiation msg;
	struct wg_handshake hs;
	struct wg_cookie ck;
	struct wg_endpoint from, to;
	int sink = open_sink(&from);
	const int n = 150, cheap = WG_HS_BUDGET + 500;

	memset(&to, 0, sizeof(to));
	assert_int_equal(wg_sockaddr_parse(&to.addr, "127.0.0.1:0"), 0);
	to.addr.in4.sin_port = htons(wg_device_listen_port(a));
	memset(&junk, 0x5a, sizeof(junk));
	wg_msg_header_put(junk.header, WG_MSG_COOKIE_REPLY);
	for (int i = 0; i < n; i++)
		assert_int_equal(
			sendto(sink, &junk, sizeof(junk), 0, &to.addr.sa, sizeof(to.addr.in4)),
			(ssize_t)sizeof(junk));
	event_base_loop(e->a.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	assert_int_equal(a->hsq_len, n); /* read, not yet judged */
	event_base_loop(e->a.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	assert_int_equal(a->hsq_len, 0); /* all cheap: one turn */
	assert_int_equal(stats(&e->a).cookie_reply_unknown_index, n);

	for (int i = 0; i < cheap; i++)
		wg_receive_datagram(a, (uint8_t *)&junk, sizeof(junk), &from);
	assert_true(wg_receive_handshake_batch(a));
	assert_int_equal(a->hsq_len, cheap - WG_HS_BUDGET);
	while (wg_receive_handshake_batch(a))
		;

	/* mac1 right, not under load (after the linger): each goes to Noise */
	e->clk.mono += WG_UNDER_LOAD_LINGER;
	new_turn(e);
	wg_cookie_init(&ck, e->a.pub);
	make_initiation(e, &hs, &ck, &msg);
	for (int i = 0; i < n; i++)
		wg_receive_datagram(a, (uint8_t *)&msg, sizeof(msg), &from);
	assert_true(wg_receive_handshake_batch(a));
	assert_int_equal(a->hsq_len, n - WG_HANDSHAKE_BATCH);
	wg_memzero(&hs, sizeof(hs));
	close(sink);
}

/* A full backlog still takes a peer's retry that carries a cookie (valid
 * mac2), within its source's rate; nothing else enters its last eighth. */
static void test_backlog_reserve_for_cookies(void **state)
{
	struct devpair *e = *state;
	struct wg_device *a = e->a.dev;
	struct wg_msg_cookie_reply reply, junk;
	struct wg_msg_initiation msg;
	struct wg_handshake hs;
	struct wg_cookie ck;
	struct wg_endpoint from, from_flood;
	int sink = open_sink(&from), sink_flood = open_sink(&from_flood);
	uint64_t full, limited;
	int responses;

	/* get a cookie: under load, an initiation is answered with one */
	wg_cookie_init(&ck, e->a.pub);
	make_initiation(e, &hs, &ck, &msg);
	for (int i = 0; i <= WG_UNDER_LOAD_BACKLOG; i++)
		wg_receive_datagram(a, (uint8_t *)&msg, sizeof(msg), &from);
	while (wg_receive_handshake_batch(a))
		;
	assert_true(count_type(sink, WG_MSG_COOKIE_REPLY, sizeof(reply), (uint8_t *)&reply) > 0);
	assert_int_equal(wg_cookie_reply_consume(&ck, &reply, e->clk.mono), 0);

	/* fill the backlog to the brim with cookie-reply messages */
	memset(&junk, 0x5a, sizeof(junk));
	wg_msg_header_put(junk.header, WG_MSG_COOKIE_REPLY);
	for (int i = 0; i < WG_MAX_QUEUED_HANDSHAKES; i++)
		wg_receive_datagram(a, (uint8_t *)&junk, sizeof(junk), &from_flood);
	assert_int_equal(a->hsq_len, WG_HS_RESERVED_FROM);
	full = stats(&e->a).handshake_queue_full;
	assert_int_equal(full, WG_MAX_QUEUED_HANDSHAKES - WG_HS_RESERVED_FROM);

	/* the retry with mac2 gets a reserved slot, and a response */
	make_initiation(e, &hs, &ck, &msg);
	wg_receive_datagram(a, (uint8_t *)&msg, sizeof(msg), &from);
	assert_int_equal(a->hsq_len, WG_HS_RESERVED_FROM + 1);
	assert_int_equal(stats(&e->a).handshake_queue_full, full);
	/* beyond its rate (burst 5) the same source is refused as it is read */
	limited = stats(&e->a).handshake_ratelimited;
	for (int i = 0; i < 2 * WG_RATELIMIT_BURST; i++)
		wg_receive_datagram(a, (uint8_t *)&msg, sizeof(msg), &from);
	assert_true(stats(&e->a).handshake_ratelimited > limited);
	assert_true(a->hsq_len < WG_HS_RESERVED_FROM + 1 + 2 * WG_RATELIMIT_BURST);
	while (wg_receive_handshake_batch(a))
		;
	responses = count_type(sink, WG_MSG_RESPONSE, WG_MSG_RESPONSE_LEN, NULL);
	assert_int_equal(stats(&e->a).handshake_responses_sent, 1);
	assert_int_equal(responses, 1);
	wg_memzero(&hs, sizeof(hs));
	close(sink_flood);
	close(sink);
}

static void test_initiation_rejections(void **state)
{
	struct devpair *e = *state;
	struct wg_device *a = e->a.dev;
	struct wg_msg_initiation msg;
	struct wg_handshake hs;
	struct wg_cookie ck;
	struct wg_endpoint from;
	int sink = open_sink(&from);

	wg_cookie_init(&ck, e->a.pub);
	make_initiation(e, &hs, &ck, &msg);
	wg_receive_datagram(a, (uint8_t *)&msg, sizeof(msg), &from);
	wg_receive_datagram(a, (uint8_t *)&msg, sizeof(msg), &from); /* replay */
	wg_receive_handshake_batch(a);
	assert_int_equal(stats(&e->a).handshake_responses_sent, 1);
	assert_int_equal(stats(&e->a).initiation_replay, 1);
	/* A newer one within 1/50 s is a flood. */
	make_initiation(e, &hs, &ck, &msg);
	wg_receive_datagram(a, (uint8_t *)&msg, sizeof(msg), &from);
	wg_receive_handshake_batch(a);
	assert_int_equal(stats(&e->a).initiation_flood, 1);
	/* A key A does not know. */
	wg_x25519_generate(e->b.priv);
	wg_x25519_public(e->b.pub, e->b.priv);
	make_initiation(e, &hs, &ck, &msg);
	wg_receive_datagram(a, (uint8_t *)&msg, sizeof(msg), &from);
	wg_receive_handshake_batch(a);
	assert_int_equal(stats(&e->a).initiation_unknown_peer, 1);
	assert_int_equal(stats(&e->a).handshake_responses_sent, 1);
	wg_memzero(&hs, sizeof(hs));
	close(sink);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_handshake_on_first_packet, devpair_setup,
						devpair_teardown),
		cmocka_unit_test_setup_teardown(test_ipv4_ipv6_both_ways, devpair_setup,
						devpair_teardown),
		cmocka_unit_test_setup_teardown(test_ipv6_underlay, devpair_setup,
						devpair_teardown),
		cmocka_unit_test_setup_teardown(test_staged_flushed_in_order, devpair_setup,
						devpair_teardown),
		cmocka_unit_test_setup_teardown(test_staging_drops_oldest, devpair_setup,
						devpair_teardown),
		cmocka_unit_test_setup_teardown(test_no_endpoint_dropped, devpair_setup,
						devpair_teardown),
		cmocka_unit_test_setup_teardown(test_unreachable_icmp, devpair_setup,
						devpair_teardown),
		cmocka_unit_test_setup_teardown(test_garbage_from_tun, devpair_setup,
						devpair_teardown),
		cmocka_unit_test_setup_teardown(test_source_filter, devpair_setup,
						devpair_teardown),
		cmocka_unit_test_setup_teardown(test_tun_gone_is_fatal, devpair_setup,
						devpair_teardown),
		cmocka_unit_test_setup_teardown(test_get_fields, devpair_setup, devpair_teardown),
		cmocka_unit_test_setup_teardown(test_set_fields, devpair_setup, devpair_teardown),
		cmocka_unit_test_setup_teardown(test_set_is_atomic, devpair_setup,
						devpair_teardown),
		cmocka_unit_test_setup_teardown(test_fwmark, devpair_setup, devpair_teardown),
		cmocka_unit_test_setup_teardown(test_private_key_change, devpair_setup,
						devpair_teardown),
		cmocka_unit_test_setup_teardown(test_remove_peer_zeroes_state, devpair_setup,
						devpair_teardown),
		cmocka_unit_test_setup_teardown(test_replace_peers, devpair_setup,
						devpair_teardown),
		cmocka_unit_test_setup_teardown(test_scale_set_get, devpair_setup,
						devpair_teardown),
		cmocka_unit_test_setup_teardown(test_dump_survives_changes, devpair_setup,
						devpair_teardown),
		cmocka_unit_test_setup_teardown(test_idle_arms_nothing, devpair_setup,
						devpair_teardown),
		cmocka_unit_test_setup_teardown(test_passive_keepalive, devpair_setup,
						devpair_teardown),
		cmocka_unit_test_setup_teardown(test_new_handshake_when_unanswered, devpair_setup,
						devpair_teardown),
		cmocka_unit_test_setup_teardown(test_persistent_keepalive, devpair_setup,
						devpair_teardown),
		cmocka_unit_test_setup_teardown(test_rekey_after_time, devpair_setup,
						devpair_teardown),
		cmocka_unit_test_setup_teardown(test_message_limits, devpair_setup,
						devpair_teardown),
		cmocka_unit_test_setup_teardown(test_rekey_on_receive, devpair_setup,
						devpair_teardown),
		cmocka_unit_test_setup_teardown(test_reject_after_time, devpair_setup,
						devpair_teardown),
		cmocka_unit_test_setup_teardown(test_under_load_demands_cookie, devpair_setup,
						devpair_teardown),
		cmocka_unit_test_setup_teardown(test_flood_leaves_peer_its_cookie, devpair_setup,
						devpair_teardown),
		cmocka_unit_test_setup_teardown(test_steady_flood_keeps_load, devpair_setup,
						devpair_teardown),
		cmocka_unit_test_setup_teardown(test_backlog_bounded_and_mac1, devpair_setup,
						devpair_teardown),
		cmocka_unit_test_setup_teardown(test_backlog_budget_per_turn, devpair_setup,
						devpair_teardown),
		cmocka_unit_test_setup_teardown(test_backlog_reserve_for_cookies, devpair_setup,
						devpair_teardown),
		cmocka_unit_test_setup_teardown(test_initiation_rejections, devpair_setup,
						devpair_teardown),
	};
	const char *level = getenv("WGD_TEST_LOG");

	if (level && wg_log_level_parse(level) >= 0)
		wg_log_init("test", (enum wg_log_level)wg_log_level_parse(level));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
