/* Inbound path. Data messages are handled at once: index -> keypair ->
 * open -> replay check -> inner source must belong to the same peer -> TUN.
 * Handshake messages go through a bounded backlog processed in batches per
 * event-loop turn; its depth decides "under load" (cookies demanded). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "aead.h"
#include "wgd/crypto.h"
#include "datapath.h"
#include "dev.h"
#include "observe.h"
#include "receive.h"
#include "wgd/ip.h"
#include "send.h"
#include "wgd/platform/batch.h"
#include "wgd/ratelimiter.h"

/* --- logging helpers --- */

static const char *ep_str(const struct wg_endpoint *e, char buf[WG_SOCKADDR_STRLEN])
{
	return wg_sockaddr_format(&e->addr, buf, WG_SOCKADDR_STRLEN);
}

static void log_complete(struct wg_peer *peer)
{
	char name[WG_LOG_KEY_LEN];

	peer->dev->stats.handshakes_completed++;
	wg_obs_handshake_complete(peer);
	if (wg_dev_log_ok(peer->dev, WG_LOGR_HANDSHAKE))
		wg_log_verbose("handshake with peer %s complete", wg_peer_name(peer, name));
}

static void after_authenticated_rx(struct wg_peer *peer, size_t len)
{
	peer->rx_bytes += len;
	wg_obs_rx(peer, false);
	wg_timers_any_authenticated_packet_received(peer);
	wg_timers_any_authenticated_packet_traversal(peer);
}

/* --- backlog --- */

/* Under load while the backlog is deep, and for WG_UNDER_LOAD_LINGER after,
 * so an attacker cannot toggle it by pausing. */
static bool under_load(struct wg_device *dev, uint64_t now)
{
	if (dev->hsq_len >= WG_UNDER_LOAD_BACKLOG) {
		dev->last_under_load_ns = now;
		dev->under_load_lingering = true;
		return true;
	}
	if (!dev->under_load_lingering)
		return false;
	if (now - dev->last_under_load_ns < WG_UNDER_LOAD_LINGER)
		return true;
	dev->under_load_lingering = false;
	return false;
}

/* Messages judged under load as they are read never enter the backlog:
 * they count as its depth would, so a flood of WG_UNDER_LOAD_BACKLOG of
 * them per linger period keeps the device under load without pause. */
static void note_demand(struct wg_device *dev, uint64_t now)
{
	if (now - dev->demand_window_ns >= WG_UNDER_LOAD_LINGER) {
		dev->demand_window_ns = now;
		dev->demand = 0;
	}
	if (++dev->demand >= WG_UNDER_LOAD_BACKLOG)
		dev->last_under_load_ns = now;
}

static void ratelimiter_gc(struct wg_device *dev, uint64_t now)
{
	if (now - dev->last_rl_gc_ns < WG_NSEC_PER_SEC)
		return;
	dev->last_rl_gc_ns = now;
	wg_ratelimiter_gc(dev->rl, now);
	wg_ratelimiter_gc(dev->cookie_rl, now);
}

static const char *hs_name(uint32_t type)
{
	return type == WG_MSG_INITIATION ? "initiation" : "response";
}

static void log_mac_invalid(struct wg_device *dev, const struct wg_endpoint *from, uint32_t type)
{
	char ep[WG_SOCKADDR_STRLEN];

	dev->stats.mac_invalid++;
	wg_obs_reject(dev, &from->addr, WG_REJECT_MAC1);
	if (wg_dev_log_ok(dev, WG_LOGR_MAC))
		wg_log_verbose("%s from %s for a different public key (mac1 mismatch)",
			       hs_name(type), ep_str(from, ep));
}

static void log_ratelimited(struct wg_device *dev, const struct wg_endpoint *from, uint32_t type)
{
	char ep[WG_SOCKADDR_STRLEN];

	dev->stats.handshake_ratelimited++;
	if (wg_dev_log_ok(dev, WG_LOGR_COOKIE))
		wg_log_verbose("%s from %s dropped: over %d/s from that address while under load",
			       hs_name(type), ep_str(from, ep), WG_RATELIMIT_PACKETS_PER_SECOND);
}

/* Within the per-source and the global cookie-reply limits. A flood from
 * a few hundred addresses then costs a few thousand replies a second, and
 * a peer's first initiation from an address of its own is answered: that
 * reply is what its mac2 retry needs. When a flood from ever new spoofed
 * addresses has filled the per-source table, a new source is charged to
 * the global budget alone (its odds are that budget over the flood rate). */
static bool cookie_reply_allowed(struct wg_device *dev, const union wg_sockaddr *src, uint64_t now)
{
	if (now - dev->cookie_window_ns >= WG_NSEC_PER_SEC) {
		dev->cookie_window_ns = now;
		dev->cookie_window_sent = 0;
	}
	if (dev->cookie_window_sent >= WG_COOKIE_REPLIES_PER_SECOND ||
	    !wg_ratelimiter_allow_unlisted(dev->cookie_rl, src, now)) {
		dev->stats.cookie_replies_ratelimited++;
		return false;
	}
	dev->cookie_window_sent++;
	return true;
}

/* Whether cookie_reply_allowed would pass, spending nothing. */
static bool cookie_reply_possible(const struct wg_device *dev, const union wg_sockaddr *src,
				  uint64_t now)
{
	if (now - dev->cookie_window_ns < WG_NSEC_PER_SEC &&
	    dev->cookie_window_sent >= WG_COOKIE_REPLIES_PER_SECOND)
		return false;
	return wg_ratelimiter_would_allow(dev->cookie_rl, src, now);
}

static void cookie_reply(struct wg_device *dev, const struct wg_hs_job *job, uint64_t now)
{
	/* The sender index sits at the same offset in both messages. */
	if (cookie_reply_allowed(dev, &job->from.addr, now))
		wg_send_cookie_reply(dev, job, wg_le32_get(job->msg + 4));
}

/* MACs and load, at read time before a message takes a backlog slot (so
 * reading stays cheap enough to drain the socket during a flood: a full
 * socket buffer drops a peer's initiation, its retry and its data at
 * random), and again when a message queued while not under load has its
 * turn. A wrong mac1 or an over-rate mac2 is dropped; under load, a
 * message without mac2 gets its cookie reply (within the limits) and goes
 * no further. True if it may go on: with a valid mac2 it is marked
 * admitted; without, it came while not under load. */
static bool check_macs(struct wg_device *dev, struct wg_hs_job *job, uint32_t type)
{
	uint64_t now = wg_dev_now(dev);
	bool load = under_load(dev, now);

	if (load)
		ratelimiter_gc(dev, now);
	/* Under load, a message without mac2 can earn nothing but a cookie
	 * reply: past the reply limits it goes before its mac1 costs a
	 * BLAKE2s, the bulk of a flood's cost once read. Tokens are spent only
	 * on a valid mac1, so a spoofer that lacks our public key cannot use
	 * up a peer's. */
	if (load && wg_ct_is_zero(job->msg + job->len - WG_MAC_LEN, WG_MAC_LEN) &&
	    !cookie_reply_possible(dev, &job->from.addr, now)) {
		dev->stats.cookie_replies_ratelimited++;
		note_demand(dev, now);
		return false;
	}
	switch (wg_cookie_validate(&dev->cookie_checker, job->msg, job->len, &job->from.addr, load,
				   dev->rl, now)) {
	case WG_COOKIE_INVALID:
		log_mac_invalid(dev, &job->from, type);
		return false;
	case WG_COOKIE_RATELIMITED:
		log_ratelimited(dev, &job->from, type);
		note_demand(dev, now);
		return false;
	case WG_COOKIE_VALID_NO_COOKIE:
		if (!load)
			return true;
		cookie_reply(dev, job, now);
		note_demand(dev, now);
		return false;
	case WG_COOKIE_VALID_WITH_COOKIE:
		job->admitted = true;
		return true;
	}
	return false;
}

/* The last eighth of the backlog only for admitted messages (valid mac2
 * within their source's rate), so cookie-reply messages or a burst that
 * came before the device was under load cannot lock a retry out. */
static void enqueue_handshake(struct wg_device *dev, const uint8_t *buf, size_t len,
			      const struct wg_endpoint *from)
{
	struct wg_hs_job *job;
	uint32_t type = wg_msg_header_type(buf);
	size_t limit;

	/* Built in place in the next slot; it counts only once queued. */
	if (dev->hsq_len >= WG_MAX_QUEUED_HANDSHAKES) {
		dev->stats.handshake_queue_full++;
		return;
	}
	job = &dev->hsq[(dev->hsq_head + dev->hsq_len) % WG_MAX_QUEUED_HANDSHAKES];
	job->from = *from;
	job->len = len;
	job->admitted = false;
	memcpy(job->msg, buf, len);
	if (type != WG_MSG_COOKIE_REPLY && !check_macs(dev, job, type))
		return;
	limit = job->admitted ? WG_MAX_QUEUED_HANDSHAKES : WG_HS_RESERVED_FROM;
	if (dev->hsq_len >= limit) {
		dev->stats.handshake_queue_full++;
		return;
	}
	dev->hsq_len++;
}

/* --- handshake messages --- */

/* Remembers the peer noise looked up, to name it when consumption fails. */
struct lookup_ctx {
	struct wg_device *dev;
	struct wg_peer *peer;
};

static struct wg_handshake *lookup_handshake(void *ctx, const uint8_t pub[WG_KEY_LEN])
{
	struct lookup_ctx *lc = ctx;

	lc->peer = wg_peer_lookup(lc->dev, pub);
	return lc->peer ? &lc->peer->hs : NULL;
}

static void initiation_failed(struct wg_device *dev, const struct wg_hs_job *job, int err,
			      const uint8_t *key)
{
	char ep[WG_SOCKADDR_STRLEN], name[WG_LOG_KEY_LEN];
	bool log = wg_dev_log_ok(dev, err == -ENOKEY ? WG_LOGR_UNKNOWN_PEER : WG_LOGR_HANDSHAKE);

	ep_str(&job->from, ep);
	if (key)
		wg_log_key(key, name);
	else
		snprintf(name, sizeof(name), "?");
	if (err != -EBUSY)
		wg_obs_reject(dev, &job->from.addr,
			      err == -ENOKEY   ? WG_REJECT_UNKNOWN_PEER
			      : err == -ESTALE ? WG_REJECT_STALE
					       : WG_REJECT_DECRYPT);
	if (err == -ENOKEY) {
		dev->stats.initiation_unknown_peer++;
		if (log)
			wg_log_verbose("initiation from unknown peer key %s at %s", name, ep);
	} else if (err == -ESTALE) {
		dev->stats.initiation_replay++;
		if (log)
			wg_log_verbose(
				"replayed initiation from peer %s at %s (timestamp not newer)",
				name, ep);
	} else if (err == -EBUSY) {
		dev->stats.initiation_flood++;
		if (log)
			wg_log_verbose("initiations from peer %s at %s faster than %d per second",
				       name, ep, WG_INITIATIONS_PER_SECOND);
	} else {
		dev->stats.initiation_invalid++;
		if (log)
			wg_log_verbose("invalid initiation from %s (peer %s): %s", ep, name,
				       err == -EBADMSG ? "does not decrypt" : "unusable key");
	}
}

static void handle_initiation(struct wg_device *dev, const struct wg_hs_job *job)
{
	const struct wg_msg_initiation *msg = (const void *)job->msg;
	struct lookup_ctx lc = {.dev = dev};
	uint8_t remote[WG_KEY_LEN] = {0};
	struct wg_handshake *hs = NULL;
	struct wg_peer *peer;
	char name[WG_LOG_KEY_LEN];
	int ret;

	ret = wg_noise_consume_initiation(msg, dev->id, lookup_handshake, &lc, wg_dev_now(dev), &hs,
					  remote);
	if (ret < 0 || !hs) {
		ret = ret < 0 ? ret : -EINVAL;
		initiation_failed(dev, job, ret,
				  ret == -ENOKEY ? remote
				  : lc.peer	 ? lc.peer->pubkey.key
						 : NULL);
		return;
	}
	peer = wg_container_of(hs, struct wg_peer, hs);
	wg_obs_initiation_received(peer);
	wg_peer_set_endpoint_from(peer, &job->from);
	if (wg_log_enabled(WG_LOG_DEBUG))
		wg_log_debug("handshake initiation from peer %s", wg_peer_name(peer, name));
	wg_send_handshake_response(peer);
	after_authenticated_rx(peer, job->len);
}

static void handle_response(struct wg_device *dev, const struct wg_hs_job *job)
{
	const struct wg_msg_response *msg = (const void *)job->msg;
	struct wg_index_entry *e = wg_index_lookup(&dev->index, wg_le32_get(msg->receiver));
	char ep[WG_SOCKADDR_STRLEN];
	struct wg_peer *peer;

	if (!e || e->kind != WG_INDEX_HANDSHAKE) {
		dev->stats.response_unknown_index++;
		return;
	}
	peer = e->peer;
	if (wg_noise_consume_response(msg, &peer->hs, dev->id) < 0) {
		dev->stats.response_invalid++;
		wg_obs_reject(dev, &job->from.addr, WG_REJECT_DECRYPT);
		if (wg_dev_log_ok(dev, WG_LOGR_HANDSHAKE))
			wg_log_verbose("invalid handshake response from %s",
				       ep_str(&job->from, ep));
		return;
	}
	wg_obs_response_received(peer);
	wg_peer_set_endpoint_from(peer, &job->from);
	if (wg_peer_begin_session(peer) == 0) {
		wg_timers_session_derived(peer);
		wg_timers_handshake_complete(peer);
		log_complete(peer);
		/* Flushes staged packets, or confirms the session at once. */
		wg_send_keepalive(peer);
	}
	after_authenticated_rx(peer, job->len);
}

static void handle_cookie_reply(struct wg_device *dev, const struct wg_hs_job *job)
{
	const struct wg_msg_cookie_reply *msg = (const void *)job->msg;
	struct wg_index_entry *e = wg_index_lookup(&dev->index, wg_le32_get(msg->receiver));
	char ep[WG_SOCKADDR_STRLEN];

	if (!e) {
		dev->stats.cookie_reply_unknown_index++;
		return;
	}
	if (wg_cookie_reply_consume(&((struct wg_peer *)e->peer)->cookie, msg, wg_dev_now(dev)) <
	    0) {
		dev->stats.cookie_reply_invalid++;
		return;
	}
	wg_obs_cookie_reply_received(e->peer);
	if (wg_dev_log_ok(dev, WG_LOGR_COOKIE))
		wg_log_verbose("cookie reply from %s: peer is under load", ep_str(&job->from, ep));
}

/* Judges one backlog message; returns what it cost (WG_HS_COST_*). */
static unsigned int process_job(struct wg_device *dev, struct wg_hs_job *job)
{
	uint32_t type = wg_msg_header_type(job->msg);

	if (type == WG_MSG_COOKIE_REPLY) {
		handle_cookie_reply(dev, job);
		return 1;
	}
	if (!job->admitted && !check_macs(dev, job, type))
		return 1;
	if (type == WG_MSG_INITIATION)
		handle_initiation(dev, job);
	else
		handle_response(dev, job);
	return WG_HS_COST_NOISE;
}

bool wg_receive_handshake_batch(struct wg_device *dev)
{
	unsigned int budget = WG_HS_BUDGET, cost;

	while (budget && dev->hsq_len) {
		struct wg_hs_job *job = &dev->hsq[dev->hsq_head];
		cost = process_job(dev, job);
		budget -= cost < budget ? cost : budget;
		/* The backlog length counts the job in hand while it is
		 * judged, so under_load sees the real depth. */
		dev->hsq_head = (dev->hsq_head + 1) % WG_MAX_QUEUED_HANDSHAKES;
		dev->hsq_len--;
	}
	return dev->hsq_len > 0;
}

/* --- data messages --- */

/* The initiator rekeys before its session becomes unusable on receive. */
static void keep_key_fresh_rx(struct wg_peer *peer)
{
	struct wg_peer_keypair *kp = peer->kp_current;

	if (!kp || !kp->kp.is_initiator || peer->timers.sent_lastminute_handshake)
		return;
	if (wg_dev_now(peer->dev) - kp->kp.birthdate_ns < WG_REKEY_ON_RECEIVE_AGE)
		return;
	peer->timers.sent_lastminute_handshake = true;
	wg_send_handshake_initiation(peer, false);
}

static void drop_src_mismatch(struct wg_peer *peer, int family, const uint8_t *src)
{
	char addr[INET6_ADDRSTRLEN], name[WG_LOG_KEY_LEN];

	peer->dev->stats.inner_src_mismatch++;
	peer->st.inner_src_mismatch++;
	if (!wg_dev_log_ok(peer->dev, WG_LOGR_SRC_FILTER))
		return;
	inet_ntop(family, src, addr, sizeof(addr));
	wg_log_verbose("data packet from peer %s with inner source %s outside its allowed ips",
		       wg_peer_name(peer, name), addr);
}

/* The packet waits (in its receive buffer) for the end of the batch, when
 * the TUN takes them all. */
static void to_tun(struct wg_device *dev, uint8_t *pkt, size_t len)
{
	struct wg_dp *dp = dev->dp;

	if (dp->n_tun_out == WG_DP_MAX_TUN_OUT)
		wg_receive_flush(dev);
	dp->tun_out[dp->n_tun_out++] = (struct wg_pkt){pkt, len};
	dp->moved = true;
}

/* Inner packet checks and delivery to the TUN. */
static void deliver(struct wg_peer *peer, uint8_t *pkt, size_t len, size_t msg_len)
{
	struct wg_device *dev = peer->dev;
	const uint8_t *src, *dst;
	size_t ip_len;
	int family;

	if (wg_ip_parse(pkt, len, &family, &ip_len, &src, &dst) < 0) {
		dev->stats.inner_garbage++;
		return;
	}
	if (wg_allowedips_lookup(&dev->aips, family, src) != &peer->aips) {
		drop_src_mismatch(peer, family, src);
		return;
	}
	to_tun(dev, pkt, ip_len);
	dev->stats.data_packets_received++;
	peer->rx_bytes += msg_len;
}

static struct wg_peer_keypair *data_keypair(struct wg_device *dev, const struct wg_msg_data *msg)
{
	struct wg_index_entry *e = wg_index_lookup(&dev->index, wg_le32_get(msg->receiver));

	if (!e || e->kind != WG_INDEX_KEYPAIR) {
		dev->stats.data_unknown_index++;
		return NULL;
	}
	return wg_container_of(e, struct wg_peer_keypair, entry);
}

static bool keypair_fresh(struct wg_device *dev, const struct wg_peer_keypair *kp)
{
	if (wg_dev_now(dev) - kp->kp.birthdate_ns >= WG_REJECT_AFTER_TIME) {
		dev->stats.data_expired_keypair++;
		return false;
	}
	return true;
}

/* An authenticated data message (decrypted in place): replay check, then
 * the peer's state, then the inner packet. */
static void data_opened(struct wg_device *dev, struct wg_peer_keypair *kp, struct wg_msg_data *msg,
			size_t len, uint64_t counter, const struct wg_endpoint *from)
{
	size_t plain_len = len - WG_MSG_DATA_MIN_LEN;
	struct wg_peer *peer;

	peer = kp->entry.peer;
	if (!wg_replay_check(&kp->kp.replay, counter)) {
		dev->stats.data_replayed++;
		peer->st.data_replayed++;
		return;
	}
	wg_peer_set_endpoint_from(peer, from);
	if (wg_peer_received_with(peer, kp)) {
		wg_timers_handshake_complete(peer);
		log_complete(peer);
		wg_send_staged(peer);
	}
	keep_key_fresh_rx(peer);
	wg_timers_any_authenticated_packet_received(peer);
	wg_timers_any_authenticated_packet_traversal(peer);
	wg_obs_rx(peer, plain_len != 0);
	if (plain_len == 0) {
		dev->stats.keepalives_received++;
		peer->rx_bytes += len;
		return;
	}
	wg_timers_data_received(peer);
	deliver(peer, msg->payload, plain_len, len);
}

/* --- batches in, coalesced packets out --- */

void wg_receive_flush(struct wg_device *dev)
{
	struct wg_dp *dp = dev->dp;
	int n = (int)dp->n_tun_out;

	if (!n)
		return;
	dp->n_tun_out = 0;
	dev->stats.tun_tx_batches++;
	dev->stats.tun_tx_packets += (uint64_t)n;
	dev->stats.tun_write_errors +=
		dev->tun ? (uint64_t)wg_tun_write_batch(dev->tun, dp->tun_out, n) : (uint64_t)n;
}

/* The queued messages, opened (in parallel where there are crypto
 * threads), then taken in arrival order. A keypair may have gone
 * meanwhile (an earlier message of the batch rotated the session): the
 * index says whether it is still there. */
static void open_queued(struct wg_device *dev)
{
	struct wg_dp *dp = dev->dp;
	size_t n = dp->n_rx_jobs;

	if (!n)
		return;
	wg_workers_run(dp->workers, dp->rx_jobs, n);
	/* Emptied first: nothing below may see these jobs as pending. */
	dp->n_rx_jobs = 0;
	for (size_t i = 0; i < n; i++) {
		struct wg_dp_rx_item *it = &dp->rx_items[i];
		bool live = wg_index_lookup(&dev->index, wg_le32_get(it->msg->receiver)) ==
			    &it->kp->entry;
		if (dp->rx_jobs[i].result != 0) {
			dev->stats.data_auth_failed++;
			if (live)
				((struct wg_peer *)it->kp->entry.peer)->st.data_auth_failed++;
			continue;
		}
		if (!live) {
			dev->stats.data_unknown_index++;
			continue;
		}
		data_opened(dev, it->kp, it->msg, it->len, dp->rx_jobs[i].counter, it->from);
	}
}

/* A data message is checked and queued for opening. */
static void queue_data(struct wg_device *dev, uint8_t *buf, size_t len,
		       const struct wg_endpoint *from)
{
	struct wg_dp *dp = dev->dp;
	struct wg_msg_data *msg = (struct wg_msg_data *)buf;
	struct wg_peer_keypair *kp;
	struct wg_crypto_job *j;

	/* Opening the queue may rotate sessions and drop keypairs: it runs
	 * before the lookup, so kp is live while its job waits. */
	if (dp->n_rx_jobs == WG_DP_MAX_RX_JOBS)
		open_queued(dev);
	kp = data_keypair(dev, msg);
	if (!kp || !keypair_fresh(dev, kp))
		return;
	dp->rx_items[dp->n_rx_jobs] = (struct wg_dp_rx_item){kp, msg, len, from};
	j = &dp->rx_jobs[dp->n_rx_jobs++];
	j->buf = msg->payload;
	j->len = (uint32_t)(len - WG_MSG_DATA_HEADER_LEN);
	j->counter = wg_le64_get(msg->counter);
	j->key = kp->kp.receiving_key;
	j->op = WG_JOB_OPEN;
}

/* One datagram: a handshake message joins the backlog, a data message the
 * open queue. */
static void receive_one(struct wg_device *dev, uint8_t *buf, size_t len,
			const struct wg_endpoint *from)
{
	uint32_t type = len >= 4 ? wg_msg_header_type(buf) : 0;

	dev->stats.udp_rx_packets++;
	if ((type == WG_MSG_INITIATION && len == WG_MSG_INITIATION_LEN) ||
	    (type == WG_MSG_RESPONSE && len == WG_MSG_RESPONSE_LEN) ||
	    (type == WG_MSG_COOKIE_REPLY && len == WG_MSG_COOKIE_REPLY_LEN))
		enqueue_handshake(dev, buf, len, from);
	else if (type == WG_MSG_DATA && len >= WG_MSG_DATA_MIN_LEN)
		queue_data(dev, buf, len, from);
	else
		dev->stats.udp_garbage++;
}

/* The end of a batch: messages opened and delivered, decrypted packets
 * to the TUN, trains sealed meanwhile (staged packets) to the network. */
static void batch_end(struct wg_device *dev)
{
	open_queued(dev);
	wg_receive_flush(dev);
	wg_send_flush(dev);
}

/* Every datagram of a message: one, or a train of seg bytes each.
 * Returns how many. */
static size_t receive_msg(struct wg_device *dev, struct wg_udp_msg *m)
{
	size_t seg = m->seg && m->seg < m->len ? m->seg : m->len, n = 0;

	if (m->len == 0) {
		dev->stats.udp_garbage++;
		return 1;
	}
	for (size_t off = 0; off < m->len; off += seg, n++)
		receive_one(dev, m->buf + off, m->len - off < seg ? m->len - off : seg, &m->ep);
	dev->stats.udp_rx_datagrams += n;
	return n;
}

/* Datagrams per readiness event, then the TUN side gets its turn. */
#define RX_BUDGET 256

void wg_receive_datagram(struct wg_device *dev, uint8_t *buf, size_t len,
			 const struct wg_endpoint *from)
{
	dev->dp->in_batch++;
	receive_one(dev, buf, len, from);
	batch_end(dev);
	dev->dp->in_batch--;
}

int wg_receive_batch(struct wg_device *dev, int fd)
{
	struct wg_dp *dp = dev->dp;
	size_t done = 0;
	int r = 0;

	dp->in_batch++;
	while (done < RX_BUDGET && dev->udp) {
		for (int i = 0; i < dp->n_rx; i++) {
			dp->rx_msgs[i].buf = dp->rx_bufs[i];
			dp->rx_msgs[i].len = WG_DP_BUF_LEN;
		}
		r = wg_udp_recv_batch(dev->udp, fd, dp->rx_msgs, dp->n_rx);
		if (r <= 0)
			break;
		dev->stats.udp_rx_batches++;
		for (int i = 0; i < r; i++)
			done += receive_msg(dev, &dp->rx_msgs[i]);
		batch_end(dev);
		if (r < dp->n_rx)
			break; /* drained */
	}
	dp->in_batch--;
	wg_obs_take_icmp(dev);
	wg_dp_busy(dev);
	return r < 0 && r != -EAGAIN ? r : 0;
}
