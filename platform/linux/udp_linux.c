/* Linux parts of the UDP transport: IP_PKTINFO for the IPv4 sticky source,
 * forced socket buffers and SO_MARK. */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "wg_posix.h"

/* Large enough for bursts at multi-gigabit rates (wireguard-go uses the
 * same 7 MiB). */
#define SOCKET_BUFFER_SIZE (7 << 20)

static void set_buffer(int fd, int force_opt, int opt)
{
	int size = SOCKET_BUFFER_SIZE;

	/* The FORCE variants pass net.core.[rw]mem_max but need
	 * CAP_NET_ADMIN; without it settle for what the limit allows. */
	if (setsockopt(fd, SOL_SOCKET, force_opt, &size, sizeof(size)) == 0)
		return;
	(void)setsockopt(fd, SOL_SOCKET, opt, &size, sizeof(size));
}

void wg_os_udp_set_buffers(int fd)
{
	set_buffer(fd, SO_RCVBUFFORCE, SO_RCVBUF);
	set_buffer(fd, SO_SNDBUFFORCE, SO_SNDBUF);
}

int wg_os_pktinfo4_enable(int fd)
{
	int on = 1;

	if (setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &on, sizeof(on)) < 0)
		return -errno;
	return 0;
}

/* ipi_spec_dst is the local address the datagram was received on (for a
 * broadcast, the address the kernel would answer from), the right source
 * for replies; ipi_addr would be the header's destination. */
bool wg_os_pktinfo4_parse(const struct cmsghdr *c, struct wg_endpoint *ep)
{
	struct in_pktinfo info;

	if (c->cmsg_level != IPPROTO_IP || c->cmsg_type != IP_PKTINFO ||
	    c->cmsg_len < CMSG_LEN(sizeof(info)))
		return false;
	memcpy(&info, CMSG_DATA(c), sizeof(info));
	ep->src4 = info.ipi_spec_dst;
	ep->src_ifindex = (unsigned int)info.ipi_ifindex;
	ep->has_src = true;
	return true;
}

size_t wg_os_pktinfo4_build(const struct wg_endpoint *ep, union wg_cmsg_buf *cb)
{
	struct cmsghdr *c = &cb->align;
	struct in_pktinfo info;

	memset(cb, 0, CMSG_SPACE(sizeof(info)));
	memset(&info, 0, sizeof(info));
	info.ipi_spec_dst = ep->src4;
	info.ipi_ifindex = (int)ep->src_ifindex;
	c->cmsg_level = IPPROTO_IP;
	c->cmsg_type = IP_PKTINFO;
	c->cmsg_len = CMSG_LEN(sizeof(info));
	memcpy(CMSG_DATA(c), &info, sizeof(info));
	return CMSG_SPACE(sizeof(info));
}

int wg_os_set_fwmark(int fd, uint32_t mark)
{
	if (setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) < 0)
		return -errno;
	return 0;
}
