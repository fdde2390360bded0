/* Small pieces the traffic tools (wgflood, wgstorm) share: clocks in
 * nanoseconds and a stop flag raised by SIGINT/SIGTERM. Header-only: each
 * each .c file in tests/tools is one executable. */
#ifndef WGD_TOOL_COMMON_H
#define WGD_TOOL_COMMON_H

#include <signal.h>
#include <stdint.h>
#include <time.h>

#include "wgd/constants.h"

/* Set by SIGINT/SIGTERM (tool_catch_signals): stop, report, exit. */
static volatile sig_atomic_t stopping;

static void tool_on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static inline void tool_catch_signals(void)
{
	signal(SIGINT, tool_on_signal);
	signal(SIGTERM, tool_on_signal);
}

static inline uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * WG_NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

static inline uint64_t mono_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

static inline uint64_t unix_ns(void)
{
	return clock_ns(CLOCK_REALTIME);
}

#endif
