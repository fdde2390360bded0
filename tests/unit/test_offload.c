/* Checksums against a byte-wise reference; TSO/USO splitting checked
 * segment by segment (lengths, IDs, sequence numbers, flags, valid
 * checksums, payload); GRO coalescing of the split segments gives back the
 * super-packet, and refuses what the kernel would not merge. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "offload.h"
#include "wgd/ip.h"

#include "ref_csum.h"

#define MAXPKT 65536

/* --- reference helpers --- */

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void wbe16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void wbe32(uint8_t *p, uint32_t v)
{
	wbe16(p, (uint16_t)(v >> 16));
	wbe16(p + 2, (uint16_t)v);
}

/* Folded sum over the pseudo-header and the L4 header and payload of a
 * complete packet: 0xffff when its checksum verifies. */
static uint16_t l4_sum(const uint8_t *p, size_t len)
{
	int v4 = (p[0] >> 4) == 4;
	size_t l4 = v4 ? (size_t)(p[0] & 15) * 4 : 40;
	uint8_t proto = v4 ? p[9] : p[6];
	uint32_t sum = 0;
	uint8_t pseudo[40];
	size_t plen;

	if (v4) {
		memcpy(pseudo, p + 12, 8);
		pseudo[8] = 0;
		pseudo[9] = proto;
		wbe16(pseudo + 10, (uint16_t)(len - l4));
		plen = 12;
	} else {
		memcpy(pseudo, p + 8, 32);
		wbe32(pseudo + 32, (uint32_t)(len - l4));
		memset(pseudo + 36, 0, 3);
		pseudo[39] = proto;
		plen = 40;
	}
	sum = ref_csum(pseudo, plen, 0);
	return ref_csum(p + l4, len - l4, sum);
}

static bool l4_csum_ok(const uint8_t *p, size_t len)
{
	return l4_sum(p, len) == 0xffff;
}

static void fix_ip4_csum(uint8_t *p)
{
	p[10] = p[11] = 0;
	wbe16(p + 10, (uint16_t)~ref_csum(p, (size_t)(p[0] & 15) * 4, 0));
}

/* Writes valid checksums (IPv4 header, L4) into a complete packet (after a
 * test edits a header field), computed with the reference sum. */
static void fix_l4_csum(uint8_t *p, size_t len)
{
	int v4 = (p[0] >> 4) == 4;
	size_t l4 = v4 ? (size_t)(p[0] & 15) * 4 : 40;
	size_t field = l4 + ((v4 ? p[9] : p[6]) == 6 ? 16 : 6);
	uint16_t c;

	if (v4)
		fix_ip4_csum(p);
	p[field] = p[field + 1] = 0;
	c = (uint16_t)~l4_sum(p, len);
	wbe16(p + field, c ? c : 0xffff);
}

static bool ip4_csum_ok(const uint8_t *p)
{
	return ref_csum(p, (size_t)(p[0] & 15) * 4, 0) == 0xffff;
}

static void fill_random(uint8_t *p, size_t len, unsigned int seed)
{
	srand(seed);
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)rand();
}

/* IPv4 or IPv6 + TCP (with 12 bytes of timestamp option) or UDP header
 * in front of payload. Returns the header length. */
static size_t build_hdr(uint8_t *p, int family, uint8_t proto, size_t payload, uint32_t seq)
{
	size_t l3 = family == 4 ? 20 : 40, l4 = proto == 6 ? 32 : 8;
	size_t total = l3 + l4 + payload;
	uint8_t *t = p + l3;

	memset(p, 0, l3 + l4);
	if (family == 4) {
		p[0] = 0x45;
		wbe16(p + 2, (uint16_t)total);
		wbe16(p + 4, 0x1234);
		p[6] = 0x40; /* DF */
		p[8] = 64;
		p[9] = proto;
		memcpy(p + 12, "\x0a\x00\x00\x01\x0a\x00\x00\x02", 8);
	} else {
		p[0] = 0x60;
		wbe16(p + 4, (uint16_t)(total - 40));
		p[6] = proto;
		p[7] = 64;
		memcpy(p + 8, "\xfd\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01", 16);
		memcpy(p + 24, "\xfd\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x02", 16);
	}
	wbe16(t, 40000);
	wbe16(t + 2, 5201);
	if (proto == 6) {
		wbe32(t + 4, seq);
		wbe32(t + 8, 777);
		t[12] = 8 << 4;
		t[13] = 0x10 | 0x08; /* ACK PSH */
		wbe16(t + 14, 512);
		memcpy(t + 20, "\x01\x01\x08\x0a\0\0\0\x01\0\0\0\x02", 12);
	} else {
		wbe16(t + 4, (uint16_t)(l4 + payload));
	}
	if (family == 4)
		fix_ip4_csum(p);
	return l3 + l4;
}

/* A TSO/USO super-packet as the kernel hands it over: partial checksum
 * (pseudo-header sum in the field). */
static size_t build_super(uint8_t *p, int family, uint8_t proto, size_t payload, uint16_t mss,
			  struct wg_gso *gso)
{
	size_t hdr = build_hdr(p, family, proto, payload, 1000);
	size_t l4 = family == 4 ? 20 : 40;
	uint16_t ps;

	fill_random(p + hdr, payload, (unsigned int)payload);
	memset(gso, 0, sizeof(*gso));
	gso->type = proto == 17 ? WG_GSO_UDP_L4 : family == 4 ? WG_GSO_TCP4 : WG_GSO_TCP6;
	gso->needs_csum = true;
	gso->gso_size = mss;
	gso->hdr_len = (uint16_t)hdr;
	gso->csum_start = (uint16_t)l4;
	gso->csum_offset = proto == 6 ? 16 : 6;
	ps = wg_csum_fold(wg_csum_pseudo(p, family, proto, (uint32_t)(hdr + payload - l4)));
	memcpy(p + l4 + gso->csum_offset, &ps, 2);
	return hdr + payload;
}

/* --- checksum --- */

static void test_csum_matches_reference(void **state)
{
	static uint8_t buf[3000];

	fill_random(buf, sizeof(buf), 7);
	for (size_t len = 0; len < 200; len++) {
		for (size_t off = 0; off < 3; off++) {
			uint16_t ours = wg_csum_fold(wg_csum_add(0, buf + off, len));
			uint16_t ref = ref_csum(buf + off, len, 0);
			uint8_t b[2];
			memcpy(b, &ours, 2); /* native order in memory = wire order */
			assert_int_equal(be16(b), ref);
		}
	}
	/* Pieces at even offsets add up to the whole. */
	for (size_t cut = 0; cut <= 2998; cut += 2) {
		uint64_t s = wg_csum_add(wg_csum_add(0, buf, cut), buf + cut, 2999 - cut);
		assert_int_equal(wg_csum_fold(s), wg_csum_fold(wg_csum_add(0, buf, 2999)));
	}
}

static void test_csum_copy(void **state)
{
	static uint8_t a[1500], b[1500];

	fill_random(a, sizeof(a), 3);
	assert_int_equal(wg_csum_fold(wg_csum_copy(5, b, a, 1499)),
			 wg_csum_fold(wg_csum_add(5, a, 1499)));
	assert_memory_equal(a, b, 1499);
	/* A sum of all-ones words folds to 0xffff, never 0. */
	memset(a, 0xff, 64);
	assert_int_equal(wg_csum_fold(wg_csum_add(0, a, 64)), 0xffff);
}

/* --- segmentation --- */

static void check_split(int family, uint8_t proto, size_t payload, uint16_t mss)
{
	static uint8_t sp[MAXPKT], seg[MAXPKT], joined[MAXPKT];
	struct wg_gso gso;
	struct wg_gso_split s;
	size_t len = build_super(sp, family, proto, payload, mss, &gso);
	size_t hdr = gso.hdr_len, got = 0, n, l4 = gso.csum_start, i = 0;

	assert_int_equal(wg_gso_split_init(&s, sp, len, &gso), 0);
	assert_int_equal(s.nseg, (payload + mss - 1) / mss);
	while ((n = wg_gso_split_peek(&s)) != 0) {
		assert_int_equal(wg_gso_split_next(&s, seg), n);
		assert_true(n <= hdr + mss);
		assert_true(l4_csum_ok(seg, n));
		if (family == 4) {
			assert_int_equal(be16(seg + 2), n);
			assert_int_equal(be16(seg + 4), 0x1234 + i);
			assert_true(ip4_csum_ok(seg));
		} else {
			assert_int_equal(be16(seg + 4), n - 40);
		}
		if (proto == 6) {
			bool last = got + (n - hdr) == payload;
			assert_int_equal(be32(seg + l4 + 4), 1000 + got);
			assert_int_equal(!!(seg[l4 + 13] & 0x08), last);
		} else {
			assert_int_equal(be16(seg + l4 + 4), n - l4);
		}
		memcpy(joined + got, seg + hdr, n - hdr);
		got += n - hdr;
		i++;
	}
	assert_int_equal(got, payload);
	assert_memory_equal(joined, sp + hdr, payload);
	assert_int_equal(wg_gso_split_next(&s, seg), 0);
}

static void test_split_tcp4(void **state)
{
	check_split(4, 6, 65483, 1368);
	check_split(4, 6, 1368 * 3, 1368); /* exact multiple */
	check_split(4, 6, 1369, 1368);
	check_split(4, 6, 1001, 99); /* odd segment size */
}

static void test_split_tcp6(void **state)
{
	check_split(6, 6, 65000, 1348);
	check_split(6, 6, 5, 1348);
}

static void test_split_udp(void **state)
{
	check_split(4, 17, 1392 * 20 + 7, 1392);
	check_split(6, 17, 1372 * 5, 1372);
}

/* A plain packet with a partial checksum comes out complete. */
static void test_split_plain_csum(void **state)
{
	static uint8_t p[1500], out[1500];
	struct wg_gso gso;
	struct wg_gso_split s;
	size_t len = build_super(p, 4, 6, 1000, 1368, &gso);

	gso.type = WG_GSO_NONE;
	gso.gso_size = 0;
	assert_int_equal(wg_gso_split_init(&s, p, len, &gso), 0);
	assert_int_equal(wg_gso_split_peek(&s), len);
	assert_int_equal(wg_gso_split_next(&s, out), len);
	assert_true(l4_csum_ok(out, len));
	assert_int_equal(wg_gso_split_next(&s, out), 0);
	/* Without a partial checksum: copied as is. */
	gso.needs_csum = false;
	assert_int_equal(wg_gso_split_init(&s, p, len, &gso), 0);
	assert_int_equal(wg_gso_split_next(&s, out), len);
	assert_memory_equal(out, p, len);
}

static void test_split_rejects_garbage(void **state)
{
	static uint8_t p[4000];
	struct wg_gso gso;
	struct wg_gso_split s;
	size_t len = build_super(p, 4, 6, 3000, 1368, &gso);

	assert_int_equal(wg_gso_split_init(&s, p, 10, &gso), -EINVAL);
	assert_int_equal(wg_gso_split_init(&s, p, 40, &gso), -EINVAL); /* no payload */
	p[20 + 12] = 15 << 4;					       /* doff past the end */
	assert_int_equal(wg_gso_split_init(&s, p, 50, &gso), -EINVAL);
	p[20 + 12] = 2 << 4; /* doff below 5 */
	assert_int_equal(wg_gso_split_init(&s, p, len, &gso), -EINVAL);
	p[20 + 12] = 8 << 4;
	gso.type = WG_GSO_TCP6; /* IPv4 packet */
	assert_int_equal(wg_gso_split_init(&s, p, len, &gso), -EINVAL);
	gso.type = WG_GSO_NONE;
	gso.csum_start = 3040;
	assert_int_equal(wg_gso_split_init(&s, p, len, &gso), -EINVAL);
	p[0] = 0x75;
	assert_int_equal(wg_gso_split_init(&s, p, len, &gso), -EINVAL);
}

/* --- coalescing --- */

struct sink {
	int calls;
	struct wg_gso gso[64];
	uint8_t data[8][MAXPKT];
	size_t len[64];
};

static int sink_out(void *ctx, const struct wg_gso *gso, const struct iovec *iov, int n)
{
	struct sink *k = ctx;
	size_t off = 0;

	assert_true(k->calls < 64);
	k->gso[k->calls] = *gso;
	for (int i = 0; i < n; i++) {
		if (k->calls < 8)
			memcpy(k->data[k->calls] + off, iov[i].iov_base, iov[i].iov_len);
		off += iov[i].iov_len;
	}
	k->len[k->calls++] = off;
	return 0;
}

static struct sink *sink_new(void)
{
	return calloc(1, sizeof(struct sink));
}

static const uint8_t key_a[WG_GRO_KEY_LEN] = "device a secret",
		     key_b[WG_GRO_KEY_LEN] = "device b secret";

static void gro_init(struct wg_gro *g, bool tcp, bool udp)
{
	wg_gro_init(g, tcp, udp);
	wg_gro_set_key(g, key_a);
}

/* Segments of a split super-packet, stored one per 2 KiB slot. */
static size_t split_into(uint8_t *slots, int family, uint8_t proto, size_t payload, uint16_t mss,
			 uint8_t *sp, size_t *sp_len)
{
	struct wg_gso gso;
	struct wg_gso_split s;
	size_t n = 0;

	*sp_len = build_super(sp, family, proto, payload, mss, &gso);
	assert_int_equal(wg_gso_split_init(&s, sp, *sp_len, &gso), 0);
	while (wg_gso_split_peek(&s))
		wg_gso_split_next(&s, slots + 2048 * n++);
	return n;
}

static size_t seg_len(const uint8_t *p)
{
	return (p[0] >> 4) == 4 ? be16(p + 2) : (size_t)be16(p + 4) + 40;
}

static void check_roundtrip(int family, uint8_t proto, size_t payload, uint16_t mss)
{
	static uint8_t slots[2048 * 64], sp[MAXPKT];
	static struct wg_gro g;
	struct sink *k = sink_new();
	size_t sp_len, n = split_into(slots, family, proto, payload, mss, sp, &sp_len);
	size_t l4 = family == 4 ? 20 : 40;
	struct wg_gso_split s;

	gro_init(&g, true, true);
	for (size_t i = 0; i < n; i++)
		wg_gro_add(&g, slots + 2048 * i, seg_len(slots + 2048 * i));
	assert_int_equal(wg_gro_flush(&g, sink_out, k), 0);
	assert_int_equal(k->calls, 1);
	assert_int_equal(k->len[0], sp_len);
	assert_int_equal(k->gso[0].gso_size, mss);
	assert_true(k->gso[0].needs_csum);
	assert_int_equal(k->gso[0].csum_start, l4);
	assert_int_equal(k->gso[0].type, proto == 17   ? WG_GSO_UDP_L4
					 : family == 4 ? WG_GSO_TCP4
						       : WG_GSO_TCP6);
	/* Same bytes as the original, apart from the partial checksum and
	 * the IPv4 header checksum (the original had none). */
	assert_memory_equal(k->data[0] + k->gso[0].hdr_len, sp + k->gso[0].hdr_len,
			    sp_len - k->gso[0].hdr_len);
	assert_memory_equal(k->data[0] + l4, sp + l4, k->gso[0].csum_offset);
	if (family == 4)
		assert_true(ip4_csum_ok(k->data[0]));
	/* And it splits again into valid segments. */
	assert_int_equal(wg_gso_split_init(&s, k->data[0], k->len[0], &k->gso[0]), 0);
	assert_int_equal(s.nseg, n);
	free(k);
}

static void test_gro_roundtrip(void **state)
{
	check_roundtrip(4, 6, 1368 * 40 + 100, 1368);
	check_roundtrip(6, 6, 1348 * 10, 1348);
	check_roundtrip(4, 17, 1392 * 30 + 1, 1392);
	check_roundtrip(6, 17, 1372 * 3, 1372);
}

static void add_all(struct wg_gro *g, uint8_t *slots, const size_t *order, size_t n)
{
	for (size_t i = 0; i < n; i++)
		wg_gro_add(g, slots + 2048 * order[i], seg_len(slots + 2048 * order[i]));
}

/* A gap in the sequence starts a new super-packet; the late segment
 * becomes its own, in arrival order. */
static void test_gro_out_of_order(void **state)
{
	static uint8_t slots[2048 * 64], sp[MAXPKT];
	static struct wg_gro g;
	struct sink *k = sink_new();
	size_t sp_len, order[] = {0, 1, 3, 4, 2};

	split_into(slots, 4, 6, 1368 * 5, 1368, sp, &sp_len);
	gro_init(&g, true, true);
	add_all(&g, slots, order, 5);
	wg_gro_flush(&g, sink_out, k);
	assert_int_equal(k->calls, 3);
	assert_int_equal(k->len[0], 52 + 2 * 1368);
	assert_int_equal(k->len[1], 52 + 2 * 1368);
	assert_int_equal(k->len[2], 52 + 1368);
	assert_int_equal(k->gso[2].type, WG_GSO_NONE);
	assert_false(k->gso[2].data_valid); /* alone, never checked: the kernel checks it */
	assert_int_equal(k->gso[0].gso_size, 1368);
	assert_int_equal(be32(k->data[1] + 24), 1000 + 3 * 1368);
	free(k);
}

/* PSH ends a super-packet; a short segment too. */
static void test_gro_closing_segments(void **state)
{
	static uint8_t slots[2048 * 64], sp[MAXPKT];
	static struct wg_gro g;
	struct sink *k = sink_new();
	size_t sp_len, order[] = {0, 1, 2, 3};

	split_into(slots, 4, 6, 1368 * 4, 1368, sp, &sp_len);
	slots[2048 * 1 + 33] |= 0x08; /* PSH on the second */
	fix_l4_csum(slots + 2048, seg_len(slots + 2048));
	gro_init(&g, true, true);
	add_all(&g, slots, order, 4);
	wg_gro_flush(&g, sink_out, k);
	assert_int_equal(k->calls, 2);
	assert_int_equal(k->len[0], 52 + 2 * 1368);
	assert_true(k->data[0][33] & 0x08);
	free(k);

	k = sink_new();
	split_into(slots, 4, 6, 1368 * 2 + 10, 1368, sp, &sp_len);
	memcpy(slots + 2048 * 3, slots + 2048 * 2, 2048); /* short one, then more */
	gro_init(&g, true, true);
	size_t order2[] = {0, 1, 2, 3};
	add_all(&g, slots, order2, 4);
	wg_gro_flush(&g, sink_out, k);
	assert_int_equal(k->calls, 2);
	assert_int_equal(k->len[0], 52 + 2 * 1368 + 10);
	free(k);
}

/* Segments of two flows interleaved: two super-packets. */
static void test_gro_two_flows(void **state)
{
	static uint8_t slots[2048 * 64], sp[MAXPKT];
	static struct wg_gro g;
	struct sink *k = sink_new();
	size_t sp_len, order[] = {0, 4, 1, 5, 2, 6, 3, 7};

	split_into(slots, 4, 6, 1368 * 4, 1368, sp, &sp_len);
	memcpy(slots + 2048 * 4, slots, 2048 * 4);
	for (int i = 4; i < 8; i++) {
		slots[2048 * i + 21] ^= 1; /* other source port */
		fix_l4_csum(slots + 2048 * i, seg_len(slots + 2048 * i));
	}
	gro_init(&g, true, true);
	add_all(&g, slots, order, 8);
	wg_gro_flush(&g, sink_out, k);
	assert_int_equal(k->calls, 2);
	assert_int_equal(k->len[0], 52 + 4 * 1368);
	assert_int_equal(k->len[1], 52 + 4 * 1368);
	free(k);
}

/* What is never merged: differing options, ACK, window or urgent pointer;
 * IPv4 options or a wrong IPv4 header checksum; non-ACK flags; protocols
 * turned off, other protocols, pure ACKs. */
static void test_gro_refusals(void **state)
{
	static uint8_t slots[2048 * 64], sp[MAXPKT];
	static struct wg_gro g;
	struct sink *k;
	size_t sp_len, order[] = {0, 1};
	struct {
		size_t off;
		uint8_t val;
		bool tcp_on;
	} cases[] = {
		{20 + 20 + 11, 0x55, true}, /* timestamp option differs */
		{20 + 11, 0x55, true},	    /* ACK number differs */
		{20 + 15, 0x55, true},	    /* window differs (one copy survives the cut) */
		{20 + 19, 0x55, true},	    /* urgent pointer differs */
		{20 + 12, 0x81, true},	    /* a reserved bit (AE/NS) differs */
		{10, 0x55, true},	    /* IPv4 header checksum wrong */
		{20 + 13, 0x11, true},	    /* FIN */
		{1, 0x04, true},	    /* TOS differs */
		{8, 3, true},		    /* TTL differs */
		{0, 0x45, false},	    /* TCP coalescing off */
	};

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		k = sink_new();
		split_into(slots, 4, 6, 1368 * 2, 1368, sp, &sp_len);
		slots[2048 + cases[c].off] = cases[c].val;
		fix_l4_csum(slots + 2048, seg_len(slots + 2048)); /* refused for the field */
		if (cases[c].off == 10) /* the header checksum itself, wrong again */
			slots[2048 + 10] ^= cases[c].val;
		gro_init(&g, cases[c].tcp_on, true);
		add_all(&g, slots, order, 2);
		wg_gro_flush(&g, sink_out, k);
		assert_int_equal(k->calls, 2);
		free(k);
	}
	/* A head whose IPv4 header checksum is wrong takes no member. */
	k = sink_new();
	split_into(slots, 4, 6, 1368 * 2, 1368, sp, &sp_len);
	slots[10] ^= 0x55;
	gro_init(&g, true, true);
	add_all(&g, slots, order, 2);
	wg_gro_flush(&g, sink_out, k);
	assert_int_equal(k->calls, 2);
	free(k);
	/* A pure ACK (no payload) is passed through. */
	k = sink_new();
	build_hdr(slots, 4, 6, 0, 5);
	slots[33] = 0x10;
	memcpy(slots + 2048, slots, 52);
	gro_init(&g, true, true);
	add_all(&g, slots, order, 2);
	wg_gro_flush(&g, sink_out, k);
	assert_int_equal(k->calls, 2);
	free(k);
}

static int gro_count(uint8_t *slots, size_t n, struct sink *k)
{
	static struct wg_gro g;

	gro_init(&g, true, true);
	for (size_t i = 0; i < n; i++)
		wg_gro_add(&g, slots + 2048 * i, seg_len(slots + 2048 * i));
	wg_gro_flush(&g, sink_out, k);
	return k->calls;
}

/* At most WG_GRO_MAX_SEGS per super-packet and 64 KiB of IP length. */
static void test_gro_limits(void **state)
{
	static uint8_t slots[2048 * 128], sp[MAXPKT];
	struct sink *k = sink_new();
	size_t sp_len, n = split_into(slots, 4, 6, 1000 * 64, 1000, sp, &sp_len);

	assert_int_equal(n, 64);
	assert_int_equal(gro_count(slots, n, k), 1);
	free(k);

	k = sink_new();
	n = split_into(slots, 4, 6, 500 * 100, 500, sp, &sp_len);
	assert_int_equal(gro_count(slots, n, k), 2);
	assert_int_equal(k->len[0], 52 + 64 * 500);
	free(k);

	/* 80 segments in sequence: the first 47 reach 64348 bytes, one more
	 * would pass 65535. */
	k = sink_new();
	n = split_into(slots, 4, 6, 1368 * 40, 1368, sp, &sp_len);
	slots[2048 * 39 + 33] &= (uint8_t)~0x08; /* PSH of the last */
	fix_l4_csum(slots + 2048 * 39, seg_len(slots + 2048 * 39));
	memcpy(slots + 2048 * 40, slots, 2048 * 40);
	for (size_t i = 40; i < 80; i++) {
		wbe32(slots + 2048 * i + 24, be32(slots + 2048 * i + 24) + 40 * 1368);
		fix_l4_csum(slots + 2048 * i, seg_len(slots + 2048 * i));
	}
	assert_int_equal(gro_count(slots, 80, k), 2);
	assert_int_equal(k->len[0], 52 + 47 * 1368);
	assert_int_equal(k->len[1], 52 + 33 * 1368);
	free(k);
}

/* --- checksums of packets to coalesce --- */

/* One flow's segments, those marked 'b' in pattern given a bad checksum
 * (a payload byte flipped) and those marked 'z' a UDP checksum of 0.
 * Each run of good segments must come out as one super-packet carrying
 * their payloads in order; each 'b'/'z' alone, in its place, byte for
 * byte as it went in, with no partial checksum and not claimed valid. */
static void check_csum_pattern(int family, uint8_t proto, const char *pattern)
{
	static uint8_t slots[2048 * 64], orig[2048 * 64], sp[MAXPKT];
	static struct wg_gro g;
	struct sink *k = sink_new();
	size_t n = strlen(pattern), mss = 1000, sp_len, hdr, l4 = family == 4 ? 20 : 40;
	size_t got = split_into(slots, family, proto, mss * n, (uint16_t)mss, sp, &sp_len);
	int call = 0;

	assert_int_equal(got, n);
	hdr = seg_len(slots) - mss;
	for (size_t i = 0; i < n; i++) {
		uint8_t *p = slots + 2048 * i;
		if (pattern[i] == 'b')
			p[hdr + i] ^= 0x40;
		if (pattern[i] == 'z')
			p[l4 + 6] = p[l4 + 7] = 0;
		assert_int_equal(l4_csum_ok(p, seg_len(p)), pattern[i] == 'g');
	}
	memcpy(orig, slots, sizeof(orig));
	gro_init(&g, true, true);
	for (size_t i = 0; i < n; i++)
		wg_gro_add(&g, slots + 2048 * i, seg_len(slots + 2048 * i));
	assert_int_equal(wg_gro_flush(&g, sink_out, k), 0);
	for (size_t i = 0; i < n; call++) {
		const uint8_t *o = orig + 2048 * i;
		size_t run = 1;
		assert_true(call < k->calls && call < 8);
		if (pattern[i] != 'g') {
			assert_int_equal(k->len[call], seg_len(o));
			assert_memory_equal(k->data[call], o, seg_len(o));
			assert_int_equal(k->gso[call].type, WG_GSO_NONE);
			assert_false(k->gso[call].needs_csum);
			assert_false(k->gso[call].data_valid);
			i++;
			continue;
		}
		while (i + run < n && pattern[i + run] == 'g')
			run++;
		assert_int_equal(k->len[call], hdr + run * mss);
		assert_memory_equal(k->data[call] + hdr, sp + hdr + i * mss, run * mss);
		if (run > 1) {
			assert_true(k->gso[call].needs_csum);
			assert_int_equal(k->gso[call].gso_size, mss);
		}
		i += run;
	}
	assert_int_equal(k->calls, call);
	free(k);
}

static void check_csum_patterns(int family, uint8_t proto)
{
	static const char *const patterns[] = {"b", "bgg", "ggbgg", "gggb", "gbbg", "gbgbg"};

	for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++)
		check_csum_pattern(family, proto, patterns[i]);
}

static void test_gro_bad_csum_tcp4(void **state)
{
	check_csum_patterns(4, 6);
}

static void test_gro_bad_csum_tcp6(void **state)
{
	check_csum_patterns(6, 6);
}

static void test_gro_bad_csum_udp4(void **state)
{
	check_csum_patterns(4, 17);
}

static void test_gro_bad_csum_udp6(void **state)
{
	check_csum_patterns(6, 17);
}

/* UDP checksum 0: "none" over IPv4, invalid over IPv6. Neither is
 * coalesced (as in the kernel's UDP GRO): there is nothing to verify, and
 * the kernel would give the datagram a checksum when it cuts the
 * super-packet. */
static void test_gro_udp_zero_csum(void **state)
{
	check_csum_pattern(4, 17, "z");
	check_csum_pattern(4, 17, "zz");
	check_csum_pattern(4, 17, "ggzgg");
	check_csum_pattern(6, 17, "ggzgg");
}

/* --- flow hash --- */

/* The bucket of a UDP flow from source port sport. */
static unsigned int bucket_of(const uint8_t key[WG_GRO_KEY_LEN], uint8_t *p, uint16_t sport)
{
	static struct wg_gro g;
	size_t len = build_hdr(p, 4, 17, 100, 0) + 100;

	wbe16(p + 20, sport);
	fix_l4_csum(p, len);
	wg_gro_init(&g, true, true);
	wg_gro_set_key(&g, key);
	wg_gro_add(&g, p, len);
	assert_int_equal(g.n_items, 1);
	return g.items[0].hash & ((1u << WG_GRO_HASH_BITS) - 1);
}

/* Two devices (two secrets) hash the same flow apart, and flows picked to
 * share one bucket under one secret spread out under the other: a sender
 * who cannot read the secret cannot fill one bucket chain. */
static void test_gro_flow_hash_keyed(void **state)
{
	static struct wg_gro ga, gb, ga2;
	static uint8_t p[2048];
	uint16_t same[16];
	size_t n = 0, len = build_hdr(p, 6, 6, 100, 1) + 100;
	unsigned int b0, spread = 0;

	fix_l4_csum(p, len);
	gro_init(&ga, true, true);
	gro_init(&ga2, true, true);
	wg_gro_init(&gb, true, true);
	wg_gro_set_key(&gb, key_b);
	wg_gro_add(&ga, p, len);
	wg_gro_add(&gb, p, len);
	wg_gro_add(&ga2, p, len);
	assert_int_not_equal(ga.items[0].hash, gb.items[0].hash);
	assert_int_equal(ga.items[0].hash, ga2.items[0].hash);

	b0 = bucket_of(key_a, p, 1);
	for (uint16_t port = 2; n < 16; port++) {
		if (bucket_of(key_a, p, port) == b0)
			same[n++] = port;
	}
	b0 = bucket_of(key_b, p, same[0]);
	for (size_t i = 1; i < n; i++)
		spread += bucket_of(key_b, p, same[i]) != b0;
	assert_true(spread >= 8);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_csum_matches_reference),
		cmocka_unit_test(test_csum_copy),
		cmocka_unit_test(test_split_tcp4),
		cmocka_unit_test(test_split_tcp6),
		cmocka_unit_test(test_split_udp),
		cmocka_unit_test(test_split_plain_csum),
		cmocka_unit_test(test_split_rejects_garbage),
		cmocka_unit_test(test_gro_roundtrip),
		cmocka_unit_test(test_gro_out_of_order),
		cmocka_unit_test(test_gro_closing_segments),
		cmocka_unit_test(test_gro_two_flows),
		cmocka_unit_test(test_gro_refusals),
		cmocka_unit_test(test_gro_limits),
		cmocka_unit_test(test_gro_bad_csum_tcp4),
		cmocka_unit_test(test_gro_bad_csum_tcp6),
		cmocka_unit_test(test_gro_bad_csum_udp4),
		cmocka_unit_test(test_gro_bad_csum_udp6),
		cmocka_unit_test(test_gro_udp_zero_csum),
		cmocka_unit_test(test_gro_flow_hash_keyed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
