/* Per-peer and reject records for metrics and diagnosis (observe.h). */
#include "observe.h"

#include <string.h>

#include "wgd/platform/udp.h"

void wg_obs_initiation_sent(struct wg_peer *peer)
{
	struct wg_peer_stats *st = &peer->st;

	st->initiations_sent++;
	st->last_initiation_sent_mono_ns = peer->dev->now_ns;
	if (!st->unanswered_since_mono_ns)
		st->unanswered_since_mono_ns = peer->dev->now_ns;
}

void wg_obs_initiation_received(struct wg_peer *peer)
{
	peer->dev->stats.initiations_received++;
	peer->st.initiations_received++;
	peer->st.last_initiation_rx_mono_ns = peer->dev->now_ns;
}

void wg_obs_response_sent(struct wg_peer *peer)
{
	peer->st.responses_sent++;
}

void wg_obs_response_received(struct wg_peer *peer)
{
	peer->dev->stats.responses_received++;
	peer->st.responses_received++;
	peer->st.last_response_rx_mono_ns = peer->dev->now_ns;
}

void wg_obs_cookie_reply_received(struct wg_peer *peer)
{
	peer->dev->stats.cookie_replies_received++;
	peer->st.cookie_replies_received++;
}

void wg_obs_session(struct wg_peer *peer)
{
	peer->dev->stats.sessions_created++;
	peer->st.sessions_created++;
}

void wg_obs_handshake_complete(struct wg_peer *peer)
{
	peer->st.unanswered_since_mono_ns = 0;
}

void wg_obs_rx(struct wg_peer *peer, bool data)
{
	peer->st.last_rx_mono_ns = peer->dev->now_ns;
	if (data)
		peer->st.last_data_rx_mono_ns = peer->dev->now_ns;
}

void wg_obs_endpoint_changed(struct wg_peer *peer)
{
	peer->dev->stats.endpoint_changes++;
	peer->st.endpoint_changes++;
}

void wg_obs_send_failed(struct wg_peer *peer, int err)
{
	peer->st.send_errors++;
	peer->st.last_send_error_mono_ns = peer->dev->now_ns;
	peer->st.last_send_errno = -err;
}

void wg_obs_reject(struct wg_device *dev, const union wg_sockaddr *from, int reason)
{
	struct wg_reject *r = NULL;

	for (size_t i = 0; i < WG_REJECTS && !r; i++)
		if (dev->rejects[i].reason == reason && dev->rejects[i].from.sa.sa_family &&
		    wg_sockaddr_equal(&dev->rejects[i].from, from))
			r = &dev->rejects[i];
	if (!r) {
		r = &dev->rejects[dev->rejects_next];
		dev->rejects_next = (dev->rejects_next + 1) % WG_REJECTS;
		memset(r, 0, sizeof(*r));
		r->from = *from;
		r->reason = reason;
	}
	r->count++;
	r->last_mono_ns = dev->now_ns;
}

/* ICMP errors matched to a peer per second: the match walks the peers,
 * and errors can be forged by anyone on the path. Beyond it they are only
 * counted for the device. */
#define ICMP_MATCHES_PER_SECOND 64

/* The peer whose endpoint is dest: a linear walk, within the budget. */
static struct wg_peer *peer_at(struct wg_device *dev, const union wg_sockaddr *dest)
{
	if (dev->now_ns - dev->icmp_window_ns >= WG_NSEC_PER_SEC) {
		dev->icmp_window_ns = dev->now_ns;
		dev->icmp_matched = 0;
	}
	if (dev->icmp_matched >= ICMP_MATCHES_PER_SECOND)
		return NULL;
	dev->icmp_matched++;
	for (struct wg_peer *p = dev->peers_head; p; p = p->list_next)
		if (wg_sockaddr_equal(&p->endpoint.addr, dest))
			return p;
	return NULL;
}

void wg_obs_icmp(struct wg_device *dev, const union wg_sockaddr *dest, int kind)
{
	struct wg_peer *peer = peer_at(dev, dest);

	if (kind == WG_UDP_ICMP_PORT_UNREACHABLE)
		dev->stats.icmp_port_unreachable++;
	else if (kind == WG_UDP_ICMP_HOST_UNREACHABLE)
		dev->stats.icmp_host_unreachable++;
	else
		dev->stats.icmp_other++;
	if (!peer)
		return;
	if (kind == WG_UDP_ICMP_PORT_UNREACHABLE)
		peer->st.icmp_port_unreachable++;
	else if (kind == WG_UDP_ICMP_HOST_UNREACHABLE)
		peer->st.icmp_host_unreachable++;
	else
		peer->st.icmp_other++;
	peer->st.last_icmp_mono_ns = dev->now_ns;
	peer->st.last_icmp_kind = kind;
}

void wg_obs_take_icmp(struct wg_device *dev)
{
	struct wg_udp_icmp e[16];
	int n;

	while (dev->udp && (n = wg_udp_take_icmp(dev->udp, e, 16)) > 0)
		for (int i = 0; i < n; i++)
			wg_obs_icmp(dev, &e[i].dest, e[i].kind);
}
