#!/usr/bin/env bash
# Runs every network-namespace test (as root) and prints a summary; exits
# non-zero if anything failed. IMPL_UNDER_TEST defaults to build/wgd in the
# repository holding this script. WGDT_SCRIPTS selects scripts (default all);
# see each script for its own knobs (WGDT_XFER_BYTES, WGDT_REF, ...).
set -u -o pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
export IMPL_UNDER_TEST=${IMPL_UNDER_TEST:-$root/build/wgd}
scripts=${WGDT_SCRIPTS:-interop wgshow roaming wgquick uapi_malformed instances notify scale privs keys dos faults kernel_src kernel_loop kernel_keychange kernel_mtu_netns kernel_icmp_nat source diagnose metrics}

if [ ! -x "$IMPL_UNDER_TEST" ]; then
	echo "FAIL: IMPL_UNDER_TEST=$IMPL_UNDER_TEST is not an executable (build wgd first)" >&2
	exit 1
fi
echo "== netns tests, implementation under test: $IMPL_UNDER_TEST"

out=$(mktemp -d "${TMPDIR:-/tmp}/wgdt-run.XXXXXX")
failed=0
lines=()
for s in $scripts; do
	start=$(date +%s)
	"$here/$s.sh" 2>&1 | tee "$out/$s.out"
	rc=${PIPESTATUS[0]}
	counts=$(sed -n "s/^== $s: \(.*\)$/\1/p" "$out/$s.out" | tail -n1)
	[ -n "$counts" ] || counts="no summary"
	if [ "$rc" -eq 0 ]; then st=ok; else st=FAILED; failed=$((failed + 1)); fi
	lines+=("$(printf '%-16s %-7s %s (%ss)' "$s" "$st" "$counts" $(($(date +%s) - start)))")
done

echo
echo "== netns summary ($IMPL_UNDER_TEST)"
printf '   %s\n' "${lines[@]}"
if [ $failed -eq 0 ]; then
	rm -rf "$out"
	echo "== all netns tests passed"
	exit 0
fi
grep -h '^FAIL' "$out"/*.out | sed 's/^/   /'
echo "== $failed script(s) failed; full output in $out"
exit 1
