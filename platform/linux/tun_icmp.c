/* ICMP "unreachable" as the kernel's WireGuard sends it (icmp_ndo_send):
 * a packet this host originates, not one arriving on the TUN. That
 * matters when the host source-NATs traffic into the tunnel: an error
 * written into the TUN must carry some source address, and every choice
 * fails somewhere (the unreachable destination is dropped by the original
 * sender's source filter after conntrack un-NATs the error; any of our own
 * addresses is a martian on input and never leaves). Sent from a raw
 * socket instead, routing picks the source on the way back to the
 * original sender, whose address conntrack gives us; the quoted packet
 * gets that address back, as the kernel's does. This works while the TUN
 * is in the daemon's network namespace (where the raw sockets are); the
 * raw sockets need CAP_NET_RAW at start, the conntrack query CAP_NET_ADMIN.
 * Otherwise the caller writes the error into the TUN. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/rtnetlink.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <string.h>
#include <unistd.h>

#include "wg_linux.h"
#include "wg_posix.h"
#include "wgd/platform/tun.h"

#define PROTO_ICMP	1
#define PROTO_TCP	6
#define PROTO_UDP	17
#define PROTO_DCCP	33
#define PROTO_ICMPV6	58
#define PROTO_SCTP	132
#define PROTO_UDPLITE	136
#define RAW_ICMP_FILTER 1 /* linux/icmp.h, which clashes with net/if.h */

static int raw_fd[2] = {-1, -1}; /* [0] ICMP, [1] ICMPv6; process-wide */

static int raw_open(int family, int proto)
{
	int fd = socket(family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);

	if (fd < 0)
		return -1;
	/* Send only: a filter passing no type keeps the receive queue empty. */
	if (family == AF_INET) {
		uint32_t block_all = ~0u; /* Linux's ICMP_FILTER: a set bit drops the type */
		setsockopt(fd, SOL_RAW, RAW_ICMP_FILTER, &block_all, sizeof(block_all));
	} else {
		struct icmp6_filter f;
		ICMP6_FILTER_SETBLOCKALL(&f);
		setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, &f, sizeof(f));
	}
	return fd;
}

void wg_linux_icmp_open(void)
{
	if (raw_fd[0] < 0)
		raw_fd[0] = raw_open(AF_INET, IPPROTO_ICMP);
	if (raw_fd[1] < 0)
		raw_fd[1] = raw_open(AF_INET6, IPPROTO_ICMPV6);
}

static bool local_ok(const struct wg_tun *tun, int family)
{
	return tun->is_tun && raw_fd[family == AF_INET6] >= 0 && !wg_linux_tun_foreign(tun);
}

/* --- conntrack: the source before our source NAT --- */

static struct rtattr *nest_begin(struct wg_nl_req *req, uint16_t type)
{
	struct rtattr *a = (struct rtattr *)((uint8_t *)&req->h + NLMSG_ALIGN(req->h.nlmsg_len));

	wg_linux_nl_put(req, (uint16_t)(type | NLA_F_NESTED), NULL, 0);
	return a;
}

static void nest_end(struct wg_nl_req *req, struct rtattr *a)
{
	a->rta_len = (unsigned short)((uint8_t *)&req->h + req->h.nlmsg_len - (uint8_t *)a);
}

/* Ports (or ICMP echo id) of pkt's transport header, if it has them. */
struct l4 {
	uint8_t proto;
	bool ports, echo;
	uint16_t sport, dport, id; /* network order */
};

static int parse_l4(int family, const uint8_t *pkt, size_t len, struct l4 *l)
{
	size_t off = family == AF_INET ? (size_t)(pkt[0] & 0x0f) * 4 : 40;

	memset(l, 0, sizeof(*l));
	l->proto = family == AF_INET ? pkt[9] : pkt[6];
	/* A later fragment carries no ports: its payload would be read as
	 * some other connection's. (IPv6 extension headers show up as an
	 * unknown protocol: no ports either.) */
	if (family == AF_INET && ((pkt[6] & 0x1f) | pkt[7]))
		return -EINVAL;
	if (len < off + 8)
		return l->proto == PROTO_TCP || l->proto == PROTO_UDP ? -EINVAL : 0;
	switch (l->proto) {
	case PROTO_TCP:
	case PROTO_UDP:
	case PROTO_UDPLITE:
	case PROTO_DCCP:
	case PROTO_SCTP:
		l->ports = true;
		memcpy(&l->sport, pkt + off, 2);
		memcpy(&l->dport, pkt + off + 2, 2);
		break;
	case PROTO_ICMP:
	case PROTO_ICMPV6:
		l->echo = pkt[off] == (l->proto == PROTO_ICMP ? ICMP_ECHO : ICMP6_ECHO_REQUEST);
		if (!l->echo)
			return -EINVAL; /* other ICMP has no connection to look up */
		memcpy(&l->id, pkt + off + 4, 2);
		break;
	}
	return 0;
}

/* The reply tuple of pkt's connection: pkt as it left us, reversed. */
static void put_reply_tuple(struct wg_nl_req *req, int family, const uint8_t *pkt,
			    const struct l4 *l)
{
	size_t alen = family == AF_INET ? 4 : 16;
	const uint8_t *src = pkt + (family == AF_INET ? 12 : 8);
	struct rtattr *t = nest_begin(req, CTA_TUPLE_REPLY), *n;
	uint8_t type = l->proto == PROTO_ICMP ? ICMP_ECHOREPLY : ICMP6_ECHO_REPLY, code = 0;

	n = nest_begin(req, CTA_TUPLE_IP);
	wg_linux_nl_put(req, family == AF_INET ? CTA_IP_V4_SRC : CTA_IP_V6_SRC, src + alen, alen);
	wg_linux_nl_put(req, family == AF_INET ? CTA_IP_V4_DST : CTA_IP_V6_DST, src, alen);
	nest_end(req, n);
	n = nest_begin(req, CTA_TUPLE_PROTO);
	wg_linux_nl_put(req, CTA_PROTO_NUM, &l->proto, 1);
	if (l->ports) {
		wg_linux_nl_put(req, CTA_PROTO_SRC_PORT, &l->dport, 2);
		wg_linux_nl_put(req, CTA_PROTO_DST_PORT, &l->sport, 2);
	} else if (l->echo) {
		bool v4 = l->proto == PROTO_ICMP;
		wg_linux_nl_put(req, v4 ? CTA_PROTO_ICMP_ID : CTA_PROTO_ICMPV6_ID, &l->id, 2);
		wg_linux_nl_put(req, v4 ? CTA_PROTO_ICMP_TYPE : CTA_PROTO_ICMPV6_TYPE, &type, 1);
		wg_linux_nl_put(req, v4 ? CTA_PROTO_ICMP_CODE : CTA_PROTO_ICMPV6_CODE, &code, 1);
	}
	nest_end(req, n);
	nest_end(req, t);
}

struct ct_answer {
	int family;
	bool src_nat;
	bool has_src;
	uint8_t src[16];
};

static const struct rtattr *find_attr(const struct rtattr *a, int len, uint16_t type)
{
	for (; RTA_OK(a, len); a = RTA_NEXT(a, len))
		if ((a->rta_type & NLA_TYPE_MASK) == type)
			return a;
	return NULL;
}

static int parse_ct(const struct nlmsghdr *h, void *ctx)
{
	struct ct_answer *ans = ctx;
	const size_t hdr = NLMSG_ALIGN(sizeof(struct nfgenmsg));
	int len = (int)h->nlmsg_len - (int)NLMSG_LENGTH(hdr);
	const struct rtattr *a0 = (const void *)((const uint8_t *)NLMSG_DATA(h) + hdr), *a, *ip, *s;
	size_t alen = ans->family == AF_INET ? 4 : 16;
	uint32_t status;

	if (len < 0)
		return -EPROTO;
	a = find_attr(a0, len, CTA_STATUS);
	if (a && RTA_PAYLOAD(a) >= 4) {
		memcpy(&status, RTA_DATA(a), 4);
		ans->src_nat = ntohl(status) & IPS_SRC_NAT;
	}
	a = find_attr(a0, len, CTA_TUPLE_ORIG);
	ip = a ? find_attr(RTA_DATA(a), (int)RTA_PAYLOAD(a), CTA_TUPLE_IP) : NULL;
	s = ip ? find_attr(RTA_DATA(ip), (int)RTA_PAYLOAD(ip),
			   ans->family == AF_INET ? CTA_IP_V4_SRC : CTA_IP_V6_SRC)
	       : NULL;
	if (s && RTA_PAYLOAD(s) >= alen) {
		memcpy(ans->src, RTA_DATA(s), alen);
		ans->has_src = true;
	}
	return 0;
}

int wg_tun_unnat_source(struct wg_tun *tun, int family, const uint8_t *pkt, size_t len,
			uint8_t src[16])
{
	struct ct_answer ans = {.family = family};
	struct wg_nl_req req;
	struct nfgenmsg *g;
	struct l4 l;
	int nl, ret;

	if (!local_ok(tun, family))
		return -EOPNOTSUPP;
	if (parse_l4(family, pkt, len, &l) < 0)
		return -ENOENT;
	wg_linux_nl_init(&req, (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET, 0, sizeof(*g));
	g = NLMSG_DATA(&req.h);
	g->nfgen_family = (uint8_t)family;
	g->version = NFNETLINK_V0;
	put_reply_tuple(&req, family, pkt, &l);
	nl = wg_linux_nl_open(NETLINK_NETFILTER);
	if (nl < 0)
		return -ENOENT;
	ret = wg_linux_nl_talk(nl, &req, parse_ct, &ans);
	close(nl);
	if (ret < 0 || !ans.src_nat || !ans.has_src)
		return -ENOENT;
	memcpy(src, ans.src, family == AF_INET ? 4 : 16);
	return 0;
}

/* --- sending --- */

int wg_tun_send_icmp(struct wg_tun *tun, const uint8_t *ip, size_t len)
{
	int family = len && ip[0] >> 4 == 6 ? AF_INET6 : AF_INET;
	size_t hlen = family == AF_INET ? 20 : 40;
	union {
		struct sockaddr_in v4;
		struct sockaddr_in6 v6;
	} to;
	socklen_t tolen;

	if (!local_ok(tun, family))
		return -EOPNOTSUPP;
	if (len <= hlen)
		return -EINVAL;
	memset(&to, 0, sizeof(to));
	if (family == AF_INET) {
		to.v4.sin_family = AF_INET;
		memcpy(&to.v4.sin_addr, ip + 16, 4);
		tolen = sizeof(to.v4);
	} else {
		/* The kernel fills in the ICMPv6 checksum for our source. */
		to.v6.sin6_family = AF_INET6;
		memcpy(&to.v6.sin6_addr, ip + 24, 16);
		tolen = sizeof(to.v6);
	}
	if (sendto(raw_fd[family == AF_INET6], ip + hlen, len - hlen, 0, (struct sockaddr *)&to,
		   tolen) < 0)
		return -errno;
	return 0;
}
