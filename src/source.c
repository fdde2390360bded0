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

static void egress_found(struct wg_peer *peer, unsigned int ifindex)
{
	peer->src_cfg.egress_ifindex = ifindex;
	peer->src_cfg.egress_looked_ns = wg_dev_now(peer->dev);
}

static void egress_lookup(struct wg_peer *peer)
{
	egress_found(peer, wg_udp_ifindex(peer->src_cfg.egress));
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
	const struct wg_addr_pair *bind = &peer->dev->bind;
	struct wg_endpoint *ep = &peer->endpoint;

	if (!s->active)
		return;
	memset(&ep->src6, 0, sizeof(ep->src6));
	ep->has_src = false;
	/* A bound family sends from its bind address: a peer source of that
	 * family would draw replies to an address nothing listens on. */
	if (ep->addr.sa.sa_family == AF_INET && s->addr.has_v4 && !bind->has_v4) {
		ep->src4 = s->addr.v4;
		ep->has_src = true;
	} else if (ep->addr.sa.sa_family == AF_INET6 && s->addr.has_v6 && !bind->has_v6) {
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

/* The address a send to the peer leaves from when it is not the kernel's
 * choice: the pinned source, else the bind address of the family. */
static bool chosen_source(const struct wg_peer *peer, struct wg_addr_pair *one, bool *is_bind)
{
	const struct wg_endpoint *ep = &peer->endpoint;
	const struct wg_addr_pair *bind = &peer->dev->bind;
	bool v4 = ep->addr.sa.sa_family == AF_INET;

	memset(one, 0, sizeof(*one));
	one->has_v4 = v4;
	one->has_v6 = !v4;
	*is_bind = !(ep->pinned && ep->has_src);
	if (!*is_bind) {
		if (v4)
			one->v4 = ep->src4;
		else
			one->v6 = ep->src6;
		return true;
	}
	one->v4 = bind->v4;
	one->v6 = bind->v6;
	return v4 ? bind->has_v4 : bind->has_v6;
}

/* Whether the source is absent from the host: asked of the system at
 * most once a second per peer, since a failing data path asks per train. */
static bool source_absent(struct wg_peer *peer, const struct wg_addr_pair *one)
{
	struct wg_peer_source *s = &peer->src_cfg;
	uint64_t now = wg_dev_now(peer->dev);

	if (!s->absent_looked_ns || now - s->absent_looked_ns >= WG_NSEC_PER_SEC) {
		s->absent = wg_udp_addr_present(peer->dev->udp, one) == 0;
		s->absent_looked_ns = now;
	}
	return s->absent;
}

/* Reason codes of refusals; each has its own log limiter, so a missing
 * interface cannot hide a missing address. */
enum reason { EGRESS_ABSENT, BIND_ABSENT, SOURCE_ABSENT, EGRESS_UNREACHABLE, NOT_OURS };
static const char *const reason_code[WG_SOURCE_REASONS] = {"egress-absent", "bind-absent",
							   "source-absent", "egress-unreachable"};

/* Which setting made the send impossible, with its explanation; NOT_OURS
 * when the failure is not theirs. Linux refuses an absent source with
 * ENETUNREACH (no route from it) as well as EINVAL or EADDRNOTAVAIL, so
 * the address itself is checked. */
static enum reason refusal(struct wg_peer *peer, int err, char *why, size_t len)
{
	const struct wg_endpoint *ep = &peer->endpoint;
	const char *egress = peer->src_cfg.egress;
	struct wg_addr_pair one;
	char a[WG_ADDR_PAIR_STRLEN];
	bool is_bind;

	if (ep->pinned && (ep->egress_down || err == -ENODEV || err == -ENXIO)) {
		snprintf(why, len, "interface %s does not exist", egress);
		return EGRESS_ABSENT;
	}
	if (err != -EADDRNOTAVAIL && err != -EINVAL && err != -ENETUNREACH)
		return NOT_OURS;
	if (chosen_source(peer, &one, &is_bind) && source_absent(peer, &one)) {
		snprintf(why, len, "%s%s is not an address of this host",
			 is_bind ? "bind address " : "", wg_addr_pair_format(&one, a, sizeof(a)));
		return is_bind ? BIND_ABSENT : SOURCE_ABSENT;
	}
	if (ep->pinned && ep->src_ifindex && err == -ENETUNREACH) {
		snprintf(why, len, "no route to it through %s", egress);
		return EGRESS_UNREACHABLE;
	}
	return NOT_OURS;
}

bool wg_source_send_failed(struct wg_peer *peer, int err)
{
	struct wg_device *dev = peer->dev;
	char why[WG_ADDR_PAIR_STRLEN + WG_IFNAMSIZ + 64], ep[WG_SOCKADDR_STRLEN];
	char name[WG_LOG_KEY_LEN];
	enum reason r = refusal(peer, err, why, sizeof(why));

	if (r == NOT_OURS)
		return false;
	dev->stats.udp_send_source_refused++;
	if (r == EGRESS_ABSENT &&
	    wg_dev_now(dev) - peer->src_cfg.egress_looked_ns >= EGRESS_LOOKUP_NS) {
		egress_lookup(peer);
		wg_source_apply(peer);
	}
	if (wg_log_limit_allow(&dev->source_limits[r], dev->now_ns))
		wg_log_warning("peer %s: not sent to %s: [%s] %s", wg_peer_name(peer, name),
			       wg_sockaddr_format(&peer->endpoint.addr, ep, sizeof(ep)),
			       reason_code[r], why);
	return true;
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

int wg_source_check(const struct wg_uapi_peer *sp, const struct wg_addr_pair *bind)
{
	if (sp->ext && sp->ext->egress[0] && !wg_udp_can_pin_egress())
		return -EOPNOTSUPP;
	if (sp->ext && sp->ext->has_source && wg_addr_pair_contradicts(&sp->ext->source, bind))
		return -EINVAL;
	return 0;
}

/* Peers share a few uplinks: the first names met are asked of the system
 * once per call, not once per peer. */
#define LINKS_REMEMBERED 8

struct seen_link {
	const char *name;
	unsigned int ifindex;
};

void wg_source_links_changed(struct wg_device *dev)
{
	struct seen_link seen[LINKS_REMEMBERED];
	size_t n = 0, i;

	for (struct wg_peer *p = dev->peers_head; p; p = p->list_next) {
		const char *name = p->src_cfg.egress;
		if (!name[0])
			continue;
		for (i = 0; i < n && strcmp(seen[i].name, name); i++)
			;
		if (i == n && n < LINKS_REMEMBERED)
			seen[n++] = (struct seen_link){name, wg_udp_ifindex(name)};
		egress_found(p, i < n ? seen[i].ifindex : wg_udp_ifindex(name));
		wg_source_apply(p);
	}
}

void wg_source_rebound(struct wg_device *dev)
{
	for (struct wg_peer *p = dev->peers_head; p; p = p->list_next)
		wg_source_apply(p);
}
