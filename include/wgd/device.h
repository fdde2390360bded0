/* The device: owns the identity, peers, lookup tables, TUN and UDP sockets,
 * and wires them to a libevent base. Configured only through change sets
 * (wg_device_set) and read through wg_device_get, which the UAPI control
 * server calls. */
#ifndef WGD_DEVICE_H
#define WGD_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uapi.h"

struct event_base;
struct wg_tun;
struct wg_device;

/* Injectable clocks: monotonic for every protocol timer, Unix for TAI64N
 * timestamps and last_handshake_time. */
struct wg_clock {
	uint64_t (*mono_ns)(void *ctx);
	uint64_t (*unix_ns)(void *ctx);
	void *ctx;
};

/* The data path's settings; all zero are the defaults. The engine reads no
 * environment: cmd/wgd fills this from WGD_PORTABLE, WGD_BUFFER_MB and
 * WGD_THREADS. */
struct wg_datapath_config {
	/* The POSIX fallbacks of the platform layer at run time, as FreeBSD
	 * and macOS run them: one packet per system call, no offloads. */
	bool portable;
	/* Hard cap on batch buffers plus staged packets; 0 = 16 MiB. */
	size_t buffer_bytes;
	/* Threads doing crypto, the event loop's included; 0 = one per
	 * online CPU, at most 4. Never more than the CPUs. */
	unsigned int threads;
};

struct wg_device_params {
	struct event_base *base; /* not owned */
	/* Owned by the device once wg_device_create succeeded (it still
	 * belongs to the caller when create fails). NULL = no TUN. */
	struct wg_tun *tun;
	/* NULL = the system clocks. With an injected clock the device does not
	 * arm libevent timers; the test advances the clock and calls
	 * wg_device_run_timers. */
	const struct wg_clock *clock;
	struct wg_datapath_config dp;
	/* Addresses the device listens on and sends from (wgd --bind); unset:
	 * the wildcard of both families. A family without an address is not
	 * opened when the other has one. */
	struct wg_addr_pair bind;
};

int wg_device_create(const struct wg_device_params *p, struct wg_device **out);
/* Stops all I/O, frees every peer and zeroes every key. */
void wg_device_destroy(struct wg_device *dev);

/* Writes the key=value lines of a get reply (not the errno line), all at
 * once. 0 or -errno. */
int wg_device_get(struct wg_device *dev, struct wg_uapi_writer *w);

/* A get reply in pieces, so that a device with 100,000 peers is neither
 * copied into one buffer nor blocks the event loop while it is written.
 * begin writes the interface lines; each next call writes up to max_peers
 * peers and returns false once the last one is out; end frees the cursor
 * (at any point). It is not a snapshot: a peer removed before the cursor
 * reaches it is left out, one added meanwhile is included, each peer is
 * written consistently. */
struct wg_device_dump;
int wg_device_dump_begin(struct wg_device *dev, struct wg_uapi_writer *w,
			 struct wg_device_dump **out);
bool wg_device_dump_next(struct wg_device_dump *d, struct wg_uapi_writer *w, size_t max_peers);
void wg_device_dump_end(struct wg_device_dump *d);
/* Applies a whole change set or nothing. 0 or -errno (-EADDRINUSE port
 * taken, -ENOMEM, -EOPNOTSUPP fwmark unsupported, -E2BIG peer limit). */
int wg_device_set(struct wg_device *dev, const struct wg_uapi_set *set);

/* cb is called once when the device can no longer work (its TUN went
 * away), from the event loop; it may destroy the device. */
void wg_device_on_fatal(struct wg_device *dev, void (*cb)(void *ctx), void *ctx);

/* Test hook for injected clocks: runs every timer whose deadline passed. */
void wg_device_run_timers(struct wg_device *dev);

/* Why packets were dropped, and a few events worth counting. Every field is
 * a monotonically increasing count since the device was created. */
struct wg_device_stats {
	/* outbound (TUN) */
	uint64_t tun_rx_packets;
	uint64_t tun_garbage;	  /* not a valid IPv4/IPv6 header */
	uint64_t tun_no_peer;	  /* no allowed ip covers the destination */
	uint64_t tun_no_endpoint; /* peer has no endpoint yet */
	uint64_t tun_read_errors;
	uint64_t staged_overflow; /* oldest staged packet dropped */
	uint64_t staged_given_up; /* staged packets dropped: handshake gave up */
	uint64_t icmp_sent;
	uint64_t icmp_ratelimited;
	uint64_t udp_send_errors;
	/* of those, refused by a configured source, bind address or egress
	 * interface (absent from the host, no route through it) */
	uint64_t udp_send_source_refused;
	/* inbound (UDP) */
	uint64_t udp_rx_packets;
	uint64_t udp_garbage; /* unknown type or wrong length */
	uint64_t udp_read_errors;
	uint64_t handshake_queue_full;
	uint64_t mac_invalid; /* mac1 wrong: not for our key */
	uint64_t handshake_ratelimited;
	uint64_t cookie_replies_sent;
	uint64_t cookie_replies_ratelimited; /* under load: over a reply limit */
	uint64_t initiation_unknown_peer;
	uint64_t initiation_replay;
	uint64_t initiation_flood;
	uint64_t initiation_invalid;
	uint64_t response_unknown_index;
	uint64_t response_invalid;
	uint64_t cookie_reply_unknown_index;
	uint64_t cookie_reply_invalid;
	uint64_t data_unknown_index;
	uint64_t data_expired_keypair;
	uint64_t data_auth_failed;
	uint64_t data_replayed;
	uint64_t inner_garbage;	     /* decrypted packet is not a valid IP packet */
	uint64_t inner_src_mismatch; /* inner source outside the peer's allowed ips */
	uint64_t tun_write_errors;
	/* events */
	uint64_t handshake_initiations_sent;
	uint64_t handshake_responses_sent;
	uint64_t handshakes_completed;
	uint64_t handshakes_given_up;
	uint64_t keepalives_sent;
	uint64_t keepalives_received;
	uint64_t data_packets_sent;
	uint64_t data_packets_received;
	uint64_t keys_zeroed;
	/* handshakes, as seen per message (failures above) */
	uint64_t initiations_received; /* valid, from a known peer */
	uint64_t responses_received;   /* valid */
	uint64_t cookie_replies_received;
	uint64_t sessions_created; /* keypairs derived */
	uint64_t endpoint_changes; /* roaming: a peer's address moved */
	/* ICMP errors the host's stack reported on the UDP sockets (Linux
	 * IP_RECVERR): an endpoint's host answered, or a router on the way */
	uint64_t icmp_port_unreachable;
	uint64_t icmp_host_unreachable; /* host, net or admin-prohibited */
	uint64_t icmp_other;
	/* the data path: batches and what they carried */
	uint64_t tun_rx_batches;    /* TUN reads (each may be cut into packets) */
	uint64_t udp_tx_trains;	    /* messages handed to the UDP batch send */
	uint64_t udp_tx_segments;   /* datagrams in them */
	uint64_t udp_rx_batches;    /* UDP batch receives */
	uint64_t udp_rx_datagrams;  /* datagrams in them (GRO trains counted cut) */
	uint64_t tun_tx_batches;    /* TUN batch writes */
	uint64_t tun_tx_packets;    /* packets in them */
	uint64_t multicast_dropped; /* to multicast/broadcast: no peer, not logged */
};

void wg_device_get_stats(const struct wg_device *dev, struct wg_device_stats *out);

/* The OpenMetrics (Prometheus text) exposition of the device, named
 * `device` in its labels, streamed like a get (metrics.c): begin writes
 * the device's families; each next call writes up to max_peers peers'
 * samples of the current family (one family at a time, all peers, as the
 * format requires) and returns false after the last; end frees the
 * cursor at any point. 0 or -ENOMEM. */
struct wg_device_metrics;
int wg_device_metrics_begin(struct wg_device *dev, const char *device, struct wg_uapi_writer *w,
			    struct wg_device_metrics **out);
bool wg_device_metrics_next(struct wg_device_metrics *m, struct wg_uapi_writer *w,
			    size_t max_peers);
/* The same without the wgd_peer_* families (about 35 series a peer): the
 * exporter-compatible peer families and every device family, for hubs
 * whose scrapes would otherwise carry millions of series. */
int wg_device_metrics_begin_basic(struct wg_device *dev, const char *device,
				  struct wg_uapi_writer *w, struct wg_device_metrics **out);
void wg_device_metrics_end(struct wg_device_metrics *m);
/* Earliest pending protocol timer on the monotonic clock (ns), UINT64_MAX
 * when none is pending: an idle device arms no timer at all. */
uint64_t wg_device_next_deadline(const struct wg_device *dev);
size_t wg_device_peer_count(const struct wg_device *dev);
/* Local UDP port the device listens on (0 if none). */
uint16_t wg_device_listen_port(const struct wg_device *dev);

#endif
