/* Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s as WireGuard uses it: creation and
 * consumption of the handshake initiation and response, and derivation of
 * the transport keypair. Pure: time comes in as parameters, index
 * assignment and peer lookup belong to the caller. MAC fields are left
 * zero here; the cookie module fills and checks them. */
#ifndef WGD_NOISE_H
#define WGD_NOISE_H

#include <stdbool.h>
#include <stdint.h>

#include "crypto.h"
#include "replay.h"
#include "wire.h"

/* The device's static identity (sodium_malloc'd by its owner). */
struct wg_static_identity {
	uint8_t private_key[WG_KEY_LEN];
	uint8_t public_key[WG_KEY_LEN];
	bool has_identity;
};

enum wg_handshake_state {
	WG_HS_ZEROED = 0,
	WG_HS_CREATED_INITIATION,
	WG_HS_CONSUMED_INITIATION,
	WG_HS_CREATED_RESPONSE,
	WG_HS_CONSUMED_RESPONSE,
};

/* The static-static DH is computed once per peer and device key, on first
 * use: a hub that loads 100,000 peers must not spend an X25519 on each. */
enum wg_static_static {
	WG_SS_PENDING = 0, /* not computed yet (also after a forget) */
	WG_SS_VALID,
	WG_SS_INVALID, /* low-order peer key: never usable */
};

/* Per-peer handshake state, owned by the peer. Secret throughout. */
struct wg_handshake {
	enum wg_handshake_state state;
	uint8_t remote_static[WG_KEY_LEN];
	uint8_t precomputed_static_static[WG_KEY_LEN]; /* DH(s_priv, S_pub) */
	enum wg_static_static static_static;		/* whether the above is usable */
	uint8_t preshared_key[WG_KEY_LEN];
	uint8_t ephemeral_private[WG_KEY_LEN];
	uint8_t remote_ephemeral[WG_KEY_LEN];
	uint8_t hash[WG_HASH_LEN];
	uint8_t chaining_key[WG_HASH_LEN];
	uint8_t latest_timestamp[WG_TAI64N_LEN]; /* newest accepted initiation */
	uint64_t last_initiation_consumption_ns; /* monotonic, flood guard; 0 = never */
	uint32_t local_index;
	uint32_t remote_index;
};

/* Transport keys for one session. */
struct wg_keypair {
	uint8_t sending_key[WG_KEY_LEN];
	uint8_t receiving_key[WG_KEY_LEN];
	uint64_t sending_counter; /* next nonce to use */
	struct wg_replay replay;
	uint32_t local_index;
	uint32_t remote_index;
	uint64_t birthdate_ns; /* monotonic */
	bool is_initiator;
};

/* Sets up hs for a peer with static key remote_static and optional psk
 * (NULL = none). With id it precomputes the static-static DH right away;
 * with id NULL it is left pending and computed by the first handshake
 * message built or consumed for this peer. */
void wg_noise_handshake_init(struct wg_handshake *hs, const struct wg_static_identity *id,
			     const uint8_t remote_static[WG_KEY_LEN], const uint8_t *psk);
/* Computes the static-static DH now; -EINVAL for no identity (left
 * pending) or a low-order peer key (marked invalid for good). */
int wg_noise_precompute(struct wg_handshake *hs, const struct wg_static_identity *id);
/* The device key changed or went: zeroes the DH and leaves it pending. */
void wg_noise_static_changed(struct wg_handshake *hs);
/* False only once the DH is known to be unusable (low-order peer key). */
static inline bool wg_noise_static_usable(const struct wg_handshake *hs)
{
	return hs->static_static != WG_SS_INVALID;
}
void wg_noise_set_psk(struct wg_handshake *hs, const uint8_t *psk);
/* Forgets the in-progress handshake (ephemeral, hash, chaining key) but keeps
 * the peer's static key, PSK, precomputation and latest timestamp. */
void wg_noise_handshake_clear(struct wg_handshake *hs);
/* Zeroes everything but the peer's static key and PSK (key rotation). */
void wg_noise_handshake_forget(struct wg_handshake *hs);

/* Builds an initiation from us (id) to the peer of hs; local_index is our
 * sender index. unix_ns feeds the TAI64N timestamp. 0 or -EINVAL (no
 * identity, invalid precomputation). The timestamp is rounded down to 2^24 ns
 * (as the kernel does) so it does not reveal the clock's precision; two
 * initiations within one such step carry equal timestamps. */
int wg_noise_create_initiation(struct wg_msg_initiation *msg, struct wg_handshake *hs,
			       const struct wg_static_identity *id, uint32_t local_index,
			       uint64_t unix_ns);

/* Finds the handshake of the peer with static key pub, or NULL. */
typedef struct wg_handshake *(*wg_handshake_lookup_fn)(void *ctx, const uint8_t pub[WG_KEY_LEN]);

/* Consumes an initiation addressed to id. On success *out is the peer's
 * handshake (state CONSUMED_INITIATION). Errors: -EBADMSG (does not decrypt),
 * -ENOKEY (unknown peer; remote_static_out, if non-NULL, receives its key),
 * -ESTALE (timestamp not newer than the last accepted: replay),
 * -EBUSY (initiations from this peer faster than WG_INITIATIONS_PER_SECOND),
 * -EINVAL (no identity or low-order key). now_ns is monotonic. */
int wg_noise_consume_initiation(const struct wg_msg_initiation *msg,
				const struct wg_static_identity *id, wg_handshake_lookup_fn lookup,
				void *ctx, uint64_t now_ns, struct wg_handshake **out,
				uint8_t *remote_static_out);

/* Builds the response for a consumed initiation. 0 or -EINVAL. */
int wg_noise_create_response(struct wg_msg_response *msg, struct wg_handshake *hs,
			     uint32_t local_index);
/* Consumes a response to hs (found by the caller from msg->receiver; must be
 * in CREATED_INITIATION). 0, -EBADMSG or -EINVAL. */
int wg_noise_consume_response(const struct wg_msg_response *msg, struct wg_handshake *hs,
			      const struct wg_static_identity *id);

/* Derives the transport keypair from a finished handshake (CREATED_RESPONSE
 * on the responder, CONSUMED_RESPONSE on the initiator) and clears the
 * handshake's ephemeral state. 0 or -EINVAL. */
int wg_noise_derive_keypair(struct wg_keypair *kp, struct wg_handshake *hs, uint64_t now_ns);
/* Zeroes a keypair. */
void wg_noise_keypair_clear(struct wg_keypair *kp);

/* Data message helpers: seal plaintext (already padded) into msg->payload for
 * kp, taking the next counter; open a received data message in place.
 * seal: 0 or -EKEYEXPIRED once the counter reaches REJECT_AFTER_MESSAGES.
 * open: 0 or -EBADMSG; the replay check is separate (wg_replay_check). */
int wg_noise_seal(struct wg_keypair *kp, struct wg_msg_data *msg, const uint8_t *plain,
		  size_t plain_len);
int wg_noise_open(const struct wg_keypair *kp, struct wg_msg_data *msg, size_t msg_len,
		  uint64_t *counter_out);
/* Their framing without the AEAD, shared with the data path's own AEAD
 * (aead.h): the header with the next counter (0 or -EKEYEXPIRED), and the
 * check of a received message's length and type, giving its counter (0 or
 * -EBADMSG). */
int wg_noise_seal_header(struct wg_keypair *kp, struct wg_msg_data *msg, uint64_t *counter_out);
int wg_noise_open_header(const struct wg_msg_data *msg, size_t msg_len, uint64_t *counter_out);

#endif
