/* `wgd set` / `wgd show` (cmd/wgd/ctl.c) without a daemon: command lines to
 * exact request text, bad command lines to their error, get replies to the
 * printed text, errno lines. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "../../cmd/wgd/ctl.h"

/* bytes 1..32, 0xab x 32, 0x40..0x5f */
#define K1_B64 "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="
#define K1_HEX "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20"
#define K2_B64 "q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s="
#define K2_HEX "abababababababababababababababababababababababababababababababab"
#define K3_HEX "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"

#define ARGS(...)  ((char *const[]){__VA_ARGS__})
#define NARGS(...) ((int)(sizeof((char *const[]){__VA_ARGS__}) / sizeof(char *)))

/* Builds from the words and checks the exact request text. */
static void expect_request(int argc, char *const *args, const char *want)
{
	struct wg_ctl_request r;
	char err[WG_CTL_ERR_LEN];

	assert_int_equal(wg_ctl_build_set(argc, args, &r, err, sizeof(err)), 0);
	assert_int_equal(r.text.len, strlen(want));
	assert_memory_equal(r.text.buf, want, r.text.len);
	wg_ctl_request_free(&r);
}

#define EXPECT_REQUEST(want, ...) expect_request(NARGS(__VA_ARGS__), ARGS(__VA_ARGS__), want)

static void test_brief_example(void **state)
{
	(void)state;
	EXPECT_REQUEST("set=1\nwgd_bind=192.0.2.1\n"
		       "public_key=" K1_HEX "\nupdate_only=true\n"
		       "wgd_source=198.51.100.2,2001:db8::2\nwgd_egress=wan2\n"
		       "public_key=" K2_HEX "\nupdate_only=true\nwgd_source=none\n\n",
		       "bind", "192.0.2.1", "peer", K1_B64, "source", "198.51.100.2,2001:db8::2",
		       "egress", "wan2", "peer", K2_B64, "source", "none");
}

static void test_requests(void **state)
{
	(void)state;
	expect_request(0, NULL, "set=1\n\n");
	EXPECT_REQUEST("set=1\nwgd_bind=none\n\n", "bind", "none");
	/* normalised: IPv4 first, IPv6 in its canonical lower-case form */
	EXPECT_REQUEST("set=1\nwgd_bind=192.0.2.1,2001:db8::1\n\n", "bind",
		       "2001:DB8:0::1,192.0.2.1");
	EXPECT_REQUEST("set=1\nwgd_bind=2001:db8::1\n\n", "bind", "2001:db8::1");
	EXPECT_REQUEST("set=1\npublic_key=" K1_HEX "\nupdate_only=true\nwgd_egress=none\n\n",
		       "peer", K1_B64, "egress", "none");
	/* a peer alone: nothing to change, but its existence is checked */
	EXPECT_REQUEST("set=1\npublic_key=" K1_HEX "\nupdate_only=true\n\n", "peer", K1_B64);
	/* the same peer twice: two entries, in order, as the daemon applies them */
	EXPECT_REQUEST("set=1\npublic_key=" K1_HEX "\nupdate_only=true\nwgd_source=10.0.0.1\n"
		       "public_key=" K1_HEX "\nupdate_only=true\nwgd_source=10.0.0.2\n\n",
		       "peer", K1_B64, "source", "10.0.0.1", "peer", K1_B64, "source", "10.0.0.2");
	EXPECT_REQUEST("set=1\npublic_key=" K1_HEX "\nupdate_only=true\nwgd_egress=eth0.100\n"
		       "wgd_source=::1\n\n",
		       "peer", K1_B64, "egress", "eth0.100", "source", "::1");
}

static void test_peers_recorded(void **state)
{
	static const uint8_t k2[WG_KEY_LEN] = {0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab,
					       0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab,
					       0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab,
					       0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab};
	struct wg_ctl_request r;
	char err[WG_CTL_ERR_LEN];

	(void)state;
	assert_int_equal(wg_ctl_build_set(6, ARGS("peer", K1_B64, "peer", K2_B64, "egress", "x"),
					  &r, err, sizeof(err)),
			 0);
	assert_int_equal(r.n_peers, 2);
	for (int i = 0; i < WG_KEY_LEN; i++)
		assert_int_equal(r.peers[0].key[i], i + 1);
	assert_memory_equal(r.peers[1].key, k2, WG_KEY_LEN);
	assert_false(r.peers[0].has_source);
	assert_false(r.has_bind);
	assert_true(r.has_egress);
	wg_ctl_request_free(&r);
	/* clearing an egress asks nothing of the platform */
	assert_int_equal(
		wg_ctl_build_set(4, ARGS("peer", K1_B64, "egress", "none"), &r, err, sizeof(err)),
		0);
	assert_false(r.has_egress);
	wg_ctl_request_free(&r);
}

static void expect_error(int argc, char *const *args, const char *want)
{
	struct wg_ctl_request r;
	char err[WG_CTL_ERR_LEN];

	assert_int_equal(wg_ctl_build_set(argc, args, &r, err, sizeof(err)), -EINVAL);
	if (!strstr(err, want))
		fail_msg("error '%s' does not contain '%s'", err, want);
	wg_ctl_request_free(&r);
}

#define EXPECT_ERROR(want, ...) expect_error(NARGS(__VA_ARGS__), ARGS(__VA_ARGS__), want)

static void test_bad_words(void **state)
{
	(void)state;
	EXPECT_ERROR("unknown argument 'listen-port'", "listen-port", "1");
	EXPECT_ERROR("unknown argument 'Bind'", "Bind", "192.0.2.1");
	EXPECT_ERROR("'bind' needs a value", "bind");
	EXPECT_ERROR("'peer' needs a value", "peer");
	EXPECT_ERROR("'source' needs a value", "peer", K1_B64, "source");
	EXPECT_ERROR("'egress' needs a value", "peer", K1_B64, "egress");
	EXPECT_ERROR("'bind' must come before the first 'peer'", "peer", K1_B64, "bind",
		     "192.0.2.1");
	EXPECT_ERROR("'source' must follow a 'peer KEY'", "source", "192.0.2.1");
	EXPECT_ERROR("'egress' must follow a 'peer KEY'", "bind", "none", "egress", "eth0");
	/* a value that looks like a keyword is still the value */
	EXPECT_ERROR("invalid public key 'source'", "peer", "source", "1.2.3.4");
}

static void test_bad_keys(void **state)
{
	(void)state;
	EXPECT_ERROR("invalid public key 'abc'", "peer", "abc");
	EXPECT_ERROR("invalid public key ''", "peer", "");
	/* 43 characters, no padding */
	EXPECT_ERROR("invalid public key", "peer", "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA");
	/* padding bits not zero: a second spelling of a key is refused */
	EXPECT_ERROR("invalid public key", "peer", "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyB=");
	/* URL-safe alphabet, hex, trailing space */
	EXPECT_ERROR("invalid public key", "peer", "q6urq6urq6urq6urq6urq6urq6urq6urq6urq6ur_-s=");
	EXPECT_ERROR("invalid public key", "peer", K1_HEX);
	EXPECT_ERROR("invalid public key", "peer", K1_B64 " ");
}

static void test_bad_addresses(void **state)
{
	static const char *const bad[] = {
		"",
		"192.0.2",
		"192.0.2.256",
		"example.com",
		"192.0.2.1/32",
		"192.0.2.1:51820",
		"192.0.2.1,192.0.2.2",
		"2001:db8::1,2001:db8::2",
		"fe80::1%eth0",
		"192.0.2.1,",
		",192.0.2.1",
		"192.0.2.1,2001:db8::1,192.0.2.2",
		" 192.0.2.1",
		"None",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *v = (char *)bad[i];
		EXPECT_ERROR("invalid bind address", "bind", v);
		EXPECT_ERROR("invalid source address", "peer", K1_B64, "source", v);
	}
}

static void test_bad_egress(void **state)
{
	(void)state;
	EXPECT_ERROR("invalid egress interface ''", "peer", K1_B64, "egress", "");
	EXPECT_ERROR("invalid egress interface", "peer", K1_B64, "egress", "0123456789abcdef");
	EXPECT_ERROR("invalid egress interface", "peer", K1_B64, "egress", "a/b");
	EXPECT_ERROR("invalid egress interface", "peer", K1_B64, "egress", "a b");
	EXPECT_ERROR("invalid egress interface", "peer", K1_B64, "egress", "eth0:1");
	EXPECT_ERROR("invalid egress interface", "peer", K1_B64, "egress", "..");
	EXPECT_ERROR("invalid egress interface", "peer", K1_B64, "egress", "a\tb");
	/* 15 characters is the longest name */
	EXPECT_REQUEST("set=1\npublic_key=" K1_HEX
		       "\nupdate_only=true\nwgd_egress=0123456789abcde\n\n",
		       "peer", K1_B64, "egress", "0123456789abcde");
}

static void test_ifname(void **state)
{
	(void)state;
	assert_true(wg_ctl_valid_ifname("wg0"));
	assert_true(wg_ctl_valid_ifname("set"));
	assert_true(wg_ctl_valid_ifname("0123456789abcde"));
	assert_false(wg_ctl_valid_ifname(""));
	assert_false(wg_ctl_valid_ifname("0123456789abcdef"));
	assert_false(wg_ctl_valid_ifname("."));
	assert_false(wg_ctl_valid_ifname(".."));
	assert_false(wg_ctl_valid_ifname("../wg0"));
	assert_false(wg_ctl_valid_ifname("wg 0"));
	assert_false(wg_ctl_valid_ifname("wg0\n"));
	assert_false(wg_ctl_valid_ifname("wg:0"));
	assert_false(wg_ctl_valid_ifname("wg=0"));
	assert_false(wg_ctl_valid_ifname("wg\x7f"));
}

static void test_reply_errno(void **state)
{
	int n = -1;

	(void)state;
	assert_int_equal(wg_ctl_reply_errno("errno=0\n\n", &n), 0);
	assert_int_equal(n, 0);
	/* set replies carry it negative, get replies positive */
	assert_int_equal(wg_ctl_reply_errno("errno=-22\n\n", &n), 0);
	assert_int_equal(n, 22);
	assert_int_equal(wg_ctl_reply_errno("private_key=00\nerrno=12\n\n", &n), 0);
	assert_int_equal(n, 12);
	assert_int_equal(wg_ctl_reply_errno("", &n), -EPROTO);
	assert_int_equal(wg_ctl_reply_errno("\n", &n), -EPROTO);
	assert_int_equal(wg_ctl_reply_errno("listen_port=1\n\n", &n), -EPROTO);
	assert_int_equal(wg_ctl_reply_errno("errno=\n\n", &n), -EPROTO);
	assert_int_equal(wg_ctl_reply_errno("errno=-\n\n", &n), -EPROTO);
	assert_int_equal(wg_ctl_reply_errno("errno=1x\n\n", &n), -EPROTO);
	assert_int_equal(wg_ctl_reply_errno("errno=99999\n\n", &n), -EPROTO);
	assert_int_equal(wg_ctl_reply_errno("errno\n\n", &n), -EPROTO);
	/* after the empty line, nothing belongs to this reply */
	assert_int_equal(wg_ctl_reply_errno("a=1\n\nerrno=0\n\n", &n), -EPROTO);
	/* a last line without its newline still counts */
	assert_int_equal(wg_ctl_reply_errno("errno=5", &n), 0);
	assert_int_equal(n, 5);
}

#define PRIV_HEX "7777777777777777777777777777777777777777777777777777777777777777"
#define PSK_HEX	 "5555555555555555555555555555555555555555555555555555555555555555"

static const char full_reply[] = "private_key=" PRIV_HEX "\n"
				 "listen_port=51820\n"
				 "fwmark=0\n"
				 "wgd_bind=192.0.2.1,2001:db8::1\n"
				 "public_key=" K1_HEX "\n"
				 "preshared_key=" PSK_HEX "\n"
				 "protocol_version=1\n"
				 "endpoint=203.0.113.7:51820\n"
				 "last_handshake_time_sec=0\n"
				 "last_handshake_time_nsec=0\n"
				 "tx_bytes=0\n"
				 "rx_bytes=0\n"
				 "persistent_keepalive_interval=25\n"
				 "allowed_ip=10.0.0.2/32\n"
				 "wgd_source=198.51.100.2\n"
				 "wgd_egress=wan2\n"
				 "public_key=" K2_HEX "\n"
				 "endpoint=[2001:db8::7]:51820\n"
				 "allowed_ip=0.0.0.0/0\n"
				 "public_key=" K3_HEX "\n"
				 "wgd_source=198.51.100.2,2001:db8::2\n"
				 "some_future_key=x=y\n"
				 "errno=0\n"
				 "\n";

static void expect_show(const char *reply, const char *want)
{
	struct wg_uapi_writer w;
	char err[WG_CTL_ERR_LEN];

	wg_uapi_writer_init(&w);
	assert_int_equal(wg_ctl_format_show("wg0", reply, &w, err, sizeof(err)), 0);
	assert_int_equal(w.len, strlen(want));
	assert_memory_equal(w.buf, want, w.len);
	wg_uapi_writer_free(&w);
}

static void test_show(void **state)
{
	(void)state;
	expect_show(full_reply, "interface: wg0\n"
				"  bind: 192.0.2.1,2001:db8::1\n"
				"peer: " K1_B64 "\n"
				"  endpoint: 203.0.113.7:51820\n"
				"  source: 198.51.100.2\n"
				"  egress: wan2\n"
				"peer: " K2_B64 "\n"
				"  endpoint: [2001:db8::7]:51820\n"
				"peer: QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl8=\n"
				"  source: 198.51.100.2,2001:db8::2\n");
	/* no extension set, no peers: stock wireguard-go's reply shape */
	expect_show("private_key=" PRIV_HEX "\nlisten_port=0\nerrno=0\n\n", "interface: wg0\n");
	/* wgd_bind is a device key: after a public_key it is not the bind */
	expect_show("public_key=" K1_HEX "\nwgd_bind=192.0.2.1\nerrno=0\n\n",
		    "interface: wg0\npeer: " K1_B64 "\n");
}

/* The secrets of a get reply never reach the printed text. */
static void test_show_no_secrets(void **state)
{
	struct wg_uapi_writer w;
	char err[WG_CTL_ERR_LEN];

	(void)state;
	wg_uapi_writer_init(&w);
	assert_int_equal(wg_ctl_format_show("wg0", full_reply, &w, err, sizeof(err)), 0);
	wg_uapi_put_bytes(&w, "", 1);
	assert_null(strstr(w.buf, "777"));
	assert_null(strstr(w.buf, "555"));
	assert_null(strstr(w.buf, "d3d3d3")); /* base64 of 0x77... */
	assert_null(strstr(w.buf, "VVVV"));   /* base64 of 0x55... */
	assert_null(strstr(w.buf, "key"));
	wg_uapi_writer_free(&w);
}

static void expect_show_error(const char *reply, int want, const char *msg)
{
	struct wg_uapi_writer w;
	char err[WG_CTL_ERR_LEN];

	wg_uapi_writer_init(&w);
	assert_int_equal(wg_ctl_format_show("wg0", reply, &w, err, sizeof(err)), want);
	if (msg && !strstr(err, msg))
		fail_msg("error '%s' does not contain '%s'", err, msg);
	wg_uapi_writer_free(&w);
}

static void test_show_errors(void **state)
{
	(void)state;
	expect_show_error("errno=12\n\n", -12, NULL);
	expect_show_error("errno=-95\n\n", -95, NULL);
	expect_show_error("listen_port=1\n\n", -EPROTO, "without an errno line");
	expect_show_error("", -EPROTO, "without an errno line");
	expect_show_error("listen_port\nerrno=0\n\n", -EPROTO, "no '='");
	expect_show_error("public_key=" K1_HEX "0\nerrno=0\n\n", -EPROTO, "malformed public_key");
	expect_show_error("public_key=zz" K1_HEX "\nerrno=0\n\n", -EPROTO, "malformed public_key");
	expect_show_error("errno=x\n\n", -EPROTO, "malformed errno");
}

static void test_reply_has_peer(void **state)
{
	static const uint8_t absent[WG_KEY_LEN] = {1};
	uint8_t k1[WG_KEY_LEN], k2[WG_KEY_LEN];

	(void)state;
	for (int i = 0; i < WG_KEY_LEN; i++) {
		k1[i] = (uint8_t)(i + 1);
		k2[i] = 0xab;
	}
	assert_true(wg_ctl_reply_has_peer(full_reply, k1));
	assert_true(wg_ctl_reply_has_peer(full_reply, k2));
	assert_false(wg_ctl_reply_has_peer(full_reply, absent));
	assert_false(wg_ctl_reply_has_peer("errno=0\n\n", k1));
	/* the private key is not a peer, even if it were that key */
	assert_false(wg_ctl_reply_has_peer("private_key=" K1_HEX "\nerrno=0\n\n", k1));
	/* upper-case hex is the same key */
	assert_true(wg_ctl_reply_has_peer("public_key=ABABABABABABABABABABABABABABABAB"
					  "ABABABABABABABABABABABABABABABAB\nerrno=0\n\n",
					  k2));
}

/* check_sources: words -> request, then against a get reply. */
static int check_sources(int argc, char *const *args, const char *reply, char *err)
{
	struct wg_ctl_request r;
	int ret;

	assert_int_equal(wg_ctl_build_set(argc, args, &r, err, WG_CTL_ERR_LEN), 0);
	ret = wg_ctl_check_sources(&r, reply, err, WG_CTL_ERR_LEN);
	wg_ctl_request_free(&r);
	return ret;
}

#define CHECK_SOURCES(reply, err, ...)                                                             \
	check_sources(NARGS(__VA_ARGS__), ARGS(__VA_ARGS__), reply, err)

static void test_check_sources(void **state)
{
	static const char bound4[] = "listen_port=1\nwgd_bind=192.0.2.1\nerrno=0\n\n";
	static const char bound46[] = "wgd_bind=192.0.2.1,2001:db8::1\nerrno=0\n\n";
	char err[WG_CTL_ERR_LEN];

	(void)state;
	/* the request's own bind */
	assert_int_equal(CHECK_SOURCES("errno=0\n\n", err, "bind", "192.0.2.1", "peer", K1_B64,
				       "source", "198.51.100.2"),
			 -EINVAL);
	assert_non_null(strstr(err, "peer " K1_B64 ": source 198.51.100.2 differs from the bind "
				    "address 192.0.2.1"));
	/* the device's bind, from the reply */
	assert_int_equal(CHECK_SOURCES(bound4, err, "peer", K1_B64, "source", "198.51.100.2"),
			 -EINVAL);
	assert_int_equal(
		CHECK_SOURCES(bound46, err, "peer", K1_B64, "source", "192.0.2.1,2001:db8::2"),
		-EINVAL);
	assert_non_null(strstr(err, "2001:db8::2"));
	/* the second peer is named */
	assert_int_equal(CHECK_SOURCES(bound4, err, "peer", K1_B64, "source", "192.0.2.1", "peer",
				       K2_B64, "source", "192.0.2.9"),
			 -EINVAL);
	assert_non_null(strstr(err, K2_B64));
	/* allowed: the bind address itself, an unbound family, none, a request
	 * that clears or changes the bind, a wgd_bind line that is not the
	 * device's */
	assert_int_equal(CHECK_SOURCES(bound4, err, "peer", K1_B64, "source", "192.0.2.1"), 0);
	assert_int_equal(CHECK_SOURCES(bound4, err, "peer", K1_B64, "source", "2001:db8::2"), 0);
	assert_int_equal(CHECK_SOURCES(bound4, err, "peer", K1_B64, "source", "none"), 0);
	assert_int_equal(CHECK_SOURCES(bound4, err, "peer", K1_B64, "egress", "wan2"), 0);
	assert_int_equal(CHECK_SOURCES(bound4, err, "bind", "none", "peer", K1_B64, "source",
				       "198.51.100.2"),
			 0);
	assert_int_equal(CHECK_SOURCES(bound4, err, "bind", "198.51.100.2", "peer", K1_B64,
				       "source", "198.51.100.2"),
			 0);
	assert_int_equal(CHECK_SOURCES("public_key=" K1_HEX "\nwgd_bind=192.0.2.1\nerrno=0\n\n",
				       err, "peer", K1_B64, "source", "198.51.100.2"),
			 0);
	assert_int_equal(CHECK_SOURCES("errno=0\n\n", err, "peer", K1_B64, "source",
				       "198.51.100.2,2001:db8::2"),
			 0);
}

/* A new bind address that a peer's kept source differs from is refused,
 * naming the peer, unless the same command gives that peer a source. */
static void test_check_kept_sources(void **state)
{
	static const char sourced[] = "listen_port=1\npublic_key=" K2_HEX "\n"
				      "public_key=" K1_HEX "\nwgd_source=198.51.100.2,2001:db8::2\n"
				      "errno=0\n\n";
	char err[WG_CTL_ERR_LEN];

	(void)state;
	assert_int_equal(CHECK_SOURCES(sourced, err, "bind", "192.0.2.1"), -EINVAL);
	assert_non_null(strstr(err, "peer " K1_B64 " has source 198.51.100.2,2001:db8::2, which "
				    "the bind address 192.0.2.1 rules out"));
	assert_int_equal(CHECK_SOURCES(sourced, err, "bind", "2001:db8::1"), -EINVAL);
	/* another peer's source does not help */
	assert_int_equal(CHECK_SOURCES(sourced, err, "bind", "192.0.2.1", "peer", K2_B64,
				       "source", "none"),
			 -EINVAL);
	/* allowed: the same command clears or replaces it, the bind agrees, no bind */
	assert_int_equal(CHECK_SOURCES(sourced, err, "bind", "192.0.2.1", "peer", K1_B64,
				       "source", "none"),
			 0);
	assert_int_equal(CHECK_SOURCES(sourced, err, "bind", "192.0.2.1", "peer", K1_B64,
				       "source", "192.0.2.1,2001:db8::2"),
			 0);
	assert_int_equal(CHECK_SOURCES(sourced, err, "bind", "198.51.100.2,2001:db8::2"), 0);
	assert_int_equal(CHECK_SOURCES(sourced, err, "bind", "none"), 0);
	assert_int_equal(CHECK_SOURCES(sourced, err, "peer", K2_B64, "egress", "wan2"), 0);
}

static void test_name_file(void **state)
{
	char name[WG_IFNAMSIZ] = "unchanged";

	(void)state;
	assert_true(wg_ctl_name_file_parse("utun4\n", 6, name));
	assert_string_equal(name, "utun4");
	assert_true(wg_ctl_name_file_parse("utun12", 6, name));
	assert_string_equal(name, "utun12");
	strcpy(name, "unchanged");
	assert_false(wg_ctl_name_file_parse("", 0, name));
	assert_false(wg_ctl_name_file_parse("\n", 1, name));
	assert_false(wg_ctl_name_file_parse("utun4\nx", 7, name));
	assert_false(wg_ctl_name_file_parse("utun4\n\n", 7, name));
	assert_false(wg_ctl_name_file_parse("../etc/x\n", 9, name));
	assert_false(wg_ctl_name_file_parse("utun\0\n", 6, name));
	assert_false(wg_ctl_name_file_parse("0123456789abcdef", 16, name));
	assert_string_equal(name, "unchanged");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_brief_example),	cmocka_unit_test(test_requests),
		cmocka_unit_test(test_peers_recorded),	cmocka_unit_test(test_bad_words),
		cmocka_unit_test(test_bad_keys),	cmocka_unit_test(test_bad_addresses),
		cmocka_unit_test(test_bad_egress),	cmocka_unit_test(test_ifname),
		cmocka_unit_test(test_reply_errno),	cmocka_unit_test(test_show),
		cmocka_unit_test(test_show_no_secrets), cmocka_unit_test(test_show_errors),
		cmocka_unit_test(test_reply_has_peer),	cmocka_unit_test(test_name_file),
		cmocka_unit_test(test_check_sources),
		cmocka_unit_test(test_check_kept_sources),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
