/* A TUN device may be moved to another network namespace after we made it
 * (`ip link set wg0 netns X`, the container pattern) while the daemon and
 * its UDP socket stay behind. Its name then means nothing here, so its MTU
 * is asked for where it lives: TUNGETDEVNETNS on the TUN descriptor gives
 * that namespace, rtnetlink gives (or assigns) the namespace id it has from
 * ours, and RTM_GETLINK with IFLA_TARGET_NETNSID reads the device there.
 * All of that needs only CAP_NET_ADMIN, which the daemon keeps; setns would
 * need CAP_SYS_ADMIN, which it drops. */
#include <errno.h>
#include <linux/if_tun.h>
#include <linux/net_namespace.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "wg_linux.h"
#include "wg_posix.h"

#define NL_BUF 8192

void wg_linux_nl_put(struct wg_nl_req *req, uint16_t type, const void *data, size_t len)
{
	struct rtattr *a = (struct rtattr *)((uint8_t *)&req->h + NLMSG_ALIGN(req->h.nlmsg_len));

	a->rta_type = type;
	a->rta_len = (unsigned short)RTA_LENGTH(len);
	if (len) /* a nest's header has no data */
		memcpy(RTA_DATA(a), data, len);
	req->h.nlmsg_len = NLMSG_ALIGN(req->h.nlmsg_len) + RTA_ALIGN(a->rta_len);
}

void wg_linux_nl_init(struct wg_nl_req *req, uint16_t type, uint16_t flags, size_t hdr)
{
	memset(req, 0, sizeof(*req));
	req->h.nlmsg_len = (uint32_t)NLMSG_LENGTH(hdr);
	req->h.nlmsg_type = type;
	req->h.nlmsg_flags = (uint16_t)(NLM_F_REQUEST | flags);
	req->h.nlmsg_seq = 1;
}

int wg_linux_nl_open(int protocol)
{
	struct timeval tv = {.tv_sec = 1};
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);

	if (fd < 0)
		return -errno;
	/* The kernel answers at once: the timeout is for a reply that never
	 * comes. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

int wg_linux_nl_talk(int fd, struct wg_nl_req *req, int (*cb)(const struct nlmsghdr *, void *),
		     void *ctx)
{
	union {
		struct nlmsghdr align;
		uint8_t buf[NL_BUF];
	} u;
	int ret = 0;

	if (send(fd, req, req->h.nlmsg_len, 0) < 0)
		return -errno;
	for (;;) {
		ssize_t n = recv(fd, u.buf, sizeof(u.buf), 0);
		uint32_t len;
		if (n < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		len = (uint32_t)n;
		for (struct nlmsghdr *h = &u.align; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
			if (h->nlmsg_type == NLMSG_DONE)
				return ret;
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);
				return h->nlmsg_len < NLMSG_LENGTH(sizeof(*e)) ? -EPROTO
				       : e->error			       ? e->error
									       : ret;
			}
			if (ret == 0)
				ret = cb(h, ctx);
			/* ctnetlink marks even a single answer NLM_F_MULTI. */
			if (!(req->h.nlmsg_flags & NLM_F_DUMP) || !(h->nlmsg_flags & NLM_F_MULTI))
				return ret;
		}
	}
}

static int ignore_reply(const struct nlmsghdr *h, void *ctx)
{
	(void)h;
	(void)ctx;
	return 0;
}

/* --- which namespace --- */

/* The namespace of the device behind the TUN: a descriptor (the caller
 * closes it), with *foreign telling whether it differs from ours. */
static int tun_netns(const struct wg_tun *tun, bool *foreign)
{
	struct stat dev, own;
	int fd = ioctl(tun->fd, TUNGETDEVNETNS);

	if (fd < 0)
		return -errno;
	if (fstat(fd, &dev) < 0 || stat("/proc/self/ns/net", &own) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	*foreign = dev.st_dev != own.st_dev || dev.st_ino != own.st_ino;
	return fd;
}

static int parse_nsid(const struct nlmsghdr *h, void *ctx)
{
	const size_t hdr = NLMSG_ALIGN(sizeof(struct rtgenmsg));
	int len = (int)h->nlmsg_len - (int)NLMSG_LENGTH(hdr);

	if (h->nlmsg_type != RTM_NEWNSID || len < 0)
		return -EPROTO;
	for (const struct rtattr *a = (const void *)((const uint8_t *)NLMSG_DATA(h) + hdr);
	     RTA_OK(a, len); a = RTA_NEXT(a, len))
		if (a->rta_type == NETNSA_NSID && RTA_PAYLOAD(a) >= sizeof(int32_t))
			memcpy(ctx, RTA_DATA(a), sizeof(int32_t));
	return 0;
}

static int nsid_request(int nl, uint16_t type, int nsfd, int32_t *nsid)
{
	struct wg_nl_req req;
	uint32_t fd = (uint32_t)nsfd;
	int32_t want = NETNSA_NSID_NOT_ASSIGNED;

	wg_linux_nl_init(&req, type, type == RTM_NEWNSID ? NLM_F_ACK : 0, sizeof(struct rtgenmsg));
	((struct rtgenmsg *)NLMSG_DATA(&req.h))->rtgen_family = AF_UNSPEC;
	wg_linux_nl_put(&req, NETNSA_FD, &fd, sizeof(fd));
	if (type == RTM_NEWNSID)
		wg_linux_nl_put(&req, NETNSA_NSID, &want, sizeof(want));
	return wg_linux_nl_talk(nl, &req, type == RTM_NEWNSID ? ignore_reply : parse_nsid, nsid);
}

/* The id our namespace knows the device's namespace by. Moving a device
 * assigns one already; otherwise we ask the kernel to pick one. */
static int netns_id(int nl, int nsfd, int32_t *nsid)
{
	int ret;

	*nsid = NETNSA_NSID_NOT_ASSIGNED;
	ret = nsid_request(nl, RTM_GETNSID, nsfd, nsid);
	if (ret == 0 && *nsid == NETNSA_NSID_NOT_ASSIGNED) {
		ret = nsid_request(nl, RTM_NEWNSID, nsfd, nsid);
		if (ret == 0 || ret == -EEXIST) /* a race with another assigner */
			ret = nsid_request(nl, RTM_GETNSID, nsfd, nsid);
	}
	if (ret == 0 && *nsid < 0)
		ret = -ENOENT;
	return ret;
}

/* --- the device there --- */

static int parse_link_mtu(const struct nlmsghdr *h, void *ctx)
{
	int len = (int)h->nlmsg_len - (int)NLMSG_LENGTH(sizeof(struct ifinfomsg));

	if (h->nlmsg_type != RTM_NEWLINK || len < 0)
		return -EPROTO;
	for (const struct rtattr *a = IFLA_RTA((const struct ifinfomsg *)NLMSG_DATA(h));
	     RTA_OK(a, len); a = RTA_NEXT(a, len))
		if (a->rta_type == IFLA_MTU && RTA_PAYLOAD(a) >= sizeof(uint32_t))
			memcpy(ctx, RTA_DATA(a), sizeof(uint32_t));
	return 0;
}

static int foreign_mtu(int nsfd, const char *name)
{
	struct wg_nl_req req;
	int32_t nsid;
	uint32_t mtu = 0;
	int nl = wg_linux_nl_open(NETLINK_ROUTE), ret;

	if (nl < 0)
		return nl;
	ret = netns_id(nl, nsfd, &nsid);
	if (ret == 0) {
		wg_linux_nl_init(&req, RTM_GETLINK, 0, sizeof(struct ifinfomsg));
		wg_linux_nl_put(&req, IFLA_TARGET_NETNSID, &nsid, sizeof(nsid));
		wg_linux_nl_put(&req, IFLA_IFNAME, name, strlen(name) + 1);
		ret = wg_linux_nl_talk(nl, &req, parse_link_mtu, &mtu);
	}
	close(nl);
	if (ret == 0 && (mtu == 0 || mtu > INT32_MAX))
		ret = -EPROTO;
	return ret ? ret : (int)mtu;
}

/* The device's current name, wherever it is (it may have been renamed). */
static int tun_current_name(const struct wg_tun *tun, char name[IF_NAMESIZE])
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	if (ioctl(tun->fd, TUNGETIFF, &ifr) < 0)
		return errno == EBADFD ? -ENODEV : -errno;
	snprintf(name, IF_NAMESIZE, "%s", ifr.ifr_name);
	return 0;
}

bool wg_linux_tun_foreign(const struct wg_tun *tun)
{
	bool foreign = false;
	int nsfd = tun_netns(tun, &foreign);

	if (nsfd >= 0)
		close(nsfd);
	return foreign;
}

int wg_os_tun_mtu(struct wg_tun *tun)
{
	char name[IF_NAMESIZE];
	bool foreign = false;
	int nsfd, ret;

	ret = tun_current_name(tun, name);
	if (ret)
		return ret;
	nsfd = tun_netns(tun, &foreign);
	/* Kernels before 5.2 have no TUNGETDEVNETNS: look here, as before. */
	if (nsfd < 0 || !foreign) {
		if (nsfd >= 0)
			close(nsfd);
		return wg_posix_tun_mtu(name);
	}
	ret = foreign_mtu(nsfd, name);
	close(nsfd);
	return ret;
}

/* --- route MTU --- */

/* The kernel pads to the MTU of the route its packet took; we see the
 * packet after routing, so we ask for the route to its destination (the
 * main lookup by destination alone: policy rules on source or mark are
 * not reproduced). Each answer is kept a second per destination, and at
 * most RT_LOOKUPS_PER_SEC misses are looked up: beyond that, and for a
 * device in another namespace (routes there cannot be read with
 * CAP_NET_ADMIN alone), the device MTU is what counts. Main thread only. */
#define RT_CACHE	   256
#define RT_TTL_NS	   1000000000ull
#define RT_LOOKUPS_PER_SEC 64

struct rt_entry {
	const struct wg_tun *tun;
	int family;
	uint8_t dst[16];
	int mtu;
	uint64_t expires;
};

static struct rt_entry rt_cache[RT_CACHE];
static uint64_t rt_window;
static unsigned int rt_lookups;

struct rt_answer {
	unsigned int oif;
	uint32_t mtu;
};

static int parse_route(const struct nlmsghdr *h, void *ctx)
{
	struct rt_answer *ans = ctx;
	int len = (int)h->nlmsg_len - (int)NLMSG_LENGTH(sizeof(struct rtmsg));

	if (h->nlmsg_type != RTM_NEWROUTE || len < 0)
		return -EPROTO;
	for (const struct rtattr *a = RTM_RTA((const struct rtmsg *)NLMSG_DATA(h)); RTA_OK(a, len);
	     a = RTA_NEXT(a, len)) {
		if (a->rta_type == RTA_OIF && RTA_PAYLOAD(a) >= sizeof(uint32_t))
			memcpy(&ans->oif, RTA_DATA(a), sizeof(uint32_t));
		if (a->rta_type != RTA_METRICS)
			continue;
		int mlen = (int)RTA_PAYLOAD(a);
		for (const struct rtattr *m = RTA_DATA(a); RTA_OK(m, mlen); m = RTA_NEXT(m, mlen))
			if (m->rta_type == RTAX_MTU && RTA_PAYLOAD(m) >= sizeof(uint32_t))
				memcpy(&ans->mtu, RTA_DATA(m), sizeof(uint32_t));
	}
	return 0;
}

static int route_lookup(const struct wg_tun *tun, int family, const uint8_t *dst)
{
	size_t alen = family == AF_INET ? 4 : 16;
	struct rt_answer ans = {0};
	struct wg_nl_req req;
	struct rtmsg *r;
	int nl, ret;

	if (wg_linux_tun_foreign(tun))
		return 0;
	nl = wg_linux_nl_open(NETLINK_ROUTE);
	if (nl < 0)
		return 0;
	wg_linux_nl_init(&req, RTM_GETROUTE, 0, sizeof(*r));
	r = NLMSG_DATA(&req.h);
	r->rtm_family = (unsigned char)family;
	r->rtm_dst_len = (unsigned char)(alen * 8);
	wg_linux_nl_put(&req, RTA_DST, dst, alen);
	ret = wg_linux_nl_talk(nl, &req, parse_route, &ans);
	close(nl);
	/* A route through another device is not the one the packet took. */
	if (ret < 0 || ans.oif != tun->ifindex || ans.mtu > INT32_MAX)
		return 0;
	return (int)ans.mtu;
}

int wg_tun_route_mtu(struct wg_tun *tun, int family, const uint8_t *dst, uint64_t now_ns)
{
	size_t alen = family == AF_INET ? 4 : 16;
	uint32_t h = 2166136261u;
	struct rt_entry *e;

	if (!tun->is_tun)
		return 0;
	for (size_t i = 0; i < alen; i++)
		h = (h ^ dst[i]) * 16777619u;
	e = &rt_cache[(h ^ (h >> 16)) % RT_CACHE];
	if (e->tun == tun && e->family == family && now_ns < e->expires &&
	    memcmp(e->dst, dst, alen) == 0)
		return e->mtu;
	if (now_ns - rt_window >= RT_TTL_NS) {
		rt_window = now_ns;
		rt_lookups = 0;
	}
	if (rt_lookups >= RT_LOOKUPS_PER_SEC)
		return 0;
	rt_lookups++;
	e->tun = tun;
	e->family = family;
	memcpy(e->dst, dst, alen);
	e->mtu = route_lookup(tun, family, dst);
	e->expires = now_ns + RT_TTL_NS;
	return e->mtu;
}
