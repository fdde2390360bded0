/* `wgd set` and `wgd show`: the companion subcommands that change and read
 * wgd's UAPI extensions (wgd_bind, wgd_source, wgd_egress), which stock wg
 * never sends, over the interface's control socket, e.g. from wg-quick's
 * PostUp. Building the request and reading the reply are pure functions
 * (no I/O) so the unit tests can check them; wg_ctl_main does the I/O. */
#ifndef WGD_CTL_H
#define WGD_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wgd/uapi.h"

/* Room for any error text of wg_ctl_build_set / wg_ctl_format_show. */
#define WG_CTL_ERR_LEN 192

/* An interface name the systems accept (1-15 bytes, no '/', ':', space or
 * control character, not "." or ".."): safe as a socket file name. */
bool wg_ctl_valid_ifname(const char *s);

/* A peer named on the command line, and its source if one was given. */
struct wg_ctl_peer {
	uint8_t key[WG_KEY_LEN];
	bool has_source;
	struct wg_addr_pair source;
};

/* A set request built from the command line. */
struct wg_ctl_request {
	struct wg_uapi_writer text; /* "set=1\n...\n\n" */
	struct wg_ctl_peer *peers;  /* in order */
	size_t n_peers;
	bool has_bind;
	struct wg_addr_pair bind;
	bool has_egress; /* some peer's egress is set (not "none") */
};

/* args: the words after "wgd set IFNAME":
 *   [bind ADDR[,ADDR]|none] [peer BASE64 [source ADDR[,ADDR]|none]
 *   [egress IFNAME|none]]...
 * Every peer entry carries update_only=true: a mistyped key must not create
 * a peer. 0, -EINVAL (err says why) or -ENOMEM. Free with
 * wg_ctl_request_free in every case. */
int wg_ctl_build_set(int argc, char *const *args, struct wg_ctl_request *out, char *err,
		     size_t errlen);
void wg_ctl_request_free(struct wg_ctl_request *r);

/* The N of a reply's "errno=N" line, as a positive errno (set replies
 * carry it negative, get replies positive). 0 or -EPROTO when the line is
 * missing or malformed. reply: NUL-terminated. */
int wg_ctl_reply_errno(const char *reply, int *out);

/* Whether a get reply lists the peer with this public key. */
bool wg_ctl_reply_has_peer(const char *reply, const uint8_t key[WG_KEY_LEN]);

/* The daemon refuses (-EINVAL) a peer source that differs from the bind
 * address of its family (replies come back to the source, and only the
 * bind address listens), and a new bind address that a source the device
 * keeps differs from. Checked here first, to say which peer: the bind is
 * the request's, else the device's in the get reply. 0 or -EINVAL with
 * err set. */
int wg_ctl_check_sources(const struct wg_ctl_request *r, const char *reply, char *err,
			 size_t errlen);

/* `wgd show IFNAME` text from a get reply (NUL-terminated):
 *   interface: IFNAME
 *     bind: ADDR[,ADDR]          only when wgd_bind is present
 *   peer: BASE64
 *     endpoint: EP               only when present
 *     source: ADDR[,ADDR]        only when present
 *     egress: IFNAME             only when present
 * Private and preshared keys are never copied. 0; -N when the reply's
 * errno is N; -EPROTO (err says why) for a malformed reply; -ENOMEM. */
int wg_ctl_format_show(const char *ifname, const char *reply, struct wg_uapi_writer *out, char *err,
		       size_t errlen);

/* The contents of a wg-quick NAME.name file (macOS: the utunN behind wg0):
 * one interface name, optionally followed by one newline. */
bool wg_ctl_name_file_parse(const char *text, size_t len, char out[WG_IFNAMSIZ]);

/* The I/O shared with `wgd metrics` / `wgd diagnose` (diagnose.c). */
/* The interface whose socket to use: arg, or the name in wg-quick's
 * WG_UAPI_DIR/arg.name when arg has no socket (macOS: wg0 -> utunN). */
void wg_ctl_resolve_ifname(const char *arg, char out[WG_IFNAMSIZ]);
/* A connected control socket, or -1 after printing why ("wgd CMD: ..."). */
int wg_ctl_connect(const char *cmd, const char *ifname);
/* Writes all of buf. 0 or -errno. */
int wg_ctl_send_all(int fd, const char *buf, size_t len);

/* argv[0] is "set" or "show": the subcommand's whole run. Returns the exit
 * status (0, or 1 after an error printed on stderr). */
int wg_ctl_main(int argc, char **argv);

/* Prints "wgd CMD: <message>" and then usage_text to stderr; returns 1
 * (the exit status of a usage error). */
int wg_ctl_usage(const char *cmd, const char *usage_text, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
