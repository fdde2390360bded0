/* The UAPI listening socket: <dir>/<iface>.sock, mode 0600 in a 0755
 * directory, as wg(8) expects. A second daemon for the same interface must
 * not steal the socket of a live one, but a file left by a crashed one is
 * replaced. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "wg_posix.h"
#include "wgd/platform/uapi_sock.h"

#define LISTEN_BACKLOG 64

static int make_addr(const char *path, struct sockaddr_un *sun)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun->sun_path))
		return -ENAMETOOLONG;
	memcpy(sun->sun_path, path, strlen(path));
	return 0;
}

static int stream_socket(void)
{
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	int ret;

	if (fd < 0)
		return -errno;
	ret = wg_posix_set_nonblock_cloexec(fd);
	if (ret) {
		close(fd);
		return ret;
	}
	return fd;
}

/* Someone accepts on path (a non-blocking connect that does not fail with
 * ECONNREFUSED/ENOENT: EAGAIN means a full backlog, still alive). */
static bool socket_alive(const struct sockaddr_un *sun)
{
	int fd = stream_socket();
	bool alive;

	if (fd < 0)
		return false;
	alive = connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0 ||
		(errno != ECONNREFUSED && errno != ENOENT);
	close(fd);
	return alive;
}

/* Bind failed with EADDRINUSE: refuse a live daemon's socket or anything
 * that is not a socket, unlink a stale one. */
static int clear_stale(const struct sockaddr_un *sun)
{
	struct stat st;

	if (lstat(sun->sun_path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	if (socket_alive(sun))
		return -EADDRINUSE;
	if (unlink(sun->sun_path) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

static int bind_private(int fd, const struct sockaddr_un *sun)
{
	/* 0600 from birth: no window in which others could connect. */
	mode_t old = umask(0177);
	int ret = bind(fd, (const struct sockaddr *)sun, sizeof(*sun)) < 0 ? -errno : 0;

	umask(old);
	return ret;
}

static int record_file(struct wg_uapi_socket *s)
{
	struct stat st;

	if (lstat(s->path, &st) < 0)
		return -errno;
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	return 0;
}

static int listen_at(int fd, struct wg_uapi_socket *out)
{
	struct sockaddr_un sun;
	int ret = make_addr(out->path, &sun);

	if (ret)
		return ret;
	ret = bind_private(fd, &sun);
	if (ret == -EADDRINUSE) {
		ret = clear_stale(&sun);
		if (!ret)
			ret = bind_private(fd, &sun);
	}
	if (!ret && listen(fd, LISTEN_BACKLOG) < 0)
		ret = -errno;
	if (!ret)
		ret = record_file(out);
	return ret;
}

/* 0755 whatever the umask: wg(8) run by any user lists the sockets. */
static int make_dir(const char *dir)
{
	if (mkdir(dir, 0755) == 0)
		return chmod(dir, 0755) < 0 ? -errno : 0;
	return errno == EEXIST ? 0 : -errno;
}

int wg_uapi_open(const char *dir, const char *ifname, struct wg_uapi_socket *out)
{
	int fd, ret;

	memset(out, 0, sizeof(*out));
	out->fd = -1;
	ret = make_dir(dir);
	if (ret)
		return ret;
	ret = snprintf(out->path, sizeof(out->path), "%s/%s.sock", dir, ifname);
	if (ret < 0 || (size_t)ret >= sizeof(out->path))
		return -ENAMETOOLONG;
	fd = stream_socket();
	if (fd < 0)
		return fd;
	ret = listen_at(fd, out);
	if (ret) {
		close(fd);
		out->path[0] = '\0';
		return ret;
	}
	out->fd = fd;
	return 0;
}

static int check_listening(int fd)
{
	int on = 0, type = 0;
	socklen_t len = sizeof(on), tlen = sizeof(type);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) < 0)
		return -errno;
	if (type != SOCK_STREAM)
		return -EINVAL;
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) < 0)
		return -errno;
	return on ? 0 : -EINVAL;
}

/* The file the inherited socket is bound to, if it has one we can see. */
static void find_path(int fd, struct wg_uapi_socket *out)
{
	struct sockaddr_un sun;
	socklen_t len = sizeof(sun);

	memset(&sun, 0, sizeof(sun));
	if (getsockname(fd, (struct sockaddr *)&sun, &len) < 0 || sun.sun_family != AF_UNIX)
		return;
	if (len <= offsetof(struct sockaddr_un, sun_path) || sun.sun_path[0] == '\0')
		return; /* unnamed or Linux abstract namespace */
	snprintf(out->path, sizeof(out->path), "%.*s",
		 (int)(len - offsetof(struct sockaddr_un, sun_path)), sun.sun_path);
	if (record_file(out))
		out->path[0] = '\0';
}

int wg_uapi_adopt(int fd, struct wg_uapi_socket *out)
{
	int ret;

	memset(out, 0, sizeof(*out));
	out->fd = -1;
	ret = check_listening(fd);
	if (!ret)
		ret = wg_posix_set_nonblock_cloexec(fd);
	if (ret) {
		close(fd);
		return ret;
	}
	out->fd = fd;
	find_path(fd, out);
	return 0;
}

void wg_uapi_close(struct wg_uapi_socket *s)
{
	struct stat st;

	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	if (s->path[0] && lstat(s->path, &st) == 0 && st.st_dev == s->dev && st.st_ino == s->ino)
		unlink(s->path);
	s->path[0] = '\0';
}

int wg_uapi_listen(const char *dir, const char *ifname, int *fd_out, char *path_out,
		   size_t path_len)
{
	struct wg_uapi_socket s;
	int ret = wg_uapi_open(dir, ifname, &s);

	if (ret)
		return ret;
	if (strlen(s.path) >= path_len) {
		wg_uapi_close(&s);
		return -ENAMETOOLONG;
	}
	memcpy(path_out, s.path, strlen(s.path) + 1);
	*fd_out = s.fd;
	return 0;
}

void wg_uapi_unlink(const char *path)
{
	struct sockaddr_un sun;
	struct stat st;

	if (make_addr(path, &sun) || lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode))
		return;
	if (!socket_alive(&sun))
		unlink(path);
}
