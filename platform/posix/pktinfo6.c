/* IPv6 packet information (RFC 3542), identical on Linux, FreeBSD and
 * macOS: the local address and interface a datagram arrived on, and the
 * source to send from. */
/* macOS hides IPV6_RECVPKTINFO without this; other systems ignore it. */
#define __APPLE_USE_RFC_3542
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "wg_posix.h"

int wg_posix_pktinfo6_enable(int fd)
{
	int on = 1;

	if (setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &on, sizeof(on)) < 0)
		return -errno;
	return 0;
}

bool wg_posix_pktinfo6_parse(const struct cmsghdr *c, struct wg_endpoint *ep)
{
	struct in6_pktinfo info;

	if (c->cmsg_level != IPPROTO_IPV6 || c->cmsg_type != IPV6_PKTINFO ||
	    c->cmsg_len < CMSG_LEN(sizeof(info)))
		return false;
	memcpy(&info, CMSG_DATA(c), sizeof(info));
	ep->src6 = info.ipi6_addr;
	ep->src_ifindex = info.ipi6_ifindex;
	ep->has_src = true;
	return true;
}

size_t wg_posix_pktinfo6_build(const struct wg_endpoint *ep, union wg_cmsg_buf *cb)
{
	struct cmsghdr *c = &cb->align;
	struct in6_pktinfo info;

	memset(cb, 0, CMSG_SPACE(sizeof(info)));
	memset(&info, 0, sizeof(info));
	if (ep->has_src)
		info.ipi6_addr = ep->src6;
	/* Routing picks the interface, as in the kernel's WireGuard; only a
	 * link-local source needs its link named, and a pinned endpoint its
	 * egress interface. */
	if (ep->pinned || (ep->has_src && IN6_IS_ADDR_LINKLOCAL(&ep->src6)))
		info.ipi6_ifindex = ep->src_ifindex;
	c->cmsg_level = IPPROTO_IPV6;
	c->cmsg_type = IPV6_PKTINFO;
	c->cmsg_len = CMSG_LEN(sizeof(info));
	memcpy(CMSG_DATA(c), &info, sizeof(info));
	return CMSG_SPACE(sizeof(info));
}
