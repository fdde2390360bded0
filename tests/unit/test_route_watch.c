/* Sticky source against the routes (platform/linux/route_watch.c) over
 * loopback: a source learned on the interface the route leaves through is
 * kept, one learned elsewhere is forgotten and the kernel chooses. Route
 * changes and their events are covered by tests/netns/kernel_src.sh. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <net/if.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

#include "wgd/platform/udp.h"

#define WAIT_MS 5000 /* upper bound only: loopback delivers at once */

struct pair {
	struct wg_udp *a, *b;
};

static int setup(void **state)
{
	static struct pair p;

	assert_int_equal(wg_udp_open(0, 0, NULL, &p.a), 0);
	assert_int_equal(wg_udp_open(0, 0, NULL, &p.b), 0);
	*state = &p;
	return 0;
}

static int teardown(void **state)
{
	struct pair *p = *state;

	wg_udp_close(p->a);
	wg_udp_close(p->b);
	return 0;
}

/* An IPv4 endpoint at b's port with sticky source src learned on ifindex. */
static void sticky_to(struct wg_endpoint *ep, const struct pair *p, const char *src,
		      unsigned int ifindex)
{
	memset(ep, 0, sizeof(*ep));
	ep->addr.in4.sin_family = AF_INET;
	ep->addr.in4.sin_port = htons(wg_udp_port(p->b));
	assert_int_equal(inet_pton(AF_INET, "127.0.0.1", &ep->addr.in4.sin_addr), 1);
	assert_int_equal(inet_pton(AF_INET, src, &ep->src4), 1);
	ep->src_ifindex = ifindex;
	ep->has_src = true;
}

/* Sends one byte to ep and returns the source address b saw. */
static uint32_t send_and_source(const struct pair *p, struct wg_endpoint *ep, uint8_t byte)
{
	struct wg_endpoint from;
	struct pollfd pf = {.events = POLLIN};
	uint8_t buf[8];
	int fds[2];

	assert_int_equal(wg_udp_send(p->a, ep, &byte, 1), 0);
	wg_udp_fds(p->b, fds);
	pf.fd = fds[0];
	assert_int_equal(poll(&pf, 1, WAIT_MS), 1);
	assert_int_equal(wg_udp_recv(p->b, fds[0], buf, sizeof(buf), &from), 1);
	assert_int_equal(buf[0], byte);
	return ntohl(from.addr.in4.sin_addr.s_addr);
}

static void test_route_fd(void **state)
{
	struct pair *p = *state;

#ifdef __linux__
	assert_true(wg_udp_route_fd(p->a) >= 0);
#else
	assert_int_equal(wg_udp_route_fd(p->a), -1);
#endif
	/* Nothing pending: an update is harmless. */
	wg_udp_route_update(p->a);
}

/* The route to 127.0.0.1 leaves through lo, where the source was learned:
 * kept, and it is the datagram's source. */
static void test_source_on_route_kept(void **state)
{
	struct pair *p = *state;
	struct wg_endpoint ep;

	sticky_to(&ep, p, "127.0.0.2", if_nametoindex("lo"));
	assert_int_equal(send_and_source(p, &ep, 'k'), 0x7f000002);
	assert_true(ep.has_src);
	/* Judged once per generation: the next send keeps it too. */
	assert_int_equal(send_and_source(p, &ep, 'K'), 0x7f000002);
	assert_true(ep.has_src);
}

/* Learned on another interface than the route's: forgotten (Linux), and
 * the kernel's choice (127.0.0.1) is the source; the datagram arrives. */
static void test_source_off_route_forgotten(void **state)
{
	struct pair *p = *state;
	struct wg_endpoint ep;
	unsigned int other = if_nametoindex("lo") + 1000;

	sticky_to(&ep, p, "127.0.0.2", other);
#ifdef __linux__
	assert_int_equal(send_and_source(p, &ep, 'f'), 0x7f000001);
	assert_false(ep.has_src);
	assert_int_equal(ep.src_ifindex, 0);
	/* The cached verdict holds for the same triple. */
	sticky_to(&ep, p, "127.0.0.2", other);
	assert_int_equal(send_and_source(p, &ep, 'F'), 0x7f000001);
	assert_false(ep.has_src);
#else
	assert_int_equal(send_and_source(p, &ep, 'f'), 0x7f000002);
#endif
}

/* Without a learned interface (a source set by hand) nothing is judged. */
static void test_source_without_ifindex_kept(void **state)
{
	struct pair *p = *state;
	struct wg_endpoint ep;

	sticky_to(&ep, p, "127.0.0.3", 0);
	assert_int_equal(send_and_source(p, &ep, 'n'), 0x7f000003);
	assert_true(ep.has_src);
}

/* Many peers (a hub): verdicts for thousands of (destination, source,
 * interface) triples outgrow the first table several times over and stay
 * right, judged and then cached. */
static void test_many_sources(void **state)
{
	struct pair *p = *state;
	unsigned int lo = if_nametoindex("lo");

	for (int round = 0; round < 2; round++) {
		for (uint32_t i = 0; i < 3000; i++) {
			struct wg_endpoint ep;
			uint32_t src = 0x7f010000 + i; /* 127.1.x.y: local, on lo */
			char text[INET_ADDRSTRLEN];
			struct in_addr a = {.s_addr = htonl(src)};
			bool on_route = i % 3 != 0;

			inet_ntop(AF_INET, &a, text, sizeof(text));
			sticky_to(&ep, p, text, on_route ? lo : lo + 1000);
#ifdef __linux__
			assert_int_equal(send_and_source(p, &ep, (uint8_t)i),
					 on_route ? src : 0x7f000001);
			assert_int_equal(ep.has_src, on_route);
#else
			assert_int_equal(send_and_source(p, &ep, (uint8_t)i), src);
#endif
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_route_fd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_source_on_route_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_source_off_route_forgotten, setup, teardown),
		cmocka_unit_test_setup_teardown(test_source_without_ifindex_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_sources, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
