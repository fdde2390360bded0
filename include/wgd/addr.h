/* Socket addresses as the core sees them: an IPv4 or IPv6 address and port.
 * Used for endpoints, cookie MAC2 binding and rate limiting. */
#ifndef WGD_ADDR_H
#define WGD_ADDR_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

union wg_sockaddr {
	struct sockaddr sa;
	struct sockaddr_in in4;
	struct sockaddr_in6 in6;
};

/* "192.0.2.1:51820" or "[2001:db8::1]:51820" */
#define WG_SOCKADDR_STRLEN (INET6_ADDRSTRLEN + 16)

/* Formats addr into buf (at least WG_SOCKADDR_STRLEN); returns buf. */
char *wg_sockaddr_format(const union wg_sockaddr *addr, char *buf, size_t len);
/* Parses "IPv4:port" or "[IPv6]:port" (numeric only). 0 or -EINVAL. */
int wg_sockaddr_parse(union wg_sockaddr *out, const char *text);
/* Same family, address and port (and scope id for IPv6). */
bool wg_sockaddr_equal(const union wg_sockaddr *a, const union wg_sockaddr *b);
/* sizeof the concrete sockaddr for the family, 0 if AF_UNSPEC. */
size_t wg_sockaddr_len(const union wg_sockaddr *addr);
/* Writes the address bytes followed by the 2 port bytes (network order) into
 * out (>= 18 bytes); returns the length (6 or 18), 0 if unset. Used as the
 * cookie's source binding. */
size_t wg_sockaddr_bytes(const union wg_sockaddr *addr, unsigned char *out);

/* A peer's endpoint: where to send, plus the local address the peer last
 * reached us on ("sticky source"), so replies leave from that address even
 * on multi-homed hosts. has_src false = let the kernel choose.
 * pinned: the source and interface come from configuration (a peer's
 * source address and/or egress interface), not from what was received:
 * src_ifindex is then the egress interface (0: none), has_src false means
 * "the kernel's choice on that interface", and a send the system refuses
 * fails instead of falling back to another source or route. egress_down:
 * pinned to an interface that does not exist now; sends fail with -ENODEV
 * before reaching the system. */
struct wg_endpoint {
	union wg_sockaddr addr;
	union {
		struct in_addr src4;
		struct in6_addr src6;
	};
	unsigned int src_ifindex;
	bool has_src;
	bool pinned;
	bool egress_down;
};

/* At most one IPv4 and one IPv6 address: a device's bind addresses, a
 * peer's source addresses. Neither = unset. */
struct wg_addr_pair {
	struct in_addr v4;
	struct in6_addr v6;
	bool has_v4, has_v6;
};

/* Longest text of a pair: "IPv4,IPv6". */
#define WG_ADDR_PAIR_STRLEN (INET_ADDRSTRLEN + INET6_ADDRSTRLEN + 2)
/* "none", "ADDR" or "ADDR,ADDR" (one of each family, either order; numeric,
 * IPv6 without scope). 0 or -EINVAL (out untouched). */
int wg_addr_pair_parse(struct wg_addr_pair *out, const char *text);
/* IPv4 first, comma-separated; "none" when unset. Returns buf. */
char *wg_addr_pair_format(const struct wg_addr_pair *p, char *buf, size_t len);
bool wg_addr_pair_equal(const struct wg_addr_pair *a, const struct wg_addr_pair *b);
/* Whether src names an address of a family that bind names a different
 * one of: a peer source a bound family cannot send from (replies come
 * back to the source, and only the bind address listens). */
bool wg_addr_pair_contradicts(const struct wg_addr_pair *src, const struct wg_addr_pair *bind);
static inline bool wg_addr_pair_set(const struct wg_addr_pair *p)
{
	return p->has_v4 || p->has_v6;
}

#endif
