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

lib_init
command -v nft >/dev/null || die "missing tool: nft (run scripts/setup.sh)"
run_tests test_two_wan
