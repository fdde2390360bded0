/* Logging to stderr with an interface prefix and per-reason rate limits. */
#include "wgd/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sodium.h>

static enum wg_log_level log_level = WG_LOG_ERROR;
static char log_ifname[32] = "wgd";

void wg_log_init(const char *ifname, enum wg_log_level level)
{
	log_level = level;
	if (ifname)
		snprintf(log_ifname, sizeof(log_ifname), "%s", ifname);
}

int wg_log_level_parse(const char *s)
{
	static const char *const names[] = {"silent", "error", "info", "verbose", "debug"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (s && strcmp(s, names[i]) == 0)
			return (int)i;
	return -EINVAL;
}

bool wg_log_enabled(enum wg_log_level level)
{
	return level != WG_LOG_SILENT && level <= log_level;
}

static void log_line(enum wg_log_level level, const char *tag, const char *fmt, va_list ap)
{
	char line[1024];

	if (!wg_log_enabled(level))
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	/* One write per line so concurrent daemons sharing a terminal or
	 * journal never interleave within a line. */
	fprintf(stderr, "wgd(%s): %s: %s\n", log_ifname, tag, line);
}

void wg_log(enum wg_log_level level, const char *fmt, ...)
{
	static const char *const tags[] = {"", "ERROR", "INFO", "VERBOSE", "DEBUG"};
	va_list ap;

	va_start(ap, fmt);
	log_line(level, tags[level], fmt, ap);
	va_end(ap);
}

void wg_log_warning(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_line(WG_LOG_ERROR, "WARNING", fmt, ap);
	va_end(ap);
}

bool wg_log_limit_allow(struct wg_log_limit *l, uint64_t now_ns)
{
	if (l->interval_ns && now_ns > l->last_ns) {
		uint64_t refill = (now_ns - l->last_ns) / l->interval_ns;
		if (refill) {
			uint64_t t = l->tokens + refill;
			l->tokens = t > l->burst ? l->burst : (uint32_t)t;
			l->last_ns = now_ns;
		}
	} else if (!l->last_ns) {
		l->tokens = l->burst;
		l->last_ns = now_ns;
	}
	if (l->tokens == 0) {
		l->suppressed++;
		return false;
	}
	l->tokens--;
	return true;
}

void wg_key_to_base64(char out[45], const uint8_t key[WG_KEY_LEN])
{
	sodium_bin2base64(out, 45, key, WG_KEY_LEN, sodium_base64_VARIANT_ORIGINAL);
}

const char *wg_log_key(const uint8_t key[WG_KEY_LEN], char buf[WG_LOG_KEY_LEN])
{
	char full[45];
	wg_key_to_base64(full, key);
	snprintf(buf, WG_LOG_KEY_LEN, "%.8s\xe2\x80\xa6", full);
	return buf;
}
