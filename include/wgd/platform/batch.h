/* The batched and offloaded data path, optional capabilities of the TUN
 * (wgd/platform/tun.h) and UDP (wgd/platform/udp.h) boundary. Linux
 * implements them with a virtio-net header on the TUN (TSO/USO
 * super-packets from the kernel, coalesced super-packets to it),
 * recvmmsg/sendmmsg, UDP_SEGMENT (GSO) and UDP_GRO. Other systems get
 * portable fallbacks: one packet per call, no offloads. The capability
 * queries say what a caller may rely on; the single-packet functions keep
 * working on every descriptor. */
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

enum wg_gso_type {
	WG_GSO_NONE = 0,
	WG_GSO_TCP4,
	WG_GSO_TCP6,
	WG_GSO_UDP_L4, /* UDP segmentation, IPv4 or IPv6 */
};

/* How a TUN packet is (to be) segmented and checksummed: the portable form
 * of Linux's struct virtio_net_hdr. */
struct wg_gso {
	uint8_t type;	      /* enum wg_gso_type */
	bool needs_csum;      /* L4 checksum at csum_start + csum_offset is partial */
	bool data_valid;      /* write: checksums need not be verified */
	uint16_t gso_size;    /* L4 payload bytes per segment */
	uint16_t hdr_len;     /* L3 + L4 header bytes (a hint on read) */
	uint16_t csum_start;  /* offset of the L4 header */
	uint16_t csum_offset; /* of the checksum field, from csum_start */
};

#define WG_TUN_OFFLOAD_CSUM (1u << 0) /* partial checksums both ways */
#define WG_TUN_OFFLOAD_TSO  (1u << 1) /* TCP super-packets (TSO4/TSO6) both ways */
#define WG_TUN_OFFLOAD_USO  (1u << 2) /* UDP super-packets both ways */

/* Asks the kernel to hand over (and accept) super-packets and partial
 * checksums; on returns the subset actually enabled (0 = none: plain
 * packets). Offloads need a Linux TUN opened by wg_tun_create. 0 or -errno
 * (-EOPNOTSUPP: no offloads on this descriptor or OS). */
int wg_tun_set_offload(struct wg_tun *tun, bool on, unsigned int *enabled);
/* One packet or super-packet with its offload description (type
 * WG_GSO_NONE and no partial checksum without offloads: then one plain
 * read). Same return values as wg_tun_read. */
ssize_t wg_tun_read_gso(struct wg_tun *tun, uint8_t *buf, size_t len, struct wg_gso *gso);
/* Writes one packet gathered from iov (iovcnt <= WG_TUN_MAX_IOV); gso may
 * describe a super-packet only while the matching offload is enabled.
 * Returns bytes written or -errno (-ENODEV: interface gone). */
#define WG_TUN_MAX_IOV 128
ssize_t wg_tun_write_gso(struct wg_tun *tun, const struct wg_gso *gso, const struct iovec *iov,
			 int iovcnt);

/* A plain IP packet in the caller's memory. */
struct wg_pkt {
	uint8_t *data;
	size_t len;
};

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
