#!/usr/bin/env bash
# Runs every unit test executable under valgrind memcheck, on a build
# without sanitizers (build-vg, RelWithDebInfo). Any memcheck error, and
# any definitely or indirectly lost block, fails the run.
#
#   scripts/valgrind.sh              all tests/unit/test_*.c
#   scripts/valgrind.sh noise uapi   just these
#
# Reports: build-vg/valgrind/<test>.log. Still-reachable memory at exit is
# reported there but not an error (libsodium and libevent keep some).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

echo "== build (no sanitizers)"
cmake -S . -B build-vg -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWGD_WERROR=ON \
	-DWGD_SANITIZE=OFF -DWGD_TESTS=ON -DWGD_BENCH=OFF -DWGD_FUZZ=OFF >/dev/null
ninja -C build-vg -j 2 >/dev/null

tests=()
if [ $# -gt 0 ]; then
	for t in "$@"; do tests+=("test_${t#test_}"); done
else
	for f in tests/unit/test_*.c; do tests+=("$(basename "$f" .c)"); done
fi

# Test cases that cannot pass under valgrind for reasons of valgrind's own,
# with the reason; they still run and their memory is still checked.
#  test_control_emfile_backoff: valgrind emulates RLIMIT_NOFILE itself; its
#   accept() takes the connection from the kernel, then closes it and
#   reports EMFILE, so the client the test keeps waiting sees a reset.
valgrind_limited="test_control_emfile_backoff"

out=build-vg/valgrind
mkdir -p "$out"
fail=0
for t in "${tests[@]}"; do
	log=$out/$t.log
	start=$(date +%s)
	# Tests that time themselves (benchmarks-in-tests, timer jitter) run
	# ~20-50x slower here; cmocka still checks every assertion.
	rc=0
	valgrind --tool=memcheck --error-exitcode=99 --leak-check=full \
		--errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
		--track-origins=yes --num-callers=30 --log-file="$log" "build-vg/$t" >"$log.out" 2>&1 ||
		rc=$?
	# Exit 99: memcheck found errors or leaks. Otherwise the test's own
	# verdict, forgiving only the cases listed above.
	failed=$(sed -n 's/^\[  FAILED  \] \(test_[a-z0-9_]*\)$/\1/p' "$log.out" | sort -u)
	unexpected=$(for f in $failed; do
		case " $valgrind_limited " in *" $f "*) ;; *) echo "$f" ;; esac
	done)
	if [ $rc -eq 0 ]; then
		status=ok
	elif [ $rc -ne 99 ] && [ -n "$failed" ] && [ -z "$unexpected" ]; then
		status="ok (valgrind-limited: $(echo $failed))"
	else
		status="FAILED (exit $rc)"
		fail=1
	fi
	errors=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$log" | tail -1)
	lost=$(sed -n 's/.*definitely lost: \([0-9,]*\) bytes.*/\1/p' "$log" | tail -1)
	printf '%-20s %-16s errors %s, definitely lost %s bytes (%ss)\n' "$t" "$status" \
		"${errors:-?}" "${lost:-0}" "$(($(date +%s) - start))"
	if [ "${status%% *}" != ok ]; then
		tail -n 30 "$log.out"
		grep -A12 -E "Invalid|uninitialised|definitely lost in|indirectly lost in" "$log" |
			head -60 || true
	fi
done
exit $fail
