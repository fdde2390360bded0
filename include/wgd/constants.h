/* Protocol constants from the WireGuard whitepaper (section 6) and the
 * implementation constants chosen by wgd, kept apart so each can be read
 * against its source. Times are in nanoseconds of a monotonic clock. */
#ifndef WGD_CONSTANTS_H
#define WGD_CONSTANTS_H

#include <stdint.h>

#define WG_NSEC_PER_SEC 1000000000ULL
#define WG_NSEC_PER_MSEC 1000000ULL

/* --- whitepaper --- */
#define WG_REKEY_AFTER_MESSAGES (1ULL << 60)
#define WG_REJECT_AFTER_MESSAGES (UINT64_MAX - (1ULL << 13)) /* 2^64 - 2^13 - 1 */
#define WG_REKEY_AFTER_TIME (120 * WG_NSEC_PER_SEC)
#define WG_REJECT_AFTER_TIME (180 * WG_NSEC_PER_SEC)
#define WG_REKEY_ATTEMPT_TIME (90 * WG_NSEC_PER_SEC)
#define WG_REKEY_TIMEOUT (5 * WG_NSEC_PER_SEC)
#define WG_REKEY_TIMEOUT_JITTER_MAX (333 * WG_NSEC_PER_MSEC)
#define WG_KEEPALIVE_TIMEOUT (10 * WG_NSEC_PER_SEC)
#define WG_COOKIE_SECRET_MAX_AGE (120 * WG_NSEC_PER_SEC)
/* Initiator starts a new handshake on receive when the current keypair is
 * this old: REJECT - KEEPALIVE - REKEY_TIMEOUT = 165 s. */
#define WG_REKEY_ON_RECEIVE_AGE (WG_REJECT_AFTER_TIME - WG_KEEPALIVE_TIMEOUT - WG_REKEY_TIMEOUT)
#define WG_NEW_HANDSHAKE_TIMEOUT (WG_KEEPALIVE_TIMEOUT + WG_REKEY_TIMEOUT)
#define WG_ZERO_KEYS_AFTER (3 * WG_REJECT_AFTER_TIME)
#define WG_MAX_TIMER_HANDSHAKES (WG_REKEY_ATTEMPT_TIME / WG_REKEY_TIMEOUT) /* 18 */

/* --- implementation --- */
#define WG_MAX_STAGED_PACKETS 128
#define WG_DEFAULT_MTU 1420
#define WG_COUNTER_WINDOW_BITS 8192 /* window = 8192 - 64 = 8128 packets */
#define WG_COUNTER_WINDOW_SIZE (WG_COUNTER_WINDOW_BITS - 64)
#define WG_INITIATIONS_PER_SECOND 50 /* per peer, like the kernel */
#define WG_RATELIMIT_PACKETS_PER_SECOND 20
#define WG_RATELIMIT_BURST 5
#define WG_RATELIMIT_MAX_ENTRIES 8192
#define WG_MAX_QUEUED_HANDSHAKES 4096
/* Handshake backlog above which the device is "under load" and demands
 * cookies (mac2) before doing any Diffie-Hellman. */
#define WG_UNDER_LOAD_BACKLOG (WG_MAX_QUEUED_HANDSHAKES / 8)
#define WG_UNDER_LOAD_LINGER (1 * WG_NSEC_PER_SEC)
#define WG_MAX_PEERS (1U << 20)
#define WG_PADDING_MULTIPLE 16

#endif
