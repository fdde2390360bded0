/* Anti-replay sliding window in the style of RFC 6479: a ring of 64-bit
 * words covering WG_COUNTER_WINDOW_BITS counters, of which the newest
 * WG_COUNTER_WINDOW_SIZE (8128) are accepted out of order. */
#ifndef WGD_REPLAY_H
#define WGD_REPLAY_H

#include <stdbool.h>
#include <stdint.h>

#include "constants.h"

#define WG_REPLAY_WORDS (WG_COUNTER_WINDOW_BITS / 64)

struct wg_replay {
	uint64_t next; /* one past the greatest counter accepted so far */
	uint64_t bitmap[WG_REPLAY_WORDS];
};

void wg_replay_init(struct wg_replay *r);
/* Call only after the packet authenticated. Returns true and records the
 * counter if it is new and inside the window; false for a duplicate, a
 * counter too old for the window, or one >= WG_REJECT_AFTER_MESSAGES. */
bool wg_replay_check(struct wg_replay *r, uint64_t counter);

#endif
