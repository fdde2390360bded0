/* The cross-platform UAPI text protocol (wireguard.com/xplatform): framing
 * of requests on a stream, parsing of a set request into a change set that
 * is validated as a whole before anything is applied, and the key=value
 * writer used by get. Pure: no sockets, no device. */
#ifndef WGD_UAPI_H
#define WGD_UAPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "wire.h"

#define WG_UAPI_MAX_LINE 4096 /* longest accepted line */
#define WG_UAPI_MAX_REQUEST (64u << 20) /* largest accepted set request */

struct wg_uapi_aip {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	uint8_t cidr;
	bool remove; /* "allowed_ip=-prefix" */
};

struct wg_uapi_peer {
	uint8_t public_key[WG_KEY_LEN];
	bool remove;
	bool update_only;
	bool replace_allowed_ips;
	bool has_preshared_key;
	uint8_t preshared_key[WG_KEY_LEN]; /* all zero = remove the PSK */
	bool has_endpoint;
	union wg_sockaddr endpoint;
	bool has_keepalive;
	uint16_t keepalive; /* seconds, 0 = off */
	struct wg_uapi_aip *aips;
	size_t n_aips, cap_aips;
};

struct wg_uapi_set {
	bool has_private_key;
	uint8_t private_key[WG_KEY_LEN]; /* all zero = remove the identity */
	bool has_listen_port;
	uint16_t listen_port;
	bool has_fwmark;
	uint32_t fwmark;
	bool replace_peers;
	struct wg_uapi_peer *peers;
	size_t n_peers, cap_peers;
};

/* Parses the body of a set request: the lines after "set=1\n", up to but
 * not including the terminating empty line (each line ends in '\n').
 * Returns 0, or a negative errno (-EINVAL malformed value or unknown key,
 * -EPROTO a device key after a peer or protocol_version != 1, -ENOMEM,
 * -EMSGSIZE a line over WG_UAPI_MAX_LINE); on error *out is freed and
 * zeroed. Keys in *out are secret: release with wg_uapi_set_free. */
int wg_uapi_parse_set(const char *body, size_t len, struct wg_uapi_set *out);
void wg_uapi_set_free(struct wg_uapi_set *set);

/* Request framing on a connection. Feed bytes as they arrive; a request is
 * complete at the first empty line. */
enum wg_uapi_op { WG_UAPI_NONE, WG_UAPI_GET, WG_UAPI_SET };

struct wg_uapi_reader {
	char *buf;
	size_t len, cap;
	size_t scanned; /* bytes already searched for the terminator */
};

void wg_uapi_reader_init(struct wg_uapi_reader *r);
void wg_uapi_reader_free(struct wg_uapi_reader *r);
/* Appends data. 0, or -EMSGSIZE when the pending request would exceed
 * WG_UAPI_MAX_REQUEST or a line WG_UAPI_MAX_LINE (the connection should
 * then be answered with that errno and closed). */
int wg_uapi_reader_feed(struct wg_uapi_reader *r, const char *data, size_t len);
/* If a complete request is buffered: returns its op (or -EINVAL for an
 * unknown first line, which still consumes the request), sets *body/*body_len
 * to the lines after the first (valid until the next call) and consumes it.
 * WG_UAPI_NONE if more bytes are needed. */
int wg_uapi_reader_next(struct wg_uapi_reader *r, const char **body, size_t *body_len);

/* Growable output buffer for get replies. */
struct wg_uapi_writer {
	char *buf;
	size_t len, cap;
	bool failed; /* an allocation failed; the reply must become errno=-ENOMEM */
};

void wg_uapi_writer_init(struct wg_uapi_writer *w);
void wg_uapi_writer_free(struct wg_uapi_writer *w); /* zeroes the buffer */
void wg_uapi_put_str(struct wg_uapi_writer *w, const char *key, const char *value);
void wg_uapi_put_u64(struct wg_uapi_writer *w, const char *key, uint64_t value);
void wg_uapi_put_key(struct wg_uapi_writer *w, const char *key, const uint8_t k[WG_KEY_LEN]);
void wg_uapi_put_endpoint(struct wg_uapi_writer *w, const char *key, const union wg_sockaddr *a);
void wg_uapi_put_aip(struct wg_uapi_writer *w, int family, const uint8_t *addr, uint8_t cidr);
/* Final "errno=N\n\n". */
void wg_uapi_put_errno(struct wg_uapi_writer *w, int err);

#endif
