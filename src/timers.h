/* Per-peer protocol timers (whitepaper section 6) on a device-wide min-heap
 * keyed by the monotonic clock. The device arms one libevent timer for the
 * earliest deadline, and none at all when the heap is empty, so an idle
 * daemon does not wake up. The wg_timers_* events are named after the
 * whitepaper and called by the data path. */
#ifndef WGD_TIMERS_H
#define WGD_TIMERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct wg_peer;
struct wg_device;

enum wg_timer_kind {
	WG_TIMER_RETRANSMIT_HANDSHAKE = 0,
	WG_TIMER_SEND_KEEPALIVE,
	WG_TIMER_NEW_HANDSHAKE,
	WG_TIMER_ZERO_KEY_MATERIAL,
	WG_TIMER_PERSISTENT_KEEPALIVE,
	WG_TIMER_COUNT,
};

#define WG_TIMER_IDLE SIZE_MAX /* heap_pos of a timer that is not armed */

/* One deadline, embedded in the peer (peer->timers.t[kind]). */
struct wg_timer {
	uint64_t deadline_ns;
	size_t heap_pos; /* WG_TIMER_IDLE when not pending */
	uint8_t kind;
};

/* Timer state of one peer. */
struct wg_peer_timers {
	struct wg_timer t[WG_TIMER_COUNT];
	unsigned int handshake_attempts;
	uint64_t attempts_start_ns; /* first initiation of the current series */
	bool need_another_keepalive;
	bool sent_lastminute_handshake;
};

/* Binary min-heap of pending timers (pointers into peers, not owned). */
struct wg_timer_heap {
	struct wg_timer **v;
	size_t n, cap;
};

void wg_timer_heap_init(struct wg_timer_heap *h);
void wg_timer_heap_free(struct wg_timer_heap *h);
/* Makes room for `slots` pending timers so arming never allocates.
 * 0 or -ENOMEM. */
int wg_timer_heap_reserve(struct wg_timer_heap *h, size_t slots);
/* Earliest deadline, UINT64_MAX when nothing is pending. */
uint64_t wg_timer_heap_next(const struct wg_timer_heap *h);

void wg_peer_timers_init(struct wg_peer_timers *pt);
/* Cancels every timer of the peer. */
void wg_peer_timers_stop(struct wg_peer *peer);
bool wg_timer_pending(const struct wg_timer *t);

/* Runs the expiry handler of every timer whose deadline is <= now_ns. */
void wg_timers_run(struct wg_device *dev, uint64_t now_ns);

/* Whitepaper events. */
void wg_timers_data_sent(struct wg_peer *peer);
void wg_timers_data_received(struct wg_peer *peer);
void wg_timers_any_authenticated_packet_sent(struct wg_peer *peer);
void wg_timers_any_authenticated_packet_received(struct wg_peer *peer);
void wg_timers_any_authenticated_packet_traversal(struct wg_peer *peer);
void wg_timers_handshake_initiated(struct wg_peer *peer);
/* "handshake to ... unanswered for N s (attempt n)", N counted from the
 * first unanswered initiation (rate-limited, verbose). */
void wg_timers_log_unanswered(struct wg_peer *peer, unsigned int attempt);
void wg_timers_handshake_complete(struct wg_peer *peer);
void wg_timers_session_derived(struct wg_peer *peer);
/* Persistent keepalive interval changed: re-arm or cancel. */
void wg_timers_persistent_keepalive_changed(struct wg_peer *peer);

#endif
