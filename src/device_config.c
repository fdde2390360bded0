/* wg_device_set / wg_device_get: applying a parsed UAPI change set (planned
 * whole, then committed: config_plan.h) and writing the get reply, whole or
 * streamed a few peers at a time. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config_plan.h"
#include "dev.h"
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

/* A streamed get remembers the last peer it wrote by key and creation
 * serial, not by pointer: peers may come and go between its steps, and
 * nothing has to tell it. */
struct wg_device_dump {
	struct wg_device *dev;			      /* NULL once the device is gone */
	uint64_t last_serial;			      /* 0: none written yet */
	uint8_t last_key[WG_KEY_LEN];		      /* public key of that peer */
	struct wg_device_dump *prev_dump, *next_dump; /* in dev->dumps */
};

static void dump_unlink(struct wg_device_dump *d)
{
	if (!d->dev)
		return;
	if (d->prev_dump)
		d->prev_dump->next_dump = d->next_dump;
	else
		d->dev->dumps = d->next_dump;
	if (d->next_dump)
		d->next_dump->prev_dump = d->prev_dump;
	d->dev = NULL;
}

/* The next peer to write: the one after the last written, or if that one
 * is gone, the first peer created after it (the list is in creation
 * order, so this walk happens only when the cursor's peer was removed). */
static struct wg_peer *dump_cursor(const struct wg_device_dump *d)
{
	struct wg_peer *p;

	if (!d->dev)
		return NULL;
	if (!d->last_serial)
		return d->dev->peers_head;
	p = wg_peer_lookup(d->dev, d->last_key);
	if (p && p->serial == d->last_serial)
		return p->list_next;
	for (p = d->dev->peers_head; p && p->serial <= d->last_serial; p = p->list_next)
		;
	return p;
}

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
	d->dev = dev;
	d->next_dump = dev->dumps;
	if (dev->dumps)
		dev->dumps->prev_dump = d;
	dev->dumps = d;
	*out = d;
	return 0;
}

bool wg_device_dump_next(struct wg_device_dump *d, struct wg_uapi_writer *w, size_t max_peers)
{
	struct wg_peer *p = dump_cursor(d);

	for (; p && max_peers; max_peers--, p = p->list_next) {
		get_peer(p, w);
		d->last_serial = p->serial;
		memcpy(d->last_key, p->pubkey.key, WG_KEY_LEN);
	}
	return p != NULL;
}

void wg_device_dump_end(struct wg_device_dump *d)
{
	if (!d)
		return;
	dump_unlink(d);
	free(d);
}

void wg_dev_dumps_detach(struct wg_device *dev)
{
	while (dev->dumps)
		dump_unlink(dev->dumps);
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
