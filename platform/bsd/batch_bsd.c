/* FreeBSD and macOS: the batched and offloaded data path API is the
 * portable one of platform/posix/batch.c (one packet per system call, no
 * offloads), and there is no route watch and no path-MTU option: sticky
 * sources stay with their address, fragmentation is the system's
 * default. */
#include <errno.h>

#include "wg_posix.h"
#include "wgd/platform/batch.h"
#include "wgd/platform/tun.h"
#include "wgd/platform/udp.h"

int wg_tun_create_plain(const char *name, char *name_out, size_t name_out_len, struct wg_tun **out)
{
	return wg_tun_create(name, name_out, name_out_len, out); /* never a header */
}

int wg_tun_set_offload(struct wg_tun *tun, bool on, unsigned int *enabled)
{
	return wg_posix_tun_set_offload(tun, on, enabled);
}

ssize_t wg_tun_read_gso(struct wg_tun *tun, uint8_t *buf, size_t len, struct wg_gso *gso)
{
	return wg_posix_tun_read_gso(tun, buf, len, gso);
}

ssize_t wg_tun_write_gso(struct wg_tun *tun, const struct wg_gso *gso, const struct iovec *iov,
			 int iovcnt)
{
	return wg_posix_tun_write_gso(tun, gso, iov, iovcnt);
}

int wg_tun_read_batch(struct wg_tun *tun, uint8_t *buf, size_t cap, size_t tail,
		      struct wg_pkt *pkts, int max)
{
	return wg_posix_tun_read_batch(tun, buf, cap, tail, pkts, max);
}

bool wg_tun_read_pending(const struct wg_tun *tun)
{
	(void)tun; /* one packet per read: never */
	return false;
}

int wg_tun_write_batch(struct wg_tun *tun, struct wg_pkt *pkts, int n)
{
	return wg_posix_tun_write_batch(tun, pkts, n);
}

void wg_tun_trim(struct wg_tun *tun)
{
	(void)tun; /* nothing kept */
}

unsigned int wg_udp_offloads(const struct wg_udp *udp)
{
	(void)udp;
	return 0;
}

int wg_udp_set_gro(struct wg_udp *udp, bool on)
{
	(void)udp;
	return on ? -EOPNOTSUPP : 0;
}

void wg_udp_set_portable(struct wg_udp *udp)
{
	(void)udp; /* nothing else here */
}

int wg_udp_recv_batch(struct wg_udp *udp, int fd, struct wg_udp_msg *msgs, int n)
{
	return wg_posix_udp_recv_batch(udp, fd, msgs, n);
}

int wg_udp_send_batch(struct wg_udp *udp, struct wg_udp_msg *msgs, int n)
{
	return wg_posix_udp_send_batch(udp, msgs, n);
}

/* Route watch and fragmentation hooks (wg_posix.h): none here. */
struct wg_route_watch *wg_os_route_watch_open(void)
{
	return NULL;
}

void wg_os_route_watch_close(struct wg_route_watch *rw)
{
	(void)rw;
}

int wg_os_route_watch_fd(const struct wg_route_watch *rw)
{
	(void)rw;
	return -1;
}

bool wg_os_route_watch_drain(struct wg_route_watch *rw)
{
	(void)rw;
	return false;
}

bool wg_os_route_keeps_source(struct wg_route_watch *rw, const struct wg_udp *udp,
			      const struct wg_endpoint *to)
{
	(void)rw;
	(void)udp;
	(void)to;
	return true;
}

int wg_os_route_addr_present(struct wg_route_watch *rw, const struct wg_addr_pair *one)
{
	(void)rw;
	(void)one;
	return -EOPNOTSUPP;
}

bool wg_os_route_bind6_present(struct wg_route_watch *rw, const struct wg_udp *udp)
{
	(void)rw;
	(void)udp;
	return true;
}

bool wg_os_route_via_egress(struct wg_route_watch *rw, const struct wg_udp *udp,
			    const struct wg_endpoint *to)
{
	(void)rw;
	(void)udp;
	(void)to;
	return true;
}

bool wg_os_route_may_fragment(struct wg_route_watch *rw, const struct wg_udp *udp,
			      const struct wg_endpoint *to)
{
	(void)rw;
	(void)udp;
	(void)to;
	return true;
}

int wg_os_udp_local_fragments(int fd, int family, bool allow)
{
	(void)fd;
	(void)family;
	(void)allow;
	return 0;
}
