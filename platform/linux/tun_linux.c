/* Linux TUN: /dev/net/tun with IFF_TUN | IFF_NO_PI | IFF_VNET_HDR: bare IP
 * packets behind a virtio-net header, which carries the offload state
 * (tun_offload.c); the single-packet hooks add and strip a plain one.
 * Without IFF_VNET_HDR (wg_tun_create_plain, the portable data path) bare
 * packets only. The
 * interface is left down: bringing it up and addressing it is the
 * operator's (or wg-quick's) job. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "wg_linux.h"
#include "wg_posix.h"
#include "wgd/constants.h"
#include "wgd/platform/batch.h"
#include "wgd/platform/tun.h"

#define CLONE_DEVICE "/dev/net/tun"

ssize_t wg_os_tun_read(struct wg_tun *tun, uint8_t *buf, size_t len)
{
	struct wg_gso gso;
	ssize_t n;

	if (!tun->vnet_hdr_len) {
		n = read(tun->fd, buf, len);
		return n < 0 ? wg_linux_tun_error(errno) : n;
	}
	/* With offloads on, single packets are not what the caller gets:
	 * wg_tun_read_batch is the reader then. */
	n = wg_linux_tun_readv(tun, buf, len, &gso);
	if (n >= 0 && (gso.type != WG_GSO_NONE || gso.needs_csum))
		return -EPROTO;
	return n;
}

ssize_t wg_os_tun_write(struct wg_tun *tun, const uint8_t *pkt, size_t len)
{
	static const struct wg_gso plain;
	struct iovec iov = {.iov_base = (void *)pkt, .iov_len = len};
	ssize_t n;

	if (tun->vnet_hdr_len)
		return wg_linux_tun_writev(tun, &plain, &iov, 1);
	n = write(tun->fd, pkt, len);
	return n < 0 ? wg_linux_tun_error(errno) : n;
}

/* Deletion detaches the file (EBADFD); a move to another namespace does
 * not, and the TUN keeps working there. */
bool wg_os_tun_exists(const struct wg_tun *tun)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	return ioctl(tun->fd, TUNGETIFF, &ifr) == 0 || errno != EBADFD;
}

void wg_os_tun_closed(const struct wg_tun *tun)
{
	(void)tun; /* a non-persistent TUN goes with its last descriptor */
}

int wg_os_tun_attach(struct wg_tun *tun)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	if (ioctl(tun->fd, TUNGETIFF, &ifr) < 0)
		return errno == EBADFD ? -ENODEV : -errno;
	/* A TAP, or packets with a PI header we do not strip; a virtio-net
	 * header we handle (our own TUNs have one, for offloads). */
	if ((ifr.ifr_flags & (IFF_TUN | IFF_TAP | IFF_NO_PI)) != (IFF_TUN | IFF_NO_PI))
		return -EINVAL;
	if (ifr.ifr_flags & IFF_VNET_HDR) {
		int sz = 0;
		if (ioctl(tun->fd, TUNGETVNETHDRSZ, &sz) < 0 ||
		    sz < (int)sizeof(struct virtio_net_hdr))
			return -EINVAL;
		tun->vnet_hdr_len = (uint16_t)sz;
	}
	snprintf(tun->name, sizeof(tun->name), "%s", ifr.ifr_name);
	wg_linux_icmp_open(); /* at start, while CAP_NET_RAW is ours */
	tun->ifindex = if_nametoindex(tun->name);
	return tun->ifindex ? 0 : -ENODEV;
}

static int open_clone(const char *name, bool vnet, int *fd_out)
{
	struct ifreq ifr;
	int fd = open(CLONE_DEVICE, O_RDWR | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (vnet ? IFF_VNET_HDR : 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	*fd_out = fd;
	return 0;
}

static int create(const char *name, bool vnet, char *name_out, size_t name_out_len,
		  struct wg_tun **out)
{
	struct wg_tun *tun;
	int fd = -1, ret;

	if (!name || strlen(name) >= IF_NAMESIZE)
		return -ENAMETOOLONG;
	ret = open_clone(name, vnet, &fd);
	if (ret)
		return ret;
	ret = wg_tun_from_fd(fd, true, name, &tun);
	if (ret)
		return ret;
	ret = wg_posix_set_mtu(tun->name, WG_DEFAULT_MTU);
	if (!ret && name_out &&
	    (size_t)snprintf(name_out, name_out_len, "%s", tun->name) >= name_out_len)
		ret = -ENAMETOOLONG;
	if (ret) {
		wg_tun_close(tun);
		return ret;
	}
	*out = tun;
	return 0;
}

int wg_tun_create(const char *name, char *name_out, size_t name_out_len, struct wg_tun **out)
{
	return create(name, true, name_out, name_out_len, out);
}

int wg_tun_create_plain(const char *name, char *name_out, size_t name_out_len, struct wg_tun **out)
{
	return create(name, false, name_out, name_out_len, out);
}
