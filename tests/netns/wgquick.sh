#!/usr/bin/env bash
# wg-quick with wgd as WG_QUICK_USERSPACE_IMPLEMENTATION (the kernel module
# is absent, so wg-quick launches `wgd IFACE` itself and wgd daemonizes):
# a split-tunnel config and a default-route config (AllowedIPs 0.0.0.0/0,
# ::/0: wg-quick routes everything through table 51820 and relies on the
# daemon marking its own UDP packets with fwmark 51820). Ping through, then
# `wg-quick down` must leave no process, socket or device behind.
# Node a runs wg-quick + wgd; node b is the reference peer (WGDT_REF).
# Also the rest of the launch contract: without -f wgd returns only once its
# device and socket exist, and exits when its socket file is removed, when
# its device is deleted, and on SIGINT/SIGTERM.
. "$(dirname "$0")/lib.sh"

REF=${WGDT_REF:-wggo-latest}
QIF=wgqa
INET4=198.51.100.1 # "internet" addresses behind b, reachable only via
INET6=2001:db8:ffff::1 # the tunnel in the default-route config

# write_conf ALLOWEDIPS: wg-quick config for node a, path in CONF.
write_conf()
{
	CONF="$T_STATE/$QIF.conf"
	(
		umask 077
		cat >"$CONF" <<-EOF
			[Interface]
			PrivateKey = $(cat "$T_STATE/a.key")
			ListenPort = ${PORT[a]}
			Address = $(t4 a)/24, $(t6 a)/64

			[Peer]
			PublicKey = ${PUB[b]}
			Endpoint = $(endpoint_of b 4)
			AllowedIPs = $1
		EOF
	)
}

# setup: node b with the reference daemon (no endpoint, it learns a's);
# node a bare, with a key.
setup()
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
	IFACE[a]=$QIF
	wgx b set "${IFACE[b]}" private-key "$T_STATE/b.key" listen-port "${PORT[b]}" \
		peer "${PUB[a]}" allowed-ips "$(t4 a)/32,$(t6 a)/128" || die "wg set on b failed"
	tunnel_addrs b
	nsx b ip addr add "$INET4/32" dev lo
	nsx b ip addr add "$INET6/128" dev lo
}

quick()
{
	nsx a env WG_QUICK_USERSPACE_IMPLEMENTATION="$IMPL_UNDER_TEST" LOG_LEVEL="$WGDT_LOG_LEVEL" \
		wg-quick "$1" "$CONF" >>"$T_LOGDIR/wg-quick-$QIF.log" 2>&1
}

no_processes() { [ -z "$(ip netns pids "${NS[a]}")" ]; }
no_socket() { ! nsx a test -e "/run/wireguard/$QIF.sock"; }
no_device() { ! nsx a ip link show dev "$QIF" >/dev/null 2>&1; }
# The rule lists are read whole before grep: `ip rule | grep -q` under
# pipefail fails when grep exits early and ip dies of SIGPIPE.
rules() { nsx a ip -4 rule && nsx a ip -6 rule; }
has_rules()
{
	local r
	r=$(rules) || return 1
	[ "$(grep -c 'not from all fwmark 0xca6c lookup 51820' <<<"$r")" -eq 2 ]
}
no_rules()
{
	local r
	r=$(rules) || return 1
	! grep -q 51820 <<<"$r"
}
gone()
{
	local i
	for i in $(seq 50); do
		no_processes && no_socket && no_device && return 0
		sleep 0.1
	done
	return 1
}

quick_log()
{
	[ "$T_CASE_FAILS" -gt 0 ] || return 0
	log "--- wg-quick output ($T_LOGDIR/wg-quick-$QIF.log):"
	tail -n 40 "$T_LOGDIR/wg-quick-$QIF.log" | sed 's/^/    /'
}

down_clean()
{
	local tag=$1
	check "$tag: wg-quick down succeeds" quick down
	gone
	check "$tag: no process left in the namespace (left: $(ip netns pids "${NS[a]}" | tr '\n' ' '))" no_processes
	check "$tag: no UAPI socket left" no_socket
	check "$tag: no device left" no_device
	check "$tag: no fwmark rules left" no_rules
}

test_split()
{
	local tag="wg-quick split tunnel"
	setup
	write_conf "$(t4 b)/32, $(t6 b)/128"
	check "$tag: wg-quick up succeeds" quick up
	check "$tag: wgd runs in the namespace" test -n "$(ip netns pids "${NS[a]}")"
	check "$tag: ping IPv4 through" ping_ok a "$(t4 b)"
	check "$tag: ping IPv6 through" ping_ok a "$(t6 b)"
	check "$tag: $INET4 is not routed into the tunnel" ping_fails a "$INET4"
	eq "$tag: no fwmark in a split config" "$(iface_field a fwmark)" off
	down_clean "$tag"
	quick_log
	pair_down
}

test_default_route()
{
	local tag="wg-quick default route"
	setup
	write_conf "0.0.0.0/0, ::/0"
	check "$tag: wg-quick up succeeds" quick up
	eq "$tag: fwmark 51820 set by wg-quick" "$(iface_field a fwmark)" 0xca6c
	check "$tag: policy rules present" has_rules
	check "$tag: ping IPv4 peer" ping_ok a "$(t4 b)"
	check "$tag: ping IPv6 peer" ping_ok a "$(t6 b)"
	check "$tag: ping $INET4 via the default route" ping_ok a "$INET4"
	check "$tag: ping $INET6 via the default route" ping_ok a "$INET6"
	check "$tag: TCP 1 MB to $INET4 via the default route" xfer a b "$INET4" 1000000
	down_clean "$tag"
	quick_log
	pair_down
}

# launch IFACE: wgd without -f, as wg-quick runs it. Sets LPID.
launch()
{
	local pids
	IFACE[a]=$1
	if ! nsx a env LOG_LEVEL="$WGDT_LOG_LEVEL" timeout 10 "$IMPL_UNDER_TEST" "$1" \
		</dev/null >>"$T_LOGDIR/launch-$1.log" 2>&1; then
		fail "launch: wgd $1 (daemonizing) did not return 0"
		return 1
	fi
	# Checked at once, no polling: the contract says they exist by now.
	check "launch $1: device exists when the launcher returns" quiet nsx a ip link show dev "$1"
	check "launch $1: socket exists when the launcher returns" nsx a test -S "/run/wireguard/$1.sock"
	pids=$(ip netns pids "${NS[a]}")
	LPID=$pids
	T_PIDS+=($pids)
	eq "launch $1: one daemon process left running" "$(echo "$pids" | wc -w)" 1
}

# exited WHAT: LPID is gone within 3 s, with its socket.
exited()
{
	local i
	for i in $(seq 30); do
		proc_alive "$LPID" || break
		sleep 0.1
	done
	check "$1: daemon exited within 3 s" not proc_alive "$LPID"
	proc_alive "$LPID" || forget_pid "$LPID"
	check "$1: socket gone" nsx a test ! -e "/run/wireguard/${IFACE[a]}.sock"
	check "$1: device gone" not quiet nsx a ip link show dev "${IFACE[a]}"
}

test_lifecycle()
{
	T_CASE_FAILS=0
	node_add a
	if launch wgl0; then
		check "launch: wg show works" quiet nsx a wg show wgl0
		nsx a rm -f /run/wireguard/wgl0.sock
		exited "socket file removed"
	fi
	if launch wgl1; then
		nsx a ip link del dev wgl1
		exited "device deleted"
	fi
	if launch wgl2; then
		kill -INT "$LPID"
		exited "SIGINT"
	fi
	if launch wgl3; then
		kill -TERM "$LPID"
		exited "SIGTERM"
	fi
	for f in "$T_LOGDIR"/launch-*.log; do
		sanitizer_clean "$f" || fail "sanitizer report in $f"
	done
	if [ "$T_CASE_FAILS" -gt 0 ]; then tail -n 5 "$T_LOGDIR"/launch-*.log | sed 's/^/    /'; fi
	teardown
}

lib_init
[ -x "$IMPL_UNDER_TEST" ] || die "IMPL_UNDER_TEST=$IMPL_UNDER_TEST is not executable"
run_tests test_lifecycle test_split test_default_route
