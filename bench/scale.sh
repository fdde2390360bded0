#!/usr/bin/env bash
# A hub with many peers (issue 7): wgd against the newest wireguard-go.
#
#   sudo bash bench/scale.sh
#
# Needs build/wgd and build/wgstorm (ninja -C build), the newest
# wireguard-go (scripts/setup.sh installs it), wg, iperf3, ping, python3.
# Builds nothing.
#
# The hub (namespace h) gets, with stock `wg setconf`, a configuration from
# bench/scale_gen.py: N peers, each one /32 and one /128, half of them with
# an endpoint; the last is the real client (namespace c, same
# implementation, veth 192.0.2.0/24, tunnel 10.0.0.2 -> 10.0.0.1), the first
# STORM are real key pairs for tests/tools/wgstorm (namespace s, veth
# 198.51.100.0/24, wgstorm -n STORM_SOURCES: one socket on each of as many
# source addresses).
#
# Once: wireguard-go is given all N peers (it refuses more than it can
# hold: how many it kept is its count "M" from then on), then both hubs sit
# idle side by side for IDLE_S seconds: CPU = utime + stime of
# /proc/PID/stat. Without allowed IPs, the same peers again: RSS -> the
# allowed-IPs share of the memory per peer.
# Per repetition, fresh daemons for each of wgd at N, wgd at M (only the
# timings, for a ratio at equal count) and wireguard-go at M:
#   RSS with no peers; `wg setconf` (wall time); RSS -> bytes per peer;
#   `wg show IF dump`; the UAPI `get` alone (Python on the socket, without
#   wg's own parsing and printing); `wg set` of one peer's endpoint
#   (SETS times) and of a 1-peer device (the cost of running `wg`); the
#   UAPI `set` of one peer alone (20 times);
#   then (not for wgd at M) the client: ping RTT, iperf3 TCP c -> h for
#   TPUT_S s with ping every 50 ms; then the storm with the same TCP flow
#   and ping running: storm time, handshakes completed (wgstorm's and the
#   hub's latest-handshakes), latency, cookies; TCP Mbit/s and ping
#   loss/RTT over the storm's window.
#   Then a hub with the client as its only peer: the same ping and iperf3.
# Many storm sources because, under load, a hub lets each source address
# through at 20 handshakes/s: from a few addresses the storm would time the
# rate limiter; 10,000 real peers come from about as many addresses.
# `wg` reaches a userspace daemon through /run/wireguard/IF.sock, so it runs
# in the host namespace: the timings hold no `ip netns exec`.
#
# Env: SCALE_N (100000), SCALE_STORM (10000), SCALE_REPS (3), SCALE_IDLE_S
# (60), SCALE_TPUT_S (10), SCALE_STORM_SOURCES (50), SCALE_STORM_TIMEOUT
# (45: wgstorm gives up on the peers not done by then), SCALE_SETS (10),
# SCALE_OUT (directory, default /tmp/wgd-scale-DATE), WGD_BIN, WGSTORM_BIN
# (default: next to WGD_BIN), WGGO_LATEST_BIN.
# Output: a markdown table (median and min..max over the repetitions,
# ratios wgd/wireguard-go), OUT/raw.tsv and the daemons' logs.
set -u -o pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
WGD_BIN=${WGD_BIN:-$ROOT/build/wgd}
WGSTORM_BIN=${WGSTORM_BIN:-$(dirname "$WGD_BIN")/wgstorm}
WGGO_BIN=${WGGO_LATEST_BIN:-${WGD_PEERS_DIR:-/opt/wgd-peers}/bin/wireguard-go-latest}
GEN=$HERE/scale_gen.py
N=${SCALE_N:-100000}
STORM=${SCALE_STORM:-10000}
REPS=${SCALE_REPS:-3}
IDLE_S=${SCALE_IDLE_S:-60}
TPUT_S=${SCALE_TPUT_S:-10}
SOURCES=${SCALE_STORM_SOURCES:-50}
SETS=${SCALE_SETS:-10}
STORM_T=${SCALE_STORM_TIMEOUT:-45}
OUT=${SCALE_OUT:-/tmp/wgd-scale-$(date +%Y%m%d-%H%M%S)}

die()
{
	echo "scale: $*" >&2
	exit 1
}
say() { echo "== $*" >&2; }

[ "$(id -u)" -eq 0 ] || die "must run as root (network namespaces): sudo bash $0"
for t in ip wg iperf3 ping python3; do
	command -v "$t" >/dev/null || die "missing tool: $t (run scripts/setup.sh)"
done
[ -x "$WGD_BIN" ] || die "no $WGD_BIN: build it first (cmake -B build -G Ninja && ninja -C build)"
[ -x "$WGSTORM_BIN" ] || die "no $WGSTORM_BIN: build it first (ninja -C build wgstorm)"
[ -x "$WGGO_BIN" ] || die "no wireguard-go at $WGGO_BIN (scripts/setup.sh builds it; or set WGGO_LATEST_BIN)"
[ -f "$GEN" ] || die "missing $GEN"
[ "$N" -ge 2 ] && [ "$STORM" -lt "$N" ] && [ "$REPS" -ge 1 ] || die "want 2 <= SCALE_N, SCALE_STORM < SCALE_N"
mkdir -p "$OUT" || die "cannot create $OUT"
RAW=$OUT/raw.tsv
: >"$RAW"

NSH=wgs-$$-h # hub
NSC=wgs-$$-c # client
NSS=wgs-$$-s # storm sources
NSI=wgs-$$-i # second idle hub
IFH=wgs$$h
IFC=wgs$$c
IFI=wgs$$i
HUB4=10.0.0.1
PIDS=()
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
HZ=$(getconf CLK_TCK)

cleanup()
{
	stop_pids
	for ns in "$NSH" "$NSC" "$NSS" "$NSI"; do ip netns del "$ns" 2>/dev/null; done
	rm -f "/run/wireguard/$IFH.sock" "/run/wireguard/$IFC.sock" "/run/wireguard/$IFI.sock"
	return 0
}
trap 'cleanup; exit 130' INT TERM
trap cleanup EXIT

# record REP LABEL METRIC VALUE
record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$RAW"; }
now_ns() { date +%s%N; }
# secs T0_NS [T1_NS]: seconds between, 3 decimals.
secs() { awk -v a="$1" -v b="${2:-$(now_ns)}" 'BEGIN { printf "%.3f", (b - a) / 1e9 }'; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
# udp_rcvbuf_errors NS: datagrams the namespace's kernel dropped for a full
# socket buffer (the hub's UDP socket: handshakes and data alike).
udp_rcvbuf_errors()
{
	ip netns exec "$1" awk '/^Udp:/ { if (!h) { for (i = 1; i <= NF; i++) c[$i] = i; h = 1 } else print $c["RcvbufErrors"] }' \
		/proc/net/snmp
}
forget() {
	local p keep=()
	for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
	PIDS=("${keep[@]}")
}

# The analysis helpers (Python): UAPI timings, windows of iperf3 and ping
# output, the final table.
PY=$OUT/scale_helpers.py
cat >"$PY" <<'EOF'
import re, socket, statistics, sys, time

def uapi(path, req):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    t = time.perf_counter()
    s.sendall(req)
    buf = bytearray()  # bytes += would be quadratic on a 20 MB answer
    while not (buf.endswith(b"\n\n") and b"errno=" in buf[-16:]):
        d = s.recv(1 << 20)
        if not d:
            break
        buf += d
    t = time.perf_counter() - t
    s.close()
    if not buf.endswith(b"errno=0\n\n"):
        sys.exit("uapi: %r" % bytes(buf[-64:]))
    return t, buf

def cmd_uapi_get(path):
    t, buf = uapi(path, b"get=1\n\n")
    print("%.4f %d" % (t, buf.count(b"\npublic_key=")))

def cmd_uapi_set(path, pubhex, count):
    for i in range(int(count)):
        req = "set=1\npublic_key=%s\nupdate_only=true\nendpoint=203.0.113.%d:%d\n\n" % (pubhex, i % 250 + 1, 2000 + i)
        t, _ = uapi(path, req.encode())
        print("%.3f" % (t * 1e3))

def cmd_hex(b64):
    import base64
    print(base64.b64decode(b64).hex())

# iperf3 text output (-i 0.5 --forceflush -f m): Mbit/s over the intervals
# inside [ts, te] (epoch seconds; the test started at t0), all when ts is "-".
IV = re.compile(r"\]\s+([\d.]+)-([\d.]+)\s+sec\s+.*?([\d.]+) Mbits/sec")
def cmd_iperf(path, t0, ts="-", te="-"):
    bits = secs = 0.0
    for line in open(path):
        if "sender" in line or "receiver" in line:
            continue
        m = IV.search(line)
        if not m:
            continue
        a, b, rate = float(m[1]), float(m[2]), float(m[3])
        if b - a > 1.0:
            continue
        if ts != "-":
            lo, hi = float(ts) - float(t0), float(te) - float(t0)
            if b <= lo or a >= hi:
                continue
        bits += rate * (b - a)
        secs += b - a
    print("%.0f" % (bits / secs) if secs else "0")

# ping -D -i INTERVAL output: "sent rcvd loss% p50 p99 max" for the echo
# requests sent inside [ts, te] (all when ts is "-").
RP = re.compile(r"^\[([\d.]+)\].*icmp_seq=(\d+).*time=([\d.]+) ms")
def cmd_ping(path, interval, ts="-", te="-"):
    iv = float(interval)
    rep = {}
    for line in open(path):
        m = RP.match(line)
        if m:
            rep[int(m[2])] = (float(m[1]) - float(m[3]) / 1e3, float(m[3]))
    if not rep:
        print("0 0 100 0 0 0")
        return
    base = statistics.median(t - (q - 1) * iv for q, (t, _) in rep.items())
    last = max(rep)
    seqs = range(1, last + 1)
    if ts != "-":
        seqs = [q for q in seqs if float(ts) <= base + (q - 1) * iv <= float(te)]
    got = sorted(rep[q][1] for q in seqs if q in rep)
    n = len(seqs)
    if not got:
        print("%d 0 100 0 0 0" % n)
        return
    p99 = got[min(len(got) - 1, int(len(got) * 0.99))]
    print("%d %d %.1f %.2f %.2f %.2f" % (n, len(got), 100.0 * (n - len(got)) / max(n, 1),
                                          statistics.median(got), p99, got[-1]))

# The table: median and min..max over the repetitions per label and metric.
ROWS = [
    ("peers", "peers configured", 0),
    ("setconf_s", "`wg setconf`, s", 3),
    ("dump_s", "`wg show dump`, s", 3),
    ("uapi_get_s", "UAPI get alone, s", 3),
    ("set_ms", "`wg set` one peer's endpoint, ms", 1),
    ("set_1peer_ms", "`wg set` on a 1-peer device (cost of `wg`), ms", 1),
    ("uapi_set_ms", "UAPI set one peer alone, ms", 2),
    ("rss0_kb", "RSS, no peers, KiB", 0),
    ("rss_kb", "RSS after setconf, KiB", 0),
    ("peer_b", "bytes per peer (RSS)", 0),
    ("noaip_setconf_s", "`wg setconf` without allowed IPs, s", 3),
    ("noaip_peer_b", "bytes per peer without allowed IPs", 0),
    ("aip_peer_b", "allowed-IPs share per peer (2 IPs), bytes", 0),
    ("idle_cpu_ms", "idle CPU over IDLE s, ms", 0),
    ("idle_rss_kb", "RSS after the idle period, KiB", 0),
    ("ping_1_ms", "ping RTT, 1 peer, ms", 3),
    ("ping_ms", "ping RTT, all peers, ms", 3),
    ("tcp_1_mbps", "TCP c->h, 1 peer, Mbit/s", 0),
    ("tcp_mbps", "TCP c->h, all peers, Mbit/s", 0),
    ("tcp_n_over_1", "  all peers / 1 peer", 2),
    ("ping_tcp_p50_ms", "  ping during TCP, p50 ms", 2),
    ("ping_tcp_max_ms", "  ping during TCP, max ms", 1),
    ("storm_s", "storm: time to complete all, s", 2),
    ("storm_done", "storm: handshakes completed (wgstorm)", 0),
    ("storm_hub_hs", "storm: peers with a handshake on the hub", 0),
    ("storm_failed", "storm: failed", 0),
    ("storm_p50_ms", "storm: latency p50, ms", 0),
    ("storm_p99_ms", "storm: latency p99, ms", 0),
    ("storm_cookies", "storm: cookie replies", 0),
    ("storm_retries", "storm: retries", 0),
    ("storm_hub_cpu_s", "storm: hub CPU meanwhile, s", 1),
    ("storm_hub_rcvbuf_drops", "storm: datagrams dropped, hub socket buffer full", 0),
    ("storm_tcp_mbps", "storm: TCP c->h meanwhile, Mbit/s", 0),
    ("storm_tcp_kept", "  kept of TCP without storm", 2),
    ("storm_ping_loss", "storm: ping loss meanwhile, %", 1),
    ("storm_ping_p50_ms", "storm: ping p50 meanwhile, ms", 2),
    ("storm_ping_max_ms", "storm: ping max meanwhile, ms", 1),
]

def cmd_table(raw, labels, ratio_a, ratio_b, idle_s):
    vals = {}
    for line in open(raw):
        rep, lab, met, v = line.rstrip("\n").split("\t")
        try:
            vals.setdefault((lab, met), []).append(float(v))
        except ValueError:
            pass
    names = dict(x.split("=", 1) for x in labels.split(","))
    labels = list(names)
    def fmt(v, d):
        return ("%%.%df" % d) % v
    def cell(lab, met, d):
        x = vals.get((lab, met))
        if not x:
            return "-"
        m = statistics.median(x)
        if len(x) == 1 or min(x) == max(x):
            return fmt(m, d)
        return "%s (%s..%s)" % (fmt(m, d), fmt(min(x), d), fmt(max(x), d))
    head = ["metric"] + [names[x] for x in labels] + ["%s / %s" % (names[ratio_a], names[ratio_b])]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for met, name, d in ROWS:
        if not any((lab, met) in vals for lab in labels):
            continue
        row = [name.replace("IDLE", idle_s)] + [cell(lab, met, d) for lab in labels]
        a, b = vals.get((ratio_a, met)), vals.get((ratio_b, met))
        r = "-"
        if a and b and statistics.median(b):
            r = "%.2f" % (statistics.median(a) / statistics.median(b))
        print("| " + " | ".join(row + [r]) + " |")

getattr(sys.modules[__name__], "cmd_" + sys.argv[1].replace("-", "_"))(*sys.argv[2:])
EOF
helper() { python3 "$PY" "$@"; }

# --- namespaces and daemons --------------------------------------------------

underlay()
{
	local i
	for ns in "$NSH" "$NSC" "$NSS" "$NSI"; do
		ip netns add "$ns" && ip -n "$ns" link set lo up || die "cannot create namespace $ns"
	done
	ip -n "$NSH" link add u0 type veth peer name u0 netns "$NSC" &&
		ip -n "$NSH" link add u1 type veth peer name u0 netns "$NSS" || die "cannot create veths"
	ip -n "$NSH" addr add 192.0.2.1/24 dev u0 && ip -n "$NSC" addr add 192.0.2.2/24 dev u0 &&
		ip -n "$NSH" addr add 198.51.100.1/24 dev u1 || die "cannot address the underlay"
	for i in $(seq "$SOURCES"); do
		ip -n "$NSS" addr add "198.51.100.$((i + 1))/24" dev u0 || die "cannot address the storm sources"
	done
	ip -n "$NSH" link set u0 up && ip -n "$NSH" link set u1 up && ip -n "$NSC" link set u0 up &&
		ip -n "$NSS" link set u0 up || die "cannot bring up the underlay"
}

bin_of()
{
	case $1 in
	wgd) echo "$WGD_BIN" ;;
	wggo) echo "$WGGO_BIN" ;;
	esac
}

# start_daemon NS IMPL IFACE: PID in DPID once the socket and device exist.
start_daemon()
{
	local ns=$1 impl=$2 ifc=$3
	ip netns exec "$ns" env LOG_LEVEL=error WG_PROCESS_FOREGROUND=1 "$(bin_of "$impl")" -f "$ifc" \
		</dev/null >>"$OUT/$impl-$ifc.log" 2>&1 &
	adopt_daemon $! "$ns" "$ifc" "$impl" "$OUT/$impl-$ifc.log"
}

stop_daemon()
{
	local p=$1
	kill -TERM "$p" 2>/dev/null
	for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$p" 2>/dev/null
	wait "$p" 2>/dev/null
	forget "$p"
}

# up NS IFACE ADDR: tunnel address, MTU 1420, link up.
up()
{
	ip -n "$1" addr add "$3/24" dev "$2" && ip -n "$1" link set "$2" mtu 1420 up ||
		die "cannot configure $2 in $1"
}

# hub_start IMPL [NS IFACE]: hub daemon, key and port, tunnel address, up.
hub_start()
{
	local ns=${2:-$NSH} ifc=${3:-$IFH}
	start_daemon "$ns" "$1" "$ifc"
	HPID=$DPID
	wg set "$ifc" private-key "$OUT/hub.key" listen-port 51820 || die "wg set $ifc ($1)"
	up "$ns" "$ifc" "$HUB4"
	sleep 0.5
}

# client_start IMPL: the real client, its hub peer, a first handshake.
client_start()
{
	start_daemon "$NSC" "$1" "$IFC"
	CPID=$DPID
	wg set "$IFC" private-key "$OUT/client.key" listen-port 51821 peer "$HUB_PUB" \
		allowed-ips "$HUB4/32" endpoint 192.0.2.1:51820 || die "wg set $IFC ($1)"
	up "$NSC" "$IFC" 10.0.0.2
	for _ in $(seq 20); do
		ip netns exec "$NSC" ping -n -q -c 1 -W 1 "$HUB4" >/dev/null 2>&1 && return 0
	done
	die "$1: the client has no handshake with the hub after 20 s"
}

# bg NS OUT cmd...: background command, exact PID in BG.
bg()
{
	local ns=$1 out=$2
	shift 2
	ip netns exec "$ns" "$@" </dev/null >"$out" 2>&1 &
	BG=$!
	PIDS+=("$BG")
}

iperf_server()
{
	bg "$NSH" "$OUT/iperf-server.log" iperf3 -s -B "$HUB4"
	ISRV=$BG
	for _ in $(seq 50); do
		ip netns exec "$NSH" ss -Hltn "sport = :5201" | grep -q . && return 0
		sleep 0.1
	done
	die "no iperf3 server in the hub namespace"
}

# --- configurations ------------------------------------------------------------

# gen COUNT OUT [scale_gen options]: COUNT - 1 generated peers and the client.
gen()
{
	local n=$1 out=$2
	shift 2
	python3 "$GEN" -n $((n - 1)) --seed 1 --private-key "$(cat "$OUT/hub.key")" --listen-port 51820 \
		-o "$out" "$@" || die "scale_gen.py failed"
	printf '[Peer]\nPublicKey = %s\nAllowedIPs = 10.0.0.2/32, fd00::2/128\nEndpoint = 192.0.2.2:51821\n' \
		"$CLIENT_PUB" >>"$out"
}

configs()
{
	(umask 077 && wg genkey >"$OUT/hub.key" && wg genkey >"$OUT/client.key") || die "wg genkey"
	HUB_PUB=$(wg pubkey <"$OUT/hub.key")
	CLIENT_PUB=$(wg pubkey <"$OUT/client.key")
	gen "$N" "$OUT/hub-$N.conf" --storm "$STORM" --storm-keys "$OUT/storm.keys"
	gen 1 "$OUT/hub-1.conf"
	# A generated peer past the storm peers, for the `wg set` timings.
	SET_PUB=$(awk -v i=$(((N - 1) / 2)) '/^PublicKey = / { if (n++ == i) { print $3; exit } }' \
		"$OUT/hub-$N.conf")
	SET_HEX=$(helper hex "$SET_PUB")
}

# --- measurements --------------------------------------------------------------

# timed_set LABEL REP: `wg set` wall times, on the hub and on the client.
timed_sets()
{
	local lab=$1 rep=$2 i t0
	for i in $(seq "$SETS"); do
		t0=$(now_ns)
		wg set "$IFH" peer "$SET_PUB" endpoint "203.0.113.$i:$((1000 + i))" || die "wg set ($lab)"
		record "$rep" "$lab" set_ms "$(awk -v s="$(secs "$t0")" 'BEGIN { print s * 1000 }')"
	done
	for x in $(helper uapi-set "/run/wireguard/$IFH.sock" "$SET_HEX" 20); do
		record "$rep" "$lab" uapi_set_ms "$x"
	done
}

# set_1peer LABEL REP: `wg set` on the client's 1-peer device.
set_1peer()
{
	local lab=$1 rep=$2 i t0
	for i in $(seq "$SETS"); do
		t0=$(now_ns)
		wg set "$IFC" peer "$HUB_PUB" endpoint 192.0.2.1:51820 || die "wg set $IFC"
		record "$rep" "$lab" set_1peer_ms "$(awk -v s="$(secs "$t0")" 'BEGIN { print s * 1000 }')"
	done
}

# control REP LABEL IMPL COUNT CONF: fresh hub; RSS, setconf, dump, sets.
control()
{
	local rep=$1 lab=$2 impl=$3 n=$4 conf=$5 t0 rss0 rss1 got
	hub_start "$impl"
	rss0=$(rss_kb "$HPID")
	t0=$(now_ns)
	wg setconf "$IFH" "$conf" || die "$lab: wg setconf of $n peers failed"
	record "$rep" "$lab" setconf_s "$(secs "$t0")"
	sleep 1
	rss1=$(rss_kb "$HPID")
	record "$rep" "$lab" rss0_kb "$rss0"
	record "$rep" "$lab" rss_kb "$rss1"
	record "$rep" "$lab" peer_b $(((rss1 - rss0) * 1024 / n))
	t0=$(now_ns)
	wg show "$IFH" dump >"$OUT/dump.txt" || die "$lab: wg show dump failed"
	record "$rep" "$lab" dump_s "$(secs "$t0")"
	got=$(($(wc -l <"$OUT/dump.txt") - 1))
	record "$rep" "$lab" peers "$got"
	[ "$got" -eq "$n" ] || die "$lab: $got peers listed, $n configured"
	read -r x _ < <(helper uapi-get "/run/wireguard/$IFH.sock") || die "$lab: UAPI get"
	record "$rep" "$lab" uapi_get_s "$x"
	timed_sets "$lab" "$rep"
	say "rep $rep $lab: setconf $(awk -v l="$lab" -v r="$rep" '$1 == r && $2 == l && $3 == "setconf_s" { print $4 }' "$RAW") s, $((rss1 / 1024)) MiB"
}

# traffic REP LABEL SUFFIX: idle ping, then TCP c -> h with ping alongside.
traffic()
{
	local rep=$1 lab=$2 sfx=$3 t0 p
	record "$rep" "$lab" "ping${sfx}_ms" "$(ip netns exec "$NSC" ping -n -q -c 40 -i 0.05 "$HUB4" |
		awk -F/ '/^rtt/ { print $5 }')"
	bg "$NSC" "$OUT/ping-tcp.txt" ping -D -n -i 0.05 "$HUB4"
	p=$BG
	t0=$(date +%s.%N)
	ip netns exec "$NSC" timeout $((TPUT_S + 20)) iperf3 -c "$HUB4" -t "$TPUT_S" -i 0.5 --forceflush -f m \
		>"$OUT/iperf-$lab$sfx-r$rep.txt" 2>&1
	kill -INT "$p" 2>/dev/null
	wait "$p" 2>/dev/null
	forget "$p"
	record "$rep" "$lab" "tcp${sfx}_mbps" "$(helper iperf "$OUT/iperf-$lab$sfx-r$rep.txt" "$t0")"
	if [ -z "$sfx" ]; then
		read -r _ _ _ p50 _ max < <(helper ping "$OUT/ping-tcp.txt" 0.05)
		record "$rep" "$lab" ping_tcp_p50_ms "$p50"
		record "$rep" "$lab" ping_tcp_max_ms "$max"
	fi
}

# storm REP LABEL: the storm from SOURCES addresses (one wgstorm, one socket
# per address), TCP and ping alongside.
storm()
{
	local rep=$1 lab=$2 ipf p t0 ts te hs d0 c0 out
	out=$OUT/storm-$lab-r$rep.out
	bg "$NSC" "$OUT/ping-storm.txt" ping -D -n -i 0.05 "$HUB4"
	p=$BG
	t0=$(date +%s.%N)
	bg "$NSC" "$OUT/iperf-storm-$lab-r$rep.txt" iperf3 -c "$HUB4" -t 300 -i 0.5 --forceflush -f m
	ipf=$BG
	sleep 1.5
	d0=$(udp_rcvbuf_errors "$NSH")
	c0=$(cpu_ticks "$HPID")
	ts=$(date +%s.%N)
	bg "$NSS" "$out" "$WGSTORM_BIN" -d 198.51.100.1:51820 -P "$HUB_PUB" -k "$OUT/storm.keys" \
		-b 198.51.100.2 -n "$SOURCES" -t "$STORM_T"
	wait "$BG"
	forget "$BG"
	te=$(date +%s.%N)
	record "$rep" "$lab" storm_hub_cpu_s "$(awk -v a="$c0" -v b="$(cpu_ticks "$HPID")" -v hz="$HZ" 'BEGIN { printf "%.2f", (b - a) / hz }')"
	record "$rep" "$lab" storm_hub_rcvbuf_drops $(($(udp_rcvbuf_errors "$NSH") - d0))
	sleep 0.5
	kill -INT "$ipf" "$p" 2>/dev/null
	wait "$ipf" "$p" 2>/dev/null
	forget "$ipf"
	forget "$p"
	grep -q '^wgstorm: peers=' "$out" || echo "scale: $lab: wgstorm printed no result: $(tail -n 3 "$out")" >&2
	awk '/^wgstorm: peers=/ { for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } }
		END { printf "%d %d %d %d %.3f %d %d\n", v["completed"], v["failed"], v["cookies"], v["retries"],
			v["elapsed_ms"] / 1000, v["p50_ms"], v["p99_ms"] }' "$out" >"$OUT/storm-sum.txt"
	read -r sdone sfail scook sretry sel sp50 sp99 <"$OUT/storm-sum.txt"
	record "$rep" "$lab" storm_done "$sdone"
	record "$rep" "$lab" storm_failed "$sfail"
	record "$rep" "$lab" storm_cookies "$scook"
	record "$rep" "$lab" storm_retries "$sretry"
	record "$rep" "$lab" storm_s "$sel"
	record "$rep" "$lab" storm_p50_ms "$sp50"
	record "$rep" "$lab" storm_p99_ms "$sp99"
	hs=$(wg show "$IFH" latest-handshakes | awk 'NR == FNR { w[$1] = 1; next } ($1 in w) && $2 > 0 { n++ } END { print n + 0 }' \
		<(awk -v s="$STORM" '/^PublicKey = / { if (n++ < s) print $3 }' "$OUT/hub-$N.conf") -)
	record "$rep" "$lab" storm_hub_hs "$hs"
	record "$rep" "$lab" storm_tcp_mbps "$(helper iperf "$OUT/iperf-storm-$lab-r$rep.txt" "$t0" "$ts" "$te")"
	read -r _ _ loss p50 _ max < <(helper ping "$OUT/ping-storm.txt" 0.05 "$ts" "$te")
	record "$rep" "$lab" storm_ping_loss "$loss"
	record "$rep" "$lab" storm_ping_p50_ms "$p50"
	record "$rep" "$lab" storm_ping_max_ms "$max"
	say "rep $rep $lab: storm $sdone/$STORM done in $sel s (hub: $hs), cookies $scook, ping loss $loss%"
}

# full REP LABEL IMPL COUNT CONF: control, then client traffic and storm.
full()
{
	local rep=$1 lab=$2 impl=$3
	control "$@"
	client_start "$impl"
	set_1peer "$lab" "$rep"
	iperf_server
	traffic "$rep" "$lab" ""
	storm "$rep" "$lab"
	stop_daemon "$ISRV"
	stop_daemon "$CPID"
	stop_daemon "$HPID"
}

# one_peer REP LABEL IMPL: the client as the hub's only peer.
one_peer()
{
	local rep=$1 lab=$2 impl=$3
	hub_start "$impl"
	wg setconf "$IFH" "$OUT/hub-1.conf" || die "$lab: wg setconf of 1 peer failed"
	client_start "$impl"
	iperf_server
	traffic "$rep" "$lab" _1
	stop_daemon "$ISRV"
	stop_daemon "$CPID"
	stop_daemon "$HPID"
}

# idle_probe: wireguard-go offered all N peers (sets M); both hubs idle.
idle_probe()
{
	local t0 rc w0 w1 g0 g1 wp gp
	hub_start wgd
	wp=$HPID
	wg setconf "$IFH" "$OUT/hub-$N.conf" || die "wgd: wg setconf of $N peers failed"
	hub_start wggo "$NSI" "$IFI"
	gp=$HPID
	t0=$(now_ns)
	wg setconf "$IFI" "$OUT/hub-$N.conf" 2>"$OUT/wggo-probe.err"
	rc=$?
	PROBE_S=$(secs "$t0")
	M=$(wg show "$IFI" peers | wc -l)
	PROBE="wireguard-go offered $N peers: wg setconf rc=$rc after ${PROBE_S} s, $M peers kept"
	[ "$M" -ge "$N" ] || PROBE="$PROBE; its log: $(grep -m1 -i 'error' "$OUT/wggo-$IFI.log" | sed 's/.*) [0-9/]* [0-9:]* //')"
	say "$PROBE"
	[ "$M" -gt "$STORM" ] || die "wireguard-go kept only $M peers, not more than the storm's $STORM"
	say "both hubs idle for $IDLE_S s"
	sleep 5
	w0=$(cpu_ticks "$wp")
	g0=$(cpu_ticks "$gp")
	sleep "$IDLE_S"
	w1=$(cpu_ticks "$wp")
	g1=$(cpu_ticks "$gp")
	record 1 wgd idle_cpu_ms $(((w1 - w0) * 1000 / HZ))
	record 1 wggo idle_cpu_ms $(((g1 - g0) * 1000 / HZ))
	record 1 wgd idle_rss_kb "$(rss_kb "$wp")"
	record 1 wggo idle_rss_kb "$(rss_kb "$gp")"
	stop_daemon "$gp"
	stop_daemon "$wp"
}

# noaip REP LABEL IMPL COUNT CONF: RSS per peer without allowed IPs.
noaip()
{
	local rep=$1 lab=$2 impl=$3 n=$4 conf=$5 rss0 rss1 t0 with
	hub_start "$impl"
	rss0=$(rss_kb "$HPID")
	t0=$(now_ns)
	wg setconf "$IFH" "$conf" || die "$lab: wg setconf without allowed IPs failed"
	record "$rep" "$lab" noaip_setconf_s "$(secs "$t0")"
	sleep 1
	rss1=$(rss_kb "$HPID")
	record "$rep" "$lab" noaip_peer_b $(((rss1 - rss0) * 1024 / n))
	with=$(awk -v l="$lab" '$2 == l && $3 == "peer_b" { s += $4; k++ } END { print (k ? int(s / k) : 0) }' "$RAW")
	record "$rep" "$lab" aip_peer_b $((with - (rss1 - rss0) * 1024 / n))
	stop_daemon "$HPID"
}

describe()
{
	echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "cpu: $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(nproc) cores; kernel $(uname -r)"
	echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "N=$N storm=$STORM from $SOURCES source addresses, reps=$REPS, idle ${IDLE_S} s, TCP ${TPUT_S} s"
	echo "wgd: $WGD_BIN (built $(date -u -r "$WGD_BIN" "+%Y-%m-%d %H:%M UTC"); repository HEAD $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null))"
	echo "wireguard-go: $WGGO_BIN ($("$WGGO_BIN" --version 2>&1 | head -n 1))"
	echo "wg: $(wg --version)"
}

T_START=$(date +%s)
describe | tee "$OUT/machine.txt" >&2
underlay
configs
idle_probe
if [ "$M" -lt "$N" ]; then
	gen "$M" "$OUT/hub-$M.conf" --storm "$STORM" --storm-keys "$OUT/storm-m.keys"
	cmp -s "$OUT/storm.keys" "$OUT/storm-m.keys" || die "storm keys differ between the configurations"
fi
WGD_M=wgd@$M
for rep in $(seq "$REPS"); do
	full "$rep" wgd wgd "$N" "$OUT/hub-$N.conf"
	[ "$M" -ge "$N" ] || control "$rep" "$WGD_M" wgd "$M" "$OUT/hub-$M.conf"
	[ "$M" -ge "$N" ] || stop_daemon "$HPID"
	full "$rep" wggo wggo "$M" "$OUT/hub-$M.conf"
	one_peer "$rep" wgd wgd
	one_peer "$rep" wggo wggo
	if [ "$rep" = 1 ]; then
		gen "$N" "$OUT/noaip-$N.conf" --no-allowed-ips
		noaip 1 wgd wgd "$N" "$OUT/noaip-$N.conf"
		if [ "$M" -lt "$N" ]; then
			gen "$M" "$OUT/noaip-$M.conf" --no-allowed-ips
			noaip 1 "$WGD_M" wgd "$M" "$OUT/noaip-$M.conf"
		fi
		noaip 1 wggo wggo "$M" "$OUT/noaip-$([ "$M" -lt "$N" ] && echo "$M" || echo "$N").conf"
	fi
done
# Ratios of the TCP figures, per repetition.
awk -F'\t' '$3 == "tcp_mbps" { a[$1 FS $2] = $4 } $3 == "tcp_1_mbps" { b[$1 FS $2] = $4 }
	$3 == "storm_tcp_mbps" { c[$1 FS $2] = $4 }
	END { for (k in a) { split(k, x, FS); if (b[k] > 0) printf "%s\t%s\ttcp_n_over_1\t%.3f\n", x[1], x[2], a[k] / b[k]
		if (a[k] > 0 && (k in c)) printf "%s\t%s\tstorm_tcp_kept\t%.3f\n", x[1], x[2], c[k] / a[k] } }' "$RAW" >>"$RAW"

{
	echo
	echo "### A hub with $N peers: wgd against wireguard-go ($("$WGGO_BIN" --version 2>&1 | head -n 1 | awk '{ print $2 }'))"
	echo
	cat "$OUT/machine.txt"
	echo "$PROBE"
	echo
	if [ "$M" -lt "$N" ]; then
		helper table "$RAW" "wgd=wgd $N,$WGD_M=wgd $M,wggo=wireguard-go $M" "$WGD_M" wggo "$IDLE_S"
	else
		helper table "$RAW" "wgd=wgd $N,wggo=wireguard-go $N" wgd wggo "$IDLE_S"
	fi
	echo
	echo "Columns: wgd with $N peers; $([ "$M" -lt "$N" ] && echo "wgd with $M peers (timings and memory only); ")wireguard-go with $M peers."
	echo "Median (min..max) over $REPS repetitions (idle CPU, memory without allowed IPs: one run)."
	echo "Storm: $STORM peers from $SOURCES source addresses (wgstorm -n), all handshakes at once, unanswered"
	echo "initiations resent after about 1 s (real peers wait 5 s); latency: first initiation to response;"
	echo "TCP and ping meanwhile: over the storm's window. Total run $(($(date +%s) - T_START)) s."
} | tee "$OUT/report.md"
echo "raw data: $RAW" >&2
