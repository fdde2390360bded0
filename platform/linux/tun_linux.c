/* Linux TUN: /dev/net/tun with IFF_TUN | IFF_NO_PI, so reads and writes
 * carry bare IP packets. The interface is left down: bringing it up and
 * addressing it is the operator's (or wg-quick's) job. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "wg_posix.h"
#include "wgd/constants.h"
#include "wgd/platform.h"

#define CLONE_DEVICE "/dev/net/tun"

/* The kernel detaches the file from a deleted interface and then answers
 * every read and write with EBADFD. */
static ssize_t map_error(int err)
{
	if (err == EBADFD)
		return -ENODEV;
	return err == EWOULDBLOCK ? -EAGAIN : -err;
}

ssize_t wg_os_tun_read(struct wg_tun *tun, uint8_t *buf, size_t len)
{
	ssize_t n = read(tun->fd, buf, len);

	return n < 0 ? map_error(errno) : n;
}

ssize_t wg_os_tun_write(struct wg_tun *tun, const uint8_t *pkt, size_t len)
{
	ssize_t n = write(tun->fd, pkt, len);

	return n < 0 ? map_error(errno) : n;
}

/* Deletion detaches the file (EBADFD); a move to another namespace does
 * not, and the TUN keeps working there. */
bool wg_os_tun_exists(const struct wg_tun *tun)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	return ioctl(tun->fd, TUNGETIFF, &ifr) == 0 || errno != EBADFD;
}

int wg_os_tun_attach(struct wg_tun *tun)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	if (ioctl(tun->fd, TUNGETIFF, &ifr) < 0)
		return errno == EBADFD ? -ENODEV : -errno;
	/* A TAP, or packets with a header (PI, virtio) we do not strip. */
	if ((ifr.ifr_flags & (IFF_TUN | IFF_TAP | IFF_NO_PI | IFF_VNET_HDR)) !=
	    (IFF_TUN | IFF_NO_PI))
		return -EINVAL;
	snprintf(tun->name, sizeof(tun->name), "%s", ifr.ifr_name);
	tun->ifindex = if_nametoindex(tun->name);
	return tun->ifindex ? 0 : -ENODEV;
}

static int open_clone(const char *name, int *fd_out)
{
	struct ifreq ifr;
	int fd = open(CLONE_DEVICE, O_RDWR | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	*fd_out = fd;
	return 0;
}

int wg_tun_create(const char *name, char *name_out, size_t name_out_len, struct wg_tun **out)
{
	struct wg_tun *tun;
	int fd = -1, ret;

	if (!name || strlen(name) >= IF_NAMESIZE)
		return -ENAMETOOLONG;
	ret = open_clone(name, &fd);
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
