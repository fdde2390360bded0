/* The service manager's readiness protocol (sd_notify(3)), without
 * libsystemd: one datagram of "KEY=VALUE\n" lines to the AF_UNIX socket
 * named by the caller (the daemon passes $NOTIFY_SOCKET: a path, or "@name"
 * for Linux's abstract namespace). Nothing here blocks: a full or absent
 * receiver is an error for the caller to log, never a stall of the event
 * loop. Nothing here reads the environment: cmd/wgd does, and leaves it
 * alone, so a forked daemon child still finds it (wgd runs no other
 * programs that could inherit it). */
#ifndef WGD_PLATFORM_SDNOTIFY_H
#define WGD_PLATFORM_SDNOTIFY_H

#include <stdint.h>

/* Largest message wg_sd_notifyf formats; longer ones are -EMSGSIZE. */
#define WG_SD_MSG_MAX 512

/* Sends msg to the socket named by socket_name. 0 when sent or when
 * socket_name is NULL or empty, else -errno: -EINVAL (not an absolute path
 * or '@' name), -ENAMETOOLONG, -EAFNOSUPPORT ('@' outside Linux), -EAGAIN
 * (receiver's queue full), -ENOENT/-ECONNREFUSED (nobody listens), ... */
int wg_sd_notify(const char *socket_name, const char *msg);
int wg_sd_notifyf(const char *socket_name, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The watchdog interval asked of this process in microseconds, from the
 * values of WATCHDOG_USEC and WATCHDOG_PID (each NULL when unset): usec
 * when it is a positive number and pid is unset or this process's pid; 0
 * otherwise (no watchdog, or it is meant for another process). */
uint64_t wg_sd_watchdog_usec(const char *usec, const char *pid);

#endif
