# shellcheck shell=bash
# Shared by the bench scripts (sourced): stopping the daemons a script
# started, and the two-namespace veth underlay most of them measure over.

# stop_pids: SIGTERM to every PID in the caller's PIDS array (only what the
# script started), up to 5 s to exit, then SIGKILL; empties PIDS.
stop_pids() {
	local p
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	PIDS=()
}

# two_ns_underlay NSA NSB: both namespaces, joined by veth u0 with
# 192.0.2.1/24 in NSA and 192.0.2.2/24 in NSB. Calls the caller's die.
two_ns_underlay() {
	local a=$1 b=$2 ns
	ip netns add "$a" && ip netns add "$b" || die "cannot create namespaces"
	ip -n "$a" link add u0 type veth peer name u0 netns "$b" || die "cannot create veth"
	ip -n "$a" addr add 192.0.2.1/24 dev u0
	ip -n "$b" addr add 192.0.2.2/24 dev u0
	for ns in "$a" "$b"; do
		ip -n "$ns" link set lo up
		ip -n "$ns" link set u0 up
	done
}
