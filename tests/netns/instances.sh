#!/usr/bin/env bash
# Several wgd instances on one host, large get/set replies, and the
# installed systemd unit:
# - wgt0..wgt3 run side by side in one namespace on different ports, each
#   answers `wg` on its own socket; stopping one leaves the others alone.
# - `wg setconf` of 300 peers x 200 allowed IPs, then `wg showconf` is
#   complete (every peer, every prefix) and a second instance fed that
#   output shows the identical configuration.
# - `cmake --install` puts wgd@.service where systemd finds it and
#   `systemd-analyze verify` accepts it.
. "$(dirname "$0")/lib.sh"

N_PEERS=${WGDT_BIG_PEERS:-300}
N_AIPS=${WGDT_BIG_AIPS:-200}

# inst_start NODE IFACE: one more wgd in NODE's namespaces; its PID in
# INST_PID (not echoed: a command substitution would lose T_PIDS).
inst_start()
{
	local n=$1 ifc=$2 p i
	nsenter --mount="$T_STATE/$n.mnt" --net="/run/netns/${NS[$n]}" -- \
		env LOG_LEVEL="$WGDT_LOG_LEVEL" "$IMPL_UNDER_TEST" -f "$ifc" \
		</dev/null >"$T_LOGDIR/$ifc.log" 2>&1 &
	p=$!
	T_PIDS+=("$p")
	for i in $(seq 100); do
		proc_alive "$p" || die "wgd $ifc exited during startup"
		nsx "$n" test -S "/run/wireguard/$ifc.sock" && INST_PID=$p && return 0
		sleep 0.1
	done
	die "wgd $ifc: no socket after 10 s"
}

test_instances()
{
	local i pids=() port
	node_add a
	for i in 0 1 2 3; do
		inst_start a "wgt$i"
		pids[i]=$INST_PID
		keygen "k$i"
		wgx a set "wgt$i" private-key "$T_STATE/k$i.key" listen-port $((51830 + i)) ||
			fail "wg set wgt$i"
	done
	for i in 0 1 2 3; do
		port=$(wgx a show "wgt$i" listen-port)
		eq "instance wgt$i serves its own port" "$port" $((51830 + i))
		eq "instance wgt$i has its own key" "$(wgx a show "wgt$i" public-key)" "${PUB[k$i]}"
		check "instance wgt$i bound UDP $((51830 + i))" \
			quiet sh -c "nsenter --net=/run/netns/${NS[a]} ss -lun | grep -q ':$((51830 + i)) '"
	done
	kill_pids "${pids[1]}"
	forget_pid "${pids[1]}"
	check "stopping wgt1 removed its socket" nsx a test ! -e /run/wireguard/wgt1.sock
	for i in 0 2 3; do
		check "wgt$i still answers after wgt1 stopped" quiet wgx a show "wgt$i"
	done
	for i in 0 2 3; do
		check "wgt$i log is free of sanitizer reports" sanitizer_clean "$T_LOGDIR/wgt$i.log"
	done
	teardown
}

# big_conf FILE: N_PEERS random public keys, N_AIPS /32s each, every third
# with an endpoint and a keepalive.
big_conf()
{
	python3 - "$N_PEERS" "$N_AIPS" "$T_STATE/k0.key" >"$1" <<'PY'
import base64, os, sys
peers, aips, keyfile = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
print("[Interface]")
print("PrivateKey = " + open(keyfile).read().strip())
print("ListenPort = 51840")
for p in range(peers):
    print("\n[Peer]")
    print("PublicKey = " + base64.b64encode(os.urandom(32)).decode())
    if p % 3 == 0:
        print("Endpoint = 192.0.2.%d:%d" % (1 + p % 250, 1024 + p))
        print("PersistentKeepalive = %d" % (1 + p % 60))
    nets = ["10.%d.%d.%d/32" % (p // 256, p % 256, a) for a in range(aips)]
    print("AllowedIPs = " + ", ".join(nets))
PY
}

test_large_replies()
{
	local conf=$T_STATE/big.conf out1=$T_STATE/show1.conf out2=$T_STATE/show2.conf
	local peers aips
	node_add a
	keygen k0
	big_conf "$conf"
	inst_start a wgt0
	inst_start a wgt1
	check "wg setconf of $N_PEERS peers x $N_AIPS allowed ips" quiet wgx a setconf wgt0 "$conf"
	wgx a showconf wgt0 >"$out1" || fail "wg showconf wgt0"
	peers=$(grep -c '^\[Peer\]' "$out1")
	aips=$(grep '^AllowedIPs' "$out1" | tr ',' '\n' | grep -c '/32')
	eq "showconf lists all $N_PEERS peers" "$peers" "$N_PEERS"
	eq "showconf lists all $((N_PEERS * N_AIPS)) allowed ips" "$aips" $((N_PEERS * N_AIPS))
	check "every configured public key is shown" quiet bash -c \
		"diff <(sed -n 's/^PublicKey = //p' '$conf' | sort) <(sed -n 's/^PublicKey = //p' '$out1' | sort)"
	# Same host: the second instance needs its own port.
	sed 's/^ListenPort = 51840$/ListenPort = 51841/' "$out1" >"$T_STATE/big1.conf"
	check "wg setconf of the showconf output into a second instance" \
		quiet wgx a setconf wgt1 "$T_STATE/big1.conf"
	wgx a showconf wgt1 >"$out2" || fail "wg showconf wgt1"
	check "the second instance shows the identical configuration" cmp -s "$T_STATE/big1.conf" "$out2"
	teardown
}

test_systemd_unit()
{
	local dest=$T_STATE/destdir unit bdir
	bdir=$(dirname "$IMPL_UNDER_TEST") # the build tree of the wgd under test
	command -v systemd-analyze >/dev/null || { fail "systemd-analyze missing (scripts/setup.sh installs systemd)"; return; }
	[ -f "$bdir/CMakeCache.txt" ] || { fail "$bdir is not a CMake build tree to install from"; return; }
	check "cmake --install into a staging root" quiet env DESTDIR="$dest" cmake --install "$bdir"
	unit=$(find "$dest" -name 'wgd@.service' | head -n1)
	check "wgd@.service is installed under lib/systemd/system" quiet test -n "$unit"
	check "wgd is installed under bin" quiet sh -c "find '$dest' -path '*/bin/wgd' | grep -q ."
	[ -n "$unit" ] || return
	# verify resolves ExecStart: a copy of the unit pointing at the staged
	# binary stands in for the installed one.
	sed "s#^ExecStart=#ExecStart=$dest#" "$unit" >"$T_STATE/wgd@.service"
	check "systemd-analyze verify accepts wgd@.service" \
		quiet systemd-analyze verify "$T_STATE/wgd@.service"
}

lib_init
run_tests test_instances test_large_replies test_systemd_unit
