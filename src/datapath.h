/* The data path of a device: its buffers (one memory region with a hard
 * cap, touched only as traffic needs it and returned to the system when
 * the tunnel idles), the trains of sealed messages waiting for one
 * sendmmsg, the crypto jobs of a batch, and the decrypted packets
 * waiting for the TUN (which coalesces them where it can). Every device has one, the portable mode
 * included (there the platform hands over one packet per call: a batch of
 * one through the same functions). Engine-internal, used by device.c,
 * send.c and receive.c. */
#ifndef WGD_DATAPATH_H
#define WGD_DATAPATH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wgd/platform/batch.h"
#include "wgd/wire.h"
#include "workers.h"

struct wg_device;
struct wg_peer;
struct wg_datapath_config;

#define WG_DP_BUF_LEN	    65536 /* one UDP train, one GRO receive; TUN reads: a few */
#define WG_DP_RD_TAIL	    WG_PADDING_MULTIPLE /* room after a read packet: its padding */
#define WG_DP_RD_PKTS	    128			/* packets per TUN read call */
#define WG_DP_TRAIN_MAX	    65507 /* bytes of one UDP GSO send (IPv4 UDP payload limit) */
#define WG_DP_TRAIN_SEGS    64	  /* datagrams in one train */
#define WG_DP_MAX_TX_BUFS   8
#define WG_DP_MAX_RX_BUFS   16
#define WG_DP_MAX_TRAINS    (WG_DP_MAX_TX_BUFS * 4)
#define WG_DP_DEFAULT_MB    16 /* default cap: buffers + staged packets */
#define WG_DP_IDLE_TRIM_SEC 5  /* buffers go back to the system after this much idle */
#define WG_DP_MAX_JOBS	    (WG_DP_MAX_TRAINS * WG_DP_TRAIN_SEGS)
#define WG_DP_MAX_RX_JOBS   (WG_DP_MAX_RX_BUFS * WG_DP_TRAIN_SEGS)
#define WG_DP_MAX_TUN_OUT   1024 /* decrypted packets per TUN write batch */

/* A received data message waiting for its AEAD (done by the workers). */
struct wg_dp_rx_item {
	struct wg_peer_keypair *kp; /* checked again before use: may be gone */
	struct wg_msg_data *msg;
	size_t len;
	const struct wg_endpoint *from;
};

/* Sealed messages for one peer, back to back, all seg bytes long but the
 * last: one UDP GSO send. */
struct wg_dp_train {
	struct wg_peer *peer; /* not owned; flushed before any peer can go */
	uint8_t *buf;
	size_t len, seg;
	unsigned int nseg;
	unsigned int data; /* data (not keepalive) messages in it */
	bool closed;	   /* a shorter message ended it */
};

struct wg_dp {
	unsigned int tun_offload; /* WG_TUN_OFFLOAD_* enabled */
	size_t cap_bytes;	  /* hard cap on buffers + staged packets */
	bool portable;		  /* the platform's one-packet fallbacks */
	unsigned int in_batch;	  /* inside a TUN or UDP batch: trains wait for its end */
	uint8_t *region;	  /* mmap'd: this struct, then the buffers */
	size_t region_len;
	/* TX: packets read from the TUN (rd_len bytes, rd_used of them up
	 * to the next flush: trains are sealed from there), n_tx output
	 * buffers for trains. */
	uint8_t *rd;
	size_t rd_len, rd_used;
	int n_rd; /* rd_len in WG_DP_BUF_LEN */
	struct wg_pkt rd_pkts[WG_DP_RD_PKTS];
	uint8_t *tx_bufs[WG_DP_MAX_TX_BUFS];
	int n_tx, tx_cur;
	size_t tx_used; /* bytes used in tx_bufs[tx_cur] */
	struct wg_dp_train trains[WG_DP_MAX_TRAINS];
	int n_trains;
	struct wg_udp_msg tx_msgs[WG_DP_MAX_TRAINS];
	bool res_join, res_next_buf; /* what the last reserve decided */
	/* RX: n_rx receive buffers and the GRO table in front of the TUN. */
	uint8_t *rx_bufs[WG_DP_MAX_RX_BUFS];
	int n_rx;
	struct wg_udp_msg rx_msgs[WG_DP_MAX_RX_BUFS];
	struct wg_pkt tun_out[WG_DP_MAX_TUN_OUT]; /* decrypted, for the TUN */
	size_t n_tun_out;
	/* Seal jobs of the trains and open jobs of a receive batch, run
	 * before the trains are sent or the packets delivered: on the crypto
	 * threads as well when there are some, else by the loop thread. */
	struct wg_workers *workers;
	struct wg_crypto_job jobs[WG_DP_MAX_JOBS];
	size_t n_jobs;
	struct wg_crypto_job rx_jobs[WG_DP_MAX_RX_JOBS];
	struct wg_dp_rx_item rx_items[WG_DP_MAX_RX_JOBS];
	size_t n_rx_jobs;
	/* Idle trim. */
	struct event *trim_ev;
	bool trim_armed, touched;
	bool moved; /* packets went through the buffers since the last batch end */
	uint64_t last_busy_ns;
};

/* Builds the data path for dev as cfg says. 0 or -ENOMEM. */
int wg_dp_create(struct wg_device *dev, const struct wg_datapath_config *cfg, struct wg_dp **out);
void wg_dp_destroy(struct wg_dp *dp);
/* A batch ran: keeps the buffers until the path has been idle a while. */
void wg_dp_busy(struct wg_device *dev);
/* Staged-packet budget in bytes (what the cap leaves after the buffers). */
size_t wg_dp_staged_budget(const struct wg_dp *dp);
/* A queued crypto job reads key (a keypair must not go while one does). */
bool wg_dp_jobs_use_key(const struct wg_dp *dp, const uint8_t *key);

/* --- TX trains (send.c) --- */
/* Room for a message of len bytes for peer, after the train it joins; NULL
 * if the batch must be flushed first. */
uint8_t *wg_dp_tx_reserve(struct wg_dp *dp, struct wg_peer *peer, size_t len);
/* The reserved message was sealed: it joins its train. */
void wg_dp_tx_commit(struct wg_dp *dp, struct wg_peer *peer, size_t len, bool data);
/* The trains were sent: empty the batch. */
void wg_dp_tx_reset(struct wg_dp *dp);

#endif
