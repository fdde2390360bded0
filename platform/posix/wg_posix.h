/* Private to platform/: what the shared POSIX code (platform/posix) needs
 * from each OS directory (platform/<os>), and the helpers it offers them.
 * Every function declared under "OS hooks" is defined once per OS. */
#ifndef WGD_PLATFORM_POSIX_H
#define WGD_PLATFORM_POSIX_H

#include <errno.h>
#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "offload.h"
#include "wgd/addr.h"
#include "wgd/platform/udp.h"

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0 /* macOS: SIGPIPE is ignored by the daemon anyway */
#endif

/* CMSG_NXTHDR, out of line of the callers: musl's macro compares a size_t
 * with a ptrdiff_t, which clang reports in the caller under -Wsign-compare. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-compare"
static inline struct cmsghdr *wg_cmsg_next(struct msghdr *m, struct cmsghdr *c)
{
	return CMSG_NXTHDR(m, c);
}
#pragma GCC diagnostic pop

struct wg_tun {
	int fd;
	bool is_tun;	      /* false: a socketpair carrying bare packets (tests) */
	unsigned int ifindex; /* 0 for a socketpair */
	char name[IF_NAMESIZE];
	/* Linux: bytes of virtio-net header in front of every packet (0 =
	 * none) and the WG_TUN_OFFLOAD_* enabled; other systems leave 0. */
	uint16_t vnet_hdr_len;
	unsigned int offload;
	bool created; /* made by wg_tun_create in this process */
	/* Linux with TSO/USO: the coalescing table of wg_tun_write_batch and
	 * room to cut a refused super-packet again (mapped, NULL = none). */
	struct wg_gro *gro;
	uint8_t *cut_buf;
	/* Linux with TSO/USO: a super-packet read whole (rd_buf, mapped),
	 * handed over cut, maybe over several wg_tun_read_batch calls. */
	uint8_t *rd_buf;
	struct wg_gso rd_gso;
	struct wg_gso_split rd_split;
	bool rd_pending;
};

/* The UDP socket pair of wgd/platform/udp.h (posix/udp.c; the Linux batch code in
 * linux/udp_batch.c reads it too). */
struct wg_udp {
	int fd[2]; /* [0] IPv4, [1] IPv6; -1 when the family is absent */
	uint16_t port;
	uint32_t fwmark;
	unsigned int offload;	       /* WG_UDP_* usable now (GSO is dropped after EIO) */
	bool portable;		       /* batches through the posix fallbacks (batch.c) */
	struct wg_route_watch *routes; /* NULL where the OS has none */
	struct wg_addr_pair bind;      /* bound addresses; unset: wildcards */
	bool shared;		       /* SO_REUSEADDR on: see wg_udp_set_shared */
	/* ICMP errors taken off the sockets, not yet taken by the engine: a
	 * ring of icmp_n entries from icmp_head (wg_udp_take_icmp). */
	struct wg_udp_icmp icmp[WG_UDP_ICMP_QUEUE];
	unsigned int icmp_head, icmp_n;
	uint64_t icmp_dropped;
};

/* Room for one IPv4 or IPv6 packet-info control message, aligned. */
union wg_cmsg_buf {
	struct cmsghdr align;
	uint8_t buf[64];
};

/* --- helpers in platform/posix --- */
/* A read's result as the caller may use it: the OS, or a descriptor of
 * another kind inherited through WG_TUN_FD, is not trusted to have stayed
 * inside the buffer. */
static inline ssize_t wg_posix_read_len(ssize_t n, size_t len)
{
	return n > 0 && (size_t)n > len ? -EMSGSIZE : n;
}

int wg_posix_set_nonblock_cloexec(int fd);
/* A throwaway datagram socket for interface ioctls. fd or -errno. */
int wg_posix_ctl_socket(void);
int wg_posix_set_mtu(const char *ifname, int mtu);
/* SIOCGIFMTU by name in our own namespace: the MTU or -errno. */
int wg_posix_tun_mtu(const char *ifname);

/* One packet or super-packet read or written with its offload
 * description (offload.h): Linux's virtio-net header, decoded; type
 * WG_GSO_NONE and no partial checksum without offloads (then one plain
 * read). Same return values as wg_tun_read. Other systems and plain TUNs:
 * the portable forms below. */
ssize_t wg_tun_read_gso(struct wg_tun *tun, uint8_t *buf, size_t len, struct wg_gso *gso);
/* Writes one packet gathered from iov (iovcnt <= WG_TUN_MAX_IOV); gso may
 * describe a super-packet only while the matching offload is enabled.
 * Returns bytes written or -errno (-ENODEV: interface gone). */
#define WG_TUN_MAX_IOV 128
ssize_t wg_tun_write_gso(struct wg_tun *tun, const struct wg_gso *gso, const struct iovec *iov,
			 int iovcnt);

/* The portable batch functions (batch.c): one packet per system call, no
 * offloads. Every OS's batch API falls back to them. */
struct wg_pkt;
struct wg_udp_msg;
struct iovec;
int wg_posix_tun_set_offload(struct wg_tun *tun, bool on, unsigned int *enabled);
ssize_t wg_posix_tun_read_gso(struct wg_tun *tun, uint8_t *buf, size_t len, struct wg_gso *gso);
ssize_t wg_posix_tun_write_gso(struct wg_tun *tun, const struct wg_gso *gso,
			       const struct iovec *iov, int iovcnt);
int wg_posix_tun_read_batch(struct wg_tun *tun, uint8_t *buf, size_t cap, size_t tail,
			    struct wg_pkt *pkts, int max);
int wg_posix_tun_write_batch(struct wg_tun *tun, struct wg_pkt *pkts, int n);
/* The coalescing table: mapped (tcp/udp: protocols to coalesce) or
 * unmapped (with cut_buf and rd_buf), and trimmed. map: an anonymous
 * mapping or NULL. */
void *wg_posix_map(size_t len);
int wg_posix_tun_gro_open(struct wg_tun *tun, bool tcp, bool udp);
void wg_posix_tun_gro_close(struct wg_tun *tun);
void wg_posix_tun_trim(struct wg_tun *tun);
int wg_posix_udp_recv_batch(struct wg_udp *udp, int fd, struct wg_udp_msg *msgs, int n);
int wg_posix_udp_send_batch(struct wg_udp *udp, struct wg_udp_msg *msgs, int n);

/* RFC 3542 IPv6 packet info, the same on every OS. */
int wg_posix_pktinfo6_enable(int fd);
bool wg_posix_pktinfo6_parse(const struct cmsghdr *c, struct wg_endpoint *ep);
size_t wg_posix_pktinfo6_build(const struct wg_endpoint *ep, union wg_cmsg_buf *cb);

/* UDP (posix/udp.c): the socket for a destination's family (or -errno),
 * packet info for a sticky source (0 bytes when it has none), and the
 * sticky-source fallback: a refused source is forgotten and the kernel
 * chooses. */
int wg_posix_udp_fd_for(const struct wg_udp *udp, const struct wg_endpoint *to);
size_t wg_posix_pktinfo_build(const struct wg_udp *udp, const struct wg_endpoint *ep,
			      union wg_cmsg_buf *cb);
bool wg_posix_pktinfo_parse(const struct cmsghdr *c, struct wg_endpoint *ep);
/* Queues an ICMP error for wg_udp_take_icmp, or counts it dropped. */
void wg_posix_icmp_push(struct wg_udp *udp, const struct wg_udp_icmp *e);
/* A receive from fd failed with err (-EAGAIN included), the tries-th time
 * in this call (from 0): errors queued on fd are taken (an errors-only
 * wakeup leaves nothing behind). Returns 0 to receive again (a pending
 * ICMP error), -EAGAIN after too many of them in a row (the descriptor
 * stays readable), else err. */
int wg_posix_udp_recv_error(struct wg_udp *udp, int fd, int err, int tries);
/* A send on fd failed with err: 0 to send again when it met only the
 * pending error of ICMP errors now taken off fd, else err. */
int wg_posix_udp_send_error(struct wg_udp *udp, int fd, int err);
/* A learned (not pinned) source the kernel refused: forget it and retry. */
bool wg_posix_source_refused(const struct wg_endpoint *to, int err);
/* Whether a send to `to` may go: 0, -EADDRNOTAVAIL (the IPv6 bind address
 * is absent), -ENODEV (a pinned egress interface does not exist) or
 * -ENETUNREACH (no route to it through that interface). */
int wg_posix_pin_check(struct wg_udp *udp, const struct wg_endpoint *to);
void wg_posix_forget_source(struct wg_endpoint *to);
/* Forgets a sticky source the routes no longer keep (see the route watch
 * hooks below); call before building a datagram's packet info. */
void wg_posix_source_check(struct wg_udp *udp, struct wg_endpoint *to);
/* privs.c: the uid/gid switch of a drop, and its check afterwards (exact
 * real, effective and saved ids and groups; setting 0 back must fail, also
 * as uid 0 when root_powerless: no CAP_SETUID/CAP_SETGID left). 0 or
 * -errno, -EPERM when the check fails. */
struct wg_privs;
int wg_posix_set_ids(const struct wg_privs *p);
int wg_posix_check_ids(const struct wg_privs *p, bool root_powerless);

/* --- OS hooks --- */
/* TUN: learn name and ifindex of an inherited descriptor; move packets,
 * adding/stripping any per-OS header. read/write return -errno, -ENODEV
 * once the interface is gone. */
int wg_os_tun_attach(struct wg_tun *tun);
ssize_t wg_os_tun_read(struct wg_tun *tun, uint8_t *buf, size_t len);
ssize_t wg_os_tun_write(struct wg_tun *tun, const uint8_t *pkt, size_t len);
/* The interface's MTU wherever it is now (Linux: also in the network
 * namespace it was moved to). The MTU or -errno. */
int wg_os_tun_mtu(struct wg_tun *tun);
/* The interface behind the descriptor still exists (possibly moved to
 * another network namespace). */
bool wg_os_tun_exists(const struct wg_tun *tun);
/* Called by wg_tun_close once the descriptor is closed: an interface that
 * outlives it (FreeBSD's tun(4)) is destroyed here if this process made it. */
void wg_os_tun_closed(const struct wg_tun *tun);

/* UDP: socket buffer sizing, IPv4 packet info (the part that differs per
 * OS: Linux/macOS IP_PKTINFO, FreeBSD IP_RECVDSTADDR/IP_SENDSRCADDR) and the
 * firewall mark. */
void wg_os_udp_set_buffers(int fd);
int wg_os_pktinfo4_enable(int fd);
bool wg_os_pktinfo4_parse(const struct cmsghdr *c, struct wg_endpoint *ep);
size_t wg_os_pktinfo4_build(const struct wg_endpoint *ep, union wg_cmsg_buf *cb);
int wg_os_set_fwmark(int fd, uint32_t mark);
/* ICMP errors (wgd/platform/udp.h). recverr_enable asks the OS to queue
 * them on fd with their details (Linux IP_RECVERR/IPV6_RECVERR; elsewhere
 * nothing, 0). icmp_errno: whether a failed receive or send on such a
 * socket may have met the pending error of a queued ICMP error rather than
 * a failure of its own. drain_errors takes what is queued on fd into the
 * pair's ring, dropping errors of local origin; returns the number of ICMP
 * errors taken (dropped ones included), 0 where the OS queues none. */
int wg_os_udp_recverr_enable(int fd, int family);
bool wg_os_udp_icmp_errno(int err);
int wg_os_udp_drain_errors(struct wg_udp *udp, int fd);
/* Lets fd bind to an address the host does not have (yet): Linux
 * IP_FREEBIND, FreeBSD IP_BINDANY; turned off again once bound (on
 * false), since Linux lets an IPv6 socket with the option also SEND from
 * the absent address. 0 or -errno; 0 and nothing done where the OS
 * cannot (bind then fails with EADDRNOTAVAIL). */
int wg_os_udp_bind_absent(int fd, int family, bool on);
/* Whether our own outer datagrams may be fragmented here (Linux, IPv4:
 * not by default, so one larger than the egress interface's MTU is refused
 * with EMSGSIZE, as a tunnel routed into a tunnel would otherwise fragment
 * and loop on; allowed for one send that wg_os_route_may_fragment
 * permits). Elsewhere the system's default, which fragments. 0 or -errno. */
int wg_os_udp_local_fragments(int fd, int family, bool allow);
/* Sends one datagram refused with EMSGSIZE again, fragmented here as the
 * kernel's WireGuard would, unless its route leads into a tunnel. */
int wg_posix_send_fragmented(struct wg_udp *udp, int fd, const struct wg_endpoint *to,
			     const uint8_t *buf, size_t len);

/* An AF_UNIX address in the abstract namespace (Linux; elsewhere
 * -EAFNOSUPPORT): name without its leading '@', *len the exact address
 * length. 0 or -errno (-EINVAL empty, -ENAMETOOLONG). sa is zeroed with
 * sun_family set by the caller. */
struct sockaddr_un;
int wg_os_unix_abstract(const char *name, struct sockaddr_un *sa, socklen_t *len);

/* Route watch (Linux: rtnetlink; elsewhere open returns NULL): the
 * descriptor turns readable on route, address, link or rule changes;
 * drain ages every verdict; keeps_source says whether the route to `to`
 * still leaves through the interface its sticky source was learned on. */
struct wg_route_watch;
struct wg_route_watch *wg_os_route_watch_open(void);
void wg_os_route_watch_close(struct wg_route_watch *rw);
int wg_os_route_watch_fd(const struct wg_route_watch *rw);
/* Takes the pending change messages; true if interfaces may have come,
 * gone or been renamed (link messages, or messages lost). */
bool wg_os_route_watch_drain(struct wg_route_watch *rw);
bool wg_os_route_keeps_source(struct wg_route_watch *rw, const struct wg_udp *udp,
			      const struct wg_endpoint *to);
/* Whether a datagram to `to` too large for the egress interface may be
 * fragmented here: not when the route leaves through a TUN or WireGuard
 * device (an encapsulation loop, or a tunnel into a tunnel). */
/* A pinned endpoint's egress interface has a route to it (IPv4: Linux
 * would otherwise take the endpoint for on-link there and send into the
 * void). True where unknown. */
bool wg_os_route_via_egress(struct wg_route_watch *rw, const struct wg_udp *udp,
			    const struct wg_endpoint *to);
/* The IPv6 bind address is on the host (Linux would send from it while
 * absent: it checks the address at bind only). Asked again only after an
 * address change. True where unknown. */
bool wg_os_route_bind6_present(struct wg_route_watch *rw, const struct wg_udp *udp);
/* The single address of one is on the host and usable: 1, 0, or -errno
 * (-EOPNOTSUPP where the OS has no route watch to ask). */
int wg_os_route_addr_present(struct wg_route_watch *rw, const struct wg_addr_pair *one);
bool wg_os_route_may_fragment(struct wg_route_watch *rw, const struct wg_udp *udp,
			      const struct wg_endpoint *to);

#endif
