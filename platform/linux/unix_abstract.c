/* Linux's abstract AF_UNIX names (unix(7)), for sd_notify's "@name". */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/un.h>

#include "wg_posix.h"

int wg_os_unix_abstract(const char *name, struct sockaddr_un *sa, socklen_t *len)
{
	size_t n = strlen(name);

	/* A leading NUL, and the length is exact (no terminator: the kernel
	 * compares every byte given). */
	if (n < 1)
		return -EINVAL;
	if (n + 1 > sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	memcpy(sa->sun_path + 1, name, n);
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
	return 0;
}
