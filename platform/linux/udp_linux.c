/* Linux parts of the UDP transport: IP_PKTINFO for the IPv4 sticky source
 * and the egress interface, forced socket buffers, no local fragmentation,
 * SO_MARK, binding to absent addresses and queued ICMP errors (read in
 * udp_errqueue.c). */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "wg_posix.h"
#include "wgd/platform/udp.h"

/* Send: large enough for bursts at multi-gigabit rates (wireguard-go uses
 * the same 7 MiB). Receive: also the queue a handshake flood waits in
 * while the daemon is not scheduled; each small datagram takes about 1
 * KiB of it, so 32 MiB holds a flood of 400k datagrams/s for 80 ms (7 MiB
 * overflowed within the scheduling gaps of a loaded 2-core machine,
 * bench/flood.sh). Kernel memory, used only while datagrams wait. */
#define SEND_BUFFER_SIZE (7 << 20)
#define RECV_BUFFER_SIZE (32 << 20)

static void set_buffer(int fd, int force_opt, int opt, int size)
{

	/* The FORCE variants pass net.core.[rw]mem_max but need
	 * CAP_NET_ADMIN; without it settle for what the limit allows. */
	if (setsockopt(fd, SOL_SOCKET, force_opt, &size, sizeof(size)) == 0)
		return;
	(void)setsockopt(fd, SOL_SOCKET, opt, &size, sizeof(size));
}

void wg_os_udp_set_buffers(int fd)
{
	set_buffer(fd, SO_RCVBUFFORCE, SO_RCVBUF, RECV_BUFFER_SIZE);
	set_buffer(fd, SO_SNDBUFFORCE, SO_SNDBUF, SEND_BUFFER_SIZE);
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
	/* The source alone, as the kernel's WireGuard sends: routing picks
	 * the interface. A learned src_ifindex is what the route watch
	 * compares the route's interface with (wg_posix_source_check), not a
	 * pin; a pinned one is the egress interface, and the kernel then
	 * looks up only routes through it. */
	if (ep->has_src)
		info.ipi_spec_dst = ep->src4;
	if (ep->pinned)
		info.ipi_ifindex = (int)ep->src_ifindex;
	c->cmsg_level = IPPROTO_IP;
	c->cmsg_type = IP_PKTINFO;
	c->cmsg_len = CMSG_LEN(sizeof(info));
	memcpy(CMSG_DATA(c), &info, sizeof(info));
	return CMSG_SPACE(sizeof(info));
}

/* IPv4 outer datagrams never carry DF, as the kernel's WireGuard sends
 * them (a hop with a smaller MTU fragments them; no path MTU to learn).
 * INTERFACE also refuses, with EMSGSIZE, one above the egress interface's
 * MTU instead of fragmenting it, so a tunnel whose endpoint is routed into
 * a tunnel of smaller MTU stops instead of sending fragments round again;
 * DONT fragments it here as the kernel does, for the one send the route
 * allows (wg_posix_send_fragmented). IPv6 keeps the default: no hop
 * fragments there, so the fragments made here after a Packet Too Big are
 * what gets through. */
int wg_os_udp_local_fragments(int fd, int family, bool allow)
{
	int v = allow ? IP_PMTUDISC_DONT : IP_PMTUDISC_INTERFACE;

	if (family != AF_INET)
		return 0;
	return setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &v, sizeof(v)) < 0 ? -errno : 0;
}

int wg_os_set_fwmark(int fd, uint32_t mark)
{
	if (setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) < 0)
		return -errno;
	return 0;
}

/* IP_FREEBIND covers IPv6 sockets too (the flag is the socket's, read by
 * both families' bind); IPV6_FREEBIND needs Linux 4.15. IPv4 refuses to
 * send from an absent address either way; IPv6 allows it while the flag
 * is on (ipv6_can_nonlocal_bind), hence off once bound. */
int wg_os_udp_bind_absent(int fd, int family, bool on)
{
	int v = on;

	(void)family;
	if (setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &v, sizeof(v)) < 0)
		return -errno;
	return 0;
}

/* Without it an unconnected socket never hears of an ICMP error. With it
 * each one sets the socket's pending error (the next receive or send
 * fails with it once) and waits on the error queue with the destination it
 * answered; local send errors (EMSGSIZE) are queued too, and a qdisc drop
 * fails the send with ENOBUFS instead of passing for sent. IPV6_V6ONLY
 * sockets need only the IPv6 option. */
int wg_os_udp_recverr_enable(int fd, int family)
{
	int on = 1, ret;

	if (family == AF_INET)
		ret = setsockopt(fd, IPPROTO_IP, IP_RECVERR, &on, sizeof(on));
	else
		ret = setsockopt(fd, IPPROTO_IPV6, IPV6_RECVERR, &on, sizeof(on));
	return ret < 0 ? -errno : 0;
}

/* IP_PKTINFO's ipi_ifindex and IPV6_PKTINFO's ipi6_ifindex both restrict
 * the route lookup to the interface. */
bool wg_udp_can_pin_egress(void)
{
	return true;
}
