/* Two devices in one test process: each with a socketpair standing in for
 * its TUN and a real loopback UDP socket, on one injected clock, configured
 * through parsed UAPI change sets. Shared by the device-level unit tests. */
#ifndef WGD_TEST_DEVPAIR_H
#define WGD_TEST_DEVPAIR_H

#include <event2/event.h>
#include <stdint.h>

#include "wgd/device.h"

struct fake_clock {
	uint64_t mono, unix_ns;
};

struct node {
	struct event_base *base;
	struct wg_device *dev;
	int tun_fd; /* the test's end of the TUN socketpair */
	uint8_t priv[WG_KEY_LEN], pub[WG_KEY_LEN];
	char priv_hex[65], pub_hex[65];
};

/* A wg_clock reading c (mono and unix advance together in the tests). */
struct wg_clock fake_clock_of(struct fake_clock *c);
void hex(char out[65], const uint8_t k[WG_KEY_LEN]);
/* A device named name on clock, with a fresh key pair (not yet set). */
void node_init(struct node *n, const struct wg_clock *clock, const char *name);
/* Destroys the device (if any) and closes the TUN end. */
void node_fini(struct node *n);
/* Parses a UAPI set request (printf format) and applies it to the device:
 * the set's result (parsing must succeed). */
int dev_apply(struct wg_device *dev, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int node_apply(struct node *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Runs each loop a few times: loopback and socketpairs deliver at once. */
void node_pump(struct node *n);

/* The pair most device tests start from (a cmocka fixture: *state is the
 * struct devpair): A has B's endpoint (127.0.0.1) and allowed IPs
 * 10.0.0.2/32 and fd00::2/128, B has 10.0.0.1/32 and fd00::1/128 and learns
 * A's endpoint from the first handshake. The clock starts at 1000 s
 * monotonic and DEVPAIR_UNIX_S unix. */
#define DEVPAIR_UNIX_S 1700000000u
struct devpair {
	struct fake_clock clk;
	struct wg_clock clock;
	struct node a, b;
};
int devpair_setup(void **state);
int devpair_teardown(void **state);
/* A few rounds of both loops: loopback UDP and socketpairs deliver at once. */
void devpair_pump(struct devpair *e);
/* A 40-byte UDP packet 10.0.0.1 -> 10.0.0.2 into A's TUN, then pumped: a
 * handshake first if A has no session. */
void devpair_send_a_to_b(struct devpair *e);

#endif
