#!/usr/bin/env bash
# Key hygiene of wgd, two wgd daemons (nodes a and b) at LOG_LEVEL=debug:
# a handshake with a preshared key, traffic, `wg showconf` (get replies
# carry the private key and PSK), a PSK change, a private-key change on a
# (sessions dropped, new handshake), removal of the peer, shutdown. Then:
#  - no private key or PSK of the run appears in any daemon log (stdout and
#    stderr), in base64 or hex, whole or as a 10/16-character prefix;
#  - the memory of the running daemons (read through /proc/PID/mem) holds
#    no retired key: a's old private key after the key change, the old PSK
#    after the PSK change, the last PSK on a after the peer is removed; as
#    a control, the scan does find the keys still in use.
. "$(dirname "$0")/lib.sh"

WGDT_LOG_LEVEL=debug

declare -A SECRET # name -> base64 key

secret_new()
{
	local name=$1 f="$T_STATE/secret.$1"
	(umask 077 && wg genkey >"$f") || die "wg genkey failed"
	SECRET[$name]=$(cat "$f")
}

# The forms a key could leak in: base64 and hex (grep -i: either case),
# whole and as a prefix long enough never to match by chance.
key_forms()
{
	local hex
	hex=$(base64 -d <<<"$1" | od -An -tx1 | tr -d ' \n')
	printf '%s\n' "$1" "${1:0:10}" "$hex" "${hex:0:16}"
}

# logs_clean FILE...: none of the secrets in any form.
logs_clean()
{
	local name form f bad=0
	for name in "${!SECRET[@]}"; do
		while read -r form; do
			for f in "$@"; do
				if grep -qiF -- "$form" "$f"; then
					fail "key $name ('${form:0:6}...') appears in $f"
					bad=1
				fi
			done
		done < <(key_forms "${SECRET[$name]}")
	done
	return $bad
}

# mem_has PID NAME: the key NAME (raw bytes, hex, base64) is somewhere in
# the readable memory of PID. Huge mappings (sanitizer shadow) are skipped.
mem_has()
{
	python3 - "$1" "${SECRET[$2]}" <<-'EOF'
		import base64, re, sys
		pid, b64 = sys.argv[1], sys.argv[2]
		raw = base64.b64decode(b64)
		needles = [raw, raw.hex().encode(), raw.hex().upper().encode(), b64.encode()]
		found = False
		with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
		    for line in maps:
		        m = re.match(r"([0-9a-f]+)-([0-9a-f]+) (\S+)", line)
		        lo, hi, perm = int(m[1], 16), int(m[2], 16), m[3]
		        if perm[0] != "r" or hi - lo > (256 << 20) or "[vvar" in line or "[vsyscall]" in line:
		            continue
		        try:
		            mem.seek(lo)
		            data = mem.read(hi - lo)
		        except OSError:
		            continue
		        if any(n in data for n in needles):
		            found = True
		            break
		sys.exit(0 if found else 1)
	EOF
}

set_psk()
{
	local n=$1 p=$2 name=$3
	wgx "$n" set "${IFACE[$n]}" peer "${PUB[$p]}" preshared-key "$T_STATE/secret.$name" ||
		fail "wg set preshared-key on $n"
}

test_keys()
{
	local tag=keys conf
	pair_up wgd wgd 4 a
	SECRET[a1]=$(cat "$T_STATE/a.key")
	SECRET[b]=$(cat "$T_STATE/b.key")
	secret_new psk1
	set_psk a b psk1
	set_psk b a psk1
	check "$tag: handshake with psk1, ping" ping_ok a "$(t4 b)"
	check "$tag: TCP 1 MB" xfer a b "$(t4 b)" 1000000
	conf=$(wgx a showconf "${IFACE[a]}")
	check "$tag: showconf carries the private key and psk1" \
		grep -q "PresharedKey = ${SECRET[psk1]}" <<<"$conf"
	check "$tag: control: a's memory holds psk1 in use" mem_has "${PID[a]}" psk1
	check "$tag: control: a's memory holds its private key" mem_has "${PID[a]}" a1

	# New PSK on both sides; the next handshake uses it.
	secret_new psk2
	set_psk a b psk2
	set_psk b a psk2
	check "$tag: a forgot psk1" not mem_has "${PID[a]}" psk1
	check "$tag: b forgot psk1" not mem_has "${PID[b]}" psk1

	# New private key on a: sessions go, b learns the new public key.
	secret_new a2
	wgx a set "${IFACE[a]}" private-key "$T_STATE/secret.a2" || fail "$tag: wg set private-key"
	wgx b set "${IFACE[b]}" peer "${PUB[a]}" remove || fail "$tag: remove old peer on b"
	PUB[a]=$(wg pubkey <<<"${SECRET[a2]}")
	wgx b set "${IFACE[b]}" peer "${PUB[a]}" preshared-key "$T_STATE/secret.psk2" \
		allowed-ips "$(t4 a)/32,$(t6 a)/128" || fail "$tag: add new peer on b"
	check "$tag: new handshake (new key, psk2), ping" ping_ok a "$(t4 b)"
	check "$tag: ping back" ping_ok b "$(t4 a)"
	wgx a showconf "${IFACE[a]}" >/dev/null
	wgx b showconf "${IFACE[b]}" >/dev/null
	check "$tag: a forgot its old private key" not mem_has "${PID[a]}" a1
	check "$tag: control: a's memory holds psk2" mem_has "${PID[a]}" psk2

	# Peer removal: its PSK and sessions go with it.
	wgx a set "${IFACE[a]}" peer "${PUB[b]}" remove || fail "$tag: remove peer on a"
	eq "$tag: no peer left on a" "$(wgx a show "${IFACE[a]}" peers)" ""
	check "$tag: a forgot psk2 with the peer" not mem_has "${PID[a]}" psk2
	check "$tag: control: b still holds psk2" mem_has "${PID[b]}" psk2

	pair_down
	logs_clean "$T_LOGDIR"/*.log && pass "$tag: no key of the run in any log (${#SECRET[@]} keys)"
}

lib_init
[ -x "$IMPL_UNDER_TEST" ] || die "IMPL_UNDER_TEST=$IMPL_UNDER_TEST is not executable"
run_tests test_keys
