/* Outbound: IP packets from the TUN sealed and sent to their peers, and
 * the handshake messages this side sends. Engine-internal. */
#ifndef WGD_SEND_H
#define WGD_SEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct wg_device;
struct wg_peer;
struct wg_pkt;
struct wg_hs_job;

/* The TUN is readable: plain packets read in batches (the platform cuts
 * super-packets), routed, sealed into the device's trains, sent when the
 * TUN is drained or the budget spent. 0, or -ENODEV once the interface is
 * gone. */
int wg_send_read_tun(struct wg_device *dev);
/* Packets read from the TUN (each with WG_DP_RD_TAIL bytes of room after
 * it, untouched until the next flush) routed and sealed into the trains,
 * or staged; wg_send_flush hands the trains to the kernel. */
void wg_send_packets(struct wg_device *dev, struct wg_pkt *pkts, int n);
void wg_send_flush(struct wg_device *dev);
/* Seals staged packets into the trains if a session is usable, else
 * starts a handshake. Outside a batch the trains leave at once. */
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

#endif
