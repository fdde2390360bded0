/* The device: owns identity, tables, peers, TUN and UDP, and wires them to
 * one libevent base. Everything runs on that base's thread. Configuration
 * (wg_device_set/get) lives in device_config.c. */
#include "wgd/device.h"

#include <errno.h>
#include <event2/event.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wgd/crypto.h"
#include "datapath.h"
#include "dev.h"
#include "receive.h"
#include "send.h"
#include "wgd/platform/batch.h"
#include "wgd/platform/tun.h"
#include "wgd/platform/udp.h"
#include "wgd/ratelimiter.h"
#include "wgd/secret.h"

#define MTU_RECHECK_NS WG_NSEC_PER_SEC

/* --- clocks --- */

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * WG_NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

static uint64_t sys_mono_ns(void *ctx)
{
	(void)ctx;
	return clock_ns(CLOCK_MONOTONIC);
}

static uint64_t sys_unix_ns(void *ctx)
{
	(void)ctx;
	return clock_ns(CLOCK_REALTIME);
}

void wg_dev_tick(struct wg_device *dev)
{
	dev->now_ns = dev->clock.mono_ns(dev->clock.ctx);
}

/* --- timers --- */

void wg_dev_rearm_timer(struct wg_device *dev)
{
	uint64_t next = wg_timer_heap_next(&dev->timers), now, delta;
	struct timeval tv;

	if (dev->fake_clock || !dev->timer_ev)
		return;
	if (next == UINT64_MAX) {
		if (dev->timer_armed)
			evtimer_del(dev->timer_ev);
		dev->timer_armed = false;
		return;
	}
	if (dev->timer_armed && next == dev->timer_armed_ns)
		return;
	/* The clock again, not the event's time: work since then (a large
	 * set) must not make the timer fire late. */
	now = dev->clock.mono_ns(dev->clock.ctx);
	delta = next > now ? next - now : 0;
	/* Round up to whole microseconds so the timer never fires early. */
	delta = (delta + 999) / 1000;
	tv.tv_sec = (time_t)(delta / 1000000);
	tv.tv_usec = (suseconds_t)(delta % 1000000);
	evtimer_add(dev->timer_ev, &tv);
	dev->timer_armed = true;
	dev->timer_armed_ns = next;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct wg_device *dev = arg;

	wg_dev_tick(dev);
	dev->timer_armed = false;
	wg_timers_run(dev, wg_dev_now(dev));
	wg_dev_rearm_timer(dev);
}

void wg_device_run_timers(struct wg_device *dev)
{
	wg_dev_tick(dev);
	wg_timers_run(dev, wg_dev_now(dev));
	wg_dev_rearm_timer(dev);
}

uint64_t wg_device_next_deadline(const struct wg_device *dev)
{
	return wg_timer_heap_next(&dev->timers);
}

/* --- TUN --- */

int wg_dev_mtu(struct wg_device *dev)
{
	uint64_t now = wg_dev_now(dev);
	int mtu;

	/* wg-quick sets the MTU after we start, so look again now and then. */
	if (dev->tun && (!dev->mtu_checked || now - dev->mtu_checked_ns >= MTU_RECHECK_NS)) {
		mtu = wg_tun_mtu(dev->tun);
		if (mtu > 0)
			dev->mtu = mtu;
		dev->mtu_checked = true;
		dev->mtu_checked_ns = now;
	}
	return dev->mtu;
}

int wg_dev_tun_write(struct wg_device *dev, const uint8_t *pkt, size_t len)
{
	ssize_t n;

	if (!dev->tun)
		return -ENODEV;
	n = wg_tun_write(dev->tun, pkt, len);
	return n < 0 ? (int)n : 0;
}

static void device_fatal(struct wg_device *dev, const char *why)
{
	if (dev->fatal_fired)
		return;
	dev->fatal_fired = true;
	/* Info, not an error: deleting the interface (wg-quick down) is the
	 * normal way to stop a userspace WireGuard. */
	wg_log_info("%s: stopping", why);
	if (dev->tun_ev)
		event_del(dev->tun_ev);
	if (dev->fatal_cb)
		dev->fatal_cb(dev->fatal_ctx);
}

/* TUN reads sealed into trains (send.c). */
static void on_tun(evutil_socket_t fd, short what, void *arg)
{
	struct wg_device *dev = arg;

	wg_dev_tick(dev);

	if (wg_send_read_tun(dev) == -ENODEV) {
		/* Last use of dev: the callback may destroy it. */
		device_fatal(dev, "TUN interface went away");
		return;
	}
	wg_dp_busy(dev);
	wg_dev_rearm_timer(dev);
}

void wg_device_on_fatal(struct wg_device *dev, void (*cb)(void *ctx), void *ctx)
{
	dev->fatal_cb = cb;
	dev->fatal_ctx = ctx;
}

/* --- UDP --- */

/* The backlog runs as a zero-timeout timer, not event_active: libevent
 * runs a re-activated event again in the same pass, while a timer waits
 * for the next turn, after the sockets were read. So one batch per turn,
 * and a flood deepens the backlog until the device is under load. */
static void schedule_handshakes(struct wg_device *dev)
{
	static const struct timeval now = {0, 0};

	if (dev->hsq_len && dev->hs_ev && !evtimer_pending(dev->hs_ev, NULL))
		evtimer_add(dev->hs_ev, &now);
}

static void on_handshakes(evutil_socket_t fd, short what, void *arg)
{
	struct wg_device *dev = arg;

	wg_dev_tick(dev);

	wg_receive_handshake_batch(dev);
	schedule_handshakes(dev);
	wg_dev_rearm_timer(dev);
}

static void on_udp(evutil_socket_t fd, short what, void *arg)
{
	struct wg_device *dev = arg;

	wg_dev_tick(dev);

	if (dev->udp && wg_receive_batch(dev, fd) < 0)
		dev->stats.udp_read_errors++;
	schedule_handshakes(dev);
	wg_dev_rearm_timer(dev);
}

/* Routes, addresses or interfaces changed: sticky sources are judged
 * again, egress interfaces looked up again. */
static void on_routes(evutil_socket_t fd, short what, void *arg)
{
	struct wg_device *dev = arg;

	(void)fd;
	(void)what;
	if (dev->udp && wg_udp_route_update(dev->udp))
		wg_source_links_changed(dev);
}

void wg_dev_udp_events_free(struct event *ev[WG_UDP_EVENTS])
{
	for (int i = 0; i < WG_UDP_EVENTS; i++) {
		if (ev[i])
			event_free(ev[i]);
		ev[i] = NULL;
	}
}

static void free_udp_events(struct wg_device *dev)
{
	wg_dev_udp_events_free(dev->udp_ev);
}

/* One persistent read event, added: 0 or -ENOMEM. */
static int watch(struct wg_device *dev, int fd, event_callback_fn cb, struct event **out)
{
	*out = event_new(dev->base, fd, EV_READ | EV_PERSIST, cb, dev);
	if (!*out || event_add(*out, NULL) < 0)
		return -ENOMEM;
	return 0;
}

int wg_dev_udp_events(struct wg_device *dev, struct wg_udp *udp, struct event *ev[WG_UDP_EVENTS])
{
	int fds[2], ret = 0;

	memset(ev, 0, sizeof(struct event *) * WG_UDP_EVENTS);
	if (!dev->base)
		return 0;
	wg_udp_fds(udp, fds);
	/* Trains of datagrams in one read; not an error where unsupported.
	 * Portable: the one-datagram fallbacks. */
	if (dev->dp->portable)
		wg_udp_set_portable(udp);
	else
		(void)wg_udp_set_gro(udp, true);
	for (int i = 0; i < 2 && ret == 0; i++)
		if (fds[i] >= 0)
			ret = watch(dev, fds[i], on_udp, &ev[i]);
	if (ret == 0 && wg_udp_route_fd(udp) >= 0)
		ret = watch(dev, wg_udp_route_fd(udp), on_routes, &ev[2]);
	if (ret < 0)
		wg_dev_udp_events_free(ev);
	return ret;
}

void wg_dev_install_udp(struct wg_device *dev, struct wg_udp *udp, struct event *ev[WG_UDP_EVENTS])
{
	free_udp_events(dev);
	if (dev->udp)
		wg_udp_close(dev->udp);
	dev->udp = udp;
	for (int i = 0; i < WG_UDP_EVENTS; i++) {
		dev->udp_ev[i] = ev ? ev[i] : NULL;
		if (ev)
			ev[i] = NULL;
	}
}

uint16_t wg_device_listen_port(const struct wg_device *dev)
{
	return dev->udp ? wg_udp_port(dev->udp) : 0;
}

size_t wg_device_peer_count(const struct wg_device *dev)
{
	return dev->n_peers;
}

void wg_device_get_stats(const struct wg_device *dev, struct wg_device_stats *out)
{
	*out = dev->stats;
}

/* --- create / destroy --- */

static void init_limits(struct wg_device *dev)
{
	for (int i = 0; i < WG_LOGR_COUNT; i++) {
		dev->limits[i].burst = 5;
		dev->limits[i].interval_ns = WG_NSEC_PER_SEC;
	}
	/* ICMP errors: bursts of 10, then 10 per second. */
	dev->icmp_limit.burst = 10;
	dev->icmp_limit.interval_ns = 100 * WG_NSEC_PER_MSEC;
	/* Sends a configured source refuses: warnings, so few: 3, then one
	 * every 10 s (a peer's keepalives and retries keep failing). */
	for (int i = 0; i < WG_SOURCE_REASONS; i++) {
		dev->source_limits[i].burst = 3;
		dev->source_limits[i].interval_ns = 10 * WG_NSEC_PER_SEC;
	}
}

/* Like the kernel on link up: listen on a random port until told. */
static int open_socket(const struct wg_device_params *p, struct wg_udp **udp)
{
	char a[WG_ADDR_PAIR_STRLEN];
	int ret = wg_udp_open(0, 0, &p->bind, udp);

	if (ret < 0 && wg_addr_pair_set(&p->bind))
		wg_log_error("cannot bind to %s: %s", wg_addr_pair_format(&p->bind, a, sizeof(a)),
			     strerror(-ret));
	return ret;
}

static int alloc_state(struct wg_device *dev)
{
	dev->id = sodium_malloc(sizeof(*dev->id));
	if (!dev->id)
		return -ENOMEM;
	memset(dev->id, 0, sizeof(*dev->id));
	dev->rl = wg_ratelimiter_new(0);
	dev->cookie_rl = wg_ratelimiter_new(0);
	dev->hsq = calloc(WG_MAX_QUEUED_HANDSHAKES, sizeof(*dev->hsq));
	if (!dev->rl || !dev->cookie_rl || !dev->hsq)
		return -ENOMEM;
	if (wg_index_table_init(&dev->index) < 0 || wg_pubkey_table_init(&dev->pubkeys) < 0)
		return -ENOMEM;
	wg_allowedips_init(&dev->aips);
	wg_timer_heap_init(&dev->timers);
	wg_cookie_checker_init(&dev->cookie_checker, NULL);
	return 0;
}

static int add_events(struct wg_device *dev)
{
	if (!dev->base)
		return 0;
	dev->timer_ev = evtimer_new(dev->base, on_timer, dev);
	dev->hs_ev = evtimer_new(dev->base, on_handshakes, dev);
	if (!dev->timer_ev || !dev->hs_ev)
		return -ENOMEM;
	if (!dev->tun)
		return 0;
	dev->tun_ev = event_new(dev->base, wg_tun_fd(dev->tun), EV_READ | EV_PERSIST, on_tun, dev);
	if (!dev->tun_ev || event_add(dev->tun_ev, NULL) < 0)
		return -ENOMEM;
	return 0;
}

static void set_clock(struct wg_device *dev, const struct wg_clock *c)
{
	if (c) {
		dev->clock = *c;
		dev->fake_clock = true;
		return;
	}
	dev->clock.mono_ns = sys_mono_ns;
	dev->clock.unix_ns = sys_unix_ns;
	dev->clock.ctx = NULL;
}

int wg_device_create(const struct wg_device_params *p, struct wg_device **out)
{
	struct wg_device *dev = wg_secret_alloc(sizeof(*dev)); /* cookie secret */
	struct event *ev[WG_UDP_EVENTS];
	struct wg_udp *udp = NULL;
	int ret;

	if (!dev)
		return -ENOMEM;
	dev->base = p->base;
	dev->tun = p->tun;
	dev->mtu = WG_DEFAULT_MTU;
	dev->bind = p->bind;
	set_clock(dev, p->clock);
	wg_dev_tick(dev);
	init_limits(dev);
	ret = alloc_state(dev);
	if (ret == 0)
		ret = wg_dp_create(dev, &p->dp, &dev->dp);
	if (ret == 0) {
		dev->staged_cap = wg_dp_staged_budget(dev->dp);
		ret = add_events(dev);
	}
	if (ret == 0)
		ret = open_socket(p, &udp);
	if (ret == 0 && (ret = wg_dev_udp_events(dev, udp, ev)) < 0)
		wg_udp_close(udp);
	if (ret < 0) {
		dev->tun = NULL; /* stays the caller's on failure */
		wg_device_destroy(dev);
		return ret;
	}
	wg_dev_install_udp(dev, udp, ev);
	wg_log_info("device up, listening on UDP port %u", wg_device_listen_port(dev));
	*out = dev;
	return 0;
}

#define STAT(f)                                                                                    \
	{                                                                                          \
#f, offsetof(struct wg_device_stats, f)                                            \
	}
static const struct {
	const char *name;
	size_t off;
} stat_names[] = {
	STAT(tun_rx_packets),
	STAT(tun_garbage),
	STAT(tun_no_peer),
	STAT(tun_no_endpoint),
	STAT(tun_read_errors),
	STAT(staged_overflow),
	STAT(staged_given_up),
	STAT(icmp_sent),
	STAT(icmp_ratelimited),
	STAT(udp_send_errors),
	STAT(udp_send_source_refused),
	STAT(udp_rx_packets),
	STAT(udp_garbage),
	STAT(udp_read_errors),
	STAT(handshake_queue_full),
	STAT(mac_invalid),
	STAT(handshake_ratelimited),
	STAT(cookie_replies_sent),
	STAT(cookie_replies_ratelimited),
	STAT(initiation_unknown_peer),
	STAT(initiation_replay),
	STAT(initiation_flood),
	STAT(initiation_invalid),
	STAT(response_unknown_index),
	STAT(response_invalid),
	STAT(cookie_reply_unknown_index),
	STAT(cookie_reply_invalid),
	STAT(data_unknown_index),
	STAT(data_expired_keypair),
	STAT(data_auth_failed),
	STAT(data_replayed),
	STAT(inner_garbage),
	STAT(inner_src_mismatch),
	STAT(tun_write_errors),
	STAT(handshake_initiations_sent),
	STAT(handshake_responses_sent),
	STAT(handshakes_completed),
	STAT(handshakes_given_up),
	STAT(keepalives_sent),
	STAT(keepalives_received),
	STAT(data_packets_sent),
	STAT(data_packets_received),
	STAT(keys_zeroed),
};

static void log_stats(const struct wg_device *dev)
{
	if (!wg_log_enabled(WG_LOG_DEBUG))
		return;
	for (size_t i = 0; i < sizeof(stat_names) / sizeof(stat_names[0]); i++) {
		uint64_t v;
		memcpy(&v, (const char *)&dev->stats + stat_names[i].off, sizeof(v));
		if (v)
			wg_log_debug("counter %s = %llu", stat_names[i].name,
				     (unsigned long long)v);
	}
}

static void free_events(struct wg_device *dev)
{
	free_udp_events(dev);
	if (dev->tun_ev)
		event_free(dev->tun_ev);
	if (dev->timer_ev)
		event_free(dev->timer_ev);
	if (dev->hs_ev)
		event_free(dev->hs_ev);
	dev->tun_ev = dev->timer_ev = dev->hs_ev = NULL;
}

static void free_buffers(struct wg_device *dev)
{
	if (dev->hsq)
		wg_memzero(dev->hsq, WG_MAX_QUEUED_HANDSHAKES * sizeof(*dev->hsq));
	free(dev->hsq);
}

void wg_device_destroy(struct wg_device *dev)
{
	if (!dev)
		return;
	if (dev->tun)
		wg_log_info("device down");
	wg_dev_dumps_detach(dev);
	log_stats(dev);
	free_events(dev);
	while (dev->peers_head)
		wg_peer_remove(dev->peers_head);
	wg_dev_install_udp(dev, NULL, NULL);
	wg_dp_destroy(dev->dp);
	if (dev->tun)
		wg_tun_close(dev->tun);
	wg_allowedips_free(&dev->aips);
	wg_index_table_free(&dev->index);
	wg_pubkey_table_free(&dev->pubkeys);
	wg_timer_heap_free(&dev->timers);
	if (dev->rl)
		wg_ratelimiter_free(dev->rl);
	if (dev->cookie_rl)
		wg_ratelimiter_free(dev->cookie_rl);
	wg_memzero(&dev->cookie_checker, sizeof(dev->cookie_checker));
	if (dev->id)
		sodium_free(dev->id);
	free_buffers(dev);
	wg_secret_free(dev);
}
