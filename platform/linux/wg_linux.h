/* Private to platform/linux: the virtio-net header that rides in front of
 * every TUN packet once IFF_VNET_HDR is set. */
#ifndef WGD_PLATFORM_LINUX_H
#define WGD_PLATFORM_LINUX_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "wg_posix.h"
#include "wgd/platform.h"

/* Reads one packet (or super-packet) into buf, its header into *gso.
 * -errno as wg_os_tun_read. */
ssize_t wg_linux_tun_readv(struct wg_tun *tun, uint8_t *buf, size_t len, struct wg_gso *gso);
/* Writes gso's header then iov. -errno as wg_os_tun_write. */
ssize_t wg_linux_tun_writev(struct wg_tun *tun, const struct wg_gso *gso, const struct iovec *iov,
			    int iovcnt);
/* Maps a TUN errno: EBADFD (interface deleted) -> -ENODEV. */
ssize_t wg_linux_tun_error(int err);

#endif
