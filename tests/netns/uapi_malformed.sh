#!/usr/bin/env bash
# Malformed UAPI requests sent raw to wgd's socket. Each must be answered
# with errno=<negative number> (or, when the client closes before the blank
# line, nothing at all), the daemon must stay alive and `wg showconf` must
# stay byte-for-byte unchanged: most requests start with a VALID change
# (listen_port, keepalive...) before the bad line, so applying a request
# partially is caught too. wgd applies a request as a whole; wireguard-go,
# which applies line by line, fails the "unchanged" checks by design.
# test_stalled_requests: many connections that stall in the middle of big
# set requests hold no more than the request budget and are closed by the
# stall timeout. Env: WGDT_UAPI_IMPL (default wgd), WGDT_STALL_CONNS (8),
# WGDT_STALL_PEERS (50000 a connection).
. "$(dirname "$0")/lib.sh"

IMPL_KEY=${WGDT_UAPI_IMPL:-wgd}

# Sends stdin raw to the socket; mode "eof" shuts the write side down after
# sending. Prints the reply escaped; exit 0 iff it is exactly
# "errno=-N\n\n" with N > 0 (mode eof: also accepts an empty reply).
UAPI_PY='
import socket, sys, re
path, mode = sys.argv[1], sys.argv[2]
req = sys.stdin.buffer.read().replace(b"<NUL>", b"\0")
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
s.connect(path)
try:
    s.sendall(req)
    if mode == "eof":
        s.shutdown(socket.SHUT_WR)
except (BrokenPipeError, ConnectionResetError):
    pass
buf = b""
try:
    while not buf.endswith(b"\n\n"):
        d = s.recv(4096)
        if not d:
            break
        buf += d
except socket.timeout:
    buf += b"<timeout>"
except ConnectionResetError:
    buf += b"<reset>"
print(repr(buf)[2:-1])
ok = re.fullmatch(rb"errno=-[1-9][0-9]*\n\n", buf) is not None
if mode == "eof" and buf == b"":
    ok = True
sys.exit(0 if ok else 1)
'

uapi_raw() { nsx a python3 -c "$UAPI_PY" "/run/wireguard/${IFACE[a]}.sock" "$1"; }

hexkey() { base64 -d <<<"$1" | od -An -tx1 -v | tr -d ' \n'; }

CASES=()
# add NAME REQUEST [MODE]
add() { CASES+=("$1" "$2" "${3:-normal}"); }

build_cases()
{
	local K NK long i
	K=$(hexkey "${PUB[b]}")
	NK=$(hexkey "$(wg genkey | wg pubkey)")
	long=$(head -c 5000 /dev/zero | tr '\0' 'a')
	add "private_key: bad hex" $'set=1\nlisten_port=4001\nprivate_key='"${K:0:62}zz"$'\n\n'
	add "private_key: 31 bytes" $'set=1\nlisten_port=4001\nprivate_key='"${K:0:62}"$'\n\n'
	add "private_key: 33 bytes" $'set=1\nlisten_port=4001\nprivate_key='"${K}00"$'\n\n'
	add "unknown device key" $'set=1\nlisten_port=4001\nfoo=bar\n\n'
	add "device key after a peer" $'set=1\npublic_key='"$K"$'\npersistent_keepalive_interval=7\nlisten_port=4001\n\n'
	add "allowed_ip: bad prefix" $'set=1\npublic_key='"$K"$'\nallowed_ip=10.1.0.0/16\nallowed_ip=10.2.0.0/xx\n\n'
	add "allowed_ip: /33" $'set=1\npublic_key='"$K"$'\nallowed_ip=10.1.0.0/16\nallowed_ip=10.2.0.0/33\n\n'
	add "allowed_ip: /129" $'set=1\npublic_key='"$K"$'\nallowed_ip=10.1.0.0/16\nallowed_ip=fd01::/129\n\n'
	add "allowed_ip: no prefix length" $'set=1\npublic_key='"$K"$'\nallowed_ip=10.1.0.0/16\nallowed_ip=10.2.0.0\n\n'
	add "allowed_ip: octet 256" $'set=1\npublic_key='"$K"$'\nallowed_ip=10.1.0.0/16\nallowed_ip=10.2.0.256/32\n\n'
	add "allowed_ip: removal of a bad prefix" $'set=1\npublic_key='"$K"$'\nallowed_ip=10.1.0.0/16\nallowed_ip=-10.2.0.0/40\n\n'
	add "allowed_ip without a peer" $'set=1\nlisten_port=4001\nallowed_ip=10.1.0.0/16\n\n'
	add "listen_port 65536" $'set=1\nfwmark=7\nlisten_port=65536\n\n'
	add "listen_port -1" $'set=1\nfwmark=7\nlisten_port=-1\n\n'
	add "listen_port empty" $'set=1\nfwmark=7\nlisten_port=\n\n'
	add "fwmark 2^32" $'set=1\nlisten_port=4001\nfwmark=4294967296\n\n'
	add "missing terminator (EOF before the blank line)" $'set=1\nlisten_port=4001\npublic_key='"$NK"$'\nallowed_ip=10.3.0.0/16\n' eof
	add "oversized line (5000 B)" $'set=1\nlisten_port=4001\npublic_key='"$long"$'\n\n'
	add "endpoint: garbage" $'set=1\npublic_key='"$K"$'\npersistent_keepalive_interval=7\nendpoint=not-an-endpoint\n\n'
	add "endpoint: no port" $'set=1\npublic_key='"$K"$'\npersistent_keepalive_interval=7\nendpoint=192.0.2.9\n\n'
	add "endpoint: port 70000" $'set=1\npublic_key='"$K"$'\npersistent_keepalive_interval=7\nendpoint=192.0.2.9:70000\n\n'
	add "endpoint: IPv6 without brackets" $'set=1\npublic_key='"$K"$'\npersistent_keepalive_interval=7\nendpoint=2001:db8:1::9:51820\n\n'
	add "protocol_version=2" $'set=1\npublic_key='"$NK"$'\nprotocol_version=2\nallowed_ip=10.3.0.0/16\n\n'
	add "keepalive 65536" $'set=1\nlisten_port=4001\npublic_key='"$K"$'\npersistent_keepalive_interval=65536\n\n'
	add "keepalive not a number" $'set=1\nlisten_port=4001\npublic_key='"$K"$'\npersistent_keepalive_interval=abc\n\n'
	add "preshared_key: bad hex" $'set=1\npublic_key='"$K"$'\npersistent_keepalive_interval=7\npreshared_key='"${K:0:63}g"$'\n\n'
	add "public_key: 31 bytes" $'set=1\nlisten_port=4001\npublic_key='"${NK:0:62}"$'\nallowed_ip=10.3.0.0/16\n\n'
	add "replace_peers=maybe" $'set=1\nlisten_port=4001\nreplace_peers=maybe\n\n'
	add "remove=maybe" $'set=1\npublic_key='"$K"$'\npersistent_keepalive_interval=7\nremove=maybe\n\n'
	add "update_only=1" $'set=1\npublic_key='"$NK"$'\nupdate_only=1\nallowed_ip=10.3.0.0/16\n\n'
	add "line without =" $'set=1\nlisten_port=4001\ngarbage\n\n'
	add "NUL byte in a value" $'set=1\nfwmark=7\nlisten_port=40<NUL>01\n\n'
	add "unknown operation" $'sett=1\nlisten_port=4001\n\n'
	add "set=2" $'set=2\nlisten_port=4001\n\n'
}

test_malformed()
{
	local i name req mode c0 c1 reply
	node_add a
	node_add b
	PORT[a]=51821
	PORT[b]=51822
	keygen a
	keygen b
	daemon_start a "$IMPL_KEY"
	wg genpsk >"$T_STATE/psk"
	wgx a set "${IFACE[a]}" private-key "$T_STATE/a.key" listen-port "${PORT[a]}" fwmark 0x99 \
		peer "${PUB[b]}" preshared-key "$T_STATE/psk" endpoint 192.0.2.2:51822 \
		persistent-keepalive 25 allowed-ips 10.0.0.2/32,fd00::2/128 || die "initial wg set failed"
	c0=$(wgx a showconf "${IFACE[a]}")
	build_cases
	for ((i = 0; i < ${#CASES[@]}; i += 3)); do
		name=${CASES[i]} req=${CASES[i + 1]} mode=${CASES[i + 2]}
		# A NUL cannot live in a bash string: "<NUL>" marks it for the helper.
		if reply=$(printf '%s' "$req" | uapi_raw "$mode"); then
			pass "$name: answered '$reply'"
		else
			fail "$name: reply '$reply' is not errno=<negative>"
		fi
		check "$name: daemon alive" daemon_alive a
		daemon_alive a || { daemon_start a "$IMPL_KEY" && wgx a setconf "${IFACE[a]}" <(echo "$c0"); }
		c1=$(wgx a showconf "${IFACE[a]}")
		if [ "$c1" = "$c0" ]; then
			pass "$name: showconf unchanged"
		else
			fail "$name: showconf changed:"
			diff <(echo "$c0") <(echo "$c1") | sed 's/^/    /'
			wgx a setconf "${IFACE[a]}" <(echo "$c0")
		fi
	done
	log "   ($((${#CASES[@]} / 3)) malformed requests)"
	reply=$(printf 'set=1\nlisten_port=4002\n\n' | uapi_raw normal)
	eq "a valid set afterwards answers errno=0" "$reply" 'errno=0\n\n'
	eq "and is applied" "$(iface_field a listen-port)" 4002
	reply=$(printf 'get=1\n\nget=1\n\n' | nsx a python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
s.connect(sys.argv[1])
s.sendall(sys.stdin.buffer.read())
buf = b""
while buf.count(b"errno=0\n\n") < 2:
    d = s.recv(65536)
    if not d:
        break
    buf += d
print(buf.count(b"errno=0\n\n"))' "/run/wireguard/${IFACE[a]}.sock")
	eq "two gets on one connection both answered" "$reply" 2
	pair_down
}

# Opens N connections that each send "set=1" and P peers (about 170 bytes
# of text a peer, as `wg setconf` sends them) and then stall without the
# blank line; prints "sent", then waits up to WAIT seconds for the daemon
# to close them and prints "closed C/N".
STALL_PY='
import os, socket, sys, time
path, n, peers, wait = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
conns = []
for i in range(n):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    body = b"".join(b"public_key=%s\nendpoint=198.18.%d.%d:51820\nreplace_allowed_ips=true\n"
                    b"allowed_ip=10.%d.%d.%d/32\nallowed_ip=fd01::%x:%x/128\n"
                    % (os.urandom(32).hex().encode(), k >> 8 & 255, k & 255,
                       i, k >> 8 & 255, k & 255, k >> 16, k & 0xffff) for k in range(peers))
    s.sendall(b"set=1\n" + body)
    conns.append(s)
print("sent", flush=True)
sys.stdin.readline()  # measured
closed, deadline = 0, time.monotonic() + wait
for s in conns:
    s.settimeout(max(0.1, deadline - time.monotonic()))
    try:
        while s.recv(4096):
            pass
        closed += 1
    except (socket.timeout, ConnectionResetError):
        pass
print("closed %d/%d" % (closed, n), flush=True)
'

status_kb() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }

# key_kb PID: kB of the process's sodium_malloc'd memory, recognised by its
# guard pages (a one-page PROT_NONE mapping right below, one right above).
# This is what is locked when RLIMIT_MEMLOCK allows (the shipped unit sets
# LimitMEMLOCK=infinity); VmLck stops at a lower hard limit.
key_kb()
{
	python3 -c '
import os, sys
maps = []
for line in open("/proc/%s/maps" % sys.argv[1]):
    f = line.split()
    a, b = (int(x, 16) for x in f[0].split("-"))
    maps.append((a, b, f[1], f[4]))
page, total = os.sysconf("SC_PAGE_SIZE"), 0
for i in range(1, len(maps) - 1):
    (a, b, perms, inode), p, n = maps[i], maps[i - 1], maps[i + 1]
    if (perms == "rw-p" and inode == "0" and p[2] == "---p" and p[1] == a and
            p[1] - p[0] == page and n[2] == "---p" and n[0] == b):
        total += b - a
print(total // 1024)' "$1"
}

# Stalled requests pin at most the request budget (64 MiB of change sets,
# src/control.c) however many connections send them, `wg show` keeps
# working meanwhile, and the stall timeout (20 s) closes them.
STALL_CONNS=${WGDT_STALL_CONNS:-8}
STALL_PEERS=${WGDT_STALL_PEERS:-50000}
test_stalled_requests()
{
	local rss0 lck0 key0 rss1 lck1 key1 line fifo
	[ "$IMPL_KEY" = wgd ] || { log "   (stalled requests: wgd only)"; return 0; }
	node_add a
	keygen a
	daemon_start a wgd
	wgx a set "${IFACE[a]}" private-key "$T_STATE/a.key" listen-port 51821 || die "wg set failed"
	rss0=$(status_kb "${PID[a]}" VmRSS) lck0=$(status_kb "${PID[a]}" VmLck) key0=$(key_kb "${PID[a]}")
	fifo=$T_STATE/stall.in
	mkfifo "$fifo"
	nsx a python3 -c "$STALL_PY" "/run/wireguard/${IFACE[a]}.sock" "$STALL_CONNS" "$STALL_PEERS" 60 \
		<"$fifo" >"$T_STATE/stall.out" 2>&1 &
	exec 7>"$fifo"
	for _ in $(seq 600); do
		grep -q '^sent' "$T_STATE/stall.out" && break
		sleep 0.1
	done
	grep -q '^sent' "$T_STATE/stall.out" || { cat "$T_STATE/stall.out"; die "the stalling client did not send"; }
	sleep 1 # the daemon reads what is in its sockets
	rss1=$(status_kb "${PID[a]}" VmRSS) lck1=$(status_kb "${PID[a]}" VmLck) key1=$(key_kb "${PID[a]}")
	log "   $STALL_CONNS stalled sets of $STALL_PEERS peers: VmRSS ${rss0} -> ${rss1} kB," \
		"VmLck ${lck0} -> ${lck1} kB (limit $(awk '/^Max locked/ { print $4 }' "/proc/${PID[a]}/limits") B)," \
		"sodium_malloc'd ${key0} -> ${key1} kB"
	check "stalled requests: VmLck under 64 MiB + 4 MiB" test "$lck1" -lt $(((64 + 4) * 1024))
	check "stalled requests: sodium_malloc'd memory under 64 MiB + 4 MiB" test "$key1" -lt $(((64 + 4) * 1024))
	check "stalled requests: VmRSS grew less than 96 MiB" test $((rss1 - rss0)) -lt $((96 * 1024))
	check "wg show works meanwhile" quiet wgx a show "${IFACE[a]}"
	check "the budget refusal is logged" grep -q "set refused" "$(dlog a)"
	echo >&7
	exec 7>&-
	wait $!
	line=$(tail -n 1 "$T_STATE/stall.out")
	eq "the stall timeout closes every stalled connection" "$line" "closed $STALL_CONNS/$STALL_CONNS"
	check "the close is logged" grep -q "sent part of a request and then nothing" "$(dlog a)"
	log "   after the close: VmRSS $(status_kb "${PID[a]}" VmRSS) kB, VmLck $(status_kb "${PID[a]}" VmLck) kB," \
		"sodium_malloc'd $(key_kb "${PID[a]}") kB"
	check "wg show works afterwards" quiet wgx a show "${IFACE[a]}"
	pair_down
}

lib_init
run_tests test_malformed test_stalled_requests
