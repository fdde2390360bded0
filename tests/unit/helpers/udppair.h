/* Two UDP socket pairs on loopback (wg_udp_open with random ports), for
 * the platform's UDP tests, and loopback endpoints to address them. */
#ifndef WGD_TEST_UDPPAIR_H
#define WGD_TEST_UDPPAIR_H

#include <stdint.h>

#include "wgd/addr.h"

struct wg_udp;

struct udppair {
	struct wg_udp *a, *b;
	int fa[2], fb[2]; /* their IPv4 and IPv6 descriptors */
};

/* Opens both (asserting both families exist: the tests need them on
 * loopback, so a host without IPv6 fails, not skips). */
void udppair_open(struct udppair *p);
void udppair_close(struct udppair *p);
/* 127.0.0.1 or ::1 at port. */
struct wg_endpoint loopback_ep(int family, uint16_t port);

#endif
