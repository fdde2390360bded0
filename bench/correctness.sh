#!/usr/bin/env bash
# Correctness of the fast data path under load, on the netns harness
# (tests/netns/lib.sh): for wgd with offloads and crypto threads (default),
# wgd portable (WGD_PORTABLE=1), wgd single-threaded (WGD_THREADS=1) and the newest
# wireguard-go, each against itself: a TCP transfer of BYTES (default 1 GB)
# through the tunnel, both IPv4 and IPv6 inner, must arrive with the same
# sha256; the sender's TcpRetransSegs during the transfers are reported and
# must not exceed the reference's by more than SLACK (default 20%, plus 50
# segments: the machine is shared and noisy): the newest wireguard-go for
# the fast path, Debian's (also without offloads) for the portable one.
#
# Usage: IMPL_UNDER_TEST=build/wgd bench/correctness.sh [BYTES]
. "$(dirname "$0")/../tests/netns/lib.sh"

BYTES=${1:-1000000000}
SLACK=${CORRECTNESS_SLACK:-20}
declare -A RETRANS

retrans_of() { nsx "$1" nstat -saz TcpRetransSegs | awk '$1 == "TcpRetransSegs" {print $2}'; }

# one VARIANT IMPL ENV...: pair of IMPL with ENV exported, transfers both
# inner families, records retransmits.
one()
{
	local variant=$1 impl=$2 r0 r1 tot=0 fam addr
	shift 2
	log "-- $variant"
	(
		[ $# -eq 0 ] || export "$@"
		pair_up "$impl" "$impl" 4 a
		check "$variant: handshake" ping_ok a "$(t4 b)"
		for fam in 4 6; do
			addr=$([ "$fam" = 4 ] && t4 b || t6 b)
			r0=$(retrans_of a)
			check "$variant: $BYTES B over inner IPv$fam, sha256" xfer a b "$addr" "$BYTES"
			r1=$(retrans_of a)
			log "   $variant IPv$fam: TcpRetransSegs $((r1 - r0))"
			tot=$((tot + r1 - r0))
		done
		echo "$tot" >"$T_STATE/retrans.$variant"
		pair_down
		[ "$T_FAIL" -eq 0 ]
	) || T_FAIL=$((T_FAIL + 1))
	RETRANS[$variant]=$(cat "$T_STATE/retrans.$variant" 2>/dev/null || echo -1)
}

lib_init
one wgd-offload wgd
one wgd-portable wgd WGD_PORTABLE=1
one wgd-1thread wgd WGD_THREADS=1
one wggo-latest wggo-latest
one wggo wggo

# compare VARIANT REFERENCE
compare()
{
	local got=${RETRANS[$1]} ref=${RETRANS[$2]} limit
	limit=$((ref + ref * SLACK / 100 + 50))
	if [ "$got" -ge 0 ] && [ "$ref" -ge 0 ] && [ "$got" -le "$limit" ]; then
		pass "$1: TcpRetransSegs $got <= $limit ($2: $ref)"
	else
		fail "$1: TcpRetransSegs $got > $limit ($2: $ref)"
	fi
}

# The fast path against the wireguard-go with offloads; the portable path
# (no offloads: the TUN queue overflows into drops, as for any one-packet
# reader) against Debian's wireguard-go, which has none either.
compare wgd-offload wggo-latest
compare wgd-1thread wggo-latest
compare wgd-portable wggo
