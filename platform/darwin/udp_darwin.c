/* macOS parts of the UDP transport: the IPv4 sticky source through
 * IP_PKTINFO, and the firewall mark, which macOS does not have. */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "wg_posix.h"

int wg_os_pktinfo4_enable(int fd)
{
	int on = 1;

	/* IP_RECVPKTINFO is IP_PKTINFO on macOS. */
	if (setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &on, sizeof(on)) < 0)
		return -errno;
	return 0;
}

/* XNU reports the datagram's destination in ipi_addr and leaves
 * ipi_spec_dst zero; take the latter should a release ever fill it. */
bool wg_os_pktinfo4_parse(const struct cmsghdr *c, struct wg_endpoint *ep)
{
	struct in_pktinfo info;

	if (c->cmsg_level != IPPROTO_IP || c->cmsg_type != IP_PKTINFO ||
	    c->cmsg_len < CMSG_LEN(sizeof(info)))
		return false;
	memcpy(&info, CMSG_DATA(c), sizeof(info));
	ep->src4 = info.ipi_spec_dst.s_addr ? info.ipi_spec_dst : info.ipi_addr;
	ep->src_ifindex = info.ipi_ifindex;
	ep->has_src = true;
	return true;
}

/* XNU (udp_check_pktinfo) lets a non-zero ipi_ifindex override the source
 * address: leave it 0 so that ipi_spec_dst picks the source and routing
 * the interface. */
size_t wg_os_pktinfo4_build(const struct wg_endpoint *ep, union wg_cmsg_buf *cb)
{
	struct cmsghdr *c = &cb->align;
	struct in_pktinfo info;

	memset(cb, 0, CMSG_SPACE(sizeof(info)));
	if (!ep->has_src)
		return 0; /* no egress pin here: wg_udp_can_pin_egress */
	memset(&info, 0, sizeof(info));
	info.ipi_spec_dst = ep->src4;
	c->cmsg_level = IPPROTO_IP;
	c->cmsg_type = IP_PKTINFO;
	c->cmsg_len = CMSG_LEN(sizeof(info)); /* XNU wants exactly this */
	memcpy(CMSG_DATA(c), &info, sizeof(info));
	return CMSG_SPACE(sizeof(info));
}

/* `wg setconf` always sends fwmark=0, which never gets here (the mark is
 * unchanged); a real mark has no macOS equivalent. */
int wg_os_set_fwmark(int fd, uint32_t mark)
{
	(void)fd;
	return mark ? -EOPNOTSUPP : 0;
}

/* macOS has no way to bind an address the host lacks: bind then fails
 * with EADDRNOTAVAIL, which the caller reports. */
int wg_os_udp_bind_absent(int fd, int family, bool on)
{
	(void)fd;
	(void)family;
	(void)on;
	return 0;
}
