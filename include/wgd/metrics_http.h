/* The metrics over HTTP (wgd --metrics ADDR:PORT): GET /metrics answers
 * the device's exposition (metrics.c) on libevent's evhttp, streamed in
 * chunks a step of peers at a time, so a scrape of a large device neither
 * blocks the event loop for long nor builds one large buffer.
 * "?peers=basic" leaves out the wgd_peer_* families. */
#ifndef WGD_METRICS_HTTP_H
#define WGD_METRICS_HTTP_H

#include <stdint.h>

struct event_base;
struct wg_device;
struct wg_metrics_http;

/* Peers per chunk of a scrape (one family's samples of this many peers). */
#define WG_METRICS_HTTP_STEP 256

/* Listens on listen ("127.0.0.1:9586" or "[::1]:9586"; numeric; port 0:
 * one the system chooses) and serves dev, named device in the labels
 * (NULL: "wg"; copied). The device must outlive the server. 0, -EINVAL
 * (bad address), -ENOMEM or the bind/listen error as -errno. */
int wg_metrics_http_start(struct event_base *base, struct wg_device *dev, const char *device,
			  const char *listen, struct wg_metrics_http **out);
/* Ends scrapes in progress (their connections close) and stops
 * listening. NULL is a no-op. */
void wg_metrics_http_stop(struct wg_metrics_http *h);
/* The port listened on (the chosen one for port 0). */
uint16_t wg_metrics_http_port(const struct wg_metrics_http *h);

#endif
