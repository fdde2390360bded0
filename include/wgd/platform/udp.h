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
/* The bind addresses the pair was opened with (unset: wildcards). */
void wg_udp_bind_addrs(const struct wg_udp *udp, struct wg_addr_pair *out);
/* The index of interface name, 0 if there is none by that name. */
unsigned int wg_udp_ifindex(const char *name);
/* Whether the host has the single address of one (a pair with one family
 * set) and can send from it now: 1, 0, or -errno if it cannot tell. */
int wg_udp_addr_present(const struct wg_addr_pair *one);
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
 * when it is readable. */
int wg_udp_route_fd(const struct wg_udp *udp);
void wg_udp_route_update(struct wg_udp *udp);

#endif
