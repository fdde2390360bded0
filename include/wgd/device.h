/* The device: owns the identity, peers, lookup tables, TUN and UDP sockets,
 * and wires them to a libevent base. Configured only through change sets
 * (wg_device_set) and read through wg_device_get, which the UAPI control
 * server calls. */
#ifndef WGD_DEVICE_H
#define WGD_DEVICE_H

#include <stdint.h>

#include "uapi.h"

struct event_base;
struct wg_tun;
struct wg_device;

/* Injectable clocks: monotonic for every protocol timer, Unix for TAI64N
 * timestamps and last_handshake_time. */
struct wg_clock {
	uint64_t (*mono_ns)(void *ctx);
	uint64_t (*unix_ns)(void *ctx);
	void *ctx;
};

struct wg_device_params {
	struct event_base *base; /* not owned */
	struct wg_tun *tun; /* owned by the device once created */
	/* NULL = the system clocks. With an injected clock the device does not
	 * arm libevent timers; the test advances the clock and calls
	 * wg_device_run_timers. */
	const struct wg_clock *clock;
};

int wg_device_create(const struct wg_device_params *p, struct wg_device **out);
/* Stops all I/O, frees every peer and zeroes every key. */
void wg_device_destroy(struct wg_device *dev);

/* Writes the key=value lines of a get reply (not the errno line).
 * 0 or -errno. */
int wg_device_get(struct wg_device *dev, struct wg_uapi_writer *w);
/* Applies a whole change set or nothing. 0 or -errno (-EADDRINUSE port
 * taken, -ENOMEM, -EOPNOTSUPP fwmark unsupported, -E2BIG peer limit). */
int wg_device_set(struct wg_device *dev, const struct wg_uapi_set *set);

/* Called once when the device can no longer work (its TUN went away). */
void wg_device_on_fatal(struct wg_device *dev, void (*cb)(void *ctx), void *ctx);

/* Test hook for injected clocks: runs every timer whose deadline passed. */
void wg_device_run_timers(struct wg_device *dev);

#endif
