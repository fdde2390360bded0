#!/usr/bin/env bash
# The silent-tunnel diagnosis (issue 15) in netns, wgd on both sides: node a
# is "us", node b the peer. Each case breaks the tunnel the way an operator
# would and asserts the counters (`wgd metrics`) and the verdict of
# `wgd diagnose IF --json` on the side(s) that can see it:
#  - wrong_key: b names a key for a that is not a's: a counts mac1 rejects
#    from b's address (unmatched while a has no endpoint for b, then
#    wrong_key_for_us once it has), b sees its initiations unanswered.
#  - old_key: a changes its private key; b (its config re-applied) still
#    names the old public key: the same mac1 reason, wrong_key_for_us.
#  - unknown_key: a has the wrong public key for b: unknown_peer rejects
#    from b's address, unknown_key; b unanswered.
#  - wrong_port: a sends to a port nothing listens on: ICMP port
#    unreachable counted (device and peer), no_packets_port_unreachable.
#  - firewall: nft in b drops a's UDP: no ICMP, no_packets_no_answer, and
#    under steady traffic (ping -i 0.2) wgd_peer_unanswered_seconds passes
#    10 s and the log says "unanswered for N s" with N > 5.
#  - host_down: b's address is gone (nothing answers ARP): the kernel of a
#    reports the neighbour failure as ICMP host unreachable to the socket:
#    no_packets_host_unreachable.
#  - inner_src: b sends from an inner address outside a's AllowedIPs for
#    it: inner_src_mismatch drops (device and peer) and the finding.
#  - roaming: b moves to another address: endpoint changes +1 (device and
#    peer).
#  - replay: a data packet of b captured on b's underlay (AF_PACKET) and
#    sent again as the same frame: replayed drops +1 (device and peer).
#  - noise: no "no peer has an allowed ip covering ff02::" once the router
#    solicitations were counted as multicast drops; `ip link del` of the
#    interface logs "TUN interface went away: stopping" at INFO.
. "$(dirname "$0")/lib.sh"

# wgdx NODE args...: the companion subcommands of the binary under test.
wgdx()
{
	local n=$1
	shift
	nsx "$n" "$IMPL_UNDER_TEST" "$@"
}

# The value of one sample of an exposition on stdin: NAME and LABEL=VALUE
# pairs that must all match (other labels ignored); empty if absent. Label
# values are unescaped (\\ \" \n) before the comparison.
SAMPLE_PY=$(
	cat <<'EOF'
import re, sys
name, want = sys.argv[1], dict(a.split("=", 1) for a in sys.argv[2:])
lab = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
unesc = lambda s: re.sub(r'\\(.)', lambda m: "\n" if m.group(1) == "n" else m.group(1), s)
found = None
for line in sys.stdin:  # read to the end: the writer never sees EPIPE
    m = re.match(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)', line)
    if found is not None or not m or m.group(1) != name:
        continue
    labels = {k: unesc(v) for k, v in lab.findall(m.group(3) or "")}
    if all(labels.get(k) == v for k, v in want.items()):
        found = m.group(4)
if found is not None:
    print(found)
EOF
)

# mval NODE NAME [LABEL=VALUE...]: a sample of NODE's metrics (wgd metrics).
mval()
{
	local n=$1
	shift
	wgdx "$n" metrics "${IFACE[$n]}" | python3 -c "$SAMPLE_PY" "$@"
}

# mnum NODE NAME [LABEL=VALUE...]: the same as an integer (0 if absent).
mnum()
{
	local v
	v=$(mval "$@")
	printf '%.0f\n' "${v:-0}"
}

# diag NODE: the JSON diagnosis, saved in $T_STATE/diag.NODE.
diag()
{
	wgdx "$1" diagnose "${IFACE[$1]}" --json >"$T_STATE/diag.$1"
}

# codes NODE KEY: the finding codes of peer KEY in NODE's last diag.
codes()
{
	python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(" ".join(f["code"] for p in d["peers"] if p["public_key"] == sys.argv[2] for f in p["findings"]))' \
		"$T_STATE/diag.$1" "$2"
}

# unmatched NODE: "source reason count" lines of NODE's last diag.
unmatched()
{
	python3 -c 'import json, sys
for r in json.load(open(sys.argv[1]))["unmatched_rejects"]:
    print(r["source"], r["reason"], r["count"])' "$T_STATE/diag.$1"
}

# has_code NODE KEY CODE: the code among the peer's findings (fresh diag).
has_code()
{
	diag "$1" && [[ " $(codes "$1" "$2") " == *" $3 "* ]]
}

# eventually SECONDS cmd...: polls cmd every 0.2 s until it succeeds.
eventually()
{
	local s=$1 i
	shift
	for i in $(seq $((s * 5))); do
		"$@" && return 0
		sleep 0.2
	done
	"$@"
}

# ge NODE MIN NAME [LABEL=VALUE...]: the sample is at least MIN.
ge() { awk -v v="$(mval "$1" "${@:3}")" -v m="$2" 'BEGIN { exit !(v != "" && v + 0 >= m) }'; }

# diag_check DESC NODE KEY CODE: the code shows up within 10 s; the FAIL
# line carries the codes seen.
diag_check()
{
	if eventually 10 has_code "$2" "$3" "$4"; then
		pass "$1: diagnose says $4"
	else
		fail "$1: diagnose: want $4, got '$(codes "$2" "$3")'"
	fi
}

# count_check DESC NODE MIN NAME [LABEL=VALUE...]: the counter reaches MIN
# within 10 s.
count_check()
{
	local d=$1 n=$2 min=$3
	shift 3
	if eventually 10 ge "$n" "$min" "$@"; then
		pass "$d: $n: $* = $(mval "$n" "$@") (>= $min)"
	else
		fail "$d: $n: $* = '$(mval "$n" "$@")', want >= $min"
	fi
}

# pair_bare: nodes a and b running wgd, linked, keys and ports set, no peer.
pair_bare()
{
	pair_nodes
	daemon_start a wgd
	daemon_start b wgd
	wgx a set wgta private-key "$T_STATE/a.key" listen-port "${PORT[a]}" || die "wg set a"
	wgx b set wgtb private-key "$T_STATE/b.key" listen-port "${PORT[b]}" || die "wg set b"
}

# peer_set NODE KEY OF [ENDPOINT]: NODE gets peer KEY with OF's tunnel
# addresses as AllowedIPs.
peer_set()
{
	local args=(peer "$2" allowed-ips "$(t4 "$3")/32,$(t6 "$3")/128")
	[ $# -ge 4 ] && args+=(endpoint "$4")
	wgx "$1" set "${IFACE[$1]}" "${args[@]}" || die "wg set ${args[*]} on $1"
}

randkey() { wg genkey | wg pubkey; }

# reject_check DESC REASON: a counts the handshake failure REASON, and its
# ring holds b's address with it.
reject_check()
{
	count_check "$1" a 1 wgd_handshake_failures_total reason="$2"
	if eventually 5 ge a 1 wgd_handshake_reject_last_seconds reason="$2" source="$(u4 b):${PORT[b]}"; then
		pass "$1: a's refused-handshake ring has $(u4 b):${PORT[b]} ($2)"
	else
		fail "$1: a's ring lacks $(u4 b):${PORT[b]} ($2): $(wgdx a metrics wgta | grep reject_last)"
	fi
}

# peer_unanswered DESC NODE KEY: NODE's initiations to KEY go unanswered
# (gauge > 0, finding unanswered).
peer_unanswered()
{
	if eventually 8 ge "$2" 1 wgd_peer_unanswered_seconds public_key="$3"; then
		pass "$1: $2 counts its initiations unanswered ($(mval "$2" wgd_peer_unanswered_seconds public_key="$3") s)"
	else
		fail "$1: $2: wgd_peer_unanswered_seconds stays '$(mval "$2" wgd_peer_unanswered_seconds public_key="$3")'"
	fi
	diag_check "$1: $2" "$2" "$3" unanswered
}

test_wrong_key()
{
	local k tag="wrong key for us" src
	pair_bare
	k=$(randkey)
	peer_set a "${PUB[b]}" b
	peer_set b "$k" a "$(endpoint_of a 4)"
	tunnel_addrs a
	tunnel_addrs b
	check "$tag: b cannot reach a" ping_fails b "$(t4 a)"
	reject_check "$tag" mac1_other_key
	src="$(u4 b):${PORT[b]}"
	diag a
	if unmatched a | grep -q "^$src mac1_other_key [1-9]"; then
		pass "$tag: a (no endpoint for b) lists $src mac1_other_key in unmatched_rejects"
	else
		fail "$tag: a's unmatched_rejects: '$(unmatched a | tr '\n' ';')', want $src mac1_other_key"
	fi
	peer_set a "${PUB[b]}" b "$(endpoint_of b 4)"
	diag_check "$tag: a (endpoint of b now known)" a "${PUB[b]}" wrong_key_for_us
	diag a
	eq "$tag: a: the reject is now the peer's, not unmatched" "$(unmatched a | grep -c "^$src ")" 0
	peer_unanswered "$tag" b "$k"
	pair_down
}

test_old_key()
{
	local old tag="old key of ours"
	pair_up wgd wgd 4 both
	check "$tag: ping before" ping_ok b "$(t4 a)"
	old=${PUB[a]}
	keygen a
	wgx a set wgta private-key "$T_STATE/a.key" || fail "$tag: key change on a"
	# b's config applied again (a restart, wg syncconf): a fresh peer that
	# still names a's old public key, no session left.
	wgx b set wgtb peer "$old" remove || fail "$tag: peer remove on b"
	peer_set b "$old" a "$(endpoint_of a 4)"
	check "$tag: b cannot reach a" ping_fails b "$(t4 a)"
	reject_check "$tag" mac1_other_key
	diag_check "$tag: a" a "${PUB[b]}" wrong_key_for_us
	peer_unanswered "$tag" b "$old"
	pair_down
}

test_unknown_key()
{
	local k tag="wrong public key for the peer"
	pair_bare
	k=$(randkey)
	peer_set a "$k" b "$(endpoint_of b 4)"
	peer_set b "${PUB[a]}" a "$(endpoint_of a 4)"
	tunnel_addrs a
	tunnel_addrs b
	check "$tag: b cannot reach a" ping_fails b "$(t4 a)"
	reject_check "$tag" unknown_peer
	diag_check "$tag: a (peer $k)" a "$k" unknown_key
	peer_unanswered "$tag" b "${PUB[a]}"
	pair_down
}

# unreached DESC: b's side of a tunnel a cannot reach: b (no endpoint for
# a) never got an initiation and says the peer never connected.
unreached()
{
	eq "$1: b never received an initiation" \
		"$(mnum b wgd_handshake_messages_total event=initiation_received)" 0
	diag_check "$1: b" b "${PUB[a]}" no_endpoint
}

# endpoint_port NODE UL PORT: NODE's address with another port.
endpoint_port()
{
	if [ "$2" = 6 ]; then echo "[$(u6 "$1")]:$3"; else echo "$(u4 "$1"):$3"; fi
}

test_wrong_port()
{
	local ul tag
	for ul in 4 6; do
		tag="wrong endpoint port (IPv$ul)"
		pair_up wgd wgd "$ul" a
		peer_set a "${PUB[b]}" b "$(endpoint_port b "$ul" $((PORT[b] + 7)))"
		check "$tag: a cannot reach b" ping_fails a "$(t4 b)"
		count_check "$tag" a 1 wgd_icmp_errors_total kind=port_unreachable
		count_check "$tag (per peer)" a 1 wgd_peer_icmp_errors_total public_key="${PUB[b]}" kind=port_unreachable
		eq "$tag: a: no host unreachable" "$(mnum a wgd_icmp_errors_total kind=host_unreachable)" 0
		diag_check "$tag: a" a "${PUB[b]}" no_packets_port_unreachable
		check "$tag: a: the text form says it for people" \
			grep -q 'nothing listens on that port' <<<"$(wgdx a diagnose wgta)"
		unreached "$tag"
		pair_down
	done
}

# host_gone UL: b's underlay address of family UL is removed. No ARP/ND
# answer: after its 3 probes the kernel of a reports the failed neighbour
# to the sending socket (ICMP host unreachable, ICMPv6 address
# unreachable), which wgd reads off the error queue.
host_gone()
{
	local ul=$1 tag="endpoint host down: address gone (IPv$1)"
	pair_up wgd wgd "$ul" a
	if [ "$ul" = 6 ]; then
		nsx b ip addr del "$(u6 b)/64" dev u0 || die "ip addr del in b"
	else
		nsx b ip addr del "$(u4 b)/24" dev u0 || die "ip addr del in b"
	fi
	check "$tag: a cannot reach b" ping_fails a "$(t4 b)"
	count_check "$tag" a 1 wgd_icmp_errors_total kind=host_unreachable
	count_check "$tag (per peer)" a 1 wgd_peer_icmp_errors_total public_key="${PUB[b]}" kind=host_unreachable
	eq "$tag: a: no port unreachable" "$(mnum a wgd_icmp_errors_total kind=port_unreachable)" 0
	diag_check "$tag: a" a "${PUB[b]}" no_packets_host_unreachable
	unreached "$tag"
	pair_down
}

# link_gone: b's end of the veth goes down (a's loses its carrier). The
# kernel of a drops the datagrams on the carrier-less device without any
# error to the socket: no ICMP, "no answer at all".
link_gone()
{
	local tag="endpoint host down: link down" d0 d1
	pair_up wgd wgd 4 a
	nsx b ip link set u0 down || die "ip link set down in b"
	d0=$(nsx a cat /sys/class/net/u0/statistics/tx_dropped)
	check "$tag: a cannot reach b" ping_fails a "$(t4 b)"
	diag_check "$tag: a" a "${PUB[b]}" no_packets_no_answer
	d1=$(nsx a cat /sys/class/net/u0/statistics/tx_dropped)
	log "   a's u0 (no carrier): tx_dropped $d0 -> $d1"
	eq "$tag: a: no ICMP error of any kind" "$(mnum a wgd_icmp_errors_total kind=port_unreachable) \
$(mnum a wgd_icmp_errors_total kind=host_unreachable) $(mnum a wgd_icmp_errors_total kind=other)" "0 0 0"
	pair_down
}

# route_gone: a's route to b is "unreachable": every send fails at once
# with EHOSTUNREACH (no datagram, no ICMP): wgd counts the socket errors,
# for the device and for the peer, and diagnoses send_failed (nothing
# left the host: not silence on b's side).
route_gone()
{
	local tag="endpoint unreachable by route"
	pair_up wgd wgd 4 a
	nsx a ip route add unreachable "$(u4 b)/32" || die "ip route add unreachable in a"
	check "$tag: a cannot reach b" ping_fails a "$(t4 b)"
	count_check "$tag" a 1 wgd_socket_errors_total op=udp_send
	count_check "$tag" a 1 wgd_peer_send_errors_total
	eq "$tag: a: no ICMP error" "$(mnum a wgd_icmp_errors_total kind=host_unreachable)" 0
	check "$tag: a's log names the failed send" \
		grep -q "send to $(u4 b):${PORT[b]} failed: No route to host" "$(dlog a)"
	diag_check "$tag: a" a "${PUB[b]}" send_failed
	unreached "$tag"
	pair_down
}

test_host_down()
{
	host_gone 4
	host_gone 6
	link_gone
	route_gone
}

# unanswered_log NODE: the largest N of the log's "unanswered for N s".
unanswered_log()
{
	sed -n 's/.*unanswered for \([0-9]*\) s.*/\1/p' "$(dlog "$1")" | sort -n | tail -n1
}

test_firewall()
{
	local tag="firewall drops a's UDP" u0 u1 ping_pid v
	pair_up wgd wgd 4 a
	nsx b nft -f - <<-EOF || die "nft in b"
		table inet wgdt {
			chain input {
				type filter hook input priority 0;
				udp dport ${PORT[b]} counter drop
			}
		}
	EOF
	# Steady traffic for 12 s: every packet used to restart the retry clock.
	bg_start a "$T_LOGDIR/ping-fw.log" ping -n -q -i 0.2 -w 12 "$(t4 b)"
	ping_pid=$BG_PID
	eventually 5 ge a 1 wgd_peer_unanswered_seconds public_key="${PUB[b]}"
	u0=$(mval a wgd_peer_unanswered_seconds public_key="${PUB[b]}")
	if eventually 14 ge a 11 wgd_peer_unanswered_seconds public_key="${PUB[b]}"; then
		pass "$tag: a's unanswered time grows under steady traffic past 10 s ($u0 -> $(mval a wgd_peer_unanswered_seconds public_key="${PUB[b]}") s)"
	else
		fail "$tag: a's unanswered time stays at $(mval a wgd_peer_unanswered_seconds public_key="${PUB[b]}") s (first seen $u0)"
	fi
	diag_check "$tag: a" a "${PUB[b]}" no_packets_no_answer
	diag_check "$tag: a" a "${PUB[b]}" unanswered
	u1=$(mnum a wgd_icmp_errors_total kind=port_unreachable)
	eq "$tag: a: no ICMP error of any kind" \
		"$u1 $(mnum a wgd_icmp_errors_total kind=host_unreachable) $(mnum a wgd_icmp_errors_total kind=other)" "0 0 0"
	v=$(nsx b nft list ruleset | sed -n 's/.*counter packets \([0-9]*\).*/\1/p')
	check "$tag: the initiations reached b and were dropped there (nft counter $v)" test "${v:-0}" -ge 2
	bg_wait "$ping_pid"
	log "   a's log, 'unanswered for N s' during 12 s of traffic: N = $(sed -n 's/.*unanswered for \([0-9]*\) s.*/\1/p' "$(dlog a)" | tr '\n' ' ')"
	v=$(unanswered_log a)
	check "$tag: a's log says 'unanswered for ${v:-?} s' with N > 5" test "${v:-0}" -gt 5
	unreached "$tag"
	pair_down
}

test_inner_src()
{
	local tag="inner source outside AllowedIPs"
	pair_up wgd wgd 4 both
	check "$tag: ping before" ping_ok b "$(t4 a)"
	nsx b ip addr add 10.0.0.99/32 dev wgtb || die "ip addr add in b"
	check "$tag: b's ping from 10.0.0.99 gets nothing" ping_fails b "$(t4 a)" -I 10.0.0.99
	count_check "$tag" a 3 wgd_dropped_packets_total reason=inner_src_mismatch
	count_check "$tag (per peer)" a 3 wgd_peer_dropped_packets_total public_key="${PUB[b]}" reason=inner_src_mismatch
	diag_check "$tag: a" a "${PUB[b]}" inner_source_outside_allowed_ips
	diag b; log "   b about a: $(codes b "${PUB[a]}")"
	pair_down
}

test_roaming()
{
	local tag="roaming" d0 p0
	pair_up wgd wgd 4 both
	check "$tag: ping before" ping_ok b "$(t4 a)"
	d0=$(mnum a wgd_endpoint_changes_total)
	p0=$(mnum a wgd_peer_endpoint_changes_total public_key="${PUB[b]}")
	move_addr b 4 12 || die "cannot move b"
	check "$tag: ping after b moved" ping_ok b "$(t4 a)"
	eq "$tag: a follows b" "$(peer_field a "${PUB[b]}" endpoint)" "$(endpoint_of b 4)"
	eq "$tag: a: wgd_endpoint_changes_total +1" "$(mnum a wgd_endpoint_changes_total)" $((d0 + 1))
	eq "$tag: a: wgd_peer_endpoint_changes_total +1" \
		"$(mnum a wgd_peer_endpoint_changes_total public_key="${PUB[b]}")" $((p0 + 1))
	diag b; log "   b about a: $(codes b "${PUB[a]}")"
	pair_down
}

# Captures the first outgoing WireGuard data packet (type 4, longer than a
# keepalive) to UDP port argv[2] on interface argv[1], then sends the same
# frame again on that interface.
REPLAY_PY='import socket, struct, sys, time
ifc, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
s.bind((ifc, 0))
s.settimeout(15)
print("listening", flush=True)
while True:
    f, addr = s.recvfrom(65535)
    if addr[2] != socket.PACKET_OUTGOING or f[12:14] != b"\x08\x00":
        continue
    ip = f[14:]
    hl = (ip[0] & 15) * 4
    if ip[9] != 17:
        continue
    dport = struct.unpack("!H", ip[hl + 2:hl + 4])[0]
    wg = ip[hl + 8:]
    if dport == port and wg[:4] == b"\x04\x00\x00\x00" and len(wg) > 32:
        break
ctr = struct.unpack("<Q", wg[8:16])[0]
# Offloaded checksums are not filled in yet where the frame was caught; an
# IPv4 UDP checksum of 0 means none.
f = f[:14 + hl + 6] + b"\0\0" + f[14 + hl + 8:]
time.sleep(0.5)
s.send(f)
print("replayed", len(f), "bytes, counter", ctr, flush=True)'

test_replay()
{
	local tag="replayed data packet" d0 p0 out cap
	pair_up wgd wgd 4 both
	check "$tag: ping before" ping_ok b "$(t4 a)"
	d0=$(mnum a wgd_dropped_packets_total reason=replayed)
	p0=$(mnum a wgd_peer_dropped_packets_total public_key="${PUB[b]}" reason=replayed)
	out="$T_LOGDIR/replay-${NS[b]}.log"
	bg_start b "$out" python3 -u -c "$REPLAY_PY" u0 "${PORT[a]}"
	cap=$BG_PID
	eventually 5 grep -q '^listening' "$out"
	check "$tag: ping while capturing" ping_ok b "$(t4 a)"
	bg_wait "$cap" || fail "$tag: capture/replay failed: $(tail -n 3 "$out")"
	log "   $(tail -n 1 "$out")"
	if eventually 5 ge a $((d0 + 1)) wgd_dropped_packets_total reason=replayed; then
		pass "$tag: a: wgd_dropped_packets_total{replayed} $d0 -> $(mnum a wgd_dropped_packets_total reason=replayed)"
	else
		fail "$tag: a: wgd_dropped_packets_total{replayed} stays $d0"
	fi
	eq "$tag: a: exactly one replay (device)" "$(mnum a wgd_dropped_packets_total reason=replayed)" $((d0 + 1))
	eq "$tag: a: exactly one replay (peer)" \
		"$(mnum a wgd_peer_dropped_packets_total public_key="${PUB[b]}" reason=replayed)" $((p0 + 1))
	check "$tag: the tunnel still works" ping_ok b "$(t4 a)"
	diag b; log "   b about a: $(codes b "${PUB[a]}")"
	pair_down
}

test_noise()
{
	local tag="log noise" i rc
	pair_up wgd wgd 4 both
	# Router solicitations follow the link coming up within a few seconds.
	count_check "$tag: multicast from the TUN counted" a 1 wgd_dropped_packets_total reason=multicast
	check "$tag: a never logs multicast as a missing peer" \
		not grep -q 'no peer has an allowed ip covering ff02' "$(dlog a)"
	nsx a ip link del wgta || fail "$tag: ip link del wgta"
	for i in $(seq 50); do
		daemon_alive a || break
		sleep 0.1
	done
	if daemon_alive a; then
		fail "$tag: wgd still runs 5 s after its interface was deleted"
	else
		wait "${PID[a]}"
		rc=$?
		forget_pid "${PID[a]}"
		PID[a]=""
		eq "$tag: wgd exits with status 0 when its interface goes away" "$rc" 0
		check "$tag: 'TUN interface went away: stopping' logged at INFO" \
			grep -Eq 'INFO.*TUN interface went away: stopping' "$(dlog a)"
		check "$tag: no ERROR line about it" not grep -Eq 'ERROR.*went away' "$(dlog a)"
		sanitizer_clean "$(dlog a)" || fail "$tag: sanitizer report in $(dlog a)"
	fi
	pair_down
}

lib_init
command -v nft >/dev/null || die "missing tool: nft (run scripts/setup.sh)"
run_tests test_wrong_key test_old_key test_unknown_key test_wrong_port test_firewall \
	test_host_down test_inner_src test_roaming test_replay test_noise
