/* Linux batched UDP: recvmmsg with UDP_GRO (the kernel hands over trains
 * of equal-size datagrams from one sender as one buffer), sendmmsg with
 * UDP_SEGMENT (a train leaves as one super-datagram, cut by the kernel or
 * the NIC). Every message carries its own packet info, so the sticky
 * source survives batching; a refused source is forgotten and that message
 * resent, as wg_udp_send does. A pending ICMP error met on the way is taken
 * off the socket (udp_errqueue.c) and the call made again. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <string.h>
#include <sys/socket.h>

#include "wg_posix.h"
#include "wgd/platform/batch.h"
#include "wgd/platform/udp.h"

#ifndef SOL_UDP
#define SOL_UDP 17
#endif

#define BATCH_MAX   64
#define GSO_MAX_SEG 64	       /* UDP_MAX_SEGMENTS of older kernels */
#define NO_GSO	    (1u << 31) /* udp->offload: the kernel refused GSO (EIO) */

/* Packet info plus one integer option (UDP_SEGMENT / UDP_GRO). */
union cmsg_room {
	struct cmsghdr align;
	uint8_t buf[128];
};

unsigned int wg_udp_offloads(const struct wg_udp *udp)
{
	unsigned int o = WG_UDP_MMSG | (udp->offload & WG_UDP_GRO);

	if (udp->portable)
		return 0;
	if (!(udp->offload & NO_GSO))
		o |= WG_UDP_GSO;
	return o;
}

void wg_udp_set_portable(struct wg_udp *udp)
{
	(void)wg_udp_set_gro(udp, false);
	udp->portable = true;
}

int wg_udp_set_gro(struct wg_udp *udp, bool on)
{
	int v = on;

	if (on && udp->portable)
		return -EOPNOTSUPP;
	for (int i = 0; i < 2; i++) {
		if (udp->fd[i] >= 0 && setsockopt(udp->fd[i], SOL_UDP, UDP_GRO, &v, sizeof(v)) < 0)
			return -errno;
	}
	if (on)
		udp->offload |= WG_UDP_GRO;
	else
		udp->offload &= ~WG_UDP_GRO;
	return 0;
}

/* --- receive --- */

static void parse_recv_control(struct msghdr *mh, struct wg_udp_msg *m)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = wg_cmsg_next(mh, c)) {
		if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO &&
		    c->cmsg_len >= CMSG_LEN(sizeof(int))) {
			int seg;
			memcpy(&seg, CMSG_DATA(c), sizeof(seg));
			m->seg = seg > 0 ? (size_t)seg : 0;
		} else {
			wg_posix_pktinfo_parse(c, &m->ep);
		}
	}
}

int wg_udp_recv_batch(struct wg_udp *udp, int fd, struct wg_udp_msg *msgs, int n)
{
	struct mmsghdr mh[BATCH_MAX];
	struct iovec iov[BATCH_MAX];
	union cmsg_room cb[BATCH_MAX];
	int r;

	if (udp->portable)
		return wg_posix_udp_recv_batch(udp, fd, msgs, n);
	if (n > BATCH_MAX)
		n = BATCH_MAX;
	memset(mh, 0, (size_t)n * sizeof(mh[0]));
	for (int i = 0; i < n; i++) {
		memset(&msgs[i].ep, 0, sizeof(msgs[i].ep));
		iov[i].iov_base = msgs[i].buf;
		iov[i].iov_len = msgs[i].len;
		mh[i].msg_hdr.msg_name = &msgs[i].ep.addr;
		mh[i].msg_hdr.msg_namelen = sizeof(msgs[i].ep.addr);
		mh[i].msg_hdr.msg_iov = &iov[i];
		mh[i].msg_hdr.msg_iovlen = 1;
		mh[i].msg_hdr.msg_control = cb[i].buf;
		mh[i].msg_hdr.msg_controllen = sizeof(cb[i].buf);
	}
	for (int tries = 0; (r = recvmmsg(fd, mh, (unsigned int)n, 0, NULL)) < 0; tries++) {
		int err = wg_posix_udp_recv_error(udp, fd, errno == EWOULDBLOCK ? -EAGAIN : -errno,
						  tries);
		if (err)
			return err;
	}
	for (int i = 0; i < r; i++) {
		msgs[i].seg = 0;
		/* A truncated datagram is garbage: length 0 drops it. */
		msgs[i].len = mh[i].msg_hdr.msg_flags & MSG_TRUNC ? 0 : mh[i].msg_len;
		if (!(mh[i].msg_hdr.msg_flags & MSG_CTRUNC))
			parse_recv_control(&mh[i].msg_hdr, &msgs[i]);
	}
	return r;
}

/* --- send --- */

struct send_ctx {
	struct mmsghdr mh[BATCH_MAX];
	struct iovec iov[BATCH_MAX];
	union cmsg_room cb[BATCH_MAX];
	struct wg_udp_msg *owner[BATCH_MAX]; /* message each entry belongs to */
	int n;
	const struct wg_udp *udp;
};

static size_t add_segment_cmsg(uint8_t *buf, size_t used, uint16_t seg)
{
	struct cmsghdr *c = (struct cmsghdr *)(void *)(buf + used);

	memset(c, 0, CMSG_SPACE(sizeof(seg)));
	c->cmsg_level = SOL_UDP;
	c->cmsg_type = UDP_SEGMENT;
	c->cmsg_len = CMSG_LEN(sizeof(seg));
	memcpy(CMSG_DATA(c), &seg, sizeof(seg));
	return used + CMSG_SPACE(sizeof(seg));
}

/* One kernel message: a whole train with GSO, or one datagram of it. */
static void add_entry(struct send_ctx *sc, struct wg_udp_msg *m, size_t off, size_t len, bool gso)
{
	struct msghdr *h = &sc->mh[sc->n].msg_hdr;
	union wg_cmsg_buf pk;
	size_t clen;

	memset(&sc->mh[sc->n], 0, sizeof(sc->mh[0]));
	sc->iov[sc->n].iov_base = m->buf + off;
	sc->iov[sc->n].iov_len = len;
	h->msg_name = &m->to->addr;
	h->msg_namelen = (socklen_t)wg_sockaddr_len(&m->to->addr);
	h->msg_iov = &sc->iov[sc->n];
	h->msg_iovlen = 1;
	clen = wg_posix_pktinfo_build(sc->udp, m->to, &pk);
	memcpy(sc->cb[sc->n].buf, pk.buf, clen);
	if (gso)
		clen = add_segment_cmsg(sc->cb[sc->n].buf, clen, (uint16_t)m->seg);
	h->msg_control = clen ? sc->cb[sc->n].buf : NULL;
	h->msg_controllen = clen;
	sc->owner[sc->n++] = m;
}

static bool is_train(const struct wg_udp_msg *m)
{
	return m->seg && m->seg < m->len;
}

/* Entries for messages from *next on, same socket, while room remains.
 * A train is one entry with GSO, one per datagram without. */
static void build(struct send_ctx *sc, struct wg_udp *udp, struct wg_udp_msg *msgs, int n,
		  int *next, int fd)
{
	bool gso = !(udp->offload & NO_GSO);

	sc->n = 0;
	sc->udp = udp;
	while (*next < n && wg_posix_udp_fd_for(udp, msgs[*next].to) == fd) {
		struct wg_udp_msg *m = &msgs[*next];
		size_t segs = is_train(m) ? (m->len + m->seg - 1) / m->seg : 1;
		m->err = 0;
		wg_posix_source_check(udp, m->to);
		if ((m->err = wg_posix_pin_check(udp, m->to))) {
			/* its egress interface is gone or has no route to it */
		} else if (!is_train(m) || (gso && segs <= GSO_MAX_SEG)) {
			if (sc->n == BATCH_MAX)
				break;
			add_entry(sc, m, 0, m->len, is_train(m));
		} else if (segs > BATCH_MAX) {
			m->err = -EMSGSIZE;
		} else {
			if (sc->n + (int)segs > BATCH_MAX)
				break;
			for (size_t off = 0; off < m->len; off += m->seg)
				add_entry(sc, m, off, m->len - off < m->seg ? m->len - off : m->seg,
					  false);
		}
		(*next)++;
	}
}

/* sendmmsg stops at the first failing entry. A failure we can fix by
 * rebuilding (no GSO towards this route, sticky source gone) returns
 * true while retries last; otherwise the error is recorded on the
 * entry's message and the entry skipped. */
static bool fixable(struct wg_udp *udp, struct wg_udp_msg *m, int err, int *retries)
{
	if (*retries >= 4)
		return false;
	if (err == -EIO && is_train(m) && !(udp->offload & NO_GSO)) {
		/* e.g. an egress device without checksum offload: from now
		 * on the trains are cut here. */
		udp->offload |= NO_GSO;
	} else if (wg_posix_source_refused(m->to, err)) {
		wg_posix_forget_source(m->to);
	} else {
		return false;
	}
	(*retries)++;
	return true;
}

/* An entry refused for its size: a datagram above the egress MTU
 * (EMSGSIZE), sent again fragmented here where the route allows it
 * (wg_posix_send_fragmented); or a train whose segments are (EMSGSIZE, or
 * EINVAL: GSO does not cut above the MTU), sent again datagram by
 * datagram, each as wg_udp_send does. 0, or the error to record. */
static int send_oversized(struct wg_udp *udp, const struct send_ctx *sc, int i, int fd, int err)
{
	struct wg_udp_msg *m = sc->owner[i];
	uint8_t *p = sc->iov[i].iov_base;
	size_t len = sc->iov[i].iov_len;
	bool gso = is_train(m) && len > m->seg;

	if (err == -EMSGSIZE && !gso)
		return wg_posix_send_fragmented(udp, fd, m->to, p, len);
	if ((err != -EMSGSIZE && err != -EINVAL) || !gso)
		return err;
	for (size_t off = 0; off < len; off += m->seg) {
		err = wg_udp_send(udp, m->to, p + off, len - off < m->seg ? len - off : m->seg);
		if (err)
			return err;
	}
	return 0;
}

/* Sends the entries of sc; returns the index of the first entry to
 * rebuild from after a fix, or sc->n when all are done. */
static int send_entries(struct wg_udp *udp, struct send_ctx *sc, int fd, int *retries)
{
	int i = 0;

	while (i < sc->n) {
		int r = sendmmsg(fd, sc->mh + i, (unsigned int)(sc->n - i), 0), err;
		if (r > 0) {
			i += r;
			continue;
		}
		err = r == 0 ? -EIO : (errno == EWOULDBLOCK ? -EAGAIN : -errno);
		/* Only met an ICMP error's pending error: the same entries again. */
		if (*retries < 4 && r < 0 && !wg_posix_udp_send_error(udp, fd, err)) {
			(*retries)++;
			continue;
		}
		if (fixable(udp, sc->owner[i], err, retries))
			return i;
		err = send_oversized(udp, sc, i, fd, err);
		if (err && !sc->owner[i]->err)
			sc->owner[i]->err = err;
		i++;
	}
	return i;
}

int wg_udp_send_batch(struct wg_udp *udp, struct wg_udp_msg *msgs, int n)
{
	struct send_ctx sc;
	int next = 0, sent = 0, retries = 0;

	if (udp->portable)
		return wg_posix_udp_send_batch(udp, msgs, n);
	while (next < n) {
		int fd = wg_posix_udp_fd_for(udp, msgs[next].to), done;
		if (fd < 0) {
			msgs[next++].err = fd;
			continue;
		}
		build(&sc, udp, msgs, n, &next, fd);
		done = send_entries(udp, &sc, fd, &retries);
		if (done < sc.n)
			next = (int)(sc.owner[done] - msgs);
	}
	for (int i = 0; i < n; i++)
		sent += msgs[i].err == 0;
	return sent;
}
