/* Route watch: keeps an IPv4 sticky source only while the route to the
 * peer still leaves through the interface the source was learned on, as
 * the kernel's WireGuard does (socket.c, send4), and tells whether a
 * datagram too large for its egress interface may be fragmented here (not
 * into a TUN or WireGuard device: that is how encapsulation loops go on).
 * An rtnetlink socket subscribed to IPv4 route, address and rule changes
 * and to link changes moves a generation; each question is answered by
 * one or two queries per generation and the verdict kept in a hash table,
 * so steady traffic costs no system call, however many peers. Both
 * sockets live in the namespace the UDP sockets were opened in, where the
 * routes that carry them are. */
#include <errno.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wg_posix.h"
#include "wgd/platform/udp.h"

#define TABLE_MIN 64
#define TABLE_MAX (1u << 18) /* 7 MiB of verdicts; past it the table starts over */

enum question {
	KEEP_SOURCE,  /* does the route leave through ifindex? */
	MAY_FRAGMENT, /* is its egress device not a tunnel? */
	EGRESS_ROUTE, /* is there a route through ifindex (a pinned egress)? */
};

/* The route question, and its answer once judged. */
struct verdict {
	uint32_t gen;		 /* the generation it was judged in; another: a free slot */
	struct in_addr dst, src; /* src 0: the kernel's choice */
	uint32_t mark;
	unsigned int ifindex;
	uint16_t dport;
	uint8_t question;
	bool yes;
};

struct wg_route_watch {
	int events; /* multicast groups: any message is a change */
	int query;  /* RTM_GETROUTE requests and their answers */
	uint32_t gen, seq;
	/* IPv6 address changes, counted apart (router advertisements must
	 * not age the IPv4 verdicts): whether the IPv6 bind address is on
	 * the host, as of addr6_gen (0: not asked yet). */
	uint32_t addr6_gen, bind6_gen;
	bool bind6_present;
	uid_t uid; /* the UDP sockets' owner, for uid rules */
	struct verdict *table;
	size_t cap, used; /* slots; verdicts of this generation */
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

/* Rules (wg-quick's fwmark policy) have no legacy group bit; nor do IPv6
 * addresses in the groups asked for below. */
static void join_groups(int fd)
{
	int groups[] = {RTNLGRP_IPV4_RULE, RTNLGRP_IPV6_IFADDR};

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
	rw->addr6_gen = 1;
	rw->uid = geteuid();
	rw->cap = TABLE_MIN;
	rw->table = calloc(rw->cap, sizeof(*rw->table));
	/* Verdicts are about IPv4 routes only: IPv6 changes (router
	 * advertisements) must not age them. */
	rw->events = nl_socket(RTMGRP_IPV4_ROUTE | RTMGRP_IPV4_IFADDR | RTMGRP_LINK);
	rw->query = nl_socket(0);
	if (!rw->table || rw->events < 0 || rw->query < 0) {
		wg_os_route_watch_close(rw);
		return NULL;
	}
	join_groups(rw->events);
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
	free(rw->table);
	free(rw);
}

int wg_os_route_watch_fd(const struct wg_route_watch *rw)
{
	return rw->events;
}

/* Every verdict is stale from now on: its slot is free. */
static void new_generation(struct wg_route_watch *rw)
{
	rw->used = 0;
	if (++rw->gen)
		return;
	/* Wrapped: no slot may look current by an old number. */
	memset(rw->table, 0, rw->cap * sizeof(*rw->table));
	rw->gen = 1;
}

/* Whether a batch of n bytes holds only IPv6 address messages (and at
 * least one). */
static bool only_addr6(const char *buf, size_t n)
{
	const struct nlmsghdr *h = (const void *)buf;
	size_t left = n;
	bool any = false;

	for (; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
		const struct ifaddrmsg *ifa = NLMSG_DATA(h);
		if ((h->nlmsg_type != RTM_NEWADDR && h->nlmsg_type != RTM_DELADDR) ||
		    h->nlmsg_len < NLMSG_LENGTH(sizeof(*ifa)) || ifa->ifa_family != AF_INET6)
			return false;
		any = true;
	}
	return any;
}

/* Whether a batch of n bytes holds a link message (an interface came,
 * went, was renamed or changed state). */
static bool has_link(const char *buf, size_t n)
{
	const struct nlmsghdr *h = (const void *)buf;
	size_t left = n;

	for (; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left))
		if (h->nlmsg_type == RTM_NEWLINK || h->nlmsg_type == RTM_DELLINK)
			return true;
	return false;
}

/* Any message, or an overrun (ENOBUFS: changes were lost), is a change;
 * IPv6 address messages only change what IPv6 addresses the host has. A
 * message cut short (MSG_TRUNC gives its whole length) counts as lost. */
bool wg_os_route_watch_drain(struct wg_route_watch *rw)
{
	char buf[16384];
	bool changed = false, links = false;

	for (;;) {
		ssize_t n = recv(rw->events, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC);
		bool lost = (n < 0 && errno == ENOBUFS) || n > (ssize_t)sizeof(buf);
		if (!lost && n > 0 && only_addr6(buf, (size_t)n)) {
			rw->addr6_gen++;
			continue;
		}
		if (n > 0 || lost || (n < 0 && errno == EINTR)) {
			changed = true;
			links = links || lost || (n > 0 && has_link(buf, (size_t)n));
			continue;
		}
		break;
	}
	if (changed) {
		new_generation(rw);
		rw->addr6_gen++;
	}
	return links;
}

union nl_buf {
	struct nlmsghdr h;
	char buf[512];
};

/* A link answer carries every attribute of the device (stats skipped). */
union nl_big {
	struct nlmsghdr h;
	char buf[16384];
};

/* Whether one RTM_NEWADDR message holds addr (alen bytes of family),
 * usable (IPv6: not tentative, duplicate address detection still running,
 * nor failed). IFA_LOCAL is the local address of a point-to-point link. */
static bool addr_msg_has(const struct nlmsghdr *h, int family, const void *addr, size_t alen)
{
	const struct ifaddrmsg *ifa = NLMSG_DATA(h);
	const struct rtattr *a;
	int len;

	if (h->nlmsg_type != RTM_NEWADDR || h->nlmsg_len < NLMSG_LENGTH(sizeof(*ifa)) ||
	    ifa->ifa_family != family || (ifa->ifa_flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED)))
		return false;
	len = (int)IFA_PAYLOAD(h);
	for (a = IFA_RTA(ifa); RTA_OK(a, len); a = RTA_NEXT(a, len))
		if ((a->rta_type == IFA_ADDRESS || a->rta_type == IFA_LOCAL) &&
		    RTA_PAYLOAD(a) == alen && !memcmp(RTA_DATA(a), addr, alen))
			return true;
	return false;
}

/* The host's addresses of the family, dumped: 1 if addr is one of them
 * and usable, 0 if not, -errno if the dump failed. Asked of the kernel's
 * table, not by a trial bind, which net.ipv{4,6}.ip_nonlocal_bind (common
 * on HA nodes) lets succeed for any address. */
static int addr_present(struct wg_route_watch *rw, int family, const void *addr)
{
	size_t alen = family == AF_INET ? 4 : 16;
	struct {
		struct nlmsghdr h;
		struct ifaddrmsg ifa;
	} req = {.h = {.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg)),
		       .nlmsg_type = RTM_GETADDR,
		       .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
		       .nlmsg_seq = ++rw->seq},
		 .ifa = {.ifa_family = (unsigned char)family}};
	union nl_big ans;
	int found = 0;

	if (send(rw->query, &req, req.h.nlmsg_len, 0) < 0)
		return -errno;
	for (;;) {
		ssize_t n = recv(rw->query, &ans, sizeof(ans), 0);
		size_t left = n > 0 ? (size_t)n : 0;
		struct pollfd pfd = {.fd = rw->query, .events = POLLIN};
		if (n < 0 && errno == EINTR)
			continue;
		/* the kernel makes each part of a dump as the last is read:
		 * never a wait in practice, bounded should it happen */
		if (n < 0 && errno == EAGAIN && poll(&pfd, 1, 100) == 1)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		for (struct nlmsghdr *h = &ans.h; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
			if (h->nlmsg_seq != rw->seq)
				continue; /* an abandoned query's answer */
			if (h->nlmsg_type == NLMSG_DONE)
				return found;
			if (h->nlmsg_type == NLMSG_ERROR)
				return -EIO;
			found |= addr_msg_has(h, family, addr, alen);
		}
	}
}

int wg_os_route_addr_present(struct wg_route_watch *rw, const struct wg_addr_pair *one)
{
	return one->has_v4 ? addr_present(rw, AF_INET, &one->v4)
			   : addr_present(rw, AF_INET6, &one->v6);
}

bool wg_os_route_bind6_present(struct wg_route_watch *rw, const struct wg_udp *udp)
{
	if (rw->bind6_gen != rw->addr6_gen) {
		int ret = addr_present(rw, AF_INET6, &udp->bind.v6);
		rw->bind6_present = ret != 0; /* unknown: let the send try */
		rw->bind6_gen = rw->addr6_gen;
	}
	return rw->bind6_present;
}

static void add_attr(struct nlmsghdr *h, unsigned short type, const void *data, size_t len)
{
	struct rtattr *a = (struct rtattr *)((char *)h + NLMSG_ALIGN(h->nlmsg_len));

	a->rta_type = type;
	a->rta_len = (unsigned short)RTA_LENGTH(len);
	memcpy(RTA_DATA(a), data, len);
	h->nlmsg_len = NLMSG_ALIGN(h->nlmsg_len) + RTA_ALIGN(a->rta_len);
}

/* The flow the kernel would route one of our datagrams by: addresses,
 * mark, uid, protocol and ports (for rules that match on them). */
static void build_query(union nl_buf *req, const struct wg_route_watch *rw, const struct verdict *k,
			uint16_t sport)
{
	struct rtmsg *rtm;
	uint32_t uid = (uint32_t)rw->uid;
	uint8_t proto = IPPROTO_UDP;
	uint16_t sp = htons(sport), dp = k->dport;

	memset(req, 0, sizeof(*req));
	req->h.nlmsg_len = NLMSG_LENGTH(sizeof(*rtm));
	req->h.nlmsg_type = RTM_GETROUTE;
	req->h.nlmsg_flags = NLM_F_REQUEST;
	rtm = NLMSG_DATA(&req->h);
	rtm->rtm_family = AF_INET;
	rtm->rtm_dst_len = 32;
	add_attr(&req->h, RTA_DST, &k->dst, sizeof(k->dst));
	if (k->src.s_addr) {
		rtm->rtm_src_len = 32;
		add_attr(&req->h, RTA_SRC, &k->src, sizeof(k->src));
	}
	add_attr(&req->h, RTA_UID, &uid, sizeof(uid));
	add_attr(&req->h, RTA_IP_PROTO, &proto, sizeof(proto));
	add_attr(&req->h, RTA_SPORT, &sp, sizeof(sp));
	add_attr(&req->h, RTA_DPORT, &dp, sizeof(dp));
	if (k->mark)
		add_attr(&req->h, RTA_MARK, &k->mark, sizeof(k->mark));
	if (k->question == EGRESS_ROUTE) {
		/* The route itself (FIB_MATCH), not the one an output lookup
		 * would make up: given an interface and no route through it,
		 * that lookup assumes the destination is on its link. */
		rtm->rtm_flags |= RTM_F_FIB_MATCH;
		add_attr(&req->h, RTA_OIF, &k->ifindex, sizeof(k->ifindex));
	}
}

/* RTA_OIF of an RTM_NEWROUTE answer of n bytes, or -errno. */
static int answer_oif(const union nl_buf *ans, size_t n)
{
	const struct rtattr *a;
	int len;

	if (ans->h.nlmsg_type == NLMSG_ERROR) {
		const struct nlmsgerr *e = NLMSG_DATA(&ans->h);
		return n >= NLMSG_LENGTH(sizeof(*e)) && e->error < 0 ? e->error : -EIO;
	}
	if (ans->h.nlmsg_type != RTM_NEWROUTE || ans->h.nlmsg_len > n ||
	    ans->h.nlmsg_len < NLMSG_LENGTH(sizeof(struct rtmsg)))
		return -EIO;
	len = (int)RTM_PAYLOAD(&ans->h);
	for (a = RTM_RTA(NLMSG_DATA(&ans->h)); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		uint32_t oif;
		if (a->rta_type != RTA_OIF || RTA_PAYLOAD(a) < sizeof(oif))
			continue;
		memcpy(&oif, RTA_DATA(a), sizeof(oif));
		return oif > 0 && oif <= 0x7fffffff ? (int)oif : -EIO;
	}
	return -ENOENT;
}

/* Sends req and waits for its answer (the kernel answers within send; an
 * answer to an earlier, abandoned query is skipped by sequence). The
 * answer's length, or -errno. */
static ssize_t ask(struct wg_route_watch *rw, struct nlmsghdr *req, struct nlmsghdr *ans,
		   size_t cap)
{
	ssize_t n;

	req->nlmsg_seq = ++rw->seq;
	if (send(rw->query, req, req->nlmsg_len, 0) < 0)
		return -errno;
	do {
		n = recv(rw->query, ans, cap, MSG_DONTWAIT);
		if (n < 0 && errno != EINTR)
			return -errno;
	} while (n < (ssize_t)sizeof(*ans) || ans->nlmsg_seq != rw->seq);
	return n;
}

/* The output interface of the route for k, or -errno when there is none
 * (-EINVAL: the source is no longer ours). *answered: the kernel's verdict,
 * not a query that failed here. */
static int route_oif(struct wg_route_watch *rw, const struct verdict *k, uint16_t sport,
		     bool *answered)
{
	union nl_buf req, ans;
	ssize_t n;

	build_query(&req, rw, k, sport);
	n = ask(rw, &req.h, &ans.h, sizeof(ans));
	*answered = n >= 0;
	return n < 0 ? (int)n : answer_oif(&ans, (size_t)n);
}

/* The IFLA_INFO_KIND inside an RTM_NEWLINK answer's IFLA_LINKINFO is one
 * of ours (TUN, or the kernel's WireGuard)? */
static bool kind_is_tunnel(const struct nlmsghdr *h, size_t n)
{
	const struct rtattr *a, *in;
	int len, inlen;

	if (h->nlmsg_type != RTM_NEWLINK || h->nlmsg_len > n ||
	    h->nlmsg_len < NLMSG_LENGTH(sizeof(struct ifinfomsg)))
		return false;
	len = (int)IFLA_PAYLOAD(h);
	for (a = IFLA_RTA(NLMSG_DATA(h)); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		if (a->rta_type != IFLA_LINKINFO)
			continue;
		inlen = (int)RTA_PAYLOAD(a);
		for (in = RTA_DATA(a); RTA_OK(in, inlen); in = RTA_NEXT(in, inlen)) {
			const char *kind = RTA_DATA(in);
			size_t klen = RTA_PAYLOAD(in);
			if (in->rta_type != IFLA_INFO_KIND)
				continue;
			return (klen >= 4 && !memcmp(kind, "tun", 4)) ||
			       (klen >= 10 && !memcmp(kind, "wireguard", 10));
		}
	}
	return false;
}

/* Whether interface ifindex is a TUN or WireGuard device: 1, 0 or -errno. */
static int is_tunnel(struct wg_route_watch *rw, int ifindex)
{
	union nl_buf req;
	union nl_big *ans = malloc(sizeof(*ans));
	struct ifinfomsg *ifi;
	uint32_t skip = RTEXT_FILTER_SKIP_STATS;
	ssize_t n;
	int ret;

	if (!ans)
		return -ENOMEM;
	memset(&req, 0, sizeof(req));
	req.h.nlmsg_len = NLMSG_LENGTH(sizeof(*ifi));
	req.h.nlmsg_type = RTM_GETLINK;
	req.h.nlmsg_flags = NLM_F_REQUEST;
	ifi = NLMSG_DATA(&req.h);
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	add_attr(&req.h, IFLA_EXT_MASK, &skip, sizeof(skip));
	n = ask(rw, &req.h, &ans->h, sizeof(*ans));
	ret = n < 0				 ? (int)n
	      : ans->h.nlmsg_type == NLMSG_ERROR ? -EIO
						 : kind_is_tunnel(&ans->h, (size_t)n);
	free(ans);
	return ret;
}

/* Every field reaches every bit of the index (MurmurHash3's 64-bit
 * finaliser after folding the fields in): peers that differ only in the
 * last bytes of their address must not share a probe chain. Unkeyed: the
 * keys are our peers' endpoints, one each. */
static size_t hash(const struct verdict *k)
{
	uint64_t h = (uint64_t)k->dst.s_addr << 32 | k->src.s_addr;

	h ^= ((uint64_t)k->ifindex << 16 ^ k->dport ^ (uint64_t)k->mark << 40 ^
	      (uint64_t)k->question << 62) *
	     0x9e3779b97f4a7c15ull;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return (size_t)h;
}

static bool same(const struct verdict *a, const struct verdict *b)
{
	return a->dst.s_addr == b->dst.s_addr && a->src.s_addr == b->src.s_addr &&
	       a->ifindex == b->ifindex && a->dport == b->dport && a->mark == b->mark &&
	       a->question == b->question;
}

/* Linear probing; within a generation nothing is removed, so a search
 * ends at the first slot not of this generation: k's, or where it goes. */
static struct verdict *find(const struct wg_route_watch *rw, const struct verdict *k)
{
	size_t i = hash(k) & (rw->cap - 1);

	while (rw->table[i].gen == rw->gen && !same(&rw->table[i], k))
		i = (i + 1) & (rw->cap - 1);
	return &rw->table[i];
}

/* Keeps the table at most half full: doubles it (moving this generation's
 * verdicts), or at its largest, or without memory, starts over. */
static void make_room(struct wg_route_watch *rw)
{
	struct wg_route_watch old = *rw;

	if (rw->used + 1 <= rw->cap / 2)
		return;
	if (rw->cap < TABLE_MAX) {
		rw->table = calloc(rw->cap * 2, sizeof(*rw->table));
		if (rw->table) {
			rw->cap *= 2;
			for (size_t i = 0; i < old.cap; i++)
				if (old.table[i].gen == rw->gen)
					*find(rw, &old.table[i]) = old.table[i];
			free(old.table);
			return;
		}
		rw->table = old.table;
	}
	new_generation(rw);
}

/* Keeps the kernel's verdict k for this generation. */
static void remember(struct wg_route_watch *rw, struct verdict k)
{
	make_room(rw);
	k.gen = rw->gen; /* it may have started over */
	*find(rw, &k) = k;
	rw->used++;
}

static void ask_ipv4(struct verdict *k, const struct wg_udp *udp, const struct wg_endpoint *to,
		     enum question q)
{
	memset(k, 0, sizeof(*k));
	k->question = (uint8_t)q;
	k->mark = udp->fwmark;
	k->dst = to->addr.in4.sin_addr;
	k->dport = to->addr.in4.sin_port;
	if (to->has_src)
		k->src = to->src4;
}

/* k's verdict of this generation (1 or 0) if there is one; else -1,
 * with the kernel's answer for k in *oif (*answered false if the query
 * itself failed). */
static int cached(struct wg_route_watch *rw, const struct verdict *k, const struct wg_udp *udp,
		  int *oif, bool *answered)
{
	const struct verdict *v = find(rw, k);

	if (v->gen == rw->gen)
		return v->yes;
	*oif = route_oif(rw, k, udp->port, answered);
	return -1;
}

static bool judged(struct wg_route_watch *rw, struct verdict *k, bool yes)
{
	k->yes = yes;
	remember(rw, *k);
	return yes;
}

bool wg_os_route_keeps_source(struct wg_route_watch *rw, const struct wg_udp *udp,
			      const struct wg_endpoint *to)
{
	struct verdict k;
	bool answered;
	int oif, known;

	/* The kernel checks the interface for IPv4 only; an IPv6 source
	 * stays while the address exists (a refused send forgets it). */
	if (to->addr.sa.sa_family != AF_INET || !to->src_ifindex)
		return true;
	ask_ipv4(&k, udp, to, KEEP_SOURCE);
	k.ifindex = to->src_ifindex;
	if ((known = cached(rw, &k, udp, &oif, &answered)) >= 0)
		return known;
	if (!answered)
		return true; /* no verdict: the source stays, for now */
	return judged(rw, &k, oif > 0 && (unsigned int)oif == k.ifindex);
}

bool wg_os_route_may_fragment(struct wg_route_watch *rw, const struct wg_udp *udp,
			      const struct wg_endpoint *to)
{
	struct verdict k;
	bool answered;
	int oif, tunnel = 0, known;

	if (to->addr.sa.sa_family != AF_INET)
		return true;
	ask_ipv4(&k, udp, to, MAY_FRAGMENT);
	if ((known = cached(rw, &k, udp, &oif, &answered)) >= 0)
		return known;
	if (oif > 0)
		tunnel = is_tunnel(rw, oif);
	if (!answered || tunnel < 0)
		return false; /* unknown: no fragments, this time */
	return judged(rw, &k, oif > 0 && !tunnel);
}

bool wg_os_route_via_egress(struct wg_route_watch *rw, const struct wg_udp *udp,
			    const struct wg_endpoint *to)
{
	struct verdict k;
	bool answered;
	int oif, known;

	/* IPv6 refuses a send it has no route for through the interface. */
	if (to->addr.sa.sa_family != AF_INET || !to->pinned || !to->src_ifindex)
		return true;
	ask_ipv4(&k, udp, to, EGRESS_ROUTE);
	k.ifindex = to->src_ifindex;
	if ((known = cached(rw, &k, udp, &oif, &answered)) >= 0)
		return known;
	if (!answered)
		return true; /* no verdict: let the send try */
	return judged(rw, &k, oif != -ENETUNREACH && oif != -EHOSTUNREACH && oif != -ENOENT);
}
