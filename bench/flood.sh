#!/usr/bin/env bash
# A legitimate handshake during an initiation flood (issue: "must not be
# luck"). Three namespaces as in tests/netns/dos.sh: the victim v (wgd or
# the newest wireguard-go), the legitimate peer p (the newest wireguard-go)
# and the flooder f, which sends MAC1-valid initiations (wgflood -m init)
# from SOURCES spoofed addresses in 198.51.100.0/24 as fast as it can.
#
#   sudo bash bench/flood.sh              # 10 runs per victim, alternating
#   RUNS=3 VICTIMS=wgd bash bench/flood.sh
#
# Per run: fresh namespaces and daemons, a tunnel p -> v before the flood,
# then the flood; after WARM_S seconds p removes and re-adds v (a fresh
# handshake, as dos.sh does) and pings v every 0.2 s for PING_S seconds.
# Recorded: the seconds until the first answered ping, the share of pings
# answered after it, the flood rate wgflood reached, the 1-minute load
# average at the start of the run, v's kernel socket-buffer drops, v's CPU
# share, and (wgd) the daemon's own counters at exit.
#
# Env: IMPL_UNDER_TEST (default build/wgd), WGFLOOD (default next to it),
# RUNS (10), VICTIMS ("wgd wggo-latest"), SOURCES (200), RATE (0 = as fast
# as possible), WARM_S (2), PING_S (20), LOGDIR (kept; default a temp dir).
# Builds nothing. Bounded: each run takes about WARM_S + PING_S + 10 s.
. "$(dirname "$0")/../tests/netns/lib.sh"

RUNS=${RUNS:-10}
VICTIMS=${VICTIMS:-wgd wggo-latest}
SOURCES=${SOURCES:-200}
RATE=${RATE:-0}
WARM_S=${WARM_S:-2}
PING_S=${PING_S:-20}
WGFLOOD=${WGFLOOD:-$(dirname "$IMPL_UNDER_TEST")/wgflood}
SPOOF_NET=198.51.100.0/24
OUT=${LOGDIR:-$(mktemp -d /tmp/flood-bench.XXXXXX)}
mkdir -p "$OUT" || exit 1
ROWS=()

[ -x "$WGFLOOD" ] || die "no wgflood at $WGFLOOD (ninja -C build)"

setup()
{
	local victim=$1
	flood_topology "$SPOOF_NET"
	PORT[v]=51820
	PORT[p]=51822
	keygen v
	keygen p
	if [ "$victim" = wgd ]; then
		WGDT_LOG_LEVEL=debug daemon_start v wgd
	else
		WGDT_LOG_LEVEL=error daemon_start v "$victim"
	fi
	WGDT_LOG_LEVEL=error daemon_start p wggo-latest
	wg_config v p 4 0
	wg_config p v 4 1
	tunnel_addrs v
	tunnel_addrs p
	ping_ok p "$(t4 v)" || die "no tunnel before the flood"
}

# ping_stats OUT T0: "first_s answered_pct" from `ping -D` output; first_s
# 99 when nothing was answered.
ping_stats()
{
	awk -v t0="$2" '
		/^\[[0-9.]+\].*icmp_seq=/ {
			t = substr($1, 2, length($1) - 2)
			match($0, /icmp_seq=[0-9]+/)
			s = substr($0, RSTART + 9, RLENGTH - 9) + 0
			if (first == "") { first = t - t0; fs = s }
			if (s > fs) got[s] = 1
		}
		/packets transmitted/ { sent = $1 }
		END {
			if (first == "") { print "99 0"; exit }
			n = 0; for (k in got) n++
			after = sent - fs
			printf "%.1f %.0f\n", first, (after > 0 ? n * 100 / after : 100)
		}' "$1"
}

one_run()
{
	local run=$1 victim=$2 tag fo po vlog la t0 d0 d1 c0 c1 hz first pct pps
	tag=$run-$victim
	fo=$OUT/flood-$tag.out
	po=$OUT/ping-$tag.out
	la=$(cut -d' ' -f1 /proc/loadavg)
	setup "$victim"
	vlog=$(dlog v)
	d0=$(udp_drops v)
	bg_start f "$fo" "$WGFLOOD" -m init -d "$(u4 v):${PORT[v]}" -s "$SPOOF_NET" -n "$SOURCES" \
		-k "${PUB[v]}" -r "$RATE" -t $((WARM_S + PING_S + 5)) -i u0
	FPID=$BG_PID
	sleep "$WARM_S"
	c0=$(proc_cpu_ticks "${PID[v]}")
	wgx p set "${IFACE[p]}" peer "${PUB[v]}" remove
	wg_config p v 4 1
	t0=$(date +%s.%N)
	nsx p ping -D -n -i 0.2 -w "$PING_S" "$(t4 v)" >"$po" 2>&1
	c1=$(proc_cpu_ticks "${PID[v]}")
	d1=$(udp_drops v)
	kill -TERM "$FPID" 2>/dev/null
	bg_wait "$FPID"
	pps=$(sed -n 's/.*wgflood:.* pps=\([0-9]*\).*/\1/p' "$fo")
	read -r first pct < <(ping_stats "$po" "$t0")
	hz=$(getconf CLK_TCK)
	pair_down
	cpu=$(awk -v a="$c0" -v b="$c1" -v hz="$hz" -v s="$PING_S" 'BEGIN { printf "%.0f", (b - a) / hz / s * 100 }')
	ROWS+=("$(printf '%-4s %-12s %8s %6s %8s %5s%% %9s %5s%%' "$run" "$victim" "${pps:-?}" "$la" \
		"$first" "$pct" "$((d1 - d0))" "$cpu")")
	log "${ROWS[-1]}"
	if [ "$victim" = wgd ]; then
		log "     wgd: $(sed -n 's/.*counter \([a-z_]*\) = \([0-9]*\)$/\1=\2/p' "$vlog" | tr '\n' ' ')"
		cp "$vlog" "$OUT/wgd-$tag.log"
	fi
}

lib_init
log "flood bench: $RUNS runs per victim ($VICTIMS), $SOURCES sources, rate ${RATE:-0} (0 = max), logs in $OUT"
log "$(printf '%-4s %-12s %8s %6s %8s %6s %9s %6s' run victim 'flood/s' load1 'first_s' 'after' 'v_sockdr' 'v_cpu')"
for run in $(seq "$RUNS"); do
	for victim in $VICTIMS; do one_run "$run" "$victim"; done
done
log ""
log "== summary (flood from $SOURCES sources; first_s: first answered ping after p re-added v,"
log "   99 = none in ${PING_S} s; after: pings answered after the first; v_sockdr: datagrams v's"
log "   kernel dropped for a full socket buffer during the ping window; v_cpu: % of one core)"
printf '%s\n' "${ROWS[@]}"
for victim in $VICTIMS; do
	printf '%s\n' "${ROWS[@]}" | awk -v v="$victim" '$2 == v {
		n++; f = $5 + 0; a = $6 + 0
		if (f <= 10) ok++; if (f <= 10 && a >= 90) good++; s += f }
		END { if (n) printf "%s: %d/%d first ping <= 10 s, %d/%d also >= 90%% answered\n", v, ok, n, good, n }'
done
