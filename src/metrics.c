/* The device's metrics in the Prometheus text format (0.0.4, which
 * OpenMetrics parsers read too): mdlayher/wireguard_exporter's families,
 * unchanged so its dashboards work, then wgd's own. Streamed like a get:
 * the format wants each family's samples together, so the cursor walks
 * the families in order and, for a family per peer, all peers a few at a
 * time (peer_cursor.h keeps its place while peers come and go). */
#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dev.h"
#include "peer_cursor.h"
#include "wgd/device.h"
#include "wgd/log.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

struct wg_device_metrics {
	struct wg_device_dump peers; /* place in the current per-peer family */
	size_t family;		     /* index in families[] of the one being written */
	bool in_family;		     /* its HELP and TYPE are out */
	uint64_t mono_now, unix_now; /* one clock reading for the whole scrape */
	bool basic;		     /* leave out the wgd_peer_* families */
	char *dev_label;	     /* `device="..."`, escaped */
	char peer_label[64];	     /* `,public_key="..."` of the peer being written */
};

/* How a single value stored at an offset is written. */
enum conv { RAW = 0, UNIX_NS, MONO_NS };

struct family {
	const char *name, *type, *help;
	bool per_peer;
	/* one value at this offset in struct wg_device_stats (device) or
	 * struct wg_peer (per peer), unless get or write is set */
	size_t off;
	enum conv conv;
	/* an extra label: n values, filled in by get */
	const char *label;
	const char *const *values;
	size_t n;
	void (*get)(struct wg_device_metrics *m, const struct wg_peer *p, uint64_t *v);
	/* the family's samples written by hand (several labels) */
	void (*write)(struct wg_device_metrics *m, const struct wg_peer *p,
		      struct wg_uapi_writer *w);
};

/* --- text --- */

static void put(struct wg_uapi_writer *w, const char *s)
{
	wg_uapi_put_bytes(w, s, strlen(s));
}

/* A label value as the format escapes it (backslash, quote, newline) into
 * dst, which has room for twice strlen(src) plus one; returns dst. */
static char *escape(char *dst, const char *src)
{
	char *d = dst;

	for (; *src; src++) {
		if (*src == '\\' || *src == '"' || *src == '\n')
			*d++ = '\\';
		*d++ = *src == '\n' ? 'n' : *src;
	}
	*d = '\0';
	return dst;
}

/* `,key="value"` with value escaped. */
static void put_label(struct wg_uapi_writer *w, const char *key, const char *value)
{
	char buf[2 * WG_SOCKADDR_STRLEN + 1];
	size_t len = strlen(value);
	char *esc = len < WG_SOCKADDR_STRLEN ? buf : malloc(2 * len + 1);

	if (!esc) {
		w->failed = true;
		return;
	}
	put(w, ",");
	put(w, key);
	put(w, "=\"");
	put(w, escape(esc, value));
	put(w, "\"");
	if (esc != buf)
		free(esc);
}

/* `name{device="..."` and, for a peer, `,public_key="..."`: the caller
 * adds labels and closes with sample_value. */
static void sample_open(struct wg_device_metrics *m, struct wg_uapi_writer *w, const char *name,
			const struct wg_peer *p)
{
	put(w, name);
	put(w, "{");
	put(w, m->dev_label);
	if (p)
		put(w, m->peer_label);
}

static void sample_value(struct wg_uapi_writer *w, uint64_t v)
{
	put(w, "} ");
	wg_uapi_put_dec(w, v);
	put(w, "\n");
}

static void header(struct wg_uapi_writer *w, const struct family *f)
{
	put(w, "# HELP ");
	put(w, f->name);
	put(w, " ");
	put(w, f->help);
	put(w, "\n# TYPE ");
	put(w, f->name);
	put(w, " ");
	put(w, f->type);
	put(w, "\n");
}

/* --- values --- */

/* A time as unix seconds (0 stays 0: never). */
static uint64_t unix_seconds(const struct wg_device_metrics *m, enum conv c, uint64_t t)
{
	if (!t)
		return 0;
	if (c == MONO_NS) {
		uint64_t ago = m->mono_now > t ? m->mono_now - t : 0;

		t = m->unix_now > ago ? m->unix_now - ago : 0;
	}
	return t / WG_NSEC_PER_SEC;
}

static uint64_t read_u64(const void *base, size_t off)
{
	uint64_t v;

	memcpy(&v, (const char *)base + off, sizeof(v));
	return v;
}

static const struct wg_device_stats *stats(const struct wg_device_metrics *m)
{
	return &m->peers.dev->stats;
}

static void write_values(struct wg_device_metrics *m, const struct family *f,
			 const struct wg_peer *p, struct wg_uapi_writer *w)
{
	uint64_t v[16] = {0};

	if (f->get)
		f->get(m, p, v);
	else
		v[0] = read_u64(p ? (const void *)p : (const void *)stats(m), f->off);
	if (f->conv)
		v[0] = unix_seconds(m, f->conv, v[0]);
	for (size_t i = 0; i < f->n; i++) {
		sample_open(m, w, f->name, p);
		if (f->label)
			put_label(w, f->label, f->values[i]);
		sample_value(w, v[i]);
	}
}

/* --- device families --- */

static void dev_info(struct wg_device_metrics *m, const struct wg_peer *p, struct wg_uapi_writer *w)
{
	const struct wg_static_identity *id = m->peers.dev->id;
	char b64[45];

	if (!id->has_identity)
		return;
	wg_key_to_base64(b64, id->public_key);
	sample_open(m, w, "wireguard_device_info", NULL);
	put_label(w, "public_key", b64);
	sample_value(w, 1);
}

static void dev_peers(struct wg_device_metrics *m, const struct wg_peer *p, uint64_t *v)
{
	v[0] = m->peers.dev->n_peers;
}

/* Under load while handshakes arrive faster than they are answered, and
 * for a second after (receive.c judges it per message). */
static void dev_under_load(struct wg_device_metrics *m, const struct wg_peer *p, uint64_t *v)
{
	uint64_t last = m->peers.dev->last_under_load_ns;

	v[0] = last && m->mono_now - last < WG_UNDER_LOAD_LINGER;
}

/* One walk per scrape (the per-peer family may be left out: basic). */
static void dev_staged(struct wg_device_metrics *m, const struct wg_peer *p, uint64_t *v)
{
	v[0] = 0;
	for (const struct wg_peer *q = m->peers.dev->peers_head; q; q = q->list_next)
		v[0] += q->n_staged;
}

static const char *const hs_events[] = {"initiation_sent",   "initiation_received",
					"response_sent",     "response_received",
					"cookie_reply_sent", "cookie_reply_received"};

static void dev_hs_messages(struct wg_device_metrics *m, const struct wg_peer *p, uint64_t *v)
{
	const struct wg_device_stats *s = stats(m);

	v[0] = s->handshake_initiations_sent;
	v[1] = s->initiations_received;
	v[2] = s->handshake_responses_sent;
	v[3] = s->responses_received;
	v[4] = s->cookie_replies_sent;
	v[5] = s->cookie_replies_received;
}

static const char *const hs_failures[] = {
	"unknown_peer",	 "mac1_other_key", "stale_timestamp", "rate_limited",  "decryption_failed",
	"unknown_index", "queue_full",	   "flood",	      "cookie_invalid"};

static void dev_hs_failures(struct wg_device_metrics *m, const struct wg_peer *p, uint64_t *v)
{
	const struct wg_device_stats *s = stats(m);

	v[0] = s->initiation_unknown_peer;
	v[1] = s->mac_invalid;
	v[2] = s->initiation_replay;
	v[3] = s->handshake_ratelimited;
	v[4] = s->initiation_invalid + s->response_invalid;
	v[5] = s->response_unknown_index + s->cookie_reply_unknown_index;
	v[6] = s->handshake_queue_full;
	v[7] = s->initiation_flood;
	v[8] = s->cookie_reply_invalid;
}

static const char *const drop_reasons[] = {
	"no_peer",     "no_endpoint", "multicast",	    "staging_full",  "staged_given_up",
	"replayed",    "bad_tag",     "inner_src_mismatch", "unknown_index", "expired_keypair",
	"tun_garbage", "udp_garbage", "inner_garbage",	    "source_refused"};

static void dev_drops(struct wg_device_metrics *m, const struct wg_peer *p, uint64_t *v)
{
	const struct wg_device_stats *s = stats(m);

	v[0] = s->tun_no_peer;
	v[1] = s->tun_no_endpoint;
	v[2] = s->multicast_dropped;
	v[3] = s->staged_overflow;
	v[4] = s->staged_given_up;
	v[5] = s->data_replayed;
	v[6] = s->data_auth_failed;
	v[7] = s->inner_src_mismatch;
	v[8] = s->data_unknown_index;
	v[9] = s->data_expired_keypair;
	v[10] = s->tun_garbage;
	v[11] = s->udp_garbage;
	v[12] = s->inner_garbage;
	v[13] = s->udp_send_source_refused;
}

static const char *const socket_ops[] = {"udp_send", "udp_read", "tun_read", "tun_write"};

static void dev_socket_errors(struct wg_device_metrics *m, const struct wg_peer *p, uint64_t *v)
{
	const struct wg_device_stats *s = stats(m);

	v[0] = s->udp_send_errors;
	v[1] = s->udp_read_errors;
	v[2] = s->tun_read_errors;
	v[3] = s->tun_write_errors;
}

static const char *const icmp_kinds[] = {"port_unreachable", "host_unreachable", "other"};

static void dev_icmp(struct wg_device_metrics *m, const struct wg_peer *p, uint64_t *v)
{
	const struct wg_device_stats *s = stats(m);

	v[0] = s->icmp_port_unreachable;
	v[1] = s->icmp_host_unreachable;
	v[2] = s->icmp_other;
}

static const char *const directions[] = {"tun_rx", "udp_tx", "udp_rx", "tun_tx"};

static void dev_dp_packets(struct wg_device_metrics *m, const struct wg_peer *p, uint64_t *v)
{
	const struct wg_device_stats *s = stats(m);

	v[0] = s->tun_rx_packets;
	v[1] = s->udp_tx_segments;
	v[2] = s->udp_rx_datagrams;
	v[3] = s->tun_tx_packets;
}

static void dev_dp_batches(struct wg_device_metrics *m, const struct wg_peer *p, uint64_t *v)
{
	const struct wg_device_stats *s = stats(m);

	v[0] = s->tun_rx_batches;
	v[1] = s->udp_tx_trains;
	v[2] = s->udp_rx_batches;
	v[3] = s->tun_tx_batches;
}

/* By enum wg_reject_reason: the names of the matching failure reasons. */
static const char *const reject_reasons[WG_REJECT_COUNT] = {"unknown_peer", "mac1_other_key",
							    "stale_timestamp", "decryption_failed"};

/* One sample per slot of the ring in use: its time, or its count. */
static void put_rejects(struct wg_device_metrics *m, struct wg_uapi_writer *w, const char *name,
			bool count)
{
	const struct wg_reject *r = m->peers.dev->rejects;
	char src[WG_SOCKADDR_STRLEN];

	for (size_t i = 0; i < WG_REJECTS; i++) {
		if (r[i].from.sa.sa_family == AF_UNSPEC || r[i].reason < 0 ||
		    r[i].reason >= WG_REJECT_COUNT)
			continue;
		sample_open(m, w, name, NULL);
		put_label(w, "reason", reject_reasons[r[i].reason]);
		put_label(w, "source", wg_sockaddr_format(&r[i].from, src, sizeof(src)));
		sample_value(w, count ? r[i].count : unix_seconds(m, MONO_NS, r[i].last_mono_ns));
	}
}

static void dev_reject_times(struct wg_device_metrics *m, const struct wg_peer *p,
			     struct wg_uapi_writer *w)
{
	put_rejects(m, w, "wgd_handshake_reject_last_seconds", false);
}

static void dev_reject_counts(struct wg_device_metrics *m, const struct wg_peer *p,
			      struct wg_uapi_writer *w)
{
	put_rejects(m, w, "wgd_handshake_rejects_total", true);
}

/* --- peer families --- */

static void peer_info(struct wg_device_metrics *m, const struct wg_peer *p,
		      struct wg_uapi_writer *w)
{
	char ep[WG_SOCKADDR_STRLEN] = "";

	if (wg_peer_has_endpoint(p))
		wg_sockaddr_format(&p->endpoint.addr, ep, sizeof(ep));
	sample_open(m, w, "wireguard_peer_info", p);
	put_label(w, "endpoint", ep);
	put_label(w, "name", "");
	sample_value(w, 1);
}

struct aip_ctx {
	struct wg_device_metrics *m;
	const struct wg_peer *p;
	struct wg_uapi_writer *w;
};

static int put_aip(void *arg, int family, const uint8_t *addr, uint8_t cidr)
{
	struct aip_ctx *c = arg;
	char text[INET6_ADDRSTRLEN + 4];
	size_t n;

	if (!inet_ntop(family, addr, text, INET6_ADDRSTRLEN))
		return 0;
	n = strlen(text);
	text[n++] = '/';
	if (cidr >= 100)
		text[n++] = (char)('0' + cidr / 100);
	if (cidr >= 10)
		text[n++] = (char)('0' + cidr / 10 % 10);
	text[n++] = (char)('0' + cidr % 10);
	text[n] = '\0';
	sample_open(c->m, c->w, "wireguard_peer_allowed_ips_info", c->p);
	put_label(c->w, "allowed_ips", text);
	put_label(c->w, "family", family == AF_INET ? "IPv4" : "IPv6");
	sample_value(c->w, 1);
	return 0;
}

static void peer_aips(struct wg_device_metrics *m, const struct wg_peer *p,
		      struct wg_uapi_writer *w)
{
	struct aip_ctx c = {m, p, w};

	wg_allowedips_foreach(&p->aips, put_aip, &c);
}

/* initiation_sent .. response_received and cookie_reply_received: the
 * device's events but cookie_reply_sent (sent to addresses, not peers). */
static const char *const peer_hs_events[] = {"initiation_sent", "initiation_received",
					     "response_sent", "response_received",
					     "cookie_reply_received"};

static void peer_hs_messages(struct wg_device_metrics *m, const struct wg_peer *p, uint64_t *v)
{
	v[0] = p->st.initiations_sent;
	v[1] = p->st.initiations_received;
	v[2] = p->st.responses_sent;
	v[3] = p->st.responses_received;
	v[4] = p->st.cookie_replies_received;
}

static void peer_staged(struct wg_device_metrics *m, const struct wg_peer *p, uint64_t *v)
{
	v[0] = p->n_staged;
}

static const char *const peer_drop_reasons[] = {"replayed", "bad_tag", "inner_src_mismatch",
						"staging_full"};

static void peer_drops(struct wg_device_metrics *m, const struct wg_peer *p, uint64_t *v)
{
	v[0] = p->st.data_replayed;
	v[1] = p->st.data_auth_failed;
	v[2] = p->st.inner_src_mismatch;
	v[3] = p->st.staged_overflow;
}

static void peer_icmp(struct wg_device_metrics *m, const struct wg_peer *p, uint64_t *v)
{
	v[0] = p->st.icmp_port_unreachable;
	v[1] = p->st.icmp_host_unreachable;
	v[2] = p->st.icmp_other;
}

static void peer_last_icmp(struct wg_device_metrics *m, const struct wg_peer *p,
			   struct wg_uapi_writer *w)
{
	static const char *const kinds[] = {"none", "port_unreachable", "host_unreachable",
					    "other"};
	int k = p->st.last_icmp_kind;

	sample_open(m, w, "wgd_peer_last_icmp_error_seconds", p);
	put_label(w, "kind", k >= 0 && (size_t)k < ARRAY_LEN(kinds) ? kinds[k] : "other");
	sample_value(w, unix_seconds(m, MONO_NS, p->st.last_icmp_mono_ns));
}

/* Labelled with the system's words for the last refusal ("" if none). */
static void peer_last_send_error(struct wg_device_metrics *m, const struct wg_peer *p,
				 struct wg_uapi_writer *w)
{
	int e = p->st.last_send_errno;

	sample_open(m, w, "wgd_peer_last_send_error_seconds", p);
	put_label(w, "error", e > 0 ? strerror(e) : "");
	sample_value(w, unix_seconds(m, MONO_NS, p->st.last_send_error_mono_ns));
}

/* In seconds with milliseconds: how long our initiations have gone
 * unanswered, however often new traffic restarted the retries. */
static void peer_unanswered(struct wg_device_metrics *m, const struct wg_peer *p,
			    struct wg_uapi_writer *w)
{
	uint64_t since = p->st.unanswered_since_mono_ns;
	uint64_t ms = since && m->mono_now > since ? (m->mono_now - since) / WG_NSEC_PER_MSEC : 0;
	char frac[5] = {'.', (char)('0' + ms / 100 % 10), (char)('0' + ms / 10 % 10),
			(char)('0' + ms % 10), '\0'};

	sample_open(m, w, "wgd_peer_unanswered_seconds", p);
	put(w, "} ");
	wg_uapi_put_dec(w, ms / 1000);
	put(w, frac);
	put(w, "\n");
}

/* --- the families, in the order they are written --- */

#define COUNTER "counter"
#define GAUGE	"gauge"
#define DEV_FIELD(nm, hp, field)                                                                   \
	{                                                                                          \
		.name = nm, .type = COUNTER, .help = hp,                                           \
		.off = offsetof(struct wg_device_stats, field), .n = 1                             \
	}
#define LABELLED(nm, ty, hp, peer, lab, vals, fn)                                                  \
	{                                                                                          \
		.name = nm, .type = ty, .help = hp, .per_peer = peer, .label = lab,                \
		.values = vals, .n = ARRAY_LEN(vals), .get = fn                                    \
	}
#define COMPUTED(nm, ty, hp, peer, fn)                                                             \
	{                                                                                          \
		.name = nm, .type = ty, .help = hp, .per_peer = peer, .n = 1, .get = fn            \
	}
#define WRITTEN(nm, ty, hp, peer, fn)                                                              \
	{                                                                                          \
		.name = nm, .type = ty, .help = hp, .per_peer = peer, .write = fn                  \
	}
#define PEER_FIELD(nm, ty, hp, field, cv)                                                          \
	{                                                                                          \
		.name = nm, .type = ty, .help = hp, .per_peer = true,                              \
		.off = offsetof(struct wg_peer, field), .conv = cv, .n = 1                         \
	}

static const struct family families[] = {
	WRITTEN("wireguard_device_info", GAUGE, "Metadata about a device.", false, dev_info),
	COMPUTED("wgd_peers", GAUGE, "Peers configured.", false, dev_peers),
	COMPUTED("wgd_under_load", GAUGE,
		 "1 while handshake messages arrive faster than they are answered (cookie "
		 "replies asked for), and for a second after.",
		 false, dev_under_load),
	LABELLED("wgd_handshake_messages_total", COUNTER, "Handshake messages sent and received.",
		 false, "event", hs_events, dev_hs_messages),
	DEV_FIELD("wgd_handshakes_completed_total", "Handshakes completed.", handshakes_completed),
	DEV_FIELD("wgd_handshakes_given_up_total",
		  "Handshakes abandoned after every retry went unanswered.", handshakes_given_up),
	DEV_FIELD("wgd_sessions_created_total", "Sessions (keypairs) derived.", sessions_created),
	DEV_FIELD("wgd_endpoint_changes_total", "Peer endpoints that moved (roaming).",
		  endpoint_changes),
	LABELLED("wgd_handshake_failures_total", COUNTER, "Handshake messages refused, by reason.",
		 false, "reason", hs_failures, dev_hs_failures),
	LABELLED("wgd_dropped_packets_total", COUNTER, "Packets dropped, by reason.", false,
		 "reason", drop_reasons, dev_drops),
	LABELLED("wgd_socket_errors_total", COUNTER, "Failed socket and TUN operations.", false,
		 "op", socket_ops, dev_socket_errors),
	LABELLED("wgd_icmp_errors_total", COUNTER,
		 "ICMP errors reported on the UDP sockets about datagrams sent.", false, "kind",
		 icmp_kinds, dev_icmp),
	LABELLED("wgd_datapath_packets_total", COUNTER,
		 "Packets through the data path (UDP: datagrams, GSO/GRO segments counted).", false,
		 "direction", directions, dev_dp_packets),
	LABELLED("wgd_datapath_batches_total", COUNTER,
		 "Batched reads and writes of the data path (UDP send: trains).", false,
		 "direction", directions, dev_dp_batches),
	WRITTEN("wgd_handshake_reject_last_seconds", GAUGE,
		"Unix time of the last handshake message refused from a source address, by "
		"reason (the last 16 distinct pairs).",
		false, dev_reject_times),
	WRITTEN("wgd_handshake_rejects_total", COUNTER,
		"Handshake messages refused from a source address, by reason (the pairs of "
		"wgd_handshake_reject_last_seconds; a pair's count restarts if it leaves the "
		"ring).",
		false, dev_reject_counts),
	WRITTEN("wireguard_peer_info", GAUGE, "Metadata about a peer.", true, peer_info),
	WRITTEN("wireguard_peer_allowed_ips_info", GAUGE,
		"Metadata about each of a peer's allowed IP subnets.", true, peer_aips),
	PEER_FIELD("wireguard_peer_receive_bytes_total", COUNTER, "Bytes received from a peer.",
		   rx_bytes, RAW),
	PEER_FIELD("wireguard_peer_transmit_bytes_total", COUNTER, "Bytes sent to a peer.",
		   tx_bytes, RAW),
	PEER_FIELD("wireguard_peer_last_handshake_seconds", GAUGE,
		   "Unix time of the last completed handshake with a peer (0: never).",
		   last_handshake_unix_ns, UNIX_NS),
	LABELLED("wgd_peer_handshake_messages_total", COUNTER,
		 "Handshake messages sent to and received from a peer.", true, "event",
		 peer_hs_events, peer_hs_messages),
	PEER_FIELD("wgd_peer_sessions_created_total", COUNTER,
		   "Sessions (keypairs) derived with a peer.", st.sessions_created, RAW),
	PEER_FIELD("wgd_peer_endpoint_changes_total", COUNTER,
		   "Times a peer's endpoint moved (roaming).", st.endpoint_changes, RAW),
	COMPUTED("wgd_peer_staged_packets", GAUGE, "Packets waiting for a session with a peer.",
		 true, peer_staged),
	COMPUTED("wgd_staged_packets", GAUGE, "Packets waiting for a session, all peers.", false,
		 dev_staged),
	LABELLED("wgd_peer_dropped_packets_total", COUNTER, "Packets of a peer dropped, by reason.",
		 true, "reason", peer_drop_reasons, peer_drops),
	LABELLED("wgd_peer_icmp_errors_total", COUNTER,
		 "ICMP errors reported about datagrams sent to a peer's endpoint.", true, "kind",
		 icmp_kinds, peer_icmp),
	PEER_FIELD("wgd_peer_last_receive_seconds", GAUGE,
		   "Unix time of the last authenticated message from a peer (0: never).",
		   st.last_rx_mono_ns, MONO_NS),
	PEER_FIELD("wgd_peer_last_data_receive_seconds", GAUGE,
		   "Unix time of the last data packet (not a keepalive) from a peer (0: never).",
		   st.last_data_rx_mono_ns, MONO_NS),
	PEER_FIELD("wgd_peer_last_initiation_sent_seconds", GAUGE,
		   "Unix time of our last handshake initiation to a peer (0: never).",
		   st.last_initiation_sent_mono_ns, MONO_NS),
	PEER_FIELD("wgd_peer_last_initiation_received_seconds", GAUGE,
		   "Unix time of the last valid handshake initiation from a peer (0: never).",
		   st.last_initiation_rx_mono_ns, MONO_NS),
	PEER_FIELD("wgd_peer_last_response_received_seconds", GAUGE,
		   "Unix time of the last handshake response from a peer (0: never).",
		   st.last_response_rx_mono_ns, MONO_NS),
	WRITTEN("wgd_peer_last_icmp_error_seconds", GAUGE,
		"Unix time of the last ICMP error about a peer's endpoint, labelled with its "
		"kind (0: never).",
		true, peer_last_icmp),
	PEER_FIELD("wgd_peer_send_errors_total", COUNTER,
		   "Sends to a peer the host refused (no route, source or interface absent): "
		   "nothing left.",
		   st.send_errors, RAW),
	WRITTEN("wgd_peer_last_send_error_seconds", GAUGE,
		"Unix time of the last send to a peer the host refused, labelled with the "
		"system's error (0: never).",
		true, peer_last_send_error),
	WRITTEN("wgd_peer_unanswered_seconds", GAUGE,
		"How long our handshake initiations to a peer have gone unanswered (0: none "
		"outstanding).",
		true, peer_unanswered),
};

/* --- the cursor --- */

static void write_family(struct wg_device_metrics *m, const struct family *f,
			 const struct wg_peer *p, struct wg_uapi_writer *w)
{
	char b64[45];

	if (p) {
		wg_key_to_base64(b64, p->pubkey.key);
		memcpy(m->peer_label, ",public_key=\"", 13);
		memcpy(m->peer_label + 13, b64, 44);
		memcpy(m->peer_label + 57, "\"", 2);
	}
	if (f->write)
		f->write(m, p, w);
	else
		write_values(m, f, p, w);
}

/* Writes up to max_peers peers of the current per-peer family; true if
 * peers of it remain. */
static bool walk_peers(struct wg_device_metrics *m, const struct family *f,
		       struct wg_uapi_writer *w, size_t *max_peers)
{
	struct wg_peer *p = wg_peer_cursor_peek(&m->peers);

	for (; p && *max_peers; --*max_peers, p = p->list_next) {
		write_family(m, f, p, w);
		wg_peer_cursor_pass(&m->peers, p);
	}
	return p != NULL;
}

bool wg_device_metrics_next(struct wg_device_metrics *m, struct wg_uapi_writer *w, size_t max_peers)
{
	const struct family *f;

	if (!m->peers.dev)
		return false; /* the device went away */
	for (; m->family < ARRAY_LEN(families); m->family++, m->in_family = false) {
		f = &families[m->family];
		if (m->basic && f->per_peer && !strncmp(f->name, "wgd_", 4))
			continue;
		if (!m->in_family) {
			header(w, f);
			m->in_family = true;
			wg_peer_cursor_rewind(&m->peers);
			if (!f->per_peer)
				write_family(m, f, NULL, w);
		}
		if (f->per_peer && walk_peers(m, f, w, &max_peers))
			return true;
	}
	return false;
}

static int metrics_begin(struct wg_device *dev, const char *device, bool basic,
			 struct wg_uapi_writer *w, struct wg_device_metrics **out)
{
	struct wg_device_metrics *m = calloc(1, sizeof(*m));
	const char *name = device ? device : "wg";

	*out = NULL;
	if (m)
		m->dev_label = malloc(2 * strlen(name) + sizeof("device=\"\""));
	if (!m || !m->dev_label) {
		free(m);
		return -ENOMEM;
	}
	strcpy(m->dev_label, "device=\"");
	strcat(escape(m->dev_label + strlen(m->dev_label), name), "\"");
	wg_dev_tick(dev);
	m->mono_now = wg_dev_now(dev);
	m->unix_now = wg_dev_unix_now(dev);
	wg_peer_cursor_open(&m->peers, dev);
	m->basic = basic;
	wg_device_metrics_next(m, w, 0); /* the device's families */
	*out = m;
	return 0;
}

int wg_device_metrics_begin(struct wg_device *dev, const char *device, struct wg_uapi_writer *w,
			    struct wg_device_metrics **out)
{
	return metrics_begin(dev, device, false, w, out);
}

int wg_device_metrics_begin_basic(struct wg_device *dev, const char *device,
				  struct wg_uapi_writer *w, struct wg_device_metrics **out)
{
	return metrics_begin(dev, device, true, w, out);
}

void wg_device_metrics_end(struct wg_device_metrics *m)
{
	if (!m)
		return;
	wg_peer_cursor_close(&m->peers);
	free(m->dev_label);
	free(m);
}
