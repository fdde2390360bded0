/* `wgd metrics` and `wgd diagnose`: read the daemon's metrics exposition
 * over the interface's control socket (UAPI op "wgd_metrics=1", which stock
 * wg never sends) and print it, or work the operators' checklist for a
 * silent tunnel from it, per peer. Parsing the exposition and the diagnosis
 * are pure functions (tested in tests/unit/test_diagnose.c); wg_diag_main
 * does the I/O. */
#ifndef WGD_DIAGNOSE_H
#define WGD_DIAGNOSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wgd/uapi.h"

/* Room for any error text of the parser. */
#define WG_DIAG_ERR_LEN 160
/* A handshake within this many seconds counts as working (the session
 * lifetime: REJECT_AFTER_TIME). */
#define WG_DIAG_HANDSHAKE_FRESH_S 180

/* One peer's facts from the exposition. Times are unix seconds, 0 never;
 * counts are as exposed (doubles: the format's numbers). */
struct wg_diag_peer {
	char *public_key; /* base64, as labelled */
	char *endpoint;	  /* "" when none */
	double rx_bytes, tx_bytes;
	double last_handshake, last_receive, last_data_receive;
	double initiations_sent, last_initiation_sent;
	double unanswered_s; /* seconds; 0 when nothing is outstanding */
	double icmp_port_unreachable, icmp_host_unreachable;
	double last_icmp; /* the last ICMP error about its endpoint */
	char last_icmp_kind[24];
	double inner_src_mismatch; /* data dropped: inner source outside AllowedIPs */
	double send_errors;	   /* sends the host refused */
	double last_send_error;	   /* unix s of the last one */
	char last_send_error_text[64];
};

/* An "ip:port" / "[ip]:port" as compared (IPv4-mapped IPv6 as IPv4);
 * family AF_UNSPEC when the text is none. */
struct wg_diag_addr {
	int family;
	unsigned char addr[16];
	uint16_t port;
};

struct wg_diag_addr wg_diag_addr_of(const char *text);

/* A refused handshake source (one sample of
 * wgd_handshake_reject_last_seconds). */
struct wg_diag_reject {
	char *source;		  /* "ip:port" */
	char *reason;		  /* the label, e.g. unknown_peer */
	double last;		  /* unix seconds */
	double count;		  /* < 0 when the exposition does not say */
	struct wg_diag_addr addr; /* of source */
	/* set by wg_diag_finish: source is some peer's endpoint address
	 * (matched), with the port too (exact) */
	bool matched, exact;
};

/* What the parser learnt; zero-initialise or wg_diag_init, then feed. */
struct wg_diag_device {
	char *device; /* the device label, NULL until seen */
	struct wg_diag_peer *peers;
	size_t n_peers, peers_cap;
	struct wg_diag_reject *rejects;
	size_t n_rejects, rejects_cap;
	size_t *index; /* open addressing by public key: peer number + 1, 0 free */
	size_t index_cap;
	size_t hint;	       /* the peer after the last one found */
	unsigned long line_no; /* lines fed, for error texts */
};

void wg_diag_init(struct wg_diag_device *d);
void wg_diag_free(struct wg_diag_device *d);

/* One line of the Prometheus text format (0.0.4; no newline): comments,
 * blank lines and unknown families are skipped, samples of the families
 * the diagnosis reads are kept. Label values are unescaped (\\ \" \n).
 * 0; -EPROTO for a malformed line (err says which and why); -ENOMEM. */
int wg_diag_feed_line(struct wg_diag_device *d, const char *line, size_t len, char *err,
		      size_t errlen);
/* After the last line: matches the refusals to the peers' endpoints. */
void wg_diag_finish(struct wg_diag_device *d);
/* A whole exposition, line by line, then wg_diag_finish. */
int wg_diag_parse(struct wg_diag_device *d, const char *text, size_t len, char *err, size_t errlen);

/* Stable codes of the findings (the JSON "code" and "status"). */
enum wg_diag_code {
	WG_DIAG_OK,
	WG_DIAG_IDLE,
	WG_DIAG_NO_ENDPOINT,
	WG_DIAG_NO_PACKETS_PORT_UNREACHABLE,
	WG_DIAG_NO_PACKETS_HOST_UNREACHABLE,
	WG_DIAG_NO_PACKETS_NO_ANSWER,
	WG_DIAG_UNKNOWN_KEY,
	WG_DIAG_WRONG_KEY_FOR_US,
	WG_DIAG_STALE_INITIATION,
	WG_DIAG_HANDSHAKE_DECRYPT_FAILED,
	WG_DIAG_UNANSWERED,
	WG_DIAG_NO_DATA,
	WG_DIAG_INNER_SOURCE_OUTSIDE_ALLOWED_IPS,
	WG_DIAG_SEND_FAILED,
	WG_DIAG_CODE_COUNT,
};

const char *wg_diag_code_name(enum wg_diag_code c);

struct wg_diag_finding {
	enum wg_diag_code code;
	double last_ago; /* seconds since it last happened; < 0 unknown */
	char message[320];
};

#define WG_DIAG_MAX_FINDINGS 8

/* The checklist for peer i at unix time now (after wg_diag_finish);
 * findings most telling first (the first is the peer's status), at least
 * one. A refusal is the peer's when it came from its endpoint: address and
 * port, or the address alone (NAT) when no peer has that port there; and
 * only when newer than the peer's last handshake. Returns how many. */
size_t wg_diag_peer_findings(const struct wg_diag_device *d, size_t i, double now,
			     struct wg_diag_finding out[WG_DIAG_MAX_FINDINGS]);

/* The diagnosis of every peer and the refusals from unmatched sources, as
 * text for people or as one JSON object. ifname names the device when the
 * exposition did not. Appends to out (out->failed on ENOMEM). */
void wg_diag_format_text(const struct wg_diag_device *d, const char *ifname, double now,
			 struct wg_uapi_writer *out);
void wg_diag_format_json(const struct wg_diag_device *d, const char *ifname, double now,
			 struct wg_uapi_writer *out);

/* argv[0] is "metrics" or "diagnose": the subcommand's whole run. Returns
 * the exit status (0, or 1 after an error printed on stderr). */
int wg_diag_main(int argc, char **argv);

#endif
