#!/usr/bin/env bash
# The metrics endpoint (issue 15) in netns: node a runs
# `wgd --metrics 127.0.0.1:9586`, node b `WGD_METRICS=[::1]:9587 wgd`, a
# tunnel between them.
#  - http: GET /metrics on both, the body validated by the official Python
#    client's parser (tests/tools/check_exposition.py, system python3 with
#    python3-prometheus-client: missing is a FAIL); a taken port stops a
#    second wgd at startup with a clear message.
#  - dashboard: the instant queries of the usual panels for mdlayher's
#    wireguard_exporter (tests/tools/dashboard_query.py: bytes, time() -
#    last handshake, joined on public_key with wireguard_peer_info) give
#    what `wg show IF dump` says, read right after with traffic stopped.
#  - local: `wgd metrics IF` has the same families as HTTP and no errno
#    line; /metrics?peers=basic has no wgd_peer_* family and keeps the rest.
#  - stock: `wg show`/`wg showconf` work and agree while scrapes run.
. "$(dirname "$0")/lib.sh"

# The parser of the official client lives in the system python's packages.
SYSPY=${WGDT_SYSPYTHON:-/usr/bin/python3}
TOOLS=$REPO_ROOT/tests/tools
PORT_A=9586
PORT_B=9587

# wgd_start NODE IFACE [wgd options...]: wgd in the foreground with extra
# options; the variables of START_ENV (an array) in its environment.
START_ENV=()
wgd_start()
{
	local n=$1 ifc=$2
	shift 2
	IMPL[$n]=wgd
	IFACE[$n]=$ifc
	nsenter --mount="$T_STATE/$n.mnt" --net="/run/netns/${NS[$n]}" -- env LOG_LEVEL="$WGDT_LOG_LEVEL" \
		WG_PROCESS_FOREGROUND=1 "${START_ENV[@]}" "$IMPL_UNDER_TEST" -f "$@" "$ifc" \
		</dev/null >"$(dlog "$n")" 2>&1 &
	node_daemon_wait "$n" $! "$ifc" "wgd $*"
}

# url NODE [QUERY]: the node's metrics URL.
url()
{
	if [ "$1" = a ]; then echo "http://127.0.0.1:$PORT_A/metrics${2:-}"; else echo "http://[::1]:$PORT_B/metrics${2:-}"; fi
}

# scrape NODE FILE [QUERY]: GET the node's metrics into FILE (headers in
# FILE.hdr); false on any HTTP or transport error.
scrape() { nsx "$1" curl -gsSf --max-time 5 -D "$2.hdr" -o "$2" "$(url "$1" "${3:-}")"; }

# families FILE: the family names of an exposition (its TYPE lines), sorted.
families() { awk '$1 == "#" && $2 == "TYPE" { print $3 }' "$1" | sort; }

# valid DESC FILE: the official parser accepts FILE, with the families a
# dashboard and wgd diagnose need.
valid()
{
	local out
	if out=$("$SYSPY" "$TOOLS/check_exposition.py" "$2" --require wireguard_peer_receive_bytes \
		--require wireguard_peer_last_handshake_seconds --require wgd_handshake_failures \
		--require wgd_peer_unanswered_seconds 2>&1); then
		pass "$1: $out"
	else
		fail "$1: $out"
	fi
}

pair_metrics()
{
	pair_nodes
	START_ENV=()
	wgd_start a wgta --metrics "127.0.0.1:$PORT_A"
	START_ENV=(WGD_METRICS="[::1]:$PORT_B")
	wgd_start b wgtb
	START_ENV=()
	wg_config a b 4 1
	wg_config b a 4 0
	tunnel_addrs a
	tunnel_addrs b
	check "tunnel up: ping a -> b" ping_ok a "$(t4 b)"
}

test_http()
{
	local n f out rc
	for n in a b; do
		f="$T_STATE/http.$n"
		if scrape "$n" "$f"; then
			pass "http: GET $(url "$n") in $n ($(wc -c <"$f") bytes)"
		else
			fail "http: GET $(url "$n") in $n failed"
			continue
		fi
		valid "http: $n's exposition" "$f"
		check "http: $n: Content-Type text/plain; version=0.0.4" \
			grep -qi '^Content-Type: text/plain; version=0.0.4' "$f.hdr"
		eq "http: $n: wireguard_device_info names its key" \
			"$(sed -n 's/^wireguard_device_info{.*public_key="\([^"]*\)"} 1$/\1/p' "$f")" "${PUB[$n]}"
	done
	# A second wgd on a's port: the launcher must fail, saying why.
	out=$(nsx a timeout 10 "$IMPL_UNDER_TEST" -f --metrics "127.0.0.1:$PORT_A" wgtx 2>&1)
	rc=$?
	check "http: a taken port stops a second wgd at startup (rc $rc)" test "$rc" -ne 0 -a "$rc" -ne 124
	check "http: ... and says so: $(echo "$out" | grep -m1 'metrics')" \
		grep -q "cannot serve metrics on 127.0.0.1:$PORT_A" <<<"$out"
	check "http: ... and leaves no interface behind" not quiet nsx a ip link show dev wgtx
}

test_dashboard()
{
	local n o f out
	# Traffic both ways, then none while the two reads are taken.
	check "dashboard: TCP a -> b" xfer a b "$(t4 b)" 200000
	check "dashboard: ping b -> a" ping_ok b "$(t4 a)"
	for n in a b; do
		o=$([ "$n" = a ] && echo b || echo a)
		f="$T_STATE/dash.$n"
		scrape "$n" "$f" || fail "dashboard: scrape of $n"
		wgx "$n" show "${IFACE[$n]}" dump >"$f.dump" || fail "dashboard: wg show dump in $n"
		if out=$("$SYSPY" "$TOOLS/dashboard_query.py" "$f" "$f.dump" --device "${IFACE[$n]}" \
			--time "$(date +%s)" 2>&1); then
			pass "dashboard: $n: panels = wg show dump: $out"
		else
			fail "dashboard: $n: $out"
		fi
		grep -F "${PUB[$o]} rx=" <<<"$out" | grep -Eq ' rx=[1-9][0-9]* tx=[1-9][0-9]* handshake_age=[0-9]+ s' &&
			pass "dashboard: $n: bytes both ways and a handshake" ||
			fail "dashboard: $n: no bytes both ways or no handshake for ${PUB[$o]}"
	done
	# The comparison itself: one byte more in wg's rx must be a difference.
	awk -F'\t' -v OFS='\t' 'NR > 1 { $6++ } { print }' "$f.dump" >"$f.dump1"
	check "dashboard: a dump off by one byte is reported" \
		not quiet "$SYSPY" "$TOOLS/dashboard_query.py" "$f" "$f.dump1" --device "${IFACE[$n]}"
}

test_local()
{
	local f="$T_STATE/local.a" h="$T_STATE/http.a2" b="$T_STATE/basic.a" x
	nsx a "$IMPL_UNDER_TEST" metrics wgta >"$f" || fail "local: wgd metrics wgta failed"
	scrape a "$h" || fail "local: scrape of a"
	valid "local: wgd metrics wgta" "$f"
	eq "local: the same families as over HTTP" "$(families "$f" | tr '\n' ' ')" \
		"$(families "$h" | tr '\n' ' ')"
	eq "local: no errno line, no empty line" "$(grep -cE '^errno=|^$' "$f")" 0
	scrape a "$b" "?peers=basic" || fail "local: scrape of a ?peers=basic"
	"$SYSPY" "$TOOLS/check_exposition.py" "$b" >/dev/null || fail "local: ?peers=basic does not parse"
	eq "local: ?peers=basic has no wgd_peer_* family" "$(families "$b" | grep -c '^wgd_peer_')" 0
	x=$(comm -3 <(families "$h" | grep -v '^wgd_peer_') <(families "$b") | tr -d '\t' | tr '\n' ' ')
	eq "local: ?peers=basic keeps every other family" "$x" ""
	check "local: the full form has wgd_peer_* families" grep -q '^# TYPE wgd_peer_' "$h"
	x=$(nsx a "$IMPL_UNDER_TEST" metrics wgtnone 2>&1)
	check "local: wgd metrics of no interface fails with a message ($x)" \
		test $? -eq 1 -a -n "$x"
}

test_stock()
{
	local i bad=0 d0 d scr
	d0=$(wgx a show wgta dump) || fail "stock: wg show wgta dump"
	check "stock: wg show wgta" quiet wgx a show wgta
	check "stock: wg showconf wgta" quiet wgx a showconf wgta
	eq "stock: wg show lists the peer" "$(peer_field a "${PUB[b]}" endpoint)" "$(endpoint_of b 4)"
	# wg show while scrapes run: every read whole and equal in its config.
	bg_start a "$T_LOGDIR/scrapes-${NS[a]}.log" sh -c \
		"for i in \$(seq 40); do curl -gsf -o /dev/null '$(url a)' || echo scrape-failed; done"
	scr=$BG_PID
	for i in $(seq 20); do
		d=$(wgx a show wgta dump) || bad=$((bad + 1))
		[ "$(cut -f1-5,8 <<<"$d")" = "$(cut -f1-5,8 <<<"$d0")" ] || bad=$((bad + 1))
	done
	bg_wait "$scr" || fail "stock: the scrape loop failed"
	eq "stock: 20 wg show dumps during 40 scrapes, all equal but the byte counts" "$bad" 0
	eq "stock: no scrape failed meanwhile" "$(grep -c scrape-failed "$T_LOGDIR/scrapes-${NS[a]}.log")" 0
}

lib_init
command -v curl >/dev/null || die "missing tool: curl (run scripts/setup.sh)"
"$SYSPY" -c 'import prometheus_client' 2>/dev/null ||
	die "$SYSPY has no prometheus_client: install python3-prometheus-client (scripts/setup.sh)"
pair_metrics
run_tests test_http test_dashboard test_local test_stock
pair_down
