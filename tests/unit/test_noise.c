/* Noise_IKpsk2 handshakes between in-memory identities: success both ways
 * with and without PSK, a byte-exact fixed-key vector (from the independent
 * Python model in tests/vectors/gen_noise_vector.py), replay and flood
 * guards, wrong keys, low-order keys, forged messages, data seal/open. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "wgd/constants.h"
#include "wgd/noise.h"

#define SEC	       WG_NSEC_PER_SEC
#define FLOOD_INTERVAL (SEC / WG_INITIATIONS_PER_SECOND)

/* --- deterministic randomness for the fixed-key vector --- */

/* libsodium's RNG, switchable to the stream 01 02 03 ... so the ephemeral
 * keys of a handshake are known. */
static bool fixed_rng;
static uint8_t fixed_next;

static const char *rng_name(void)
{
	return "test";
}

static uint32_t rng_random(void)
{
	return randombytes_sysrandom_implementation.random();
}

static void rng_stir(void)
{
	randombytes_sysrandom_implementation.stir();
}

static void rng_buf(void *const buf, const size_t size)
{
	uint8_t *p = buf;

	if (!fixed_rng) {
		randombytes_sysrandom_implementation.buf(buf, size);
		return;
	}
	for (size_t i = 0; i < size; i++)
		p[i] = ++fixed_next;
}

static int rng_close(void)
{
	return randombytes_sysrandom_implementation.close();
}

static randombytes_implementation test_rng = {
	.implementation_name = rng_name,
	.random = rng_random,
	.stir = rng_stir,
	.buf = rng_buf,
	.close = rng_close,
};

/* --- fixtures --- */

struct node {
	struct wg_static_identity id;
	struct wg_handshake peer[4];
	size_t npeers;
};

static struct wg_handshake *lookup(void *ctx, const uint8_t pub[WG_KEY_LEN])
{
	struct node *n = ctx;

	for (size_t i = 0; i < n->npeers; i++)
		if (wg_ct_equal(n->peer[i].remote_static, pub, WG_KEY_LEN))
			return &n->peer[i];
	return NULL;
}

static void node_init(struct node *n)
{
	memset(n, 0, sizeof(*n));
	wg_x25519_generate(n->id.private_key);
	wg_x25519_public(n->id.public_key, n->id.private_key);
	n->id.has_identity = true;
}

static struct wg_handshake *node_add_peer(struct node *n, const uint8_t pub[WG_KEY_LEN],
					  const uint8_t *psk)
{
	struct wg_handshake *hs = &n->peer[n->npeers++];

	assert_true(n->npeers <= 4);
	wg_noise_handshake_init(hs, &n->id, pub, psk);
	return hs;
}

/* Unix time for timestamps and monotonic time for the flood guard; each
 * handshake moves both a second forward. */
static uint64_t unix_ns = 1700000000ULL * SEC;
static uint64_t mono_ns = 100 * SEC;

static void tick(void)
{
	unix_ns += SEC;
	mono_ns += SEC;
}

static struct node a, b, c;
static struct wg_handshake *ab, *ba; /* a's view of b, b's view of a */
static const uint8_t psk1[32] = {1, 2, 3}, psk2[32] = {3, 2, 1};

static int setup_pair(void **state)
{
	(void)state;
	node_init(&a);
	node_init(&b);
	node_init(&c);
	ab = node_add_peer(&a, b.id.public_key, NULL);
	ba = node_add_peer(&b, a.id.public_key, NULL);
	tick();
	return 0;
}

/* Full handshake from initiator in (its handshake ihs) to responder rn. */
static void handshake(struct node *in, struct wg_handshake *ihs, struct node *rn,
		      struct wg_keypair *ikp, struct wg_keypair *rkp)
{
	struct wg_msg_initiation init;
	struct wg_msg_response resp;
	struct wg_handshake *rhs;

	tick();
	assert_int_equal(wg_noise_create_initiation(&init, ihs, &in->id, 0xa1, unix_ns), 0);
	assert_int_equal(ihs->state, WG_HS_CREATED_INITIATION);
	assert_int_equal(
		wg_noise_consume_initiation(&init, &rn->id, lookup, rn, mono_ns, &rhs, NULL), 0);
	assert_non_null(rhs);
	assert_int_equal(rhs->state, WG_HS_CONSUMED_INITIATION);
	assert_int_equal(rhs->remote_index, 0xa1);
	assert_int_equal(wg_noise_create_response(&resp, rhs, 0xb2), 0);
	assert_int_equal(rhs->state, WG_HS_CREATED_RESPONSE);
	assert_int_equal(wg_noise_consume_response(&resp, ihs, &in->id), 0);
	assert_int_equal(ihs->state, WG_HS_CONSUMED_RESPONSE);
	assert_int_equal(ihs->remote_index, 0xb2);
	assert_int_equal(wg_noise_derive_keypair(ikp, ihs, mono_ns), 0);
	assert_int_equal(wg_noise_derive_keypair(rkp, rhs, mono_ns), 0);
	assert_int_equal(ihs->state, WG_HS_ZEROED);
	assert_int_equal(rhs->state, WG_HS_ZEROED);
}

/* Seals a 32-byte plaintext with s and opens it with r. */
static void data_round_trip(struct wg_keypair *s, struct wg_keypair *r)
{
	uint8_t pkt[WG_MSG_DATA_HEADER_LEN + 32 + WG_AEAD_TAG_LEN], copy[sizeof(pkt)];
	struct wg_msg_data *msg = (struct wg_msg_data *)pkt;
	uint8_t plain[32];
	uint64_t ctr, sent = s->sending_counter;

	memset(plain, 0x5a, sizeof(plain));
	assert_int_equal(wg_noise_seal(s, msg, plain, sizeof(plain)), 0);
	assert_int_equal(s->sending_counter, sent + 1);
	assert_int_equal(wg_msg_header_type(msg->header), WG_MSG_DATA);
	assert_int_equal(wg_le32_get(msg->receiver), s->remote_index);
	assert_int_equal(wg_le32_get(msg->receiver), r->local_index);
	assert_int_equal(wg_le64_get(msg->counter), sent);
	memcpy(copy, pkt, sizeof(pkt));

	assert_int_equal(wg_noise_open(r, msg, sizeof(pkt), &ctr), 0);
	assert_int_equal(ctr, sent);
	assert_memory_equal(msg->payload, plain, sizeof(plain));

	for (size_t i = 8; i < sizeof(pkt); i++) { /* counter, ciphertext, tag */
		memcpy(pkt, copy, sizeof(pkt));
		pkt[i] ^= 0x01;
		assert_int_equal(wg_noise_open(r, msg, sizeof(pkt), &ctr), -EBADMSG);
	}
	memcpy(pkt, copy, sizeof(pkt));
	assert_int_equal(wg_noise_open(s, msg, sizeof(pkt), &ctr), -EBADMSG); /* own key */
}

static void assert_keypairs_match(const struct wg_keypair *i, const struct wg_keypair *r)
{
	assert_memory_equal(i->sending_key, r->receiving_key, WG_KEY_LEN);
	assert_memory_equal(i->receiving_key, r->sending_key, WG_KEY_LEN);
	assert_memory_not_equal(i->sending_key, i->receiving_key, WG_KEY_LEN);
	assert_true(i->is_initiator);
	assert_false(r->is_initiator);
	assert_int_equal(i->local_index, 0xa1);
	assert_int_equal(i->remote_index, 0xb2);
	assert_int_equal(r->local_index, 0xb2);
	assert_int_equal(r->remote_index, 0xa1);
	assert_int_equal(i->sending_counter, 0);
	assert_int_equal(i->birthdate_ns, mono_ns);
}

/* --- handshakes that succeed --- */

static void run_both_directions(void)
{
	struct wg_keypair ikp, rkp;

	handshake(&a, ab, &b, &ikp, &rkp);
	assert_keypairs_match(&ikp, &rkp);
	data_round_trip(&ikp, &rkp);
	data_round_trip(&rkp, &ikp);
	data_round_trip(&ikp, &rkp);

	handshake(&b, ba, &a, &ikp, &rkp);
	assert_keypairs_match(&ikp, &rkp);
	data_round_trip(&ikp, &rkp);
	data_round_trip(&rkp, &ikp);
	wg_noise_keypair_clear(&ikp);
	assert_true(wg_ct_is_zero(&ikp, sizeof(ikp)));
}

static void test_handshake_no_psk(void **state)
{
	(void)state;
	run_both_directions();
}

static void test_handshake_psk(void **state)
{
	(void)state;
	wg_noise_set_psk(ab, psk1);
	wg_noise_set_psk(ba, psk1);
	run_both_directions();
}

/* Two handshakes give independent keys (fresh ephemerals). */
static void test_handshake_fresh_keys(void **state)
{
	struct wg_keypair i1, r1, i2, r2;

	(void)state;
	handshake(&a, ab, &b, &i1, &r1);
	handshake(&a, ab, &b, &i2, &r2);
	assert_memory_not_equal(i1.sending_key, i2.sending_key, WG_KEY_LEN);
	assert_memory_not_equal(i1.receiving_key, i2.receiving_key, WG_KEY_LEN);
}

/* Byte-exact check against tests/vectors/noise_ikpsk2_fixed.txt. */
static void test_fixed_key_vector(void **state)
{
	static const char init_hex[] =
		"010000004433221107a37cbc142093c8b755dc1b10e86cb426374ad16aa853ed0bdfc0b2b86d1c7c"
		"939cfd3a084554ccec0cb676a45bf663ff5507db4c5cc4a34b5ad0b5f1d02ca444e94eba9150f85a"
		"541bca9e485c8068a2c190e6f46e333daac9d56162cb922bf3a7e125ca7d65fb5f8a961c00000000"
		"000000000000000000000000000000000000000000000000000000000000";
	static const char resp_hex[] =
		"0200000088776655443322115869aff450549732cbaaed5e5df9b30a6da31cb0e5742bad5ad4a1a7"
		"68f1a67b539c51bf5d7a4a44df2a1012a9b60d4c0000000000000000000000000000000000000000"
		"000000000000000000000000";
	static const char send_hex[] =
		"819eb31f1facca212f238b62ec30074ecee62d64f748b1e624671e777a2b0fb3";
	static const char recv_hex[] =
		"cd54fc795861ad253c4b21b59aa095fcf57343163b9995fae515372b242c8dfe";
	static const char data_hex[] = "0400000088776655000000000000000055c0066923994036d5711c41"
				       "8c94605e19eca3ca5bebbf23b3943e74c4030a9d";
	struct node alice, bob;
	struct wg_handshake *ahs, *bhs, *rhs;
	struct wg_msg_initiation init;
	struct wg_msg_response resp;
	struct wg_keypair ikp, rkp;
	uint8_t psk[32], want[WG_MSG_INITIATION_LEN], pkt[48], zero[16] = {0};
	struct wg_msg_data *msg = (struct wg_msg_data *)pkt;
	unsigned int v;

	(void)state;
	memset(&alice, 0, sizeof(alice));
	memset(&bob, 0, sizeof(bob));
	for (int i = 0; i < 32; i++) {
		sscanf(&"77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"[2 * i],
		       "%2x", &v);
		alice.id.private_key[i] = (uint8_t)v;
		sscanf(&"5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"[2 * i],
		       "%2x", &v);
		bob.id.private_key[i] = (uint8_t)v;
	}
	wg_x25519_public(alice.id.public_key, alice.id.private_key);
	wg_x25519_public(bob.id.public_key, bob.id.private_key);
	alice.id.has_identity = bob.id.has_identity = true;
	memset(psk, 0x42, sizeof(psk));
	ahs = node_add_peer(&alice, bob.id.public_key, psk);
	bhs = node_add_peer(&bob, alice.id.public_key, psk);

	fixed_rng = true;
	fixed_next = 0;
	assert_int_equal(wg_noise_create_initiation(&init, ahs, &alice.id, 0x11223344,
						    1700000000ULL * SEC + 123456789ULL),
			 0);
	for (size_t i = 0; i < sizeof(init); i++) {
		sscanf(init_hex + 2 * i, "%2x", &v);
		want[i] = (uint8_t)v;
	}
	assert_memory_equal(&init, want, sizeof(init));
	assert_int_equal(
		wg_noise_consume_initiation(&init, &bob.id, lookup, &bob, mono_ns, &rhs, NULL), 0);
	assert_ptr_equal(rhs, bhs);
	assert_int_equal(wg_noise_create_response(&resp, rhs, 0x55667788), 0);
	fixed_rng = false;
	for (size_t i = 0; i < sizeof(resp); i++) {
		sscanf(resp_hex + 2 * i, "%2x", &v);
		want[i] = (uint8_t)v;
	}
	assert_memory_equal(&resp, want, sizeof(resp));

	assert_int_equal(wg_noise_consume_response(&resp, ahs, &alice.id), 0);
	assert_int_equal(wg_noise_derive_keypair(&ikp, ahs, 0), 0);
	assert_int_equal(wg_noise_derive_keypair(&rkp, bhs, 0), 0);
	for (size_t i = 0; i < 32; i++) {
		sscanf(send_hex + 2 * i, "%2x", &v);
		assert_int_equal(ikp.sending_key[i], v);
		sscanf(recv_hex + 2 * i, "%2x", &v);
		assert_int_equal(ikp.receiving_key[i], v);
	}
	assert_int_equal(wg_noise_seal(&ikp, msg, zero, sizeof(zero)), 0);
	for (size_t i = 0; i < sizeof(pkt); i++) {
		sscanf(data_hex + 2 * i, "%2x", &v);
		assert_int_equal(pkt[i], v);
	}
	assert_int_equal(wg_noise_open(&rkp, msg, sizeof(pkt), NULL), 0);
	assert_memory_equal(msg->payload, zero, sizeof(zero));
}

/* --- the responder's guards --- */

static void test_replayed_initiation(void **state)
{
	struct wg_msg_initiation init, old;
	struct wg_handshake *rhs, saved;

	(void)state;
	tick();
	assert_int_equal(wg_noise_create_initiation(&old, ab, &a.id, 1, unix_ns), 0);
	tick();
	assert_int_equal(wg_noise_create_initiation(&init, ab, &a.id, 2, unix_ns), 0);
	assert_int_equal(wg_noise_consume_initiation(&init, &b.id, lookup, &b, mono_ns, &rhs, NULL),
			 0);
	saved = *ba;

	tick(); /* well past the flood interval: only the timestamp refuses */
	assert_int_equal(wg_noise_consume_initiation(&init, &b.id, lookup, &b, mono_ns, &rhs, NULL),
			 -ESTALE);
	assert_null(rhs);
	assert_int_equal(wg_noise_consume_initiation(&old, &b.id, lookup, &b, mono_ns, &rhs, NULL),
			 -ESTALE);
	assert_memory_equal(ba, &saved, sizeof(saved)); /* nothing committed */

	/* Within one whitening step (2^24 ns) the timestamps are equal, so the
	 * second initiation is a replay too. */
	tick();
	assert_int_equal(wg_noise_create_initiation(&old, ab, &a.id, 3, unix_ns - unix_ns % SEC),
			 0);
	assert_int_equal(wg_noise_create_initiation(&init, ab, &a.id, 4,
						    unix_ns - unix_ns % SEC + (1 << 24) - 1),
			 0);
	assert_int_equal(wg_noise_consume_initiation(&old, &b.id, lookup, &b, mono_ns, &rhs, NULL),
			 0);
	assert_int_equal(
		wg_noise_consume_initiation(&init, &b.id, lookup, &b, mono_ns + SEC, &rhs, NULL),
		-ESTALE);
}

static void test_initiation_flood(void **state)
{
	struct wg_msg_initiation m1, m2, m3;
	struct wg_handshake *rhs;

	(void)state;
	tick();
	assert_int_equal(wg_noise_create_initiation(&m1, ab, &a.id, 1, unix_ns), 0);
	assert_int_equal(wg_noise_create_initiation(&m2, ab, &a.id, 2, unix_ns + SEC / 10), 0);
	assert_int_equal(wg_noise_create_initiation(&m3, ab, &a.id, 3, unix_ns + SEC / 5), 0);
	assert_int_equal(wg_noise_consume_initiation(&m1, &b.id, lookup, &b, mono_ns, &rhs, NULL),
			 0);
	assert_int_equal(wg_noise_consume_initiation(&m2, &b.id, lookup, &b,
						     mono_ns + FLOOD_INTERVAL - 1, &rhs, NULL),
			 -EBUSY);
	assert_null(rhs);
	assert_int_equal(ba->last_initiation_consumption_ns, mono_ns);
	assert_int_equal(wg_noise_consume_initiation(&m2, &b.id, lookup, &b,
						     mono_ns + FLOOD_INTERVAL, &rhs, NULL),
			 0);
	assert_int_equal(wg_noise_consume_initiation(&m3, &b.id, lookup, &b,
						     mono_ns + FLOOD_INTERVAL + 1, &rhs, NULL),
			 -EBUSY);
	mono_ns += SEC;
}

static void test_unknown_initiator(void **state)
{
	struct wg_msg_initiation init;
	struct wg_handshake dummy, *rhs = &dummy, *ca;
	uint8_t who[32] = {0};

	(void)state;
	ca = node_add_peer(&c, b.id.public_key, NULL); /* c knows b, b not c */
	tick();
	assert_int_equal(wg_noise_create_initiation(&init, ca, &c.id, 7, unix_ns), 0);
	assert_int_equal(wg_noise_consume_initiation(&init, &b.id, lookup, &b, mono_ns, &rhs, who),
			 -ENOKEY);
	assert_null(rhs);
	assert_memory_equal(who, c.id.public_key, 32);
	assert_int_equal(wg_noise_consume_initiation(&init, &b.id, lookup, &b, mono_ns, &rhs, NULL),
			 -ENOKEY);
	assert_int_equal(wg_noise_consume_initiation(&init, &b.id, NULL, NULL, mono_ns, &rhs, NULL),
			 -ENOKEY);
}

/* An initiation meant for b arrives at c, which knows a: c cannot even
 * decrypt the static key. */
static void test_wrong_responder(void **state)
{
	struct wg_msg_initiation init;
	struct wg_handshake *rhs;

	(void)state;
	node_add_peer(&c, a.id.public_key, NULL);
	tick();
	assert_int_equal(wg_noise_create_initiation(&init, ab, &a.id, 7, unix_ns), 0);
	assert_int_equal(wg_noise_consume_initiation(&init, &c.id, lookup, &c, mono_ns, &rhs, NULL),
			 -EBADMSG);
	assert_null(rhs);
}

/* c claims to be a (sends a's public key as its static) without a's
 * private key: the static-static DH differs, the timestamp fails. */
static void test_impostor_static_key(void **state)
{
	struct wg_static_identity fake = c.id;
	struct wg_msg_initiation init;
	struct wg_handshake hs, *rhs, saved = *ba;

	(void)state;
	memcpy(fake.public_key, a.id.public_key, 32);
	wg_noise_handshake_init(&hs, &fake, b.id.public_key, NULL);
	tick();
	assert_int_equal(wg_noise_create_initiation(&init, &hs, &fake, 7, unix_ns), 0);
	assert_int_equal(wg_noise_consume_initiation(&init, &b.id, lookup, &b, mono_ns, &rhs, NULL),
			 -EBADMSG);
	assert_null(rhs);
	assert_memory_equal(ba, &saved, sizeof(saved));
}

static void test_wrong_psk(void **state)
{
	struct wg_msg_initiation init;
	struct wg_msg_response resp;
	struct wg_handshake *rhs;

	(void)state;
	wg_noise_set_psk(ab, psk1);
	wg_noise_set_psk(ba, psk2);
	tick();
	assert_int_equal(wg_noise_create_initiation(&init, ab, &a.id, 1, unix_ns), 0);
	assert_int_equal(wg_noise_consume_initiation(&init, &b.id, lookup, &b, mono_ns, &rhs, NULL),
			 0);
	assert_int_equal(wg_noise_create_response(&resp, rhs, 2), 0);
	assert_int_equal(wg_noise_consume_response(&resp, ab, &a.id), -EBADMSG);
	assert_int_equal(ab->state, WG_HS_CREATED_INITIATION);

	/* One side without PSK fails the same way. */
	wg_noise_set_psk(ba, NULL);
	tick();
	assert_int_equal(wg_noise_create_initiation(&init, ab, &a.id, 1, unix_ns), 0);
	assert_int_equal(wg_noise_consume_initiation(&init, &b.id, lookup, &b, mono_ns, &rhs, NULL),
			 0);
	assert_int_equal(wg_noise_create_response(&resp, rhs, 2), 0);
	assert_int_equal(wg_noise_consume_response(&resp, ab, &a.id), -EBADMSG);
}

/* --- low-order keys --- */

static const char *const low_order[7] = {
	"0000000000000000000000000000000000000000000000000000000000000000",
	"0100000000000000000000000000000000000000000000000000000000000000",
	"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
	"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
};

static void low_order_point(uint8_t out[32], int i)
{
	unsigned int v;

	for (int j = 0; j < 32; j++) {
		sscanf(low_order[i] + 2 * j, "%2x", &v);
		out[j] = (uint8_t)v;
	}
}

/* We never initiate to a low-order peer key. */
static void test_low_order_peer_no_initiation(void **state)
{
	struct wg_msg_initiation init;
	struct wg_handshake hs;
	uint8_t p[32];

	(void)state;
	for (int i = 0; i < 7; i++) {
		low_order_point(p, i);
		wg_noise_handshake_init(&hs, &a.id, p, NULL);
		assert_int_equal(hs.static_static, WG_SS_INVALID);
		assert_false(wg_noise_static_usable(&hs));
		assert_true(wg_ct_is_zero(hs.precomputed_static_static, 32));
		assert_int_equal(wg_noise_precompute(&hs, &a.id), -EINVAL);
		/* Left pending, the first initiation finds it unusable. */
		wg_noise_handshake_init(&hs, NULL, p, NULL);
		assert_int_equal(hs.static_static, WG_SS_PENDING);
		assert_int_equal(wg_noise_create_initiation(&init, &hs, &a.id, 1, unix_ns),
				 -EINVAL);
		assert_int_equal(hs.static_static, WG_SS_INVALID);
		assert_int_equal(wg_noise_create_initiation(&init, &hs, &a.id, 1, unix_ns),
				 -EINVAL);
		assert_int_equal(hs.state, WG_HS_ZEROED);
	}
}

/* A configured low-order peer (whose key anyone could claim) is refused
 * when an initiation names it. */
static void test_low_order_peer_claimed(void **state)
{
	struct node r;
	struct wg_static_identity fake = c.id;
	struct wg_msg_initiation init;
	struct wg_handshake hs, *rhs;

	(void)state;
	node_init(&r);
	for (int i = 0; i < 7; i++) {
		r.npeers = 0;
		low_order_point(fake.public_key, i);
		node_add_peer(&r, fake.public_key, NULL);
		wg_noise_handshake_init(&hs, &fake, r.id.public_key, NULL);
		tick();
		assert_int_equal(wg_noise_create_initiation(&init, &hs, &fake, 1, unix_ns), 0);
		assert_int_equal(
			wg_noise_consume_initiation(&init, &r.id, lookup, &r, mono_ns, &rhs, NULL),
			-EINVAL);
		assert_null(rhs);
	}
}

/* Low-order ephemerals in either message. */
static void test_low_order_ephemeral(void **state)
{
	struct wg_msg_initiation init;
	struct wg_msg_response resp;
	struct wg_handshake *rhs;

	(void)state;
	for (int i = 0; i < 7; i++) {
		tick();
		assert_int_equal(wg_noise_create_initiation(&init, ab, &a.id, 1, unix_ns), 0);
		low_order_point(init.ephemeral, i);
		assert_int_equal(
			wg_noise_consume_initiation(&init, &b.id, lookup, &b, mono_ns, &rhs, NULL),
			-EINVAL);

		tick();
		assert_int_equal(wg_noise_create_initiation(&init, ab, &a.id, 1, unix_ns), 0);
		assert_int_equal(
			wg_noise_consume_initiation(&init, &b.id, lookup, &b, mono_ns, &rhs, NULL),
			0);
		assert_int_equal(wg_noise_create_response(&resp, rhs, 2), 0);
		low_order_point(resp.ephemeral, i);
		assert_int_equal(wg_noise_consume_response(&resp, ab, &a.id), -EINVAL);
		assert_int_equal(ab->state, WG_HS_CREATED_INITIATION);
	}
}

/* --- forged and misused messages --- */

static void test_tampered_initiation(void **state)
{
	struct wg_msg_initiation init, bad;
	struct wg_handshake *rhs, saved;
	uint8_t *p = (uint8_t *)&bad;

	(void)state;
	tick();
	assert_int_equal(wg_noise_create_initiation(&init, ab, &a.id, 1, unix_ns), 0);
	saved = *ba;
	/* ephemeral, encrypted static and timestamp are all authenticated */
	for (size_t i = offsetof(struct wg_msg_initiation, ephemeral);
	     i < offsetof(struct wg_msg_initiation, macs); i++) {
		bad = init;
		p[i] ^= 0x04;
		int ret = wg_noise_consume_initiation(&bad, &b.id, lookup, &b, mono_ns, &rhs, NULL);

		assert_true(ret == -EBADMSG || ret == -EINVAL);
		assert_null(rhs);
	}
	assert_memory_equal(ba, &saved, sizeof(saved));
	assert_int_equal(wg_noise_consume_initiation(&init, &b.id, lookup, &b, mono_ns, &rhs, NULL),
			 0);
}

static void test_tampered_response(void **state)
{
	struct wg_msg_initiation init;
	struct wg_msg_response resp, bad;
	struct wg_handshake *rhs, saved;
	struct wg_keypair ikp, rkp;
	uint8_t *p = (uint8_t *)&bad;

	(void)state;
	tick();
	assert_int_equal(wg_noise_create_initiation(&init, ab, &a.id, 0xa1, unix_ns), 0);
	assert_int_equal(wg_noise_consume_initiation(&init, &b.id, lookup, &b, mono_ns, &rhs, NULL),
			 0);
	assert_int_equal(wg_noise_create_response(&resp, rhs, 0xb2), 0);
	saved = *ab;
	for (size_t i = offsetof(struct wg_msg_response, ephemeral);
	     i < offsetof(struct wg_msg_response, macs); i++) {
		bad = resp;
		p[i] ^= 0x04;
		int ret = wg_noise_consume_response(&bad, ab, &a.id);

		assert_true(ret == -EBADMSG || ret == -EINVAL);
	}
	assert_memory_equal(ab, &saved, sizeof(saved));
	assert_int_equal(wg_noise_consume_response(&resp, ab, &a.id), 0);
	/* A second copy of the response finds no initiation to answer. */
	assert_int_equal(wg_noise_consume_response(&resp, ab, &a.id), -EINVAL);
	assert_int_equal(wg_noise_derive_keypair(&ikp, ab, mono_ns), 0);
	assert_int_equal(wg_noise_derive_keypair(&rkp, rhs, mono_ns), 0);
	assert_keypairs_match(&ikp, &rkp);
}

static void test_wrong_states_and_identity(void **state)
{
	struct wg_static_identity none = {.has_identity = false};
	struct wg_msg_initiation init;
	struct wg_msg_response resp;
	struct wg_handshake hs, *rhs;
	struct wg_keypair kp;

	(void)state;
	wg_noise_handshake_init(&hs, &a.id, b.id.public_key, NULL);
	assert_int_equal(hs.static_static, WG_SS_VALID);
	assert_int_equal(wg_noise_create_response(&resp, &hs, 1), -EINVAL);
	assert_int_equal(wg_noise_consume_response(&resp, &hs, &a.id), -EINVAL);
	assert_int_equal(wg_noise_derive_keypair(&kp, &hs, 0), -EINVAL);
	assert_int_equal(wg_noise_create_initiation(&init, &hs, &none, 1, unix_ns), -EINVAL);
	assert_int_equal(wg_noise_create_initiation(&init, &hs, NULL, 1, unix_ns), -EINVAL);

	tick();
	assert_int_equal(wg_noise_create_initiation(&init, &hs, &a.id, 1, unix_ns), 0);
	assert_int_equal(wg_noise_consume_response(&resp, &hs, &none), -EINVAL);
	assert_int_equal(wg_noise_consume_response(&resp, &hs, NULL), -EINVAL);
	assert_int_equal(wg_noise_derive_keypair(&kp, &hs, 0), -EINVAL);
	rhs = &hs;
	assert_int_equal(wg_noise_consume_initiation(&init, &none, lookup, &b, mono_ns, &rhs, NULL),
			 -EINVAL);
	assert_null(rhs);
	assert_int_equal(wg_noise_consume_initiation(&init, NULL, lookup, &b, mono_ns, &rhs, NULL),
			 -EINVAL);

	/* Without an identity there is no precomputation: it stays pending. */
	wg_noise_handshake_init(&hs, NULL, b.id.public_key, NULL);
	assert_int_equal(hs.static_static, WG_SS_PENDING);
	assert_int_equal(wg_noise_precompute(&hs, &none), -EINVAL);
	assert_int_equal(hs.static_static, WG_SS_PENDING);
	assert_true(wg_noise_static_usable(&hs));
	assert_int_equal(wg_noise_precompute(&hs, &a.id), 0);
	assert_int_equal(hs.static_static, WG_SS_VALID);
	wg_noise_static_changed(&hs);
	assert_int_equal(hs.static_static, WG_SS_PENDING);
	assert_true(wg_ct_is_zero(hs.precomputed_static_static, 32));
}

static void test_clear_and_forget(void **state)
{
	struct wg_msg_initiation init;
	struct wg_handshake *rhs;
	uint8_t pre[32], ts[12];

	(void)state;
	wg_noise_set_psk(ab, psk1);
	wg_noise_set_psk(ba, psk1);
	tick();
	assert_int_equal(wg_noise_create_initiation(&init, ab, &a.id, 1, unix_ns), 0);
	assert_int_equal(wg_noise_consume_initiation(&init, &b.id, lookup, &b, mono_ns, &rhs, NULL),
			 0);
	memcpy(pre, ba->precomputed_static_static, 32);
	memcpy(ts, ba->latest_timestamp, 12);

	wg_noise_handshake_clear(ba);
	assert_int_equal(ba->state, WG_HS_ZEROED);
	assert_true(wg_ct_is_zero(ba->chaining_key, 32));
	assert_true(wg_ct_is_zero(ba->hash, 32));
	assert_true(wg_ct_is_zero(ba->remote_ephemeral, 32));
	assert_true(wg_ct_is_zero(ba->ephemeral_private, 32));
	assert_memory_equal(ba->precomputed_static_static, pre, 32);
	assert_memory_equal(ba->latest_timestamp, ts, 12); /* replay protection survives */
	assert_memory_equal(ba->preshared_key, psk1, 32);

	wg_noise_handshake_forget(ba);
	assert_memory_equal(ba->remote_static, a.id.public_key, 32);
	assert_memory_equal(ba->preshared_key, psk1, 32);
	assert_int_equal(ba->static_static, WG_SS_PENDING);
	assert_true(wg_ct_is_zero(ba->precomputed_static_static, 32));
	assert_true(wg_ct_is_zero(ba->latest_timestamp, 12));
	assert_int_equal(wg_noise_precompute(ba, &b.id), 0);
	assert_memory_equal(ba->precomputed_static_static, pre, 32);
}

static void test_seal_limits_and_open_errors(void **state)
{
	struct wg_keypair ikp, rkp;
	uint8_t pkt[WG_MSG_DATA_MIN_LEN + 16];
	struct wg_msg_data *msg = (struct wg_msg_data *)pkt;
	uint64_t ctr;

	(void)state;
	handshake(&a, ab, &b, &ikp, &rkp);

	/* Keepalive: empty payload, tag only. */
	assert_int_equal(wg_noise_seal(&ikp, msg, NULL, 0), 0);
	assert_int_equal(wg_noise_open(&rkp, msg, WG_MSG_DATA_MIN_LEN, &ctr), 0);
	assert_int_equal(ctr, 0);

	assert_int_equal(wg_noise_seal(&ikp, msg, NULL, 0), 0);
	assert_int_equal(wg_noise_open(&rkp, msg, WG_MSG_DATA_MIN_LEN - 1, &ctr), -EBADMSG);
	msg->header[0] = WG_MSG_RESPONSE;
	assert_int_equal(wg_noise_open(&rkp, msg, WG_MSG_DATA_MIN_LEN, &ctr), -EBADMSG);
	msg->header[0] = WG_MSG_DATA;
	msg->header[1] = 1; /* reserved bytes must be zero */
	assert_int_equal(wg_noise_open(&rkp, msg, WG_MSG_DATA_MIN_LEN, &ctr), -EBADMSG);

	/* The last usable counter, then refusal without consuming it. */
	ikp.sending_counter = WG_REJECT_AFTER_MESSAGES - 1;
	memset(pkt, 0, sizeof(pkt));
	assert_int_equal(wg_noise_seal(&ikp, msg, pkt + 16, 16), 0);
	assert_int_equal(wg_le64_get(msg->counter), WG_REJECT_AFTER_MESSAGES - 1);
	assert_int_equal(wg_noise_open(&rkp, msg, sizeof(pkt), &ctr), 0);
	assert_int_equal(ctr, WG_REJECT_AFTER_MESSAGES - 1);
	assert_int_equal(ikp.sending_counter, WG_REJECT_AFTER_MESSAGES);
	assert_int_equal(wg_noise_seal(&ikp, msg, pkt + 16, 16), -EKEYEXPIRED);
	assert_int_equal(ikp.sending_counter, WG_REJECT_AFTER_MESSAGES);
}

/* X25519 operations per handshake: 4 on each side. */
static void test_x25519_op_count(void **state)
{
	struct wg_keypair ikp, rkp;
	uint64_t before = wg_x25519_op_count();

	(void)state;
	handshake(&a, ab, &b, &ikp, &rkp);
	assert_int_equal(wg_x25519_op_count() - before, 8);
}

#define T(fn) cmocka_unit_test_setup(fn, setup_pair)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_handshake_no_psk),
		T(test_handshake_psk),
		T(test_handshake_fresh_keys),
		T(test_fixed_key_vector),
		T(test_replayed_initiation),
		T(test_initiation_flood),
		T(test_unknown_initiator),
		T(test_wrong_responder),
		T(test_impostor_static_key),
		T(test_wrong_psk),
		T(test_low_order_peer_no_initiation),
		T(test_low_order_peer_claimed),
		T(test_low_order_ephemeral),
		T(test_tampered_initiation),
		T(test_tampered_response),
		T(test_wrong_states_and_identity),
		T(test_clear_and_forget),
		T(test_seal_limits_and_open_errors),
		T(test_x25519_op_count),
	};

	randombytes_set_implementation(&test_rng);
	if (wg_crypto_init())
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
