/* Handshakes per second on one core: initiator create, responder consume,
 * response create, initiator consume, both keypairs derived. Noise only (no
 * MAC1/MAC2, no sockets). Timestamps and the flood-guard clock are injected
 * and move a second per handshake so the replay guards never refuse.
 * Median of 5 runs of at least 1 s each. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wgd/constants.h"
#include "wgd/noise.h"

#define RUNS	   5
#define MIN_RUN_NS WG_NSEC_PER_SEC

struct side {
	struct wg_static_identity id;
	struct wg_handshake hs;
};

static struct side init_side, resp_side;
static uint64_t fake_clock_ns = WG_NSEC_PER_SEC;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * WG_NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

static struct wg_handshake *lookup(void *ctx, const uint8_t pub[WG_KEY_LEN])
{
	struct side *s = ctx;

	return wg_ct_equal(s->hs.remote_static, pub, WG_KEY_LEN) ? &s->hs : NULL;
}

static void make_identity(struct wg_static_identity *id)
{
	wg_x25519_generate(id->private_key);
	wg_x25519_public(id->public_key, id->private_key);
	id->has_identity = true;
}

static int one_handshake(void)
{
	struct wg_msg_initiation init;
	struct wg_msg_response resp;
	struct wg_handshake *rhs;
	struct wg_keypair ikp, rkp;

	fake_clock_ns += WG_NSEC_PER_SEC;
	if (wg_noise_create_initiation(&init, &init_side.hs, &init_side.id, 1, fake_clock_ns) ||
	    wg_noise_consume_initiation(&init, &resp_side.id, lookup, &resp_side, fake_clock_ns,
					&rhs, NULL) ||
	    wg_noise_create_response(&resp, rhs, 2) ||
	    wg_noise_consume_response(&resp, &init_side.hs, &init_side.id) ||
	    wg_noise_derive_keypair(&ikp, &init_side.hs, fake_clock_ns) ||
	    wg_noise_derive_keypair(&rkp, rhs, fake_clock_ns))
		return -1;
	if (!wg_ct_equal(ikp.sending_key, rkp.receiving_key, WG_KEY_LEN))
		return -1;
	wg_noise_keypair_clear(&ikp);
	wg_noise_keypair_clear(&rkp);
	return 0;
}

/* Handshakes per second of one run of at least MIN_RUN_NS. */
static double run(uint64_t *count)
{
	uint64_t start = now_ns(), elapsed, n = 0;

	do {
		for (int i = 0; i < 64; i++, n++)
			if (one_handshake()) {
				fprintf(stderr, "handshake failed\n");
				exit(1);
			}
		elapsed = now_ns() - start;
	} while (elapsed < MIN_RUN_NS);
	*count += n;
	return (double)n * 1e9 / (double)elapsed;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(void)
{
	double rates[RUNS];
	uint64_t ops_before, total = 0;

	if (wg_crypto_init())
		return 1;
	make_identity(&init_side.id);
	make_identity(&resp_side.id);
	wg_noise_handshake_init(&init_side.hs, &init_side.id, resp_side.id.public_key, NULL);
	wg_noise_handshake_init(&resp_side.hs, &resp_side.id, init_side.id.public_key, NULL);

	ops_before = wg_x25519_op_count();
	for (int i = 0; i < RUNS; i++) {
		rates[i] = run(&total);
		printf("run %d: %.0f handshakes/s\n", i + 1, rates[i]);
	}
	qsort(rates, RUNS, sizeof(rates[0]), cmp_double);
	printf("median: %.0f handshakes/s (%.1f us per handshake, both sides)\n", rates[RUNS / 2],
	       1e6 / rates[RUNS / 2]);
	printf("x25519 ops per handshake: %.2f\n",
	       (double)(wg_x25519_op_count() - ops_before) / (double)total);
	return 0;
}
