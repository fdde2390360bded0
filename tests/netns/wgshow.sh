#!/usr/bin/env bash
# What `wg show`, `wg show dump` and `wg showconf` report for wgd (node a),
# against a reference peer (node b, WGDT_REF, default the newest
# wireguard-go): keys, port, fwmark, endpoint, allowed ips, preshared key,
# latest handshake, transfer counters (growing, consistent with the bytes
# sent and with what the peer counts), persistent keepalive (shown and
# actually sent), and showconf -> setconf -> showconf being identical.
. "$(dirname "$0")/lib.sh"

REF=${WGDT_REF:-wggo-latest}
N=2000000 # bytes per counter transfer

sorted_csv() { tr ',' '\n' | sort | paste -sd, -; }
# within LO X HI
within() { [ "$2" -ge "$1" ] && [ "$2" -le "$3" ]; }

pretty_ok()
{
	local out
	out=$(wgx a show "${IFACE[a]}")
	grep -Eq 'latest handshake: (Now|.* ago)' <<<"$out" && grep -q 'transfer: .*received, .*sent' <<<"$out"
}

test_fields()
{
	local now hs
	eq "public-key" "$(iface_field a public-key)" "${PUB[a]}"
	eq "private-key" "$(iface_field a private-key)" "$(cat "$T_STATE/a.key")"
	eq "listen-port" "$(iface_field a listen-port)" "${PORT[a]}"
	eq "fwmark off" "$(iface_field a fwmark)" off
	eq "endpoint" "$(peer_field a "${PUB[b]}" endpoint)" "$(endpoint_of b 4)"
	eq "allowed-ips" "$(peer_field a "${PUB[b]}" allowed-ips | sorted_csv)" "10.0.0.2/32,fd00::2/128"
	eq "preshared-key none" "$(peer_field a "${PUB[b]}" preshared-key)" "(none)"
	eq "persistent-keepalive off" "$(peer_field a "${PUB[b]}" persistent-keepalive)" off
	check "ping a->b" ping_ok a "$(t4 b)"
	now=$(date +%s)
	hs=$(peer_field a "${PUB[b]}" latest-handshake)
	check "latest-handshake within 5 s of now (hs=$hs now=$now)" within $((now - 5)) "$hs" $((now + 1))
	hs=$(peer_field b "${PUB[a]}" latest-handshake)
	check "reference also has a handshake with a (hs=$hs)" within $((now - 5)) "$hs" $((now + 1))
	check "wg show (pretty) lists handshake and transfer" pretty_ok
	eq "wg show listen-port" "$(wgx a show "${IFACE[a]}" listen-port)" "${PORT[a]}"
}

test_fwmark()
{
	wgx a set "${IFACE[a]}" fwmark 0x1234
	eq "fwmark set" "$(iface_field a fwmark)" 0x1234
	wgx a set "${IFACE[a]}" fwmark 0
	eq "fwmark cleared" "$(iface_field a fwmark)" off
}

test_counters()
{
	local atx0 arx0 brx0 btx0 atx1 arx1 brx1 btx1 dtx drx
	atx0=$(peer_field a "${PUB[b]}" transfer-tx)
	arx0=$(peer_field a "${PUB[b]}" transfer-rx)
	brx0=$(peer_field b "${PUB[a]}" transfer-rx)
	check "TCP $N B a->b" xfer a b "$(t4 b)" "$N"
	sleep 0.5
	atx1=$(peer_field a "${PUB[b]}" transfer-tx)
	arx1=$(peer_field a "${PUB[b]}" transfer-rx)
	brx1=$(peer_field b "${PUB[a]}" transfer-rx)
	dtx=$((atx1 - atx0))
	log "   a tx +$dtx, a rx +$((arx1 - arx0)), b rx +$((brx1 - brx0)) for $N B of payload"
	check "a transfer-tx grew by payload..payload+15% ($dtx)" within "$N" "$dtx" $((N * 115 / 100))
	check "a transfer-rx grew (acks) but less than tx" within 1 $((arx1 - arx0)) "$dtx"
	drx=$((brx1 - brx0))
	check "peer's rx ($drx) matches a's tx ($dtx) within 1%" within $((dtx * 99 / 100)) "$drx" $((dtx * 101 / 100 + 200))
	arx0=$arx1
	btx0=$(peer_field b "${PUB[a]}" transfer-tx)
	check "TCP $N B b->a" xfer b a "$(t4 a)" "$N"
	sleep 0.5
	arx1=$(peer_field a "${PUB[b]}" transfer-rx)
	btx1=$(peer_field b "${PUB[a]}" transfer-tx)
	drx=$((arx1 - arx0))
	log "   a rx +$drx, b tx +$((btx1 - btx0))"
	check "a transfer-rx grew by payload..payload+15% ($drx)" within "$N" "$drx" $((N * 115 / 100))
	check "a rx ($drx) matches peer's tx ($((btx1 - btx0))) within 1%" \
		within $(((btx1 - btx0) * 99 / 100)) "$drx" $(((btx1 - btx0) * 101 / 100 + 200))
}

test_keepalive()
{
	local r0 r1
	wgx a set "${IFACE[a]}" peer "${PUB[b]}" persistent-keepalive 1
	eq "persistent-keepalive shown" "$(peer_field a "${PUB[b]}" persistent-keepalive)" 1
	eq "wg show persistent-keepalive" "$(wgx a show "${IFACE[a]}" persistent-keepalive)" "${PUB[b]}	1"
	sleep 1.2
	r0=$(peer_field b "${PUB[a]}" transfer-rx)
	sleep 3.5
	r1=$(peer_field b "${PUB[a]}" transfer-rx)
	check "keepalives arrive at the peer while idle (+$((r1 - r0)) B in 3.5 s)" within 64 $((r1 - r0)) 1000
	wgx a set "${IFACE[a]}" peer "${PUB[b]}" persistent-keepalive 0
	eq "persistent-keepalive off again" "$(peer_field a "${PUB[b]}" persistent-keepalive)" off
}

test_psk()
{
	local psk
	psk=$(wg genpsk)
	echo "$psk" >"$T_STATE/psk"
	# Re-create the peers so the next session must come from a PSK handshake.
	wgx a set "${IFACE[a]}" peer "${PUB[b]}" remove
	wgx b set "${IFACE[b]}" peer "${PUB[a]}" remove
	eq "peer removed" "$(wgx a show "${IFACE[a]}" peers)" ""
	wgx a set "${IFACE[a]}" peer "${PUB[b]}" preshared-key "$T_STATE/psk" endpoint "$(endpoint_of b 4)" \
		allowed-ips "$(t4 b)/32,$(t6 b)/128"
	wgx b set "${IFACE[b]}" peer "${PUB[a]}" preshared-key "$T_STATE/psk" allowed-ips "$(t4 a)/32,$(t6 a)/128"
	eq "preshared-key shown" "$(peer_field a "${PUB[b]}" preshared-key)" "$psk"
	eq "re-added peer: no handshake yet" "$(peer_field a "${PUB[b]}" latest-handshake)" 0
	eq "re-added peer: counters zero" "$(peer_field a "${PUB[b]}" transfer-rx)/$(peer_field a "${PUB[b]}" transfer-tx)" 0/0
	check "ping a->b after a PSK handshake" ping_ok a "$(t4 b)"
	check "handshake happened" test "$(peer_field a "${PUB[b]}" latest-handshake)" -gt 0
}

test_showconf()
{
	local c1=$T_STATE/c1 c2=$T_STATE/c2 k
	k=$(wg genkey | wg pubkey)
	wgx a set "${IFACE[a]}" fwmark 0x51 peer "$k" allowed-ips 10.9.0.0/16,fd09::/48,10.8.1.0/24 \
		endpoint "[2001:db8:1::77]:4567" persistent-keepalive 33
	wgx a showconf "${IFACE[a]}" >"$c1"
	wgx a setconf "${IFACE[a]}" "$c1"
	check "setconf accepted showconf's output" test $? -eq 0
	wgx a showconf "${IFACE[a]}" >"$c2"
	if cmp -s "$c1" "$c2"; then
		pass "showconf -> setconf -> showconf identical"
	else
		fail "showconf -> setconf -> showconf differ:"
		diff "$c1" "$c2" | sed 's/^/    /'
	fi
	check "showconf has the second peer's keepalive" grep -q '^PersistentKeepalive = 33$' "$c1"
	check "showconf has the fwmark" grep -qi '^FwMark = 0x51$' "$c1"
	check "showconf has the IPv6 endpoint" grep -q '^Endpoint = \[2001:db8:1::77\]:4567$' "$c1"
}

all()
{
	pair_up wgd "$REF" 4 a
	test_fields
	test_fwmark
	test_counters
	test_keepalive
	test_psk
	test_showconf
	pair_down
}

lib_init
all
