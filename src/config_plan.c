/* Planning and committing a configuration set (see config_plan.h).
 *
 * The set is a program run in order: replace_peers first empties the
 * device, a new device key takes away the peer holding it, then each peer
 * section removes, creates or updates the peer its key names at that point
 * (a key may be named again further on). Planning runs it against the
 * device as it is plus the plan's own table of the keys it has created or
 * removed a peer for, so the commit replays exactly what was planned. Its
 * reservations are upper bounds: the most peers alive at any point, and
 * the trie nodes its inserts can take (wg_allowedips_reserve). */
#include "config_plan.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dev.h"
#include "send.h"
#include "wgd/crypto.h"
#include "wgd/platform/memory.h"
#include "wgd/platform/udp.h"

/* Removing this many peers in one set is worth returning memory for. */
#define WG_TRIM_AFTER_REMOVED 1024

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

static void plan_identity(struct wg_device *dev, struct wg_config_plan *pl)
{
	const struct wg_uapi_set *set = pl->set;

	pl->has_identity = dev->id->has_identity;
	memcpy(pl->public_key, dev->id->public_key, WG_KEY_LEN);
	if (!set->has_private_key)
		return;
	if (wg_ct_is_zero(set->private_key, WG_KEY_LEN)) {
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

/* The peer key stands for at this point of the set: the plan's entry if
 * the set has changed it already, else the device's peer (unless the set
 * empties the device or the new device key takes that peer away). */
static struct wg_peer *plan_current(struct wg_device *dev, const struct wg_config_plan *pl,
				    const uint8_t *key, struct wg_plan_key **entry)
{
	struct wg_pubkey_entry *e = NULL;
	struct wg_peer *peer;

	if (pl->named.h.count) /* no hash for a set that only updates */
		e = wg_pubkey_lookup(&pl->named, key);
	*entry = e ? wg_container_of(e, struct wg_plan_key, entry) : NULL;
	if (*entry)
		return (*entry)->peer;
	if (pl->set->replace_peers)
		return NULL;
	peer = wg_peer_lookup(dev, key);
	return peer == pl->own ? NULL : peer;
}

/* From here on key stands for peer (NULL: none). Only keys a section
 * creates or removes get an entry, so a set that updates peers (wg addconf
 * of a config already in place) fills no table. */
static int plan_record(struct wg_config_plan *pl, const uint8_t *key, struct wg_plan_key *entry,
		       struct wg_peer *peer)
{
	int ret;

	if (!entry) {
		ret = wg_pubkey_table_reserve(&pl->named, pl->n_keys + 1);
		if (ret < 0)
			return ret;
		entry = &pl->keys[pl->n_keys++];
		memcpy(entry->entry.key, key, WG_KEY_LEN);
		(void)wg_pubkey_insert(&pl->named, &entry->entry); /* absent, room made */
	}
	entry->peer = peer;
	return 0;
}

static int plan_create(struct wg_device *dev, struct wg_config_plan *pl, size_t i,
		       struct wg_plan_key *entry)
{
	const uint8_t *key = pl->set->peers[i].public_key;
	struct wg_peer *peer;
	int ret;

	if (pl->count >= WG_MAX_PEERS)
		return -E2BIG;
	ret = wg_peer_alloc(dev, key, &peer);
	if (ret < 0)
		return ret;
	pl->acts[i].op = WG_PLAN_CREATE;
	pl->acts[i].peer = peer; /* freed with the plan from here on */
	pl->created++;
	if (++pl->count > pl->peak)
		pl->peak = pl->count;
	return plan_record(pl, key, entry, peer);
}

/* A peer holding more prefixes than this is not searched for a prefix its
 * section names again: it counts as fresh (the reserve only grows). */
#define PLAN_SCAN_PREFIXES 16

/* Checked here so the commit's inserts and removals cannot refuse them,
 * and counted for the trie's reserve: a prefix the peer already holds
 * (wg setconf repeating a config) needs no new node. */
static int plan_aips(struct wg_config_plan *pl, const struct wg_plan_act *act,
		     const struct wg_uapi_peer *sp)
{
	const struct wg_aip_owner *held = &act->peer->aips;
	bool scan = act->op == WG_PLAN_UPDATE && held->count <= PLAN_SCAN_PREFIXES;

	for (size_t i = 0; i < sp->n_aips; i++) {
		const struct wg_uapi_aip *a = &sp->aips[i];

		if (!wg_allowedips_valid(a->family, a->cidr))
			return -EINVAL;
		if (a->remove)
			continue;
		pl->inserts++;
		pl->fresh += !scan || !wg_allowedips_owner_holds(held, a->family, a->addr, a->cidr);
	}
	return 0;
}

static int plan_peer(struct wg_device *dev, struct wg_config_plan *pl, size_t i)
{
	const struct wg_uapi_peer *sp = &pl->set->peers[i];
	struct wg_plan_act *act = &pl->acts[i];
	struct wg_plan_key *entry;
	struct wg_peer *cur;
	int ret;

	ret = wg_source_check(sp, pl->set->has_bind ? &pl->set->bind : &dev->bind);
	if (ret < 0)
		return ret;
	/* A peer with our own public key is ignored, as the kernel does. */
	if (pl->has_identity && wg_ct_equal(sp->public_key, pl->public_key, WG_KEY_LEN))
		return 0;
	cur = plan_current(dev, pl, sp->public_key, &entry);
	if (sp->remove) {
		if (!cur)
			return 0;
		act->op = WG_PLAN_REMOVE;
		act->peer = cur;
		pl->count--;
		return plan_record(pl, sp->public_key, entry, NULL);
	}
	if (cur) {
		act->op = WG_PLAN_UPDATE;
		act->peer = cur;
	} else if (sp->update_only) {
		return 0;
	} else if ((ret = plan_create(dev, pl, i, entry)) < 0) {
		return ret;
	}
	return plan_aips(pl, act, sp);
}

static int plan_peers(struct wg_device *dev, struct wg_config_plan *pl)
{
	int ret;

	pl->count = pl->set->replace_peers ? 0 : dev->n_peers;
	if (pl->identity_changes && pl->has_identity && !pl->set->replace_peers) {
		pl->own = wg_peer_lookup(dev, pl->public_key);
		pl->count -= pl->own != NULL;
	}
	pl->peak = pl->count;
	for (size_t i = 0; i < pl->set->n_peers; i++) {
		ret = plan_peer(dev, pl, i);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* Whether a section of the set gives the peer of key a source. */
static bool set_gives_source(const struct wg_pubkey_table *given, const uint8_t *key)
{
	return given->h.count && wg_pubkey_lookup(given, key);
}

/* The first peer the set keeps with a source the new bind address rules
 * out, or NULL; given holds the keys of the sections that set a source
 * (those were checked against it: wg_source_check). */
static struct wg_peer *kept_conflict(struct wg_device *dev, struct wg_config_plan *pl,
				     const struct wg_pubkey_table *given)
{
	struct wg_plan_key *entry;

	for (struct wg_peer *p = dev->peers_head; p; p = p->list_next)
		if (wg_addr_pair_contradicts(&p->src_cfg.addr, &pl->set->bind) &&
		    plan_current(dev, pl, p->pubkey.key, &entry) == p &&
		    !set_gives_source(given, p->pubkey.key))
			return p;
	return NULL;
}

static bool gives_source(const struct wg_uapi_peer *sp)
{
	return sp->ext && sp->ext->has_source;
}

/* Fills given with the keys of the set's n sections that set a source
 * (entries in keys). */
static int sourced_keys(const struct wg_uapi_set *set, struct wg_pubkey_table *given,
			struct wg_pubkey_entry *keys, size_t n)
{
	int ret = wg_pubkey_table_reserve(given, n);

	n = 0;
	for (size_t i = 0; ret == 0 && i < set->n_peers; i++) {
		if (!gives_source(&set->peers[i]))
			continue;
		memcpy(keys[n].key, set->peers[i].public_key, WG_KEY_LEN);
		(void)wg_pubkey_find_or_insert(given, &keys[n++]); /* room reserved */
	}
	return ret;
}

/* A new bind address must leave no peer a source of a bound family other
 * than it, or a get of the result could not be set again: a peer the set
 * keeps with such a source, not replaced by the set, fails it (-EINVAL). */
static int plan_bind_sources(struct wg_device *dev, struct wg_config_plan *pl)
{
	const struct wg_uapi_set *set = pl->set;
	struct wg_pubkey_entry *keys;
	struct wg_pubkey_table given;
	struct wg_peer *bad = NULL;
	char name[WG_LOG_KEY_LEN], a[WG_ADDR_PAIR_STRLEN], b[WG_ADDR_PAIR_STRLEN];
	size_t n = 0;
	int ret;

	if (!set->has_bind || set->replace_peers || wg_addr_pair_equal(&set->bind, &dev->bind))
		return 0;
	for (size_t i = 0; i < set->n_peers; i++)
		n += gives_source(&set->peers[i]);
	keys = calloc(n ? n : 1, sizeof(*keys));
	if (!keys)
		return -ENOMEM;
	ret = wg_pubkey_table_init(&given);
	if (ret == 0) {
		ret = sourced_keys(set, &given, keys, n);
		if (ret == 0)
			bad = kept_conflict(dev, pl, &given);
		wg_pubkey_table_free(&given);
	}
	free(keys);
	if (!bad)
		return ret;
	wg_log_warning("set refused: peer %s has source %s, which the new bind address %s rules "
		       "out (a bound family sends from its bind address only)",
		       wg_peer_name(bad, name), wg_addr_pair_format(&bad->src_cfg.addr, a, sizeof(a)),
		       wg_addr_pair_format(&set->bind, b, sizeof(b)));
	return -EINVAL;
}

/* Room for everything the commit adds: it then allocates nothing. */
static int plan_reserve(struct wg_device *dev, struct wg_config_plan *pl)
{
	int ret = wg_peer_reserve(dev, pl->peak);

	if (ret < 0)
		return ret;
	return wg_allowedips_reserve(&dev->aips, pl->inserts, pl->fresh);
}

/* A new pair bound to other addresses on the port the old pair holds:
 * the two overlap until the commit closes the old one, so both allow it
 * (SO_REUSEADDR) only for that time. */
static int plan_rebind(struct wg_device *dev, struct wg_config_plan *pl, uint32_t fwmark,
		       const struct wg_addr_pair *bind)
{
	int ret = wg_udp_set_shared(dev->udp, true);

	if (ret == 0)
		ret = wg_udp_open_shared(wg_device_listen_port(dev), fwmark, bind, &pl->new_udp);
	if (ret < 0)
		(void)wg_udp_set_shared(dev->udp, false);
	return ret;
}

/* The only steps touching the OS, last because they can fail. */
static int plan_socket(struct wg_device *dev, struct wg_config_plan *pl)
{
	const struct wg_uapi_set *set = pl->set;
	uint32_t fwmark = set->has_fwmark ? set->fwmark : dev->fwmark;
	const struct wg_addr_pair *bind = set->has_bind ? &set->bind : &dev->bind;
	int ret;

	if (set->has_listen_port &&
	    (!dev->udp || set->listen_port != wg_device_listen_port(dev) || set->listen_port == 0))
		ret = wg_udp_open(set->listen_port, fwmark, bind, &pl->new_udp);
	else if (!wg_addr_pair_equal(bind, &dev->bind))
		ret = dev->udp ? plan_rebind(dev, pl, fwmark, bind)
			       : wg_udp_open(0, fwmark, bind, &pl->new_udp);
	else if (!set->has_fwmark || set->fwmark == dev->fwmark || !dev->udp)
		return 0;
	else
		return wg_udp_set_fwmark(dev->udp, set->fwmark);
	return ret < 0 ? ret : wg_dev_udp_events(dev, pl->new_udp, pl->new_udp_ev);
}

static int plan_alloc(struct wg_config_plan *pl)
{
	size_t n = pl->set->n_peers ? pl->set->n_peers : 1;
	int ret;

	pl->acts = calloc(n, sizeof(*pl->acts));
	pl->keys = calloc(n, sizeof(*pl->keys));
	if (!pl->acts || !pl->keys)
		return -ENOMEM;
	ret = wg_pubkey_table_init(&pl->named);
	return ret;
}

/* Frees the plan. Unless it was committed, the peers it created and the
 * socket it opened go with it. Reserved trie nodes no insert took are
 * freed either way; the larger tables stay (they only hold room). */
static void plan_release(struct wg_device *dev, struct wg_config_plan *pl, bool committed)
{
	for (size_t i = 0; !committed && pl->acts && i < pl->set->n_peers; i++)
		if (pl->acts[i].op == WG_PLAN_CREATE)
			wg_peer_free(pl->acts[i].peer);
	if (!committed && pl->new_udp) {
		wg_dev_udp_events_free(pl->new_udp_ev);
		wg_udp_close(pl->new_udp);
		if (dev->udp)
			(void)wg_udp_set_shared(dev->udp, false);
	}
	wg_allowedips_release(&dev->aips);
	wg_pubkey_table_free(&pl->named);
	free(pl->keys);
	free(pl->acts);
}

int wg_config_plan(struct wg_device *dev, const struct wg_uapi_set *set, struct wg_config_plan *pl)
{
	int ret;

	*pl = (struct wg_config_plan){.set = set};
	ret = plan_alloc(pl);
	if (ret == 0) {
		plan_identity(dev, pl);
		ret = plan_peers(dev, pl);
	}
	if (ret == 0)
		ret = plan_bind_sources(dev, pl);
	if (ret == 0)
		ret = plan_reserve(dev, pl);
	if (ret == 0)
		ret = plan_socket(dev, pl);
	if (ret < 0)
		plan_release(dev, pl, false);
	return ret;
}

/* --- commit --- */

static void commit_identity(struct wg_device *dev, const struct wg_config_plan *pl)
{
	if (!pl->identity_changes)
		return;
	if (pl->own)
		wg_peer_remove(pl->own);
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
	for (struct wg_peer *peer = dev->peers_head; peer; peer = peer->list_next) {
		wg_noise_static_changed(&peer->hs);
		wg_peer_zero_keys(peer);
		peer->has_sent_handshake = false;
	}
	wg_cookie_checker_init(&dev->cookie_checker, pl->has_identity ? pl->public_key : NULL);
	wg_log_info("interface key %s", pl->has_identity ? "changed" : "removed");
}

/* Prefixes were checked and their nodes reserved by the plan. */
static void commit_aips(struct wg_device *dev, struct wg_peer *peer, const struct wg_uapi_peer *sp)
{
	if (sp->replace_allowed_ips)
		wg_allowedips_remove_owner(&dev->aips, &peer->aips);
	for (size_t i = 0; i < sp->n_aips; i++) {
		const struct wg_uapi_aip *a = &sp->aips[i];
		int ret;

		if (a->remove) {
			(void)wg_allowedips_remove(&dev->aips, a->family, a->addr, a->cidr,
						   &peer->aips);
			continue;
		}
		ret = wg_allowedips_insert(&dev->aips, a->family, a->addr, a->cidr, &peer->aips);
		assert(ret == 0);
		(void)ret;
	}
}

static void commit_fields(struct wg_device *dev, struct wg_plan_act *act,
			  const struct wg_uapi_peer *sp)
{
	struct wg_peer *peer = act->peer;

	if (sp->has_preshared_key)
		wg_noise_set_psk(&peer->hs, wg_ct_is_zero(sp->preshared_key, WG_KEY_LEN)
						    ? NULL
						    : sp->preshared_key);
	if (sp->has_endpoint) {
		memset(&peer->endpoint, 0, sizeof(peer->endpoint));
		peer->endpoint.addr = sp->endpoint;
		wg_source_apply(peer);
	}
	commit_aips(dev, peer, sp);
	wg_source_configure(peer, sp);
	if (sp->has_keepalive) {
		if (!peer->persistent_keepalive && sp->keepalive)
			act->keepalive_started = true;
		peer->persistent_keepalive = sp->keepalive;
		wg_timers_persistent_keepalive_changed(peer);
	}
}

static void commit_act(struct wg_device *dev, struct wg_plan_act *act,
		       const struct wg_uapi_peer *sp)
{
	switch (act->op) {
	case WG_PLAN_CREATE:
		wg_peer_add(dev, act->peer);
		act->serial = act->peer->serial;
		commit_fields(dev, act, sp);
		break;
	case WG_PLAN_UPDATE:
		act->serial = act->peer->serial;
		commit_fields(dev, act, sp);
		break;
	case WG_PLAN_REMOVE:
		wg_peer_remove(act->peer);
		break;
	case WG_PLAN_SKIP:
		break;
	}
}

static void log_listening(struct wg_device *dev)
{
	char a[WG_ADDR_PAIR_STRLEN];

	wg_log_info("listening on UDP port %u%s%s", wg_device_listen_port(dev),
		    wg_addr_pair_set(&dev->bind) ? " of " : "",
		    wg_addr_pair_set(&dev->bind) ? wg_addr_pair_format(&dev->bind, a, sizeof(a))
						 : "");
}

/* Peers pinned to a source now follow the new bind addresses. */
static void commit_bind(struct wg_device *dev, const struct wg_addr_pair *bind)
{
	if (wg_addr_pair_equal(bind, &dev->bind))
		return;
	dev->bind = *bind;
	wg_source_rebound(dev);
}

static void commit_socket(struct wg_device *dev, struct wg_config_plan *pl)
{
	if (pl->set->has_bind)
		commit_bind(dev, &pl->set->bind);
	if (pl->new_udp) {
		wg_dev_install_udp(dev, pl->new_udp, pl->new_udp_ev);
		(void)wg_udp_set_shared(pl->new_udp, false); /* the old pair is closed */
		pl->new_udp = NULL;
		log_listening(dev);
	}
	if (pl->set->has_fwmark)
		dev->fwmark = pl->set->fwmark;
}

/* Like the kernel, turning persistent keepalive on sends one at once; here
 * once the whole set is in place (the section setting the endpoint may
 * come later), to peers the set did not take away again (a peer is known
 * by its serial: a pointer could belong to a new peer by now). */
static void send_started_keepalives(struct wg_device *dev, const struct wg_config_plan *pl)
{
	for (size_t i = 0; i < pl->set->n_peers; i++) {
		struct wg_peer *peer;

		if (!pl->acts[i].keepalive_started)
			continue;
		peer = wg_peer_lookup(dev, pl->set->peers[i].public_key);
		if (peer && peer->serial == pl->acts[i].serial && peer->persistent_keepalive)
			wg_send_keepalive(peer);
	}
}

void wg_config_commit(struct wg_device *dev, struct wg_config_plan *pl)
{
	size_t before = dev->n_peers, updated = 0, removed;

	commit_socket(dev, pl);
	if (pl->set->replace_peers)
		while (dev->peers_head)
			wg_peer_remove(dev->peers_head);
	commit_identity(dev, pl);
	for (size_t i = 0; i < pl->set->n_peers; i++) {
		commit_act(dev, &pl->acts[i], &pl->set->peers[i]);
		updated += pl->acts[i].op == WG_PLAN_UPDATE;
	}
	assert(dev->n_peers == pl->count);
	removed = before + pl->created - dev->n_peers;
	/* One line per set, not per peer: a hub loads 100,000 at once. */
	if (pl->created || updated || removed)
		wg_log_info("peers: %zu added, %zu removed, %zu updated, %zu in all", pl->created,
			    removed, updated, dev->n_peers);
	send_started_keepalives(dev, pl);
	plan_release(dev, pl, true);
	if (removed >= WG_TRIM_AFTER_REMOVED)
		wg_release_free_memory();
}
