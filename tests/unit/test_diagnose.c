/* `wgd diagnose` (cmd/wgd/diagnose.c) without a daemon: expositions written
 * here by hand, in the daemon's format, to the facts parsed, every finding
 * of the checklist, the printed text and the JSON. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../cmd/wgd/diagnose.h"

#define NOW 1800000000.0
#define K1  "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="
#define K2  "q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s="

/* ---- the parser ---- */

static void parse_ok(struct wg_diag_device *d, const char *text)
{
	char err[WG_DIAG_ERR_LEN] = "";
	int ret;

	wg_diag_init(d);
	ret = wg_diag_parse(d, text, strlen(text), err, sizeof(err));
	if (ret)
		fail_msg("parse: %d %s", ret, err);
}

static void test_parse_labels(void **state)
{
	struct wg_diag_device d;

	(void)state;
	parse_ok(&d, "# HELP wireguard_peer_info Metadata about a peer { \"odd\" text.\n"
		     "# TYPE wireguard_peer_info gauge\n"
		     "wireguard_peer_info{device=\"w\\\\g\\\"0\\n\",public_key=\"" K1 "\","
		     "endpoint=\"[2001:db8::1]:51820\",name=\"\"} 1\n"
		     "\n"
		     "# a comment\n"
		     "some_other_family{public_key=\"" K1 "\"} 7\n"
		     "wgd_peer_last_receive_seconds { public_key = \"" K1 "\" , } 1.7e9 1234\n"
		     "wireguard_peer_receive_bytes_total{public_key=\"" K1 "\"}\t+Inf\n"
		     "wireguard_peer_transmit_bytes_total{public_key=\"" K1 "\"} NaN \n"
		     "wgd_peer_unanswered_seconds{device=\"x\",public_key=\"" K2 "\"} 12.500\n"
		     "# EOF\n");
	assert_string_equal(d.device, "w\\g\"0\n");
	assert_int_equal(d.n_peers, 2);
	assert_string_equal(d.peers[0].public_key, K1);
	assert_string_equal(d.peers[0].endpoint, "[2001:db8::1]:51820");
	assert_true(d.peers[0].last_receive == 1.7e9);
	assert_true(d.peers[0].rx_bytes > 1e308);
	assert_true(d.peers[0].tx_bytes != d.peers[0].tx_bytes); /* NaN */
	assert_string_equal(d.peers[1].public_key, K2);
	assert_string_equal(d.peers[1].endpoint, "");
	assert_true(d.peers[1].unanswered_s == 12.5);
	wg_diag_free(&d);
}

static void expect_bad(const char *text, const char *want)
{
	struct wg_diag_device d;
	char err[WG_DIAG_ERR_LEN] = "";

	wg_diag_init(&d);
	assert_int_equal(wg_diag_parse(&d, text, strlen(text), err, sizeof(err)), -EPROTO);
	if (strcmp(err, want))
		fail_msg("'%s': got '%s', want '%s'", text, err, want);
	wg_diag_free(&d);
}

static void test_parse_errors(void **state)
{
	(void)state;
	expect_bad("# TYPE a gauge\na{x=\"1\"} 1\nb{x=\"1} 1\n", "line 3: malformed labels");
	expect_bad("a{x=\"\\t\"} 1", "line 1: malformed labels"); /* no such escape */
	expect_bad("a{x=\"1\\", "line 1: malformed labels");
	expect_bad("a{x=1} 1", "line 1: malformed labels");
	expect_bad("a{x=\"1\" y=\"2\"} 1", "line 1: malformed labels");
	expect_bad("a{1x=\"1\"} 1", "line 1: malformed labels");
	expect_bad("a{x=\"1\"}1", "line 1: no value");
	expect_bad("a", "line 1: no value");
	expect_bad("1a 1", "line 1: malformed metric name");
	expect_bad("{x=\"1\"} 1", "line 1: malformed metric name");
	expect_bad("a 0x10", "line 1: malformed value");
	expect_bad("a 1e", "line 1: malformed value");
	expect_bad("a one", "line 1: malformed value");
	expect_bad("a 1 12.5", "line 1: malformed timestamp");
	expect_bad("a 1 2 3", "line 1: unexpected text after the sample");
	expect_bad("a{a=\"1\",b=\"1\",c=\"1\",d=\"1\",e=\"1\",f=\"1\",g=\"1\",h=\"1\",i=\"1\","
		   "j=\"1\",k=\"1\",l=\"1\",m=\"1\",n=\"1\",o=\"1\",p=\"1\",q=\"1\"} 1",
		   "line 1: too many labels");
}

/* Families list the peers in the same order, but any order is read: here
 * the last family walks them backwards. */
static void test_many_peers(void **state)
{
	enum { N = 3000 };
	struct wg_diag_device d;
	char line[160], err[WG_DIAG_ERR_LEN];

	(void)state;
	wg_diag_init(&d);
	for (int f = 0; f < 3; f++)
		for (int i = 0; i < N; i++) {
			int k = f == 2 ? N - 1 - i : i;
			int n = snprintf(line, sizeof(line),
					 "%s{device=\"wg0\",public_key=\"key%06d\"} %d",
					 f == 0	  ? "wireguard_peer_receive_bytes_total"
					 : f == 1 ? "wireguard_peer_transmit_bytes_total"
						  : "wgd_peer_last_receive_seconds",
					 k, k + f);
			assert_int_equal(wg_diag_feed_line(&d, line, (size_t)n, err, sizeof(err)),
					 0);
		}
	assert_int_equal(d.n_peers, N);
	for (int i = 0; i < N; i++) {
		snprintf(line, sizeof(line), "key%06d", i);
		assert_string_equal(d.peers[i].public_key, line);
		assert_true(d.peers[i].rx_bytes == i);
		assert_true(d.peers[i].tx_bytes == i + 1);
		assert_true(d.peers[i].last_receive == i + 2);
	}
	wg_diag_free(&d);
}

/* ---- the checklist ---- */

/* One peer as the daemon exposes it (times unix seconds, 0 never). */
struct spec {
	const char *ep;
	double hs, rx, rx_data, tx, init_sent, last_init, unanswered;
	double icmp_port, icmp_host, last_icmp;
	const char *icmp_kind;
	double inner;
	double send_errors, last_send_error;
	const char *send_error;
};

static void put(char **p, size_t *left, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void put(char **p, size_t *left, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(*p, *left, fmt, ap);
	va_end(ap);
	assert_true(n >= 0 && (size_t)n < *left);
	*p += n;
	*left -= (size_t)n;
}

#define PEER "{device=\"wg0\",public_key=\"" K1 "\""

/* The peer K1 with spec s, then the given reject lines. */
static char *exposition(const struct spec *s, const char *rejects)
{
	size_t left = 8192;
	char *text = malloc(left), *p = text;

	put(&p, &left,
	    "# TYPE wireguard_device_info gauge\n"
	    "wireguard_device_info{device=\"wg0\",public_key=\"" K2 "\"} 1\n"
	    "# TYPE wgd_handshake_reject_last_seconds gauge\n%s",
	    rejects);
	put(&p, &left, "wireguard_peer_info" PEER ",endpoint=\"%s\",name=\"\"} 1\n", s->ep);
	put(&p, &left,
	    "wireguard_peer_allowed_ips_info" PEER ",allowed_ips=\"10.0.0.2/32\","
	    "family=\"IPv4\"} 1\n");
	put(&p, &left, "wireguard_peer_receive_bytes_total" PEER "} %.0f\n", s->rx ? 1000.0 : 0);
	put(&p, &left, "wireguard_peer_transmit_bytes_total" PEER "} %.0f\n", s->tx);
	put(&p, &left, "wireguard_peer_last_handshake_seconds" PEER "} %.0f\n", s->hs);
	put(&p, &left,
	    "wgd_peer_handshake_messages_total" PEER ",event=\"initiation_sent\"} %.0f\n",
	    s->init_sent);
	put(&p, &left,
	    "wgd_peer_handshake_messages_total" PEER ",event=\"response_received\"} 9\n");
	put(&p, &left,
	    "wgd_peer_dropped_packets_total" PEER ",reason=\"replayed\"} 5\n"
	    "wgd_peer_dropped_packets_total" PEER ",reason=\"inner_src_mismatch\"} %.0f\n",
	    s->inner);
	put(&p, &left,
	    "wgd_peer_icmp_errors_total" PEER ",kind=\"port_unreachable\"} %.0f\n"
	    "wgd_peer_icmp_errors_total" PEER ",kind=\"host_unreachable\"} %.0f\n"
	    "wgd_peer_icmp_errors_total" PEER ",kind=\"other\"} 3\n",
	    s->icmp_port, s->icmp_host);
	put(&p, &left, "wgd_peer_last_receive_seconds" PEER "} %.0f\n", s->rx);
	put(&p, &left, "wgd_peer_last_data_receive_seconds" PEER "} %.0f\n", s->rx_data);
	put(&p, &left, "wgd_peer_last_initiation_sent_seconds" PEER "} %.0f\n", s->last_init);
	put(&p, &left, "wgd_peer_last_icmp_error_seconds" PEER ",kind=\"%s\"} %.0f\n",
	    s->icmp_kind ? s->icmp_kind : "none", s->last_icmp);
	put(&p, &left, "wgd_peer_send_errors_total" PEER "} %.0f\n", s->send_errors);
	put(&p, &left, "wgd_peer_last_send_error_seconds" PEER ",error=\"%s\"} %.0f\n",
	    s->send_error ? s->send_error : "", s->last_send_error);
	put(&p, &left, "wgd_peer_unanswered_seconds" PEER "} %.3f\n", s->unanswered);
	return text;
}

/* The findings of K1 for s and rejects: their codes, in order ("a,b"),
 * the messages and times checked by the callers. */
static size_t findings(const struct spec *s, const char *rejects, struct wg_diag_finding *f)
{
	struct wg_diag_device d;
	char *text = exposition(s, rejects);
	size_t n;

	parse_ok(&d, text);
	free(text);
	assert_int_equal(d.n_peers, 1);
	n = wg_diag_peer_findings(&d, 0, NOW, f);
	wg_diag_free(&d);
	assert_true(n >= 1 && n <= WG_DIAG_MAX_FINDINGS);
	return n;
}

static void expect(const struct spec *s, const char *rejects, const char *codes,
		   const char *const *messages, const double *ago)
{
	struct wg_diag_finding f[WG_DIAG_MAX_FINDINGS];
	size_t n = findings(s, rejects, f);
	char got[256] = "";

	for (size_t i = 0; i < n; i++) {
		strcat(got, i ? "," : "");
		strcat(got, wg_diag_code_name(f[i].code));
	}
	if (strcmp(got, codes))
		fail_msg("codes: got %s, want %s", got, codes);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(f[i].message, messages[i]))
			fail_msg("message %zu:\n got '%s'\nwant '%s'", i, f[i].message,
				 messages[i]);
		if (f[i].last_ago != ago[i])
			fail_msg("%s: last_ago %.1f, want %.1f", codes, f[i].last_ago, ago[i]);
	}
}

#define MSGS(...) ((const char *const[]){__VA_ARGS__})
#define AGO(...)  ((const double[]){__VA_ARGS__})

static void test_ok_idle_no_endpoint(void **state)
{
	(void)state;
	expect(&(struct spec){.ep = "192.0.2.2:51820",
			      .hs = NOW - 30,
			      .rx = NOW - 2,
			      .rx_data = NOW - 2,
			      .tx = 500,
			      .init_sent = 1,
			      .last_init = NOW - 30},
	       "", "ok", MSGS("ok: last handshake 30 s ago, last packet received 2 s ago"), AGO(2));
	/* a session gone idle long ago is fine too */
	expect(&(struct spec){.ep = "192.0.2.2:51820",
			      .hs = NOW - 900,
			      .rx = NOW - 800,
			      .rx_data = NOW - 800,
			      .tx = 500},
	       "", "ok", MSGS("ok: last handshake 900 s ago, last packet received 800 s ago"),
	       AGO(800));
	expect(&(struct spec){.ep = "192.0.2.2:51820"}, "", "idle",
	       MSGS("nothing sent to the peer and nothing received from it yet"), AGO(-1));
	expect(&(struct spec){.ep = ""}, "", "no_endpoint",
	       MSGS("no endpoint configured and the peer never connected"), AGO(-1));
	/* a peer that reached us once, from where it was then */
	expect(&(struct spec){.ep = "", .rx = NOW - 5, .hs = NOW - 6, .rx_data = NOW - 5}, "", "ok",
	       MSGS("ok: last handshake 6 s ago, last packet received 5 s ago"), AGO(5));
}

static void test_no_packets(void **state)
{
	(void)state;
	expect(&(struct spec){.ep = "192.0.2.2:51999",
			      .tx = 296,
			      .init_sent = 3,
			      .last_init = NOW - 4,
			      .unanswered = 16.2,
			      .icmp_port = 3,
			      .last_icmp = NOW - 4,
			      .icmp_kind = "port_unreachable"},
	       "", "no_packets_port_unreachable,unanswered",
	       MSGS("never a packet from the peer: the peer's host answered: nothing listens on "
		    "that port (wrong port, or WireGuard down there)",
		    "our handshake initiations unanswered for 16 s"),
	       AGO(4, 4));
	expect(&(struct spec){.ep = "192.0.2.9:51820",
			      .init_sent = 2,
			      .last_init = NOW - 1,
			      .unanswered = 6,
			      .icmp_host = 2,
			      .last_icmp = NOW - 2,
			      .icmp_kind = "host_unreachable"},
	       "", "no_packets_host_unreachable,unanswered",
	       MSGS("never a packet from the peer: host/network unreachable",
		    "our handshake initiations unanswered for 6 s"),
	       AGO(2, 1));
	expect(&(struct spec){.ep = "192.0.2.2:51821",
			      .init_sent = 4,
			      .last_init = NOW - 3,
			      .unanswered = 21},
	       "", "no_packets_no_answer,unanswered",
	       MSGS("never a packet from the peer: no answer at all: a firewall dropping UDP, a "
		    "wrong endpoint address, or the peer is down",
		    "our handshake initiations unanswered for 21 s"),
	       AGO(3, 3));
	/* the peer answered once; now its WireGuard is down: the ICMP error
	 * newer than its last packet says so */
	expect(&(struct spec){.ep = "192.0.2.2:51820",
			      .hs = NOW - 400,
			      .rx = NOW - 300,
			      .rx_data = NOW - 300,
			      .tx = 9000,
			      .init_sent = 9,
			      .last_init = NOW - 5,
			      .unanswered = 60,
			      .icmp_port = 4,
			      .last_icmp = NOW - 5,
			      .icmp_kind = "port_unreachable"},
	       "", "no_packets_port_unreachable,unanswered",
	       MSGS("no packet from the peer for 300 s: the peer's host answered: nothing "
		    "listens on that port (wrong port, or WireGuard down there)",
		    "our handshake initiations unanswered for 60 s"),
	       AGO(5, 5));
	/* port unreachable once, long before the peer answered: not the cause */
	expect(&(struct spec){.ep = "192.0.2.2:51820",
			      .hs = NOW - 400,
			      .rx = NOW - 300,
			      .rx_data = NOW - 300,
			      .tx = 9000,
			      .init_sent = 9,
			      .last_init = NOW - 5,
			      .unanswered = 60,
			      .icmp_port = 1,
			      .last_icmp = NOW - 500,
			      .icmp_kind = "port_unreachable"},
	       "", "no_packets_no_answer,unanswered",
	       MSGS("no packet from the peer for 300 s: no answer at all: a firewall dropping "
		    "UDP, a wrong endpoint address, or the peer is down",
		    "our handshake initiations unanswered for 60 s"),
	       AGO(5, 5));
	/* the last ICMP error is of another kind: when the port one came is
	 * not known */
	expect(&(struct spec){.ep = "192.0.2.2:51820",
			      .init_sent = 1,
			      .last_init = NOW - 1,
			      .unanswered = 1,
			      .icmp_port = 1,
			      .last_icmp = NOW - 1,
			      .icmp_kind = "other"},
	       "", "no_packets_port_unreachable,unanswered",
	       MSGS("never a packet from the peer: the peer's host answered: nothing listens on "
		    "that port (wrong port, or WireGuard down there)",
		    "our handshake initiations unanswered for 1 s"),
	       AGO(-1, 1));
}

#define REJECT(reason, source, t)                                                                  \
	"wgd_handshake_reject_last_seconds{device=\"wg0\",reason=\"" reason "\",source=\"" source  \
	"\"} " #t "\n"

static void test_refusals(void **state)
{
	const struct spec silent = {
		.ep = "192.0.2.2:51820", .init_sent = 3, .last_init = NOW - 2, .unanswered = 12};

	(void)state;
	expect(&silent, REJECT("unknown_peer", "192.0.2.2:51820", 1799999990),
	       "unknown_key,unanswered",
	       MSGS("the peer's key is not the one we have for it (their private key and our "
		    "PublicKey for them differ): refused from 192.0.2.2:51820",
		    "our handshake initiations unanswered for 12 s"),
	       AGO(10, 2));
	/* NAT: another port of the endpoint's address, no peer there */
	expect(&silent, REJECT("mac1_other_key", "192.0.2.2:40001", 1799999999),
	       "wrong_key_for_us,unanswered",
	       MSGS("the peer uses a wrong or old public key for us: refused from "
		    "192.0.2.2:40001",
		    "our handshake initiations unanswered for 12 s"),
	       AGO(1, 2));
	expect(&silent,
	       REJECT("stale_timestamp", "192.0.2.2:51820", 1799999900)
		       REJECT("stale_timestamp", "192.0.2.2:51820", 1799999950),
	       "stale_initiation,unanswered",
	       MSGS("replayed/old initiations (clock or duplicate config): refused from "
		    "192.0.2.2:51820",
		    "our handshake initiations unanswered for 12 s"),
	       AGO(50, 2));
	expect(&(struct spec){.ep = "[2001:db8::2]:51820"},
	       REJECT("decryption_failed", "[2001:db8::2]:51820", 1799999997),
	       "handshake_decrypt_failed",
	       MSGS("its handshake messages do not decrypt (a PresharedKey that differs on the "
		    "two sides?): refused from [2001:db8::2]:51820"),
	       AGO(3));
	/* several kinds at once, each said; unknown reasons and other hosts
	 * are not the peer's */
	expect(&silent,
	       REJECT("mac1_other_key", "192.0.2.2:51820", 1799999998)
		       REJECT("unknown_peer", "192.0.2.2:51820", 1799999995)
			       REJECT("rate_limited", "192.0.2.2:51820", 1799999995)
				       REJECT("unknown_peer", "192.0.2.3:51820", 1799999999),
	       "unknown_key,wrong_key_for_us,unanswered",
	       MSGS("the peer's key is not the one we have for it (their private key and our "
		    "PublicKey for them differ): refused from 192.0.2.2:51820",
		    "the peer uses a wrong or old public key for us: refused from "
		    "192.0.2.2:51820",
		    "our handshake initiations unanswered for 12 s"),
	       AGO(5, 2, 2));
	/* refused before the last handshake: over */
	expect(&(struct spec){.ep = "192.0.2.2:51820",
			      .hs = NOW - 20,
			      .rx = NOW - 1,
			      .rx_data = NOW - 1,
			      .tx = 100},
	       REJECT("unknown_peer", "192.0.2.2:51820", 1799999970), "ok",
	       MSGS("ok: last handshake 20 s ago, last packet received 1 s ago"), AGO(1));
	/* an IPv4-mapped source is its IPv4 address */
	expect(&silent, REJECT("unknown_peer", "[::ffff:192.0.2.2]:51820", 1799999990),
	       "unknown_key,unanswered",
	       MSGS("the peer's key is not the one we have for it (their private key and our "
		    "PublicKey for them differ): refused from [::ffff:192.0.2.2]:51820",
		    "our handshake initiations unanswered for 12 s"),
	       AGO(10, 2));
}

static void test_data_path(void **state)
{
	(void)state;
	/* handshake 10 s ago, data last before it, while we sent */
	expect(&(struct spec){.ep = "192.0.2.2:51820",
			      .hs = NOW - 10,
			      .rx = NOW - 10,
			      .rx_data = NOW - 200,
			      .tx = 5000},
	       "", "no_data",
	       MSGS("handshake works but no data: AllowedIPs or routing (nothing received "
		    "since the last handshake while we sent)"),
	       AGO(10));
	expect(&(struct spec){.ep = "192.0.2.2:51820", .hs = NOW - 100, .rx = NOW - 90, .tx = 5000},
	       "", "no_data",
	       MSGS("handshake works but no data: AllowedIPs or routing (nothing received "
		    "since the last handshake while we sent)"),
	       AGO(100));
	/* nothing sent: nothing to expect back */
	expect(&(struct spec){.ep = "192.0.2.2:51820", .hs = NOW - 10, .rx = NOW - 10}, "", "ok",
	       MSGS("ok: last handshake 10 s ago, last packet received 10 s ago"), AGO(10));
	/* a handshake past 180 s is not a working one */
	expect(
		&(struct spec){
			.ep = "192.0.2.2:51820", .hs = NOW - 180, .rx = NOW - 180, .tx = 5000},
		"", "ok", MSGS("ok: last handshake 180 s ago, last packet received 180 s ago"),
		AGO(180));
	expect(&(struct spec){.ep = "192.0.2.2:51820",
			      .hs = NOW - 10,
			      .rx = NOW - 1,
			      .rx_data = NOW - 200,
			      .tx = 5000,
			      .inner = 7},
	       "", "inner_source_outside_allowed_ips,no_data",
	       MSGS("the peer sends from addresses outside the AllowedIPs we have for it (7 "
		    "packets dropped)",
		    "handshake works but no data: AllowedIPs or routing (nothing received "
		    "since the last handshake while we sent)"),
	       AGO(-1, 10));
	expect(&(struct spec){.ep = "192.0.2.2:51820",
			      .hs = NOW - 10,
			      .rx = NOW - 1,
			      .rx_data = NOW - 1,
			      .tx = 5000,
			      .inner = 2},
	       "", "inner_source_outside_allowed_ips",
	       MSGS("the peer sends from addresses outside the AllowedIPs we have for it (2 "
		    "packets dropped)"),
	       AGO(-1));
}

/* Sends the host refused since the peer was last heard: that, not
 * "no answer" (nothing left); older refusals do not count. */
static void test_send_failed(void **state)
{
	(void)state;
	expect(&(struct spec){.ep = "192.0.2.2:51820",
			      .init_sent = 3,
			      .last_init = NOW - 2,
			      .unanswered = 12,
			      .send_errors = 40,
			      .last_send_error = NOW - 1,
			      .send_error = "No route to host"},
	       "", "send_failed,unanswered",
	       MSGS("this host refuses to send to the peer: No route to host (40 sends; a route, "
		    "source address or interface is missing: see the log)",
		    "our handshake initiations unanswered for 12 s"),
	       AGO(1, 2));
	expect(&(struct spec){.ep = "192.0.2.2:51820",
			      .hs = NOW - 10,
			      .rx = NOW - 5,
			      .rx_data = NOW - 5,
			      .tx = 5000,
			      .send_errors = 2,
			      .last_send_error = NOW - 50,
			      .send_error = "No route to host"},
	       "", "ok", MSGS("ok: last handshake 10 s ago, last packet received 5 s ago"), AGO(5));
}

static void test_code_names(void **state)
{
	static const char *const want[] = {"ok",
					   "idle",
					   "no_endpoint",
					   "no_packets_port_unreachable",
					   "no_packets_host_unreachable",
					   "no_packets_no_answer",
					   "unknown_key",
					   "wrong_key_for_us",
					   "stale_initiation",
					   "handshake_decrypt_failed",
					   "unanswered",
					   "no_data",
					   "inner_source_outside_allowed_ips",
					   "send_failed"};

	(void)state;
	assert_int_equal(sizeof(want) / sizeof(want[0]), WG_DIAG_CODE_COUNT);
	for (int c = 0; c < WG_DIAG_CODE_COUNT; c++)
		assert_string_equal(wg_diag_code_name((enum wg_diag_code)c), want[c]);
	assert_string_equal(wg_diag_code_name(WG_DIAG_CODE_COUNT), "unknown");
}

/* ---- the output ---- */

/* Two peers: K1 refused as unknown from its endpoint, K2 fine; two
 * refusals from an address that is no peer's, one from a peer's address
 * but a port of another peer there. */
#define R_LINE(reason, source, t)                                                                  \
	"wgd_handshake_reject_last_seconds{device=\"wg0\",reason=\"" reason "\",source=\"" source  \
	"\"} " t "\n"
#define P_LINE(family, key, rest) family "{device=\"wg0\",public_key=\"" key "\"" rest "\n"

/* clang-format off */
static const char two_peers[] =
	"# HELP wireguard_device_info Metadata about a device.\n"
	"# TYPE wireguard_device_info gauge\n"
	P_LINE("wireguard_device_info", K2, "} 1")
	"# TYPE wgd_handshake_reject_last_seconds gauge\n"
	R_LINE("unknown_peer", "192.0.2.2:51820", "1799999990")
	R_LINE("unknown_peer", "203.0.113.9:4500", "1799999940")
	R_LINE("mac1_other_key", "[2001:db8::7]:51820", "1799999000")
	R_LINE("unknown_peer", "198.51.100.4:777", "1799999940")
	"# TYPE wireguard_peer_info gauge\n"
	P_LINE("wireguard_peer_info", K1, ",endpoint=\"192.0.2.2:51820\",name=\"\"} 1")
	P_LINE("wireguard_peer_info", K2, ",endpoint=\"198.51.100.4:51820\",name=\"\"} 1")
	P_LINE("wireguard_peer_last_handshake_seconds", K1, "} 0")
	P_LINE("wireguard_peer_last_handshake_seconds", K2, "} 1799999950")
	P_LINE("wgd_peer_last_receive_seconds", K1, "} 0")
	P_LINE("wgd_peer_last_receive_seconds", K2, "} 1799999997")
	P_LINE("wgd_peer_last_data_receive_seconds", K2, "} 1799999997")
	P_LINE("wgd_peer_last_initiation_sent_seconds", K1, "} 1799999995")
	P_LINE("wgd_peer_unanswered_seconds", K1, "} 35.250");
/* clang-format on */

static void expect_output(bool json, const char *text, const char *ifname, const char *want)
{
	struct wg_diag_device d;
	struct wg_uapi_writer w;

	parse_ok(&d, text);
	wg_uapi_writer_init(&w);
	if (json)
		wg_diag_format_json(&d, ifname, NOW, &w);
	else
		wg_diag_format_text(&d, ifname, NOW, &w);
	assert_false(w.failed);
	wg_uapi_put_bytes(&w, "", 1);
	if (strcmp(w.buf, want))
		fail_msg("got:\n%s\nwant:\n%s", w.buf, want);
	wg_uapi_writer_free(&w);
	wg_diag_free(&d);
}

static void test_text(void **state)
{
	(void)state;
	expect_output(
		false, two_peers, "ignored",
		"interface: wg0\n"
		"peer: " K1 "\n"
		"  endpoint: 192.0.2.2:51820\n"
		"  status: unknown_key\n"
		"  - the peer's key is not the one we have for it (their private key and our "
		"PublicKey for them differ): refused from 192.0.2.2:51820 (last: 10 s ago)\n"
		"  - our handshake initiations unanswered for 35 s (last: 5 s ago)\n"
		"peer: " K2 "\n"
		"  endpoint: 198.51.100.4:51820\n"
		"  status: ok\n"
		"  - ok: last handshake 50 s ago, last packet received 3 s ago\n"
		"refused handshakes from addresses that are no peer's endpoint (a peer behind NAT "
		"we have no endpoint for, or a stranger):\n"
		"  203.0.113.9:4500: unknown_peer, last 60 s ago\n"
		"  [2001:db8::7]:51820: mac1_other_key, last 1000 s ago\n");
	/* no device label, no peers */
	expect_output(false, "wgd_peers 0\n", "wg7", "interface: wg7\n  no peers\n");
}

static void test_json(void **state)
{
	(void)state;
	expect_output(
		true, two_peers, "ignored",
		"{\"device\":\"wg0\",\"peers\":["
		"{\"public_key\":\"" K1 "\",\"endpoint\":\"192.0.2.2:51820\","
		"\"status\":\"unknown_key\",\"findings\":["
		"{\"code\":\"unknown_key\",\"message\":\"the peer's key is not the one we have for "
		"it (their private key and our PublicKey for them differ): refused from "
		"192.0.2.2:51820\",\"last_seconds_ago\":10},"
		"{\"code\":\"unanswered\",\"message\":\"our handshake initiations unanswered for "
		"35 "
		"s\",\"last_seconds_ago\":5}]},"
		"{\"public_key\":\"" K2 "\",\"endpoint\":\"198.51.100.4:51820\",\"status\":\"ok\","
		"\"findings\":[{\"code\":\"ok\",\"message\":\"ok: last handshake 50 s ago, last "
		"packet received 3 s ago\",\"last_seconds_ago\":3}]}],"
		"\"unmatched_rejects\":["
		"{\"source\":\"203.0.113.9:4500\",\"reason\":\"unknown_peer\",\"count\":null,"
		"\"last_seconds_ago\":60},"
		"{\"source\":\"[2001:db8::7]:51820\",\"reason\":\"mac1_other_key\",\"count\":null,"
		"\"last_seconds_ago\":1000}]}\n");
	/* strings escaped; a peer without an endpoint: null */
	expect_output(
		true,
		"wireguard_peer_info{device=\"a\\\"b\\\\c\\nd\",public_key=\"k\",endpoint=\"\"}"
		" 1\n",
		"x",
		"{\"device\":\"a\\\"b\\\\c\\u000ad\",\"peers\":[{\"public_key\":\"k\","
		"\"endpoint\":null,\"status\":\"no_endpoint\",\"findings\":[{\"code\":"
		"\"no_endpoint\",\"message\":\"no endpoint configured and the peer never "
		"connected\",\"last_seconds_ago\":null}]}],\"unmatched_rejects\":[]}\n");
}

/* A count family, when the daemon has one, is summed per kind. */
static void test_reject_counts(void **state)
{
	struct wg_diag_device d;
	struct wg_diag_finding f[WG_DIAG_MAX_FINDINGS];

	(void)state;
	parse_ok(&d, "wireguard_peer_info{public_key=\"" K1 "\",endpoint=\"192.0.2.2:51820\"} 1\n"
		     "wgd_peer_last_initiation_sent_seconds{public_key=\"" K1
		     "\"} 1799999999\n" REJECT("unknown_peer", "192.0.2.2:1", 1799999990)
			     REJECT("unknown_peer", "192.0.2.2:2",
				    1799999995) "wgd_handshake_rejects_total{reason=\"unknown_"
						"peer\",source=\"192.0.2.2:1\"} 4\n"
						"wgd_handshake_rejects_total{reason=\"unknown_"
						"peer\",source=\"192.0.2.2:2\"} 3\n");
	assert_int_equal(d.n_rejects, 2);
	assert_int_equal(wg_diag_peer_findings(&d, 0, NOW, f), 1);
	assert_int_equal(f[0].code, WG_DIAG_UNKNOWN_KEY);
	assert_non_null(strstr(f[0].message, "refused from 192.0.2.2:2, 7 times"));
	assert_true(f[0].last_ago == 5);
	wg_diag_free(&d);
}

/* Two peers on one host (as behind one NAT address): a refusal from one's
 * endpoint port is that peer's alone; from a third port, both could be. */
static void test_same_host(void **state)
{
	struct wg_diag_device d;
	struct wg_diag_finding f[WG_DIAG_MAX_FINDINGS];

	(void)state;
	parse_ok(&d,
		 P_LINE("wireguard_peer_info", K1, ",endpoint=\"192.0.2.2:51820\"} 1")
			 P_LINE("wireguard_peer_info", K2, ",endpoint=\"192.0.2.2:51830\"} 1")
				 R_LINE("mac1_other_key", "192.0.2.2:51830", "1799999990")
					 R_LINE("stale_timestamp", "192.0.2.2:9", "1799999980"));
	assert_int_equal(wg_diag_peer_findings(&d, 0, NOW, f), 1);
	assert_int_equal(f[0].code, WG_DIAG_STALE_INITIATION);
	assert_int_equal(wg_diag_peer_findings(&d, 1, NOW, f), 2);
	assert_int_equal(f[0].code, WG_DIAG_WRONG_KEY_FOR_US);
	assert_int_equal(f[1].code, WG_DIAG_STALE_INITIATION);
	assert_true(d.rejects[0].matched && d.rejects[0].exact);
	assert_true(d.rejects[1].matched && !d.rejects[1].exact);
	wg_diag_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_labels), cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_many_peers),   cmocka_unit_test(test_ok_idle_no_endpoint),
		cmocka_unit_test(test_no_packets),   cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_send_failed),  cmocka_unit_test(test_data_path),
		cmocka_unit_test(test_code_names),   cmocka_unit_test(test_text),
		cmocka_unit_test(test_json),	     cmocka_unit_test(test_reject_counts),
		cmocka_unit_test(test_same_host),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
