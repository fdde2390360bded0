/* sd_notify without libsystemd: what arrives at a NOTIFY_SOCKET receiver
 * (path and Linux abstract names), the errors a misconfigured or stuck
 * receiver gives instead of a stall, and WATCHDOG_USEC/WATCHDOG_PID. The
 * values are passed as the daemon passes them from its environment; its
 * use of them is tested for real in tests/netns/notify.sh. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "wgd/platform/sdnotify.h"

struct rx {
	char dir[64];
	char path[96];
	int fd;
};

static int bind_dgram(const struct sockaddr_un *sa, socklen_t len)
{
	int fd = socket(AF_UNIX, SOCK_DGRAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (const struct sockaddr *)sa, len), 0);
	return fd;
}

static int setup_rx(void **state)
{
	struct rx *r = calloc(1, sizeof(*r));
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	assert_non_null(r);
	snprintf(r->dir, sizeof(r->dir), "/tmp/wgd-sdnotify-XXXXXX");
	assert_non_null(mkdtemp(r->dir));
	snprintf(r->path, sizeof(r->path), "%s/notify", r->dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", r->path);
	r->fd = bind_dgram(&sa, sizeof(sa));
	*state = r;
	return 0;
}

static int teardown_rx(void **state)
{
	struct rx *r = *state;

	close(r->fd);
	unlink(r->path);
	rmdir(r->dir);
	free(r);
	return 0;
}

/* One datagram, NUL-terminated; it is there at once (local delivery). */
static void expect_msg(int fd, const char *want)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	char buf[WG_SD_MSG_MAX + 1];
	ssize_t n;

	assert_int_equal(poll(&p, 1, 0), 1);
	n = recv(fd, buf, sizeof(buf) - 1, 0);
	assert_true(n >= 0);
	buf[n] = '\0';
	assert_string_equal(buf, want);
}

static void test_unset_is_silent(void **state)
{
	(void)state;
	assert_int_equal(wg_sd_notify(NULL, "READY=1"), 0);
	assert_int_equal(wg_sd_notify("", "READY=1"), 0);
	assert_int_equal(wg_sd_notifyf(NULL, "STATUS=%s", "x"), 0);
}

static void test_path(void **state)
{
	struct rx *r = *state;
	int before = dup(0), after;

	close(before);
	assert_int_equal(wg_sd_notify(r->path, "READY=1\nSTATUS=up"), 0);
	expect_msg(r->fd, "READY=1\nSTATUS=up");
	assert_int_equal(wg_sd_notifyf(r->path, "MAINPID=%d\nSTATUS=%s", 42, "x"), 0);
	expect_msg(r->fd, "MAINPID=42\nSTATUS=x");
	/* No descriptor stays behind. */
	after = dup(0);
	close(after);
	assert_int_equal(after, before);
}

#ifdef SO_PASSCRED
/* What systemd's NotifyAccess=main checks: the sender's credentials. */
static void test_sender_credentials(void **state)
{
	struct rx *r = *state;
	union {
		struct cmsghdr c;
		char b[CMSG_SPACE(sizeof(struct ucred))];
	} cb;
	char buf[64];
	struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
	struct msghdr m = {
		.msg_iov = &iov, .msg_iovlen = 1, .msg_control = &cb, .msg_controllen = sizeof(cb)};
	struct cmsghdr *c;
	struct ucred cred;
	int on = 1;

	assert_int_equal(setsockopt(r->fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)), 0);
	assert_int_equal(wg_sd_notify(r->path, "WATCHDOG=1"), 0);
	assert_int_equal(recvmsg(r->fd, &m, MSG_DONTWAIT), 10);
	c = CMSG_FIRSTHDR(&m);
	assert_non_null(c);
	assert_int_equal(c->cmsg_type, SCM_CREDENTIALS);
	memcpy(&cred, CMSG_DATA(c), sizeof(cred));
	assert_int_equal(cred.pid, getpid());
}
#endif

static void test_abstract(void **state)
{
	char name[64];

	(void)state;
	snprintf(name, sizeof(name), "@wgd-sdnotify-%ld", (long)getpid());
#ifdef __linux__
	{
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		size_t n = strlen(name);
		int fd;

		/* Exact length: the abstract name has no terminator. */
		memcpy(sa.sun_path + 1, name + 1, n - 1);
		fd = bind_dgram(&sa, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n));
		assert_int_equal(wg_sd_notify(name, "READY=1"), 0);
		expect_msg(fd, "READY=1");
		close(fd);
		/* Gone: nobody listens any more. */
		assert_int_equal(wg_sd_notify(name, "READY=1"), -ECONNREFUSED);
	}
#else
	assert_int_equal(wg_sd_notify(name, "READY=1"), -EAFNOSUPPORT);
#endif
}

static void test_bad_addresses(void **state)
{
	struct rx *r = *state;
	char path[256];

	assert_int_equal(wg_sd_notify("run/notify", "READY=1"), -EINVAL);
#ifdef __linux__
	assert_int_equal(wg_sd_notify("@", "READY=1"), -EINVAL);
	/* The abstract name fills sun_path after its leading NUL, no more. */
	memset(path, 'a', sizeof(((struct sockaddr_un *)0)->sun_path) + 1);
	path[0] = '@';
	path[sizeof(((struct sockaddr_un *)0)->sun_path) + 1] = '\0';
	assert_int_equal(wg_sd_notify(path, "READY=1"), -ENAMETOOLONG);
#else
	assert_int_equal(wg_sd_notify("@", "READY=1"), -EAFNOSUPPORT);
#endif
	memset(path, 'a', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	assert_int_equal(wg_sd_notify(path, "READY=1"), -ENAMETOOLONG);
	snprintf(path, sizeof(path), "%s/nobody", r->dir);
	assert_int_equal(wg_sd_notify(path, "READY=1"), -ENOENT);
	/* A socket file whose receiver is gone. */
	close(r->fd);
	r->fd = -1;
	assert_int_equal(wg_sd_notify(r->path, "READY=1"), -ECONNREFUSED);
	r->fd = socket(AF_UNIX, SOCK_DGRAM, 0); /* for teardown */
}

/* A receiver that never reads must cost an error, not a blocked loop. */
static void test_full_queue_does_not_block(void **state)
{
	struct rx *r = *state;
	int i, ret = 0;

	for (i = 0; i < 100000 && ret == 0; i++)
		ret = wg_sd_notify(r->path, "WATCHDOG=1");
	assert_int_equal(ret, -EAGAIN);
	assert_true(i > 1);
}

static void test_notifyf_too_long(void **state)
{
	char big[WG_SD_MSG_MAX + 8];

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(wg_sd_notifyf("/run/notify", "STATUS=%s", big), -EMSGSIZE);
}

static void test_watchdog_values(void **state)
{
	char pid[32], other[32];

	(void)state;
	assert_int_equal(wg_sd_watchdog_usec(NULL, NULL), 0);
	assert_int_equal(wg_sd_watchdog_usec("20000000", NULL), 20000000);
	assert_int_equal(wg_sd_watchdog_usec("20000000", ""), 20000000);
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	assert_int_equal(wg_sd_watchdog_usec("20000000", pid), 20000000);
	/* Meant for another process (the launcher of a forking daemon). */
	snprintf(other, sizeof(other), "%ld", (long)getpid() + 1);
	assert_int_equal(wg_sd_watchdog_usec("20000000", other), 0);
	assert_int_equal(wg_sd_watchdog_usec("20000000", "12x"), 0);
	assert_int_equal(wg_sd_watchdog_usec(NULL, pid), 0);
	assert_int_equal(wg_sd_watchdog_usec("", NULL), 0);
	assert_int_equal(wg_sd_watchdog_usec("0", NULL), 0);
	assert_int_equal(wg_sd_watchdog_usec("-5", NULL), 0);
	assert_int_equal(wg_sd_watchdog_usec("5s", NULL), 0);
	assert_int_equal(wg_sd_watchdog_usec("99999999999999999999999", NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unset_is_silent),
		cmocka_unit_test_setup_teardown(test_path, setup_rx, teardown_rx),
#ifdef SO_PASSCRED
		cmocka_unit_test_setup_teardown(test_sender_credentials, setup_rx, teardown_rx),
#endif
		cmocka_unit_test(test_abstract),
		cmocka_unit_test_setup_teardown(test_bad_addresses, setup_rx, teardown_rx),
		cmocka_unit_test_setup_teardown(test_full_queue_does_not_block, setup_rx,
						teardown_rx),
		cmocka_unit_test(test_notifyf_too_long),
		cmocka_unit_test(test_watchdog_values),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
