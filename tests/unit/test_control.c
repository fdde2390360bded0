/* The control server's limits on unfinished requests: the budget shared by
 * all connections, the close of a connection stalled mid-request, and the
 * request text kept out of locked memory. A fake device answers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "wgd/control.h"
#include "wgd/crypto.h"
#include "wgd/uapi.h"

#define K1 "e84b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba52027a"

struct fake_dev {
	int n_set;
	size_t n_peers; /* of the last set applied */
	int listen_port;
};

static int fake_get(struct wg_device *dev, struct wg_uapi_writer *w, void **cursor)
{
	struct fake_dev *f = (struct fake_dev *)dev;

	*cursor = NULL;
	wg_uapi_put_u64(w, "listen_port", (uint64_t)f->listen_port);
	return 0;
}

static bool fake_get_next(void *cursor, struct wg_uapi_writer *w, size_t max_peers)
{
	(void)cursor;
	(void)w;
	(void)max_peers;
	return false;
}

static void fake_get_end(void *cursor)
{
	(void)cursor;
}

static int fake_set(struct wg_device *dev, const struct wg_uapi_set *set)
{
	struct fake_dev *f = (struct fake_dev *)dev;

	f->n_set++;
	f->n_peers = set->n_peers;
	if (set->has_listen_port)
		f->listen_port = set->listen_port;
	return 0;
}

#define CONTROL_SERVER_TAG "wgd-test-control"
#include "control_server.h"

/* Event-loop turns that find nothing more to do: enough for every byte
 * already sent to be read and answered. */
static void pump(struct server *s)
{
	for (int i = 0; i < 64; i++)
		event_base_loop(s->base, EVLOOP_NONBLOCK);
}

static int client_connect(struct server *s)
{
	int fd = server_connect(s);

	pump(s); /* accepted */
	return fd;
}

/* Sends all of data, letting the server read whenever the socket is full. */
static void client_send(struct server *s, int fd, const char *data, size_t len)
{
	ssize_t n;

	while (len) {
		n = send(fd, data, len, MSG_DONTWAIT);
		if (n < 0) {
			assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
			pump(s);
			continue;
		}
		data += n;
		len -= (size_t)n;
	}
	pump(s);
}

/* Reads one reply ("...\n\n") or up to EOF; returns false on EOF. The loop
 * is bounded by rounds without progress, not by time. */
static bool client_reply(struct server *s, int fd, char *buf, size_t cap)
{
	size_t len = 0, idle = 0;
	ssize_t n;

	buf[0] = '\0';
	while (idle < 1000 && !(len >= 2 && buf[len - 1] == '\n' && buf[len - 2] == '\n')) {
		event_base_loop(s->base, EVLOOP_NONBLOCK);
		n = recv(fd, buf + len, cap - len - 1, MSG_DONTWAIT);
		if (n == 0)
			return false;
		if (n < 0) {
			assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
			idle++;
			continue;
		}
		idle = 0;
		len += (size_t)n;
		buf[len] = '\0';
		assert_true(len < cap - 1);
	}
	assert_true(idle < 1000);
	return true;
}

static bool client_sees_eof(int fd)
{
	char c;

	return recv(fd, &c, 1, MSG_DONTWAIT) == 0;
}

/* The body of a set with n peers (the same key: entries may repeat). */
static char *peers_text(size_t n, size_t *len)
{
	static const char peer[] = "public_key=" K1 "\nallowed_ip=10.0.0.1/32\n";
	char *text = malloc(n * (sizeof(peer) - 1) + 1);

	assert_non_null(text);
	for (size_t i = 0; i < n; i++)
		memcpy(text + i * (sizeof(peer) - 1), peer, sizeof(peer) - 1);
	*len = n * (sizeof(peer) - 1);
	return text;
}

/* (a) Two unfinished sets that together would exceed the budget: the second
 * is refused with errno=-ENOBUFS (its change set is dropped at once, its
 * connection stays usable), the first completes and is applied. */
static void test_budget_second_refused(void **state)
{
	struct server *s = *state;
	char reply[256], *a_text, *b_text;
	size_t a_len, b_len, a_used;
	int a, b;

	/* 200 peers hold about 56 KiB, 1000 need 128 KiB for the entries alone */
	wg_control_set_limits(s->ctl, 128 << 10, WG_CONTROL_STALL_MS);
	a_text = peers_text(200, &a_len);
	b_text = peers_text(1000, &b_len);
	a = client_connect(s);
	b = client_connect(s);
	client_send(s, a, "set=1\nlisten_port=1\n", 20);
	client_send(s, a, a_text, a_len);
	a_used = wg_control_budget_used(s->ctl);
	assert_true(a_used > 200 * sizeof(struct wg_uapi_peer));
	assert_true(a_used <= 128 << 10);
	client_send(s, b, "set=1\n", 6);
	client_send(s, b, b_text, b_len);
	/* b's change set is gone already; a's is intact */
	assert_int_equal(wg_control_budget_used(s->ctl), a_used);
	client_send(s, b, "\n", 1);
	assert_true(client_reply(s, b, reply, sizeof(reply)));
	assert_string_equal(reply, "errno=-105\n\n");
	assert_int_equal(s->dev.n_set, 0);
	/* b is still served */
	client_send(s, b, "get=1\n\n", 7);
	assert_true(client_reply(s, b, reply, sizeof(reply)));
	assert_string_equal(reply, "listen_port=0\nerrno=0\n\n");
	/* a completes */
	client_send(s, a, "\n", 1);
	assert_true(client_reply(s, a, reply, sizeof(reply)));
	assert_string_equal(reply, "errno=0\n\n");
	assert_int_equal(s->dev.n_set, 1);
	assert_int_equal(s->dev.n_peers, 200);
	assert_int_equal(s->dev.listen_port, 1);
	assert_int_equal(wg_control_budget_used(s->ctl), 0);
	/* alone, b's set fits */
	wg_control_set_limits(s->ctl, 256 << 10, WG_CONTROL_STALL_MS);
	client_send(s, b, "set=1\n", 6);
	client_send(s, b, b_text, b_len);
	client_send(s, b, "\n", 1);
	assert_true(client_reply(s, b, reply, sizeof(reply)));
	assert_string_equal(reply, "errno=0\n\n");
	assert_int_equal(s->dev.n_peers, 1000);
	assert_int_equal(wg_control_conn_count(s->ctl), 2);
	close(a);
	close(b);
	free(a_text);
	free(b_text);
}

static void on_test_timer(evutil_socket_t fd, short what, void *arg)
{
	*(bool *)arg = true;
}

/* Runs the loop, blocking, until a timer of ms fires. */
static void wait_loop(struct server *s, unsigned int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	bool fired = false;
	struct event *ev = evtimer_new(s->base, on_test_timer, &fired);

	assert_non_null(ev);
	evtimer_add(ev, &tv);
	while (!fired)
		event_base_loop(s->base, EVLOOP_ONCE);
	event_free(ev);
}

/* (b) With a short stall timeout: connections that sent part of a request
 * (whole lines, or part of a line) are closed and their budget freed; an
 * idle connection between requests and one that never sent anything stay. */
static void test_stalled_request_closed(void **state)
{
	enum { STALL_MS = 30 };
	struct server *s = *state;
	char reply[256];
	int lines, part, idle, fresh;

	wg_control_set_limits(s->ctl, WG_CONTROL_REQUEST_BUDGET, STALL_MS);
	lines = client_connect(s);
	part = client_connect(s);
	idle = client_connect(s);
	fresh = client_connect(s);
	client_send(s, lines, "set=1\nlisten_port=5\npublic_key=" K1 "\n", 32 + 64);
	client_send(s, part, "get", 3);
	client_send(s, idle, "get=1\n\n", 7);
	assert_true(client_reply(s, idle, reply, sizeof(reply)));
	assert_true(wg_control_budget_used(s->ctl) > 0);
	assert_int_equal(wg_control_conn_count(s->ctl), 4);
	/* ten timeouts: every stalled connection must be gone by then */
	wait_loop(s, 10 * STALL_MS);
	assert_int_equal(wg_control_conn_count(s->ctl), 2);
	assert_true(client_sees_eof(lines));
	assert_true(client_sees_eof(part));
	assert_false(client_sees_eof(idle));
	assert_false(client_sees_eof(fresh));
	assert_int_equal(wg_control_budget_used(s->ctl), 0);
	assert_int_equal(s->dev.n_set, 0);
	/* the survivors are served */
	client_send(s, idle, "get=1\n\n", 7);
	assert_true(client_reply(s, idle, reply, sizeof(reply)));
	assert_string_equal(reply, "listen_port=0\nerrno=0\n\n");
	client_send(s, fresh, "set=1\nlisten_port=6\n\n", 21);
	assert_true(client_reply(s, fresh, reply, sizeof(reply)));
	assert_string_equal(reply, "errno=0\n\n");
	close(lines);
	close(part);
	close(idle);
	close(fresh);
}

/* ---- (c) what sits in locked (key) memory ---- */

struct mapping {
	unsigned long start, end;
	char perms[5];
	unsigned long inode;
};

/* sodium_malloc'd blocks (and the slabs of secret.c) are anonymous
 * read-write mappings fenced by PROT_NONE guard pages: one page right
 * below, at least one right above. The kernel's "Locked" field would be
 * the direct test, but ASan turns mlock into a no-op, so the layout is
 * what is recognised. */
static bool guarded(const struct mapping *m, size_t i, size_t n)
{
	long page = sysconf(_SC_PAGESIZE);

	return i > 0 && i + 1 < n && !strcmp(m[i].perms, "rw-p") && !m[i].inode &&
	       !strcmp(m[i - 1].perms, "---p") && m[i - 1].end == m[i].start &&
	       m[i - 1].end - m[i - 1].start == (unsigned long)page &&
	       !strcmp(m[i + 1].perms, "---p") && m[i + 1].start == m[i].end &&
	       m[i].end - m[i].start <= (256ul << 20);
}

/* Whether needle occurs in any guarded (key) memory of this process, read
 * through /proc/self/mem. */
static bool in_locked_memory(const void *needle, size_t n)
{
	FILE *maps = fopen("/proc/self/maps", "r");
	int mem = open("/proc/self/mem", O_RDONLY);
	struct mapping *m = NULL;
	size_t count = 0, cap = 0, i;
	char line[512];
	bool found = false;

	assert_non_null(maps);
	assert_true(mem >= 0);
	while (fgets(line, sizeof(line), maps)) {
		if (count == cap) {
			cap = cap ? 2 * cap : 256;
			m = realloc(m, cap * sizeof(*m));
			assert_non_null(m);
		}
		assert_int_equal(sscanf(line, "%lx-%lx %4s %*s %*s %lu", &m[count].start,
					&m[count].end, m[count].perms, &m[count].inode),
				 4);
		count++;
	}
	fclose(maps);
	for (i = 0; i < count && !found; i++) {
		if (!guarded(m, i, count))
			continue;
		size_t len = m[i].end - m[i].start;
		char *copy = malloc(len);
		assert_non_null(copy);
		if (pread(mem, copy, len, (off_t)m[i].start) == (ssize_t)len)
			found = memmem(copy, len, needle, n) != NULL;
		sodium_memzero(copy, len);
		free(copy);
	}
	free(m);
	close(mem);
	return found;
}

static void random_hex(char *out, size_t bytes)
{
	uint8_t raw[32];

	assert_true(bytes <= sizeof(raw));
	randombytes_buf(raw, bytes);
	sodium_bin2hex(out, 2 * bytes + 1, raw, bytes);
}

/* Sends len bytes of filler without blocking or SIGPIPE; returns the send
 * errno that stopped it early, or 0. */
static int client_flood(struct server *s, int fd, size_t len)
{
	static char fill[4096];
	ssize_t n;

	memset(fill, 'a', sizeof(fill));
	while (len) {
		n = send(fd, fill, len < sizeof(fill) ? len : sizeof(fill),
			 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return errno;
		if (n > 0)
			len -= (size_t)n;
		event_base_loop(s->base, EVLOOP_NONBLOCK);
	}
	return 0;
}

/* (c) A framing error (a line over 4096 bytes) is answered while the client
 * is still writing: the rest of its request is read and dropped, so the
 * client reads the answer and then EOF instead of a reset. One that never
 * stops writing is closed stall_ms after the answer. */
static void test_framing_error_answered_mid_request(void **state)
{
	enum { STALL_MS = 30 };
	struct server *s = *state;
	char reply[256];
	bool fired = false;
	struct timeval cap = {10 * STALL_MS / 1000, (10 * STALL_MS % 1000) * 1000};
	struct event *ev = evtimer_new(s->base, on_test_timer, &fired);
	int fd = client_connect(s), err;

	client_send(s, fd, "set=1\nprivate_key=", 18);
	assert_int_equal(client_flood(s, fd, 4 << 20), 0);
	assert_true(client_reply(s, fd, reply, sizeof(reply)));
	assert_string_equal(reply, "errno=-90\n\n");
	assert_int_equal(shutdown(fd, SHUT_WR), 0);
	pump(s);
	assert_true(client_sees_eof(fd));
	assert_int_equal(wg_control_conn_count(s->ctl), 0);
	assert_int_equal(s->dev.n_set, 0);
	close(fd);

	wg_control_set_limits(s->ctl, WG_CONTROL_REQUEST_BUDGET, STALL_MS);
	fd = client_connect(s);
	client_send(s, fd, "set=1\nprivate_key=", 18);
	assert_non_null(ev);
	evtimer_add(ev, &cap);
	for (err = 0; !err && !fired;)
		err = client_flood(s, fd, 4096);
	assert_int_equal(wg_control_conn_count(s->ctl), 0);
	assert_true(err == EPIPE || err == ECONNRESET);
	event_free(ev);
	close(fd);
}

/* A partial set with a preshared key half sent: the text of neither the
 * parsed lines nor the unfinished one is in locked memory, while the
 * parsed public key and device private key are (the change set, and the
 * reader that holds it). The scanner itself is
 * checked on a sodium_malloc'd copy. */
static void test_request_text_not_locked(void **state)
{
	struct server *s = *state;
	char pub_hex[65], priv_hex[65], dev_hex[65], req[512], needle[128];
	uint8_t pub[32], dev_key[32];
	char *probe;
	int fd;

	assert_true(wg_crypto_init() >= 0);
	random_hex(pub_hex, 32);
	random_hex(priv_hex, 32);
	assert_int_equal(sodium_hex2bin(pub, sizeof(pub), pub_hex, 64, NULL, NULL, NULL), 0);
	/* the scanner finds what libsodium locked */
	snprintf(needle, sizeof(needle), "public_key=%s", pub_hex);
	probe = sodium_malloc(strlen(needle));
	assert_non_null(probe);
	memcpy(probe, needle, strlen(needle));
	assert_true(in_locked_memory(needle, strlen(needle)));
	sodium_free(probe);
	assert_false(in_locked_memory(needle, strlen(needle)));

	random_hex(dev_hex, 32);
	assert_int_equal(sodium_hex2bin(dev_key, sizeof(dev_key), dev_hex, 64, NULL, NULL, NULL),
			 0);
	snprintf(req, sizeof(req),
		 "set=1\nprivate_key=%s\nlisten_port=9\npublic_key=%s\nallowed_ip=10.9.8.7/32\n"
		 "preshared_key=%.40s",
		 dev_hex, pub_hex, priv_hex);
	fd = client_connect(s);
	client_send(s, fd, req, strlen(req));
	assert_true(wg_control_budget_used(s->ctl) > 0);
	assert_true(in_locked_memory(pub, sizeof(pub)));
	assert_true(in_locked_memory(dev_key, sizeof(dev_key))); /* the parsed device key */
	assert_false(in_locked_memory(dev_hex, 64));
	assert_false(in_locked_memory(needle, strlen(needle)));
	assert_false(in_locked_memory(priv_hex, 40));
	assert_false(in_locked_memory("allowed_ip=10.9.8.7/32", 22));
	assert_false(in_locked_memory("listen_port=9", 13));
	close(fd);
	pump(s);
	assert_int_equal(wg_control_conn_count(s->ctl), 0);
	assert_false(in_locked_memory(pub, sizeof(pub))); /* the change set went with it */
	assert_false(in_locked_memory(dev_key, sizeof(dev_key)));
	sodium_memzero(priv_hex, sizeof(priv_hex));
	sodium_memzero(dev_hex, sizeof(dev_hex));
	sodium_memzero(dev_key, sizeof(dev_key));
}

/* The unfinished line lives in ordinary memory, wiped as soon as its line
 * is parsed; between requests the reader holds no buffer at all. */
static void test_reader_wipes_line(void **state)
{
	static const char part1[] = "set=1\npreshared_key=" K1;
	struct wg_uapi_budget budget = {.limit = 1 << 20};
	struct wg_uapi_reader r;
	struct wg_uapi_set set;
	size_t used, i;
	int err;

	(void)state;
	wg_uapi_reader_init(&r, &budget);
	assert_int_equal(wg_uapi_reader_feed(&r, part1, 20 + 10, &used, &err, &set), WG_UAPI_NONE);
	assert_non_null(r.line);
	assert_int_equal(r.line_len, 24);
	assert_memory_equal(r.line, "preshared_key=" K1, 24);
	assert_false(in_locked_memory("preshared_key=" K1, 24));
	assert_int_equal(
		wg_uapi_reader_feed(&r, part1 + 30, sizeof(part1) - 1 - 30, &used, &err, &set),
		WG_UAPI_NONE);
	assert_int_equal(wg_uapi_reader_feed(&r, "\n", 1, &used, &err, &set), WG_UAPI_NONE);
	/* parsed: the buffer is still there, and all zero */
	assert_int_equal(r.line_len, 0);
	assert_non_null(r.line);
	for (i = 0; i < r.line_cap; i++)
		assert_int_equal(r.line[i], 0);
	/* preshared_key before any public_key is an unknown device key */
	assert_int_equal(wg_uapi_reader_feed(&r, "\n", 1, &used, &err, &set), WG_UAPI_SET);
	assert_int_equal(err, -EINVAL);
	assert_null(r.line);
	assert_int_equal(budget.used, 0);
	wg_uapi_reader_free(&r);
}

int main(void)
{
#define SERVER_TEST(t) cmocka_unit_test_setup_teardown(t, server_setup, server_teardown)
	const struct CMUnitTest tests[] = {
		SERVER_TEST(test_budget_second_refused),
		SERVER_TEST(test_stalled_request_closed),
		SERVER_TEST(test_framing_error_answered_mid_request),
		SERVER_TEST(test_request_text_not_locked),
		cmocka_unit_test(test_reader_wipes_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
