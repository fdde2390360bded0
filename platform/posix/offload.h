/* Userspace halves of TUN offloads, pure packet arithmetic, for the
 * platform's TUN batches (nothing above the platform sees super-packets):
 * splitting a TCP/UDP super-packet from the TUN into MTU-sized
 * packets (TSO/USO done here, each with its own headers and checksum), and
 * coalescing received TCP/UDP packets of one flow back into super-packets
 * (GRO) before they are written to the TUN. No I/O, no allocation. */
#ifndef WGD_OFFLOAD_H
#define WGD_OFFLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "wgd/platform/batch.h"

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

/* --- segmentation of TUN super-packets --- */

struct wg_gso_split {
	const uint8_t *pkt;
	size_t len;
	size_t l4_off;	/* start of the TCP/UDP header */
	size_t hdr_len; /* all headers up to the payload */
	size_t mss;	/* payload per segment */
	size_t nseg, idx;
	uint8_t family; /* 4 or 6 */
	uint8_t proto;	/* IPPROTO_TCP / IPPROTO_UDP, 0 = plain packet */
	const struct wg_gso *gso;
};

/* Checks a packet read with gso and prepares to cut it. A plain packet
 * (WG_GSO_NONE) is one segment, its partial checksum completed. 0 or
 * -EINVAL (malformed; drop it). */
int wg_gso_split_init(struct wg_gso_split *s, const uint8_t *pkt, size_t len,
		      const struct wg_gso *gso);
/* Length of the segment wg_gso_split_next writes next; 0 when done. */
size_t wg_gso_split_peek(const struct wg_gso_split *s);
/* Writes the next segment (headers, payload, checksums) to out, which has
 * room for wg_gso_split_peek bytes; returns its length, 0 when done. */
size_t wg_gso_split_next(struct wg_gso_split *s, uint8_t *out);

/* --- coalescing before the TUN write --- */

#define WG_GRO_MAX_PKTS	 1024 /* packets per batch */
#define WG_GRO_MAX_SEGS	 64   /* packets per super-packet */
#define WG_GRO_HASH_BITS 7
#define WG_GRO_KEY_LEN	 16 /* flow hash secret (SipHash key) */

/* Called for each output packet in order; returns <0 on a write error. */
typedef int (*wg_gro_out_fn)(void *ctx, const struct wg_gso *gso, const struct iovec *iov,
			     int iovcnt);

struct wg_gro_pkt {
	uint8_t *data;
	uint16_t len;
	int16_t next; /* next packet of the same item, -1 = last */
};

struct wg_gro_item {
	int16_t first, last;
	int16_t hash_next; /* newer item of the same bucket chain, -1 = none */
	uint16_t count;
	uint16_t gso_size;
	uint16_t l4_off, hdr_len;
	uint32_t total;	   /* bytes of the coalesced packet so far */
	uint32_t next_seq; /* TCP: sequence number that may follow */
	uint32_t hash;
	uint8_t family, proto;
	uint8_t csum; /* the first packet's L4 checksum: unchecked, good, bad */
	bool closed;  /* nothing more may be appended */
	bool psh;     /* TCP PSH of the last segment */
};

struct wg_gro {
	bool tcp, udp; /* which protocols to coalesce */
	uint16_t n_pkts, n_items;
	uint8_t key[WG_GRO_KEY_LEN];	       /* flow hash secret, random per device */
	int16_t bucket[1 << WG_GRO_HASH_BITS]; /* newest item per bucket, -1 = none */
	struct wg_gro_pkt pkts[WG_GRO_MAX_PKTS];
	struct wg_gro_item items[WG_GRO_MAX_PKTS];
};

/* Chooses the protocols and empties g; the flow hash key stays. */
void wg_gro_init(struct wg_gro *g, bool tcp, bool udp);
/* The flow hash's secret, random per device, so that a sender cannot aim
 * its flows at one bucket chain; copied (wipe g->key when done with g). */
void wg_gro_set_key(struct wg_gro *g, const uint8_t key[WG_GRO_KEY_LEN]);
/* True when no more packets fit: flush first. */
bool wg_gro_full(const struct wg_gro *g);
/* Adds a validated IP packet (len = its IP length) that stays in place
 * and unchanged until the next flush; its headers may be rewritten then.
 * A TCP/UDP packet joins or starts a super-packet only if its checksum
 * verifies (checked when a second packet would join); any other goes out
 * alone and unchanged, for the kernel to judge. */
void wg_gro_add(struct wg_gro *g, uint8_t *pkt, size_t len);
/* Emits every packet, coalesced where possible, in arrival order per flow,
 * and empties g. Returns the number of out calls that failed. */
int wg_gro_flush(struct wg_gro *g, wg_gro_out_fn out, void *ctx);

#endif
