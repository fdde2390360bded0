/* `wgd set` / `wgd show`: a small UAPI client for wgd's extension keys.
 * The request and the printed text are built by pure functions (tested in
 * tests/unit/test_ctl.c); only wg_ctl_main and its helpers do I/O. */
#include "ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <sodium.h>

#include "wgd/addr.h"
#include "wgd/crypto.h"
#include "wgd/log.h"
#include "wgd/platform/uapi_sock.h"

#define USAGE                                                                                      \
	"Usage: wgd set INTERFACE [bind ADDRS] [peer KEY [source ADDRS] [egress IFNAME]]...\n"     \
	"       wgd show INTERFACE\n"                                                              \
	"ADDRS: ADDR or IPv4,IPv6 (numeric), or none; IFNAME or none (see wgd --help)\n"

#define B64_KEY_LEN 44 /* base64 of 32 bytes, one '=' of padding */
#define HEX_KEY_LEN 64

bool wg_ctl_valid_ifname(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= WG_IFNAMSIZ || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (; *s; s++)
		if (*s == '/' || *s == ':' || *s == '=' || (unsigned char)*s <= ' ' || *s == 0x7f)
			return false;
	return true;
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* Exactly the 44 characters wg(8) prints; libsodium also refuses padding
 * bits that are not zero, so each key has one spelling. */
static bool key_from_base64(uint8_t out[WG_KEY_LEN], const char *s)
{
	size_t len = 0;
	const char *end = NULL;

	if (strlen(s) != B64_KEY_LEN)
		return false;
	return !sodium_base642bin(out, WG_KEY_LEN, s, B64_KEY_LEN, NULL, &len, &end,
				  sodium_base64_VARIANT_ORIGINAL) &&
	       len == WG_KEY_LEN && end == s + B64_KEY_LEN;
}

static bool key_from_hex(uint8_t out[WG_KEY_LEN], const char *hex, size_t n)
{
	size_t len = 0;
	const char *end = NULL;

	return n == HEX_KEY_LEN && !sodium_hex2bin(out, WG_KEY_LEN, hex, n, NULL, &len, &end) &&
	       len == WG_KEY_LEN && end == hex + n;
}

static int add_peer(struct wg_ctl_request *r, const uint8_t key[WG_KEY_LEN])
{
	struct wg_ctl_peer *p = realloc(r->peers, (r->n_peers + 1) * sizeof(*p));

	if (!p)
		return -ENOMEM;
	r->peers = p;
	p += r->n_peers++;
	memset(p, 0, sizeof(*p));
	memcpy(p->key, key, WG_KEY_LEN);
	return 0;
}

/* "bind"/"source" value: one address per family, numeric, or "none".
 * Sent in the normalised form, so what goes out is what was checked. */
static int put_pair(struct wg_ctl_request *r, const char *word, const char *key, const char *v,
		    char *err, size_t errlen)
{
	struct wg_ctl_peer *peer = r->n_peers ? &r->peers[r->n_peers - 1] : NULL;
	struct wg_addr_pair pair;
	char text[WG_ADDR_PAIR_STRLEN];

	if (wg_addr_pair_parse(&pair, v))
		return fail(err, errlen,
			    "invalid %s '%s' (ADDR or ADDR,ADDR: at most one IPv4 and one "
			    "IPv6 address, numeric; or none)",
			    word, v);
	wg_uapi_put_str(&r->text, key, wg_addr_pair_format(&pair, text, sizeof(text)));
	if (peer) { /* put_arg allows bind before the first peer only */
		peer->has_source = true;
		peer->source = pair;
	} else {
		r->has_bind = true;
		r->bind = pair;
	}
	return 0;
}

static int put_peer(struct wg_ctl_request *r, const char *v, char *err, size_t errlen)
{
	uint8_t key[WG_KEY_LEN];

	if (!key_from_base64(key, v))
		return fail(err, errlen, "invalid public key '%s' (44 characters of base64)", v);
	wg_uapi_put_key(&r->text, "public_key", key);
	wg_uapi_put_str(&r->text, "update_only", "true");
	return add_peer(r, key);
}

static int put_egress(struct wg_ctl_request *r, const char *v, char *err, size_t errlen)
{
	if (strcmp(v, "none") && !wg_ctl_valid_ifname(v))
		return fail(err, errlen,
			    "invalid egress interface '%s' (1-15 characters, no '/', ':' or "
			    "spaces; or none)",
			    v);
	wg_uapi_put_str(&r->text, "wgd_egress", v);
	r->has_egress |= strcmp(v, "none") != 0;
	return 0;
}

/* One "WORD VALUE" of the command line. */
static int put_arg(struct wg_ctl_request *r, const char *word, const char *v, char *err,
		   size_t errlen)
{
	bool peer_word = !strcmp(word, "source") || !strcmp(word, "egress");

	if (!strcmp(word, "bind") && r->n_peers)
		return fail(err, errlen, "'bind' must come before the first 'peer'");
	if (peer_word && !r->n_peers)
		return fail(err, errlen, "'%s' must follow a 'peer KEY'", word);
	if (!strcmp(word, "bind"))
		return put_pair(r, "bind address", "wgd_bind", v, err, errlen);
	if (!strcmp(word, "source"))
		return put_pair(r, "source address", "wgd_source", v, err, errlen);
	if (!strcmp(word, "egress"))
		return put_egress(r, v, err, errlen);
	return put_peer(r, v, err, errlen);
}

static bool known_word(const char *w)
{
	return !strcmp(w, "bind") || !strcmp(w, "peer") || !strcmp(w, "source") ||
	       !strcmp(w, "egress");
}

int wg_ctl_build_set(int argc, char *const *args, struct wg_ctl_request *out, char *err,
		     size_t errlen)
{
	int ret;

	memset(out, 0, sizeof(*out));
	wg_uapi_writer_init(&out->text);
	err[0] = '\0';
	wg_uapi_put_str(&out->text, "set", "1");
	for (int i = 0; i < argc; i += 2) {
		if (!known_word(args[i]))
			return fail(err, errlen, "unknown argument '%s'", args[i]);
		if (i + 1 >= argc)
			return fail(err, errlen, "'%s' needs a value", args[i]);
		ret = put_arg(out, args[i], args[i + 1], err, errlen);
		if (ret)
			return ret;
	}
	wg_uapi_put_bytes(&out->text, "\n", 1);
	return out->text.failed ? -ENOMEM : 0;
}

void wg_ctl_request_free(struct wg_ctl_request *r)
{
	wg_uapi_writer_free(&r->text);
	free(r->peers);
	r->peers = NULL;
	r->n_peers = 0;
}

/* One line of a reply: key and value (val NULL: the line has no '='). */
struct line {
	const char *key, *val;
	size_t klen, vlen;
};

/* Steps *pos over the next line; false at the empty line or the end. */
static bool next_line(const char **pos, struct line *l)
{
	const char *s = *pos, *nl, *eq;

	if (!*s || *s == '\n')
		return false;
	nl = strchr(s, '\n');
	if (!nl)
		nl = s + strlen(s);
	*pos = *nl ? nl + 1 : nl;
	eq = memchr(s, '=', (size_t)(nl - s));
	l->key = s;
	l->klen = eq ? (size_t)(eq - s) : (size_t)(nl - s);
	l->val = eq ? eq + 1 : NULL;
	l->vlen = eq ? (size_t)(nl - eq - 1) : 0;
	return true;
}

static bool is_key(const struct line *l, const char *key)
{
	return l->klen == strlen(key) && !memcmp(l->key, key, l->klen);
}

/* "N" or "-N", at most 4 digits (errno values are small). */
static int parse_errno(const struct line *l, int *out)
{
	size_t i = l->vlen && l->val[0] == '-' ? 1 : 0;
	int n = 0;

	if (!l->val || i == l->vlen || l->vlen - i > 4)
		return -EPROTO;
	for (; i < l->vlen; i++) {
		if (l->val[i] < '0' || l->val[i] > '9')
			return -EPROTO;
		n = n * 10 + (l->val[i] - '0');
	}
	*out = n;
	return 0;
}

int wg_ctl_reply_errno(const char *reply, int *out)
{
	struct line l;

	while (next_line(&reply, &l))
		if (is_key(&l, "errno"))
			return parse_errno(&l, out);
	return -EPROTO;
}

bool wg_ctl_reply_has_peer(const char *reply, const uint8_t key[WG_KEY_LEN])
{
	uint8_t k[WG_KEY_LEN];
	struct line l;

	while (next_line(&reply, &l))
		if (is_key(&l, "public_key") && key_from_hex(k, l.val, l.vlen) &&
		    !memcmp(k, key, WG_KEY_LEN))
			return true;
	return false;
}

/* The device's wgd_bind in a get reply (unset when absent or bad). */
static struct wg_addr_pair reply_bind(const char *reply)
{
	struct wg_addr_pair bind = {.has_v4 = false};
	char v[WG_ADDR_PAIR_STRLEN];
	struct line l;

	while (next_line(&reply, &l) && !is_key(&l, "public_key"))
		if (is_key(&l, "wgd_bind") && l.val && l.vlen < sizeof(v)) {
			memcpy(v, l.val, l.vlen);
			v[l.vlen] = '\0';
			wg_addr_pair_parse(&bind, v);
		}
	return bind;
}

/* Whether the request gives the peer of key a source. */
static bool request_gives_source(const struct wg_ctl_request *r, const uint8_t *key)
{
	for (size_t i = 0; i < r->n_peers; i++)
		if (r->peers[i].has_source && !memcmp(r->peers[i].key, key, WG_KEY_LEN))
			return true;
	return false;
}

/* A new bind address and a peer of the reply keeping a source it rules
 * out (the daemon refuses that too). */
static int check_kept_sources(const struct wg_ctl_request *r, const char *reply, char *err,
			      size_t errlen)
{
	char v[WG_ADDR_PAIR_STRLEN], b64[B64_KEY_LEN + 1], b[WG_ADDR_PAIR_STRLEN];
	struct wg_addr_pair src;
	uint8_t k[WG_KEY_LEN];
	bool have = false;
	struct line l;

	while (next_line(&reply, &l)) {
		if (is_key(&l, "public_key"))
			have = key_from_hex(k, l.val, l.vlen);
		if (!have || !is_key(&l, "wgd_source") || !l.val || l.vlen >= sizeof(v))
			continue;
		memcpy(v, l.val, l.vlen);
		v[l.vlen] = '\0';
		if (wg_addr_pair_parse(&src, v) || !wg_addr_pair_contradicts(&src, &r->bind) ||
		    request_gives_source(r, k))
			continue;
		wg_key_to_base64(b64, k);
		return fail(err, errlen,
			    "peer %s has source %s, which the bind address %s rules out: give it "
			    "'source none' (or that address) in the same command",
			    b64, v, wg_addr_pair_format(&r->bind, b, sizeof(b)));
	}
	return 0;
}

int wg_ctl_check_sources(const struct wg_ctl_request *r, const char *reply, char *err,
			 size_t errlen)
{
	struct wg_addr_pair bind = r->has_bind ? r->bind : reply_bind(reply);
	char b64[B64_KEY_LEN + 1], a[WG_ADDR_PAIR_STRLEN], b[WG_ADDR_PAIR_STRLEN];

	if (r->has_bind && check_kept_sources(r, reply, err, errlen))
		return -EINVAL;
	for (size_t i = 0; i < r->n_peers; i++) {
		const struct wg_ctl_peer *p = &r->peers[i];
		if (!p->has_source || !wg_addr_pair_contradicts(&p->source, &bind))
			continue;
		wg_key_to_base64(b64, p->key);
		return fail(err, errlen,
			    "peer %s: source %s differs from the bind address %s: a bound "
			    "address family sends from its bind address only",
			    b64, wg_addr_pair_format(&p->source, a, sizeof(a)),
			    wg_addr_pair_format(&bind, b, sizeof(b)));
	}
	return 0;
}

static void put_text(struct wg_uapi_writer *w, const char *s)
{
	wg_uapi_put_bytes(w, s, strlen(s));
}

/* "  label: value\n" */
static void put_field(struct wg_uapi_writer *w, const char *label, const struct line *l)
{
	put_text(w, "  ");
	put_text(w, label);
	put_text(w, ": ");
	wg_uapi_put_bytes(w, l->val, l->vlen);
	put_text(w, "\n");
}

static int show_peer(struct wg_uapi_writer *w, const struct line *l, char *err, size_t errlen)
{
	uint8_t key[WG_KEY_LEN];
	char b64[B64_KEY_LEN + 1];

	if (!key_from_hex(key, l->val, l->vlen)) {
		fail(err, errlen, "malformed public_key in the reply");
		return -EPROTO;
	}
	wg_key_to_base64(b64, key);
	put_text(w, "peer: ");
	put_text(w, b64);
	put_text(w, "\n");
	return 0;
}

/* One key=value line of the reply; in_peer: a public_key came before. */
static int show_line(struct wg_uapi_writer *w, const struct line *l, bool *in_peer, char *err,
		     size_t errlen)
{
	if (!l->val) {
		fail(err, errlen, "malformed line in the reply (no '=')");
		return -EPROTO;
	}
	if (is_key(l, "public_key")) {
		*in_peer = true;
		return show_peer(w, l, err, errlen);
	}
	if (!*in_peer && is_key(l, "wgd_bind"))
		put_field(w, "bind", l);
	else if (*in_peer && is_key(l, "endpoint"))
		put_field(w, "endpoint", l);
	else if (*in_peer && is_key(l, "wgd_source"))
		put_field(w, "source", l);
	else if (*in_peer && is_key(l, "wgd_egress"))
		put_field(w, "egress", l);
	return 0;
}

int wg_ctl_format_show(const char *ifname, const char *reply, struct wg_uapi_writer *out, char *err,
		       size_t errlen)
{
	bool in_peer = false;
	struct line l;
	int ret, n;

	err[0] = '\0';
	put_text(out, "interface: ");
	put_text(out, ifname);
	put_text(out, "\n");
	while (next_line(&reply, &l)) {
		if (is_key(&l, "errno")) {
			if (parse_errno(&l, &n)) {
				fail(err, errlen, "malformed errno line in the reply");
				return -EPROTO;
			}
			if (n)
				return n < 0 ? n : -n;
			return out->failed ? -ENOMEM : 0;
		}
		ret = show_line(out, &l, &in_peer, err, errlen);
		if (ret)
			return ret;
	}
	fail(err, errlen, "the reply ends without an errno line");
	return -EPROTO;
}

bool wg_ctl_name_file_parse(const char *text, size_t len, char out[WG_IFNAMSIZ])
{
	char name[WG_IFNAMSIZ];
	const char *nl = memchr(text, '\n', len);
	size_t n = nl ? (size_t)(nl - text) : len;

	if (n >= sizeof(name) || (nl && (size_t)(nl - text) + 1 != len))
		return false;
	memcpy(name, text, n);
	name[n] = '\0';
	if (strlen(name) != n || !wg_ctl_valid_ifname(name))
		return false;
	memcpy(out, name, n + 1);
	return true;
}

/* ---- I/O: one connection per request, as wg(8) does ---- */

/* The interface whose socket to use: the name given, or, when it has no
 * socket but wg-quick left WG_UAPI_DIR/NAME.name (macOS: wg0 -> utun4;
 * its hooks substitute %i with wg0), the name in that file. */
void wg_ctl_resolve_ifname(const char *arg, char out[WG_IFNAMSIZ])
{
	char path[WG_UAPI_PATH_MAX + 8], text[WG_IFNAMSIZ + 1];
	ssize_t n = -1;
	int fd;

	snprintf(out, WG_IFNAMSIZ, "%s", arg);
	snprintf(path, sizeof(path), "%s/%s.sock", WG_UAPI_DIR, arg);
	if (!access(path, F_OK))
		return;
	snprintf(path, sizeof(path), "%s/%s.name", WG_UAPI_DIR, arg);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return;
	n = read(fd, text, sizeof(text));
	close(fd);
	if (n > 0)
		wg_ctl_name_file_parse(text, (size_t)n, out);
}

int wg_ctl_connect(const char *cmd, const char *ifname)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, e;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s.sock", WG_UAPI_DIR, ifname);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		e = errno;
		fprintf(stderr, "wgd %s: cannot connect to %s: %s%s\n", cmd, sa.sun_path,
			strerror(e),
			e == ENOENT || e == ECONNREFUSED ? " (is wgd running for it?)" : "");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

int wg_ctl_send_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads up to and including the reply's empty line into w, NUL-terminated
 * (the NUL not counted in w->len). */
static int recv_reply(int fd, struct wg_uapi_writer *w)
{
	char chunk[4096];
	size_t from = 0;

	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EPROTO;
		wg_uapi_put_bytes(w, chunk, (size_t)n);
		wg_memzero(chunk, sizeof(chunk)); /* a get carries the private key */
		if (w->failed)
			return -ENOMEM;
		for (; from + 1 < w->len; from++)
			if (w->buf[from] == '\n' && w->buf[from + 1] == '\n') {
				w->len = from + 2;
				wg_uapi_put_bytes(w, "", 1);
				w->len--;
				return w->failed ? -ENOMEM : 0;
			}
	}
}

/* Sends req and reads the reply into reply. Prints why on failure. */
static int transact(const char *cmd, const char *ifname, const struct wg_uapi_writer *req,
		    struct wg_uapi_writer *reply)
{
	int fd = wg_ctl_connect(cmd, ifname), ret;

	if (fd < 0)
		return -1;
	ret = wg_ctl_send_all(fd, req->buf, req->len);
	if (!ret)
		ret = recv_reply(fd, reply);
	close(fd);
	if (ret)
		fprintf(stderr, "wgd %s: %s: %s\n", cmd, ifname,
			ret == -EPROTO ? "the daemon closed the connection mid-reply"
				       : strerror(-ret));
	return ret ? -1 : 0;
}

/* A get reply (which holds the private key) into reply, errno checked. */
static int get_device(const char *cmd, const char *ifname, struct wg_uapi_writer *reply)
{
	struct wg_uapi_writer req;
	int ret;

	wg_uapi_writer_init(&req);
	put_text(&req, "get=1\n\n");
	ret = req.failed ? -1 : transact(cmd, ifname, &req, reply);
	wg_uapi_writer_free(&req);
	return ret;
}

int wg_ctl_usage(const char *cmd, const char *usage_text, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "wgd %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n%s", usage_text);
	return 1;
}

/* Every named peer must exist, and every source agree with the bind
 * address, before anything is changed: update_only would skip a mistyped
 * key silently, the daemon would say only "Invalid argument", and a
 * PostUp should fail whole. */
static int check_peers(const char *ifname, const struct wg_ctl_request *r)
{
	struct wg_uapi_writer reply;
	char b64[B64_KEY_LEN + 1], err[WG_CTL_ERR_LEN];
	int ret = 0, n = 0;

	wg_uapi_writer_init(&reply);
	if (get_device("set", ifname, &reply))
		ret = 1;
	else if (wg_ctl_reply_errno(reply.buf, &n) || n) {
		fprintf(stderr, "wgd set: %s: reading the peers: %s\n", ifname,
			n ? strerror(n) : "malformed reply");
		ret = 1;
	}
	for (size_t i = 0; ret != 1 && i < r->n_peers; i++)
		if (!wg_ctl_reply_has_peer(reply.buf, r->peers[i].key)) {
			wg_key_to_base64(b64, r->peers[i].key);
			fprintf(stderr, "wgd set: %s has no peer %s\n", ifname, b64);
			ret = 2; /* go on: name every unknown peer */
		}
	if (!ret && wg_ctl_check_sources(r, reply.buf, err, sizeof(err))) {
		fprintf(stderr, "wgd set: %s\n", err);
		ret = 2;
	}
	wg_uapi_writer_free(&reply);
	if (ret == 2)
		fprintf(stderr, "wgd set: nothing was changed\n");
	return ret ? 1 : 0;
}

/* What the daemon's errno most likely means for this request. */
static const char *set_hint(int n, const struct wg_ctl_request *r)
{
	if (n == EOPNOTSUPP && r->has_egress)
		return " (egress interfaces: Linux only)";
	if (n == EADDRNOTAVAIL && r->has_bind)
		return " (this system binds only to addresses it has)";
	if (n == EADDRINUSE && r->has_bind)
		return " (the port is taken on that address)";
	return "";
}

/* Sends the request and reads its errno. 0 or 1 (printed). */
static int send_set(const char *ifname, const struct wg_ctl_request *r)
{
	struct wg_uapi_writer reply;
	int ret, n = 0;

	wg_uapi_writer_init(&reply);
	ret = transact("set", ifname, &r->text, &reply) ? 1 : 0;
	if (!ret && (wg_ctl_reply_errno(reply.buf, &n) || n)) {
		fprintf(stderr, "wgd set: %s%s\n", n ? strerror(n) : "malformed reply",
			set_hint(n, r));
		ret = 1;
	}
	wg_uapi_writer_free(&reply);
	return ret;
}

static int run_set(int argc, char **argv)
{
	struct wg_ctl_request r;
	char err[WG_CTL_ERR_LEN], ifname[WG_IFNAMSIZ];
	int ret;

	if (argc < 2)
		return wg_ctl_usage("set", USAGE, "missing INTERFACE");
	if (!wg_ctl_valid_ifname(argv[1]))
		return wg_ctl_usage("set", USAGE, "invalid interface name '%s'", argv[1]);
	ret = wg_ctl_build_set(argc - 2, argv + 2, &r, err, sizeof(err));
	if (ret) {
		wg_ctl_request_free(&r);
		return ret == -EINVAL ? wg_ctl_usage("set", USAGE, "%s", err)
				      : wg_ctl_usage("set", USAGE, "%s", strerror(-ret));
	}
	wg_ctl_resolve_ifname(argv[1], ifname);
	ret = r.n_peers || r.has_bind ? check_peers(ifname, &r) : 0;
	if (!ret)
		ret = send_set(ifname, &r);
	wg_ctl_request_free(&r);
	return ret;
}

static int run_show(int argc, char **argv)
{
	struct wg_uapi_writer reply, out;
	char err[WG_CTL_ERR_LEN], ifname[WG_IFNAMSIZ];
	int ret;

	if (argc < 2)
		return wg_ctl_usage("show", USAGE, "missing INTERFACE");
	if (argc > 2)
		return wg_ctl_usage("show", USAGE, "unexpected argument '%s'", argv[2]);
	if (!wg_ctl_valid_ifname(argv[1]))
		return wg_ctl_usage("show", USAGE, "invalid interface name '%s'", argv[1]);
	wg_ctl_resolve_ifname(argv[1], ifname);
	wg_uapi_writer_init(&reply);
	wg_uapi_writer_init(&out);
	ret = get_device("show", ifname, &reply) ? 1 : 0;
	if (!ret && (ret = wg_ctl_format_show(ifname, reply.buf, &out, err, sizeof(err)))) {
		fprintf(stderr, "wgd show: %s: %s\n", ifname, err[0] ? err : strerror(-ret));
		ret = 1;
	}
	wg_uapi_writer_free(&reply);
	if (!ret && (fwrite(out.buf, 1, out.len, stdout) != out.len || fflush(stdout)))
		ret = 1;
	wg_uapi_writer_free(&out);
	return ret;
}

int wg_ctl_main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN); /* a daemon gone mid-request: EPIPE, not death */
	if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		fputs(USAGE, stdout);
		return 0;
	}
	return !strcmp(argv[0], "set") ? run_set(argc, argv) : run_show(argc, argv);
}
