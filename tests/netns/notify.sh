#!/usr/bin/env bash
# The service manager's readiness protocol (sd_notify) as wgd@.service uses
# it. There is no systemd as PID 1 here, so the test plays its part: a
# datagram socket at $NOTIFY_SOCKET in the daemon's namespaces records each
# message with the sender's kernel credentials (what NotifyAccess=main
# checks) and, at the moment READY=1 arrives, whether the TUN device and
# the UAPI socket exist.
# - The installed unit passes `systemd-analyze verify` without a single
#   complaint and is Type=notify, NotifyAccess=main, ExecStart wgd -f.
# - The unit's own ExecStart, Environment=, ExecStartPost (wg setconf) and
#   ExecReload (wg syncconf) lines, run in the order systemd runs them:
#   READY=1 with MAINPID= the daemon, sent by the daemon, after TUN and
#   socket exist, with a STATUS= line; the configuration applies after
#   READY; WATCHDOG=1 pings when WATCHDOG_USEC/WATCHDOG_PID ask for them;
#   SIGTERM gives STOPPING=1 and exit status 0, socket and device gone.
# - Forking mode (no -f): the child reports READY=1 with MAINPID= itself
#   (it is also the sender) before the launcher returns; a WATCHDOG_PID of
#   the launcher means no pings from the child.
# - An abstract NOTIFY_SOCKET (@name), from a daemon run as --user nobody
#   (the message goes out after the privilege drop).
# - A NOTIFY_SOCKET where nobody listens, or not an address at all: wgd
#   starts anyway, logs why once, serves `wg`, stops cleanly.
. "$(dirname "$0")/lib.sh"

LISTEN_PY=$T_STATE/notify-listen.py
IFC=wgt0
L_SEQ=0

# The receiver: binds ADDR (a path, or @name in the abstract namespace),
# writes "listening", then one line per datagram: sender pid, whether
# IFACE's TUN and socket existed on arrival, the message with newlines as
# '|'. Leaves after STOPPING=1 (or 60 s without a message). With a GO
# file it reads nothing until that file exists, then says whether anything
# was queued at that moment ("queue empty at go").
write_listener()
{
	cat >"$LISTEN_PY" <<'EOF' || die "cannot write $LISTEN_PY"
import os, socket, struct, sys
import time
addr, iface, out = sys.argv[1], sys.argv[2], sys.argv[3]
go = sys.argv[4] if len(sys.argv) > 4 else None
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
if not addr.startswith("@") and os.path.exists(addr):
    os.unlink(addr)  # the previous test's receiver
s.bind("\0" + addr[1:] if addr.startswith("@") else addr)
if not addr.startswith("@"):
    os.chmod(addr, 0o777)  # as systemd's: any uid may send
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.settimeout(60)
f = open(out, "a", buffering=1)
f.write("listening\n")
first = bool(go)
while go and not os.path.exists(go):
    time.sleep(0.05)
while True:
    try:
        flags = socket.MSG_DONTWAIT if first else 0
        data, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(12), flags)
    except BlockingIOError:
        f.write("queue empty at go\n")
        first = False
        continue
    except socket.timeout:
        f.write("timeout\n")
        break
    first = False
    pid = 0
    for level, typ, d in anc:
        if level == socket.SOL_SOCKET and typ == socket.SCM_CREDENTIALS:
            pid = struct.unpack("iII", d[:12])[0]
    tun = int(os.path.exists("/sys/class/net/" + iface))
    sock = int(os.path.exists("/run/wireguard/" + iface + ".sock"))
    msg = data.decode(errors="replace").replace("\n", "|")
    f.write("pid=%d tun=%d sock=%d msg=%s\n" % (pid, tun, sock, msg))
    if "STOPPING=1" in data.decode(errors="replace").split("\n"):
        break
EOF
}

# listen_start NODE ADDR IFACE [GO]: the receiver in NODE; L_OUT, L_PID.
listen_start()
{
	local i
	L_SEQ=$((L_SEQ + 1))
	L_OUT=$T_LOGDIR/notify-$L_SEQ.out
	: >"$L_OUT"
	bg_start "$1" "$L_OUT.err" python3 "$LISTEN_PY" "$2" "$3" "$L_OUT" "${@:4}"
	L_PID=$BG_PID
	for i in $(seq 100); do
		grep -q '^listening' "$L_OUT" && return 0
		proc_alive "$L_PID" || break
		sleep 0.1
	done
	die "notify receiver on $2 did not start: $(cat "$L_OUT.err")"
}

# wait_msg PATTERN [COUNT]: COUNT (default 1) received lines match the ERE
# (10 s at most: an upper bound, not a measurement).
wait_msg()
{
	local i
	for i in $(seq 100); do
		[ "$(grep -Ec -- "$1" "$L_OUT")" -ge "${2:-1}" ] && return 0
		sleep 0.1
	done
	return 1
}

# ready_line / field KEY LINE: the READY=1 record and one KEY= of it.
ready_line() { grep -m1 -E '(^|\|| msg=)READY=1' "$L_OUT"; }
field() { tr ' |' '\n\n' <<<"$2" | sed -n "s/^$1=//p" | head -n1; }

# wgd_start NODE IFACE ENV... -- CMD...: CMD in NODE with ENV added (via
# env, which execs: $! is the daemon); PID[NODE], log as usual.
wgd_start()
{
	local n=$1 env=()
	IFACE[$n]=$2
	IMPL[$n]=wgd
	shift 2
	while [ "$1" != -- ]; do
		env+=("$1")
		shift
	done
	shift
	nsenter --mount="$T_STATE/$n.mnt" --net="/run/netns/${NS[$n]}" -- \
		env "${env[@]}" "$@" </dev/null >>"$(dlog "$n")" 2>&1 &
	PID[$n]=$!
	T_PIDS+=("${PID[$n]}")
}

# wait_up NODE: the daemon's socket and device exist (10 s at most).
wait_up()
{
	local i
	for i in $(seq 100); do
		nsx "$1" test -S "/run/wireguard/${IFACE[$1]}.sock" &&
			quiet nsx "$1" ip link show dev "${IFACE[$1]}" && return 0
		sleep 0.1
	done
	return 1
}

# term_check NODE PID DESC [keep-socket]: SIGTERM to PID (a child of this
# shell or not) brings STOPPING=1 from it, then it is gone with its device
# and socket (unless it ran as another user: the root-owned socket stays);
# for our own child also exit status 0.
term_check()
{
	local n=$1 p=$2 d=$3 i rc=none
	kill -TERM "$p"
	if wait_msg "^pid=$p .*msg=STOPPING=1"; then
		pass "$d: STOPPING=1 after SIGTERM"
	else
		fail "$d: no STOPPING=1 after SIGTERM"
		kill -TERM "$L_PID"
	fi
	for i in $(seq 50); do
		proc_alive "$p" || break
		sleep 0.1
	done
	if proc_alive "$p"; then
		fail "$d: still running 5 s after SIGTERM"
		return
	fi
	if [ "$p" = "${PID[$n]}" ]; then
		wait "$p"
		rc=$?
		eq "$d: exit status after SIGTERM" "$rc" 0
	fi
	forget_pid "$p"
	[ "${4:-}" = keep-socket ] ||
		check "$d: socket removed" nsx "$n" test ! -e "/run/wireguard/${IFACE[$n]}.sock"
	check "$d: device gone" not quiet nsx "$n" ip link show dev "${IFACE[$n]}"
	bg_wait "$L_PID"
	check "$d: log clean of sanitizer reports" sanitizer_clean "$(dlog "$n")"
}

# A wg(8) configuration with one peer; conf_peers FILE N: N peers.
conf_peers()
{
	local i
	{
		printf '[Interface]\nPrivateKey = %s\nListenPort = 51850\n' "$(wg genkey)"
		for i in $(seq "$2"); do
			printf '\n[Peer]\nPublicKey = %s\nAllowedIPs = 10.9.%d.0/24\n' \
				"$(wg genkey | wg pubkey)" "$i"
		done
	} >"$1"
}

# The unit as installed from the build tree of the wgd under test.
install_unit()
{
	local bdir dest=$T_STATE/destdir
	bdir=$(dirname "$IMPL_UNDER_TEST")
	[ -f "$bdir/CMakeCache.txt" ] || die "$bdir is not a CMake build tree to install the unit from"
	quiet env DESTDIR="$dest" cmake --install "$bdir" || die "cmake --install $bdir failed"
	UNIT=$(find "$dest" -name 'wgd@.service' | head -n1)
	[ -n "$UNIT" ] || die "cmake --install put no wgd@.service under $dest"
}

# unit_cmd KEY: the unit's KEY= line for interface $IFC, with /etc/wireguard
# moved to the test's state and the installed binary to the one under test.
unit_cmd()
{
	sed -n "s/^$1=//p" "$UNIT" | head -n1 | sed -e "s#%i#$IFC#g" \
		-e "s#/etc/wireguard/#$T_STATE/etc/#g" -e "s#^[^ ]*/wgd #$IMPL_UNDER_TEST #"
}

test_unit_file()
{
	local out=$T_STATE/verify.out
	command -v systemd-analyze >/dev/null || { fail "systemd-analyze missing (scripts/setup.sh installs systemd)"; return; }
	# verify resolves ExecStart: the copy points at the staged binary.
	# Named as an instance so that %i is expanded too.
	sed "s#^ExecStart=#ExecStart=$T_STATE/destdir#" "$UNIT" >"$T_STATE/wgd@$IFC.service"
	systemd-analyze verify "$T_STATE/wgd@$IFC.service" >"$out" 2>&1
	check "systemd-analyze verify exits 0" test $? -eq 0
	# verify only warns about a bad value: any line about the unit fails.
	if grep -q 'wgd@' "$out"; then fail "systemd-analyze verify complains: $(grep -m3 'wgd@' "$out")"; else pass "systemd-analyze verify has no complaint about the unit"; fi
	eq "unit Type" "$(sed -n 's/^Type=//p' "$UNIT")" notify
	eq "unit NotifyAccess" "$(sed -n 's/^NotifyAccess=//p' "$UNIT")" main
	check "unit ExecStart runs wgd -f %i" grep -Eq '^ExecStart=/[^ ]*/wgd -f %i$' "$UNIT"
	check "unit applies /etc/wireguard/%i.conf with wg setconf after start" \
		grep -qx 'ExecStartPost=wg setconf %i /etc/wireguard/%i.conf' "$UNIT"
	check "unit is still hardened" grep -qx 'CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_BIND_SERVICE' "$UNIT"
}

# The unit's commands in systemd's order, with the environment systemd
# gives a Type=notify service with WatchdogSec=.
test_unit_lifecycle()
{
	local start post reload env=() line p conf=$T_STATE/etc/$IFC.conf
	T_CASE_FAILS=0
	mkdir -p "$T_STATE/etc"
	conf_peers "$conf" 1
	read -ra start <<<"$(unit_cmd ExecStart)"
	read -ra post <<<"$(unit_cmd ExecStartPost)"
	read -ra reload <<<"$(unit_cmd ExecReload)"
	while read -r line; do env+=("$line"); done < <(sed -n 's/^Environment=//p' "$UNIT")
	[ "${start[0]}" = "$IMPL_UNDER_TEST" ] || die "unit ExecStart not understood: $(unit_cmd ExecStart)"
	node_add a
	listen_start a "$T_STATE/notify.sock" "$IFC"
	# WATCHDOG_PID is the main process: the shell execs wgd, same pid.
	wgd_start a "$IFC" NOTIFY_SOCKET="$T_STATE/notify.sock" WATCHDOG_USEC=200000 "${env[@]}" \
		-- sh -c 'WATCHDOG_PID=$$ exec "$@"' sh "${start[@]}"
	p=${PID[a]}
	if ! wait_msg 'msg=READY=1'; then
		fail "no READY=1 within 10 s (daemon log: $(tail -n 3 "$(dlog a)"))"
		pair_down
		return
	fi
	line=$(ready_line)
	log "   $line"
	eq "READY=1 sent by the daemon itself (credentials)" "$(field pid "$line")" "$p"
	eq "MAINPID= is the daemon" "$(field MAINPID "$line")" "$p"
	eq "TUN device existed when READY=1 arrived" "$(field tun "$line")" 1
	eq "UAPI socket existed when READY=1 arrived" "$(field sock "$line")" 1
	check "READY=1 comes with a STATUS= line" grep -q "STATUS=Serving $IFC" <<<"$line"
	check "nothing but READY=1 comes first" grep -q 'msg=READY=1' <(grep -m1 '^pid=' "$L_OUT")
	check "ExecStartPost (${post[*]}) after READY=1" nsx a "${post[@]}"
	eq "the configured private key is in place" "$(wgx a show "$IFC" private-key)" \
		"$(sed -n 's/^PrivateKey = //p' "$conf")"
	eq "peers after ExecStartPost" "$(wgx a show "$IFC" peers | wc -l)" 1
	conf_peers "$conf" 3
	check "ExecReload (${reload[*]})" nsx a "${reload[@]}"
	eq "peers after ExecReload" "$(wgx a show "$IFC" peers | wc -l)" 3
	check "WATCHDOG=1 pings from the daemon (WATCHDOG_USEC=200000)" wait_msg "^pid=$p .*msg=WATCHDOG=1$" 3
	term_check a "$p" "unit lifecycle"
	check "STOPPING=1 names the reason" grep -q 'STOPPING=1|STATUS=Stopping: received SIGTERM' "$L_OUT"
	check "no message from any other process" not grep -v -e '^listening' -e "^pid=$p " "$L_OUT"
	[ "$T_CASE_FAILS" -eq 0 ] || tail -n 15 "$(dlog a)" | sed 's/^/    /'
	teardown
}

# Without -f: the forked child notifies, as itself, before the launcher
# returns; the launcher's WATCHDOG_PID is not for the child.
test_forking()
{
	local launcher rc line child
	T_CASE_FAILS=0
	node_add a
	rm -f "$T_STATE/go"
	listen_start a "$T_STATE/notify.sock" "$IFC" "$T_STATE/go"
	wgd_start a "$IFC" NOTIFY_SOCKET="$T_STATE/notify.sock" WATCHDOG_USEC=100000 \
		LOG_LEVEL="$WGDT_LOG_LEVEL" -- sh -c 'WATCHDOG_PID=$$ exec "$@"' sh "$IMPL_UNDER_TEST" "$IFC"
	launcher=${PID[a]}
	wait "$launcher"
	rc=$?
	forget_pid "$launcher"
	eq "forking launcher exit status" "$rc" 0
	# The launcher returned: READY=1 must already be queued at the receiver.
	: >"$T_STATE/go"
	check "READY=1 from the forked child" wait_msg 'msg=READY=1'
	check "READY=1 was queued before the launcher returned" not grep -q '^queue empty at go' "$L_OUT"
	line=$(ready_line)
	log "   $line"
	child=$(field MAINPID "$line")
	if [ -z "$child" ] || ! [ "$child" -gt 0 ] 2>/dev/null || ! proc_alive "$child"; then
		fail "MAINPID='$child' is not a running process"
		teardown
		return
	fi
	T_PIDS+=("$child")
	check "MAINPID= is not the launcher" test "$child" != "$launcher"
	eq "MAINPID= runs wgd" "$(cat "/proc/$child/comm")" wgd
	eq "READY=1 sent by MAINPID (NotifyAccess=main after MAINPID=)" "$(field pid "$line")" "$child"
	eq "TUN device existed when READY=1 arrived" "$(field tun "$line")" 1
	eq "UAPI socket existed when READY=1 arrived" "$(field sock "$line")" 1
	check "wg setconf after READY=1" quiet wgx a set "$IFC" listen-port 51851
	# Five watchdog intervals; a ping would be a bug, its absence is no timing claim.
	sleep 0.5
	term_check a "$child" "forked daemon"
	check "no WATCHDOG=1 from the child (WATCHDOG_PID was the launcher)" not grep -q 'WATCHDOG=1' "$L_OUT"
	teardown
}

test_abstract()
{
	local name=@wgdt-notify-$$ line p
	T_CASE_FAILS=0
	node_add a
	listen_start a "$name" "$IFC"
	wgd_start a "$IFC" NOTIFY_SOCKET="$name" LOG_LEVEL="$WGDT_LOG_LEVEL" \
		-- "$IMPL_UNDER_TEST" -f --user nobody "$IFC"
	p=${PID[a]}
	check "READY=1 over the abstract socket $name" wait_msg 'msg=READY=1'
	line=$(ready_line)
	log "   $line"
	eq "MAINPID= over the abstract socket" "$(field MAINPID "$line")" "$p"
	eq "sent after the drop to nobody" "$(awk '$1 == "Uid:" { print $2 }' "/proc/$p/status")" \
		"$(id -u nobody)"
	eq "TUN device existed when READY=1 arrived" "$(field tun "$line")" 1
	eq "UAPI socket existed when READY=1 arrived" "$(field sock "$line")" 1
	term_check a "$p" "abstract socket" keep-socket
	teardown
}

# nowhere VALUE DESC: NOTIFY_SOCKET=VALUE must not keep wgd from serving.
nowhere()
{
	local p
	wgd_start a "$IFC" NOTIFY_SOCKET="$1" LOG_LEVEL=error -- "$IMPL_UNDER_TEST" -f "$IFC"
	p=${PID[a]}
	if ! wait_up a; then
		fail "$2: wgd did not come up (log: $(tail -n 3 "$(dlog a)"))"
		return
	fi
	check "$2: wg set works" quiet wgx a set "$IFC" listen-port 51852
	eq "$2: listen port" "$(iface_field a listen-port)" 51852
	kill -TERM "$p"
	wait "$p"
	eq "$2: exit status after SIGTERM" $? 0
	forget_pid "$p"
	check "$2: socket removed" nsx a test ! -e "/run/wireguard/$IFC.sock"
	check "$2: the lost notification was logged, once" \
		test "$(grep -c 'cannot notify the service manager' "$(dlog a)")" -eq 1
	: >"$(dlog a)"
}

test_nowhere()
{
	T_CASE_FAILS=0
	node_add a
	nowhere "$T_STATE/nobody-listens.sock" "NOTIFY_SOCKET without a receiver"
	nowhere "notify.sock" "NOTIFY_SOCKET not an absolute path"
	teardown
}

lib_init
write_listener
install_unit
run_tests test_unit_file test_unit_lifecycle test_forking test_abstract test_nowhere
