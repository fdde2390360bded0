/* UDP socket buffers on FreeBSD and macOS: no privileged "force" variant as
 * on Linux, and kern.ipc.maxsockbuf (2 MiB by default on FreeBSD) caps what
 * SO_RCVBUF/SO_SNDBUF accept, failing with ENOBUFS above it: start where
 * wireguard-go does and halve until the kernel agrees. ICMP errors: none
 * reach our unconnected sockets (below). */
#include <sys/socket.h>

#include "wg_posix.h"
#include "wgd/platform/udp.h"

#define SOCKET_BUFFER_MAX (7 << 20)
#define SOCKET_BUFFER_MIN (256 << 10) /* below this, keep the default */

static void set_buffer(int fd, int opt)
{
	for (int size = SOCKET_BUFFER_MAX; size >= SOCKET_BUFFER_MIN; size /= 2) {
		if (setsockopt(fd, SOL_SOCKET, opt, &size, sizeof(size)) == 0)
			return;
	}
}

void wg_os_udp_set_buffers(int fd)
{
	set_buffer(fd, SO_RCVBUF);
	set_buffer(fd, SO_SNDBUF);
}

/* FreeBSD's IP_SENDSRCADDR names no interface, and XNU lets a non-zero
 * ipi_ifindex override the source address: no per-send egress here. */
bool wg_udp_can_pin_egress(void)
{
	return false;
}

/* ICMP errors: FreeBSD and macOS pass them to connected sockets only (as
 * ECONNREFUSED and the like), and ours are unconnected: nothing is queued,
 * so wg_udp_take_icmp stays empty and no failure is mistaken for one. */
int wg_os_udp_recverr_enable(int fd, int family)
{
	(void)fd;
	(void)family;
	return 0;
}

bool wg_os_udp_icmp_errno(int err)
{
	(void)err;
	return false;
}

int wg_os_udp_drain_errors(struct wg_udp *udp, int fd)
{
	(void)udp;
	(void)fd;
	return 0;
}
