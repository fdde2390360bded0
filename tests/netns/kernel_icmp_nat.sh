#!/usr/bin/env bash
# The kernel selftest's ICMP-through-NAT case (netns.sh): node a runs wgd
# (wg 192.168.241.2/24) and source-NATs what node r (10.0.0.1) sends into
# the tunnel; no peer takes 192.168.241.1. r filters sources outside
# 10.0.0.0/24 on that link. The kernel's error reaches r from 10.0.0.100
# (a's address on the way back: icmp_ndo_send un-NATs and lets routing
# choose); wgd used to write it into the TUN from 192.168.241.1, which r's
# filter drops after conntrack un-NATs it. Also: without NAT, a ping from
# a itself still gets its "unreachable" (IPv4 and IPv6).
. "$(dirname "$0")/lib.sh"

test_icmp_nat()
{
	local ifc out
	T_CASE_FAILS=0
	node_add r
	node_add a
	ip -n "${NS[r]}" link add vethrs type veth peer name veths netns "${NS[a]}" &&
		nsx r ip addr add 10.0.0.1/24 dev vethrs && nsx r ip link set vethrs up &&
		nsx a ip addr add 10.0.0.100/24 dev veths && nsx a ip link set veths up ||
		die "cannot link r and a"
	keygen a
	PORT[a]=51821
	daemon_start a wgd
	ifc=${IFACE[a]}
	wgx a set "$ifc" private-key "$T_STATE/a.key" listen-port "${PORT[a]}" || die "wg set"
	nsx a ip addr add 192.168.241.2/24 dev "$ifc" && nsx a ip addr add fd00::2/112 dev "$ifc" nodad &&
		nsx a ip link set "$ifc" up || die "cannot configure $ifc"
	nsx a sysctl -qw net.ipv4.ip_forward=1 || die "ip_forward"
	nsx a nft -f - <<-NFT || die "nft in a"
	table ip wgdt_nat {
		chain post {
			type nat hook postrouting priority 100;
			ip saddr 10.0.0.0/24 ip daddr 192.168.241.0/24 snat to 192.168.241.2
		}
	}
	NFT
	nsx r nft -f - <<-NFT || die "nft in r"
	table ip wgdt_rpf {
		chain in {
			type filter hook input priority 0;
			iif vethrs ip saddr != 10.0.0.0/24 counter drop
		}
	}
	NFT
	nsx r ip route add 192.168.241.1 via 10.0.0.100 || die "route in r"

	out=$(nsx r ping -n -W 1 -c 1 192.168.241.1 2>&1)
	log "   r: $(echo "$out" | grep -m1 '^From' || echo "no ICMP error")"
	check "NAT: the unreachable error reaches r from 10.0.0.100" \
		grep -q "From 10.0.0.100 icmp_seq=1 Destination Host Unreachable" <<<"$out"
	out=$(nsx r nft list table ip wgdt_rpf | sed -n 's/.*counter packets \([0-9]*\).*/\1/p')
	eq "NAT: r's source filter dropped nothing" "$out" 0

	out=$(nsx a ping -n -W 1 -c 1 192.168.241.1 2>&1)
	log "   a: $(echo "$out" | grep -m1 '^From' || echo "no ICMP error")"
	check "no NAT: a's own ping gets Destination Host Unreachable" \
		grep -q "icmp_seq=1 Destination Host Unreachable" <<<"$out"
	out=$(nsx a ping -6 -n -W 1 -c 1 fd00::1 2>&1)
	log "   a: $(echo "$out" | grep -m1 '^From' || echo "no ICMPv6 error")"
	check "no NAT: a's own IPv6 ping gets Address unreachable" \
		grep -q "icmp_seq=1 Destination unreachable: Address unreachable" <<<"$out"
	pair_down
}

lib_init
run_tests test_icmp_nat
