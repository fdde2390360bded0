/* Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s, message by message as in section 5.4
 * of the WireGuard whitepaper. Every function works on stack copies of the
 * chaining key and hash and commits them to the handshake only once the
 * message fully authenticated, so a forged packet leaves no trace. */
#include "wgd/noise.h"

#include <errno.h>
#include <string.h>

#include "wgd/constants.h"

/* TAI64N timestamps are rounded down to this many nanoseconds (the largest
 * power of two below the flood-guard interval) so they do not reveal the
 * clock's precision, as the kernel does. */
#define TIMESTAMP_WHITEN_NS (1ULL << 24)
_Static_assert(TIMESTAMP_WHITEN_NS <= WG_NSEC_PER_SEC / WG_INITIATIONS_PER_SECOND,
	       "two initiations allowed by the flood guard need distinct timestamps");

/* HASH("Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s"): the initial chaining key. */
static const uint8_t initial_chaining_key[WG_HASH_LEN] = {
	0x60, 0xe2, 0x6d, 0xae, 0xf3, 0x27, 0xef, 0xc0, 0x2e, 0xc3, 0x35,
	0xe2, 0xa0, 0x25, 0xd2, 0xd0, 0x16, 0xeb, 0x42, 0x06, 0xf8, 0x72,
	0x77, 0xf5, 0x2d, 0x38, 0xd1, 0x98, 0x8b, 0x78, 0xcd, 0x36,
};
/* HASH(initial chaining key || "WireGuard v1 zx2c4 Jason@zx2c4.com"). Both
 * constants are checked against their definitions in test_noise. */
static const uint8_t initial_hash[WG_HASH_LEN] = {
	0x22, 0x11, 0xb3, 0x61, 0x08, 0x1a, 0xc5, 0x66, 0x69, 0x12, 0x43,
	0xdb, 0x45, 0x8a, 0xd5, 0x32, 0x2d, 0x9c, 0x6c, 0x66, 0x22, 0x93,
	0xe8, 0xb7, 0x0e, 0xe1, 0x9c, 0x65, 0xba, 0x07, 0x9e, 0xf3,
};

/* Largest input mixed into the hash: the encrypted static key. */
#define MIX_MAX (WG_KEY_LEN + WG_AEAD_TAG_LEN)

/* h = HASH(h || in) */
static void mix_hash(uint8_t h[WG_HASH_LEN], const uint8_t *in, size_t len)
{
	uint8_t buf[WG_HASH_LEN + MIX_MAX];

	memcpy(buf, h, WG_HASH_LEN);
	memcpy(buf + WG_HASH_LEN, in, len);
	wg_hash(h, buf, WG_HASH_LEN + len);
	wg_memzero(buf, sizeof(buf));
}

/* (ck, key) = KDF2(ck, DH(sk, pk)); -EINVAL for a low-order pk. */
static int mix_dh(uint8_t ck[WG_HASH_LEN], uint8_t key[WG_KEY_LEN], const uint8_t sk[WG_KEY_LEN],
		  const uint8_t pk[WG_KEY_LEN])
{
	uint8_t dh[WG_KEY_LEN];
	int ret = wg_x25519(dh, sk, pk);

	if (!ret)
		wg_kdf(ck, key, NULL, ck, dh, sizeof(dh));
	wg_memzero(dh, sizeof(dh));
	return ret;
}

static void encrypt_and_hash(uint8_t *dst, const uint8_t *src, size_t len,
			     const uint8_t key[WG_KEY_LEN], uint8_t h[WG_HASH_LEN])
{
	wg_aead_encrypt(dst, src, len, h, WG_HASH_LEN, 0, key);
	mix_hash(h, dst, len + WG_AEAD_TAG_LEN);
}

/* src holds len + 16 bytes; dst (not overlapping src) receives len. */
static int decrypt_and_hash(uint8_t *dst, const uint8_t *src, size_t len,
			    const uint8_t key[WG_KEY_LEN], uint8_t h[WG_HASH_LEN])
{
	if (wg_aead_decrypt(dst, src, len + WG_AEAD_TAG_LEN, h, WG_HASH_LEN, 0, key))
		return -EBADMSG;
	mix_hash(h, src, len + WG_AEAD_TAG_LEN);
	return 0;
}

/* Our ephemeral goes into the hash and chaining key: e in the pattern. */
static void mix_ephemeral(uint8_t ck[WG_HASH_LEN], uint8_t h[WG_HASH_LEN],
			  const uint8_t ephemeral[WG_KEY_LEN])
{
	mix_hash(h, ephemeral, WG_KEY_LEN);
	wg_kdf(ck, NULL, NULL, ck, ephemeral, WG_KEY_LEN);
}

void wg_noise_handshake_init(struct wg_handshake *hs, const struct wg_static_identity *id,
			     const uint8_t remote_static[WG_KEY_LEN], const uint8_t *psk)
{
	wg_memzero(hs, sizeof(*hs));
	memcpy(hs->remote_static, remote_static, WG_KEY_LEN);
	wg_noise_set_psk(hs, psk);
	if (id)
		(void)wg_noise_precompute(hs, id);
}

void wg_noise_static_changed(struct wg_handshake *hs)
{
	wg_memzero(hs->precomputed_static_static, WG_KEY_LEN);
	hs->static_static = WG_SS_PENDING;
}

int wg_noise_precompute(struct wg_handshake *hs, const struct wg_static_identity *id)
{
	wg_noise_static_changed(hs);
	if (!id || !id->has_identity)
		return -EINVAL;
	if (wg_x25519(hs->precomputed_static_static, id->private_key, hs->remote_static)) {
		hs->static_static = WG_SS_INVALID;
		return -EINVAL;
	}
	hs->static_static = WG_SS_VALID;
	return 0;
}

/* The DH for this handshake, computed on first use. */
static int static_static_ready(struct wg_handshake *hs, const struct wg_static_identity *id)
{
	switch (hs->static_static) {
	case WG_SS_VALID:
		return 0;
	case WG_SS_INVALID:
		return -EINVAL;
	case WG_SS_PENDING:
		break;
	}
	return wg_noise_precompute(hs, id);
}

void wg_noise_set_psk(struct wg_handshake *hs, const uint8_t *psk)
{
	if (psk)
		memcpy(hs->preshared_key, psk, WG_KEY_LEN);
	else
		wg_memzero(hs->preshared_key, WG_KEY_LEN);
}

void wg_noise_handshake_clear(struct wg_handshake *hs)
{
	wg_memzero(hs->ephemeral_private, WG_KEY_LEN);
	wg_memzero(hs->remote_ephemeral, WG_KEY_LEN);
	wg_memzero(hs->hash, WG_HASH_LEN);
	wg_memzero(hs->chaining_key, WG_HASH_LEN);
	hs->remote_index = 0;
	hs->state = WG_HS_ZEROED;
}

void wg_noise_handshake_forget(struct wg_handshake *hs)
{
	uint8_t remote_static[WG_KEY_LEN];
	uint8_t psk[WG_KEY_LEN];

	memcpy(remote_static, hs->remote_static, WG_KEY_LEN);
	memcpy(psk, hs->preshared_key, WG_KEY_LEN);
	wg_memzero(hs, sizeof(*hs));
	memcpy(hs->remote_static, remote_static, WG_KEY_LEN);
	memcpy(hs->preshared_key, psk, WG_KEY_LEN);
	wg_memzero(psk, sizeof(psk));
}

/* Timestamp of an initiation, whitened (see TIMESTAMP_WHITEN_NS). */
static void initiation_timestamp(uint8_t out[WG_TAI64N_LEN], uint64_t unix_ns)
{
	uint64_t ns = unix_ns % WG_NSEC_PER_SEC;

	wg_tai64n(out, unix_ns - ns + (ns & ~(TIMESTAMP_WHITEN_NS - 1)));
}

/* The working state of one handshake message: built or checked here, it
 * becomes the handshake's state only once the message is complete or has
 * authenticated, and is wiped on every way out. */
struct step {
	uint8_t ck[WG_HASH_LEN], h[WG_HASH_LEN], key[WG_KEY_LEN], e_priv[WG_KEY_LEN];
};

static void step_begin(struct step *st, const uint8_t ck[WG_HASH_LEN], const uint8_t h[WG_HASH_LEN])
{
	memcpy(st->ck, ck, WG_HASH_LEN);
	memcpy(st->h, h, WG_HASH_LEN);
}

/* e: a fresh ephemeral of ours, its public half into msg_ephemeral. */
static void step_ephemeral(struct step *st, uint8_t msg_ephemeral[WG_KEY_LEN])
{
	wg_x25519_generate(st->e_priv);
	wg_x25519_public(msg_ephemeral, st->e_priv);
	mix_ephemeral(st->ck, st->h, msg_ephemeral);
}

static void step_commit(struct wg_handshake *hs, const struct step *st,
			enum wg_handshake_state state)
{
	memcpy(hs->chaining_key, st->ck, WG_HASH_LEN);
	memcpy(hs->hash, st->h, WG_HASH_LEN);
	hs->state = state;
}

/* We built a message: keep our ephemeral and the index we sent. */
static void step_commit_created(struct wg_handshake *hs, const struct step *st,
				uint32_t local_index, enum wg_handshake_state state)
{
	memcpy(hs->ephemeral_private, st->e_priv, WG_KEY_LEN);
	hs->local_index = local_index;
	step_commit(hs, st, state);
}

/* We accepted a message: keep its ephemeral and its sender index. */
static void step_commit_consumed(struct wg_handshake *hs, const struct step *st,
				 const uint8_t ephemeral[WG_KEY_LEN], const uint8_t sender[4],
				 enum wg_handshake_state state)
{
	memcpy(hs->remote_ephemeral, ephemeral, WG_KEY_LEN);
	hs->remote_index = wg_le32_get(sender);
	step_commit(hs, st, state);
}

/* Initiator: e, es, s, ss, {timestamp}. */
int wg_noise_create_initiation(struct wg_msg_initiation *msg, struct wg_handshake *hs,
			       const struct wg_static_identity *id, uint32_t local_index,
			       uint64_t unix_ns)
{
	uint8_t timestamp[WG_TAI64N_LEN];
	struct step st;
	int ret = -EINVAL;

	step_begin(&st, initial_chaining_key, initial_hash);
	if (!id || !id->has_identity || static_static_ready(hs, id))
		goto out;
	memset(msg, 0, sizeof(*msg));
	wg_msg_header_put(msg->header, WG_MSG_INITIATION);
	wg_le32_put(msg->sender, local_index);
	mix_hash(st.h, hs->remote_static, WG_KEY_LEN);

	step_ephemeral(&st, msg->ephemeral);
	if (mix_dh(st.ck, st.key, st.e_priv, hs->remote_static))
		goto out;
	encrypt_and_hash(msg->static_enc, id->public_key, WG_KEY_LEN, st.key, st.h);
	wg_kdf(st.ck, st.key, NULL, st.ck, hs->precomputed_static_static, WG_KEY_LEN);
	initiation_timestamp(timestamp, unix_ns);
	encrypt_and_hash(msg->timestamp_enc, timestamp, WG_TAI64N_LEN, st.key, st.h);

	step_commit_created(hs, &st, local_index, WG_HS_CREATED_INITIATION);
	ret = 0;
out:
	wg_memzero(&st, sizeof(st));
	return ret;
}

/* A replayed initiation carries a timestamp no newer than the last one we
 * accepted from that peer; a flood comes faster than the per-peer rate.
 * last_initiation_consumption_ns == 0 means "never". */
static int check_initiation_freshness(const struct wg_handshake *hs,
				      const uint8_t timestamp[WG_TAI64N_LEN], uint64_t now_ns)
{
	if (memcmp(timestamp, hs->latest_timestamp, WG_TAI64N_LEN) <= 0)
		return -ESTALE;
	if (hs->last_initiation_consumption_ns &&
	    now_ns < hs->last_initiation_consumption_ns +
			     WG_NSEC_PER_SEC / WG_INITIATIONS_PER_SECOND)
		return -EBUSY;
	return 0;
}

/* Responder: e, es, s, ss, {timestamp}, mirrored. */
int wg_noise_consume_initiation(const struct wg_msg_initiation *msg,
				const struct wg_static_identity *id, wg_handshake_lookup_fn lookup,
				void *ctx, uint64_t now_ns, struct wg_handshake **out,
				uint8_t *remote_static_out)
{
	uint8_t s[WG_KEY_LEN], timestamp[WG_TAI64N_LEN];
	struct wg_handshake *hs = NULL;
	struct step st;
	int ret = -EINVAL;

	*out = NULL;
	step_begin(&st, initial_chaining_key, initial_hash);
	if (!id || !id->has_identity)
		goto out;
	mix_hash(st.h, id->public_key, WG_KEY_LEN);
	mix_ephemeral(st.ck, st.h, msg->ephemeral);
	if (mix_dh(st.ck, st.key, id->private_key, msg->ephemeral))
		goto out;
	ret = decrypt_and_hash(s, msg->static_enc, WG_KEY_LEN, st.key, st.h);
	if (ret)
		goto out;

	ret = -ENOKEY;
	hs = lookup ? lookup(ctx, s) : NULL;
	if (!hs) {
		if (remote_static_out)
			memcpy(remote_static_out, s, WG_KEY_LEN);
		goto out;
	}
	ret = -EINVAL;
	if (static_static_ready(hs, id))
		goto out;
	wg_kdf(st.ck, st.key, NULL, st.ck, hs->precomputed_static_static, WG_KEY_LEN);
	ret = decrypt_and_hash(timestamp, msg->timestamp_enc, WG_TAI64N_LEN, st.key, st.h);
	if (ret)
		goto out;
	ret = check_initiation_freshness(hs, timestamp, now_ns);
	if (ret)
		goto out;

	memcpy(hs->latest_timestamp, timestamp, WG_TAI64N_LEN);
	hs->last_initiation_consumption_ns = now_ns;
	step_commit_consumed(hs, &st, msg->ephemeral, msg->sender, WG_HS_CONSUMED_INITIATION);
	*out = hs;
out:
	wg_memzero(&st, sizeof(st));
	wg_memzero(s, sizeof(s));
	return ret;
}

/* psk: (ck, tau, key) = KDF3(ck, psk); h = HASH(h || tau). */
static void mix_psk(uint8_t ck[WG_HASH_LEN], uint8_t h[WG_HASH_LEN], uint8_t key[WG_KEY_LEN],
		    const uint8_t psk[WG_KEY_LEN])
{
	uint8_t tau[WG_HASH_LEN];

	wg_kdf(ck, tau, key, ck, psk, WG_KEY_LEN);
	mix_hash(h, tau, sizeof(tau));
	wg_memzero(tau, sizeof(tau));
}

/* Responder: e, ee, se, psk, {}. */
int wg_noise_create_response(struct wg_msg_response *msg, struct wg_handshake *hs,
			     uint32_t local_index)
{
	struct step st;
	int ret = -EINVAL;

	step_begin(&st, hs->chaining_key, hs->hash);
	if (hs->state != WG_HS_CONSUMED_INITIATION)
		goto out;
	memset(msg, 0, sizeof(*msg));
	wg_msg_header_put(msg->header, WG_MSG_RESPONSE);
	wg_le32_put(msg->sender, local_index);
	wg_le32_put(msg->receiver, hs->remote_index);

	step_ephemeral(&st, msg->ephemeral);
	if (mix_dh(st.ck, NULL, st.e_priv, hs->remote_ephemeral) ||
	    mix_dh(st.ck, NULL, st.e_priv, hs->remote_static))
		goto out;
	mix_psk(st.ck, st.h, st.key, hs->preshared_key);
	encrypt_and_hash(msg->empty_enc, NULL, 0, st.key, st.h);

	step_commit_created(hs, &st, local_index, WG_HS_CREATED_RESPONSE);
	ret = 0;
out:
	wg_memzero(&st, sizeof(st));
	return ret;
}

/* Initiator: e, ee, se, psk, {}, mirrored. */
int wg_noise_consume_response(const struct wg_msg_response *msg, struct wg_handshake *hs,
			      const struct wg_static_identity *id)
{
	struct step st;
	int ret = -EINVAL;

	step_begin(&st, hs->chaining_key, hs->hash);
	if (!id || !id->has_identity || hs->state != WG_HS_CREATED_INITIATION)
		goto out;
	mix_ephemeral(st.ck, st.h, msg->ephemeral);
	if (mix_dh(st.ck, NULL, hs->ephemeral_private, msg->ephemeral) ||
	    mix_dh(st.ck, NULL, id->private_key, msg->ephemeral))
		goto out;
	mix_psk(st.ck, st.h, st.key, hs->preshared_key);
	ret = decrypt_and_hash(NULL, msg->empty_enc, 0, st.key, st.h);
	if (ret)
		goto out;

	step_commit_consumed(hs, &st, msg->ephemeral, msg->sender, WG_HS_CONSUMED_RESPONSE);
out:
	wg_memzero(&st, sizeof(st));
	return ret;
}

/* (T_initiator_send, T_responder_send) = KDF2(ck, empty). */
int wg_noise_derive_keypair(struct wg_keypair *kp, struct wg_handshake *hs, uint64_t now_ns)
{
	bool initiator = hs->state == WG_HS_CONSUMED_RESPONSE;

	if (!initiator && hs->state != WG_HS_CREATED_RESPONSE)
		return -EINVAL;
	wg_memzero(kp, sizeof(*kp));
	if (initiator)
		wg_kdf(kp->sending_key, kp->receiving_key, NULL, hs->chaining_key, NULL, 0);
	else
		wg_kdf(kp->receiving_key, kp->sending_key, NULL, hs->chaining_key, NULL, 0);
	wg_replay_init(&kp->replay);
	kp->local_index = hs->local_index;
	kp->remote_index = hs->remote_index;
	kp->birthdate_ns = now_ns;
	kp->is_initiator = initiator;
	wg_noise_handshake_clear(hs);
	return 0;
}

void wg_noise_keypair_clear(struct wg_keypair *kp)
{
	wg_memzero(kp, sizeof(*kp));
}

int wg_noise_seal_header(struct wg_keypair *kp, struct wg_msg_data *msg, uint64_t *counter_out)
{
	uint64_t counter = kp->sending_counter;

	if (counter >= WG_REJECT_AFTER_MESSAGES)
		return -EKEYEXPIRED;
	kp->sending_counter = counter + 1;
	wg_msg_header_put(msg->header, WG_MSG_DATA);
	wg_le32_put(msg->receiver, kp->remote_index);
	wg_le64_put(msg->counter, counter);
	*counter_out = counter;
	return 0;
}

int wg_noise_open_header(const struct wg_msg_data *msg, size_t msg_len, uint64_t *counter_out)
{
	if (msg_len < WG_MSG_DATA_MIN_LEN || wg_msg_header_type(msg->header) != WG_MSG_DATA)
		return -EBADMSG;
	*counter_out = wg_le64_get(msg->counter);
	return 0;
}

int wg_noise_seal(struct wg_keypair *kp, struct wg_msg_data *msg, const uint8_t *plain,
		  size_t plain_len)
{
	uint64_t counter;
	int ret = wg_noise_seal_header(kp, msg, &counter);

	if (ret == 0)
		wg_aead_encrypt(msg->payload, plain, plain_len, NULL, 0, counter, kp->sending_key);
	return ret;
}

int wg_noise_open(const struct wg_keypair *kp, struct wg_msg_data *msg, size_t msg_len,
		  uint64_t *counter_out)
{
	uint64_t counter;

	if (wg_noise_open_header(msg, msg_len, &counter) ||
	    wg_aead_decrypt(msg->payload, msg->payload, msg_len - WG_MSG_DATA_HEADER_LEN, NULL, 0,
			    counter, kp->receiving_key))
		return -EBADMSG;
	if (counter_out)
		*counter_out = counter;
	return 0;
}
