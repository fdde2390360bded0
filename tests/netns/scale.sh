#!/usr/bin/env bash
# A hub with many peers (issue 7), correctness only (the timings are
# bench/scale.sh's). Node h runs wgd with WGDT_SCALE_N peers (default
# 100000; bench/scale_gen.py: each one /32 and one /128, half of them with
# an endpoint) set with stock `wg setconf`; one of them is the real client
# c (IMPL_UNDER_TEST too), the first WGDT_SCALE_STORM (default 2000) are
# real key pairs that tests/tools/wgstorm, in node s, uses for a handshake
# storm from WGDT_SCALE_SOURCES (default 4) source addresses (wgstorm -n).
#
#   - `wg show dump` lists exactly the configured peers, allowed ips and
#     endpoints (sorted comparison with the configuration);
#   - `wg set` of one peer (endpoint, allowed ips, one taken over from
#     another peer, removal) changes exactly that in the full dump;
#   - `wg showconf | wg setconf` round trip gives the same configuration;
#   - the client pings through the tunnel among all those peers;
#   - the storm completes (every storm peer has a latest handshake) while
#     the client keeps pinging;
#   - `wg setconf` with a smaller configuration (its first
#     WGDT_SCALE_SMALL peers, default 1000, and the client) removes the
#     rest; the client pings again; wgd stops on SIGTERM.
. "$(dirname "$0")/lib.sh"

N=${WGDT_SCALE_N:-100000}
STORM=${WGDT_SCALE_STORM:-2000}
SOURCES=${WGDT_SCALE_SOURCES:-4}
SMALL=${WGDT_SCALE_SMALL:-5000}
SEED=${WGDT_SCALE_SEED:-7}
GEN="$REPO_ROOT/bench/scale_gen.py"
STORM_NET=198.51.100 # h is .1 on its u1, the storm sources .2 ...

[ "$N" -gt $((STORM + 10)) ] && [ "$SMALL" -gt "$STORM" ] && [ "$SMALL" -lt "$N" ] ||
	{
		echo "scale: want WGDT_SCALE_STORM < WGDT_SCALE_SMALL < WGDT_SCALE_N" >&2
		exit 1
	}

# The storm tool: next to IMPL_UNDER_TEST, else built here (as dos.sh does
# for wgflood) from tests/tools/wgstorm.c and that build's libwgcore.a.
storm_tool()
{
	local bindir
	bindir=$(dirname "$IMPL_UNDER_TEST")
	WGSTORM=${WGSTORM:-}
	[ -n "$WGSTORM" ] || [ ! -x "$bindir/wgstorm" ] || WGSTORM=$bindir/wgstorm
	[ -z "$WGSTORM" ] || return 0
	[ -f "$REPO_ROOT/tests/tools/wgstorm.c" ] || die "no wgstorm binary and no tests/tools/wgstorm.c"
	[ -f "$bindir/libwgcore.a" ] || die "no wgstorm and no $bindir/libwgcore.a to build it"
	WGSTORM=$T_STATE/wgstorm
	# shellcheck disable=SC2046
	cc -O2 -std=c11 -D_GNU_SOURCE -I"$REPO_ROOT/include" "$REPO_ROOT/tests/tools/wgstorm.c" \
		"$bindir/libwgcore.a" $(pkg-config --libs libsodium libb2) -o "$WGSTORM" ||
		die "cannot build wgstorm"
}

# norm conf|dump FILE: one sorted line per peer (bench/scale_gen.py).
norm() { python3 "$GEN" --normalize "$1" "$2"; }

# dump_norm OUT: the hub's `wg show dump`, normalized, to OUT.
dump_norm()
{
	wgx h show "${IFACE[h]}" dump >"$T_STATE/dump.raw" || return 1
	norm dump "$T_STATE/dump.raw" >"$1"
}

# same DESC WANT GOT: files equal; else the first differences in the log.
same()
{
	if cmp -s "$2" "$3"; then
		pass "$1"
	else
		fail "$1"
		diff "$2" "$3" | head -n 8 | sed 's/^/    /'
	fi
}

# peer_pub I: public key of generated peer I (0-based) in the big config.
peer_pub() { awk -v i="$1" '/^PublicKey = / { if (n++ == i) { print $3; exit } }' "$T_STATE/big.conf"; }

# write_conf N OUT: generated peers plus the client c, with its endpoint so
# that the hub can initiate after a `wg setconf` dropped the session (the
# client itself would only retry after KEEPALIVE + REKEY_TIMEOUT = 15 s).
write_conf()
{
	python3 "$GEN" -n $(($1 - 1)) --seed "$SEED" --private-key "$(cat "$T_STATE/h.key")" \
		--listen-port "${PORT[h]}" --storm "$STORM" --storm-keys "$T_STATE/storm.keys" -o "$2" ||
		die "scale_gen.py failed"
	printf '[Peer]\nPublicKey = %s\nAllowedIPs = %s/32, %s/128\nEndpoint = %s\n' \
		"${PUB[c]}" "$(t4 c)" "$(t6 c)" "$(endpoint_of c 4)" >>"$2"
}

# timed DESC cmd...: runs cmd, logs its wall time (information only).
timed()
{
	local d=$1 t0 rc
	shift
	t0=$(date +%s%N)
	"$@"
	rc=$?
	log "   $d: $((($(date +%s%N) - t0) / 1000000)) ms (rc $rc)"
	return $rc
}

scale_up()
{
	local i
	T_CASE_FAILS=0
	node_add h
	node_add c
	node_add s
	link_nodes h c
	link_named h u1 s u0
	nsx h ip addr add "$STORM_NET.1/24" dev u1 || die "cannot address h's storm link"
	for i in $(seq "$SOURCES"); do
		nsx s ip addr add "$STORM_NET.$((i + 1))/24" dev u0 || die "cannot address the storm sources"
	done
	PORT[h]=51820
	PORT[c]=51821
	keygen h
	keygen c
	daemon_start h wgd
	daemon_start c wgd
	write_conf "$N" "$T_STATE/big.conf"
	norm conf "$T_STATE/big.conf" >"$T_STATE/big.norm"
	wg_config c h 4 1
	tunnel_addrs h
	tunnel_addrs c
}

test_setconf()
{
	check "wg setconf of $N peers" timed "wg setconf ($N peers)" wgx h setconf "${IFACE[h]}" "$T_STATE/big.conf"
	check "wg show dump" timed "wg show dump" dump_norm "$T_STATE/got.norm"
	eq "peers listed" "$(wc -l <"$T_STATE/got.norm")" "$N"
	same "dump == configuration (keys, endpoints, allowed ips)" "$T_STATE/big.norm" "$T_STATE/got.norm"
	eq "interface: public key" "$(iface_field h public-key)" "${PUB[h]}"
	eq "interface: listen port" "$(iface_field h listen-port)" "${PORT[h]}"
	check "ping c->h through a hub of $N peers" ping_ok c "$(t4 h)"
	check "ping6 c->h" ping_ok c "$(t6 h)"
	log "   hub RSS with $N peers: $(proc_rss_kb "${PID[h]}") kB"
}

# Edits three generated peers past the storm peers and removes a fourth;
# the whole dump must change by exactly that.
test_set()
{
	local x y z r px py pz pr aip_z
	x=$((N / 2))
	y=$((x + 1))
	z=$((x + 2))
	r=$((x + 3))
	px=$(peer_pub $x)
	py=$(peer_pub $y)
	pz=$(peer_pub $z)
	pr=$(peer_pub $r)
	aip_z=$(awk -v k="$pz" '$1 == k { split($3, a, ","); for (i in a) if (a[i] ~ /\/32$/) print a[i] }' \
		"$T_STATE/big.norm")
	check "wg set: endpoint of one peer" \
		timed "wg set endpoint" wgx h set "${IFACE[h]}" peer "$px" endpoint 203.0.113.7:4242
	check "wg set: allowed ips of one peer (one more, one taken from another peer)" \
		wgx h set "${IFACE[h]}" peer "$py" allowed-ips \
		"$(awk -v k="$py" '$1 == k { print $3 }' "$T_STATE/big.norm"),10.250.0.1/32,$aip_z"
	check "wg set: remove one peer" wgx h set "${IFACE[h]}" peer "$pr" remove
	check "wg set: endpoint (IPv6) of the peer that lost an allowed ip" wgx h set "${IFACE[h]}" peer "$pz" endpoint "[2001:db8:9::1]:9"
	python3 - "$T_STATE/big.norm" "$px" "$py" "$pz" "$pr" "$aip_z" >"$T_STATE/want.norm" <<-'EOF'
		import sys
		path, px, py, pz, pr, az = sys.argv[1:]
		out = []
		for line in open(path):
		    k, ep, aips = line.split()
		    a = aips.split(",")
		    if k == pr:
		        continue
		    if k == px:
		        ep = "203.0.113.7:4242"
		    if k == py:
		        a += ["10.250.0.1/32", az]
		    if k == pz:
		        ep = "[2001:db8:9::1]:9"
		        a.remove(az)
		    out.append("%s %s %s\n" % (k, ep, ",".join(sorted(a))))
		sys.stdout.write("".join(sorted(out)))
	EOF
	check "wg show dump after the edits" dump_norm "$T_STATE/got.norm"
	same "dump == configuration with exactly those edits" "$T_STATE/want.norm" "$T_STATE/got.norm"
	cp "$T_STATE/want.norm" "$T_STATE/big.norm"
}

test_roundtrip()
{
	check "wg showconf" timed "wg showconf" sh -c \
		"nsenter --mount='$T_STATE/h.mnt' --net='/run/netns/${NS[h]}' -- wg showconf '${IFACE[h]}' >'$T_STATE/show1.conf'"
	check "wg setconf of its output" timed "wg setconf (showconf output)" \
		wgx h setconf "${IFACE[h]}" "$T_STATE/show1.conf"
	wgx h showconf "${IFACE[h]}" >"$T_STATE/show2.conf"
	norm conf "$T_STATE/show1.conf" >"$T_STATE/show1.norm"
	norm conf "$T_STATE/show2.conf" >"$T_STATE/show2.norm"
	same "showconf | setconf | showconf: same peers" "$T_STATE/show1.norm" "$T_STATE/show2.norm"
	same "showconf lists the configured peers" "$T_STATE/big.norm" "$T_STATE/show1.norm"
	eq "showconf | setconf | showconf: same [Interface]" \
		"$(sed -n '1,/^\[Peer\]/p' "$T_STATE/show2.conf")" "$(sed -n '1,/^\[Peer\]/p' "$T_STATE/show1.conf")"
	if cmp -s "$T_STATE/show1.conf" "$T_STATE/show2.conf"; then
		log "   (showconf output byte-identical, peer order included)"
	else
		log "   (showconf output equal up to the order of peers)"
	fi
	check "ping h->c after the round trip (the hub initiates)" ping_ok h "$(t4 c)"
	check "ping c->h after the round trip" ping_ok c "$(t4 h)"
}

test_storm()
{
	local pp pout out hs done_n sent rcvd
	pout=$T_LOGDIR/storm-ping.out
	out=$T_LOGDIR/storm.out
	bg_start c "$pout" ping -n -i 0.1 -w 600 "$(t4 h)"
	pp=$BG_PID
	sleep 0.5
	bg_start s "$out" "$WGSTORM" -d "$STORM_NET.1:${PORT[h]}" -P "${PUB[h]}" -k "$T_STATE/storm.keys" \
		-b "$STORM_NET.2" -n "$SOURCES" -t 120
	bg_wait "$BG_PID"
	log "   $(grep '^wgstorm: peers=' "$out" || tail -n 3 "$out")"
	check "storm of $STORM peers from $SOURCES addresses: every handshake completed" \
		grep -Eq '^wgstorm: peers=([0-9]+) completed=\1 failed=0 ' "$out"
	sleep 1
	kill -INT "$pp" 2>/dev/null
	bg_wait "$pp"
	sent=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' "$pout")
	rcvd=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$pout")
	log "   ping c->h during the storm: $(grep -E 'transmitted|rtt' "$pout" | tr '\n' ' ')"
	check "ping c->h kept working during the storm (${rcvd:-?} of ${sent:-?} replies, >= 80% wanted)" \
		test "${rcvd:-0}" -gt 0 -a "$((${rcvd:-0} * 100))" -ge "$((${sent:-1} * 80))"
	# Every storm peer has a handshake on the hub.
	awk '/^PublicKey = / { if (n++ < s) print $3 }' s="$STORM" "$T_STATE/big.conf" | sort >"$T_STATE/storm.pubs"
	wgx h show "${IFACE[h]}" latest-handshakes >"$T_STATE/hs.txt"
	hs=$(awk 'NR == FNR { want[$1] = 1; next } ($1 in want) && $2 > 0 { n++ } END { print n + 0 }' \
		"$T_STATE/storm.pubs" "$T_STATE/hs.txt")
	eq "storm peers with a latest handshake on the hub" "$hs" "$STORM"
	done_n=$(awk '$2 > 0 { n++ } END { print n + 0 }' "$T_STATE/hs.txt")
	eq "peers with a handshake: the storm peers and the client" "$done_n" $((STORM + 1))
	check "ping c->h after the storm" ping_ok c "$(t4 h)"
}

test_shrink()
{
	write_conf "$SMALL" "$T_STATE/small.conf"
	norm conf "$T_STATE/small.conf" >"$T_STATE/small.norm"
	check "wg setconf of a smaller configuration ($SMALL peers)" \
		timed "wg setconf ($SMALL peers, replacing $N)" wgx h setconf "${IFACE[h]}" "$T_STATE/small.conf"
	check "wg show dump" dump_norm "$T_STATE/got.norm"
	eq "peers listed" "$(wc -l <"$T_STATE/got.norm")" "$SMALL"
	same "dump == the smaller configuration" "$T_STATE/small.norm" "$T_STATE/got.norm"
	check "ping h->c after the shrink (the hub initiates)" ping_ok h "$(t4 c)"
	check "ping c->h after the shrink" ping_ok c "$(t4 h)"
	check "hub alive" daemon_alive h
	log "   hub RSS after the shrink: $(proc_rss_kb "${PID[h]}") kB"
}

lib_init
storm_tool
[ -f "$GEN" ] || die "missing $GEN"
scale_up
run_tests test_setconf test_set test_roundtrip test_storm test_shrink
pair_down
