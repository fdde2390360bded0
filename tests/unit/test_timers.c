/* The timer machine against a peer that never answers (a bare UDP socket),
 * on an injected clock: retransmission with jitter, giving up, zeroing,
 * many peers on the heap, and the rule that an idle device arms nothing
 * (checked with libevent's own event count on the system clock too). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "wgd/crypto.h"
#include "wgd/device.h"
#include "dev.h"
#include "wgd/platform/tun.h"
#include "wgd/uapi.h"
#include "helpers/devpair.h"

#define SEC    WG_NSEC_PER_SEC
#define MSEC   WG_NSEC_PER_MSEC
#define NPEERS 40

struct env {
	uint64_t mono, unix_ns;
	struct wg_clock clock;
	struct event_base *base;
	struct wg_device *dev;
	int tun_fd;
	int sink; /* UDP socket standing in for silent peers */
	uint16_t sink_port;
	uint8_t peer_pub[NPEERS][WG_KEY_LEN];
};

static uint64_t fake_mono(void *ctx)
{
	return ((struct env *)ctx)->mono;
}

static uint64_t fake_unix(void *ctx)
{
	return ((struct env *)ctx)->unix_ns;
}

static int open_sink(uint16_t *port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);

	assert_true(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

static struct env *env_new(bool fake_clock)
{
	struct env *e = calloc(1, sizeof(*e));
	struct wg_device_params p = {0};
	uint8_t priv[WG_KEY_LEN];
	char priv_hex[65];
	struct wg_tun *tun;
	int sv[2];

	assert_int_equal(wg_crypto_init(), 0);
	e->mono = 5000 * SEC;
	e->unix_ns = 1600000000 * SEC;
	e->clock = (struct wg_clock){fake_mono, fake_unix, e};
	e->base = event_base_new();
	assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
	assert_int_equal(fcntl(sv[1], F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(wg_tun_from_fd(sv[0], false, "tunT", &tun), 0);
	e->tun_fd = sv[1];
	p.base = e->base;
	p.tun = tun;
	p.clock = fake_clock ? &e->clock : NULL;
	assert_int_equal(wg_device_create(&p, &e->dev), 0);
	e->sink = open_sink(&e->sink_port);
	wg_x25519_generate(priv);
	hex(priv_hex, priv);
	assert_int_equal(dev_apply(e->dev, "private_key=%s\n", priv_hex), 0);
	wg_memzero(priv, sizeof(priv));
	return e;
}

/* Peer i owns 10.1.0.i/32 and lives at the sink. */
static void add_peer(struct env *e, int i)
{
	uint8_t k[WG_KEY_LEN];
	char h[65];

	wg_x25519_generate(k);
	wg_x25519_public(e->peer_pub[i], k);
	hex(h, e->peer_pub[i]);
	assert_int_equal(dev_apply(e->dev, "public_key=%s\nendpoint=127.0.0.1:%u\nallowed_ip=10.1.0.%d/32\n",
			       h, e->sink_port, i),
			 0);
}

static int setup(void **state)
{
	struct env *e = env_new(true);

	add_peer(e, 0);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	wg_device_destroy(e->dev);
	event_base_free(e->base);
	close(e->tun_fd);
	close(e->sink);
	free(e);
	return 0;
}

static void pump(struct env *e)
{
	for (int i = 0; i < 4; i++)
		event_base_loop(e->base, EVLOOP_NONBLOCK);
}

static void send_to_peer(struct env *e, int i)
{
	uint8_t pkt[28] = {0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 1, 0, 0};

	pkt[19] = (uint8_t)i;
	assert_int_equal(send(e->tun_fd, pkt, sizeof(pkt), 0), (ssize_t)sizeof(pkt));
	pump(e);
}

/* Initiations that reached the sink since the last call. */
static int drain_initiations(struct env *e, uint32_t *last_sender)
{
	uint8_t buf[256];
	ssize_t n;
	int count = 0;

	while ((n = recv(e->sink, buf, sizeof(buf), 0)) > 0) {
		assert_int_equal(n, WG_MSG_INITIATION_LEN);
		assert_int_equal(buf[0], WG_MSG_INITIATION);
		if (last_sender)
			*last_sender = wg_le32_get(buf + 4);
		count++;
	}
	return count;
}

static void run_at(struct env *e, uint64_t t)
{
	e->mono = t;
	wg_device_run_timers(e->dev);
	pump(e);
}

static struct wg_device_stats stats(struct env *e)
{
	struct wg_device_stats s;

	wg_device_get_stats(e->dev, &s);
	return s;
}

/* --- tests --- */

static void test_idle_after_config(void **state)
{
	struct env *e = *state;

	assert_int_equal(wg_device_next_deadline(e->dev), UINT64_MAX);
	pump(e);
	assert_int_equal(drain_initiations(e, NULL), 0);
}

static void test_retransmit_with_jitter(void **state)
{
	struct env *e = *state;
	uint64_t t0 = e->mono, deadline;
	uint32_t idx1 = 0, idx2 = 0;

	send_to_peer(e, 0);
	assert_int_equal(drain_initiations(e, &idx1), 1);
	deadline = wg_device_next_deadline(e->dev);
	assert_true(deadline >= t0 + WG_REKEY_TIMEOUT);
	assert_true(deadline < t0 + WG_REKEY_TIMEOUT + WG_REKEY_TIMEOUT_JITTER_MAX);
	run_at(e, deadline - 1);
	assert_int_equal(drain_initiations(e, NULL), 0);
	run_at(e, deadline);
	assert_int_equal(drain_initiations(e, &idx2), 1);
	/* A retry is a fresh handshake under a fresh index. */
	assert_int_not_equal(idx1, idx2);
	/* More data does not hurry the handshake (REKEY_TIMEOUT rate limit). */
	send_to_peer(e, 0);
	assert_int_equal(drain_initiations(e, NULL), 0);
}

static void test_jitter_varies(void **state)
{
	struct env *e = *state;
	uint64_t first = 0;
	bool varied = false;

	/* Each retry draws its own jitter in [0, 333 ms). */
	send_to_peer(e, 0);
	for (int i = 0; i < 10; i++) {
		uint64_t d = wg_device_next_deadline(e->dev) - e->mono;
		assert_true(d >= WG_REKEY_TIMEOUT &&
			    d < WG_REKEY_TIMEOUT + WG_REKEY_TIMEOUT_JITTER_MAX);
		if (i == 0)
			first = d;
		else if (d != first)
			varied = true;
		run_at(e, wg_device_next_deadline(e->dev));
	}
	assert_true(varied);
}

static void test_give_up_after_rekey_attempt_time(void **state)
{
	struct env *e = *state;
	uint64_t t0 = e->mono, gave_up_at = 0;
	int sent;

	send_to_peer(e, 0);
	send_to_peer(e, 0);
	sent = drain_initiations(e, NULL);
	assert_int_equal(wg_peer_lookup(e->dev, e->peer_pub[0])->n_staged, 2);
	while (stats(e).handshakes_given_up == 0) {
		run_at(e, wg_device_next_deadline(e->dev));
		sent += drain_initiations(e, NULL);
		gave_up_at = e->mono;
		assert_true(e->mono - t0 < 2 * WG_REKEY_ATTEMPT_TIME);
	}
	/* The first initiation plus MAX_TIMER_HANDSHAKES + 1 retries, as the
	 * kernel sends; giving up when the last retry times out. */
	assert_int_equal(sent, WG_MAX_TIMER_HANDSHAKES + 2);
	assert_true(gave_up_at - t0 >= (WG_MAX_TIMER_HANDSHAKES + 2) * WG_REKEY_TIMEOUT);
	assert_true(gave_up_at - t0 < (WG_MAX_TIMER_HANDSHAKES + 2) *
					      (WG_REKEY_TIMEOUT + WG_REKEY_TIMEOUT_JITTER_MAX));
	assert_int_equal(wg_peer_lookup(e->dev, e->peer_pub[0])->n_staged, 0);
	assert_int_equal(stats(e).staged_given_up, 2);
	/* Only the zeroing deadline is left, then nothing. */
	assert_int_equal(wg_device_next_deadline(e->dev), gave_up_at + WG_ZERO_KEYS_AFTER);
	run_at(e, gave_up_at + WG_ZERO_KEYS_AFTER);
	assert_int_equal(stats(e).keys_zeroed, 1);
	assert_int_equal(wg_device_next_deadline(e->dev), UINT64_MAX);
	assert_int_equal(drain_initiations(e, NULL), 0);
}

static void test_persistent_keepalive_starts_handshake(void **state)
{
	struct env *e = *state;
	char h[65];

	hex(h, e->peer_pub[0]);
	assert_int_equal(dev_apply(e->dev, "public_key=%s\npersistent_keepalive_interval=25\n", h), 0);
	pump(e);
	/* The keepalive waits for the session; the handshake goes out now. */
	assert_int_equal(drain_initiations(e, NULL), 1);
	assert_int_equal(wg_peer_lookup(e->dev, e->peer_pub[0])->n_staged, 1);
	assert_int_equal(wg_peer_lookup(e->dev, e->peer_pub[0])->staged_head->len, 0);
}

static void test_many_peers_fire_in_order(void **state)
{
	struct env *e = *state;
	uint64_t expect[NPEERS];
	int fired = 0;

	for (int i = 1; i < NPEERS; i++)
		add_peer(e, i);
	/* Start handshakes in a scrambled order, 100 ms apart. */
	for (int k = 0; k < NPEERS; k++) {
		int i = (k * 7) % NPEERS;
		send_to_peer(e, i);
		expect[i] = wg_peer_lookup(e->dev, e->peer_pub[i])
				    ->timers.t[WG_TIMER_RETRANSMIT_HANDSHAKE]
				    .deadline_ns;
		e->mono += 100 * MSEC;
	}
	assert_int_equal(drain_initiations(e, NULL), NPEERS);
	/* The heap hands out deadlines in order, each at its own time. */
	for (uint64_t prev = 0; fired < NPEERS; fired++) {
		uint64_t next = wg_device_next_deadline(e->dev), min = UINT64_MAX;
		for (int i = 0; i < NPEERS; i++)
			if (expect[i] > prev && expect[i] < min)
				min = expect[i];
		assert_int_equal(next, min);
		run_at(e, next);
		assert_true(drain_initiations(e, NULL) >= 1);
		prev = next;
	}
}

static void test_remove_cancels_timers(void **state)
{
	struct env *e = *state;
	char h[65];

	send_to_peer(e, 0);
	assert_int_not_equal(wg_device_next_deadline(e->dev), UINT64_MAX);
	hex(h, e->peer_pub[0]);
	assert_int_equal(dev_apply(e->dev, "public_key=%s\nremove=true\n", h), 0);
	assert_int_equal(wg_device_next_deadline(e->dev), UINT64_MAX);
}

/* On the system clock the device arms a libevent timer only while some
 * deadline is pending: no periodic tick when idle. */
static void test_real_clock_no_tick(void **state)
{
	struct env *e = env_new(false);
	int idle;

	(void)state;
	add_peer(e, 0);
	idle = event_base_get_num_events(e->base, EVENT_BASE_COUNT_ADDED);
	pump(e);
	assert_int_equal(event_base_get_num_events(e->base, EVENT_BASE_COUNT_ADDED), idle);
	send_to_peer(e, 0); /* handshake: retransmission timer armed */
	assert_int_equal(event_base_get_num_events(e->base, EVENT_BASE_COUNT_ADDED), idle + 1);
	*state = e;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_idle_after_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retransmit_with_jitter, setup, teardown),
		cmocka_unit_test_setup_teardown(test_jitter_varies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_give_up_after_rekey_attempt_time, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_persistent_keepalive_starts_handshake, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_many_peers_fire_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove_cancels_timers, setup, teardown),
		cmocka_unit_test_teardown(test_real_clock_no_tick, teardown),
	};
	const char *level = getenv("WGD_TEST_LOG");

	if (level && wg_log_level_parse(level) >= 0)
		wg_log_init("test", (enum wg_log_level)wg_log_level_parse(level));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
