/* UAPI control server on libevent (get, set and wgd_metrics). Reads are fed to the incremental
 * request reader (a set is parsed line by line as it arrives, its change
 * sets charged to one budget for all connections), each complete request is
 * answered, replies are queued in a wiped buffer and written without
 * blocking. A connection that stalls in the middle of a request is closed. */
#include "wgd/control.h"

#include <errno.h>
#include <inttypes.h>
#include <event2/event.h>
#include <event2/util.h>
#include <stdint.h>
#include <stdlib.h>
#include <sodium.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "wgd/crypto.h"
#include "wgd/log.h"

#define READ_CHUNK	  16384
#define ACCEPT_BATCH	  64
#define EMFILE_BACKOFF_MS 100

/* SIGPIPE must not kill the daemon when a client goes away mid-reply. */
#ifdef MSG_NOSIGNAL
#define SEND_FLAGS MSG_NOSIGNAL
#else
#define SEND_FLAGS 0
#endif

struct conn {
	struct wg_control *ctl;	  /* not owned */
	struct conn *prev, *next; /* in ctl->conns */
	evutil_socket_t fd;	  /* owned */
	struct event *ev_read, *ev_write;
	struct event *ev_stall; /* armed while a request is unfinished */
	struct wg_uapi_reader in;
	struct wg_uapi_writer out;
	size_t out_off; /* bytes of out already sent */
	void *get;	/* cursor of the get or metrics reply being streamed, or NULL */
	int get_op;	/* which of the two: WG_UAPI_GET or WG_UAPI_METRICS */
	bool closing;	/* close once out is sent */
	bool discarding; /* after a framing error: input is dropped until EOF */
	bool paused;	/* reading stopped: too much unsent output */
	bool refused;	/* the budget refusal of this request is logged */
};

/* What answers requests: the ops and, for wgd_metrics, the metrics steps
 * (begin NULL: none). */
struct served {
	struct wg_control_ops ops;
	struct wg_control_metrics mx; /* mx.device: owned copy in a server */
};

struct wg_control {
	struct event_base *base; /* not owned */
	struct served sv;
	evutil_socket_t listen_fd; /* not owned */
	struct event *ev_accept;
	struct event *ev_backoff; /* re-arms accept after EMFILE */
	struct conn *conns;
	size_t n_conns;
	struct wg_uapi_budget budget; /* change sets of unfinished requests */
	unsigned int stall_ms;
};

/* ---- request handling (no I/O) ---- */

/* Both streamed replies, get and wgd_metrics (op), go in the same steps. */
static int stream_begin(const struct served *sv, int op, struct wg_uapi_writer *out, void **cursor)
{
	if (op == WG_UAPI_GET)
		return sv->ops.get_begin(sv->ops.dev, out, cursor);
	if (!sv->mx.begin)
		return -EOPNOTSUPP;
	return sv->mx.begin(sv->ops.dev, sv->mx.device ? sv->mx.device : "wg", out, cursor);
}

static bool stream_next(const struct served *sv, int op, void *cursor, struct wg_uapi_writer *out,
			size_t max_peers)
{
	if (op == WG_UAPI_GET)
		return sv->ops.get_next(cursor, out, max_peers);
	return sv->mx.next(cursor, out, max_peers);
}

static void stream_end(const struct served *sv, int op, void *cursor)
{
	if (op == WG_UAPI_GET)
		sv->ops.get_end(cursor);
	else
		sv->mx.end(cursor);
}

/* Starts a get or metrics reply (op) in out. *cursor is set if peers
 * remain to be written (get_next); otherwise the reply is complete: its
 * lines and errno=0, or only the errno line (nothing partial is left in
 * out). */
static void get_begin(const struct served *sv, int op, int err, struct wg_uapi_writer *out,
		      void **cursor)
{
	size_t mark = out->len;
	int ret = err;

	*cursor = NULL;
	if (!ret)
		ret = stream_begin(sv, op, out, cursor);
	if (!ret && !out->failed) {
		if (!*cursor)
			wg_uapi_put_errno(out, 0);
		return;
	}
	if (*cursor)
		stream_end(sv, op, *cursor);
	*cursor = NULL;
	if (!out->failed && out->len > mark) {
		wg_memzero(out->buf + mark, out->len - mark);
		out->len = mark;
	}
	wg_uapi_put_errno(out, ret ? -ret : ENOMEM);
}

/* Writes up to max_peers more peers of a get; once the last is written the
 * cursor is freed, *cursor becomes NULL and errno=0 ends the reply. */
static void get_next(const struct served *sv, int op, struct wg_uapi_writer *out, void **cursor,
		     size_t max_peers)
{
	if (stream_next(sv, op, *cursor, out, max_peers))
		return;
	stream_end(sv, op, *cursor);
	*cursor = NULL;
	wg_uapi_put_errno(out, 0);
}

/* A whole get or metrics reply at once (for callers without an event
 * loop). */
static void handle_get(const struct served *sv, int op, size_t len, struct wg_uapi_writer *out)
{
	struct wg_uapi_writer w;
	void *cursor;

	wg_uapi_writer_init(&w);
	get_begin(sv, op, len ? -EINVAL : 0, &w, &cursor);
	while (cursor)
		get_next(sv, op, &w, &cursor, SIZE_MAX);
	if (w.failed)
		wg_uapi_put_errno(out, ENOMEM);
	else
		wg_uapi_put_bytes(out, w.buf, w.len);
	wg_uapi_writer_free(&w);
}

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Applies a parsed set unless parsing failed (err), frees it, answers. */
static void apply_set(const struct wg_control_ops *ops, int err, struct wg_uapi_set *set,
		      struct wg_uapi_writer *out)
{
	uint64_t t0 = mono_us();
	size_t n_peers = set->n_peers;

	if (!err)
		err = ops->set(ops->dev, set);
	wg_uapi_set_free(set);
	if (err)
		wg_log_verbose("UAPI: set failed: %s", strerror(-err));
	else
		wg_log_debug("UAPI: set of %zu peer sections applied in %" PRIu64 " us", n_peers,
			     mono_us() - t0);
	wg_uapi_put_errno(out, err);
}

static void handle_set(const struct wg_control_ops *ops, const char *body, size_t len,
		       struct wg_uapi_writer *out)
{
	struct wg_uapi_set set;
	int ret = wg_uapi_parse_set(body, len, &set);

	apply_set(ops, ret, &set, out);
}

int wg_control_handle_metrics(const struct wg_control_ops *ops, const struct wg_control_metrics *mx,
			      int op, const char *body, size_t len, struct wg_uapi_writer *out)
{
	struct served sv = {.ops = *ops};

	if (mx)
		sv.mx = *mx;
	switch (op) {
	case WG_UAPI_GET:
	case WG_UAPI_METRICS:
		handle_get(&sv, op, len, out);
		return 0;
	case WG_UAPI_SET:
		handle_set(ops, body, len, out);
		return 0;
	default:
		wg_uapi_put_errno(out, -EINVAL);
		return -EINVAL;
	}
}

int wg_control_handle(const struct wg_control_ops *ops, int op, const char *body, size_t len,
		      struct wg_uapi_writer *out)
{
	return wg_control_handle_metrics(ops, NULL, op, body, len, out);
}

/* ---- connections ---- */

static void conn_free(struct conn *c)
{
	struct wg_control *ctl = c->ctl;

	if (c->prev)
		c->prev->next = c->next;
	else
		ctl->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	ctl->n_conns--;
	if (c->get)
		stream_end(&ctl->sv, c->get_op, c->get);
	event_free(c->ev_read);
	event_free(c->ev_write);
	event_free(c->ev_stall);
	evutil_closesocket(c->fd);
	wg_uapi_reader_free(&c->in);
	wg_uapi_writer_free(&c->out);
	sodium_free(c); /* zeroed */
}

static size_t conn_unsent(const struct conn *c)
{
	return c->out.len - c->out_off;
}

/* Sends what it can. 0 all sent, -EAGAIN pending (write event armed),
 * other negative errno: the connection is dead. */
static int conn_flush(struct conn *c)
{
	ssize_t n;

	if (c->out.failed)
		return -ENOMEM;
	while (conn_unsent(c)) {
		n = send(c->fd, c->out.buf + c->out_off, conn_unsent(c), SEND_FLAGS);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			event_add(c->ev_write, NULL);
			return -EAGAIN;
		}
		if (n < 0)
			return -errno;
		c->out_off += (size_t)n;
	}
	wg_memzero(c->out.buf, c->out.len);
	c->out.len = 0;
	c->out_off = 0;
	event_del(c->ev_write);
	return 0;
}

/* No more requests are read while a get streams, while the output is too
 * far behind, or once the connection is closing. */
static bool conn_blocked(const struct conn *c)
{
	return c->closing || c->get || conn_unsent(c) >= WG_CONTROL_OUT_HIGH;
}

/* Output is all sent and the connection is closing. After a framing error
 * the client may still be writing the rest of its request: closing with
 * unread data would reset it before it reads the answer, so the write side
 * is shut and input is read and dropped until EOF, within stall_ms of the
 * error (conn_arm_stall). Returns false if the connection was freed. */
static bool conn_finish(struct conn *c)
{
	if (!c->discarding || shutdown(c->fd, SHUT_WR) || event_add(c->ev_read, NULL)) {
		conn_free(c);
		return false;
	}
	return true;
}

/* Moves a streaming get on (one step of WG_CONTROL_GET_STEP peers per
 * loop turn, each once the previous one is sent, so the data path runs in
 * between), arms the events and sends. Requests waiting behind a get or a
 * full output stay in the socket until reading resumes. Returns false if
 * the connection was freed. */
static bool conn_process(struct conn *c)
{
	int ret;

	if (c->get && !conn_unsent(c))
		get_next(&c->ctl->sv, c->get_op, &c->out, &c->get, WG_CONTROL_GET_STEP);
	c->paused = !c->closing && conn_blocked(c);
	if (conn_blocked(c))
		event_del(c->ev_read);
	else
		event_add(c->ev_read, NULL);
	ret = conn_flush(c);
	if (ret == -EAGAIN)
		return true;
	if (ret) {
		conn_free(c);
		return false;
	}
	if (c->closing && !c->get)
		return conn_finish(c);
	if (c->get)
		event_add(c->ev_write, NULL); /* the next step, next loop turn */
	return true;
}

static void conn_on_write(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	int ret = conn_flush(c);

	if (ret == -EAGAIN)
		return;
	if (ret) {
		conn_free(c);
		return;
	}
	if (c->closing && !c->get) {
		conn_finish(c);
		return;
	}
	if (c->paused || c->get)
		conn_process(c);
}

/* Logged once per request, when the budget is first hit. */
static void conn_note_refusal(struct conn *c, int err)
{
	if (err != -ENOBUFS || c->refused)
		return;
	c->refused = true;
	wg_log_info("UAPI: set refused (No buffer space available): the unfinished requests of all "
		    "connections may hold %zu KiB of change sets",
		    c->ctl->budget.limit >> 10);
}

/* Feeds read bytes to the reader and answers the requests they complete,
 * until the connection must wait. Returns the bytes consumed. */
static size_t conn_consume(struct conn *c, const char *data, size_t len)
{
	const struct served *sv = &c->ctl->sv;
	struct wg_uapi_set set;
	size_t off = 0, used;
	int op, err;

	while (off < len && !conn_blocked(c)) {
		op = wg_uapi_reader_feed(&c->in, data + off, len - off, &used, &err, &set);
		off += used;
		conn_note_refusal(c, op == WG_UAPI_NONE ? wg_uapi_reader_error(&c->in) : err);
		if (op == WG_UAPI_NONE)
			break;
		c->refused = false;
		if (op == WG_UAPI_GET || op == WG_UAPI_METRICS) {
			c->get_op = op;
			get_begin(sv, op, err, &c->out, &c->get);
		} else if (op == WG_UAPI_SET) {
			apply_set(&sv->ops, err, &set, &c->out);
		} else {
			/* A framing error is answered, then the connection closes;
			 * the rest of the input is dropped (conn_finish). */
			wg_uapi_put_errno(&c->out, op);
			c->closing = true;
			c->discarding = true;
			off = len;
		}
	}
	return off;
}

/* An unfinished request gives the client stall_ms from its last byte; a
 * framing error, stall_ms from the error to take the answer and close
 * (armed once: a client that never reads nor closes is not kept). */
static void conn_arm_stall(struct conn *c)
{
	struct timeval tv = {c->ctl->stall_ms / 1000, (c->ctl->stall_ms % 1000) * 1000};

	if (c->discarding) {
		if (!event_pending(c->ev_stall, EV_TIMEOUT, NULL))
			event_add(c->ev_stall, &tv);
	} else if (!c->closing && wg_uapi_reader_busy(&c->in)) {
		event_add(c->ev_stall, &tv);
	} else {
		event_del(c->ev_stall);
	}
}

static void conn_on_stall(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	if (c->discarding)
		wg_log_info("UAPI: closing a connection that did not close within %u ms of its "
			    "malformed request",
			    c->ctl->stall_ms);
	else
		wg_log_info("UAPI: closing a connection that sent part of a request and then "
			    "nothing for %u ms",
			    c->ctl->stall_ms);
	conn_free(c);
}

/* Drops n bytes that conn_consume used from the socket (they were only
 * peeked at). */
static int conn_drain(struct conn *c, char *buf, size_t n)
{
	ssize_t got;

	while (n) {
		got = recv(c->fd, buf, n, 0);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return -EIO;
		wg_memzero(buf, (size_t)got);
		n -= (size_t)got;
	}
	return 0;
}

/* Bytes are peeked, not read: whatever follows a request that makes the
 * connection wait (a streaming get, a full output) stays in the socket, so
 * no request text is buffered here. */
static void conn_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	char buf[READ_CHUNK];
	ssize_t n = recv(fd, buf, sizeof(buf), c->discarding ? 0 : MSG_PEEK);
	size_t used;

	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (c->discarding) {
		if (n > 0)
			wg_memzero(buf, (size_t)n);
		else
			conn_free(c);
		return;
	}
	if (n <= 0) {
		/* EOF: finish sending what is queued, then close */
		c->closing = true;
		conn_arm_stall(c);
		conn_process(c);
		return;
	}
	used = conn_consume(c, buf, (size_t)n);
	wg_memzero(buf, (size_t)n);
	if (conn_drain(c, buf, used)) {
		conn_free(c);
		return;
	}
	conn_arm_stall(c);
	conn_process(c);
}

static int conn_new(struct wg_control *ctl, evutil_socket_t fd)
{
	/* Locked: its reader holds a set's device private key as parsed
	 * (sodium_malloc needs libsodium initialised). */
	struct conn *c = wg_crypto_init() < 0 ? NULL : sodium_malloc(sizeof(*c));

	if (!c)
		return -ENOMEM;
	memset(c, 0, sizeof(*c));
	c->ctl = ctl;
	c->fd = fd;
	c->ev_read = event_new(ctl->base, fd, EV_READ | EV_PERSIST, conn_on_read, c);
	c->ev_write = event_new(ctl->base, fd, EV_WRITE | EV_PERSIST, conn_on_write, c);
	c->ev_stall = evtimer_new(ctl->base, conn_on_stall, c);
	if (!c->ev_read || !c->ev_write || !c->ev_stall || event_add(c->ev_read, NULL)) {
		if (c->ev_read)
			event_free(c->ev_read);
		if (c->ev_write)
			event_free(c->ev_write);
		if (c->ev_stall)
			event_free(c->ev_stall);
		sodium_free(c);
		return -ENOMEM;
	}
	wg_uapi_reader_init(&c->in, &ctl->budget);
	wg_uapi_writer_init(&c->out);
	c->next = ctl->conns;
	if (ctl->conns)
		ctl->conns->prev = c;
	ctl->conns = c;
	ctl->n_conns++;
	return 0;
}

/* ---- listener ---- */

static void on_backoff(evutil_socket_t fd, short what, void *arg)
{
	struct wg_control *ctl = arg;

	event_add(ctl->ev_accept, NULL);
}

/* Out of descriptors: the pending client would wake us in a loop, so stop
 * accepting for a moment. */
static void accept_backoff(struct wg_control *ctl)
{
	struct timeval tv = {0, EMFILE_BACKOFF_MS * 1000};

	wg_log_error("UAPI: accept: %s", strerror(errno));
	event_del(ctl->ev_accept);
	event_add(ctl->ev_backoff, &tv);
}

static void accept_one(struct wg_control *ctl, evutil_socket_t fd)
{
	if (ctl->n_conns >= WG_CONTROL_MAX_CONNS || evutil_make_socket_nonblocking(fd) ||
	    evutil_make_socket_closeonexec(fd) || conn_new(ctl, fd)) {
		wg_log_verbose("UAPI: connection refused");
		evutil_closesocket(fd);
	}
}

static void on_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct wg_control *ctl = arg;
	evutil_socket_t fd;
	int i;

	for (i = 0; i < ACCEPT_BATCH; i++) {
		fd = accept(lfd, NULL, NULL);
		if (fd >= 0) {
			accept_one(ctl, fd);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
			accept_backoff(ctl);
		return;
	}
}

int wg_control_start_ops(struct event_base *base, int listen_fd, const struct wg_control_ops *ops,
			 struct wg_control **out)
{
	struct wg_control *ctl = calloc(1, sizeof(*ctl));

	*out = NULL;
	if (!ctl)
		return -ENOMEM;
	ctl->base = base;
	ctl->sv.ops = *ops;
	ctl->listen_fd = listen_fd;
	ctl->budget.limit = WG_CONTROL_REQUEST_BUDGET;
	ctl->stall_ms = WG_CONTROL_STALL_MS;
	if (evutil_make_socket_nonblocking(listen_fd)) {
		free(ctl);
		return -EINVAL;
	}
	ctl->ev_accept = event_new(base, listen_fd, EV_READ | EV_PERSIST, on_accept, ctl);
	ctl->ev_backoff = evtimer_new(base, on_backoff, ctl);
	if (!ctl->ev_accept || !ctl->ev_backoff || event_add(ctl->ev_accept, NULL)) {
		wg_control_stop(ctl);
		return -ENOMEM;
	}
	*out = ctl;
	return 0;
}

void wg_control_stop(struct wg_control *ctl)
{
	if (!ctl)
		return;
	while (ctl->conns)
		conn_free(ctl->conns);
	if (ctl->ev_accept)
		event_free(ctl->ev_accept);
	if (ctl->ev_backoff)
		event_free(ctl->ev_backoff);
	free((char *)ctl->sv.mx.device);
	free(ctl);
}

int wg_control_set_metrics(struct wg_control *ctl, const struct wg_control_metrics *mx)
{
	char *device = mx->device ? strdup(mx->device) : NULL;

	if (mx->device && !device)
		return -ENOMEM;
	free((char *)ctl->sv.mx.device);
	ctl->sv.mx = *mx;
	ctl->sv.mx.device = device;
	return 0;
}

size_t wg_control_conn_count(const struct wg_control *ctl)
{
	return ctl->n_conns;
}

void wg_control_set_limits(struct wg_control *ctl, size_t budget, unsigned int stall_ms)
{
	ctl->budget.limit = budget;
	ctl->stall_ms = stall_ms;
}

size_t wg_control_budget_used(const struct wg_control *ctl)
{
	return ctl->budget.used;
}
