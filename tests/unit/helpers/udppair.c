/* Fixture of two UDP socket pairs: see udppair.h. */
#include "udppair.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>

#include "wgd/platform/udp.h"

void udppair_open(struct udppair *p)
{
	assert_int_equal(wg_udp_open(0, 0, NULL, &p->a), 0);
	assert_int_equal(wg_udp_open(0, 0, NULL, &p->b), 0);
	wg_udp_fds(p->a, p->fa);
	wg_udp_fds(p->b, p->fb);
	assert_true(p->fa[0] >= 0 && p->fa[1] >= 0 && p->fb[0] >= 0 && p->fb[1] >= 0);
}

void udppair_close(struct udppair *p)
{
	wg_udp_close(p->a);
	wg_udp_close(p->b);
	p->a = p->b = NULL;
}

struct wg_endpoint loopback_ep(int family, uint16_t port)
{
	struct wg_endpoint e;

	memset(&e, 0, sizeof(e));
	e.addr.sa.sa_family = (sa_family_t)family;
	if (family == AF_INET) {
		e.addr.in4.sin_port = htons(port);
		e.addr.in4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	} else {
		e.addr.in6.sin6_port = htons(port);
		e.addr.in6.sin6_addr = in6addr_loopback;
	}
	return e;
}
