/* ICMP errors on the UDP sockets, Linux: with IP_RECVERR/IPV6_RECVERR set
 * (udp_linux.c) the kernel queues each ICMP error a datagram of ours drew
 * on the socket's error queue, read with MSG_ERRQUEUE: the datagram's
 * destination comes as the message's address, the error as a
 * sock_extended_err control message followed by the address of the host
 * that reported it. */
#include <errno.h>
#include <time.h> /* linux/errqueue.h uses struct timespec */
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "wg_posix.h"
#include "wgd/platform/udp.h"

/* Errors taken per call at most: the queue is bounded by the receive
 * buffer, and a flood must not hold the event loop here. */
#define DRAIN_MAX 256

/* ICMP (RFC 792, 1812) and ICMPv6 (RFC 4443) numbers. */
#define ICMP_DEST_UNREACH    3
#define ICMP_CODE_PORT	     3
#define ICMP_CODE_FRAG	     4
#define ICMP6_DEST_UNREACH   1
#define ICMP6_PACKET_TOO_BIG 2
#define ICMP6_CODE_PORT	     4

/* The errnos the kernel reports a queued ICMP error with (icmp_err_convert,
 * icmpv6_err_convert, and UDP's own: EHOSTUNREACH for time exceeded,
 * EPROTO for a parameter problem, EMSGSIZE for a smaller path MTU). */
bool wg_os_udp_icmp_errno(int err)
{
	switch (-err) {
	case ECONNREFUSED:
	case EHOSTUNREACH:
	case ENETUNREACH:
	case EHOSTDOWN:
	case ENONET:
	case ENOPROTOOPT:
	case EPROTO:
	case EACCES:
	case EMSGSIZE:
	case EOPNOTSUPP:
		return true;
	default:
		return false;
	}
}

static int icmp4_kind(uint8_t type, uint8_t code)
{
	if (type != ICMP_DEST_UNREACH)
		return WG_UDP_ICMP_OTHER;
	switch (code) {
	case ICMP_CODE_PORT:
		return WG_UDP_ICMP_PORT_UNREACHABLE;
	case 0:	 /* net unreachable */
	case 1:	 /* host unreachable */
	case 6:	 /* net unknown */
	case 7:	 /* host unknown */
	case 9:	 /* net administratively prohibited */
	case 10: /* host administratively prohibited */
	case 11: /* net unreachable for the TOS */
	case 12: /* host unreachable for the TOS */
	case 13: /* communication administratively prohibited (filtered) */
		return WG_UDP_ICMP_HOST_UNREACHABLE;
	default:
		return WG_UDP_ICMP_OTHER;
	}
}

static int icmp6_kind(uint8_t type, uint8_t code)
{
	if (type != ICMP6_DEST_UNREACH)
		return WG_UDP_ICMP_OTHER;
	switch (code) {
	case ICMP6_CODE_PORT:
		return WG_UDP_ICMP_PORT_UNREACHABLE;
	case 0: /* no route */
	case 1: /* administratively prohibited */
	case 2: /* beyond the scope of the source address */
	case 3: /* address unreachable */
	case 5: /* source address failed policy */
	case 6: /* reject route */
		return WG_UDP_ICMP_HOST_UNREACHABLE;
	default:
		return WG_UDP_ICMP_OTHER;
	}
}

/* Fills e from an extended error of ICMP or ICMPv6 origin; false for any
 * other (local send errors, timestamps). len: bytes of control data. */
static bool parse_error(const uint8_t *data, size_t len, struct wg_udp_icmp *e)
{
	struct sock_extended_err ee;
	size_t from_len;
	bool v6;

	if (len < sizeof(ee))
		return false;
	memcpy(&ee, data, sizeof(ee));
	if (ee.ee_origin != SO_EE_ORIGIN_ICMP && ee.ee_origin != SO_EE_ORIGIN_ICMP6)
		return false;
	v6 = ee.ee_origin == SO_EE_ORIGIN_ICMP6;
	e->type = ee.ee_type;
	e->code = ee.ee_code;
	e->kind = v6 ? icmp6_kind(ee.ee_type, ee.ee_code) : icmp4_kind(ee.ee_type, ee.ee_code);
	if (v6 ? ee.ee_type == ICMP6_PACKET_TOO_BIG
	       : ee.ee_type == ICMP_DEST_UNREACH && ee.ee_code == ICMP_CODE_FRAG)
		e->mtu = ee.ee_info;
	/* SO_EE_OFFENDER: the reporting host, AF_UNSPEC when unknown. */
	from_len = len - sizeof(ee) < sizeof(e->from) ? len - sizeof(ee) : sizeof(e->from);
	memcpy(&e->from, data + sizeof(ee), from_len);
	return true;
}

static bool parse_control(struct msghdr *msg, struct wg_udp_icmp *e)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = wg_cmsg_next(msg, c)) {
		bool recverr = (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_RECVERR) ||
			       (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_RECVERR);
		if (recverr && c->cmsg_len >= CMSG_LEN(0))
			return parse_error(CMSG_DATA(c), c->cmsg_len - CMSG_LEN(0), e);
	}
	return false;
}

/* One queued error: 1 an ICMP error (in e), 0 another kind, -errno
 * (-EAGAIN: queue empty). The quoted payload is not wanted. */
static int read_error(int fd, struct wg_udp_icmp *e)
{
	union {
		struct cmsghdr align;
		uint8_t buf[256]; /* the error, its offender, packet info */
	} cb;
	struct msghdr msg = {
		.msg_name = &e->dest,
		.msg_namelen = sizeof(e->dest),
		.msg_control = cb.buf,
		.msg_controllen = sizeof(cb.buf),
	};

	memset(e, 0, sizeof(*e));
	if (recvmsg(fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT) < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	if (msg.msg_flags & MSG_CTRUNC)
		return 0;
	return parse_control(&msg, e) ? 1 : 0;
}

int wg_os_udp_drain_errors(struct wg_udp *udp, int fd)
{
	struct wg_udp_icmp e;
	int taken = 0;

	for (int i = 0; i < DRAIN_MAX; i++) {
		int r = read_error(fd, &e);
		if (r < 0)
			break;
		if (r) {
			wg_posix_icmp_push(udp, &e);
			taken++;
		}
	}
	return taken;
}
