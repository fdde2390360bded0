/* --user/--group lookup for every system, and the privilege drop of the
 * systems without Linux capabilities: there it is only the uid/gid switch
 * (a daemon that is no longer root then cannot bind ports below 1024 or
 * set a firewall mark). Linux has its own drop in linux/privs_linux.c;
 * like batch.c this file therefore carries an OS conditional. */
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <unistd.h>

#include "wgd/platform.h"

/* All digits: a numeric id (names may not be all digits). */
static int parse_id(const char *s, unsigned long *out)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -ENOENT;
	errno = 0;
	*out = strtoul(s, &end, 10);
	if (errno || *end || *out >= UINT_MAX)
		return -EINVAL;
	return 0;
}

static int lookup_user(const char *name, struct wg_privs *out)
{
	unsigned long id;
	struct passwd *pw;
	int ret = parse_id(name, &id);

	if (ret != -ENOENT) {
		out->uid = (uid_t)id;
		out->set_uid = ret == 0;
		/* A bare number has no primary group: keep the gid unless given. */
		return ret;
	}
	errno = 0;
	pw = getpwnam(name);
	if (!pw)
		return errno ? -errno : -ENOENT;
	out->uid = pw->pw_uid;
	out->gid = pw->pw_gid;
	out->set_uid = out->set_gid = true;
	return 0;
}

static int lookup_group(const char *name, struct wg_privs *out)
{
	unsigned long id;
	struct group *gr;
	int ret = parse_id(name, &id);

	if (ret != -ENOENT) {
		out->gid = (gid_t)id;
		out->set_gid = ret == 0;
		return ret;
	}
	errno = 0;
	gr = getgrnam(name);
	if (!gr)
		return errno ? -errno : -ENOENT;
	out->gid = gr->gr_gid;
	out->set_gid = true;
	return 0;
}

int wg_privs_resolve(const char *user, const char *group, struct wg_privs *out)
{
	int ret;

	*out = (struct wg_privs){.set_uid = false};
	if (user && (ret = lookup_user(user, out)))
		return ret;
	if (group && (ret = lookup_group(group, out)))
		return ret;
	return 0;
}

#ifndef __linux__

int wg_privs_drop(const struct wg_privs *p)
{
	if (p->set_gid && (setgroups(1, &p->gid) < 0 || setgid(p->gid) < 0))
		return -errno;
	if (p->set_uid && setuid(p->uid) < 0)
		return -errno;
	/* setuid as root sets the real, effective and saved ids: no way back. */
	if (p->set_uid && p->uid != 0 && (setuid(0) == 0 || geteuid() != p->uid))
		return -EPERM;
	return 0;
}

#endif
