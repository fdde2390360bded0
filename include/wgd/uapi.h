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

/* Room for an interface name and its NUL (IFNAMSIZ on Linux and the BSDs). */
#define WG_IFNAMSIZ	 16
#define WG_UAPI_MAX_LINE 4096 /* longest accepted line */
/* Largest accepted request. Its text is not kept (see wg_uapi_reader), so
 * this bounds the work one request may cause, not memory. */
#define WG_UAPI_MAX_REQUEST (64u << 20)

/* Memory that change sets being parsed may hold, shared by every reader
 * (connection) that points at it: the bytes of their peer and allowed-IP
 * arrays (the text itself is not kept, see wg_uapi_reader). */
struct wg_uapi_budget {
	size_t limit;
	size_t used;
};

struct wg_uapi_aip {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	uint8_t cidr;
	bool remove; /* "allowed_ip=-prefix" */
};

/* wgd's extension keys of a peer section (stock tools never send them):
 * wgd_source= and wgd_egress=; "none" clears (unset pair, empty name). */
struct wg_uapi_peer_ext {
	bool has_source;
	struct wg_addr_pair source;
	bool has_egress;
	char egress[WG_IFNAMSIZ];
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
	/* Out of line: NULL unless the section has a wgd_ key, so a set of
	 * stock sections costs one pointer per peer. */
	struct wg_uapi_peer_ext *ext;
};

struct wg_uapi_set {
	bool has_private_key;
	uint8_t private_key[WG_KEY_LEN]; /* all zero = remove the identity */
	bool has_listen_port;
	uint16_t listen_port;
	bool has_fwmark;
	uint32_t fwmark;
	bool replace_peers;
	/* wgd extension: wgd_bind= ("none" clears). */
	bool has_bind;
	struct wg_addr_pair bind;
	struct wg_uapi_peer *peers;
	size_t n_peers, cap_peers;
	/* private: the budget charged for the arrays (NULL: none) and how much */
	struct wg_uapi_budget *budget;
	size_t charged;
};

/* Parses the body of a set request: the lines after "set=1\n", up to but
 * not including the terminating empty line (each line ends in '\n'; a last
 * line without one is accepted). Nothing is applied: the device applies the
 * returned change set as a whole.
 *
 * Returns 0 or a negative errno, the same codes wireguard-go answers:
 *   -EPROTO       a line without '=', or an empty line inside the body
 *   -EINVAL       unknown key (a device key after the first public_key is an
 *                 unknown peer key, as in wireguard-go), bad value, empty value
 *   -EPROTONOSUPPORT protocol_version other than 1 (the kernel's answer)
 *   -EMSGSIZE     a line longer than WG_UAPI_MAX_LINE
 *   -ENOBUFS      (only through a reader) its budget would be exceeded
 *   -ENOMEM
 * On error *out is freed and zeroed. Keys in *out are secret: release with
 * wg_uapi_set_free.
 *
 * Peers appear in request order, one entry per public_key line. The same key
 * may appear in several entries: apply them in order, each continuing from
 * the state the previous one left (as wireguard-go does). Within an entry the
 * parser already resolved ordering: remove=true drops every other field of
 * the entry (they are still validated); replace_allowed_ips=true drops the
 * allowed_ip lines before it in the entry; a repeated key keeps the last
 * value. Allowed-IP addresses are masked to their cidr. update_only=true
 * means: skip the entry if the peer does not exist yet. */
int wg_uapi_parse_set(const char *body, size_t len, struct wg_uapi_set *out);
void wg_uapi_set_free(struct wg_uapi_set *set);

/* Requests on a connection, read incrementally: each line is parsed as
 * soon as its '\n' arrives, so the only request text held is one unfinished
 * line (at most WG_UAPI_MAX_LINE bytes, in ordinary memory that is wiped as
 * each line is consumed: request text never takes locked memory); a set's
 * state is its change set so far, whose secrets sit in locked memory (the
 * device key inside the reader: its owner locks the reader) and whose
 * arrays are charged to the budget.
 * A request is complete at the first empty line; its first line must be
 * exactly "get=1", "set=1" or wgd's "wgd_metrics=1" (the metrics
 * exposition; stock tools never send it), which takes no body, like get. */
enum wg_uapi_op { WG_UAPI_NONE, WG_UAPI_GET, WG_UAPI_SET, WG_UAPI_METRICS };

struct wg_uapi_reader {
	/* private */
	struct wg_uapi_budget *budget; /* not owned; NULL: no limit */
	int op;			       /* request being read; NONE before its first line */
	int err;		       /* first error in its body, 0 if none */
	struct wg_uapi_set set;	       /* a set's change set so far */
	size_t size;		       /* bytes of it read so far */
	char *line;		       /* the unfinished line */
	size_t line_len, line_cap;
};

void wg_uapi_reader_init(struct wg_uapi_reader *r, struct wg_uapi_budget *budget);
/* Drops an unfinished request (its change set is freed and uncharged). */
void wg_uapi_reader_free(struct wg_uapi_reader *r);
/* Reads data up to the end of at most one request; *used is set to the
 * bytes consumed (the rest belongs to the next request). Returns:
 *   WG_UAPI_NONE  all of data was consumed, no request ended;
 *   WG_UAPI_GET, WG_UAPI_SET, WG_UAPI_METRICS  a request ended. *err is
 *                 its outcome: 0, or the first error of its body as
 *                 wg_uapi_parse_set returns them (a get or metrics request
 *                 with any body line: -EINVAL; the budget
 *                 exceeded: -ENOBUFS, the change set is dropped at once and
 *                 the rest of the request only skipped). A set without
 *                 error moves its change set into *set (free it with
 *                 wg_uapi_set_free); otherwise *set is zeroed;
 *   -EINVAL       an unknown first line or a lone empty line (once its
 *                 request ended), -EMSGSIZE a line over WG_UAPI_MAX_LINE
 *                 or a request over WG_UAPI_MAX_REQUEST (at once),
 *                 -ENOMEM: answer the connection and close it. */
int wg_uapi_reader_feed(struct wg_uapi_reader *r, const char *data, size_t len, size_t *used,
			int *err, struct wg_uapi_set *set);
/* Whether part of a request has been read (the connection owes the rest). */
bool wg_uapi_reader_busy(const struct wg_uapi_reader *r);
/* The first error of the request being read (0: none so far). */
int wg_uapi_reader_error(const struct wg_uapi_reader *r);

/* Growable output buffer for get replies. */
struct wg_uapi_writer {
	char *buf;
	size_t len, cap;
	bool failed; /* an allocation failed; the reply must become errno=-ENOMEM */
};

void wg_uapi_writer_init(struct wg_uapi_writer *w);
void wg_uapi_writer_free(struct wg_uapi_writer *w); /* zeroes the buffer */
/* Appends raw bytes (used to queue whole replies). */
void wg_uapi_put_bytes(struct wg_uapi_writer *w, const void *data, size_t len);
void wg_uapi_put_str(struct wg_uapi_writer *w, const char *key, const char *value);
void wg_uapi_put_u64(struct wg_uapi_writer *w, const char *key, uint64_t value);
/* The decimal digits of value alone (no key, no newline). */
void wg_uapi_put_dec(struct wg_uapi_writer *w, uint64_t value);
void wg_uapi_put_key(struct wg_uapi_writer *w, const char *key, const uint8_t k[WG_KEY_LEN]);
/* "key=IPv4:port" or "key=[IPv6]:port"; nothing for AF_UNSPEC. */
void wg_uapi_put_endpoint(struct wg_uapi_writer *w, const char *key, const union wg_sockaddr *a);
/* "allowed_ip=prefix/cidr" */
void wg_uapi_put_aip(struct wg_uapi_writer *w, int family, const uint8_t *addr, uint8_t cidr);
/* Final "errno=N\n\n", N written as given. Set replies carry 0 or a
 * negative errno (wg negates it); wg parses a get reply's errno only as an
 * unsigned number, so a failed get should pass the positive errno. */
void wg_uapi_put_errno(struct wg_uapi_writer *w, int err);

#endif
