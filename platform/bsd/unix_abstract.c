/* FreeBSD and macOS have no abstract AF_UNIX namespace. */
#include <errno.h>
#include <sys/un.h>

#include "wg_posix.h"

int wg_os_unix_abstract(const char *name, struct sockaddr_un *sa, socklen_t *len)
{
	(void)name;
	(void)sa;
	(void)len;
	return -EAFNOSUPPORT;
}
