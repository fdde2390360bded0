/* FreeBSD parts of the UDP transport: the IPv4 sticky source through
 * IP_RECVDSTADDR (destination of each datagram) and IP_SENDSRCADDR (source
 * of a reply; the socket is bound to INADDR_ANY, as FreeBSD requires), and
 * the firewall mark as SO_USER_COOKIE (ipfw's `sockarg`), the mapping
 * FreeBSD's in-kernel wg(4) uses for fwmark too. */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "wg_posix.h"

int wg_os_pktinfo4_enable(int fd)
{
	int on = 1;

	if (setsockopt(fd, IPPROTO_IP, IP_RECVDSTADDR, &on, sizeof(on)) < 0)
		return -errno;
	return 0;
}

bool wg_os_pktinfo4_parse(const struct cmsghdr *c, struct wg_endpoint *ep)
{
	if (c->cmsg_level != IPPROTO_IP || c->cmsg_type != IP_RECVDSTADDR ||
	    c->cmsg_len < CMSG_LEN(sizeof(struct in_addr)))
		return false;
	memcpy(&ep->src4, CMSG_DATA(c), sizeof(struct in_addr));
	ep->src_ifindex = 0; /* not needed to pick the source on FreeBSD */
	ep->has_src = true;
	return true;
}

size_t wg_os_pktinfo4_build(const struct wg_endpoint *ep, union wg_cmsg_buf *cb)
{
	struct cmsghdr *c = &cb->align;

	if (!ep->has_src)
		return 0; /* no egress pin here: wg_udp_can_pin_egress */
	memset(cb, 0, CMSG_SPACE(sizeof(struct in_addr)));
	c->cmsg_level = IPPROTO_IP;
	c->cmsg_type = IP_SENDSRCADDR;
	c->cmsg_len = CMSG_LEN(sizeof(struct in_addr));
	memcpy(CMSG_DATA(c), &ep->src4, sizeof(struct in_addr));
	return CMSG_SPACE(sizeof(struct in_addr));
}

int wg_os_set_fwmark(int fd, uint32_t mark)
{
	if (setsockopt(fd, SOL_SOCKET, SO_USER_COOKIE, &mark, sizeof(mark)) < 0)
		return -errno;
	return 0;
}

/* IP_BINDANY/IPV6_BINDANY need the PRIV_NETINET_BINDANY privilege (root). */
int wg_os_udp_bind_absent(int fd, int family, bool on)
{
	int v = on;
	int ret = family == AF_INET ? setsockopt(fd, IPPROTO_IP, IP_BINDANY, &v, sizeof(v))
				    : setsockopt(fd, IPPROTO_IPV6, IPV6_BINDANY, &v, sizeof(v));

	return ret < 0 ? -errno : 0;
}
