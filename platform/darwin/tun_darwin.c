/* macOS TUN: a utun interface, created by connecting a kernel control
 * socket (PF_SYSTEM/SYSPROTO_CONTROL) to the utun control; it lives exactly
 * as long as that socket. Packets carry a 4-byte address family header
 * (platform/bsd strips/adds it). utun names are chosen by the kernel:
 * IFACE must be "utunN" (unit N) or "utun" (first free unit; cmd/wgd
 * writes the name chosen to $WG_TUN_NAME_FILE for wg-quick). */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/kern_control.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../bsd/wg_bsd.h"
#include "wgd/constants.h"
#include "wgd/platform/tun.h"

/* From <sys/sys_domain.h> and the private <net/if_utun.h>, which not every
 * SDK (nor zig's macOS headers) ships; the values are ABI. */
#ifndef SYSPROTO_CONTROL
#define SYSPROTO_CONTROL 2
#endif
#ifndef AF_SYS_CONTROL
#define AF_SYS_CONTROL 2
#endif
#define UTUN_CONTROL_NAME "com.apple.net.utun_control"
#define UTUN_OPT_IFNAME	  2
#define UTUN_MAX_UNIT	  65535

static ssize_t map_error(ssize_t err)
{
	if (err == -ENXIO || err == -ENOTCONN)
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

bool wg_os_tun_exists(const struct wg_tun *tun)
{
	return if_nametoindex(tun->name) == tun->ifindex;
}

void wg_os_tun_closed(const struct wg_tun *tun)
{
	(void)tun; /* a utun goes with its control socket */
}

void wg_bsd_tun_claim(const struct wg_tun *tun)
{
	(void)tun; /* the socket is the interface: nothing to record */
}

int wg_os_tun_attach(struct wg_tun *tun)
{
	char name[IF_NAMESIZE] = "";
	socklen_t len = sizeof(name);

	/* Fails on anything but a utun control socket. */
	if (getsockopt(tun->fd, SYSPROTO_CONTROL, UTUN_OPT_IFNAME, name, &len) < 0)
		return errno == ENOTSOCK || errno == ENOPROTOOPT ? -EINVAL : -errno;
	name[sizeof(name) - 1] = '\0';
	snprintf(tun->name, sizeof(tun->name), "%s", name);
	tun->ifindex = if_nametoindex(tun->name);
	return tun->ifindex ? 0 : -ENODEV;
}

/* "utun" -> 0 (any unit), "utunN" -> N + 1 (sc_unit counts from 1). */
static int parse_unit(const char *name, uint32_t *unit)
{
	const char *digits = name + 4;
	char *end;
	unsigned long n;

	if (strncmp(name, "utun", 4))
		return -EINVAL;
	if (!*digits) {
		*unit = 0;
		return 0;
	}
	if (*digits < '0' || *digits > '9')
		return -EINVAL;
	errno = 0;
	n = strtoul(digits, &end, 10);
	if (errno || *end || n > UTUN_MAX_UNIT)
		return -EINVAL;
	*unit = (uint32_t)n + 1;
	return 0;
}

static int connect_utun(int fd, uint32_t unit)
{
	struct ctl_info info;
	struct sockaddr_ctl sc;

	memset(&info, 0, sizeof(info));
	snprintf(info.ctl_name, sizeof(info.ctl_name), "%s", UTUN_CONTROL_NAME);
	if (ioctl(fd, CTLIOCGINFO, &info) < 0)
		return -errno;
	memset(&sc, 0, sizeof(sc));
	sc.sc_len = sizeof(sc);
	sc.sc_family = AF_SYSTEM;
	sc.ss_sysaddr = AF_SYS_CONTROL;
	sc.sc_id = info.ctl_id;
	sc.sc_unit = unit;
	/* EBUSY: that utunN is taken. */
	return connect(fd, (struct sockaddr *)&sc, sizeof(sc)) < 0 ? -errno : 0;
}

static int open_utun(uint32_t unit)
{
	int fd = socket(PF_SYSTEM, SOCK_DGRAM, SYSPROTO_CONTROL);
	int ret;

	if (fd < 0)
		return -errno;
	ret = connect_utun(fd, unit);
	if (ret) {
		close(fd);
		return ret;
	}
	return fd;
}

int wg_tun_create(const char *name, char *name_out, size_t name_out_len, struct wg_tun **out)
{
	struct wg_tun *tun;
	uint32_t unit;
	int fd, ret;

	if (!name || strlen(name) >= IF_NAMESIZE)
		return -ENAMETOOLONG;
	ret = parse_unit(name, &unit);
	if (ret)
		return ret;
	fd = open_utun(unit);
	if (fd < 0)
		return fd;
	ret = wg_tun_from_fd(fd, true, NULL, &tun);
	if (ret)
		return ret;
	ret = wg_posix_set_mtu(tun->name, WG_DEFAULT_MTU);
	if (!ret && name_out &&
	    (size_t)snprintf(name_out, name_out_len, "%s", tun->name) >= name_out_len)
		ret = -ENAMETOOLONG;
	if (ret) {
		wg_tun_close(tun); /* closing the socket removes the utun */
		return ret;
	}
	*out = tun;
	return 0;
}
