#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "wgd/addr.h"

static void roundtrip(const char *text)
{
	union wg_sockaddr a, b;
	char buf[WG_SOCKADDR_STRLEN];

	assert_int_equal(wg_sockaddr_parse(&a, text), 0);
	assert_string_equal(wg_sockaddr_format(&a, buf, sizeof(buf)), text);
	assert_int_equal(wg_sockaddr_parse(&b, buf), 0);
	assert_true(wg_sockaddr_equal(&a, &b));
}

static void test_roundtrip_v4(void **state)
{
	(void)state;
	roundtrip("192.0.2.1:51820");
	roundtrip("0.0.0.0:0");
	roundtrip("255.255.255.255:65535");
}

static void test_roundtrip_v6(void **state)
{
	(void)state;
	roundtrip("[2001:db8::1]:51820");
	roundtrip("[::1]:1");
	roundtrip("[::]:0");
	roundtrip("[fe80::1%3]:51820");
	roundtrip("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");
	roundtrip("[::ffff:192.0.2.1]:7");
}

static void test_parse_fields(void **state)
{
	union wg_sockaddr a;

	(void)state;
	assert_int_equal(wg_sockaddr_parse(&a, "10.1.2.3:258"), 0);
	assert_int_equal(a.sa.sa_family, AF_INET);
	assert_int_equal(ntohs(a.in4.sin_port), 258);
	assert_int_equal(ntohl(a.in4.sin_addr.s_addr), 0x0a010203);
	assert_int_equal(wg_sockaddr_parse(&a, "[fe80::1%lo]:1"), 0);
	assert_int_equal(a.sa.sa_family, AF_INET6);
	assert_int_not_equal(a.in6.sin6_scope_id, 0);
	assert_int_equal(ntohs(a.in6.sin6_port), 1);
}

static void test_parse_bad(void **state)
{
	static const char *const bad[] = {
		"",
		"1.2.3.4",
		"1.2.3.4:",
		"1.2.3.4:65536",
		"1.2.3.4:-1",
		"1.2.3.4:+1",
		"1.2.3.4: 1",
		"1.2.3.4:1x",
		"1.2.3.4:99999999999999999999999",
		"1.2.3:1",
		"1.2.3.256:1",
		":1",
		"example.com:1",
		"::1:51820",
		"[::1]",
		"[::1]:",
		"[::1]51820",
		"[]:1",
		"[::1:1",
		"[1.2.3.4]:1",
		"[::1%]:1",
		"[::1%nosuchif0]:1",
		"[::1]:65536",
		"[::g]:1",
		"[0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000]:1",
		"1.2.3.4.5.6.7.8.9.10.11.12.13:1",
	};
	union wg_sockaddr a;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&a, 0x5a, sizeof(a));
		assert_int_equal(wg_sockaddr_parse(&a, bad[i]), -EINVAL);
		/* *out untouched on failure */
		assert_int_equal(((unsigned char *)&a)[0], 0x5a);
	}
}

static void test_equal(void **state)
{
	union wg_sockaddr a, b, z1, z2;

	(void)state;
	memset(&z1, 0, sizeof(z1));
	memset(&z2, 0xff, sizeof(z2));
	z2.sa.sa_family = AF_UNSPEC;
	assert_true(wg_sockaddr_equal(&z1, &z2));
	assert_int_equal(wg_sockaddr_parse(&a, "192.0.2.1:1"), 0);
	assert_int_equal(wg_sockaddr_parse(&b, "192.0.2.1:2"), 0);
	assert_false(wg_sockaddr_equal(&a, &b));
	assert_int_equal(wg_sockaddr_parse(&b, "192.0.2.2:1"), 0);
	assert_false(wg_sockaddr_equal(&a, &b));
	assert_int_equal(wg_sockaddr_parse(&b, "[::ffff:192.0.2.1]:1"), 0);
	assert_false(wg_sockaddr_equal(&a, &b));
	assert_false(wg_sockaddr_equal(&a, &z1));
	assert_int_equal(wg_sockaddr_parse(&a, "[fe80::1%1]:1"), 0);
	assert_int_equal(wg_sockaddr_parse(&b, "[fe80::1%2]:1"), 0);
	assert_false(wg_sockaddr_equal(&a, &b));
	assert_int_equal(wg_sockaddr_parse(&b, "[fe80::2%1]:1"), 0);
	assert_false(wg_sockaddr_equal(&a, &b));
	assert_int_equal(wg_sockaddr_parse(&b, "[fe80::1%1]:2"), 0);
	assert_false(wg_sockaddr_equal(&a, &b));
	assert_int_equal(wg_sockaddr_parse(&b, "[fe80::1%1]:1"), 0);
	assert_true(wg_sockaddr_equal(&a, &b));
}

static void test_len_bytes(void **state)
{
	static const unsigned char v4[6] = {192, 0, 2, 1, 0xca, 0x6c};
	static const unsigned char v6[18] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1, 0xca, 0x6c};
	unsigned char out[18];
	union wg_sockaddr a;

	(void)state;
	memset(&a, 0, sizeof(a));
	assert_int_equal(wg_sockaddr_len(&a), 0);
	assert_int_equal(wg_sockaddr_bytes(&a, out), 0);
	assert_int_equal(wg_sockaddr_parse(&a, "192.0.2.1:51820"), 0);
	assert_int_equal(wg_sockaddr_len(&a), sizeof(struct sockaddr_in));
	assert_int_equal(wg_sockaddr_bytes(&a, out), 6);
	assert_memory_equal(out, v4, 6);
	assert_int_equal(wg_sockaddr_parse(&a, "[2001:db8::1]:51820"), 0);
	assert_int_equal(wg_sockaddr_len(&a), sizeof(struct sockaddr_in6));
	assert_int_equal(wg_sockaddr_bytes(&a, out), 18);
	assert_memory_equal(out, v6, 18);
}

static void test_format_edge(void **state)
{
	union wg_sockaddr a;
	char buf[WG_SOCKADDR_STRLEN];
	char small[6];

	(void)state;
	memset(&a, 0, sizeof(a));
	assert_string_equal(wg_sockaddr_format(&a, buf, sizeof(buf)), "(none)");
	assert_int_equal(wg_sockaddr_parse(&a, "192.0.2.1:51820"), 0);
	/* truncated but terminated */
	assert_string_equal(wg_sockaddr_format(&a, small, sizeof(small)), "192.0");
	/* len 0 writes nothing */
	buf[0] = 'x';
	assert_ptr_equal(wg_sockaddr_format(&a, buf, 0), buf);
	assert_int_equal(buf[0], 'x');
}

/* Bind and source address pairs: one address per family, either order. */
static void test_addr_pair(void **state)
{
	struct wg_addr_pair a, b;
	char buf[WG_ADDR_PAIR_STRLEN];

	(void)state;
	assert_int_equal(wg_addr_pair_parse(&a, "2001:db8::1,192.0.2.1"), 0);
	assert_int_equal(wg_addr_pair_parse(&b, "192.0.2.1,2001:db8::1"), 0);
	assert_true(wg_addr_pair_equal(&a, &b));
	assert_string_equal(wg_addr_pair_format(&a, buf, sizeof(buf)), "192.0.2.1,2001:db8::1");
	assert_int_equal(wg_addr_pair_parse(&b, "192.0.2.1"), 0);
	assert_false(wg_addr_pair_equal(&a, &b));
	assert_int_equal(wg_addr_pair_parse(&b, "none"), 0);
	assert_false(wg_addr_pair_set(&b));
	assert_string_equal(wg_addr_pair_format(&b, buf, sizeof(buf)), "none");
	/* Bad input leaves the pair as it was. */
	assert_int_equal(wg_addr_pair_parse(&a, "192.0.2.1,192.0.2.2"), -EINVAL);
	assert_int_equal(wg_addr_pair_parse(&a, ",192.0.2.1"), -EINVAL);
	assert_int_equal(wg_addr_pair_parse(&a, "192.0.2.1,2001:db8::1,192.0.2.3"), -EINVAL);
	assert_int_equal(wg_addr_pair_parse(&a, ""), -EINVAL);
	assert_int_equal(wg_addr_pair_parse(&a, "NONE"), -EINVAL);
	assert_true(a.has_v4 && a.has_v6);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_v4), cmocka_unit_test(test_roundtrip_v6),
		cmocka_unit_test(test_parse_fields), cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_equal),	     cmocka_unit_test(test_len_bytes),
		cmocka_unit_test(test_format_edge),  cmocka_unit_test(test_addr_pair),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
