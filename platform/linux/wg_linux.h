/* Private to platform/linux: the virtio-net header that rides in front of
 * every TUN packet once IFF_VNET_HDR is set. */
#ifndef WGD_PLATFORM_LINUX_H
#define WGD_PLATFORM_LINUX_H

#include <stddef.h>
#include <sys/types.h>
#include <linux/netlink.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "wg_posix.h"
#include "wgd/platform/batch.h"
#include "wgd/platform/tun.h"

/* Reads one packet (or super-packet) into buf, its header into *gso.
 * -errno as wg_os_tun_read. */
ssize_t wg_linux_tun_readv(struct wg_tun *tun, uint8_t *buf, size_t len, struct wg_gso *gso);
/* Writes gso's header then iov. -errno as wg_os_tun_write. */
ssize_t wg_linux_tun_writev(struct wg_tun *tun, const struct wg_gso *gso, const struct iovec *iov,
			    int iovcnt);
/* Maps a TUN errno: EBADFD (interface deleted) -> -ENODEV. */
ssize_t wg_linux_tun_error(int err);

/* Netlink requests (tun_netns.c): a request of up to 256 body bytes,
 * built with init and put (one attribute), sent with talk, which hands
 * each reply to cb until the answer is complete (one message, or
 * NLMSG_DONE for a dump): 0 or -errno (a netlink error, or cb's first
 * negative return). open: a blocking socket of protocol with a 1 s receive
 * timeout, or -errno. */
struct wg_nl_req {
	struct nlmsghdr h;
	uint8_t body[256];
};
int wg_linux_nl_open(int protocol);
void wg_linux_nl_init(struct wg_nl_req *req, uint16_t type, uint16_t flags, size_t hdr);
void wg_linux_nl_put(struct wg_nl_req *req, uint16_t type, const void *data, size_t len);
int wg_linux_nl_talk(int fd, struct wg_nl_req *req, int (*cb)(const struct nlmsghdr *, void *),
		     void *ctx);
/* The TUN's device is in another network namespace than the daemon. */
bool wg_linux_tun_foreign(const struct wg_tun *tun);
/* Opens the raw ICMP sockets of tun_icmp.c while privileges allow
 * (CAP_NET_RAW); without them ICMP errors go into the TUN. */
void wg_linux_icmp_open(void);

#endif
