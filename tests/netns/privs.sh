#!/usr/bin/env bash
# Privilege reduction and the UAPI socket of wgd (node a) against a
# reference peer (node b, WGDT_REF, default the newest wireguard-go).
#
# Reduced daemon, as root, with --user nobody and started already bounded
# (as systemd does): /proc shows exactly CAP_NET_ADMIN +
# CAP_NET_BIND_SERVICE in the effective, permitted and bounding sets
# (nothing inheritable or ambient), no_new_privs, the uid asked for; and
# what still needs a privilege keeps working: a new listen port (also below
# 1024), a firewall mark on the sockets (as the kernel reports it), also on
# a re-bound socket, `wg` as root on the root-owned 0600 socket, exit on
# `ip link del`. The ids of --user as a number and as a name, with and
# without --group, from /proc (real/effective/saved uid and gid, and the
# supplementary groups: the target gid alone, none of root's); a uid
# without a passwd entry is refused without --group, before anything is
# created. Under a 64 KiB RLIMIT_MEMLOCK and no CAP_SYS_RESOURCE the
# daemon warns once, naming the limit and how to raise it, and still works.
# wg-quick's default-route config (fwmark 51820) with the
# reduced daemon, with and without --user (through a wrapper, as wg-quick
# passes no options), including a port change under the default route.
# UAPI: a line over 4096 bytes and a request over 64 MiB are answered with
# errno=-EMSGSIZE; 1000 idle connections do not stall the tunnel or `wg`.
. "$(dirname "$0")/lib.sh"

REF=${WGDT_REF:-wggo-latest}
KEPT=0000000000001400 # 1 << CAP_NET_BIND_SERVICE (10) | 1 << CAP_NET_ADMIN (12)
NONE=0000000000000000
MARK=0x1234
INET4=198.51.100.1

# status_field PID FIELD: the values of a /proc/PID/status line.
status_field() { awk -v f="$2:" '$1 == f { $1 = ""; sub(/^ +/, ""); print }' "/proc/$1/status"; }

# wait_reduced PID: no_new_privs is the last step of the drop.
wait_reduced()
{
	local i
	for i in $(seq 50); do
		[ "$(status_field "$1" NoNewPrivs)" = 1 ] && return 0
		sleep 0.1
	done
	return 1
}

# task_states PID FIELD: FIELD of every thread of PID, distinct values.
task_states()
{
	local t
	for t in /proc/"$1"/task/*; do status_field "${t#/proc/}" "$2"; done | sort -u | paste -sd/ -
}

# caps_check TAG PID UID GID: the reduced state of every thread (the
# capability sets are per thread), read from /proc.
caps_check()
{
	local tag=$1 p=$2
	check "$tag: drop completed (no_new_privs)" wait_reduced "$p"
	log "   $tag: $(status_field "$p" Threads) thread(s)"
	eq "$tag: CapEff" "$(task_states "$p" CapEff)" $KEPT
	eq "$tag: CapPrm" "$(task_states "$p" CapPrm)" $KEPT
	eq "$tag: CapBnd" "$(task_states "$p" CapBnd)" $KEPT
	eq "$tag: CapInh" "$(task_states "$p" CapInh)" $NONE
	eq "$tag: CapAmb" "$(task_states "$p" CapAmb)" $NONE
	eq "$tag: NoNewPrivs" "$(task_states "$p" NoNewPrivs)" 1
	eq "$tag: real/effective/saved/fs uid" "$(task_states "$p" Uid)" "$3 $3 $3 $3"
	eq "$tag: real/effective/saved/fs gid" "$(task_states "$p" Gid)" "$4 $4 $4 $4"
	if [ "$3" != 0 ]; then
		eq "$tag: supplementary groups" "$(task_states "$p" Groups)" "$4"
	fi
}

# wgd_start NODE IFACE ARGS...: wgd -f ARGS IFACE, like daemon_start
# ($WGD_BIN: a wrapper that execs wgd, or wgd itself).
WGD_BIN=$IMPL_UNDER_TEST
wgd_start()
{
	local n=$1 ifc=$2
	shift 2
	IMPL[$n]=wgd
	IFACE[$n]=$ifc
	nsenter --mount="$T_STATE/$n.mnt" --net="/run/netns/${NS[$n]}" -- \
		env LOG_LEVEL="$WGDT_LOG_LEVEL" "$WGD_BIN" -f "$@" "$ifc" \
		</dev/null >"$(dlog "$n")" 2>&1 &
	node_daemon_wait "$n" $! "$ifc" "wgd $*"
}

# pair NODE_A_ARGS...: a = wgd with ARGS (initiator), b = reference.
pair()
{
	pair_nodes
	wgd_start a wgta "$@"
	daemon_start b "$REF"
	wg_config a b 4 1
	wg_config b a 4 0
	tunnel_addrs a
	tunnel_addrs b
}

sock_mode() { nsx a stat -c '%a %u %g' "/run/wireguard/${IFACE[a]}.sock"; }

# set_port TAG PORT: a moves to PORT; b follows a's next packet (roaming).
set_port()
{
	check "$1: wg set listen-port $2" wgx a set "${IFACE[a]}" listen-port "$2"
	eq "$1: listen port is $2" "$(iface_field a listen-port)" "$2"
	PORT[a]=$2
	check "$1: ping through from port $2" ping_ok a "$(t4 b)"
	check "$1: ping back to port $2" ping_ok b "$(t4 a)"
}

# marks PORT: the fwmarks the kernel has on a's UDP sockets bound to PORT
# (SO_MARK as it took effect, not as wgd reports it).
marks()
{
	nsx a ss -Huanpe "sport = :$1" | grep -o 'fwmark:0x[0-9a-f]*' | sort -u | paste -sd, -
}

# (The wg-quick cases below prove that marked packets really leave by the
# marked route: a policy rule cannot simply blackhole them here, since a
# sticky source names the outgoing interface and the kernel then treats a
# failed lookup as on-link.)
fwmark_checks()
{
	local tag=$1
	check "$tag: wg set fwmark $MARK" wgx a set "${IFACE[a]}" fwmark $MARK
	eq "$tag: fwmark shown" "$(iface_field a fwmark)" $MARK
	eq "$tag: both sockets marked" "$(marks "${PORT[a]}")" "fwmark:$MARK"
	check "$tag: tunnel works marked" ping_ok a "$(t4 b)"
	# A new socket (new port) must get the mark too.
	check "$tag: fwmark and a new port at once" \
		wgx a set "${IFACE[a]}" fwmark 0x4321 listen-port 51823
	PORT[a]=51823
	eq "$tag: the re-bound sockets are marked" "$(marks 51823)" "fwmark:0x4321"
	check "$tag: tunnel works from the marked new port" ping_ok a "$(t4 b)"
	check "$tag: wg set fwmark 0" wgx a set "${IFACE[a]}" fwmark 0
	eq "$tag: mark removed" "$(marks 51823)" ""
}

# link_del_exit TAG: `ip link del` stops the reduced daemon.
link_del_exit()
{
	local tag=$1 i
	nsx a ip link del dev "${IFACE[a]}"
	for i in $(seq 30); do
		daemon_alive a || break
		sleep 0.1
	done
	check "$tag: daemon exits on ip link del" not daemon_alive a
	wait "${PID[a]}" 2>/dev/null
	forget_pid "${PID[a]}"
	sanitizer_clean "$(dlog a)" || fail "$tag: sanitizer report in $(dlog a)"
	unset 'PID[a]' # pair_down: not a daemon that died during the test
}

reduced_case()
{
	local tag=$1 uid=$2 gid=$3
	shift 3
	pair "$@"
	caps_check "$tag" "${PID[a]}" "$uid" "$gid"
	eq "$tag: socket still root's, mode 0600" "$(sock_mode)" "600 0 0"
	check "$tag: wg show as root" quiet wgx a show "${IFACE[a]}"
	check "$tag: ping through" ping_ok a "$(t4 b)"
	set_port "$tag: new port" 51831
	set_port "$tag: port below 1024" 443
	fwmark_checks "$tag"
	link_del_exit "$tag"
}

# With crypto threads (WGD_THREADS): every thread must be reduced.
test_reduced_root()
{
	local tag="reduced (root, WGD_THREADS=2)"
	WGD_THREADS=2 reduced_case "$tag" 0 0
	check "$tag: socket removed at exit" nsx a test ! -e "/run/wireguard/wgta.sock"
	pair_down
}

test_reduced_user()
{
	local tag="reduced (--user nobody)"
	reduced_case "$tag" "$(id -u nobody)" "$(id -g nobody)" --user nobody
	# The daemon may not unlink a root file in a root directory; wg, as
	# root, clears the stale socket when it lists interfaces.
	eq "$tag: wg does not list the dead interface" "$(wgx a show interfaces)" ""
	check "$tag: and has removed its stale socket" nsx a test ! -e "/run/wireguard/wgta.sock"
	pair_down
}

# Started already bounded to the two capabilities, as the systemd unit
# does (CapabilityBoundingSet=, and a seccomp filter that refuses capset):
# nothing to drop, and wgd must not need capset or CAP_SETPCAP to finish.
test_prebounded()
{
	local tag="pre-bounded launch (as systemd)"
	WGD_BIN="$T_STATE/wgd-bounded"
	printf '#!/bin/sh\nexec setpriv --bounding-set %s --inh-caps=-all "%s" "$@"\n' \
		-all,+net_admin,+net_bind_service "$IMPL_UNDER_TEST" >"$WGD_BIN"
	chmod 755 "$WGD_BIN"
	reduced_case "$tag" 0 0
	WGD_BIN=$IMPL_UNDER_TEST
	pair_down
}

# ids_case TAG UID GID ARGS...: wgd with ARGS, started as root with
# root's usual groups (0, adm, sudo: the runner may have none), runs with
# exactly these ids and no other group, makes a handshake, carries pings.
ids_case()
{
	local tag=$1 uid=$2 gid=$3
	shift 3
	WGD_BIN="$T_STATE/wgd-rootgroups"
	printf '#!/bin/sh\nexec setpriv --groups 0,4,27 "%s" "$@"\n' "$IMPL_UNDER_TEST" >"$WGD_BIN"
	chmod 755 "$WGD_BIN"
	pair "$@"
	WGD_BIN=$IMPL_UNDER_TEST
	caps_check "$tag" "${PID[a]}" "$uid" "$gid"
	check "$tag: ping through" ping_ok a "$(t4 b)"
	check "$tag: ping back" ping_ok b "$(t4 a)"
	check "$tag: handshake done" test "$(peer_field a "${PUB[b]}" latest-handshake)" -gt 0
	check "$tag: logs the ids it runs with" \
		grep -q "running as uid $uid, gid $gid, no other group" "$(dlog a)"
	link_del_exit "$tag"
	pair_down
}

# The issue: a bare number kept gid 0 and root's groups.
test_ids_numeric() { ids_case "--user 65534" 65534 "$(id -g nobody)" --user 65534; }

test_ids_group_name()
{
	ids_case "--user nobody --group users" 65534 "$(getent group users | cut -d: -f3)" \
		--user nobody --group users
}

# unused_id DB START: the first id from START on without an entry in DB.
unused_id()
{
	local i=$2
	while getent "$1" "$i" >/dev/null; do i=$((i + 1)); done
	echo "$i"
}

# A uid without a passwd entry has no primary group: refused at once (no
# device, no socket), unless --group names one.
test_ids_no_entry()
{
	local uid gid out rc tag
	uid=$(unused_id passwd 4242)
	gid=$(unused_id group 4343)
	tag="--user $uid (no passwd entry)"
	T_CASE_FAILS=0
	node_add a
	out=$(nsx a timeout 10 "$IMPL_UNDER_TEST" -f --user "$uid" wgtx 2>&1)
	rc=$?
	eq "$tag: refused, exit status" "$rc" 1 # not 124: timeout stopped a daemon
	check "$tag: says why and what to add ($out)" grep -q "no primary group.*--group" <<<"$out"
	check "$tag: no device left" not quiet nsx a ip link show dev wgtx
	check "$tag: no socket left" nsx a test ! -e /run/wireguard/wgtx.sock
	teardown
	ids_case "--user $uid --group $gid" "$uid" "$gid" --user "$uid" --group "$gid"
}

# memlock_line LOG: the start-up warning about RLIMIT_MEMLOCK, if any.
memlock_line() { grep -m1 'WARNING: the locked-memory limit (RLIMIT_MEMLOCK)' "$1"; }

# Launched under a 64 KiB hard RLIMIT_MEMLOCK without CAP_SYS_RESOURCE
# (which this test's own root may lack too): the lift fails, wgd warns
# with the remedy and runs on. The plain launches warn exactly when the
# runner itself cannot lift the limit.
test_memlock_warning()
{
	local tag="memlock 64 KiB" line
	WGD_BIN="$T_STATE/wgd-memlock"
	printf '#!/bin/sh\nexec prlimit --memlock=65536:65536 setpriv --bounding-set -sys_resource "%s" "$@"\n' \
		"$IMPL_UNDER_TEST" >"$WGD_BIN"
	chmod 755 "$WGD_BIN"
	pair --user nobody
	WGD_BIN=$IMPL_UNDER_TEST
	line=$(memlock_line "$(dlog a)")
	log "   $tag: $line"
	check "$tag: warns, naming the limit" grep -q "stays at 64 KiB" <<<"$line"
	check "$tag: says how to raise it" grep -q "LimitMEMLOCK=infinity.*ulimit -l unlimited" <<<"$line"
	eq "$tag: warned once" "$(grep -c 'RLIMIT_MEMLOCK) stays' "$(dlog a)")" 1
	check "$tag: ping through" ping_ok a "$(t4 b)"
	check "$tag: TCP 1 MB through" xfer a b "$(t4 b)" 1000000
	link_del_exit "$tag"
	pair_down
	tag="memlock as inherited"
	pair
	line=$(memlock_line "$(dlog a)")
	if prlimit --memlock=unlimited:unlimited true 2>/dev/null; then
		eq "$tag: liftable here, no warning" "$line" ""
	else
		log "   $tag (the runner lacks CAP_SYS_RESOURCE): $line"
		check "$tag: not liftable here, warned with the real limit" \
			grep -q "stays at $(($(ulimit -Hl) + 0)) KiB" <<<"$line"
	fi
	pair_down
}

test_bad_user()
{
	T_CASE_FAILS=0
	node_add a
	check "--user unknown: refused" not quiet nsx a "$IMPL_UNDER_TEST" -f --user wgd-no-such-user wgtx
	check "--user unknown: no device left" not quiet nsx a ip link show dev wgtx
	check "--user without a value: refused" not quiet nsx a "$IMPL_UNDER_TEST" -f wgtx --user
	teardown
}

# --- wg-quick, default route -------------------------------------------

write_conf()
{
	CONF="$T_STATE/wgqa.conf"
	(
		umask 077
		cat >"$CONF" <<-EOF
			[Interface]
			PrivateKey = $(cat "$T_STATE/a.key")
			ListenPort = ${PORT[a]}
			Address = $(t4 a)/24

			[Peer]
			PublicKey = ${PUB[b]}
			Endpoint = $(endpoint_of b 4)
			AllowedIPs = 0.0.0.0/0
		EOF
	)
}

quick()
{
	nsx a env WG_QUICK_USERSPACE_IMPLEMENTATION="$1" LOG_LEVEL="$WGDT_LOG_LEVEL" \
		wg-quick "$2" "$CONF" >>"$T_LOGDIR/wg-quick-wgqa.log" 2>&1
}

quick_setup()
{
	T_CASE_FAILS=0
	node_add a
	node_add b
	link_nodes a b
	PORT[a]=51821
	PORT[b]=51822
	keygen a
	keygen b
	daemon_start b "$REF"
	wgx b set "${IFACE[b]}" private-key "$T_STATE/b.key" listen-port "${PORT[b]}" \
		peer "${PUB[a]}" allowed-ips "$(t4 a)/32" || die "wg set on b failed"
	tunnel_addrs b
	nsx b ip addr add "$INET4/32" dev lo
	IFACE[a]=wgqa
	write_conf
}

# quick_case TAG IMPL UID GID: wg-quick up with IMPL, checks, down.
quick_case()
{
	local tag=$1 impl=$2 uid=$3 gid=$4 p i
	quick_setup
	check "$tag: wg-quick up" quick "$impl" up
	p=$(ip netns pids "${NS[a]}" | head -n1)
	T_PIDS+=($p)
	caps_check "$tag" "$p" "$uid" "$gid"
	eq "$tag: fwmark 51820" "$(iface_field a fwmark)" 0xca6c
	check "$tag: ping $INET4 via the default route" ping_ok a "$INET4"
	check "$tag: TCP 1 MB via the default route" xfer a b "$INET4" 1000000
	check "$tag: new listen port under the default route" \
		wgx a set wgqa listen-port 51841
	check "$tag: ping $INET4 from the re-bound (marked) socket" ping_ok a "$INET4"
	check "$tag: wg-quick down" quick "$impl" down
	for i in $(seq 30); do
		proc_alive "$p" || break
		sleep 0.1
	done
	check "$tag: daemon gone" not proc_alive "$p"
	forget_pid "$p"
	wgx a show interfaces >/dev/null 2>&1 # clears a stale socket (--user)
	check "$tag: no socket left" nsx a test ! -e /run/wireguard/wgqa.sock
	check "$tag: no device left" not quiet nsx a ip link show dev wgqa
	if [ "$T_CASE_FAILS" -gt 0 ]; then tail -n 30 "$T_LOGDIR/wg-quick-wgqa.log" | sed 's/^/    /'; fi
	sanitizer_clean "$T_LOGDIR/wg-quick-wgqa.log" || fail "$tag: sanitizer report"
	pair_down
}

test_wgquick_root() { quick_case "wg-quick default route (root)" "$IMPL_UNDER_TEST" 0 0; }

test_wgquick_user()
{
	local wrap="$T_STATE/wgd-nobody"
	printf '#!/bin/sh\nexec "%s" --user nobody "$@"\n' "$IMPL_UNDER_TEST" >"$wrap"
	chmod 755 "$wrap"
	quick_case "wg-quick default route (--user nobody)" "$wrap" "$(id -u nobody)" "$(id -g nobody)"
}

# --- UAPI socket -----------------------------------------------------------

# uapi_send NODE PYTHON_EXPR: sends the bytes of PYTHON_EXPR to a's socket
# (stopping quietly if the daemon closes first) and prints the reply.
uapi_send()
{
	nsx "$1" timeout 60 python3 - "/run/wireguard/${IFACE[$1]}.sock" "$2" <<-'EOF'
		import socket, sys
		s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
		s.connect(sys.argv[1])
		data = eval(sys.argv[2])
		try:
		    s.sendall(data)
		except OSError:
		    pass
		reply = b""
		while True:
		    d = s.recv(65536)
		    if not d:
		        break
		    reply += d
		sys.stdout.write(reply.decode())
	EOF
}

# The request stays under every line limit but grows past 64 MiB.
BIG_REQUEST='b"set=1\n" + b"allowed_ip=10.9.0.0/16\n" * (3 * 1024 * 1024)'

test_uapi_limits()
{
	local tag="uapi" before
	pair
	eq "$tag: socket mode 0600, owner root" "$(sock_mode)" "600 0 0"
	eq "$tag: socket directory mode 0755" "$(nsx a stat -c '%a %u' /run/wireguard)" "755 0"
	before=$(wgx a showconf "${IFACE[a]}")
	eq "$tag: 5000-byte line answered errno=-EMSGSIZE" \
		"$(uapi_send a 'b"set=1\nlisten_port=4001\nprivate_key=" + b"a" * 5000 + b"\n\n"' | head -n1)" \
		"errno=-90"
	eq "$tag: 64 MiB + 1 request answered errno=-EMSGSIZE" \
		"$(uapi_send a "$BIG_REQUEST" | head -n1)" "errno=-90"
	eq "$tag: configuration unchanged" "$(wgx a showconf "${IFACE[a]}")" "$before"
	check "$tag: daemon alive" daemon_alive a
	idle_connections "$tag"
	pair_down
}

# 1000 connections that never send a byte, held by one python process.
idle_connections()
{
	local tag="$1: 1000 idle connections" py fds i ready="$T_STATE/idle.ready"
	check "$tag: tunnel up before" ping_ok a "$(t4 b)"
	nsenter --mount="$T_STATE/a.mnt" --net="/run/netns/${NS[a]}" -- python3 -c '
import socket, sys, time
conns = []
for _ in range(1000):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1])
    conns.append(s)
open(sys.argv[2], "w").close()
time.sleep(600)
' "/run/wireguard/${IFACE[a]}.sock" "$ready" &
	py=$!
	T_PIDS+=("$py")
	for i in $(seq 100); do
		[ -e "$ready" ] && break
		sleep 0.1
	done
	check "$tag: all connected" test -e "$ready"
	for i in $(seq 50); do
		fds=$(ls "/proc/${PID[a]}/fd" | wc -l)
		[ "$fds" -ge 1000 ] && break
		sleep 0.1
	done
	check "$tag: wgd holds them all ($fds descriptors)" test "$fds" -ge 1000
	check "$tag: ping through the tunnel" ping_ok a "$(t4 b)"
	check "$tag: TCP 1 MB through the tunnel" xfer a b "$(t4 b)" 1000000
	check "$tag: wg show answers" quiet nsx a timeout 5 wg show "${IFACE[a]}"
	check "$tag: wg set answers" nsx a timeout 5 wg set "${IFACE[a]}" listen-port 51824
	PORT[a]=51824
	check "$tag: ping after the port change" ping_ok a "$(t4 b)"
	kill_pids "$py"
	forget_pid "$py"
	check "$tag: daemon alive" daemon_alive a
}

lib_init
[ -x "$IMPL_UNDER_TEST" ] || die "IMPL_UNDER_TEST=$IMPL_UNDER_TEST is not executable"
run_tests test_reduced_root test_reduced_user test_prebounded test_bad_user test_ids_numeric \
	test_ids_group_name test_ids_no_entry test_memlock_warning test_wgquick_root test_wgquick_user \
	test_uapi_limits
