#!/usr/bin/env bash
# "Sticky but not too sticky" from the Linux kernel's WireGuard selftest
# (netns.sh, "another interface route takes precedence over an ongoing
# one"): wgd in node a has two interfaces on one subnet, veth1 10.0.0.1
# (route metric 2, src 10.0.0.1) and veth3 10.0.0.3; the peer in b
# (WGDT_REF, default the newest wireguard-go) sits on veth2 10.0.0.2 and
# veth4. After a handshake b sees a's endpoint 10.0.0.1; once a route
# through veth3 (metric 1, src 10.0.0.3) takes precedence, a must forget
# the source it learned on veth1 and b must see 10.0.0.3, as with the
# kernel. Then the route goes away again and the source follows back.
. "$(dirname "$0")/lib.sh"

REF=${WGDT_REF:-wggo-latest}
TA=192.168.241.1
TB=192.168.241.2

sysctl_in() { nsx "$1" sysctl -qw "$2" >/dev/null || die "sysctl $2 in $1"; }

setup()
{
	T_CASE_FAILS=0
	node_add a
	node_add b
	link_named a veth1 b veth2
	link_named a veth3 b veth4
	PORT[a]=1
	PORT[b]=2
	keygen a
	keygen b
	daemon_start a wgd
	daemon_start b "$REF"
	nsx a ip addr add 10.0.0.1/24 dev veth1 && nsx b ip addr add 10.0.0.2/24 dev veth2 &&
		nsx a ip addr add 10.0.0.3/24 dev veth3 || die "cannot address the veths"
	nsx a ip route flush dev veth1 && nsx a ip route flush dev veth3 &&
		nsx a ip route add 10.0.0.0/24 dev veth1 src 10.0.0.1 metric 2 ||
		die "cannot set a's routes"
	# Replies to 10.0.0.3 arrive on veth1 (b answers through veth2).
	for n in "a veth1" "a all" "b veth4" "b all"; do
		set -- $n
		sysctl_in "$1" "net.ipv4.conf.$2.rp_filter=0"
	done
	wgx a set "${IFACE[a]}" private-key "$T_STATE/a.key" listen-port 1 peer "${PUB[b]}" \
		allowed-ips 192.168.241.2/32 endpoint 10.0.0.2:2 || die "wg set a"
	wgx b set "${IFACE[b]}" private-key "$T_STATE/b.key" listen-port 2 peer "${PUB[a]}" \
		allowed-ips 192.168.241.1/32 || die "wg set b"
	# The lib's tunnel addresses (10.0.0.x) are this underlay's.
	for n in a b; do
		nsx "$n" ip addr add "192.168.241.${IDX[$n]}/24" dev "${IFACE[$n]}" &&
			nsx "$n" ip link set "${IFACE[$n]}" up || die "cannot configure ${IFACE[$n]}"
	done
}

# seen_by_b: a's endpoint as b shows it.
seen_by_b() { peer_field b "${PUB[a]}" endpoint; }

test_route_precedence()
{
	local tag="sticky source, route change"
	setup
	check "$tag: ping a -> b" ping_ok a "$TB"
	eq "$tag: b sees a at its veth1 address" "$(seen_by_b)" 10.0.0.1:1
	# Learned again from b's answers: the source a remembers is 10.0.0.1
	# on veth1 now, not just what the kernel chose for the first packet.
	check "$tag: ping b -> a" ping_ok b "$TA"
	nsx a ip route add 10.0.0.0/24 dev veth3 src 10.0.0.3 metric 1 || die "route via veth3"
	check "$tag: ping a -> b after the veth3 route" nsx a ping -n -q -c 1 -W 2 "$TB"
	eq "$tag: b sees a at its veth3 address" "$(seen_by_b)" 10.0.0.3:1
	check "$tag: ping b -> a still works" ping_ok b "$TA"
	check "$tag: ping a -> b once more" nsx a ping -n -q -c 1 -W 2 "$TB"
	eq "$tag: b still sees the veth3 address" "$(seen_by_b)" 10.0.0.3:1
	# The precedence goes away. b's answers reach 10.0.0.3 through veth1,
	# so that is the source a learned, on veth1, where the route now
	# leads again: sticky, as with the kernel (it still owns 10.0.0.3).
	nsx a ip route del 10.0.0.0/24 dev veth3 || die "route del via veth3"
	check "$tag: ping a -> b after the veth3 route went" nsx a ping -n -q -c 1 -W 2 "$TB"
	eq "$tag: b keeps seeing the learned 10.0.0.3" "$(seen_by_b)" 10.0.0.3:1
	# Once 10.0.0.3 is gone too, routing chooses again: 10.0.0.1.
	nsx a ip addr del 10.0.0.3/24 dev veth3 || die "addr del 10.0.0.3"
	check "$tag: ping a -> b after 10.0.0.3 went" nsx a ping -n -q -c 1 -W 2 "$TB"
	eq "$tag: b sees a at its veth1 address again" "$(seen_by_b)" 10.0.0.1:1
	pair_down
}

# A route change that leaves the route's interface alone keeps the source
# (sticky): a second address on veth1 becomes the route's preferred source
# and a keeps answering from the address b reached it on.
test_still_sticky()
{
	local tag="sticky source, same interface"
	setup
	nsx b wg set "${IFACE[b]}" peer "${PUB[a]}" endpoint 10.0.0.1:1
	check "$tag: ping b -> a" ping_ok b "$TA"
	nsx a ip addr add 10.0.0.11/24 dev veth1 || die "second address"
	nsx a ip route replace 10.0.0.0/24 dev veth1 src 10.0.0.11 metric 2 || die "route replace"
	check "$tag: ping a -> b after the route change" nsx a ping -n -q -c 1 -W 2 "$TB"
	eq "$tag: b still sees a at 10.0.0.1" "$(seen_by_b)" 10.0.0.1:1
	pair_down
}

lib_init
run_tests test_route_precedence test_still_sticky
