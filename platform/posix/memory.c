/* wg_release_free_memory: glibc's malloc_trim returns free pages inside
 * the heap too, not only at its top; other C libraries (musl, the BSDs',
 * macOS's) give them back by themselves or offer nothing to call. */
#include "wgd/platform.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

void wg_release_free_memory(void)
{
#if defined(__GLIBC__)
	(void)malloc_trim(0);
#endif
}
