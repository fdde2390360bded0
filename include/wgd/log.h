/* Logging: one line per event on stderr, prefixed with the interface, at
 * the level chosen by LOG_LEVEL. Per-packet reasons go through a rate
 * limiter so hostile traffic cannot flood the log. Never pass private keys
 * or PSKs to these functions; public keys go through wg_log_key. */
#ifndef WGD_LOG_H
#define WGD_LOG_H

#include <stdbool.h>
#include <stdint.h>

#include "wire.h"

enum wg_log_level {
	WG_LOG_SILENT = 0,
	WG_LOG_ERROR,
	WG_LOG_INFO,
	WG_LOG_VERBOSE,
	WG_LOG_DEBUG,
};

void wg_log_init(const char *ifname, enum wg_log_level level);
/* "silent|error|info|verbose|debug" -> level, -EINVAL if unknown. */
int wg_log_level_parse(const char *s);
bool wg_log_enabled(enum wg_log_level level);
void wg_log(enum wg_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The level is checked before the arguments are evaluated: formatting a
 * peer's name for a line nobody reads cost a tenth of a 100,000-peer set. */
#define WG_LOG_AT(level, ...)                                                                      \
	do {                                                                                       \
		if (wg_log_enabled(level))                                                         \
			wg_log(level, __VA_ARGS__);                                                \
	} while (0)
#define wg_log_error(...) WG_LOG_AT(WG_LOG_ERROR, __VA_ARGS__)
/* Tagged WARNING, shown wherever errors are: the levels keep the names
 * wireguard-go's LOG_LEVEL knows, which has no warning level. */
void wg_log_warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#define wg_log_info(...)    WG_LOG_AT(WG_LOG_INFO, __VA_ARGS__)
#define wg_log_verbose(...) WG_LOG_AT(WG_LOG_VERBOSE, __VA_ARGS__)
#define wg_log_debug(...)   WG_LOG_AT(WG_LOG_DEBUG, __VA_ARGS__)

/* Token bucket for one log reason: at most `burst` lines, refilled at one
 * per `interval_ns`. Zero-initialise, then set burst and interval_ns. */
struct wg_log_limit {
	uint64_t interval_ns;
	uint64_t last_ns;
	uint32_t burst;
	uint32_t tokens;
	uint64_t suppressed;
};
/* True if a line may be written now; counts suppressed lines otherwise. */
bool wg_log_limit_allow(struct wg_log_limit *l, uint64_t now_ns);

/* Abbreviated base64 of a public key for logs: "AbCdEfGh…". */
#define WG_LOG_KEY_LEN 16
const char *wg_log_key(const uint8_t key[WG_KEY_LEN], char buf[WG_LOG_KEY_LEN]);
/* Full base64 (44 chars + NUL) of a public key. */
void wg_key_to_base64(char out[45], const uint8_t key[WG_KEY_LEN]);

#endif
