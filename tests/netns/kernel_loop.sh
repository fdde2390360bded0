#!/usr/bin/env bash
# The routing-loop case of the Linux kernel's WireGuard selftest (netns.sh,
# "Try to set up a routing loop between the two namespaces"), with wgd in
# place of every kernel interface: a daemon runs where the selftest creates
# the link, and its TUN moves where the selftest moves the link.
#
#   n0: wga daemon (TUN in n1), wgb daemon (TUN in n2), wgc's TUN
#   n1: wgc daemon (TUN moved to n0), wga's TUN     n2: wgd's daemon + TUN, wgb's TUN
#
# wga (fd00::5:1) <-> wgb (fd00::5:2) over 127.0.0.1 in n0; wgc
# (192.168.241.1, MTU 1340) <-> wgd (192.168.241.2) through them. Then wga's
# peer endpoint becomes 192.168.241.2:7, which n0 routes into wgc, whose own
# endpoint is routed (in n1) into wga: each lap wraps the last. With wgb and
# wgd gone, 10 flood pings into wgc must cost wgc's sender less than 70,000
# bytes (the selftest's bound; WGDT_LOOP_MAX) in the second that follows.
#
# The other side of the same coin: outer datagrams too large for a real
# link are fragmented here, as the kernel's WireGuard fragments them (it
# sends without DF), when the tunnel's MTU is set above what the underlay
# carries (test_oversized_mtu). Only a route into a tunnel refuses them.
. "$(dirname "$0")/lib.sh"

LOOP_MAX=${WGDT_LOOP_MAX:-70000}
REF=${WGDT_REF:-wgd}

# start_wgd NODE IFACE: wgd in NODE; DPID[IFACE] its PID, DNODE[IFACE] NODE.
declare -A DPID DNODE
start_wgd()
{
	local n=$1 ifc=$2 log i
	log="$T_LOGDIR/${NS[$n]}-$ifc-wgd.log"
	nsenter --mount="$T_STATE/$n.mnt" --net="/run/netns/${NS[$n]}" -- \
		env LOG_LEVEL="$WGDT_LOG_LEVEL" WG_PROCESS_FOREGROUND=1 "$IMPL_UNDER_TEST" -f "$ifc" \
		</dev/null >"$log" 2>&1 &
	DPID[$ifc]=$!
	DNODE[$ifc]=$n
	T_PIDS+=("$!")
	for i in $(seq 100); do
		proc_alive "${DPID[$ifc]}" || die "wgd $ifc in $n exited during startup: $(tail -n 5 "$log")"
		nsx "$n" test -S "/run/wireguard/$ifc.sock" && quiet nsx "$n" ip link show dev "$ifc" && return 0
		sleep 0.1
	done
	die "wgd $ifc in $n: no socket/device after 10 s"
}

# wgi IFACE args...: `wg` where IFACE's daemon (and UAPI socket) lives.
wgi()
{
	local ifc=$1
	shift
	nsx "${DNODE[$ifc]}" wg "$@"
}

# move IFACE FROM TO: the TUN moves, the daemon stays.
move() { ip -n "${NS[$2]}" link set "$1" netns "${NS[$3]}" || die "cannot move $1 to $3"; }

tx_of() { wgi "$1" show "$1" transfer | awk '{ print $3 }'; }

test_routing_loop()
{
	local k p before after
	T_CASE_FAILS=0
	node_add n0
	node_add n1
	node_add n2
	for k in a b c d; do
		keygen "$k"
	done
	# wg0 of n1 and n2 in the selftest: created in n0, moved out.
	start_wgd n0 wga
	move wga n0 n1
	start_wgd n0 wgb
	move wgb n0 n2
	nsx n1 ip addr add fd00::5:1/112 dev wga nodad && nsx n1 ip link set wga up &&
		nsx n2 ip addr add fd00::5:2/112 dev wgb nodad && nsx n2 ip link set wgb up ||
		die "cannot configure wga/wgb"
	wgi wga set wga private-key "$T_STATE/a.key" listen-port 1 peer "${PUB[b]}" \
		allowed-ips fd00::5:2/128 endpoint 127.0.0.1:2 || die "wg set wga"
	wgi wgb set wgb private-key "$T_STATE/b.key" listen-port 2 peer "${PUB[a]}" \
		allowed-ips fd00::5:1/128 endpoint 127.0.0.1:1 || die "wg set wgb"
	# wg1 of n1 and n2: created (and so their sockets) in n1 and n2.
	start_wgd n1 wgc
	start_wgd n2 wgd
	for p in "n1 wgc 1" "n2 wgd 2"; do
		set -- $p
		nsx "$1" ip addr add "192.168.241.$3/24" dev "$2" &&
			nsx "$1" ip addr add "fd00::$3/112" dev "$2" nodad &&
			nsx "$1" ip link set mtu 1340 up dev "$2" || die "cannot configure $2"
	done
	wgi wgc set wgc listen-port 5 private-key "$T_STATE/c.key" peer "${PUB[d]}" \
		allowed-ips 192.168.241.2/32,fd00::2/128 endpoint '[fd00::5:2]:5' || die "wg set wgc"
	wgi wgd set wgd listen-port 5 private-key "$T_STATE/d.key" peer "${PUB[c]}" \
		allowed-ips 192.168.241.1/32,fd00::1/128 endpoint '[fd00::5:1]:5' || die "wg set wgd"
	check "routing loop: wgc -> wgd through wga/wgb (ping)" ping_ok n1 192.168.241.2
	check "routing loop: 1200-byte ping through both layers" \
		nsx n1 ping -n -q -c 2 -i 0.2 -W 2 -s 1200 192.168.241.2

	# The loop: wgc's TUN into n0, wga's endpoint routed into it.
	move wgc n1 n0
	nsx n0 ip addr add 192.168.241.1/24 dev wgc && nsx n0 ip link set up dev wgc ||
		die "cannot configure wgc in n0"
	check "routing loop: ping from n0 through the moved wgc" ping_ok n0 192.168.241.2
	wgi wga set wga peer "${PUB[b]}" endpoint 192.168.241.2:7 || die "wg set wga endpoint"
	kill_pids "${DPID[wgb]}" "${DPID[wgd]}"
	forget_pid "${DPID[wgb]}"
	forget_pid "${DPID[wgd]}"
	before=$(tx_of wgc)
	check "routing loop: flood ping gets no reply" \
		not quiet nsx n0 ping -W 1 -c 10 -f 192.168.241.2
	sleep 1
	after=$(tx_of wgc)
	log "   wgc transfer-tx: $before -> $after (+$((after - before)) B)"
	check "routing loop: wgc sent $((after - before)) B for 10 pings, under $LOOP_MAX" \
		test $((after - before)) -lt "$LOOP_MAX"
	for k in wga wgc; do
		check "routing loop: wgd $k still running" proc_alive "${DPID[$k]}"
	done
	if [ "$T_CASE_FAILS" -gt 0 ]; then
		for k in wga wgb wgc wgd; do
			log "--- last log lines of $k:"
			tail -n 15 "$T_LOGDIR/${NS[${DNODE[$k]}]}-$k-wgd.log" | sed 's/^/    /'
		done
	fi
	teardown
	for k in wga wgb wgc wgd; do
		p="$T_LOGDIR/${NS[${DNODE[$k]}]}-$k-wgd.log"
		sanitizer_clean "$p" || fail "sanitizer report in $p: $(grep -Em1 'Sanitizer|runtime error:' "$p")"
	done
}

# snmp_ip NODE FIELD: a counter of the Ip: line of NODE's /proc/net/snmp.
snmp_ip()
{
	nsx "$1" awk -v f="$2" '/^Ip:/ { if (!h) { for (i = 1; i <= NF; i++) c[$i] = i; h = 1 } \
		else print $c[f] }' /proc/net/snmp
}

# Tunnel MTU 1500 over a 1500-byte veth: every full-size inner packet
# makes a 1560-byte outer datagram, which must leave in fragments.
test_oversized_mtu()
{
	local frags rc sent got out="$T_STATE/iperf-n.json"
	pair_up wgd "$REF" 4 a
	nsx a ip link set "${IFACE[a]}" mtu 1500 && nsx b ip link set "${IFACE[b]}" mtu 1500 ||
		fail "oversized mtu: cannot set the tunnel MTUs"
	check "oversized mtu: small ping" nsx a ping -n -q -c 1 -W 2 "$(t4 b)"
	frags=$(snmp_ip a FragCreates)
	check "oversized mtu: 1500-byte pings with DF a -> b" \
		nsx a ping -n -q -c 3 -i 0.2 -W 2 -M do -s 1472 "$(t4 b)"
	check "oversized mtu: 1500-byte pings with DF b -> a" \
		nsx b ping -n -q -c 3 -i 0.2 -W 2 -M do -s 1472 "$(t4 a)"
	check "oversized mtu: a fragmented its outer datagrams" test "$(snmp_ip a FragCreates)" -gt "$frags"
	iperf_server b "$(t4 b)" || fail "oversized mtu: no iperf3 server in b"
	# -n: done once 8 MiB are written; the server's count stops with the
	# test, so bytes still in flight are not in it.
	rc=0
	nsx a timeout 60 iperf3 -c "$(t4 b)" -n 8M -J >"$out" 2>/dev/null || rc=$?
	read -r sent got < <(python3 -c 'import json,sys
try:
	e = json.load(open(sys.argv[1]))["end"]
	print(e["sum_sent"]["bytes"], e["sum_received"]["bytes"])
except Exception: print(0, 0)' "$out")
	check "oversized mtu: TCP sent 8 MiB a -> b within 60 s (rc $rc, $sent B)" \
		test "$rc" -eq 0 -a "$sent" -ge $((8 << 20))
	check "oversized mtu: b received over 1 MiB of it ($got B)" test "$got" -gt $((1 << 20))
	pair_down
}

lib_init
run_tests test_routing_loop test_oversized_mtu
