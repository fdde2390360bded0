#!/usr/bin/env bash
# Rekey soak (not in the default run: WGDT_SCRIPTS=soak tests/netns/run.sh).
# Two pairs side by side, wgd against a reference peer (WGDT_REF, default
# the newest wireguard-go): in a<->b wgd initiated the first session, in
# c<->d the reference did, so wgd rekeys both as initiator and as
# responder. Sequence-numbered UDP streams flow both ways in both pairs
# (WGDT_SOAK_RATE, default 500 datagrams/s each) for WGDT_SOAK_SECS
# (default 330 s: two REKEY_AFTER_TIME boundaries plus margin). Required:
# no datagram lost or duplicated in any stream, at least 1 + (SECS - 10) / 120
# sessions per pair (three by default: the first and two rekeys), each a "keypair rotation" in wgd's
# debug log, and both daemons alive throughout.
. "$(dirname "$0")/lib.sh"

REF=${WGDT_REF:-wggo-latest}
SECS=${WGDT_SOAK_SECS:-330}
RATE=${WGDT_SOAK_RATE:-500}
WGDT_LOG_LEVEL=debug
SEQ=$REPO_ROOT/tests/tools/seqstream.py
SENDERS=()
RECEIVERS=()

soak_up()
{
	local n
	for n in a b c d; do node_add "$n"; done
	link_nodes a b
	link_nodes c d
	PORT[a]=51821
	PORT[b]=51822
	PORT[c]=51823
	PORT[d]=51824
	for n in a b c d; do keygen "$n"; done
	daemon_start a wgd
	daemon_start b "$REF"
	daemon_start c wgd
	daemon_start d "$REF"
	wg_config a b 4 1
	wg_config b a 4 1
	wg_config c d 4 1
	wg_config d c 4 1
	for n in a b c d; do tunnel_addrs "$n"; done
	check "soak: first session, wgd initiates (a -> b)" ping_ok a "$(t4 b)"
	check "soak: first session, $REF initiates (d -> c)" ping_ok d "$(t4 c)"
}

# stream SRC DST PORT: receiver in DST, then the paced sender in SRC.
stream()
{
	local src=$1 dst=$2 port=$3 out=$T_LOGDIR/soak-$1-$2 i
	bg_start "$dst" "$out" python3 -u "$SEQ" recv "$(t4 "$dst")" "$port" \
		--count $((SECS * RATE)) --idle 10
	RECEIVERS+=("$BG_PID:$out:$src->$dst")
	for i in $(seq 50); do
		grep -q '^listening' "$out" && break
		sleep 0.1
	done
	bg_start "$src" "$out.send" python3 -u "$SEQ" send "$(t4 "$dst")" "$port" \
		--count $((SECS * RATE)) --rate "$RATE"
	SENDERS+=("$BG_PID")
}

# watch: every 5 s until the senders finish, the daemons' liveness and
# each wgd's latest handshake (distinct values = sessions).
watch()
{
	local t0 p busy n hs
	t0=$(date +%s)
	declare -gA HS_SEEN=()
	while :; do
		busy=0
		for p in "${SENDERS[@]}"; do proc_alive "$p" && busy=1; done
		for n in a b c d; do
			daemon_alive "$n" || { fail "soak: ${IMPL[$n]} in $n died"; return; }
		done
		for n in a c; do
			hs=$(peer_field "$n" "${PUB[$([ $n = a ] && echo b || echo d)]}" latest-handshake)
			if [ "${hs:-0}" != 0 ] && [[ " ${HS_SEEN[$n]:-} " != *" $hs "* ]]; then
				HS_SEEN[$n]="${HS_SEEN[$n]:-} $hs"
				log "   t=$(($(date +%s) - t0)) s: $n (wgd) handshake at $hs"
			fi
		done
		[ $busy = 1 ] || break
		sleep 5
	done
}

results()
{
	local x pid out name
	for p in "${SENDERS[@]}"; do bg_wait "$p"; done
	for x in "${RECEIVERS[@]}"; do
		pid=${x%%:*}
		out=${x#*:}
		name=${out#*:}
		out=${out%%:*}
		bg_wait "$pid"
		log "   $name: $(grep '^seqstream' "$out")"
		eq "soak $name: $((SECS * RATE)) datagrams, none missing" "$(seq_field "$out" missing)" 0
		eq "soak $name: no duplicates" "$(seq_field "$out" duplicates)" 0
	done
}

# rotations: after the daemons stopped (LOGS holds wgd's log per node).
rotations()
{
	local n role want got need=$(((SECS - 10) / 120 + 1))
	for n in a c; do
		role=$([ $n = a ] && echo initiator || echo responder)
		got=$(grep -c "keypair rotation for peer .*$role" "${LOGS[$n]}")
		check "soak: wgd in $n rotated keypairs as $role $got times (>= $need)" test "$got" -ge $need
		want=$(echo "${HS_SEEN[$n]:-}" | wc -w)
		check "soak: wgd in $n saw $want sessions (>= $need)" test "$want" -ge $need
	done
}

lib_init
log "-- soak: $SECS s, $RATE datagrams/s per stream, 4 streams"
soak_up
stream a b 7001
stream b a 7002
stream c d 7003
stream d c 7004
watch
results
declare -A LOGS=([a]="$(dlog a)" [c]="$(dlog c)")
pair_down
rotations
