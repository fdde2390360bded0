/* Source-address control (source.c, wgd_bind/wgd_source/wgd_egress): two
 * devices on loopback, as in test_device. Linux treats all of 127.0.0.0/8
 * as local, so 127.0.0.2 is a second address of this host, and 192.0.2.1
 * (TEST-NET-1) is one it does not have. Only loopback is used: no root. */
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
#include <unistd.h>

#include "dev.h"
#include "helpers/devpair.h"
#include "wgd/crypto.h"
#include "wgd/device.h"
#include "wgd/platform/udp.h"
#include "wgd/uapi.h"

#define SEC WG_NSEC_PER_SEC

static char *get_text(struct wg_device *dev)
{
	struct wg_uapi_writer w;
	char *s;

	wg_uapi_writer_init(&w);
	assert_int_equal(wg_device_get(dev, &w), 0);
	s = strndup(w.buf ? w.buf : "", w.len);
	wg_uapi_writer_free(&w);
	return s;
}

/* The address B last heard A from, as text without the port. */
static const char *seen_from(struct devpair *e, char *buf, size_t len)
{
	struct wg_peer *p = wg_peer_lookup(e->b.dev, e->a.pub);

	assert_non_null(p);
	if (p->endpoint.addr.sa.sa_family != AF_INET)
		return "(none)";
	return inet_ntop(AF_INET, &p->endpoint.addr.in4.sin_addr, buf, (socklen_t)len);
}

static uint64_t refused(struct wg_device *dev)
{
	struct wg_device_stats s;

	wg_device_get_stats(dev, &s);
	return s.udp_send_source_refused;
}

static void test_peer_source_used(void **state)
{
	struct devpair *e = *state;
	char ip[INET_ADDRSTRLEN];

	assert_int_equal(
		node_apply(&e->a, "public_key=%s\nwgd_source=127.0.0.2,::1\n", e->b.pub_hex), 0);
	devpair_send_a_to_b(e);
	assert_string_equal(seen_from(e, ip, sizeof(ip)), "127.0.0.2");
	assert_int_equal(refused(e->a.dev), 0);
	/* A reply from another local address does not move the pin. */
	assert_true(wg_peer_lookup(e->a.dev, e->b.pub)->endpoint.pinned);
}

/* An absent source: nothing leaves, not even from another address. */
static void test_peer_source_absent(void **state)
{
	struct devpair *e = *state;

	assert_int_equal(node_apply(&e->a, "public_key=%s\nwgd_source=192.0.2.1\n", e->b.pub_hex),
			 0);
	devpair_send_a_to_b(e);
	assert_null(wg_peer_lookup(e->b.dev, e->a.pub)->kp_next);
	assert_int_equal(wg_peer_lookup(e->b.dev, e->a.pub)->endpoint.addr.sa.sa_family, AF_UNSPEC);
	assert_true(refused(e->a.dev) >= 1);
	/* Cleared, the kernel chooses again and the handshake goes through. */
	assert_int_equal(node_apply(&e->a, "public_key=%s\nwgd_source=none\n", e->b.pub_hex), 0);
	assert_false(wg_peer_lookup(e->a.dev, e->b.pub)->endpoint.pinned);
	e->clk.mono += 6 * SEC; /* past REKEY_TIMEOUT */
	devpair_send_a_to_b(e);
	assert_non_null(wg_peer_lookup(e->a.dev, e->b.pub)->kp_current);
}

static void test_egress(void **state)
{
	struct devpair *e = *state;
	uint64_t before;

	assert_int_equal(node_apply(&e->a, "public_key=%s\nwgd_egress=nosuch9\n", e->b.pub_hex), 0);
	devpair_send_a_to_b(e);
	before = refused(e->a.dev);
	assert_true(before >= 1);
	assert_null(wg_peer_lookup(e->a.dev, e->b.pub)->kp_current);
	/* The loopback interface reaches B. */
	assert_int_equal(node_apply(&e->a, "public_key=%s\nwgd_egress=lo\n", e->b.pub_hex), 0);
	e->clk.mono += 6 * SEC;
	devpair_send_a_to_b(e);
	assert_non_null(wg_peer_lookup(e->a.dev, e->b.pub)->kp_current);
	assert_int_equal(refused(e->a.dev), before);
}

static void test_get_lines(void **state)
{
	struct devpair *e = *state;
	char *t = get_text(e->a.dev);

	assert_null(strstr(t, "wgd_")); /* nothing extra unless set */
	free(t);
	assert_int_equal(node_apply(&e->a,
				    "wgd_bind=127.0.0.1\npublic_key=%s\nwgd_source=::1\n"
				    "wgd_egress=lo\n",
				    e->b.pub_hex),
			 0);
	t = get_text(e->a.dev);
	assert_non_null(strstr(t, "listen_port="));
	assert_non_null(strstr(t, "\nwgd_bind=127.0.0.1\npublic_key="));
	assert_non_null(strstr(t, "\nwgd_source=::1\nwgd_egress=lo\n"));
	/* No value holds '=': wgctrl-go splits each line on it. */
	for (const char *l = t; *l; l += strcspn(l, "\n") + 1) {
		int eq = 0;
		for (const char *c = l; *c && *c != '\n'; c++)
			eq += *c == '=';
		assert_int_equal(eq, 1);
	}
	free(t);
}

/* Bound to 127.0.0.1: one IPv4 socket on the same port, nothing else. */
static void test_bind_same_port(void **state)
{
	struct devpair *e = *state;
	uint16_t port = wg_device_listen_port(e->a.dev);
	int fds[2];

	assert_int_equal(node_apply(&e->a, "listen_port=%u\n", port), 0);
	assert_int_equal(node_apply(&e->a, "wgd_bind=127.0.0.1\n"), 0);
	assert_int_equal(wg_device_listen_port(e->a.dev), port);
	wg_udp_fds(e->a.dev->udp, fds);
	assert_true(fds[0] >= 0);
	assert_int_equal(fds[1], -1);
	devpair_send_a_to_b(e);
	assert_non_null(wg_peer_lookup(e->a.dev, e->b.pub)->kp_current);
	/* The port is exclusive again: another socket cannot share it. */
	struct wg_udp *other;
	struct wg_addr_pair lo = {.has_v4 = true};
	lo.v4.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(wg_udp_open(port, 0, &lo, &other), -EADDRINUSE);
	/* Back to the wildcards, still on the port. */
	assert_int_equal(node_apply(&e->a, "wgd_bind=none\n"), 0);
	assert_int_equal(wg_device_listen_port(e->a.dev), port);
	wg_udp_fds(e->a.dev->udp, fds);
	assert_true(fds[1] >= 0);
}

/* A bind address the host lacks is taken (IP_FREEBIND): sends fail, and
 * a peer source of the bound family other than it is refused. */
static void test_bind_absent(void **state)
{
	struct devpair *e = *state;
	char *before, *after;

	assert_int_equal(node_apply(&e->a, "wgd_bind=192.0.2.1\n"), 0);
	devpair_send_a_to_b(e);
	assert_true(refused(e->a.dev) >= 1);
	assert_int_equal(wg_peer_lookup(e->b.dev, e->a.pub)->endpoint.addr.sa.sa_family, AF_UNSPEC);
	before = get_text(e->a.dev);
	assert_int_equal(node_apply(&e->a, "public_key=%s\nwgd_source=127.0.0.2\n", e->b.pub_hex),
			 -EINVAL);
	after = get_text(e->a.dev);
	assert_string_equal(before, after);
	free(before);
	free(after);
	/* The bind address's own value is fine. */
	assert_int_equal(node_apply(&e->a, "public_key=%s\nwgd_source=192.0.2.1\n", e->b.pub_hex),
			 0);
}

/* No configured source ever differs from the bind address of its family:
 * a bind change a kept source rules out is refused whole, so a get of the
 * device can always be set again (fuzz_config checks that). */
static void test_bind_change_checks_kept_sources(void **state)
{
	struct devpair *e = *state;
	char *before, *after;

	assert_int_equal(node_apply(&e->a, "public_key=%s\nwgd_source=127.0.0.2,::1\n",
				    e->b.pub_hex),
			 0);
	before = get_text(e->a.dev);
	assert_int_equal(node_apply(&e->a, "wgd_bind=192.0.2.1\n"), -EINVAL);
	after = get_text(e->a.dev);
	assert_string_equal(before, after);
	free(after);
	/* the other family's bind, or the source's own address, agree */
	assert_int_equal(node_apply(&e->a, "wgd_bind=::1\n"), 0);
	assert_int_equal(node_apply(&e->a, "wgd_bind=127.0.0.2,::1\n"), 0);
	/* the same set replaces the source, or removes the peer */
	assert_int_equal(node_apply(&e->a, "wgd_bind=none\n"), 0);
	assert_int_equal(node_apply(&e->a, "wgd_bind=192.0.2.1\npublic_key=%s\nwgd_source=none\n",
				    e->b.pub_hex),
			 0);
	assert_int_equal(node_apply(&e->a, "wgd_bind=none\npublic_key=%s\nwgd_source=127.0.0.2\n",
				    e->b.pub_hex),
			 0);
	assert_int_equal(node_apply(&e->a, "wgd_bind=192.0.2.1\npublic_key=%s\nremove=true\n",
				    e->b.pub_hex),
			 0);
	assert_null(wg_peer_lookup(e->a.dev, e->b.pub));
	free(before);
}

/* Without a socket pair: the trial bind, which any local address passes
 * (all of 127/8 on Linux). With one: the kernel's address table through
 * its route watch, where 127.0.0.1 is an address and ::1 too. */
static void test_addr_present(void **state)
{
	struct wg_addr_pair p = {.has_v4 = true}, p6 = {.has_v6 = true};
	struct wg_udp *udp;

	(void)state;
	assert_int_equal(inet_pton(AF_INET, "127.0.0.2", &p.v4), 1);
	assert_int_equal(wg_udp_addr_present(NULL, &p), 1);
	assert_int_equal(inet_pton(AF_INET, "192.0.2.1", &p.v4), 1);
	assert_int_equal(wg_udp_addr_present(NULL, &p), 0);
	assert_int_equal(wg_udp_open(0, 0, NULL, &udp), 0);
	assert_int_equal(wg_udp_addr_present(udp, &p), 0);
	assert_int_equal(inet_pton(AF_INET, "127.0.0.1", &p.v4), 1);
	assert_int_equal(wg_udp_addr_present(udp, &p), 1);
	assert_int_equal(inet_pton(AF_INET6, "::1", &p6.v6), 1);
	assert_int_equal(wg_udp_addr_present(udp, &p6), 1);
	assert_int_equal(inet_pton(AF_INET6, "2001:db8::1", &p6.v6), 1);
	assert_int_equal(wg_udp_addr_present(udp, &p6), 0);
	wg_udp_close(udp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_peer_source_used, devpair_setup,
						devpair_teardown),
		cmocka_unit_test_setup_teardown(test_peer_source_absent, devpair_setup,
						devpair_teardown),
		cmocka_unit_test_setup_teardown(test_egress, devpair_setup, devpair_teardown),
		cmocka_unit_test_setup_teardown(test_get_lines, devpair_setup, devpair_teardown),
		cmocka_unit_test_setup_teardown(test_bind_same_port, devpair_setup,
						devpair_teardown),
		cmocka_unit_test_setup_teardown(test_bind_absent, devpair_setup, devpair_teardown),
		cmocka_unit_test_setup_teardown(test_bind_change_checks_kept_sources, devpair_setup,
						devpair_teardown),
		cmocka_unit_test(test_addr_present),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
