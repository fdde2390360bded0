/* UDP transport: an IPv4 and an IPv6 socket (IPV6_V6ONLY) on one port, with
 * the local address of every received datagram reported through packet
 * info, and replies sent from that "sticky" source. The IPv4 packet-info
 * flavour, buffer forcing and the firewall mark come from platform/<os>. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wg_posix.h"
#include "wgd/platform/udp.h"

#define BIND_ATTEMPTS 100 /* random ports tried before giving up */

/* The host lacks this family (no IPv6 stack, IPv6 disabled): skip it. */
static bool family_missing(int err)
{
	return err == -EAFNOSUPPORT || err == -EPROTONOSUPPORT || err == -EADDRNOTAVAIL;
}

static int family_options(int fd, int family)
{
	int on = 1, ret;

	if (family == AF_INET)
		ret = wg_os_pktinfo4_enable(fd);
	else if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) < 0)
		ret = -errno;
	else
		ret = wg_posix_pktinfo6_enable(fd);
	if (!ret)
		ret = wg_os_udp_recverr_enable(fd, family);
	return ret ? ret : wg_os_udp_local_fragments(fd, family, false);
}

/* Whether the device is bound to an address of this family. */
static bool bound_family(const struct wg_addr_pair *bind, int family)
{
	return family == AF_INET ? bind->has_v4 : bind->has_v6;
}

/* The family's bind address, or its wildcard without one. */
static void local_addr(union wg_sockaddr *sa, int family, uint16_t port,
		       const struct wg_addr_pair *addrs)
{
	bool bound = bound_family(addrs, family);

	memset(sa, 0, sizeof(*sa));
	sa->sa.sa_family = (sa_family_t)family;
	if (family == AF_INET) {
		sa->in4.sin_port = htons(port);
		sa->in4.sin_addr.s_addr = bound ? addrs->v4.s_addr : htonl(INADDR_ANY);
	} else {
		sa->in6.sin6_port = htons(port);
		sa->in6.sin6_addr = bound ? addrs->v6 : in6addr_any;
	}
}

/* A bind address may be absent from the host (a floating VIP): where the
 * OS allows it (wg_os_udp_bind_absent) the socket takes it anyway and
 * starts receiving once it arrives. */
static int bind_local(int fd, int family, uint16_t port, const struct wg_addr_pair *addrs)
{
	union wg_sockaddr sa;
	int ret;

	local_addr(&sa, family, port, addrs);
	if (!bound_family(addrs, family))
		return bind(fd, &sa.sa, (socklen_t)wg_sockaddr_len(&sa)) < 0 ? -errno : 0;
	if ((ret = wg_os_udp_bind_absent(fd, family, true)))
		return ret;
	if (bind(fd, &sa.sa, (socklen_t)wg_sockaddr_len(&sa)) < 0)
		return -errno;
	/* Bound: an absent address must not be sent from. */
	return wg_os_udp_bind_absent(fd, family, false);
}

static int bound_port(int fd, uint16_t *port)
{
	union wg_sockaddr sa;
	socklen_t len = sizeof(sa);

	if (getsockname(fd, &sa.sa, &len) < 0)
		return -errno;
	*port = ntohs(sa.sa.sa_family == AF_INET ? sa.in4.sin_port : sa.in6.sin6_port);
	return 0;
}

static int set_reuse(int fd, bool on)
{
	int v = on;

	return setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &v, sizeof(v)) < 0 ? -errno : 0;
}

static int open_bound(int family, uint16_t port, uint32_t fwmark, const struct wg_addr_pair *bind,
		      bool shared, int *out)
{
	int fd = socket(family, SOCK_DGRAM, 0);
	int ret;

	if (fd < 0)
		return -errno;
	ret = wg_posix_set_nonblock_cloexec(fd);
	if (!ret && shared)
		ret = set_reuse(fd, true);
	if (!ret)
		ret = family_options(fd, family);
	if (!ret && fwmark)
		ret = wg_os_set_fwmark(fd, fwmark);
	if (!ret) {
		wg_os_udp_set_buffers(fd);
		ret = bind_local(fd, family, port, bind);
	}
	if (ret) {
		close(fd);
		return ret;
	}
	*out = fd;
	return 0;
}

static void close_fds(struct wg_udp *udp)
{
	for (int i = 0; i < 2; i++) {
		if (udp->fd[i] >= 0)
			close(udp->fd[i]);
		udp->fd[i] = -1;
	}
}

/* A family the bind addresses leave out is not opened: bound to an IPv4
 * address only, the device has no IPv6 socket. */
static int open_family(struct wg_udp *udp, int family, uint16_t port, int *fd)
{
	if (wg_addr_pair_set(&udp->bind) && !bound_family(&udp->bind, family))
		return -EAFNOSUPPORT;
	return open_bound(family, port, udp->fwmark, &udp->bind, udp->shared, fd);
}

/* IPv4 first; IPv6 then takes the same port (the one the kernel picked
 * when port is 0). A missing family is skipped; both missing fails. A
 * bind address of a family the host lacks is an error, not skipped. */
static int open_pair(struct wg_udp *udp, uint16_t port)
{
	int r4, r6, ret;

	r4 = open_family(udp, AF_INET, port, &udp->fd[0]);
	if (r4 && (!family_missing(r4) || udp->bind.has_v4))
		return r4;
	if (!r4 && (ret = bound_port(udp->fd[0], &port)))
		goto fail;
	r6 = open_family(udp, AF_INET6, port, &udp->fd[1]);
	ret = r6;
	if (r6 && (r4 || !family_missing(r6) || udp->bind.has_v6))
		goto fail;
	ret = bound_port(udp->fd[r4 ? 1 : 0], &udp->port);
	if (!ret)
		return 0;
fail:
	close_fds(udp);
	return ret;
}

static int open_udp(uint16_t port, uint32_t fwmark, const struct wg_addr_pair *bind, bool shared,
		    struct wg_udp **out)
{
	struct wg_udp *udp = calloc(1, sizeof(*udp));
	int ret;

	if (!udp)
		return -ENOMEM;
	udp->fd[0] = udp->fd[1] = -1;
	udp->fwmark = fwmark;
	udp->shared = shared;
	if (bind)
		udp->bind = *bind;
	/* Without a watch sources stay sticky to their address alone. */
	udp->routes = wg_os_route_watch_open();
	/* With port 0 the IPv4 pick may be taken for IPv6: draw again, as
	 * wireguard-go does. */
	for (int i = 0; i < BIND_ATTEMPTS; i++) {
		ret = open_pair(udp, port);
		if (ret != -EADDRINUSE || port != 0)
			break;
	}
	if (ret) {
		wg_udp_close(udp);
		return ret;
	}
	*out = udp;
	return 0;
}

int wg_udp_open(uint16_t port, uint32_t fwmark, const struct wg_addr_pair *bind,
		struct wg_udp **out)
{
	return open_udp(port, fwmark, bind, false, out);
}

int wg_udp_open_shared(uint16_t port, uint32_t fwmark, const struct wg_addr_pair *bind,
		       struct wg_udp **out)
{
	return open_udp(port, fwmark, bind, true, out);
}

int wg_udp_set_shared(struct wg_udp *udp, bool on)
{
	for (int i = 0; i < 2; i++) {
		int ret = udp->fd[i] >= 0 ? set_reuse(udp->fd[i], on) : 0;
		if (ret)
			return ret;
	}
	udp->shared = on;
	return 0;
}

void wg_udp_close(struct wg_udp *udp)
{
	if (!udp)
		return;
	close_fds(udp);
	wg_os_route_watch_close(udp->routes);
	free(udp);
}

uint16_t wg_udp_port(const struct wg_udp *udp)
{
	return udp->port;
}

/* The route watch's answer (the kernel's address table) where there is
 * one; else binding a throwaway socket to the address (any port), the
 * portable test: it fails with EADDRNOTAVAIL while the address is absent,
 * or still tentative (IPv6 duplicate address detection), unless
 * ip_nonlocal_bind lets it pass. */
int wg_udp_addr_present(const struct wg_udp *udp, const struct wg_addr_pair *one)
{
	int family = one->has_v4 ? AF_INET : AF_INET6;
	int fd, ret = udp && udp->routes ? wg_os_route_addr_present(udp->routes, one) : -EOPNOTSUPP;
	union wg_sockaddr sa;

	if (ret >= 0)
		return ret;
	fd = socket(family, SOCK_DGRAM, 0);
	ret = 1;
	if (fd < 0)
		return -errno;
	local_addr(&sa, family, 0, one);
	if (bind(fd, &sa.sa, (socklen_t)wg_sockaddr_len(&sa)) < 0)
		ret = errno == EADDRNOTAVAIL ? 0 : -errno;
	close(fd);
	return ret;
}

unsigned int wg_udp_ifindex(const char *name)
{
	return name[0] ? if_nametoindex(name) : 0;
}

void wg_udp_fds(const struct wg_udp *udp, int fds[2])
{
	fds[0] = udp->fd[0];
	fds[1] = udp->fd[1];
}

int wg_udp_set_fwmark(struct wg_udp *udp, uint32_t fwmark)
{
	/* "fwmark=0" arrives with every `wg setconf`: no syscall (and no
	 * privilege needed) while no mark was ever set. */
	if (fwmark == udp->fwmark)
		return 0;
	for (int i = 0; i < 2; i++) {
		int ret = udp->fd[i] >= 0 ? wg_os_set_fwmark(udp->fd[i], fwmark) : 0;
		if (ret)
			return ret;
	}
	udp->fwmark = fwmark;
	return 0;
}

static void parse_control(struct msghdr *msg, struct wg_endpoint *ep)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = wg_cmsg_next(msg, c)) {
		if (wg_posix_pktinfo_parse(c, ep))
			return;
	}
}

/* One recvmsg: the length, or -errno of the call; *trunc for a datagram
 * larger than buf. */
static ssize_t recv_once(int fd, uint8_t *buf, size_t len, struct wg_endpoint *from, bool *trunc)
{
	union wg_cmsg_buf cb;
	struct iovec iov = {.iov_base = buf, .iov_len = len};
	struct msghdr msg = {
		.msg_name = &from->addr,
		.msg_namelen = sizeof(from->addr),
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = cb.buf,
		.msg_controllen = sizeof(cb),
	};
	ssize_t n;

	memset(from, 0, sizeof(*from));
	n = recvmsg(fd, &msg, 0);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	*trunc = msg.msg_flags & MSG_TRUNC;
	if (!(msg.msg_flags & MSG_CTRUNC))
		parse_control(&msg, from);
	return n;
}

ssize_t wg_udp_recv(struct wg_udp *udp, int fd, uint8_t *buf, size_t len, struct wg_endpoint *from)
{
	bool trunc = false;
	ssize_t n;
	int ret;

	for (int tries = 0;; tries++) {
		n = recv_once(fd, buf, len, from, &trunc);
		if (n >= 0)
			return trunc ? -EMSGSIZE : n;
		ret = wg_posix_udp_recv_error(udp, fd, (int)n, tries);
		if (ret)
			return ret;
	}
}

/* --- ICMP errors (wgd/platform/udp.h) --- */

/* A pending ICMP error answered a few times in a row: an ICMP flood keeps
 * re-arming it between the drain and the retry. */
#define PENDING_RETRIES 8

void wg_posix_icmp_push(struct wg_udp *udp, const struct wg_udp_icmp *e)
{
	if (udp->icmp_n == WG_UDP_ICMP_QUEUE) {
		udp->icmp_dropped++;
		return;
	}
	udp->icmp[(udp->icmp_head + udp->icmp_n++) % WG_UDP_ICMP_QUEUE] = *e;
}

int wg_udp_take_icmp(struct wg_udp *udp, struct wg_udp_icmp *out, int max)
{
	int n = 0;

	while (n < max && udp->icmp_n) {
		out[n++] = udp->icmp[udp->icmp_head];
		udp->icmp_head = (udp->icmp_head + 1) % WG_UDP_ICMP_QUEUE;
		udp->icmp_n--;
	}
	return n;
}

uint64_t wg_udp_icmp_dropped(const struct wg_udp *udp)
{
	return udp->icmp_dropped;
}

/* An ICMP error queued with IP_RECVERR also sets the socket's pending
 * error, which fails the next receive or send: the queue is drained then,
 * not on every receive that found the socket empty (most wakeups under
 * load). */
int wg_posix_udp_recv_error(struct wg_udp *udp, int fd, int err, int tries)
{
	if (!wg_os_udp_icmp_errno(err))
		return err;
	/* The kernel cleared the pending error as it reported it: whatever
	 * the queue holds, the next receive finds the datagrams. */
	(void)wg_os_udp_drain_errors(udp, fd);
	return tries < PENDING_RETRIES ? 0 : -EAGAIN;
}

/* A send may fail for itself with the same errors (no route: ENETUNREACH,
 * too large: EMSGSIZE), queued as local errors: sent again only when ICMP
 * errors were waiting. */
int wg_posix_udp_send_error(struct wg_udp *udp, int fd, int err)
{
	if (!wg_os_udp_icmp_errno(err))
		return err;
	return wg_os_udp_drain_errors(udp, fd) > 0 ? 0 : err;
}

static int send_msg(const struct wg_udp *udp, int fd, const struct wg_endpoint *to,
		    const uint8_t *buf, size_t len)
{
	union wg_cmsg_buf cb;
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	struct msghdr msg = {
		.msg_name = (void *)&to->addr,
		.msg_namelen = (socklen_t)wg_sockaddr_len(&to->addr),
		.msg_iov = &iov,
		.msg_iovlen = 1,
	};

	msg.msg_controllen = wg_posix_pktinfo_build(udp, to, &cb);
	if (msg.msg_controllen)
		msg.msg_control = cb.buf;
	if (sendmsg(fd, &msg, 0) < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return 0;
}

/* Once more after meeting the pending error of an ICMP error. */
static int send_once(struct wg_udp *udp, int fd, const struct wg_endpoint *to, const uint8_t *buf,
		     size_t len)
{
	int ret = send_msg(udp, fd, to, buf, len);

	if (ret && !wg_posix_udp_send_error(udp, fd, ret))
		ret = send_msg(udp, fd, to, buf, len);
	return ret;
}

int wg_posix_send_fragmented(struct wg_udp *udp, int fd, const struct wg_endpoint *to,
			     const uint8_t *buf, size_t len)
{
	int ret;

	if (to->addr.sa.sa_family != AF_INET || !udp->routes ||
	    !wg_os_route_may_fragment(udp->routes, udp, to))
		return -EMSGSIZE;
	if (wg_os_udp_local_fragments(fd, AF_INET, true))
		return -EMSGSIZE;
	ret = send_once(udp, fd, to, buf, len);
	(void)wg_os_udp_local_fragments(fd, AF_INET, false); /* valid fd and value */
	return ret;
}

bool wg_posix_source_refused(const struct wg_endpoint *to, int err)
{
	return to->has_src && !to->pinned &&
	       (err == -EINVAL || err == -EADDRNOTAVAIL || err == -ENETUNREACH);
}

void wg_posix_forget_source(struct wg_endpoint *to)
{
	to->has_src = false;
	to->src_ifindex = 0;
	memset(&to->src6, 0, sizeof(to->src6));
}

int wg_posix_pin_check(struct wg_udp *udp, const struct wg_endpoint *to)
{
	if (to->addr.sa.sa_family == AF_INET6 && udp->bind.has_v6 && udp->routes &&
	    !(to->pinned && to->has_src) && !wg_os_route_bind6_present(udp->routes, udp))
		return -EADDRNOTAVAIL;
	if (!to->pinned)
		return 0;
	if (to->egress_down)
		return -ENODEV;
	if (udp->routes && !wg_os_route_via_egress(udp->routes, udp, to))
		return -ENETUNREACH;
	return 0;
}

void wg_posix_source_check(struct wg_udp *udp, struct wg_endpoint *to)
{
	if (udp->routes && to->has_src && !to->pinned &&
	    !wg_os_route_keeps_source(udp->routes, udp, to))
		wg_posix_forget_source(to);
}

int wg_udp_route_fd(const struct wg_udp *udp)
{
	return udp->routes ? wg_os_route_watch_fd(udp->routes) : -1;
}

bool wg_udp_route_update(struct wg_udp *udp)
{
	return udp->routes && wg_os_route_watch_drain(udp->routes);
}

int wg_posix_udp_fd_for(const struct wg_udp *udp, const struct wg_endpoint *to)
{
	int fd;

	switch (to->addr.sa.sa_family) {
	case AF_INET:
		fd = udp->fd[0];
		break;
	case AF_INET6:
		fd = udp->fd[1];
		break;
	default:
		return -EDESTADDRREQ;
	}
	return fd < 0 ? -EAFNOSUPPORT : fd;
}

/* Bound to an address, a socket sends from it without packet info; a
 * pinned endpoint's egress interface needs packet info, whose source then
 * has to be the bind address (an empty one would let the kernel choose). */
size_t wg_posix_pktinfo_build(const struct wg_udp *udp, const struct wg_endpoint *ep,
			      union wg_cmsg_buf *cb)
{
	int family = ep->addr.sa.sa_family;
	struct wg_endpoint e;

	if (!ep->pinned && (!ep->has_src || bound_family(&udp->bind, family)))
		return 0;
	if (ep->pinned && !ep->has_src) {
		if (!ep->src_ifindex)
			return 0;
		if (bound_family(&udp->bind, family)) {
			e = *ep;
			if (family == AF_INET)
				e.src4 = udp->bind.v4;
			else
				e.src6 = udp->bind.v6;
			e.has_src = true;
			ep = &e;
		}
	}
	return family == AF_INET ? wg_os_pktinfo4_build(ep, cb) : wg_posix_pktinfo6_build(ep, cb);
}

bool wg_posix_pktinfo_parse(const struct cmsghdr *c, struct wg_endpoint *ep)
{
	return wg_os_pktinfo4_parse(c, ep) || wg_posix_pktinfo6_parse(c, ep);
}

int wg_udp_send(struct wg_udp *udp, struct wg_endpoint *to, const uint8_t *buf, size_t len)
{
	int fd = wg_posix_udp_fd_for(udp, to), ret;

	if (fd < 0)
		return fd;
	if ((ret = wg_posix_pin_check(udp, to)))
		return ret;
	wg_posix_source_check(udp, to);
	ret = send_once(udp, fd, to, buf, len);
	if (ret && wg_posix_source_refused(to, ret)) {
		wg_posix_forget_source(to);
		ret = send_once(udp, fd, to, buf, len);
	}
	if (ret == -EMSGSIZE)
		ret = wg_posix_send_fragmented(udp, fd, to, buf, len);
	return ret;
}
