#!/usr/bin/env bash
# Denial of service. A victim wgd (node v) serves a legitimate peer (node p,
# WGDT_REF, default the newest wireguard-go) while node f floods it with
# tests/tools/wgflood from spoofed sources in 198.51.100.0/24 (v routes that
# prefix back to f, which does not forward, so f can count every reply).
#
# Per flood mode: the peer's unloaded TCP throughput (iperf3), then during
# the flood: v stays alive, its RSS stays under a fixed bound and does not
# grow, its CPU is measured; the peer removes and re-adds v, so it must
# complete a fresh handshake, within 2 x REKEY_TIMEOUT = 10 s; the peer keeps
# >= 50% of its unloaded throughput. Per mode, what v must answer:
#   garbage, data   nothing at all (no reflection); data: every unknown index
#                   counted
#   init, noise     cookie replies (v is under load), at most ~20/s per
#                   source, never a response
#   replay          cookie replies; the replayed initiation never completes a
#                   handshake, never moves the peer's endpoint, and is counted
#                   as a replay whenever it reaches Noise
#   cookie          (a noise flood keeps v under load, while 6 sources that
#                   learned cookies send initiations with a valid mac2, 200/s
#                   each): the per-source rate limiter lets ~20/s/source by
# A table of the numbers ends the output. v logs at debug level so it dumps
# its drop counters at exit.
#
# Env: WGDT_DOS_MODES (default "garbage data init noise replay cookie"),
# WGDT_DOS_RUNS (default 1; 3 for the variance report), WGDT_DOS_PPS (mean
# flood rate, default 5000 datagrams/s), WGDT_DOS_BURST (default 1000: the
# flood comes in bursts of that many back to back; 0 = evenly spread),
# WGDT_DOS_IPERF (seconds, default 5), WGDT_REF, WGFLOOD (the tool; default:
# next to IMPL_UNDER_TEST, else compiled here).
#
# Why bursts: a burst deepens v's handshake backlog past the under-load
# threshold faster than v can work it off, and under load lingers for a
# second, so a pulsed flood keeps v under load on any machine at a modest
# mean rate; an even flood does so only above the rate at which v can do
# Diffie-Hellman work, which depends on the machine.
. "$(dirname "$0")/lib.sh"

REF=${WGDT_REF:-wggo-latest}
MODES=${WGDT_DOS_MODES:-garbage data init noise replay cookie}
RUNS=${WGDT_DOS_RUNS:-1}
PPS=${WGDT_DOS_PPS:-5000}
BURST=${WGDT_DOS_BURST:-1000}
IPERF_S=${WGDT_DOS_IPERF:-5}
HS_LIMIT=10 # 2 x REKEY_TIMEOUT
SPOOF_NET=198.51.100.0/24
BULK_SRC=198.51.100.0/25	 # the bulk of every flood: 126 sources
COOKIE_SRC=198.51.100.200/29 # cookie mode: 6 sources
if impl_sanitized; then
	# ASan's shadow memory and quarantine: a fixed, larger bound.
	RSS_MAX_KB=$((512 * 1024))
	RSS_GROWTH_KB=$((64 * 1024))
else
	RSS_MAX_KB=$((64 * 1024))
	RSS_GROWTH_KB=$((4 * 1024))
fi
RESULTS=()

# --- the flood tool ----------------------------------------------------------

flood_tool()
{
	local bindir cflags=() ldflags=()
	bindir=$(dirname "$IMPL_UNDER_TEST")
	WGFLOOD=${WGFLOOD:-}
	[ -n "$WGFLOOD" ] || [ ! -x "$bindir/wgflood" ] || WGFLOOD=$bindir/wgflood
	[ -z "$WGFLOOD" ] || return 0
	[ -f "$bindir/libwgcore.a" ] || die "no wgflood and no $bindir/libwgcore.a to build it"
	if nm "$bindir/libwgcore.a" 2>/dev/null | grep -c __asan_report >/dev/null; then
		cflags=(-fsanitize=address,undefined)
		ldflags=(-fsanitize=address,undefined)
	fi
	WGFLOOD=$T_STATE/wgflood
	# shellcheck disable=SC2046
	cc -O2 -std=c11 -D_GNU_SOURCE "${cflags[@]}" -I"$REPO_ROOT/include" \
		"$REPO_ROOT/tests/tools/wgflood.c" "$bindir/libwgcore.a" "${ldflags[@]}" \
		$(pkg-config --libs libsodium libb2) -o "$WGFLOOD" || die "cannot build wgflood"
}

# flood_start OUT MODE SRC [args...]: wgflood in f against v, in the
# background (FLOOD_PID), until stopped.
flood_start()
{
	local out=$1 mode=$2 src=$3
	shift 3
	bg_start f "$out" "$WGFLOOD" -m "$mode" -d "$(u4 v):${PORT[v]}" -s "$src" \
		-k "${PUB[v]}" -r "$PPS" -b "$BURST" -t 600 -i u0 "$@"
	FLOOD_PID=$BG_PID
}

# flood_stop PID OUT: SIGTERM; the tool prints its report line.
flood_stop()
{
	kill -TERM "$1" 2>/dev/null
	bg_wait "$1" || fail "wgflood exited with an error: $(tail -n 3 "$2")"
}

# fl OUT KEY: a key=value field of the tool's report.
fl() { sed -n "s/.*wgflood:.* $2=\([0-9.]*\).*/\1/p" "$1" | tail -n1; }

# --- the victim's resources --------------------------------------------------

# sampler_start PID OUT: RSS (kB) and CPU ticks every 0.5 s (host process).
sampler_start()
{
	local pid=$1 out=$2
	(
		while proc_alive "$pid"; do
			echo "$(date +%s.%N) $(proc_rss_kb "$pid") $(proc_cpu_ticks "$pid")"
			sleep 0.5
		done
	) >"$out" &
	SAMPLER=$!
}

sampler_stop()
{
	kill "$SAMPLER" 2>/dev/null
	wait "$SAMPLER" 2>/dev/null
}

# resources OUT: RSS_MAX, RSS_GROWTH (last sample minus the one at a quarter
# of the run, kB), CPU (% of one core over the whole run).
resources()
{
	local hz
	hz=$(getconf CLK_TCK)
	read -r RSS_MAX RSS_GROWTH CPU < <(awk -v hz="$hz" '
		{ t[NR] = $1; r[NR] = $2; c[NR] = $3; if ($2 > m) m = $2 }
		END {
			q = int(NR / 4) + 1
			cpu = NR > 1 && t[NR] > t[1] ? (c[NR] - c[1]) / hz / (t[NR] - t[1]) * 100 : 0
			printf "%d %d %.0f\n", m, r[NR] - r[q], cpu
		}' "$1")
}

# --- topology ----------------------------------------------------------------

dos_up()
{
	T_CASE_FAILS=0
	flood_topology "$SPOOF_NET"
	PORT[v]=51820
	PORT[p]=51822
	keygen v
	keygen p
	WGDT_LOG_LEVEL=debug daemon_start v wgd
	daemon_start p "$REF"
	# Only p knows v's endpoint: p initiates, so v holds p's latest timestamp.
	wg_config v p 4 0
	wg_config p v 4 1
	tunnel_addrs v
	tunnel_addrs p
	ping_ok p "$(t4 v)" || die "no tunnel before the flood"
	iperf_server v "$(t4 v)" || die "no iperf3 server in v"
}

# fresh_handshake: p forgets v (session and all) and learns it again; prints
# the seconds until p shows a new handshake (99 = none within 20 s).
fresh_handshake()
{
	local t0 now pp i
	wgx p set "${IFACE[p]}" peer "${PUB[v]}" remove
	wg_config p v 4 1
	t0=$(date +%s.%N)
	nsx p ping -n -q -i 0.2 -w 20 -c 1 "$(t4 v)" >/dev/null 2>&1 &
	pp=$!
	for i in $(seq 200); do
		if [ "$(peer_field p "${PUB[v]}" latest-handshake)" != 0 ]; then
			now=$(date +%s.%N)
			kill "$pp" 2>/dev/null
			wait "$pp" 2>/dev/null
			awk -v a="$t0" -v b="$now" 'BEGIN { printf "%.1f\n", b - a }'
			return
		fi
		sleep 0.1
	done
	kill "$pp" 2>/dev/null
	wait "$pp" 2>/dev/null
	echo 99
}

# noise_work LOG: initiations v rejected after Diffie-Hellman work.
noise_work()
{
	echo $(($(wgd_counter "$1" initiation_invalid) + $(wgd_counter "$1" initiation_unknown_peer) +
		$(wgd_counter "$1" initiation_replay) + $(wgd_counter "$1" initiation_flood)))
}

# --- one mode ----------------------------------------------------------------

# start_mode MODE OUT: the flood(s) of MODE; sets FLOODS (pid:out pairs).
start_mode()
{
	local mode=$1 out=$2
	FLOODS=()
	case $mode in
	replay)
		flood_start "$out" replay "$BULK_SRC" -p "$T_STATE/p.key"
		;;
	cookie)
		flood_start "$out.bulk" noise "$BULK_SRC"
		FLOODS+=("$FLOOD_PID:$out.bulk")
		sleep 1
		PPS=1200 BURST=0 flood_start "$out" cookie "$COOKIE_SRC"
		;;
	*)
		flood_start "$out" "$mode" "$BULK_SRC"
		;;
	esac
	FLOODS+=("$FLOOD_PID:$out")
}

stop_mode()
{
	local x
	for x in "${FLOODS[@]}"; do flood_stop "${x%%:*}" "${x#*:}"; done
}

# mode_checks MODE OUT LOG: what v must (not) have answered.
mode_checks()
{
	local mode=$1 out=$2 vlog=$3 tag="dos $mode" sent ck rsp other lim inv rate
	sent=$(fl "$out" sent)
	ck=$(fl "$out" rx_cookie)
	rsp=$(fl "$out" rx_response)
	other=$(($(fl "$out" rx_data) + $(fl "$out" rx_other)))
	check "$tag: wgflood sent packets ($sent)" test "${sent:-0}" -gt 0
	case $mode in
	garbage | data)
		eq "$tag: v sent nothing back to the flood sources" "$((ck + rsp + other))" 0
		[ "$mode" = garbage ] || check "$tag: v counted unknown indices ($(wgd_counter "$vlog" data_unknown_index))" \
			test "$(wgd_counter "$vlog" data_unknown_index)" -gt 0
		;;
	init | noise | replay)
		check "$tag: v answered with cookie replies (f got $ck, v sent $(wgd_counter "$vlog" cookie_replies_sent))" \
			test "${ck:-0}" -gt 0
		eq "$tag: no handshake response to the flood" "$rsp" 0
		# Nominal: 20 cookie replies/s per source plus a burst of 5;
		# the flood sends each source about twice that.
		rate=$(awk -v n="${ck:-0}" -v s="$(fl "$out" sources)" -v t="$(fl "$out" secs)" \
			'BEGIN { printf "%.0f", (s * t > 0 ? n / s / t : 0) }')
		check "$tag: per source, ${rate}/s cookie replies (limit 20/s, allowed 25/s)" \
			test "$rate" -le 25
		;;
	cookie)
		lim=$(wgd_counter "$vlog" handshake_ratelimited)
		inv=$(wgd_counter "$vlog" initiation_invalid)
		check "$tag: cookies learned by the mac2 sources ($(fl "$out" cookies_learned))" \
			test "$(fl "$out" cookies_learned)" -gt 0
		check "$tag: the rate limiter stopped most mac2-valid initiations ($lim of $sent)" \
			test "$lim" -ge $((sent / 2))
		# Nominal: 20/s per source plus a burst of 5 (v stays under load
		# through the pulsed bulk flood); allow 2x.
		rate=$(awk -v n="$inv" -v s="$(fl "$out" sources)" -v t="$(fl "$out" secs)" \
			'BEGIN { printf "%.0f", (s * t > 0 ? n / s / t : 0) }')
		check "$tag: per source, ${rate}/s mac2-valid initiations reached noise (limit 20/s, allowed 40/s)" \
			test "$rate" -le 40
		COOKIE_NOTE="ratelimited $lim/$sent, to noise ${rate}/s/source"
		;;
	esac
	if [ "$mode" = replay ]; then
		# Under load none should get that far; any that did is a replay.
		eq "$tag: every replay that reached Noise was rejected as one" \
			$(($(wgd_counter "$vlog" initiation_replay) + $(wgd_counter "$vlog" initiation_flood))) \
			"$(noise_work "$vlog")"
	fi
}

# one_mode RUN MODE
one_mode()
{
	local run=$1 mode=$2 tag="dos $2" out samples pre post base loaded hs pct vlog drops
	out=$T_LOGDIR/flood-$run-$mode.out
	samples=$T_LOGDIR/rss-$run-$mode.txt
	log "-- run $run, flood $mode"
	dos_up
	vlog=$(dlog v)
	pre=$(iperf_tcp p v "$(t4 v)" "$IPERF_S")
	sampler_start "${PID[v]}" "$samples"
	drops=$(udp_drops v)
	start_mode "$mode" "$out"
	sleep 2
	hs=$(fresh_handshake)
	loaded=$(iperf_tcp p v "$(t4 v)" "$IPERF_S")
	[ "$mode" = replay ] &&
		eq "$tag: the replay did not move p's endpoint on v" \
			"$(peer_field v "${PUB[p]}" endpoint)" "$(endpoint_of p 4)"
	check "$tag: v alive during the flood" daemon_alive v
	stop_mode
	sampler_stop
	drops=$(($(udp_drops v) - drops))
	# Unloaded throughput: before and after the flood, averaged, so a
	# passing load spike on the machine weighs less.
	sleep 1.5
	post=$(iperf_tcp p v "$(t4 v)" "$IPERF_S")
	base=$(((pre + post) / 2))
	resources "$samples"
	pct=$(awk -v a="$loaded" -v b="$base" 'BEGIN { printf "%.0f", (b > 0 ? a * 100 / b : 0) }')
	check "$tag: fresh handshake within ${HS_LIMIT} s (${hs} s)" \
		awk -v h="$hs" -v l=$HS_LIMIT 'BEGIN { exit !(h <= l) }'
	check "$tag: throughput kept >= 50% ($loaded of $base Mbit/s, $pct%)" test "$pct" -ge 50
	check "$tag: RSS bounded (max $((RSS_MAX / 1024)) MB < $((RSS_MAX_KB / 1024)) MB)" \
		test "$RSS_MAX" -lt "$RSS_MAX_KB"
	check "$tag: RSS not growing (last quarter-on: ${RSS_GROWTH} kB)" \
		test "$RSS_GROWTH" -lt "$RSS_GROWTH_KB"
	COOKIE_NOTE=""
	pair_down
	log "   f: $(grep -o 'sent=.*' "$out")"
	log "   v: $(sed -n 's/.*counter \([a-z_]*\) = \([0-9]*\)$/\1=\2/p' "$vlog" | tr '\n' ' ')"
	mode_checks "$mode" "$out" "$vlog"
	RESULTS+=("$(printf '%-4s %-8s %8s %7s %7s %5s%% %6s %6s%% %6sMB %8s %8s %8s %8s  %s' "$run" "$mode" \
		"$(fl "$out" pps)" "$base" "$loaded" "$pct" "$hs" "$CPU" "$((RSS_MAX / 1024))" \
		"$(fl "$out" rx_cookie)" "$drops" "$(wgd_counter "$vlog" handshake_queue_full)" "$(noise_work "$vlog")" \
		"$COOKIE_NOTE")")
}

table()
{
	log ""
	log "== dos results (victim wgd, peer $REF, flood $PPS pkt/s in bursts of $BURST)"
	log "$(printf '%-4s %-8s %8s %7s %7s %6s %6s %7s %8s %8s %8s %8s %8s' run mode 'sent/s' 'base' 'loaded' 'kept' 'hs_s' 'cpu' 'rss_max' 'f_cookie' 'v_sockdr' 'v_qfull' 'v_noise')"
	printf '%s\n' "${RESULTS[@]}"
	log "(base: iperf3 TCP Mbit/s over the tunnel, p -> v, mean of before and after the flood;"
	log " loaded: during it; hs_s: fresh handshake time;"
	log " cpu: victim, % of one core during the flood; f_cookie: cookie replies f received;"
	log " v_sockdr: datagrams v's kernel dropped, socket buffer full;"
	log " v_qfull: handshakes v dropped with a full backlog; v_noise: initiations v ran"
	log " through Noise (Diffie-Hellman work) and rejected)"
}

lib_init
command -v iperf3 >/dev/null || die "missing tool: iperf3"
flood_tool
for run in $(seq "$RUNS"); do
	for mode in $MODES; do
		if [ -n "${WGDT_ONLY:-}" ] && ! [[ " $WGDT_ONLY " == *" $mode "* ]]; then continue; fi
		one_mode "$run" "$mode"
	done
done
table
