/* --user/--group resolution against a made-up account database (which
 * uid and gid a launch switches to, and which launches are refused), the
 * RLIMIT_MEMLOCK lift, and the id switch of a real drop in a forked child
 * (run as root). The running daemon is checked in tests/netns/privs.sh. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <grp.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "wgd/platform/memory.h"
#include "wgd/platform/privs.h"

/* passwd: alice 1000/1000, nobody 65534/65534, root 0/0, 0day 1234/1234
 * (a name that starts with a digit); "ldap" fails the lookup. group:
 * staff 50, nogroup 65534. uid 4242 has no entry. */
static const struct {
	const char *name;
	uid_t uid;
	gid_t gid;
} users[] = {{"alice", 1000, 1000}, {"nobody", 65534, 65534}, {"root", 0, 0}, {"0day", 1234, 1234}};
static const struct {
	const char *name;
	gid_t gid;
} groups[] = {{"staff", 50}, {"nogroup", 65534}};

static int user_by_name(const char *name, uid_t *uid, gid_t *gid)
{
	if (!strcmp(name, "ldap"))
		return -EIO;
	for (size_t i = 0; i < sizeof(users) / sizeof(users[0]); i++)
		if (!strcmp(users[i].name, name)) {
			*uid = users[i].uid;
			*gid = users[i].gid;
			return 0;
		}
	return -ENOENT;
}

static int user_by_id(uid_t uid, gid_t *gid)
{
	for (size_t i = 0; i < sizeof(users) / sizeof(users[0]); i++)
		if (users[i].uid == uid) {
			*gid = users[i].gid;
			return 0;
		}
	return -ENOENT;
}

static int group_by_name(const char *name, gid_t *gid)
{
	if (!strcmp(name, "ldap"))
		return -EIO;
	for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
		if (!strcmp(groups[i].name, name)) {
			*gid = groups[i].gid;
			return 0;
		}
	return -ENOENT;
}

static const struct wg_id_db db = {user_by_name, user_by_id, group_by_name};

/* Resolves and expects success with exactly these ids (-1: not set). */
static void expect_ids(const char *user, const char *group, long long uid, long long gid)
{
	struct wg_privs p;
	const char *why = "unset";

	assert_int_equal(wg_privs_resolve_db(&db, user, group, &p, &why), 0);
	assert_null(why);
	assert_int_equal(p.set_uid, uid >= 0);
	assert_int_equal(p.set_gid, gid >= 0);
	if (uid >= 0)
		assert_int_equal(p.uid, (uid_t)uid);
	if (gid >= 0)
		assert_int_equal(p.gid, (gid_t)gid);
}

/* Resolves and expects the error, with a reason containing `about`. */
static void expect_refused(const char *user, const char *group, int err, const char *about)
{
	struct wg_privs p;
	const char *why = NULL;

	assert_int_equal(wg_privs_resolve_db(&db, user, group, &p, &why), err);
	assert_non_null(why);
	assert_non_null(strstr(why, about));
}

/* The issue: a bare uid kept gid 0. Now it takes its entry's group. */
static void test_user_takes_primary_group(void **state)
{
	(void)state;
	expect_ids("65534", NULL, 65534, 65534);
	expect_ids("nobody", NULL, 65534, 65534);
	expect_ids("1000", NULL, 1000, 1000);
	expect_ids("alice", NULL, 1000, 1000);
	expect_ids("root", NULL, 0, 0);
	expect_ids("0", NULL, 0, 0);
	expect_ids("0day", NULL, 1234, 1234); /* a name, not the number 0 */
}

static void test_group_overrides(void **state)
{
	(void)state;
	expect_ids("nobody", "staff", 65534, 50);
	expect_ids("65534", "50", 65534, 50);
	expect_ids("alice", "4343", 1000, 4343); /* a gid needs no entry */
	expect_ids(NULL, "staff", -1, 50);	 /* only the gid changes */
	expect_ids(NULL, "0", -1, 0);
	expect_ids(NULL, NULL, -1, -1);
}

/* No entry, no primary group: refused unless --group says which. */
static void test_uid_without_entry(void **state)
{
	(void)state;
	expect_refused("4242", NULL, -ESRCH, "--group");
	expect_ids("4242", "4242", 4242, 4242);
	expect_ids("4242", "nogroup", 4242, 65534);
	expect_refused("4242", "nosuchgroup", -ENOENT, "no such group");
}

static void test_unknown_and_malformed(void **state)
{
	(void)state;
	expect_refused("mallory", NULL, -ENOENT, "no such user");
	expect_refused("mallory", "staff", -ENOENT, "no such user");
	expect_refused("", NULL, -ENOENT, "no such user");
	expect_refused("alice", "wheel", -ENOENT, "no such group");
	expect_refused(NULL, "", -ENOENT, "no such group");
	/* (uid_t)-1 means "leave unchanged" to setresuid: never an id. */
	expect_refused("4294967295", NULL, -EINVAL, "uid");
	expect_refused("99999999999999999999999", NULL, -EINVAL, "uid");
	expect_refused("alice", "4294967295", -EINVAL, "gid");
	expect_ids("4294967294", "1", 4294967294LL, 1);
	/* Not all digits: a name, looked up as such. */
	expect_refused("12ab", NULL, -ENOENT, "no such user");
	expect_refused("-1", NULL, -ENOENT, "no such user");
}

static void test_lookup_failure(void **state)
{
	(void)state;
	expect_refused("ldap", NULL, -EIO, "user");
	expect_refused("alice", "ldap", -EIO, "group");
}

/* Runs fn in a child; its exit status is the number of the first failed
 * check (0: all held). The child may change ids and limits freely. */
static void in_child(int (*fn)(void))
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(fn());
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* Unprivileged under a 64 KiB hard limit: no lift to unlimited, but the
 * soft limit rises to the hard one, and the caller learns what is left. */
static int memlock_limited(void)
{
	struct rlimit rl = {32768, 65536};
	uint64_t bytes = 1;

	if (setrlimit(RLIMIT_MEMLOCK, &rl) < 0)
		return 1;
	if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
		return 2;
	if (wg_memlock_raise(&bytes) != -EPERM || bytes != 65536)
		return 3;
	if (getrlimit(RLIMIT_MEMLOCK, &rl) < 0 || rl.rlim_cur != 65536)
		return 4;
	return 0;
}

/* Unprivileged under the inherited hard limit (this machine's: a
 * container may lack CAP_SYS_RESOURCE to set an unlimited one): success
 * exactly when that is unlimited, else the soft limit meets it. */
static int memlock_inherited_hard(void)
{
	struct rlimit rl, hard;
	uint64_t bytes = 1;
	int ret;

	if (getrlimit(RLIMIT_MEMLOCK, &hard) < 0)
		return 1;
	rl = (struct rlimit){hard.rlim_max < 32768 ? hard.rlim_max : 32768, hard.rlim_max};
	if (setrlimit(RLIMIT_MEMLOCK, &rl) < 0)
		return 2;
	if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
		return 3;
	ret = wg_memlock_raise(&bytes);
	if (getrlimit(RLIMIT_MEMLOCK, &rl) < 0 || rl.rlim_cur != hard.rlim_max)
		return 4;
	if (hard.rlim_max == RLIM_INFINITY)
		return ret == 0 ? 0 : 5;
	return ret == -EPERM && bytes == hard.rlim_max ? 0 : 6;
}

static void test_memlock(void **state)
{
	(void)state;
	assert_int_equal(geteuid(), 0); /* needs root: no skipping */
	in_child(memlock_limited);
	in_child(memlock_inherited_hard);
}

/* A root process with root's usual groups drops to 65534: every id, saved
 * ones included, moves, the groups become that gid alone, and nothing
 * sets 0 back. Checked here independently of the drop's own check. */
static int drop_ids(void)
{
	const gid_t root_groups[] = {0, 4, 27};
	const struct wg_privs p = {.set_uid = true, .set_gid = true, .uid = 65534, .gid = 65534};
	uid_t ru, eu, su;
	gid_t rg, eg, sg, g[4];

	if (setgroups(3, root_groups) < 0)
		return 1;
	if (wg_privs_drop(&p) != 0)
		return 2;
	if (getresuid(&ru, &eu, &su) < 0 || ru != 65534 || eu != 65534 || su != 65534)
		return 3;
	if (getresgid(&rg, &eg, &sg) < 0 || rg != 65534 || eg != 65534 || sg != 65534)
		return 4;
	if (getgroups(4, g) != 1 || g[0] != 65534)
		return 5;
	if (setuid(0) == 0 || setgid(0) == 0 || setgroups(1, root_groups) == 0)
		return 6;
	return 0;
}

/* Only --group as root: the gid and groups change, uid 0 stays, and (on
 * Linux, no CAP_SETGID left) gid 0 cannot come back. */
static int drop_gid_only(void)
{
	const gid_t root_groups[] = {0, 4};
	const struct wg_privs p = {.set_gid = true, .gid = 50};
	gid_t g[4];

	if (setgroups(2, root_groups) < 0)
		return 1;
	if (wg_privs_drop(&p) != 0)
		return 2;
	if (getuid() != 0 || getgid() != 50 || getegid() != 50)
		return 3;
	if (getgroups(4, g) != 1 || g[0] != 50)
		return 4;
#ifdef __linux__
	if (setgid(0) == 0 || setgroups(1, root_groups) == 0)
		return 5;
#endif
	return 0;
}

static void test_drop_switches_every_id(void **state)
{
	(void)state;
	assert_int_equal(geteuid(), 0); /* needs root: no skipping */
	in_child(drop_ids);
	in_child(drop_gid_only);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_user_takes_primary_group),
		cmocka_unit_test(test_group_overrides),
		cmocka_unit_test(test_uid_without_entry),
		cmocka_unit_test(test_unknown_and_malformed),
		cmocka_unit_test(test_lookup_failure),
		cmocka_unit_test(test_memlock),
		cmocka_unit_test(test_drop_switches_every_id),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
