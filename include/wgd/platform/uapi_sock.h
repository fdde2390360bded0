/* The UAPI listener, part of the operating-system boundary: a listening
 * AF_UNIX socket at <dir>/<ifname>.sock. */
#ifndef WGD_PLATFORM_UAPI_SOCK_H
#define WGD_PLATFORM_UAPI_SOCK_H

#include <stddef.h>
#include <sys/types.h>

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

#endif
