/* An in-memory network for the message fuzzers: the system calls the
 * platform layer makes on the device's UDP sockets and TUN descriptor are
 * answered here, so the real platform code (packet-info control messages,
 * recvmmsg/UDP_GRO trains, sendmmsg/UDP_SEGMENT trains, the virtio-net
 * header of an offloading TUN) runs on every input without entering the
 * kernel. Descriptors not registered with fn_attach go to the kernel.
 *
 * The interposed functions (sendmsg, sendmmsg, recvmmsg, send, readv,
 * writev) are strong definitions in the fuzz executable; the sanitizer
 * runtime's interceptors of the same names are weak and give way.
 *
 * What the kernel would do and we emulate:
 * - a sticky source that is not a local address (IPv4 outside 127/8, IPv6
 *   other than ::1, or an interface other than lo) is refused with EINVAL;
 * - an IPv4-mapped destination on the IPv6 socket (IPV6_V6ONLY) fails with
 *   ENETUNREACH; a datagram over 65507 bytes with EMSGSIZE;
 * - UDP_SEGMENT: the train arrives as separate datagrams; more than 64
 *   segments or a segment size of 0 is EINVAL;
 * - a full output arena is ENOBUFS; the harness may make the next sends
 *   fail with an errno of its choice (EIO for a GSO send, EAGAIN...);
 * - recvmmsg hands out what the harness queued, with the local address as
 *   IP_PKTINFO/IPV6_PKTINFO and, for a train, UDP_GRO carrying its segment
 *   size; a datagram larger than the buffer is cut with MSG_TRUNC. */
#ifndef WGD_FUZZ_FAKENET_H
#define WGD_FUZZ_FAKENET_H

#include <errno.h>
#include <linux/virtio_net.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common.h"
#include "wgd/addr.h"
#include "wgd/platform/batch.h"

#ifndef SOL_UDP
#define SOL_UDP 17
#endif

#define FN_ARENA   (1 << 22)
#define FN_PKTS	   4096
#define FN_MAX_UDP 65507

/* One datagram or TUN write. */
struct fn_pkt {
	size_t off, len;
	size_t seg;		  /* udp in: train segment size (0: one datagram) */
	union wg_sockaddr to;	  /* udp out: destination */
	union wg_sockaddr src;	  /* udp out: source port/address D used; in: sender */
	struct wg_endpoint local; /* udp in: local address it arrives on */
	struct wg_gso gso;	  /* tun: the virtio header, as the platform wrote it */
	uint8_t vnet[16];	  /* tun in: raw header bytes to hand over */
};

struct fn_queue {
	uint8_t *arena;
	size_t used;
	struct fn_pkt pkts[FN_PKTS];
	size_t n, head;
};

static struct {
	int udp_fd[2], tun_fd;
	uint16_t port; /* D's, host order */
	struct fn_queue udp_out, tun_out, udp_in[2], tun_in;
	int fail_errno; /* next fail_count sends on D's sockets fail with it */
	unsigned int fail_count;
	uint64_t sends, recvs; /* system calls answered, for the trace */
} FN = {.udp_fd = {-1, -1}, .tun_fd = -1};

static void fn_queue_init(struct fn_queue *q)
{
	q->arena = malloc(FN_ARENA);
	if (!q->arena)
		abort();
}

static void fn_queue_clear(struct fn_queue *q)
{
	q->used = q->n = q->head = 0;
}

/* Room for len more bytes; NULL when full (the caller reports ENOBUFS). */
static struct fn_pkt *fn_push(struct fn_queue *q, size_t len)
{
	struct fn_pkt *p;

	if (q->n == FN_PKTS || q->used + len > FN_ARENA)
		return NULL;
	p = &q->pkts[q->n++];
	memset(p, 0, sizeof(*p));
	p->off = q->used;
	p->len = len;
	q->used += len;
	return p;
}

static uint8_t *fn_data(struct fn_queue *q, const struct fn_pkt *p)
{
	return q->arena + p->off;
}

static void fn_attach(int udp_fds[2], uint16_t port, int tun_fd)
{
	FN.udp_fd[0] = udp_fds[0];
	FN.udp_fd[1] = udp_fds[1];
	FN.port = port;
	FN.tun_fd = tun_fd;
	fn_queue_init(&FN.udp_out);
	fn_queue_init(&FN.tun_out);
	fn_queue_init(&FN.udp_in[0]);
	fn_queue_init(&FN.udp_in[1]);
	fn_queue_init(&FN.tun_in);
}

static void fn_reset(void)
{
	fn_queue_clear(&FN.udp_out);
	fn_queue_clear(&FN.tun_out);
	fn_queue_clear(&FN.udp_in[0]);
	fn_queue_clear(&FN.udp_in[1]);
	fn_queue_clear(&FN.tun_in);
	FN.fail_errno = 0;
	FN.fail_count = 0;
}

static int fn_udp_index(int fd)
{
	if (fd < 0)
		return -1;
	return fd == FN.udp_fd[0] ? 0 : fd == FN.udp_fd[1] ? 1 : -1;
}

/* --- UDP send --- */

static bool fn_local4(struct in_addr a)
{
	return (ntohl(a.s_addr) >> 24) == 127;
}

/* The source D asked for (packet info), or the kernel's choice: loopback
 * of the destination's family. false: the kernel would refuse it. */
static bool fn_source(const struct msghdr *m, int fam, union wg_sockaddr *src)
{
	memset(src, 0, sizeof(*src));
	if (fam == AF_INET) {
		src->in4.sin_family = AF_INET;
		src->in4.sin_port = htons(FN.port);
		src->in4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	} else {
		src->in6.sin6_family = AF_INET6;
		src->in6.sin6_port = htons(FN.port);
		src->in6.sin6_addr = in6addr_loopback;
	}
	for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR((struct msghdr *)m, c)) {
		if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo pi;
			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			if (fam != AF_INET || !fn_local4(pi.ipi_spec_dst) || pi.ipi_ifindex > 1)
				return false;
			src->in4.sin_addr = pi.ipi_spec_dst;
		} else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
			struct in6_pktinfo pi;
			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			if (fam != AF_INET6 || pi.ipi6_ifindex > 1 ||
			    (!IN6_IS_ADDR_LOOPBACK(&pi.ipi6_addr) &&
			     !IN6_IS_ADDR_UNSPECIFIED(&pi.ipi6_addr)))
				return false;
		}
	}
	return true;
}

static int fn_segment_size(const struct msghdr *m)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR((struct msghdr *)m, c))
		if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_SEGMENT) {
			uint16_t seg;
			memcpy(&seg, CMSG_DATA(c), sizeof(seg));
			return seg;
		}
	return -1;
}

/* One sendmsg on D's socket k: 0 or an errno. */
static int fn_udp_send_one(int k, const struct msghdr *m, size_t *sent)
{
	int fam = k ? AF_INET6 : AF_INET, segsz = fn_segment_size(m);
	union wg_sockaddr to = {0}, src;
	size_t len = 0, seg, off;

	FN.sends++;
	if (FN.fail_count) {
		FN.fail_count--;
		return FN.fail_errno;
	}
	if (!m->msg_name || m->msg_namelen > sizeof(to))
		return EDESTADDRREQ;
	memcpy(&to, m->msg_name, m->msg_namelen);
	if (to.sa.sa_family != fam)
		return EAFNOSUPPORT;
	if (fam == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&to.in6.sin6_addr))
		return ENETUNREACH;
	if (!fn_source(m, fam, &src))
		return EINVAL;
	for (size_t i = 0; i < m->msg_iovlen; i++)
		len += m->msg_iov[i].iov_len;
	seg = segsz > 0 && (size_t)segsz < len ? (size_t)segsz : len;
	if (segsz == 0 || (segsz > 0 && (len + seg - 1) / seg > 64))
		return EINVAL;
	if (len > FN_MAX_UDP && segsz < 0)
		return EMSGSIZE;
	/* Gathered, then cut as the kernel would a GSO send. */
	off = 0;
	do {
		size_t n = len - off < seg ? len - off : seg, done = 0, skip = off;
		struct fn_pkt *p = fn_push(&FN.udp_out, n);
		if (!p)
			return ENOBUFS;
		p->to = to;
		p->src = src;
		for (size_t i = 0; i < m->msg_iovlen && done < n; i++) {
			const struct iovec *v = &m->msg_iov[i];
			size_t take;
			if (skip >= v->iov_len) {
				skip -= v->iov_len;
				continue;
			}
			take = v->iov_len - skip < n - done ? v->iov_len - skip : n - done;
			memcpy(fn_data(&FN.udp_out, p) + done, (const uint8_t *)v->iov_base + skip,
			       take);
			done += take;
			skip = 0;
		}
		off += n;
	} while (off < len);
	*sent = len;
	return 0;
}

ssize_t sendmsg(int fd, const struct msghdr *m, int flags)
{
	int k = fn_udp_index(fd), err;
	size_t sent = 0;

	if (k < 0)
		return syscall(SYS_sendmsg, fd, m, flags);
	err = fn_udp_send_one(k, m, &sent);
	if (err) {
		errno = err;
		return -1;
	}
	return (ssize_t)sent;
}

int sendmmsg(int fd, struct mmsghdr *v, unsigned int n, int flags)
{
	int k = fn_udp_index(fd);

	if (k < 0)
		return (int)syscall(SYS_sendmmsg, fd, v, n, flags);
	for (unsigned int i = 0; i < n; i++) {
		size_t sent = 0;
		int err = fn_udp_send_one(k, &v[i].msg_hdr, &sent);
		if (err) {
			if (i)
				return (int)i;
			errno = err;
			return -1;
		}
		v[i].msg_len = (unsigned int)sent;
	}
	return (int)n;
}

/* --- UDP receive --- */

/* Queues a datagram (or a train of seg-byte datagrams) for D's socket of
 * from's family, arriving on local (D's address: packet info). */
static bool fn_udp_deliver(const uint8_t *buf, size_t len, size_t seg,
			   const union wg_sockaddr *from, const struct wg_endpoint *local)
{
	int k = from->sa.sa_family == AF_INET6;
	struct fn_pkt *p;

	if (FN.udp_fd[k] < 0 || !(p = fn_push(&FN.udp_in[k], len)))
		return false;
	memcpy(fn_data(&FN.udp_in[k], p), buf, len);
	p->seg = seg;
	p->src = *from;
	p->local = *local;
	return true;
}

static __attribute__((unused)) bool fn_udp_pending(int k)
{
	return FN.udp_in[k].head < FN.udp_in[k].n;
}

static void fn_put_cmsg(struct msghdr *h, size_t *used, int level, int type, const void *data,
			size_t len)
{
	struct cmsghdr *c = (struct cmsghdr *)(void *)((uint8_t *)h->msg_control + *used);

	if (*used + CMSG_SPACE(len) > h->msg_controllen) {
		h->msg_flags |= MSG_CTRUNC;
		return;
	}
	memset(c, 0, CMSG_SPACE(len));
	c->cmsg_level = level;
	c->cmsg_type = type;
	c->cmsg_len = CMSG_LEN(len);
	memcpy(CMSG_DATA(c), data, len);
	*used += CMSG_SPACE(len);
}

static void fn_recv_one(struct fn_queue *q, const struct fn_pkt *p, struct msghdr *h,
			unsigned int *msg_len)
{
	size_t cap = 0, done = 0, used = 0;

	h->msg_flags = 0;
	for (size_t i = 0; i < h->msg_iovlen; i++)
		cap += h->msg_iov[i].iov_len;
	for (size_t i = 0; i < h->msg_iovlen && done < p->len; i++) {
		size_t take = p->len - done < h->msg_iov[i].iov_len ? p->len - done
								    : h->msg_iov[i].iov_len;
		memcpy(h->msg_iov[i].iov_base, fn_data(q, p) + done, take);
		done += take;
	}
	if (p->len > cap)
		h->msg_flags |= MSG_TRUNC;
	*msg_len = (unsigned int)done;
	if (h->msg_name) {
		size_t nl = (size_t)wg_sockaddr_len(&p->src);
		memcpy(h->msg_name, &p->src, nl < h->msg_namelen ? nl : h->msg_namelen);
		h->msg_namelen = (socklen_t)nl;
	}
	if (p->src.sa.sa_family == AF_INET) {
		struct in_pktinfo pi = {.ipi_ifindex = (int)p->local.src_ifindex,
					.ipi_spec_dst = p->local.src4,
					.ipi_addr = p->local.src4};
		fn_put_cmsg(h, &used, IPPROTO_IP, IP_PKTINFO, &pi, sizeof(pi));
	} else {
		struct in6_pktinfo pi = {.ipi6_addr = p->local.src6,
					 .ipi6_ifindex = p->local.src_ifindex};
		fn_put_cmsg(h, &used, IPPROTO_IPV6, IPV6_PKTINFO, &pi, sizeof(pi));
	}
	if (p->seg && p->seg < p->len) {
		int seg = (int)p->seg;
		fn_put_cmsg(h, &used, SOL_UDP, UDP_GRO, &seg, sizeof(seg));
	}
	h->msg_controllen = used;
}

int recvmmsg(int fd, struct mmsghdr *v, unsigned int n, int flags, struct timespec *tmo)
{
	int k = fn_udp_index(fd);
	struct fn_queue *q;
	unsigned int i;

	if (k < 0)
		return (int)syscall(SYS_recvmmsg, fd, v, n, flags, tmo);
	q = &FN.udp_in[k];
	FN.recvs++;
	for (i = 0; i < n && q->head < q->n; i++)
		fn_recv_one(q, &q->pkts[q->head++], &v[i].msg_hdr, &v[i].msg_len);
	if (q->head == q->n)
		fn_queue_clear(q);
	if (i == 0) {
		errno = EAGAIN;
		return -1;
	}
	return (int)i;
}

/* --- TUN --- */

/* A bare packet written to the socketpair TUN. */
ssize_t send(int fd, const void *buf, size_t len, int flags)
{
	struct fn_pkt *p;

	if (fd < 0 || fd != FN.tun_fd)
		return syscall(SYS_sendto, fd, buf, len, flags, NULL, 0);
	if (!(p = fn_push(&FN.tun_out, len))) {
		errno = ENOBUFS;
		return -1;
	}
	memcpy(fn_data(&FN.tun_out, p), buf, len);
	return (ssize_t)len;
}

static uint8_t fn_gso_type(uint8_t v)
{
	switch (v & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN) {
	case VIRTIO_NET_HDR_GSO_TCPV4:
		return WG_GSO_TCP4;
	case VIRTIO_NET_HDR_GSO_TCPV6:
		return WG_GSO_TCP6;
	case 5: /* VIRTIO_NET_HDR_GSO_UDP_L4 */
		return WG_GSO_UDP_L4;
	default:
		return WG_GSO_NONE;
	}
}

/* The offloading TUN: a virtio-net header (iov[0], vnet bytes) then the
 * packet. Recorded with the header decoded by our own reading of it. */
ssize_t writev(int fd, const struct iovec *iov, int n)
{
	struct virtio_net_hdr h;
	size_t len = 0, done = 0;
	struct fn_pkt *p;

	if (fd < 0 || fd != FN.tun_fd)
		return syscall(SYS_writev, fd, iov, n);
	for (int i = 1; i < n; i++)
		len += iov[i].iov_len;
	if (n < 1 || iov[0].iov_len < sizeof(h) || len > 65535) {
		errno = EINVAL;
		return -1;
	}
	if (!(p = fn_push(&FN.tun_out, len))) {
		errno = ENOBUFS;
		return -1;
	}
	memcpy(&h, iov[0].iov_base, sizeof(h));
	p->gso.type = fn_gso_type(h.gso_type);
	p->gso.needs_csum = h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM;
	p->gso.data_valid = h.flags & VIRTIO_NET_HDR_F_DATA_VALID;
	p->gso.gso_size = h.gso_size;
	p->gso.hdr_len = h.hdr_len;
	p->gso.csum_start = h.csum_start;
	p->gso.csum_offset = h.csum_offset;
	for (int i = 1; i < n; i++) {
		memcpy(fn_data(&FN.tun_out, p) + done, iov[i].iov_base, iov[i].iov_len);
		done += iov[i].iov_len;
	}
	return (ssize_t)(iov[0].iov_len + len);
}

/* Queues a read for the offloading TUN: vnet header bytes, then pkt. */
static __attribute__((unused)) bool fn_tun_queue(const uint8_t *vnet, size_t vlen,
						 const uint8_t *pkt, size_t len)
{
	struct fn_pkt *p = fn_push(&FN.tun_in, len);

	if (!p || vlen > sizeof(p->vnet))
		return false;
	memcpy(p->vnet, vnet, vlen);
	memcpy(fn_data(&FN.tun_in, p), pkt, len);
	return true;
}

ssize_t readv(int fd, const struct iovec *iov, int n)
{
	struct fn_queue *q = &FN.tun_in;
	size_t done = 0;
	struct fn_pkt *p;

	if (fd < 0 || fd != FN.tun_fd)
		return syscall(SYS_readv, fd, iov, n);
	if (q->head == q->n) {
		fn_queue_clear(q);
		errno = EAGAIN;
		return -1;
	}
	p = &q->pkts[q->head++];
	/* iov[0] is the header, iov[1] the packet buffer (tun_offload.c). */
	for (int i = 0; i < n; i++) {
		const uint8_t *src = i == 0 ? p->vnet : fn_data(q, p);
		size_t avail = i == 0 ? sizeof(p->vnet) : p->len;
		size_t take = iov[i].iov_len < avail ? iov[i].iov_len : avail;
		if (i > 1)
			break;
		memcpy(iov[i].iov_base, src, take);
		done += take;
	}
	return (ssize_t)done;
}

#endif
