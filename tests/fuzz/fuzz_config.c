/* Change sets applied to a device: the input is up to four set bodies
 * separated by an empty line, each parsed and applied with wg_device_set to
 * a device that starts every run with two peers and no identity. Checks:
 * - a set that fails changes nothing (get before == get after);
 * - a set that succeeds is reflected by get, and get's output, applied
 *   again as a set with replace_peers=true, reproduces the same get output
 *   (counters and the random listen port aside);
 * - the peer count matches get, and the device never lists its own key.
 * Endpoints are pointed at a dead loopback port before applying, so no run
 * sends to the network; a listen port becomes 0 (random) when even, or a
 * port the harness holds when odd, so that a set can fail late (after its
 * peers were planned) and must then roll back. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "common.h"
#include "wgd/device.h"
#include "dev.h"
#include "wgd/uapi.h"

#define MAX_SETS   4
#define DEAD_PORT  9
#define START_MONO (1000 * WG_NSEC_PER_SEC)

static struct wg_device *dev;
static uint16_t busy_port; /* held by the harness on IPv4 and IPv6 */
static uint64_t clk_mono, clk_unix;

static uint64_t c_mono(void *ctx)
{
	return clk_mono;
}

static uint64_t c_unix(void *ctx)
{
	return clk_unix;
}

static const struct wg_clock clock_fake = {c_mono, c_unix, NULL};

static const char baseline[] =
	"private_key=0000000000000000000000000000000000000000000000000000000000000000\n"
	"fwmark=0\n"
	"replace_peers=true\n"
	"public_key=1111111111111111111111111111111111111111111111111111111111111111\n"
	"endpoint=127.0.0.1:9\n"
	"allowed_ip=10.1.0.0/16\n"
	"allowed_ip=fd01::/64\n"
	"public_key=2222222222222222222222222222222222222222222222222222222222222222\n"
	"preshared_key=3333333333333333333333333333333333333333333333333333333333333333\n"
	"allowed_ip=10.2.0.0/16\n"
	"allowed_ip=0.0.0.0/0\n";

static int apply_text(const char *text, size_t len)
{
	struct wg_uapi_set set;
	int ret = wg_uapi_parse_set(text, len, &set);

	if (ret)
		return ret;
	ret = wg_device_set(dev, &set);
	wg_uapi_set_free(&set);
	return ret;
}

/* Nothing leaves the host, no fixed port is taken. */
static void sanitize(struct wg_uapi_set *s)
{
	if (s->has_listen_port)
		s->listen_port = s->listen_port & 1 ? busy_port : 0;
	for (size_t i = 0; i < s->n_peers; i++) {
		union wg_sockaddr *e = &s->peers[i].endpoint;
		if (!s->peers[i].has_endpoint)
			continue;
		if (e->sa.sa_family == AF_INET) {
			e->in4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
			e->in4.sin_port = htons(DEAD_PORT);
		} else {
			e->in6.sin6_addr = in6addr_loopback;
			e->in6.sin6_port = htons(DEAD_PORT);
		}
	}
}

/* get as a NUL-terminated string (caller frees). */
static char *get_text(void)
{
	struct wg_uapi_writer w;
	char *s;

	wg_uapi_writer_init(&w);
	FUZZ_CHECK(wg_device_get(dev, &w) == 0);
	s = malloc(w.len + 1);
	if (!s)
		abort();
	memcpy(s, w.buf ? w.buf : "", w.len);
	s[w.len] = '\0';
	wg_uapi_writer_free(&w);
	return s;
}

static bool volatile_line(const char *line)
{
	static const char *const keys[] = {"listen_port=", "last_handshake_time_sec=",
					   "last_handshake_time_nsec=", "tx_bytes=", "rx_bytes="};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (!strncmp(line, keys[i], strlen(keys[i])))
			return true;
	return false;
}

static int cmp_line(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Splits text into lines in place; returns the count. */
static size_t split_lines(char *text, char ***out)
{
	size_t n = 0, cap = 16;
	char **v = malloc(cap * sizeof(*v));

	for (char *s = text; v && *s;) {
		char *nl = strchr(s, '\n');
		if (nl)
			*nl = '\0';
		if (n == cap)
			v = realloc(v, (cap *= 2) * sizeof(*v));
		if (v)
			v[n++] = s;
		if (!nl)
			break;
		s = nl + 1;
	}
	if (!v)
		abort();
	*out = v;
	return n;
}

/* Stable lines of a get reply, allowed ips sorted within each peer;
 * with_sort false keeps the order (a set body). Caller frees. */
static char *canonical(const char *get, bool with_sort)
{
	char *copy = strdup(get), **lines, *out;
	size_t n = split_lines(copy, &lines), len = 0, start = 0;

	if (with_sort) {
		for (size_t i = 0; i <= n; i++) {
			if (i == n || !strncmp(lines[i], "public_key=", 11)) {
				qsort(lines + start, i - start, sizeof(*lines), cmp_line);
				start = i;
			}
		}
	}
	out = malloc(strlen(get) + 2);
	if (!out)
		abort();
	for (size_t i = 0; i < n; i++) {
		if (volatile_line(lines[i]))
			continue;
		len += (size_t)sprintf(out + len, "%s\n", lines[i]);
	}
	out[len] = '\0';
	free(lines);
	free(copy);
	return out;
}

static size_t count_peers(const char *get)
{
	size_t n = 0;

	for (const char *s = get; (s = strstr(s, "public_key=")); s++)
		n += s == get || s[-1] == '\n';
	return n;
}

/* get output, applied as a set over everything, gives the same get. */
static void check_reapply(const char *get)
{
	char *body = canonical(get, false), *with = malloc(strlen(body) + 32), *again, *c1, *c2;

	if (!with)
		abort();
	sprintf(with, "replace_peers=true\n%s", body);
	FUZZ_CHECK(apply_text(with, strlen(with)) == 0);
	again = get_text();
	c1 = canonical(get, true);
	c2 = canonical(again, true);
	FUZZ_CHECK(!strcmp(c1, c2));
	free(c1);
	free(c2);
	free(again);
	free(with);
	free(body);
}

static void check_state(const char *get)
{
	FUZZ_CHECK(count_peers(get) == wg_device_peer_count(dev));
	if (dev->id->has_identity)
		FUZZ_CHECK(!wg_peer_lookup(dev, dev->id->public_key));
}

/* Whether the set binds or gives a peer a source: it may then fail with
 * -EINVAL (a source other than the bind address of its family) or
 * -EADDRNOTAVAIL (a bind address no socket can take). */
static bool binds_or_sources(const struct wg_uapi_set *s)
{
	if (s->has_bind)
		return true;
	for (size_t i = 0; i < s->n_peers; i++)
		if (s->peers[i].ext && s->peers[i].ext->has_source)
			return true;
	return false;
}

static void apply_one(const char *text, size_t len)
{
	char *body = malloc(len ? len : 1), *before, *after;
	struct wg_uapi_set set;
	bool sourced;
	int ret;

	if (!body)
		abort();
	memcpy(body, text, len);
	ret = wg_uapi_parse_set(body, len, &set);
	free(body);
	if (getenv("WGD_FUZZ_TRACE"))
		fprintf(fuzz_report, "parse: %d\n", ret);
	if (ret)
		return;
	sanitize(&set);
	before = get_text();
	sourced = binds_or_sources(&set);
	ret = wg_device_set(dev, &set);
	wg_uapi_set_free(&set);
	if (getenv("WGD_FUZZ_TRACE"))
		fprintf(fuzz_report, "set: %d, %zu peers\n", ret, wg_device_peer_count(dev));
	after = get_text();
	check_state(after);
	if (ret) {
		char *c1 = canonical(before, false), *c2 = canonical(after, false);
		FUZZ_CHECK(ret == -EOPNOTSUPP || ret == -EPERM || ret == -E2BIG ||
			   ret == -EADDRINUSE ||
			   (sourced && (ret == -EINVAL || ret == -EADDRNOTAVAIL)));
		FUZZ_CHECK(!strcmp(c1, c2));
		free(c1);
		free(c2);
	} else {
		check_reapply(after);
	}
	free(before);
	free(after);
}

/* Binds one port on both families and keeps it. */
static void hold_port(void)
{
	struct sockaddr_in in4 = {.sin_family = AF_INET};
	struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};
	socklen_t len = sizeof(in4);
	int fd4 = socket(AF_INET, SOCK_DGRAM, 0), fd6 = socket(AF_INET6, SOCK_DGRAM, 0);

	if (fd4 < 0 || bind(fd4, (struct sockaddr *)&in4, sizeof(in4)) < 0 ||
	    getsockname(fd4, (struct sockaddr *)&in4, &len) < 0)
		abort();
	busy_port = ntohs(in4.sin_port);
	in6.sin6_port = in4.sin_port;
	setsockopt(fd6, IPPROTO_IPV6, IPV6_V6ONLY, &(int){1}, sizeof(int));
	if (fd6 >= 0)
		bind(fd6, (struct sockaddr *)&in6, sizeof(in6)); /* no IPv6: fine */
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct wg_device_params p = {.clock = &clock_fake};

	fuzz_common_init();
	hold_port();
	if (wg_device_create(&p, &dev) < 0)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	size_t off = 0;

	fuzz_rng_seed(7);
	clk_mono = START_MONO;
	clk_unix = 1700000000ULL * WG_NSEC_PER_SEC;
	FUZZ_CHECK(apply_text(baseline, strlen(baseline)) == 0);
	for (int i = 0; i < MAX_SETS && off < size; i++) {
		const char *end = memmem(text + off, size - off, "\n\n", 2);
		size_t len = end ? (size_t)(end - (text + off)) + 1 : size - off;
		apply_one(text + off, len);
		off += len + (end ? 1 : 0);
	}
	/* No peer survives the run: nothing looks like a leak to libFuzzer. */
	FUZZ_CHECK(apply_text("replace_peers=true\n", 19) == 0);
	return 0;
}
