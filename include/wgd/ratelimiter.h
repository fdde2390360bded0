/* Per-source token bucket for handshake messages under load:
 * WG_RATELIMIT_PACKETS_PER_SECOND with a burst of WG_RATELIMIT_BURST.
 * IPv4 sources are keyed by address, IPv6 by their /64. Memory is bounded
 * by max_entries; entries idle for a second are expired by wg_ratelimiter_gc. */
#ifndef WGD_RATELIMITER_H
#define WGD_RATELIMITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

struct wg_ratelimiter;

/* max_entries 0 means WG_RATELIMIT_MAX_ENTRIES. NULL on allocation failure. */
struct wg_ratelimiter *wg_ratelimiter_new(size_t max_entries);
void wg_ratelimiter_free(struct wg_ratelimiter *rl);
/* Takes one token for src at time now_ns; false if the source is over its
 * rate or the table is full. */
bool wg_ratelimiter_allow(struct wg_ratelimiter *rl, const union wg_sockaddr *src, uint64_t now_ns);
/* As allow, but a source the full table has no room for passes (untracked:
 * the caller bounds those in another way). */
bool wg_ratelimiter_allow_unlisted(struct wg_ratelimiter *rl, const union wg_sockaddr *src,
				   uint64_t now_ns);
/* Whether allow would take a token now, without taking it or adding the
 * source: a caller can skip costly checks for a source over its rate and
 * still spend tokens only on messages that pass them. */
bool wg_ratelimiter_would_allow(const struct wg_ratelimiter *rl, const union wg_sockaddr *src,
				uint64_t now_ns);
/* Drops entries idle for more than a second. Cheap enough to call on every
 * cookie-secret rotation or from a timer. */
void wg_ratelimiter_gc(struct wg_ratelimiter *rl, uint64_t now_ns);
size_t wg_ratelimiter_count(const struct wg_ratelimiter *rl);

#endif
