/* The metrics exposition (metrics.c), its UAPI op (wgd_metrics=1) and its
 * HTTP endpoint (metrics_http.c): two devices on loopback, as in
 * test_source, that complete a handshake. Also writes metrics-sample.prom
 * in the working directory, which the check_exposition test validates with
 * the Prometheus Python client's parser. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "dev.h"
#include "helpers/devpair.h"
#include "wgd/metrics_http.h"
#include "wgd/control.h"
#include "wgd/crypto.h"
#include "wgd/device.h"
#include "wgd/log.h"
#include "wgd/uapi.h"

#define SEC	WG_NSEC_PER_SEC
#define UNIX_S	DEVPAIR_UNIX_S
#define SAMPLE	"metrics-sample.prom"
#define ODD_DEV "wg\"0\\\n" /* a device name every escape applies to */

/* Peers from..from+count-1 in one set: key bytes from i, 10.(i>>16+1).x.y/32,
 * an endpoint for even i. */
static void add_peers(struct wg_device *dev, uint32_t from, uint32_t count)
{
	size_t cap = (size_t)count * 192 + 1, len = 0;
	char *body = malloc(cap), h[65];
	struct wg_uapi_set set;
	uint8_t k[WG_KEY_LEN];

	assert_non_null(body);
	for (uint32_t i = from; i < from + count; i++) {
		memset(k, 0x5a, sizeof(k));
		memcpy(k, &i, sizeof(i));
		hex(h, k);
		len += (size_t)snprintf(body + len, cap - len,
					"public_key=%s\nallowed_ip=10.%u.%u.%u/32\n", h,
					(i >> 16) + 1, (i >> 8) & 255, i & 255);
		if (i % 2 == 0)
			len += (size_t)snprintf(body + len, cap - len, "endpoint=192.0.2.1:%u\n",
						1024 + i % 60000);
	}
	assert_int_equal(wg_uapi_parse_set(body, len, &set), 0);
	assert_int_equal(wg_device_set(dev, &set), 0);
	wg_uapi_set_free(&set);
	free(body);
}

/* --- reading an exposition --- */

/* The whole exposition, written max_peers peers per step. */
static char *exposition(struct wg_device *dev, const char *name, size_t max_peers)
{
	struct wg_device_metrics *m;
	struct wg_uapi_writer w;
	char *s;

	wg_uapi_writer_init(&w);
	assert_int_equal(wg_device_metrics_begin(dev, name, &w, &m), 0);
	while (wg_device_metrics_next(m, &w, max_peers))
		;
	wg_device_metrics_end(m);
	assert_false(w.failed);
	s = strndup(w.buf ? w.buf : "", w.len);
	wg_uapi_writer_free(&w);
	return s;
}

/* The value of the sample whose name and labels are exactly `series`
 * (as written: `name{device="...",...}`); fails if there is none. */
static uint64_t value_of(const char *text, const char *series)
{
	size_t n = strlen(series);

	for (const char *p = text; p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, series, n) && p[n] == ' ')
			return strtoull(p + n + 1, NULL, 10);
	fail_msg("no sample %s", series);
	return 0;
}

static size_t count_lines(const char *text, const char *prefix)
{
	size_t n = 0, len = strlen(prefix);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		n += !strncmp(p, prefix, len);
	return n;
}

/* The metric name of a sample line (up to '{' or ' '). */
static size_t name_len(const char *line)
{
	return strcspn(line, "{ \n");
}

#define MAX_FAMILIES 64

struct shape {
	char names[MAX_FAMILIES][80];
	size_t n;
};

static bool seen(const struct shape *s, const char *name, size_t len)
{
	for (size_t i = 0; i < s->n; i++)
		if (strlen(s->names[i]) == len && !strncmp(s->names[i], name, len))
			return true;
	return false;
}

/* One "# HELP" line; the family it opens must be new. */
static void shape_help(struct shape *s, const char *line)
{
	const char *name = line + 7;
	size_t len = name_len(name);

	if (seen(s, name, len))
		fail_msg("family %.*s appears twice", (int)len, name);
	assert_true(s->n < MAX_FAMILIES && len < sizeof(s->names[0]));
	memcpy(s->names[s->n], name, len);
	s->names[s->n++][len] = '\0';
}

/* The format's shape: every family opens with HELP then TYPE, exactly
 * once, and its samples follow it, all together; no empty line. Returns
 * the families seen. */
static struct shape check_shape(const char *text)
{
	struct shape s = {.n = 0};
	const char *cur = NULL, *line = text;
	bool typed = false;

	for (; *line; line = strchr(line, '\n') + 1) {
		assert_non_null(strchr(line, '\n'));
		assert_true(*line != '\n');
		if (!strncmp(line, "# HELP ", 7)) {
			shape_help(&s, line);
			cur = s.names[s.n - 1];
			typed = false;
		} else if (!strncmp(line, "# TYPE ", 7)) {
			assert_non_null(cur);
			assert_false(typed);
			assert_int_equal(name_len(line + 7), strlen(cur));
			assert_memory_equal(line + 7, cur, strlen(cur));
			typed = true;
		} else {
			if (!cur || !typed || name_len(line) != strlen(cur) ||
			    strncmp(line, cur, strlen(cur)))
				fail_msg("sample outside its family: %.*s",
					 (int)strcspn(line, "\n"), line);
		}
	}
	return s;
}

static bool has_family(const struct shape *s, const char *name)
{
	return seen(s, name, strlen(name));
}

/* A value of B's peer in A's get reply (A has one peer). */
static uint64_t get_value(struct wg_device *dev, const char *key)
{
	struct wg_uapi_writer w;
	char *p, k[64];
	uint64_t v;

	wg_uapi_writer_init(&w);
	assert_int_equal(wg_device_get(dev, &w), 0);
	wg_uapi_put_bytes(&w, "", 1);
	snprintf(k, sizeof(k), "\n%s=", key);
	p = strstr(w.buf, k);
	assert_non_null(p);
	v = strtoull(p + strlen(k), NULL, 10);
	wg_uapi_writer_free(&w);
	return v;
}

static void series(char *out, size_t cap, const char *name, const uint8_t *key, const char *rest)
{
	char b64[45];

	if (!key) {
		snprintf(out, cap, "%s{device=\"wg0\"%s}", name, rest);
		return;
	}
	wg_key_to_base64(b64, key);
	snprintf(out, cap, "%s{device=\"wg0\",public_key=\"%s\"%s}", name, b64, rest);
}

/* --- the exposition --- */

static void expect_wireguard_families(struct devpair *e, const char *t)
{
	char s[256], ep[64], b64[45];

	wg_key_to_base64(b64, e->a.pub);
	snprintf(s, sizeof(s), "wireguard_device_info{device=\"wg0\",public_key=\"%s\"}", b64);
	assert_int_equal(value_of(t, s), 1);
	snprintf(ep, sizeof(ep), ",endpoint=\"127.0.0.1:%u\",name=\"\"",
		 wg_device_listen_port(e->b.dev));
	series(s, sizeof(s), "wireguard_peer_info", e->b.pub, ep);
	assert_int_equal(value_of(t, s), 1);
	series(s, sizeof(s), "wireguard_peer_allowed_ips_info", e->b.pub,
	       ",allowed_ips=\"10.0.0.2/32\",family=\"IPv4\"");
	assert_int_equal(value_of(t, s), 1);
	series(s, sizeof(s), "wireguard_peer_allowed_ips_info", e->b.pub,
	       ",allowed_ips=\"fd00::2/128\",family=\"IPv6\"");
	assert_int_equal(value_of(t, s), 1);
	series(s, sizeof(s), "wireguard_peer_receive_bytes_total", e->b.pub, "");
	assert_true(value_of(t, s) > 0);
	assert_int_equal(value_of(t, s), get_value(e->a.dev, "rx_bytes"));
	series(s, sizeof(s), "wireguard_peer_transmit_bytes_total", e->b.pub, "");
	assert_true(value_of(t, s) > 0);
	assert_int_equal(value_of(t, s), get_value(e->a.dev, "tx_bytes"));
	series(s, sizeof(s), "wireguard_peer_last_handshake_seconds", e->b.pub, "");
	assert_int_equal(value_of(t, s), UNIX_S + 5);
	assert_int_equal(value_of(t, s), get_value(e->a.dev, "last_handshake_time_sec"));
}

static void expect_wgd_families(struct devpair *e, const char *t)
{
	char s[256];

	series(s, sizeof(s), "wgd_peers", NULL, "");
	assert_int_equal(value_of(t, s), 1);
	series(s, sizeof(s), "wgd_handshake_messages_total", NULL, ",event=\"initiation_sent\"");
	assert_int_equal(value_of(t, s), 1);
	series(s, sizeof(s), "wgd_handshake_messages_total", NULL, ",event=\"response_received\"");
	assert_int_equal(value_of(t, s), 1);
	series(s, sizeof(s), "wgd_handshakes_completed_total", NULL, "");
	assert_int_equal(value_of(t, s), 1);
	series(s, sizeof(s), "wgd_under_load", NULL, "");
	assert_int_equal(value_of(t, s), 0);
	series(s, sizeof(s), "wgd_peer_handshake_messages_total", e->b.pub,
	       ",event=\"initiation_sent\"");
	assert_int_equal(value_of(t, s), 1);
	series(s, sizeof(s), "wgd_peer_sessions_created_total", e->b.pub, "");
	assert_int_equal(value_of(t, s), 1);
	series(s, sizeof(s), "wgd_peer_last_initiation_sent_seconds", e->b.pub, "");
	assert_int_equal(value_of(t, s), UNIX_S + 5);
	series(s, sizeof(s), "wgd_peer_last_receive_seconds", e->b.pub, "");
	assert_int_equal(value_of(t, s), UNIX_S + 5);
	series(s, sizeof(s), "wgd_peer_last_icmp_error_seconds", e->b.pub, ",kind=\"none\"");
	assert_int_equal(value_of(t, s), 0);
	series(s, sizeof(s), "wgd_peer_unanswered_seconds", e->b.pub, "");
	assert_non_null(strstr(t, s));
	assert_non_null(strstr(strstr(t, s), "} 0.000\n"));
	series(s, sizeof(s), "wgd_staged_packets", NULL, "");
	assert_int_equal(value_of(t, s), 0);
}

/* Written by test_exposition for the check_exposition test. */
static void write_sample(const char *text)
{
	FILE *f = fopen(SAMPLE, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
	assert_int_equal(fclose(f), 0);
}

/* After a handshake (5 s after the devices' start, on the unix clock):
 * the exporter's families with the values get reports, wgd's own with the
 * handshake's messages, the shape of the format. */
static void test_exposition(void **state)
{
	struct devpair *e = *state;
	static const char *const wanted[] = {"wireguard_device_info",
					     "wireguard_peer_info",
					     "wireguard_peer_allowed_ips_info",
					     "wireguard_peer_receive_bytes_total",
					     "wireguard_peer_transmit_bytes_total",
					     "wireguard_peer_last_handshake_seconds",
					     "wgd_handshake_failures_total",
					     "wgd_dropped_packets_total",
					     "wgd_socket_errors_total",
					     "wgd_icmp_errors_total",
					     "wgd_datapath_packets_total",
					     "wgd_datapath_batches_total",
					     "wgd_handshake_reject_last_seconds",
					     "wgd_handshake_rejects_total",
					     "wgd_peer_dropped_packets_total",
					     "wgd_peer_icmp_errors_total",
					     "wgd_peer_staged_packets"};
	struct shape sh;
	char *t;

	e->clk.mono += 5 * SEC;
	e->clk.unix_ns += 5 * SEC;
	devpair_send_a_to_b(e);
	t = exposition(e->a.dev, "wg0", SIZE_MAX);
	sh = check_shape(t);
	for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++)
		if (!has_family(&sh, wanted[i]))
			fail_msg("no family %s", wanted[i]);
	expect_wireguard_families(e, t);
	expect_wgd_families(e, t);
	free(t);
	t = exposition(e->b.dev, "wg0", SIZE_MAX);
	check_shape(t);
	assert_int_equal(value_of(t, "wgd_handshake_messages_total{device=\"wg0\",event="
				     "\"initiation_received\"}"),
			 1);
	assert_int_equal(
		value_of(t, "wgd_handshake_messages_total{device=\"wg0\",event=\"response_sent\"}"),
		1);
	free(t);
	t = exposition(e->a.dev, ODD_DEV, 1);
	check_shape(t);
	write_sample(t);
	free(t);
}

/* An initiation from a key A does not know: counted as a failure, and
 * kept in the ring by its source address with its time and count. */
static void test_rejects(void **state)
{
	struct devpair *e = *state;
	uint8_t pkt[40] = {0x45};
	char s[256];
	char *t;

	assert_int_equal(node_apply(&e->a, "public_key=%s\nremove=true\n", e->b.pub_hex), 0);
	assert_int_equal(node_apply(&e->b, "public_key=%s\nendpoint=127.0.0.1:%u\n", e->a.pub_hex,
				    wg_device_listen_port(e->a.dev)),
			 0);
	pkt[3] = sizeof(pkt);
	pkt[8] = 64;
	pkt[9] = 17;
	assert_int_equal(inet_pton(AF_INET, "10.0.0.2", pkt + 12), 1);
	assert_int_equal(inet_pton(AF_INET, "10.0.0.1", pkt + 16), 1);
	assert_int_equal(write(e->b.tun_fd, pkt, sizeof(pkt)), (ssize_t)sizeof(pkt));
	devpair_pump(e);
	t = exposition(e->a.dev, "wg0", SIZE_MAX);
	check_shape(t);
	series(s, sizeof(s), "wgd_handshake_failures_total", NULL, ",reason=\"unknown_peer\"");
	assert_int_equal(value_of(t, s), 1);
	snprintf(s, sizeof(s),
		 "wgd_handshake_rejects_total{device=\"wg0\",reason=\"unknown_peer\",source="
		 "\"127.0.0.1:%u\"}",
		 wg_device_listen_port(e->b.dev));
	assert_int_equal(value_of(t, s), 1);
	snprintf(s, sizeof(s),
		 "wgd_handshake_reject_last_seconds{device=\"wg0\",reason=\"unknown_peer\","
		 "source=\"127.0.0.1:%u\"}",
		 wg_device_listen_port(e->b.dev));
	assert_int_equal(value_of(t, s), UNIX_S);
	assert_int_equal(count_lines(t, "wgd_handshake_rejects_total{"), 1);
	free(t);
}

/* Label values escape backslash, quote and newline; a device without a
 * key has no wireguard_device_info sample (the family stays). */
static void test_escaping_and_no_key(void **state)
{
	struct devpair *e = *state;
	char *t = exposition(e->a.dev, ODD_DEV, SIZE_MAX);

	assert_non_null(strstr(t, "wgd_peers{device=\"wg\\\"0\\\\\\n\"} 1\n"));
	assert_int_equal(count_lines(t, "wgd_peers{"), 1);
	free(t);
	assert_int_equal(node_apply(&e->a, "private_key=%064d\n", 0), 0);
	t = exposition(e->a.dev, NULL, SIZE_MAX);
	check_shape(t);
	assert_non_null(strstr(t, "# TYPE wireguard_device_info gauge\n"));
	assert_int_equal(count_lines(t, "wireguard_device_info{"), 0);
	assert_int_equal(count_lines(t, "wgd_peers{device=\"wg\"} 1"), 1);
	free(t);
}

/* Any step size gives the same text; each per-peer family has one
 * sample per peer (or per prefix). */
static void test_steps_same_text(void **state)
{
	struct devpair *e = *state;
	char *whole, *t;

	devpair_send_a_to_b(e);
	add_peers(e->a.dev, 0, 300);
	whole = exposition(e->a.dev, "wg0", SIZE_MAX);
	check_shape(whole);
	assert_int_equal(count_lines(whole, "wireguard_peer_info{"), 301);
	assert_int_equal(count_lines(whole, "wireguard_peer_allowed_ips_info{"), 302);
	assert_int_equal(count_lines(whole, "wgd_peer_unanswered_seconds{"), 301);
	assert_int_equal(count_lines(whole, "wgd_peer_handshake_messages_total{"), 301 * 5);
	for (size_t step = 1; step <= 1000; step *= 7) {
		t = exposition(e->a.dev, "wg0", step);
		assert_string_equal(t, whole);
		free(t);
	}
	free(whole);
}

/* Peers removed and added between steps: the text keeps its shape, and a
 * peer is never written twice in a family. */
static void test_peers_change_mid_stream(void **state)
{
	struct devpair *e = *state;
	struct wg_device_metrics *m;
	struct wg_uapi_writer w;
	uint8_t k[WG_KEY_LEN];
	char h[65];
	uint32_t gone = 7;

	add_peers(e->a.dev, 0, 40);
	wg_uapi_writer_init(&w);
	assert_int_equal(wg_device_metrics_begin(e->a.dev, "wg0", &w, &m), 0);
	for (int i = 0; i < 100 && wg_device_metrics_next(m, &w, 3); i++)
		;
	memset(k, 0x5a, sizeof(k));
	memcpy(k, &gone, sizeof(gone));
	hex(h, k);
	assert_int_equal(node_apply(&e->a, "public_key=%s\nremove=true\n", h), 0);
	add_peers(e->a.dev, 100, 5);
	while (wg_device_metrics_next(m, &w, 3))
		;
	wg_device_metrics_end(m);
	wg_uapi_put_bytes(&w, "", 1);
	assert_false(w.failed);
	check_shape(w.buf);
	/* the last family was written after the change: 40 - 1 + 5 + B */
	assert_int_equal(count_lines(w.buf, "wgd_peer_unanswered_seconds{"), 45);
	wg_uapi_writer_free(&w);
}

/* A device destroyed mid-stream ends the stream; the cursor still frees. */
static void test_device_gone_mid_stream(void **state)
{
	struct devpair *e = *state;
	struct wg_device_metrics *m;
	struct wg_uapi_writer w;

	add_peers(e->a.dev, 0, 10);
	wg_uapi_writer_init(&w);
	assert_int_equal(wg_device_metrics_begin(e->a.dev, "wg0", &w, &m), 0);
	assert_true(wg_device_metrics_next(m, &w, 2));
	wg_device_destroy(e->a.dev);
	e->a.dev = NULL;
	assert_false(wg_device_metrics_next(m, &w, 2));
	wg_device_metrics_end(m);
	wg_uapi_writer_free(&w);
}

/* --- the UAPI op --- */

static const struct wg_control_ops dev_ops = {
	.get_begin = wg_control_dev_get_begin,
	.get_next = wg_control_dev_get_next,
	.get_end = wg_control_dev_get_end,
	.set = wg_device_set,
};

static const struct wg_control_metrics dev_mx = {
	.begin = wg_control_dev_metrics_begin,
	.next = wg_control_dev_metrics_next,
	.end = wg_control_dev_metrics_end,
	.device = "wg0",
};

static char *handle(struct wg_device *dev, const struct wg_control_metrics *mx, int op,
		    const char *body)
{
	struct wg_control_ops ops = dev_ops;
	struct wg_uapi_writer w;
	char *s;

	ops.dev = dev;
	wg_uapi_writer_init(&w);
	assert_int_equal(wg_control_handle_metrics(&ops, mx, op, body, strlen(body), &w), 0);
	s = strndup(w.buf, w.len);
	wg_uapi_writer_free(&w);
	return s;
}

/* "wgd_metrics=1" is its own op, without a body; the reply is the
 * exposition then errno=0; a server without metrics says EOPNOTSUPP. */
static void test_uapi_op(void **state)
{
	struct devpair *e = *state;
	struct wg_uapi_reader r;
	struct wg_uapi_set set;
	char *want, *got;
	size_t used;
	int err;

	wg_uapi_reader_init(&r, NULL);
	assert_int_equal(wg_uapi_reader_feed(&r, "wgd_metrics=1\n\n", 15, &used, &err, &set),
			 WG_UAPI_METRICS);
	assert_int_equal(err, 0);
	assert_int_equal(wg_uapi_reader_feed(&r, "wgd_metrics=1\nx=1\n\n", 19, &used, &err, &set),
			 WG_UAPI_METRICS);
	assert_int_equal(err, -EINVAL);
	assert_int_equal(wg_uapi_reader_feed(&r, "wgd_metrics=2\n\n", 15, &used, &err, &set),
			 -EINVAL);
	wg_uapi_reader_free(&r);

	add_peers(e->a.dev, 0, 20);
	want = exposition(e->a.dev, "wg0", SIZE_MAX);
	want = realloc(want, strlen(want) + 10);
	strcat(want, "errno=0\n\n");
	got = handle(e->a.dev, &dev_mx, WG_UAPI_METRICS, "");
	assert_string_equal(got, want);
	assert_ptr_equal(strstr(got, "\n\n"), got + strlen(got) - 2); /* one empty line: the end */
	free(got);
	free(want);
	got = handle(e->a.dev, &dev_mx, WG_UAPI_METRICS, "x=1\n");
	assert_string_equal(got, "errno=22\n\n");
	free(got);
	got = handle(e->a.dev, NULL, WG_UAPI_METRICS, "");
	assert_string_equal(got, "errno=95\n\n");
	free(got);
}

/* A control socket for a's device, named wg0 in the metrics. */
struct ctl_env {
	struct wg_control *ctl;
	char dir[64], path[96];
	int lfd;
};

static void ctl_start(struct ctl_env *c, struct node *n)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};

	strcpy(c->dir, "/tmp/wgd-test-metrics-XXXXXX");
	assert_non_null(mkdtemp(c->dir));
	snprintf(c->path, sizeof(c->path), "%s/wg0.sock", c->dir);
	strcpy(sun.sun_path, c->path);
	c->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(c->lfd >= 0);
	assert_int_equal(bind(c->lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(c->lfd, 4), 0);
	assert_int_equal(wg_control_start_named(n->base, c->lfd, n->dev, "wg0", &c->ctl), 0);
}

static void ctl_stop(struct ctl_env *c)
{
	wg_control_stop(c->ctl);
	close(c->lfd);
	unlink(c->path);
	rmdir(c->dir);
}

/* Reads from fd, running base, until the data ends with `end` `times`
 * times over (or EOF); returns it NUL-terminated. Bounded by rounds
 * without progress. */
static char *read_until(struct event_base *base, int fd, const char *end, int times,
			size_t *len_out)
{
	size_t len = 0, cap = 1 << 16, idle = 0, elen = strlen(end);
	char *buf = malloc(cap);
	int found = 0;
	ssize_t n;

	assert_non_null(buf);
	while (found < times && idle < 2000) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		if (cap - len < 4096)
			assert_non_null(buf = realloc(buf, cap *= 2));
		n = recv(fd, buf + len, cap - len - 1, MSG_DONTWAIT);
		if (n == 0)
			break;
		idle = n < 0 ? idle + 1 : 0;
		if (n < 0)
			continue;
		for (size_t i = len > elen ? len - elen + 1 : 0; i + elen <= len + (size_t)n; i++)
			found += !memcmp(buf + i, end, elen);
		len += (size_t)n;
	}
	buf[len] = '\0';
	*len_out = len;
	return buf;
}

/* Over the control socket, streamed in steps (600 peers: several), then
 * a get on the same connection: both replies whole and in order. */
static void test_control_socket(void **state)
{
	struct devpair *e = *state;
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct ctl_env c;
	char *want, *got, *get;
	size_t len;
	int fd;

	add_peers(e->a.dev, 0, 600);
	ctl_start(&c, &e->a);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	strcpy(sun.sun_path, c.path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(send(fd, "wgd_metrics=1\n\nget=1\n\n", 22, 0), 22);
	got = read_until(e->a.base, fd, "errno=0\n\n", 2, &len);
	want = exposition(e->a.dev, "wg0", SIZE_MAX);
	assert_true(len > strlen(want));
	assert_memory_equal(got, want, strlen(want));
	get = got + strlen(want);
	assert_memory_equal(get, "errno=0\n\nprivate_key=", 21);
	assert_int_equal(count_lines(get, "public_key="), 601);
	assert_int_equal(strcmp(got + len - 9, "errno=0\n\n"), 0);
	free(want);
	free(got);
	close(fd);
	ctl_stop(&c);
}

/* --- HTTP --- */

static int tcp_connect(uint16_t port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	return fd;
}

/* One request on a new connection; the raw response (a scrape read to
 * its last chunk, anything else to the end of the connection). */
static char *http(struct event_base *base, uint16_t port, const char *request, size_t *len)
{
	int fd = tcp_connect(port);
	char *resp;

	assert_int_equal(send(fd, request, strlen(request), 0), (ssize_t)strlen(request));
	resp = read_until(base, fd, strstr(request, "GET /metrics") ? "\r\n0\r\n\r\n" : "\x01", 1,
			  len);
	close(fd);
	return resp;
}

/* GET /metrics to [::1]:port; the response read to its last chunk. */
static char *http6_status(struct event_base *base, uint16_t port)
{
	static const char req[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
	struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
	int fd = socket(AF_INET6, SOCK_STREAM, 0);
	size_t len;
	char *resp;

	sin6.sin6_addr = in6addr_loopback;
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin6, sizeof(sin6)), 0);
	assert_int_equal(send(fd, req, sizeof(req) - 1, 0), (ssize_t)sizeof(req) - 1);
	resp = read_until(base, fd, "\r\n0\r\n\r\n", 1, &len);
	close(fd);
	return resp;
}

/* The body of a chunked response, decoded. */
static char *dechunk(const char *resp)
{
	const char *p = strstr(resp, "\r\n\r\n");
	size_t len = 0, n;
	char *body = malloc(strlen(resp) + 1), *end;

	assert_non_null(p);
	assert_non_null(body);
	for (p += 4;; p = end + 2 + n + 2) {
		n = strtoul(p, &end, 16);
		assert_memory_equal(end, "\r\n", 2);
		if (!n)
			break;
		memcpy(body + len, end + 2, n);
		len += n;
	}
	body[len] = '\0';
	return body;
}

/* GET /metrics: 200, the Prometheus content type, chunked, and the same
 * text as the exposition; other paths 404, other methods 405. */
static void test_http(void **state)
{
	struct devpair *e = *state;
	struct wg_metrics_http *h, *h2;
	char *resp, *body, *want, addr[32];
	size_t len;

	devpair_send_a_to_b(e);
	add_peers(e->a.dev, 0, 700);
	assert_int_equal(wg_metrics_http_start(e->a.base, e->a.dev, "wg0", "127.0.0.1:0", &h), 0);
	assert_true(wg_metrics_http_port(h) > 0);
	resp = http(e->a.base, wg_metrics_http_port(h), "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
		    &len);
	assert_memory_equal(resp, "HTTP/1.1 200 OK\r\n", 17);
	assert_non_null(strstr(resp, "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
	assert_non_null(strstr(resp, "Transfer-Encoding: chunked\r\n"));
	body = dechunk(resp);
	want = exposition(e->a.dev, "wg0", SIZE_MAX);
	assert_string_equal(body, want);
	free(body);
	free(resp);
	/* ?peers=basic: every family but the wgd_peer_* ones, same values */
	resp = http(e->a.base, wg_metrics_http_port(h),
		    "GET /metrics?peers=basic HTTP/1.1\r\nHost: x\r\n\r\n", &len);
	body = dechunk(resp);
	assert_null(strstr(body, "\nwgd_peer_"));
	assert_non_null(strstr(body, "\nwireguard_peer_info{"));
	assert_non_null(strstr(body, "\nwgd_handshake_messages_total{"));
	for (const char *l = want; *l; l += strcspn(l, "\n") + 1) {
		char line[512];
		size_t n = strcspn(l, "\n") + 1;
		if (!strncmp(l, "wgd_peer_", 9) || !strncmp(l, "# HELP wgd_peer_", 16) ||
		    !strncmp(l, "# TYPE wgd_peer_", 16))
			continue;
		assert_true(n < sizeof(line));
		memcpy(line, l, n);
		line[n] = '\0';
		assert_non_null(strstr(body, line));
	}
	free(body);
	free(want);
	free(resp);
	resp = http(e->a.base, wg_metrics_http_port(h),
		    "GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", &len);
	assert_memory_equal(resp, "HTTP/1.1 404 ", 13);
	free(resp);
	resp = http(e->a.base, wg_metrics_http_port(h),
		    "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: "
		    "close\r\n\r\n",
		    &len);
	assert_memory_equal(resp, "HTTP/1.1 405 ", 13);
	assert_non_null(strstr(resp, "Allow: GET\r\n"));
	free(resp);
	/* a header or a body past the limits is refused, not buffered */
	{
		char big[12000];
		snprintf(big, sizeof(big), "GET /metrics HTTP/1.1\r\nHost: x\r\nX: %0*d\r\n\r\n",
			 10000, 0);
		resp = http(e->a.base, wg_metrics_http_port(h), big, &len);
		assert_memory_equal(resp, "HTTP/1.1 400 ", 13);
		free(resp);
		resp = http(e->a.base, wg_metrics_http_port(h),
			    "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n",
			    &len);
		assert_memory_equal(resp, "HTTP/1.1 413 ", 13);
		free(resp);
	}
	/* IPv6 */
	assert_int_equal(wg_metrics_http_start(e->a.base, e->a.dev, "wg0", "[::1]:0", &h2), 0);
	resp = http6_status(e->a.base, wg_metrics_http_port(h2));
	assert_memory_equal(resp, "HTTP/1.1 200 OK\r\n", 17);
	free(resp);
	wg_metrics_http_stop(h2);
	/* the port taken: the bind error */
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", wg_metrics_http_port(h));
	assert_int_equal(wg_metrics_http_start(e->a.base, e->a.dev, NULL, addr, &h2), -EADDRINUSE);
	assert_null(h2);
	assert_int_equal(wg_metrics_http_start(e->a.base, e->a.dev, NULL, "localhost:1", &h2),
			 -EINVAL);
	wg_metrics_http_stop(h);
}

/* A client that leaves mid-scrape, and one still being served when the
 * server stops: their cursors are freed (the sanitizer build checks), and
 * the server goes on serving. */
static void test_http_client_leaves(void **state)
{
	struct devpair *e = *state;
	struct wg_metrics_http *h;
	char buf[4096], *resp;
	size_t len;
	int fd;

	add_peers(e->a.dev, 0, 3000);
	assert_int_equal(wg_metrics_http_start(e->a.base, e->a.dev, "wg0", "127.0.0.1:0", &h), 0);
	fd = tcp_connect(wg_metrics_http_port(h));
	assert_int_equal(send(fd, "GET /metrics HTTP/1.0\r\n\r\n", 25, 0), 25);
	for (int i = 0; i < 8; i++)
		event_base_loop(e->a.base, EVLOOP_NONBLOCK);
	assert_true(recv(fd, buf, sizeof(buf), 0) > 0);
	close(fd);
	for (int i = 0; i < 64; i++)
		event_base_loop(e->a.base, EVLOOP_NONBLOCK);
	resp = http(e->a.base, wg_metrics_http_port(h), "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
		    &len);
	assert_memory_equal(resp, "HTTP/1.1 200 OK\r\n", 17);
	free(resp);
	fd = tcp_connect(wg_metrics_http_port(h));
	assert_int_equal(send(fd, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 34, 0), 34);
	for (int i = 0; i < 8; i++)
		event_base_loop(e->a.base, EVLOOP_NONBLOCK);
	wg_metrics_http_stop(h);
	close(fd);
}

/* --- scale --- */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A scrape read to its end and dropped as it comes: the response's bytes
 * (headers and chunk framing included). */
static size_t http_drain(struct event_base *base, uint16_t port)
{
	static const char req[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
	static const char last[] = "\r\n0\r\n\r\n"; /* the last chunk */
	char buf[1 << 16], tail[sizeof(last) - 1] = "";
	size_t total = 0, idle = 0;
	int fd = tcp_connect(port);
	ssize_t n;

	assert_int_equal(send(fd, req, sizeof(req) - 1, 0), (ssize_t)sizeof(req) - 1);
	while (memcmp(tail, last, sizeof(tail)) && idle < 100000) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		assert_true(n != 0);
		idle = n < 0 ? idle + 1 : 0;
		if (n <= 0)
			continue;
		if ((size_t)n >= sizeof(tail)) {
			memcpy(tail, buf + n - sizeof(tail), sizeof(tail));
		} else {
			memmove(tail, tail + n, sizeof(tail) - (size_t)n);
			memcpy(tail + sizeof(tail) - n, buf, (size_t)n);
		}
		total += (size_t)n;
	}
	assert_memory_equal(tail, last, sizeof(tail));
	close(fd);
	return total;
}

/* The whole exposition of a device with 100,000 peers in the control
 * server's steps, each step's text dropped once counted, then over HTTP:
 * the times are printed (no assertion on them). */
static void test_scale_100k(void **state)
{
	struct devpair *e = *state;
	struct wg_device_metrics *m;
	struct wg_metrics_http *h;
	struct wg_uapi_writer w;
	size_t bytes = 0, steps = 0, max_step = 0, got;
	double t0, t, max_t = 0;

	add_peers(e->a.dev, 0, 100000);
	wg_uapi_writer_init(&w);
	t0 = now_s();
	assert_int_equal(wg_device_metrics_begin(e->a.dev, "wg0", &w, &m), 0);
	for (bool more = true; more; steps++) {
		t = now_s();
		more = wg_device_metrics_next(m, &w, WG_CONTROL_GET_STEP);
		max_t = now_s() - t > max_t ? now_s() - t : max_t;
		assert_false(w.failed);
		bytes += w.len;
		max_step = w.len > max_step ? w.len : max_step;
		w.len = 0;
	}
	wg_device_metrics_end(m);
	print_message("metrics of 100,001 peers: %zu bytes in %zu steps (largest %zu bytes, "
		      "%.2f ms) in %.3f s\n",
		      bytes, steps, max_step, max_t * 1e3, now_s() - t0);
	/* the basic form (?peers=basic) of the same device */
	t0 = now_s();
	assert_int_equal(wg_device_metrics_begin_basic(e->a.dev, "wg0", &w, &m), 0);
	got = 0;
	for (bool more = true; more; w.len = 0) {
		more = wg_device_metrics_next(m, &w, WG_CONTROL_GET_STEP);
		got += w.len;
	}
	wg_device_metrics_end(m);
	print_message("basic form: %zu bytes in %.3f s\n", got, now_s() - t0);
	assert_true(got < bytes / 2);
	wg_uapi_writer_free(&w);
	assert_int_equal(wg_metrics_http_start(e->a.base, e->a.dev, "wg0", "127.0.0.1:0", &h), 0);
	t0 = now_s();
	got = http_drain(e->a.base, wg_metrics_http_port(h));
	print_message("over HTTP: %zu bytes in %.3f s\n", got, now_s() - t0);
	assert_true(got > bytes);
	wg_metrics_http_stop(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(t) cmocka_unit_test_setup_teardown(t, devpair_setup, devpair_teardown)
		T(test_exposition),
		T(test_rejects),
		T(test_escaping_and_no_key),
		T(test_steps_same_text),
		T(test_peers_change_mid_stream),
		T(test_device_gone_mid_stream),
		T(test_uapi_op),
		T(test_control_socket),
		T(test_http),
		T(test_http_client_leaves),
		T(test_scale_100k),
	};

	signal(SIGPIPE, SIG_IGN); /* as the daemon: a client gone is EPIPE */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
