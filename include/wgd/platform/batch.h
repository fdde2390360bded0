/* The batched and offloaded data path of the TUN (wgd/platform/tun.h)
 * and UDP (wgd/platform/udp.h) boundary. TUN packets cross it as plain IP
 * packets, in batches: where the kernel hands over or takes super-packets
 * (Linux TSO/USO, behind a virtio-net header) the platform cuts and
 * coalesces them, and the caller never sees either. UDP messages are
 * datagrams or trains of them (recvmmsg/sendmmsg, UDP_SEGMENT and UDP_GRO
 * on Linux). Other systems, and Linux in the portable mode, get the
 * portable fallbacks: one packet per system call, no offloads. The
 * single-packet functions keep working on every descriptor. */
#ifndef WGD_PLATFORM_BATCH_H
#define WGD_PLATFORM_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "wgd/addr.h"

struct wg_tun;
struct wg_udp;

#define WG_TUN_OFFLOAD_CSUM (1u << 0) /* partial checksums both ways */
#define WG_TUN_OFFLOAD_TSO  (1u << 1) /* TCP super-packets (TSO4/TSO6) both ways */
#define WG_TUN_OFFLOAD_USO  (1u << 2) /* UDP super-packets both ways */

/* Asks the kernel to hand over (and accept) super-packets and partial
 * checksums; on returns the subset actually enabled (0 = none: plain
 * packets). Offloads need a Linux TUN opened by wg_tun_create. 0 or -errno
 * (-EOPNOTSUPP: no offloads on this descriptor or OS). */
int wg_tun_set_offload(struct wg_tun *tun, bool on, unsigned int *enabled);
/* A plain IP packet in the caller's memory. */
struct wg_pkt {
	uint8_t *data;
	size_t len;
};

/* Plain IP packets from the TUN, for a batch. Reads one packet or
 * super-packet (Linux with TSO/USO on: cut here into packets, each with
 * its own headers and checksums) and places the packets in buf one after
 * another, each followed by `tail` bytes the caller may write (padding).
 * Packets of a super-packet that do not fit (cap bytes, max packets) wait
 * for the next call, which reads nothing new before they are handed over.
 * Returns the number of packets; 0 when not even the next one fits (a
 * buffer of WG_TUN_READ_ROOM + tail bytes always takes one); -EAGAIN when
 * drained; -EBADMSG when a malformed packet was dropped (read on);
 * -ENODEV once the interface is gone; other -errno. */
#define WG_TUN_READ_ROOM 65535
int wg_tun_read_batch(struct wg_tun *tun, uint8_t *buf, size_t cap, size_t tail,
		      struct wg_pkt *pkts, int max);
/* Packets of a super-packet are waiting for the next wg_tun_read_batch
 * (the descriptor need not be readable for them: hand them over before
 * waiting for it). */
bool wg_tun_read_pending(const struct wg_tun *tun);
/* Writes n plain IP packets, in order per flow. Where the TUN takes
 * super-packets (Linux with TSO/USO offloads on) the packets of a TCP or
 * UDP flow are coalesced into super-packets first (GRO; their headers may
 * be rewritten in place, the caller's buffers are free again on return);
 * a super-packet the kernel refuses is cut again and written packet by
 * packet, and that protocol is not coalesced any more. Returns the number
 * of writes that failed (0: all written). */
int wg_tun_write_batch(struct wg_tun *tun, struct wg_pkt *pkts, int n);
/* Hands memory the batch functions keep for traffic back to the system
 * (the tunnel idles); it is touched again as traffic needs it. */
void wg_tun_trim(struct wg_tun *tun);

/* A datagram or, with UDP GSO/GRO, a train of datagrams of seg bytes each
 * (the last may be shorter) to or from one address. */
struct wg_udp_msg {
	uint8_t *buf;
	size_t len;		/* recv: capacity in, bytes out; send: bytes */
	size_t seg;		/* 0 or >= len: one datagram */
	struct wg_endpoint ep;	/* recv: sender and local address (as wg_udp_recv) */
	struct wg_endpoint *to; /* send: destination; has_src may be cleared */
	int err;		/* send: 0 or -errno for this message */
};

#define WG_UDP_MMSG (1u << 0) /* several messages per system call */
#define WG_UDP_GSO  (1u << 1) /* send trains (seg < len) in one piece */
#define WG_UDP_GRO  (1u << 2) /* receive trains */

/* What the batch functions do natively on this socket pair. */
unsigned int wg_udp_offloads(const struct wg_udp *udp);
/* From now on the batch functions on udp are the portable fallbacks, one
 * datagram per system call and no offloads, as on systems without
 * batching (the portable data path, chosen at run time). */
void wg_udp_set_portable(struct wg_udp *udp);
/* Turns UDP_GRO on receive on or off (Linux); 0 or -errno. */
int wg_udp_set_gro(struct wg_udp *udp, bool on);
/* Receives up to n messages from fd (each buffer at least 65535 bytes when
 * GRO is on). Returns the number received (>0), -EAGAIN when drained, or
 * another -errno. */
int wg_udp_recv_batch(struct wg_udp *udp, int fd, struct wg_udp_msg *msgs, int n);
/* Sends n messages, trains split in the kernel (GSO) or here. Returns the
 * number of messages handed to the kernel in full; each msgs[i].err tells
 * how it went. A refused sticky source is handled as in wg_udp_send. */
int wg_udp_send_batch(struct wg_udp *udp, struct wg_udp_msg *msgs, int n);

#endif
