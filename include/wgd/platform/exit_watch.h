/* Exit watch, part of the operating-system boundary: tells the daemon,
 * without polling, that its TUN interface was deleted (Linux: RTM_DELLINK
 * for its ifindex) or that its UAPI socket file was removed or replaced
 * (Linux: inotify), the two ways an operator stops a userspace WireGuard
 * besides a signal. One descriptor to watch for reading; when it is
 * readable call wg_exit_watch_check. */
#ifndef WGD_PLATFORM_EXIT_WATCH_H
#define WGD_PLATFORM_EXIT_WATCH_H

struct wg_tun;
struct wg_uapi_socket;
struct wg_exit_watch;

enum wg_exit_reason {
	WG_EXIT_NONE = 0,
	WG_EXIT_TUN_GONE,
	WG_EXIT_SOCKET_GONE,
};

/* tun NULL or a socketpair: no interface watch; otherwise tun must outlive
 * the watch (close the watch before destroying the device). sock NULL or
 * without a path: no file watch. -ENODEV / -ENOENT if the interface / file
 * is already gone. 0 or -errno. */
int wg_exit_watch_open(const struct wg_tun *tun, const struct wg_uapi_socket *sock,
		       struct wg_exit_watch **out);
int wg_exit_watch_fd(const struct wg_exit_watch *w);
/* Drains pending notifications; WG_EXIT_NONE if nothing that matters. */
enum wg_exit_reason wg_exit_watch_check(struct wg_exit_watch *w);
void wg_exit_watch_close(struct wg_exit_watch *w);

#endif
