/* DoS mitigation of WireGuard: MAC1 (proves knowledge of the responder's
 * public key), MAC2 (proves a round trip with the source address, via a
 * cookie), cookie replies. Pure: time and the "under load" decision come in
 * as parameters. */
#ifndef WGD_COOKIE_H
#define WGD_COOKIE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "wire.h"

struct wg_ratelimiter;

/* Device side: checks MACs on handshakes addressed to us and mints cookies. */
struct wg_cookie_checker {
	uint8_t mac1_key[WG_KEY_LEN]; /* HASH("mac1----" || our public key) */
	uint8_t cookie_encryption_key[WG_KEY_LEN]; /* HASH("cookie--" || ours) */
	uint8_t secret[WG_HASH_LEN]; /* rotated every WG_COOKIE_SECRET_MAX_AGE */
	uint64_t secret_birthdate_ns;
	bool has_secret;
	bool has_identity;
};

/* Peer side: MACs on handshakes we send to one peer, its latest cookie. */
struct wg_cookie {
	uint8_t mac1_key[WG_KEY_LEN]; /* HASH("mac1----" || peer's public key) */
	uint8_t cookie_decryption_key[WG_KEY_LEN];
	uint8_t cookie[WG_COOKIE_LEN];
	uint64_t cookie_birthdate_ns;
	bool has_cookie;
	uint8_t last_mac1_sent[WG_MAC_LEN];
	bool has_sent_mac1;
};

enum wg_cookie_verdict {
	WG_COOKIE_INVALID = 0, /* mac1 wrong: drop silently */
	WG_COOKIE_VALID_NO_COOKIE, /* mac1 right, mac2 absent or wrong */
	WG_COOKIE_VALID_WITH_COOKIE, /* mac1 and mac2 right */
	WG_COOKIE_RATELIMITED, /* under load, valid, but the source is over its rate */
};

/* our_public NULL = no identity (every mac1 is then invalid). */
void wg_cookie_checker_init(struct wg_cookie_checker *c, const uint8_t *our_public);
void wg_cookie_init(struct wg_cookie *ck, const uint8_t peer_public[WG_KEY_LEN]);

/* msg/len: a whole initiation or response (macs are its last 32 bytes).
 * Not under load: INVALID or VALID_NO_COOKIE/VALID_WITH_COOKIE by mac1/mac2.
 * Under load: also RATELIMITED when mac2 is valid but rl refuses src. */
enum wg_cookie_verdict wg_cookie_validate(struct wg_cookie_checker *c, const void *msg, size_t len,
					  const union wg_sockaddr *src, bool under_load,
					  struct wg_ratelimiter *rl, uint64_t now_ns);
/* Builds a cookie reply to msg (whose sender index is sender_index) for src.
 * 0 or -EINVAL. */
int wg_cookie_reply_create(struct wg_msg_cookie_reply *out, struct wg_cookie_checker *c,
			   const void *msg, size_t len, uint32_t sender_index,
			   const union wg_sockaddr *src, uint64_t now_ns);
/* Stores the cookie from a reply to the last handshake we sent this peer.
 * 0, -EINVAL (we sent nothing) or -EBADMSG. */
int wg_cookie_reply_consume(struct wg_cookie *ck, const struct wg_msg_cookie_reply *msg,
			    uint64_t now_ns);
/* Fills mac1 (and mac2 if we hold a fresh cookie) of an outgoing handshake
 * message msg/len, remembering mac1 for a cookie reply. */
void wg_cookie_add_macs(struct wg_cookie *ck, void *msg, size_t len, uint64_t now_ns);

#endif
