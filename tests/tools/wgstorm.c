/* wgstorm: a storm of handshakes from many peers at once against one hub
 * (issue 7 and the scale scripts).
 *
 * Every private key of KEYFILE is a peer the hub has configured. For each,
 * wgstorm builds a real Noise_IKpsk2 initiation (no PSK) with the project's
 * own noise and cookie modules, sends it, consumes the hub's response,
 * derives the keypair and sends one keepalive (counter 0): a responder uses
 * a new session only once the initiator's first data message confirmed it.
 * First initiations are built before the clock starts, so the storm leaves
 * at the speed of sendto, not of our X25519.
 *
 * By default all peers share ONE UDP socket, so the hub sees one source
 * address and port; -n N spreads them (peer i on socket i mod N) over N
 * sockets bound to -b and the N-1 addresses after it, which must exist in
 * the namespace. Replies are matched to peers by their receiver index, which is our
 * sender index: peer number | attempt generation << PEER_BITS, so a late
 * reply to an earlier attempt is recognised and ignored.
 *
 * A cookie reply (the hub is under load) is decrypted with the key derived
 * from the hub's public key, the cookie kept per peer, and the initiation
 * sent again with mac2 after a short backoff. An unanswered initiation is
 * replaced by a new one after about a second (with jitter, so retries do
 * not arrive in lockstep), until the overall timeout. Beware: under load a
 * hub rate-limits cookie-bearing handshakes per source IP (20/s in wgd, the
 * kernel and wireguard-go): with one source address that limit, not the
 * hub, sets the pace; use -n to look like many hosts.
 *
 * -c bounds the handshakes in flight (started, not completed); the next
 * peer starts when one completes. Default: all peers at once. Below the
 * hub's under-load backlog (512 queued handshakes in wgd, 128 in
 * wireguard-go) a storm measures handshake throughput; above it, the
 * cookie and rate-limiting machinery. -v prints progress each second on
 * stderr.
 *
 * Output: exactly one line on stdout,
 *   wgstorm: peers=N completed=N failed=N elapsed_ms=T p50_ms=X p99_ms=Y
 *            cookies=N retries=N
 * latency = first initiation sent to response consumed, per peer (integer
 * ms, nearest rank); elapsed from the first initiation to the last
 * completion (or to the timeout); cookies = cookie replies consumed;
 * retries = initiations sent again because unanswered (resends after a
 * cookie are not counted). Diagnostics go to stderr.
 * Exit 0 if every peer completed, 1 otherwise, 2 on a usage error. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tool_common.h"
#include "wgd/constants.h"
#include "wgd/cookie.h"
#include "wgd/crypto.h"
#include "wgd/noise.h"
#include "wgd/wire.h"

#define PEER_BITS	20
#define PEER_MAX	(1u << PEER_BITS)
#define GEN_MAX		((1u << (32 - PEER_BITS)) - 1) /* generations 1..GEN_MAX */
#define RETRY_NS	(1 * WG_NSEC_PER_SEC)
#define RETRY_JITTER_NS (500 * WG_NSEC_PER_MSEC)
/* After a cookie: long enough for the whitened initiation timestamp to move
 * on (2^24 ns), short next to the retry interval. */
#define COOKIE_BACKOFF_NS (50 * WG_NSEC_PER_MSEC)
#define COOKIE_JITTER_NS  (50 * WG_NSEC_PER_MSEC)
#define RX_BATCH	  64
#define RX_ROUNDS	  8   /* recvmmsg calls per loop turn */
#define START_BATCH	  256 /* new peers per loop turn: keeps receiving going */
#define TIMER_BATCH	  256 /* timers fired per loop turn */
#define SEND_WAIT_MS	  50  /* a full send buffer is waited out this long */
#define DEFAULT_TIMEOUT_S 60.0
#define SOCK_BUF_MIN (256 << 10)
#define SOCK_BUF	  (8 << 20)

enum peer_state { P_IDLE = 0, P_WAIT, P_DONE, P_FAILED };

struct peer {
	struct wg_static_identity id;
	struct wg_handshake hs;
	struct wg_cookie ck;
	struct wg_msg_initiation msg; /* the newest initiation, for a resend */
	uint64_t first_ns;	      /* first initiation sent, monotonic */
	uint32_t timer_seq;	      /* only the timer with this sequence is live */
	uint16_t gen;		      /* generation of the newest initiation */
	uint8_t state;
	bool resend_for_cookie; /* the live timer is the post-cookie resend */
};

struct timer {
	uint64_t at;
	uint32_t peer;
	uint32_t seq;
};

struct opts {
	struct sockaddr_in hub;
	uint8_t hub_pub[WG_KEY_LEN];
	const char *key_file;
	size_t concurrency; /* 0 = all */
	double timeout_s;
	struct sockaddr_in bind;
	unsigned int n_src; /* -n: source addresses (sockets), from bind on */
	bool progress;	    /* -v: a line per second on stderr */
};

#define MAX_SRC 1024

struct storm {
	struct opts o;
	int fds[MAX_SRC];
	struct pollfd pfds[MAX_SRC];
	struct peer *peers; /* sodium_malloc'd: private keys and handshake secrets */
	size_t n;
	struct timer *heap; /* min-heap by time, stale entries skipped */
	size_t heap_len, heap_cap;
	size_t next_start, inflight, finished, completed;
	uint64_t *lat_ns; /* latencies of completed peers */
	uint64_t t0, t_last;
	uint64_t sent, cookies, retries, send_errors, rx_stale, rx_invalid;
};

static uint64_t jitter(uint64_t max_ns)
{
	return (uint64_t)wg_random_uniform((uint32_t)(max_ns / 1000)) * 1000;
}

/* --- command line --- */

static void usage(const char *why)
{
	if (why)
		fprintf(stderr, "wgstorm: %s\n", why);
	fprintf(stderr, "usage: wgstorm -d HUB_IPV4:PORT -P HUB_PUBKEY_BASE64 -k KEYFILE\n"
			"               [-c CONCURRENCY] [-t TIMEOUT_S] [-b BIND_IPV4] [-n SOURCES] [-v]\n"
			"KEYFILE: one base64 private key per line, each a peer of the hub.\n");
	exit(2);
}

static int decode_key(uint8_t out[WG_KEY_LEN], const char *b64, size_t len)
{
	size_t n = 0;

	if (sodium_base642bin(out, WG_KEY_LEN, b64, len, " \t\r\n", &n, NULL,
			      sodium_base64_VARIANT_ORIGINAL) < 0 ||
	    n != WG_KEY_LEN)
		return -EINVAL;
	return 0;
}

static int parse_ipv4_port(struct sockaddr_in *d, const char *arg)
{
	char host[INET_ADDRSTRLEN];
	const char *colon = strrchr(arg, ':');
	char *end;
	long port;

	if (!colon || (size_t)(colon - arg) >= sizeof(host))
		return -EINVAL;
	memcpy(host, arg, (size_t)(colon - arg));
	host[colon - arg] = '\0';
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno || *end || end == colon + 1 || port < 1 || port > 65535)
		return -EINVAL;
	d->sin_family = AF_INET;
	d->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, host, &d->sin_addr) == 1 ? 0 : -EINVAL;
}

static void parse_args(struct opts *o, int argc, char **argv)
{
	bool dst = false, pub = false;
	char *end;
	long long c;
	int opt;

	o->timeout_s = DEFAULT_TIMEOUT_S;
	o->bind.sin_family = AF_INET;
	o->n_src = 1;
	while ((opt = getopt(argc, argv, "d:P:k:c:t:b:n:vh")) != -1) {
		switch (opt) {
		case 'd':
			if (parse_ipv4_port(&o->hub, optarg) < 0)
				usage("-d: want IPV4:PORT");
			dst = true;
			break;
		case 'P':
			if (decode_key(o->hub_pub, optarg, strlen(optarg)) < 0)
				usage("-P: not a base64 public key");
			pub = true;
			break;
		case 'k':
			o->key_file = optarg;
			break;
		case 'c':
			errno = 0;
			c = strtoll(optarg, &end, 10);
			if (errno || *end || end == optarg || c < 1)
				usage("-c: want a positive integer");
			o->concurrency = (size_t)c;
			break;
		case 't':
			o->timeout_s = strtod(optarg, &end);
			if (*end || end == optarg || !(o->timeout_s > 0 && o->timeout_s < 1e6))
				usage("-t: want a positive number of seconds");
			break;
		case 'b':
			if (inet_pton(AF_INET, optarg, &o->bind.sin_addr) != 1)
				usage("-b: want an IPv4 address");
			break;
		case 'n':
			errno = 0;
			c = strtoll(optarg, &end, 10);
			if (errno || *end || end == optarg || c < 1 || c > MAX_SRC)
				usage("-n: want 1..1024 source addresses");
			o->n_src = (unsigned int)c;
			break;
		case 'v':
			o->progress = true;
			break;
		case 'h':
			usage(NULL);
			break;
		default:
			usage(NULL);
		}
	}
	if (optind != argc)
		usage("unexpected argument");
	if (!dst || !pub || !o->key_file)
		usage("-d, -P and -k are required");
}

/* --- peers --- */

static void setup_peer(struct storm *s, struct peer *p)
{
	wg_x25519_clamp(p->id.private_key);
	wg_x25519_public(p->id.public_key, p->id.private_key);
	p->id.has_identity = true;
	wg_noise_handshake_init(&p->hs, &p->id, s->o.hub_pub, NULL);
	wg_cookie_init(&p->ck, s->o.hub_pub);
	/* The first initiation is built now, outside the timed storm, so the
	 * storm is a burst at the speed of sendto rather than of our X25519.
	 * Its timestamp is then a little old, which a hub does not mind: it
	 * only has to be newer than the last one it accepted. */
	p->gen = 1;
	if (wg_noise_create_initiation(&p->msg, &p->hs, &p->id,
				       (uint32_t)p->gen << PEER_BITS | (uint32_t)(p - s->peers),
				       unix_ns()) < 0)
		p->gen = 0; /* retried, and reported, at its start */
}

/* Reads the keys into s->peers; exits 2 on a bad file (a usage error).
 * One pass (KEYFILE may be a pipe): decoded keys collect in a growing
 * buffer that is wiped once copied into the guarded array. */
static void load_peers(struct storm *s)
{
	FILE *f = fopen(s->o.key_file, "r");
	uint8_t(*keys)[WG_KEY_LEN] = NULL;
	size_t cap = 0, kcap = 0, lineno = 0, count = 0;
	char *line = NULL;
	ssize_t len;

	if (!f) {
		fprintf(stderr, "wgstorm: %s: %s\n", s->o.key_file, strerror(errno));
		exit(2);
	}
	while ((len = getline(&line, &cap, f)) >= 0) {
		lineno++;
		if ((size_t)len == strspn(line, " \t\r\n"))
			continue; /* blank */
		if (count == kcap) {
			size_t nc = kcap ? 2 * kcap : 1024;
			uint8_t(*k)[WG_KEY_LEN] = sodium_malloc(nc * WG_KEY_LEN);

			if (!k) {
				fprintf(stderr, "wgstorm: out of memory\n");
				exit(1);
			}
			if (keys)
				memcpy(k, keys, count * WG_KEY_LEN);
			sodium_free(keys);
			keys = k;
			kcap = nc;
		}
		if (decode_key(keys[count], line, (size_t)len) < 0) {
			fprintf(stderr, "wgstorm: %s:%zu: not a base64 key\n", s->o.key_file,
				lineno);
			exit(2);
		}
		if (++count > PEER_MAX) {
			fprintf(stderr, "wgstorm: %s: more than %u keys\n", s->o.key_file,
				PEER_MAX);
			exit(2);
		}
	}
	if (line)
		sodium_memzero(line, cap);
	free(line);
	fclose(f);
	if (count == 0) {
		fprintf(stderr, "wgstorm: %s: no keys\n", s->o.key_file);
		exit(2);
	}
	s->n = count;
	s->peers = sodium_malloc(count * sizeof(*s->peers));
	s->lat_ns = calloc(count, sizeof(*s->lat_ns));
	if (!s->peers || !s->lat_ns) {
		fprintf(stderr, "wgstorm: out of memory for %zu peers\n", count);
		exit(1);
	}
	memset(s->peers, 0, count * sizeof(*s->peers));
	for (size_t i = 0; i < count; i++) {
		memcpy(s->peers[i].id.private_key, keys[i], WG_KEY_LEN);
		setup_peer(s, &s->peers[i]);
	}
	sodium_free(keys); /* zeroes them */
}

/* --- timers: a binary min-heap; a peer's older entries go stale --- */

static void heap_swap(struct timer *a, struct timer *b)
{
	struct timer t = *a;

	*a = *b;
	*b = t;
}

static int schedule(struct storm *s, struct peer *p, uint64_t at)
{
	size_t i;

	if (s->heap_len == s->heap_cap) {
		size_t cap = s->heap_cap ? 2 * s->heap_cap : 1024;
		struct timer *h = realloc(s->heap, cap * sizeof(*h));

		if (!h)
			return -ENOMEM;
		s->heap = h;
		s->heap_cap = cap;
	}
	i = s->heap_len++;
	s->heap[i] =
		(struct timer){.at = at, .peer = (uint32_t)(p - s->peers), .seq = ++p->timer_seq};
	while (i > 0 && s->heap[(i - 1) / 2].at > s->heap[i].at) {
		heap_swap(&s->heap[(i - 1) / 2], &s->heap[i]);
		i = (i - 1) / 2;
	}
	return 0;
}

static struct timer heap_pop(struct storm *s)
{
	struct timer top = s->heap[0];
	size_t i = 0;

	s->heap[0] = s->heap[--s->heap_len];
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < s->heap_len && s->heap[l].at < s->heap[m].at)
			m = l;
		if (r < s->heap_len && s->heap[r].at < s->heap[m].at)
			m = r;
		if (m == i)
			break;
		heap_swap(&s->heap[i], &s->heap[m]);
		i = m;
	}
	return top;
}

/* --- sending --- */

/* A full socket buffer is waited out briefly rather than turned into a
 * loss the retry timer would have to cover (it would skew latencies). */
static int send_datagram(struct storm *s, const struct peer *p, const void *buf, size_t len)
{
	int fd = s->fds[(size_t)(p - s->peers) % s->o.n_src];

	for (int tries = 0; tries < 3; tries++) {
		struct pollfd pfd = {.fd = fd, .events = POLLOUT};

		if (sendto(fd, buf, len, 0, (const struct sockaddr *)&s->o.hub,
			   sizeof(s->o.hub)) == (ssize_t)len)
			return 0;
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS && errno != EINTR)
			break;
		poll(&pfd, 1, SEND_WAIT_MS);
	}
	s->send_errors++;
	return -1;
}

static void finish(struct storm *s, struct peer *p, enum peer_state st)
{
	p->state = (uint8_t)st;
	p->timer_seq++; /* kills its pending timer */
	s->inflight--;
	s->finished++;
}

/* Sends an initiation, then arms the retry timer; a send error is left to
 * that timer. fresh: a new one (ephemeral, timestamp, sender index), as a
 * retry must be, since the hub may have consumed the unanswered one. Else
 * the previous one again with new macs: after a cookie reply, which proves
 * the hub did no Noise work on it (and saves us two X25519). */
static void send_initiation(struct storm *s, struct peer *p, uint64_t now, bool fresh)
{
	uint32_t pn = (uint32_t)(p - s->peers);

	if (fresh) {
		p->gen = (uint16_t)(p->gen % GEN_MAX + 1);
		if (wg_noise_create_initiation(&p->msg, &p->hs, &p->id,
					       (uint32_t)p->gen << PEER_BITS | pn, unix_ns()) < 0) {
			fprintf(stderr, "wgstorm: peer %u: cannot build an initiation\n", pn);
			finish(s, p, P_FAILED);
			return;
		}
	}
	wg_cookie_add_macs(&p->ck, &p->msg, sizeof(p->msg), now);
	if (!p->first_ns)
		p->first_ns = now;
	s->sent++;
	send_datagram(s, p, &p->msg, sizeof(p->msg));
	p->resend_for_cookie = false;
	if (schedule(s, p, now + RETRY_NS + jitter(RETRY_JITTER_NS)) < 0) {
		fprintf(stderr, "wgstorm: out of memory for timers\n");
		finish(s, p, P_FAILED);
	}
}

static void start_peers(struct storm *s)
{
	size_t limit = s->o.concurrency ? s->o.concurrency : s->n;

	for (int i = 0; i < START_BATCH && s->next_start < s->n && s->inflight < limit; i++) {
		struct peer *p = &s->peers[s->next_start++];

		p->state = P_WAIT;
		s->inflight++;
		send_initiation(s, p, mono_ns(), p->gen == 0);
	}
}

static void run_timers(struct storm *s, uint64_t now)
{
	for (int i = 0; i < TIMER_BATCH && s->heap_len && s->heap[0].at <= now; i++) {
		struct timer t = heap_pop(s);
		struct peer *p = &s->peers[t.peer];

		if (t.seq != p->timer_seq || p->state != P_WAIT)
			continue;
		if (!p->resend_for_cookie)
			s->retries++;
		send_initiation(s, p, mono_ns(), !p->resend_for_cookie);
	}
}

/* --- receiving --- */

/* The peer a reply to our sender index idx is for, if it waits for it. */
static struct peer *reply_peer(struct storm *s, uint32_t idx)
{
	uint32_t pn = idx & (PEER_MAX - 1);
	struct peer *p;

	if (pn >= s->n) {
		s->rx_invalid++;
		return NULL;
	}
	p = &s->peers[pn];
	if (p->state != P_WAIT || p->gen != idx >> PEER_BITS) {
		s->rx_stale++;
		return NULL;
	}
	return p;
}

static void on_response(struct storm *s, const struct wg_msg_response *msg, uint64_t now)
{
	static const uint8_t nothing[1];
	uint8_t ka[WG_MSG_DATA_MIN_LEN];
	struct peer *p = reply_peer(s, wg_le32_get(msg->receiver));
	struct wg_keypair kp;

	if (!p)
		return;
	if (wg_noise_consume_response(msg, &p->hs, &p->id) < 0 ||
	    wg_noise_derive_keypair(&kp, &p->hs, now) < 0) {
		s->rx_invalid++;
		return;
	}
	s->lat_ns[s->completed++] = now - p->first_ns;
	s->t_last = now;
	/* The keepalive that confirms the session to the hub. */
	if (wg_noise_seal(&kp, (struct wg_msg_data *)ka, nothing, 0) == 0)
		send_datagram(s, p, ka, sizeof(ka));
	wg_noise_keypair_clear(&kp);
	finish(s, p, P_DONE);
}

static void on_cookie(struct storm *s, const struct wg_msg_cookie_reply *msg, uint64_t now)
{
	struct peer *p = reply_peer(s, wg_le32_get(msg->receiver));

	if (!p)
		return;
	if (wg_cookie_reply_consume(&p->ck, msg, now) < 0) {
		s->rx_invalid++;
		return;
	}
	s->cookies++;
	if (schedule(s, p, now + COOKIE_BACKOFF_NS + jitter(COOKIE_JITTER_NS)) == 0)
		p->resend_for_cookie = true;
}

static void dispatch(struct storm *s, const uint8_t *buf, size_t len, uint64_t now)
{
	uint32_t type = wg_msg_header_type(buf);

	if (type == WG_MSG_RESPONSE && len == WG_MSG_RESPONSE_LEN)
		on_response(s, (const void *)buf, now);
	else if (type == WG_MSG_COOKIE_REPLY && len == WG_MSG_COOKIE_REPLY_LEN)
		on_cookie(s, (const void *)buf, now);
	else if (type != WG_MSG_DATA) /* data: a keepalive from the hub, fine */
		s->rx_invalid++;
}

static void drain_rx(struct storm *s, int fd)
{
	static uint8_t bufs[RX_BATCH][256];
	struct sockaddr_in from[RX_BATCH];
	struct iovec iov[RX_BATCH];
	struct mmsghdr mm[RX_BATCH];

	for (int round = 0; round < RX_ROUNDS; round++) {
		int got;
		uint64_t now;

		for (int i = 0; i < RX_BATCH; i++) {
			iov[i] = (struct iovec){.iov_base = bufs[i], .iov_len = sizeof(bufs[i])};
			mm[i].msg_hdr = (struct msghdr){.msg_name = &from[i],
							.msg_namelen = sizeof(from[i]),
							.msg_iov = &iov[i],
							.msg_iovlen = 1};
		}
		got = recvmmsg(fd, mm, RX_BATCH, MSG_DONTWAIT, NULL);
		if (got <= 0)
			return;
		now = mono_ns();
		for (int i = 0; i < got; i++) {
			if (mm[i].msg_hdr.msg_namelen != sizeof(from[i]) ||
			    from[i].sin_addr.s_addr != s->o.hub.sin_addr.s_addr ||
			    from[i].sin_port != s->o.hub.sin_port || mm[i].msg_len < 4 ||
			    (mm[i].msg_hdr.msg_flags & MSG_TRUNC)) {
				s->rx_invalid++;
				continue;
			}
			dispatch(s, bufs[i], mm[i].msg_len, now);
		}
		if (got < RX_BATCH)
			return;
	}
}

/* --- main loop --- */

/* Socket i is bound to the i-th address from -b on (same port choice:
 * any). The buffers are split between the sockets. */
static int open_socket(struct storm *s, unsigned int i)
{
	struct sockaddr_in a = s->o.bind;
	int sz = SOCK_BUF / (int)s->o.n_src, fd;

	if (sz < SOCK_BUF_MIN)
		sz = SOCK_BUF_MIN;
	if (i && a.sin_addr.s_addr == htonl(INADDR_ANY))
		return -EINVAL; /* -n needs a -b address to count from */
	a.sin_addr.s_addr = htonl(ntohl(a.sin_addr.s_addr) + i);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	s->fds[i] = fd;
	/* Root may exceed rmem_max/wmem_max; otherwise take what we get. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	if (bind(fd, (const struct sockaddr *)&a, sizeof(a)) < 0)
		return -errno;
	return 0;
}

/* Milliseconds poll may sleep: 0 while there is work, else until the next
 * timer or the deadline (rounded up, so a timer is never polled early). */
static int poll_timeout(const struct storm *s, uint64_t now, uint64_t deadline)
{
	size_t limit = s->o.concurrency ? s->o.concurrency : s->n;
	uint64_t until = deadline;

	if (s->next_start < s->n && s->inflight < limit)
		return 0;
	if (s->heap_len && s->heap[0].at < until)
		until = s->heap[0].at;
	if (until <= now)
		return 0;
	return (int)((until - now + WG_NSEC_PER_MSEC - 1) / WG_NSEC_PER_MSEC);
}

static void progress(struct storm *s, uint64_t now, uint64_t *next)
{
	if (!s->o.progress || now < *next)
		return;
	*next += WG_NSEC_PER_SEC;
	fprintf(stderr,
		"wgstorm: t=%.1fs started=%zu inflight=%zu completed=%zu sent=%llu cookies=%llu "
		"retries=%llu\n",
		(double)(now - s->t0) / 1e9, s->next_start, s->inflight, s->completed,
		(unsigned long long)s->sent, (unsigned long long)s->cookies,
		(unsigned long long)s->retries);
}

static void storm(struct storm *s)
{
	uint64_t deadline, next_progress;

	s->t0 = mono_ns();
	next_progress = s->t0 + WG_NSEC_PER_SEC;
	deadline = s->t0 + (uint64_t)(s->o.timeout_s * 1e9);
	for (unsigned int i = 0; i < s->o.n_src; i++)
		s->pfds[i] = (struct pollfd){.fd = s->fds[i], .events = POLLIN, .revents = POLLIN};
	while (s->finished < s->n && !stopping) {
		uint64_t now = mono_ns();

		if (now >= deadline)
			break;
		for (unsigned int i = 0; i < s->o.n_src; i++)
			if (s->pfds[i].revents & POLLIN)
				drain_rx(s, s->fds[i]);
		run_timers(s, mono_ns());
		start_peers(s);
		now = mono_ns();
		progress(s, now, &next_progress);
		if (poll(s->pfds, s->o.n_src, poll_timeout(s, now, deadline)) <= 0)
			for (unsigned int i = 0; i < s->o.n_src; i++)
				s->pfds[i].revents = 0;
	}
	if (s->completed < s->n)
		s->t_last = mono_ns(); /* elapsed then runs to the give-up */
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile q (0..100) of the sorted latencies, in ms. */
static unsigned long long pct_ms(const struct storm *s, unsigned q)
{
	size_t rank;

	if (!s->completed)
		return 0;
	rank = (s->completed * q + 99) / 100;
	if (rank < 1)
		rank = 1;
	return (unsigned long long)((s->lat_ns[rank - 1] + WG_NSEC_PER_MSEC / 2) /
				    WG_NSEC_PER_MSEC);
}

static void report(struct storm *s)
{
	qsort(s->lat_ns, s->completed, sizeof(*s->lat_ns), cmp_u64);
	printf("wgstorm: peers=%zu completed=%zu failed=%zu elapsed_ms=%llu p50_ms=%llu "
	       "p99_ms=%llu cookies=%llu retries=%llu\n",
	       s->n, s->completed, s->n - s->completed,
	       (unsigned long long)((s->t_last - s->t0 + WG_NSEC_PER_MSEC / 2) / WG_NSEC_PER_MSEC),
	       pct_ms(s, 50), pct_ms(s, 99), (unsigned long long)s->cookies,
	       (unsigned long long)s->retries);
	fflush(stdout);
	if (s->send_errors || s->rx_invalid || s->rx_stale)
		fprintf(stderr, "wgstorm: send_errors=%llu rx_invalid=%llu rx_stale=%llu\n",
			(unsigned long long)s->send_errors, (unsigned long long)s->rx_invalid,
			(unsigned long long)s->rx_stale);
}

int main(int argc, char **argv)
{
	struct storm s;
	unsigned int opened = 0;
	int ret = 0;

	memset(&s, 0, sizeof(s));
	parse_args(&s.o, argc, argv);
	if (wg_crypto_init() < 0) {
		fprintf(stderr, "wgstorm: cannot initialise libsodium\n");
		return 1;
	}
	load_peers(&s);
	for (; opened < s.o.n_src && ret == 0; opened++)
		ret = open_socket(&s, opened);
	if (ret < 0) {
		fprintf(stderr, "wgstorm: socket %u: %s\n", opened - 1, strerror(-ret));
		return 1;
	}
	tool_catch_signals();
	storm(&s);
	report(&s);
	for (unsigned int i = 0; i < s.o.n_src; i++)
		close(s.fds[i]);
	sodium_free(s.peers); /* zeroes the keys */
	free(s.lat_ns);
	free(s.heap);
	return s.completed == s.n ? 0 : 1;
}
