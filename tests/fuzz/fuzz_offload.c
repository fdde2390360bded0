/* The TUN side of the fast data path (offload.c), pure packet arithmetic
 * on untrusted lengths and offsets:
 * - splitting: a (super-)packet with a virtio-net style description, as
 *   read from the TUN, cut into packets. Each segment must be a well
 *   formed IP packet (lengths, IPv4 header checksum, TCP/UDP checksum
 *   checked here with an independent RFC 1071 sum), TCP sequence numbers
 *   must advance by the segment size, and the payloads must add up to the
 *   original's.
 * - coalescing: packets of several flows added to a GRO table and flushed.
 *   Every packet comes out exactly once, in order within its flow; a
 *   coalesced super-packet must split back (with the description GRO gave)
 *   into segments carrying the original payloads, and each of its packets
 *   had a valid TCP/UDP checksum (UDP: not 0); a packet out alone is
 *   unchanged, without a partial checksum, and claimed valid only if it is.
 *
 * Input: byte 0 bit 0 picks the mode. Split: then type, flags, gso_size,
 * csum_start, csum_offset, hdr_len (16-bit little-endian), the rest is the
 * packet. Coalesce: then a flags byte (TCP, UDP), then packets as a 16-bit
 * length (low 11 bits) and bytes, each in its own exact-size buffer. The
 * harness writes a valid TCP/UDP checksum (and IPv4 header checksum) into
 * each packet where it finds the field, so mutated payloads still
 * coalesce, unless bit 15 of the length says to keep the packet as given. */
#include <arpa/inet.h>

#include "../../platform/posix/offload.h"
#include "../unit/ref_csum.h"
#include "common.h"
#include "wgd/platform/batch.h"

#define MAX_PKTS 96

static uint32_t ref_pseudo(const uint8_t *ip, int family, uint8_t proto, size_t l4_len)
{
	uint8_t tail[8] = {0};

	tail[0] = (uint8_t)(l4_len >> 24);
	tail[1] = (uint8_t)(l4_len >> 16);
	tail[2] = (uint8_t)(l4_len >> 8);
	tail[3] = (uint8_t)l4_len;
	tail[7] = proto;
	return ref_csum(tail, 8, ref_csum(family == 4 ? ip + 12 : ip + 8, family == 4 ? 8 : 32, 0));
}

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* Where a packet's TCP/UDP checksum field is, by its IP header alone;
 * false if it has none. */
static bool ref_l4(const uint8_t *p, size_t len, int *family, uint8_t *proto, size_t *l4)
{
	if (len < 20)
		return false;
	*family = p[0] >> 4;
	if (*family == 4) {
		*l4 = (size_t)(p[0] & 0x0f) * 4;
		*proto = p[9];
	} else if (*family == 6) {
		*l4 = 40;
		*proto = p[6];
	} else {
		return false;
	}
	return (*proto == 6 && len >= *l4 + 20) || (*proto == 17 && len >= *l4 + 8);
}

/* Folded sum over pseudo-header and L4 bytes (0xffff: the checksum holds). */
static uint32_t ref_l4_sum(const uint8_t *p, size_t len, int family, uint8_t proto, size_t l4)
{
	return ref_csum(p + l4, len - l4, ref_pseudo(p, family, proto, len - l4));
}

static bool ref_l4_valid(const uint8_t *p, size_t len)
{
	int family;
	uint8_t proto;
	size_t l4;

	if (!ref_l4(p, len, &family, &proto, &l4))
		return false;
	if (proto == 17 && be16(p + l4 + 6) == 0)
		return false;
	return ref_l4_sum(p, len, family, proto, l4) == 0xffff;
}

static void ref_l4_fix(uint8_t *p, size_t len)
{
	int family;
	uint8_t proto;
	size_t l4, field;
	uint16_t c;

	if (!ref_l4(p, len, &family, &proto, &l4))
		return;
	if (family == 4 && l4 >= 20) { /* GRO also wants the header checksum */
		p[10] = p[11] = 0;
		c = (uint16_t)~ref_csum(p, l4, 0);
		p[10] = (uint8_t)(c >> 8);
		p[11] = (uint8_t)c;
	}
	field = l4 + (proto == 6 ? 16 : 6);
	p[field] = p[field + 1] = 0;
	c = (uint16_t)~ref_l4_sum(p, len, family, proto, l4);
	if (c == 0)
		c = 0xffff;
	p[field] = (uint8_t)(c >> 8);
	p[field + 1] = (uint8_t)c;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A segment out of a super-packet, checked against the split state. */
static void check_segment(const struct wg_gso_split *s, const uint8_t *seg, size_t n, size_t idx,
			  uint32_t seq0)
{
	size_t l4_len = n - s->l4_off;

	FUZZ_CHECK(n > s->hdr_len && n - s->hdr_len <= s->mss);
	if (s->family == 4) {
		size_t ihl = (size_t)(seg[0] & 0x0f) * 4;
		FUZZ_CHECK(be16(seg + 2) == n);
		FUZZ_CHECK(ref_csum(seg, ihl, 0) == 0xffff);
	} else {
		FUZZ_CHECK(be16(seg + 4) == n - 40);
	}
	FUZZ_CHECK(ref_csum(seg + s->l4_off, l4_len,
			    ref_pseudo(seg, s->family, s->proto, l4_len)) == 0xffff);
	if (s->proto == 6)
		FUZZ_CHECK(be32(seg + s->l4_off + 4) == seq0 + (uint32_t)(idx * s->mss));
	else
		FUZZ_CHECK(be16(seg + s->l4_off + 4) == l4_len);
	FUZZ_CHECK(!memcmp(seg + s->hdr_len, s->pkt + s->hdr_len + idx * s->mss, n - s->hdr_len));
}

/* Splits pkt; returns the number of segments, -1 if refused. With expect
 * (coalesce mode) the segments' payloads must be those packets'. */
static int split_and_check(const uint8_t *pkt, size_t len, const struct wg_gso *gso,
			   uint8_t *const *expect, const size_t *expect_len, size_t hdr)
{
	struct wg_gso_split s;
	size_t n, idx = 0, total = 0, peek;
	uint32_t seq0;
	uint8_t *out;

	if (wg_gso_split_init(&s, pkt, len, gso) < 0)
		return -1;
	FUZZ_CHECK(s.nseg >= 1);
	seq0 = s.proto == 6 ? be32(pkt + s.l4_off + 4) : 0;
	while ((peek = wg_gso_split_peek(&s))) {
		out = malloc(peek); /* exact size: overruns are caught */
		if (!out)
			abort();
		n = wg_gso_split_next(&s, out);
		FUZZ_CHECK(n == peek);
		if (s.proto) {
			check_segment(&s, out, n, idx, seq0);
			total += n - s.hdr_len;
		} else {
			FUZZ_CHECK(n == len);
		}
		if (expect) {
			FUZZ_CHECK(expect_len[idx] - hdr == n - s.hdr_len);
			FUZZ_CHECK(!memcmp(out + s.hdr_len, expect[idx] + hdr, n - s.hdr_len));
		}
		free(out);
		idx++;
	}
	FUZZ_CHECK(idx == s.nseg);
	if (s.proto)
		FUZZ_CHECK(total == len - s.hdr_len);
	return (int)idx;
}

static void fuzz_split(struct fz *f)
{
	struct wg_gso gso = {0};
	uint8_t *pkt;
	size_t len;

	gso.type = fz_u8(f) % 4;
	gso.needs_csum = fz_u8(f) & 1;
	gso.gso_size = fz_u16(f);
	gso.csum_start = fz_u16(f);
	gso.csum_offset = fz_u16(f);
	gso.hdr_len = fz_u16(f);
	len = f->n;
	pkt = malloc(len ? len : 1);
	if (!pkt)
		abort();
	fz_bytes(f, pkt, len);
	split_and_check(pkt, len, &gso, NULL, NULL, 0);
	free(pkt);
}

/* --- coalescing --- */

struct gro_run {
	uint8_t *pkts[MAX_PKTS];
	uint8_t *orig[MAX_PKTS]; /* copies as added: the flush rewrites heads */
	size_t lens[MAX_PKTS];
	bool seen[MAX_PKTS];
	size_t n;
};

static int index_of(struct gro_run *r, const uint8_t *data)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->pkts[i] == data)
			return (int)i;
	return -1;
}

static int gro_out(void *ctx, const struct wg_gso *gso, const struct iovec *iov, int iovcnt)
{
	struct gro_run *r = ctx;
	uint8_t *expect[WG_GRO_MAX_SEGS];
	size_t expect_len[WG_GRO_MAX_SEGS], total = 0, off = 0;
	uint8_t *buf;
	int first = index_of(r, iov[0].iov_base);

	FUZZ_CHECK(first >= 0 && !r->seen[first] && iovcnt >= 1 && iovcnt <= WG_GRO_MAX_SEGS);
	r->seen[first] = true;
	expect[0] = r->pkts[first];
	expect_len[0] = r->lens[first];
	FUZZ_CHECK(iov[0].iov_len == r->lens[first]);
	FUZZ_CHECK(iovcnt == 1 || ref_l4_valid(r->orig[first], r->lens[first]));
	for (int i = 1; i < iovcnt; i++) {
		/* the payload of a later packet of the flow, header left out */
		uint8_t *data = (uint8_t *)iov[i].iov_base - gso->hdr_len;
		int k = index_of(r, data);
		FUZZ_CHECK(k > first && !r->seen[k] && iov[i].iov_len == r->lens[k] - gso->hdr_len);
		FUZZ_CHECK(ref_l4_valid(r->orig[k], r->lens[k]));
		r->seen[k] = true;
		expect[i] = r->pkts[k];
		expect_len[i] = r->lens[k];
	}
	if (iovcnt == 1) {
		FUZZ_CHECK(gso->type == WG_GSO_NONE && !gso->needs_csum);
		FUZZ_CHECK(!memcmp(iov[0].iov_base, r->orig[first], r->lens[first]));
		FUZZ_CHECK(!gso->data_valid || ref_l4_valid(r->orig[first], r->lens[first]));
		return 0;
	}
	FUZZ_CHECK(gso->type != WG_GSO_NONE && gso->needs_csum && gso->gso_size);
	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	buf = malloc(total);
	if (!buf)
		abort();
	for (int i = 0; i < iovcnt; i++) {
		memcpy(buf + off, iov[i].iov_base, iov[i].iov_len);
		off += iov[i].iov_len;
	}
	/* What the kernel would do with it: the same packets again. */
	FUZZ_CHECK(split_and_check(buf, total, gso, expect, expect_len, gso->hdr_len) == iovcnt);
	free(buf);
	return 0;
}

static void fuzz_gro(struct fz *f)
{
	static const uint8_t key[WG_GRO_KEY_LEN] = "fuzz flow hash";
	static struct wg_gro g;
	struct gro_run r = {0};
	uint8_t flags = fz_u8(f);

	wg_gro_init(&g, flags & 1, flags & 2);
	wg_gro_set_key(&g, key);
	while (f->n && r.n < MAX_PKTS && !wg_gro_full(&g)) {
		uint16_t desc = fz_u16(f);
		size_t len = desc % 2048;
		r.pkts[r.n] = malloc(len ? len : 1);
		r.orig[r.n] = malloc(len ? len : 1);
		if (!r.pkts[r.n] || !r.orig[r.n])
			abort();
		fz_bytes(f, r.pkts[r.n], len);
		if (!(desc & 0x8000))
			ref_l4_fix(r.pkts[r.n], len);
		memcpy(r.orig[r.n], r.pkts[r.n], len);
		r.lens[r.n] = len;
		wg_gro_add(&g, r.pkts[r.n], len);
		r.n++;
	}
	FUZZ_CHECK(wg_gro_flush(&g, gro_out, &r) == 0);
	for (size_t i = 0; i < r.n; i++) {
		FUZZ_CHECK(r.seen[i]);
		free(r.pkts[i]);
		free(r.orig[i]);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_common_init();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = {data, size};

	if (fz_u8(&f) & 1)
		fuzz_gro(&f);
	else
		fuzz_split(&f);
	return 0;
}
