/* Privilege reduction on Linux with raw capget/capset (no libcap: two
 * system calls do not justify a new dependency), while the process is
 * still single-threaded (capabilities are per thread). The caller has
 * lifted RLIMIT_MEMLOCK (wg_memlock_raise) while CAP_SYS_RESOURCE was
 * still there. Order matters:
 *   1. the bounding set shrinks (needs CAP_SETPCAP in effect, so first);
 *   2. the uid/gid switch (posix/privs.c) under PR_SET_KEEPCAPS, which
 *      keeps the permitted set across setuid but empties the effective set;
 *   3. capset: effective = permitted = the kept two, inheritable none;
 *   4. ambient cleared, no_new_privs, not dumpable; then verified. */
#include <dirent.h>
#include <errno.h>
#include <linux/capability.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "wg_posix.h"
#include "wgd/platform/memory.h"
#include "wgd/platform/privs.h"

#define CAP_BIT(c) (1ull << (c))
#define KEEP_CAPS  (CAP_BIT(CAP_NET_ADMIN) | CAP_BIT(CAP_NET_BIND_SERVICE))

struct caps {
	uint64_t eff, prm, inh;
};

static int caps_get(struct caps *c)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3] = {{0}};

	if (syscall(SYS_capget, &h, d) < 0)
		return -errno;
	c->eff = d[0].effective | (uint64_t)d[1].effective << 32;
	c->prm = d[0].permitted | (uint64_t)d[1].permitted << 32;
	c->inh = d[0].inheritable | (uint64_t)d[1].inheritable << 32;
	return 0;
}

static int caps_set(const struct caps *c)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3] = {
		{(uint32_t)c->eff, (uint32_t)c->prm, (uint32_t)c->inh},
		{(uint32_t)(c->eff >> 32), (uint32_t)(c->prm >> 32), (uint32_t)(c->inh >> 32)},
	};

	return syscall(SYS_capset, &h, d) < 0 ? -errno : 0;
}

/* Every capability the kernel knows that is not kept leaves the bounding
 * set; PR_CAPBSET_READ fails with EINVAL past the last one. */
static int drop_bounding(void)
{
	for (unsigned long cap = 0; cap < 64; cap++) {
		int in = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
		if (in < 0)
			return errno == EINVAL ? 0 : -errno;
		if (in && !(KEEP_CAPS & CAP_BIT(cap)) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
			return -errno;
	}
	return 0;
}

static int switch_ids(const struct wg_privs *p)
{
	int ret;

	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		return -errno;
	ret = wg_posix_set_ids(p);
	if (ret)
		return ret;
	return prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0 ? -errno : 0;
}

/* Ambient capabilities came with kernel 4.3; older ones have none. */
static int clear_ambient(void)
{
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return -errno;
	return 0;
}

static int lock_down(void)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return -errno;
	return 0;
}

/* What must hold afterwards, checked rather than assumed. The kept two
 * include neither CAP_SETUID nor CAP_SETGID: even uid 0 cannot set ids. */
static int verify(const struct wg_privs *p, uint64_t keep)
{
	struct caps c;
	int ret = caps_get(&c);

	if (ret)
		return ret;
	if (c.eff != keep || c.prm != keep || c.inh)
		return -EPERM;
	return wg_posix_check_ids(p, true);
}

/* capset and prctl act on the calling thread only: another thread would
 * keep every capability. Without /proc nothing can be told. */
static bool single_threaded(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	if (!d)
		return true;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n <= 1;
}

int wg_privs_drop(const struct wg_privs *p)
{
	struct caps c;
	uint64_t keep;
	int ret;

	if (!single_threaded())
		return -EBUSY;
	ret = caps_get(&c);
	if (ret)
		return ret;
	keep = c.prm & KEEP_CAPS;
	/* Without CAP_SETPCAP (started unprivileged) the bounding set cannot
	 * change; with nothing permitted and no_new_privs it grants nothing. */
	if ((c.eff & CAP_BIT(CAP_SETPCAP)) && (ret = drop_bounding()))
		return ret;
	if ((p->set_uid || p->set_gid) && (ret = switch_ids(p)))
		return ret;
	/* No capset when nothing would change: a systemd unit that already
	 * bounds the daemon to these two may also filter capset out. */
	if ((p->set_uid || c.eff != keep || c.prm != keep || c.inh) &&
	    (ret = caps_set(&(struct caps){.eff = keep, .prm = keep})))
		return ret;
	if ((ret = clear_ambient()) || (ret = lock_down()))
		return ret;
	return verify(p, keep);
}
