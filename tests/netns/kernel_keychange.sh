#!/usr/bin/env bash
# The kernel selftest's "change private keys and immediately handshake"
# (netns.sh): node a gets a new private key while b swaps a's old public key
# for the new one; the very next ping must get through. The previous
# initiation (the handshake of the ping before) is well under
# REKEY_TIMEOUT (5 s) old, so a daemon that keeps its initiation rate limit
# across the key change cannot handshake before ping's 2 s deadline.
. "$(dirname "$0")/lib.sh"

REF=${WGDT_REF:-wgd}

# keychange CHANGER: CHANGER gets a new key right after a handshake it
# initiated; one ping with a 2 s deadline must succeed.
keychange()
{
	local n=$1 o tag oldpub i
	o=$([ "$n" = a ] && echo b || echo a)
	tag="key change: ${IMPL[$n]} in $n"
	for i in 1 2 3; do
		oldpub=${PUB[$n]}
		# A fresh handshake initiated by n, so its last initiation is recent.
		check "$tag ($i): ping before" nsx "$n" ping -n -q -c 1 -W 2 "$(t4 "$o")"
		keygen "$n"
		wgx "$n" set "${IFACE[$n]}" private-key "$T_STATE/$n.key" ||
			fail "$tag ($i): wg set private-key"
		wgx "$o" set "${IFACE[$o]}" peer "${PUB[$n]}" allowed-ips "$(t4 "$n")/32,$(t6 "$n")/128" \
			peer "$oldpub" remove || fail "$tag ($i): wg set on $o"
		eq "$tag ($i): new public key shown" "$(iface_field "$n" public-key)" "${PUB[$n]}"
		check "$tag ($i): ping -c1 -W2 right after the change" \
			nsx "$n" ping -n -q -c 1 -W 2 "$(t4 "$o")"
	done
}

test_keychange()
{
	pair_up wgd "$REF" 4 a
	keychange a
	pair_down
}

lib_init
run_tests test_keychange
