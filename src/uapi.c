/* The cross-platform UAPI text protocol: set requests become a validated
 * change set, get replies are written as key=value lines, and requests are
 * framed on a byte stream. No sockets and no device here. */
#include "wgd/uapi.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wgd/crypto.h"

#define HEX_KEY_LEN (2 * WG_KEY_LEN)

/* ---- memory that may hold keys: never leave a copy behind ---- */

static void *secure_grow(void *old, size_t old_size, size_t new_size)
{
	void *p = calloc(1, new_size);

	if (!p)
		return NULL;
	if (old) {
		memcpy(p, old, old_size);
		wg_memzero(old, old_size);
		free(old);
	}
	return p;
}

/* Buffers holding keys (get replies, the change set's peers) are
 * sodium_malloc'd: locked, out of core dumps, and zeroed by
 * sodium_free. Few and short-lived, so the pages per block do not matter;
 * the 16-byte rounding keeps libsodium's block aligned. */
static void *locked_grow(void *old, size_t old_size, size_t new_size)
{
	void *p;

	if (new_size > SIZE_MAX - 16 || wg_crypto_init() < 0) /* sodium_malloc needs init */
		return NULL;
	p = sodium_malloc((new_size + 15) & ~(size_t)15);
	if (!p)
		return NULL;
	memset(p, 0, new_size);
	if (old) {
		memcpy(p, old, old_size);
		sodium_free(old);
	}
	return p;
}

/* The change set's arrays are charged to its budget before they are
 * allocated, so a budget is never overrun, not even while an array grows
 * (old and new block both count until the old one is freed). */
static int charge(struct wg_uapi_set *set, size_t n)
{
	struct wg_uapi_budget *b = set->budget;

	if (b && (b->used > b->limit || n > b->limit - b->used))
		return -ENOBUFS;
	if (b)
		b->used += n;
	set->charged += n;
	return 0;
}

static void uncharge(struct wg_uapi_set *set, size_t n)
{
	if (set->budget)
		set->budget->used -= n;
	set->charged -= n;
}

/* Room for one more element of size elem in *arr (n used, *cap allocated),
 * in locked memory if it will hold keys. */
static int reserve(struct wg_uapi_set *set, void **arr, size_t n, size_t *cap, size_t elem,
		   bool locked)
{
	size_t new_cap;
	void *p;

	if (n < *cap)
		return 0;
	new_cap = *cap ? *cap * 2 : 4;
	if (new_cap > SIZE_MAX / elem)
		return -ENOMEM;
	if (charge(set, new_cap * elem))
		return -ENOBUFS;
	p = (locked ? locked_grow : secure_grow)(*arr, *cap * elem, new_cap * elem);
	if (!p) {
		uncharge(set, new_cap * elem);
		return -ENOMEM;
	}
	uncharge(set, *cap * elem);
	*arr = p;
	*cap = new_cap;
	return 0;
}

/* ---- value parsers ---- */

/* Decimal 0..max, digits only (no sign, space or empty string). */
static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	unsigned long v = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(*s - '0');
		if (v > max)
			return -EINVAL;
	}
	*out = v;
	return 0;
}

/* One hex digit; bit 8 set if c is not one. Masks, not branches, so the
 * timing does not depend on the (secret) key characters. */
static unsigned int hex_val(unsigned char c)
{
	int d = c - '0';
	int l = (c | 0x20) - 'a';
	unsigned int is_d = (unsigned int)(~d & (d - 10)) >> 31;
	unsigned int is_l = (unsigned int)(~l & (l - 6)) >> 31;

	return ((0u - is_d) & (unsigned int)d) | ((0u - is_l) & (unsigned int)(l + 10)) |
	       ((1u ^ (is_d | is_l)) << 8);
}

/* Exactly 64 hex digits, either case. */
static int parse_key(uint8_t key[WG_KEY_LEN], const char *s)
{
	unsigned int bad = 0, hi, lo;
	size_t i;

	if (strlen(s) != HEX_KEY_LEN)
		return -EINVAL;
	for (i = 0; i < WG_KEY_LEN; i++) {
		hi = hex_val((unsigned char)s[2 * i]);
		lo = hex_val((unsigned char)s[2 * i + 1]);
		bad |= hi | lo;
		key[i] = (uint8_t)((hi << 4) | (lo & 0xf));
	}
	if (bad & 0x100) {
		wg_memzero(key, WG_KEY_LEN);
		return -EINVAL;
	}
	return 0;
}

static int parse_true(const char *s)
{
	return strcmp(s, "true") ? -EINVAL : 0;
}

static void mask_prefix(uint8_t *addr, size_t len, unsigned int cidr)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (cidr >= 8)
			cidr -= 8;
		else {
			addr[i] &= (uint8_t)(0xff00u >> cidr);
			cidr = 0;
		}
	}
}

/* "addr/cidr"; the cidr has no sign and no leading zero. */
static int parse_prefix(struct wg_uapi_aip *aip, const char *s)
{
	char ip[INET6_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	unsigned long cidr;
	size_t n;

	if (!slash || (slash[1] == '0' && slash[2]))
		return -EINVAL;
	n = (size_t)(slash - s);
	if (!n || n >= sizeof(ip))
		return -EINVAL;
	memcpy(ip, s, n);
	ip[n] = '\0';
	memset(aip->addr, 0, sizeof(aip->addr));
	if (inet_pton(AF_INET, ip, aip->addr) == 1)
		aip->family = AF_INET;
	else if (inet_pton(AF_INET6, ip, aip->addr) == 1)
		aip->family = AF_INET6;
	else
		return -EINVAL;
	if (parse_uint(slash + 1, aip->family == AF_INET ? 32 : 128, &cidr))
		return -EINVAL;
	aip->cidr = (uint8_t)cidr;
	mask_prefix(aip->addr, aip->family == AF_INET ? 4 : 16, aip->cidr);
	return 0;
}

/* ---- device keys ---- */

static int dev_private_key(struct wg_uapi_set *set, const char *v)
{
	if (parse_key(set->private_key, v))
		return -EINVAL;
	set->has_private_key = true;
	return 0;
}

static int dev_listen_port(struct wg_uapi_set *set, const char *v)
{
	unsigned long port;

	if (parse_uint(v, UINT16_MAX, &port))
		return -EINVAL;
	set->listen_port = (uint16_t)port;
	set->has_listen_port = true;
	return 0;
}

static int dev_fwmark(struct wg_uapi_set *set, const char *v)
{
	unsigned long mark;

	if (parse_uint(v, UINT32_MAX, &mark))
		return -EINVAL;
	set->fwmark = (uint32_t)mark;
	set->has_fwmark = true;
	return 0;
}

static int dev_replace_peers(struct wg_uapi_set *set, const char *v)
{
	if (parse_true(v))
		return -EINVAL;
	set->replace_peers = true;
	return 0;
}

/* wgd extension: the addresses the device listens on and sends from. */
static int dev_wgd_bind(struct wg_uapi_set *set, const char *v)
{
	if (wg_addr_pair_parse(&set->bind, v))
		return -EINVAL;
	set->has_bind = true;
	return 0;
}

static const struct {
	const char *key;
	int (*parse)(struct wg_uapi_set *set, const char *value);
} device_keys[] = {
	{"private_key", dev_private_key}, {"listen_port", dev_listen_port},
	{"fwmark", dev_fwmark},		  {"replace_peers", dev_replace_peers},
	{"wgd_bind", dev_wgd_bind},
};

/* ---- peer keys ---- */

static void peer_clear(struct wg_uapi_set *set, struct wg_uapi_peer *p)
{
	uncharge(set, p->cap_aips * sizeof(*p->aips));
	free(p->aips);
	if (p->ext)
		uncharge(set, sizeof(*p->ext));
	free(p->ext);
	wg_memzero(p, sizeof(*p));
}

static int peer_remove(struct wg_uapi_set *set, struct wg_uapi_peer *p, const char *v)
{
	uint8_t pub[WG_KEY_LEN];

	if (parse_true(v))
		return -EINVAL;
	/* Everything set before in this entry would be undone by the removal. */
	memcpy(pub, p->public_key, WG_KEY_LEN);
	peer_clear(set, p);
	memcpy(p->public_key, pub, WG_KEY_LEN);
	p->remove = true;
	return 0;
}

static int peer_update_only(struct wg_uapi_set *set, struct wg_uapi_peer *p, const char *v)
{
	if (parse_true(v))
		return -EINVAL;
	p->update_only = true;
	return 0;
}

static int peer_preshared_key(struct wg_uapi_set *set, struct wg_uapi_peer *p, const char *v)
{
	if (parse_key(p->preshared_key, v))
		return -EINVAL;
	p->has_preshared_key = true;
	return 0;
}

static int peer_endpoint(struct wg_uapi_set *set, struct wg_uapi_peer *p, const char *v)
{
	if (wg_sockaddr_parse(&p->endpoint, v))
		return -EINVAL;
	p->has_endpoint = true;
	return 0;
}

static int peer_keepalive(struct wg_uapi_set *set, struct wg_uapi_peer *p, const char *v)
{
	unsigned long secs;

	if (parse_uint(v, UINT16_MAX, &secs))
		return -EINVAL;
	p->keepalive = (uint16_t)secs;
	p->has_keepalive = true;
	return 0;
}

static int peer_replace_aips(struct wg_uapi_set *set, struct wg_uapi_peer *p, const char *v)
{
	if (parse_true(v))
		return -EINVAL;
	/* Replacing happens at this point of the request: earlier lines go. */
	p->n_aips = 0;
	p->replace_allowed_ips = true;
	return 0;
}

static int peer_allowed_ip(struct wg_uapi_set *set, struct wg_uapi_peer *p, const char *v)
{
	struct wg_uapi_aip aip = {0};
	int ret;

	if (v[0] == '-') {
		aip.remove = true;
		v++;
	}
	if (parse_prefix(&aip, v))
		return -EINVAL;
	ret = reserve(set, (void **)&p->aips, p->n_aips, &p->cap_aips, sizeof(aip), false);
	if (ret)
		return ret;
	p->aips[p->n_aips++] = aip;
	return 0;
}

static int peer_protocol_version(struct wg_uapi_set *set, struct wg_uapi_peer *p, const char *v)
{
	return strcmp(v, "1") ? -EPROTONOSUPPORT : 0;
}

/* The section's extension fields, made on its first wgd_ key. */
static int peer_ext(struct wg_uapi_set *set, struct wg_uapi_peer *p)
{
	if (p->ext)
		return 0;
	if (charge(set, sizeof(*p->ext)))
		return -ENOBUFS;
	p->ext = calloc(1, sizeof(*p->ext));
	if (!p->ext) {
		uncharge(set, sizeof(*p->ext));
		return -ENOMEM;
	}
	return 0;
}

/* wgd extensions: where packets to this peer leave from. */
static int peer_wgd_source(struct wg_uapi_set *set, struct wg_uapi_peer *p, const char *v)
{
	struct wg_addr_pair pair;
	int ret;

	if (wg_addr_pair_parse(&pair, v))
		return -EINVAL;
	if ((ret = peer_ext(set, p)))
		return ret;
	p->ext->source = pair;
	p->ext->has_source = true;
	return 0;
}

/* An interface name as the systems accept it: 1-15 bytes, no '/', no
 * space or control character, not "." or ".."; and no '=', which Linux
 * allows but a get line must not hold (wgctrl-go splits lines on every
 * '='). "none" clears. */
static int peer_wgd_egress(struct wg_uapi_set *set, struct wg_uapi_peer *p, const char *v)
{
	size_t n = strcmp(v, "none") ? strlen(v) : 0;
	int ret;

	if ((n == 0 && strcmp(v, "none")) || n >= WG_IFNAMSIZ || !strcmp(v, ".") ||
	    !strcmp(v, ".."))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (v[i] == '/' || v[i] == '=' || (unsigned char)v[i] <= ' ' || v[i] == 0x7f)
			return -EINVAL;
	if ((ret = peer_ext(set, p)))
		return ret;
	memcpy(p->ext->egress, v, n);
	p->ext->egress[n] = '\0';
	p->ext->has_egress = true;
	return 0;
}

static const struct {
	const char *key;
	int (*parse)(struct wg_uapi_set *set, struct wg_uapi_peer *p, const char *value);
} peer_keys[] = {
	{"remove", peer_remove},
	{"update_only", peer_update_only},
	{"preshared_key", peer_preshared_key},
	{"endpoint", peer_endpoint},
	{"persistent_keepalive_interval", peer_keepalive},
	{"replace_allowed_ips", peer_replace_aips},
	{"allowed_ip", peer_allowed_ip},
	{"protocol_version", peer_protocol_version},
	{"wgd_source", peer_wgd_source},
	{"wgd_egress", peer_wgd_egress},
};

/* ---- set request ---- */

static int device_line(struct wg_uapi_set *set, const char *key, const char *value)
{
	size_t i;

	for (i = 0; i < sizeof(device_keys) / sizeof(device_keys[0]); i++)
		if (!strcmp(key, device_keys[i].key))
			return device_keys[i].parse(set, value);
	return -EINVAL;
}

/* After remove=true the entry keeps only the removal; later lines are still
 * validated, on a scratch entry that is then dropped. */
static int peer_line(struct wg_uapi_set *set, struct wg_uapi_peer *p, const char *key,
		     const char *value)
{
	struct wg_uapi_peer scratch = {0};
	struct wg_uapi_peer *target = p->remove ? &scratch : p;
	int ret = -EINVAL;
	size_t i;

	for (i = 0; i < sizeof(peer_keys) / sizeof(peer_keys[0]); i++)
		if (!strcmp(key, peer_keys[i].key)) {
			ret = peer_keys[i].parse(set, target, value);
			break;
		}
	peer_clear(set, &scratch);
	return ret;
}

static int public_key_line(struct wg_uapi_set *set, const char *value)
{
	struct wg_uapi_peer *p;
	int ret =
		reserve(set, (void **)&set->peers, set->n_peers, &set->cap_peers, sizeof(*p), true);

	if (ret)
		return ret;
	p = &set->peers[set->n_peers];
	memset(p, 0, sizeof(*p));
	if (parse_key(p->public_key, value))
		return -EINVAL;
	set->n_peers++;
	return 0;
}

/* One line of a set body: text, n bytes, no '\n'. */
static int set_line(struct wg_uapi_set *set, const char *text, size_t n)
{
	char line[WG_UAPI_MAX_LINE + 1];
	char *value;
	int ret;

	if (n > WG_UAPI_MAX_LINE)
		return -EMSGSIZE;
	if (!n)
		return -EPROTO;
	if (memchr(text, '\0', n))
		return -EINVAL;
	memcpy(line, text, n);
	line[n] = '\0';
	value = strchr(line, '=');
	if (!value)
		ret = -EPROTO;
	else {
		*value++ = '\0';
		if (!strcmp(line, "public_key"))
			ret = public_key_line(set, value);
		else if (!set->n_peers)
			ret = device_line(set, line, value);
		else
			ret = peer_line(set, &set->peers[set->n_peers - 1], line, value);
	}
	wg_memzero(line, n + 1);
	return ret;
}

int wg_uapi_parse_set(const char *body, size_t len, struct wg_uapi_set *out)
{
	const char *nl;
	size_t off = 0, n;
	int ret = 0;

	memset(out, 0, sizeof(*out));
	while (off < len && !ret) {
		nl = memchr(body + off, '\n', len - off);
		n = nl ? (size_t)(nl - (body + off)) : len - off;
		ret = set_line(out, body + off, n);
		off += n + 1;
	}
	if (ret)
		wg_uapi_set_free(out);
	return ret;
}

void wg_uapi_set_free(struct wg_uapi_set *set)
{
	size_t i;

	for (i = 0; i < set->n_peers; i++) {
		free(set->peers[i].aips);
		free(set->peers[i].ext);
	}
	sodium_free(set->peers); /* zeroes the PSKs */
	if (set->budget)
		set->budget->used -= set->charged;
	wg_memzero(set, sizeof(*set));
}

/* ---- request framing ---- */

void wg_uapi_reader_init(struct wg_uapi_reader *r, struct wg_uapi_budget *budget)
{
	memset(r, 0, sizeof(*r));
	r->budget = budget;
}

/* Back to a request boundary; the line buffer goes too (between requests a
 * connection holds nothing). */
static void reader_reset(struct wg_uapi_reader *r)
{
	wg_uapi_set_free(&r->set);
	if (r->line) {
		wg_memzero(r->line, r->line_cap);
		free(r->line);
	}
	r->line = NULL;
	r->line_len = r->line_cap = 0;
	r->op = WG_UAPI_NONE;
	r->err = 0;
	r->size = 0;
}

void wg_uapi_reader_free(struct wg_uapi_reader *r)
{
	reader_reset(r);
}

bool wg_uapi_reader_busy(const struct wg_uapi_reader *r)
{
	return r->op != WG_UAPI_NONE || r->line_len;
}

int wg_uapi_reader_error(const struct wg_uapi_reader *r)
{
	return r->err;
}

/* Keeps the start of a line that has not ended yet (the caller checked
 * that it stays within WG_UAPI_MAX_LINE). */
static int line_append(struct wg_uapi_reader *r, const char *data, size_t n)
{
	size_t cap;
	char *p;

	if (n > r->line_cap - r->line_len) {
		for (cap = r->line_cap ? r->line_cap : 128; cap - r->line_len < n; cap *= 2)
			;
		p = secure_grow(r->line, r->line_len, cap);
		if (!p)
			return -ENOMEM;
		r->line = p; /* the old block was wiped: past line_len it was zero */
		r->line_cap = cap;
	}
	memcpy(r->line + r->line_len, data, n);
	r->line_len += n;
	return 0;
}

static int first_line_op(const char *text, size_t n)
{
	if (n == 5 && !memcmp(text, "get=1", 5))
		return WG_UAPI_GET;
	if (n == 5 && !memcmp(text, "set=1", 5))
		return WG_UAPI_SET;
	if (n == 13 && !memcmp(text, "wgd_metrics=1", 13))
		return WG_UAPI_METRICS;
	return -EINVAL;
}

/* One complete line. Returns WG_UAPI_NONE, or at the empty line that ends
 * a request its op (-EINVAL: unknown). After the first error in a body the
 * rest of the request is only skipped. */
static int reader_line(struct wg_uapi_reader *r, const char *text, size_t n)
{
	if (r->op == WG_UAPI_NONE) {
		if (!n)
			return -EINVAL;
		r->op = first_line_op(text, n);
		memset(&r->set, 0, sizeof(r->set));
		r->set.budget = r->budget;
		return WG_UAPI_NONE;
	}
	if (!n)
		return r->op;
	if (r->err)
		return WG_UAPI_NONE;
	if (r->op == WG_UAPI_GET || r->op == WG_UAPI_METRICS)
		r->err = -EINVAL;
	else if (r->op == WG_UAPI_SET)
		r->err = set_line(&r->set, text, n);
	if (r->err)
		wg_uapi_set_free(&r->set); /* releases the budget now, not at the end */
	return WG_UAPI_NONE;
}

/* Hands a finished request over and starts the next. */
static int reader_finish(struct wg_uapi_reader *r, int op, int *err, struct wg_uapi_set *set)
{
	if (op > 0) {
		*err = r->err;
		if (op == WG_UAPI_SET && !r->err) {
			*set = r->set;
			memset(&r->set, 0, sizeof(r->set));
		}
	}
	reader_reset(r);
	return op;
}

int wg_uapi_reader_feed(struct wg_uapi_reader *r, const char *data, size_t len, size_t *used,
			int *err, struct wg_uapi_set *set)
{
	const char *nl;
	size_t off = 0, n;
	int ret = WG_UAPI_NONE;

	*err = 0;
	memset(set, 0, sizeof(*set));
	while (off < len && ret == WG_UAPI_NONE) {
		nl = memchr(data + off, '\n', len - off);
		n = nl ? (size_t)(nl - (data + off)) : len - off;
		if (n > WG_UAPI_MAX_LINE - r->line_len || n >= WG_UAPI_MAX_REQUEST - r->size) {
			ret = -EMSGSIZE;
			break;
		}
		r->size += n + (nl != NULL);
		if (!nl || r->line_len)
			ret = line_append(r, data + off, n);
		off += n + (nl != NULL);
		if (!nl || ret)
			break;
		if (r->line_len) {
			ret = reader_line(r, r->line, r->line_len);
			wg_memzero(r->line, r->line_len);
			r->line_len = 0;
		} else {
			ret = reader_line(r, data + off - n - 1, n);
		}
	}
	*used = off;
	return ret == WG_UAPI_NONE ? ret : reader_finish(r, ret, err, set);
}

/* ---- get replies ---- */

void wg_uapi_writer_init(struct wg_uapi_writer *w)
{
	memset(w, 0, sizeof(*w));
}

void wg_uapi_writer_free(struct wg_uapi_writer *w)
{
	sodium_free(w->buf); /* zeroes */
	memset(w, 0, sizeof(*w));
}

static void put_raw(struct wg_uapi_writer *w, const char *s, size_t n)
{
	size_t cap;
	char *p;

	if (w->failed)
		return;
	if (n > w->cap - w->len) {
		for (cap = w->cap ? w->cap : 1024; cap - w->len < n; cap *= 2)
			;
		p = locked_grow(w->buf, w->len, cap);
		if (!p) {
			w->failed = true;
			return;
		}
		w->buf = p;
		w->cap = cap;
	}
	memcpy(w->buf + w->len, s, n);
	w->len += n;
}

void wg_uapi_put_bytes(struct wg_uapi_writer *w, const void *data, size_t len)
{
	put_raw(w, data, len);
}

/* "key=value\n" in one append. A get of 100,000 peers writes a million
 * such lines, so no stdio formatting on this path. */
static void put_line(struct wg_uapi_writer *w, const char *key, const char *value, size_t vlen)
{
	char line[128];
	size_t klen = strlen(key);

	if (klen + vlen + 2 > sizeof(line)) {
		put_raw(w, key, klen);
		put_raw(w, "=", 1);
		put_raw(w, value, vlen);
		put_raw(w, "\n", 1);
		return;
	}
	memcpy(line, key, klen);
	line[klen] = '=';
	memcpy(line + klen + 1, value, vlen);
	line[klen + 1 + vlen] = '\n';
	put_raw(w, line, klen + vlen + 2);
	wg_memzero(line, sizeof(line)); /* it may have held a key */
}

void wg_uapi_put_str(struct wg_uapi_writer *w, const char *key, const char *value)
{
	put_line(w, key, value, strlen(value));
}

/* Decimal digits of v into out (room for 20); returns their count. */
static size_t format_u64(char *out, uint64_t v)
{
	char rev[20];
	size_t n = 0;

	do {
		rev[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (size_t i = 0; i < n; i++)
		out[i] = rev[n - 1 - i];
	return n;
}

void wg_uapi_put_u64(struct wg_uapi_writer *w, const char *key, uint64_t value)
{
	char num[20];

	put_line(w, key, num, format_u64(num, value));
}

void wg_uapi_put_dec(struct wg_uapi_writer *w, uint64_t value)
{
	char num[20];

	wg_uapi_put_bytes(w, num, format_u64(num, value));
}

void wg_uapi_put_key(struct wg_uapi_writer *w, const char *key, const uint8_t k[WG_KEY_LEN])
{
	static const char digits[] = "0123456789abcdef";
	char hex[HEX_KEY_LEN + 1];
	size_t i;

	for (i = 0; i < WG_KEY_LEN; i++) {
		hex[2 * i] = digits[k[i] >> 4];
		hex[2 * i + 1] = digits[k[i] & 0xf];
	}
	put_line(w, key, hex, HEX_KEY_LEN);
	wg_memzero(hex, sizeof(hex));
}

void wg_uapi_put_endpoint(struct wg_uapi_writer *w, const char *key, const union wg_sockaddr *a)
{
	char text[WG_SOCKADDR_STRLEN];

	if (a->sa.sa_family != AF_INET && a->sa.sa_family != AF_INET6)
		return;
	wg_uapi_put_str(w, key, wg_sockaddr_format(a, text, sizeof(text)));
}

void wg_uapi_put_aip(struct wg_uapi_writer *w, int family, const uint8_t *addr, uint8_t cidr)
{
	char text[INET6_ADDRSTRLEN + 8];
	size_t n;

	if (!inet_ntop(family, addr, text, INET6_ADDRSTRLEN))
		return;
	n = strlen(text);
	text[n++] = '/';
	n += format_u64(text + n, cidr);
	put_line(w, "allowed_ip", text, n);
}

void wg_uapi_put_errno(struct wg_uapi_writer *w, int err)
{
	char text[32];
	int n = snprintf(text, sizeof(text), "errno=%d\n\n", err);

	put_raw(w, text, (size_t)n);
}
