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

/* Buffers holding keys (request text, get replies, the change set's
 * peers) are sodium_malloc'd: locked, out of core dumps, and zeroed by
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

/* Room for one more element of size elem in *arr (n used, *cap allocated),
 * in locked memory if it will hold keys. */
static int reserve(void **arr, size_t n, size_t *cap, size_t elem, bool locked)
{
	size_t new_cap;
	void *p;

	if (n < *cap)
		return 0;
	new_cap = *cap ? *cap * 2 : 4;
	if (new_cap > SIZE_MAX / elem)
		return -ENOMEM;
	p = (locked ? locked_grow : secure_grow)(*arr, *cap * elem, new_cap * elem);
	if (!p)
		return -ENOMEM;
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

static const struct {
	const char *key;
	int (*parse)(struct wg_uapi_set *set, const char *value);
} device_keys[] = {
	{"private_key", dev_private_key},
	{"listen_port", dev_listen_port},
	{"fwmark", dev_fwmark},
	{"replace_peers", dev_replace_peers},
};

/* ---- peer keys ---- */

static void peer_clear(struct wg_uapi_peer *p)
{
	free(p->aips);
	wg_memzero(p, sizeof(*p));
}

static int peer_remove(struct wg_uapi_peer *p, const char *v)
{
	uint8_t pub[WG_KEY_LEN];

	if (parse_true(v))
		return -EINVAL;
	/* Everything set before in this entry would be undone by the removal. */
	memcpy(pub, p->public_key, WG_KEY_LEN);
	peer_clear(p);
	memcpy(p->public_key, pub, WG_KEY_LEN);
	p->remove = true;
	return 0;
}

static int peer_update_only(struct wg_uapi_peer *p, const char *v)
{
	if (parse_true(v))
		return -EINVAL;
	p->update_only = true;
	return 0;
}

static int peer_preshared_key(struct wg_uapi_peer *p, const char *v)
{
	if (parse_key(p->preshared_key, v))
		return -EINVAL;
	p->has_preshared_key = true;
	return 0;
}

static int peer_endpoint(struct wg_uapi_peer *p, const char *v)
{
	if (wg_sockaddr_parse(&p->endpoint, v))
		return -EINVAL;
	p->has_endpoint = true;
	return 0;
}

static int peer_keepalive(struct wg_uapi_peer *p, const char *v)
{
	unsigned long secs;

	if (parse_uint(v, UINT16_MAX, &secs))
		return -EINVAL;
	p->keepalive = (uint16_t)secs;
	p->has_keepalive = true;
	return 0;
}

static int peer_replace_aips(struct wg_uapi_peer *p, const char *v)
{
	if (parse_true(v))
		return -EINVAL;
	/* Replacing happens at this point of the request: earlier lines go. */
	p->n_aips = 0;
	p->replace_allowed_ips = true;
	return 0;
}

static int peer_allowed_ip(struct wg_uapi_peer *p, const char *v)
{
	struct wg_uapi_aip aip = {0};

	if (v[0] == '-') {
		aip.remove = true;
		v++;
	}
	if (parse_prefix(&aip, v))
		return -EINVAL;
	if (reserve((void **)&p->aips, p->n_aips, &p->cap_aips, sizeof(aip), false))
		return -ENOMEM;
	p->aips[p->n_aips++] = aip;
	return 0;
}

static int peer_protocol_version(struct wg_uapi_peer *p, const char *v)
{
	return strcmp(v, "1") ? -EPROTONOSUPPORT : 0;
}

static const struct {
	const char *key;
	int (*parse)(struct wg_uapi_peer *p, const char *value);
} peer_keys[] = {
	{"remove", peer_remove},
	{"update_only", peer_update_only},
	{"preshared_key", peer_preshared_key},
	{"endpoint", peer_endpoint},
	{"persistent_keepalive_interval", peer_keepalive},
	{"replace_allowed_ips", peer_replace_aips},
	{"allowed_ip", peer_allowed_ip},
	{"protocol_version", peer_protocol_version},
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
static int peer_line(struct wg_uapi_peer *p, const char *key, const char *value)
{
	struct wg_uapi_peer scratch = {0};
	struct wg_uapi_peer *target = p->remove ? &scratch : p;
	int ret = -EINVAL;
	size_t i;

	for (i = 0; i < sizeof(peer_keys) / sizeof(peer_keys[0]); i++)
		if (!strcmp(key, peer_keys[i].key)) {
			ret = peer_keys[i].parse(target, value);
			break;
		}
	peer_clear(&scratch);
	return ret;
}

static int public_key_line(struct wg_uapi_set *set, const char *value)
{
	struct wg_uapi_peer *p;

	if (reserve((void **)&set->peers, set->n_peers, &set->cap_peers, sizeof(*p), true))
		return -ENOMEM;
	p = &set->peers[set->n_peers];
	memset(p, 0, sizeof(*p));
	if (parse_key(p->public_key, value))
		return -EINVAL;
	set->n_peers++;
	return 0;
}

/* line is NUL-terminated scratch space of WG_UAPI_MAX_LINE + 1 bytes. */
static int set_line(struct wg_uapi_set *set, const char *text, size_t n, char *line)
{
	char *value;

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
		return -EPROTO;
	*value++ = '\0';
	if (!strcmp(line, "public_key"))
		return public_key_line(set, value);
	if (!set->n_peers)
		return device_line(set, line, value);
	return peer_line(&set->peers[set->n_peers - 1], line, value);
}

int wg_uapi_parse_set(const char *body, size_t len, struct wg_uapi_set *out)
{
	char line[WG_UAPI_MAX_LINE + 1];
	const char *nl;
	size_t off = 0, n;
	int ret = 0;

	memset(out, 0, sizeof(*out));
	while (off < len && !ret) {
		nl = memchr(body + off, '\n', len - off);
		n = nl ? (size_t)(nl - (body + off)) : len - off;
		ret = set_line(out, body + off, n, line);
		off += n + 1;
	}
	wg_memzero(line, sizeof(line));
	if (ret)
		wg_uapi_set_free(out);
	return ret;
}

void wg_uapi_set_free(struct wg_uapi_set *set)
{
	size_t i;

	for (i = 0; i < set->n_peers; i++)
		free(set->peers[i].aips);
	sodium_free(set->peers); /* zeroes the PSKs */
	wg_memzero(set, sizeof(*set));
}

/* ---- request framing ---- */

void wg_uapi_reader_init(struct wg_uapi_reader *r)
{
	memset(r, 0, sizeof(*r));
}

void wg_uapi_reader_free(struct wg_uapi_reader *r)
{
	sodium_free(r->buf); /* zeroes */
	memset(r, 0, sizeof(*r));
}

/* Tracks the open line and request across feeds to enforce the limits
 * before the data is buffered. */
static int reader_account(struct wg_uapi_reader *r, const char *data, size_t len)
{
	const char *nl;
	size_t n;

	while (len) {
		nl = memchr(data, '\n', len);
		n = nl ? (size_t)(nl - data) : len;
		r->line_len += n;
		r->tail += n;
		if (r->line_len > WG_UAPI_MAX_LINE || r->tail > WG_UAPI_MAX_REQUEST)
			return -EMSGSIZE;
		if (!nl)
			break;
		/* an empty line closes the request */
		r->tail = r->line_len ? r->tail + 1 : 0;
		r->line_len = 0;
		data += n + 1;
		len -= n + 1;
	}
	return 0;
}

int wg_uapi_reader_feed(struct wg_uapi_reader *r, const char *data, size_t len)
{
	size_t cap;
	char *p;

	if (reader_account(r, data, len))
		return -EMSGSIZE;
	if (len > r->cap - r->len) {
		for (cap = r->cap ? r->cap : 256; cap - r->len < len; cap *= 2)
			;
		p = locked_grow(r->buf, r->len, cap);
		if (!p)
			return -ENOMEM;
		r->buf = p;
		r->cap = cap;
	}
	memcpy(r->buf + r->len, data, len);
	r->len += len;
	return 0;
}

/* Drops the request returned by the previous call. */
static void reader_consume(struct wg_uapi_reader *r)
{
	if (!r->done)
		return;
	memmove(r->buf, r->buf + r->done, r->len - r->done);
	wg_memzero(r->buf + r->len - r->done, r->done);
	r->len -= r->done;
	r->scanned = 0;
	r->done = 0;
	if (!r->len && r->cap > 65536) {
		sodium_free(r->buf);
		r->buf = NULL;
		r->cap = 0;
	}
}

/* Offset of the '\n' that forms the empty line ending the first request. */
static bool reader_find_end(struct wg_uapi_reader *r, size_t *end)
{
	size_t i;

	for (i = r->scanned; i < r->len; i++)
		if (r->buf[i] == '\n' && (i == 0 || r->buf[i - 1] == '\n')) {
			*end = i;
			return true;
		}
	r->scanned = r->len;
	return false;
}

int wg_uapi_reader_next(struct wg_uapi_reader *r, const char **body, size_t *body_len)
{
	const char *nl;
	size_t end, first;

	reader_consume(r);
	if (!reader_find_end(r, &end))
		return WG_UAPI_NONE;
	r->done = end + 1;
	if (end == 0)
		return -EINVAL;
	nl = memchr(r->buf, '\n', end);
	first = (size_t)(nl - r->buf);
	*body = nl + 1;
	*body_len = end - first - 1;
	if (first == 5 && !memcmp(r->buf, "get=1", 5))
		return WG_UAPI_GET;
	if (first == 5 && !memcmp(r->buf, "set=1", 5))
		return WG_UAPI_SET;
	return -EINVAL;
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
