/* The body of struct wg_device (wgd/device.h is its public face) and
 * what device.c and device_config.c offer the other engine modules.
 * Engine-internal: main.c and the control server use wgd/device.h only. */
#ifndef WGD_DEV_H
#define WGD_DEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "peer.h"
#include "timers.h"
#include "wgd/device.h"
#include "wgd/log.h"

struct event;

#define WG_UDP_EVENTS 3 /* IPv4 socket, IPv6 socket, route watch */
struct wg_dp;
struct wg_udp;
struct wg_ratelimiter;

/* Reasons with their own log rate limit. */
enum wg_log_reason {
	WG_LOGR_TUN = 0,
	WG_LOGR_NO_ENDPOINT,
	WG_LOGR_MAC,
	WG_LOGR_UNKNOWN_PEER,
	WG_LOGR_HANDSHAKE,
	WG_LOGR_COOKIE,
	WG_LOGR_DATA,
	WG_LOGR_SRC_FILTER,
	WG_LOGR_ROAM,
	WG_LOGR_TIMER,
	WG_LOGR_SEND,
	WG_LOGR_COUNT,
};

/* Backlog work per loop turn, in units: a message that needs Noise (the
 * Diffie-Hellman operations) costs WG_HS_COST_NOISE, one answered with a
 * cookie reply or dropped at its MACs costs 1. So a turn does at most 64
 * handshakes, as before, but 256 cheap messages: as many as a turn reads
 * from a socket, so a flood that only earns cookie replies no longer
 * fills the backlog. A larger ratio (16) drained it faster still but gave
 * the data path a third of the throughput it kept at 4 (40k pkt/s flood,
 * tests/netns/dos.sh). */
#define WG_HS_COST_NOISE   4
#define WG_HANDSHAKE_BATCH 64 /* Noise messages per loop turn at most */
#define WG_HS_BUDGET	   (WG_HANDSHAKE_BATCH * WG_HS_COST_NOISE)
/* The last eighth of the backlog takes only messages that already carry a
 * valid mac2 (a cookie: the sender proved it receives at its address) and
 * pass the per-source rate limit, so a flood from spoofed addresses never
 * locks a legitimate peer's retry out. */
#define WG_HS_RESERVED_FROM (WG_MAX_QUEUED_HANDSHAKES - WG_MAX_QUEUED_HANDSHAKES / 8)
/* Cookie replies under load: at most WG_RATELIMIT_PACKETS_PER_SECOND per
 * source address (a separate rate limiter: spoofing a peer's address must
 * not use up the tokens of its mac2 retries), and this many per second in
 * all (a reply costs about 1.6 us: 5% of a core), so answering a flood
 * stays bounded. A source the full per-source table has no room for is
 * charged to this budget alone: a flood from ever new spoofed addresses
 * must not shut out a peer's first initiation. */
#define WG_COOKIE_REPLIES_PER_SECOND 32768

/* A received handshake message waiting in the backlog. */
struct wg_hs_job {
	struct wg_endpoint from;
	size_t len;
	bool admitted; /* MACs and rate limit already passed (reserved slot) */
	uint8_t msg[WG_MSG_INITIATION_LEN];
};

#define WG_MAX_PACKET 65535

/* Handshake messages refused for a key reason, by source address: what
 * `wgd diagnose` matches against a silent peer's endpoint. The last
 * WG_REJECTS distinct (address, reason) pairs, newest replacing oldest. */
#define WG_REJECTS 16
enum wg_reject_reason {
	WG_REJECT_UNKNOWN_PEER = 0, /* initiation: their key is not one of our peers */
	WG_REJECT_MAC1,		    /* mac1 for another public key than ours */
	WG_REJECT_STALE,	    /* initiation replayed or older timestamp */
	WG_REJECT_DECRYPT,	    /* did not authenticate */
	WG_REJECT_COUNT,
};
struct wg_reject {
	union wg_sockaddr from; /* AF_UNSPEC: slot unused */
	int reason;
	uint64_t count;
	uint64_t last_mono_ns;
};

struct wg_device {
	struct event_base *base; /* not owned */
	struct wg_tun *tun;	 /* owned */
	struct wg_udp *udp;	 /* owned */
	struct event *tun_ev, *udp_ev[WG_UDP_EVENTS], *timer_ev,
		*hs_ev; /* owned; udp_ev[2]: routes */
	struct wg_clock clock;
	/* The monotonic time of the event being handled: read once when the
	 * event loop (or a test hook, or the control server) enters the
	 * engine (wg_dev_tick) and used by everything below it. */
	uint64_t now_ns;
	bool fake_clock;			 /* injected clock: never arm libevent timers */
	struct wg_static_identity *id;		 /* sodium_malloc'd, owned */
	struct wg_cookie_checker cookie_checker; /* secret */
	struct wg_ratelimiter *rl;		 /* owned */
	struct wg_ratelimiter *cookie_rl;	 /* owned: cookie replies per source */
	uint64_t cookie_window_ns;		 /* start of the current second */
	uint32_t cookie_window_sent;		 /* cookie replies in it */
	uint64_t last_rl_gc_ns;
	struct wg_index_table index;
	struct wg_pubkey_table pubkeys;
	struct wg_allowedips aips;
	struct wg_peer *peers_head, *peers_tail; /* owned */
	size_t n_peers;
	uint64_t last_peer_serial;    /* the newest peer's serial */
	struct wg_device_dump *dumps; /* gets being streamed (not owned) */
	struct wg_timer_heap timers;
	uint64_t timer_armed_ns;
	bool timer_armed;
	struct wg_hs_job *hsq; /* ring of WG_MAX_QUEUED_HANDSHAKES, owned */
	size_t hsq_head, hsq_len;
	uint64_t last_under_load_ns;
	bool under_load_lingering;
	uint64_t demand_window_ns; /* start of the current linger-long window */
	uint32_t demand;	   /* handshakes judged at read time under load in it */
	uint32_t fwmark;
	struct wg_addr_pair bind; /* wgd_bind: what the sockets are bound to */
	int mtu;
	uint64_t mtu_checked_ns;
	bool mtu_checked;
	struct wg_dp *dp; /* owned; the data path */
	/* Bytes held by staged packets of all peers, and their cap (what
	 * the data path's cap leaves after the batch buffers). */
	size_t staged_bytes, staged_cap;
	struct wg_device_stats stats;
	struct wg_reject rejects[WG_REJECTS];
	unsigned int rejects_next; /* slot the next new pair takes */
	uint64_t icmp_window_ns;   /* ICMP errors matched to peers in this second */
	uint32_t icmp_matched;
	struct wg_log_limit limits[WG_LOGR_COUNT];
	struct wg_log_limit icmp_limit;
	struct wg_log_limit source_limits[WG_SOURCE_REASONS]; /* warnings of source.c */
	void (*fatal_cb)(void *ctx);
	void *fatal_ctx;
	bool fatal_fired;
};

/* --- device.c --- */
/* Reads the monotonic clock into dev->now_ns: at every entry into the
 * engine (event callbacks, public calls, test hooks). */
void wg_dev_tick(struct wg_device *dev);

static inline uint64_t wg_dev_now(const struct wg_device *dev)
{
	return dev->now_ns;
}

/* Wall-clock time, read when asked: TAI64N timestamps and the last
 * handshake time need it only once per handshake. */
static inline uint64_t wg_dev_unix_now(const struct wg_device *dev)
{
	return dev->clock.unix_ns(dev->clock.ctx);
}

/* True if a verbose line for reason r may be written now (log.c's rate
 * limiter, per reason). */
static inline bool wg_dev_log_ok(struct wg_device *dev, enum wg_log_reason r)
{
	return wg_log_enabled(WG_LOG_VERBOSE) && wg_log_limit_allow(&dev->limits[r], dev->now_ns);
}
/* Re-arms the one libevent timer for the earliest deadline (or none). */
void wg_dev_rearm_timer(struct wg_device *dev);
/* The read events of a socket pair: its two sockets and its route watch.
 * They are made and added before the pair is swapped in (a set plans
 * them), so the swap itself cannot fail; planning and the swap run in one
 * callback, so none fires in between. 0 or -ENOMEM (nothing held). */
int wg_dev_udp_events(struct wg_device *dev, struct wg_udp *udp, struct event *ev[WG_UDP_EVENTS]);
void wg_dev_udp_events_free(struct event *ev[WG_UDP_EVENTS]);
/* Swaps udp in with the events made for it (taken from ev; NULL: none),
 * closing the old pair and freeing its events. */
void wg_dev_install_udp(struct wg_device *dev, struct wg_udp *udp, struct event *ev[WG_UDP_EVENTS]);
int wg_dev_mtu(struct wg_device *dev);
/* Writes one IP packet to the TUN (-ENODEV without one). */
int wg_dev_tun_write(struct wg_device *dev, const uint8_t *pkt, size_t len);

/* --- device_config.c --- */
/* The device is going away: dumps in progress end with what they wrote. */
void wg_dev_dumps_detach(struct wg_device *dev);

#endif
