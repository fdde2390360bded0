/* wg_device_set / wg_device_get: applying a parsed UAPI change set (planned
 * whole, then committed: config_plan.h) and writing the get reply, whole or
 * streamed a few peers at a time. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config_plan.h"
#include "dev.h"
#include "peer_cursor.h"
#include "wgd/platform/udp.h"

int wg_device_set(struct wg_device *dev, const struct wg_uapi_set *set)
{
	struct wg_config_plan pl;
	int ret;

	wg_dev_tick(dev);
	ret = wg_config_plan(dev, set, &pl);

	if (ret < 0)
		return ret;
	wg_config_commit(dev, &pl);
	wg_dev_rearm_timer(dev);
	return 0;
}

/* --- get --- */

static int put_aip(void *ctx, int family, const uint8_t *addr, uint8_t cidr)
{
	wg_uapi_put_aip(ctx, family, addr, cidr);
	return 0;
}

static void get_peer(struct wg_peer *peer, struct wg_uapi_writer *w)
{
	uint64_t hs = peer->last_handshake_unix_ns;

	wg_uapi_put_key(w, "public_key", peer->pubkey.key);
	wg_uapi_put_key(w, "preshared_key", peer->hs.preshared_key);
	wg_uapi_put_u64(w, "protocol_version", 1);
	if (wg_peer_has_endpoint(peer))
		wg_uapi_put_endpoint(w, "endpoint", &peer->endpoint.addr);
	wg_uapi_put_u64(w, "last_handshake_time_sec", hs / WG_NSEC_PER_SEC);
	wg_uapi_put_u64(w, "last_handshake_time_nsec", hs % WG_NSEC_PER_SEC);
	wg_uapi_put_u64(w, "tx_bytes", peer->tx_bytes);
	wg_uapi_put_u64(w, "rx_bytes", peer->rx_bytes);
	wg_uapi_put_u64(w, "persistent_keepalive_interval", peer->persistent_keepalive);
	wg_allowedips_foreach(&peer->aips, put_aip, w);
	wg_source_put(peer, w);
}

/* --- the peer cursor (peer_cursor.h) --- */

void wg_peer_cursor_open(struct wg_device_dump *c, struct wg_device *dev)
{
	memset(c, 0, sizeof(*c));
	c->dev = dev;
	c->next_dump = dev->dumps;
	if (dev->dumps)
		dev->dumps->prev_dump = c;
	dev->dumps = c;
}

void wg_peer_cursor_close(struct wg_device_dump *c)
{
	if (!c->dev)
		return;
	if (c->prev_dump)
		c->prev_dump->next_dump = c->next_dump;
	else
		c->dev->dumps = c->next_dump;
	if (c->next_dump)
		c->next_dump->prev_dump = c->prev_dump;
	c->dev = NULL;
}

/* The list is in creation order, so the walk by serial happens only when
 * the cursor's peer was removed. */
struct wg_peer *wg_peer_cursor_peek(const struct wg_device_dump *c)
{
	struct wg_peer *p;

	if (!c->dev)
		return NULL;
	if (!c->last_serial)
		return c->dev->peers_head;
	p = wg_peer_lookup(c->dev, c->last_key);
	if (p && p->serial == c->last_serial)
		return p->list_next;
	for (p = c->dev->peers_head; p && p->serial <= c->last_serial; p = p->list_next)
		;
	return p;
}

void wg_peer_cursor_pass(struct wg_device_dump *c, const struct wg_peer *p)
{
	c->last_serial = p->serial;
	memcpy(c->last_key, p->pubkey.key, WG_KEY_LEN);
}

void wg_peer_cursor_rewind(struct wg_device_dump *c)
{
	c->last_serial = 0;
}

void wg_dev_dumps_detach(struct wg_device *dev)
{
	while (dev->dumps)
		wg_peer_cursor_close(dev->dumps);
}

/* --- streamed get: the cursor itself is the dump --- */

int wg_device_dump_begin(struct wg_device *dev, struct wg_uapi_writer *w,
			 struct wg_device_dump **out)
{
	struct wg_device_dump *d = calloc(1, sizeof(*d));
	char a[WG_ADDR_PAIR_STRLEN];

	*out = NULL;
	if (!d)
		return -ENOMEM;
	if (dev->id->has_identity)
		wg_uapi_put_key(w, "private_key", dev->id->private_key);
	if (dev->udp)
		wg_uapi_put_u64(w, "listen_port", wg_device_listen_port(dev));
	if (dev->fwmark)
		wg_uapi_put_u64(w, "fwmark", dev->fwmark);
	if (wg_addr_pair_set(&dev->bind))
		wg_uapi_put_str(w, "wgd_bind", wg_addr_pair_format(&dev->bind, a, sizeof(a)));
	wg_peer_cursor_open(d, dev);
	*out = d;
	return 0;
}

bool wg_device_dump_next(struct wg_device_dump *d, struct wg_uapi_writer *w, size_t max_peers)
{
	struct wg_peer *p = wg_peer_cursor_peek(d);

	for (; p && max_peers; max_peers--, p = p->list_next) {
		get_peer(p, w);
		wg_peer_cursor_pass(d, p);
	}
	return p != NULL;
}

void wg_device_dump_end(struct wg_device_dump *d)
{
	if (!d)
		return;
	wg_peer_cursor_close(d);
	free(d);
}

int wg_device_get(struct wg_device *dev, struct wg_uapi_writer *w)
{
	struct wg_device_dump *d;
	int ret = wg_device_dump_begin(dev, w, &d);

	if (ret < 0)
		return ret;
	while (wg_device_dump_next(d, w, SIZE_MAX))
		;
	wg_device_dump_end(d);
	return w->failed ? -ENOMEM : 0;
}
