/* ICMP errors on the UDP pair, over loopback: a datagram to a port nothing
 * listens on draws ICMP port unreachable, which comes back as an entry of
 * wg_udp_take_icmp (destination address and port, kind, type and code),
 * never as a read error, in the batched and the portable receive paths
 * and both families; the error does not hide datagrams waiting behind it
 * nor fail the next send; an errors-only wakeup leaves nothing readable;
 * the queue keeps the oldest and counts the rest. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "wgd/platform/batch.h"
#include "wgd/platform/udp.h"
#include "helpers/udppair.h"

#define FAM(i) ((i) == 0 ? AF_INET : AF_INET6)

static uint8_t rx[8][2048];

static int setup(void **state)
{
	static struct udppair p;

	udppair_open(&p);
	*state = &p;
	return 0;
}

static int teardown(void **state)
{
	udppair_close(*state);
	return 0;
}

/* A loopback port that was just free: bound, noted, closed. */
static uint16_t closed_port(int family)
{
	struct wg_endpoint e = loopback_ep(family, 0);
	socklen_t len = sizeof(e.addr);
	int fd = socket(family, SOCK_DGRAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, &e.addr.sa, (socklen_t)wg_sockaddr_len(&e.addr)), 0);
	assert_int_equal(getsockname(fd, &e.addr.sa, &len), 0);
	close(fd);
	return ntohs(family == AF_INET ? e.addr.in4.sin_port : e.addr.in6.sin6_port);
}

/* Waits until fd has an error or datagram (want: the revents bit). */
static void wait_for(int fd, short want)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};

	for (int i = 0; i < 200; i++) {
		assert_true(poll(&pfd, 1, 2000) >= 0);
		if (pfd.revents & want)
			return;
		usleep(1000);
	}
	fail_msg("fd %d: no revents 0x%x", fd, want);
}

static bool readable(int fd)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};

	return poll(&pfd, 1, 0) > 0;
}

/* One datagram to a closed port, and its ICMP error arrived at a. */
static uint16_t provoke(struct udppair *p, int i)
{
	uint16_t port = closed_port(FAM(i));
	struct wg_endpoint to = loopback_ep(FAM(i), port);

	assert_int_equal(wg_udp_send(p->a, &to, (const uint8_t *)"x", 1), 0);
	wait_for(p->fa[i], POLLERR);
	return port;
}

static int recv_batch(struct wg_udp *u, int fd, struct wg_udp_msg *m)
{
	for (int i = 0; i < 8; i++) {
		m[i].buf = rx[i];
		m[i].len = sizeof(rx[i]);
	}
	return wg_udp_recv_batch(u, fd, m, 8);
}

static void check_entry(const struct wg_udp_icmp *e, int i, uint16_t port)
{
	struct wg_endpoint want = loopback_ep(FAM(i), port);

	assert_true(wg_sockaddr_equal(&e->dest, &want.addr));
	assert_int_equal(e->kind, WG_UDP_ICMP_PORT_UNREACHABLE);
	assert_int_equal(e->type, FAM(i) == AF_INET ? 3 : 1);
	assert_int_equal(e->code, FAM(i) == AF_INET ? 3 : 4);
	assert_int_equal(e->mtu, 0);
	/* Loopback answers from the destination host itself. */
	want.addr.in4.sin_port = 0;
	want.addr.in6.sin6_port = 0;
	assert_int_equal(e->from.sa.sa_family, FAM(i));
	assert_true(wg_sockaddr_equal(&e->from, &want.addr));
}

static void expect_one(struct wg_udp *u, int i, uint16_t port)
{
	struct wg_udp_icmp e[4];

	assert_int_equal(wg_udp_take_icmp(u, e, 4), 1);
	check_entry(&e[0], i, port);
	assert_int_equal(wg_udp_take_icmp(u, e, 4), 0);
}

/* The receive finds only the error: -EAGAIN, no read error, and nothing
 * left to wake the loop again. */
static void errors_only(struct udppair *p, bool portable)
{
	uint64_t dropped = wg_udp_icmp_dropped(p->a);
	struct wg_udp_msg m[8];
	struct wg_endpoint from;

	for (int i = 0; i < 2; i++) {
		uint16_t port = provoke(p, i);
		assert_true(readable(p->fa[i]));
		assert_int_equal(recv_batch(p->a, p->fa[i], m), -EAGAIN);
		assert_false(readable(p->fa[i]));
		expect_one(p->a, i, port);
		if (!portable)
			continue;
		port = provoke(p, i);
		assert_int_equal(wg_udp_recv(p->a, p->fa[i], rx[0], sizeof(rx[0]), &from), -EAGAIN);
		assert_false(readable(p->fa[i]));
		expect_one(p->a, i, port);
	}
	assert_int_equal(wg_udp_icmp_dropped(p->a), dropped);
}

static void test_errors_only_batch(void **state)
{
	errors_only(*state, false);
}

/* Datagrams waiting behind the error are received in the same call. */
static void test_data_behind_error(void **state)
{
	struct udppair *p = *state;
	struct wg_udp_msg m[8];

	for (int i = 0; i < 2; i++) {
		struct wg_endpoint to_a = loopback_ep(FAM(i), wg_udp_port(p->a));
		uint16_t port = provoke(p, i);
		assert_int_equal(wg_udp_send(p->b, &to_a, (const uint8_t *)"data", 4), 0);
		wait_for(p->fa[i], POLLIN);
		assert_int_equal(recv_batch(p->a, p->fa[i], m), 1);
		assert_int_equal(m[0].len, 4);
		assert_memory_equal(m[0].buf, "data", 4);
		expect_one(p->a, i, port);
		assert_false(readable(p->fa[i]));
	}
}

/* A send after the error leaves (the pending error is not its own). */
static void test_send_after_error(void **state)
{
	struct udppair *p = *state;
	struct wg_udp_msg m[8];

	for (int i = 0; i < 2; i++) {
		struct wg_endpoint to_b = loopback_ep(FAM(i), wg_udp_port(p->b));
		struct wg_udp_msg out = {.buf = (uint8_t *)"batch", .len = 5, .to = &to_b};
		uint16_t port = provoke(p, i);
		assert_int_equal(wg_udp_send(p->a, &to_b, (const uint8_t *)"one", 3), 0);
		expect_one(p->a, i, port);
		port = provoke(p, i);
		assert_int_equal(wg_udp_send_batch(p->a, &out, 1), 1);
		assert_int_equal(out.err, 0);
		expect_one(p->a, i, port);
		wait_for(p->fb[i], POLLIN);
		assert_int_equal(recv_batch(p->b, p->fb[i], m), 2);
		assert_memory_equal(m[0].buf, "one", 3);
		assert_memory_equal(m[1].buf, "batch", 5);
	}
}

/* The same through the posix path FreeBSD and macOS take (last: the pair
 * stays portable). */
static void test_errors_only_portable(void **state)
{
	struct udppair *p = *state;

	wg_udp_set_portable(p->a);
	errors_only(p, true);
}

/* More errors than the queue holds between two takes: the oldest are
 * kept, in order, the rest counted. Paced: the kernel limits ICMP errors
 * to about 1000 a second with small bursts. */
static void test_overflow(void **state)
{
	enum { N = WG_UDP_ICMP_QUEUE + 6 };
	struct udppair *p = *state;
	struct wg_udp_icmp e[N];
	struct wg_udp_msg m[8];
	uint16_t ports[N];
	uint64_t before = wg_udp_icmp_dropped(p->a);
	int got;

	for (int k = 0; k < N; k++) {
		ports[k] = provoke(p, 0);
		assert_int_equal(recv_batch(p->a, p->fa[0], m), -EAGAIN);
		usleep(2000);
	}
	assert_int_equal(wg_udp_icmp_dropped(p->a) - before, N - WG_UDP_ICMP_QUEUE);
	got = wg_udp_take_icmp(p->a, e, 10);
	assert_int_equal(got, 10);
	got += wg_udp_take_icmp(p->a, e + 10, N - 10);
	assert_int_equal(got, WG_UDP_ICMP_QUEUE);
	for (int k = 0; k < got; k++)
		check_entry(&e[k], 0, ports[k]);
	/* Room again. */
	ports[0] = provoke(p, 0);
	assert_int_equal(recv_batch(p->a, p->fa[0], m), -EAGAIN);
	expect_one(p->a, 0, ports[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_errors_only_batch),
		cmocka_unit_test(test_data_behind_error),
		cmocka_unit_test(test_send_after_error),
		cmocka_unit_test(test_overflow),
		cmocka_unit_test(test_errors_only_portable),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
