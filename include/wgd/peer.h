/* Engine internals shared by device.c, device_config.c, peer.c, timers.c,
 * send.c and receive.c: the peer (handshake, keypair slots, staged packets,
 * timers) and the device state behind the opaque struct wg_device.
 * main.c and the control server use device.h only. */
#ifndef WGD_PEER_H
#define WGD_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "allowedips.h"
#include "constants.h"
#include "cookie.h"
#include "device.h"
#include "index.h"
#include "log.h"
#include "noise.h"
#include "timers.h"

struct event;
struct wg_dp;
struct wg_gso;
struct wg_udp;
struct wg_ratelimiter;

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
	/* Scratch of wg_device_set's planning pass, false outside it. */
	bool plan_removed; /* will be gone by the time the set is applied */
	bool plan_pending; /* new peer, in the planning table */
};

/* Reasons with their own log rate limit. */
enum wg_log_reason {
	WG_LOGR_TUN = 0,
	WG_LOGR_NO_ENDPOINT,
	WG_LOGR_MAC,
	WG_LOGR_UNKNOWN_PEER,
	WG_LOGR_HANDSHAKE,
	WG_LOGR_COOKIE,
	WG_LOGR_DATA,
	WG_LOGR_SRC_FILTER,
	WG_LOGR_ROAM,
	WG_LOGR_TIMER,
	WG_LOGR_SEND,
	WG_LOGR_COUNT,
};

/* Backlog work per loop turn, in units: a message that needs Noise (the
 * Diffie-Hellman operations) costs WG_HS_COST_NOISE, one answered with a
 * cookie reply or dropped at its MACs costs 1. So a turn does at most 64
 * handshakes, as before, but 256 cheap messages: as many as a turn reads
 * from a socket, so a flood that only earns cookie replies no longer
 * fills the backlog. A larger ratio (16) drained it faster still but gave
 * the data path a third of the throughput it kept at 4 (40k pkt/s flood,
 * tests/netns/dos.sh). */
#define WG_HS_COST_NOISE   4
#define WG_HANDSHAKE_BATCH 64 /* Noise messages per loop turn at most */
#define WG_HS_BUDGET	   (WG_HANDSHAKE_BATCH * WG_HS_COST_NOISE)
/* The last eighth of the backlog takes only messages that already carry a
 * valid mac2 (a cookie: the sender proved it receives at its address) and
 * pass the per-source rate limit, so a flood from spoofed addresses never
 * locks a legitimate peer's retry out. */
#define WG_HS_RESERVED_FROM (WG_MAX_QUEUED_HANDSHAKES - WG_MAX_QUEUED_HANDSHAKES / 8)
/* Cookie replies under load: at most WG_RATELIMIT_PACKETS_PER_SECOND per
 * source address (a separate rate limiter: spoofing a peer's address must
 * not use up the tokens of its mac2 retries), and this many per second in
 * all (a reply costs about 1.6 us: 5% of a core), so answering a flood
 * stays bounded. A source the full per-source table has no room for is
 * charged to this budget alone: a flood from ever new spoofed addresses
 * must not shut out a peer's first initiation. */
#define WG_COOKIE_REPLIES_PER_SECOND 32768

/* A received handshake message waiting in the backlog. */
struct wg_hs_job {
	struct wg_endpoint from;
	size_t len;
	bool admitted; /* MACs and rate limit already passed (reserved slot) */
	uint8_t msg[WG_MSG_INITIATION_LEN];
};

/* Room in front of an IP packet for the data header, and after it for
 * padding and the tag. */
#define WG_TX_HEADROOM WG_MSG_DATA_HEADER_LEN
#define WG_MAX_PACKET  65535
#define WG_TX_BUF_LEN  (WG_TX_HEADROOM + WG_MAX_PACKET + WG_PADDING_MULTIPLE + WG_AEAD_TAG_LEN)
#define WG_RX_BUF_LEN  (WG_MAX_PACKET + 1)

struct wg_device {
	struct event_base *base;			     /* not owned */
	struct wg_tun *tun;				     /* owned */
	struct wg_udp *udp;				     /* owned */
	struct event *tun_ev, *udp_ev[3], *timer_ev, *hs_ev; /* owned; udp_ev[2]: routes */
	struct wg_clock clock;
	bool fake_clock;			 /* injected clock: never arm libevent timers */
	struct wg_static_identity *id;		 /* sodium_malloc'd, owned */
	struct wg_cookie_checker cookie_checker; /* secret */
	struct wg_ratelimiter *rl;		 /* owned */
	struct wg_ratelimiter *cookie_rl;	 /* owned: cookie replies per source */
	uint64_t cookie_window_ns;		 /* start of the current second */
	uint32_t cookie_window_sent;		 /* cookie replies in it */
	uint64_t last_rl_gc_ns;
	struct wg_index_table index;
	struct wg_pubkey_table pubkeys;
	struct wg_allowedips aips;
	struct wg_peer *peers_head, *peers_tail; /* owned */
	size_t n_peers;
	struct wg_device_dump *dumps; /* gets being streamed (not owned) */
	struct wg_timer_heap timers;
	uint64_t timer_armed_ns;
	bool timer_armed;
	struct wg_hs_job *hsq; /* ring of WG_MAX_QUEUED_HANDSHAKES, owned */
	size_t hsq_head, hsq_len;
	uint64_t last_under_load_ns;
	bool under_load_lingering;
	uint64_t demand_window_ns; /* start of the current linger-long window */
	uint32_t demand;	   /* handshakes judged at read time under load in it */
	uint32_t fwmark;
	int mtu;
	uint64_t mtu_checked_ns;
	bool mtu_checked;
	uint8_t *txbuf, *rxbuf; /* owned scratch buffers */
	struct wg_dp *dp;	/* owned; NULL = portable data path */
	/* Bytes held by staged packets of all peers, and their cap (what
	 * WGD_BUFFER_MB leaves after the batch buffers). */
	size_t staged_bytes, staged_cap;
	struct wg_device_stats stats;
	struct wg_log_limit limits[WG_LOGR_COUNT];
	struct wg_log_limit icmp_limit;
	void (*fatal_cb)(void *ctx);
	void *fatal_ctx;
	bool fatal_fired;
};

/* --- device.c --- */
uint64_t wg_dev_now(const struct wg_device *dev);
uint64_t wg_dev_unix_now(const struct wg_device *dev);
/* True if a verbose line for reason r may be written now. */
bool wg_dev_log_ok(struct wg_device *dev, enum wg_log_reason r);
/* Re-arms the one libevent timer for the earliest deadline (or none). */
void wg_dev_rearm_timer(struct wg_device *dev);
/* Opens a UDP socket pair and swaps it in, re-creating the read events. */
void wg_dev_install_udp(struct wg_device *dev, struct wg_udp *udp);
int wg_dev_mtu(struct wg_device *dev);
/* Writes one IP packet to the TUN (-ENODEV without one). */
int wg_dev_tun_write(struct wg_device *dev, const uint8_t *pkt, size_t len);

/* --- device_config.c --- */
/* A peer is going away: dumps about to visit it move on to the next. */
void wg_dev_dumps_peer_gone(struct wg_device *dev, const struct wg_peer *peer);
/* The device is going away: dumps in progress end with what they wrote. */
void wg_dev_dumps_detach(struct wg_device *dev);

/* --- peer.c --- */
/* Allocates a peer with public key pub, visible nowhere yet; its handshake
 * is set up by wg_peer_add. */
int wg_peer_alloc(struct wg_device *dev, const uint8_t pub[WG_KEY_LEN], struct wg_peer **out);
/* Frees a peer that was never added (or has been unlinked). */
void wg_peer_free(struct wg_peer *peer);
/* Sets up the handshake against the device identity and links an allocated
 * peer into the device (pubkey table, list). 0 or -ENOMEM / -EEXIST. */
int wg_peer_add(struct wg_device *dev, struct wg_peer *peer);
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

/* --- send.c --- */
/* Validates an IPv4/IPv6 header: sets *family, *ip_len (the length the
 * header claims, <= len) and *src / *dst (pointers into pkt). 0 or
 * -EINVAL. */
int wg_ip_parse(const uint8_t *pkt, size_t len, int *family, size_t *ip_len, const uint8_t **src,
		const uint8_t **dst);
/* One IP packet read from the TUN at dev->txbuf + WG_TX_HEADROOM. */
void wg_send_tun_packet(struct wg_device *dev, size_t len);
/* Fast path: one TUN read (packet or TSO/USO super-packet, as gso says)
 * cut into packets and sealed into the device's trains; wg_send_flush
 * hands the trains to the kernel. */
void wg_send_tun_gso(struct wg_device *dev, uint8_t *pkt, size_t len, const struct wg_gso *gso);
void wg_send_flush(struct wg_device *dev);
/* Sends staged packets if a session is usable, else starts a handshake. */
void wg_send_staged(struct wg_peer *peer);
void wg_send_keepalive(struct wg_peer *peer);
/* Sends an initiation unless one went out less than REKEY_TIMEOUT ago.
 * is_retry keeps the attempt count (retransmission timer). */
void wg_send_handshake_initiation(struct wg_peer *peer, bool is_retry);
void wg_send_handshake_response(struct wg_peer *peer);
void wg_send_cookie_reply(struct wg_device *dev, const struct wg_hs_job *job,
			  uint32_t sender_index);
/* Sends a whole message to the peer's endpoint; counts tx_bytes. */
int wg_send_to_peer(struct wg_peer *peer, const uint8_t *msg, size_t len);
/* Initiator-side rekey checks after sending (time, message count). */
void wg_send_keep_key_fresh(struct wg_peer *peer);

/* --- receive.c --- */
void wg_receive_datagram(struct wg_device *dev, uint8_t *buf, size_t len,
			 const struct wg_endpoint *from);
/* Fast path: reads batches from fd, processes every datagram, writes the
 * decrypted packets to the TUN coalesced (wg_receive_flush). 0, or -errno
 * of a failed read. */
int wg_receive_batch(struct wg_device *dev, int fd);
void wg_receive_flush(struct wg_device *dev);
/* Processes one batch of the handshake backlog; true if more remain. */
bool wg_receive_handshake_batch(struct wg_device *dev);

#endif
