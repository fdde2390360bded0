/* The UAPI control server: serves get/set requests (and wgd's
 * wgd_metrics: the metrics exposition) on an AF_UNIX stream
 * listener through a libevent base. Each connection may carry several
 * requests; set requests are parsed as their lines arrive (no request text
 * is buffered beyond one unfinished line), and the change sets of all
 * unfinished requests share one memory budget. Replies go out with
 * non-blocking writes from a buffer that is wiped when freed (get replies
 * hold the private key). */
#ifndef WGD_CONTROL_H
#define WGD_CONTROL_H

#include <stdbool.h>
#include <stddef.h>

#include "device.h"
#include "uapi.h"

struct event_base;
struct wg_control;

#define WG_CONTROL_MAX_CONNS 1024	/* further clients are accepted and closed */
#define WG_CONTROL_OUT_HIGH  (1u << 20) /* stop reading while this much is unsent */

/* Bytes that the change sets of unfinished set requests may hold, all
 * connections together (peer entries, locked, and allowed-IP arrays; the
 * text is not kept). `wg setconf` of 100,000 peers with two allowed IPs
 * each (bench/scale_gen.py) sends 16.2 MiB of text whose change set peaks
 * at 25.2 MiB (arrays grow by doubling; old and new count while one grows),
 * so such a set fits alone with room to spare (about 250,000 peers would
 * fit). A set that would go over is answered errno=-ENOBUFS once it ends;
 * the other connections are unaffected. */
#define WG_CONTROL_REQUEST_BUDGET (64u << 20)
/* A connection that has sent part of a request and then nothing for this
 * long is closed, which releases its share of the budget. wg sends a whole
 * request at once; 20 s leaves room for a client descheduled on a loaded
 * machine or a person pasting lines into socat, and still frees the budget
 * promptly. An idle connection between requests is left alone. */
#define WG_CONTROL_STALL_MS 20000

/* What the server calls for each request; the device in production, fakes
 * in tests. A get is written in steps so that a device with 100,000 peers
 * neither lands in one buffer nor blocks the event loop: get_begin writes
 * the interface lines and leaves a cursor (NULL: the reply is complete),
 * get_next writes up to max_peers more peers and returns false once the
 * last is out, get_end frees a cursor at any point. */
struct wg_control_ops {
	int (*get_begin)(struct wg_device *dev, struct wg_uapi_writer *w, void **cursor);
	bool (*get_next)(void *cursor, struct wg_uapi_writer *w, size_t max_peers);
	void (*get_end)(void *cursor);
	int (*set)(struct wg_device *dev, const struct wg_uapi_set *set);
	struct wg_device *dev;
};

/* A wgd_metrics request is answered like a get, through these steps: the
 * exposition text (it has no empty line), then "errno=0"; a server
 * without them answers errno=EOPNOTSUPP. device names the interface in
 * the labels (NULL: "wg"). Apart from wg_control_ops so that the
 * initializers of existing ops stay whole. */
struct wg_control_metrics {
	int (*begin)(struct wg_device *dev, const char *device, struct wg_uapi_writer *w,
		     void **cursor);
	bool (*next)(void *cursor, struct wg_uapi_writer *w, size_t max_peers);
	void (*end)(void *cursor);
	const char *device;
};

/* Peers written per event-loop turn while a get streams: about 64 KiB (a
 * metrics step writes one family of as many peers: less). */
#define WG_CONTROL_GET_STEP 256

/* Answers one request given whole as text (op as wg_uapi_reader_feed
 * returns it, body the lines after the first) by appending the reply to
 * out; for callers without a connection. Get: the lines, then "errno=0", or
 * only "errno=N" with N the positive errno (wg parses a get's errno only
 * unsigned). Set: "errno=N", N 0 or the negative errno (wg negates it).
 * Unknown op: "errno=-EINVAL". Returns 0 to keep serving the connection,
 * a negative errno to close it once the reply is sent. */
int wg_control_handle(const struct wg_control_ops *ops, int op, const char *body, size_t len,
		      struct wg_uapi_writer *out);
/* The same, with mx answering wgd_metrics (WG_UAPI_METRICS; NULL: none). */
int wg_control_handle_metrics(const struct wg_control_ops *ops, const struct wg_control_metrics *mx,
			      int op, const char *body, size_t len, struct wg_uapi_writer *out);

/* listen_fd: a listening AF_UNIX stream socket, made non-blocking here; not
 * owned (the caller closes it and unlinks the path after wg_control_stop).
 * ops is copied. 0 or -errno. */
int wg_control_start_ops(struct event_base *base, int listen_fd, const struct wg_control_ops *ops,
			 struct wg_control **out);
/* Serves wgd_metrics through mx from now on (copied, device too). 0 or
 * -ENOMEM. */
int wg_control_set_metrics(struct wg_control *c, const struct wg_control_metrics *mx);
/* Closes every connection and stops listening. NULL is a no-op. */
void wg_control_stop(struct wg_control *c);
/* Open connections (for tests and status). */
size_t wg_control_conn_count(const struct wg_control *c);
/* Replaces the defaults WG_CONTROL_REQUEST_BUDGET and WG_CONTROL_STALL_MS
 * (tests use small ones); applies to requests read from then on. */
void wg_control_set_limits(struct wg_control *c, size_t budget, unsigned int stall_ms);
/* Bytes of the budget held by unfinished requests right now. */
size_t wg_control_budget_used(const struct wg_control *c);

/* The server bound to a device. Inline so that the server itself does not
 * reference the device and can be linked into tests with fakes. */
static inline int wg_control_dev_get_begin(struct wg_device *dev, struct wg_uapi_writer *w,
					   void **cursor)
{
	struct wg_device_dump *d;
	int ret = wg_device_dump_begin(dev, w, &d);

	*cursor = d;
	return ret;
}

static inline bool wg_control_dev_get_next(void *cursor, struct wg_uapi_writer *w, size_t max_peers)
{
	return wg_device_dump_next(cursor, w, max_peers);
}

static inline void wg_control_dev_get_end(void *cursor)
{
	wg_device_dump_end(cursor);
}

static inline int wg_control_dev_metrics_begin(struct wg_device *dev, const char *device,
					       struct wg_uapi_writer *w, void **cursor)
{
	struct wg_device_metrics *m;
	int ret = wg_device_metrics_begin(dev, device, w, &m);

	*cursor = m;
	return ret;
}

static inline bool wg_control_dev_metrics_next(void *cursor, struct wg_uapi_writer *w,
					       size_t max_peers)
{
	return wg_device_metrics_next(cursor, w, max_peers);
}

static inline void wg_control_dev_metrics_end(void *cursor)
{
	wg_device_metrics_end(cursor);
}

/* device: the interface name in the metrics' labels (NULL: "wg"). */
static inline int wg_control_start_named(struct event_base *base, int listen_fd,
					 struct wg_device *dev, const char *device,
					 struct wg_control **out)
{
	const struct wg_control_ops ops = {
		.get_begin = wg_control_dev_get_begin,
		.get_next = wg_control_dev_get_next,
		.get_end = wg_control_dev_get_end,
		.set = wg_device_set,
		.dev = dev,
	};
	const struct wg_control_metrics mx = {
		.begin = wg_control_dev_metrics_begin,
		.next = wg_control_dev_metrics_next,
		.end = wg_control_dev_metrics_end,
		.device = device,
	};
	int ret = wg_control_start_ops(base, listen_fd, &ops, out);

	if (!ret && (ret = wg_control_set_metrics(*out, &mx)) < 0) {
		wg_control_stop(*out);
		*out = NULL;
	}
	return ret;
}

#endif
