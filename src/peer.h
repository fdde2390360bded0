/* The peer: its handshake, keypair slots, staged packets and timers, and
 * what peer.c does with them. Engine-internal. */
#ifndef WGD_PEER_H
#define WGD_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "source.h"
#include "timers.h"
#include "wgd/addr.h"
#include "wgd/allowedips.h"
#include "wgd/constants.h"
#include "wgd/cookie.h"
#include "wgd/index.h"
#include "wgd/log.h"
#include "wgd/noise.h"

struct wg_device;

/* A session's keys plus its entry in the receiver-index table. */
struct wg_peer_keypair {
	struct wg_keypair kp;	     /* secret: zeroed before it is freed */
	struct wg_index_entry entry; /* kind WG_INDEX_KEYPAIR, peer = owner */
};

/* An outbound IP packet waiting for a session (len 0 = keepalive). */
struct wg_staged {
	struct wg_staged *next;
	size_t len;
	uint8_t data[];
};

/* What one peer did, for metrics and `wgd diagnose` (metrics.c), counted
 * in the event loop thread. Times are MONOTONIC ns (dev->now_ns, free to
 * read on the data path), 0 = never; the exposition turns them into unix
 * seconds with one clock reading per scrape. */
struct wg_peer_stats {
	uint64_t initiations_sent, initiations_received;
	uint64_t responses_sent, responses_received;
	uint64_t cookie_replies_received;
	uint64_t sessions_created;
	uint64_t endpoint_changes;
	uint64_t data_replayed, data_auth_failed, inner_src_mismatch, staged_overflow;
	uint64_t icmp_port_unreachable, icmp_host_unreachable, icmp_other;
	uint64_t send_errors; /* the host refused a send to it */
	uint64_t last_send_error_mono_ns;
	int last_send_errno;		       /* positive errno of that one */
	uint64_t last_rx_mono_ns;	       /* last authenticated message */
	uint64_t last_initiation_sent_mono_ns; /* by us */
	uint64_t last_initiation_rx_mono_ns;   /* from the peer, valid */
	uint64_t last_response_rx_mono_ns;     /* to one of ours */
	uint64_t last_data_rx_mono_ns;	       /* data (not keepalive) received */
	uint64_t last_icmp_mono_ns;	       /* an ICMP error about its endpoint */
	int last_icmp_kind;		       /* WG_UDP_ICMP_* of that one, 0 none */
	/* When our handshake attempts started going unanswered (the first
	 * initiation after the last completed handshake), 0 when none is
	 * outstanding: unlike the retry counter, new traffic does not reset
	 * it. */
	uint64_t unanswered_since_mono_ns;
};

struct wg_peer {
	struct wg_device *dev;		       /* not owned */
	struct wg_peer *list_prev, *list_next; /* device list, creation order */
	struct wg_pubkey_entry pubkey;	       /* key = the peer's static public key */
	struct wg_aip_owner aips;
	struct wg_handshake hs; /* secret */
	/* In the index table while our handshake message awaits an answer. */
	struct wg_index_entry hs_entry;
	bool hs_entry_live;
	struct wg_cookie cookie;
	/* Keypair slots, owned. The responder parks a new session in kp_next
	 * until the first data packet confirms it. */
	struct wg_peer_keypair *kp_current, *kp_previous, *kp_next;
	struct wg_endpoint endpoint;		     /* addr.sa.sa_family AF_UNSPEC = none */
	struct wg_peer_source src_cfg;		     /* wgd_source/wgd_egress */
	struct wg_staged *staged_head, *staged_tail; /* owned */
	size_t n_staged;
	struct wg_peer_timers timers;
	uint64_t last_sent_handshake_ns; /* monotonic */
	bool has_sent_handshake;
	uint64_t last_handshake_unix_ns; /* 0 = never */
	/* Whole WireGuard messages (UDP payloads), as the kernel counts:
	 * tx every message sent to the peer (data, keepalive, initiation,
	 * response; not cookie replies); rx every authenticated handshake
	 * message and every keepalive or data message that passed the source
	 * filter. */
	uint64_t rx_bytes, tx_bytes;
	uint16_t persistent_keepalive; /* seconds, 0 = off */
	/* Creation order, from 1: a streamed get finds its place by it. */
	uint64_t serial;
	struct wg_peer_stats st;
};

/* Allocates a peer with public key pub, visible nowhere yet; its handshake
 * is set up by wg_peer_add. */
int wg_peer_alloc(struct wg_device *dev, const uint8_t pub[WG_KEY_LEN], struct wg_peer **out);
/* Frees a peer that was never added (or has been unlinked). */
void wg_peer_free(struct wg_peer *peer);
/* Makes room for `peers` peers in the device's tables (public keys, timer
 * slots), so adding up to that many allocates nothing. 0 or -ENOMEM. */
int wg_peer_reserve(struct wg_device *dev, size_t peers);
/* Sets up the handshake and links an allocated peer into the device (key
 * table, list, at the end). Cannot fail: room was reserved and no peer
 * with its key is in the device. */
void wg_peer_add(struct wg_device *dev, struct wg_peer *peer);
/* Unlinks from every table, zeroes every key, cancels timers, frees. */
void wg_peer_remove(struct wg_peer *peer);
struct wg_peer *wg_peer_lookup(const struct wg_device *dev, const uint8_t pub[WG_KEY_LEN]);
/* Abbreviated public key for logs. */
const char *wg_peer_name(const struct wg_peer *peer, char buf[WG_LOG_KEY_LEN]);
bool wg_peer_has_endpoint(const struct wg_peer *peer);
/* Roaming: adopt the address an authenticated packet came from. */
void wg_peer_set_endpoint_from(struct wg_peer *peer, const struct wg_endpoint *from);

/* Takes a fresh handshake index for the handshake we are about to send. */
int wg_peer_hs_index_refresh(struct wg_peer *peer);
void wg_peer_hs_index_drop(struct wg_peer *peer);
/* Derives the session of a finished handshake and puts it into its slot
 * (initiator: current at once; responder: next). 0 or -errno. */
int wg_peer_begin_session(struct wg_peer *peer);
/* A data packet authenticated under kp: promotes kp_next to current.
 * True if it did (the handshake is complete for the responder). */
bool wg_peer_received_with(struct wg_peer *peer, struct wg_peer_keypair *kp);
/* The current keypair if it may still send, else NULL. */
struct wg_peer_keypair *wg_peer_sending_keypair(struct wg_peer *peer, uint64_t now);
/* Drops (zeroes) every keypair and the in-progress handshake. */
void wg_peer_zero_keys(struct wg_peer *peer);

/* Staged packets. stage: 0, -ENOMEM, or -ENOBUFS when even dropping this
 * peer's oldest leaves no room in the device-wide budget (staged_cap). */
int wg_peer_stage(struct wg_peer *peer, const uint8_t *pkt, size_t len);
struct wg_staged *wg_peer_unstage(struct wg_peer *peer);
void wg_peer_restage_front(struct wg_peer *peer, struct wg_staged *s);
void wg_peer_purge_staged(struct wg_peer *peer);
void wg_staged_free(struct wg_staged *s);

#endif
