#!/usr/bin/env bash
# Interoperability: wgd against itself, Debian's wireguard-go, the newest
# wireguard-go and boringtun. For every pair, each side once as initiator
# (it sends first; the responder has no endpoint for it and must learn it),
# over an IPv4 and an IPv6 underlay: ping both inner families in both
# directions, then a TCP transfer initiator -> responder with sha256 check.
#
# Env: WGDT_XFER_BYTES (default 100000000), WGDT_PEERS (default
# "wgd wggo wggo-latest boringtun"), WGDT_UNDERLAYS (default "4 6").
. "$(dirname "$0")/lib.sh"

XFER_BYTES=${WGDT_XFER_BYTES:-100000000}
PEERS=${WGDT_PEERS:-wgd wggo wggo-latest boringtun}
UNDERLAYS=${WGDT_UNDERLAYS:-4 6}

# one_case IMPL_A IMPL_B UNDERLAY INITIATOR(a|b)
one_case()
{
	local ia=$1 ib=$2 ul=$3 i=$4 r tag
	r=$([ "$i" = a ] && echo b || echo a)
	tag="$ia<->$ib ul=IPv$ul initiator=$([ "$i" = a ] && echo "$ia" || echo "$ib")"
	log "-- $tag"
	pair_up "$ia" "$ib" "$ul" "$i"
	check "$tag: ping IPv4 initiator->responder" ping_ok "$i" "$(t4 "$r")"
	check "$tag: ping IPv6 initiator->responder" ping_ok "$i" "$(t6 "$r")"
	check "$tag: ping IPv4 responder->initiator" ping_ok "$r" "$(t4 "$i")"
	check "$tag: ping IPv6 responder->initiator" ping_ok "$r" "$(t6 "$i")"
	eq "$tag: responder learned the initiator's endpoint" \
		"$(peer_field "$r" "${PUB[$i]}" endpoint)" "$(endpoint_of "$i" "$ul")"
	if [ "$ul" = 4 ]; then
		check "$tag: TCP $XFER_BYTES B over inner IPv4, sha256" xfer "$i" "$r" "$(t4 "$r")" "$XFER_BYTES"
	else
		check "$tag: TCP $XFER_BYTES B over inner IPv6, sha256" xfer "$i" "$r" "$(t6 "$r")" "$XFER_BYTES"
	fi
	pair_down
}

lib_init
for peer in $PEERS; do
	for ul in $UNDERLAYS; do
		one_case wgd "$peer" "$ul" a
		[ "$peer" = wgd ] || one_case wgd "$peer" "$ul" b
	done
done
