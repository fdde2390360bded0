/* Linux TUN offloads: the virtio-net header in front of each packet, and
 * TUNSETOFFLOAD so the kernel hands us TCP/UDP super-packets of up to 64
 * KiB with partial checksums (TSO/USO: we cut them) and accepts the ones
 * we coalesce (GRO). */
#include <errno.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "offload.h"
#include "wg_linux.h"

/* Newer than the headers of older distributions (Linux 6.2). */
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#define TUN_F_USO6 0x40
#endif
#ifndef VIRTIO_NET_HDR_GSO_UDP_L4
#define VIRTIO_NET_HDR_GSO_UDP_L4 5
#endif

ssize_t wg_linux_tun_error(int err)
{
	if (err == EBADFD)
		return -ENODEV;
	return err == EWOULDBLOCK ? -EAGAIN : -err;
}

static uint8_t gso_type_to_virtio(uint8_t t)
{
	switch (t) {
	case WG_GSO_TCP4:
		return VIRTIO_NET_HDR_GSO_TCPV4;
	case WG_GSO_TCP6:
		return VIRTIO_NET_HDR_GSO_TCPV6;
	case WG_GSO_UDP_L4:
		return VIRTIO_NET_HDR_GSO_UDP_L4;
	default:
		return VIRTIO_NET_HDR_GSO_NONE;
	}
}

static uint8_t gso_type_from_virtio(uint8_t t)
{
	switch (t & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN) {
	case VIRTIO_NET_HDR_GSO_TCPV4:
		return WG_GSO_TCP4;
	case VIRTIO_NET_HDR_GSO_TCPV6:
		return WG_GSO_TCP6;
	case VIRTIO_NET_HDR_GSO_UDP_L4:
		return WG_GSO_UDP_L4;
	default:
		return WG_GSO_NONE;
	}
}

/* The header is in host byte order: TUNSETVNETLE/BE are never set. */
static void hdr_to_gso(const struct virtio_net_hdr *h, struct wg_gso *g)
{
	g->type = gso_type_from_virtio(h->gso_type);
	g->needs_csum = (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) != 0;
	g->data_valid = (h->flags & VIRTIO_NET_HDR_F_DATA_VALID) != 0;
	g->gso_size = h->gso_type == VIRTIO_NET_HDR_GSO_NONE ? 0 : h->gso_size;
	g->hdr_len = h->hdr_len;
	g->csum_start = h->csum_start;
	g->csum_offset = h->csum_offset;
}

static void gso_to_hdr(const struct wg_gso *g, struct virtio_net_hdr *h)
{
	memset(h, 0, sizeof(*h));
	h->gso_type = gso_type_to_virtio(g->type);
	if (g->needs_csum)
		h->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	else if (g->data_valid)
		h->flags = VIRTIO_NET_HDR_F_DATA_VALID;
	if (h->gso_type != VIRTIO_NET_HDR_GSO_NONE) {
		h->gso_size = g->gso_size;
		h->hdr_len = g->hdr_len;
	}
	h->csum_start = g->csum_start;
	h->csum_offset = g->csum_offset;
}

ssize_t wg_linux_tun_readv(struct wg_tun *tun, uint8_t *buf, size_t len, struct wg_gso *gso)
{
	uint8_t hdr[64] = {0};
	struct iovec iov[2] = {{hdr, tun->vnet_hdr_len}, {buf, len}};
	struct virtio_net_hdr h;
	ssize_t n;

	if (tun->vnet_hdr_len > sizeof(hdr))
		return -EINVAL;
	n = readv(tun->fd, iov, 2);
	if (n < 0)
		return wg_linux_tun_error(errno);
	if ((size_t)n < tun->vnet_hdr_len)
		return -EPROTO;
	memcpy(&h, hdr, sizeof(h));
	hdr_to_gso(&h, gso);
	return wg_posix_read_len(n - tun->vnet_hdr_len, len);
}

ssize_t wg_linux_tun_writev(struct wg_tun *tun, const struct wg_gso *gso, const struct iovec *iov,
			    int iovcnt)
{
	uint8_t hdr[64] = {0};
	struct iovec v[WG_TUN_MAX_IOV + 1];
	struct virtio_net_hdr h;
	ssize_t n;

	if (iovcnt < 1 || iovcnt > WG_TUN_MAX_IOV || tun->vnet_hdr_len > sizeof(hdr))
		return -EINVAL;
	gso_to_hdr(gso, &h);
	memcpy(hdr, &h, sizeof(h));
	v[0].iov_base = hdr;
	v[0].iov_len = tun->vnet_hdr_len;
	memcpy(v + 1, iov, (size_t)iovcnt * sizeof(*iov));
	n = writev(tun->fd, v, iovcnt + 1);
	if (n < 0)
		return wg_linux_tun_error(errno);
	return n < tun->vnet_hdr_len ? -EIO : n - tun->vnet_hdr_len;
}

/* USO needs Linux 6.2: without it ask for the rest. */
int wg_tun_set_offload(struct wg_tun *tun, bool on, unsigned int *enabled)
{
	unsigned int full = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_USO4 | TUN_F_USO6;

	*enabled = 0;
	if (!tun->is_tun || !tun->vnet_hdr_len)
		return on ? -EOPNOTSUPP : 0;
	if (!on) {
		tun->offload = 0;
		wg_posix_tun_gro_close(tun);
		return ioctl(tun->fd, TUNSETOFFLOAD, 0) < 0 ? -errno : 0;
	}
	if (ioctl(tun->fd, TUNSETOFFLOAD, full) == 0) {
		tun->offload = WG_TUN_OFFLOAD_CSUM | WG_TUN_OFFLOAD_TSO | WG_TUN_OFFLOAD_USO;
	} else if (ioctl(tun->fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) == 0) {
		tun->offload = WG_TUN_OFFLOAD_CSUM | WG_TUN_OFFLOAD_TSO;
	} else {
		return -errno;
	}
	/* Without the table no coalescing: plain packets still work. */
	if (wg_posix_tun_gro_open(tun, tun->offload & WG_TUN_OFFLOAD_TSO,
				  tun->offload & WG_TUN_OFFLOAD_USO) < 0)
		tun->offload &= ~(WG_TUN_OFFLOAD_TSO | WG_TUN_OFFLOAD_USO);
	*enabled = tun->offload;
	return 0;
}

/* A plain TUN (no virtio-net header: the portable data path) or the
 * socketpair stand-in: the portable fallbacks, whole packets only. */
ssize_t wg_tun_read_gso(struct wg_tun *tun, uint8_t *buf, size_t len, struct wg_gso *gso)
{
	if (tun->is_tun && tun->vnet_hdr_len)
		return wg_linux_tun_readv(tun, buf, len, gso);
	return wg_posix_tun_read_gso(tun, buf, len, gso);
}

ssize_t wg_tun_write_gso(struct wg_tun *tun, const struct wg_gso *gso, const struct iovec *iov,
			 int iovcnt)
{
	if (tun->is_tun && tun->vnet_hdr_len)
		return wg_linux_tun_writev(tun, gso, iov, iovcnt);
	return wg_posix_tun_write_gso(tun, gso, iov, iovcnt);
}

/* --- super-packets read whole, handed over cut --- */

/* The length the IP header claims (trailing bytes dropped), 0 when the
 * packet is not IP or claims more than was read. */
static size_t ip_len(const uint8_t *p, size_t n)
{
	size_t ihl, tot;

	if (n >= 20 && p[0] >> 4 == 4) {
		ihl = (size_t)(p[0] & 0x0f) * 4;
		tot = (size_t)p[2] << 8 | p[3];
		return ihl >= 20 && tot >= ihl && tot <= n ? tot : 0;
	}
	if (n >= 40 && p[0] >> 4 == 6) {
		tot = 40 + ((size_t)p[4] << 8 | p[5]);
		return tot <= n ? tot : 0;
	}
	return 0;
}

static int read_whole(struct wg_tun *tun)
{
	ssize_t n;
	size_t len;

	if (!tun->rd_buf && !(tun->rd_buf = wg_posix_map(WG_TUN_READ_ROOM + 1)))
		return -ENOMEM;
	n = wg_linux_tun_readv(tun, tun->rd_buf, WG_TUN_READ_ROOM + 1, &tun->rd_gso);
	if (n < 0)
		return (int)n;
	len = ip_len(tun->rd_buf, (size_t)n);
	if (!len || wg_gso_split_init(&tun->rd_split, tun->rd_buf, len, &tun->rd_gso) < 0)
		return -EBADMSG;
	tun->rd_pending = true;
	return 0;
}

/* The pending packets that fit, cut into buf. */
static int hand_over(struct wg_tun *tun, uint8_t *buf, size_t cap, size_t tail, struct wg_pkt *pkts,
		     int max)
{
	struct wg_gso_split *s = &tun->rd_split;
	size_t off = 0, len;
	int k = 0;

	while (k < max && (len = wg_gso_split_peek(s)) && off + len + tail <= cap) {
		wg_gso_split_next(s, buf + off);
		pkts[k++] = (struct wg_pkt){buf + off, len};
		off += len + tail;
	}
	tun->rd_pending = wg_gso_split_peek(s) != 0;
	return k;
}

int wg_tun_read_batch(struct wg_tun *tun, uint8_t *buf, size_t cap, size_t tail,
		      struct wg_pkt *pkts, int max)
{
	if (!(tun->is_tun && tun->vnet_hdr_len))
		return wg_posix_tun_read_batch(tun, buf, cap, tail, pkts, max);
	if (!tun->rd_pending) {
		int r = read_whole(tun);
		if (r < 0)
			return r;
	}
	return hand_over(tun, buf, cap, tail, pkts, max);
}

bool wg_tun_read_pending(const struct wg_tun *tun)
{
	return tun->rd_pending;
}

/* --- coalesced writes --- */

/* A coalesced packet the kernel refused (no USO on an older kernel): that
 * protocol is no longer coalesced, and this one goes out cut again.
 * Returns the writes that failed. */
static int write_cut(struct wg_tun *tun, const struct wg_gso *gso, const struct iovec *iov, int n)
{
	uint8_t *whole = tun->cut_buf, *seg = tun->cut_buf + 65536;
	struct wg_gso_split s;
	size_t len = 0;
	int failed = 0;

	if (gso->type == WG_GSO_UDP_L4)
		tun->gro->udp = false;
	else
		tun->gro->tcp = false;
	for (int i = 0; i < n && len + iov[i].iov_len <= 65536; i++) {
		memcpy(whole + len, iov[i].iov_base, iov[i].iov_len);
		len += iov[i].iov_len;
	}
	if (wg_gso_split_init(&s, whole, len, gso) < 0)
		return 1;
	while (wg_gso_split_peek(&s)) {
		size_t m = wg_gso_split_next(&s, seg);
		failed += wg_tun_write(tun, seg, m) < 0;
	}
	return failed;
}

struct out_ctx {
	struct wg_tun *tun;
	int cut_failed; /* writes of cut packets that failed */
};

static int gro_out(void *ctx, const struct wg_gso *gso, const struct iovec *iov, int n)
{
	struct out_ctx *c = ctx;
	ssize_t r = wg_tun_write_gso(c->tun, gso, iov, n);

	if (r == -EINVAL && gso->type != WG_GSO_NONE) {
		c->cut_failed += write_cut(c->tun, gso, iov, n);
		return 0;
	}
	return r < 0 ? (int)r : 0;
}

int wg_tun_write_batch(struct wg_tun *tun, struct wg_pkt *pkts, int n)
{
	struct out_ctx c = {tun, 0};
	int failed = 0;

	if (!tun->gro)
		return wg_posix_tun_write_batch(tun, pkts, n);
	for (int i = 0; i < n; i++) {
		if (wg_gro_full(tun->gro))
			failed += wg_gro_flush(tun->gro, gro_out, &c);
		wg_gro_add(tun->gro, pkts[i].data, pkts[i].len);
	}
	return failed + wg_gro_flush(tun->gro, gro_out, &c) + c.cut_failed;
}

void wg_tun_trim(struct wg_tun *tun)
{
	wg_posix_tun_trim(tun);
}
