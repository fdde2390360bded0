#!/usr/bin/env bash
# Idle memory of one daemon with one peer: wgd (glibc dynamic build and the
# static musl build, each also with WGD_PORTABLE=1) against wireguard-go.
#
# For each repetition and, within it, each implementation in turn: two fresh
# network namespaces rss-PID-a/b joined by a veth pair; the measured daemon
# in a, configured with stock `wg set` (private key, listen port, one peer
# with endpoint and allowed ip), address added, interface up. After SETTLE
# seconds without traffic: VmRSS, RssAnon, RssFile and Threads from
# /proc/PID/status ("idle"). Then one ping through the tunnel to a peer
# daemon in b (wireguard-go-latest; not measured), which must answer, and
# after SETTLE seconds more the same numbers again ("after ping": handshake
# done, keypair installed, data path buffers touched).
#
# Usage: bench/rss.sh [-r REPS] [-w SETTLE] [-i "IMPLS"] [-o DIR] [-s]
#   IMPLS from: wgd wgd-portable wgd-musl wgd-musl-portable wggo-latest
#   wggo-debian (default: all). -s keeps /proc/PID/smaps of every
#   measurement in DIR. Prints a markdown table of the medians; raw values
#   in DIR/raw.tsv.
# Env: WGD_BIN (default build/wgd), WGD_MUSL_BIN (default: the
#   x86_64-linux-musl build of scripts/cross-build.sh under $WGD_CROSS_DIR,
#   build-xcross or /var/cache/wgd-cross), WGGO_LATEST_BIN, WGGO_DEBIAN_BIN,
#   PEER_BIN (the unmeasured peer, default WGGO_LATEST_BIN).
# Needs root, ip, wg, ping. Every implementation asked for must exist.
set -u -o pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
WGD_BIN=${WGD_BIN:-$ROOT/build/wgd}
if [ -z "${WGD_MUSL_BIN:-}" ]; then
	for d in ${WGD_CROSS_DIR:+"$WGD_CROSS_DIR"} "$ROOT/build-xcross" /var/cache/wgd-cross; do
		WGD_MUSL_BIN=$d/x86_64-linux-musl/wgd/wgd
		[ -x "$WGD_MUSL_BIN" ] && break
	done
fi
WGGO_LATEST_BIN=${WGGO_LATEST_BIN:-/opt/wgd-peers/bin/wireguard-go-latest}
WGGO_DEBIAN_BIN=${WGGO_DEBIAN_BIN:-/usr/bin/wireguard-go}
PEER_BIN=${PEER_BIN:-$WGGO_LATEST_BIN}
REPS=3
SETTLE=3
IMPLS="wgd wgd-portable wgd-musl wgd-musl-portable wggo-latest wggo-debian"
OUT=
SMAPS=0

die() {
	echo "rss.sh: $*" >&2
	exit 1
}

while getopts "r:w:i:o:sh" o; do
	case $o in
	r) REPS=$OPTARG ;;
	w) SETTLE=$OPTARG ;;
	i) IMPLS=$OPTARG ;;
	o) OUT=$OPTARG ;;
	s) SMAPS=1 ;;
	*) sed -n '2,/^set -u/p' "$0" | sed '$d;s/^# \{0,1\}//'; exit 2 ;;
	esac
done
[ "$(id -u)" = 0 ] || die "needs root"
for t in ip wg ping; do command -v $t >/dev/null || die "$t not found"; done

impl_bin() {
	case $1 in
	wgd | wgd-portable) echo "$WGD_BIN" ;;
	wgd-musl | wgd-musl-portable) echo "$WGD_MUSL_BIN" ;;
	wggo-latest) echo "$WGGO_LATEST_BIN" ;;
	wggo-debian) echo "$WGGO_DEBIAN_BIN" ;;
	peer) echo "$PEER_BIN" ;;
	*) die "unknown implementation $1" ;;
	esac
}
for impl in $IMPLS; do
	b=$(impl_bin "$impl") || exit 1
	[ -x "$b" ] || die "$impl: no executable $b"
done
[ -x "$PEER_BIN" ] || die "peer: no executable $PEER_BIN"

[ -n "$OUT" ] || OUT=$(mktemp -d /tmp/rss.XXXXXX)
mkdir -p "$OUT" || die "cannot create $OUT"
RAW=$OUT/raw.tsv
: >"$RAW"

NSA="rss-$$-a"
NSB="rss-$$-b"
IFA="rss$$a"
IFB="rss$$b"
PIDS=()
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

# Only the daemons this script started, by PID; then its namespaces.
cleanup() {
	stop_pids
	ip netns del "$NSA" 2>/dev/null
	ip netns del "$NSB" 2>/dev/null
	rm -f "/run/wireguard/$IFA.sock" "/run/wireguard/$IFB.sock"
	return 0
}
trap 'cleanup; exit 130' INT TERM
trap cleanup EXIT

underlay() { two_ns_underlay "$NSA" "$NSB"; }

# start_daemon NS IMPL IFACE: background daemon in the foreground mode, PID
# in DPID once its UAPI socket and interface exist. `ip netns exec` and
# `env` exec, so $! is the daemon itself.
start_daemon() {
	local ns=$1 impl=$2 ifc=$3 bin log extra=()
	log="$OUT/$impl-$ifc.log"
	bin=$(impl_bin "$impl")
	case $impl in
	*-portable) extra=(WGD_PORTABLE=1) ;;
	esac
	ip netns exec "$ns" env LOG_LEVEL=error WG_PROCESS_FOREGROUND=1 "${extra[@]}" \
		"$bin" -f "$ifc" </dev/null >>"$log" 2>&1 &
	adopt_daemon $! "$ns" "$ifc" "$impl" "$log"
}

# measure REP IMPL STATE PID NS IFACE
measure() {
	local rep=$1 impl=$2 state=$3 pid=$4 ns=$5 ifc=$6 f=/proc/$4/status k v
	kill -0 "$pid" 2>/dev/null || die "$impl died before the $state measurement"
	for k in VmRSS RssAnon RssFile Threads; do
		v=$(awk -v k="$k:" '$1 == k {print $2}' "$f")
		[ -n "$v" ] || die "$impl: no $k in $f"
		printf '%s\t%s\t%s\t%s\t%s\n' "$rep" "$impl" "$state" "$k" "$v" >>"$RAW"
	done
	# Bytes the daemon sent to its peer: non-zero "idle" means something
	# (e.g. kernel IPv6 chatter) reached the TUN and started a handshake.
	v=$(ip netns exec "$ns" wg show "$ifc" transfer | awk '{s += $3} END {print s + 0}')
	printf '%s\t%s\t%s\t%s\t%s\n' "$rep" "$impl" "$state" tx "$v" >>"$RAW"
	[ "$SMAPS" = 1 ] && cat "/proc/$pid/smaps" >"$OUT/smaps-$impl-$state-r$rep.txt"
	return 0
}

one_run() {
	local rep=$1 impl=$2 ka kb pa pb pida
	underlay
	start_daemon "$NSA" "$impl" "$IFA"
	pida=$DPID
	start_daemon "$NSB" peer "$IFB"
	ka=$(wg genkey) && kb=$(wg genkey) || die "wg genkey failed"
	pa=$(echo "$ka" | wg pubkey) && pb=$(echo "$kb" | wg pubkey)
	ip netns exec "$NSA" wg set "$IFA" private-key <(echo "$ka") listen-port 51820 \
		peer "$pb" allowed-ips 10.9.0.2/32 endpoint 192.0.2.2:51820 || die "wg set a ($impl)"
	ip netns exec "$NSB" wg set "$IFB" private-key <(echo "$kb") listen-port 51820 \
		peer "$pa" allowed-ips 10.9.0.1/32 endpoint 192.0.2.1:51820 || die "wg set b ($impl)"
	ip -n "$NSA" addr add 10.9.0.1/24 dev "$IFA" && ip -n "$NSA" link set "$IFA" up || die "ip a"
	ip -n "$NSB" addr add 10.9.0.2/24 dev "$IFB" && ip -n "$NSB" link set "$IFB" up || die "ip b"
	sleep "$SETTLE"
	measure "$rep" "$impl" idle "$pida" "$NSA" "$IFA"
	ip netns exec "$NSA" ping -n -q -c 1 -W 5 10.9.0.2 >/dev/null ||
		die "$impl: no answer through the tunnel"
	sleep "$SETTLE"
	measure "$rep" "$impl" ping "$pida" "$NSA" "$IFA"
	cleanup
}

for rep in $(seq "$REPS"); do
	for impl in $IMPLS; do
		echo "rss.sh: run $rep/$REPS $impl" >&2
		one_run "$rep" "$impl"
	done
done

# Medians (the middle value; the lower one of an even count), in kB.
median() {
	awk -F'\t' -v i="$1" -v s="$2" -v k="$3" '$2 == i && $3 == s && $4 == k {print $5}' "$RAW" |
		sort -n | awk '{v[NR] = $1} END {print (NR ? v[int((NR + 1) / 2)] : "-")}'
}

echo
echo "Idle memory, one peer, median of $REPS runs (kB; /proc/PID/status; idle = ${SETTLE} s after up, no traffic; after ping = one ping through the tunnel + ${SETTLE} s)"
echo
echo "| implementation | idle VmRSS | idle RssAnon | idle RssFile | after ping VmRSS | after ping RssAnon | after ping RssFile | threads | idle tx bytes |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for impl in $IMPLS; do
	printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$impl" \
		"$(median "$impl" idle VmRSS)" "$(median "$impl" idle RssAnon)" "$(median "$impl" idle RssFile)" \
		"$(median "$impl" ping VmRSS)" "$(median "$impl" ping RssAnon)" "$(median "$impl" ping RssFile)" \
		"$(median "$impl" ping Threads)" "$(median "$impl" idle tx)"
done
echo
echo "raw: $RAW"
