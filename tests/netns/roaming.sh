#!/usr/bin/env bash
# Endpoint roaming, listen-port and private-key changes, and the inbound
# allowed-ips (source) check, for wgd (node a) against a reference peer
# (node b, WGDT_REF, default the newest wireguard-go).
. "$(dirname "$0")/lib.sh"

REF=${WGDT_REF:-wggo-latest}
ROAM_BYTES=${WGDT_ROAM_BYTES:-3000000}
# Paced sender: 64 KiB every 50 ms, so the transfer spans the address move.
PACER='python3 -u -c "import sys,time
r=sys.stdin.buffer.read;w=sys.stdout.buffer.write
for b in iter(lambda: r(65536), b\"\"): w(b); sys.stdout.buffer.flush(); time.sleep(0.05)"'

# roam MOVER UL: MOVER changes its underlay address 1.5 s into a paced TCP
# transfer it sends; the transfer completes and the other side follows.
roam()
{
	local m=$1 ul=$2 o tag mv want
	o=$([ "$m" = a ] && echo b || echo a)
	tag="roam: ${IMPL[$m]:-} in $m moves (IPv$ul underlay)"
	check "$tag: ping before" ping_ok a "$(t4 b)"
	check "$tag: ping back before" ping_ok b "$(t4 a)"
	# The move runs in a subshell: UHOST is updated again here afterwards.
	(sleep 1.5 && move_addr "$m" "$ul" $((IDX[$m] + 10))) &
	mv=$!
	check "$tag: paced TCP $ROAM_BYTES B across the move, sha256" \
		xfer "$m" "$o" "$(t4 "$o")" "$ROAM_BYTES" "$PACER"
	wait "$mv" || fail "$tag: could not move the address"
	UHOST[$m]=$((IDX[$m] + 10))
	want=$(endpoint_of "$m" "$ul")
	eq "$tag: ${IMPL[$o]} follows to the new endpoint" "$(peer_field "$o" "${PUB[$m]}" endpoint)" "$want"
	check "$tag: ping from the other side after" ping_ok "$o" "$(t6 "$m")"
}

test_roaming()
{
	local ul m
	for ul in 4 6; do
		for m in a b; do
			pair_up wgd "$REF" "$ul" a
			roam "$m" "$ul"
			pair_down
		done
	done
}

# listen_port NODE: NODE changes its port, sends first, the other follows.
listen_port()
{
	local n=$1 o tag
	o=$([ "$n" = a ] && echo b || echo a)
	tag="listen-port: ${IMPL[$n]} in $n changes port"
	PORT[$n]=$((PORT[$n] + 1000))
	wgx "$n" set "${IFACE[$n]}" listen-port "${PORT[$n]}"
	eq "$tag: new port shown" "$(iface_field "$n" listen-port)" "${PORT[$n]}"
	check "$tag: ping out from the new port" ping_ok "$n" "$(t4 "$o")"
	eq "$tag: ${IMPL[$o]} learned the new port" "$(peer_field "$o" "${PUB[$n]}" endpoint)" \
		"$(endpoint_of "$n" 4)"
	check "$tag: ping back to the new port" ping_ok "$o" "$(t6 "$n")"
}

test_listen_port()
{
	pair_up wgd "$REF" 4 both
	check "listen-port: ping before" ping_ok a "$(t4 b)"
	listen_port a
	listen_port b
	# After the peer roamed, a port change still works.
	move_addr b 4 22 || fail "listen-port: could not move b"
	check "listen-port: ping after b roamed" ping_ok b "$(t4 a)"
	listen_port a
	pair_down
}

# rekey NODE: NODE gets a new private key. Its old session must stop
# working (no traffic until the peer knows the new public key), then a new
# handshake brings the tunnel back.
rekey()
{
	local n=$1 o tag old hs0 hs1
	o=$([ "$n" = a ] && echo b || echo a)
	tag="private-key: ${IMPL[$n]} in $n changes key"
	check "$tag: ping before" ping_ok a "$(t4 b)"
	hs0=$(peer_field a "${PUB[b]}" latest-handshake)
	sleep 1.1
	old=${PUB[$n]}
	keygen "$n"
	wgx "$n" set "${IFACE[$n]}" private-key "$T_STATE/$n.key"
	eq "$tag: new public key shown" "$(iface_field "$n" public-key)" "${PUB[$n]}"
	check "$tag: old session no longer carries traffic" ping_fails "$n" "$(t4 "$o")"
	wgx "$o" set "${IFACE[$o]}" peer "$old" remove peer "${PUB[$n]}" \
		allowed-ips "$(t4 "$n")/32,$(t6 "$n")/128" endpoint "$(endpoint_of "$n" 4)"
	check "$tag: ping after the peer learned the new key" ping_ok "$n" "$(t4 "$o")"
	hs1=$(peer_field a "${PUB[b]}" latest-handshake)
	check "$tag: latest-handshake advanced ($hs0 -> $hs1)" test "$hs1" -gt "$hs0"
}

test_private_key()
{
	pair_up wgd "$REF" 4 both
	rekey a
	rekey b
	pair_down
}

# spoof FAMILY: b (reference) sends from an inner source outside a's
# allowed-ips for b. The packets reach a (its underlay rx_packets grows) and
# wgd authenticates them, but must not deliver them: the TUN's rx_packets
# stays put. The drop must show in wgd's rx counter (wireguard-go counts
# such packets) or in its log (the kernel does not count them).
spoof()
{
	local fam=$1 src dst tag rx0 rx1 tp0 tp1 up0 up1
	if [ "$fam" = 4 ]; then src=10.0.0.99/32 dst=$(t4 a); else src=fd00::99/128 dst=$(t6 a); fi
	tag="spoofed inner source $src -> $dst"
	tp0=$(tun_stat a rx_packets)
	check "$tag: legit ping first" ping_ok b "$dst"
	tp1=$(tun_stat a rx_packets)
	check "$tag: legit pings counted in a's TUN rx_packets ($tp0 -> $tp1)" test "$tp1" -gt "$tp0"
	nsx b ip addr add "$src" dev "${IFACE[b]}" nodad 2>/dev/null || nsx b ip addr add "$src" dev "${IFACE[b]}"
	sleep 0.3
	rx0=$(peer_field a "${PUB[b]}" transfer-rx)
	tp0=$(tun_stat a rx_packets)
	up0=$(nsx a cat /sys/class/net/u0/statistics/rx_packets)
	check "$tag: ping fails" ping_fails b "$dst" -I "${src%/*}"
	rx1=$(peer_field a "${PUB[b]}" transfer-rx)
	tp1=$(tun_stat a rx_packets)
	up1=$(nsx a cat /sys/class/net/u0/statistics/rx_packets)
	check "$tag: the packets reached a's underlay (+$((up1 - up0)) packets)" test $((up1 - up0)) -ge 3
	eq "$tag: nothing delivered to a's TUN (rx_packets)" "$tp1" "$tp0"
	if [ $((rx1 - rx0)) -ge 96 ]; then
		pass "$tag: drop visible in wgd's rx counter (+$((rx1 - rx0)) B)"
	elif grep -q "${src%/*}" "$(dlog a)"; then
		pass "$tag: drop visible in the log: $(grep -m1 "${src%/*}" "$(dlog a)")"
	else
		fail "$tag: drop neither counted (rx +$((rx1 - rx0)) B) nor logged"
	fi
	nsx b ip addr del "$src" dev "${IFACE[b]}"
	check "$tag: legit ping still works" ping_ok b "$dst"
}

test_spoof()
{
	pair_up wgd "$REF" 4 both
	spoof 4
	spoof 6
	pair_down
}

lib_init
run_tests test_roaming test_listen_port test_private_key test_spoof
