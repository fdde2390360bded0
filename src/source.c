/* Configured sources and egress interfaces of peers (source.h). */
#include "source.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "dev.h"
#include "peer.h"
#include "wgd/platform/udp.h"

/* How often a missing egress interface is looked up again while sends
 * keep failing for it. */
#define EGRESS_LOOKUP_NS WG_NSEC_PER_SEC

static void egress_lookup(struct wg_peer *peer)
{
	struct wg_peer_source *s = &peer->src_cfg;

	s->egress_ifindex = wg_udp_ifindex(s->egress);
	s->egress_looked_ns = wg_dev_now(peer->dev);
}

void wg_source_configure(struct wg_peer *peer, const struct wg_uapi_peer *sp)
{
	struct wg_peer_source *s = &peer->src_cfg;
	const struct wg_uapi_peer_ext *x = sp->ext;

	if (!x)
		return;
	if (x->has_source)
		s->addr = x->source;
	if (x->has_egress && strcmp(s->egress, x->egress)) {
		memcpy(s->egress, x->egress, sizeof(s->egress));
		egress_lookup(peer);
	}
	s->active = wg_addr_pair_set(&s->addr) || s->egress[0];
	if (!s->active) {
		/* Unpinned: what was pinned is no learned source. */
		peer->endpoint.pinned = peer->endpoint.egress_down = false;
		peer->endpoint.has_src = false;
		peer->endpoint.src_ifindex = 0;
		return;
	}
	wg_source_apply(peer);
}

void wg_source_apply(struct wg_peer *peer)
{
	const struct wg_peer_source *s = &peer->src_cfg;
	struct wg_endpoint *ep = &peer->endpoint;

	if (!s->active)
		return;
	memset(&ep->src6, 0, sizeof(ep->src6));
	ep->has_src = false;
	if (ep->addr.sa.sa_family == AF_INET && s->addr.has_v4) {
		ep->src4 = s->addr.v4;
		ep->has_src = true;
	} else if (ep->addr.sa.sa_family == AF_INET6 && s->addr.has_v6) {
		ep->src6 = s->addr.v6;
		ep->has_src = true;
	}
	ep->src_ifindex = s->egress[0] ? s->egress_ifindex : 0;
	ep->egress_down = s->egress[0] && !s->egress_ifindex;
	ep->pinned = true;
}

void wg_source_forget_learned(struct wg_peer *peer)
{
	if (!peer->endpoint.pinned)
		peer->endpoint.has_src = false;
}

/* Which setting made the send impossible, as a reason code and its
 * explanation; NULL when the failure is not theirs. */
static const char *refusal(const struct wg_peer *peer, int err, char *why, size_t len)
{
	const struct wg_endpoint *ep = &peer->endpoint;
	struct wg_addr_pair bind;
	char a[WG_ADDR_PAIR_STRLEN];
	struct wg_addr_pair one = {0};
	bool v4 = ep->addr.sa.sa_family == AF_INET;
	bool addr_err = err == -EADDRNOTAVAIL || err == -EINVAL;

	if (ep->pinned && ep->egress_down) {
		snprintf(why, len, "interface %s does not exist", peer->src_cfg.egress);
		return "egress-absent";
	}
	if (ep->pinned && (err == -ENODEV || err == -ENXIO)) {
		snprintf(why, len, "interface %s is gone", peer->src_cfg.egress);
		return "egress-absent";
	}
	if (ep->pinned && ep->src_ifindex && err == -ENETUNREACH) {
		snprintf(why, len, "no route to it through %s", peer->src_cfg.egress);
		return "egress-unreachable";
	}
	if (ep->pinned && ep->has_src && addr_err) {
		one.has_v4 = v4, one.has_v6 = !v4, one.v4 = ep->src4, one.v6 = ep->src6;
		snprintf(why, len, "%s is not an address of this host",
			 wg_addr_pair_format(&one, a, sizeof(a)));
		return "source-absent";
	}
	if (!peer->dev->udp || !addr_err)
		return NULL;
	wg_udp_bind_addrs(peer->dev->udp, &bind);
	if (!(v4 ? bind.has_v4 : bind.has_v6))
		return NULL;
	one.has_v4 = v4, one.has_v6 = !v4, one.v4 = bind.v4, one.v6 = bind.v6;
	snprintf(why, len, "bind address %s is not an address of this host",
		 wg_addr_pair_format(&one, a, sizeof(a)));
	return "bind-absent";
}

void wg_source_send_failed(struct wg_peer *peer, int err)
{
	struct wg_device *dev = peer->dev;
	char why[WG_ADDR_PAIR_STRLEN + WG_IFNAMSIZ + 64], ep[WG_SOCKADDR_STRLEN];
	char name[WG_LOG_KEY_LEN];
	const char *code = refusal(peer, err, why, sizeof(why));

	if (!code)
		return;
	dev->stats.udp_send_source_refused++;
	if (peer->src_cfg.egress[0] && !strcmp(code, "egress-absent") &&
	    wg_dev_now(dev) - peer->src_cfg.egress_looked_ns >= EGRESS_LOOKUP_NS) {
		egress_lookup(peer);
		wg_source_apply(peer);
	}
	if (wg_log_limit_allow(&dev->source_limit, dev->now_ns))
		wg_log_warning("peer %s: not sent to %s: [%s] %s", wg_peer_name(peer, name),
			       wg_sockaddr_format(&peer->endpoint.addr, ep, sizeof(ep)), code, why);
}

void wg_source_put(const struct wg_peer *peer, struct wg_uapi_writer *w)
{
	const struct wg_peer_source *s = &peer->src_cfg;
	char a[WG_ADDR_PAIR_STRLEN];

	if (wg_addr_pair_set(&s->addr))
		wg_uapi_put_str(w, "wgd_source", wg_addr_pair_format(&s->addr, a, sizeof(a)));
	if (s->egress[0])
		wg_uapi_put_str(w, "wgd_egress", s->egress);
}
