#!/usr/bin/env bash
# Throughput benchmark: wgd against every other userspace WireGuard found on
# the machine, in one run, on the same harness.
#
# For each repetition and, within it, each implementation in turn (so slow
# drifts of a shared machine hit all of them alike): two fresh network
# namespaces joined by a veth pair, one daemon in each, configured with
# stock `wg`, then through the tunnel (a -> b):
#   ping RTT (idle), iperf3 single TCP flow, 4 TCP flows, UDP with 1392-byte
#   datagrams at unlimited offered rate (goodput and loss); ping RTT while
#   the single TCP flow saturates the tunnel (from 1 s into it to 1 s before
#   its end, every 0.1 s: median, p90, max, lost);
#   daemon CPU seconds (utime + stime of both daemons, /proc/PID/stat) over
#   each iperf3 run -> Gbit per daemon CPU-second; TCP retransmits of the
#   sender (nstat TcpRetransSegs); idle RSS of one daemon with one peer.
# "veth" is the same set of measurements without a tunnel, and "crypto" the
# libsodium ChaCha20-Poly1305 bound (bench_crypto). bench/report.py prints
# medians with min..max and the ratios wgd/peer.
#
# Usage: bench/run.sh [-r REPS] [-t SECONDS] [-i "IMPLS"] [-o DIR]
#   IMPLS from: wgd wgd-portable wgd-1thread wgd-metrics wgd-base wggo
#   wggo-latest boringtun veth (default: wgd, the peers found, veth; crypto
#   always). wgd-metrics is wgd with its metrics endpoint on
#   (WGD_METRICS), scraped every second through the run.
#   wgd-portable is wgd with WGD_PORTABLE=1, wgd-1thread with
#   WGD_THREADS=1 (no crypto threads); wgd-base is a second wgd binary ($WGD_BASE_BIN), to
#   compare two builds in one run.
# Env: WGD_BIN (default build/wgd), WGD_BASE_BIN, WGGO_DEBIAN_BIN,
#   WGGO_LATEST_BIN, BORINGTUN_BIN, BENCH_CRYPTO_BIN, WGD_ENV (extra
#   VAR=value words for every wgd run), BENCH_PERF ("impl:test ..." e.g.
#   "wgd:tcp1": perf record -g of both daemons during that test, to
#   OUT/perf-IMPL-TEST-rREP.data).
set -u -o pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
WGD_BIN=${WGD_BIN:-$ROOT/build/wgd}
WGD_BASE_BIN=${WGD_BASE_BIN:-}
PEERS_DIR=${WGD_PEERS_DIR:-/opt/wgd-peers}
WGGO_DEBIAN_BIN=${WGGO_DEBIAN_BIN:-/usr/bin/wireguard-go}
WGGO_LATEST_BIN=${WGGO_LATEST_BIN:-$PEERS_DIR/bin/wireguard-go-latest}
[ -x "$WGGO_LATEST_BIN" ] || WGGO_LATEST_BIN=/usr/local/bin/wireguard
BORINGTUN_BIN=${BORINGTUN_BIN:-$PEERS_DIR/bin/boringtun-cli}
[ -x "$BORINGTUN_BIN" ] || BORINGTUN_BIN=/usr/local/bin/boringtun-cli
BENCH_CRYPTO_BIN=${BENCH_CRYPTO_BIN:-$(dirname "$WGD_BIN")/bench_crypto}
WGD_ENV=${WGD_ENV:-}

REPS=3
SECS=10
IMPLS=""
OUT=""
while getopts "r:t:i:o:h" opt; do
	case $opt in
	r) REPS=$OPTARG ;;
	t) SECS=$OPTARG ;;
	i) IMPLS=$OPTARG ;;
	o) OUT=$OPTARG ;;
	*)
		sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'
		exit 2
		;;
	esac
done

die() {
	echo "bench: $*" >&2
	exit 1
}

[ "$(id -u)" -eq 0 ] || die "must run as root (network namespaces)"
for t in ip wg iperf3 ping nstat python3 timeout; do
	command -v "$t" >/dev/null || die "missing tool: $t"
done

impl_bin() {
	case $1 in
	wgd | wgd-portable | wgd-1thread | wgd-metrics) echo "$WGD_BIN" ;;
	wgd-base) echo "$WGD_BASE_BIN" ;;
	wggo) echo "$WGGO_DEBIAN_BIN" ;;
	wggo-latest) echo "$WGGO_LATEST_BIN" ;;
	boringtun) echo "$BORINGTUN_BIN" ;;
	veth) echo /bin/true ;;
	*) return 1 ;;
	esac
}

if [ -z "$IMPLS" ]; then
	for i in wgd wggo wggo-latest boringtun; do
		b=$(impl_bin $i)
		[ -n "$b" ] && [ -x "$b" ] && IMPLS="$IMPLS $i"
	done
	IMPLS="$IMPLS veth"
fi
for i in $IMPLS; do
	b=$(impl_bin "$i") || die "unknown implementation $i"
	[ -n "$b" ] && [ -x "$b" ] || die "$i: binary '$b' not found"
done

OUT=${OUT:-/tmp/wgd-bench-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT" || die "cannot create $OUT"
RAW="$OUT/raw.tsv"
: >"$RAW"

NSA="wgb-$$-a"
NSB="wgb-$$-b"
IFA="wgb$$a"
IFB="wgb$$b"
PIDS=()
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

cleanup() {
	stop_pids
	ip netns del "$NSA" 2>/dev/null
	ip netns del "$NSB" 2>/dev/null
	rm -f "/run/wireguard/$IFA.sock" "/run/wireguard/$IFB.sock" 2>/dev/null
	return 0
}
trap 'cleanup; exit 130' INT TERM
trap cleanup EXIT

ina() { ip netns exec "$NSA" "$@"; }
inb() { ip netns exec "$NSB" "$@"; }

# record REP IMPL METRIC VALUE
record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$RAW"; }

underlay() { two_ns_underlay "$NSA" "$NSB"; }

# start_daemon NS IMPL IFACE: background daemon, PID in DPID once its UAPI
# socket exists. `ip netns exec` and `env` exec, so $! is the daemon.
start_daemon() {
	local ns=$1 impl=$2 ifc=$3 bin log extra=()
	log="$OUT/$impl-$ifc.log"
	bin=$(impl_bin "$impl")
	case $impl in
	boringtun)
		ip netns exec "$ns" env WG_LOG_LEVEL=error "$bin" -f --disable-drop-privileges \
			"$ifc" </dev/null >>"$log" 2>&1 &
		;;
	wgd*)
		# shellcheck disable=SC2206
		extra=($WGD_ENV)
		[ "$impl" = wgd-portable ] && extra+=(WGD_PORTABLE=1)
		[ "$impl" = wgd-1thread ] && extra+=(WGD_THREADS=1)
		[ "$impl" = wgd-metrics ] && extra+=(WGD_METRICS=127.0.0.1:9586)
		ip netns exec "$ns" env LOG_LEVEL=error WG_PROCESS_FOREGROUND=1 "${extra[@]}" \
			"$bin" -f "$ifc" </dev/null >>"$log" 2>&1 &
		;;
	*)
		ip netns exec "$ns" env LOG_LEVEL=error WG_PROCESS_FOREGROUND=1 "$bin" -f "$ifc" \
			</dev/null >>"$log" 2>&1 &
		;;
	esac
	adopt_daemon $! "$ns" "$ifc" "$impl" "$log"
}

# tunnel IMPL: daemons in both namespaces, keys, one peer each, inner
# 10.9.0.1/24 <-> 10.9.0.2/24 at MTU 1420, first handshake done. Sets
# PIDA, PIDB, DST.
tunnel() {
	local impl=$1 ka kb pa pb
	start_daemon "$NSA" "$impl" "$IFA"
	PIDA=$DPID
	start_daemon "$NSB" "$impl" "$IFB"
	PIDB=$DPID
	ka=$(wg genkey) && kb=$(wg genkey) || die "wg genkey failed"
	pa=$(echo "$ka" | wg pubkey) && pb=$(echo "$kb" | wg pubkey)
	ina wg set "$IFA" private-key <(echo "$ka") listen-port 51820 \
		peer "$pb" allowed-ips 10.9.0.2/32 endpoint 192.0.2.2:51820 || die "wg set a ($impl)"
	inb wg set "$IFB" private-key <(echo "$kb") listen-port 51820 \
		peer "$pa" allowed-ips 10.9.0.1/32 endpoint 192.0.2.1:51820 || die "wg set b ($impl)"
	ina ip addr add 10.9.0.1/24 dev "$IFA" && ina ip link set "$IFA" mtu 1420 up || die "ip a"
	inb ip addr add 10.9.0.2/24 dev "$IFB" && inb ip link set "$IFB" mtu 1420 up || die "ip b"
	DST=10.9.0.2
	for _ in $(seq 20); do
		ina ping -n -q -c 1 -W 1 "$DST" >/dev/null 2>&1 && return 0
	done
	die "$impl: no handshake after 20 s"
}

cpu_ticks() {
	local t=0 p
	for p in "$@"; do
		t=$((t + $(sed 's/.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')))
	done
	echo "$t"
}

retrans() { ina nstat -saz TcpRetransSegs | awk '$1 == "TcpRetransSegs" {print $2}'; }

# udp_drops NS PORT: receive-buffer drops of the UDP sockets bound to PORT.
udp_drops() {
	ip netns exec "$1" cat /proc/net/udp /proc/net/udp6 2>/dev/null |
		awk -v p="$(printf ':%04X' "$2")" '$2 ~ p"$" {d += $NF} END {print d + 0}'
}

# Udp(6) RcvbufErrors of a namespace: the iperf3 server's sockets come and
# go with each test, so count namespace-wide and subtract the daemon's.
rcvbuf_errors() {
	ip netns exec "$1" nstat -saz UdpRcvbufErrors Udp6RcvbufErrors | awk '/RcvbufErrors/ {d += $2} END {print d + 0}'
}

# Packets dropped because a CPU's input backlog was full (veth delivery,
# TUN writes): all namespaces, all CPUs.
backlog_drops() {
	local d=0 f
	while read -r -a f; do d=$((d + 16#${f[1]})); done </proc/net/softnet_stat
	echo "$d"
}

# Where datagrams of the UDP test are lost: the sender's TUN queue (its
# daemon too slow), the receiving daemon's socket, the iperf3 server's
# socket (the server too slow).
drop_snapshot() {
	local tun=0
	[ "$1" = veth ] || tun=$(ina cat "/sys/class/net/$IFA/statistics/tx_dropped")
	echo "$tun $(udp_drops "$NSB" 51820) $(rcvbuf_errors "$NSB") $(backlog_drops)"
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# json_get FILE EXPR: python expression over the iperf3 JSON `j`.
json_get() { python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print($2)" "$1"; }

# iperf NAME ARGS...: one iperf3 run a -> b; records goodput and, for a
# tunnel, CPU and Gbit per CPU-second.
iperf() {
	local rep=$1 impl=$2 name=$3 j c0 c1 r0 r1 d0 d1 gbit cpu
	shift 3
	j="$OUT/$impl-r$rep-$name.json"
	r0=$(retrans)
	[ "$name" = udp ] && d0=$(drop_snapshot "$impl")
	[ "$impl" = veth ] || c0=$(cpu_ticks "$PIDA" "$PIDB")
	local perf_pid=""
	if [ -n "${BENCH_PERF:-}" ] && [ "$impl" != veth ] && [[ " $BENCH_PERF " == *" $impl:$name "* ]]; then
		perf record -q -F 499 -g -o "$OUT/perf-$impl-$name-r$rep.data" -p "$PIDA,$PIDB" \
			-- sleep "$SECS" >/dev/null 2>&1 &
		perf_pid=$!
	fi
	[ "$name" = tcp1 ] && load_ping_start "$OUT/$impl-r$rep-$name-ping.txt"
	ina timeout $((SECS + 30)) iperf3 -c "$DST" -t "$SECS" -J "$@" >"$j" 2>"$j.err"
	[ -z "$perf_pid" ] || wait "$perf_pid"
	[ "$name" = tcp1 ] && load_ping_record "$rep" "$impl" "$name" "$OUT/$impl-r$rep-$name-ping.txt"
	[ "$impl" = veth ] || c1=$(cpu_ticks "$PIDA" "$PIDB")
	r1=$(retrans)
	[ "$name" = udp ] && d1=$(drop_snapshot "$impl")
	if ! json_get "$j" "j['end']['sum_received']['bytes']" >/dev/null 2>&1; then
		echo "   $impl $name: iperf3 failed ($j)" >&2
		return
	fi
	gbit=$(json_get "$j" "j['end']['sum_received']['bytes'] * 8 / 1e9")
	record "$rep" "$impl" "${name}_gbps" "$(json_get "$j" "j['end']['sum_received']['bits_per_second'] / 1e9")"
	case $name in
	udp)
		record "$rep" "$impl" udp_loss_pct "$(json_get "$j" "j['end']['sum']['lost_percent']")"
		record "$rep" "$impl" udp_sent_gbps "$(json_get "$j" "j['end']['sum_sent']['bits_per_second'] / 1e9")"
		# shellcheck disable=SC2086
		set -- $d0 $d1
		record "$rep" "$impl" udp_drop_tun_a $(($5 - $1))
		record "$rep" "$impl" udp_drop_wg_sock_b $(($6 - $2))
		record "$rep" "$impl" udp_drop_iperf_sock_b $(($7 - $3 - ($6 - $2)))
		record "$rep" "$impl" udp_drop_backlog $(($8 - $4))
		;;
	*) record "$rep" "$impl" "${name}_retrans" $((r1 - r0)) ;;
	esac
	[ "$impl" = veth ] && return
	cpu=$(echo "$c0 $c1" | awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($2 - $1) / hz}')
	record "$rep" "$impl" "${name}_cpu_s" "$cpu"
	record "$rep" "$impl" "${name}_gbit_per_cpu_s" "$(awk -v g="$gbit" -v c="$cpu" 'BEGIN {printf "%.3f", (c > 0 ? g / c : 0)}')"
}

# load_ping_start FILE: in the background, ping b from a through the tunnel
# during the iperf3 run about to start: after 1 s of ramp, every 0.1 s,
# until 1 s before its end (at least 10 pings). PID in LOAD_PING.
load_ping_start() {
	local n=$(((SECS - 2) * 10))
	[ "$n" -ge 10 ] || n=10
	ip netns exec "$NSA" sh -c "sleep 1; exec ping -n -i 0.1 -c $n -W 1 $DST" >"$1" 2>&1 &
	LOAD_PING=$!
	PIDS+=("$LOAD_PING")
}

# load_ping_record REP IMPL NAME FILE: waits for that ping, records its RTT
# median, p90 and max (ms) and the pings lost.
load_ping_record() {
	local st p keep=()
	wait "$LOAD_PING"
	for p in "${PIDS[@]}"; do [ "$p" = "$LOAD_PING" ] || keep+=("$p"); done
	PIDS=("${keep[@]}")
	st=$(ping_stats "$4")
	# shellcheck disable=SC2086
	set -- "$1" "$2" "$3" $st
	[ $# -eq 7 ] || return 0
	record "$1" "$2" "${3}_ping_ms" "$4"
	record "$1" "$2" "${3}_ping_p90_ms" "$5"
	record "$1" "$2" "${3}_ping_max_ms" "$6"
	record "$1" "$2" "${3}_ping_lost" "$7"
}

ping_rtt() {
	ina ping -n -q -c 40 -i 0.05 "$DST" | awk -F'/' '/^rtt|^round-trip/ {print $5}'
}

# wgd-metrics: the sending daemon's metrics endpoint scraped every second
# for the whole run, as a Prometheus server would (more often than most).
scraper() {
	ip netns exec "$NSA" python3 -c 'import time, urllib.request
while True:
    urllib.request.urlopen("http://127.0.0.1:9586/metrics", timeout=5).read()
    time.sleep(1)' >/dev/null 2>&1 &
	PIDS+=("$!")
}

one_run() {
	local rep=$1 impl=$2 srv
	underlay
	if [ "$impl" = veth ]; then
		DST=192.0.2.2
	else
		tunnel "$impl"
		sleep 1
		record "$rep" "$impl" idle_rss_kb "$(rss_kb "$PIDA")"
	fi
	[ "$impl" = wgd-metrics ] && scraper
	# Not through inb: a backgrounded function is a subshell, and $! would
	# not be iperf3 (ip netns exec execs it).
	ip netns exec "$NSB" iperf3 -s >/dev/null 2>&1 &
	srv=$!
	PIDS+=("$srv")
	sleep 0.3
	record "$rep" "$impl" ping_ms "$(ping_rtt)"
	iperf "$rep" "$impl" tcp1
	iperf "$rep" "$impl" tcp4 -P 4
	iperf "$rep" "$impl" udp -u -b 0 -l 1392
	[ "$impl" = veth ] || record "$rep" "$impl" peak_rss_kb "$(awk '/^VmHWM:/ {print $2}' "/proc/$PIDA/status")"
	cleanup
}

crypto_run() {
	local rep=$1 line
	[ -x "$BENCH_CRYPTO_BIN" ] || return 0
	line=$("$BENCH_CRYPTO_BIN" 1420) || return 0
	for kv in $line; do
		case $kv in
		*_gbps=* | *bound_gbit_per_cpu_s=*) record "$rep" crypto "${kv%%=*}" "${kv#*=}" ;;
		esac
	done
}

describe() {
	echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "cpu: $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo), $(nproc) cores"
	echo "kernel: $(uname -r); memory: $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)"
	echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "reps: $REPS x ${SECS} s; impls:$IMPLS"
	for i in $IMPLS; do
		case $i in
		veth) ;;
		boringtun) echo "$i: $(impl_bin "$i") ($("$(impl_bin "$i")" --version 2>&1 | head -1))" ;;
		wgd*) echo "$i: $(impl_bin "$i") ${WGD_ENV}$([ "$i" = wgd-portable ] && echo ' WGD_PORTABLE=1')$([ "$i" = wgd-1thread ] && echo ' WGD_THREADS=1')" ;;
		*) echo "$i: $(impl_bin "$i") ($("$(impl_bin "$i")" --version 2>&1 | head -1))" ;;
		esac
	done
}

describe | tee "$OUT/machine.txt"
for rep in $(seq "$REPS"); do
	for impl in $IMPLS; do
		echo "== rep $rep: $impl" >&2
		one_run "$rep" "$impl"
	done
	crypto_run "$rep"
done
python3 "$HERE/report.py" "$RAW" | tee "$OUT/report.txt"
echo "raw data: $RAW"
