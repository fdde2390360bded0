/* Portable fallbacks of the batched/offloaded data path API: one packet
 * per system call and no offloads, built on the single-packet functions
 * (and so on each OS's hooks). FreeBSD and macOS use nothing else
 * (platform/bsd/batch_bsd.c); Linux uses them for a plain TUN and for
 * sockets set portable (wg_udp_set_portable), so a portable run there
 * takes the path those systems take. */
#include <errno.h>
#include <sodium.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "offload.h"
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

ssize_t wg_posix_tun_write_gso(struct wg_tun *tun, const struct wg_gso *gso,
			       const struct iovec *iov, int iovcnt)
{
	/* Without offloads the caller never gathers: one piece, one packet. */
	if (gso->type != WG_GSO_NONE || gso->needs_csum || iovcnt != 1)
		return -EINVAL;
	return wg_tun_write(tun, iov[0].iov_base, iov[0].iov_len);
}

int wg_posix_tun_read_batch(struct wg_tun *tun, uint8_t *buf, size_t cap, size_t tail,
			    struct wg_pkt *pkts, int max)
{
	ssize_t n;

	if (max < 1 || cap < WG_TUN_READ_ROOM + tail)
		return 0;
	n = wg_tun_read(tun, buf, cap - tail);
	if (n < 0)
		return (int)n;
	pkts[0] = (struct wg_pkt){buf, (size_t)n};
	return 1;
}

int wg_posix_tun_write_batch(struct wg_tun *tun, struct wg_pkt *pkts, int n)
{
	int failed = 0;

	for (int i = 0; i < n; i++)
		failed += wg_tun_write(tun, pkts[i].data, pkts[i].len) < 0;
	return failed;
}

/* --- the coalescing table, for the OS code that offloads --- */

#define CUT_BUF_LEN (2 * 65536) /* a super-packet whole, and one packet cut */

void *wg_posix_map(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

int wg_posix_tun_gro_open(struct wg_tun *tun, bool tcp, bool udp)
{
	uint8_t key[WG_GRO_KEY_LEN];

	if (!tun->gro && !(tun->gro = wg_posix_map(sizeof(*tun->gro))))
		return -ENOMEM;
	if (!tun->cut_buf && !(tun->cut_buf = wg_posix_map(CUT_BUF_LEN))) {
		wg_posix_tun_gro_close(tun);
		return -ENOMEM;
	}
	wg_gro_init(tun->gro, tcp, udp);
	/* Random per TUN, so that a sender cannot aim flows at one chain. */
	randombytes_buf(key, sizeof(key));
	wg_gro_set_key(tun->gro, key);
	sodium_memzero(key, sizeof(key));
	return 0;
}

void wg_posix_tun_gro_close(struct wg_tun *tun)
{
	/* Only packets and the flow hash secret live here; the kernel
	 * clears the pages before anyone else gets them. */
	if (tun->gro) {
		sodium_memzero(tun->gro->key, sizeof(tun->gro->key));
		munmap(tun->gro, sizeof(*tun->gro));
	}
	if (tun->cut_buf)
		munmap(tun->cut_buf, CUT_BUF_LEN);
	if (tun->rd_buf)
		munmap(tun->rd_buf, WG_TUN_READ_ROOM + 1);
	tun->gro = NULL;
	tun->cut_buf = tun->rd_buf = NULL;
	tun->rd_pending = false;
}

/* The table's packet slots and the cut buffer (not its header page with
 * the settings and key). */
void wg_posix_tun_trim(struct wg_tun *tun)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);

	if (tun->gro && sizeof(*tun->gro) > pg)
		(void)madvise((uint8_t *)tun->gro + pg, (sizeof(*tun->gro) - pg) / pg * pg,
			      MADV_DONTNEED);
	if (tun->cut_buf)
		(void)madvise(tun->cut_buf, CUT_BUF_LEN, MADV_DONTNEED);
	if (tun->rd_buf && !tun->rd_pending)
		(void)madvise(tun->rd_buf, WG_TUN_READ_ROOM + 1, MADV_DONTNEED);
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
