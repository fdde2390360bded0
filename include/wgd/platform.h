/* The operating-system boundary, implemented per OS under platform/ and
 * chosen by CMake; nothing in src/ uses an OS #ifdef. TUN packets cross this
 * boundary as bare IP packets: platforms that add a 4-byte family header
 * (macOS utun, FreeBSD TUNSIFHEAD) strip and add it here. */
#ifndef WGD_PLATFORM_H
#define WGD_PLATFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "addr.h"

struct wg_tun;

/* Creates (or attaches to) the TUN interface called name, MTU WG_DEFAULT_MTU,
 * non-blocking. On return name_out (IFNAMSIZ) holds the real name.
 * 0 or -errno. */
int wg_tun_create(const char *name, char *name_out, size_t name_out_len, struct wg_tun **out);
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

/* UDP: one IPv4 and one IPv6 socket bound to the same port, receiving the
 * local destination address of each datagram (sticky source). */
struct wg_udp;

/* port 0 picks a random free port usable by both families. Either family
 * may be missing on a host (no IPv6): it is skipped, not an error, unless
 * both fail. fwmark 0 = none. 0 or -errno. */
int wg_udp_open(uint16_t port, uint32_t fwmark, struct wg_udp **out);
void wg_udp_close(struct wg_udp *udp);
uint16_t wg_udp_port(const struct wg_udp *udp);
/* The descriptors to watch: fds[0] IPv4, fds[1] IPv6, -1 if absent. */
void wg_udp_fds(const struct wg_udp *udp, int fds[2]);
/* Applies a new fwmark to both sockets (SO_MARK on Linux). 0 or -errno;
 * -EOPNOTSUPP for a non-zero mark where the OS has none. */
int wg_udp_set_fwmark(struct wg_udp *udp, uint32_t fwmark);
/* Receives one datagram from fd. from->addr is the sender; from->src/
 * src_ifindex/has_src the local address it arrived on. >=0 length,
 * -EAGAIN when drained, other -errno. */
ssize_t wg_udp_recv(struct wg_udp *udp, int fd, uint8_t *buf, size_t len, struct wg_endpoint *from);
/* Sends from to->src when has_src; if the kernel refuses that source
 * (address gone: EADDRNOTAVAIL/EINVAL/ENETUNREACH) clears has_src and
 * retries once with the kernel's choice. 0 or -errno. */
int wg_udp_send(struct wg_udp *udp, struct wg_endpoint *to, const uint8_t *buf, size_t len);
/* Route changes (Linux): a sticky IPv4 source is kept only while the
 * route to the peer leaves through the interface it was learned on. Watch
 * wg_udp_route_fd (-1: no watch) for reading and call wg_udp_route_update
 * when it is readable. */
int wg_udp_route_fd(const struct wg_udp *udp);
void wg_udp_route_update(struct wg_udp *udp);

/* --- Batched and offloaded data path (optional capabilities) ---
 * Linux implements these with a virtio-net header on the TUN (TSO/USO
 * super-packets from the kernel, coalesced super-packets to it),
 * recvmmsg/sendmmsg, UDP_SEGMENT (GSO) and UDP_GRO. Other systems get
 * portable fallbacks (platform/posix/batch.c): one packet per call, no
 * offloads. The capability queries say what a caller may rely on; the
 * single-packet functions above keep working on every descriptor. */

enum wg_gso_type {
	WG_GSO_NONE = 0,
	WG_GSO_TCP4,
	WG_GSO_TCP6,
	WG_GSO_UDP_L4, /* UDP segmentation, IPv4 or IPv6 */
};

/* How a TUN packet is (to be) segmented and checksummed: the portable form
 * of Linux's struct virtio_net_hdr. */
struct wg_gso {
	uint8_t type;	      /* enum wg_gso_type */
	bool needs_csum;      /* L4 checksum at csum_start + csum_offset is partial */
	bool data_valid;      /* write: checksums need not be verified */
	uint16_t gso_size;    /* L4 payload bytes per segment */
	uint16_t hdr_len;     /* L3 + L4 header bytes (a hint on read) */
	uint16_t csum_start;  /* offset of the L4 header */
	uint16_t csum_offset; /* of the checksum field, from csum_start */
};

#define WG_TUN_OFFLOAD_CSUM (1u << 0) /* partial checksums both ways */
#define WG_TUN_OFFLOAD_TSO  (1u << 1) /* TCP super-packets (TSO4/TSO6) both ways */
#define WG_TUN_OFFLOAD_USO  (1u << 2) /* UDP super-packets both ways */

/* Asks the kernel to hand over (and accept) super-packets and partial
 * checksums; on returns the subset actually enabled (0 = none: plain
 * packets). Offloads need a Linux TUN opened by wg_tun_create. 0 or -errno
 * (-EOPNOTSUPP: no offloads on this descriptor or OS). */
int wg_tun_set_offload(struct wg_tun *tun, bool on, unsigned int *enabled);
/* One packet or super-packet with its offload description (type
 * WG_GSO_NONE and no partial checksum without offloads). Same return
 * values as wg_tun_read. */
ssize_t wg_tun_read_gso(struct wg_tun *tun, uint8_t *buf, size_t len, struct wg_gso *gso);
/* Writes one packet gathered from iov (iovcnt <= WG_TUN_MAX_IOV); gso may
 * describe a super-packet only while the matching offload is enabled.
 * Returns bytes written or -errno (-ENODEV: interface gone). */
#define WG_TUN_MAX_IOV 128
ssize_t wg_tun_write_gso(struct wg_tun *tun, const struct wg_gso *gso, const struct iovec *iov,
			 int iovcnt);

/* A datagram or, with UDP GSO/GRO, a train of datagrams of seg bytes each
 * (the last may be shorter) to or from one address. */
struct wg_udp_msg {
	uint8_t *buf;
	size_t len;		/* recv: capacity in, bytes out; send: bytes */
	size_t seg;		/* 0 or >= len: one datagram */
	struct wg_endpoint ep;	/* recv: sender and local address (as wg_udp_recv) */
	struct wg_endpoint *to; /* send: destination; has_src may be cleared */
	int err;		/* send: 0 or -errno for this message */
};

#define WG_UDP_MMSG (1u << 0) /* several messages per system call */
#define WG_UDP_GSO  (1u << 1) /* send trains (seg < len) in one piece */
#define WG_UDP_GRO  (1u << 2) /* receive trains */

/* What the batch functions do natively on this socket pair. */
unsigned int wg_udp_offloads(const struct wg_udp *udp);
/* Turns UDP_GRO on receive on or off (Linux); 0 or -errno. */
int wg_udp_set_gro(struct wg_udp *udp, bool on);
/* Receives up to n messages from fd (each buffer at least 65535 bytes when
 * GRO is on). Returns the number received (>0), -EAGAIN when drained, or
 * another -errno. */
int wg_udp_recv_batch(struct wg_udp *udp, int fd, struct wg_udp_msg *msgs, int n);
/* Sends n messages, trains split in the kernel (GSO) or here. Returns the
 * number of messages handed to the kernel in full; each msgs[i].err tells
 * how it went. A refused sticky source is handled as in wg_udp_send. */
int wg_udp_send_batch(struct wg_udp *udp, struct wg_udp_msg *msgs, int n);

/* UAPI listener. */
#define WG_UAPI_DIR	 "/var/run/wireguard"
#define WG_UAPI_PATH_MAX 108 /* sizeof(sun_path) on Linux; smaller elsewhere */

/* A listening AF_UNIX socket and the file it is bound to. dev/ino identify
 * that file, so cleanup and the exit watch never touch a socket file that a
 * newer daemon put at the same path. path is "" when there is no file. */
struct wg_uapi_socket {
	int fd; /* non-blocking, close-on-exec */
	char path[WG_UAPI_PATH_MAX];
	dev_t dev;
	ino_t ino;
};

/* Creates dir (0755) if missing and listens on <dir>/<ifname>.sock (0600).
 * A stale socket file (nobody accepting) is replaced; -EADDRINUSE when a
 * live daemon already serves the path; -EEXIST when something that is not
 * a socket sits there. 0 or -errno. */
int wg_uapi_open(const char *dir, const char *ifname, struct wg_uapi_socket *out);
/* Wraps an inherited listening socket (WG_UAPI_FD); its bound path, if any,
 * is found with getsockname. Takes ownership of fd. 0 or -errno (-ENOTSOCK,
 * -EINVAL when fd is not a listening stream socket). */
int wg_uapi_adopt(int fd, struct wg_uapi_socket *out);
/* Closes the descriptor and removes the file if it is still ours. */
void wg_uapi_close(struct wg_uapi_socket *s);

/* Older single-call forms of the above, kept for existing callers:
 * wg_uapi_listen = wg_uapi_open returning fd and path; wg_uapi_unlink
 * removes path if it is a socket nobody is accepting on (call it after
 * closing the fd). */
int wg_uapi_listen(const char *dir, const char *ifname, int *fd_out, char *path_out,
		   size_t path_len);
void wg_uapi_unlink(const char *path);

/* Exit watch: tells the daemon, without polling, that its TUN interface was
 * deleted (Linux: RTM_DELLINK for its ifindex) or that its UAPI socket file
 * was removed or replaced (Linux: inotify), the two ways an operator stops a
 * userspace WireGuard besides a signal. One descriptor to watch for reading;
 * when it is readable call wg_exit_watch_check. */
struct wg_exit_watch;

enum wg_exit_reason {
	WG_EXIT_NONE = 0,
	WG_EXIT_TUN_GONE,
	WG_EXIT_SOCKET_GONE,
};

/* tun NULL or a socketpair: no interface watch; otherwise tun must outlive
 * the watch (close the watch before destroying the device). sock NULL or
 * without a path: no file watch. -ENODEV / -ENOENT if the interface / file is already gone.
 * 0 or -errno. */
int wg_exit_watch_open(const struct wg_tun *tun, const struct wg_uapi_socket *sock,
		       struct wg_exit_watch **out);
int wg_exit_watch_fd(const struct wg_exit_watch *w);
/* Drains pending notifications; WG_EXIT_NONE if nothing that matters. */
enum wg_exit_reason wg_exit_watch_check(struct wg_exit_watch *w);
void wg_exit_watch_close(struct wg_exit_watch *w);

/* Privilege reduction, once the TUN is open and the UAPI socket listens,
 * and before any other thread starts: capabilities and no_new_privs are
 * per thread on Linux (wg_privs_drop refuses with -EBUSY when the process
 * has more than one). Linux: the effective and permitted sets keep only
 * CAP_NET_ADMIN (SO_MARK for a new fwmark or a re-bound socket, forced
 * socket buffers) and CAP_NET_BIND_SERVICE (a listen port below 1024); the
 * inheritable, ambient and bounding sets lose everything else; then
 * no_new_privs and not dumpable (no core file or same-uid ptrace reaching
 * keys). Other systems: the uid/gid switch only. A switch moves every uid
 * and gid for good (saved ids too) and leaves the new gid as the only
 * supplementary group; it is verified, including that root cannot be
 * regained. */
struct wg_privs {
	bool set_uid, set_gid;
	uid_t uid;
	gid_t gid;
};

/* The account database as resolution sees it (the system's: NSS; the
 * unit tests': a table). Each returns 0, -ENOENT when there is no such
 * entry, or another -errno when the lookup itself failed. */
struct wg_id_db {
	int (*user_by_name)(const char *name, uid_t *uid, gid_t *gid);
	int (*user_by_id)(uid_t uid, gid_t *gid);
	int (*group_by_name)(const char *name, gid_t *gid);
};

/* user: a name or an all-digit uid, NULL = keep the uid; group likewise,
 * NULL = the user's primary group from its passwd entry (or keep the gid
 * without a user). A uid without a passwd entry has no primary group and
 * is refused unless group is given. 0, or -errno with *why a short
 * phrase saying what is wrong (naming user, uid, group or gid): -ENOENT
 * (unknown name), -EINVAL (malformed or out-of-range number), -ESRCH (uid
 * without an entry and no group), another -errno (a lookup failed). A
 * result with set_uid always has set_gid. */
int wg_privs_resolve_db(const struct wg_id_db *db, const char *user, const char *group,
			struct wg_privs *out, const char **why);
/* The same against the system's database. */
int wg_privs_resolve(const char *user, const char *group, struct wg_privs *out, const char **why);
/* Drops and verifies. 0 or -errno (-EPERM: some privilege survived); the
 * caller must exit on failure, the process is then half-reduced. */
int wg_privs_drop(const struct wg_privs *p);

/* --- memory --- */

/* Hands free heap memory back to the system after many peers went (the C
 * library keeps it otherwise: 59 MB stayed after 100,000 peers became
 * 5,000). A no-op where the C library offers no way. */
void wg_release_free_memory(void);
/* Key memory is locked (secret.h); once CAP_IPC_LOCK is gone only
 * RLIMIT_MEMLOCK allows that. Lifts the limit to unlimited (needs
 * CAP_SYS_RESOURCE unless the hard limit already is), else the soft limit
 * to the hard one. 0 when unlimited, else -errno of the failed lift with
 * *bytes the soft limit that remains (0 if unknown). Before
 * wg_privs_drop. */
int wg_memlock_raise(uint64_t *bytes);

#endif
