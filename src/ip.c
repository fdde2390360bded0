/* IP header validation, the Internet checksum and the ICMP unreachable
 * error, shared by the data path (send.c, receive.c) and the TUN offload
 * arithmetic (platform/posix/offload.c). */
#include "wgd/ip.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#define IPV4_HDR_LEN	   20
#define IPV6_HDR_LEN	   40
#define ICMP_HDR_LEN	   8
#define IPPROTO_ICMP_NUM   1
#define IPPROTO_ICMPV6_NUM 58
#define ICMP4_MAX_LEN	   576 /* RFC 1812: quote as much as fits in 576 */

_Static_assert(WG_ICMP_MAX_LEN >= ICMP4_MAX_LEN, "one buffer size for both families");

static void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* --- IP headers --- */

static int parse_ipv4(const uint8_t *pkt, size_t len, size_t *ip_len)
{
	size_t ihl, tot;

	if (len < IPV4_HDR_LEN)
		return -EINVAL;
	ihl = (size_t)(pkt[0] & 0x0f) * 4;
	tot = (size_t)pkt[2] << 8 | pkt[3];
	if (ihl < IPV4_HDR_LEN || tot < ihl || tot > len)
		return -EINVAL;
	*ip_len = tot;
	return 0;
}

static int parse_ipv6(const uint8_t *pkt, size_t len, size_t *ip_len)
{
	size_t tot;

	if (len < IPV6_HDR_LEN)
		return -EINVAL;
	tot = IPV6_HDR_LEN + ((size_t)pkt[4] << 8 | pkt[5]);
	if (tot > len)
		return -EINVAL;
	*ip_len = tot;
	return 0;
}

int wg_ip_parse(const uint8_t *pkt, size_t len, int *family, size_t *ip_len, const uint8_t **src,
		const uint8_t **dst)
{
	if (len == 0)
		return -EINVAL;
	switch (pkt[0] >> 4) {
	case 4:
		*family = AF_INET;
		*src = pkt + 12;
		*dst = pkt + 16;
		return parse_ipv4(pkt, len, ip_len);
	case 6:
		*family = AF_INET6;
		*src = pkt + 8;
		*dst = pkt + 24;
		return parse_ipv6(pkt, len, ip_len);
	default:
		return -EINVAL;
	}
}

/* --- checksums --- */

static uint64_t add_carry(uint64_t a, uint64_t b)
{
	a += b;
	return a + (a < b);
}

static uint64_t load64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* The odd last byte counts as the first byte of a zero-padded word. */
static uint64_t tail_word(const uint8_t *p, size_t len)
{
	uint8_t w[8] = {0};
	uint64_t v;

	memcpy(w, p, len);
	memcpy(&v, w, sizeof(v));
	return v;
}

uint64_t wg_csum_add(uint64_t sum, const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t s0 = 0, s1 = 0, c0 = 0, c1 = 0, v;

	/* Two independent carry chains keep the adds in flight. */
	for (; len >= 16; p += 16, len -= 16) {
		v = load64(p);
		s0 += v;
		c0 += s0 < v;
		v = load64(p + 8);
		s1 += v;
		c1 += s1 < v;
	}
	if (len >= 8) {
		v = load64(p);
		s0 += v;
		c0 += s0 < v;
		p += 8;
		len -= 8;
	}
	if (len)
		s1 = add_carry(s1, tail_word(p, len));
	sum = add_carry(sum, s0);
	sum = add_carry(sum, s1);
	sum = add_carry(sum, c0);
	return add_carry(sum, c1);
}

uint64_t wg_csum_copy(uint64_t sum, void *dst, const void *src, size_t len)
{
	memcpy(dst, src, len);
	return wg_csum_add(sum, dst, len);
}

uint16_t wg_csum_fold(uint64_t sum)
{
	uint64_t s = (sum & 0xffffffffu) + (sum >> 32);

	s = (s & 0xffffffffu) + (s >> 32);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

uint64_t wg_csum_pseudo(const uint8_t *ip, int family, uint8_t proto, uint32_t l4_len)
{
	uint8_t tail[8] = {0};
	uint64_t sum;

	if (family == 4)
		sum = wg_csum_add(0, ip + 12, 8);
	else
		sum = wg_csum_add(0, ip + 8, 32);
	put_be16(tail, (uint16_t)(l4_len >> 16));
	put_be16(tail + 2, (uint16_t)l4_len);
	tail[7] = proto;
	return wg_csum_add(sum, tail, sizeof(tail));
}

void wg_csum_store(uint8_t *field, uint16_t folded_sum, bool udp)
{
	uint16_t c = (uint16_t)~folded_sum;

	if (udp && c == 0)
		c = 0xffff;
	memcpy(field, &c, sizeof(c));
}

void wg_ip4_header_csum(uint8_t *ip)
{
	size_t ihl = (size_t)(ip[0] & 0x0f) * 4;

	ip[10] = ip[11] = 0;
	wg_csum_store(ip + 10, wg_csum_fold(wg_csum_add(0, ip, ihl)), false);
}

/* --- ICMP "unreachable" --- */

static bool ipv4_may_answer(const uint8_t *pkt, size_t len)
{
	const uint8_t *src = pkt + 12, *dst = pkt + 16;
	size_t ihl = (size_t)(pkt[0] & 0x0f) * 4;

	if (((pkt[6] & 0x1f) | pkt[7]) != 0) /* not the first fragment */
		return false;
	if (src[0] == 0 || src[0] >= 224 || dst[0] >= 224)
		return false;
	/* Never answer an ICMP error with another (RFC 1122 3.2.2). */
	if (pkt[9] == IPPROTO_ICMP_NUM && len > ihl) {
		uint8_t type = pkt[ihl];
		if (type == 3 || type == 4 || type == 5 || type == 11 || type == 12)
			return false;
	}
	return true;
}

static bool ipv6_may_answer(const uint8_t *pkt, size_t len)
{
	static const uint8_t zero[16];
	const uint8_t *src = pkt + 8, *dst = pkt + 24;

	if (memcmp(src, zero, 16) == 0 || src[0] == 0xff || dst[0] == 0xff)
		return false;
	/* ICMPv6 error messages have types below 128 (RFC 4443 2.4). */
	if (pkt[6] == IPPROTO_ICMPV6_NUM && len > IPV6_HDR_LEN && pkt[IPV6_HDR_LEN] < 128)
		return false;
	return true;
}

bool wg_icmp_may_answer(int family, const uint8_t *pkt, size_t len)
{
	return family == AF_INET ? ipv4_may_answer(pkt, len) : ipv6_may_answer(pkt, len);
}

static size_t build_icmp4(uint8_t *out, const uint8_t *pkt, size_t len)
{
	size_t room = ICMP4_MAX_LEN - IPV4_HDR_LEN - ICMP_HDR_LEN;
	size_t quote = len < room ? len : room;
	size_t total = IPV4_HDR_LEN + ICMP_HDR_LEN + quote;
	uint8_t *icmp = out + IPV4_HDR_LEN;

	memset(out, 0, IPV4_HDR_LEN + ICMP_HDR_LEN);
	out[0] = 0x45;
	put_be16(out + 2, (uint16_t)total);
	out[8] = 64; /* TTL */
	out[9] = IPPROTO_ICMP_NUM;
	memcpy(out + 12, pkt + 16, 4); /* from the unreachable destination */
	memcpy(out + 16, pkt + 12, 4);
	wg_ip4_header_csum(out);
	icmp[0] = 3; /* destination unreachable */
	icmp[1] = 1; /* host unreachable, as the kernel's WireGuard sends */
	memcpy(icmp + ICMP_HDR_LEN, pkt, quote);
	wg_csum_store(icmp + 2, wg_csum_fold(wg_csum_add(0, icmp, ICMP_HDR_LEN + quote)), false);
	return total;
}

static size_t build_icmp6(uint8_t *out, const uint8_t *pkt, size_t len)
{
	size_t room = WG_ICMP_MAX_LEN - IPV6_HDR_LEN - ICMP_HDR_LEN;
	size_t quote = len < room ? len : room;
	size_t plen = ICMP_HDR_LEN + quote;
	uint8_t *icmp = out + IPV6_HDR_LEN;
	uint64_t sum;

	memset(out, 0, IPV6_HDR_LEN + ICMP_HDR_LEN);
	out[0] = 0x60;
	put_be16(out + 4, (uint16_t)plen);
	out[6] = IPPROTO_ICMPV6_NUM;
	out[7] = 64; /* hop limit */
	memcpy(out + 8, pkt + 24, 16);
	memcpy(out + 24, pkt + 8, 16);
	icmp[0] = 1; /* destination unreachable */
	icmp[1] = 3; /* address unreachable, as the kernel's WireGuard sends */
	memcpy(icmp + ICMP_HDR_LEN, pkt, quote);
	sum = wg_csum_pseudo(out, 6, IPPROTO_ICMPV6_NUM, (uint32_t)plen);
	wg_csum_store(icmp + 2, wg_csum_fold(wg_csum_add(sum, icmp, plen)), false);
	return IPV6_HDR_LEN + plen;
}

size_t wg_icmp_unreachable(uint8_t *out, int family, const uint8_t *pkt, size_t len)
{
	return family == AF_INET ? build_icmp4(out, pkt, len) : build_icmp6(out, pkt, len);
}

bool wg_ip_is_multicast(int family, const uint8_t *addr)
{
	static const uint8_t bcast[4] = {0xff, 0xff, 0xff, 0xff};

	if (family == AF_INET)
		return (addr[0] & 0xf0) == 0xe0 || !memcmp(addr, bcast, 4);
	return addr[0] == 0xff;
}
