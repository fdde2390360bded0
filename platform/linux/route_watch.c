/* Route watch: keeps an IPv4 sticky source only while the route to the
 * peer still leaves through the interface the source was learned on, as
 * the kernel's WireGuard does. An rtnetlink socket subscribed to route,
 * address, link and rule changes bumps a generation; a (destination,
 * source, interface) triple is judged by one RTM_GETROUTE query and the
 * verdict cached until the generation moves, so steady traffic costs no
 * system call. Both sockets live in the namespace the UDP sockets were
 * opened in, where the routes that carry them are. */
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wg_posix.h"

#define VERDICTS 64 /* direct-mapped cache of judged triples */

struct verdict {
	uint32_t gen; /* 0: empty */
	struct in_addr dst, src;
	unsigned int ifindex;
	uint32_t mark;
	bool keep;
};

struct wg_route_watch {
	int events; /* multicast groups: any message is a change */
	int query;  /* RTM_GETROUTE requests and their answers */
	uint32_t gen, seq;
	struct verdict cache[VERDICTS];
};

static int nl_socket(uint32_t groups)
{
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK, .nl_groups = groups};
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);

	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

/* Rules (wg-quick's fwmark policy) have no legacy group bit. */
static void join_rule_groups(int fd)
{
	int groups[] = {RTNLGRP_IPV4_RULE, RTNLGRP_IPV6_RULE};

	for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
		(void)setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &groups[i],
				 sizeof(groups[i]));
}

struct wg_route_watch *wg_os_route_watch_open(void)
{
	struct wg_route_watch *rw = calloc(1, sizeof(*rw));

	if (!rw)
		return NULL;
	rw->gen = 1;
	rw->events = nl_socket(RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE | RTMGRP_IPV4_IFADDR |
			       RTMGRP_IPV6_IFADDR | RTMGRP_LINK);
	rw->query = nl_socket(0);
	if (rw->events < 0 || rw->query < 0) {
		wg_os_route_watch_close(rw);
		return NULL;
	}
	join_rule_groups(rw->events);
	return rw;
}

void wg_os_route_watch_close(struct wg_route_watch *rw)
{
	if (!rw)
		return;
	if (rw->events >= 0)
		close(rw->events);
	if (rw->query >= 0)
		close(rw->query);
	free(rw);
}

int wg_os_route_watch_fd(const struct wg_route_watch *rw)
{
	return rw->events;
}

/* Any message, or an overrun (ENOBUFS: changes were lost), ages every
 * verdict. */
void wg_os_route_watch_drain(struct wg_route_watch *rw)
{
	char buf[8192];
	bool changed = false;

	for (;;) {
		ssize_t n = recv(rw->events, buf, sizeof(buf), MSG_DONTWAIT);
		if (n > 0 || (n < 0 && errno == ENOBUFS)) {
			changed = true;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		break;
	}
	if (changed && ++rw->gen == 0)
		rw->gen = 1;
}

static void add_attr(struct nlmsghdr *h, unsigned short type, const void *data, size_t len)
{
	struct rtattr *a = (struct rtattr *)((char *)h + NLMSG_ALIGN(h->nlmsg_len));

	a->rta_type = type;
	a->rta_len = (unsigned short)RTA_LENGTH(len);
	memcpy(RTA_DATA(a), data, len);
	h->nlmsg_len = NLMSG_ALIGN(h->nlmsg_len) + RTA_ALIGN(a->rta_len);
}

/* The output interface of the route from src to dst (with the socket's
 * mark), or -errno when there is none (-EINVAL: src is not ours). */
static int route_oif(struct wg_route_watch *rw, const struct verdict *k)
{
	union {
		struct nlmsghdr h;
		char buf[256];
	} req, ans;
	struct rtmsg *rtm;
	uint32_t seq = ++rw->seq;
	ssize_t n;

	memset(&req, 0, sizeof(req));
	req.h.nlmsg_len = NLMSG_LENGTH(sizeof(*rtm));
	req.h.nlmsg_type = RTM_GETROUTE;
	req.h.nlmsg_flags = NLM_F_REQUEST;
	req.h.nlmsg_seq = seq;
	rtm = NLMSG_DATA(&req.h);
	rtm->rtm_family = AF_INET;
	rtm->rtm_dst_len = 32;
	rtm->rtm_src_len = 32;
	add_attr(&req.h, RTA_DST, &k->dst, sizeof(k->dst));
	add_attr(&req.h, RTA_SRC, &k->src, sizeof(k->src));
	if (k->mark)
		add_attr(&req.h, RTA_MARK, &k->mark, sizeof(k->mark));
	if (send(rw->query, &req, req.h.nlmsg_len, 0) < 0)
		return -errno;
	for (;;) {
		/* The kernel answers before send returns; a stale answer
		 * (an earlier query cut short) is skipped by its sequence. */
		n = recv(rw->query, &ans, sizeof(ans), MSG_DONTWAIT);
		if (n < 0)
			return errno == EINTR ? -EINTR : -errno;
		if ((size_t)n < sizeof(ans.h) || ans.h.nlmsg_seq != seq)
			continue;
		break;
	}
	if (ans.h.nlmsg_type == NLMSG_ERROR) {
		const struct nlmsgerr *e = NLMSG_DATA(&ans.h);
		return (size_t)n >= NLMSG_LENGTH(sizeof(*e)) && e->error ? e->error : -EIO;
	}
	if (ans.h.nlmsg_type != RTM_NEWROUTE || ans.h.nlmsg_len > (size_t)n)
		return -EIO;
	int len = (int)RTM_PAYLOAD(&ans.h);
	for (struct rtattr *a = RTM_RTA(NLMSG_DATA(&ans.h)); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		uint32_t oif;
		if (a->rta_type != RTA_OIF || RTA_PAYLOAD(a) < sizeof(oif))
			continue;
		memcpy(&oif, RTA_DATA(a), sizeof(oif));
		return (int)oif;
	}
	return -ENOENT;
}

static size_t slot(const struct verdict *k)
{
	uint32_t h = k->dst.s_addr * 2654435761u ^ k->src.s_addr * 40503u ^ k->ifindex;

	return (h ^ (h >> 16)) % VERDICTS;
}

static bool same(const struct verdict *a, const struct verdict *b)
{
	return a->dst.s_addr == b->dst.s_addr && a->src.s_addr == b->src.s_addr &&
	       a->ifindex == b->ifindex && a->mark == b->mark;
}

bool wg_os_route_keeps_source(struct wg_route_watch *rw, uint32_t mark,
			      const struct wg_endpoint *to)
{
	struct verdict k = {.gen = rw->gen, .mark = mark};
	struct verdict *v;
	int oif;

	/* The kernel checks the interface for IPv4 only; an IPv6 source
	 * stays while the address exists (a refused send forgets it). */
	if (to->addr.sa.sa_family != AF_INET || !to->src_ifindex)
		return true;
	k.dst = to->addr.in4.sin_addr;
	k.src = to->src4;
	k.ifindex = to->src_ifindex;
	v = &rw->cache[slot(&k)];
	if (v->gen == rw->gen && same(v, &k))
		return v->keep;
	oif = route_oif(rw, &k);
	k.keep = oif > 0 && (unsigned int)oif == k.ifindex;
	/* A failed query (not a verdict of the kernel) is not cached. */
	if (oif > 0 || oif == -EINVAL || oif == -ENETUNREACH || oif == -EHOSTUNREACH)
		*v = k;
	return k.keep;
}
