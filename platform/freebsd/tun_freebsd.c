/* FreeBSD TUN: tun(4) cloned through /dev/tun, renamed to the requested
 * name (SIOCSIFNAME) and put in TUNSIFHEAD mode, where every packet carries
 * a 4-byte address family header (platform/bsd strips/adds it); without it
 * tun(4) passes IPv4 only. The interface is left down, as on Linux.
 *
 * A cloned tun(4) outlives its descriptor, and wg-quick waits for the
 * interface to disappear when the daemon stops: an interface this process
 * created is destroyed (SIOCIFDESTROY) when its TUN is closed
 * (wg_os_tun_closed). The parent of a daemonizing wgd leaves through _exit
 * and closes nothing, so the child's interface stays. */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <net/if_tun.h>
#include <netinet/in.h>
#include <netinet6/in6_var.h>
#include <netinet6/nd6.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../bsd/wg_bsd.h"
#include "wgd/constants.h"
#include "wgd/platform/tun.h"

#define CLONE_DEVICE "/dev/tun"

/* A destroyed interface takes its /dev/tunN node with it: the descriptor
 * then answers ENXIO. */
static ssize_t map_error(ssize_t err)
{
	if (err == -ENXIO || err == -EBADF)
		return -ENODEV;
	return err == -EWOULDBLOCK ? -EAGAIN : err;
}

ssize_t wg_os_tun_read(struct wg_tun *tun, uint8_t *buf, size_t len)
{
	return map_error(wg_bsd_tun_read(tun->fd, buf, len));
}

ssize_t wg_os_tun_write(struct wg_tun *tun, const uint8_t *pkt, size_t len)
{
	return map_error(wg_bsd_tun_write(tun->fd, pkt, len));
}

/* Asks the device node, not the interface list: an interface moved into
 * a vnet jail leaves this list but keeps working. */
bool wg_os_tun_exists(const struct wg_tun *tun)
{
	int head;

	return ioctl(tun->fd, TUNGIFHEAD, &head) == 0 || errno != ENXIO;
}

void wg_bsd_tun_claim(const struct wg_tun *tun)
{
	/* Only shown by ifconfig and in the kernel's close-time check. */
	(void)ioctl(tun->fd, TUNSIFPID, 0);
}

int wg_os_tun_attach(struct wg_tun *tun)
{
	struct ifreq ifr;
	int on = 1;

	memset(&ifr, 0, sizeof(ifr));
	/* ENOTTY: not a tun(4) (a tap, a file, a socket). */
	if (ioctl(tun->fd, TUNGIFNAME, &ifr) < 0)
		return errno == ENOTTY ? -EINVAL : map_error(-errno);
	if (ioctl(tun->fd, TUNSIFHEAD, &on) < 0)
		return map_error(-errno);
	snprintf(tun->name, sizeof(tun->name), "%s", ifr.ifr_name);
	tun->ifindex = if_nametoindex(tun->name);
	return tun->ifindex ? 0 : -ENODEV;
}

static int ifreq_ioctl(int family, unsigned long req, void *arg)
{
	int fd = socket(family, SOCK_DGRAM, 0);
	int ret = 0;

	if (fd < 0)
		return -errno;
	if (ioctl(fd, req, arg) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

static int destroy_if(const char *name)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	return ifreq_ioctl(AF_INET, SIOCIFDESTROY, &ifr);
}

/* Destroys the interface this process created, if it still has the same
 * name and index: never an interface that merely reuses either. */
void wg_os_tun_closed(const struct wg_tun *tun)
{
	char name[IF_NAMESIZE];

	if (tun->created && if_indextoname(tun->ifindex, name) && !strcmp(name, tun->name))
		(void)destroy_if(name);
}

/* No IPv6 link-local address and no DAD on the tunnel (as wireguard-go):
 * WireGuard does not use them, and the kernel races attaching them with
 * the interface's short life. Best effort: IPv6 may be absent. */
static void quiet_ipv6(const char *name)
{
	struct in6_ndireq nd;

	memset(&nd, 0, sizeof(nd));
	snprintf(nd.ifname, sizeof(nd.ifname), "%s", name);
	if (ifreq_ioctl(AF_INET6, SIOCGIFINFO_IN6, &nd))
		return;
	nd.ndi.flags &= ~(uint32_t)ND6_IFF_AUTO_LINKLOCAL;
	nd.ndi.flags |= ND6_IFF_NO_DAD;
	(void)ifreq_ioctl(AF_INET6, SIOCSIFINFO_IN6, &nd);
}

static int rename_if(struct wg_tun *tun, const char *name)
{
	char newname[IF_NAMESIZE];
	struct ifreq ifr;
	int ret;

	if (!strcmp(tun->name, name))
		return 0;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(newname, sizeof(newname), "%s", name);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", tun->name);
	ifr.ifr_data = newname;
	ret = ifreq_ioctl(AF_INET, SIOCSIFNAME, &ifr);
	if (!ret)
		snprintf(tun->name, sizeof(tun->name), "%s", newname);
	return ret;
}

static int setup(struct wg_tun *tun, const char *name)
{
	int ret;

	quiet_ipv6(tun->name);
	ret = rename_if(tun, name);
	if (!ret)
		ret = wg_posix_set_mtu(tun->name, WG_DEFAULT_MTU);
	return ret;
}

int wg_tun_create(const char *name, char *name_out, size_t name_out_len, struct wg_tun **out)
{
	struct wg_tun *tun;
	int fd, ret;

	if (!name || !*name || strlen(name) >= IF_NAMESIZE)
		return -ENAMETOOLONG;
	/* A leftover interface (a daemon killed with SIGKILL) is not ours to
	 * take over: `ifconfig NAME destroy` first. */
	if (if_nametoindex(name))
		return -EEXIST;
	fd = open(CLONE_DEVICE, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = wg_tun_from_fd(fd, true, NULL, &tun);
	if (ret)
		return ret;
	ret = setup(tun, name);
	if (!ret && name_out &&
	    (size_t)snprintf(name_out, name_out_len, "%s", tun->name) >= name_out_len)
		ret = -ENAMETOOLONG;
	if (ret) {
		char gone[IF_NAMESIZE];
		snprintf(gone, sizeof(gone), "%s", tun->name);
		wg_tun_close(tun);
		(void)destroy_if(gone);
		return ret;
	}
	tun->created = true;
	*out = tun;
	return 0;
}
