/* Fixture of two devices for the unit tests: see devpair.h. */
#include "devpair.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "wgd/constants.h"
#include "wgd/crypto.h"
#include "wgd/platform/tun.h"
#include "wgd/uapi.h"

static uint64_t fake_mono(void *ctx)
{
	return ((struct fake_clock *)ctx)->mono;
}

static uint64_t fake_unix(void *ctx)
{
	return ((struct fake_clock *)ctx)->unix_ns;
}

struct wg_clock fake_clock_of(struct fake_clock *c)
{
	return (struct wg_clock){fake_mono, fake_unix, c};
}

void hex(char out[65], const uint8_t k[WG_KEY_LEN])
{
	for (int i = 0; i < WG_KEY_LEN; i++)
		snprintf(out + 2 * i, 3, "%02x", k[i]);
}

void node_init(struct node *n, const struct wg_clock *clock, const char *name)
{
	struct wg_device_params p = {0};
	struct wg_tun *tun;
	int sv[2];

	n->base = event_base_new();
	assert_non_null(n->base);
	assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
	assert_int_equal(fcntl(sv[1], F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(wg_tun_from_fd(sv[0], false, name, &tun), 0);
	n->tun_fd = sv[1];
	p.base = n->base;
	p.tun = tun;
	p.clock = clock;
	assert_int_equal(wg_device_create(&p, &n->dev), 0);
	wg_x25519_generate(n->priv);
	wg_x25519_public(n->pub, n->priv);
	hex(n->priv_hex, n->priv);
	hex(n->pub_hex, n->pub);
}

void node_fini(struct node *n)
{
	if (n->dev)
		wg_device_destroy(n->dev);
	close(n->tun_fd);
	event_base_free(n->base);
}

static int dev_vapply(struct wg_device *dev, const char *fmt, va_list ap)
{
	struct wg_uapi_set set;
	char body[4096];
	int ret;

	vsnprintf(body, sizeof(body), fmt, ap);
	assert_int_equal(wg_uapi_parse_set(body, strlen(body), &set), 0);
	ret = wg_device_set(dev, &set);
	wg_uapi_set_free(&set);
	return ret;
}

int dev_apply(struct wg_device *dev, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = dev_vapply(dev, fmt, ap);
	va_end(ap);
	return ret;
}

int node_apply(struct node *n, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = dev_vapply(n->dev, fmt, ap);
	va_end(ap);
	return ret;
}

void node_pump(struct node *n)
{
	for (int i = 0; i < 4; i++)
		event_base_loop(n->base, EVLOOP_NONBLOCK);
}

int devpair_setup(void **state)
{
	struct devpair *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	assert_int_equal(wg_crypto_init(), 0);
	e->clk.mono = 1000 * WG_NSEC_PER_SEC;
	e->clk.unix_ns = DEVPAIR_UNIX_S * WG_NSEC_PER_SEC;
	e->clock = fake_clock_of(&e->clk);
	node_init(&e->a, &e->clock, "tunA");
	node_init(&e->b, &e->clock, "tunB");
	assert_int_equal(node_apply(&e->a,
				    "private_key=%s\npublic_key=%s\nendpoint=127.0.0.1:%u\n"
				    "allowed_ip=10.0.0.2/32\nallowed_ip=fd00::2/128\n",
				    e->a.priv_hex, e->b.pub_hex, wg_device_listen_port(e->b.dev)),
			 0);
	assert_int_equal(node_apply(&e->b,
				    "private_key=%s\npublic_key=%s\n"
				    "allowed_ip=10.0.0.1/32\nallowed_ip=fd00::1/128\n",
				    e->b.priv_hex, e->a.pub_hex),
			 0);
	*state = e;
	return 0;
}

int devpair_teardown(void **state)
{
	struct devpair *e = *state;

	node_fini(&e->a);
	node_fini(&e->b);
	free(e);
	return 0;
}

void devpair_pump(struct devpair *e)
{
	for (int i = 0; i < 4; i++) {
		node_pump(&e->a);
		node_pump(&e->b);
	}
}

void devpair_send_a_to_b(struct devpair *e)
{
	uint8_t pkt[40] = {0x45};

	pkt[3] = sizeof(pkt);
	pkt[8] = 64;
	pkt[9] = 17; /* UDP, 10.0.0.1 -> 10.0.0.2 */
	memcpy(pkt + 12, (const uint8_t[]){10, 0, 0, 1, 10, 0, 0, 2}, 8);
	assert_int_equal(write(e->a.tun_fd, pkt, sizeof(pkt)), (ssize_t)sizeof(pkt));
	devpair_pump(e);
}
