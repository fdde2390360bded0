/* The UAPI text protocol without a device: the incremental request reader
 * (wg_uapi_reader_*) fed in fuzzer-sized chunks under a small budget (its
 * accounting must balance), each complete set's change set checked, the
 * text path wg_control_handle with fake get/set operations on the raw
 * input, and the set parser on the raw body. Every parsed change set is checked (families,
 * prefix lengths, masked host bits) and must survive a round trip: written
 * back as UAPI text it parses to the same change set.
 *
 * Input: byte 0 chooses the chunk size for framing (low 4 bits) and, with
 * its high 4 bits all set, feeds the rest 8 times (so lines and requests
 * can outgrow the limits); the rest is the stream (and, once, a set body). */
#include <arpa/inet.h>
#include <errno.h>

#include "common.h"
#include "wgd/control.h"
#include "wgd/uapi.h"

static void put_hex(struct wg_uapi_writer *w, const char *key, const uint8_t *k)
{
	wg_uapi_put_key(w, key, k);
}

static void write_peer(struct wg_uapi_writer *w, const struct wg_uapi_peer *p)
{
	put_hex(w, "public_key", p->public_key);
	if (p->remove) {
		wg_uapi_put_str(w, "remove", "true");
		return;
	}
	if (p->update_only)
		wg_uapi_put_str(w, "update_only", "true");
	if (p->has_preshared_key)
		put_hex(w, "preshared_key", p->preshared_key);
	if (p->has_endpoint)
		wg_uapi_put_endpoint(w, "endpoint", &p->endpoint);
	if (p->has_keepalive)
		wg_uapi_put_u64(w, "persistent_keepalive_interval", p->keepalive);
	if (p->replace_allowed_ips)
		wg_uapi_put_str(w, "replace_allowed_ips", "true");
	for (size_t i = 0; i < p->n_aips; i++) {
		const struct wg_uapi_aip *a = &p->aips[i];
		char ip[INET6_ADDRSTRLEN], text[INET6_ADDRSTRLEN + 8];
		FUZZ_CHECK(inet_ntop(a->family, a->addr, ip, sizeof(ip)));
		snprintf(text, sizeof(text), "%s%s/%u", a->remove ? "-" : "", ip, a->cidr);
		wg_uapi_put_str(w, "allowed_ip", text);
	}
}

/* The change set as a set body. */
static void write_set(struct wg_uapi_writer *w, const struct wg_uapi_set *s)
{
	if (s->has_private_key)
		put_hex(w, "private_key", s->private_key);
	if (s->has_listen_port)
		wg_uapi_put_u64(w, "listen_port", s->listen_port);
	if (s->has_fwmark)
		wg_uapi_put_u64(w, "fwmark", s->fwmark);
	if (s->replace_peers)
		wg_uapi_put_str(w, "replace_peers", "true");
	for (size_t i = 0; i < s->n_peers; i++)
		write_peer(w, &s->peers[i]);
}

static void check_aip(const struct wg_uapi_aip *a)
{
	size_t alen = a->family == AF_INET ? 4 : 16;

	FUZZ_CHECK(a->family == AF_INET || a->family == AF_INET6);
	FUZZ_CHECK(a->cidr <= alen * 8);
	for (size_t bit = a->cidr; bit < alen * 8; bit++)
		FUZZ_CHECK(!(a->addr[bit / 8] & (0x80 >> (bit % 8))));
	for (size_t i = alen; i < 16; i++)
		FUZZ_CHECK(a->addr[i] == 0);
}

static void check_peer(const struct wg_uapi_peer *p)
{
	FUZZ_CHECK(p->n_aips <= p->cap_aips);
	if (p->remove)
		FUZZ_CHECK(!p->n_aips && !p->has_endpoint && !p->has_preshared_key &&
			   !p->has_keepalive && !p->update_only && !p->replace_allowed_ips);
	if (p->has_endpoint)
		FUZZ_CHECK(p->endpoint.sa.sa_family == AF_INET ||
			   p->endpoint.sa.sa_family == AF_INET6);
	for (size_t i = 0; i < p->n_aips; i++)
		check_aip(&p->aips[i]);
}

static bool same_aip(const struct wg_uapi_aip *a, const struct wg_uapi_aip *b)
{
	return a->family == b->family && a->cidr == b->cidr && a->remove == b->remove &&
	       !memcmp(a->addr, b->addr, sizeof(a->addr));
}

static bool same_peer(const struct wg_uapi_peer *a, const struct wg_uapi_peer *b)
{
	if (memcmp(a->public_key, b->public_key, WG_KEY_LEN) || a->remove != b->remove ||
	    a->update_only != b->update_only || a->replace_allowed_ips != b->replace_allowed_ips ||
	    a->has_preshared_key != b->has_preshared_key || a->has_endpoint != b->has_endpoint ||
	    a->has_keepalive != b->has_keepalive || a->n_aips != b->n_aips)
		return false;
	if (a->has_preshared_key && memcmp(a->preshared_key, b->preshared_key, WG_KEY_LEN))
		return false;
	if (a->has_endpoint && !wg_sockaddr_equal(&a->endpoint, &b->endpoint))
		return false;
	if (a->has_keepalive && a->keepalive != b->keepalive)
		return false;
	for (size_t i = 0; i < a->n_aips; i++)
		if (!same_aip(&a->aips[i], &b->aips[i]))
			return false;
	return true;
}

static bool same_set(const struct wg_uapi_set *a, const struct wg_uapi_set *b)
{
	if (a->has_private_key != b->has_private_key || a->has_listen_port != b->has_listen_port ||
	    a->has_fwmark != b->has_fwmark || a->replace_peers != b->replace_peers ||
	    a->n_peers != b->n_peers)
		return false;
	if (a->has_private_key && memcmp(a->private_key, b->private_key, WG_KEY_LEN))
		return false;
	if ((a->has_listen_port && a->listen_port != b->listen_port) ||
	    (a->has_fwmark && a->fwmark != b->fwmark))
		return false;
	for (size_t i = 0; i < a->n_peers; i++)
		if (!same_peer(&a->peers[i], &b->peers[i]))
			return false;
	return true;
}

static void check_set(const struct wg_uapi_set *s)
{
	struct wg_uapi_writer w;
	struct wg_uapi_set again;

	FUZZ_CHECK(s->n_peers <= s->cap_peers);
	for (size_t i = 0; i < s->n_peers; i++)
		check_peer(&s->peers[i]);
	wg_uapi_writer_init(&w);
	write_set(&w, s);
	FUZZ_CHECK(!w.failed);
	FUZZ_CHECK(wg_uapi_parse_set(w.buf ? w.buf : "", w.len, &again) == 0);
	FUZZ_CHECK(same_set(s, &again));
	wg_uapi_set_free(&again);
	wg_uapi_writer_free(&w);
}

static int fake_get(struct wg_device *dev, struct wg_uapi_writer *w, void **cursor)
{
	(void)cursor; /* the whole reply at once: nothing to stream */
	static const uint8_t key[WG_KEY_LEN] = {1, 2, 3};

	wg_uapi_put_key(w, "private_key", key);
	wg_uapi_put_u64(w, "listen_port", 51820);
	return 0;
}

static int fake_set(struct wg_device *dev, const struct wg_uapi_set *set)
{
	check_set(set);
	return 0;
}

static void check_parse(const uint8_t *data, size_t size)
{
	/* Exact-size copy: reads past the body are caught. */
	char *body = malloc(size ? size : 1);
	struct wg_uapi_set set;
	int ret;

	if (!body)
		abort();
	memcpy(body, data, size);
	ret = wg_uapi_parse_set(body, size, &set);
	FUZZ_CHECK(ret == 0 || ret == -EPROTO || ret == -EINVAL || ret == -EPROTONOSUPPORT ||
		   ret == -EMSGSIZE || ret == -ENOMEM);
	if (ret == 0) {
		check_set(&set);
		wg_uapi_set_free(&set);
	} else {
		/* On error the change set is freed and zeroed. */
		FUZZ_CHECK(!set.peers && !set.n_peers);
	}
	free(body);
}

static void check_reply(const struct wg_uapi_writer *out)
{
	/* Every reply ends in "errno=N\n\n". */
	FUZZ_CHECK(out->len >= 9 && out->buf[out->len - 1] == '\n' &&
		   out->buf[out->len - 2] == '\n');
}

/* Budget for the reader: small enough that long inputs hit it. */
#define FUZZ_BUDGET 2048

/* Feeds one chunk; every request it completes is checked. Returns < 0 once
 * the reader gave up on the stream. */
static int feed(struct wg_uapi_reader *r, const struct wg_uapi_budget *b, const char *data,
		size_t len)
{
	struct wg_uapi_set set;
	size_t off = 0, used;
	int op, err;

	while (off < len) {
		op = wg_uapi_reader_feed(r, data + off, len - off, &used, &err, &set);
		FUZZ_CHECK(used <= len - off);
		FUZZ_CHECK(b->used <= b->limit);
		off += used;
		if (op == WG_UAPI_NONE) {
			FUZZ_CHECK(off == len);
			break;
		}
		if (op < 0) {
			FUZZ_CHECK(op == -EINVAL || op == -EMSGSIZE || op == -ENOMEM);
			FUZZ_CHECK(b->used == 0);
			return op;
		}
		FUZZ_CHECK(op == WG_UAPI_GET || op == WG_UAPI_SET || op == WG_UAPI_METRICS);
		FUZZ_CHECK(err == 0 || err == -EPROTO || err == -EINVAL ||
			   err == -EPROTONOSUPPORT || err == -ENOBUFS || err == -ENOMEM);
		FUZZ_CHECK(op == WG_UAPI_SET || err == 0 || err == -EINVAL);
		if (op == WG_UAPI_SET && !err) {
			FUZZ_CHECK(b->used == set.charged);
			check_set(&set);
		} else {
			FUZZ_CHECK(!set.peers && !set.n_peers);
		}
		wg_uapi_set_free(&set);
		FUZZ_CHECK(b->used == 0); /* between requests nothing is charged */
	}
	return 0;
}

/* The whole input through the text path: framing as the server did before
 * the incremental reader, to keep wg_control_handle fuzzed. */
static void serve_text(const uint8_t *data, size_t size)
{
	static const struct wg_control_ops ops = {.get_begin = fake_get, .set = fake_set};
	const char *s = (const char *)data, *end = s + size, *p, *body;
	struct wg_uapi_writer out;
	int op;

	while (s < end) {
		for (p = s; p < end && !(*p == '\n' && (p == s || p[-1] == '\n')); p++)
			;
		if (p == end)
			return;
		body = memchr(s, '\n', (size_t)(p - s) + 1);
		op = -EINVAL;
		if (body - s == 5 && !memcmp(s, "get=1", 5))
			op = WG_UAPI_GET;
		else if (body - s == 5 && !memcmp(s, "set=1", 5))
			op = WG_UAPI_SET;
		wg_uapi_writer_init(&out);
		if (body < p)
			wg_control_handle(&ops, op, body + 1, (size_t)(p - body - 1), &out);
		else
			wg_control_handle(&ops, op, "", 0, &out);
		check_reply(&out);
		wg_uapi_writer_free(&out);
		if (op < 0)
			return;
		s = p + 1;
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_common_init();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wg_uapi_budget budget = {.limit = FUZZ_BUDGET};
	struct wg_uapi_reader r;
	size_t chunk, off;
	int repeat;

	if (size < 1)
		return 0;
	fuzz_rng_seed(1);
	chunk = 1 + (size_t)(data[0] & 0x0f) * 17;
	repeat = (data[0] & 0xf0) == 0xf0 ? 8 : 1; /* rarely: costs time */
	data++;
	size--;
	check_parse(data, size);
	serve_text(data, size);
	wg_uapi_reader_init(&r, &budget);
	for (int i = 0; i < repeat; i++) {
		for (off = 0; off < size; off += chunk) {
			size_t n = size - off < chunk ? size - off : chunk;
			if (feed(&r, &budget, (const char *)data + off, n) < 0)
				goto out;
		}
	}
out:
	wg_uapi_reader_free(&r);
	FUZZ_CHECK(budget.used == 0);
	return 0;
}
