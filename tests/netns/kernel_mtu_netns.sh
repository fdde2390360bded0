#!/usr/bin/env bash
# The container pattern of the kernel selftest (netns.sh): wgd makes its
# TUN in node a, the device then moves to node c (`ip link set netns`)
# while the daemon and its UDP socket stay in a. The MTU set in c must
# bound the padding. Numbers from the selftest's "route MTUs work with the
# padding": device MTU 1300 in c, a 1297-byte packet (ping -s 1269). Padded
# to 1300 the outer packet is 1300 + 32 + 28 = 1360 bytes; padded to the
# 1420 wgd saw before the move it is 1312 + 60 = 1372. Node b drops UDP
# over 1360 bytes. (The kernel also honours a route MTU of 1299 in c and
# sends 1359; a userspace daemon cannot read routes in another namespace
# with the privileges it keeps, see docs/design.md.) Then a later
# `ip link set mtu 1290` in c must be followed too (limit 1350).
. "$(dirname "$0")/lib.sh"

REF=${WGDT_REF:-wgd}

# drop_over NODE BYTES: NODE drops IPv4 UDP longer than BYTES, counted.
drop_over()
{
	nsx "$1" nft -f - <<-NFT
	table ip wgdt_mtu
	delete table ip wgdt_mtu
	table ip wgdt_mtu {
		chain in {
			type filter hook input priority 0;
			meta l4proto udp ip length > $2 counter drop
		}
	}
	NFT
}

# dropped NODE: packets the drop rule took.
dropped() { nsx "$1" nft list table ip wgdt_mtu | sed -n 's/.*counter packets \([0-9]*\).*/\1/p'; }

# big_ping PAYLOAD: one reply to a ping of PAYLOAD bytes from $big_ping_from, three
# tries of 1 s (wgd re-reads the MTU once a second).
big_ping_from=c
big_ping()
{
	local i
	for i in 1 2 3; do
		nsx "$big_ping_from" ping -n -q -c 1 -W 1 -s "$1" "$(t4 b)" >/dev/null 2>&1 && return 0
	done
	return 1
}

test_mtu_moved()
{
	local ifc d0
	T_CASE_FAILS=0
	node_add a
	node_add b
	node_add c
	link_nodes a b
	PORT[a]=51821
	PORT[b]=51822
	keygen a
	keygen b
	daemon_start a wgd
	daemon_start b "$REF"
	wg_config a b 4 1
	wg_config b a 4 0
	tunnel_addrs b
	ifc=${IFACE[a]}
	ip -n "${NS[a]}" link set "$ifc" netns "${NS[c]}" || die "cannot move $ifc to c"
	nsx c ip addr add "$(t4 a)/24" dev "$ifc" &&
		nsx c ip link set "$ifc" mtu 1300 up &&
		nsx c ip route add "$(t4 b)/32" dev "$ifc" mtu 1299 || die "cannot configure $ifc in c"
	check "mtu: daemon alive after its device moved" daemon_alive a
	check "mtu: small ping from c (handshake)" ping_ok c "$(t4 b)"
	drop_over b 1360 || die "nft in b"
	check "mtu 1300 in c: 1297-byte ping fits (outer <= 1360)" big_ping 1269
	d0=$(dropped b)
	check "mtu 1300 in c: again at once" nsx c ping -n -q -c 1 -W 2 -s 1269 "$(t4 b)"
	eq "mtu 1300 in c: nothing over 1360 bytes reached b since" "$(dropped b)" "$d0"

	# No peer for 10.0.0.77: the ICMP error cannot be sent from a's
	# namespace, so it is written into the TUN, from the destination.
	check "moved device: ICMP unreachable still arrives in c" \
		grep -q "From 10.0.0.77 icmp_seq=1 Destination Host Unreachable" \
		<<<"$(nsx c ping -n -W 1 -c 1 10.0.0.77 2>&1)"

	nsx c ip route del "$(t4 b)/32" dev "$ifc" && nsx c ip link set "$ifc" mtu 1290 ||
		fail "mtu: cannot change the MTU in c"
	drop_over b 1350 || die "nft in b"
	check "mtu changed to 1290 in c: 1287-byte ping fits (outer <= 1350)" big_ping 1259
	d0=$(dropped b)
	check "mtu 1290 in c: again at once" nsx c ping -n -q -c 1 -W 2 -s 1259 "$(t4 b)"
	eq "mtu 1290 in c: nothing over 1350 bytes reached b since" "$(dropped b)" "$d0"
	pair_down
}

# The selftest's case itself, with the device where the daemon is: a route
# MTU of 1299 under a device MTU of 1300, and b drops outer packets of
# 1360 bytes (the selftest drops exactly 1360; here all from 1360 up).
# Padding must stop at 1299 (outer 1359), as the kernel's does.
test_route_mtu()
{
	local ifc d0
	pair_up wgd "$REF" 4 a
	ifc=${IFACE[a]}
	nsx a ip link set "$ifc" mtu 1300 &&
		nsx a ip route add "$(t4 b)/32" dev "$ifc" mtu 1299 || die "cannot set the MTUs in a"
	check "route mtu: small ping (handshake)" ping_ok a "$(t4 b)"
	drop_over b 1359 || die "nft in b"
	big_ping_from=a
	check "route mtu 1299: 1297-byte ping fits (outer <= 1359)" big_ping 1269
	d0=$(dropped b)
	check "route mtu 1299: again at once" nsx a ping -n -q -c 1 -W 2 -s 1269 "$(t4 b)"
	eq "route mtu 1299: nothing over 1359 bytes reached b since" "$(dropped b)" "$d0"
	pair_down
}

lib_init
run_tests test_mtu_moved test_route_mtu
