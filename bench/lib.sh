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

# adopt_daemon PID NS IFACE IMPL LOG: records PID as ours, then waits up to
# 10 s for its UAPI socket and interface; DPID=PID once both exist. Calls
# the caller's die if the daemon exits or never gets there.
adopt_daemon() {
	local p=$1 ns=$2 ifc=$3 impl=$4 log=$5
	PIDS+=("$p")
	for _ in $(seq 100); do
		kill -0 "$p" 2>/dev/null || die "$impl exited during startup (see $log)"
		if [ -S "/run/wireguard/$ifc.sock" ] && ip -n "$ns" link show "$ifc" >/dev/null 2>&1; then
			DPID=$p
			return 0
		fi
		sleep 0.1
	done
	die "$impl: no UAPI socket for $ifc after 10 s"
}

# ping_stats FILE: "median p90 max lost" of the per-packet RTTs (ms) in the
# output of one ping run (p90 by nearest rank); nothing if no reply came.
ping_stats() {
	awk '
	/ time=/ { sub(/.* time=/, ""); rtt[++n] = $1 + 0 }
	/ transmitted/ { sent = $1 }
	END {
		if (n == 0) exit
		# insertion sort: a run has at most a few hundred replies
		for (i = 2; i <= n; i++) {
			v = rtt[i]
			for (j = i - 1; j >= 1 && rtt[j] > v; j--) rtt[j + 1] = rtt[j]
			rtt[j + 1] = v
		}
		med = (n % 2) ? rtt[(n + 1) / 2] : (rtt[n / 2] + rtt[n / 2 + 1]) / 2
		p = int(0.9 * n + 0.999999); if (p < 1) p = 1
		printf "%.3f %.3f %.3f %d\n", med, rtt[p], rtt[n], sent - n
	}' "$1"
}
