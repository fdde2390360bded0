/* Where packets to a peer leave from: the wgd extensions wgd_source (a
 * source address per family) and wgd_egress (an interface), pinned onto
 * the peer's endpoint so every send path (handshakes, keepalives, data
 * trains) honours them, and what a send they made impossible tells the
 * operator. The device's bind address (wgd_bind) lives in the socket;
 * its refusals are reported here too. Engine-internal. */
#ifndef WGD_SOURCE_H
#define WGD_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wgd/addr.h"
#include "wgd/uapi.h"

struct wg_peer;
struct wg_device;

/* Reason codes of refused sends, each with its own log limiter:
 * egress-absent, bind-absent, source-absent, egress-unreachable. */
#define WG_SOURCE_REASONS 4

struct wg_peer_source {
	struct wg_addr_pair addr;    /* configured source addresses */
	char egress[WG_IFNAMSIZ];    /* configured interface, "" = none */
	unsigned int egress_ifindex; /* 0: not found (last time we looked) */
	uint64_t egress_looked_ns;   /* when we last looked it up */
	uint64_t absent_looked_ns;   /* when a refused source was last checked */
	bool absent;		     /* and whether it was absent then */
	bool active;		     /* either is set */
};

/* Takes a set's wgd_source/wgd_egress for the peer (whichever the
 * section has) and pins them onto its endpoint. */
void wg_source_configure(struct wg_peer *peer, const struct wg_uapi_peer *sp);
/* Re-pins after the endpoint changed (set, roaming): the configured source
 * of the endpoint's family and the egress interface replace what was
 * learned; without configuration the endpoint is left as it is. */
void wg_source_apply(struct wg_peer *peer);
/* Handshake retries let the kernel choose the source anew: a learned one
 * only, never a configured one. */
void wg_source_forget_learned(struct wg_peer *peer);
/* A send to the peer failed with err: counts and reports (rate-limited
 * warning with a reason code) a refusal caused by a configured source,
 * egress interface or bind address, and looks the egress interface up
 * again (at most once a second) when it may have come back. True if the
 * refusal was one of those (reported here). */
bool wg_source_send_failed(struct wg_peer *peer, int err);
/* Whether a set's section may be applied with the device bound to bind
 * (after the set): 0, -EINVAL for a source of a bound family other than
 * the bind address, -EOPNOTSUPP for an egress interface this OS cannot
 * pin. No configured source ever conflicts with the bind address: the
 * plan also refuses a bind change that a kept source rules out. */
int wg_source_check(const struct wg_uapi_peer *sp, const struct wg_addr_pair *bind);
/* Interfaces came, went or were renamed: every egress interface is looked
 * up again, so one recreated under its name (a PPP link coming back) is
 * used at once and a renamed one no longer. */
void wg_source_links_changed(struct wg_device *dev);
/* The bind addresses changed: re-pins every configured peer. */
void wg_source_rebound(struct wg_device *dev);
/* The wgd_source/wgd_egress lines of a get, when set. */
void wg_source_put(const struct wg_peer *peer, struct wg_uapi_writer *w);

#endif
