/* The per-peer timer machine of the whitepaper (section 6.1-6.5), driven by
 * the wg_timers_* events of the data path. Deadlines live in one device-wide
 * binary min-heap; the device arms a single libevent timer for its top. */
#include "timers.h"

#include <errno.h>
#include <stdlib.h>

#include "wgd/constants.h"
#include "wgd/crypto.h"
#include "wgd/log.h"
#include "dev.h"
#include "send.h"

/* --- heap --- */

void wg_timer_heap_init(struct wg_timer_heap *h)
{
	h->v = NULL;
	h->n = 0;
	h->cap = 0;
}

void wg_timer_heap_free(struct wg_timer_heap *h)
{
	free(h->v);
	wg_timer_heap_init(h);
}

int wg_timer_heap_reserve(struct wg_timer_heap *h, size_t slots)
{
	struct wg_timer **v;
	size_t cap = h->cap ? h->cap : 64;

	if (slots <= h->cap)
		return 0;
	while (cap < slots)
		cap *= 2;
	v = realloc(h->v, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	h->v = v;
	h->cap = cap;
	return 0;
}

uint64_t wg_timer_heap_next(const struct wg_timer_heap *h)
{
	return h->n ? h->v[0]->deadline_ns : UINT64_MAX;
}

static void heap_set(struct wg_timer_heap *h, size_t pos, struct wg_timer *t)
{
	h->v[pos] = t;
	t->heap_pos = pos;
}

static void sift_up(struct wg_timer_heap *h, size_t pos)
{
	struct wg_timer *t = h->v[pos];

	while (pos > 0) {
		size_t parent = (pos - 1) / 2;
		if (h->v[parent]->deadline_ns <= t->deadline_ns)
			break;
		heap_set(h, pos, h->v[parent]);
		pos = parent;
	}
	heap_set(h, pos, t);
}

static void sift_down(struct wg_timer_heap *h, size_t pos)
{
	struct wg_timer *t = h->v[pos];

	for (;;) {
		size_t child = 2 * pos + 1;
		if (child >= h->n)
			break;
		if (child + 1 < h->n && h->v[child + 1]->deadline_ns < h->v[child]->deadline_ns)
			child++;
		if (t->deadline_ns <= h->v[child]->deadline_ns)
			break;
		heap_set(h, pos, h->v[child]);
		pos = child;
	}
	heap_set(h, pos, t);
}

static void heap_remove(struct wg_timer_heap *h, struct wg_timer *t)
{
	size_t pos = t->heap_pos;
	struct wg_timer *last = h->v[--h->n];

	t->heap_pos = WG_TIMER_IDLE;
	if (last == t)
		return;
	heap_set(h, pos, last);
	sift_up(h, pos);
	sift_down(h, last->heap_pos);
}

/* Space was reserved when the peer was added, so the fallback allocation
 * is never expected to run. */
static void heap_insert(struct wg_timer_heap *h, struct wg_timer *t)
{
	if (h->n == h->cap && wg_timer_heap_reserve(h, h->n + 1) < 0) {
		wg_log_error("timer heap full: timer dropped");
		return;
	}
	h->n++;
	heap_set(h, h->n - 1, t);
	sift_up(h, h->n - 1);
}

/* --- per-peer timers --- */

void wg_peer_timers_init(struct wg_peer_timers *pt)
{
	for (int i = 0; i < WG_TIMER_COUNT; i++) {
		pt->t[i].deadline_ns = 0;
		pt->t[i].heap_pos = WG_TIMER_IDLE;
		pt->t[i].kind = (uint8_t)i;
	}
	pt->handshake_attempts = 0;
	pt->need_another_keepalive = false;
	pt->sent_lastminute_handshake = false;
}

bool wg_timer_pending(const struct wg_timer *t)
{
	return t->heap_pos != WG_TIMER_IDLE;
}

static struct wg_peer *timer_peer(struct wg_timer *t)
{
	return wg_container_of(t - t->kind, struct wg_peer, timers.t);
}

static void timer_mod(struct wg_peer *peer, enum wg_timer_kind k, uint64_t deadline)
{
	struct wg_timer_heap *h = &peer->dev->timers;
	struct wg_timer *t = &peer->timers.t[k];

	t->deadline_ns = deadline;
	if (!wg_timer_pending(t)) {
		heap_insert(h, t);
		return;
	}
	sift_up(h, t->heap_pos);
	sift_down(h, t->heap_pos);
}

static void timer_del(struct wg_peer *peer, enum wg_timer_kind k)
{
	struct wg_timer *t = &peer->timers.t[k];

	if (wg_timer_pending(t))
		heap_remove(&peer->dev->timers, t);
}

void wg_peer_timers_stop(struct wg_peer *peer)
{
	for (int k = 0; k < WG_TIMER_COUNT; k++)
		timer_del(peer, (enum wg_timer_kind)k);
}

static uint64_t jitter(void)
{
	return wg_random_uniform((uint32_t)WG_REKEY_TIMEOUT_JITTER_MAX);
}

static uint64_t now(const struct wg_peer *peer)
{
	return wg_dev_now(peer->dev);
}

/* --- expiry handlers --- */

/* The time since our initiations started going unanswered, which new
 * traffic (each restarting the retry count) does not reset. */
void wg_timers_log_unanswered(struct wg_peer *peer, unsigned int attempt)
{
	char ep[WG_SOCKADDR_STRLEN], name[WG_LOG_KEY_LEN];
	uint64_t since = peer->st.unanswered_since_mono_ns;

	if (!wg_dev_log_ok(peer->dev, WG_LOGR_TIMER))
		return;
	if (!since)
		since = peer->timers.attempts_start_ns;
	wg_log_verbose("handshake to %s (peer %s) unanswered for %llu s (attempt %u)",
		       wg_sockaddr_format(&peer->endpoint.addr, ep, sizeof(ep)),
		       wg_peer_name(peer, name),
		       (unsigned long long)(now(peer) - since) / WG_NSEC_PER_SEC, attempt);
}

static void give_up_handshake(struct wg_peer *peer)
{
	char name[WG_LOG_KEY_LEN];
	size_t dropped = peer->n_staged;

	peer->dev->stats.handshakes_given_up++;
	peer->st.unanswered_since_mono_ns = 0; /* nothing outstanding now */
	peer->dev->stats.staged_given_up += dropped;
	wg_log_verbose("handshake with peer %s gave up after %u attempts, dropping %zu staged "
		       "packets",
		       wg_peer_name(peer, name), (unsigned int)WG_MAX_TIMER_HANDSHAKES + 2,
		       dropped);
	timer_del(peer, WG_TIMER_SEND_KEEPALIVE);
	wg_peer_purge_staged(peer);
	if (!wg_timer_pending(&peer->timers.t[WG_TIMER_ZERO_KEY_MATERIAL]))
		timer_mod(peer, WG_TIMER_ZERO_KEY_MATERIAL, now(peer) + WG_ZERO_KEYS_AFTER);
}

/* handshake_attempts counts retransmissions of the current attempt series.
 * Like the kernel, give up only once MAX_TIMER_HANDSHAKES + 1 retries went
 * unanswered: 20 initiations in all, so the series outlasts
 * REKEY_ATTEMPT_TIME even with the shortest jitter. */
static void expired_retransmit_handshake(struct wg_peer *peer)
{
	struct wg_peer_timers *pt = &peer->timers;

	wg_timers_log_unanswered(peer, pt->handshake_attempts + 1);
	if (pt->handshake_attempts > WG_MAX_TIMER_HANDSHAKES) {
		give_up_handshake(peer);
		return;
	}
	pt->handshake_attempts++;
	/* The local address may be what is wrong: let the kernel pick anew
	 * (unless the operator chose it). */
	wg_source_forget_learned(peer);
	wg_send_handshake_initiation(peer, true);
}

static void expired_send_keepalive(struct wg_peer *peer)
{
	wg_send_keepalive(peer);
	if (peer->timers.need_another_keepalive) {
		peer->timers.need_another_keepalive = false;
		timer_mod(peer, WG_TIMER_SEND_KEEPALIVE, now(peer) + WG_KEEPALIVE_TIMEOUT);
	}
}

static void expired_new_handshake(struct wg_peer *peer)
{
	char name[WG_LOG_KEY_LEN];

	if (wg_dev_log_ok(peer->dev, WG_LOGR_TIMER))
		wg_log_verbose("peer %s: data sent but nothing heard back for %llu s, "
			       "new handshake",
			       wg_peer_name(peer, name),
			       (unsigned long long)(WG_NEW_HANDSHAKE_TIMEOUT / WG_NSEC_PER_SEC));
	wg_source_forget_learned(peer);
	wg_send_handshake_initiation(peer, false);
}

static void expired_zero_key_material(struct wg_peer *peer)
{
	char name[WG_LOG_KEY_LEN];

	wg_log_verbose("peer %s: no new session for %llu s, zeroing all keys",
		       wg_peer_name(peer, name),
		       (unsigned long long)(WG_ZERO_KEYS_AFTER / WG_NSEC_PER_SEC));
	peer->dev->stats.keys_zeroed++;
	wg_peer_zero_keys(peer);
}

static void expired_persistent_keepalive(struct wg_peer *peer)
{
	if (peer->persistent_keepalive)
		wg_send_keepalive(peer);
}

static void timer_expired(struct wg_timer *t)
{
	struct wg_peer *peer = timer_peer(t);

	switch ((enum wg_timer_kind)t->kind) {
	case WG_TIMER_RETRANSMIT_HANDSHAKE:
		expired_retransmit_handshake(peer);
		break;
	case WG_TIMER_SEND_KEEPALIVE:
		expired_send_keepalive(peer);
		break;
	case WG_TIMER_NEW_HANDSHAKE:
		expired_new_handshake(peer);
		break;
	case WG_TIMER_ZERO_KEY_MATERIAL:
		expired_zero_key_material(peer);
		break;
	case WG_TIMER_PERSISTENT_KEEPALIVE:
		expired_persistent_keepalive(peer);
		break;
	case WG_TIMER_COUNT:
		break;
	}
}

void wg_timers_run(struct wg_device *dev, uint64_t now_ns)
{
	struct wg_timer_heap *h = &dev->timers;

	while (h->n && h->v[0]->deadline_ns <= now_ns) {
		struct wg_timer *t = h->v[0];
		heap_remove(h, t);
		timer_expired(t);
	}
}

/* --- whitepaper events --- */

/* Data went out: expect something back within KEEPALIVE + REKEY_TIMEOUT. */
void wg_timers_data_sent(struct wg_peer *peer)
{
	if (!wg_timer_pending(&peer->timers.t[WG_TIMER_NEW_HANDSHAKE]))
		timer_mod(peer, WG_TIMER_NEW_HANDSHAKE,
			  now(peer) + WG_NEW_HANDSHAKE_TIMEOUT + jitter());
}

/* Data came in: answer with a keepalive unless we send something first. */
void wg_timers_data_received(struct wg_peer *peer)
{
	if (!wg_timer_pending(&peer->timers.t[WG_TIMER_SEND_KEEPALIVE]))
		timer_mod(peer, WG_TIMER_SEND_KEEPALIVE, now(peer) + WG_KEEPALIVE_TIMEOUT);
	else
		peer->timers.need_another_keepalive = true;
}

void wg_timers_any_authenticated_packet_sent(struct wg_peer *peer)
{
	timer_del(peer, WG_TIMER_SEND_KEEPALIVE);
}

void wg_timers_any_authenticated_packet_received(struct wg_peer *peer)
{
	timer_del(peer, WG_TIMER_NEW_HANDSHAKE);
}

void wg_timers_any_authenticated_packet_traversal(struct wg_peer *peer)
{
	if (peer->persistent_keepalive)
		timer_mod(peer, WG_TIMER_PERSISTENT_KEEPALIVE,
			  now(peer) + peer->persistent_keepalive * WG_NSEC_PER_SEC);
}

void wg_timers_handshake_initiated(struct wg_peer *peer)
{
	timer_mod(peer, WG_TIMER_RETRANSMIT_HANDSHAKE, now(peer) + WG_REKEY_TIMEOUT + jitter());
}

void wg_timers_handshake_complete(struct wg_peer *peer)
{
	timer_del(peer, WG_TIMER_RETRANSMIT_HANDSHAKE);
	peer->timers.handshake_attempts = 0;
	peer->timers.sent_lastminute_handshake = false;
	peer->last_handshake_unix_ns = wg_dev_unix_now(peer->dev);
}

void wg_timers_session_derived(struct wg_peer *peer)
{
	timer_mod(peer, WG_TIMER_ZERO_KEY_MATERIAL, now(peer) + WG_ZERO_KEYS_AFTER);
}

void wg_timers_persistent_keepalive_changed(struct wg_peer *peer)
{
	if (!peer->persistent_keepalive)
		timer_del(peer, WG_TIMER_PERSISTENT_KEEPALIVE);
}
