/* wg_device_set / wg_device_get: applying a parsed UAPI change set and
 * writing the get reply. A set is planned first (peer count, allocations,
 * new socket, fwmark: everything that can fail) and only then committed. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wgd/crypto.h"
#include "dev.h"
#include "send.h"
#include "wgd/platform/memory.h"
#include "wgd/platform/udp.h"

enum plan_op { PLAN_SKIP = 0, PLAN_CREATE, PLAN_UPDATE, PLAN_REMOVE };

/* Removing this many peers in one set is worth returning memory for. */
#define WG_TRIM_AFTER_REMOVED 1024

struct plan_act {
	enum plan_op op;
	struct wg_peer *peer; /* PLAN_CREATE: allocated by the plan */
	bool failed;	      /* PLAN_CREATE whose insertion failed at commit */
};

struct plan {
	const struct wg_uapi_set *set;
	struct plan_act *acts;		/* one per set->peers[i] */
	struct wg_pubkey_table pending; /* peers this set creates */
	size_t count;			/* peers after the set */
	bool identity_changes;
	bool has_identity;		/* after the set */
	uint8_t public_key[WG_KEY_LEN]; /* after the set, if has_identity */
	struct wg_udp *new_udp;
	bool fwmark_applied;
	struct wg_peer *own; /* existing peer with the new device key, if any */
};

/* --- planning --- */

static bool same_private_key(const uint8_t *given, const uint8_t *clamped)
{
	uint8_t k[WG_KEY_LEN];
	bool same;

	memcpy(k, given, WG_KEY_LEN);
	wg_x25519_clamp(k);
	same = wg_ct_equal(k, clamped, WG_KEY_LEN);
	wg_memzero(k, sizeof(k));
	return same;
}

static void plan_identity(struct wg_device *dev, struct plan *pl)
{
	const struct wg_uapi_set *set = pl->set;
	bool zero;

	pl->has_identity = dev->id->has_identity;
	memcpy(pl->public_key, dev->id->public_key, WG_KEY_LEN);
	if (!set->has_private_key)
		return;
	zero = wg_ct_is_zero(set->private_key, WG_KEY_LEN);
	if (zero) {
		pl->identity_changes = dev->id->has_identity;
		pl->has_identity = false;
		return;
	}
	/* Re-sending the same key (wg setconf) must not break sessions. */
	if (dev->id->has_identity && same_private_key(set->private_key, dev->id->private_key))
		return;
	pl->identity_changes = true;
	pl->has_identity = true;
	wg_x25519_public(pl->public_key, set->private_key);
}

/* The peer a key refers to at this point of the set, or NULL. */
static struct wg_peer *plan_find(struct wg_device *dev, struct plan *pl, const uint8_t *key)
{
	struct wg_pubkey_entry *e = wg_pubkey_lookup(&pl->pending, key);
	struct wg_peer *peer;

	if (e)
		return wg_container_of(e, struct wg_peer, pubkey);
	if (pl->set->replace_peers)
		return NULL;
	peer = wg_peer_lookup(dev, key);
	return peer && !peer->plan_removed ? peer : NULL;
}

static void plan_forget(struct plan *pl, struct wg_peer *peer)
{
	if (peer->plan_pending) {
		wg_pubkey_remove(&pl->pending, &peer->pubkey);
		peer->plan_pending = false;
	}
	peer->plan_removed = true;
	pl->count--;
}

static int plan_create(struct wg_device *dev, struct plan *pl, const uint8_t *key,
		       struct wg_peer **out)
{
	struct wg_peer *peer;
	int ret;

	if (pl->count >= WG_MAX_PEERS)
		return -E2BIG;
	ret = wg_peer_alloc(dev, key, &peer);
	if (ret < 0)
		return ret;
	*out = peer; /* owned by the plan from here on */
	ret = wg_pubkey_insert(&pl->pending, &peer->pubkey);
	if (ret < 0)
		return ret;
	peer->plan_pending = true;
	pl->count++;
	return 0;
}

static int plan_peer(struct wg_device *dev, struct plan *pl, size_t i)
{
	const struct wg_uapi_peer *sp = &pl->set->peers[i];
	struct plan_act *act = &pl->acts[i];
	struct wg_peer *cur;

	/* A peer with our own public key is ignored, as the kernel does. */
	if (pl->has_identity && wg_ct_equal(sp->public_key, pl->public_key, WG_KEY_LEN))
		return 0;
	cur = plan_find(dev, pl, sp->public_key);
	if (sp->remove) {
		if (cur) {
			plan_forget(pl, cur);
			*act = (struct plan_act){.op = PLAN_REMOVE, .peer = cur};
		}
		return 0;
	}
	if (cur) {
		*act = (struct plan_act){.op = PLAN_UPDATE, .peer = cur};
		return 0;
	}
	if (sp->update_only)
		return 0;
	act->op = PLAN_CREATE;
	return plan_create(dev, pl, sp->public_key, &act->peer);
}

static int plan_peers(struct wg_device *dev, struct plan *pl)
{
	struct wg_peer *own;
	int ret;

	pl->count = pl->set->replace_peers ? 0 : dev->n_peers;
	if (pl->identity_changes && pl->has_identity && !pl->set->replace_peers) {
		own = wg_peer_lookup(dev, pl->public_key);
		if (own) {
			own->plan_removed = true;
			pl->own = own;
			pl->count--;
		}
	}
	for (size_t i = 0; i < pl->set->n_peers; i++) {
		ret = plan_peer(dev, pl, i);
		if (ret < 0)
			return ret;
	}
	return wg_timer_heap_reserve(&dev->timers, pl->count * WG_TIMER_COUNT);
}

/* The only steps touching the OS, last because they can fail. */
static int plan_socket(struct wg_device *dev, struct plan *pl)
{
	const struct wg_uapi_set *set = pl->set;
	uint32_t fwmark = set->has_fwmark ? set->fwmark : dev->fwmark;
	int ret;

	if (set->has_listen_port &&
	    (!dev->udp || set->listen_port != wg_device_listen_port(dev) || set->listen_port == 0))
		return wg_udp_open(set->listen_port, fwmark, &pl->new_udp);
	if (!set->has_fwmark || set->fwmark == dev->fwmark || !dev->udp)
		return 0;
	ret = wg_udp_set_fwmark(dev->udp, set->fwmark);
	pl->fwmark_applied = ret == 0;
	return ret;
}

/* Forgets the scratch flags. Only peers the set names (and the one holding
 * the new device key) were flagged: touching just those keeps a one-peer
 * `wg set` on a device with 100,000 peers O(1). Call it while every peer
 * the plan points to still exists, i.e. before the commit removes any. */
static void plan_reset_flags(struct plan *pl)
{
	for (size_t i = 0; pl->acts && i < pl->set->n_peers; i++)
		if (pl->acts[i].peer)
			pl->acts[i].peer->plan_removed = false;
	if (pl->own)
		pl->own->plan_removed = false;
}

/* Takes the new peers out of the planning table. */
static void plan_unpend(struct plan *pl)
{
	for (size_t i = 0; pl->acts && i < pl->set->n_peers; i++) {
		struct wg_peer *p = pl->acts[i].peer;
		if (pl->acts[i].op != PLAN_CREATE || !p || !p->plan_pending)
			continue;
		wg_pubkey_remove(&pl->pending, &p->pubkey);
		p->plan_pending = false;
	}
}

/* Frees the plan; new peers that never made it into the device (all of
 * them if the set was not committed) are freed with it. */
static void plan_free(struct plan *pl, bool committed)
{
	/* After a commit the flags were reset before it began, and it set
	 * them only on new peers that failed (freed just below). */
	if (!committed) {
		plan_reset_flags(pl);
		plan_unpend(pl);
	}
	for (size_t i = 0; pl->acts && i < pl->set->n_peers; i++) {
		struct plan_act *a = &pl->acts[i];
		if (a->op == PLAN_CREATE && (!committed || a->failed))
			wg_peer_free(a->peer);
	}
	wg_pubkey_table_free(&pl->pending);
	free(pl->acts);
	if (!committed && pl->new_udp)
		wg_udp_close(pl->new_udp);
}

static int plan_set(struct wg_device *dev, struct plan *pl)
{
	int ret;

	pl->acts = calloc(pl->set->n_peers ? pl->set->n_peers : 1, sizeof(*pl->acts));
	if (!pl->acts)
		return -ENOMEM;
	ret = wg_pubkey_table_init(&pl->pending);
	if (ret < 0)
		return ret;
	plan_identity(dev, pl);
	ret = plan_peers(dev, pl);
	if (ret < 0)
		return ret;
	return plan_socket(dev, pl);
}

/* --- commit --- */

static void commit_identity(struct wg_device *dev, const struct plan *pl)
{
	struct wg_peer *peer;

	if (!pl->identity_changes)
		return;
	peer = pl->has_identity ? wg_peer_lookup(dev, pl->public_key) : NULL;
	if (peer)
		wg_peer_remove(peer);
	if (pl->has_identity) {
		memcpy(dev->id->private_key, pl->set->private_key, WG_KEY_LEN);
		wg_x25519_clamp(dev->id->private_key);
		memcpy(dev->id->public_key, pl->public_key, WG_KEY_LEN);
	} else {
		wg_memzero(dev->id, sizeof(*dev->id));
	}
	dev->id->has_identity = pl->has_identity;
	/* A new key is a new identity to every peer: sessions and handshake
	 * state go, and so does the initiation rate limit, so the next packet
	 * handshakes at once (as the kernel and wireguard-go do) instead of
	 * waiting out REKEY_TIMEOUT left from an initiation under the old key. */
	for (peer = dev->peers_head; peer; peer = peer->list_next) {
		wg_noise_static_changed(&peer->hs);
		wg_peer_zero_keys(peer);
		peer->has_sent_handshake = false;
	}
	wg_cookie_checker_init(&dev->cookie_checker, pl->has_identity ? pl->public_key : NULL);
	wg_log_info("interface key %s", pl->has_identity ? "changed" : "removed");
}

static int commit_aips(struct wg_device *dev, struct wg_peer *peer, const struct wg_uapi_peer *sp)
{
	int err = 0;

	if (sp->replace_allowed_ips)
		wg_allowedips_remove_owner(&dev->aips, &peer->aips);
	for (size_t i = 0; i < sp->n_aips; i++) {
		const struct wg_uapi_aip *a = &sp->aips[i];
		int ret;
		if (a->remove) {
			wg_allowedips_remove(&dev->aips, a->family, a->addr, a->cidr, &peer->aips);
			continue;
		}
		ret = wg_allowedips_insert(&dev->aips, a->family, a->addr, a->cidr, &peer->aips);
		if (ret < 0)
			err = ret;
	}
	return err;
}

static int commit_peer_fields(struct wg_device *dev, struct wg_peer *peer,
			      const struct wg_uapi_peer *sp)
{
	int ret;

	if (sp->has_preshared_key)
		wg_noise_set_psk(&peer->hs, wg_ct_is_zero(sp->preshared_key, WG_KEY_LEN)
						    ? NULL
						    : sp->preshared_key);
	if (sp->has_endpoint) {
		memset(&peer->endpoint, 0, sizeof(peer->endpoint));
		peer->endpoint.addr = sp->endpoint;
	}
	ret = commit_aips(dev, peer, sp);
	if (sp->has_keepalive) {
		bool start = !peer->persistent_keepalive && sp->keepalive;
		peer->persistent_keepalive = sp->keepalive;
		wg_timers_persistent_keepalive_changed(peer);
		/* Like the kernel: turning it on sends one right away. */
		if (start)
			wg_send_keepalive(peer);
	}
	return ret;
}

static int commit_act(struct wg_device *dev, struct plan_act *act, const struct wg_uapi_peer *sp)
{
	int ret;

	switch (act->op) {
	case PLAN_CREATE:
		ret = wg_peer_add(dev, act->peer);
		if (ret < 0) {
			/* Later sections naming it skip it; freed with the plan. */
			act->failed = true;
			act->peer->plan_removed = true;
			return ret;
		}
		return commit_peer_fields(dev, act->peer, sp);
	case PLAN_UPDATE:
		if (act->peer->plan_removed)
			return 0;
		return commit_peer_fields(dev, act->peer, sp);
	case PLAN_REMOVE:
		if (!act->peer->plan_removed)
			wg_peer_remove(act->peer);
		return 0;
	case PLAN_SKIP:
		break;
	}
	return 0;
}

static void commit_socket(struct wg_device *dev, struct plan *pl)
{
	if (pl->new_udp) {
		wg_dev_install_udp(dev, pl->new_udp);
		pl->new_udp = NULL;
		wg_log_info("listening on UDP port %u", wg_device_listen_port(dev));
	}
	if (pl->set->has_fwmark)
		dev->fwmark = pl->set->fwmark;
}

static int commit(struct wg_device *dev, struct plan *pl)
{
	size_t before = dev->n_peers, updated = 0, added = 0, removed;
	int err = 0;

	/* From here on the flags mean "failed to be created". */
	plan_reset_flags(pl);
	plan_unpend(pl);
	for (size_t i = 0; i < pl->set->n_peers; i++)
		if (pl->acts[i].op == PLAN_CREATE)
			pl->acts[i].peer->plan_removed = false;
	commit_socket(dev, pl);
	if (pl->set->replace_peers)
		while (dev->peers_head)
			wg_peer_remove(dev->peers_head);
	commit_identity(dev, pl);
	for (size_t i = 0; i < pl->set->n_peers; i++) {
		int ret = commit_act(dev, &pl->acts[i], &pl->set->peers[i]);
		if (ret < 0)
			err = ret;
		added += pl->acts[i].op == PLAN_CREATE && !pl->acts[i].failed;
		updated += pl->acts[i].op == PLAN_UPDATE;
	}
	removed = before + added - dev->n_peers;
	/* One line per set, not per peer: a hub loads 100,000 at once. */
	if (added || updated || removed)
		wg_log_info("peers: %zu added, %zu removed, %zu updated, %zu in all", added,
			    removed, updated, dev->n_peers);
	if (removed >= WG_TRIM_AFTER_REMOVED)
		wg_release_free_memory();
	return err;
}

int wg_device_set(struct wg_device *dev, const struct wg_uapi_set *set)
{
	struct plan pl = {.set = set};
	int ret = plan_set(dev, &pl);

	if (ret < 0) {
		plan_free(&pl, false);
		return ret;
	}
	ret = commit(dev, &pl);
	plan_free(&pl, true);
	if (ret < 0)
		wg_log_error("configuration partly applied: %s", strerror(-ret));
	wg_dev_rearm_timer(dev);
	return ret;
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
}

struct wg_device_dump {
	struct wg_device *dev;			      /* NULL once the device is gone */
	struct wg_peer *next;			      /* the next peer to write; NULL: done */
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

int wg_device_dump_begin(struct wg_device *dev, struct wg_uapi_writer *w,
			 struct wg_device_dump **out)
{
	struct wg_device_dump *d = calloc(1, sizeof(*d));

	*out = NULL;
	if (!d)
		return -ENOMEM;
	if (dev->id->has_identity)
		wg_uapi_put_key(w, "private_key", dev->id->private_key);
	if (dev->udp)
		wg_uapi_put_u64(w, "listen_port", wg_device_listen_port(dev));
	if (dev->fwmark)
		wg_uapi_put_u64(w, "fwmark", dev->fwmark);
	d->dev = dev;
	d->next = dev->peers_head;
	d->next_dump = dev->dumps;
	if (dev->dumps)
		dev->dumps->prev_dump = d;
	dev->dumps = d;
	*out = d;
	return 0;
}

bool wg_device_dump_next(struct wg_device_dump *d, struct wg_uapi_writer *w, size_t max_peers)
{
	for (; d->next && max_peers; max_peers--) {
		get_peer(d->next, w);
		d->next = d->next->list_next;
	}
	return d->next != NULL;
}

void wg_device_dump_end(struct wg_device_dump *d)
{
	if (!d)
		return;
	dump_unlink(d);
	free(d);
}

void wg_dev_dumps_peer_gone(struct wg_device *dev, const struct wg_peer *peer)
{
	for (struct wg_device_dump *d = dev->dumps; d; d = d->next_dump)
		if (d->next == peer)
			d->next = peer->list_next;
}

void wg_dev_dumps_detach(struct wg_device *dev)
{
	while (dev->dumps) {
		struct wg_device_dump *d = dev->dumps;
		d->next = NULL;
		dump_unlink(d);
	}
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
