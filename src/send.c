/* Outbound path: IP packet from the TUN -> allowed ips (destination) ->
 * peer -> seal with the current session, or stage and start a handshake.
 * Also every handshake message we send, and ICMP errors back to the TUN. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "aead.h"
#include "wgd/crypto.h"
#include "datapath.h"
#include "dev.h"
#include "observe.h"
#include "send.h"
#include "wgd/ip.h"
#include "wgd/platform/batch.h"
#include "wgd/platform/tun.h"
#include "wgd/platform/udp.h"

#define IPV4_HDR_LEN 20
#define IPV6_HDR_LEN 40

/* --- ICMP "unreachable" back to the TUN --- */

/* The kernel's way (icmp_ndo_send): the error leaves as this host's own
 * packet, routing picks its source, and the quoted packet shows the
 * source it had before our source NAT. False where the platform cannot. */
static bool send_unreachable_local(struct wg_device *dev, int family, const uint8_t *pkt,
				   size_t len)
{
	uint8_t quoted[WG_ICMP_MAX_LEN], out[WG_ICMP_MAX_LEN], src[16];
	size_t qlen = len < sizeof(quoted) ? len : sizeof(quoted);
	int ret;

	if (!dev->tun)
		return false;
	ret = wg_tun_unnat_source(dev->tun, family, pkt, len, src);
	if (ret == -EOPNOTSUPP)
		return false;
	memcpy(quoted, pkt, qlen);
	/* pkt is parsed: its IPv4 header (<= 60 bytes) is all quoted. */
	if (ret == 0 && family == AF_INET && qlen >= IPV4_HDR_LEN) {
		memcpy(quoted + 12, src, 4);
		wg_ip4_header_csum(quoted);
	} else if (ret == 0 && family == AF_INET6 && qlen >= IPV6_HDR_LEN) {
		memcpy(quoted + 8, src, 16);
	}
	return wg_tun_send_icmp(dev->tun, out, wg_icmp_unreachable(out, family, quoted, qlen)) == 0;
}

static void send_unreachable(struct wg_device *dev, int family, const uint8_t *pkt, size_t len)
{
	uint8_t out[WG_ICMP_MAX_LEN];
	size_t n;

	if (!wg_icmp_may_answer(family, pkt, len))
		return;
	if (!wg_log_limit_allow(&dev->icmp_limit, wg_dev_now(dev))) {
		dev->stats.icmp_ratelimited++;
		return;
	}
	if (send_unreachable_local(dev, family, pkt, len)) {
		dev->stats.icmp_sent++;
		return;
	}
	/* Into the TUN, from the unreachable destination. */
	n = wg_icmp_unreachable(out, family, pkt, len);
	if (wg_dev_tun_write(dev, out, n) < 0)
		dev->stats.tun_write_errors++;
	else
		dev->stats.icmp_sent++;
}

/* --- data messages --- */

/* A refusal the operator's source settings explain is a warning of its
 * own (source.c); anything else a verbose line. */
static void send_failed(struct wg_peer *peer, int err)
{
	char ep[WG_SOCKADDR_STRLEN];

	/* A full device queue (with IP_RECVERR on, Linux reports its drops):
	 * congestion, counted for the device only, not a refused peer. */
	if (err == -ENOBUFS)
		return;
	wg_obs_send_failed(peer, err);
	if (!wg_source_send_failed(peer, err) && wg_dev_log_ok(peer->dev, WG_LOGR_SEND))
		wg_log_verbose("send to %s failed: %s",
			       wg_sockaddr_format(&peer->endpoint.addr, ep, sizeof(ep)),
			       strerror(-err));
}

int wg_send_to_peer(struct wg_peer *peer, const uint8_t *msg, size_t len)
{
	struct wg_device *dev = peer->dev;
	int ret = dev->udp ? wg_udp_send(dev->udp, &peer->endpoint, msg, len) : -ENOTCONN;

	wg_obs_take_icmp(dev);

	if (ret == 0) {
		peer->tx_bytes += len;
		return 0;
	}
	dev->stats.udp_send_errors++;
	send_failed(peer, ret);
	return ret;
}

/* Pads to a multiple of 16 without exceeding the MTU (a packet already
 * over the MTU is not padded). */
static size_t padded_len(size_t len, size_t mtu)
{
	size_t padded = (len + WG_PADDING_MULTIPLE - 1) & ~(size_t)(WG_PADDING_MULTIPLE - 1);

	if (len > mtu)
		return len;
	return padded > mtu ? mtu : padded;
}

/* The MTU padding stays under: the kernel's is the MTU of the route the
 * packet took (its dst), which is the device's unless the route sets one.
 * We see the packet after routing, so ask for the route to its
 * destination; the smaller MTU wins. exact: a packet already a multiple
 * of 16 needs no answer (only this packet is padded with it). */
static size_t pad_mtu(struct wg_device *dev, const uint8_t *pkt, size_t len, bool exact)
{
	size_t mtu = (size_t)wg_dev_mtu(dev), ip_len;
	const uint8_t *src, *dst;
	int family, route;

	if (!dev->tun || (exact && len % WG_PADDING_MULTIPLE == 0) ||
	    wg_ip_parse(pkt, len, &family, &ip_len, &src, &dst) < 0)
		return mtu;
	route = wg_tun_route_mtu(dev->tun, family, dst, wg_dev_now(dev));
	return route > 0 && (size_t)route < mtu ? (size_t)route : mtu;
}

static void after_send(struct wg_peer *peer, bool data_sent)
{
	wg_timers_any_authenticated_packet_traversal(peer);
	wg_timers_any_authenticated_packet_sent(peer);
	if (data_sent)
		wg_timers_data_sent(peer);
	wg_send_keep_key_fresh(peer);
}

void wg_send_keep_key_fresh(struct wg_peer *peer)
{
	struct wg_peer_keypair *kp = peer->kp_current;
	uint64_t now = wg_dev_now(peer->dev);

	if (!kp)
		return;
	if (kp->kp.sending_counter > WG_REKEY_AFTER_MESSAGES ||
	    (kp->kp.is_initiator && now - kp->kp.birthdate_ns >= WG_REKEY_AFTER_TIME))
		wg_send_handshake_initiation(peer, false);
}

/* Seals padded bytes of plain into msg now, or with crypto threads leaves
 * the AEAD to the flush, which runs the batch's jobs in parallel (plain
 * stays until then: the read buffers are reused only after a flush). */
static int seal_or_queue(struct wg_dp *dp, struct wg_peer_keypair *kp, struct wg_msg_data *msg,
			 const uint8_t *plain, size_t padded)
{
	struct wg_crypto_job *j;
	uint64_t counter;

	if (!dp->workers)
		return wg_dp_seal(&kp->kp, msg, plain, padded);
	if (wg_noise_seal_header(&kp->kp, msg, &counter) < 0)
		return -EKEYEXPIRED;
	j = &dp->jobs[dp->n_jobs++];
	j->buf = msg->payload;
	j->src = plain;
	j->len = (uint32_t)padded;
	j->counter = counter;
	j->key = kp->kp.sending_key;
	j->op = WG_JOB_SEAL;
	return 0;
}

/* Room for a message of len bytes in peer's train, after sending the
 * batch if it is full; NULL if the message can never fit (too big). */
static struct wg_msg_data *reserve(struct wg_device *dev, struct wg_peer *peer, size_t len)
{
	uint8_t *slot = wg_dp_tx_reserve(dev->dp, peer, len);

	if (!slot) {
		wg_send_flush(dev);
		slot = wg_dp_tx_reserve(dev->dp, peer, len);
	}
	return (struct wg_msg_data *)slot;
}

/* Seals one staged packet (or a keepalive: len 0) into its peer's train.
 * -EKEYEXPIRED: the session is used up, the packet stays staged. */
static int seal_staged(struct wg_device *dev, struct wg_peer *peer, struct wg_peer_keypair *kp,
		       const struct wg_staged *s)
{
	size_t padded = padded_len(s->len, pad_mtu(dev, s->data, s->len, true));
	size_t msg_len = WG_MSG_DATA_HEADER_LEN + padded + WG_AEAD_TAG_LEN;
	struct wg_msg_data *msg = reserve(dev, peer, msg_len);

	if (!msg) {
		dev->stats.udp_send_errors++;
		return -EMSGSIZE;
	}
	if (s->len)
		memcpy(msg->payload, s->data, s->len);
	memset(msg->payload + s->len, 0, padded - s->len);
	if (seal_or_queue(dev->dp, kp, msg, msg->payload, padded) < 0)
		return -EKEYEXPIRED;
	wg_dp_tx_commit(dev->dp, peer, msg_len, s->len > 0);
	if (s->len)
		dev->stats.data_packets_sent++;
	else
		dev->stats.keepalives_sent++;
	return 0;
}

void wg_send_staged(struct wg_peer *peer)
{
	struct wg_device *dev = peer->dev;
	struct wg_peer_keypair *kp = wg_peer_sending_keypair(peer, wg_dev_now(dev));
	struct wg_staged *s;

	if (!kp) {
		wg_send_handshake_initiation(peer, false);
		return;
	}
	while ((s = wg_peer_unstage(peer))) {
		if (seal_staged(dev, peer, kp, s) == -EKEYEXPIRED) {
			wg_peer_restage_front(peer, s);
			wg_send_handshake_initiation(peer, false);
			break;
		}
		wg_staged_free(s);
	}
	/* Outside a batch (timers, handshakes, configuration) the train
	 * leaves now: a later event may end the session it was sealed with. */
	if (!dev->dp->in_batch)
		wg_send_flush(dev);
}

void wg_send_keepalive(struct wg_peer *peer)
{
	if (peer->n_staged == 0 && wg_peer_stage(peer, NULL, 0) < 0)
		return;
	wg_send_staged(peer);
}

static void drop_no_endpoint(struct wg_peer *peer)
{
	char name[WG_LOG_KEY_LEN];

	peer->dev->stats.tun_no_endpoint++;
	if (wg_dev_log_ok(peer->dev, WG_LOGR_NO_ENDPOINT))
		wg_log_verbose("no endpoint for peer %s: dropping packet",
			       wg_peer_name(peer, name));
}

static void log_no_peer(struct wg_device *dev, int family, const uint8_t *dst)
{
	char addr[INET6_ADDRSTRLEN];

	if (!wg_dev_log_ok(dev, WG_LOGR_TUN))
		return;
	inet_ntop(family, dst, addr, sizeof(addr));
	wg_log_verbose("no peer has an allowed ip covering %s: packet dropped", addr);
}

/* --- packets read from the TUN, sealed into trains --- */

/* What the packets of one TUN event share while their destination stays
 * the same (the packets of a super-packet all do): the route, the MTU to
 * pad under and the sending keypair. Nothing changes them meanwhile: the
 * configuration and the handshakes have their own events. */
struct tx_route {
	bool valid;
	int family;
	uint8_t dst[16];
	struct wg_peer *peer; /* NULL: the packets are dropped */
	uint64_t *drop;	      /* then: the counter of why */
	struct wg_peer_keypair *kp;
	size_t mtu;
	bool staged; /* packets were staged: send or start a handshake after */
};

/* The route ends: staged packets go out or wait for a handshake. */
static void route_end(struct tx_route *r)
{
	if (r->valid && r->staged)
		wg_send_staged(r->peer);
	r->valid = r->staged = false;
}

/* Finds the peer for a destination (the first packet of a run); an
 * unreachable one gets one ICMP error per run. */
static struct wg_peer *route_lookup(struct wg_device *dev, struct tx_route *r, const uint8_t *pkt,
				    size_t ip_len)
{
	struct wg_aip_owner *owner = wg_allowedips_lookup(&dev->aips, r->family, r->dst);
	struct wg_peer *peer;

	if (!owner && wg_ip_is_multicast(r->family, r->dst)) {
		/* Router solicitations, mDNS: the host's own chatter, not a
		 * missing peer. */
		r->drop = &dev->stats.multicast_dropped;
		dev->stats.multicast_dropped++;
		return NULL;
	}
	if (!owner) {
		r->drop = &dev->stats.tun_no_peer;
		dev->stats.tun_no_peer++;
		log_no_peer(dev, r->family, r->dst);
		send_unreachable(dev, r->family, pkt, ip_len);
		return NULL;
	}
	peer = wg_container_of(owner, struct wg_peer, aips);
	if (!wg_peer_has_endpoint(peer)) {
		r->drop = &dev->stats.tun_no_endpoint;
		drop_no_endpoint(peer);
		return NULL;
	}
	return peer;
}

/* The peer for a TUN packet; NULL after dealing with the packet
 * (unreachable, no endpoint, garbage). */
static struct wg_peer *route(struct wg_device *dev, struct tx_route *r, const uint8_t *pkt,
			     size_t len, size_t *ip_len)
{
	size_t alen;
	const uint8_t *src, *dst;
	int family;

	if (wg_ip_parse(pkt, len, &family, ip_len, &src, &dst) < 0) {
		dev->stats.tun_garbage++;
		return NULL;
	}
	alen = family == AF_INET ? 4 : 16;
	if (!r->valid || r->family != family || memcmp(r->dst, dst, alen) != 0) {
		route_end(r);
		r->valid = true;
		r->family = family;
		memcpy(r->dst, dst, alen);
		r->peer = route_lookup(dev, r, pkt, *ip_len);
		r->mtu = r->peer ? pad_mtu(dev, pkt, *ip_len, false) : 0;
		r->kp = r->peer && !r->peer->n_staged
				? wg_peer_sending_keypair(r->peer, wg_dev_now(dev))
				: NULL;
		return r->peer;
	}
	if (!r->peer)
		(*r->drop)++;
	return r->peer;
}

/* Seals a packet (with WG_DP_RD_TAIL bytes of room after it) into its
 * peer's train. -EKEYEXPIRED: the session is used up; -EMSGSIZE: dropped,
 * too big to send. */
static int seal_packet(struct wg_device *dev, struct tx_route *r, uint8_t *pkt, size_t len)
{
	size_t padded = padded_len(len, r->mtu);
	size_t msg_len = WG_MSG_DATA_HEADER_LEN + padded + WG_AEAD_TAG_LEN;
	struct wg_msg_data *msg = reserve(dev, r->peer, msg_len);

	if (!msg) {
		dev->stats.udp_send_errors++;
		return -EMSGSIZE;
	}
	memset(pkt + len, 0, padded - len);
	if (seal_or_queue(dev->dp, r->kp, msg, pkt, padded) < 0)
		return -EKEYEXPIRED;
	wg_dp_tx_commit(dev->dp, r->peer, msg_len, true);
	dev->stats.data_packets_sent++;
	return 0;
}

/* Packets of one TUN event, r shared by all its reads. */
static void send_run(struct wg_device *dev, struct tx_route *r, struct wg_pkt *pkts, int n)
{
	size_t ip_len;

	for (int i = 0; i < n; i++) {
		struct wg_peer *peer = route(dev, r, pkts[i].data, pkts[i].len, &ip_len);
		if (!peer)
			continue;
		if (r->kp && !peer->n_staged &&
		    seal_packet(dev, r, pkts[i].data, ip_len) != -EKEYEXPIRED)
			continue;
		/* No session (or it is used up): the packet waits. */
		r->kp = NULL;
		r->staged |= wg_peer_stage(peer, pkts[i].data, ip_len) == 0;
	}
}

void wg_send_packets(struct wg_device *dev, struct wg_pkt *pkts, int n)
{
	struct tx_route r = {0};

	send_run(dev, &r, pkts, n);
	route_end(&r);
}

/* TUN reads per event: up to 64, but no more than 1 MiB, before the
 * trains go out and UDP gets its turn. */
#define TUN_READS 64
#define TUN_BYTES (1 << 20)

/* One read into the free part of the read buffers; 0 when they are full
 * (then the trains sealed from them go out and they are free again). */
static int read_some(struct wg_device *dev, struct tx_route *r, size_t *bytes)
{
	struct wg_dp *dp = dev->dp;
	struct wg_pkt *last;
	int n = wg_tun_read_batch(dev->tun, dp->rd + dp->rd_used, dp->rd_len - dp->rd_used,
				  WG_DP_RD_TAIL, dp->rd_pkts, WG_DP_RD_PKTS);

	if (n == 0 && dp->rd_used) {
		wg_send_flush(dev);
		dp->rd_used = 0;
		n = wg_tun_read_batch(dev->tun, dp->rd, dp->rd_len, WG_DP_RD_TAIL, dp->rd_pkts,
				      WG_DP_RD_PKTS);
	}
	if (n <= 0)
		return n == 0 ? -EMSGSIZE : n;
	last = &dp->rd_pkts[n - 1];
	dp->rd_used = (size_t)(last->data + last->len + WG_DP_RD_TAIL - dp->rd);
	for (int i = 0; i < n; i++)
		*bytes += dp->rd_pkts[i].len;
	dev->stats.tun_rx_packets += (uint64_t)n;
	dev->stats.tun_rx_batches++;
	send_run(dev, r, dp->rd_pkts, n);
	return n;
}

int wg_send_read_tun(struct wg_device *dev)
{
	struct wg_dp *dp = dev->dp;
	struct tx_route r = {0};
	size_t bytes = 0;
	int ret = 0;

	dp->in_batch++;
	/* Over budget, a super-packet's last packets are still taken: the
	 * descriptor would not wake us for them. */
	for (int i = 0; (i < TUN_READS && bytes < TUN_BYTES) || wg_tun_read_pending(dev->tun);
	     i++) {
		int n = read_some(dev, &r, &bytes);
		if (n == -EBADMSG) {
			dev->stats.tun_garbage++;
			continue;
		}
		if (n == -EAGAIN || n == -ENODEV) {
			ret = n == -ENODEV ? n : 0;
			break;
		}
		if (n < 0) {
			dev->stats.tun_read_errors++;
			break;
		}
	}
	route_end(&r);
	wg_send_flush(dev);
	dp->rd_used = 0;
	dp->in_batch--;
	return ret;
}

/* One train per peer run: timers and rekey checks once per train. */
static void train_done(struct wg_device *dev, const struct wg_dp_train *t, int err)
{
	struct wg_peer *peer = t->peer;

	if (err == 0) {
		peer->tx_bytes += t->len;
	} else {
		dev->stats.udp_send_errors += t->nseg;
		send_failed(peer, err);
	}
	after_send(peer, err == 0 && t->data > 0);
}

void wg_send_flush(struct wg_device *dev)
{
	struct wg_dp *dp = dev->dp;
	int n = dp ? dp->n_trains : 0;

	if (!n)
		return;
	if (dp->n_jobs) {
		wg_workers_run(dp->workers, dp->jobs, dp->n_jobs);
		dp->n_jobs = 0;
	}
	for (int i = 0; i < n; i++) {
		struct wg_dp_train *t = &dp->trains[i];
		dp->tx_msgs[i] = (struct wg_udp_msg){
			.buf = t->buf,
			.len = t->len,
			.seg = t->nseg > 1 ? t->seg : 0,
			.to = &t->peer->endpoint,
			.err = -ENOTCONN,
		};
		dev->stats.udp_tx_segments += t->nseg;
	}
	dev->stats.udp_tx_trains += (uint64_t)n;
	if (dev->udp)
		wg_udp_send_batch(dev->udp, dp->tx_msgs, n);
	/* Reset first: a rekey check may send (directly, not by train). */
	wg_dp_tx_reset(dp);
	wg_obs_take_icmp(dev);
	for (int i = 0; i < n; i++)
		train_done(dev, &dp->trains[i], dp->tx_msgs[i].err);
}

/* --- handshake messages --- */

static bool may_send_initiation(struct wg_peer *peer, uint64_t now)
{
	struct wg_device *dev = peer->dev;
	char name[WG_LOG_KEY_LEN];

	if (peer->has_sent_handshake && now - peer->last_sent_handshake_ns < WG_REKEY_TIMEOUT)
		return false;
	if (!wg_peer_has_endpoint(peer)) {
		if (wg_dev_log_ok(dev, WG_LOGR_NO_ENDPOINT))
			wg_log_verbose("no endpoint for peer %s: cannot start a handshake",
				       wg_peer_name(peer, name));
		return false;
	}
	return dev->id->has_identity && wg_noise_static_usable(&peer->hs);
}

void wg_send_handshake_initiation(struct wg_peer *peer, bool is_retry)
{
	struct wg_device *dev = peer->dev;
	struct wg_msg_initiation msg;
	uint64_t now = wg_dev_now(dev);

	if (!is_retry)
		peer->timers.handshake_attempts = 0;
	if (!may_send_initiation(peer, now) || wg_peer_hs_index_refresh(peer) < 0)
		return;
	if (wg_noise_create_initiation(&msg, &peer->hs, dev->id, peer->hs_entry.index,
				       wg_dev_unix_now(dev)) < 0) {
		wg_peer_hs_index_drop(peer);
		return;
	}
	wg_cookie_add_macs(&peer->cookie, &msg, sizeof(msg), now);
	wg_timers_any_authenticated_packet_traversal(peer);
	wg_timers_any_authenticated_packet_sent(peer);
	peer->last_sent_handshake_ns = now;
	peer->has_sent_handshake = true;
	if (!is_retry)
		peer->timers.attempts_start_ns = now;
	/* New traffic restarts the retries before their timer says it: the
	 * line that timer would write, from here. */
	if (!is_retry && peer->st.unanswered_since_mono_ns &&
	    now - peer->st.unanswered_since_mono_ns >= WG_REKEY_TIMEOUT)
		wg_timers_log_unanswered(peer, 1);
	wg_send_to_peer(peer, (const uint8_t *)&msg, sizeof(msg));
	dev->stats.handshake_initiations_sent++;
	wg_obs_initiation_sent(peer);
	wg_timers_handshake_initiated(peer);
}

void wg_send_handshake_response(struct wg_peer *peer)
{
	struct wg_device *dev = peer->dev;
	struct wg_msg_response msg;
	uint64_t now = wg_dev_now(dev);

	if (wg_peer_hs_index_refresh(peer) < 0)
		return;
	if (wg_noise_create_response(&msg, &peer->hs, peer->hs_entry.index) < 0) {
		wg_peer_hs_index_drop(peer);
		return;
	}
	wg_cookie_add_macs(&peer->cookie, &msg, sizeof(msg), now);
	if (wg_peer_begin_session(peer) < 0)
		return;
	wg_timers_session_derived(peer);
	wg_timers_any_authenticated_packet_traversal(peer);
	wg_timers_any_authenticated_packet_sent(peer);
	peer->last_sent_handshake_ns = now;
	peer->has_sent_handshake = true;
	wg_send_to_peer(peer, (const uint8_t *)&msg, sizeof(msg));
	dev->stats.handshake_responses_sent++;
	wg_obs_response_sent(peer);
}

void wg_send_cookie_reply(struct wg_device *dev, const struct wg_hs_job *job, uint32_t sender_index)
{
	struct wg_msg_cookie_reply reply;
	struct wg_endpoint to = job->from;
	char ep[WG_SOCKADDR_STRLEN];

	if (wg_cookie_reply_create(&reply, &dev->cookie_checker, job->msg, job->len, sender_index,
				   &job->from.addr, wg_dev_now(dev)) < 0)
		return;
	if (wg_dev_log_ok(dev, WG_LOGR_COOKIE))
		wg_log_verbose("sending cookie reply under load to %s",
			       wg_sockaddr_format(&to.addr, ep, sizeof(ep)));
	if (dev->udp && wg_udp_send(dev->udp, &to, (const uint8_t *)&reply, sizeof(reply)) == 0)
		dev->stats.cookie_replies_sent++;
	else
		dev->stats.udp_send_errors++;
}
