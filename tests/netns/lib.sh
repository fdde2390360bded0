# shellcheck shell=bash
# Shared helpers for the network-namespace tests (run as root, sourced).
#
# Isolation: every "node" is a network namespace named wgdt-<pid>-<seq><node>
# plus its own long-lived mount namespace, kept alive by binding it to a file
# in a private directory (unshare --mount=FILE). `ip netns exec` would give a
# fresh mount namespace per command, so a tmpfs mounted on /run/wireguard
# there would vanish before the next `wg` call; with the persistent mount
# namespace every command of a node (daemon, wg, wg-quick, ping) sees the
# same private /run/wireguard, so sockets of different daemons can never
# collide even with equal interface names, and nothing leaks into the host's
# /run/wireguard. /sys is remounted inside so it shows the node's devices.
# Commands run in a node through `nsx NODE cmd...` (nsenter).
#
# Cleanup (trap on EXIT/INT/TERM): SIGTERM then SIGKILL to the PIDs we
# recorded, then to any process still inside one of OUR namespaces (e.g. a
# daemon that wg-quick forked), then the namespaces we created, by name.

set -u -o pipefail

T_LIBDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$T_LIBDIR/../.." && pwd)
IMPL_UNDER_TEST=${IMPL_UNDER_TEST:-$REPO_ROOT/build/wgd}
WGD_PEERS_DIR=${WGD_PEERS_DIR:-/opt/wgd-peers}
WGGO_DEBIAN_BIN=${WGGO_DEBIAN_BIN:-/usr/bin/wireguard-go}
WGGO_LATEST_BIN=${WGGO_LATEST_BIN:-$WGD_PEERS_DIR/bin/wireguard-go-latest}
BORINGTUN_BIN=${BORINGTUN_BIN:-$WGD_PEERS_DIR/bin/boringtun-cli}
WGDT_LOG_LEVEL=${WGDT_LOG_LEVEL:-verbose}
WGDT_HS_WAIT=${WGDT_HS_WAIT:-10}   # seconds allowed for a first handshake

T_NAME=$(basename "$0" .sh)
T_PREFIX="wgdt-$$-"
T_STATE="/run/wgdt-$$"
T_LOGDIR=${WGDT_LOGDIR:-${TMPDIR:-/tmp}/wgdt-logs-$$}
T_DATADIR="${TMPDIR:-/tmp}/wgdt-data-$$" # random transfer payloads, always removed
T_PASS=0
T_FAIL=0
T_FAILED=()
T_SEQ=0
T_NODES=()              # node names currently alive
T_PIDS=()               # daemon PIDs we started
declare -A NS IDX UHOST PID IMPL IFACE PUB PORT
T_CASE_FAILS=0

# --- reporting -------------------------------------------------------------

log() { printf '%s\n' "$*"; }
pass() { T_PASS=$((T_PASS + 1)); printf 'PASS: %s\n' "$*"; }
fail()
{
	T_FAIL=$((T_FAIL + 1))
	T_CASE_FAILS=$((T_CASE_FAILS + 1))
	T_FAILED+=("$*")
	printf 'FAIL: %s\n' "$*"
}
quiet() { "$@" >/dev/null 2>&1; }
not() { ! "$@"; }
# check DESCRIPTION cmd... : PASS if cmd succeeds, FAIL otherwise.
check()
{
	local d=$1
	shift
	if "$@"; then pass "$d"; else fail "$d"; fi
}
# Fatal: the harness itself cannot go on (never a skip).
die()
{
	printf '\nFAIL: FATAL (%s): %s\n\n' "$T_NAME" "$*" >&2
	T_FAIL=$((T_FAIL + 1))
	T_FAILED+=("FATAL: $*")
	exit 1
}

summary()
{
	local f
	log ""
	log "== $T_NAME: $T_PASS passed, $T_FAIL failed"
	for f in "${T_FAILED[@]}"; do log "   failed: $f"; done
	[ "$T_FAIL" -eq 0 ] || log "   daemon logs kept in $T_LOGDIR"
}

# --- setup / teardown ------------------------------------------------------

lib_init()
{
	local t
	[ "$(id -u)" -eq 0 ] || die "must run as root"
	for t in ip wg nsenter unshare nc ss ping sha256sum python3 timeout; do
		command -v "$t" >/dev/null || die "missing tool: $t (run scripts/setup.sh)"
	done
	trap lib_exit EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	mkdir -p "$T_LOGDIR" "$T_DATADIR" /run/wireguard || die "cannot create $T_LOGDIR"
	mkdir "$T_STATE" || die "cannot create $T_STATE"
	T_STATE_MADE=1
	# A private mount so the nsfs binds below never propagate (/ may be shared).
	mount --bind "$T_STATE" "$T_STATE" && mount --make-private "$T_STATE" ||
		die "cannot make $T_STATE a private mount"
	log "== $T_NAME (logs: $T_LOGDIR)"
}

lib_exit()
{
	local rc=$?
	trap - EXIT INT TERM
	teardown
	if [ "${T_STATE_MADE:-0}" = 1 ]; then
		if mountpoint -q "$T_STATE"; then umount "$T_STATE"; fi
		rm -rf "$T_STATE"
	fi
	rm -rf "$T_DATADIR"
	summary
	[ "$T_FAIL" -eq 0 ] && [ "$rc" -eq 0 ] && rm -rf "$T_LOGDIR"
	[ "$T_FAIL" -eq 0 ] && [ "$rc" -eq 0 ] && exit 0
	exit 1
}

# proc_alive PID: running, not a zombie. The daemons are our children, so
# one that died stays a zombie (kill -0 still succeeds) until it is reaped.
proc_alive()
{
	local st
	st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	st=${st##*) }
	[ "${st%% *}" != Z ]
}

# kill_pids PID...: SIGTERM, up to 3 s grace, then SIGKILL; reaps children.
kill_pids()
{
	local p i alive
	[ $# -gt 0 ] || return 0
	kill -TERM "$@" 2>/dev/null
	for i in $(seq 30); do
		alive=0
		for p in "$@"; do proc_alive "$p" && alive=1; done
		[ $alive -eq 0 ] && break
		sleep 0.1
	done
	[ $alive -eq 0 ] || kill -KILL "$@" 2>/dev/null
	for p in "$@"; do wait "$p" 2>/dev/null; done
	return 0
}

# forget_pid PID: a reaped daemon, never to be signalled again.
forget_pid()
{
	local p keep=()
	for p in "${T_PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
	T_PIDS=("${keep[@]}")
}

# Removes every node: our daemons, whatever still runs in our namespaces,
# the mount-namespace binds and the network namespaces.
teardown()
{
	local n pids=()
	kill_pids "${T_PIDS[@]}"
	T_PIDS=()
	for n in "${T_NODES[@]}"; do
		# shellcheck disable=SC2207
		pids+=($(ip netns pids "${NS[$n]}" 2>/dev/null))
	done
	kill_pids "${pids[@]}"
	for n in "${T_NODES[@]}"; do
		umount "$T_STATE/$n.mnt" 2>/dev/null
		rm -f "$T_STATE/$n.mnt"
		ip netns del "${NS[$n]}" || log "warning: could not delete ${NS[$n]}"
	done
	T_NODES=()
}

# node_add NAME: network namespace + persistent mount namespace with a
# private /run/wireguard. Any failure is fatal.
node_add()
{
	local n=$1 ns
	T_SEQ=$((T_SEQ + 1))
	ns="${T_PREFIX}${T_SEQ}$n"
	ip netns add "$ns" || die "cannot create network namespace $ns"
	NS[$n]=$ns
	IDX[$n]=${#T_NODES[@]}
	IDX[$n]=$((IDX[$n] + 1))
	T_NODES+=("$n")
	: >"$T_STATE/$n.mnt" || die "cannot create $T_STATE/$n.mnt"
	unshare --mount="$T_STATE/$n.mnt" --propagation private \
		nsenter --net="/run/netns/$ns" -- sh -c \
		'mount -t tmpfs -o mode=0755 wgdt-run /run/wireguard &&
		 umount -l /sys && mount -t sysfs sysfs /sys' ||
		die "cannot create the mount namespace of $ns"
	nsx "$n" ip link set lo up || die "cannot bring up lo in $ns"
	nsx "$n" sysctl -qw net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.default.disable_ipv6=0 \
		net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 >/dev/null ||
		die "cannot enable IPv6 in $ns"
}

# nsx NODE cmd...: run in the node's network and mount namespaces.
nsx()
{
	local n=$1
	shift
	nsenter --mount="$T_STATE/$n.mnt" --net="/run/netns/${NS[$n]}" -- "$@"
}

# Underlay/tunnel addresses of node number i (1, 2, ...); the underlay host
# part moves with move_addr.
u4() { echo "192.0.2.${UHOST[$1]:-${IDX[$1]}}"; }
u6() { echo "2001:db8:1::${UHOST[$1]:-${IDX[$1]}}"; }
t4() { echo "10.0.0.${IDX[$1]}"; }
t6() { echo "fd00::${IDX[$1]}"; }

# link_nodes A B: veth "u0" in each, IPv4 + IPv6 underlay (no DAD).
link_nodes()
{
	local a=$1 b=$2 n
	ip -n "${NS[$a]}" link add u0 type veth peer name u0 netns "${NS[$b]}" ||
		die "cannot create veth between $a and $b"
	for n in "$a" "$b"; do
		nsx "$n" ip addr add "$(u4 "$n")/24" dev u0 &&
			nsx "$n" ip addr add "$(u6 "$n")/64" dev u0 nodad &&
			nsx "$n" ip link set u0 up || die "cannot configure the underlay of $n"
	done
}

# move_addr NODE UL NEWHOST: replace the node's IPv4 or IPv6 underlay address.
move_addr()
{
	local n=$1 ul=$2 new=$3
	if [ "$ul" = 4 ]; then
		nsx "$n" ip addr del "$(u4 "$n")/24" dev u0 &&
			nsx "$n" ip addr add "192.0.2.$new/24" dev u0 || return 1
	else
		nsx "$n" ip addr del "$(u6 "$n")/64" dev u0 &&
			nsx "$n" ip addr add "2001:db8:1::$new/64" dev u0 nodad || return 1
	fi
	UHOST[$n]=$new
}

# --- daemons ---------------------------------------------------------------

impl_bin()
{
	case $1 in
	wgd) echo "$IMPL_UNDER_TEST" ;;
	wggo) echo "$WGGO_DEBIAN_BIN" ;;
	wggo-latest) echo "$WGGO_LATEST_BIN" ;;
	boringtun) echo "$BORINGTUN_BIN" ;;
	*) return 1 ;;
	esac
}

dlog() { echo "$T_LOGDIR/${NS[$1]}-${IFACE[$1]}-${IMPL[$1]}.log"; }

# daemon_start NODE IMPL [IFACE]: starts IMPL in the foreground (background
# job), waits until its TUN device and UAPI socket exist.
daemon_start()
{
	local n=$1 impl=$2 ifc=${3:-wgt$1} bin mnt
	bin=$(impl_bin "$impl") || die "unknown implementation $impl"
	[ -x "$bin" ] || die "implementation $impl: $bin is not executable (build it / run scripts/setup.sh)"
	IMPL[$n]=$impl
	IFACE[$n]=$ifc
	# nsenter itself, not the nsx function: a backgrounded function runs in
	# a subshell and $! would be that subshell. nsenter execs (no fork
	# without a PID namespace), so $! is the daemon.
	mnt=(--mount="$T_STATE/$n.mnt" --net="/run/netns/${NS[$n]}")
	case $impl in
	boringtun)
		nsenter "${mnt[@]}" -- env WG_LOG_LEVEL="$(bt_level)" "$bin" -f --disable-drop-privileges \
			"$ifc" </dev/null >"$(dlog "$n")" 2>&1 &
		;;
	*)
		nsenter "${mnt[@]}" -- env LOG_LEVEL="$WGDT_LOG_LEVEL" WG_PROCESS_FOREGROUND=1 "$bin" -f "$ifc" \
			</dev/null >"$(dlog "$n")" 2>&1 &
		;;
	esac
	node_daemon_wait "$n" $! "$ifc" "$impl ($bin)"
}

# node_daemon_wait NODE PID IFACE WHAT: records PID as NODE's daemon (ours,
# stopped at cleanup), then waits up to 10 s for its UAPI socket and TUN
# device; dies with the daemon's last log lines if it exits first.
node_daemon_wait()
{
	local n=$1 p=$2 ifc=$3 what=$4 i
	PID[$n]=$p
	T_PIDS+=("$p")
	for i in $(seq 100); do
		if ! proc_alive "$p"; then
			tail -n 20 "$(dlog "$n")" >&2
			die "$what in $n exited during startup"
		fi
		nsx "$n" test -S "/run/wireguard/$ifc.sock" &&
			nsx "$n" ip link show dev "$ifc" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	die "$what in $n: no socket/device $ifc after 10 s"
}

bt_level()
{
	case $WGDT_LOG_LEVEL in
	debug) echo trace ;;
	verbose) echo debug ;;
	*) echo info ;;
	esac
}

daemon_alive() { proc_alive "${PID[$1]}"; }

# wgx NODE args...: stock `wg` in the node.
wgx()
{
	local n=$1
	shift
	nsx "$n" wg "$@"
}

# keygen NODE: fresh private key file + PUB[NODE].
keygen()
{
	local n=$1
	(umask 077 && wg genkey >"$T_STATE/$n.key") || die "wg genkey failed"
	PUB[$n]=$(wg pubkey <"$T_STATE/$n.key") || die "wg pubkey failed"
}

# tunnel_addrs NODE: inner addresses on the wg device, device up.
tunnel_addrs()
{
	local n=$1 ifc=${IFACE[$1]}
	nsx "$n" ip addr add "$(t4 "$n")/24" dev "$ifc" &&
		nsx "$n" ip addr add "$(t6 "$n")/64" dev "$ifc" nodad &&
		nsx "$n" ip link set "$ifc" up || die "cannot configure $ifc in $n"
}

# endpoint_of NODE 4|6
endpoint_of()
{
	if [ "$2" = 6 ]; then echo "[$(u6 "$1")]:${PORT[$1]}"; else echo "$(u4 "$1"):${PORT[$1]}"; fi
}

# wg_config NODE PEER UL WITH_ENDPOINT(0|1): key, port, one peer.
wg_config()
{
	local n=$1 p=$2 ul=$3 ep=$4 args
	args=(peer "${PUB[$p]}" allowed-ips "$(t4 "$p")/32,$(t6 "$p")/128")
	[ "$ep" = 1 ] && args+=(endpoint "$(endpoint_of "$p" "$ul")")
	wgx "$n" set "${IFACE[$n]}" private-key "$T_STATE/$n.key" listen-port "${PORT[$n]}" \
		"${args[@]}" || die "wg set on $n (${IMPL[$n]}) failed"
}

# pair_up IMPL_A IMPL_B UL INITIATOR: fresh nodes a and b, linked, each
# running its implementation; only the initiator knows the other's
# endpoint ("both" gives each side an endpoint).
# pair_nodes: a new case with nodes a and b, linked, ports 51821/51822
# and key pairs chosen; no daemon yet.
pair_nodes()
{
	T_CASE_FAILS=0
	node_add a
	node_add b
	link_nodes a b
	PORT[a]=51821
	PORT[b]=51822
	keygen a
	keygen b
}

pair_up()
{
	local ia=$1 ib=$2 ul=$3 init=$4
	pair_nodes
	daemon_start a "$ia"
	daemon_start b "$ib"
	wg_config a b "$ul" "$([ "$init" = a ] || [ "$init" = both ] && echo 1 || echo 0)"
	wg_config b a "$ul" "$([ "$init" = b ] || [ "$init" = both ] && echo 1 || echo 0)"
	tunnel_addrs a
	tunnel_addrs b
}

# sanitizer_clean LOG: no ASan/UBSan/LSan report in a daemon's output.
sanitizer_clean() { ! grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error:' "$1"; }

# stop_check NODE: SIGTERM must stop wgd within 3 s and remove its socket
# and device (the launch contract).
stop_check()
{
	local n=$1 i
	kill -TERM "${PID[$n]}" 2>/dev/null
	for i in $(seq 30); do
		daemon_alive "$n" || break
		sleep 0.1
	done
	if daemon_alive "$n"; then
		fail "wgd in $n still running 3 s after SIGTERM"
		return
	fi
	wait "${PID[$n]}" 2>/dev/null
	forget_pid "${PID[$n]}"
	check "wgd in $n removed its socket on SIGTERM" nsx "$n" test ! -e "/run/wireguard/${IFACE[$n]}.sock"
	check "wgd in $n: its device is gone after exit" not quiet nsx "$n" ip link show dev "${IFACE[$n]}"
}

# pair_down: checks the daemons survived, stops wgd gracefully, shows the
# last log lines on failures, removes everything, then scans the logs of
# wgd for sanitizer reports (leaks are reported at exit).
pair_down()
{
	local n logs=()
	for n in "${T_NODES[@]}"; do
		[ -n "${PID[$n]:-}" ] || continue
		logs+=("$n" "$(dlog "$n")")
		if ! daemon_alive "$n"; then
			fail "${IMPL[$n]} in $n died during the test"
		elif [ "${IMPL[$n]}" = wgd ]; then
			stop_check "$n"
		fi
	done
	if [ "$T_CASE_FAILS" -gt 0 ]; then
		for n in "${T_NODES[@]}"; do
			[ -n "${IMPL[$n]:-}" ] || continue
			log "--- last log lines of ${IMPL[$n]} in $n ($(dlog "$n")):"
			tail -n 15 "$(dlog "$n")" | sed 's/^/    /'
		done
	fi
	teardown
	for ((n = 0; n < ${#logs[@]}; n += 2)); do
		sanitizer_clean "${logs[n + 1]}" ||
			fail "sanitizer report in ${logs[n + 1]}: $(grep -Em1 'Sanitizer|runtime error:' "${logs[n + 1]}")"
	done
	IMPL=()
	PID=()
	UHOST=()
}

# --- traffic ---------------------------------------------------------------

# ping_ok NODE DST: one reply within WGDT_HS_WAIT s (handshake), then 3 of 3.
ping_ok()
{
	local n=$1 dst=$2 i
	for i in $(seq "$WGDT_HS_WAIT"); do
		nsx "$n" ping -n -q -c 1 -W 1 "$dst" >/dev/null 2>&1 && break
	done
	nsx "$n" ping -n -q -c 3 -i 0.2 -w 5 "$dst" >/dev/null 2>&1
}

# ping_fails NODE DST [ping options]: no reply at all in 3 tries.
ping_fails()
{
	local n=$1 dst=$2
	shift 2
	! nsx "$n" ping -n -q -c 3 -i 0.3 -w 3 "$@" "$dst" >/dev/null 2>&1
}

# data_file BYTES: random file (cached per size) and its sha256 in DATA_SUM.
data_file()
{
	DATA_FILE="$T_DATADIR/data-$1"
	if [ ! -s "$DATA_FILE" ]; then
		head -c "$1" /dev/urandom >"$DATA_FILE" || die "cannot write $DATA_FILE"
	fi
	DATA_SUM=$(sha256sum <"$DATA_FILE" | cut -d' ' -f1)
}

# wait_listen NODE PORT: a TCP listener on PORT appears.
wait_listen()
{
	local i
	for i in $(seq 100); do
		[ -n "$(nsx "$1" ss -Hltn "sport = :$2")" ] && return 0
		sleep 0.05
	done
	return 1
}

# xfer SRC DST DSTADDR BYTES [SENDER_CMD]: TCP transfer of a random file over
# the tunnel; true iff the receiver's sha256 equals the sender's. The sender
# command reads the file on stdin (default: plain nc).
XFER_PORT=5201
xfer()
{
	local src=$1 dst=$2 addr=$3 size=$4 out rpid t0 t1 tmo got ok=0
	data_file "$size"
	XFER_PORT=$((XFER_PORT + 1))
	out="$T_STATE/xfer.$XFER_PORT"
	tmo=$((60 + size / 1000000))
	nsenter --mount="$T_STATE/$dst.mnt" --net="/run/netns/${NS[$dst]}" -- \
		timeout "$tmo" sh -c "nc -d -n -l '$addr' $XFER_PORT | sha256sum" >"$out" 2>&1 &
	rpid=$!
	if ! wait_listen "$dst" "$XFER_PORT"; then
		kill "$rpid" 2>/dev/null
		log "   xfer: no listener on $addr:$XFER_PORT"
		return 1
	fi
	t0=$(date +%s.%N)
	if [ $# -ge 5 ]; then
		nsx "$src" timeout "$tmo" sh -c "$5 | nc -N -n '$addr' $XFER_PORT" <"$DATA_FILE"
	else
		nsx "$src" timeout "$tmo" nc -N -n "$addr" "$XFER_PORT" <"$DATA_FILE"
	fi
	wait "$rpid"
	t1=$(date +%s.%N)
	got=$(cut -d' ' -f1 <"$out")
	[ "$got" = "$DATA_SUM" ] && ok=1
	log "   xfer $src->$dst $addr: $size bytes in $(echo "$t1 $t0" | awk '{printf "%.2f s (%.0f Mbit/s)", $1-$2, '"$size"'*8/($1-$2)/1e6}') sha256 $([ $ok = 1 ] && echo match || echo "MISMATCH ($got)")"
	[ $ok = 1 ]
}

# --- wg show helpers -------------------------------------------------------

# peer_field NODE PEERPUB FIELD: one field of `wg show IFACE dump` for a peer
# (endpoint allowed-ips latest-handshake transfer-rx transfer-tx keepalive).
peer_field()
{
	local col
	case $3 in
	preshared-key) col=2 ;;
	endpoint) col=3 ;;
	allowed-ips) col=4 ;;
	latest-handshake) col=5 ;;
	transfer-rx) col=6 ;;
	transfer-tx) col=7 ;;
	persistent-keepalive) col=8 ;;
	*) return 1 ;;
	esac
	wgx "$1" show "${IFACE[$1]}" dump | awk -F'\t' -v k="$2" -v c=$col 'NR > 1 && $1 == k { print $c }'
}

# iface_field NODE FIELD: private-key public-key listen-port fwmark.
iface_field()
{
	local col
	case $2 in
	private-key) col=1 ;;
	public-key) col=2 ;;
	listen-port) col=3 ;;
	fwmark) col=4 ;;
	*) return 1 ;;
	esac
	wgx "$1" show "${IFACE[$1]}" dump | awk -F'\t' -v c=$col 'NR == 1 { print $c }'
}

# tun_stat NODE COUNTER: e.g. rx_packets of the wg device (kernel's view).
tun_stat() { nsx "$1" cat "/sys/class/net/${IFACE[$1]}/statistics/$2"; }

# eq DESC GOT WANT: assertion with both values in the FAIL line.
eq()
{
	if [ "$2" = "$3" ]; then pass "$1"; else fail "$1: got '$2', want '$3'"; fi
}

# run_tests FUNC...: runs each test function, or only those named in
# WGDT_ONLY (space-separated) when it is set.
run_tests()
{
	local f
	for f in "$@"; do
		if [ -n "${WGDT_ONLY:-}" ] && ! [[ " $WGDT_ONLY " == *" $f "* ]]; then continue; fi
		"$f"
	done
}

# impls_from_env: the implementations this run compares against.
wgd_present() { [ -x "$IMPL_UNDER_TEST" ]; }

# --- hostile networks: helpers for dos.sh, faults.sh, soak.sh ---------------

# link_named A IFA B IFB: veth A:IFA <-> B:IFB, both up, no addresses.
link_named()
{
	ip -n "${NS[$1]}" link add "$2" type veth peer name "$4" netns "${NS[$3]}" &&
		nsx "$1" ip link set "$2" up && nsx "$3" ip link set "$4" up ||
		die "cannot create veth $1:$2 <-> $3:$4"
}

# flood_topology SPOOF_NET: victim v linked to its peer p, and to a flooder f
# over 198.18.0.0/24; v routes SPOOF_NET (the flooder's spoofed sources)
# back to f, and f reaches v's underlay address through that link.
flood_topology()
{
	node_add v
	node_add p
	node_add f
	link_nodes v p
	link_named v u1 f u0
	nsx v ip addr add 198.18.0.1/24 dev u1 && nsx f ip addr add 198.18.0.2/24 dev u0 &&
		nsx v ip route add "$1" via 198.18.0.2 &&
		nsx f ip route add "$(u4 v)/32" via 198.18.0.1 || die "cannot set up the flood link"
}

# bg_start NODE OUT cmd...: background command in NODE, output to OUT; its
# exact PID (nsenter execs) in BG_PID, recorded for teardown.
bg_start()
{
	local n=$1 out=$2
	shift 2
	nsenter --mount="$T_STATE/$n.mnt" --net="/run/netns/${NS[$n]}" -- "$@" </dev/null >"$out" 2>&1 &
	BG_PID=$!
	T_PIDS+=("$BG_PID")
}

# bg_wait PID: waits for a bg_start command; returns its status.
bg_wait()
{
	local rc
	wait "$1"
	rc=$?
	forget_pid "$1"
	return $rc
}

# proc_rss_kb PID / proc_cpu_ticks PID (utime + stime, in clock ticks).
proc_rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
proc_cpu_ticks()
{
	local st
	st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	st=${st##*) }
	echo "$st" | awk '{ print $12 + $13 }'
}

# wgd_counter LOG NAME: a counter wgd logged at exit (LOG_LEVEL=debug
# prints the non-zero ones), 0 if absent.
wgd_counter()
{
	awk -v k="$2" '$0 ~ ("counter " k " = ") { v = $NF } END { print v + 0 }' "$1"
}

# impl_sanitized: IMPL_UNDER_TEST was built with AddressSanitizer.
impl_sanitized() { ldd "$IMPL_UNDER_TEST" 2>/dev/null | grep -c libasan >/dev/null; }

# daemon_kill NODE: SIGKILL, reaped; waits until its TUN device is gone.
daemon_kill()
{
	local n=$1 i
	kill -KILL "${PID[$n]}" 2>/dev/null
	wait "${PID[$n]}" 2>/dev/null
	forget_pid "${PID[$n]}"
	for i in $(seq 50); do
		quiet nsx "$n" ip link show dev "${IFACE[$n]}" || return 0
		sleep 0.1
	done
	return 1
}

# iperf_tcp SRC DST_NODE ADDR SECONDS: TCP throughput SRC -> ADDR (an
# iperf3 server must listen in DST_NODE) in Mbit/s, as received; "0" on error.
iperf_tcp()
{
	local out="$T_STATE/iperf.$$.json"
	nsx "$1" timeout $(($4 + 15)) iperf3 -c "$3" -t "$4" -J >"$out" 2>/dev/null
	python3 -c 'import json,sys
try: print("%.0f" % (json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"] / 1e6))
except Exception: print(0)' "$out"
}

# iperf_server NODE ADDR: iperf3 server in the background, ready on return.
iperf_server()
{
	bg_start "$1" "$T_LOGDIR/iperf-${NS[$1]}.log" iperf3 -s -B "$2"
	for _ in $(seq 50); do
		[ -n "$(nsx "$1" ss -Hltn "sport = :5201")" ] && return 0
		sleep 0.1
	done
	return 1
}

# underlay_addrs NODE: the node's u4/u6 addresses on its u0, which is up.
underlay_addrs()
{
	nsx "$1" ip addr add "$(u4 "$1")/24" dev u0 &&
		nsx "$1" ip addr add "$(u6 "$1")/64" dev u0 nodad &&
		nsx "$1" ip link set u0 up || die "cannot configure the underlay of $1"
}

# wire_up A B [impair.py options...]: instead of a veth, an impaired wire
# (tests/tools/impair.py in node w) between A and B; its TAP ends become u0
# in A and B with the usual underlay addresses. WIRE_PID, WIRE_LOG.
wire_up()
{
	local a=$1 b=$2 i
	shift 2
	node_add w
	WIRE_LOG=$T_LOGDIR/wire-${NS[w]}.log
	bg_start w "$WIRE_LOG" python3 -u "$REPO_ROOT/tests/tools/impair.py" wa wb "$@"
	WIRE_PID=$BG_PID
	for i in $(seq 50); do
		grep -q '^ready' "$WIRE_LOG" && break
		proc_alive "$WIRE_PID" || break
		sleep 0.1
	done
	grep -q '^ready' "$WIRE_LOG" || die "impair.py did not start: $(tail -n 3 "$WIRE_LOG")"
	ip -n "${NS[w]}" link set wa netns "${NS[$a]}" &&
		ip -n "${NS[w]}" link set wb netns "${NS[$b]}" &&
		ip -n "${NS[$a]}" link set wa name u0 &&
		ip -n "${NS[$b]}" link set wb name u0 || die "cannot move the wire's ends"
	underlay_addrs "$a"
	underlay_addrs "$b"
}

# wire_down: stops the wire; its counters stay in WIRE_LOG (wire_count).
wire_down()
{
	kill -TERM "$WIRE_PID" 2>/dev/null
	bg_wait "$WIRE_PID"
	log "   $(grep '^wire:' "$WIRE_LOG")"
}

# wire_count DIR KEY: a counter of the stopped wire (DIR a2b or b2a).
wire_count()
{
	awk -v d="$1" -v k="$2" '/^wire:/ {
		on = 0
		for (i = 2; i <= NF; i++) {
			if ($i == "a2b" || $i == "b2a") { on = ($i == d); continue }
			split($i, kv, "=")
			if (on && kv[1] == k) v = kv[2]
		}
	} END { print v + 0 }' "$WIRE_LOG"
}

# seq_field OUT KEY: a key=value field of seqstream.py's result line.
seq_field() { sed -n "s/^seqstream:.* $2=\([-0-9]*\).*/\1/p" "$1" | tail -n1; }

# seq_stream SRC DST ADDR COUNT RATE OUT: sequence-checked UDP stream over
# the tunnel, SRC -> ADDR in DST; the receiver's result line lands in OUT.
seq_stream()
{
	local src=$1 dst=$2 addr=$3 count=$4 rate=$5 out=$6 rpid i d0 d
	d0=$(drops_snapshot "${T_NODES[@]}")
	bg_start "$dst" "$out" python3 -u "$REPO_ROOT/tests/tools/seqstream.py" recv "$addr" 7001 \
		--count "$count" --idle 5
	rpid=$BG_PID
	for i in $(seq 50); do
		grep -q '^listening' "$out" && break
		sleep 0.1
	done
	nsx "$src" python3 "$REPO_ROOT/tests/tools/seqstream.py" send "$addr" 7001 \
		--count "$count" --rate "$rate" >"$out.send" 2>&1
	bg_wait "$rpid"
	log "   $(grep '^seqstream' "$out") ($(grep -o 'send_errors=[0-9]*' "$out.send"))"
	d=$(drops_delta "$d0" "$(drops_snapshot "${T_NODES[@]}")")
	[ -z "$d" ] || log "   kernel drops meanwhile: $d"
	SEQ_KDROPS=$(echo "$d" | tr ' ' '\n' | awk -F+ 'NF == 2 { s += $2 } END { print s + 0 }')
}

# seq_intact DESC OUT: PASS if the stream in OUT lost nothing beyond what
# a kernel on the path counted as dropped meanwhile (a loaded machine can
# overflow a queue; no datagram may vanish silently in a daemon).
seq_intact()
{
	local m
	m=$(seq_field "$2" missing)
	if [ "${m:-x}" = 0 ]; then
		pass "$1: none missing"
	elif [ -n "$m" ] && [ "$m" -le "${SEQ_KDROPS:-0}" ]; then
		pass "$1: $m missing, all counted by a kernel as queue drops (${SEQ_KDROPS})"
	else
		fail "$1: ${m:-no result} missing, kernel queue drops ${SEQ_KDROPS:-0}"
	fi
}

# udp_drops NODE: datagrams the node's kernel dropped for full socket buffers.
udp_drops()
{
	nsx "$1" awk '/^Udp:/ { if (!h) { for (i = 1; i <= NF; i++) c[$i] = i; h = 1 } else print $c["RcvbufErrors"] }' \
		/proc/net/snmp
}

# drops_snapshot NODE...: every drop counter a datagram could vanish in on
# the way through the nodes (UDP socket buffers, device queues) and the
# kernel's backlog (global), as one "name=value" line.
drops_snapshot()
{
	local n d line="" s=0 x
	for n in "$@"; do
		line+="$n.udp_rcvbuf=$(udp_drops "$n") "
		for d in $(nsx "$n" ls /sys/class/net); do
			[ "$d" = lo ] && continue
			line+="$n.$d.rx_dropped=$(nsx "$n" cat "/sys/class/net/$d/statistics/rx_dropped") "
			line+="$n.$d.tx_dropped=$(nsx "$n" cat "/sys/class/net/$d/statistics/tx_dropped") "
		done
	done
	while read -r _ x _; do s=$((s + 0x$x)); done </proc/net/softnet_stat
	echo "${line}softnet_dropped=$s"
}

# drops_delta BEFORE AFTER: the counters that changed.
drops_delta()
{
	awk -v a="$1" -v b="$2" 'BEGIN {
		n = split(a, x, " "); for (i = 1; i <= n; i++) { split(x[i], kv, "="); old[kv[1]] = kv[2] }
		n = split(b, y, " "); for (i = 1; i <= n; i++) { split(y[i], kv, "=")
			if (kv[2] != old[kv[1]]) printf "%s+%d ", kv[1], kv[2] - old[kv[1]] }
	}'
}
