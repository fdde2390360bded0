/* Peer lifecycle, keypair slots {current, previous, next} and staged
 * packets. Peers (handshake, PSK) and keypairs live in locked secret
 * memory (secret.h), which zeroes every object it takes back. */
#include "dev.h"
#include "peer.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "wgd/crypto.h"
#include "datapath.h"
#include "observe.h"
#include "wgd/secret.h"

/* --- lifecycle --- */

int wg_peer_alloc(struct wg_device *dev, const uint8_t pub[WG_KEY_LEN], struct wg_peer **out)
{
	struct wg_peer *peer = wg_secret_alloc(sizeof(*peer));

	if (!peer)
		return -ENOMEM;
	peer->dev = dev;
	memcpy(peer->pubkey.key, pub, WG_KEY_LEN);
	peer->hs_entry.kind = WG_INDEX_HANDSHAKE;
	peer->hs_entry.peer = peer;
	peer->endpoint.addr.sa.sa_family = AF_UNSPEC;
	wg_peer_timers_init(&peer->timers);
	*out = peer;
	return 0;
}

void wg_peer_free(struct wg_peer *peer)
{
	if (!peer)
		return;
	wg_peer_purge_staged(peer);
	wg_secret_free(peer);
}

int wg_peer_reserve(struct wg_device *dev, size_t peers)
{
	int ret = wg_timer_heap_reserve(&dev->timers, peers * WG_TIMER_COUNT);

	if (ret < 0)
		return ret;
	return wg_pubkey_table_reserve(&dev->pubkeys, peers);
}

void wg_peer_add(struct wg_device *dev, struct wg_peer *peer)
{
	char name[WG_LOG_KEY_LEN];
	int ret;

	assert(dev->timers.cap >= (dev->n_peers + 1) * WG_TIMER_COUNT);
	ret = wg_pubkey_insert(&dev->pubkeys, &peer->pubkey);
	assert(ret == 0);
	(void)ret;
	/* No X25519 here: the static-static DH waits for the first handshake. */
	wg_noise_handshake_init(&peer->hs, NULL, peer->pubkey.key, NULL);
	wg_cookie_init(&peer->cookie, peer->pubkey.key);
	peer->serial = ++dev->last_peer_serial;
	peer->list_prev = dev->peers_tail;
	peer->list_next = NULL;
	if (dev->peers_tail)
		dev->peers_tail->list_next = peer;
	else
		dev->peers_head = peer;
	dev->peers_tail = peer;
	dev->n_peers++;
	wg_log_verbose("peer %s added", wg_peer_name(peer, name));
}

static void unlink_peer(struct wg_device *dev, struct wg_peer *peer)
{
	if (peer->list_prev)
		peer->list_prev->list_next = peer->list_next;
	else
		dev->peers_head = peer->list_next;
	if (peer->list_next)
		peer->list_next->list_prev = peer->list_prev;
	else
		dev->peers_tail = peer->list_prev;
	dev->n_peers--;
}

void wg_peer_remove(struct wg_peer *peer)
{
	struct wg_device *dev = peer->dev;
	char name[WG_LOG_KEY_LEN];

	wg_log_verbose("peer %s removed", wg_peer_name(peer, name));
	wg_peer_timers_stop(peer);
	wg_allowedips_remove_owner(&dev->aips, &peer->aips);
	wg_pubkey_remove(&dev->pubkeys, &peer->pubkey);
	wg_peer_zero_keys(peer);
	unlink_peer(dev, peer);
	wg_peer_free(peer);
}

struct wg_peer *wg_peer_lookup(const struct wg_device *dev, const uint8_t pub[WG_KEY_LEN])
{
	struct wg_pubkey_entry *e = wg_pubkey_lookup(&dev->pubkeys, pub);

	return e ? wg_container_of(e, struct wg_peer, pubkey) : NULL;
}

const char *wg_peer_name(const struct wg_peer *peer, char buf[WG_LOG_KEY_LEN])
{
	return wg_log_key(peer->pubkey.key, buf);
}

bool wg_peer_has_endpoint(const struct wg_peer *peer)
{
	return peer->endpoint.addr.sa.sa_family != AF_UNSPEC;
}

void wg_peer_set_endpoint_from(struct wg_peer *peer, const struct wg_endpoint *from)
{
	char a[WG_SOCKADDR_STRLEN], b[WG_SOCKADDR_STRLEN], name[WG_LOG_KEY_LEN];

	bool moved =
		wg_peer_has_endpoint(peer) && !wg_sockaddr_equal(&peer->endpoint.addr, &from->addr);

	if (moved)
		wg_obs_endpoint_changed(peer);
	if (moved && wg_dev_log_ok(peer->dev, WG_LOGR_ROAM))
		wg_log_verbose("endpoint of peer %s moved from %s to %s", wg_peer_name(peer, name),
			       wg_sockaddr_format(&peer->endpoint.addr, a, sizeof(a)),
			       wg_sockaddr_format(&from->addr, b, sizeof(b)));
	peer->endpoint = *from;
	wg_source_apply(peer);
}

/* --- handshake index --- */

void wg_peer_hs_index_drop(struct wg_peer *peer)
{
	if (!peer->hs_entry_live)
		return;
	wg_index_remove(&peer->dev->index, &peer->hs_entry);
	peer->hs_entry_live = false;
}

int wg_peer_hs_index_refresh(struct wg_peer *peer)
{
	int ret;

	wg_peer_hs_index_drop(peer);
	ret = wg_index_insert(&peer->dev->index, &peer->hs_entry);
	if (ret < 0)
		return ret;
	peer->hs_entry_live = true;
	return 0;
}

/* --- keypairs --- */

static void keypair_drop(struct wg_device *dev, struct wg_peer_keypair *kp)
{
	if (!kp)
		return;
	/* Queued jobs hold key pointers until their batch runs; every batch
	 * is run before anything can end a session (receive_or_queue). */
	assert(!wg_dp_jobs_use_key(dev->dp, kp->kp.receiving_key) &&
	       !wg_dp_jobs_use_key(dev->dp, kp->kp.sending_key));
	wg_index_remove(&dev->index, &kp->entry);
	wg_noise_keypair_clear(&kp->kp);
	wg_secret_free(kp);
}

static void install_as_initiator(struct wg_peer *peer, struct wg_peer_keypair *kp)
{
	struct wg_device *dev = peer->dev;

	if (peer->kp_next) {
		/* An unconfirmed responder session loses to ours: it becomes
		 * previous so packets already in flight under it still open. */
		keypair_drop(dev, peer->kp_previous);
		peer->kp_previous = peer->kp_next;
		peer->kp_next = NULL;
		keypair_drop(dev, peer->kp_current);
	} else {
		keypair_drop(dev, peer->kp_previous);
		peer->kp_previous = peer->kp_current;
	}
	peer->kp_current = kp;
}

/* The responder may not send with kp before the initiator proves it holds
 * it (first data packet), so it waits in next. */
static void install_as_responder(struct wg_peer *peer, struct wg_peer_keypair *kp)
{
	keypair_drop(peer->dev, peer->kp_next);
	peer->kp_next = kp;
	keypair_drop(peer->dev, peer->kp_previous);
	peer->kp_previous = NULL;
}

int wg_peer_begin_session(struct wg_peer *peer)
{
	struct wg_device *dev = peer->dev;
	struct wg_peer_keypair *kp;
	int ret;

	if (!peer->hs_entry_live)
		return -EINVAL;
	kp = wg_secret_alloc(sizeof(*kp));
	if (!kp)
		return -ENOMEM;
	ret = wg_noise_derive_keypair(&kp->kp, &peer->hs, wg_dev_now(dev));
	if (ret < 0) {
		wg_secret_free(kp);
		return ret;
	}
	kp->entry.kind = WG_INDEX_KEYPAIR;
	kp->entry.peer = peer;
	/* The session keeps the index the peer already addresses us by. */
	wg_index_replace(&dev->index, &peer->hs_entry, &kp->entry);
	peer->hs_entry_live = false;
	wg_obs_session(peer);
	if (kp->kp.is_initiator)
		install_as_initiator(peer, kp);
	else
		install_as_responder(peer, kp);
	if (wg_log_enabled(WG_LOG_DEBUG)) {
		char name[WG_LOG_KEY_LEN];
		wg_log_debug("keypair rotation for peer %s (index %08x, %s)",
			     wg_peer_name(peer, name), kp->entry.index,
			     kp->kp.is_initiator ? "initiator" : "responder");
	}
	return 0;
}

bool wg_peer_received_with(struct wg_peer *peer, struct wg_peer_keypair *kp)
{
	if (kp != peer->kp_next)
		return false;
	keypair_drop(peer->dev, peer->kp_previous);
	peer->kp_previous = peer->kp_current;
	peer->kp_current = kp;
	peer->kp_next = NULL;
	return true;
}

struct wg_peer_keypair *wg_peer_sending_keypair(struct wg_peer *peer, uint64_t now)
{
	struct wg_peer_keypair *kp = peer->kp_current;

	if (!kp)
		return NULL;
	if (now - kp->kp.birthdate_ns >= WG_REJECT_AFTER_TIME)
		return NULL;
	if (kp->kp.sending_counter >= WG_REJECT_AFTER_MESSAGES)
		return NULL;
	return kp;
}

void wg_peer_zero_keys(struct wg_peer *peer)
{
	struct wg_device *dev = peer->dev;

	keypair_drop(dev, peer->kp_current);
	keypair_drop(dev, peer->kp_previous);
	keypair_drop(dev, peer->kp_next);
	peer->kp_current = peer->kp_previous = peer->kp_next = NULL;
	wg_peer_hs_index_drop(peer);
	wg_noise_handshake_clear(&peer->hs);
}

/* --- staged packets --- */

/* What a staged packet holds against the device's staged budget. */
static size_t staged_size(size_t len)
{
	return sizeof(struct wg_staged) + len;
}

void wg_staged_free(struct wg_staged *s)
{
	wg_memzero(s->data, s->len);
	free(s);
}

struct wg_staged *wg_peer_unstage(struct wg_peer *peer)
{
	struct wg_staged *s = peer->staged_head;

	if (!s)
		return NULL;
	peer->staged_head = s->next;
	if (!peer->staged_head)
		peer->staged_tail = NULL;
	peer->n_staged--;
	peer->dev->staged_bytes -= staged_size(s->len);
	s->next = NULL;
	return s;
}

void wg_peer_restage_front(struct wg_peer *peer, struct wg_staged *s)
{
	s->next = peer->staged_head;
	peer->staged_head = s;
	if (!peer->staged_tail)
		peer->staged_tail = s;
	peer->n_staged++;
	peer->dev->staged_bytes += staged_size(s->len);
}

static bool stage_full(const struct wg_peer *peer, size_t need)
{
	const struct wg_device *dev = peer->dev;

	return peer->n_staged >= WG_MAX_STAGED_PACKETS ||
	       dev->staged_bytes + need > dev->staged_cap;
}

/* Per peer at most WG_MAX_STAGED_PACKETS, device-wide at most staged_cap
 * bytes (a flood to many peers must not exhaust a small router): the
 * peer's oldest packets make room, else the new one is refused. */
int wg_peer_stage(struct wg_peer *peer, const uint8_t *pkt, size_t len)
{
	struct wg_device *dev = peer->dev;
	size_t need = staged_size(len);
	struct wg_staged *s;

	while (peer->n_staged && stage_full(peer, need)) {
		wg_staged_free(wg_peer_unstage(peer));
		dev->stats.staged_overflow++;
		peer->st.staged_overflow++;
	}
	if (stage_full(peer, need)) {
		dev->stats.staged_overflow++;
		peer->st.staged_overflow++;
		return -ENOBUFS;
	}
	s = malloc(need);
	if (!s)
		return -ENOMEM;
	s->next = NULL;
	s->len = len;
	if (len)
		memcpy(s->data, pkt, len);
	if (peer->staged_tail)
		peer->staged_tail->next = s;
	else
		peer->staged_head = s;
	peer->staged_tail = s;
	peer->n_staged++;
	dev->staged_bytes += need;
	return 0;
}

void wg_peer_purge_staged(struct wg_peer *peer)
{
	struct wg_staged *s;

	while ((s = wg_peer_unstage(peer)))
		wg_staged_free(s);
}
