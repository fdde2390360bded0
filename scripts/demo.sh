#!/usr/bin/env bash
# From a bare Debian 12, as root: install the dependencies (setup.sh), build
# wgd, bring up two network namespaces each running a wgd configured with
# the stock `wg` tool, ping through the tunnel, show both ends, tear down.
# Exits 0 on success. Env: WGD_BUILD_DIR (default build), WGD_SKIP_SETUP=1,
# WGD_BIN=/path (use that binary, skip the build).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${WGD_BUILD_DIR:-build}
A=wgdemo-$$-a B=wgdemo-$$-b
IFA=wgd$$a IFB=wgd$$b   # distinct names: `ip netns exec` shares /run/wireguard
tmp=$(mktemp -d)
made=()

step() { printf '\n[demo] %s\n' "$*"; }

cleanup()
{
	local ns pids
	for ns in "${made[@]}"; do
		pids=$(ip netns pids "$ns" 2>/dev/null || true)
		[ -z "$pids" ] || kill $pids 2>/dev/null || true
	done
	sleep 0.5
	for ns in "${made[@]}"; do
		pids=$(ip netns pids "$ns" 2>/dev/null || true)
		[ -z "$pids" ] || kill -9 $pids 2>/dev/null || true
		ip netns del "$ns" 2>/dev/null || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT

[ "$(id -u)" -eq 0 ] || { echo "demo.sh must run as root" >&2; exit 1; }
if [ "${WGD_SKIP_SETUP:-0}" != 1 ]; then
	step "installing dependencies (scripts/setup.sh)"
	"$root/scripts/setup.sh"
fi

if [ -n "${WGD_BIN:-}" ]; then
	wgd=$WGD_BIN
else
	step "building wgd in $build"
	cd "$root"
	cmake -S . -B "$build" -G Ninja
	ninja -C "$build" wgd
	wgd=$root/$build/wgd
fi

step "two namespaces joined by a veth pair (192.0.2.1 <-> 192.0.2.2)"
ip netns add "$A" && made+=("$A")
ip netns add "$B" && made+=("$B")
ip -n "$A" link add u0 type veth peer name u0 netns "$B"
ip -n "$A" addr add 192.0.2.1/24 dev u0
ip -n "$B" addr add 192.0.2.2/24 dev u0
for ns in "$A" "$B"; do ip -n "$ns" link set lo up; ip -n "$ns" link set u0 up; done

step "starting wgd in each (it daemonizes once its device and socket exist)"
ip netns exec "$A" "$wgd" "$IFA"
ip netns exec "$B" "$wgd" "$IFB"

step "configuring with wg genkey / pubkey / set"
(umask 077; wg genkey >"$tmp/a.key"; wg genkey >"$tmp/b.key")
pa=$(wg pubkey <"$tmp/a.key")
pb=$(wg pubkey <"$tmp/b.key")
ip netns exec "$A" wg set "$IFA" private-key "$tmp/a.key" listen-port 51820 \
	peer "$pb" allowed-ips 10.0.0.2/32 endpoint 192.0.2.2:51820
ip netns exec "$B" wg set "$IFB" private-key "$tmp/b.key" listen-port 51820 \
	peer "$pa" allowed-ips 10.0.0.1/32
ip -n "$A" addr add 10.0.0.1/24 dev "$IFA"
ip -n "$B" addr add 10.0.0.2/24 dev "$IFB"
ip -n "$A" link set "$IFA" up
ip -n "$B" link set "$IFB" up

step "ping 10.0.0.2 through the tunnel"
ip netns exec "$A" ping -c 3 -W 2 10.0.0.2

step "wg show in $A"
ip netns exec "$A" wg show "$IFA"
step "wg show in $B"
ip netns exec "$B" wg show "$IFB"

step "tearing down: deleting the devices stops the daemons"
ip -n "$A" link del "$IFA"
ip -n "$B" link del "$IFB"
for i in $(seq 50); do
	[ -z "$(ip netns pids "$A")$(ip netns pids "$B")" ] && break
	sleep 0.1
done
[ -z "$(ip netns pids "$A")$(ip netns pids "$B")" ] ||
	{ echo "[demo] a daemon did not exit after its device was deleted" >&2; exit 1; }
step "done: the tunnel worked"
