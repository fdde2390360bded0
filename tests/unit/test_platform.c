/* Platform layer without privileges: UDP over loopback with sticky sources,
 * the socketpair TUN stand-in, the UAPI socket file and the exit watch on
 * it. The real TUN and rtnetlink paths are covered by tests/netns. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "wgd/constants.h"
#include "wg_posix.h"
#include "wgd/platform/batch.h"
#include "wgd/platform/exit_watch.h"
#include "wgd/platform/tun.h"
#include "wgd/platform/uapi_sock.h"
#include "wgd/platform/udp.h"

#define WAIT_MS 5000 /* upper bound only: loopback delivers at once */

static bool readable(int fd, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	return poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN);
}

static uint16_t sock_port(int fd)
{
	union wg_sockaddr sa;
	socklen_t len = sizeof(sa);

	assert_int_equal(getsockname(fd, &sa.sa, &len), 0);
	return ntohs(sa.sa.sa_family == AF_INET ? sa.in4.sin_port : sa.in6.sin6_port);
}

static void endpoint(struct wg_endpoint *ep, const char *text)
{
	memset(ep, 0, sizeof(*ep));
	assert_int_equal(wg_sockaddr_parse(&ep->addr, text), 0);
}

static void endpoint_to(struct wg_endpoint *ep, const char *ip, uint16_t port)
{
	char text[WG_SOCKADDR_STRLEN];

	snprintf(text, sizeof(text), strchr(ip, ':') ? "[%s]:%u" : "%s:%u", ip, port);
	endpoint(ep, text);
}

/* Receives one datagram on the family's socket of udp. */
static ssize_t recv_one(struct wg_udp *udp, int family, uint8_t *buf, size_t len,
			struct wg_endpoint *from)
{
	int fds[2];

	wg_udp_fds(udp, fds);
	int fd = fds[family == AF_INET ? 0 : 1];
	assert_true(fd >= 0);
	assert_true(readable(fd, WAIT_MS));
	return wg_udp_recv(udp, fd, buf, len, from);
}

static void test_udp_same_port(void **state)
{
	struct wg_udp *udp;
	int fds[2];

	(void)state;
	assert_int_equal(wg_udp_open(0, 0, NULL, &udp), 0);
	wg_udp_fds(udp, fds);
	assert_true(fds[0] >= 0 && fds[1] >= 0);
	assert_int_not_equal(wg_udp_port(udp), 0);
	assert_int_equal(sock_port(fds[0]), wg_udp_port(udp));
	assert_int_equal(sock_port(fds[1]), wg_udp_port(udp));
	wg_udp_close(udp);
}

static void test_udp_fixed_port_and_in_use(void **state)
{
	struct wg_udp *a, *b;
	uint16_t port;

	(void)state;
	assert_int_equal(wg_udp_open(0, 0, NULL, &a), 0);
	port = wg_udp_port(a);
	assert_int_equal(wg_udp_open(port, 0, NULL, &b), -EADDRINUSE);
	wg_udp_close(a);
	assert_int_equal(wg_udp_open(port, 0, NULL, &b), 0);
	assert_int_equal(wg_udp_port(b), port);
	wg_udp_close(b);
}

static void test_udp_v6only(void **state)
{
	struct wg_udp *udp;
	int fds[2], on = 0;
	socklen_t len = sizeof(on);

	(void)state;
	assert_int_equal(wg_udp_open(0, 0, NULL, &udp), 0);
	wg_udp_fds(udp, fds);
	assert_int_equal(getsockopt(fds[1], IPPROTO_IPV6, IPV6_V6ONLY, &on, &len), 0);
	assert_int_equal(on, 1);
	wg_udp_close(udp);
}

/* a sends to b over ip, b sees a's address and the local address. */
static void loopback_roundtrip(const char *ip, int family)
{
	struct wg_udp *a, *b;
	struct wg_endpoint to, from, back;
	char want[WG_SOCKADDR_STRLEN], got[WG_SOCKADDR_STRLEN];
	uint8_t buf[64];
	const uint8_t msg[] = "hello sticky";

	assert_int_equal(wg_udp_open(0, 0, NULL, &a), 0);
	assert_int_equal(wg_udp_open(0, 0, NULL, &b), 0);
	endpoint_to(&to, ip, wg_udp_port(b));
	assert_int_equal(wg_udp_send(a, &to, msg, sizeof(msg)), 0);
	assert_int_equal(recv_one(b, family, buf, sizeof(buf), &from), sizeof(msg));
	assert_memory_equal(buf, msg, sizeof(msg));

	endpoint_to(&back, ip, wg_udp_port(a));
	assert_string_equal(wg_sockaddr_format(&from.addr, got, sizeof(got)),
			    wg_sockaddr_format(&back.addr, want, sizeof(want)));
	assert_true(from.has_src);
	assert_int_equal(from.src_ifindex, if_nametoindex("lo"));
	if (family == AF_INET)
		assert_memory_equal(&from.src4, &back.addr.in4.sin_addr, 4);
	else
		assert_memory_equal(&from.src6, &back.addr.in6.sin6_addr, 16);

	/* The reply leaves from the sticky source and reaches a. */
	assert_int_equal(wg_udp_send(b, &from, msg, sizeof(msg)), 0);
	assert_true(from.has_src);
	assert_int_equal(recv_one(a, family, buf, sizeof(buf), &back), sizeof(msg));
	wg_udp_close(a);
	wg_udp_close(b);
}

static void test_udp_loopback_v4(void **state)
{
	(void)state;
	loopback_roundtrip("127.0.0.1", AF_INET);
}

static void test_udp_loopback_v6(void **state)
{
	(void)state;
	loopback_roundtrip("::1", AF_INET6);
}

/* 127.0.0.2 is local (all of 127/8 is): the datagram must carry it. */
static void test_udp_sticky_source_used(void **state)
{
	struct wg_udp *a, *b;
	struct wg_endpoint to, from;
	uint8_t buf[16];

	(void)state;
	assert_int_equal(wg_udp_open(0, 0, NULL, &a), 0);
	assert_int_equal(wg_udp_open(0, 0, NULL, &b), 0);
	endpoint_to(&to, "127.0.0.1", wg_udp_port(b));
	to.has_src = true;
	assert_int_equal(inet_pton(AF_INET, "127.0.0.2", &to.src4), 1);
	assert_int_equal(wg_udp_send(a, &to, (const uint8_t *)"x", 1), 0);
	assert_true(to.has_src);
	assert_int_equal(recv_one(b, AF_INET, buf, sizeof(buf), &from), 1);
	assert_int_equal(from.addr.in4.sin_addr.s_addr, htonl(0x7f000002));
	wg_udp_close(a);
	wg_udp_close(b);
}

/* A source that is not local any more: the send falls back to the kernel's
 * choice, still delivers, and forgets the stale source. */
static void bogus_source(const char *dst, const char *src, int family)
{
	struct wg_udp *a, *b;
	struct wg_endpoint to, from;
	uint8_t buf[16];

	assert_int_equal(wg_udp_open(0, 0, NULL, &a), 0);
	assert_int_equal(wg_udp_open(0, 0, NULL, &b), 0);
	endpoint_to(&to, dst, wg_udp_port(b));
	to.has_src = true;
	assert_int_equal(inet_pton(family, src, family == AF_INET ? (void *)&to.src4 : &to.src6),
			 1);
	assert_int_equal(wg_udp_send(a, &to, (const uint8_t *)"y", 1), 0);
	assert_false(to.has_src);
	assert_int_equal(to.src_ifindex, 0);
	assert_int_equal(recv_one(b, family, buf, sizeof(buf), &from), 1);
	assert_int_equal(buf[0], 'y');
	wg_udp_close(a);
	wg_udp_close(b);
}

static void test_udp_bogus_source_v4(void **state)
{
	(void)state;
	bogus_source("127.0.0.1", "192.0.2.99", AF_INET);
}

static void test_udp_bogus_source_v6(void **state)
{
	(void)state;
	bogus_source("::1", "2001:db8::99", AF_INET6);
}

static void test_udp_truncated(void **state)
{
	struct wg_udp *a, *b;
	struct wg_endpoint to, from;
	uint8_t big[200] = {0}, small[10];

	(void)state;
	assert_int_equal(wg_udp_open(0, 0, NULL, &a), 0);
	assert_int_equal(wg_udp_open(0, 0, NULL, &b), 0);
	endpoint_to(&to, "127.0.0.1", wg_udp_port(b));
	assert_int_equal(wg_udp_send(a, &to, big, sizeof(big)), 0);
	assert_int_equal(recv_one(b, AF_INET, small, sizeof(small), &from), -EMSGSIZE);
	wg_udp_close(a);
	wg_udp_close(b);
}

static void test_udp_drained_and_bad_family(void **state)
{
	struct wg_udp *udp;
	struct wg_endpoint ep, none;
	uint8_t buf[8];
	int fds[2];

	(void)state;
	assert_int_equal(wg_udp_open(0, 0, NULL, &udp), 0);
	wg_udp_fds(udp, fds);
	assert_int_equal(wg_udp_recv(udp, fds[0], buf, sizeof(buf), &ep), -EAGAIN);
	memset(&none, 0, sizeof(none));
	assert_int_equal(wg_udp_send(udp, &none, buf, 1), -EDESTADDRREQ);
	wg_udp_close(udp);
}

/* fwmark=0 from `wg setconf` must succeed without privileges. A real mark
 * needs CAP_NET_ADMIN. */
static void test_udp_fwmark(void **state)
{
	struct wg_udp *udp;
	uint32_t mark = 7;
	socklen_t len = sizeof(mark);
	int fds[2];

	(void)state;
	assert_int_equal(wg_udp_open(0, 0, NULL, &udp), 0);
	assert_int_equal(wg_udp_set_fwmark(udp, 0), 0);
	wg_udp_fds(udp, fds);
	if (geteuid() != 0) {
		assert_int_equal(wg_udp_set_fwmark(udp, 51820), -EPERM);
	} else {
		assert_int_equal(wg_udp_set_fwmark(udp, 51820), 0);
		assert_int_equal(getsockopt(fds[1], SOL_SOCKET, SO_MARK, &mark, &len), 0);
		assert_int_equal(mark, 51820);
		assert_int_equal(wg_udp_set_fwmark(udp, 0), 0);
		assert_int_equal(getsockopt(fds[0], SOL_SOCKET, SO_MARK, &mark, &len), 0);
		assert_int_equal(mark, 0);
	}
	wg_udp_close(udp);
}

static void test_tun_socketpair(void **state)
{
	struct wg_tun *tun;
	uint8_t pkt[64] = {0x45, 0, 0, 20}, buf[64];
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	assert_int_equal(wg_tun_from_fd(sv[0], false, "pair0", &tun), 0);
	assert_string_equal(wg_tun_name(tun), "pair0");
	assert_int_equal(wg_tun_fd(tun), sv[0]);
	assert_int_equal(wg_tun_ifindex(tun), 0);
	assert_int_equal(wg_tun_mtu(tun), WG_DEFAULT_MTU);
	assert_true(wg_tun_exists(tun));
	assert_int_equal(wg_tun_read(tun, buf, sizeof(buf)), -EAGAIN);

	assert_int_equal(write(sv[1], pkt, 20), 20);
	assert_int_equal(wg_tun_read(tun, buf, sizeof(buf)), 20);
	assert_memory_equal(buf, pkt, 20);

	assert_int_equal(wg_tun_write(tun, pkt, 40), 40);
	assert_int_equal(read(sv[1], buf, sizeof(buf)), 40);

	/* A read that claims more than the buffer held is not believed. */
	assert_int_equal(wg_posix_read_len(sizeof(buf) + 1, sizeof(buf)), -EMSGSIZE);
	assert_int_equal(wg_posix_read_len(sizeof(buf), sizeof(buf)), sizeof(buf));
	assert_int_equal(wg_posix_read_len(-EAGAIN, sizeof(buf)), -EAGAIN);

	close(sv[1]);
	assert_int_equal(wg_tun_read(tun, buf, sizeof(buf)), -ENODEV);
	assert_int_equal(wg_tun_write(tun, pkt, 20), -ENODEV);
	wg_tun_close(tun);
}

/* The batch forms on a plain TUN (the portable ones): one packet per
 * read, placed at the start of the caller's buffer, only where a largest
 * packet and the tail would fit; writes in order, failures counted. */
static void test_tun_batch_plain(void **state)
{
	size_t tail = 16, cap = WG_TUN_READ_ROOM + tail;
	uint8_t *buf = malloc(cap + 64), a[20] = {0x45, 0, 0, 20}, b[28] = {0x45, 0, 0, 28};
	struct wg_pkt pkts[4], out[2] = {{a, sizeof(a)}, {b, sizeof(b)}};
	struct wg_tun *tun;
	int sv[2];

	(void)state;
	assert_non_null(buf);
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	assert_int_equal(wg_tun_from_fd(sv[0], false, "pair0", &tun), 0);
	assert_int_equal(wg_tun_read_batch(tun, buf, cap, tail, pkts, 4), -EAGAIN);
	assert_int_equal(write(sv[1], b, sizeof(b)), sizeof(b));
	/* No room for a largest packet: nothing read, the packet waits. */
	assert_int_equal(wg_tun_read_batch(tun, buf, cap - 1, tail, pkts, 4), 0);
	assert_int_equal(wg_tun_read_batch(tun, buf + 64, cap, tail, pkts, 4), 1);
	assert_ptr_equal(pkts[0].data, buf + 64);
	assert_int_equal(pkts[0].len, sizeof(b));
	assert_memory_equal(pkts[0].data, b, sizeof(b));
	assert_false(wg_tun_read_pending(tun));
	assert_int_equal(wg_tun_read_batch(tun, buf, cap, tail, pkts, 4), -EAGAIN);

	assert_int_equal(wg_tun_write_batch(tun, out, 2), 0);
	assert_int_equal(read(sv[1], buf, cap), sizeof(a));
	assert_memory_equal(buf, a, sizeof(a));
	assert_int_equal(read(sv[1], buf, cap), sizeof(b));
	assert_memory_equal(buf, b, sizeof(b));

	close(sv[1]);
	assert_int_equal(wg_tun_write_batch(tun, out, 2), 2);
	assert_int_equal(wg_tun_read_batch(tun, buf, cap, tail, pkts, 4), -ENODEV);
	wg_tun_close(tun);
	free(buf);
}

/* --- UAPI socket --- */

struct tmpdir {
	char dir[64];
	char sub[96];
};

static int setup_dir(void **state)
{
	struct tmpdir *t = calloc(1, sizeof(*t));

	snprintf(t->dir, sizeof(t->dir), "/tmp/wgd-test-XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	snprintf(t->sub, sizeof(t->sub), "%s/wireguard", t->dir);
	*state = t;
	return 0;
}

static int teardown_dir(void **state)
{
	struct tmpdir *t = *state;
	char path[160];

	snprintf(path, sizeof(path), "%s/wgt0.sock", t->sub);
	unlink(path);
	rmdir(t->sub);
	rmdir(t->dir);
	free(t);
	return 0;
}

static void test_uapi_open_modes(void **state)
{
	struct tmpdir *t = *state;
	struct wg_uapi_socket s;
	struct stat st;

	assert_int_equal(wg_uapi_open(t->sub, "wgt0", &s), 0);
	assert_int_equal(stat(t->sub, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0755);
	assert_int_equal(lstat(s.path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_true(strstr(s.path, "/wgt0.sock") != NULL);
	wg_uapi_close(&s);
	assert_int_equal(lstat(s.path, &st), -1);
}

static bool connects(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	bool ok;

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	ok = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0;
	close(fd);
	return ok;
}

static void test_uapi_live_refused_stale_replaced(void **state)
{
	struct tmpdir *t = *state;
	struct wg_uapi_socket a, b;

	assert_int_equal(wg_uapi_open(t->sub, "wgt0", &a), 0);
	assert_int_equal(wg_uapi_open(t->sub, "wgt0", &b), -EADDRINUSE);
	/* A crashed daemon: descriptor gone, file left behind. */
	close(a.fd);
	assert_int_equal(wg_uapi_open(t->sub, "wgt0", &b), 0);
	assert_true(connects(b.path));
	wg_uapi_close(&b);
}

static void test_uapi_not_a_socket(void **state)
{
	struct tmpdir *t = *state;
	struct wg_uapi_socket s;
	char path[160];
	FILE *f;

	assert_int_equal(mkdir(t->sub, 0755), 0);
	snprintf(path, sizeof(path), "%s/wgt0.sock", t->sub);
	f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(wg_uapi_open(t->sub, "wgt0", &s), -EEXIST);
}

/* Cleanup never removes a socket file that replaced ours. */
static void test_uapi_close_keeps_foreign_file(void **state)
{
	struct tmpdir *t = *state;
	struct wg_uapi_socket s;
	struct stat st;
	FILE *f;

	assert_int_equal(wg_uapi_open(t->sub, "wgt0", &s), 0);
	assert_int_equal(unlink(s.path), 0);
	f = fopen(s.path, "w");
	assert_non_null(f);
	fclose(f);
	wg_uapi_close(&s);
	snprintf(s.path, sizeof(s.path), "%s/wgt0.sock", t->sub);
	assert_int_equal(lstat(s.path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
}

static void test_uapi_adopt(void **state)
{
	struct tmpdir *t = *state;
	struct wg_uapi_socket a, b;
	int sv[2];

	assert_int_equal(wg_uapi_open(t->sub, "wgt0", &a), 0);
	assert_int_equal(wg_uapi_adopt(a.fd, &b), 0);
	assert_string_equal(b.path, a.path);
	assert_true(b.ino == a.ino && b.dev == a.dev);
	wg_uapi_close(&b);

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(wg_uapi_adopt(sv[0], &b), -EINVAL);
	close(sv[1]);
}

static void test_uapi_listen_compat(void **state)
{
	struct tmpdir *t = *state;
	char path[WG_UAPI_PATH_MAX];
	struct stat st;
	int fd;

	assert_int_equal(wg_uapi_listen(t->sub, "wgt0", &fd, path, sizeof(path)), 0);
	wg_uapi_unlink(path); /* still served: kept */
	assert_int_equal(lstat(path, &st), 0);
	close(fd);
	wg_uapi_unlink(path);
	assert_int_equal(lstat(path, &st), -1);
}

static void test_exit_watch_socket_removed(void **state)
{
	struct tmpdir *t = *state;
	struct wg_uapi_socket s;
	struct wg_exit_watch *w;

	assert_int_equal(wg_uapi_open(t->sub, "wgt0", &s), 0);
	assert_int_equal(wg_exit_watch_open(NULL, &s, &w), 0);
	assert_false(readable(wg_exit_watch_fd(w), 0));

	/* A chmod is noticed but is no reason to exit. */
	assert_int_equal(chmod(s.path, 0640), 0);
	assert_true(readable(wg_exit_watch_fd(w), WAIT_MS));
	assert_int_equal(wg_exit_watch_check(w), WG_EXIT_NONE);
	assert_false(readable(wg_exit_watch_fd(w), 0));

	assert_int_equal(unlink(s.path), 0);
	assert_true(readable(wg_exit_watch_fd(w), WAIT_MS));
	assert_int_equal(wg_exit_watch_check(w), WG_EXIT_SOCKET_GONE);
	wg_exit_watch_close(w);
	wg_uapi_close(&s);
}

static void test_exit_watch_socket_already_gone(void **state)
{
	struct tmpdir *t = *state;
	struct wg_uapi_socket s;
	struct wg_exit_watch *w;
	int sv[2];
	struct wg_tun *tun;

	assert_int_equal(wg_uapi_open(t->sub, "wgt0", &s), 0);
	assert_int_equal(unlink(s.path), 0);
	assert_int_equal(wg_exit_watch_open(NULL, &s, &w), -ENOENT);

	/* A socketpair TUN has no interface to watch. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	assert_int_equal(wg_tun_from_fd(sv[0], false, "pair0", &tun), 0);
	assert_int_equal(wg_exit_watch_open(tun, NULL, &w), 0);
	assert_false(readable(wg_exit_watch_fd(w), 0));
	assert_int_equal(wg_exit_watch_check(w), WG_EXIT_NONE);
	wg_exit_watch_close(w);
	wg_tun_close(tun);
	close(sv[1]);
	wg_uapi_close(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_udp_same_port),
		cmocka_unit_test(test_udp_fixed_port_and_in_use),
		cmocka_unit_test(test_udp_v6only),
		cmocka_unit_test(test_udp_loopback_v4),
		cmocka_unit_test(test_udp_loopback_v6),
		cmocka_unit_test(test_udp_sticky_source_used),
		cmocka_unit_test(test_udp_bogus_source_v4),
		cmocka_unit_test(test_udp_bogus_source_v6),
		cmocka_unit_test(test_udp_truncated),
		cmocka_unit_test(test_udp_drained_and_bad_family),
		cmocka_unit_test(test_udp_fwmark),
		cmocka_unit_test(test_tun_socketpair),
		cmocka_unit_test(test_tun_batch_plain),
		cmocka_unit_test_setup_teardown(test_uapi_open_modes, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_uapi_live_refused_stale_replaced, setup_dir,
						teardown_dir),
		cmocka_unit_test_setup_teardown(test_uapi_not_a_socket, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_uapi_close_keeps_foreign_file, setup_dir,
						teardown_dir),
		cmocka_unit_test_setup_teardown(test_uapi_adopt, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_uapi_listen_compat, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_exit_watch_socket_removed, setup_dir,
						teardown_dir),
		cmocka_unit_test_setup_teardown(test_exit_watch_socket_already_gone, setup_dir,
						teardown_dir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
