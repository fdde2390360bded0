/* --user/--group resolution for every system, and the uid/gid switch and
 * its check shared by the drops (linux/privs_linux.c with capabilities,
 * bsd/privs_bsd.c the switch alone). */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <unistd.h>

#include "wg_posix.h"
#include "wgd/platform/privs.h"

/* --- resolution --- */

/* An all-digit string is an id (-EINVAL when out of range; (id_t)-1 means
 * "unchanged" to the set*id calls); anything else is a name: -ENOENT. */
static int parse_id(const char *s, unsigned int *out)
{
	unsigned long v;
	char *end;

	for (const char *c = s; *c; c++)
		if (*c < '0' || *c > '9')
			return -ENOENT;
	if (!*s)
		return -ENOENT;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || v >= (uid_t)-1 || v >= (gid_t)-1)
		return -EINVAL;
	*out = (unsigned int)v;
	return 0;
}

static int resolve_user(const struct wg_id_db *db, const char *user, struct wg_privs *out,
			const char **why)
{
	unsigned int id;
	int ret = parse_id(user, &id);

	if (ret == -EINVAL) {
		*why = "not a valid uid";
		return ret;
	}
	if (ret == 0) {
		out->uid = (uid_t)id;
		ret = db->user_by_id(out->uid, &out->gid);
		if (ret == -ENOENT) { /* allowed, but only with --group */
			out->set_uid = true;
			return 0;
		}
	} else {
		ret = db->user_by_name(user, &out->uid, &out->gid);
		if (ret == -ENOENT) {
			*why = "no such user";
			return ret;
		}
	}
	if (ret) {
		*why = "looking up the user failed";
		return ret;
	}
	out->set_uid = out->set_gid = true;
	return 0;
}

static int resolve_group(const struct wg_id_db *db, const char *group, struct wg_privs *out,
			 const char **why)
{
	unsigned int id;
	int ret = parse_id(group, &id);

	if (ret == 0)
		out->gid = (gid_t)id;
	else if (ret == -ENOENT)
		ret = db->group_by_name(group, &out->gid);
	if (ret)
		*why = ret == -EINVAL	? "not a valid gid"
		       : ret == -ENOENT ? "no such group"
					: "looking up the group failed";
	else
		out->set_gid = true;
	return ret;
}

int wg_privs_resolve_db(const struct wg_id_db *db, const char *user, const char *group,
			struct wg_privs *out, const char **why)
{
	int ret;

	*out = (struct wg_privs){.set_uid = false};
	*why = NULL;
	if (user && (ret = resolve_user(db, user, out, why)))
		return ret;
	if (group)
		return resolve_group(db, group, out, why);
	/* Keeping root's gid 0 would keep root's files group-writable to us. */
	if (out->set_uid && !out->set_gid) {
		*why = "no passwd entry for this uid, hence no primary group: give --group as well";
		return -ESRCH;
	}
	return 0;
}

/* getpw*()/getgr*() return NULL with errno 0 (or, from some NSS modules,
 * ENOENT or ESRCH) when there is no such entry. */
static int nss_missing(void)
{
	return errno == 0 || errno == ENOENT || errno == ESRCH ? -ENOENT : -errno;
}

static int nss_user_by_name(const char *name, uid_t *uid, gid_t *gid)
{
	struct passwd *pw;

	errno = 0;
	pw = getpwnam(name);
	if (!pw)
		return nss_missing();
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

static int nss_user_by_id(uid_t uid, gid_t *gid)
{
	struct passwd *pw;

	errno = 0;
	pw = getpwuid(uid);
	if (!pw)
		return nss_missing();
	*gid = pw->pw_gid;
	return 0;
}

static int nss_group_by_name(const char *name, gid_t *gid)
{
	struct group *gr;

	errno = 0;
	gr = getgrnam(name);
	if (!gr)
		return nss_missing();
	*gid = gr->gr_gid;
	return 0;
}

int wg_privs_resolve(const char *user, const char *group, struct wg_privs *out, const char **why)
{
	static const struct wg_id_db nss = {
		.user_by_name = nss_user_by_name,
		.user_by_id = nss_user_by_id,
		.group_by_name = nss_group_by_name,
	};

	return wg_privs_resolve_db(&nss, user, group, out, why);
}

/* --- the switch --- */

/* The supplementary groups become the new gid alone: the daemon opens no
 * file after set-up, so an account's other groups would only be access it
 * never uses (docs/design.md, Privileges). The one entry is the gid rather
 * than none because older BSDs take the first entry as the effective gid.
 * setgid/setuid with the privilege set the real, effective and saved ids. */
int wg_posix_set_ids(const struct wg_privs *p)
{
	if (p->set_gid && (setgroups(1, &p->gid) < 0 || setgid(p->gid) < 0))
		return -errno;
	if (p->set_uid && setuid(p->uid) < 0)
		return -errno;
	return 0;
}

static bool saved_ids_are(const struct wg_privs *p)
{
#ifdef HAVE_GETRESUID
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0)
		return false;
	return (!p->set_uid || su == p->uid) && (!p->set_gid || sg == p->gid);
#else
	/* No getresuid (macOS): the failed regain below shows no saved id is
	 * root's. */
	(void)p;
	return true;
#endif
}

/* Only the new gid as a group: getgroups also reports the effective gid
 * on some systems, which is that same gid. */
static bool groups_are(gid_t gid)
{
	gid_t g[2];
	int n = getgroups(2, g);

	return n == 1 && g[0] == gid;
}

/* Setting an id back to 0 must fail: without CAP_SETUID/CAP_SETGID (Linux
 * once the capabilities are reduced, root_powerless) or, elsewhere, as any
 * uid but 0. A success here has changed nothing that matters: the caller
 * exits on the error. */
static bool regain_fails(const struct wg_privs *p, bool root_powerless)
{
	gid_t zero = 0;

	if (p->set_uid && p->uid != 0 && (setuid(0) == 0 || seteuid(0) == 0))
		return false;
	if (!p->set_gid || p->gid == 0 || (!root_powerless && geteuid() == 0))
		return true;
	return setgid(0) < 0 && setegid(0) < 0 && setgroups(1, &zero) < 0;
}

int wg_posix_check_ids(const struct wg_privs *p, bool root_powerless)
{
	if (p->set_uid && (getuid() != p->uid || geteuid() != p->uid))
		return -EPERM;
	if (p->set_gid && (getgid() != p->gid || getegid() != p->gid || !groups_are(p->gid)))
		return -EPERM;
	if (!saved_ids_are(p) || !regain_fails(p, root_powerless))
		return -EPERM;
	return 0;
}
