/* `wgd metrics` / `wgd diagnose`: the exposition from the control socket,
 * printed, or parsed and turned into the silent-tunnel checklist per peer.
 * Parsing, diagnosis and formatting are pure (tests/unit/test_diagnose.c);
 * only wg_diag_main and its helpers do I/O. */
#include "diagnose.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "wgd/addr.h"

#include "ctl.h"

#define USAGE                                                                                      \
	"Usage: wgd metrics INTERFACE\n"                                                           \
	"       wgd diagnose INTERFACE [--json]\n"

#define MAX_LABELS 16 /* ours carry at most 4 */
#define MAX_VALUE  64 /* characters of a sample value or timestamp */

/* ---- parsing the text format ---- */

struct label {
	const char *name, *val; /* val unescaped, in the caller's scratch */
	size_t nlen, vlen;
};

struct sample {
	const char *name;
	size_t nlen;
	struct label l[MAX_LABELS];
	size_t n;
	double value;
};

static int bad(struct wg_diag_device *d, char *err, size_t errlen, const char *why)
{
	snprintf(err, errlen, "line %lu: %s", d->line_no, why);
	return -EPROTO;
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static size_t skip_blanks(const char *s, size_t len, size_t i)
{
	while (i < len && is_blank(s[i]))
		i++;
	return i;
}

/* A metric name ([a-zA-Z_:][a-zA-Z0-9_:]*) or, colon false, a label
 * name. Returns its end (== i: none). */
static size_t scan_name(const char *s, size_t len, size_t i, bool colon)
{
	size_t j = i;

	while (j < len && (is_alpha(s[j]) || (j > i && is_digit(s[j])) || (colon && s[j] == ':')))
		j++;
	return j;
}

/* The quoted value at s[i] == '"', unescaped into *scratch (advanced).
 * Returns the index after the closing quote, 0 when malformed. */
static size_t scan_value(const char *s, size_t len, size_t i, char **scratch, struct label *l)
{
	char *o = *scratch;

	l->val = o;
	for (i++; i < len && s[i] != '"'; i++) {
		if (s[i] != '\\') {
			*o++ = s[i];
			continue;
		}
		if (++i == len)
			return 0;
		if (s[i] == 'n')
			*o++ = '\n';
		else if (s[i] == '\\' || s[i] == '"')
			*o++ = s[i];
		else
			return 0;
	}
	if (i == len)
		return 0;
	l->vlen = (size_t)(o - l->val);
	*scratch = o;
	return i + 1;
}

/* {name="value",...} from s[i] == '{'; returns the index after '}' or 0. */
static size_t scan_labels(const char *s, size_t len, size_t i, char *scratch, struct sample *out,
			  const char **why)
{
	*why = "malformed labels";
	for (i = skip_blanks(s, len, i + 1); i < len && s[i] != '}';) {
		struct label *l = &out->l[out->n];
		size_t end = scan_name(s, len, i, false);
		if (end == i)
			return 0;
		if (out->n == MAX_LABELS) {
			*why = "too many labels";
			return 0;
		}
		l->name = s + i;
		l->nlen = end - i;
		i = skip_blanks(s, len, end);
		if (i + 1 >= len || s[i] != '=' || s[(i = skip_blanks(s, len, i + 1))] != '"')
			return 0;
		i = scan_value(s, len, i, &scratch, l);
		if (!i)
			return 0;
		out->n++;
		i = skip_blanks(s, len, i);
		if (i < len && s[i] == ',')
			i = skip_blanks(s, len, i + 1);
		else if (i < len && s[i] != '}')
			return 0;
	}
	return i < len ? i + 1 : 0;
}

/* A number as the format spells it: decimal or exponent, +Inf, -Inf, NaN
 * (strtod also reads hexadecimal, which the format does not have). */
static bool parse_number(const char *s, size_t len, double *out)
{
	char buf[MAX_VALUE + 1], *end;

	if (!len || len > MAX_VALUE || memchr(s, 'x', len) || memchr(s, 'X', len))
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	*out = strtod(buf, &end);
	return end == buf + len;
}

static bool parse_timestamp(const char *s, size_t len)
{
	size_t i = len && s[0] == '-' ? 1 : 0;

	if (i == len || len > MAX_VALUE)
		return false;
	for (; i < len; i++)
		if (!is_digit(s[i]))
			return false;
	return true;
}

/* name[{labels}] value [timestamp] */
static const char *parse_sample(const char *s, size_t len, char *scratch, struct sample *out)
{
	const char *why = "malformed metric name";
	size_t i = scan_name(s, len, 0, true), v;

	out->name = s;
	out->nlen = i;
	out->n = 0;
	if (!i)
		return why;
	v = skip_blanks(s, len, i); /* blanks may precede the labels */
	if (v < len && s[v] == '{') {
		i = scan_labels(s, len, v, scratch, out, &why);
		if (!i)
			return why;
		v = skip_blanks(s, len, i);
	}
	if (v == i || v == len)
		return "no value";
	for (i = v; i < len && !is_blank(s[i]);)
		i++;
	if (!parse_number(s + v, i - v, &out->value))
		return "malformed value";
	v = skip_blanks(s, len, i);
	for (i = v; i < len && !is_blank(s[i]);)
		i++;
	if (i > v && !parse_timestamp(s + v, i - v))
		return "malformed timestamp";
	return skip_blanks(s, len, i) == len ? NULL : "unexpected text after the sample";
}

/* ---- what the diagnosis keeps ---- */

static bool eq(const char *s, size_t n, const char *lit)
{
	return n == strlen(lit) && !memcmp(s, lit, n);
}

static const struct label *find_label(const struct sample *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (eq(s->l[i].name, s->l[i].nlen, name))
			return &s->l[i];
	return NULL;
}

static bool label_is(const struct sample *s, const char *name, const char *val)
{
	const struct label *l = find_label(s, name);

	return l && eq(l->val, l->vlen, val);
}

static char *dup_label(const struct label *l)
{
	char *s = malloc(l->vlen + 1);

	if (s) {
		memcpy(s, l->val, l->vlen);
		s[l->vlen] = '\0';
	}
	return s;
}

void wg_diag_init(struct wg_diag_device *d)
{
	memset(d, 0, sizeof(*d));
}

void wg_diag_free(struct wg_diag_device *d)
{
	for (size_t i = 0; i < d->n_peers; i++) {
		free(d->peers[i].public_key);
		free(d->peers[i].endpoint);
	}
	for (size_t i = 0; i < d->n_rejects; i++) {
		free(d->rejects[i].source);
		free(d->rejects[i].reason);
	}
	free(d->peers);
	free(d->rejects);
	free(d->index);
	free(d->device);
	wg_diag_init(d);
}

static size_t hash_key(const char *s, size_t n)
{
	uint64_t h = 14695981039346656037ull; /* FNV-1a */

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
	return (size_t)h;
}

/* The slot of key in the index: its peer's, or the free one it would take. */
static size_t *index_slot(const struct wg_diag_device *d, const char *key, size_t n)
{
	size_t mask = d->index_cap - 1, i = hash_key(key, n) & mask;

	for (;; i = (i + 1) & mask) {
		size_t *slot = &d->index[i];
		if (!*slot || eq(key, n, d->peers[*slot - 1].public_key))
			return slot;
	}
}

/* Keeps the index at most half full. */
static int index_grow(struct wg_diag_device *d)
{
	size_t *old = d->index, old_cap = d->index_cap;

	if ((d->n_peers + 1) * 2 <= d->index_cap)
		return 0;
	d->index_cap = old_cap ? old_cap * 2 : 64;
	d->index = calloc(d->index_cap, sizeof(*d->index));
	if (!d->index) {
		d->index = old;
		d->index_cap = old_cap;
		return -ENOMEM;
	}
	for (size_t i = 0; i < old_cap; i++)
		if (old[i]) {
			const char *k = d->peers[old[i] - 1].public_key;
			*index_slot(d, k, strlen(k)) = old[i];
		}
	free(old);
	return 0;
}

static int add_peer(struct wg_diag_device *d, const struct label *key, size_t *slot)
{
	struct wg_diag_peer *p;

	if (d->n_peers == d->peers_cap) {
		size_t cap = d->peers_cap ? d->peers_cap * 2 : 16;
		p = realloc(d->peers, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		d->peers = p;
		d->peers_cap = cap;
	}
	p = &d->peers[d->n_peers];
	memset(p, 0, sizeof(*p));
	p->public_key = dup_label(key);
	p->endpoint = strdup("");
	if (!p->public_key || !p->endpoint) {
		free(p->public_key);
		free(p->endpoint);
		return -ENOMEM;
	}
	*slot = ++d->n_peers;
	return 0;
}

/* The peer a sample names, created on first sight. Families list the
 * peers in the same order, so the one after the last is tried first. */
static int get_peer(struct wg_diag_device *d, const struct label *key, struct wg_diag_peer **out)
{
	size_t *slot;
	int ret;

	if (d->hint < d->n_peers && eq(key->val, key->vlen, d->peers[d->hint].public_key)) {
		*out = &d->peers[d->hint++];
		return 0;
	}
	if ((ret = index_grow(d)))
		return ret;
	slot = index_slot(d, key->val, key->vlen);
	if (!*slot && (ret = add_peer(d, key, slot)))
		return ret;
	d->hint = *slot;
	*out = &d->peers[*slot - 1];
	return 0;
}

/* Per-peer samples kept as one number: family, and a label that must have
 * a given value (NULL: any sample of the family). */
static const struct {
	const char *family, *label, *value;
	size_t off;
} peer_fields[] = {
	{"wireguard_peer_receive_bytes_total", NULL, NULL, offsetof(struct wg_diag_peer, rx_bytes)},
	{"wireguard_peer_transmit_bytes_total", NULL, NULL,
	 offsetof(struct wg_diag_peer, tx_bytes)},
	{"wireguard_peer_last_handshake_seconds", NULL, NULL,
	 offsetof(struct wg_diag_peer, last_handshake)},
	{"wgd_peer_last_receive_seconds", NULL, NULL, offsetof(struct wg_diag_peer, last_receive)},
	{"wgd_peer_last_data_receive_seconds", NULL, NULL,
	 offsetof(struct wg_diag_peer, last_data_receive)},
	{"wgd_peer_last_initiation_sent_seconds", NULL, NULL,
	 offsetof(struct wg_diag_peer, last_initiation_sent)},
	{"wgd_peer_unanswered_seconds", NULL, NULL, offsetof(struct wg_diag_peer, unanswered_s)},
	{"wgd_peer_handshake_messages_total", "event", "initiation_sent",
	 offsetof(struct wg_diag_peer, initiations_sent)},
	{"wgd_peer_icmp_errors_total", "kind", "port_unreachable",
	 offsetof(struct wg_diag_peer, icmp_port_unreachable)},
	{"wgd_peer_icmp_errors_total", "kind", "host_unreachable",
	 offsetof(struct wg_diag_peer, icmp_host_unreachable)},
	{"wgd_peer_dropped_packets_total", "reason", "inner_src_mismatch",
	 offsetof(struct wg_diag_peer, inner_src_mismatch)},
	{"wgd_peer_send_errors_total", NULL, NULL, offsetof(struct wg_diag_peer, send_errors)},
};

static int peer_sample(struct wg_diag_peer *p, const struct sample *s)
{
	const struct label *l;

	if (eq(s->name, s->nlen, "wireguard_peer_info") && (l = find_label(s, "endpoint"))) {
		char *ep = dup_label(l);
		if (!ep)
			return -ENOMEM;
		free(p->endpoint);
		p->endpoint = ep;
		return 0;
	}
	if (eq(s->name, s->nlen, "wgd_peer_last_icmp_error_seconds") &&
	    (l = find_label(s, "kind")) && s->value >= p->last_icmp) {
		p->last_icmp = s->value;
		snprintf(p->last_icmp_kind, sizeof(p->last_icmp_kind), "%.*s", (int)l->vlen,
			 l->val);
		return 0;
	}
	if (eq(s->name, s->nlen, "wgd_peer_last_send_error_seconds") &&
	    (l = find_label(s, "error"))) {
		p->last_send_error = s->value;
		snprintf(p->last_send_error_text, sizeof(p->last_send_error_text), "%.*s",
			 (int)l->vlen, l->val);
		return 0;
	}
	for (size_t i = 0; i < sizeof(peer_fields) / sizeof(peer_fields[0]); i++)
		if (eq(s->name, s->nlen, peer_fields[i].family) &&
		    (!peer_fields[i].label ||
		     label_is(s, peer_fields[i].label, peer_fields[i].value)))
			*(double *)((char *)p + peer_fields[i].off) = s->value;
	return 0;
}

/* The families of refused handshakes by source: when (unix s) and, if the
 * daemon says, how many. */
#define REJECT_LAST  "wgd_handshake_reject_last_seconds"
#define REJECT_COUNT "wgd_handshake_rejects_total"

static int reject_sample(struct wg_diag_device *d, const struct sample *s)
{
	const struct label *src = find_label(s, "source"), *why = find_label(s, "reason");
	bool last = eq(s->name, s->nlen, REJECT_LAST);
	struct wg_diag_reject *r;
	size_t i;

	if (!src || !why)
		return 0;
	for (i = 0; i < d->n_rejects; i++) {
		r = &d->rejects[i];
		if (eq(src->val, src->vlen, r->source) && eq(why->val, why->vlen, r->reason))
			break;
	}
	if (i == d->n_rejects) {
		if (d->n_rejects == d->rejects_cap) {
			size_t cap = d->rejects_cap ? d->rejects_cap * 2 : 16;
			r = realloc(d->rejects, cap * sizeof(*r));
			if (!r)
				return -ENOMEM;
			d->rejects = r;
			d->rejects_cap = cap;
		}
		r = &d->rejects[i];
		*r = (struct wg_diag_reject){
			.source = dup_label(src), .reason = dup_label(why), .count = -1};
		if (r->source)
			r->addr = wg_diag_addr_of(r->source);
		if (!r->source || !r->reason) {
			free(r->source);
			free(r->reason);
			return -ENOMEM;
		}
		d->n_rejects++;
	}
	if (last)
		d->rejects[i].last = s->value;
	else
		d->rejects[i].count = s->value;
	return 0;
}

static bool has_prefix(const struct sample *s, const char *prefix)
{
	size_t n = strlen(prefix);

	return s->nlen >= n && !memcmp(s->name, prefix, n);
}

static int use_sample(struct wg_diag_device *d, const struct sample *s)
{
	const struct label *l;
	struct wg_diag_peer *p;
	int ret;

	if (!d->device && (l = find_label(s, "device")) && !(d->device = dup_label(l)))
		return -ENOMEM;
	if (eq(s->name, s->nlen, REJECT_LAST) || eq(s->name, s->nlen, REJECT_COUNT))
		return reject_sample(d, s);
	if (!has_prefix(s, "wireguard_peer_") && !has_prefix(s, "wgd_peer_"))
		return 0;
	if (eq(s->name, s->nlen, "wireguard_peer_allowed_ips_info") ||
	    !(l = find_label(s, "public_key")))
		return 0;
	if ((ret = get_peer(d, l, &p)))
		return ret;
	return peer_sample(p, s);
}

int wg_diag_feed_line(struct wg_diag_device *d, const char *line, size_t len, char *err,
		      size_t errlen)
{
	struct sample s;
	const char *why;
	char *scratch;
	int ret;

	d->line_no++;
	if (skip_blanks(line, len, 0) == len || line[0] == '#')
		return 0;	   /* blank, # HELP, # TYPE, comments, # EOF */
	scratch = malloc(len + 1); /* unescaped values are never longer */
	if (!scratch)
		return -ENOMEM;
	why = parse_sample(line, len, scratch, &s);
	ret = why ? bad(d, err, errlen, why) : use_sample(d, &s);
	free(scratch);
	return ret;
}

int wg_diag_parse(struct wg_diag_device *d, const char *text, size_t len, char *err, size_t errlen)
{
	while (len) {
		const char *nl = memchr(text, '\n', len);
		size_t n = nl ? (size_t)(nl - text) : len;
		int ret = wg_diag_feed_line(d, text, n, err, errlen);
		if (ret)
			return ret;
		text += nl ? n + 1 : n;
		len -= nl ? n + 1 : n;
	}
	wg_diag_finish(d);
	return 0;
}

/* ---- the checklist ---- */

static const char *const code_names[WG_DIAG_CODE_COUNT] = {
	[WG_DIAG_OK] = "ok",
	[WG_DIAG_IDLE] = "idle",
	[WG_DIAG_NO_ENDPOINT] = "no_endpoint",
	[WG_DIAG_NO_PACKETS_PORT_UNREACHABLE] = "no_packets_port_unreachable",
	[WG_DIAG_NO_PACKETS_HOST_UNREACHABLE] = "no_packets_host_unreachable",
	[WG_DIAG_NO_PACKETS_NO_ANSWER] = "no_packets_no_answer",
	[WG_DIAG_UNKNOWN_KEY] = "unknown_key",
	[WG_DIAG_WRONG_KEY_FOR_US] = "wrong_key_for_us",
	[WG_DIAG_STALE_INITIATION] = "stale_initiation",
	[WG_DIAG_HANDSHAKE_DECRYPT_FAILED] = "handshake_decrypt_failed",
	[WG_DIAG_SEND_FAILED] = "send_failed",
	[WG_DIAG_UNANSWERED] = "unanswered",
	[WG_DIAG_NO_DATA] = "no_data",
	[WG_DIAG_INNER_SOURCE_OUTSIDE_ALLOWED_IPS] = "inner_source_outside_allowed_ips",
};

const char *wg_diag_code_name(enum wg_diag_code c)
{
	return (unsigned int)c < WG_DIAG_CODE_COUNT ? code_names[c] : "unknown";
}

/* The finding a refusal reason stands for (the reason labels of
 * src/metrics.c), WG_DIAG_CODE_COUNT for none. */
static enum wg_diag_code reject_code(const char *reason)
{
	if (!strcmp(reason, "unknown_peer"))
		return WG_DIAG_UNKNOWN_KEY;
	if (!strcmp(reason, "mac1_other_key"))
		return WG_DIAG_WRONG_KEY_FOR_US;
	if (!strcmp(reason, "stale_timestamp"))
		return WG_DIAG_STALE_INITIATION;
	if (!strcmp(reason, "decryption_failed"))
		return WG_DIAG_HANDSHAKE_DECRYPT_FAILED;
	return WG_DIAG_CODE_COUNT;
}

struct wg_diag_addr wg_diag_addr_of(const char *text)
{
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	struct wg_diag_addr h = {.family = AF_UNSPEC};
	union wg_sockaddr sa;

	if (!text[0] || wg_sockaddr_parse(&sa, text))
		return h;
	h.family = sa.sa.sa_family;
	if (h.family == AF_INET) {
		memcpy(h.addr, &sa.in4.sin_addr, 4);
		h.port = ntohs(sa.in4.sin_port);
	} else if (!memcmp(&sa.in6.sin6_addr, mapped, 12)) {
		h.family = AF_INET;
		memcpy(h.addr, (const unsigned char *)&sa.in6.sin6_addr + 12, 4);
		h.port = ntohs(sa.in6.sin6_port);
	} else {
		memcpy(h.addr, &sa.in6.sin6_addr, 16);
		h.port = ntohs(sa.in6.sin6_port);
	}
	return h;
}

static bool same_host(const struct wg_diag_addr *a, const struct wg_diag_addr *b)
{
	return a->family != AF_UNSPEC && a->family == b->family &&
	       !memcmp(a->addr, b->addr, a->family == AF_INET ? 4 : 16);
}

static bool same_addr(const struct wg_diag_addr *a, const struct wg_diag_addr *b)
{
	return same_host(a, b) && a->port == b->port;
}

void wg_diag_finish(struct wg_diag_device *d)
{
	for (size_t j = 0; j < d->n_rejects; j++)
		d->rejects[j].matched = d->rejects[j].exact = false;
	for (size_t i = 0; i < d->n_peers; i++) {
		struct wg_diag_addr ep = wg_diag_addr_of(d->peers[i].endpoint);
		for (size_t j = 0; ep.family != AF_UNSPEC && j < d->n_rejects; j++) {
			struct wg_diag_reject *r = &d->rejects[j];
			r->matched |= same_host(&ep, &r->addr);
			r->exact |= same_addr(&ep, &r->addr);
		}
	}
}

/* Whether refusal r came from the endpoint ep: its address and port, or
 * only its address (NAT may change the port) when no peer has that port. */
static bool from_peer(const struct wg_diag_reject *r, const struct wg_diag_addr *ep)
{
	return r->exact ? same_addr(ep, &r->addr) : same_host(ep, &r->addr);
}

static double ago(double now, double t)
{
	if (t <= 0 || isnan(t))
		return -1;
	return now > t ? now - t : 0;
}

static void add(struct wg_diag_finding *out, size_t *n, enum wg_diag_code c, double last_ago,
		const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Appends a finding (the last one is overwritten once the array is full:
 * it cannot be, the checklist has fewer items). */
static void add(struct wg_diag_finding *out, size_t *n, enum wg_diag_code c, double last_ago,
		const char *fmt, ...)
{
	struct wg_diag_finding *f = &out[*n < WG_DIAG_MAX_FINDINGS ? (*n)++ : *n - 1];
	va_list ap;

	f->code = c;
	f->last_ago = last_ago;
	va_start(ap, fmt);
	vsnprintf(f->message, sizeof(f->message), fmt, ap);
	va_end(ap);
}

/* Refusals of handshakes from the peer's endpoint address since its last
 * handshake (one handshake since: whatever it was is over), one finding
 * per kind: the newest source, the count when known. */
struct refusal {
	double last, count;
	const char *source;
};

static const char *const refusal_text[WG_DIAG_CODE_COUNT] = {
	[WG_DIAG_UNKNOWN_KEY] = "the peer's key is not the one we have for it (their private "
				"key and our PublicKey for them differ)",
	[WG_DIAG_WRONG_KEY_FOR_US] = "the peer uses a wrong or old public key for us",
	[WG_DIAG_STALE_INITIATION] = "replayed/old initiations (clock or duplicate config)",
	[WG_DIAG_HANDSHAKE_DECRYPT_FAILED] = "its handshake messages do not decrypt (a "
					     "PresharedKey that differs on the two sides?)",
};

static size_t refusals(const struct wg_diag_device *d, const struct wg_diag_peer *p, double now,
		       struct wg_diag_finding *out, size_t n)
{
	struct refusal r[WG_DIAG_CODE_COUNT] = {{0}};
	struct wg_diag_addr ep = wg_diag_addr_of(p->endpoint);

	for (size_t i = 0; i < d->n_rejects; i++) {
		const struct wg_diag_reject *j = &d->rejects[i];
		enum wg_diag_code c = reject_code(j->reason);
		if (c == WG_DIAG_CODE_COUNT || !from_peer(j, &ep) || j->last <= p->last_handshake)
			continue;
		if (j->count >= 0 && r[c].count >= 0)
			r[c].count += j->count;
		else
			r[c].count = -1;
		if (!r[c].source || j->last > r[c].last) {
			r[c].last = j->last;
			r[c].source = j->source;
		}
	}
	for (int c = 0; c < WG_DIAG_CODE_COUNT; c++) {
		char times[40] = "";
		if (!r[c].source)
			continue;
		if (r[c].count > 0)
			snprintf(times, sizeof(times), ", %.0f times", r[c].count);
		add(out, &n, (enum wg_diag_code)c, ago(now, r[c].last), "%s: refused from %s%s",
		    refusal_text[c], r[c].source, times);
	}
	return n;
}

/* Nothing from the peer at all, or nothing since our initiations began
 * going unanswered: what the ICMP errors about its endpoint say. */
static size_t silence(const struct wg_diag_peer *p, double now, struct wg_diag_finding *out,
		      size_t n)
{
	bool never = p->last_receive <= 0, icmp_since = p->last_icmp > p->last_receive;
	bool port = never && p->icmp_port_unreachable > 0;
	bool host = never && p->icmp_host_unreachable > 0;
	enum wg_diag_code c = WG_DIAG_NO_PACKETS_NO_ANSWER;
	double last = ago(now, p->last_initiation_sent);
	const char *why = "no answer at all: a firewall dropping UDP, a wrong endpoint address, "
			  "or the peer is down";
	char prefix[64];

	if (!never && !(p->unanswered_s > 0 && now - p->last_receive >= p->unanswered_s))
		return n;
	port |= icmp_since && !strcmp(p->last_icmp_kind, "port_unreachable");
	host |= icmp_since && !strcmp(p->last_icmp_kind, "host_unreachable");
	if (port || host) {
		c = port ? WG_DIAG_NO_PACKETS_PORT_UNREACHABLE
			 : WG_DIAG_NO_PACKETS_HOST_UNREACHABLE;
		why = port ? "the peer's host answered: nothing listens on that port (wrong port, "
			     "or WireGuard down there)"
			   : "host/network unreachable";
		last = !strcmp(p->last_icmp_kind, port ? "port_unreachable" : "host_unreachable")
			       ? ago(now, p->last_icmp)
			       : -1;
	}
	if (never)
		snprintf(prefix, sizeof(prefix), "never a packet from the peer");
	else
		snprintf(prefix, sizeof(prefix), "no packet from the peer for %.0f s",
			 ago(now, p->last_receive));
	add(out, &n, c, last, "%s: %s", prefix, why);
	return n;
}

/* A working handshake but nothing received since it while we sent. */
static size_t data_path(const struct wg_diag_peer *p, double now, struct wg_diag_finding *out,
			size_t n)
{
	bool fresh = p->last_handshake > 0 && now - p->last_handshake < WG_DIAG_HANDSHAKE_FRESH_S;

	if (p->inner_src_mismatch > 0)
		add(out, &n, WG_DIAG_INNER_SOURCE_OUTSIDE_ALLOWED_IPS, -1,
		    "the peer sends from addresses outside the AllowedIPs we have for it (%.0f "
		    "packets dropped)",
		    p->inner_src_mismatch);
	if (fresh && p->tx_bytes > 0 &&
	    (p->last_data_receive <= 0 || p->last_data_receive < p->last_handshake))
		add(out, &n, WG_DIAG_NO_DATA, ago(now, p->last_handshake),
		    "handshake works but no data: AllowedIPs or routing (nothing received since "
		    "the last handshake while we sent)");
	return n;
}

static size_t all_well(const struct wg_diag_peer *p, double now, struct wg_diag_finding *out)
{
	size_t n = 0;

	if (p->last_receive <= 0 && !p->endpoint[0])
		add(out, &n, WG_DIAG_NO_ENDPOINT, -1,
		    "no endpoint configured and the peer never connected");
	else if (p->last_receive <= 0)
		add(out, &n, WG_DIAG_IDLE, -1,
		    "nothing sent to the peer and nothing received from it yet");
	else if (p->last_handshake > 0)
		add(out, &n, WG_DIAG_OK, ago(now, p->last_receive),
		    "ok: last handshake %.0f s ago, last packet received %.0f s ago",
		    ago(now, p->last_handshake), ago(now, p->last_receive));
	else
		add(out, &n, WG_DIAG_OK, ago(now, p->last_receive),
		    "ok: last packet received %.0f s ago", ago(now, p->last_receive));
	return n;
}

size_t wg_diag_peer_findings(const struct wg_diag_device *d, size_t i, double now,
			     struct wg_diag_finding out[WG_DIAG_MAX_FINDINGS])
{
	const struct wg_diag_peer *p = &d->peers[i];
	bool tried = p->initiations_sent > 0 || p->last_initiation_sent > 0 || p->unanswered_s > 0;
	size_t n = refusals(d, p, now, out, 0);
	/* Nothing left the host since the peer was last heard: not silence. */
	bool refused = p->send_errors > 0 && p->last_send_error > p->last_receive;

	if (refused)
		add(out, &n, WG_DIAG_SEND_FAILED, ago(now, p->last_send_error),
		    "this host refuses to send to the peer: %s (%.0f sends; a route, source "
		    "address or interface is missing: see the log)",
		    p->last_send_error_text[0] ? p->last_send_error_text : "error", p->send_errors);
	else if (!n && p->endpoint[0] && (tried || p->last_receive > 0))
		n = silence(p, now, out, n);
	if (p->unanswered_s > 0)
		add(out, &n, WG_DIAG_UNANSWERED, ago(now, p->last_initiation_sent),
		    "our handshake initiations unanswered for %.0f s", p->unanswered_s);
	n = data_path(p, now, out, n);
	return n ? n : all_well(p, now, out);
}

/* ---- text and JSON ---- */

static void put(struct wg_uapi_writer *w, const char *s)
{
	wg_uapi_put_bytes(w, s, strlen(s));
}

static void putf(struct wg_uapi_writer *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void putf(struct wg_uapi_writer *w, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0)
		wg_uapi_put_bytes(w, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

static const char *device_name(const struct wg_diag_device *d, const char *ifname)
{
	return d->device ? d->device : ifname;
}

static void text_peer(const struct wg_diag_device *d, size_t i, double now,
		      struct wg_uapi_writer *w)
{
	struct wg_diag_finding f[WG_DIAG_MAX_FINDINGS];
	size_t n = wg_diag_peer_findings(d, i, now, f);
	const struct wg_diag_peer *p = &d->peers[i];

	putf(w, "peer: %s\n  endpoint: %s\n  status: %s\n", p->public_key,
	     p->endpoint[0] ? p->endpoint : "(none)", wg_diag_code_name(f[0].code));
	for (size_t j = 0; j < n; j++) {
		putf(w, "  - %s", f[j].message);
		if (f[j].last_ago >= 0 && f[j].code != WG_DIAG_OK)
			putf(w, " (last: %.0f s ago)", f[j].last_ago);
		put(w, "\n");
	}
}

static void text_rejects(const struct wg_diag_device *d, double now, struct wg_uapi_writer *w)
{
	bool first = true;

	for (size_t j = 0; j < d->n_rejects; j++) {
		const struct wg_diag_reject *r = &d->rejects[j];
		if (r->matched)
			continue;
		if (first)
			put(w, "refused handshakes from addresses that are no peer's endpoint (a "
			       "peer behind NAT we have no endpoint for, or a stranger):\n");
		first = false;
		putf(w, "  %s: %s", r->source, r->reason);
		if (r->count >= 0)
			putf(w, ", %.0f times", r->count);
		if (ago(now, r->last) >= 0)
			putf(w, ", last %.0f s ago", ago(now, r->last));
		put(w, "\n");
	}
}

void wg_diag_format_text(const struct wg_diag_device *d, const char *ifname, double now,
			 struct wg_uapi_writer *out)
{
	putf(out, "interface: %s\n", device_name(d, ifname));
	if (!d->n_peers)
		put(out, "  no peers\n");
	for (size_t i = 0; i < d->n_peers && !out->failed; i++)
		text_peer(d, i, now, out);
	text_rejects(d, now, out);
}

/* A JSON string: quotes, backslashes and control characters escaped. */
static void json_str(struct wg_uapi_writer *w, const char *s)
{
	put(w, "\"");
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			putf(w, "\\%c", c);
		else if (c < 0x20)
			putf(w, "\\u%04x", c);
		else
			wg_uapi_put_bytes(w, s, 1);
	}
	put(w, "\"");
}

/* Seconds or counts: whole numbers, null when unknown. */
static void json_num(struct wg_uapi_writer *w, double v)
{
	if (v < 0 || isnan(v) || isinf(v))
		put(w, "null");
	else
		putf(w, "%.0f", v);
}

static void json_peer(const struct wg_diag_device *d, size_t i, double now,
		      struct wg_uapi_writer *w)
{
	struct wg_diag_finding f[WG_DIAG_MAX_FINDINGS];
	size_t n = wg_diag_peer_findings(d, i, now, f);
	const struct wg_diag_peer *p = &d->peers[i];

	put(w, "{\"public_key\":");
	json_str(w, p->public_key);
	put(w, ",\"endpoint\":");
	if (p->endpoint[0])
		json_str(w, p->endpoint);
	else
		put(w, "null");
	putf(w, ",\"status\":\"%s\",\"findings\":[", wg_diag_code_name(f[0].code));
	for (size_t j = 0; j < n; j++) {
		putf(w, "%s{\"code\":\"%s\",\"message\":", j ? "," : "",
		     wg_diag_code_name(f[j].code));
		json_str(w, f[j].message);
		put(w, ",\"last_seconds_ago\":");
		json_num(w, f[j].last_ago);
		put(w, "}");
	}
	put(w, "]}");
}

static void json_rejects(const struct wg_diag_device *d, double now, struct wg_uapi_writer *w)
{
	bool first = true;

	put(w, "\"unmatched_rejects\":[");
	for (size_t j = 0; j < d->n_rejects; j++) {
		const struct wg_diag_reject *r = &d->rejects[j];
		if (r->matched)
			continue;
		put(w, first ? "{\"source\":" : ",{\"source\":");
		first = false;
		json_str(w, r->source);
		put(w, ",\"reason\":");
		json_str(w, r->reason);
		put(w, ",\"count\":");
		json_num(w, r->count);
		put(w, ",\"last_seconds_ago\":");
		json_num(w, ago(now, r->last));
		put(w, "}");
	}
	put(w, "]");
}

void wg_diag_format_json(const struct wg_diag_device *d, const char *ifname, double now,
			 struct wg_uapi_writer *out)
{
	put(out, "{\"device\":");
	json_str(out, device_name(d, ifname));
	put(out, ",\"peers\":[");
	for (size_t i = 0; i < d->n_peers && !out->failed; i++) {
		if (i)
			put(out, ",");
		json_peer(d, i, now, out);
	}
	put(out, "],");
	json_rejects(d, now, out);
	put(out, "}\n");
}

/* ---- I/O ---- */

#define LINE_MAX_BYTES (1u << 20) /* a longer line is not an exposition */

/* Called for each exposition line (no newline); nonzero stops the read. */
typedef int (*line_fn)(void *ctx, const char *line, size_t len);

/* The reply as it arrives: exposition lines, then "errno=N", then the
 * empty line. */
struct reply {
	line_fn fn;
	void *ctx;
	bool got_errno, done;
	int err;      /* the daemon's N (sign dropped: get-style replies are positive) */
	size_t lines; /* exposition lines passed on */
};

/* -EPROTO for text that is no reply, the callback's nonzero, or 0. */
static int reply_line(struct reply *r, const char *line, size_t len)
{
	char num[8];
	char *end;
	long n;

	if (r->got_errno) {
		r->done = len == 0;
		return r->done ? 0 : -EPROTO;
	}
	if (len > 6 && !memcmp(line, "errno=", 6)) {
		if (len - 6 >= sizeof(num))
			return -EPROTO;
		memcpy(num, line + 6, len - 6);
		num[len - 6] = '\0';
		n = strtol(num, &end, 10);
		if (*end)
			return -EPROTO;
		r->got_errno = true;
		r->err = (int)(n < 0 ? -n : n);
		return 0;
	}
	if (!len)
		return -EPROTO; /* the exposition has no empty line */
	r->lines++;
	return r->fn(r->ctx, line, len);
}

/* Splits buf[0..*len) into lines for reply_line, keeping a partial last
 * line at the front of buf. */
static int reply_lines(struct reply *r, char *buf, size_t *len)
{
	size_t start = 0;
	char *nl;
	int ret = 0;

	while (!r->done && (nl = memchr(buf + start, '\n', *len - start))) {
		ret = reply_line(r, buf + start, (size_t)(nl - buf - start));
		if (ret)
			return ret;
		start = (size_t)(nl - buf) + 1;
	}
	memmove(buf, buf + start, *len - start);
	*len -= start;
	return *len >= LINE_MAX_BYTES ? -EPROTO : 0;
}

static int read_reply(int fd, struct reply *r)
{
	size_t len = 0, cap = 65536;
	char *buf = malloc(cap);
	int ret = buf ? 0 : -ENOMEM;

	while (!ret && !r->done) {
		ssize_t n;
		if (cap - len < 16384) {
			char *b = realloc(buf, cap * 2);
			if (!b) {
				ret = -ENOMEM;
				break;
			}
			buf = b;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = n < 0 ? -errno : -ECONNRESET;
			break;
		}
		len += (size_t)n;
		ret = reply_lines(r, buf, &len);
	}
	free(buf);
	return ret;
}

/* Asks for the exposition and hands its lines to fn. 0, or 1 after
 * printing why. */
static int fetch_metrics(const char *cmd, const char *ifname, line_fn fn, void *ctx)
{
	static const char req[] = "wgd_metrics=1\n\n";
	struct reply r = {.fn = fn, .ctx = ctx};
	int fd = wg_ctl_connect(cmd, ifname), ret;

	if (fd < 0)
		return 1;
	ret = wg_ctl_send_all(fd, req, sizeof(req) - 1);
	if (!ret)
		ret = read_reply(fd, &r);
	close(fd);
	if (ret == -ECONNRESET && r.lines)
		fprintf(stderr, "wgd %s: %s: the daemon closed the connection mid-reply\n", cmd,
			ifname);
	else if (ret == -EPROTO || ret == -ECONNRESET)
		fprintf(stderr,
			"wgd %s: %s: %s (is the daemon a wgd with metrics? wireguard-go and "
			"older wgd do not answer this request)\n",
			cmd, ifname,
			ret == -EPROTO ? "malformed reply" : "the daemon closed the connection");
	else if (ret > 0)
		return 1; /* the callback said why */
	else if (ret)
		fprintf(stderr, "wgd %s: %s: %s\n", cmd, ifname, strerror(-ret));
	else if (r.err)
		fprintf(stderr, "wgd %s: %s: the daemon refused the request: %s%s\n", cmd, ifname,
			strerror(r.err),
			r.err == EINVAL ? " (a wgd without metrics, or wireguard-go?)" : "");
	return ret || r.err ? 1 : 0;
}

static int print_line(void *ctx, const char *line, size_t len)
{
	(void)ctx;
	if (fwrite(line, 1, len, stdout) != len || putchar('\n') == EOF) {
		fprintf(stderr, "wgd metrics: cannot write the output: %s\n", strerror(errno));
		return 1;
	}
	return 0;
}

struct parse_ctx {
	struct wg_diag_device dev;
	const char *ifname;
};

static int parse_line(void *arg, const char *line, size_t len)
{
	struct parse_ctx *c = arg;
	char err[WG_DIAG_ERR_LEN];
	int ret = wg_diag_feed_line(&c->dev, line, len, err, sizeof(err));

	if (ret)
		fprintf(stderr, "wgd diagnose: %s: %s%s\n", c->ifname,
			ret == -EPROTO ? "malformed exposition: " : "",
			ret == -EPROTO ? err : strerror(-ret));
	return ret ? 1 : 0;
}

/* 0, or 1 after printing why. */
static int write_out(const struct wg_uapi_writer *out)
{
	if (out->failed) {
		fprintf(stderr, "wgd diagnose: %s\n", strerror(ENOMEM));
		return 1;
	}
	if (fwrite(out->buf, 1, out->len, stdout) != out->len || fflush(stdout)) {
		fprintf(stderr, "wgd diagnose: cannot write the output: %s\n", strerror(errno));
		return 1;
	}
	return 0;
}

static int run_diagnose(const char *ifname, bool json)
{
	struct parse_ctx c = {.ifname = ifname};
	struct wg_uapi_writer out;
	double now;
	int ret;

	wg_diag_init(&c.dev);
	wg_uapi_writer_init(&out);
	ret = fetch_metrics("diagnose", ifname, parse_line, &c);
	if (!ret) {
		wg_diag_finish(&c.dev);
		now = (double)time(NULL);
		if (json)
			wg_diag_format_json(&c.dev, ifname, now, &out);
		else
			wg_diag_format_text(&c.dev, ifname, now, &out);
		ret = write_out(&out);
	}
	wg_uapi_writer_free(&out);
	wg_diag_free(&c.dev);
	return ret;
}

int wg_diag_main(int argc, char **argv)
{
	const char *cmd = argv[0], *name = NULL;
	char ifname[WG_IFNAMSIZ];
	bool json = false, diagnose = !strcmp(cmd, "diagnose");

	signal(SIGPIPE, SIG_IGN); /* a daemon gone mid-request: EPIPE, not death */
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(USAGE, stdout);
			return 0;
		}
		if (diagnose && !strcmp(argv[i], "--json"))
			json = true;
		else if (!name)
			name = argv[i];
		else
			return wg_ctl_usage(cmd, USAGE, "unexpected argument '%s'", argv[i]);
	}
	if (!name)
		return wg_ctl_usage(cmd, USAGE, "missing INTERFACE");
	if (!wg_ctl_valid_ifname(name))
		return wg_ctl_usage(cmd, USAGE, "invalid interface name '%s'", name);
	wg_ctl_resolve_ifname(name, ifname);
	if (diagnose)
		return run_diagnose(ifname, json);
	if (fetch_metrics(cmd, ifname, print_line, NULL))
		return 1;
	if (fflush(stdout)) {
		fprintf(stderr, "wgd metrics: cannot write the output: %s\n", strerror(errno));
		return 1;
	}
	return 0;
}
