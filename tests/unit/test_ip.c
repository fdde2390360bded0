#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "ref_csum.h"
#include "wgd/ip.h"

/* The folded sum as the two bytes it is stored as. */
static uint16_t as_be(uint16_t folded)
{
	uint8_t b[2];

	memcpy(b, &folded, 2);
	return (uint16_t)(b[0] << 8 | b[1]);
}

static void fill(uint8_t *p, size_t len, uint32_t seed)
{
	for (size_t i = 0; i < len; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
	}
}

static void ip4(uint8_t *p, size_t tot, uint8_t proto)
{
	memset(p, 0, 20);
	p[0] = 0x45;
	p[2] = (uint8_t)(tot >> 8);
	p[3] = (uint8_t)tot;
	p[8] = 64;
	p[9] = proto;
	memcpy(p + 12, (const uint8_t[]){10, 0, 0, 1}, 4);
	memcpy(p + 16, (const uint8_t[]){10, 0, 0, 2}, 4);
}

static void ip6(uint8_t *p, size_t plen, uint8_t next)
{
	memset(p, 0, 40);
	p[0] = 0x60;
	p[4] = (uint8_t)(plen >> 8);
	p[5] = (uint8_t)plen;
	p[6] = next;
	p[7] = 64;
	p[8] = 0xfd;
	p[23] = 1;
	p[24] = 0xfd;
	p[39] = 2;
}

static int parse(const uint8_t *p, size_t len, int *family, size_t *ip_len)
{
	const uint8_t *src = NULL, *dst = NULL;
	int ret = wg_ip_parse(p, len, family, ip_len, &src, &dst);

	if (ret == 0) {
		assert_ptr_equal(src, p + (*family == AF_INET ? 12 : 8));
		assert_ptr_equal(dst, p + (*family == AF_INET ? 16 : 24));
	}
	return ret;
}

static void test_parse_ipv4(void **state)
{
	uint8_t p[100] = {0};
	size_t ip_len = 0;
	int family = 0;

	(void)state;
	ip4(p, 60, 17);
	assert_int_equal(parse(p, 100, &family, &ip_len), 0);
	assert_int_equal(family, AF_INET);
	assert_int_equal(ip_len, 60); /* the header's length, not the buffer's */
	assert_int_equal(parse(p, 60, &family, &ip_len), 0);
	assert_int_equal(parse(p, 59, &family, &ip_len), -EINVAL); /* beyond buffer */
	assert_int_equal(parse(p, 0, &family, &ip_len), -EINVAL);
	ip4(p, 20, 17);
	assert_int_equal(parse(p, 20, &family, &ip_len), 0);
	assert_int_equal(parse(p, 19, &family, &ip_len), -EINVAL); /* short */
	p[0] = 0x44;						   /* IHL 16 bytes */
	assert_int_equal(parse(p, 20, &family, &ip_len), -EINVAL);
	p[0] = 0x4f; /* IHL 60 > total length 20 */
	assert_int_equal(parse(p, 100, &family, &ip_len), -EINVAL);
	ip4(p, 20, 17);
	p[0] = 0x55; /* version 5 */
	assert_int_equal(parse(p, 100, &family, &ip_len), -EINVAL);
	p[0] = 0x05; /* version 0 */
	assert_int_equal(parse(p, 100, &family, &ip_len), -EINVAL);
}

static void test_parse_ipv6(void **state)
{
	uint8_t p[100] = {0};
	size_t ip_len = 0;
	int family = 0;

	(void)state;
	ip6(p, 20, 17);
	assert_int_equal(parse(p, 100, &family, &ip_len), 0);
	assert_int_equal(family, AF_INET6);
	assert_int_equal(ip_len, 60);
	assert_int_equal(parse(p, 60, &family, &ip_len), 0);
	assert_int_equal(parse(p, 59, &family, &ip_len), -EINVAL); /* payload beyond */
	ip6(p, 0, 59);
	assert_int_equal(parse(p, 40, &family, &ip_len), 0);
	assert_int_equal(ip_len, 40);
	assert_int_equal(parse(p, 39, &family, &ip_len), -EINVAL); /* short */
	p[4] = 0xff;						   /* payload length 65280 */
	assert_int_equal(parse(p, 100, &family, &ip_len), -EINVAL);
}

/* RFC 1071 section 3's example, and an IPv4 header with a known sum. */
static void test_csum_vectors(void **state)
{
	static const uint8_t rfc[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
	uint8_t hdr[20] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
			   0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
	uint8_t odd[] = {0xab};
	uint8_t field[2];

	(void)state;
	assert_int_equal(as_be(wg_csum_fold(wg_csum_add(0, rfc, sizeof(rfc)))), 0xddf2);
	assert_int_equal(wg_csum_fold(wg_csum_add(0, hdr, 20)), 0xffff);
	hdr[10] = hdr[11] = 0x55;
	wg_ip4_header_csum(hdr);
	assert_int_equal(hdr[10], 0xb8);
	assert_int_equal(hdr[11], 0x61);
	/* An odd last byte is the high byte of a zero-padded word. */
	assert_int_equal(as_be(wg_csum_fold(wg_csum_add(0, odd, 1))), 0xab00);
	assert_int_equal(wg_csum_fold(wg_csum_add(0, NULL, 0)), 0);
	/* UDP sends a computed 0 as ~0; other protocols store 0. */
	wg_csum_store(field, 0xffff, true);
	assert_int_equal(field[0] << 8 | field[1], 0xffff);
	wg_csum_store(field, 0xffff, false);
	assert_int_equal(field[0] << 8 | field[1], 0);
}

/* Every length 0..300 at every alignment, odd ones included, and sums
 * carried across even cuts, against the reference. */
static void test_csum_lengths(void **state)
{
	uint8_t buf[320], copy[320];

	(void)state;
	fill(buf, sizeof(buf), 7);
	memset(buf + 100, 0xff, 64); /* carries */
	for (size_t off = 0; off < 8; off++) {
		for (size_t len = 0; len <= 300; len++) {
			uint64_t s = wg_csum_add(0, buf + off, len);
			assert_int_equal(as_be(wg_csum_fold(s)), ref_csum(buf + off, len, 0));
		}
	}
	for (size_t cut = 0; cut <= 300; cut += 2) {
		uint64_t s = wg_csum_add(wg_csum_add(0, buf, cut), buf + cut, 301 - cut);
		assert_int_equal(as_be(wg_csum_fold(s)), ref_csum(buf, 301, 0));
	}
	assert_int_equal(wg_csum_fold(wg_csum_copy(3, copy, buf + 1, 299)),
			 wg_csum_fold(wg_csum_add(3, buf + 1, 299)));
	assert_memory_equal(copy, buf + 1, 299);
}

static void test_csum_pseudo(void **state)
{
	uint8_t v4[20], v6[40], ref[40];

	(void)state;
	ip4(v4, 1020, 6);
	memset(ref, 0, sizeof(ref));
	memcpy(ref, v4 + 12, 8);
	ref[10] = 0x03; /* the 32-bit length, 1000 */
	ref[11] = 0xe8;
	ref[15] = 6;
	assert_int_equal(as_be(wg_csum_fold(wg_csum_pseudo(v4, 4, 6, 1000))), ref_csum(ref, 16, 0));
	ip6(v6, 70000 & 0xffff, 17);
	memset(ref, 0, sizeof(ref));
	memcpy(ref, v6 + 8, 32);
	ref[33] = 0x01; /* 70000 = 0x11170: the length is 32 bits */
	ref[34] = 0x11;
	ref[35] = 0x70;
	ref[39] = 17;
	assert_int_equal(as_be(wg_csum_fold(wg_csum_pseudo(v6, 6, 17, 70000))),
			 ref_csum(ref, 40, 0));
}

static void test_icmp4_unreachable(void **state)
{
	uint8_t pkt[1400], out[WG_ICMP_MAX_LEN];
	size_t n;

	(void)state;
	fill(pkt, sizeof(pkt), 3);
	ip4(pkt, 101, 17);
	n = wg_icmp_unreachable(out, AF_INET, pkt, 101);
	assert_int_equal(n, 20 + 8 + 101);
	assert_int_equal(out[0], 0x45);
	assert_int_equal(out[2] << 8 | out[3], n);
	assert_int_equal(out[8], 64);
	assert_int_equal(out[9], 1);
	assert_memory_equal(out + 12, pkt + 16, 4); /* from the destination */
	assert_memory_equal(out + 16, pkt + 12, 4);
	assert_int_equal(ref_csum(out, 20, 0), 0xffff);
	assert_int_equal(out[20], 3);				 /* destination unreachable */
	assert_int_equal(out[21], 1);				 /* host */
	assert_memory_equal(out + 24, (const uint8_t[4]){0}, 4); /* no MTU: unused */
	assert_memory_equal(out + 28, pkt, 101);		 /* odd-length quote */
	assert_int_equal(ref_csum(out + 20, n - 20, 0), 0xffff);
	/* A long packet is quoted up to 576 bytes in all (RFC 1812). */
	ip4(pkt, 1400, 6);
	n = wg_icmp_unreachable(out, AF_INET, pkt, 1400);
	assert_int_equal(n, 576);
	assert_int_equal(out[2] << 8 | out[3], 576);
	assert_memory_equal(out + 28, pkt, 576 - 28);
	assert_int_equal(ref_csum(out, 20, 0), 0xffff);
	assert_int_equal(ref_csum(out + 20, n - 20, 0), 0xffff);
}

/* The ICMPv6 sum covers the pseudo-header (RFC 4443 2.3). */
static uint16_t icmp6_ref(const uint8_t *out, size_t n)
{
	uint8_t ph[40] = {0};

	memcpy(ph, out + 8, 32);
	ph[34] = (uint8_t)((n - 40) >> 8);
	ph[35] = (uint8_t)(n - 40);
	ph[39] = 58;
	return ref_csum(out + 40, n - 40, ref_csum(ph, 40, 0));
}

static void test_icmp6_unreachable(void **state)
{
	uint8_t pkt[2000], out[WG_ICMP_MAX_LEN];
	size_t n;

	(void)state;
	fill(pkt, sizeof(pkt), 5);
	ip6(pkt, 61, 17);
	n = wg_icmp_unreachable(out, AF_INET6, pkt, 101);
	assert_int_equal(n, 40 + 8 + 101);
	assert_int_equal(out[0], 0x60);
	assert_memory_equal(out + 1, (const uint8_t[3]){0}, 3);
	assert_int_equal(out[4] << 8 | out[5], n - 40);
	assert_int_equal(out[6], 58);
	assert_int_equal(out[7], 64);
	assert_memory_equal(out + 8, pkt + 24, 16); /* from the destination */
	assert_memory_equal(out + 24, pkt + 8, 16);
	assert_int_equal(out[40], 1);				 /* destination unreachable */
	assert_int_equal(out[41], 3);				 /* address */
	assert_memory_equal(out + 44, (const uint8_t[4]){0}, 4); /* unused */
	assert_memory_equal(out + 48, pkt, 101);
	assert_int_equal(icmp6_ref(out, n), 0xffff);
	/* A long packet is quoted up to the minimum MTU (RFC 4443 2.4). */
	ip6(pkt, 1960, 6);
	n = wg_icmp_unreachable(out, AF_INET6, pkt, 2000);
	assert_int_equal(n, 1280);
	assert_int_equal(out[4] << 8 | out[5], 1240);
	assert_memory_equal(out + 48, pkt, 1280 - 48);
	assert_int_equal(icmp6_ref(out, n), 0xffff);
}

static void test_icmp_may_answer(void **state)
{
	uint8_t p[60];

	(void)state;
	ip4(p, 28, 17);
	assert_true(wg_icmp_may_answer(AF_INET, p, 28));
	p[7] = 1; /* a later fragment */
	assert_false(wg_icmp_may_answer(AF_INET, p, 28));
	ip4(p, 28, 17);
	p[6] = 0x20; /* first fragment, more to come */
	assert_true(wg_icmp_may_answer(AF_INET, p, 28));
	ip4(p, 28, 17);
	p[16] = 224; /* multicast destination */
	assert_false(wg_icmp_may_answer(AF_INET, p, 28));
	ip4(p, 28, 17);
	p[12] = 0; /* unspecified source */
	assert_false(wg_icmp_may_answer(AF_INET, p, 28));
	ip4(p, 28, 1);
	p[20] = 3; /* an ICMP error */
	assert_false(wg_icmp_may_answer(AF_INET, p, 28));
	p[20] = 8; /* echo request */
	assert_true(wg_icmp_may_answer(AF_INET, p, 28));
	ip6(p, 8, 58);
	p[40] = 1; /* an ICMPv6 error */
	assert_false(wg_icmp_may_answer(AF_INET6, p, 48));
	p[40] = 128; /* echo request */
	assert_true(wg_icmp_may_answer(AF_INET6, p, 48));
	p[24] = 0xff; /* multicast destination */
	assert_false(wg_icmp_may_answer(AF_INET6, p, 48));
	ip6(p, 8, 17);
	memset(p + 8, 0, 16); /* unspecified source */
	assert_false(wg_icmp_may_answer(AF_INET6, p, 48));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_ipv4),	  cmocka_unit_test(test_parse_ipv6),
		cmocka_unit_test(test_csum_vectors),	  cmocka_unit_test(test_csum_lengths),
		cmocka_unit_test(test_csum_pseudo),	  cmocka_unit_test(test_icmp4_unreachable),
		cmocka_unit_test(test_icmp6_unreachable), cmocka_unit_test(test_icmp_may_answer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
