/* wgflood: hostile WireGuard traffic for the DoS tests (tests/netns/dos.sh).
 *
 * Sends IPv4/UDP datagrams to a victim from spoofed source addresses (a raw
 * socket, IP_HDRINCL) at a fixed rate for a fixed time, and counts what the
 * victim sends back to those addresses (an AF_PACKET socket with a BPF
 * filter on the victim's address and port: the replies are routed to this
 * namespace, which does not forward them). Messages are built with the
 * project's own crypto, noise and cookie modules.
 *
 * Modes:
 *   garbage  random payloads: random bytes, or a valid type with a wrong length
 *   init     initiations with random bodies and a valid mac1
 *   noise    Noise-valid initiations from unknown static keys, valid mac1
 *   replay   one initiation built for a peer the victim knows (-p its private
 *            key), with a timestamp in the past (-T), sent again and again
 *   data     data messages with random receiver indices
 *   cookie   learns a cookie per source from the victim's cookie replies (the
 *            victim must be under load: run another flood beside it), then
 *            sends initiations with valid mac1 and mac2, which only the
 *            per-source rate limiter can stop
 *
 * Sources: every host of -s PREFIX/LEN, or only the first -n of them.
 * Rate: -r datagrams per second (0 = as fast as possible), spread evenly, or
 * with -b N in bursts of N back to back (same average rate): a pulsed flood
 * deepens the victim's handshake backlog at once, so it stays under load
 * (which lingers a second) at a modest average rate on any machine.
 * Runs for -t seconds or until SIGINT/SIGTERM.
 * Output: one line "wgflood: key=value ..." on stdout. Exit status 0, or 1
 * on a setup error (or, in cookie mode, when no cookie could be learned). */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
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

#define POOL_MAX	 1024 /* distinct messages cycled through */
#define BATCH_MAX	 64   /* datagrams per sendmmsg */
#define MAX_PAYLOAD	 1400 /* largest datagram payload sent */
#define HDR_LEN		 (sizeof(struct iphdr) + sizeof(struct udphdr))
#define COOKIE_SRC_MAX	 64 /* sources in cookie mode */
#define LEARN_TIMEOUT_NS (10 * WG_NSEC_PER_SEC)
#define LEARN_RESEND_NS	 (200 * WG_NSEC_PER_MSEC)
#define COOKIE_INDEX_TAG 0x5a000000u /* sender index = tag | source number */

enum mode { M_GARBAGE, M_INIT, M_NOISE, M_REPLAY, M_DATA, M_COOKIE };

static const char *const mode_names[] = {"garbage", "init", "noise", "replay", "data", "cookie"};

struct opts {
	enum mode mode;
	struct sockaddr_in dst;
	uint8_t victim_pub[WG_KEY_LEN];
	bool have_pub;
	const char *peer_key_file; /* replay: private key of a known peer */
	int64_t ts_offset_s;	   /* replay: timestamp offset from now */
	uint32_t src_base;	   /* first spoofed source, host order */
	uint32_t src_count;
	uint32_t src_limit; /* -n: only the first this many sources, 0 = all */
	double rate;	    /* datagrams per second, 0 = as fast as possible */
	double duration;
	int burst;	    /* >0: send in bursts of this many, same average rate */
	const char *ifname; /* capture interface, NULL = all */
};

struct msg {
	uint8_t buf[MAX_PAYLOAD];
	size_t len;
};

struct counts {
	uint64_t sent, send_errors;
	uint64_t rx_cookie, rx_response, rx_data, rx_other, cap_drops;
	uint32_t cookies_learned;
};

struct flood {
	struct opts o;
	int raw_fd, cap_fd;
	struct msg *pool; /* POOL_MAX messages */
	size_t pool_len;
	/* cookie mode: one pool slice and one cookie per source */
	struct wg_cookie *ck;
	size_t per_src;
	struct counts c;
};

/* --- small helpers --- */

static void sleep_until(uint64_t t_ns)
{
	struct timespec ts = {.tv_sec = (time_t)(t_ns / WG_NSEC_PER_SEC),
			      .tv_nsec = (long)(t_ns % WG_NSEC_PER_SEC)};

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR && !stopping)
		;
}

static int decode_key(uint8_t out[WG_KEY_LEN], const char *b64)
{
	size_t n = 0;

	if (sodium_base642bin(out, WG_KEY_LEN, b64, strlen(b64), " \n", &n, NULL,
			      sodium_base64_VARIANT_ORIGINAL) < 0 ||
	    n != WG_KEY_LEN)
		return -EINVAL;
	return 0;
}

static int read_key_file(uint8_t out[WG_KEY_LEN], const char *path)
{
	char line[128] = {0};
	FILE *f = fopen(path, "r");
	int ret = -EINVAL;

	if (!f)
		return -errno;
	if (fgets(line, sizeof(line), f))
		ret = decode_key(out, line);
	fclose(f);
	sodium_memzero(line, sizeof(line));
	return ret;
}

/* Source number i (0-based) of the spoofed range, network order. */
static uint32_t src_addr(const struct flood *f, uint32_t i)
{
	return htonl(f->o.src_base + i % f->o.src_count);
}

/* A stable port per source: the victim's cookie binds address and port. */
static uint16_t src_port(const struct flood *f, uint32_t i)
{
	return htons((uint16_t)(20000 + (i % f->o.src_count) % 40000));
}

/* --- message builders --- */

static void build_garbage(struct msg *m)
{
	static const size_t wrong_len[] = {1, 3, 4, 60, 100, 147, 149, 31};

	m->len = 1 + wg_random_uniform(MAX_PAYLOAD);
	wg_random_bytes(m->buf, m->len);
	if (wg_random_u32() & 1) {
		/* A well-formed header with a length no message type has. */
		m->len = wrong_len[wg_random_uniform(8)];
		wg_msg_header_put(m->buf, (enum wg_message_type)(1 + wg_random_uniform(3)));
	}
}

static void build_random_init(struct msg *m, struct wg_cookie *ck, uint32_t sender)
{
	struct wg_msg_initiation *msg = (void *)m->buf;

	wg_random_bytes(msg, sizeof(*msg));
	wg_msg_header_put(msg->header, WG_MSG_INITIATION);
	wg_le32_put(msg->sender, sender);
	wg_cookie_add_macs(ck, msg, sizeof(*msg), mono_ns());
	m->len = sizeof(*msg);
}

/* A real initiation from identity id to the victim, at time t_unix_ns. */
static int build_noise_init(struct msg *m, const struct opts *o, struct wg_static_identity *id,
			    uint64_t t_unix_ns)
{
	struct wg_msg_initiation *msg = (void *)m->buf;
	struct wg_handshake *hs = sodium_malloc(sizeof(*hs));
	struct wg_cookie ck;
	int ret;

	if (!hs)
		return -ENOMEM;
	wg_noise_handshake_init(hs, id, o->victim_pub, NULL);
	ret = wg_noise_create_initiation(msg, hs, id, wg_random_u32(), t_unix_ns);
	sodium_free(hs);
	if (ret < 0)
		return ret;
	wg_cookie_init(&ck, o->victim_pub);
	wg_cookie_add_macs(&ck, msg, sizeof(*msg), mono_ns());
	m->len = sizeof(*msg);
	return 0;
}

static void random_identity(struct wg_static_identity *id)
{
	wg_x25519_generate(id->private_key);
	wg_x25519_public(id->public_key, id->private_key);
	id->has_identity = true;
}

static void build_data(struct msg *m)
{
	struct wg_msg_data *msg = (void *)m->buf;
	size_t body = 16 * (1 + wg_random_uniform(80)); /* 16..1280, padded sizes */

	m->len = WG_MSG_DATA_MIN_LEN + body;
	wg_random_bytes(m->buf, m->len);
	wg_msg_header_put(msg->header, WG_MSG_DATA);
}

/* --- pools per mode --- */

static int pool_random(struct flood *f)
{
	struct wg_cookie ck;

	wg_cookie_init(&ck, f->o.victim_pub);
	f->pool_len = POOL_MAX;
	for (size_t i = 0; i < f->pool_len; i++) {
		if (f->o.mode == M_GARBAGE)
			build_garbage(&f->pool[i]);
		else if (f->o.mode == M_DATA)
			build_data(&f->pool[i]);
		else
			build_random_init(&f->pool[i], &ck, wg_random_u32());
	}
	return 0;
}

/* 16 unknown identities, 16 initiations each (each costs us DH work). */
static int pool_noise(struct flood *f)
{
	struct wg_static_identity *id = sodium_malloc(sizeof(*id));
	int ret = 0;

	if (!id)
		return -ENOMEM;
	f->pool_len = 256;
	for (size_t i = 0; i < f->pool_len && ret == 0; i++) {
		if (i % 16 == 0)
			random_identity(id);
		ret = build_noise_init(&f->pool[i], &f->o, id, unix_ns());
	}
	sodium_free(id);
	return ret;
}

/* One captured-looking initiation of a known peer, replayed unchanged. */
static int pool_replay(struct flood *f)
{
	struct wg_static_identity *id = sodium_malloc(sizeof(*id));
	int64_t t = (int64_t)(unix_ns() / WG_NSEC_PER_SEC) + f->o.ts_offset_s;
	int ret;

	if (!id)
		return -ENOMEM;
	ret = read_key_file(id->private_key, f->o.peer_key_file);
	if (ret == 0) {
		wg_x25519_public(id->public_key, id->private_key);
		id->has_identity = true;
		ret = build_noise_init(&f->pool[0], &f->o, id, (uint64_t)t * WG_NSEC_PER_SEC);
	}
	sodium_free(id);
	f->pool_len = 1;
	return ret;
}

/* --- sockets --- */

static int open_raw(struct flood *f)
{
	int one = 1, sz = 4 << 20;

	f->raw_fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
	if (f->raw_fd < 0)
		return -errno;
	setsockopt(f->raw_fd, IPPROTO_IP, IP_HDRINCL, &one, sizeof(one));
	setsockopt(f->raw_fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz));
	return 0;
}

/* Accepts IPv4 UDP from the victim's address and port, unfragmented. */
static int attach_filter(int fd, const struct sockaddr_in *victim)
{
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 9),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_UDP, 0, 8),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 12),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ntohl(victim->sin_addr.s_addr), 0, 6),
		BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 6),
		BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x1fff, 4, 0),
		BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0),
		BPF_STMT(BPF_LD | BPF_H | BPF_IND, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ntohs(victim->sin_port), 0, 1),
		BPF_STMT(BPF_RET | BPF_K, 0xffff),
		BPF_STMT(BPF_RET | BPF_K, 0),
	};
	struct sock_fprog prog = {.len = sizeof(code) / sizeof(code[0]), .filter = code};

	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0)
		return -errno;
	return 0;
}

static int open_capture(struct flood *f)
{
	struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_IP)};
	int sz = 8 << 20, ret;

	f->cap_fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK, htons(ETH_P_IP));
	if (f->cap_fd < 0)
		return -errno;
	ret = attach_filter(f->cap_fd, &f->o.dst);
	if (ret < 0)
		return ret;
	setsockopt(f->cap_fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz));
	if (f->o.ifname) {
		sll.sll_ifindex = (int)if_nametoindex(f->o.ifname);
		if (!sll.sll_ifindex)
			return -ENODEV;
	}
	if (bind(f->cap_fd, (struct sockaddr *)&sll, sizeof(sll)) < 0)
		return -errno;
	return 0;
}

/* --- receiving replies --- */

/* Stores a cookie from a reply to one of our cookie-mode sources. */
static void take_cookie(struct flood *f, const struct wg_msg_cookie_reply *r, uint32_t dst)
{
	uint32_t idx = wg_le32_get(r->receiver), i = idx & ~COOKIE_INDEX_TAG;

	if ((idx & COOKIE_INDEX_TAG) != COOKIE_INDEX_TAG || i >= f->o.src_count ||
	    src_addr(f, i) != dst || f->ck[i].has_cookie)
		return;
	if (wg_cookie_reply_consume(&f->ck[i], r, mono_ns()) == 0)
		f->c.cookies_learned++;
}

static void classify(struct flood *f, const uint8_t *pkt, size_t len)
{
	const struct iphdr *ip = (const void *)pkt;
	size_t hl = (size_t)ip->ihl * 4, plen;
	const uint8_t *p;

	if (len < hl + sizeof(struct udphdr) + 4)
		return;
	p = pkt + hl + sizeof(struct udphdr);
	plen = len - hl - sizeof(struct udphdr);
	switch (wg_msg_header_type(p)) {
	case WG_MSG_COOKIE_REPLY:
		f->c.rx_cookie++;
		if (f->ck && plen == WG_MSG_COOKIE_REPLY_LEN)
			take_cookie(f, (const void *)p, ip->daddr);
		break;
	case WG_MSG_RESPONSE:
		f->c.rx_response++;
		break;
	case WG_MSG_DATA:
		f->c.rx_data++;
		break;
	default:
		f->c.rx_other++;
	}
}

static void drain_capture(struct flood *f)
{
	uint8_t pkt[2048];
	struct sockaddr_ll from;
	socklen_t fl;
	ssize_t n;

	for (;;) {
		fl = sizeof(from);
		n = recvfrom(f->cap_fd, pkt, sizeof(pkt), 0, (struct sockaddr *)&from, &fl);
		if (n < 0)
			return;
		if (from.sll_pkttype != PACKET_OUTGOING)
			classify(f, pkt, (size_t)n);
	}
}

static void capture_stats(struct flood *f)
{
	struct tpacket_stats st = {0};
	socklen_t l = sizeof(st);

	if (getsockopt(f->cap_fd, SOL_PACKET, PACKET_STATISTICS, &st, &l) == 0)
		f->c.cap_drops += st.tp_drops;
}

/* --- sending --- */

struct batch {
	uint8_t frames[BATCH_MAX][HDR_LEN + MAX_PAYLOAD];
	struct iovec iov[BATCH_MAX];
	struct mmsghdr mm[BATCH_MAX];
};

static size_t frame(const struct flood *f, uint8_t *out, const struct msg *m, uint32_t src_i)
{
	struct iphdr *ip = (void *)out;
	struct udphdr *udp = (void *)(out + sizeof(*ip));
	size_t len = HDR_LEN + m->len;

	memset(out, 0, HDR_LEN);
	ip->version = 4;
	ip->ihl = 5;
	ip->ttl = 64;
	ip->protocol = IPPROTO_UDP;
	ip->tot_len = htons((uint16_t)len);
	ip->saddr = src_addr(f, src_i);
	ip->daddr = f->o.dst.sin_addr.s_addr;
	udp->source = src_port(f, src_i);
	udp->dest = f->o.dst.sin_port;
	udp->len = htons((uint16_t)(sizeof(*udp) + m->len));
	/* UDP checksum 0: none, allowed over IPv4; the kernel fills the IP one. */
	memcpy(out + HDR_LEN, m->buf, m->len);
	return len;
}

/* The message for the n-th datagram and its source number. */
static const struct msg *pick(const struct flood *f, uint64_t n, uint32_t *src_i)
{
	if (f->o.mode == M_COOKIE) {
		*src_i = (uint32_t)(n % f->o.src_count);
		return &f->pool[*src_i * f->per_src + (n / f->o.src_count) % f->per_src];
	}
	*src_i = (uint32_t)(n % f->o.src_count);
	return &f->pool[n % f->pool_len];
}

static void send_batch(struct flood *f, struct batch *b, int count)
{
	int done = 0, r;

	for (int i = 0; i < count; i++) {
		uint32_t s;
		const struct msg *m = pick(f, f->c.sent + (uint64_t)i, &s);

		b->iov[i].iov_base = b->frames[i];
		b->iov[i].iov_len = frame(f, b->frames[i], m, s);
		memset(&b->mm[i].msg_hdr, 0, sizeof(b->mm[i].msg_hdr));
		b->mm[i].msg_hdr.msg_name = &f->o.dst;
		b->mm[i].msg_hdr.msg_namelen = sizeof(f->o.dst);
		b->mm[i].msg_hdr.msg_iov = &b->iov[i];
		b->mm[i].msg_hdr.msg_iovlen = 1;
	}
	while (done < count) {
		r = sendmmsg(f->raw_fd, b->mm + done, (unsigned)(count - done), 0);
		if (r <= 0) {
			f->c.send_errors += (uint64_t)(count - done);
			break;
		}
		done += r;
	}
	f->c.sent += (uint64_t)count;
}

/* Datagrams per pacing step: 1 ms worth (at most one sendmmsg), or a
 * whole burst when pulsing. */
static int step_size(const struct opts *o)
{
	if (o->burst)
		return o->burst;
	if (o->rate <= 0)
		return BATCH_MAX;
	if (o->rate < 1000)
		return 1;
	return o->rate < 64000 ? (int)(o->rate / 1000) : BATCH_MAX;
}

static void send_step(struct flood *f, struct batch *b, int n)
{
	for (int i = 0; i < n; i += BATCH_MAX)
		send_batch(f, b, n - i < BATCH_MAX ? n - i : BATCH_MAX);
}

/* Paced loop: steps spread evenly over the duration; if we fall more than
 * a second behind we resynchronise instead of bursting. */
static void run_flood(struct flood *f)
{
	struct batch *b = malloc(sizeof(*b));
	uint64_t start = mono_ns(), end = start + (uint64_t)(f->o.duration * 1e9), next = start;
	int per = step_size(&f->o);
	uint64_t gap = f->o.rate > 0 ? (uint64_t)(1e9 * per / f->o.rate) : 0;

	if (!b)
		return;
	while (!stopping && mono_ns() < end) {
		send_step(f, b, per);
		drain_capture(f);
		if (!gap)
			continue;
		next += gap;
		if (mono_ns() > next + WG_NSEC_PER_SEC)
			next = mono_ns();
		sleep_until(next);
	}
	free(b);
}

/* --- cookie mode --- */

static bool all_learned(const struct flood *f)
{
	return f->c.cookies_learned >= f->o.src_count;
}

/* Sends each source's first initiation again (same body, same mac1) until
 * the victim answered every source with a cookie reply. */
static int learn_cookies(struct flood *f)
{
	struct batch *b = malloc(sizeof(*b));
	uint64_t end = mono_ns() + LEARN_TIMEOUT_NS;
	struct pollfd pfd = {.fd = f->cap_fd, .events = POLLIN};

	if (!b)
		return -ENOMEM;
	while (!stopping && !all_learned(f) && mono_ns() < end) {
		for (uint32_t i = 0; i < f->o.src_count; i++) {
			if (f->ck[i].has_cookie)
				continue;
			b->iov[0].iov_base = b->frames[0];
			b->iov[0].iov_len = frame(f, b->frames[0], &f->pool[i * f->per_src], i);
			sendto(f->raw_fd, b->frames[0], b->iov[0].iov_len, 0,
			       (struct sockaddr *)&f->o.dst, sizeof(f->o.dst));
		}
		poll(&pfd, 1, (int)(LEARN_RESEND_NS / WG_NSEC_PER_MSEC));
		drain_capture(f);
	}
	free(b);
	return f->c.cookies_learned ? 0 : -ETIMEDOUT;
}

/* Rebuilds every source's messages with mac2 from its learned cookie. */
static void add_mac2(struct flood *f)
{
	for (uint32_t i = 0; i < f->o.src_count; i++)
		for (size_t k = 0; k < f->per_src; k++) {
			struct msg *m = &f->pool[i * f->per_src + k];
			wg_cookie_add_macs(&f->ck[i], m->buf, m->len, mono_ns());
		}
}

static int pool_cookie(struct flood *f)
{
	if (f->o.src_count > COOKIE_SRC_MAX)
		return -E2BIG;
	f->ck = calloc(f->o.src_count, sizeof(*f->ck));
	if (!f->ck)
		return -ENOMEM;
	f->per_src = POOL_MAX / f->o.src_count < 8 ? POOL_MAX / f->o.src_count : 8;
	f->pool_len = f->o.src_count * f->per_src;
	for (uint32_t i = 0; i < f->o.src_count; i++) {
		wg_cookie_init(&f->ck[i], f->o.victim_pub);
		/* The first message of each source is the one that learns. */
		for (size_t k = f->per_src; k-- > 0;)
			build_random_init(&f->pool[i * f->per_src + k], &f->ck[i],
					  COOKIE_INDEX_TAG | i);
	}
	return 0;
}

/* --- command line --- */

static void usage(void)
{
	fprintf(stderr, "usage: wgflood -m garbage|init|noise|replay|data|cookie -d IPv4:PORT\n"
			"               -s SRC_PREFIX/LEN [-n SOURCES] [-k VICTIM_PUBKEY] [-p "
			"PEER_PRIVKEY_FILE]\n"
			"               [-T TS_OFFSET_S] [-r PPS] [-b BURST] [-t SECONDS] [-i "
			"CAPTURE_IFACE]\n");
	exit(1);
}

static int parse_dst(struct sockaddr_in *d, char *s)
{
	char *colon = strrchr(s, ':');

	if (!colon)
		return -EINVAL;
	*colon = '\0';
	d->sin_family = AF_INET;
	d->sin_port = htons((uint16_t)atoi(colon + 1));
	return inet_pton(AF_INET, s, &d->sin_addr) == 1 ? 0 : -EINVAL;
}

/* Sources: every usable host of the prefix (all of it for /31 and /32). */
static int parse_src(struct opts *o, char *s)
{
	char *slash = strchr(s, '/');
	struct in_addr a;
	int len = 32;
	uint32_t mask;

	if (slash) {
		*slash = '\0';
		len = atoi(slash + 1);
	}
	if (inet_pton(AF_INET, s, &a) != 1 || len < 8 || len > 32)
		return -EINVAL;
	mask = len == 32 ? 0xffffffffu : ~(0xffffffffu >> len);
	o->src_base = ntohl(a.s_addr) & mask;
	o->src_count = (uint32_t)(1ull << (32 - len));
	if (len <= 30) {
		o->src_base++;
		o->src_count -= 2;
	}
	return 0;
}

static int parse_mode(const char *s)
{
	for (int i = 0; i < (int)(sizeof(mode_names) / sizeof(mode_names[0])); i++)
		if (strcmp(s, mode_names[i]) == 0)
			return i;
	return -1;
}

static void parse_args(struct opts *o, int argc, char **argv)
{
	int c, m = -1;
	bool dst = false, src = false;

	while ((c = getopt(argc, argv, "m:d:s:n:k:p:T:r:t:i:b:")) != -1) {
		switch (c) {
		case 'm':
			m = parse_mode(optarg);
			break;
		case 'd':
			dst = parse_dst(&o->dst, optarg) == 0;
			break;
		case 's':
			src = parse_src(o, optarg) == 0;
			break;
		case 'n':
			o->src_limit = (uint32_t)atoi(optarg);
			break;
		case 'k':
			o->have_pub = decode_key(o->victim_pub, optarg) == 0;
			break;
		case 'p':
			o->peer_key_file = optarg;
			break;
		case 'T':
			o->ts_offset_s = atoll(optarg);
			break;
		case 'r':
			o->rate = atof(optarg);
			break;
		case 't':
			o->duration = atof(optarg);
			break;
		case 'i':
			o->ifname = optarg;
			break;
		case 'b':
			o->burst = atoi(optarg);
			break;
		default:
			usage();
		}
	}
	if (m < 0 || !dst || !src || o->duration <= 0)
		usage();
	if (o->src_limit && o->src_limit < o->src_count)
		o->src_count = o->src_limit;
	o->mode = (enum mode)m;
	if (o->mode != M_GARBAGE && o->mode != M_DATA && !o->have_pub)
		usage();
	if (o->mode == M_REPLAY && !o->peer_key_file)
		usage();
}

static int build_pool(struct flood *f)
{
	switch (f->o.mode) {
	case M_NOISE:
		return pool_noise(f);
	case M_REPLAY:
		return pool_replay(f);
	case M_COOKIE:
		return pool_cookie(f);
	default:
		return pool_random(f);
	}
}

static void report(const struct flood *f, double secs)
{
	const struct counts *c = &f->c;

	printf("wgflood: mode=%s sent=%llu secs=%.2f pps=%.0f send_errors=%llu sources=%u "
	       "rx_cookie=%llu rx_response=%llu rx_data=%llu rx_other=%llu capture_drops=%llu",
	       mode_names[f->o.mode], (unsigned long long)c->sent, secs,
	       secs > 0 ? (double)c->sent / secs : 0.0, (unsigned long long)c->send_errors,
	       f->o.src_count, (unsigned long long)c->rx_cookie, (unsigned long long)c->rx_response,
	       (unsigned long long)c->rx_data, (unsigned long long)c->rx_other,
	       (unsigned long long)c->cap_drops);
	if (f->o.mode == M_COOKIE)
		printf(" cookies_learned=%u", c->cookies_learned);
	printf("\n");
	fflush(stdout);
}

static int setup(struct flood *f)
{
	int ret;

	f->pool = calloc(POOL_MAX, sizeof(*f->pool));
	if (wg_crypto_init() < 0 || !f->pool)
		return -ENOMEM;
	ret = build_pool(f);
	if (ret == 0)
		ret = open_raw(f);
	if (ret == 0)
		ret = open_capture(f);
	if (ret < 0)
		fprintf(stderr, "wgflood: setup: %s\n", strerror(-ret));
	return ret;
}

static int flood(struct flood *f)
{
	uint64_t t0;

	if (f->o.mode == M_COOKIE) {
		if (learn_cookies(f) < 0) {
			fprintf(stderr, "wgflood: no cookie reply: is the victim under load?\n");
			report(f, 0);
			return -ETIMEDOUT;
		}
		add_mac2(f);
	}
	t0 = mono_ns();
	run_flood(f);
	usleep(200 * 1000); /* late replies */
	drain_capture(f);
	capture_stats(f);
	report(f, (double)(mono_ns() - t0) / 1e9);
	return 0;
}

int main(int argc, char **argv)
{
	struct flood f = {.o.ts_offset_s = -3600, .raw_fd = -1, .cap_fd = -1};
	int ret;

	parse_args(&f.o, argc, argv);
	tool_catch_signals();
	ret = setup(&f);
	if (ret == 0)
		ret = flood(&f);
	if (f.raw_fd >= 0)
		close(f.raw_fd);
	if (f.cap_fd >= 0)
		close(f.cap_fd);
	free(f.ck);
	free(f.pool);
	return ret < 0 ? 1 : 0;
}
