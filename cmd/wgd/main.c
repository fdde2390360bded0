/* wgd: command line, daemonizing and the event loop around one device.
 *
 * Launch contract (as wireguard-go, which wg-quick relies on): when the
 * launching process returns, the TUN interface and the UAPI socket exist.
 * So both are created before forking, and the parent waits on a pipe until
 * the child is about to run its event loop. Under a service manager
 * (NOTIFY_SOCKET, systemd's Type=notify with -f) the process that runs the
 * loop reports READY=1 at that same point, STOPPING=1 when the loop ends,
 * and WATCHDOG=1 from the loop if asked. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "wgd/addr.h"
#include "wgd/control.h"
#include "wgd/crypto.h"
#include "wgd/device.h"
#include "wgd/log.h"
#include "wgd/platform/exit_watch.h"
#include "wgd/platform/memory.h"
#include "wgd/platform/privs.h"
#include "wgd/platform/sdnotify.h"
#include "wgd/platform/tun.h"
#include "wgd/platform/uapi_sock.h"
#include "wgd/secret.h"

#include "wgd/metrics_http.h"
#include "ctl.h"
#include "diagnose.h"

#ifndef WGD_VERSION
#define WGD_VERSION "unknown"
#endif

#define IFNAME_MAX WG_IFNAMSIZ /* NUL included */

/* The one place the help text lives (docs/wgd.8 is rendered from it). */
static const char help_text[] =
	"Usage: wgd [-f] [--bind ADDRS] [--metrics ADDR:PORT] [--user USER] [--group GROUP] "
	"INTERFACE\n"
	"       wgd set INTERFACE [bind ADDRS] [peer KEY [source ADDRS] [egress IFNAME]]...\n"
	"       wgd show INTERFACE\n"
	"       wgd metrics INTERFACE\n"
	"       wgd diagnose INTERFACE [--json]\n"
	"       wgd --version | --help\n"
	"\n"
	"Userspace WireGuard daemon. Creates the TUN interface INTERFACE (MTU 1420,\n"
	"left down) and the control socket /var/run/wireguard/INTERFACE.sock, then\n"
	"detaches and serves them; the launching process returns once both exist.\n"
	"Configure the interface with wg(8) and the system's network tools, or let\n"
	"wg-quick(8) do both.\n"
	"\n"
	"On FreeBSD, INTERFACE is a tun(4) clone renamed to INTERFACE and destroyed\n"
	"when wgd exits. On macOS, INTERFACE must be utunN, or utun for the first\n"
	"free unit, whose name is then written to $WG_TUN_NAME_FILE.\n"
	"\n"
	"wgd set and wgd show change and read, over the same socket, what wg(8)\n"
	"knows nothing of: the addresses the interface listens on and sends from\n"
	"(bind), and per peer the source address and the egress interface of every\n"
	"packet sent to it (HA addresses, multi-WAN, a default route into the\n"
	"tunnel; from wg-quick: PostUp = wgd set %i ...). ADDRS is a numeric\n"
	"address, or an IPv4 and an IPv6 address separated by a comma;\n"
	"KEY is the base64 public key of an existing peer; none as ADDRS or\n"
	"IFNAME clears the setting.\n"
	"\n"
	"wgd metrics prints the interface's metrics (the Prometheus text format that\n"
	"--metrics serves over HTTP), read from the same socket. wgd diagnose reads\n"
	"them and says, per peer, why a tunnel is silent: nothing ever received\n"
	"(nothing listens on the peer's port, host unreachable, or no answer at\n"
	"all), its handshakes refused (a key that is not the one we have for it, a\n"
	"wrong or old public key for us, replayed initiations), our initiations\n"
	"unanswered, or a handshake but no data (AllowedIPs or routing); --json\n"
	"for scripts. An interface named set, show, metrics or diagnose is started\n"
	"with wgd -- NAME.\n"
	"\n"
	"Options:\n"
	"  -f, --foreground  do not detach; log to stderr\n"
	"      --bind ADDRS  listen on, and send every packet from, these\n"
	"                    addresses only; a family without one is not opened.\n"
	"                    An address may be absent (a VIP held by the other\n"
	"                    node): nothing is sent until it appears (macOS:\n"
	"                    present addresses only)\n"
	"      --metrics ADDR:PORT  serve the metrics over HTTP at\n"
	"                    http://ADDR:PORT/metrics (numeric: 127.0.0.1:9586 or\n"
	"                    [::1]:9586); off by default. Unauthenticated: bind a\n"
	"                    local or otherwise protected address\n"
	"      --user USER    after set-up, run as USER (name or number)\n"
	"      --group GROUP  after set-up, run with GROUP (name or number;\n"
	"                     default: the primary group of USER, required for\n"
	"                     a uid without a passwd entry)\n"
	"  -h, --help        show this help and exit\n"
	"      --version     show the version and exit\n"
	"\n"
	"Environment:\n"
	"  LOG_LEVEL              silent, error (default, as wireguard-go), info,\n"
	"                         verbose or debug. A detached daemon keeps stdout\n"
	"                         and stderr only when LOG_LEVEL is set and not\n"
	"                         silent; otherwise they go to /dev/null.\n"
	"  WG_PROCESS_FOREGROUND  1: same as --foreground\n"
	"  WGD_BIND               same as --bind, when --bind is not given (for\n"
	"                         wg-quick, which passes only INTERFACE)\n"
	"  WGD_METRICS            same as --metrics, when --metrics is not given\n"
	"  WG_TUN_FD              use this inherited TUN descriptor\n"
	"  WG_UAPI_FD             use this inherited listening UAPI socket\n"
	"  WG_TUN_NAME_FILE       macOS, INTERFACE utun: file that receives the\n"
	"                         name of the utunN created\n"
	"  NOTIFY_SOCKET          sd_notify: READY=1 once the interface and the\n"
	"                         socket exist, STOPPING=1 at exit (systemd\n"
	"                         Type=notify)\n"
	"  WATCHDOG_USEC          sd_notify: send WATCHDOG=1 every half of it\n"
	"\n"
	"wgd exits on SIGINT or SIGTERM, when INTERFACE is deleted (ip link del,\n"
	"ifconfig destroy) and when its socket file is removed.\n"
	"\n"
	"Once the interface and the socket exist, wgd gives up what it no longer\n"
	"needs. On Linux it keeps only CAP_NET_ADMIN (firewall mark, sockets for\n"
	"a new port) and CAP_NET_BIND_SERVICE (ports below 1024), sets\n"
	"no_new_privs and cannot dump core. --user/--group switch the uid and gid\n"
	"for good (saved ids too), leaving that gid the only group; the socket\n"
	"file stays root's (mode 0600), so the daemon cannot remove it at exit:\n"
	"wg(8) or the next wgd clears such a stale socket. If the locked-memory\n"
	"limit cannot be lifted (RLIMIT_MEMLOCK), wgd warns at start: raise it\n"
	"with LimitMEMLOCK=infinity (systemd) or ulimit -l unlimited.\n";

struct daemon {
	const char *ifname_arg;
	const char *user, *group; /* --user, --group; NULL when not given */
	const char *bind_arg;	  /* --bind; NULL when not given */
	const char *metrics;	  /* --metrics or WGD_METRICS; NULL: off */
	struct wg_metrics_http *http;
	struct wg_addr_pair bind; /* --bind or WGD_BIND */
	struct wg_privs privs;
	char ifname[IFNAME_MAX];
	bool foreground;
	bool keep_stdio; /* LOG_LEVEL given and not silent */
	enum wg_log_level level;
	struct wg_tun *tun; /* owned until handed to the device */
	struct wg_uapi_socket sock;
	int ready_fd; /* write end of the readiness pipe, -1 when none */
	struct event_base *base;
	struct wg_device *dev;
	struct wg_control *ctl;
	struct wg_exit_watch *watch;
	struct event *ev_int, *ev_term, *ev_watch, *ev_watchdog;
	const char *stop_why;
	/* The service manager's variables (NULL when unset), read here only:
	 * the platform code takes them as arguments. */
	const char *notify_socket, *watchdog_usec, *watchdog_pid;
	const char *tun_name_file;    /* WG_TUN_NAME_FILE */
	bool sd_failed;		      /* a notification was lost: logged once */
	struct wg_datapath_config dp; /* WGD_PORTABLE, WGD_BUFFER_MB, ... */
};

static void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "wgd: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr,
		"\nUsage: wgd [-f|--foreground] [--bind ADDRS] [--metrics ADDR:PORT] [--user USER]"
		" [--group GROUP] INTERFACE (see wgd --help)\n");
}

/* --user/--group/--bind/--metrics: "--opt VALUE" or "--opt=VALUE". Returns the value (NULL
 * if arg is not opt) and advances *i past a separate value. */
static const char *option_value(const char *opt, int argc, char **argv, int *i, bool *missing)
{
	const char *a = argv[*i];
	size_t n = strlen(opt);

	if (strncmp(a, opt, n) || (a[n] != '\0' && a[n] != '='))
		return NULL;
	if (a[n] == '=')
		return a + n + 1;
	if (*i + 1 >= argc) {
		*missing = true;
		return NULL;
	}
	return argv[++*i];
}

/* -1 to go on, otherwise the exit status. */
static int parse_option(const char *arg, struct daemon *d)
{
	if (!strcmp(arg, "-f") || !strcmp(arg, "--foreground")) {
		d->foreground = true;
		return -1;
	}
	if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
		fputs(help_text, stdout);
		return 0;
	}
	if (!strcmp(arg, "--version")) {
		printf("wgd %s\n", WGD_VERSION);
		return 0;
	}
	usage_error("unknown option '%s'", arg);
	return 1;
}

/* 1 if argv[*i] was --user/--group/--bind/--metrics (taken), 0 if it is another option,
 * -1 after a usage error. */
static int take_value_option(int argc, char **argv, int *i, struct daemon *d)
{
	bool missing = false;
	const char *v;

	if ((v = option_value("--user", argc, argv, i, &missing)))
		d->user = v;
	else if (!missing && (v = option_value("--group", argc, argv, i, &missing)))
		d->group = v;
	else if (!missing && (v = option_value("--bind", argc, argv, i, &missing)))
		d->bind_arg = v;
	else if (!missing && (v = option_value("--metrics", argc, argv, i, &missing)))
		d->metrics = v;
	if (missing || (v && !*v)) {
		usage_error("option '%s' needs a value", argv[*i]);
		return -1;
	}
	return v ? 1 : 0;
}

/* --bind, else WGD_BIND: wg-quick starts the daemon with the interface
 * name only. -1 to go on, 1 after a usage error. */
static int parse_bind(struct daemon *d)
{
	const char *v = d->bind_arg, *from = "--bind";

	if (!v) {
		v = getenv("WGD_BIND");
		from = "WGD_BIND";
		if (!v || !*v)
			return -1;
	}
	if (!wg_addr_pair_parse(&d->bind, v))
		return -1;
	usage_error("invalid %s '%s' (an address, or an IPv4 and an IPv6 address separated by "
		    "a comma, numeric; or none)",
		    from, v);
	return 1;
}

/* --metrics, else WGD_METRICS: a numeric address and a port. -1 to go on,
 * 1 after a usage error. */
static int parse_metrics(struct daemon *d)
{
	const char *from = d->metrics ? "--metrics" : "WGD_METRICS";
	union wg_sockaddr sa;

	if (!d->metrics) {
		d->metrics = getenv("WGD_METRICS");
		if (!d->metrics || !*d->metrics) {
			d->metrics = NULL;
			return -1;
		}
	}
	if (!wg_sockaddr_parse(&sa, d->metrics) &&
	    (sa.sa.sa_family == AF_INET ? sa.in4.sin_port : sa.in6.sin6_port))
		return -1;
	usage_error("invalid %s '%s' (ADDR:PORT, numeric: 127.0.0.1:9586 or [::1]:9586)", from,
		    d->metrics);
	return 1;
}

static int parse_args(int argc, char **argv, struct daemon *d)
{
	bool options = true;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (options && !strcmp(a, "--")) {
			options = false;
		} else if (options && a[0] == '-' && a[1]) {
			int ret = take_value_option(argc, argv, &i, d);
			if (ret < 0)
				return 1;
			if (ret == 0 && (ret = parse_option(a, d)) >= 0)
				return ret;
		} else if (d->ifname_arg) {
			usage_error("unexpected argument '%s'", a);
			return 1;
		} else {
			d->ifname_arg = a;
		}
	}
	if (!d->ifname_arg) {
		usage_error("missing INTERFACE");
		return 1;
	}
	if (!wg_ctl_valid_ifname(d->ifname_arg)) {
		usage_error("invalid interface name '%s' (1-15 characters, no '/', ':' or spaces)",
			    d->ifname_arg);
		return 1;
	}
	return parse_bind(d) < 0 ? parse_metrics(d) : 1;
}

/* The data path's environment; a malformed value means the default. */
#define BUFFER_MB_MAX 4096

static bool env_set(const char *name)
{
	const char *v = getenv(name);

	return v && *v && strcmp(v, "0") != 0;
}

static unsigned long env_ulong(const char *name, unsigned long max)
{
	const char *v = getenv(name);
	char *end;
	unsigned long n;

	if (!v || !*v)
		return 0;
	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno || *end || v[0] == '-')
		return 0;
	return n > max ? max : n;
}

static void parse_dp_env(struct wg_datapath_config *c)
{
	c->portable = env_set("WGD_PORTABLE");
	/* MiB of batch buffers plus staged packets (default 16). */
	c->buffer_bytes = (size_t)env_ulong("WGD_BUFFER_MB", BUFFER_MB_MAX) << 20;
	/* Crypto threads, the loop's included ("auto" or unset: 0). */
	c->threads = (unsigned int)env_ulong("WGD_THREADS", 1024);
}

static void parse_env(struct daemon *d)
{
	const char *lvl = getenv("LOG_LEVEL");
	const char *fg = getenv("WG_PROCESS_FOREGROUND");
	int level = WG_LOG_ERROR;

	if (lvl && *lvl) {
		level = wg_log_level_parse(lvl);
		if (level < 0) {
			fprintf(stderr, "wgd: unknown LOG_LEVEL '%s', using 'error'\n", lvl);
			level = WG_LOG_ERROR;
		}
		d->keep_stdio = level != WG_LOG_SILENT;
	}
	if (fg && !strcmp(fg, "1"))
		d->foreground = true;
	d->level = (enum wg_log_level)level;
	d->notify_socket = getenv("NOTIFY_SOCKET");
	d->watchdog_usec = getenv("WATCHDOG_USEC");
	d->watchdog_pid = getenv("WATCHDOG_PID");
	d->tun_name_file = getenv("WG_TUN_NAME_FILE");
	parse_dp_env(&d->dp);
	wg_log_init(d->ifname_arg, d->level);
}

/* --user/--group are looked up before anything is created, so that a typo
 * (or a uid without a primary group) fails the launch rather than the drop. */
static int resolve_privs(struct daemon *d)
{
	const char *why;
	int ret = wg_privs_resolve(d->user, d->group, &d->privs, &why);
	bool lookup_failed = ret != -ENOENT && ret != -EINVAL && ret != -ESRCH;

	if (ret)
		wg_log_error("cannot use %s%s%s%s%s: %s%s%s", d->user ? "--user " : "",
			     d->user ? d->user : "", d->user && d->group ? " " : "",
			     d->group ? "--group " : "", d->group ? d->group : "", why,
			     lookup_failed ? ": " : "", lookup_failed ? strerror(-ret) : "");
	return ret;
}

/* Up to WG_CONTROL_MAX_CONNS UAPI clients besides the TUN and the sockets:
 * lift a soft descriptor limit of 1024 towards the hard limit. */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= 4096)
		return;
	rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
	(void)setrlimit(RLIMIT_NOFILE, &rl);
}

/* Secret slabs lock their memory; past the limit keys may reach swap.
 * Said once at start, with the remedy, rather than only when a lock fails
 * under many peers (secret.c logs that too). */
static void raise_memlock(void)
{
	uint64_t bytes;
	int ret = wg_memlock_raise(&bytes);

	if (ret)
		wg_log_warning("the locked-memory limit (RLIMIT_MEMLOCK) stays at %llu KiB "
			       "(%s): keys beyond it may be swapped; raise the hard limit: "
			       "LimitMEMLOCK=infinity (systemd), ulimit -l unlimited (shell) "
			       "or start wgd with CAP_SYS_RESOURCE",
			       (unsigned long long)(bytes / 1024), strerror(-ret));
}

/* Once the TUN is open and the UAPI socket listens, before the launcher
 * returns: what the daemon keeps (see wg_privs_drop). A failure is fatal:
 * never run half-reduced. */
static int drop_privileges(struct daemon *d)
{
	int ret;

	raise_memlock(); /* while CAP_SYS_RESOURCE may still be there */
	ret = wg_privs_drop(&d->privs);
	if (ret) {
		wg_log_error("cannot drop privileges: %s", strerror(-ret));
		return ret;
	}
	if (d->privs.set_uid || d->privs.set_gid)
		wg_log_info("running as uid %u, gid %u, no other group", (unsigned int)getuid(),
			    (unsigned int)getgid());
	return 0;
}

/* An inherited descriptor number from the environment: -1 if unset,
 * -EINVAL if malformed. */
static int env_fd(const char *name)
{
	const char *s = getenv(name);
	char *end;
	long v;

	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < 0 || v > INT_MAX || fcntl((int)v, F_GETFD) < 0) {
		wg_log_error("%s=%s is not an open descriptor", name, s);
		return -EINVAL;
	}
	return (int)v;
}

/* TUNSETIFF on an existing name: EBUSY if a process holds that TUN,
 * EINVAL if it is some other kind of interface. */
static const char *tun_hint(int err)
{
	if (err == -EBUSY)
		return " (is another daemon running for it?)";
	if (err == -EINVAL)
		return " (does a non-TUN interface of that name exist?)";
	return "";
}

/* Where the system chose the interface's name (macOS "utun": the first
 * free utunN), it goes to $WG_TUN_NAME_FILE, which wg-quick reads to map
 * its interface name to it: the name and a newline, mode 0400, as
 * wireguard-go writes it; before forking, so the file exists when the
 * launcher returns. 0 or -errno. */
static int write_tun_name_file(const struct daemon *d)
{
	const char *path = d->tun_name_file;
	char line[IFNAME_MAX + 1];
	int fd, len, ret = 0;

	if (!path || !*path || !strcmp(d->ifname_arg, d->ifname))
		return 0;
	len = snprintf(line, sizeof(line), "%s\n", d->ifname);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0400);
	if (fd < 0)
		return -errno;
	errno = 0;
	if (write(fd, line, (size_t)len) != len)
		ret = errno ? -errno : -EIO;
	if (close(fd) < 0 && !ret)
		ret = -errno;
	return ret;
}

static int open_tun(struct daemon *d)
{
	int fd = env_fd("WG_TUN_FD");
	int ret;

	if (fd == -EINVAL)
		return fd;
	if (fd >= 0)
		ret = wg_tun_from_fd(fd, true, d->ifname_arg, &d->tun);
	else if (d->dp.portable)
		ret = wg_tun_create_plain(d->ifname_arg, d->ifname, sizeof(d->ifname), &d->tun);
	else
		ret = wg_tun_create(d->ifname_arg, d->ifname, sizeof(d->ifname), &d->tun);
	if (ret) {
		wg_log_error("failed to create TUN device %s: %s%s", d->ifname_arg, strerror(-ret),
			     tun_hint(ret));
		return ret;
	}
	snprintf(d->ifname, sizeof(d->ifname), "%s", wg_tun_name(d->tun));
	wg_log_init(d->ifname, d->level);
	if (fd < 0 && (ret = write_tun_name_file(d)))
		wg_log_error("cannot write the interface name to WG_TUN_NAME_FILE=%s: %s",
			     d->tun_name_file, strerror(-ret));
	return ret;
}

/* The metrics endpoint listens only once the device runs, in the detached
 * daemon, whose errors nobody may see: a trial bind here, while the
 * launcher's stderr is still there, says at once that the address is not
 * on this host or its port is taken. */
static int check_metrics_addr(const struct daemon *d)
{
	union wg_sockaddr sa;
	int fd, one = 1, ret = 0;

	if (!d->metrics || wg_sockaddr_parse(&sa, d->metrics))
		return 0;
	fd = socket(sa.sa.sa_family, SOCK_STREAM, 0); /* closed at once: no CLOEXEC needed */
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, &sa.sa, (socklen_t)wg_sockaddr_len(&sa)) < 0)
		ret = -errno;
	if (fd >= 0)
		close(fd);
	if (ret)
		wg_log_error("cannot serve metrics on %s: %s", d->metrics, strerror(-ret));
	return ret;
}

static int open_uapi(struct daemon *d)
{
	int fd = env_fd("WG_UAPI_FD");
	int ret;

	if (fd == -EINVAL)
		return fd;
	if (fd >= 0)
		ret = wg_uapi_adopt(fd, &d->sock);
	else
		ret = wg_uapi_open(WG_UAPI_DIR, d->ifname, &d->sock);
	if (ret == -EADDRINUSE)
		wg_log_error("another process already serves %s/%s.sock", WG_UAPI_DIR, d->ifname);
	else if (ret)
		wg_log_error("UAPI listen error: %s", strerror(-ret));
	return ret;
}

/* Parent side: the child writes one status byte when its event loop is
 * about to run; EOF means it died first. */
static int wait_ready(int fd, pid_t child)
{
	unsigned char status = 1;
	ssize_t n;

	do
		n = read(fd, &status, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1) {
		waitpid(child, NULL, 0);
		return 1;
	}
	return status;
}

static void notify_ready(struct daemon *d, unsigned char status)
{
	if (d->ready_fd < 0)
		return;
	while (write(d->ready_fd, &status, 1) < 0 && errno == EINTR)
		;
	close(d->ready_fd);
	d->ready_fd = -1;
}

static int redirect_stdio(bool keep_output)
{
	int null = open("/dev/null", O_RDWR);

	if (null < 0)
		return -errno;
	if (dup2(null, STDIN_FILENO) < 0 ||
	    (!keep_output && (dup2(null, STDOUT_FILENO) < 0 || dup2(null, STDERR_FILENO) < 0))) {
		close(null);
		return -errno;
	}
	if (null > STDERR_FILENO)
		close(null);
	return 0;
}

/* Returns in the child only; the parent exits with the child's status. */
static int daemonize(struct daemon *d)
{
	int p[2];
	pid_t pid;

	if (pipe(p) < 0 || fcntl(p[0], F_SETFD, FD_CLOEXEC) < 0 ||
	    fcntl(p[1], F_SETFD, FD_CLOEXEC) < 0)
		return -errno;
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0) {
		close(p[1]);
		_exit(wait_ready(p[0], pid));
	}
	close(p[0]);
	d->ready_fd = p[1];
	if (setsid() < 0 || chdir("/") < 0)
		return -errno;
	return redirect_stdio(d->keep_stdio);
}

/* A message to the service manager, if any. A lost one is logged (once:
 * watchdog pings repeat) but never stops the daemon. */
static void service_notify(struct daemon *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void service_notify(struct daemon *d, const char *fmt, ...)
{
	char msg[WG_SD_MSG_MAX];
	va_list ap;
	int n, ret;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ret = n < 0 || (size_t)n >= sizeof(msg) ? -EMSGSIZE : wg_sd_notify(d->notify_socket, msg);
	if (ret && !d->sd_failed) {
		d->sd_failed = true;
		wg_log_error("cannot notify the service manager at NOTIFY_SOCKET=%s: %s",
			     d->notify_socket, strerror(-ret));
	}
}

static void stop(struct daemon *d, const char *why)
{
	wg_log_info("%s", why);
	d->stop_why = why;
	event_base_loopbreak(d->base);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	stop(arg, sig == SIGINT ? "received SIGINT" : "received SIGTERM");
}

static void on_watch(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;

	switch (wg_exit_watch_check(d->watch)) {
	case WG_EXIT_TUN_GONE:
		stop(d, "interface deleted");
		break;
	case WG_EXIT_SOCKET_GONE:
		stop(d, "UAPI socket removed");
		break;
	case WG_EXIT_NONE:
		break;
	}
}

static void on_fatal(void *arg)
{
	stop(arg, "device failed (TUN gone)");
}

static void on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	service_notify(arg, "WATCHDOG=1");
}

/* WatchdogSec=: a ping from the loop itself at half the interval, so a
 * stuck loop is what the service manager sees. */
static int add_watchdog(struct daemon *d)
{
	uint64_t usec = wg_sd_watchdog_usec(d->watchdog_usec, d->watchdog_pid) / 2;
	struct timeval tv;

	if (!usec)
		return 0;
	if (usec < 1000)
		usec = 1000; /* never a busy loop */
	tv.tv_sec = (time_t)(usec / 1000000);
	tv.tv_usec = (suseconds_t)(usec % 1000000);
	d->ev_watchdog = event_new(d->base, -1, EV_PERSIST, on_watchdog, d);
	if (!d->ev_watchdog || event_add(d->ev_watchdog, &tv))
		return -ENOMEM;
	wg_log_info("watchdog: pinging the service manager every %llu ms",
		    (unsigned long long)(usec / 1000));
	return 0;
}

static int add_events(struct daemon *d)
{
	d->ev_int = evsignal_new(d->base, SIGINT, on_signal, d);
	d->ev_term = evsignal_new(d->base, SIGTERM, on_signal, d);
	d->ev_watch =
		event_new(d->base, wg_exit_watch_fd(d->watch), EV_READ | EV_PERSIST, on_watch, d);
	if (!d->ev_int || !d->ev_term || !d->ev_watch)
		return -ENOMEM;
	if (event_add(d->ev_int, NULL) || event_add(d->ev_term, NULL) ||
	    event_add(d->ev_watch, NULL))
		return -ENOMEM;
	return add_watchdog(d);
}

/* --metrics: HTTP on the device that now runs. */
static int start_metrics(struct daemon *d)
{
	int ret;

	if (!d->metrics)
		return 0;
	ret = wg_metrics_http_start(d->base, d->dev, d->ifname, d->metrics, &d->http);
	if (ret) /* success is logged by the server, with the port it got */
		wg_log_error("cannot serve metrics on %s: %s", d->metrics, strerror(-ret));
	return ret;
}

static int start(struct daemon *d)
{
	struct wg_device_params p = {.clock = NULL};
	char bind[WG_ADDR_PAIR_STRLEN];
	int ret;

	d->base = event_base_new();
	if (!d->base)
		return -ENOMEM;
	/* Before the device takes the TUN: the watch keeps only its fd. */
	ret = wg_exit_watch_open(d->tun, &d->sock, &d->watch);
	if (ret) {
		wg_log_error("cannot watch interface and socket: %s", strerror(-ret));
		return ret;
	}
	/* Capabilities belong to threads: drop before the device may start
	 * crypto threads. Nothing it does needs more than what is kept. */
	ret = drop_privileges(d);
	if (ret)
		return ret;
	p.base = d->base;
	p.tun = d->tun;
	p.dp = d->dp;
	p.bind = d->bind;
	if (wg_addr_pair_set(&d->bind))
		wg_log_info("listening on and sending from %s only",
			    wg_addr_pair_format(&d->bind, bind, sizeof(bind)));
	ret = wg_device_create(&p, &d->dev);
	if (ret) {
		wg_log_error("failed to create device: %s", strerror(-ret));
		return ret;
	}
	d->tun = NULL;
	wg_device_on_fatal(d->dev, on_fatal, d);
	ret = wg_control_start_named(d->base, d->sock.fd, d->dev, d->ifname, &d->ctl);
	if (ret) {
		wg_log_error("failed to start UAPI server: %s", strerror(-ret));
		return ret;
	}
	ret = start_metrics(d);
	return ret ? ret : add_events(d);
}

static void cleanup(struct daemon *d)
{
	if (d->ev_int)
		event_free(d->ev_int);
	if (d->ev_term)
		event_free(d->ev_term);
	if (d->ev_watch)
		event_free(d->ev_watch);
	if (d->ev_watchdog)
		event_free(d->ev_watchdog);
	wg_metrics_http_stop(d->http); /* scrapes read the device */
	wg_control_stop(d->ctl);
	wg_exit_watch_close(d->watch);
	if (d->dev)
		wg_device_destroy(d->dev);
	wg_tun_close(d->tun);
	if (d->sock.fd >= 0 || d->sock.path[0])
		wg_uapi_close(&d->sock);
	if (d->base)
		event_base_free(d->base);
	wg_secret_trim(); /* every key object is gone: unmap the slabs */
}

static int run(struct daemon *d)
{
	int ret = start(d);

	/* The service manager first: in a forked child, MAINPID= must be
	 * known before the launching parent exits. */
	if (!ret)
		service_notify(d, "READY=1\nMAINPID=%ld\nSTATUS=Serving %s, control socket %s",
			       (long)getpid(), d->ifname,
			       d->sock.path[0] ? d->sock.path : "inherited");
	notify_ready(d, ret ? 1 : 0);
	if (ret)
		return 1;
	wg_log_info("device started");
	/* One turn at a time, then the stack the callbacks used is wiped:
	 * request text, keys in get replies and handshake state leave
	 * copies there that no function of ours owns (keys.sh looks). */
	do {
		ret = event_base_loop(d->base, EVLOOP_ONCE);
		wg_stack_wipe();
	} while (!ret && !event_base_got_exit(d->base) && !event_base_got_break(d->base));
	wg_log_info("shutting down");
	service_notify(d, "STOPPING=1\nSTATUS=Stopping: %s",
		       d->stop_why ? d->stop_why : "event loop ended");
	return ret < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct daemon d = {.ready_fd = -1, .sock = {.fd = -1}};
	int ret;

	/* Companion subcommands; an interface named so: wgd -- set */
	if (argc >= 2 && (!strcmp(argv[1], "set") || !strcmp(argv[1], "show")))
		return wg_ctl_main(argc - 1, argv + 1);
	if (argc >= 2 && (!strcmp(argv[1], "metrics") || !strcmp(argv[1], "diagnose")))
		return wg_diag_main(argc - 1, argv + 1);
	ret = parse_args(argc, argv, &d);
	if (ret >= 0)
		return ret;
	parse_env(&d);
	if (resolve_privs(&d))
		return 1;
	raise_nofile();
	signal(SIGPIPE, SIG_IGN);
	if (wg_crypto_init()) {
		wg_log_error("libsodium initialisation failed");
		return 1;
	}
	if (check_metrics_addr(&d) || open_tun(&d) || open_uapi(&d)) {
		cleanup(&d);
		return 1;
	}
	if (!d.foreground && (ret = daemonize(&d))) {
		wg_log_error("failed to daemonize: %s", strerror(-ret));
		notify_ready(&d, 1);
		cleanup(&d);
		return 1;
	}
	ret = run(&d);
	cleanup(&d);
	return ret;
}
