/* Privilege reduction, part of the operating-system boundary: once the TUN
 * is open and the UAPI socket listens, and before any other thread starts:
 * capabilities and no_new_privs are per thread on Linux (wg_privs_drop
 * refuses with -EBUSY when the process has more than one). Linux: the
 * effective and permitted sets keep only CAP_NET_ADMIN (SO_MARK for a new
 * fwmark or a re-bound socket, forced socket buffers) and
 * CAP_NET_BIND_SERVICE (a listen port below 1024); the inheritable, ambient
 * and bounding sets lose everything else; then no_new_privs and not
 * dumpable (no core file or same-uid ptrace reaching keys). Other systems:
 * the uid/gid switch only. A switch moves every uid and gid for good (saved
 * ids too) and leaves the new gid as the only supplementary group; it is
 * verified, including that root cannot be regained. */
#ifndef WGD_PLATFORM_PRIVS_H
#define WGD_PLATFORM_PRIVS_H

#include <stdbool.h>
#include <sys/types.h>

struct wg_privs {
	bool set_uid, set_gid;
	uid_t uid;
	gid_t gid;
};

/* The account database as resolution sees it (the system's: NSS; the
 * unit tests': a table). Each returns 0, -ENOENT when there is no such
 * entry, or another -errno when the lookup itself failed. */
struct wg_id_db {
	int (*user_by_name)(const char *name, uid_t *uid, gid_t *gid);
	int (*user_by_id)(uid_t uid, gid_t *gid);
	int (*group_by_name)(const char *name, gid_t *gid);
};

/* user: a name or an all-digit uid, NULL = keep the uid; group likewise,
 * NULL = the user's primary group from its passwd entry (or keep the gid
 * without a user). A uid without a passwd entry has no primary group and
 * is refused unless group is given. 0, or -errno with *why a short
 * phrase saying what is wrong (naming user, uid, group or gid): -ENOENT
 * (unknown name), -EINVAL (malformed or out-of-range number), -ESRCH (uid
 * without an entry and no group), another -errno (a lookup failed). A
 * result with set_uid always has set_gid. */
int wg_privs_resolve_db(const struct wg_id_db *db, const char *user, const char *group,
			struct wg_privs *out, const char **why);
/* The same against the system's database. */
int wg_privs_resolve(const char *user, const char *group, struct wg_privs *out, const char **why);
/* Drops and verifies. 0 or -errno (-EPERM: some privilege survived); the
 * caller must exit on failure, the process is then half-reduced. */
int wg_privs_drop(const struct wg_privs *p);

#endif
