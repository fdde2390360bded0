/* Private to platform/: code shared by FreeBSD and macOS (platform/bsd),
 * on top of platform/posix. Both put a 4-byte address family header in
 * front of every TUN packet, watch interfaces through a PF_ROUTE socket and
 * files through kqueue. */
#ifndef WGD_PLATFORM_BSD_H
#define WGD_PLATFORM_BSD_H

#include <stdint.h>
#include <sys/types.h>

#include "wg_posix.h"

/* One packet from/to a TUN descriptor that carries the family header
 * (AF_INET/AF_INET6, 32-bit big-endian), which is stripped/added here:
 * callers see bare IP packets. Raw -errno from the syscall (the OS file
 * maps the "interface gone" errors); -EIO for a read shorter than the
 * header, -EINVAL for a write that is not IPv4 or IPv6. */
ssize_t wg_bsd_tun_read(int fd, uint8_t *buf, size_t len);
ssize_t wg_bsd_tun_write(int fd, const uint8_t *pkt, size_t len);

/* --- OS hooks, defined by platform/freebsd and platform/darwin --- */
/* Called by the exit watch, which is opened in the process that serves
 * the interface (after daemonizing): FreeBSD records that process as the
 * TUN's owner. */
void wg_bsd_tun_claim(const struct wg_tun *tun);

#endif
