/* The plan of a configuration set: what wg_device_set will do, decided and
 * paid for before anything changes. Planning walks the set's peer sections
 * in order, keeping what they change in a table of its own (the keys whose
 * peer a section creates or removes; nothing is marked on the peers). It
 * allocates the peers the set creates, reserves the room the commit will
 * take (key table, timer slots, allowed-IP trie nodes) and opens the new
 * socket. The commit then only links, unlinks and copies: it cannot fail,
 * so a set is applied whole or not at all. Engine-internal. */
#ifndef WGD_CONFIG_PLAN_H
#define WGD_CONFIG_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dev.h"
#include "wgd/index.h"
#include "wgd/uapi.h"

struct wg_device;
struct wg_peer;
struct wg_udp;

/* A public key whose peer the set changes (creates or removes), in the
 * plan's table. */
struct wg_plan_key {
	struct wg_pubkey_entry entry; /* entry.key: the public key */
	/* The peer the key stands for at the point of the set planned so
	 * far (after the whole plan: after the set), NULL for none. */
	struct wg_peer *peer;
};

enum wg_plan_op { WG_PLAN_SKIP = 0, WG_PLAN_CREATE, WG_PLAN_UPDATE, WG_PLAN_REMOVE };

/* What one peer section of the set does. */
struct wg_plan_act {
	enum wg_plan_op op;
	/* CREATE: allocated by the plan, which owns it until the commit. */
	struct wg_peer *peer;
	/* Set by the commit: the peer's serial, and whether this section
	 * turned persistent keepalive on (one is sent once the set is
	 * applied, as the kernel does). */
	uint64_t serial;
	bool keepalive_started;
};

struct wg_config_plan {
	const struct wg_uapi_set *set;
	struct wg_plan_act *acts; /* one per set->peers[i] */
	struct wg_plan_key *keys; /* room for one per section; n_keys used */
	size_t n_keys;
	struct wg_pubkey_table named; /* entries of keys[] */
	size_t count;		      /* peers at the point planned so far */
	size_t peak;		      /* most peers at any point of the commit */
	size_t created;		      /* CREATE acts */
	size_t inserts;		      /* allowed IPs the commit will insert */
	size_t fresh;		      /* of those, not known to be held now */
	bool identity_changes;
	bool has_identity;			 /* after the set */
	uint8_t public_key[WG_KEY_LEN];		 /* after the set, if has_identity */
	struct wg_peer *own;			 /* existing peer holding the new device key */
	struct wg_udp *new_udp;			 /* opened for the set, owned until the commit */
	struct event *new_udp_ev[WG_UDP_EVENTS]; /* its read events, added */
};

/* Plans set against dev. 0, or a negative errno with nothing changed and
 * nothing held (-ENOMEM, -E2BIG for too many peers, -EINVAL, or the
 * socket's error). The set must outlive the plan. */
int wg_config_plan(struct wg_device *dev, const struct wg_uapi_set *set, struct wg_config_plan *pl);
/* Applies a plan and frees it. Cannot fail. */
void wg_config_commit(struct wg_device *dev, struct wg_config_plan *pl);

#endif
