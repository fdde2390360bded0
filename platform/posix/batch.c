/* Portable fallbacks of the batched/offloaded data path API: one packet
 * per system call and no offloads, built on the single-packet functions
 * (and so on each OS's hooks). FreeBSD and macOS use nothing else
 * (platform/bsd/batch_bsd.c); Linux uses them for a plain TUN and for
 * sockets set portable (wg_udp_set_portable), so a portable run there
 * takes the path those systems take. */
#include <errno.h>

#include "wg_posix.h"
#include "wgd/platform/batch.h"
#include "wgd/platform/tun.h"
#include "wgd/platform/udp.h"

int wg_posix_tun_set_offload(struct wg_tun *tun, bool on, unsigned int *enabled)
{
	(void)tun;
	*enabled = 0;
	return on ? -EOPNOTSUPP : 0;
}

ssize_t wg_posix_tun_read_gso(struct wg_tun *tun, uint8_t *buf, size_t len, struct wg_gso *gso)
{
	*gso = (struct wg_gso){0};
	return wg_tun_read(tun, buf, len);
}

ssize_t wg_posix_tun_write_gso(struct wg_tun *tun, const struct wg_gso *gso, const struct iovec *iov,
			 int iovcnt)
{
	/* Without offloads the caller never gathers: one piece, one packet. */
	if (gso->type != WG_GSO_NONE || gso->needs_csum || iovcnt != 1)
		return -EINVAL;
	return wg_tun_write(tun, iov[0].iov_base, iov[0].iov_len);
}

int wg_posix_udp_recv_batch(struct wg_udp *udp, int fd, struct wg_udp_msg *msgs, int n)
{
	ssize_t r = wg_udp_recv(udp, fd, msgs[0].buf, msgs[0].len, &msgs[0].ep);

	(void)n;
	if (r < 0)
		return (int)r;
	msgs[0].len = (size_t)r;
	msgs[0].seg = 0;
	return 1;
}

/* A train goes out datagram by datagram. */
static int send_train(struct wg_udp *udp, struct wg_udp_msg *m)
{
	size_t seg = m->seg && m->seg < m->len ? m->seg : m->len;

	for (size_t off = 0; off < m->len; off += seg) {
		size_t n = m->len - off < seg ? m->len - off : seg;
		int ret = wg_udp_send(udp, m->to, m->buf + off, n);
		if (ret)
			return ret;
	}
	return 0;
}

int wg_posix_udp_send_batch(struct wg_udp *udp, struct wg_udp_msg *msgs, int n)
{
	int sent = 0;

	for (int i = 0; i < n; i++) {
		msgs[i].err = send_train(udp, &msgs[i]);
		if (msgs[i].err == 0)
			sent++;
	}
	return sent;
}
