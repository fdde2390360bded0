/* Process memory, part of the operating-system boundary. */
#ifndef WGD_PLATFORM_MEMORY_H
#define WGD_PLATFORM_MEMORY_H

#include <stdint.h>

/* Hands free heap memory back to the system after many peers went (the C
 * library keeps it otherwise: 59 MB stayed after 100,000 peers became
 * 5,000). A no-op where the C library offers no way. */
void wg_release_free_memory(void);
/* Key memory is locked (secret.h); once CAP_IPC_LOCK is gone only
 * RLIMIT_MEMLOCK allows that. Lifts the limit to unlimited (needs
 * CAP_SYS_RESOURCE unless the hard limit already is), else the soft limit
 * to the hard one. 0 when unlimited, else -errno of the failed lift with
 * *bytes the soft limit that remains (0 if unknown). Before
 * wg_privs_drop. */
int wg_memlock_raise(uint64_t *bytes);

#endif
