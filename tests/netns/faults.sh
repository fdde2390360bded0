#!/usr/bin/env bash
# Faults on the path between wgd (node a) and a reference peer (node b,
# WGDT_REF, default the newest wireguard-go):
#  - an impaired underlay (tests/tools/impair.py, a user-space wire that
#    stands in for netem, which these kernels may lack): 10% loss; 25%
#    reordering; 25% duplication; all three at once. TCP transfers arrive
#    intact (sha256); a sequence-checked UDP stream shows reordered packets
#    inside the replay window accepted (none missing, but for drops a kernel
#    on the path counted, which a loaded machine can cause; wgd rejected
#    none as replays) and duplicates dropped
#    (none delivered twice, ping shows no DUP!, wgd counts them as replays);
#  - NAT (node n masquerades, UDP conntrack timeout 5 s) with either side
#    behind it: persistent keepalive keeps the mapping through 12 idle
#    seconds; after the mapping expired and the NAT moved to another port
#    range, the keepalive from the new port makes the public side roam;
#  - a daemon killed (SIGKILL) and restarted with the same configuration:
#    the tunnel is back on the restarted side's next packet (one handshake),
#    or, when the survivor sends first, after KEEPALIVE + REKEY_TIMEOUT;
#  - the underlay link down for 2 s under a paced TCP transfer.
# wgd logs at debug level, so it dumps its drop counters when it stops.
#
# Env: WGDT_REF, WGDT_ONLY (test function names), WGDT_FAULT_BYTES (TCP
# transfer size through the wire, default 10000000).
. "$(dirname "$0")/lib.sh"

REF=${WGDT_REF:-wggo-latest}
FBYTES=${WGDT_FAULT_BYTES:-10000000}
PACER='python3 -u -c "import sys,time
r=sys.stdin.buffer.read;w=sys.stdout.buffer.write
for b in iter(lambda: r(65536), b\"\"): w(b); sys.stdout.buffer.flush(); time.sleep(0.05)"'
WGDT_LOG_LEVEL=debug

# wire_pair [impair.py options]: wgd in a, REF in b, over an impaired
# wire; both know each other's endpoint.
wire_pair()
{
	T_CASE_FAILS=0
	node_add a
	node_add b
	wire_up a b "$@"
	PORT[a]=51821
	PORT[b]=51822
	keygen a
	keygen b
	daemon_start a wgd
	daemon_start b "$REF"
	wg_config a b 4 1
	wg_config b a 4 1
	tunnel_addrs a
	tunnel_addrs b
}

# --- impaired underlay ---------------------------------------------------------

test_loss()
{
	local tag="loss 10%"
	log "-- $tag"
	wire_pair --loss 10 --seed 11
	check "$tag: ping a -> b" ping_ok a "$(t4 b)"
	check "$tag: TCP $FBYTES B a -> b, sha256" xfer a b "$(t4 b)" "$FBYTES"
	check "$tag: TCP $FBYTES B b -> a, sha256" xfer b a "$(t4 a)" "$FBYTES"
	wire_down
	check "$tag: the wire did drop packets" test "$(wire_count b2a dropped)" -gt 0
	pair_down
}

test_reorder()
{
	local tag="reorder 25% by 20 ms" out=$T_LOGDIR/seq-reorder vlog
	log "-- $tag"
	wire_pair --reorder 25 --delay 20 --seed 12
	vlog=$(dlog a)
	check "$tag: ping a -> b" ping_ok a "$(t4 b)"
	seq_stream b a "$(t4 a)" 4000 1000 "$out"
	seq_intact "$tag: b -> a stream (reordered within the window accepted)" "$out"
	check "$tag: b -> a stream arrived reordered ($(seq_field "$out" reordered) late)" \
		test "$(seq_field "$out" reordered)" -gt 0
	seq_stream a b "$(t4 b)" 2000 1000 "$out.ab"
	seq_intact "$tag: a -> b stream" "$out.ab"
	check "$tag: TCP $FBYTES B b -> a, sha256" xfer b a "$(t4 a)" "$FBYTES"
	wire_down
	pair_down
	eq "$tag: wgd rejected nothing as a replay" "$(wgd_counter "$vlog" data_replayed)" 0
}

test_duplicate()
{
	local tag="duplicate 25%" out=$T_LOGDIR/seq-dup vlog pout rep dups
	log "-- $tag"
	wire_pair --dup 25 --seed 13
	vlog=$(dlog a)
	check "$tag: ping a -> b" ping_ok a "$(t4 b)"
	seq_stream b a "$(t4 a)" 3000 1000 "$out"
	eq "$tag: b -> a stream, no duplicate delivered" "$(seq_field "$out" duplicates)" 0
	seq_intact "$tag: b -> a stream" "$out"
	pout=$(nsx a ping -n -c 40 -i 0.05 "$(t4 b)" 2>&1)
	eq "$tag: ping a -> b: no DUP! reply" "$(grep -c 'DUP!' <<<"$pout")" 0
	check "$tag: ping a -> b: 40 of 40 replies" grep -q ' 40 received' <<<"$pout"
	wire_down
	pair_down
	rep=$(wgd_counter "$vlog" data_replayed)
	dups=$(wire_count b2a duplicated)
	log "   wire duplicated $dups b->a packets; wgd counted $rep data replays"
	check "$tag: wgd dropped duplicates as replays ($rep of $dups)" test "$rep" -gt 0 -a "$rep" -le "$dups"
}

test_combined()
{
	local tag="loss 10% + reorder 25% + duplicate 10%" out=$T_LOGDIR/seq-all vlog
	log "-- $tag"
	wire_pair --loss 10 --reorder 25 --delay 10 --dup 10 --seed 14
	vlog=$(dlog a)
	check "$tag: ping a -> b" ping_ok a "$(t4 b)"
	check "$tag: TCP $FBYTES B a -> b, sha256" xfer a b "$(t4 b)" "$FBYTES"
	check "$tag: TCP $FBYTES B b -> a, sha256" xfer b a "$(t4 a)" "$FBYTES"
	seq_stream b a "$(t4 a)" 3000 1000 "$out"
	eq "$tag: b -> a stream, no duplicate delivered" "$(seq_field "$out" duplicates)" 0
	check "$tag: b -> a stream, loss near the wire's ($(seq_field "$out" missing) of 3000 missing)" \
		test "$(seq_field "$out" missing)" -le 600
	wire_down
	pair_down
	log "   wgd: $(wgd_counter "$vlog" data_replayed) data replays dropped, wire b->a: $(wire_count b2a dropped) dropped, $(wire_count b2a duplicated) duplicated, $(wire_count b2a delayed) delayed"
}

# --- NAT ---------------------------------------------------------------------

# nat_pair INNER_IMPL PUBLIC_IMPL: node i behind NAT node n (masquerade,
# conntrack UDP timeouts 5 s) from node o, the public side; i knows o's
# endpoint and keeps the mapping with a 2 s persistent keepalive.
nat_pair()
{
	T_CASE_FAILS=0
	node_add i
	node_add o
	node_add n
	link_named i u0 n in0
	link_named n out0 o u0
	nsx i ip addr add 10.99.0.2/24 dev u0 && nsx i ip route add default via 10.99.0.1 &&
		nsx n ip addr add 10.99.0.1/24 dev in0 &&
		nsx n ip addr add 192.0.2.254/24 dev out0 &&
		nsx o ip addr add "$(u4 o)/24" dev u0 || die "cannot address the NAT topology"
	nsx n sysctl -qw net.ipv4.ip_forward=1 net.netfilter.nf_conntrack_udp_timeout=5 \
		net.netfilter.nf_conntrack_udp_timeout_stream=5 || die "cannot set up forwarding in n"
	nat_rule masquerade
	PORT[i]=51821
	PORT[o]=51822
	keygen i
	keygen o
	daemon_start i "$1"
	daemon_start o "$2"
	wg_config i o 4 1
	wg_config o i 4 0
	wgx i set "${IFACE[i]}" peer "${PUB[o]}" persistent-keepalive 2
	tunnel_addrs i
	tunnel_addrs o
}

# nat_rule RULE: n's only postrouting rule (masquerade [to :PORTS]).
nat_rule()
{
	nsx n nft delete table ip wgdt 2>/dev/null
	nsx n nft -f - <<EOF || die "nft failed in n"
table ip wgdt {
	chain post {
		type nat hook postrouting priority srcnat;
		oifname "out0" $1
	}
}
EOF
}

# nat_case INNER PUBLIC
nat_case()
{
	local tag="NAT: $1 behind it, $2 public" ep0 ep1 k
	log "-- $tag"
	nat_pair "$1" "$2"
	check "$tag: ping inner -> public" ping_ok i "$(t4 o)"
	ep0=$(peer_field o "${PUB[i]}" endpoint)
	check "$tag: public side sees the NAT's address ($ep0)" test "${ep0%:*}" = 192.0.2.254
	sleep 12
	check "$tag: after 12 s idle (UDP timeout 5 s), ping public -> inner: keepalive kept the mapping" \
		ping_ok o "$(t4 i)"
	# Rebinding: the mapping expires (keepalive off, no traffic), the NAT
	# moves to another port range; the keepalive resumes from a new port.
	wgx i set "${IFACE[i]}" peer "${PUB[o]}" persistent-keepalive 0
	sleep 8
	check "$tag: mapping expired without keepalive: public -> inner fails" ping_fails o "$(t4 i)"
	nat_rule 'meta l4proto udp masquerade to :40000-40999'
	wgx i set "${IFACE[i]}" peer "${PUB[o]}" persistent-keepalive 2
	for k in $(seq 60); do
		ep1=$(peer_field o "${PUB[i]}" endpoint)
		[ "$ep1" != "$ep0" ] && break
		sleep 0.1
	done
	check "$tag: public side roamed to the new NAT port ($ep0 -> $ep1)" \
		test "${ep1%:*}" = 192.0.2.254 -a "${ep1##*:}" -ge 40000 -a "${ep1##*:}" -le 40999
	check "$tag: ping public -> inner after the rebinding" ping_ok o "$(t4 i)"
	pair_down
}

test_nat()
{
	nat_case wgd "$REF"
	nat_case "$REF" wgd
}

# --- restart -------------------------------------------------------------------

# restart NODE: SIGKILL, then the same daemon and configuration again.
restart()
{
	local n=$1 o
	o=$([ "$n" = a ] && echo b || echo a)
	daemon_kill "$n" || fail "restart: the TUN device of $n outlived its daemon"
	daemon_start "$n" "${IMPL[$n]}"
	wg_config "$n" "$o" 4 1
	tunnel_addrs "$n"
}

# back_within NODE DST LIMIT: pings until a reply; true if one came within
# LIMIT seconds; the time in BACK.
back_within()
{
	local t0 i
	t0=$(date +%s)
	BACK=none
	for i in $(seq $(($3 + 5))); do
		if nsx "$1" ping -n -q -c 1 -W 1 "$2" >/dev/null 2>&1; then
			BACK=$(($(date +%s) - t0))
			break
		fi
	done
	[ "$BACK" != none ] && [ "$BACK" -le "$3" ]
}

test_restart()
{
	local tag n first o
	pair_up wgd "$REF" 4 both
	check "restart: ping before" ping_ok a "$(t4 b)"
	for n in a b; do
		for first in restarted survivor; do
			o=$([ "$n" = a ] && echo b || echo a)
			tag="restart: ${IMPL[$n]} killed and restarted, $first sends first"
			restart "$n"
			if [ "$first" = restarted ]; then
				check "$tag: back within REKEY_TIMEOUT" back_within "$n" "$(t4 "$o")" 5
			else
				check "$tag: back within KEEPALIVE + REKEY_TIMEOUT + 5 s" \
					back_within "$o" "$(t4 "$n")" 20
			fi
			log "   back after $BACK s"
			check "$tag: ping both ways" ping_ok "$o" "$(t6 "$n")"
			check "$tag: ping both ways" ping_ok "$n" "$(t6 "$o")"
		done
	done
	pair_down
}

# --- link down/up ----------------------------------------------------------------

test_link_flap()
{
	local tag="underlay u0 of wgd down 2 s" fl
	log "-- $tag"
	pair_up wgd "$REF" 4 both
	check "$tag: ping before" ping_ok a "$(t4 b)"
	(sleep 1 && nsx a ip link set u0 down && sleep 2 && nsx a ip link set u0 up) &
	fl=$!
	check "$tag: paced TCP 4000000 B a -> b across the flap, sha256" \
		xfer a b "$(t4 b)" 4000000 "$PACER"
	wait "$fl" || fail "$tag: could not flap the link"
	check "$tag: wgd alive" daemon_alive a
	check "$tag: ping a -> b after" ping_ok a "$(t4 b)"
	check "$tag: ping b -> a after" ping_ok b "$(t6 a)"
	pair_down
}

lib_init
run_tests test_loss test_reorder test_duplicate test_combined test_nat test_restart test_link_flap
