/* The privilege drop of FreeBSD and macOS: the uid/gid switch alone (a
 * daemon that is no longer root then cannot bind ports below 1024 or set a
 * firewall mark); Linux's, with capabilities, is linux/privs_linux.c. */
#include "wg_posix.h"
#include "wgd/platform/privs.h"

int wg_privs_drop(const struct wg_privs *p)
{
	int ret = wg_posix_set_ids(p);

	return ret ? ret : wg_posix_check_ids(p, false);
}
