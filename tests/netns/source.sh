#!/usr/bin/env bash
# Source-address control (issue 14), in the operators' setups:
#  - two_wan: a firewall fw with two uplinks (wan1 default route via router
#    r1, wan2 via r2, ISP source filtering on both routers, a source rule for
#    WAN2's address as multi-WAN setups have) and a remote peer rp (WGDT_REF,
#    default the newest wireguard-go) whose nftables accept WAN2's address
#    only. Without an option the handshake fails and rp sees WAN1's address;
#    with `wgd set fw0 peer K source WAN2` and, separately, with `egress wan2`
#    it succeeds and every packet rp sees after the option comes from WAN2.
#    IPv4 and IPv6.
#  - ha_vip: an HA pair A/B (one private key, one peer config) started with
#    --bind VIP / WGD_BIND=VIP on a shared bridge; the VIP moves from A to B
#    (ip addr del/add plus a gratuitous ARP, as a VRRP daemon sends); rp's
#    tunnel to the VIP follows, and rp's nftables, keyed on A's MAC address,
#    show A never sends it anything once the VIP is gone (nor from any other
#    address before); A logs [bind-absent].
#  - bootstrap_loop: a client cl whose 0/1 + 128/1 routes point into wg0 (no
#    fwmark, no policy rule) and whose server is reachable only through wan0
#    and a router: the UDP to the server loops into the tunnel until
#    `wgd set wg0 peer K egress wan0`, then the handshake and a ping through
#    the tunnel succeed.
#  - stock_read: stock `wg show`/`wg showconf` and wgctrl-go (wgctrl-read,
#    built by scripts/setup.sh) read a device with wgd_bind, wgd_source and
#    wgd_egress set; `wg syncconf` keeps the per-peer settings, `wg setconf`
#    drops them and keeps the bind.
#  - absent: a bind address, a source address, an egress interface that are
#    not there, and an egress interface without a route to the peer: for 6 s
#    of tunnel traffic (a handshake retry included) not one datagram reaches
#    the peer and a reason-coded WARNING is logged; once the bind address or
#    the interface appears, traffic resumes without reconfiguration.
. "$(dirname "$0")/lib.sh"

REF=${WGDT_REF:-wggo-latest}
WGCTRL_READ=${WGCTRL_READ:-$WGD_PEERS_DIR/bin/wgctrl-read}

# wgdx NODE args...: the companion subcommands of the binary under test.
wgdx()
{
	local n=$1
	shift
	nsx "$n" "$IMPL_UNDER_TEST" "$@"
}

# wgd_start NODE IFACE [wgd options...]: wgd in the foreground with extra
# options; WGD_BIND is passed on when START_BIND_ENV is set.
wgd_start()
{
	local n=$1 ifc=$2 envs
	shift 2
	[ -x "$IMPL_UNDER_TEST" ] || die "wgd: $IMPL_UNDER_TEST is not executable"
	IMPL[$n]=wgd
	IFACE[$n]=$ifc
	envs=(LOG_LEVEL="$WGDT_LOG_LEVEL" WG_PROCESS_FOREGROUND=1)
	[ -n "${START_BIND_ENV:-}" ] && envs+=(WGD_BIND="$START_BIND_ENV")
	nsenter --mount="$T_STATE/$n.mnt" --net="/run/netns/${NS[$n]}" -- env "${envs[@]}" \
		"$IMPL_UNDER_TEST" -f "$@" "$ifc" </dev/null >"$(dlog "$n")" 2>&1 &
	node_daemon_wait "$n" $! "$ifc" "wgd $*"
}

# addrs NODE DEV ADDR...: addresses (IPv6 without DAD) on DEV, DEV up.
addrs()
{
	local n=$1 d=$2 a
	shift 2
	for a in "$@"; do
		if [[ $a == *:* ]]; then
			nsx "$n" ip addr add "$a" dev "$d" nodad || die "ip addr add $a dev $d in $n"
		else
			nsx "$n" ip addr add "$a" dev "$d" || die "ip addr add $a dev $d in $n"
		fi
	done
	nsx "$n" ip link set "$d" up || die "cannot bring up $d in $n"
}

# ipr NODE ip-arguments...: a routing change that must work.
ipr() { nsx "$1" ip "${@:2}" || die "ip ${*:2} in $1"; }

forwarding() { nsx "$1" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 >/dev/null || die "forwarding in $1"; }

# hs_of NODE PEERPUB: the peer's latest handshake (unix seconds, 0 never).
hs_of() { wgx "$1" show "${IFACE[$1]}" latest-handshakes | awk -v k="$2" '$1 == k { print $2 }'; }

# hs_within NODE PEERPUB SECS BASE [PINGDST]: true once the peer's latest
# handshake is above BASE, within SECS seconds; a ping to PINGDST (tunnel
# traffic that asks for a handshake) each round.
hs_within()
{
	local n=$1 k=$2 end=$((SECONDS + $3)) base=$4 dst=${5:-} h
	while :; do
		h=$(hs_of "$n" "$k")
		[ "${h:-0}" -gt "$base" ] && return 0
		[ $SECONDS -lt "$end" ] || return 1
		if [ -n "$dst" ]; then
			nsx "$n" ping -n -q -c 1 -W 1 "$dst" >/dev/null 2>&1
		else
			sleep 0.2
		fi
	done
}

# ping_within NODE DST SECS: one ping reply within SECS seconds.
ping_within()
{
	local end=$((SECONDS + $3))
	while [ $SECONDS -lt "$end" ]; do
		nsx "$1" ping -n -q -c 1 -W 1 "$2" >/dev/null 2>&1 && return 0
	done
	return 1
}

# ctr NODE TABLE NAME: packets of a named nft counter (family inet).
ctr()
{
	nsx "$1" nft list counter inet "$2" "$3" | awk '/packets/ { for (i = 1; i < NF; i++) if ($i == "packets") print $(i + 1) }'
}

# log_has NODE PATTERN: the node's daemon log has a line matching PATTERN.
log_has() { grep -Eq -- "$2" "$(dlog "$1")"; }

# show_has NODE IFACE VALUE[,VALUE]: `wgd show IFACE` names every value.
show_has()
{
	local out v
	out=$(wgdx "$1" show "$2") || return 1
	for v in ${3//,/ }; do grep -qF -- "$v" <<<"$out" || return 1; done
}

# garp NODE DEV IP: one gratuitous ARP request for IP from DEV's MAC.
garp()
{
	nsx "$1" python3 -c 'import socket, struct, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806))
s.bind((sys.argv[1], 0))
mac, ip = s.getsockname()[4], socket.inet_aton(sys.argv[2])
arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + mac + ip + bytes(6) + ip
s.send(b"\xff" * 6 + mac + b"\x08\x06" + arp)' "$2" "$3"
}

# --- two WAN uplinks -------------------------------------------------------

W1_4=198.51.100.2
W2_4=203.0.113.2
W1_6=2001:db8:a1::2
W2_6=2001:db8:a2::2
RP_4=192.0.2.100
RP_6=2001:db8:ff::100
RP_PORT=51820
FW_PORT=51821

# two_wan_topology: fw -- r1 -- rp and fw -- r2 -- rp; fw's default route is
# via wan1 (metric 100), wan2 keeps its own at metric 200 and a source rule
# (from WAN2 lookup 102); r1 and r2 forward only their customer's sources.
two_wan_topology()
{
	local r i
	node_add fw
	node_add r1
	node_add r2
	node_add rp
	link_named fw wan1 r1 lan
	link_named fw wan2 r2 lan
	link_named r1 ul rp i1
	link_named r2 ul rp i2
	addrs fw wan1 "$W1_4/24" "$W1_6/64"
	addrs fw wan2 "$W2_4/24" "$W2_6/64"
	addrs r1 lan 198.51.100.1/24 2001:db8:a1::1/64
	addrs r2 lan 203.0.113.1/24 2001:db8:a2::1/64
	addrs r1 ul 100.64.1.1/24 fd64:1::1/64
	addrs r2 ul 100.64.2.1/24 fd64:2::1/64
	addrs rp i1 100.64.1.2/24 fd64:1::2/64
	addrs rp i2 100.64.2.2/24 fd64:2::2/64
	addrs rp lo "$RP_4/32" "$RP_6/128"
	for i in 1 2; do
		r=r$i
		forwarding "$r"
		ipr "$r" route add "$RP_4/32" via 100.64.$i.2
		ipr "$r" -6 route add "$RP_6/128" via fd64:$i::2
		# BCP 38 at the ISP: only the customer's own prefix gets through.
		nsx "$r" nft -f - <<-NFT || die "nft in $r"
			table inet bcp38 {
				chain filt {
					type filter hook forward priority 0; policy accept;
					iifname "lan" ip saddr != $( [ $i = 1 ] && echo 198.51.100.0/24 || echo 203.0.113.0/24) drop
					iifname "lan" ip6 saddr != 2001:db8:a$i::/64 drop
				}
			}
		NFT
	done
	ipr rp route add 198.51.100.0/24 via 100.64.1.1
	ipr rp route add 203.0.113.0/24 via 100.64.2.1
	ipr rp -6 route add 2001:db8:a1::/64 via fd64:1::1
	ipr rp -6 route add 2001:db8:a2::/64 via fd64:2::1
	ipr fw route add default via 198.51.100.1 dev wan1 metric 100
	ipr fw route add default via 203.0.113.1 dev wan2 metric 200
	ipr fw -6 route add default via 2001:db8:a1::1 dev wan1 metric 100
	ipr fw -6 route add default via 2001:db8:a2::1 dev wan2 metric 200
	ipr fw rule add from "$W2_4" lookup 102
	ipr fw route add default via 203.0.113.1 dev wan2 table 102
	ipr fw -6 rule add from "$W2_6" lookup 102
	ipr fw -6 route add default via 2001:db8:a2::1 dev wan2 table 102
	# The remote accepts WAN2's address only; the counters are what it sees.
	nsx rp nft -f - <<-NFT || die "nft in rp"
		table inet acc {
			counter wan1 {}
			counter wan2 {}
			counter other {}
			chain in {
				type filter hook input priority 0; policy accept;
				udp dport $RP_PORT ip saddr $W1_4 counter name "wan1" drop
				udp dport $RP_PORT ip6 saddr $W1_6 counter name "wan1" drop
				udp dport $RP_PORT ip saddr $W2_4 counter name "wan2" accept
				udp dport $RP_PORT ip6 saddr $W2_6 counter name "wan2" accept
				udp dport $RP_PORT counter name "other" drop
			}
		}
	NFT
	PORT[fw]=$FW_PORT
	PORT[rp]=$RP_PORT
	keygen fw
	keygen rp
	daemon_start fw wgd fw0
	daemon_start rp "$REF"
	wgx fw set fw0 private-key "$T_STATE/fw.key" listen-port "$FW_PORT" || die "wg set fw0"
	wgx rp set "${IFACE[rp]}" private-key "$T_STATE/rp.key" listen-port "$RP_PORT" || die "wg set rp"
	tunnel_addrs fw
	tunnel_addrs rp
}

# fw_peer_fresh UL: the peers removed and added again on both sides (no
# session, no learned endpoint, no wgd settings); fw knows rp's endpoint.
fw_peer_fresh()
{
	local ep
	if [ "$1" = 4 ]; then ep="$RP_4:$RP_PORT"; else ep="[$RP_6]:$RP_PORT"; fi
	wgx fw set fw0 peer "${PUB[rp]}" remove &&
		wgx fw set fw0 peer "${PUB[rp]}" allowed-ips "$(t4 rp)/32,$(t6 rp)/128" endpoint "$ep" &&
		wgx rp set "${IFACE[rp]}" peer "${PUB[fw]}" remove &&
		wgx rp set "${IFACE[rp]}" peer "${PUB[fw]}" allowed-ips "$(t4 fw)/32,$(t6 fw)/128" ||
		die "cannot reset the peers"
}

# wan_counts: "wan1 wan2 other" as rp counted them.
wan_counts() { echo "$(ctr rp acc wan1) $(ctr rp acc wan2) $(ctr rp acc other)"; }

# two_wan_option UL WHAT ARGS...: fresh peers, `wgd set fw0 peer RP ARGS`,
# then a handshake, a ping, rp sees fw at WAN2 and nothing else since.
two_wan_option()
{
	local ul=$1 what=$2 tag c0 c1 w2 ep
	shift 2
	tag="two WAN, IPv$ul, $what"
	fw_peer_fresh "$ul"
	check "$tag: wgd set fw0 peer RP $* exits 0" wgdx fw set fw0 peer "${PUB[rp]}" "$@"
	check "$tag: wgd show fw0 lists ${*: -1}" show_has fw fw0 "${@: -1}"
	read -r -a c0 <<<"$(wan_counts)"
	check "$tag: handshake within 12 s" hs_within fw "${PUB[rp]}" 12 0 "$(t4 rp)"
	check "$tag: ping through the tunnel" ping_ok fw "$(t6 rp)"
	if [ "$ul" = 4 ]; then w2=$W2_4 ep="$W2_4:$FW_PORT"; else w2=$W2_6 ep="[$W2_6]:$FW_PORT"; fi
	eq "$tag: rp sees fw at WAN2 ($w2)" "$(peer_field rp "${PUB[fw]}" endpoint)" "$ep"
	read -r -a c1 <<<"$(wan_counts)"
	eq "$tag: packets rp got from WAN1 since the option" $((c1[0] - c0[0])) 0
	eq "$tag: packets rp got from other addresses since the option" $((c1[2] - c0[2])) 0
	check "$tag: rp got packets from WAN2 (+$((c1[1] - c0[1])))" test $((c1[1] - c0[1])) -gt 0
}

test_two_wan()
{
	local ul tag c0 c1 both
	T_CASE_FAILS=0
	two_wan_topology
	both="$W2_4,$W2_6"
	for ul in 4 6; do
		tag="two WAN, IPv$ul, no option"
		fw_peer_fresh "$ul"
		read -r -a c0 <<<"$(wan_counts)"
		check "$tag: no handshake in 7 s" not hs_within fw "${PUB[rp]}" 7 0 "$(t4 rp)"
		read -r -a c1 <<<"$(wan_counts)"
		check "$tag: rp saw fw's initiations from WAN1 (+$((c1[0] - c0[0])))" test $((c1[0] - c0[0])) -gt 0
		eq "$tag: nothing from WAN2" $((c1[1] - c0[1])) 0
		# IPv4: the IPv4 source alone; IPv6: both, the endpoint's family wins.
		if [ "$ul" = 4 ]; then
			two_wan_option "$ul" "source $W2_4" source "$W2_4"
		else
			two_wan_option "$ul" "source $both" source "$both"
		fi
		two_wan_option "$ul" "egress wan2" egress wan2
	done
	pair_down
}

# --- HA pair with a floating VIP -------------------------------------------

VIP=192.0.2.50
HA_T=10.0.0.50  # the pair's tunnel address (both nodes)
RPT=10.0.0.100  # rp's tunnel address

mac_of() { nsx "$1" cat "/sys/class/net/$2/address"; }

# ha_topology: A, B and rp on one bridge (node sw); the VIP on A; A started
# with --bind VIP, B with WGD_BIND=VIP (not on B yet); one key, one peer
# config (rp's endpoint, keepalive 2) for both; rp: endpoint VIP, keepalive 1.
# rp counts, by sender MAC, IPv4 packets from A and B: from the VIP, from any
# other address.
ha_topology()
{
	local n key
	node_add sw
	node_add A
	node_add B
	node_add rp
	ipr sw link add br0 type bridge
	ipr sw link set br0 up
	for n in A B rp; do
		link_named "$n" u0 sw "p$n"
		ipr sw link set "p$n" master br0
	done
	addrs A u0 192.0.2.11/24 "$VIP/24"
	addrs B u0 192.0.2.12/24
	addrs rp u0 "$RP_4/24"
	nsx rp nft -f - <<-NFT || die "nft in rp"
		table inet ha {
			counter a_vip {}
			counter a_other {}
			counter b_vip {}
			counter b_other {}
			chain in {
				type filter hook input priority 0; policy accept;
				meta nfproto ipv4 ether saddr $(mac_of A u0) ip saddr $VIP counter name "a_vip"
				meta nfproto ipv4 ether saddr $(mac_of A u0) ip saddr != $VIP counter name "a_other"
				meta nfproto ipv4 ether saddr $(mac_of B u0) ip saddr $VIP counter name "b_vip"
				meta nfproto ipv4 ether saddr $(mac_of B u0) ip saddr != $VIP counter name "b_other"
			}
		}
	NFT
	keygen A
	keygen rp
	PUB[B]=${PUB[A]}
	key=$T_STATE/A.key
	wgd_start A wgha --bind "$VIP"
	START_BIND_ENV=$VIP wgd_start B wgha
	daemon_start rp "$REF" wgrp
	for n in A B; do
		wgx "$n" set wgha private-key "$key" listen-port "$RP_PORT" peer "${PUB[rp]}" \
			allowed-ips "$RPT/32" endpoint "$RP_4:$RP_PORT" persistent-keepalive 2 &&
			addrs "$n" wgha "$HA_T/24" || die "cannot configure wgha in $n"
	done
	wgx rp set wgrp private-key "$T_STATE/rp.key" listen-port "$RP_PORT" peer "${PUB[A]}" \
		allowed-ips "$HA_T/32" endpoint "$VIP:$RP_PORT" persistent-keepalive 1 &&
		addrs rp wgrp "$RPT/24" || die "cannot configure wgrp in rp"
}

test_ha_vip()
{
	local tag="HA VIP" a0 a1 t0 hb
	T_CASE_FAILS=0
	ha_topology
	check "$tag: rp pings the pair's tunnel address (via A)" ping_ok rp "$HA_T"
	check "$tag: A has a handshake" test "$(hs_of A "${PUB[rp]}")" -gt 0
	eq "$tag: B, without the VIP, has none" "$(hs_of B "${PUB[rp]}")" 0
	check "$tag: rp got A's packets from the VIP" test "$(ctr rp ha a_vip)" -gt 0
	eq "$tag: rp got nothing from A's own address" "$(ctr rp ha a_other)" 0
	eq "$tag: rp got nothing from B while the VIP was on A" \
		"$(($(ctr rp ha b_vip) + $(ctr rp ha b_other)))" 0
	check "$tag: B logged [bind-absent] while the VIP was away" log_has B '\[bind-absent\]'
	# Failover: VIP off A, onto B, announced as a VRRP daemon does.
	ipr A addr del "$VIP/24" dev u0
	a0=$(($(ctr rp ha a_vip) + $(ctr rp ha a_other)))
	ipr B addr add "$VIP/24" dev u0
	garp B u0 "$VIP" || fail "$tag: gratuitous ARP from B"
	t0=$SECONDS
	check "$tag: B handshakes with rp within 15 s of the move" hs_within B "${PUB[rp]}" 15 0
	hb=$((SECONDS - t0))
	log "   B's handshake came $hb s after the move"
	check "$tag: rp pings the pair's tunnel address (via B)" ping_ok rp "$HA_T"
	eq "$tag: rp sees the pair at the VIP" "$(peer_field rp "${PUB[A]}" endpoint)" "$VIP:$RP_PORT"
	check "$tag: A, without the VIP, cannot reach rp" ping_fails A "$RPT"
	check "$tag: A logged [bind-absent]" log_has A 'WARNING: .*\[bind-absent\]'
	a1=$(($(ctr rp ha a_vip) + $(ctr rp ha a_other)))
	eq "$tag: packets rp got from A since the VIP left it" $((a1 - a0)) 0
	eq "$tag: packets rp ever got from A's own address" "$(ctr rp ha a_other)" 0
	check "$tag: rp got B's packets from the VIP" test "$(ctr rp ha b_vip)" -gt 0
	eq "$tag: rp got nothing from B's own address" "$(ctr rp ha b_other)" 0
	pair_down
}

# --- default-route bootstrap loop ------------------------------------------

CL_T=10.9.0.2
SRV_T=10.9.0.1

# loop_topology: cl (wgd, wg0) -- gw -- srv (REF); cl keeps `default via gw
# dev wan0` and routes 0/1 and 128/1 into wg0, where allowed-ips 0.0.0.0/0
# leads to srv. cl counts its own UDP to srv's port by output interface.
loop_topology()
{
	node_add cl
	node_add gw
	node_add srv
	link_named cl wan0 gw lan
	link_named gw ul srv u0
	addrs cl wan0 198.51.100.2/24
	addrs gw lan 198.51.100.1/24
	addrs gw ul 203.0.113.1/24
	addrs srv u0 203.0.113.2/24
	forwarding gw
	ipr cl route add default via 198.51.100.1 dev wan0
	ipr srv route add default via 203.0.113.1
	nsx cl nft -f - <<-NFT || die "nft in cl"
		table inet loop {
			counter tunnel {}
			counter wan {}
			chain out {
				type filter hook output priority 0; policy accept;
				udp dport $RP_PORT oifname "wg0" counter name "tunnel"
				udp dport $RP_PORT oifname "wan0" counter name "wan"
			}
		}
	NFT
	keygen cl
	keygen srv
	daemon_start cl wgd wg0
	daemon_start srv "$REF" wgsrv
	wgx srv set wgsrv private-key "$T_STATE/srv.key" listen-port "$RP_PORT" peer "${PUB[cl]}" \
		allowed-ips "$CL_T/32" && addrs srv wgsrv "$SRV_T/24" || die "cannot configure srv"
	wgx cl set wg0 private-key "$T_STATE/cl.key" listen-port "$FW_PORT" peer "${PUB[srv]}" \
		allowed-ips 0.0.0.0/0 endpoint "203.0.113.2:$RP_PORT" && addrs cl wg0 "$CL_T/24" &&
		nsx cl ip route add 0.0.0.0/1 dev wg0 && nsx cl ip route add 128.0.0.0/1 dev wg0 ||
		die "cannot configure wg0 in cl"
}

test_bootstrap_loop()
{
	local tag="bootstrap loop" t0 t1 w0 w1 rx0 rx1
	T_CASE_FAILS=0
	loop_topology
	t0=$(ctr cl loop tunnel)
	check "$tag, no option: no handshake in 7 s" not hs_within cl "${PUB[srv]}" 7 0 "$SRV_T"
	t1=$(ctr cl loop tunnel)
	check "$tag, no option: the UDP to srv went into wg0 (+$((t1 - t0)))" test $((t1 - t0)) -gt 0
	eq "$tag, no option: none left through wan0" "$(ctr cl loop wan)" 0
	check "$tag: wgd set wg0 peer SRV egress wan0 exits 0" wgdx cl set wg0 peer "${PUB[srv]}" egress wan0
	t0=$(ctr cl loop tunnel)
	check "$tag, egress wan0: handshake within 12 s" hs_within cl "${PUB[srv]}" 12 0 "$SRV_T"
	check "$tag, egress wan0: ping srv's tunnel address" ping_ok cl "$SRV_T"
	# srv's underlay address is routed by 0/1 too: through the tunnel.
	rx0=$(peer_field srv "${PUB[cl]}" transfer-rx)
	check "$tag, egress wan0: ping srv's underlay address through the tunnel" ping_ok cl 203.0.113.2
	rx1=$(peer_field srv "${PUB[cl]}" transfer-rx)
	check "$tag, egress wan0: srv received it in the tunnel (+$((rx1 - rx0)) B)" test $((rx1 - rx0)) -ge 300
	t1=$(ctr cl loop tunnel)
	eq "$tag, egress wan0: UDP to srv into wg0 since the option" $((t1 - t0)) 0
	check "$tag, egress wan0: UDP to srv through wan0" test "$(ctr cl loop wan)" -gt 0
	pair_down
}

# --- stock tools on a device with the extensions set ------------------------

# uapi_req NODE REQUEST: the raw UAPI reply to REQUEST (text, \n escapes
# allowed) from the node's device, read up to its errno line and the blank
# line after it.
uapi_req()
{
	nsx "$1" python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode().decode("unicode_escape").encode())
buf = b""
while not (buf.startswith(b"errno=") or b"\nerrno=" in buf) or not buf.endswith(b"\n\n"):
    d = s.recv(65536)
    if not d:
        break
    buf += d
sys.stdout.write(buf.decode())' "/run/wireguard/${IFACE[$1]}.sock" "$2"
}

# uapi_get NODE: the raw UAPI get of the node's device.
uapi_get() { uapi_req "$1" 'get=1\n\n'; }

# get_has NODE LINE: the raw get has exactly this line.
get_has() { uapi_get "$1" | grep -qxF -- "$2"; }

# get_lacks NODE KEY: the raw get answered (errno=0, a peer) without KEY=.
get_lacks()
{
	local out
	out=$(uapi_get "$1") || return 1
	grep -qx 'errno=0' <<<"$out" && grep -q '^public_key=' <<<"$out" && ! grep -q "^$2=" <<<"$out"
}

# wgctrl_ok NODE: wgctrl-read's JSON of a's device holds its key and port,
# and b with its endpoint, allowed ips and a handshake.
wgctrl_ok()
{
	local out
	out=$(nsx a "$WGCTRL_READ" "${IFACE[a]}") || return 1
	python3 - "$out" "${PUB[a]}" "${PORT[a]}" "${PUB[b]}" "$(endpoint_of b 4)" "$(t4 b)/32,$(t6 b)/128" <<-'PY'
		import json, sys
		d = json.loads(sys.argv[1])
		pub, port, peer, ep, ips = sys.argv[2:7]
		p = [x for x in d["peers"] if x["public_key"] == peer]
		ok = (d["public_key"] == pub and d["listen_port"] == int(port) and len(d["peers"]) == 1
		      and len(p) == 1 and p[0]["endpoint"] == ep
		      and sorted(p[0]["allowed_ips"]) == sorted(ips.split(","))
		      and p[0]["last_handshake_unix"] > 0)
		print("   wgctrl-read: " + json.dumps(d, sort_keys=True).replace("\n", " ")[:400])
		sys.exit(0 if ok else 1)
	PY
}

# showconf_ok: `wg showconf` of a: its port, b's key, endpoint, allowed ips.
showconf_ok()
{
	local out
	out=$(wgx a showconf "${IFACE[a]}") || return 1
	grep -qxF "ListenPort = ${PORT[a]}" <<<"$out" && grep -qxF "PublicKey = ${PUB[b]}" <<<"$out" &&
		grep -qxF "Endpoint = $(endpoint_of b 4)" <<<"$out" &&
		grep -qxF "AllowedIPs = $(t4 b)/32, $(t6 b)/128" <<<"$out"
}

# refused_naming NODE KEY ARGS...: `wgd ARGS` exits non-zero and its
# message names KEY.
refused_naming()
{
	local node=$1 key=$2 out
	shift 2
	! out=$(wgdx "$node" "$@" 2>&1) && grep -qF "$key" <<<"$out"
}

test_stock_read()
{
	local tag="stock tools" bind src conf
	pair_up wgd "$REF" 4 both
	bind="$(u4 a),$(u6 a)"
	src=$(u4 a)
	check "$tag: wgd set bind $bind peer B source $src egress u0 exits 0" \
		wgdx a set "${IFACE[a]}" bind "$bind" peer "${PUB[b]}" source "$src" egress u0
	check "$tag: get carries wgd_bind=$bind" get_has a "wgd_bind=$bind"
	check "$tag: get carries wgd_source=$src" get_has a "wgd_source=$src"
	check "$tag: get carries wgd_egress=u0" get_has a "wgd_egress=u0"
	check "$tag: ping a -> b with the settings" ping_ok a "$(t4 b)"
	check "$tag: ping b -> a (IPv6 inside)" ping_ok b "$(t6 a)"
	check "$tag: wg show exits 0" quiet wgx a show "${IFACE[a]}"
	eq "$tag: wg show: listen port" "$(iface_field a listen-port)" "${PORT[a]}"
	eq "$tag: wg show: public key" "$(iface_field a public-key)" "${PUB[a]}"
	eq "$tag: wg show: b's endpoint" "$(peer_field a "${PUB[b]}" endpoint)" "$(endpoint_of b 4)"
	eq "$tag: wg show: b's allowed ips" "$(peer_field a "${PUB[b]}" allowed-ips)" "$(t4 b)/32,$(t6 b)/128"
	check "$tag: wg show: b's latest handshake" test "$(hs_of a "${PUB[b]}")" -gt 0
	check "$tag: wg showconf: exit 0, port, key, endpoint, allowed ips" showconf_ok
	if [ -x "$WGCTRL_READ" ]; then
		check "$tag: wgctrl-go (wgctrl-read) reads the device" wgctrl_ok a
	else
		fail "$tag: $WGCTRL_READ is missing (run scripts/setup.sh)"
	fi
	check "$tag: wgd show names bind, egress" show_has a "${IFACE[a]}" "$bind,u0"
	log "   wgd show: $(wgdx a show "${IFACE[a]}" | tr '\n' '|')"
	conf=$T_STATE/a.conf
	wgx a showconf "${IFACE[a]}" >"$conf" || fail "$tag: wg showconf"
	check "$tag: wg syncconf exits 0" wgx a syncconf "${IFACE[a]}" "$conf"
	check "$tag: after syncconf: wgd_source kept" get_has a "wgd_source=$src"
	check "$tag: after syncconf: wgd_egress kept" get_has a "wgd_egress=u0"
	check "$tag: after syncconf: wgd_bind kept" get_has a "wgd_bind=$bind"
	check "$tag: wg setconf exits 0" wgx a setconf "${IFACE[a]}" "$conf"
	check "$tag: after setconf: wgd_source gone" get_lacks a wgd_source
	check "$tag: after setconf: wgd_egress gone" get_lacks a wgd_egress
	check "$tag: after setconf: wgd_bind kept" get_has a "wgd_bind=$bind"
	check "$tag: after setconf: wgd show still names the bind" show_has a "${IFACE[a]}" "$bind"
	check "$tag: after setconf: ping a -> b" ping_ok a "$(t4 b)"
	check "$tag: wgd set bind none exits 0" wgdx a set "${IFACE[a]}" bind none
	check "$tag: after bind none: no wgd_bind in get" get_lacks a wgd_bind
	check "$tag: two IPv4 bind addresses refused" not quiet wgdx a set "${IFACE[a]}" bind "$(u4 a),192.0.2.9"
	check "$tag: wgd set peer B source $src exits 0" wgdx a set "${IFACE[a]}" peer "${PUB[b]}" source "$src"
	check "$tag: a bind address B's source differs from is refused, naming B" \
		refused_naming a "${PUB[b]}" set "${IFACE[a]}" bind 192.0.2.9
	eq "$tag: the daemon refuses it too (raw set)" \
		"$(uapi_req a 'set=1\nwgd_bind=192.0.2.9\n\n')" "errno=-22"
	check "$tag: after the refusals: no wgd_bind in get" get_lacks a wgd_bind
	check "$tag: bind with B's source cleared in the same command exits 0" \
		wgdx a set "${IFACE[a]}" bind 192.0.2.9 peer "${PUB[b]}" source none
	check "$tag: wgd set bind none exits 0" wgdx a set "${IFACE[a]}" bind none
	check "$tag: after bind none: ping a -> b" ping_ok a "$(t4 b)"
	pair_down
}

# --- refusals: absent addresses and interfaces ------------------------------

# at_b: UDP datagrams b received on its WireGuard port (nft counter).
at_b() { ctr b absent froma; }

# log_lines NODE: lines in the node's daemon log so far.
log_lines() { wc -l <"$(dlog "$1")"; }

# refused TAG CODE: for 6 s (longer than a handshake retry), tunnel
# traffic from a to b gets no reply and puts no datagram on the wire to b,
# and a's log shows a WARNING with [CODE] since the start.
refused()
{
	local tag=$1 code=$2 c0 l0 end replies=0
	c0=$(at_b)
	l0=$(log_lines a)
	end=$((SECONDS + 6))
	while [ $SECONDS -lt $end ]; do
		nsx a ping -n -q -c 1 -W 1 "$(t4 b)" >/dev/null 2>&1 && replies=$((replies + 1))
	done
	eq "$tag: ping replies" "$replies" 0
	eq "$tag: datagrams b received" $(($(at_b) - c0)) 0
	check "$tag: a logged a WARNING with [$code]" \
		sh -c 'tail -n +$(($2 + 1)) "$1" | grep -Eq "WARNING: peer .*: not sent to .*: \[$3\] "' _ "$(dlog a)" "$l0" "$code"
}

# set_ep UL: a's endpoint for b in family UL.
set_ep() { wgx a set "${IFACE[a]}" peer "${PUB[b]}" endpoint "$(endpoint_of b "$1")" || die "endpoint"; }

test_absent()
{
	local tag d0tx
	pair_up wgd "$REF" 4 a
	nsx b nft -f - <<-NFT || die "nft in b"
		table inet absent {
			counter froma {}
			chain in {
				type filter hook input priority 0; policy accept;
				udp dport ${PORT[b]} counter name "froma"
			}
		}
	NFT
	tag="absent bind address"
	check "$tag: wgd set bind 192.0.2.77,2001:db8:1::77 (not on the host) exits 0" \
		wgdx a set "${IFACE[a]}" bind 192.0.2.77,2001:db8:1::77
	refused "$tag, IPv4 endpoint" bind-absent
	set_ep 6
	refused "$tag, IPv6 endpoint" bind-absent
	ipr a addr add 2001:db8:1::77/64 dev u0 nodad
	check "$tag: IPv6 address added: handshake within 12 s, no reconfiguration" \
		hs_within a "${PUB[b]}" 12 0 "$(t4 b)"
	eq "$tag: b sees a at the bind address" "$(peer_field b "${PUB[a]}" endpoint)" "[2001:db8:1::77]:${PORT[a]}"
	set_ep 4
	ipr a addr add 192.0.2.77/24 dev u0
	check "$tag: IPv4 address added: ping" ping_ok a "$(t4 b)"
	eq "$tag: b sees a at the IPv4 bind address" "$(peer_field b "${PUB[a]}" endpoint)" "192.0.2.77:${PORT[a]}"
	check "$tag: wgd set bind none exits 0" wgdx a set "${IFACE[a]}" bind none

	tag="absent source address"
	check "$tag: wgd set peer B source 192.0.2.78,2001:db8:1::78 exits 0" \
		wgdx a set "${IFACE[a]}" peer "${PUB[b]}" source 192.0.2.78,2001:db8:1::78
	refused "$tag, IPv4 endpoint" source-absent
	set_ep 6
	refused "$tag, IPv6 endpoint" source-absent
	set_ep 4
	check "$tag: wgd set peer B source none exits 0" wgdx a set "${IFACE[a]}" peer "${PUB[b]}" source none
	check "$tag: source none: ping" ping_ok a "$(t4 b)"

	tag="absent egress interface"
	check "$tag: wgd set peer B egress u9 exits 0" wgdx a set "${IFACE[a]}" peer "${PUB[b]}" egress u9
	refused "$tag, IPv4 endpoint" egress-absent
	# u0 becomes u9: the interface appears, traffic resumes unchanged.
	ipr a link set u0 down
	ipr a link set u0 name u9
	ipr a link set u9 up
	ipr a route replace 192.0.2.0/24 dev u9
	check "$tag: u9 appears: a ping gets through within 15 s" ping_within a "$(t4 b)" 15
	# Renamed away, u9 is gone for the peer (the interface index it was
	# found at now names u7); renamed back, it is used again.
	ipr a link set u9 down
	ipr a link set u9 name u7
	ipr a link set u7 up
	ipr a route replace 192.0.2.0/24 dev u7
	refused "$tag, u9 renamed to u7" egress-absent
	ipr a link set u7 down
	ipr a link set u7 name u9
	ipr a link set u9 up
	ipr a route replace 192.0.2.0/24 dev u9
	check "$tag: u9 back: a ping gets through within 15 s" ping_within a "$(t4 b)" 15

	tag="egress without a route"
	ipr a link add d0 type veth peer name d1
	ipr a link set d1 up
	ipr a link set d0 up
	check "$tag: wgd set peer B egress d0 exits 0" wgdx a set "${IFACE[a]}" peer "${PUB[b]}" egress d0
	d0tx=$(nsx a cat /sys/class/net/d0/statistics/tx_packets)
	refused "$tag, IPv4 endpoint" egress-unreachable
	log "   d0 tx_packets meanwhile: +$(($(nsx a cat /sys/class/net/d0/statistics/tx_packets) - d0tx)) (ARP of the kernel's on-link guess)"
	set_ep 6
	refused "$tag, IPv6 endpoint" egress-unreachable
	pair_down
}

lib_init
command -v nft >/dev/null || die "missing tool: nft (run scripts/setup.sh)"
run_tests test_two_wan test_ha_vip test_bootstrap_loop test_stock_read test_absent
