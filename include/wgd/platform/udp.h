/* UDP, part of the operating-system boundary: one IPv4 and one IPv6 socket
 * bound to the same port, receiving the local destination address of each
 * datagram (sticky source). Batched and offloaded forms:
 * wgd/platform/batch.h. */
#ifndef WGD_PLATFORM_UDP_H
#define WGD_PLATFORM_UDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "wgd/addr.h"

struct wg_udp;

/* port 0 picks a random free port usable by both families. Either family
 * may be missing on a host (no IPv6): it is skipped, not an error, unless
 * both fail. fwmark 0 = none. bind (NULL or unset: the wildcards) names
 * the addresses to listen on and send from; a family it leaves out is not
 * opened, and its addresses may be absent from the host where the OS
 * allows (Linux, FreeBSD; elsewhere -EADDRNOTAVAIL). 0 or -errno. */
int wg_udp_open(uint16_t port, uint32_t fwmark, const struct wg_addr_pair *bind,
		struct wg_udp **out);
/* Re-binding on the port a pair holds (other bind addresses, same port):
 * the old pair allows the overlap (set_shared true), the new one is opened
 * allowing it, and once the old pair is closed the new one stops allowing
 * it (set_shared false), so that no other socket can share the port. */
int wg_udp_open_shared(uint16_t port, uint32_t fwmark, const struct wg_addr_pair *bind,
		       struct wg_udp **out);
int wg_udp_set_shared(struct wg_udp *udp, bool on);
void wg_udp_close(struct wg_udp *udp);
uint16_t wg_udp_port(const struct wg_udp *udp);
/* The index of interface name, 0 if there is none by that name. */
unsigned int wg_udp_ifindex(const char *name);
/* Whether the host has the single address of one (a pair with one family
 * set) and can send from it now: 1, 0, or -errno if it cannot tell. udp
 * (may be NULL) lends its route watch, which asks the kernel's address
 * table (Linux). */
int wg_udp_addr_present(const struct wg_udp *udp, const struct wg_addr_pair *one);
/* Whether a pinned endpoint's src_ifindex can choose the egress interface
 * of each send on this OS (Linux). */
bool wg_udp_can_pin_egress(void);
/* The descriptors to watch: fds[0] IPv4, fds[1] IPv6, -1 if absent. */
void wg_udp_fds(const struct wg_udp *udp, int fds[2]);
/* Applies a new fwmark to both sockets (SO_MARK on Linux). 0 or -errno;
 * -EOPNOTSUPP for a non-zero mark where the OS has none. */
int wg_udp_set_fwmark(struct wg_udp *udp, uint32_t fwmark);
/* Receives one datagram from fd. from->addr is the sender; from->src/
 * src_ifindex/has_src the local address it arrived on. >=0 length,
 * -EAGAIN when drained, other -errno. */
ssize_t wg_udp_recv(struct wg_udp *udp, int fd, uint8_t *buf, size_t len, struct wg_endpoint *from);
/* Sends from to->src when has_src; if the kernel refuses that source
 * (address gone: EADDRNOTAVAIL/EINVAL/ENETUNREACH) clears has_src and
 * retries once with the kernel's choice. A pinned endpoint (wgd/addr.h) is
 * never retried that way: its source and egress interface hold or the
 * send fails (-ENODEV at once while egress_down). 0 or -errno. */
int wg_udp_send(struct wg_udp *udp, struct wg_endpoint *to, const uint8_t *buf, size_t len);
/* Route changes (Linux): a sticky IPv4 source is kept only while the
 * route to the peer leaves through the interface it was learned on. Watch
 * wg_udp_route_fd (-1: no watch) for reading and call wg_udp_route_update
 * when it is readable; it returns true when interfaces may have come,
 * gone or been renamed (egress interfaces are then looked up again). */
int wg_udp_route_fd(const struct wg_udp *udp);
bool wg_udp_route_update(struct wg_udp *udp);

/* ICMP errors drawn by our datagrams (Linux: IP_RECVERR/IPV6_RECVERR and
 * the socket's error queue). When a destination answers a datagram we sent
 * with an ICMP error, the receive and send functions above take it off the
 * socket into a bounded queue of the pair, instead of failing with the
 * socket's pending error (ECONNREFUSED, EHOSTUNREACH, ...): an ICMP error
 * never ends a read turn nor counts as a read error, and a send that only
 * met a pending error is sent again. The queue is filled only while the
 * pair is being read (wg_udp_recv, wg_udp_recv_batch) or written to: a
 * wakeup that finds nothing but errors takes them too, so the descriptor
 * does not stay readable. FreeBSD and macOS report no ICMP errors to
 * unconnected sockets: nothing is ever queued there, and wg_udp_take_icmp
 * returns 0.
 *
 * An ICMP error is a hint, not proof: anyone on the path (or who guesses
 * the ports) can forge one, and the kernel checks only that it quotes a
 * datagram header of this socket. Use them to explain silence, never to
 * change a peer's state. */
enum {
	/* The destination host answered that nothing listens on that UDP
	 * port (ICMP type 3 code 3; ICMPv6 type 1 code 4). */
	WG_UDP_ICMP_PORT_UNREACHABLE = 1,
	/* The destination cannot be reached, or a firewall refused it: net
	 * or host unreachable or unknown, administratively prohibited (ICMP
	 * type 3 codes 0, 1, 6, 7, 9-13; ICMPv6 type 1 codes 0-3, 5, 6). */
	WG_UDP_ICMP_HOST_UNREACHABLE,
	/* Anything else: fragmentation needed / packet too big (mtu set),
	 * time exceeded, parameter problem, protocol unreachable, ... */
	WG_UDP_ICMP_OTHER,
};

struct wg_udp_icmp {
	union wg_sockaddr dest; /* our datagram's destination: address and port */
	union wg_sockaddr from; /* the host that sent the ICMP error (AF_UNSPEC: unknown);
				 * the destination itself, or a router on the way */
	int kind;		/* WG_UDP_ICMP_* */
	uint8_t type, code;	/* as in the ICMP or ICMPv6 header (family of dest) */
	uint32_t mtu;		/* fragmentation needed / packet too big: the next
				 * hop's MTU; 0 otherwise */
};

/* Number of errors kept between two wg_udp_take_icmp calls; more are
 * counted (wg_udp_icmp_dropped) and forgotten, the oldest kept. */
#define WG_UDP_ICMP_QUEUE 64

/* Takes up to max ICMP errors reported since the last call, oldest first;
 * returns how many (0..max). Same thread as the receive and send calls. */
int wg_udp_take_icmp(struct wg_udp *udp, struct wg_udp_icmp *out, int max);
/* ICMP errors forgotten because the queue was full, since the pair opened. */
uint64_t wg_udp_icmp_dropped(const struct wg_udp *udp);

#endif
