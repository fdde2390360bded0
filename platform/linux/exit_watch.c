/* Exit watch on Linux: an epoll descriptor over an rtnetlink socket
 * (RTMGRP_LINK, for RTM_DELLINK of our interface) and an inotify watch on
 * the UAPI socket file (IN_ATTRIB fires when its link count drops, as
 * wireguard-go relies on), so the daemon learns of `ip link del` and of
 * `rm wg0.sock` without polling. */
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wg_posix.h"
#include "wgd/platform/exit_watch.h"
#include "wgd/platform/tun.h"
#include "wgd/platform/uapi_sock.h"

struct wg_exit_watch {
	int epfd;
	int nl;			  /* rtnetlink, -1 without an interface to watch */
	int in;			  /* inotify, -1 without a file to watch */
	const struct wg_tun *tun; /* not owned: must outlive the watch */
	unsigned int ifindex;
	struct wg_uapi_socket file; /* path, dev, ino only; fd unused */
};

/* RTM_DELLINK also arrives when the interface merely moves to another
 * network namespace, where the TUN keeps working: ask the TUN itself. */
static bool tun_detached(const struct wg_exit_watch *w)
{
	return !wg_tun_exists(w->tun);
}

static bool file_gone(const struct wg_exit_watch *w)
{
	struct stat st;

	if (lstat(w->file.path, &st) < 0)
		return errno == ENOENT || errno == ENOTDIR;
	return st.st_dev != w->file.dev || st.st_ino != w->file.ino;
}

static int watch_fd(struct wg_exit_watch *w, int fd)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};

	return epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static int open_link_watch(struct wg_exit_watch *w, const struct wg_tun *tun)
{
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK, .nl_groups = RTMGRP_LINK};

	w->tun = tun;
	w->ifindex = wg_tun_ifindex(tun);
	w->nl = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (w->nl < 0)
		return -errno;
	if (bind(w->nl, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	/* Subscribed before this check, so no deletion falls in between. */
	return tun_detached(w) ? -ENODEV : watch_fd(w, w->nl);
}

static int open_file_watch(struct wg_exit_watch *w, const struct wg_uapi_socket *sock)
{
	const uint32_t mask = IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF;

	w->file = *sock;
	w->file.fd = -1;
	w->in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->in < 0)
		return -errno;
	if (inotify_add_watch(w->in, w->file.path, mask) < 0)
		return -errno;
	return file_gone(w) ? -ENOENT : watch_fd(w, w->in);
}

int wg_exit_watch_open(const struct wg_tun *tun, const struct wg_uapi_socket *sock,
		       struct wg_exit_watch **out)
{
	struct wg_exit_watch *w = calloc(1, sizeof(*w));
	int ret = 0;

	if (!w)
		return -ENOMEM;
	w->nl = w->in = -1;
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (w->epfd < 0)
		ret = -errno;
	if (!ret && tun && wg_tun_ifindex(tun))
		ret = open_link_watch(w, tun);
	if (!ret && sock && sock->path[0])
		ret = open_file_watch(w, sock);
	if (ret) {
		wg_exit_watch_close(w);
		return ret;
	}
	*out = w;
	return 0;
}

int wg_exit_watch_fd(const struct wg_exit_watch *w)
{
	return w->epfd;
}

static bool deletes_our_link(const struct wg_exit_watch *w, const struct nlmsghdr *h)
{
	const struct ifinfomsg *ifi = NLMSG_DATA(h);

	return h->nlmsg_type == RTM_DELLINK && h->nlmsg_len >= NLMSG_LENGTH(sizeof(*ifi)) &&
	       (unsigned int)ifi->ifi_index == w->ifindex;
}

/* Reads every queued link message. A full queue (ENOBUFS) may have dropped
 * the one we wanted: treat it like a deletion notice and ask the TUN. */
static bool link_gone(struct wg_exit_watch *w)
{
	union {
		struct nlmsghdr align;
		char buf[8192];
	} u;
	bool suspect = false;

	for (;;) {
		ssize_t n = recv(w->nl, u.buf, sizeof(u.buf), 0);
		if (n < 0 && errno == ENOBUFS) {
			suspect = true;
			continue;
		}
		if (n <= 0)
			break;
		unsigned int len = (unsigned int)n; /* NLMSG_OK compares it with a __u32 */
		for (struct nlmsghdr *h = &u.align; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len))
			suspect |= deletes_our_link(w, h);
	}
	return suspect && tun_detached(w);
}

/* Any inotify event (attribute change, unlink, rename, watch dropped)
 * just means: look at the path again. */
static bool socket_gone(struct wg_exit_watch *w)
{
	union {
		struct inotify_event align;
		char buf[4096];
	} u;
	bool seen = false;

	while (read(w->in, u.buf, sizeof(u.buf)) > 0)
		seen = true;
	return seen && file_gone(w);
}

enum wg_exit_reason wg_exit_watch_check(struct wg_exit_watch *w)
{
	if (w->nl >= 0 && link_gone(w))
		return WG_EXIT_TUN_GONE;
	if (w->in >= 0 && socket_gone(w))
		return WG_EXIT_SOCKET_GONE;
	return WG_EXIT_NONE;
}

void wg_exit_watch_close(struct wg_exit_watch *w)
{
	if (!w)
		return;
	if (w->nl >= 0)
		close(w->nl);
	if (w->in >= 0)
		close(w->in);
	if (w->epfd >= 0)
		close(w->epfd);
	free(w);
}
