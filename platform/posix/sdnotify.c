/* sd_notify(3) in a few lines of POSIX (see wgd/platform/sdnotify.h). A fresh
 * socket per message: messages are rare (readiness, stop, a watchdog ping
 * every few seconds), and no descriptor stays open in the daemon. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "wg_posix.h"
#include "wgd/platform/sdnotify.h"

/* The socket's name as an address: an absolute path, or '@' and an
 * abstract name where the OS has them. 0, or -errno for a malformed name. */
static int notify_addr(const char *name, struct sockaddr_un *sa, socklen_t *len)
{
	size_t n = strlen(name);

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (name[0] == '@')
		return wg_os_unix_abstract(name + 1, sa, len);
	if (name[0] != '/')
		return -EINVAL;
	if (n >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	memcpy(sa->sun_path, name, n);
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	return 0;
}

static int dgram_socket(void)
{
#ifdef SOCK_CLOEXEC
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	return fd < 0 ? -errno : fd;
#else
	int fd = socket(AF_UNIX, SOCK_DGRAM, 0);

	if (fd < 0)
		return -errno;
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		int err = errno;
		close(fd);
		return -err;
	}
	return fd;
#endif
}

int wg_sd_notify(const char *name, const char *msg)
{
	struct sockaddr_un sa;
	socklen_t len = 0;
	ssize_t n;
	int fd, ret;

	if (!name || !*name)
		return 0;
	ret = notify_addr(name, &sa, &len);
	if (ret)
		return ret;
	fd = dgram_socket();
	if (fd < 0)
		return fd;
	/* MSG_DONTWAIT: a receiver that does not read gets -EAGAIN, the
	 * event loop never waits for it. */
	do
		n = sendto(fd, msg, strlen(msg), MSG_DONTWAIT | MSG_NOSIGNAL,
			   (const struct sockaddr *)&sa, len);
	while (n < 0 && errno == EINTR);
	ret = n < 0 ? -errno : 0;
	close(fd);
	return ret;
}

int wg_sd_notifyf(const char *name, const char *fmt, ...)
{
	char buf[WG_SD_MSG_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n >= sizeof(buf))
		return -EMSGSIZE;
	return wg_sd_notify(name, buf);
}

uint64_t wg_sd_watchdog_usec(const char *us, const char *pid)
{
	unsigned long long v;
	char *end;

	if (!us || *us < '0' || *us > '9')
		return 0;
	errno = 0;
	v = strtoull(us, &end, 10);
	if (errno || *end || v == 0)
		return 0;
	if (pid && *pid) {
		long p;

		errno = 0;
		p = strtol(pid, &end, 10);
		if (errno || *end || p != (long)getpid())
			return 0;
	}
	return (uint64_t)v;
}
