#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "wgd/control.h"
#include "wgd/uapi.h"

#define K1	 "e84b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba52027a"
#define K2	 "b85996fecc9c7f1fc6d2572a76eda11d59bcd20be8e543b15ce4bd85a8e75a33"
#define K1_UPPER "E84B5A6D2717C1003A13B431570353DBACA9146CF150C5F8575680FEBA52027A"
#define ZERO_KEY "0000000000000000000000000000000000000000000000000000000000000000"

static const uint8_t k1_bin[32] = {
	0xe8, 0x4b, 0x5a, 0x6d, 0x27, 0x17, 0xc1, 0x00, 0x3a, 0x13, 0xb4,
	0x31, 0x57, 0x03, 0x53, 0xdb, 0xac, 0xa9, 0x14, 0x6c, 0xf1, 0x50,
	0xc5, 0xf8, 0x57, 0x56, 0x80, 0xfe, 0xba, 0x52, 0x02, 0x7a,
};

static bool is_zeroed(const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n--)
		if (*b++)
			return false;
	return true;
}

static int parse(const char *body, struct wg_uapi_set *set)
{
	memset(set, 0x5a, sizeof(*set)); /* parse must initialise *out */
	return wg_uapi_parse_set(body, strlen(body), set);
}

/* The body must fail with err and leave the set zeroed. */
static void expect_fail(const char *body, int err)
{
	struct wg_uapi_set set;
	int ret = parse(body, &set);

	if (ret != err)
		fail_msg("body %s: got %d, want %d", body, ret, err);
	assert_true(is_zeroed(&set, sizeof(set)));
}

/* ---- set: accepted input ---- */

static void test_set_empty(void **state)
{
	struct wg_uapi_set set;

	(void)state;
	assert_int_equal(parse("", &set), 0);
	assert_false(set.has_private_key || set.has_listen_port || set.has_fwmark);
	assert_int_equal(set.n_peers, 0);
	wg_uapi_set_free(&set);
}

static void test_set_device_keys(void **state)
{
	struct wg_uapi_set set;

	(void)state;
	assert_int_equal(parse("private_key=" K1 "\nlisten_port=51820\nfwmark=4294967295\n"
			       "replace_peers=true\n",
			       &set),
			 0);
	assert_true(set.has_private_key);
	assert_memory_equal(set.private_key, k1_bin, 32);
	assert_true(set.has_listen_port);
	assert_int_equal(set.listen_port, 51820);
	assert_true(set.has_fwmark);
	assert_int_equal(set.fwmark, 4294967295u);
	assert_true(set.replace_peers);
	assert_int_equal(set.n_peers, 0);
	wg_uapi_set_free(&set);
	assert_true(is_zeroed(&set, sizeof(set)));
}

static void test_set_key_case_and_zero(void **state)
{
	struct wg_uapi_set set;

	(void)state;
	assert_int_equal(parse("private_key=" K1_UPPER "\n", &set), 0);
	assert_memory_equal(set.private_key, k1_bin, 32);
	wg_uapi_set_free(&set);
	/* all zero = remove the identity: accepted, has_private_key set */
	assert_int_equal(parse("private_key=" ZERO_KEY "\n", &set), 0);
	assert_true(set.has_private_key);
	assert_true(is_zeroed(set.private_key, 32));
	wg_uapi_set_free(&set);
}

static void test_set_port_bounds_and_fwmark_zero(void **state)
{
	struct wg_uapi_set set;

	(void)state;
	assert_int_equal(parse("listen_port=0\nfwmark=0\n", &set), 0);
	assert_true(set.has_listen_port && set.has_fwmark);
	assert_int_equal(set.listen_port, 0);
	assert_int_equal(set.fwmark, 0);
	wg_uapi_set_free(&set);
	assert_int_equal(parse("listen_port=65535\n", &set), 0);
	assert_int_equal(set.listen_port, 65535);
	wg_uapi_set_free(&set);
	/* a repeated key keeps the last value */
	assert_int_equal(parse("listen_port=1\nlisten_port=2\n", &set), 0);
	assert_int_equal(set.listen_port, 2);
	wg_uapi_set_free(&set);
}

static void test_set_peer_all_keys(void **state)
{
	struct wg_uapi_set set;
	struct wg_uapi_peer *p;

	(void)state;
	assert_int_equal(parse("public_key=" K1 "\nupdate_only=true\npreshared_key=" K2 "\n"
			       "endpoint=192.0.2.1:51820\npersistent_keepalive_interval=25\n"
			       "replace_allowed_ips=true\nallowed_ip=10.0.0.0/24\n"
			       "allowed_ip=fd00::/64\nprotocol_version=1\n",
			       &set),
			 0);
	assert_int_equal(set.n_peers, 1);
	p = &set.peers[0];
	assert_memory_equal(p->public_key, k1_bin, 32);
	assert_true(p->update_only);
	assert_false(p->remove);
	assert_true(p->has_preshared_key);
	assert_int_equal(p->preshared_key[0], 0xb8);
	assert_int_equal(p->preshared_key[31], 0x33);
	assert_true(p->has_endpoint);
	assert_int_equal(p->endpoint.sa.sa_family, AF_INET);
	assert_int_equal(ntohs(p->endpoint.in4.sin_port), 51820);
	assert_true(p->has_keepalive);
	assert_int_equal(p->keepalive, 25);
	assert_true(p->replace_allowed_ips);
	assert_int_equal(p->n_aips, 2);
	assert_int_equal(p->aips[0].family, AF_INET);
	assert_int_equal(p->aips[0].cidr, 24);
	assert_memory_equal(p->aips[0].addr, "\x0a\x00\x00\x00", 4);
	assert_false(p->aips[0].remove);
	assert_int_equal(p->aips[1].family, AF_INET6);
	assert_int_equal(p->aips[1].cidr, 64);
	assert_int_equal(p->aips[1].addr[0], 0xfd);
	wg_uapi_set_free(&set);
}

static void test_set_endpoint_forms(void **state)
{
	static const char *const ok[] = {
		"endpoint=[::1]:51820\n",	 "endpoint=[2001:db8::1]:1\n",
		"endpoint=[fe80::1%1]:51820\n", /* what getnameinfo gives for link-local */
		"endpoint=[fe80::1%lo]:51820\n", "endpoint=[::ffff:192.0.2.1]:7\n",
		"endpoint=0.0.0.0:65535\n",
	};
	struct wg_uapi_set set;
	char body[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		snprintf(body, sizeof(body), "public_key=%s\n%s", K1, ok[i]);
		assert_int_equal(parse(body, &set), 0);
		assert_true(set.peers[0].has_endpoint);
		wg_uapi_set_free(&set);
	}
	assert_int_equal(parse("public_key=" K1 "\nendpoint=[::1]:51820\n", &set), 0);
	assert_int_equal(set.peers[0].endpoint.sa.sa_family, AF_INET6);
	assert_int_equal(set.peers[0].endpoint.in6.sin6_addr.s6_addr[15], 1);
	wg_uapi_set_free(&set);
}

static void test_set_keepalive_bounds(void **state)
{
	struct wg_uapi_set set;

	(void)state;
	assert_int_equal(parse("public_key=" K1 "\npersistent_keepalive_interval=0\n", &set), 0);
	assert_true(set.peers[0].has_keepalive);
	assert_int_equal(set.peers[0].keepalive, 0);
	wg_uapi_set_free(&set);
	assert_int_equal(parse("public_key=" K1 "\npersistent_keepalive_interval=65535\n", &set),
			 0);
	assert_int_equal(set.peers[0].keepalive, 65535);
	wg_uapi_set_free(&set);
}

static void test_set_aip_remove_syntax(void **state)
{
	struct wg_uapi_set set;
	struct wg_uapi_peer *p;

	(void)state;
	assert_int_equal(parse("public_key=" K1 "\nallowed_ip=-10.1.0.0/16\nallowed_ip=-::/0\n"
			       "allowed_ip=192.0.2.7/32\n",
			       &set),
			 0);
	p = &set.peers[0];
	assert_int_equal(p->n_aips, 3);
	assert_true(p->aips[0].remove);
	assert_int_equal(p->aips[0].family, AF_INET);
	assert_int_equal(p->aips[0].cidr, 16);
	assert_true(p->aips[1].remove);
	assert_int_equal(p->aips[1].family, AF_INET6);
	assert_int_equal(p->aips[1].cidr, 0);
	assert_false(p->aips[2].remove);
	assert_int_equal(p->aips[2].cidr, 32);
	wg_uapi_set_free(&set);
}

static void test_set_aip_masked_and_bounds(void **state)
{
	struct wg_uapi_set set;
	struct wg_uapi_peer *p;

	(void)state;
	assert_int_equal(parse("public_key=" K1 "\nallowed_ip=10.1.2.3/12\n"
			       "allowed_ip=2001:db8:ffff::1/33\nallowed_ip=0.0.0.0/0\n"
			       "allowed_ip=::1/128\n",
			       &set),
			 0);
	p = &set.peers[0];
	assert_int_equal(p->n_aips, 4);
	assert_memory_equal(p->aips[0].addr, "\x0a\x00\x00\x00", 4);
	assert_memory_equal(p->aips[1].addr, "\x20\x01\x0d\xb8\x80\x00\x00\x00", 8);
	assert_true(is_zeroed(p->aips[1].addr + 5, 11));
	assert_int_equal(p->aips[2].cidr, 0);
	assert_int_equal(p->aips[3].cidr, 128);
	assert_int_equal(p->aips[3].addr[15], 1);
	wg_uapi_set_free(&set);
}

static void test_set_replace_aips_drops_earlier(void **state)
{
	struct wg_uapi_set set;
	struct wg_uapi_peer *p;

	(void)state;
	assert_int_equal(parse("public_key=" K1 "\nallowed_ip=10.0.0.0/8\n"
			       "replace_allowed_ips=true\nallowed_ip=10.2.0.0/16\n",
			       &set),
			 0);
	p = &set.peers[0];
	assert_true(p->replace_allowed_ips);
	assert_int_equal(p->n_aips, 1);
	assert_int_equal(p->aips[0].cidr, 16);
	wg_uapi_set_free(&set);
}

static void test_set_remove_drops_fields(void **state)
{
	struct wg_uapi_set set;
	struct wg_uapi_peer *p;

	(void)state;
	assert_int_equal(parse("public_key=" K1 "\nendpoint=192.0.2.1:1\nallowed_ip=10.0.0.0/8\n"
			       "remove=true\npreshared_key=" K2 "\nallowed_ip=10.9.0.0/16\n",
			       &set),
			 0);
	p = &set.peers[0];
	assert_true(p->remove);
	assert_memory_equal(p->public_key, k1_bin, 32);
	assert_false(p->has_endpoint || p->has_preshared_key);
	assert_int_equal(p->n_aips, 0);
	wg_uapi_set_free(&set);
	/* lines after remove are still validated */
	expect_fail("public_key=" K1 "\nremove=true\nallowed_ip=10.0.0.0/33\n", -EINVAL);
}

static void test_set_duplicate_public_key(void **state)
{
	struct wg_uapi_set set;

	(void)state;
	assert_int_equal(parse("public_key=" K1 "\nremove=true\npublic_key=" K2
			       "\nallowed_ip=10.0.0.1/32\npublic_key=" K1
			       "\nendpoint=192.0.2.1:2\n",
			       &set),
			 0);
	assert_int_equal(set.n_peers, 3);
	assert_true(set.peers[0].remove);
	assert_false(set.peers[2].remove);
	assert_true(set.peers[2].has_endpoint);
	assert_memory_equal(set.peers[0].public_key, set.peers[2].public_key, 32);
	wg_uapi_set_free(&set);
}

static void test_set_many_peers_and_aips(void **state)
{
	struct wg_uapi_set set;
	size_t cap = 200 * 200, len = 0, i;
	char *body = malloc(cap);

	(void)state;
	assert_non_null(body);
	for (i = 0; i < 100; i++) {
		len += (size_t)snprintf(body + len, cap - len, "public_key=%064zx\n", i);
		len += (size_t)snprintf(body + len, cap - len, "allowed_ip=10.%zu.0.0/16\n", i);
		len += (size_t)snprintf(body + len, cap - len, "allowed_ip=10.%zu.1.0/24\n", i);
		len += (size_t)snprintf(body + len, cap - len, "allowed_ip=fd%02zx::/16\n", i);
		len += (size_t)snprintf(body + len, cap - len, "allowed_ip=fd%02zx::/17\n", i);
		len += (size_t)snprintf(body + len, cap - len, "allowed_ip=fd%02zx::/18\n", i);
	}
	assert_int_equal(wg_uapi_parse_set(body, len, &set), 0);
	assert_int_equal(set.n_peers, 100);
	assert_int_equal(set.peers[99].public_key[31], 99);
	assert_int_equal(set.peers[99].n_aips, 5);
	assert_int_equal(set.peers[42].aips[1].addr[1], 42);
	wg_uapi_set_free(&set);
	free(body);
}

static void test_set_last_line_without_newline(void **state)
{
	struct wg_uapi_set set;

	(void)state;
	assert_int_equal(parse("listen_port=7", &set), 0);
	assert_int_equal(set.listen_port, 7);
	wg_uapi_set_free(&set);
}

/* ---- set: malformed input ---- */

static void test_set_bad_hex(void **state)
{
	(void)state;
	expect_fail(
		"private_key=g84b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba52027a\n",
		-EINVAL);
	expect_fail(
		"private_key=e84b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba52027/\n",
		-EINVAL);
	expect_fail(
		"private_key=e84b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba5202:a\n",
		-EINVAL);
	expect_fail("public_key=" K1 "\npreshared_key=e84b5a6d2717c1003a13b431570353dbaca9146c "
		    "150c5f8575680feba52027a\n",
		    -EINVAL);
	expect_fail("public_key=@84b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba52027a\n",
		    -EINVAL);
	expect_fail("public_key=`84b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba52027a\n",
		    -EINVAL);
}

static void test_set_bad_key_length(void **state)
{
	(void)state;
	expect_fail("private_key=" K1 "0\n", -EINVAL);
	expect_fail("private_key=e84b\n", -EINVAL);
	expect_fail("public_key=" K1 "\npreshared_key=" K2 "a\n", -EINVAL);
	/* base64, as in wg's config files, is not the UAPI form */
	expect_fail("public_key=6EtabScXwQA6E7QxVwNT26ypFGzxUMX4V1aA/rpSAno=\n", -EINVAL);
}

static void test_set_unknown_key(void **state)
{
	(void)state;
	expect_fail("bogus=1\n", -EINVAL);
	expect_fail("public_key=" K1 "\nbogus=1\n", -EINVAL);
	expect_fail("public_key=" K1 "\nrx_bytes=1\n", -EINVAL); /* get-only */
	expect_fail("Listen_port=1\n", -EINVAL);
	expect_fail("endpoint=192.0.2.1:1\n", -EINVAL); /* peer key before a peer */
}

static void test_set_device_key_after_peer(void **state)
{
	(void)state;
	/* wireguard-go answers EINVAL ("invalid UAPI peer key") */
	expect_fail("public_key=" K1 "\nlisten_port=1\n", -EINVAL);
	expect_fail("public_key=" K1 "\nprivate_key=" K2 "\n", -EINVAL);
	expect_fail("public_key=" K1 "\nfwmark=0\n", -EINVAL);
	expect_fail("public_key=" K1 "\nreplace_peers=true\n", -EINVAL);
}

static void test_set_no_equals(void **state)
{
	(void)state;
	expect_fail("listen_port\n", -EPROTO);
	expect_fail("public_key=" K1 "\nremove\n", -EPROTO);
	expect_fail("listen_port=1\n\nlisten_port=2\n", -EPROTO); /* empty line inside */
}

static void test_set_out_of_range(void **state)
{
	(void)state;
	expect_fail("listen_port=65536\n", -EINVAL);
	expect_fail("listen_port=-1\n", -EINVAL);
	expect_fail("listen_port=+1\n", -EINVAL);
	expect_fail("listen_port= 1\n", -EINVAL);
	expect_fail("listen_port=1 \n", -EINVAL);
	expect_fail("listen_port=0x10\n", -EINVAL);
	expect_fail("fwmark=4294967296\n", -EINVAL);
	expect_fail("fwmark=99999999999999999999999999\n", -EINVAL);
	expect_fail("public_key=" K1 "\npersistent_keepalive_interval=65536\n", -EINVAL);
	expect_fail("public_key=" K1 "\npersistent_keepalive_interval=-5\n", -EINVAL);
}

static void test_set_bad_bool(void **state)
{
	(void)state;
	expect_fail("replace_peers=false\n", -EINVAL);
	expect_fail("replace_peers=1\n", -EINVAL);
	expect_fail("public_key=" K1 "\nremove=yes\n", -EINVAL);
	expect_fail("public_key=" K1 "\nupdate_only=TRUE\n", -EINVAL);
	expect_fail("public_key=" K1 "\nreplace_allowed_ips=truee\n", -EINVAL);
}

static void test_set_bad_prefix(void **state)
{
	static const char *const bad[] = {
		"10.0.0.0/33",
		"::/129",
		"10.0.0.0",
		"10.0.0.0/",
		"/24",
		"10.0.0.0/-1",
		"10.0.0.0/+8",
		"10.0.0.0/08",
		"10.0.0/8",
		"10.0.0.0/8/8",
		"fe80::1%1/64",
		"--10.0.0.0/8",
		"- 10.0.0.0/8",
		"-",
		"10.0.0.0/ 8",
		"example/8",
		"::/1000",
		"10.0.0.0/99999999999999999999",
		"1111:2222:3333:4444:5555:6666:7777:8888:9999:0000/64",
	};
	char body[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(body, sizeof(body), "public_key=%s\nallowed_ip=%s\n", K1, bad[i]);
		expect_fail(body, -EINVAL);
	}
}

static void test_set_bad_endpoint(void **state)
{
	static const char *const bad[] = {
		"192.0.2.1",	"192.0.2.1:", "192.0.2.1:65536", "[::1]",
		"::1:51820",	"[::1]:",     "example.com:1",	 "[::1]:x",
		"192.0.2.1:-1", "[::1%]:1",   "[]:51820",	 "1.2.3.4.5:1",
	};
	char body[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(body, sizeof(body), "public_key=%s\nendpoint=%s\n", K1, bad[i]);
		expect_fail(body, -EINVAL);
	}
}

static void test_set_empty_values(void **state)
{
	(void)state;
	expect_fail("private_key=\n", -EINVAL);
	expect_fail("listen_port=\n", -EINVAL);
	expect_fail("fwmark=\n", -EINVAL);
	expect_fail("replace_peers=\n", -EINVAL);
	expect_fail("public_key=\n", -EINVAL);
	expect_fail("public_key=" K1 "\nendpoint=\n", -EINVAL);
	expect_fail("public_key=" K1 "\nallowed_ip=\n", -EINVAL);
	expect_fail("public_key=" K1 "\npreshared_key=\n", -EINVAL);
	expect_fail("public_key=" K1 "\npersistent_keepalive_interval=\n", -EINVAL);
	expect_fail("public_key=" K1 "\nprotocol_version=\n", -EPROTONOSUPPORT);
	expect_fail("=\n", -EINVAL);
}

/* wgd's extension keys: a device's bind addresses, a peer's source and
 * egress interface; "none" clears, anything malformed is -EINVAL. */
static void test_set_wgd_extensions(void **state)
{
	struct wg_uapi_set set;
	char a[WG_ADDR_PAIR_STRLEN];

	(void)state;
	assert_int_equal(parse("wgd_bind=2001:db8::1,192.0.2.1\npublic_key=" K1
			       "\nwgd_source=198.51.100.2\nwgd_egress=wan2\n"
			       "public_key=" K2 "\nwgd_source=none\nwgd_egress=none\n",
			       &set),
			 0);
	assert_true(set.has_bind);
	assert_string_equal(wg_addr_pair_format(&set.bind, a, sizeof(a)), "192.0.2.1,2001:db8::1");
	assert_non_null(set.peers[0].ext);
	assert_true(set.peers[0].ext->has_source && set.peers[0].ext->has_egress);
	assert_string_equal(wg_addr_pair_format(&set.peers[0].ext->source, a, sizeof(a)),
			    "198.51.100.2");
	assert_string_equal(set.peers[0].ext->egress, "wan2");
	assert_true(set.peers[1].ext->has_source && !wg_addr_pair_set(&set.peers[1].ext->source));
	assert_true(set.peers[1].ext->has_egress && set.peers[1].ext->egress[0] == '\0');
	wg_uapi_set_free(&set);
	/* A stock section carries no extension block; remove=true drops it. */
	assert_int_equal(parse("public_key=" K1 "\nwgd_egress=lo\nremove=true\n", &set), 0);
	assert_null(set.peers[0].ext);
	wg_uapi_set_free(&set);
	expect_fail("wgd_bind=\n", -EINVAL);
	expect_fail("wgd_bind=192.0.2.1,192.0.2.2\n", -EINVAL); /* one per family */
	expect_fail("wgd_bind=192.0.2.1,\n", -EINVAL);
	expect_fail("wgd_bind=fe80::1%eth0\n", -EINVAL);
	expect_fail("wgd_bind=example.com\n", -EINVAL);
	expect_fail("wgd_source=192.0.2.1\n", -EINVAL);			 /* a peer key */
	expect_fail("public_key=" K1 "\nwgd_bind=192.0.2.1\n", -EINVAL); /* a device key */
	expect_fail("public_key=" K1 "\nwgd_source=192.0.2.300\n", -EINVAL);
	expect_fail("public_key=" K1 "\nwgd_egress=\n", -EINVAL);
	expect_fail("public_key=" K1 "\nwgd_egress=sixteen-chars-xx\n", -EINVAL);
	expect_fail("public_key=" K1 "\nwgd_egress=a/b\n", -EINVAL);
	expect_fail("public_key=" K1 "\nwgd_egress=a=b\n", -EINVAL);
	expect_fail("public_key=" K1 "\nwgd_egress=a b\n", -EINVAL);
	expect_fail("public_key=" K1 "\nwgd_egress=..\n", -EINVAL);
}

static void test_set_protocol_version(void **state)
{
	(void)state;
	expect_fail("public_key=" K1 "\nprotocol_version=2\n", -EPROTONOSUPPORT);
	expect_fail("public_key=" K1 "\nprotocol_version=01\n", -EPROTONOSUPPORT);
	expect_fail("protocol_version=1\n", -EINVAL); /* a peer key */
}

static void test_set_error_after_peers_frees(void **state)
{
	(void)state;
	/* the failure comes after allocations: ASan checks nothing leaks */
	expect_fail("private_key=" K1 "\npublic_key=" K1 "\nallowed_ip=10.0.0.0/8\n"
		    "allowed_ip=10.1.0.0/16\npublic_key=" K2 "\nendpoint=nope\n",
		    -EINVAL);
}

static void test_set_nul_in_line(void **state)
{
	static const char body[] = "listen_port=1\0garbage\n";
	struct wg_uapi_set set;

	(void)state;
	assert_int_equal(wg_uapi_parse_set(body, sizeof(body) - 1, &set), -EINVAL);
	assert_true(is_zeroed(&set, sizeof(set)));
}

static void test_set_line_too_long(void **state)
{
	size_t n = WG_UAPI_MAX_LINE + 1;
	char *body = malloc(n + 2);
	struct wg_uapi_set set;

	(void)state;
	assert_non_null(body);
	memcpy(body, "fwmark=", 7);
	memset(body + 7, '1', n - 7);
	body[n] = '\n';
	assert_int_equal(wg_uapi_parse_set(body, n + 1, &set), -EMSGSIZE);
	assert_true(is_zeroed(&set, sizeof(set)));
	/* exactly WG_UAPI_MAX_LINE is not too long (the value is, though) */
	assert_int_equal(wg_uapi_parse_set(body, n - 1, &set), -EINVAL);
	free(body);
}

/* ---- reader ---- */

struct req {
	int op, err;
	int port;    /* -1: none */
	long fwmark; /* -1: none */
	size_t n_peers;
};

/* Feeds data in chunks of step bytes and collects every request. */
static size_t feed_all(const char *data, size_t len, size_t step, struct req *out, size_t max)
{
	struct wg_uapi_reader r;
	struct wg_uapi_set set;
	size_t n = 0, off, chunk, pos, used;
	int op, err;

	wg_uapi_reader_init(&r, NULL);
	for (off = 0; off < len; off += chunk) {
		chunk = len - off < step ? len - off : step;
		for (pos = 0; pos < chunk; pos += used) {
			op = wg_uapi_reader_feed(&r, data + off + pos, chunk - pos, &used, &err,
						 &set);
			if (op == WG_UAPI_NONE) {
				assert_int_equal(pos + used, chunk);
				break;
			}
			assert_true(n < max);
			out[n].op = op;
			out[n].err = err;
			out[n].port = set.has_listen_port ? set.listen_port : -1;
			out[n].fwmark = set.has_fwmark ? (long)set.fwmark : -1;
			out[n].n_peers = set.n_peers;
			wg_uapi_set_free(&set);
			n++;
		}
	}
	wg_uapi_reader_free(&r);
	return n;
}

static const char pipelined[] = "get=1\n\nset=1\nlisten_port=1\npublic_key=" K1
				"\n\nget=1\n\nset=1\n\nbogus=1\nx=y\n\n\nset=1\nfwmark=3\n\n";

static void check_pipelined(size_t step)
{
	struct req reqs[8];
	size_t n = feed_all(pipelined, sizeof(pipelined) - 1, step, reqs, 8);

	assert_int_equal(n, 7);
	assert_int_equal(reqs[0].op, WG_UAPI_GET);
	assert_int_equal(reqs[0].err, 0);
	assert_int_equal(reqs[1].op, WG_UAPI_SET);
	assert_int_equal(reqs[1].err, 0);
	assert_int_equal(reqs[1].port, 1);
	assert_int_equal(reqs[1].n_peers, 1);
	assert_int_equal(reqs[2].op, WG_UAPI_GET);
	assert_int_equal(reqs[3].op, WG_UAPI_SET);
	assert_int_equal(reqs[3].err, 0);
	assert_int_equal(reqs[3].port, -1);
	assert_int_equal(reqs[3].n_peers, 0);
	assert_int_equal(reqs[4].op, -EINVAL); /* unknown first line */
	assert_int_equal(reqs[5].op, -EINVAL); /* a lone empty line */
	assert_int_equal(reqs[6].op, WG_UAPI_SET);
	assert_int_equal(reqs[6].fwmark, 3);
}

static void test_reader_one_buffer(void **state)
{
	(void)state;
	check_pipelined(sizeof(pipelined));
}

static void test_reader_byte_at_a_time(void **state)
{
	size_t step;

	(void)state;
	for (step = 1; step <= 13; step++)
		check_pipelined(step);
}

static void test_reader_first_line_exact(void **state)
{
	static const char data[] = "get=1 \n\nget=2\n\nGET=1\n\nget=1x\n\nset=10\n\n";
	struct req reqs[8];
	size_t i, n = feed_all(data, sizeof(data) - 1, 3, reqs, 8);

	(void)state;
	assert_int_equal(n, 5);
	for (i = 0; i < n; i++)
		assert_int_equal(reqs[i].op, -EINVAL);
}

static void test_reader_incomplete(void **state)
{
	struct wg_uapi_reader r;
	struct wg_uapi_set set;
	size_t used;
	int err;

	(void)state;
	wg_uapi_reader_init(&r, NULL);
	assert_false(wg_uapi_reader_busy(&r));
	assert_int_equal(wg_uapi_reader_feed(&r, "set=1\nfwmark=1\n", 15, &used, &err, &set),
			 WG_UAPI_NONE);
	assert_int_equal(used, 15);
	assert_true(wg_uapi_reader_busy(&r));
	assert_int_equal(wg_uapi_reader_feed(&r, "\n", 1, &used, &err, &set), WG_UAPI_SET);
	assert_int_equal(err, 0);
	assert_true(set.has_fwmark);
	assert_int_equal(set.fwmark, 1);
	wg_uapi_set_free(&set);
	assert_false(wg_uapi_reader_busy(&r));
	wg_uapi_reader_free(&r);
}

static void test_reader_line_too_long(void **state)
{
	struct wg_uapi_reader r;
	struct wg_uapi_set set;
	char *big = malloc(WG_UAPI_MAX_LINE + 2);
	size_t used;
	int err;

	(void)state;
	assert_non_null(big);
	memset(big, 'a', WG_UAPI_MAX_LINE + 1);
	big[WG_UAPI_MAX_LINE + 1] = '\n';
	/* a line of exactly WG_UAPI_MAX_LINE bytes is read (and has no '=') */
	wg_uapi_reader_init(&r, NULL);
	assert_int_equal(wg_uapi_reader_feed(&r, "set=1\n", 6, &used, &err, &set), WG_UAPI_NONE);
	assert_int_equal(wg_uapi_reader_feed(&r, big, WG_UAPI_MAX_LINE, &used, &err, &set),
			 WG_UAPI_NONE);
	assert_int_equal(wg_uapi_reader_feed(&r, "\n\n", 2, &used, &err, &set), WG_UAPI_SET);
	assert_int_equal(err, -EPROTO);
	/* one more byte, split across feeds */
	assert_int_equal(wg_uapi_reader_feed(&r, "set=1\n", 6, &used, &err, &set), WG_UAPI_NONE);
	assert_int_equal(wg_uapi_reader_feed(&r, big, 100, &used, &err, &set), WG_UAPI_NONE);
	assert_int_equal(wg_uapi_reader_feed(&r, big, WG_UAPI_MAX_LINE - 100, &used, &err, &set),
			 WG_UAPI_NONE);
	assert_int_equal(wg_uapi_reader_feed(&r, "a", 1, &used, &err, &set), -EMSGSIZE);
	wg_uapi_reader_free(&r);
	/* in one feed */
	wg_uapi_reader_init(&r, NULL);
	assert_int_equal(wg_uapi_reader_feed(&r, big, WG_UAPI_MAX_LINE + 2, &used, &err, &set),
			 -EMSGSIZE);
	wg_uapi_reader_free(&r);
	free(big);
}

/* Lines within every limit, but the request grows past
 * WG_UAPI_MAX_REQUEST (a set that only fails, so nothing is kept). */
static void test_reader_request_too_big(void **state)
{
	enum { LINE = 4000 };
	struct wg_uapi_reader r;
	struct wg_uapi_set set;
	char *line = malloc(LINE);
	size_t total = 6, used;
	int ret = WG_UAPI_NONE, err;

	(void)state;
	assert_non_null(line);
	memset(line, 'b', LINE - 1);
	line[LINE - 1] = '\n';
	wg_uapi_reader_init(&r, NULL);
	assert_int_equal(wg_uapi_reader_feed(&r, "set=1\n", 6, &used, &err, &set), WG_UAPI_NONE);
	while (ret == WG_UAPI_NONE && total <= WG_UAPI_MAX_REQUEST) {
		ret = wg_uapi_reader_feed(&r, line, LINE, &used, &err, &set);
		total += LINE;
	}
	assert_int_equal(ret, -EMSGSIZE);
	assert_true(total > WG_UAPI_MAX_REQUEST);
	assert_false(wg_uapi_reader_busy(&r));
	wg_uapi_reader_free(&r);
	free(line);
}

/* The change set is charged to the budget as it grows; going over drops it
 * at once and the rest of the request is only skipped. */
static void test_reader_budget(void **state)
{
	static const char line[] = "public_key=" K1 "\nallowed_ip=10.0.0.0/8\n";
	struct wg_uapi_budget budget = {.limit = 16384};
	struct wg_uapi_reader r;
	struct wg_uapi_set set;
	size_t used, i;
	int err;

	(void)state;
	wg_uapi_reader_init(&r, &budget);
	assert_int_equal(wg_uapi_reader_feed(&r, "set=1\n", 6, &used, &err, &set), WG_UAPI_NONE);
	for (i = 0; i < 1000 && !wg_uapi_reader_error(&r); i++) {
		assert_int_equal(wg_uapi_reader_feed(&r, line, sizeof(line) - 1, &used, &err, &set),
				 WG_UAPI_NONE);
		assert_true(budget.used <= budget.limit);
	}
	assert_int_equal(wg_uapi_reader_error(&r), -ENOBUFS);
	assert_true(i > 40); /* 64 peers of 128 bytes and their arrays fit */
	assert_int_equal(budget.used, 0);
	assert_int_equal(wg_uapi_reader_feed(&r, line, sizeof(line) - 1, &used, &err, &set),
			 WG_UAPI_NONE);
	assert_int_equal(budget.used, 0);
	assert_int_equal(wg_uapi_reader_feed(&r, "\n", 1, &used, &err, &set), WG_UAPI_SET);
	assert_int_equal(err, -ENOBUFS);
	assert_null(set.peers);
	/* the next request starts afresh */
	assert_int_equal(wg_uapi_reader_feed(&r, "set=1\n", 6, &used, &err, &set), WG_UAPI_NONE);
	assert_int_equal(wg_uapi_reader_feed(&r, line, sizeof(line) - 1, &used, &err, &set),
			 WG_UAPI_NONE);
	assert_true(budget.used > 0);
	assert_int_equal(wg_uapi_reader_feed(&r, "\n", 1, &used, &err, &set), WG_UAPI_SET);
	assert_int_equal(err, 0);
	assert_int_equal(set.n_peers, 1);
	assert_int_equal(budget.used, set.charged);
	wg_uapi_set_free(&set);
	assert_int_equal(budget.used, 0);
	wg_uapi_reader_free(&r);
}

/* Between requests a reader holds no memory. */
static void test_reader_releases_line(void **state)
{
	struct wg_uapi_reader r;
	struct wg_uapi_set set;
	size_t used;
	int err;

	(void)state;
	wg_uapi_reader_init(&r, NULL);
	assert_int_equal(wg_uapi_reader_feed(&r, "set=1\nfwmark=12", 15, &used, &err, &set),
			 WG_UAPI_NONE);
	assert_non_null(r.line);
	assert_int_equal(wg_uapi_reader_feed(&r, "3\n\n", 3, &used, &err, &set), WG_UAPI_SET);
	assert_int_equal(set.fwmark, 123);
	assert_null(r.line);
	assert_int_equal(r.line_cap, 0);
	wg_uapi_reader_free(&r);
}

/* ---- writer ---- */

static void test_writer_get_reply(void **state)
{
	static const uint8_t v4[4] = {10, 0, 0, 0};
	static const uint8_t v6[16] = {0xfd, [15] = 0};
	struct wg_uapi_writer w;
	union wg_sockaddr ep, none;
	char expected[1024];

	(void)state;
	memset(&none, 0, sizeof(none));
	wg_uapi_writer_init(&w);
	wg_uapi_put_key(&w, "private_key", k1_bin);
	wg_uapi_put_u64(&w, "listen_port", 51820);
	wg_uapi_put_key(&w, "public_key", k1_bin);
	wg_uapi_put_str(&w, "protocol_version", "1");
	assert_int_equal(wg_sockaddr_parse(&ep, "[::1]:51820"), 0);
	wg_uapi_put_endpoint(&w, "endpoint", &ep);
	wg_uapi_put_endpoint(&w, "endpoint", &none); /* unset: no line */
	wg_uapi_put_u64(&w, "rx_bytes", UINT64_MAX);
	wg_uapi_put_aip(&w, AF_INET, v4, 24);
	wg_uapi_put_aip(&w, AF_INET6, v6, 8);
	wg_uapi_put_aip(&w, 12345, v6, 8); /* bad family: no line */
	assert_int_equal(wg_sockaddr_parse(&ep, "192.0.2.1:7"), 0);
	wg_uapi_put_endpoint(&w, "endpoint", &ep);
	wg_uapi_put_errno(&w, 0);
	snprintf(expected, sizeof(expected),
		 "private_key=%s\nlisten_port=51820\npublic_key=%s\nprotocol_version=1\n"
		 "endpoint=[::1]:51820\nrx_bytes=18446744073709551615\nallowed_ip=10.0.0.0/24\n"
		 "allowed_ip=fd00::/8\nendpoint=192.0.2.1:7\nerrno=0\n\n",
		 K1, K1);
	assert_false(w.failed);
	assert_int_equal(w.len, strlen(expected));
	assert_memory_equal(w.buf, expected, w.len);
	wg_uapi_writer_free(&w);
	assert_null(w.buf);
	assert_int_equal(w.len, 0);
}

static void test_writer_errno_and_growth(void **state)
{
	struct wg_uapi_writer w;
	size_t i;

	(void)state;
	wg_uapi_writer_init(&w);
	wg_uapi_put_errno(&w, -EADDRINUSE);
	assert_int_equal(w.len, strlen("errno=-98\n\n"));
	assert_memory_equal(w.buf, "errno=-98\n\n", w.len);
	wg_uapi_writer_free(&w);
	/* growth keeps earlier contents */
	wg_uapi_writer_init(&w);
	for (i = 0; i < 5000; i++)
		wg_uapi_put_u64(&w, "tx_bytes", i);
	assert_false(w.failed);
	assert_memory_equal(w.buf, "tx_bytes=0\ntx_bytes=1\n", 22);
	assert_memory_equal(w.buf + w.len - 14, "tx_bytes=4999\n", 14);
	wg_uapi_writer_free(&w);
}

/* What the writer emits, the parser accepts (same key names, same forms). */
static void test_writer_parse_roundtrip(void **state)
{
	static const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8};
	struct wg_uapi_writer w;
	struct wg_uapi_set set;
	union wg_sockaddr ep;

	(void)state;
	wg_uapi_writer_init(&w);
	wg_uapi_put_key(&w, "public_key", k1_bin);
	assert_int_equal(wg_sockaddr_parse(&ep, "[2001:db8::5]:9"), 0);
	wg_uapi_put_endpoint(&w, "endpoint", &ep);
	wg_uapi_put_aip(&w, AF_INET6, v6, 32);
	assert_int_equal(wg_uapi_parse_set(w.buf, w.len, &set), 0);
	assert_memory_equal(set.peers[0].public_key, k1_bin, 32);
	assert_true(wg_sockaddr_equal(&set.peers[0].endpoint, &ep));
	assert_int_equal(set.peers[0].aips[0].cidr, 32);
	assert_memory_equal(set.peers[0].aips[0].addr, v6, 16);
	wg_uapi_set_free(&set);
	wg_uapi_writer_free(&w);
}

/* ---- control server, with a fake device ---- */

struct fake_dev {
	int get_ret, set_ret;
	int n_get, n_set;
	size_t get_lines; /* extra lines in the get reply, streamed one per "peer" */
	size_t n_next;	  /* get_next calls */
	bool has_listen_port;
	uint16_t listen_port;
	size_t n_peers;
};

struct fake_cursor {
	struct fake_dev *f;
	size_t line;
};

static int fake_get(struct wg_device *dev, struct wg_uapi_writer *w, void **cursor)
{
	struct fake_dev *f = (struct fake_dev *)dev;
	struct fake_cursor *c;

	f->n_get++;
	if (f->get_ret)
		return f->get_ret;
	wg_uapi_put_key(w, "private_key", k1_bin);
	wg_uapi_put_u64(w, "listen_port", f->listen_port);
	if (!f->get_lines)
		return 0;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->f = f;
	*cursor = c;
	return 0;
}

static bool fake_get_next(void *cursor, struct wg_uapi_writer *w, size_t max_peers)
{
	struct fake_cursor *c = cursor;

	c->f->n_next++;
	for (; c->line < c->f->get_lines && max_peers; max_peers--)
		wg_uapi_put_u64(w, "tx_bytes", c->line++);
	return c->line < c->f->get_lines;
}

static void fake_get_end(void *cursor)
{
	free(cursor);
}

static int fake_set(struct wg_device *dev, const struct wg_uapi_set *set)
{
	struct fake_dev *f = (struct fake_dev *)dev;

	f->n_set++;
	if (f->set_ret)
		return f->set_ret;
	if (set->has_listen_port)
		f->listen_port = set->listen_port;
	f->n_peers += set->n_peers;
	return 0;
}

static void handle_str(struct fake_dev *f, int op, const char *body, char *reply, size_t cap)
{
	const struct wg_control_ops ops = {fake_get, fake_get_next, fake_get_end, fake_set,
					   (struct wg_device *)f};
	struct wg_uapi_writer w;

	wg_uapi_writer_init(&w);
	wg_control_handle(&ops, op, body, strlen(body), &w);
	assert_true(w.len < cap);
	memcpy(reply, w.buf, w.len);
	reply[w.len] = '\0';
	wg_uapi_writer_free(&w);
}

static void test_control_handle(void **state)
{
	struct fake_dev f = {.listen_port = 7};
	const struct wg_control_ops ops = {fake_get, fake_get_next, fake_get_end, fake_set,
					   (struct wg_device *)&f};
	struct wg_uapi_writer w;
	char reply[512];

	(void)state;
	handle_str(&f, WG_UAPI_GET, "", reply, sizeof(reply));
	assert_string_equal(reply, "private_key=" K1 "\nlisten_port=7\nerrno=0\n\n");
	handle_str(&f, WG_UAPI_SET, "listen_port=9\npublic_key=" K2 "\n", reply, sizeof(reply));
	assert_string_equal(reply, "errno=0\n\n");
	assert_int_equal(f.listen_port, 9);
	assert_int_equal(f.n_peers, 1);
	/* a malformed set never reaches the device */
	handle_str(&f, WG_UAPI_SET, "listen_port=99999\n", reply, sizeof(reply));
	assert_string_equal(reply, "errno=-22\n\n");
	assert_int_equal(f.n_set, 1);
	f.set_ret = -EADDRINUSE;
	handle_str(&f, WG_UAPI_SET, "listen_port=1\n", reply, sizeof(reply));
	assert_string_equal(reply, "errno=-98\n\n");
	/* get errors are positive: wg parses them unsigned */
	f.get_ret = -ENOMEM;
	handle_str(&f, WG_UAPI_GET, "", reply, sizeof(reply));
	assert_string_equal(reply, "errno=12\n\n");
	f.get_ret = 0;
	handle_str(&f, WG_UAPI_GET, "x=1\n", reply, sizeof(reply));
	assert_string_equal(reply, "errno=22\n\n");
	/* an unknown op is answered and asks for the connection to close */
	wg_uapi_writer_init(&w);
	assert_int_equal(wg_control_handle(&ops, -EINVAL, NULL, 0, &w), -EINVAL);
	assert_memory_equal(w.buf, "errno=-22\n\n", w.len);
	wg_uapi_writer_free(&w);
}

#define CONTROL_SERVER_TAG "wgd-test-uapi"
#include "control_server.h"

static int client_connect(struct server *s)
{
	return server_connect(s);
}

static void client_send(int fd, const char *data, size_t len)
{
	ssize_t n;

	while (len) {
		n = send(fd, data, len, 0);
		assert_true(n > 0);
		data += n;
		len -= (size_t)n;
	}
}

/* Runs the server and reads until `replies` replies ("\n\n"-terminated) or
 * EOF arrived; returns the bytes read, *eof tells which. The loop is bounded
 * by progress, not time: every round either moves bytes or fails. */
static size_t client_recv(struct server *s, int fd, size_t replies, char *buf, size_t cap,
			  bool *eof)
{
	size_t len = 0, seen = 0, idle = 0, i;
	ssize_t n;

	*eof = false;
	while (seen < replies && idle < 1000) {
		event_base_loop(s->base, EVLOOP_NONBLOCK);
		n = recv(fd, buf + len, cap - len - 1, MSG_DONTWAIT);
		if (n == 0) {
			*eof = true;
			break;
		}
		if (n < 0) {
			assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
			idle++;
			continue;
		}
		idle = 0;
		for (i = len; i < len + (size_t)n; i++)
			if (buf[i] == '\n' && i > 0 && buf[i - 1] == '\n')
				seen++;
		len += (size_t)n;
		assert_true(len < cap - 1);
	}
	buf[len] = '\0';
	return len;
}

static bool client_sees_eof(struct server *s, int fd)
{
	char buf[64];
	bool eof;

	client_recv(s, fd, 1, buf, sizeof(buf), &eof);
	return eof;
}

static void test_control_get_set(void **state)
{
	static const char req[] = "set=1\nlisten_port=51820\npublic_key=" K2 "\n\nget=1\n\n";
	struct server *s = *state;
	char buf[1024];
	bool eof;
	int fd = client_connect(s);

	client_send(fd, req, sizeof(req) - 1);
	client_recv(s, fd, 2, buf, sizeof(buf), &eof);
	assert_false(eof);
	assert_string_equal(buf, "errno=0\n\nprivate_key=" K1 "\nlisten_port=51820\nerrno=0\n\n");
	assert_int_equal(s->dev.n_set, 1);
	assert_int_equal(s->dev.n_peers, 1);
	assert_int_equal(wg_control_conn_count(s->ctl), 1);
	close(fd);
	event_base_loop(s->base, EVLOOP_NONBLOCK);
	assert_int_equal(wg_control_conn_count(s->ctl), 0);
}

static void test_control_byte_at_a_time(void **state)
{
	static const char req[] = "set=1\nlisten_port=3\n\nset=1\nlisten_port=x\n\nget=1\n\n";
	struct server *s = *state;
	char buf[1024];
	bool eof;
	size_t i;
	int fd = client_connect(s);

	for (i = 0; i < sizeof(req) - 1; i++) {
		client_send(fd, req + i, 1);
		event_base_loop(s->base, EVLOOP_NONBLOCK);
	}
	client_recv(s, fd, 3, buf, sizeof(buf), &eof);
	assert_string_equal(buf, "errno=0\n\nerrno=-22\n\nprivate_key=" K1
				 "\nlisten_port=3\nerrno=0\n\n");
	close(fd);
}

static void test_control_device_error(void **state)
{
	struct server *s = *state;
	char buf[256];
	bool eof;
	int fd = client_connect(s);

	s->dev.set_ret = -EADDRINUSE;
	client_send(fd, "set=1\nlisten_port=1\n\n", 21);
	client_recv(s, fd, 1, buf, sizeof(buf), &eof);
	assert_string_equal(buf, "errno=-98\n\n");
	s->dev.get_ret = -ENOMEM;
	client_send(fd, "get=1\n\n", 7);
	client_recv(s, fd, 1, buf, sizeof(buf), &eof);
	assert_string_equal(buf, "errno=12\n\n");
	close(fd);
}

static void test_control_bad_op_closes(void **state)
{
	struct server *s = *state;
	char buf[256];
	bool eof;
	int fd = client_connect(s);

	/* the get after the bad request is never answered */
	client_send(fd, "hello\n\nget=1\n\n", 14);
	client_recv(s, fd, 1, buf, sizeof(buf), &eof);
	assert_string_equal(buf, "errno=-22\n\n");
	assert_true(client_sees_eof(s, fd));
	assert_int_equal(s->dev.n_get, 0);
	/* the server reads on (and drops) until the client's EOF */
	assert_int_equal(wg_control_conn_count(s->ctl), 1);
	shutdown(fd, SHUT_WR);
	client_sees_eof(s, fd);
	assert_int_equal(wg_control_conn_count(s->ctl), 0);
	close(fd);
}

static void test_control_oversized_line_closes(void **state)
{
	struct server *s = *state;
	char *big = malloc(WG_UAPI_MAX_LINE + 16);
	char buf[256];
	bool eof;
	int fd = client_connect(s);

	assert_non_null(big);
	memcpy(big, "set=1\nfwmark=", 13);
	memset(big + 13, '1', WG_UAPI_MAX_LINE + 3);
	client_send(fd, big, WG_UAPI_MAX_LINE + 16);
	client_recv(s, fd, 1, buf, sizeof(buf), &eof);
	assert_string_equal(buf, "errno=-90\n\n");
	assert_true(client_sees_eof(s, fd));
	close(fd);
	free(big);
}

static void test_control_eof_mid_request(void **state)
{
	struct server *s = *state;
	int fd = client_connect(s);

	client_send(fd, "set=1\nlisten_port=5\n", 20);
	event_base_loop(s->base, EVLOOP_NONBLOCK);
	assert_int_equal(wg_control_conn_count(s->ctl), 1);
	shutdown(fd, SHUT_WR);
	assert_true(client_sees_eof(s, fd));
	assert_int_equal(s->dev.n_set, 0); /* incomplete: never applied */
	assert_int_equal(wg_control_conn_count(s->ctl), 0);
	close(fd);
}

/* Replies far larger than the socket buffer: the server must queue, pause
 * reading while the client does not read, and resume in order. */
static void test_control_large_replies(void **state)
{
	enum { LINES = 150000 };
	struct server *s = *state;
	size_t cap = 8u << 20, len, one;
	char *buf = malloc(cap);
	bool eof;
	int fd = client_connect(s);

	assert_non_null(buf);
	s->dev.get_lines = LINES;
	client_send(fd, "get=1\n\nget=1\n\nget=1\n\n", 21);
	event_base_loop(s->base, EVLOOP_NONBLOCK);
	event_base_loop(s->base, EVLOOP_NONBLOCK);
	len = client_recv(s, fd, 3, buf, cap, &eof);
	assert_false(eof);
	assert_int_equal(s->dev.n_get, 3);
	one = len / 3;
	assert_int_equal(len, 3 * one);
	assert_true(one > WG_CONTROL_OUT_HIGH);
	assert_memory_equal(buf, buf + one, one);
	assert_memory_equal(buf + one - 10, "\nerrno=0\n\n", 10);
	assert_memory_equal(buf + len - 9, "errno=0\n\n", 9);
	close(fd);
	free(buf);
}

/* A get streams: each loop turn writes one step of peers, and only once
 * the previous step is sent, so the event loop (the data path) runs in
 * between; the reply arrives whole and in order. */
static void test_control_get_streams(void **state)
{
	enum { STEPS = 10, LINES = STEPS * WG_CONTROL_GET_STEP };
	struct server *s = *state;
	size_t cap = 1u << 20, len, line = 0;
	char *buf = malloc(cap), *p, *nl;
	bool eof;
	int fd = client_connect(s);

	assert_non_null(buf);
	s->dev.get_lines = LINES;
	client_send(fd, "get=1\n\nset=1\nlisten_port=6\n\n", 28);
	/* EVLOOP_ONCE | EVLOOP_NONBLOCK: exactly one turn that had work */
	event_base_loop(s->base, EVLOOP_ONCE | EVLOOP_NONBLOCK); /* accept */
	event_base_loop(s->base, EVLOOP_ONCE | EVLOOP_NONBLOCK); /* read, begin */
	assert_int_equal(s->dev.n_get, 1);
	assert_int_equal(s->dev.n_next, 0);
	event_base_loop(s->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	assert_int_equal(s->dev.n_next, 1);
	event_base_loop(s->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	assert_int_equal(s->dev.n_next, 2);
	assert_int_equal(s->dev.n_set, 0); /* requests wait for the get */
	len = client_recv(s, fd, 2, buf, cap, &eof);
	assert_false(eof);
	assert_int_equal(s->dev.n_next, STEPS);
	assert_int_equal(s->dev.n_set, 1);
	/* header, then every line in order, then the errno of each request */
	p = strstr(buf, "listen_port=");
	assert_non_null(p);
	p = strchr(p, '\n') + 1;
	for (; line < LINES; line++, p = nl + 1) {
		char want[40];
		snprintf(want, sizeof(want), "tx_bytes=%zu", line);
		nl = strchr(p, '\n');
		assert_non_null(nl);
		assert_int_equal((size_t)(nl - p), strlen(want));
		assert_memory_equal(p, want, strlen(want));
	}
	assert_string_equal(p, "errno=0\n\nerrno=0\n\n");
	assert_int_equal((size_t)(p - buf) + 18, len);
	close(fd);
	free(buf);
}

static void test_control_many_clients(void **state)
{
	struct server *s = *state;
	int fds[32];
	char buf[256];
	bool eof;
	size_t i;

	/* accept as we go: connect blocks once the listen backlog is full */
	for (i = 0; i < 32; i++) {
		fds[i] = client_connect(s);
		event_base_loop(s->base, EVLOOP_NONBLOCK);
	}
	for (i = 0; i < 32; i++)
		client_send(fds[i], "set=1\nlisten_port=4\n\n", 21);
	for (i = 0; i < 32; i++) {
		client_recv(s, fds[i], 1, buf, sizeof(buf), &eof);
		assert_string_equal(buf, "errno=0\n\n");
	}
	assert_int_equal(wg_control_conn_count(s->ctl), 32);
	assert_int_equal(s->dev.n_set, 32);
	/* oldest first: unlinks from the middle and the tail of the list */
	for (i = 0; i < 32; i++)
		close(fds[i]);
	for (i = 0; i < 1000 && wg_control_conn_count(s->ctl); i++)
		event_base_loop(s->base, EVLOOP_NONBLOCK);
	assert_int_equal(wg_control_conn_count(s->ctl), 0);
}

/* The client leaves while a large reply is still queued: the failed send
 * frees the connection. */
static void test_control_client_gone_mid_reply(void **state)
{
	struct server *s = *state;
	size_t i;
	int fd = client_connect(s);

	s->dev.get_lines = 200000;
	client_send(fd, "get=1\n\n", 7);
	for (i = 0; i < 1000 && s->dev.n_get == 0; i++)
		event_base_loop(s->base, EVLOOP_NONBLOCK);
	assert_int_equal(s->dev.n_get, 1);
	assert_int_equal(wg_control_conn_count(s->ctl), 1);
	close(fd);
	for (i = 0; i < 1000 && wg_control_conn_count(s->ctl); i++)
		event_base_loop(s->base, EVLOOP_NONBLOCK);
	assert_int_equal(wg_control_conn_count(s->ctl), 0);
}

static void raise_nofile(rlim_t want)
{
	struct rlimit rl;

	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur < want) {
		rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
		assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
	}
	assert_true(rl.rlim_cur >= want);
}

/* One client over the limit is accepted and closed at once. */
static void test_control_max_conns(void **state)
{
	enum { N = WG_CONTROL_MAX_CONNS };
	struct server *s = *state;
	int *fds = calloc(N + 1, sizeof(int));
	size_t i;

	assert_non_null(fds);
	raise_nofile(2 * N + 64);
	for (i = 0; i <= N; i++) {
		fds[i] = client_connect(s);
		event_base_loop(s->base, EVLOOP_NONBLOCK);
	}
	assert_int_equal(wg_control_conn_count(s->ctl), N);
	assert_true(client_sees_eof(s, fds[N]));
	for (i = 0; i <= N; i++)
		close(fds[i]);
	free(fds);
}

/* Out of descriptors: accept backs off on a timer instead of spinning, and
 * the waiting client is served once descriptors are free again. */
static void test_control_emfile_backoff(void **state)
{
	struct server *s = *state;
	struct rlimit saved, low;
	int fd = client_connect(s), spare[64], n = 0;
	char buf[256];
	bool eof;

	assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
	low = saved;
	low.rlim_cur = (rlim_t)fd + 1;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	while (n < 64 && (spare[n] = dup(0)) >= 0) /* fill any lower hole */
		n++;
	client_send(fd, "get=1\n\n", 7);
	event_base_loop(s->base, EVLOOP_NONBLOCK);
	assert_int_equal(wg_control_conn_count(s->ctl), 0);
	while (n)
		close(spare[--n]);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
	/* blocks until the backoff timer re-arms accept, then serves */
	event_base_loop(s->base, EVLOOP_ONCE);
	client_recv(s, fd, 1, buf, sizeof(buf), &eof);
	assert_false(eof);
	assert_memory_equal(buf + strlen(buf) - 9, "errno=0\n\n", 9);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set_empty),
		cmocka_unit_test(test_set_device_keys),
		cmocka_unit_test(test_set_key_case_and_zero),
		cmocka_unit_test(test_set_port_bounds_and_fwmark_zero),
		cmocka_unit_test(test_set_peer_all_keys),
		cmocka_unit_test(test_set_endpoint_forms),
		cmocka_unit_test(test_set_keepalive_bounds),
		cmocka_unit_test(test_set_aip_remove_syntax),
		cmocka_unit_test(test_set_aip_masked_and_bounds),
		cmocka_unit_test(test_set_replace_aips_drops_earlier),
		cmocka_unit_test(test_set_remove_drops_fields),
		cmocka_unit_test(test_set_duplicate_public_key),
		cmocka_unit_test(test_set_many_peers_and_aips),
		cmocka_unit_test(test_set_last_line_without_newline),
		cmocka_unit_test(test_set_bad_hex),
		cmocka_unit_test(test_set_bad_key_length),
		cmocka_unit_test(test_set_unknown_key),
		cmocka_unit_test(test_set_device_key_after_peer),
		cmocka_unit_test(test_set_no_equals),
		cmocka_unit_test(test_set_out_of_range),
		cmocka_unit_test(test_set_bad_bool),
		cmocka_unit_test(test_set_bad_prefix),
		cmocka_unit_test(test_set_bad_endpoint),
		cmocka_unit_test(test_set_empty_values),
		cmocka_unit_test(test_set_wgd_extensions),
		cmocka_unit_test(test_set_protocol_version),
		cmocka_unit_test(test_set_error_after_peers_frees),
		cmocka_unit_test(test_set_nul_in_line),
		cmocka_unit_test(test_set_line_too_long),
		cmocka_unit_test(test_reader_one_buffer),
		cmocka_unit_test(test_reader_byte_at_a_time),
		cmocka_unit_test(test_reader_first_line_exact),
		cmocka_unit_test(test_reader_incomplete),
		cmocka_unit_test(test_reader_line_too_long),
		cmocka_unit_test(test_reader_request_too_big),
		cmocka_unit_test(test_reader_budget),
		cmocka_unit_test(test_reader_releases_line),
		cmocka_unit_test(test_writer_get_reply),
		cmocka_unit_test(test_writer_errno_and_growth),
		cmocka_unit_test(test_writer_parse_roundtrip),
		cmocka_unit_test(test_control_handle),
#define SERVER_TEST(t) cmocka_unit_test_setup_teardown(t, server_setup, server_teardown)
		SERVER_TEST(test_control_get_set),
		SERVER_TEST(test_control_byte_at_a_time),
		SERVER_TEST(test_control_device_error),
		SERVER_TEST(test_control_bad_op_closes),
		SERVER_TEST(test_control_oversized_line_closes),
		SERVER_TEST(test_control_eof_mid_request),
		SERVER_TEST(test_control_large_replies),
		SERVER_TEST(test_control_get_streams),
		SERVER_TEST(test_control_many_clients),
		SERVER_TEST(test_control_client_gone_mid_reply),
		SERVER_TEST(test_control_max_conns),
		SERVER_TEST(test_control_emfile_backoff),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
