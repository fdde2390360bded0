/* MAC1/MAC2 and cookie replies (whitepaper section 5.4.7 / 5.3).
 *
 * mac1 = MAC(HASH("mac1----" || Spub_responder), msg up to mac1)
 * mac2 = MAC(cookie, msg up to mac2)
 * cookie = MAC(secret, source address bytes || port), secret rotated every
 * WG_COOKIE_SECRET_MAX_AGE; sent back as XAEAD(HASH("cookie--" ||
 * Spub_responder), random nonce, cookie, AD = mac1 of the answered message).
 * MAC is keyed BLAKE2s with a 16-byte output. */
#include "wgd/cookie.h"

#include <errno.h>
#include <string.h>

#include "wgd/constants.h"
#include "wgd/crypto.h"
#include "wgd/ratelimiter.h"

#define LABEL_LEN 8
static const char label_mac1[LABEL_LEN] = "mac1----";
static const char label_cookie[LABEL_LEN] = "cookie--";

/* A cookie received now may have been minted just before the responder's
 * secret rotated; stop using it this much earlier than the secret dies so
 * the responder never sees a mac2 from a dead secret. */
#define COOKIE_SECRET_LATENCY (5 * WG_NSEC_PER_SEC)
#define MACS_LEN	      sizeof(struct wg_msg_macs)
/* The largest source binding wg_sockaddr_bytes writes: IPv6 + port. */
#define SRC_BYTES_MAX 18

/* key = HASH(label || public key) */
static void derive_key(uint8_t key[WG_KEY_LEN], const char label[LABEL_LEN],
		       const uint8_t pub[WG_KEY_LEN])
{
	uint8_t buf[LABEL_LEN + WG_KEY_LEN];

	memcpy(buf, label, LABEL_LEN);
	memcpy(buf + LABEL_LEN, pub, WG_KEY_LEN);
	wg_hash(key, buf, sizeof(buf));
}

/* Clock stepping back counts as expiry: a secret or cookie of unknown age
 * is not trusted. */
static bool has_expired(uint64_t birth_ns, uint64_t lifetime_ns, uint64_t now_ns)
{
	return now_ns < birth_ns || now_ns - birth_ns >= lifetime_ns;
}

static const uint8_t *msg_mac1(const void *msg, size_t len)
{
	return (const uint8_t *)msg + len - MACS_LEN;
}

static const uint8_t *msg_mac2(const void *msg, size_t len)
{
	return (const uint8_t *)msg + len - WG_MAC_LEN;
}

static void compute_mac1(uint8_t mac[WG_MAC_LEN], const void *msg, size_t len,
			 const uint8_t key[WG_KEY_LEN])
{
	wg_blake2s(mac, WG_MAC_LEN, key, WG_KEY_LEN, msg, len - MACS_LEN);
}

static void compute_mac2(uint8_t mac[WG_MAC_LEN], const void *msg, size_t len,
			 const uint8_t cookie[WG_COOKIE_LEN])
{
	wg_blake2s(mac, WG_MAC_LEN, cookie, WG_COOKIE_LEN, msg, len - WG_MAC_LEN);
}

void wg_cookie_checker_init(struct wg_cookie_checker *c, const uint8_t *our_public)
{
	wg_memzero(c, sizeof(*c));
	if (!our_public)
		return;
	derive_key(c->mac1_key, label_mac1, our_public);
	derive_key(c->cookie_encryption_key, label_cookie, our_public);
	c->has_identity = true;
}

void wg_cookie_init(struct wg_cookie *ck, const uint8_t peer_public[WG_KEY_LEN])
{
	wg_memzero(ck, sizeof(*ck));
	derive_key(ck->mac1_key, label_mac1, peer_public);
	derive_key(ck->cookie_decryption_key, label_cookie, peer_public);
}

static void refresh_secret(struct wg_cookie_checker *c, uint64_t now_ns)
{
	if (!c->has_secret ||
	    has_expired(c->secret_birthdate_ns, WG_COOKIE_SECRET_MAX_AGE, now_ns)) {
		wg_random_bytes(c->secret, sizeof(c->secret));
		c->secret_birthdate_ns = now_ns;
		c->has_secret = true;
	}
}

/* The cookie src would get from us now, rotating the secret when due. */
static void make_cookie(uint8_t cookie[WG_COOKIE_LEN], struct wg_cookie_checker *c,
			const union wg_sockaddr *src, uint64_t now_ns)
{
	uint8_t bytes[SRC_BYTES_MAX];
	size_t n;

	refresh_secret(c, now_ns);
	n = wg_sockaddr_bytes(src, bytes);
	wg_blake2s(cookie, WG_COOKIE_LEN, c->secret, sizeof(c->secret), bytes, n);
}

static bool msg_len_ok(size_t len)
{
	return len > MACS_LEN;
}

static bool mac1_valid(const struct wg_cookie_checker *c, const void *msg, size_t len)
{
	uint8_t mac[WG_MAC_LEN];

	compute_mac1(mac, msg, len, c->mac1_key);
	return wg_ct_equal(mac, msg_mac1(msg, len), WG_MAC_LEN);
}

static bool mac2_valid(struct wg_cookie_checker *c, const void *msg, size_t len,
		       const union wg_sockaddr *src, uint64_t now_ns)
{
	uint8_t cookie[WG_COOKIE_LEN], mac[WG_MAC_LEN];
	bool ok;

	make_cookie(cookie, c, src, now_ns);
	compute_mac2(mac, msg, len, cookie);
	ok = wg_ct_equal(mac, msg_mac2(msg, len), WG_MAC_LEN);
	wg_memzero(cookie, sizeof(cookie));
	return ok;
}

enum wg_cookie_verdict wg_cookie_validate(struct wg_cookie_checker *c, const void *msg, size_t len,
					  const union wg_sockaddr *src, bool under_load,
					  struct wg_ratelimiter *rl, uint64_t now_ns)
{
	if (!c->has_identity || !msg_len_ok(len) || !mac1_valid(c, msg, len))
		return WG_COOKIE_INVALID;
	/* A sender without a cookie sends mac2 as zeros: no need for the two
	 * BLAKE2s (cookie, mac2) a flood would cost per message. The secret
	 * still ages from its first use, as when the mac2 is checked. */
	if (wg_ct_is_zero(msg_mac2(msg, len), WG_MAC_LEN)) {
		refresh_secret(c, now_ns);
		return WG_COOKIE_VALID_NO_COOKIE;
	}
	if (!mac2_valid(c, msg, len, src, now_ns))
		return WG_COOKIE_VALID_NO_COOKIE;
	/* Only under load does a source pay for its handshakes; a NULL rl
	 * means the caller does no rate limiting. */
	if (under_load && rl && !wg_ratelimiter_allow(rl, src, now_ns))
		return WG_COOKIE_RATELIMITED;
	return WG_COOKIE_VALID_WITH_COOKIE;
}

int wg_cookie_reply_create(struct wg_msg_cookie_reply *out, struct wg_cookie_checker *c,
			   const void *msg, size_t len, uint32_t sender_index,
			   const union wg_sockaddr *src, uint64_t now_ns)
{
	uint8_t cookie[WG_COOKIE_LEN];

	if (!c->has_identity || !msg_len_ok(len) || !wg_sockaddr_len(src))
		return -EINVAL;
	wg_msg_header_put(out->header, WG_MSG_COOKIE_REPLY);
	wg_le32_put(out->receiver, sender_index);
	wg_random_bytes(out->nonce, sizeof(out->nonce));
	make_cookie(cookie, c, src, now_ns);
	wg_xaead_encrypt(out->cookie_enc, cookie, sizeof(cookie), msg_mac1(msg, len), WG_MAC_LEN,
			 out->nonce, c->cookie_encryption_key);
	wg_memzero(cookie, sizeof(cookie));
	return 0;
}

int wg_cookie_reply_consume(struct wg_cookie *ck, const struct wg_msg_cookie_reply *msg,
			    uint64_t now_ns)
{
	uint8_t cookie[WG_COOKIE_LEN];

	if (!ck->has_sent_mac1)
		return -EINVAL;
	if (wg_msg_header_type(msg->header) != WG_MSG_COOKIE_REPLY)
		return -EBADMSG;
	if (wg_xaead_decrypt(cookie, msg->cookie_enc, sizeof(msg->cookie_enc), ck->last_mac1_sent,
			     WG_MAC_LEN, msg->nonce, ck->cookie_decryption_key) < 0)
		return -EBADMSG;
	memcpy(ck->cookie, cookie, sizeof(cookie));
	wg_memzero(cookie, sizeof(cookie));
	ck->cookie_birthdate_ns = now_ns;
	ck->has_cookie = true;
	/* One reply per handshake we sent: a second copy is a replay. */
	ck->has_sent_mac1 = false;
	return 0;
}

void wg_cookie_add_macs(struct wg_cookie *ck, void *msg, size_t len, uint64_t now_ns)
{
	uint8_t *macs = (uint8_t *)msg + len - MACS_LEN;

	compute_mac1(macs, msg, len, ck->mac1_key);
	memcpy(ck->last_mac1_sent, macs, WG_MAC_LEN);
	ck->has_sent_mac1 = true;

	if (ck->has_cookie &&
	    has_expired(ck->cookie_birthdate_ns, WG_COOKIE_SECRET_MAX_AGE - COOKIE_SECRET_LATENCY,
			now_ns)) {
		wg_memzero(ck->cookie, sizeof(ck->cookie));
		ck->has_cookie = false;
	}
	if (ck->has_cookie)
		compute_mac2(macs + WG_MAC_LEN, msg, len, ck->cookie);
	else
		memset(macs + WG_MAC_LEN, 0, WG_MAC_LEN);
}
