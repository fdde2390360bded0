/* The OS-independent half of the TUN device: wrapping a descriptor, the
 * socketpair stand-in used by tests, and the interface ioctls every POSIX
 * system shares (SIOCGIFMTU/SIOCSIFMTU). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "wg_posix.h"
#include "wgd/constants.h"
#include "wgd/platform/tun.h"

int wg_posix_set_nonblock_cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return -errno;
	return 0;
}

int wg_posix_ctl_socket(void)
{
	/* Any family reaches the interface ioctls; try IPv6 for hosts
	 * built without IPv4, and AF_UNIX as the last resort. */
	static const int families[] = {AF_INET, AF_INET6, AF_UNIX};
	int err = -EAFNOSUPPORT;

	for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
		int fd = socket(families[i], SOCK_DGRAM, 0);
		if (fd >= 0)
			return fd;
		err = -errno;
	}
	return err;
}

static int ifreq_ioctl(const char *ifname, unsigned long req, struct ifreq *ifr)
{
	int fd = wg_posix_ctl_socket();
	int ret = 0;

	if (fd < 0)
		return fd;
	snprintf(ifr->ifr_name, sizeof(ifr->ifr_name), "%s", ifname);
	if (ioctl(fd, req, ifr) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

int wg_posix_set_mtu(const char *ifname, int mtu)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_mtu = mtu;
	return ifreq_ioctl(ifname, SIOCSIFMTU, &ifr);
}

int wg_tun_from_fd(int fd, bool is_tun, const char *name, struct wg_tun **out)
{
	struct wg_tun *tun = calloc(1, sizeof(*tun));
	int ret;

	if (!tun) {
		close(fd);
		return -ENOMEM;
	}
	tun->fd = fd;
	tun->is_tun = is_tun;
	snprintf(tun->name, sizeof(tun->name), "%s", name ? name : "");
	ret = wg_posix_set_nonblock_cloexec(fd);
	if (!ret && is_tun)
		ret = wg_os_tun_attach(tun);
	if (ret) {
		wg_tun_close(tun);
		return ret;
	}
	*out = tun;
	return 0;
}

void wg_tun_close(struct wg_tun *tun)
{
	if (!tun)
		return;
	if (tun->fd >= 0)
		close(tun->fd);
	if (tun->is_tun)
		wg_os_tun_closed(tun);
	wg_posix_tun_gro_close(tun);
	free(tun);
}

int wg_tun_fd(const struct wg_tun *tun)
{
	return tun->fd;
}

const char *wg_tun_name(const struct wg_tun *tun)
{
	return tun->name;
}

unsigned int wg_tun_ifindex(const struct wg_tun *tun)
{
	return tun->ifindex;
}

/* A socketpair end: one datagram per packet; EOF means the other end (the
 * test's "interface") is gone. */
static ssize_t pair_read(struct wg_tun *tun, uint8_t *buf, size_t len)
{
	ssize_t n = read(tun->fd, buf, len);

	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return n == 0 ? -ENODEV : n;
}

ssize_t wg_tun_read(struct wg_tun *tun, uint8_t *buf, size_t len)
{
	return wg_posix_read_len(
		tun->is_tun ? wg_os_tun_read(tun, buf, len) : pair_read(tun, buf, len), len);
}

ssize_t wg_tun_write(struct wg_tun *tun, const uint8_t *pkt, size_t len)
{
	ssize_t n;

	if (tun->is_tun)
		return wg_os_tun_write(tun, pkt, len);
	n = send(tun->fd, pkt, len, MSG_NOSIGNAL);
	if (n < 0)
		return errno == EPIPE || errno == ECONNRESET ? -ENODEV : -errno;
	return n;
}

int wg_posix_tun_mtu(const char *ifname)
{
	struct ifreq ifr;
	int ret;

	memset(&ifr, 0, sizeof(ifr));
	ret = ifreq_ioctl(ifname, SIOCGIFMTU, &ifr);
	return ret ? ret : ifr.ifr_mtu;
}

int wg_tun_mtu(struct wg_tun *tun)
{
	return tun->is_tun ? wg_os_tun_mtu(tun) : WG_DEFAULT_MTU;
}

bool wg_tun_exists(const struct wg_tun *tun)
{
	return tun->is_tun ? wg_os_tun_exists(tun) : true;
}
