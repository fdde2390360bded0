/* Exit watch on FreeBSD and macOS: one kqueue over
 *  - a PF_ROUTE socket, for the departure of our interface (FreeBSD sends
 *    RTM_IFANNOUNCE/IFAN_DEPARTURE; macOS has no announcements, so any
 *    RTM_IFINFO about our index makes us look), and
 *  - an EVFILT_VNODE watch on the directory holding the UAPI socket: a
 *    socket file cannot be open(2)ed to watch it directly, but removing or
 *    replacing it writes its directory.
 * Every notice is only a hint: the TUN and the path are asked before the
 * daemon is told to stop. kqueue descriptors are not inherited by fork(2),
 * which is fine: the watch is opened after daemonizing. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <net/if.h>
#include <net/route.h>
#include <stdlib.h>
#include <string.h>
#include <sys/event.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "wg_bsd.h"
#include "wgd/platform/exit_watch.h"
#include "wgd/platform/tun.h"
#include "wgd/platform/uapi_sock.h"

#ifdef O_EVTONLY
#define DIR_WATCH_FLAGS O_EVTONLY /* macOS: does not keep the volume busy */
#else
#define DIR_WATCH_FLAGS O_RDONLY
#endif
#define DIR_EVENTS (NOTE_WRITE | NOTE_DELETE | NOTE_RENAME | NOTE_REVOKE)

struct wg_exit_watch {
	int kq;
	int rt;			  /* PF_ROUTE, -1 without an interface to watch */
	int dir;		  /* socket's directory, -1 without a file to watch */
	const struct wg_tun *tun; /* not owned: must outlive the watch */
	unsigned int ifindex;
	struct wg_uapi_socket file; /* path, dev, ino only; fd unused */
};

static bool file_gone(const struct wg_exit_watch *w)
{
	struct stat st;

	if (lstat(w->file.path, &st) < 0)
		return errno == ENOENT || errno == ENOTDIR;
	return st.st_dev != w->file.dev || st.st_ino != w->file.ino;
}

static int watch(struct wg_exit_watch *w, int fd, short filter, unsigned int fflags)
{
	struct kevent ev;

	EV_SET(&ev, fd, filter, EV_ADD | EV_CLEAR, fflags, 0, NULL);
	return kevent(w->kq, &ev, 1, NULL, 0, NULL) < 0 ? -errno : 0;
}

static int open_link_watch(struct wg_exit_watch *w, const struct wg_tun *tun)
{
	int ret;

	w->tun = tun;
	w->ifindex = wg_tun_ifindex(tun);
	wg_bsd_tun_claim(tun);
	w->rt = socket(PF_ROUTE, SOCK_RAW, AF_UNSPEC);
	if (w->rt < 0)
		return -errno;
	ret = wg_posix_set_nonblock_cloexec(w->rt);
	if (!ret)
		ret = watch(w, w->rt, EVFILT_READ, 0);
	if (ret)
		return ret;
	/* Subscribed before this check, so no departure falls in between. */
	return wg_tun_exists(tun) ? 0 : -ENODEV;
}

static int open_dir(const char *path)
{
	char copy[WG_UAPI_PATH_MAX];

	/* dirname(3) may modify its argument. */
	memcpy(copy, path, sizeof(copy));
	copy[sizeof(copy) - 1] = '\0';
	return open(dirname(copy), DIR_WATCH_FLAGS | O_DIRECTORY | O_CLOEXEC);
}

static int open_file_watch(struct wg_exit_watch *w, const struct wg_uapi_socket *sock)
{
	int ret;

	w->file = *sock;
	w->file.fd = -1;
	w->dir = open_dir(w->file.path);
	if (w->dir < 0)
		return -errno;
	ret = watch(w, w->dir, EVFILT_VNODE, DIR_EVENTS);
	if (ret)
		return ret;
	return file_gone(w) ? -ENOENT : 0;
}

int wg_exit_watch_open(const struct wg_tun *tun, const struct wg_uapi_socket *sock,
		       struct wg_exit_watch **out)
{
	struct wg_exit_watch *w = calloc(1, sizeof(*w));
	int ret = 0;

	if (!w)
		return -ENOMEM;
	w->rt = w->dir = -1;
	w->kq = kqueue();
	if (w->kq < 0 || fcntl(w->kq, F_SETFD, FD_CLOEXEC) < 0)
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
	return w->kq;
}

/* A routing message that may mean our interface left. */
static bool about_our_link(const struct wg_exit_watch *w, const uint8_t *msg, size_t len)
{
	struct if_msghdr ifm;

	if (len < 4 || msg[2] != RTM_VERSION)
		return false;
#ifdef RTM_IFANNOUNCE
	if (msg[3] == RTM_IFANNOUNCE) {
		struct if_announcemsghdr ifan;

		if (len < sizeof(ifan))
			return false;
		memcpy(&ifan, msg, sizeof(ifan));
		return ifan.ifan_index == w->ifindex && ifan.ifan_what == IFAN_DEPARTURE;
	}
#endif
	if (msg[3] != RTM_IFINFO || len < sizeof(ifm))
		return false;
	memcpy(&ifm, msg, sizeof(ifm));
	return ifm.ifm_index == w->ifindex;
}

/* Reads every queued routing message; each read returns whole messages.
 * An overflowed socket (ENOBUFS) may have lost the one we wanted. */
static bool link_gone(struct wg_exit_watch *w)
{
	union {
		struct if_msghdr align;
		uint8_t buf[8192];
	} u;
	bool suspect = false;

	for (;;) {
		ssize_t n = recv(w->rt, u.buf, sizeof(u.buf), 0);
		if (n < 0 && errno == ENOBUFS) {
			suspect = true;
			continue;
		}
		if (n <= 0)
			break;
		for (size_t off = 0; off + 4 <= (size_t)n;) {
			uint16_t mlen;
			memcpy(&mlen, u.buf + off, sizeof(mlen));
			if (mlen < 4 || off + mlen > (size_t)n)
				break;
			suspect |= about_our_link(w, u.buf + off, mlen);
			off += mlen;
		}
	}
	return suspect && !wg_tun_exists(w->tun);
}

/* Pending kevents, cleared by reading them (EV_CLEAR). */
static void drain(struct wg_exit_watch *w, bool *rt_ready, bool *dir_changed)
{
	static const struct timespec zero = {0, 0};
	struct kevent ev[8];
	int n;

	while ((n = kevent(w->kq, NULL, 0, ev, 8, &zero)) > 0) {
		for (int i = 0; i < n; i++) {
			if (ev[i].filter == EVFILT_READ)
				*rt_ready = true;
			else if (ev[i].filter == EVFILT_VNODE)
				*dir_changed = true;
		}
	}
}

enum wg_exit_reason wg_exit_watch_check(struct wg_exit_watch *w)
{
	bool rt_ready = false, dir_changed = false;

	drain(w, &rt_ready, &dir_changed);
	if (w->rt >= 0 && rt_ready && link_gone(w))
		return WG_EXIT_TUN_GONE;
	if (w->dir >= 0 && dir_changed && file_gone(w))
		return WG_EXIT_SOCKET_GONE;
	return WG_EXIT_NONE;
}

void wg_exit_watch_close(struct wg_exit_watch *w)
{
	if (!w)
		return;
	if (w->rt >= 0)
		close(w->rt);
	if (w->dir >= 0)
		close(w->dir);
	if (w->kq >= 0)
		close(w->kq);
	free(w);
}
