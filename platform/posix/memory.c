/* wg_release_free_memory: glibc's malloc_trim returns free pages inside
 * the heap too, not only at its top; other C libraries (musl, the BSDs',
 * macOS's) give them back by themselves or offer nothing to call (CMake
 * defines HAVE_MALLOC_TRIM where it exists).
 * wg_memlock_raise: RLIMIT_MEMLOCK, the same on every POSIX system. */
#include <errno.h>
#include <sys/resource.h>

#include "wgd/platform/memory.h"

#ifdef HAVE_MALLOC_TRIM
#include <malloc.h>
#endif

void wg_release_free_memory(void)
{
#ifdef HAVE_MALLOC_TRIM
	(void)malloc_trim(0);
#endif
}

int wg_memlock_raise(uint64_t *bytes)
{
	struct rlimit rl = {RLIM_INFINITY, RLIM_INFINITY};
	int ret;

	*bytes = 0;
	if (setrlimit(RLIMIT_MEMLOCK, &rl) == 0)
		return 0;
	ret = -errno;
	/* Without CAP_SYS_RESOURCE: the soft limit may still rise to the hard. */
	if (getrlimit(RLIMIT_MEMLOCK, &rl) < 0)
		return -errno;
	if (rl.rlim_cur != rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_MEMLOCK, &rl);
		(void)getrlimit(RLIMIT_MEMLOCK, &rl);
	}
	if (rl.rlim_cur == RLIM_INFINITY)
		return 0;
	*bytes = (uint64_t)rl.rlim_cur;
	return ret;
}
