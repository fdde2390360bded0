/* The TUN interface, part of the operating-system boundary (implemented per
 * OS under platform/ and chosen by CMake; nothing in src/ uses an OS
 * #ifdef). Packets cross this boundary as bare IP packets: platforms that
 * add a 4-byte family header (macOS utun, FreeBSD TUNSIFHEAD) strip and add
 * it here. Batched and offloaded forms: wgd/platform/batch.h. */
#ifndef WGD_PLATFORM_TUN_H
#define WGD_PLATFORM_TUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct wg_tun;

/* Creates (or attaches to) the TUN interface called name, MTU WG_DEFAULT_MTU,
 * non-blocking. On return name_out (IFNAMSIZ) holds the real name.
 * 0 or -errno. */
int wg_tun_create(const char *name, char *name_out, size_t name_out_len, struct wg_tun **out);
/* The same for the portable data path: bare packets with no offload
 * header at all (Linux: no virtio-net header, so no offloads), as FreeBSD
 * and macOS TUNs always are. */
int wg_tun_create_plain(const char *name, char *name_out, size_t name_out_len, struct wg_tun **out);
/* Wraps an already open descriptor: an inherited TUN (WG_TUN_FD) or, in
 * tests, one end of a socketpair carrying bare IP packets (is_tun false:
 * no ioctls, no header). Takes ownership of fd. */
int wg_tun_from_fd(int fd, bool is_tun, const char *name, struct wg_tun **out);
void wg_tun_close(struct wg_tun *tun);
int wg_tun_fd(const struct wg_tun *tun);
const char *wg_tun_name(const struct wg_tun *tun);
/* Interface index, 0 for a socketpair. */
unsigned int wg_tun_ifindex(const struct wg_tun *tun);
/* One IP packet. >0 length, -EAGAIN when drained, other -errno on error;
 * -ENODEV once the interface has been deleted (for a socketpair: once the
 * other end is closed). */
ssize_t wg_tun_read(struct wg_tun *tun, uint8_t *buf, size_t len);
ssize_t wg_tun_write(struct wg_tun *tun, const uint8_t *pkt, size_t len);
/* Current MTU of the interface (WG_DEFAULT_MTU for a socketpair). */
int wg_tun_mtu(struct wg_tun *tun);
/* True while the interface still exists, here or in another network
 * namespace it was moved to (always true for a socketpair). */
bool wg_tun_exists(const struct wg_tun *tun);
/* ICMP errors sent as the host's own packets, as the kernel's WireGuard
 * does (Linux, TUN in the daemon's namespace, raw sockets opened at
 * start; -EOPNOTSUPP elsewhere: write the error into the TUN instead).
 * unnat_source: the source address (4 or 16 bytes) pkt had before this
 * host source-NATed it, from conntrack; -ENOENT when it was not. send_icmp:
 * sends the ICMP message of ip (a whole packet) to ip's destination,
 * routing choosing the source. 0 or -errno. */
int wg_tun_unnat_source(struct wg_tun *tun, int family, const uint8_t *pkt, size_t len,
			uint8_t src[16]);
int wg_tun_send_icmp(struct wg_tun *tun, const uint8_t *ip, size_t len);
/* The MTU of the route to dst (4 or 16 bytes) where the TUN's routes can
 * be read (Linux: the daemon's namespace), 0 when there is none or it is
 * unknown: pad to the device MTU then. Answers may be a second old. */
int wg_tun_route_mtu(struct wg_tun *tun, int family, const uint8_t *dst, uint64_t now_ns);

#endif
