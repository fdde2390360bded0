/* Anti-replay window (RFC 6479 style). Bit i of the ring stands for counter
 * i modulo WG_COUNTER_WINDOW_BITS. Only whole words are cleared when the
 * window slides, so the ring is one word larger than the accepted window
 * (8192 bits for 8128 counters): the word holding the oldest acceptable
 * counter may still hold bits of counters already outside the window. */
#include "wgd/replay.h"

#include <string.h>

#define WORD_BITS  64
#define WORD_SHIFT 6

_Static_assert(WG_REPLAY_WORDS > 0 && (WG_REPLAY_WORDS & (WG_REPLAY_WORDS - 1)) == 0,
	       "replay ring must be a power of two of words");
_Static_assert(WG_COUNTER_WINDOW_SIZE == WG_COUNTER_WINDOW_BITS - WORD_BITS,
	       "window must leave one spare word in the ring");

void wg_replay_init(struct wg_replay *r)
{
	memset(r, 0, sizeof(*r));
}

/* Clears the ring words that the window enters when it advances so that
 * counter becomes the greatest: the words after the one holding r->next - 1
 * up to the one holding counter, at most the whole ring. */
static void replay_advance(struct wg_replay *r, uint64_t counter)
{
	uint64_t first = (r->next + WORD_BITS - 1) >> WORD_SHIFT;
	uint64_t last = counter >> WORD_SHIFT;
	uint64_t n, i;

	if (last >= first) {
		n = last - first + 1;
		if (n > WG_REPLAY_WORDS)
			n = WG_REPLAY_WORDS;
		for (i = 0; i < n; i++)
			r->bitmap[(first + i) & (WG_REPLAY_WORDS - 1)] = 0;
	}
	r->next = counter + 1;
}

bool wg_replay_check(struct wg_replay *r, uint64_t counter)
{
	uint64_t *word, bit;

	if (counter >= WG_REJECT_AFTER_MESSAGES)
		return false;
	/* Too old: more than WINDOW_SIZE below the greatest (r->next - 1). */
	if (counter + WG_COUNTER_WINDOW_SIZE + 1 < r->next)
		return false;
	if (counter >= r->next)
		replay_advance(r, counter);

	word = &r->bitmap[(counter >> WORD_SHIFT) & (WG_REPLAY_WORDS - 1)];
	bit = 1ULL << (counter & (WORD_BITS - 1));
	if (*word & bit)
		return false;
	*word |= bit;
	return true;
}
