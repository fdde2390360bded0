/* TSO/USO segmentation and GRO coalescing for the TUN (the Internet
 * checksum they need is the core's: wgd/ip.h). Packets are validated here
 * before any header field is trusted: a super-packet comes from the local
 * kernel, a packet to coalesce from an authenticated peer, but neither may
 * crash us. */
#include "offload.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>

#include "wgd/ip.h"

#define IPPROTO_TCP_NUM 6
#define IPPROTO_UDP_NUM 17
#define IPV4_HDR_LEN	20
#define IPV6_HDR_LEN	40
#define TCP_HDR_LEN	20
#define UDP_HDR_LEN	8
#define TCP_FIN		0x01
#define TCP_SYN		0x02
#define TCP_RST		0x04
#define TCP_PSH		0x08
#define TCP_ACK		0x10
#define TCP_URG		0x20
#define TCP_ECE		0x40
#define TCP_CWR		0x80
#define IP_MAX_LEN	65535

_Static_assert(WG_GRO_KEY_LEN == crypto_shorthash_KEYBYTES, "flow hash key is a SipHash key");

enum { CSUM_UNCHECKED, CSUM_GOOD, CSUM_BAD };

static uint16_t get_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
	put_be16(p, (uint16_t)(v >> 16));
	put_be16(p + 2, (uint16_t)v);
}

/* --- segmentation --- */

static int split_l3(struct wg_gso_split *s)
{
	const uint8_t *p = s->pkt;

	if (s->len < IPV4_HDR_LEN)
		return -EINVAL;
	s->family = p[0] >> 4;
	if (s->family == 4) {
		size_t ihl = (size_t)(p[0] & 0x0f) * 4;
		if (ihl < IPV4_HDR_LEN || ihl > s->len)
			return -EINVAL;
		s->l4_off = ihl;
		return 0;
	}
	if (s->family != 6 || s->len < IPV6_HDR_LEN)
		return -EINVAL;
	s->l4_off = IPV6_HDR_LEN;
	return 0;
}

/* A plain packet: only its length and, with a partial checksum, the
 * checksum location are checked. */
static int split_plain(struct wg_gso_split *s)
{
	const struct wg_gso *g = s->gso;

	s->proto = 0;
	s->nseg = 1;
	if (g->needs_csum &&
	    ((size_t)g->csum_start + g->csum_offset + 2 > s->len || g->csum_start < s->l4_off))
		return -EINVAL;
	return 0;
}

/* The L4 header of a super-packet starts at csum_start (after any IPv6
 * extension headers) and its protocol must match the GSO type. */
static int split_l4(struct wg_gso_split *s)
{
	const struct wg_gso *g = s->gso;
	size_t l4hdr;

	if (g->csum_start >= s->l4_off && g->needs_csum)
		s->l4_off = g->csum_start;
	if (g->type == WG_GSO_UDP_L4) {
		s->proto = IPPROTO_UDP_NUM;
		l4hdr = UDP_HDR_LEN;
	} else {
		if ((g->type == WG_GSO_TCP4) != (s->family == 4))
			return -EINVAL;
		s->proto = IPPROTO_TCP_NUM;
		if (s->l4_off + TCP_HDR_LEN > s->len)
			return -EINVAL;
		l4hdr = (size_t)(s->pkt[s->l4_off + 12] >> 4) * 4;
		if (l4hdr < TCP_HDR_LEN)
			return -EINVAL;
	}
	s->hdr_len = s->l4_off + l4hdr;
	if (s->hdr_len >= s->len)
		return -EINVAL;
	return 0;
}

int wg_gso_split_init(struct wg_gso_split *s, const uint8_t *pkt, size_t len,
		      const struct wg_gso *gso)
{
	int ret;

	memset(s, 0, sizeof(*s));
	s->pkt = pkt;
	s->len = len;
	s->gso = gso;
	ret = split_l3(s);
	if (ret)
		return ret;
	if (gso->type == WG_GSO_NONE || gso->gso_size == 0)
		return split_plain(s);
	ret = split_l4(s);
	if (ret)
		return ret;
	s->mss = gso->gso_size;
	if (s->hdr_len + s->mss > IP_MAX_LEN)
		return -EINVAL;
	s->nseg = (s->len - s->hdr_len + s->mss - 1) / s->mss;
	return 0;
}

size_t wg_gso_split_peek(const struct wg_gso_split *s)
{
	size_t left;

	if (s->idx >= s->nseg)
		return 0;
	if (!s->proto)
		return s->len;
	left = s->len - s->hdr_len - s->idx * s->mss;
	return s->hdr_len + (left < s->mss ? left : s->mss);
}

static size_t next_plain(struct wg_gso_split *s, uint8_t *out)
{
	const struct wg_gso *g = s->gso;
	uint64_t sum;

	s->idx++;
	if (!g->needs_csum) {
		memcpy(out, s->pkt, s->len);
		return s->len;
	}
	/* The field holds the folded pseudo-header sum, so the sum over the
	 * whole L4 range, field included, is the complete one. */
	memcpy(out, s->pkt, g->csum_start);
	sum = wg_csum_copy(0, out + g->csum_start, s->pkt + g->csum_start, s->len - g->csum_start);
	wg_csum_store(out + g->csum_start + g->csum_offset, wg_csum_fold(sum), g->csum_offset == 6);
	return s->len;
}

/* Per-segment IP header fields: length, IPv4 ID and header checksum. */
static void fix_l3(struct wg_gso_split *s, uint8_t *out, size_t seg_len)
{
	if (s->family == 4) {
		uint16_t id = (uint16_t)(get_be16(s->pkt + 4) + s->idx);
		put_be16(out + 2, (uint16_t)seg_len);
		put_be16(out + 4, id);
		wg_ip4_header_csum(out);
	} else {
		put_be16(out + 4, (uint16_t)(seg_len - IPV6_HDR_LEN));
	}
}

static void fix_tcp(struct wg_gso_split *s, uint8_t *th)
{
	uint32_t seq = get_be32(s->pkt + s->l4_off + 4) + (uint32_t)(s->idx * s->mss);

	put_be32(th + 4, seq);
	if (s->idx + 1 < s->nseg)
		th[13] &= (uint8_t) ~(TCP_FIN | TCP_PSH);
	if (s->idx > 0)
		th[13] &= (uint8_t)~TCP_CWR;
}

size_t wg_gso_split_next(struct wg_gso_split *s, uint8_t *out)
{
	size_t seg_len = wg_gso_split_peek(s), l4_len, csum_off;
	uint8_t *l4 = out + s->l4_off;
	uint64_t sum;

	if (!seg_len)
		return 0;
	if (!s->proto)
		return next_plain(s, out);
	l4_len = seg_len - s->l4_off;
	memcpy(out, s->pkt, s->hdr_len);
	fix_l3(s, out, seg_len);
	if (s->proto == IPPROTO_TCP_NUM) {
		fix_tcp(s, l4);
		csum_off = 16;
	} else {
		put_be16(l4 + 4, (uint16_t)l4_len);
		csum_off = 6;
	}
	l4[csum_off] = l4[csum_off + 1] = 0;
	sum = wg_csum_pseudo(out, s->family, s->proto, (uint32_t)l4_len);
	sum = wg_csum_add(sum, l4, s->hdr_len - s->l4_off);
	sum = wg_csum_copy(sum, out + s->hdr_len, s->pkt + s->hdr_len + s->idx * s->mss,
			   seg_len - s->hdr_len);
	wg_csum_store(l4 + csum_off, wg_csum_fold(sum), s->proto == IPPROTO_UDP_NUM);
	s->idx++;
	return seg_len;
}

/* --- coalescing --- */

struct gro_info {
	uint8_t family, proto;
	uint16_t l4_off, hdr_len;
	size_t payload;
	uint32_t hash;
};

static void gro_reset(struct wg_gro *g)
{
	g->n_pkts = 0;
	g->n_items = 0;
	memset(g->bucket, 0xff, sizeof(g->bucket));
}

void wg_gro_init(struct wg_gro *g, bool tcp, bool udp)
{
	g->tcp = tcp;
	g->udp = udp;
	gro_reset(g);
}

void wg_gro_set_key(struct wg_gro *g, const uint8_t key[WG_GRO_KEY_LEN])
{
	memcpy(g->key, key, WG_GRO_KEY_LEN);
}

bool wg_gro_full(const struct wg_gro *g)
{
	return g->n_pkts >= WG_GRO_MAX_PKTS;
}

/* Addresses and ports, where the flow key lives; len bytes at off. */
static void flow_span(const struct gro_info *gi, size_t *off, size_t *len)
{
	*off = gi->family == 4 ? 12 : 8;
	*len = gi->family == 4 ? 8 : 32;
}

/* SipHash of addresses, ports and protocol under the device's secret:
 * without it a sender cannot pick flows that share one bucket chain. */
static uint32_t flow_hash(const struct wg_gro *g, const uint8_t *p, const struct gro_info *gi)
{
	uint8_t in[32 + 4 + 1], out[crypto_shorthash_BYTES];
	size_t off, len;
	uint32_t h;

	flow_span(gi, &off, &len);
	memcpy(in, p + off, len);
	memcpy(in + len, p + gi->l4_off, 4);
	in[len + 4] = gi->proto;
	crypto_shorthash(out, in, len + 5, g->key);
	memcpy(&h, out, sizeof(h));
	return h;
}

/* The TCP/UDP checksum verifies over the pseudo-header. A UDP checksum of
 * 0 never passes: over IPv6 it is invalid; over IPv4 it means none was
 * sent, and such datagrams stay out of super-packets as in the kernel's
 * UDP GRO (the segments cut from one would all be given a checksum). */
static bool l4_csum_ok(const uint8_t *p, size_t len, uint8_t family, uint8_t proto, size_t l4_off)
{
	uint32_t l4_len = (uint32_t)(len - l4_off);
	uint64_t sum;

	if (proto == IPPROTO_UDP_NUM && get_be16(p + l4_off + 6) == 0)
		return false;
	sum = wg_csum_pseudo(p, family, proto, l4_len);
	return wg_csum_fold(wg_csum_add(sum, p + l4_off, l4_len)) == 0xffff;
}

static bool gro_parse_l3(const uint8_t *p, size_t len, struct gro_info *gi)
{
	gi->family = p[0] >> 4;
	if (gi->family == 4) {
		/* No options, not a fragment, a header checksum that verifies
		 * (the super-packet gets the head's header, recomputed). */
		if ((p[0] & 0x0f) != 5 || ((p[6] & 0x3f) | p[7]) != 0 ||
		    wg_csum_fold(wg_csum_add(0, p, IPV4_HDR_LEN)) != 0xffff)
			return false;
		gi->proto = p[9];
		gi->l4_off = IPV4_HDR_LEN;
		return true;
	}
	if (gi->family != 6 || len < IPV6_HDR_LEN)
		return false;
	gi->proto = p[6]; /* extension headers: not coalesced */
	gi->l4_off = IPV6_HDR_LEN;
	return true;
}

static bool gro_parse_l4(const struct wg_gro *g, const uint8_t *p, size_t len, struct gro_info *gi)
{
	const uint8_t *l4 = p + gi->l4_off;
	size_t l4hdr;

	if (gi->proto == IPPROTO_TCP_NUM && g->tcp) {
		if (len < (size_t)gi->l4_off + TCP_HDR_LEN)
			return false;
		l4hdr = (size_t)(l4[12] >> 4) * 4;
		/* Plain data segments only: ACK, maybe PSH. */
		if (l4hdr < TCP_HDR_LEN || (l4[13] & ~(TCP_ACK | TCP_PSH)) || !(l4[13] & TCP_ACK))
			return false;
	} else if (gi->proto == IPPROTO_UDP_NUM && g->udp) {
		l4hdr = UDP_HDR_LEN;
		if (len < (size_t)gi->l4_off + l4hdr || get_be16(l4 + 4) != len - gi->l4_off)
			return false;
	} else {
		return false;
	}
	if ((size_t)gi->l4_off + l4hdr >= len)
		return false;
	gi->hdr_len = (uint16_t)(gi->l4_off + l4hdr);
	gi->payload = len - gi->hdr_len;
	return true;
}

static bool gro_parse(const struct wg_gro *g, const uint8_t *p, size_t len, struct gro_info *gi)
{
	if (len < IPV4_HDR_LEN || !gro_parse_l3(p, len, gi) || !gro_parse_l4(g, p, len, gi))
		return false;
	gi->hash = flow_hash(g, p, gi);
	return true;
}

static const uint8_t *item_head(const struct wg_gro *g, const struct wg_gro_item *it)
{
	return g->pkts[it->first].data;
}

static bool same_flow(const struct wg_gro *g, const struct wg_gro_item *it, const uint8_t *p,
		      const struct gro_info *gi)
{
	const uint8_t *h = item_head(g, it);
	size_t off, len;

	if (it->hash != gi->hash || it->family != gi->family || it->proto != gi->proto)
		return false;
	flow_span(gi, &off, &len);
	return memcmp(h + off, p + off, len) == 0 && memcmp(h + it->l4_off, p + gi->l4_off, 4) == 0;
}

/* Fields that must match for the kernel to see one packet: TOS, DF and TTL
 * (IPv4); traffic class, flow label and hop limit (IPv6). */
static bool same_l3(const uint8_t *h, const uint8_t *p, uint8_t family)
{
	if (family == 4)
		return h[1] == p[1] && h[6] == p[6] && h[8] == p[8];
	return memcmp(h, p, 4) == 0 && h[7] == p[7];
}

/* Same header length and options, same ACK, in sequence. */
static bool tcp_follows(const struct wg_gro_item *it, const uint8_t *h, const uint8_t *p,
			const struct gro_info *gi)
{
	const uint8_t *th = h + it->l4_off, *tp = p + gi->l4_off;

	if (it->hdr_len != gi->hdr_len || get_be32(tp + 4) != it->next_seq)
		return false;
	/* ACK number, the reserved bits beside the data offset, window and
	 * urgent pointer: the cut copies the head's header into every
	 * segment, so they must already be equal (as in the kernel's GRO,
	 * which compares the whole flag word but CWR, FIN and PSH). */
	if (memcmp(th + 8, tp + 8, 5) != 0 || memcmp(th + 14, tp + 14, 2) != 0 ||
	    memcmp(th + 18, tp + 18, 2) != 0)
		return false;
	return memcmp(th + TCP_HDR_LEN, tp + TCP_HDR_LEN, gi->hdr_len - gi->l4_off - TCP_HDR_LEN) ==
	       0;
}

static bool can_append(const struct wg_gro *g, const struct wg_gro_item *it, const uint8_t *p,
		       const struct gro_info *gi)
{
	const uint8_t *h = item_head(g, it);

	if (it->closed || it->count >= WG_GRO_MAX_SEGS || gi->payload > it->gso_size ||
	    it->total + gi->payload > IP_MAX_LEN)
		return false;
	if (!same_l3(h, p, gi->family))
		return false;
	return gi->proto != IPPROTO_TCP_NUM || tcp_follows(it, h, p, gi);
}

static void append(struct wg_gro *g, struct wg_gro_item *it, int16_t pi, const uint8_t *p,
		   const struct gro_info *gi)
{
	g->pkts[it->last].next = pi;
	it->last = pi;
	it->count++;
	it->total += (uint32_t)gi->payload;
	it->next_seq += (uint32_t)gi->payload;
	/* A short segment ends a super-packet; so does PSH. */
	if (gi->payload < it->gso_size)
		it->closed = true;
	if (gi->proto == IPPROTO_TCP_NUM && (p[gi->l4_off + 13] & TCP_PSH)) {
		it->psh = true;
		it->closed = true;
	}
}

static struct wg_gro_item *new_item(struct wg_gro *g, int16_t pi, const uint8_t *p, size_t len,
				    const struct gro_info *gi)
{
	struct wg_gro_item *it = &g->items[g->n_items];
	unsigned int b;

	memset(it, 0, sizeof(*it));
	it->first = it->last = pi;
	it->hash_next = -1;
	it->count = 1;
	it->total = (uint32_t)len;
	if (gi) {
		b = gi->hash & ((1u << WG_GRO_HASH_BITS) - 1);
		it->family = gi->family;
		it->proto = gi->proto;
		it->l4_off = gi->l4_off;
		it->hdr_len = gi->hdr_len;
		it->gso_size = (uint16_t)gi->payload;
		it->hash = gi->hash;
		if (gi->proto == IPPROTO_TCP_NUM) {
			it->next_seq = get_be32(p + gi->l4_off + 4) + (uint32_t)gi->payload;
			it->psh = it->closed = (p[gi->l4_off + 13] & TCP_PSH) != 0;
		}
		it->hash_next = g->bucket[b];
		g->bucket[b] = (int16_t)g->n_items;
	} else {
		it->closed = true;
	}
	g->n_items++;
	return it;
}

/* Whether the item's first packet has a good checksum, checked once,
 * when a second packet could join it (a packet alone is the kernel's to
 * verify); a bad one closes the item. */
static bool head_csum_ok(struct wg_gro *g, struct wg_gro_item *it)
{
	const struct wg_gro_pkt *h = &g->pkts[it->first];
	bool ok;

	if (it->csum == CSUM_UNCHECKED) {
		ok = l4_csum_ok(h->data, h->len, it->family, it->proto, it->l4_off);
		it->csum = ok ? CSUM_GOOD : CSUM_BAD;
		if (!ok)
			it->closed = true;
	}
	return it->csum == CSUM_GOOD;
}

/* The newest item of the packet's flow, or NULL. */
static struct wg_gro_item *find_flow(struct wg_gro *g, const uint8_t *p, const struct gro_info *gi)
{
	int16_t i = g->bucket[gi->hash & ((1u << WG_GRO_HASH_BITS) - 1)];

	for (; i >= 0; i = g->items[i].hash_next) {
		if (same_flow(g, &g->items[i], p, gi))
			return &g->items[i];
	}
	return NULL;
}

void wg_gro_add(struct wg_gro *g, uint8_t *pkt, size_t len)
{
	int16_t pi = (int16_t)g->n_pkts;
	struct gro_info gi;
	struct wg_gro_item *it;
	bool cand;

	if (wg_gro_full(g) || len > IP_MAX_LEN)
		return;
	g->pkts[pi].data = pkt;
	g->pkts[pi].len = (uint16_t)len;
	g->pkts[pi].next = -1;
	g->n_pkts++;
	cand = gro_parse(g, pkt, len, &gi);
	it = cand ? find_flow(g, pkt, &gi) : NULL;
	if (!it || !can_append(g, it, pkt, &gi) || !head_csum_ok(g, it)) {
		new_item(g, pi, pkt, len, cand ? &gi : NULL);
		return;
	}
	if (l4_csum_ok(pkt, len, gi.family, gi.proto, gi.l4_off)) {
		append(g, it, pi, pkt, &gi);
		return;
	}
	/* Alone, but the flow's newest item: later packets may not pass it. */
	it = new_item(g, pi, pkt, len, &gi);
	it->csum = CSUM_BAD;
	it->closed = true;
}

/* Rewrites the head packet's headers for the coalesced whole and
 * describes it for the kernel. */
static void finish_item(const struct wg_gro_item *it, uint8_t *h, struct wg_gso *gso)
{
	uint8_t *l4 = h + it->l4_off;
	uint32_t l4_len = it->total - it->l4_off;
	uint16_t pseudo;

	if (it->family == 4) {
		put_be16(h + 2, (uint16_t)it->total);
		wg_ip4_header_csum(h);
	} else {
		put_be16(h + 4, (uint16_t)(it->total - IPV6_HDR_LEN));
	}
	pseudo = wg_csum_fold(wg_csum_pseudo(h, it->family, it->proto, l4_len));
	memset(gso, 0, sizeof(*gso));
	gso->needs_csum = true;
	gso->gso_size = it->gso_size;
	gso->hdr_len = it->hdr_len;
	gso->csum_start = it->l4_off;
	if (it->proto == IPPROTO_TCP_NUM) {
		if (it->psh)
			l4[13] |= TCP_PSH;
		gso->type = it->family == 4 ? WG_GSO_TCP4 : WG_GSO_TCP6;
		gso->csum_offset = 16;
	} else {
		put_be16(l4 + 4, (uint16_t)l4_len);
		gso->type = WG_GSO_UDP_L4;
		gso->csum_offset = 6;
	}
	/* A partial checksum holds the folded pseudo-header sum. */
	memcpy(l4 + gso->csum_offset, &pseudo, sizeof(pseudo));
}

static int emit_item(struct wg_gro *g, const struct wg_gro_item *it, wg_gro_out_fn out, void *ctx)
{
	struct iovec iov[WG_GRO_MAX_SEGS];
	struct wg_gso gso = {.data_valid = it->csum == CSUM_GOOD};
	struct wg_gro_pkt *pk = &g->pkts[it->first];
	int n = 0;

	iov[n].iov_base = pk->data;
	iov[n++].iov_len = pk->len;
	if (it->count == 1)
		return out(ctx, &gso, iov, n);
	for (int16_t i = pk->next; i >= 0; i = g->pkts[i].next) {
		iov[n].iov_base = g->pkts[i].data + it->hdr_len;
		iov[n++].iov_len = g->pkts[i].len - it->hdr_len;
	}
	finish_item(it, pk->data, &gso);
	return out(ctx, &gso, iov, n);
}

int wg_gro_flush(struct wg_gro *g, wg_gro_out_fn out, void *ctx)
{
	int failed = 0;

	for (uint16_t i = 0; i < g->n_items; i++) {
		if (emit_item(g, &g->items[i], out, ctx) < 0)
			failed++;
	}
	gro_reset(g);
	return failed;
}
