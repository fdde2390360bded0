/* Buffers and batches of the data path. Everything lives in one
 * anonymous mapping sized from the configured cap: pages are only backed once
 * traffic touches them, and handed back (MADV_DONTNEED) after the tunnel
 * has idled for WG_DP_IDLE_TRIM_SEC, so an idle daemon stays small. No
 * packet ever allocates: a batch reads into, seals in and sends from these
 * buffers, and is done with them before the next one starts. */
#include "datapath.h"

#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "aead.h"
#include "wgd/crypto.h"
#include "dev.h"

#define MAX_MB 4096

static size_t page_round(size_t n)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);

	return (n + pg - 1) / pg * pg;
}

static size_t cap_bytes(const struct wg_datapath_config *cfg)
{
	size_t cap = cfg->buffer_bytes ? cfg->buffer_bytes : (size_t)WG_DP_DEFAULT_MB << 20;

	return cap > (size_t)MAX_MB << 20 ? (size_t)MAX_MB << 20 : cap;
}

/* Half the cap for batch buffers (at most what batching can use), the
 * rest for packets staged while handshakes run. */
static void size_buffers(size_t cap, int *n_tx, int *n_rx)
{
	size_t n = cap / 2 / WG_DP_BUF_LEN;

	n = n > 3 ? n - 1 : 2; /* less TUN reads; never fewer than 1 + 1 + 1 */
	*n_tx = (int)(n / 2 < WG_DP_MAX_TX_BUFS ? n / 2 : WG_DP_MAX_TX_BUFS);
	*n_rx = (int)(n - (size_t)*n_tx < WG_DP_MAX_RX_BUFS ? n - (size_t)*n_tx
							    : WG_DP_MAX_RX_BUFS);
	if (*n_tx < 1)
		*n_tx = 1;
	if (*n_rx < 1)
		*n_rx = 1;
}

/* TUN reads: as much as the trains hold (a read is flushed with them),
 * and room for a largest packet besides another. */
static int read_buffers(int n_tx)
{
	return n_tx < 2 ? 2 : n_tx;
}

size_t wg_dp_staged_budget(const struct wg_dp *dp)
{
	size_t bufs = (size_t)(dp->n_rd + dp->n_tx + dp->n_rx) * WG_DP_BUF_LEN;

	return dp->cap_bytes > bufs ? dp->cap_bytes - bufs : 0;
}

bool wg_dp_jobs_use_key(const struct wg_dp *dp, const uint8_t *key)
{
	for (size_t i = 0; dp && i < dp->n_jobs; i++)
		if (dp->jobs[i].key == key)
			return true;
	for (size_t i = 0; dp && i < dp->n_rx_jobs; i++)
		if (dp->rx_jobs[i].key == key)
			return true;
	return false;
}

static uint8_t *buffers_start(const struct wg_dp *dp)
{
	return dp->region + page_round(sizeof(*dp));
}

static void carve(struct wg_dp *dp)
{
	uint8_t *p = buffers_start(dp);

	dp->rd = p;
	dp->rd_len = (size_t)dp->n_rd * WG_DP_BUF_LEN;
	p += dp->rd_len;
	for (int i = 0; i < dp->n_tx; i++, p += WG_DP_BUF_LEN)
		dp->tx_bufs[i] = p;
	for (int i = 0; i < dp->n_rx; i++, p += WG_DP_BUF_LEN)
		dp->rx_bufs[i] = p;
}

/* --- idle trim --- */

static void trim(struct wg_device *dev, struct wg_dp *dp)
{
	size_t off = page_round(sizeof(*dp));

	(void)madvise(dp->region + off, dp->region_len - off, MADV_DONTNEED);
	if (dev->tun)
		wg_tun_trim(dev->tun);
	dp->touched = false;
}

static void arm_trim(struct wg_dp *dp, uint64_t after_ns)
{
	struct timeval tv = {(time_t)(after_ns / WG_NSEC_PER_SEC),
			     (suseconds_t)(after_ns % WG_NSEC_PER_SEC / 1000)};

	if (dp->trim_ev && evtimer_add(dp->trim_ev, &tv) == 0)
		dp->trim_armed = true;
}

static void on_trim(evutil_socket_t fd, short what, void *arg)
{
	struct wg_device *dev = arg;
	struct wg_dp *dp = dev->dp;
	uint64_t idle, limit = WG_DP_IDLE_TRIM_SEC * WG_NSEC_PER_SEC;

	wg_dev_tick(dev);
	idle = wg_dev_now(dev) - dp->last_busy_ns;
	dp->trim_armed = false;
	if (idle < limit) {
		arm_trim(dp, limit - idle);
		return;
	}
	if (dp->touched)
		trim(dev, dp);
}

void wg_dp_busy(struct wg_device *dev)
{
	struct wg_dp *dp = dev->dp;

	/* Handshake-only turns leave the timers alone (an idle daemon with
	 * no traffic arms nothing). */
	if (!dp->moved)
		return;
	dp->moved = false;
	dp->touched = true;
	dp->last_busy_ns = wg_dev_now(dev);
	if (!dp->trim_armed)
		arm_trim(dp, WG_DP_IDLE_TRIM_SEC * WG_NSEC_PER_SEC);
}

/* Threads doing crypto, the event loop's included. Default (0): one per
 * online CPU, at most AUTO_THREADS (a batch of ~45 messages does not split
 * usefully further). Never more than the CPUs: a spare thread only
 * competes with the loop. See docs/performance.md. */
#define AUTO_THREADS 4

static unsigned int crypto_threads(unsigned int want)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned int n;

	if (cpus < 1)
		cpus = 1;
	n = want ? want : (cpus < AUTO_THREADS ? (unsigned int)cpus : AUTO_THREADS);
	return n > (unsigned long)cpus ? (unsigned int)cpus : n;
}

static void start_workers(struct wg_dp *dp, unsigned int want)
{
	unsigned int n = crypto_threads(want);

	if (n > 1 && wg_workers_create(n - 1, &dp->workers) == 0)
		wg_log_info("data path: %u crypto threads", n);
}

/* --- create / destroy --- */

static void enable_tun_offload(struct wg_device *dev, struct wg_dp *dp)
{
	unsigned int on = 0;

	if (dev->tun && !dp->portable && wg_tun_set_offload(dev->tun, true, &on) == 0)
		dp->tun_offload = on;
	if (on)
		wg_log_info("TUN offloads on:%s%s%s", on & WG_TUN_OFFLOAD_CSUM ? " checksum" : "",
			    on & WG_TUN_OFFLOAD_TSO ? " TSO" : "",
			    on & WG_TUN_OFFLOAD_USO ? " USO" : "");
}

int wg_dp_create(struct wg_device *dev, const struct wg_datapath_config *cfg, struct wg_dp **out)
{
	size_t cap = cap_bytes(cfg), len;
	int n_tx, n_rx;
	struct wg_dp *dp;
	void *mem;

	*out = NULL;
	size_buffers(cap, &n_tx, &n_rx);
	len = page_round(sizeof(*dp)) + (size_t)(read_buffers(n_tx) + n_tx + n_rx) * WG_DP_BUF_LEN;
	mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return -ENOMEM;
	/* Zero-filled and untouched: set fields one by one, so only the
	 * pages in use ever get memory (the struct is mostly batch tables). */
	dp = mem;
	dp->cap_bytes = cap;
	dp->portable = cfg->portable;
	dp->n_tx = n_tx;
	dp->n_rx = n_rx;
	dp->n_rd = read_buffers(n_tx);
	dp->region = mem;
	dp->region_len = len;
	carve(dp);
	if (dev->base && !dev->fake_clock)
		dp->trim_ev = evtimer_new(dev->base, on_trim, dev);
	enable_tun_offload(dev, dp);
	if (dp->portable)
		wg_log_info("portable data path: one packet per call, no offloads");
	start_workers(dp, cfg->threads);
	*out = dp;
	return 0;
}

void wg_dp_destroy(struct wg_dp *dp)
{
	if (!dp)
		return;
	if (dp->trim_ev)
		event_free(dp->trim_ev);
	wg_workers_destroy(dp->workers);
	/* Only packets live here; the kernel clears the pages before anyone
	 * else gets them. */
	munmap(dp->region, dp->region_len);
}

/* --- TX trains --- */

static bool joins(const struct wg_dp_train *t, const struct wg_peer *peer, size_t len)
{
	return t->peer == peer && !t->closed && len <= t->seg && t->len + len <= WG_DP_TRAIN_MAX &&
	       t->nseg < WG_DP_TRAIN_SEGS;
}

uint8_t *wg_dp_tx_reserve(struct wg_dp *dp, struct wg_peer *peer, size_t len)
{
	struct wg_dp_train *t = dp->n_trains ? &dp->trains[dp->n_trains - 1] : NULL;
	bool room = dp->tx_used + len <= WG_DP_BUF_LEN;

	if (len > WG_DP_TRAIN_MAX)
		return NULL;
	dp->res_join = t && room && joins(t, peer, len);
	dp->res_next_buf = !room;
	if (dp->res_join)
		return t->buf + t->len;
	if (dp->n_trains == WG_DP_MAX_TRAINS || (!room && dp->tx_cur + 1 >= dp->n_tx))
		return NULL;
	return room ? dp->tx_bufs[dp->tx_cur] + dp->tx_used : dp->tx_bufs[dp->tx_cur + 1];
}

void wg_dp_tx_commit(struct wg_dp *dp, struct wg_peer *peer, size_t len, bool data)
{
	struct wg_dp_train *t;

	if (dp->res_join) {
		t = &dp->trains[dp->n_trains - 1];
		t->len += len;
		t->nseg++;
		t->closed = len < t->seg;
	} else {
		if (dp->res_next_buf) {
			dp->tx_cur++;
			dp->tx_used = 0;
		}
		t = &dp->trains[dp->n_trains++];
		memset(t, 0, sizeof(*t));
		t->peer = peer;
		t->buf = dp->tx_bufs[dp->tx_cur] + dp->tx_used;
		t->len = t->seg = len;
		t->nseg = 1;
	}
	t->data += data;
	dp->tx_used += len;
	dp->moved = true;
}

void wg_dp_tx_reset(struct wg_dp *dp)
{
	dp->n_trains = 0;
	dp->tx_cur = 0;
	dp->tx_used = 0;
}
