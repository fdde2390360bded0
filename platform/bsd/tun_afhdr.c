/* TUN packets with the BSD address family header (FreeBSD TUNSIFHEAD mode,
 * macOS utun): readv/writev split it off, so the caller's buffer holds the
 * bare IP packet without a copy. */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/uio.h>

#include "wg_bsd.h"

#define AF_HEADER_LEN 4

ssize_t wg_bsd_tun_read(int fd, uint8_t *buf, size_t len)
{
	uint32_t af;
	struct iovec iov[2] = {
		{.iov_base = &af, .iov_len = sizeof(af)},
		{.iov_base = buf, .iov_len = len},
	};
	ssize_t n = readv(fd, iov, 2);

	if (n < 0)
		return -errno;
	if (n < AF_HEADER_LEN)
		return -EIO;
	return n - AF_HEADER_LEN;
}

ssize_t wg_bsd_tun_write(int fd, const uint8_t *pkt, size_t len)
{
	uint32_t af;
	struct iovec iov[2] = {
		{.iov_base = &af, .iov_len = sizeof(af)},
		{.iov_base = (void *)pkt, .iov_len = len},
	};
	ssize_t n;

	if (len == 0)
		return -EINVAL;
	switch (pkt[0] >> 4) {
	case 4:
		af = htonl(AF_INET);
		break;
	case 6:
		af = htonl(AF_INET6);
		break;
	default:
		return -EINVAL;
	}
	n = writev(fd, iov, 2);
	if (n < 0)
		return -errno;
	return n < AF_HEADER_LEN ? -EIO : n - AF_HEADER_LEN;
}
