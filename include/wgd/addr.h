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
 * on multi-homed hosts. has_src false = let the kernel choose. */
struct wg_endpoint {
	union wg_sockaddr addr;
	union {
		struct in_addr src4;
		struct in6_addr src6;
	};
	unsigned int src_ifindex;
	bool has_src;
};

#endif
