/* Batched UDP over loopback: trains sent with GSO arrive whole with GRO
 * (segment size reported) or datagram by datagram without; several
 * messages and both families in one batch; every message reports its
 * sender and local address; a sticky source the kernel refuses is
 * forgotten and the message still leaves. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <string.h>

#include "wgd/platform/batch.h"
#include "wgd/platform/udp.h"
#include "helpers/udppair.h"

#define SEG  1000
#define NSEG 11
#define LAST 500
#define LEN  (SEG * (NSEG - 1) + LAST)

static uint8_t train[LEN], rx[8][65536];

static int setup(void **state)
{
	static struct udppair p;

	udppair_open(&p);
	for (size_t i = 0; i < LEN; i++)
		train[i] = (uint8_t)(i * 7 + i / SEG);
	*state = &p;
	return 0;
}

static int teardown(void **state)
{
	udppair_close(*state);
	return 0;
}

static void wait_readable(int fd)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};

	assert_int_equal(poll(&pfd, 1, 2000), 1);
}

/* Receives everything queued on fd; returns the bytes, checks content. */
static size_t drain(struct wg_udp *u, int fd, size_t *nmsg, size_t *seg0, uint16_t from_port)
{
	struct wg_udp_msg m[8];
	size_t total = 0;
	int r;

	*nmsg = 0;
	wait_readable(fd);
	for (;;) {
		for (int i = 0; i < 8; i++) {
			m[i].buf = rx[i];
			m[i].len = sizeof(rx[i]);
		}
		r = wg_udp_recv_batch(u, fd, m, 8);
		if (r == -EAGAIN)
			break;
		assert_true(r > 0);
		for (int i = 0; i < r; i++) {
			if (*nmsg == 0)
				*seg0 = m[i].seg;
			assert_true(m[i].ep.has_src);
			assert_int_equal(ntohs(m[i].ep.addr.in4.sin_port), from_port);
			assert_memory_equal(m[i].buf, train + total, m[i].len);
			total += m[i].len;
			(*nmsg)++;
		}
	}
	return total;
}

static void test_offload_flags(void **state)
{
	struct udppair *p = *state;

	assert_true(wg_udp_offloads(p->a) & WG_UDP_MMSG);
	assert_true(wg_udp_offloads(p->a) & WG_UDP_GSO);
	assert_false(wg_udp_offloads(p->b) & WG_UDP_GRO);
	assert_int_equal(wg_udp_set_gro(p->b, true), 0);
	assert_true(wg_udp_offloads(p->b) & WG_UDP_GRO);
	assert_int_equal(wg_udp_set_gro(p->b, false), 0);
	assert_false(wg_udp_offloads(p->b) & WG_UDP_GRO);
}

static void send_train(struct udppair *p, int family)
{
	struct wg_endpoint to = loopback_ep(family, wg_udp_port(p->b));
	struct wg_udp_msg m = {.buf = train, .len = LEN, .seg = SEG, .to = &to};

	assert_int_equal(wg_udp_send_batch(p->a, &m, 1), 1);
	assert_int_equal(m.err, 0);
}

static void test_train_with_gro(void **state)
{
	struct udppair *p = *state;
	size_t nmsg, seg0 = 0;

	assert_int_equal(wg_udp_set_gro(p->b, true), 0);
	send_train(p, AF_INET);
	assert_int_equal(drain(p->b, p->fb[0], &nmsg, &seg0, wg_udp_port(p->a)), LEN);
	/* Loopback keeps the GSO packet whole: one message, segment size. */
	assert_int_equal(nmsg, 1);
	assert_int_equal(seg0, SEG);
	send_train(p, AF_INET6);
	assert_int_equal(drain(p->b, p->fb[1], &nmsg, &seg0, wg_udp_port(p->a)), LEN);
	assert_int_equal(wg_udp_set_gro(p->b, false), 0);
}

static void test_train_without_gro(void **state)
{
	struct udppair *p = *state;
	size_t nmsg, seg0 = 1;

	send_train(p, AF_INET);
	assert_int_equal(drain(p->b, p->fb[0], &nmsg, &seg0, wg_udp_port(p->a)), LEN);
	assert_int_equal(nmsg, NSEG);
	assert_int_equal(seg0, 0);
}

/* Single datagrams and trains, both families, one call. */
static void test_mixed_batch(void **state)
{
	struct udppair *p = *state;
	struct wg_endpoint t4 = loopback_ep(AF_INET, wg_udp_port(p->b));
	struct wg_endpoint t6 = loopback_ep(AF_INET6, wg_udp_port(p->b));
	struct wg_udp_msg m[4] = {
		{.buf = train, .len = 3 * SEG, .seg = SEG, .to = &t4},
		{.buf = train + 3 * SEG, .len = SEG, .to = &t4},
		{.buf = train, .len = 2 * SEG, .seg = SEG, .to = &t6},
		{.buf = train + 4 * SEG, .len = 100, .seg = SEG, .to = &t4},
	};
	size_t nmsg, seg0;

	assert_int_equal(wg_udp_send_batch(p->a, m, 4), 4);
	/* IPv4 got 3 + 1 + 1 datagrams = train[0 .. 4 * SEG + 100). */
	assert_int_equal(drain(p->b, p->fb[0], &nmsg, &seg0, wg_udp_port(p->a)), 4 * SEG + 100);
	assert_int_equal(nmsg, 5);
	assert_int_equal(drain(p->b, p->fb[1], &nmsg, &seg0, wg_udp_port(p->a)), 2 * SEG);
}

/* The source address left the host: the batch forgets it and sends. */
static void test_refused_source(void **state)
{
	struct udppair *p = *state;
	struct wg_endpoint to = loopback_ep(AF_INET, wg_udp_port(p->b));
	struct wg_udp_msg m = {.buf = train, .len = 2 * SEG, .seg = SEG, .to = &to};
	size_t nmsg, seg0;

	to.has_src = true;
	inet_pton(AF_INET, "192.0.2.77", &to.src4);
	assert_int_equal(wg_udp_send_batch(p->a, &m, 1), 1);
	assert_int_equal(m.err, 0);
	assert_false(to.has_src);
	assert_int_equal(drain(p->b, p->fb[0], &nmsg, &seg0, wg_udp_port(p->a)), 2 * SEG);
}

/* Nothing queued: -EAGAIN; no socket for the family: per-message error. */
static void test_errors(void **state)
{
	struct udppair *p = *state;
	struct wg_endpoint none;
	struct wg_udp_msg m = {.buf = rx[0], .len = sizeof(rx[0])};

	assert_int_equal(wg_udp_recv_batch(p->b, p->fb[0], &m, 1), -EAGAIN);
	memset(&none, 0, sizeof(none));
	m.to = &none;
	m.len = 10;
	assert_int_equal(wg_udp_send_batch(p->a, &m, 1), 0);
	assert_int_equal(m.err, -EDESTADDRREQ);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_offload_flags),	  cmocka_unit_test(test_train_with_gro),
		cmocka_unit_test(test_train_without_gro), cmocka_unit_test(test_mixed_batch),
		cmocka_unit_test(test_refused_source),	  cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
