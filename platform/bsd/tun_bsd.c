/* TUN hooks that FreeBSD and macOS answer alike: the device's MTU by its
 * name (the interface stays in this process's view), and none of Linux's
 * extras, so ICMP errors go into the TUN and padding stops at the device
 * MTU. */
#include <errno.h>

#include "wg_bsd.h"
#include "wgd/platform/tun.h"

int wg_tun_unnat_source(struct wg_tun *tun, int family, const uint8_t *pkt, size_t len,
			uint8_t src[16])
{
	(void)tun, (void)family, (void)pkt, (void)len, (void)src;
	return -EOPNOTSUPP;
}

int wg_tun_send_icmp(struct wg_tun *tun, const uint8_t *ip, size_t len)
{
	(void)tun, (void)ip, (void)len;
	return -EOPNOTSUPP;
}

int wg_tun_route_mtu(struct wg_tun *tun, int family, const uint8_t *dst, uint64_t now_ns)
{
	(void)tun, (void)family, (void)dst, (void)now_ns;
	return 0;
}

int wg_os_tun_mtu(struct wg_tun *tun)
{
	return wg_posix_tun_mtu(tun->name);
}
