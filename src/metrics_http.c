/* GET /metrics on libevent's evhttp. A scrape is a chunked reply: each
 * chunk is one step of the metrics cursor, made once the previous chunk
 * has left (the connection's write callback), so the loop runs in between
 * and at most one step is held. A client that goes away mid-scrape closes
 * its connection, which ends the scrape and frees the cursor. */
#include "wgd/metrics_http.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "wgd/addr.h"
#include "wgd/device.h"
#include "wgd/log.h"
#include "wgd/uapi.h"

#define MAX_HEADERS  8192 /* bytes of a request's start line and headers */
#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define TIMEOUT_S    30 /* a client that reads nothing for this long is dropped */

struct scrape {
	struct wg_metrics_http *h;
	struct scrape *prev, *next; /* in h->scrapes */
	struct evhttp_request *req;
	struct evhttp_connection *conn;
	struct wg_device_metrics *m;
	struct wg_uapi_writer w; /* the step being made */
	struct evbuffer *chunk;
	bool more; /* the cursor has more steps */
	size_t bytes;
	uint64_t t0_us;
};

struct wg_metrics_http {
	struct evhttp *http;
	struct wg_device *dev;
	char *device;
	struct scrape *scrapes;
	uint16_t port;
};

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* --- a scrape --- */

static void scrape_free(struct scrape *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		s->h->scrapes = s->next;
	if (s->next)
		s->next->prev = s->prev;
	wg_device_metrics_end(s->m);
	wg_uapi_writer_free(&s->w);
	evbuffer_free(s->chunk);
	free(s);
}

/* The connection is going away before the reply ended (the client left,
 * a timeout, the server stopping). A request libevent detached from it
 * (the client's EOF) is ours to free; one still attached goes with it. */
static void on_close(struct evhttp_connection *conn, void *arg)
{
	struct scrape *s = arg;

	wg_log_debug("metrics: scrape abandoned after %zu bytes", s->bytes);
	if (!evhttp_request_get_connection(s->req))
		evhttp_request_free(s->req);
	scrape_free(s);
}

static void scrape_done(struct scrape *s)
{
	evhttp_connection_set_closecb(s->conn, NULL, NULL);
	evhttp_send_reply_end(s->req);
	wg_log_debug("metrics: scrape of %zu bytes in %" PRIu64 " us", s->bytes,
		     mono_us() - s->t0_us);
	scrape_free(s);
}

/* Out of memory mid-reply: the status is sent already, so the client must
 * see a broken reply, not a short one that parses. */
static void scrape_fail(struct scrape *s)
{
	struct evhttp_connection *conn = s->conn;

	wg_log_error("metrics: scrape failed: out of memory");
	evhttp_connection_set_closecb(conn, NULL, NULL);
	scrape_free(s);
	evhttp_connection_free(conn);
}

static void on_sent(struct evhttp_connection *conn, void *arg);

/* Makes the next step and sends it, or ends the reply. */
static void scrape_pump(struct scrape *s)
{
	while (!s->w.len && s->more && !s->w.failed)
		s->more = wg_device_metrics_next(s->m, &s->w, WG_METRICS_HTTP_STEP);
	if (s->w.failed || (s->w.len && evbuffer_add(s->chunk, s->w.buf, s->w.len))) {
		scrape_fail(s);
		return;
	}
	if (!s->w.len) {
		scrape_done(s);
		return;
	}
	s->bytes += s->w.len;
	s->w.len = 0;
	evhttp_send_reply_chunk_with_cb(s->req, s->chunk, on_sent, s);
}

static void on_sent(struct evhttp_connection *conn, void *arg)
{
	scrape_pump(arg);
}

static struct scrape *scrape_new(struct wg_metrics_http *h, struct evhttp_request *req)
{
	struct scrape *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->chunk = evbuffer_new();
	if (!s->chunk) {
		free(s);
		return NULL;
	}
	s->h = h;
	s->req = req;
	s->conn = evhttp_request_get_connection(req);
	s->more = true;
	s->t0_us = mono_us();
	wg_uapi_writer_init(&s->w);
	s->next = h->scrapes;
	if (h->scrapes)
		h->scrapes->prev = s;
	h->scrapes = s;
	return s;
}

/* "?peers=basic" asks for the basic form (wg_device_metrics_begin_basic). */
static bool wants_basic(struct evhttp_request *req)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *q = uri ? evhttp_uri_get_query(uri) : NULL;
	struct evkeyvalq args;
	const char *v;
	bool basic;

	if (!q || evhttp_parse_query_str(q, &args))
		return false;
	v = evhttp_find_header(&args, "peers");
	basic = v && !strcmp(v, "basic");
	evhttp_clear_headers(&args);
	return basic;
}

static void scrape_start(struct wg_metrics_http *h, struct evhttp_request *req)
{
	struct scrape *s = scrape_new(h, req);
	int ret = !s ? -ENOMEM
		  : wants_basic(req)
			  ? wg_device_metrics_begin_basic(h->dev, h->device, &s->w, &s->m)
			  : wg_device_metrics_begin(h->dev, h->device, &s->w, &s->m);

	if (ret || s->w.failed) {
		if (s)
			scrape_free(s);
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", CONTENT_TYPE);
	evhttp_send_reply_start(req, HTTP_OK, "OK");
	evhttp_connection_set_closecb(s->conn, on_close, s);
	scrape_pump(s);
}

/* --- requests --- */

/* A short plain-text answer (evhttp_send_error would drop the headers). */
static void send_plain(struct evhttp_request *req, int code, const char *reason, const char *allow)
{
	struct evkeyvalq *hdr = evhttp_request_get_output_headers(req);
	struct evbuffer *body = evbuffer_new();

	evhttp_add_header(hdr, "Content-Type", "text/plain; charset=utf-8");
	if (allow)
		evhttp_add_header(hdr, "Allow", allow);
	if (body)
		evbuffer_add_printf(body, "%d %s\n", code, reason);
	evhttp_send_reply(req, code, reason, body);
	if (body)
		evbuffer_free(body);
}

static void on_request(struct evhttp_request *req, void *arg)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;

	if (!path || strcmp(path, "/metrics"))
		send_plain(req, HTTP_NOTFOUND, "Not Found", NULL);
	else if (evhttp_request_get_command(req) != EVHTTP_REQ_GET)
		send_plain(req, 405, "Method Not Allowed", "GET");
	else
		scrape_start(arg, req);
}

/* --- the listener --- */

/* A listening socket on addr; its port is read back into *port. */
static int listen_on(const union wg_sockaddr *addr, uint16_t *port)
{
	union wg_sockaddr bound;
	socklen_t len = sizeof(bound);
	int one = 1, fd = socket(addr->sa.sa_family, SOCK_STREAM, 0), ret = 0;

	if (fd < 0)
		return -errno;
	if (addr->sa.sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (evutil_make_listen_socket_reuseable(fd) || evutil_make_socket_nonblocking(fd) ||
	    evutil_make_socket_closeonexec(fd) ||
	    bind(fd, &addr->sa, (socklen_t)wg_sockaddr_len(addr)) || listen(fd, 128) ||
	    getsockname(fd, &bound.sa, &len))
		ret = -errno;
	if (ret) {
		close(fd);
		return ret;
	}
	*port = ntohs(bound.sa.sa_family == AF_INET ? bound.in4.sin_port : bound.in6.sin6_port);
	return fd;
}

static int http_init(struct wg_metrics_http *h, struct event_base *base, const char *device)
{
	h->device = strdup(device ? device : "wg");
	h->http = evhttp_new(base);
	if (!h->device || !h->http)
		return -ENOMEM;
	/* every method reaches on_request, which answers 405 itself */
	evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
						    EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
						    EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
	evhttp_set_timeout(h->http, TIMEOUT_S);
	/* evhttp buffers a request whole before on_request sees it, with no
	 * limit by default: a scrape has a short header and no body. */
	evhttp_set_max_headers_size(h->http, MAX_HEADERS);
	evhttp_set_max_body_size(h->http, 0);
	evhttp_set_gencb(h->http, on_request, h);
	return 0;
}

int wg_metrics_http_start(struct event_base *base, struct wg_device *dev, const char *device,
			  const char *listen, struct wg_metrics_http **out)
{
	struct wg_metrics_http *h = calloc(1, sizeof(*h));
	union wg_sockaddr addr;
	char text[WG_SOCKADDR_STRLEN];
	int fd, ret;

	*out = NULL;
	if (!h)
		return -ENOMEM;
	h->dev = dev;
	ret = wg_sockaddr_parse(&addr, listen) ? -EINVAL : http_init(h, base, device);
	fd = ret ? ret : listen_on(&addr, &h->port);
	if (fd >= 0 && !evhttp_accept_socket_with_handle(h->http, fd)) {
		close(fd);
		fd = -ENOMEM;
	}
	if (fd < 0) {
		wg_metrics_http_stop(h);
		return fd;
	}
	if (addr.sa.sa_family == AF_INET)
		addr.in4.sin_port = htons(h->port);
	else
		addr.in6.sin6_port = htons(h->port);
	wg_log_info("metrics: serving http://%s/metrics",
		    wg_sockaddr_format(&addr, text, sizeof(text)));
	*out = h;
	return 0;
}

void wg_metrics_http_stop(struct wg_metrics_http *h)
{
	if (!h)
		return;
	/* closing the connections ends their scrapes (on_close) */
	if (h->http)
		evhttp_free(h->http);
	while (h->scrapes)
		scrape_free(h->scrapes);
	free(h->device);
	free(h);
}

uint16_t wg_metrics_http_port(const struct wg_metrics_http *h)
{
	return h->port;
}
