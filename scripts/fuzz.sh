#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/fuzz_*.c, ASan+UBSan) and runs
# each one in turn, starting from its committed seed corpus; fails on any
# crash, leak, timeout, UB report or harness invariant.
#
#   scripts/fuzz.sh                  every target 10 s (100 s in all; CI)
#   scripts/fuzz.sh -t 60 data tun   chosen targets, 60 s each
#   scripts/fuzz.sh -n 10000000      every target for 10 million executions
#
# Options: -t SECONDS per target, -n RUNS per target (instead of -t; also
# -entropic=0: its per-feature bookkeeping costs these targets a third of
# their speed, and a count-bound run wants executions), -S SEED libFuzzer's
# seed (0, the default, draws one; a fixed one repeats a run), -b DIR build
# directory (default build-fuzz), -s skip the build (run what BUILD
# holds; for runs side by side), -w DIR work directory (default
# BUILD/work: grown corpora, crash artifacts, logs); anything after --
# goes to libFuzzer (and wins). rxbatch and tunsuper start one idle crypto
# thread. Inputs that grow the corpus go to the work directory, never
# into tests/fuzz/corpus.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

secs=10
runs=
work=
build=build-fuzz
skip_build=
seed=0
while getopts "t:n:w:b:sS:" opt; do
	case $opt in
	t) secs=$OPTARG ;;
	n) runs=$OPTARG ;;
	w) work=$OPTARG ;;
	b) build=$OPTARG ;;
	s) skip_build=1 ;;
	S) seed=$OPTARG ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
work=${work:-$build/work}
targets=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
	targets+=("$1")
	shift
done
[ "${1:-}" = "--" ] && shift
extra=("$@")

if [ -z "$skip_build" ]; then
	echo "== build (clang, libFuzzer, ASan+UBSan)"
	# The constant-time primitives are left out of the coverage feedback (not
	# out of the sanitizers): tracing them cost a quarter of each run. The
	# list's hash is in the flags so that editing it rebuilds.
	ignore=$root/tests/fuzz/ignorelist.txt
	ignore_id=$(cksum <"$ignore" | cut -d' ' -f1)
	CC=clang cmake -S . -B "$build" -G Ninja -DWGD_FUZZ=ON -DWGD_TESTS=OFF -DWGD_BENCH=OFF \
		-DCMAKE_C_FLAGS="-fsanitize-coverage-ignorelist=$ignore -DWGD_FUZZ_IGNORELIST=$ignore_id" >/dev/null
	# Quiet unless it fails: then the compiler's own words.
	ninja -C "$build" -j 2 >"$build/build.log" 2>&1 ||
		{ grep -E -A5 'error|FAILED' "$build/build.log" | head -n 60; echo "FAIL: fuzz build"; exit 1; }
fi

if [ ${#targets[@]} -eq 0 ]; then
	for f in tests/fuzz/fuzz_*.c; do
		t=$(basename "$f" .c)
		targets+=("${t#fuzz_}")
	done
fi

# A 16 MB quarantine (default 256) still holds many runs' worth of freed
# blocks, and the allocator stops handing out fresh pages every run.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:allocator_may_return_null=1:quarantine_size_mb=16}
# 1 looks past a GRO that joins TCP segments of different windows (an
# engine issue fixed in 6fe6bc6; for bisecting older trees only).
export WGD_FUZZ_ALLOW_GRO_TCP_WINDOW=${WGD_FUZZ_ALLOW_GRO_TCP_WINDOW-0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

mkdir -p "$work"
fail=0
summary=()
for t in "${targets[@]}"; do
	bin=$build/fuzz_$t
	seeds=tests/fuzz/corpus/$t
	grown=$work/corpus/$t
	log=$work/$t.log
	mkdir -p "$grown" "$work/artifacts"
	limit=(-seed="$seed" -max_total_time="$secs")
	[ -n "$runs" ] && limit=(-seed="$seed" -runs="$runs" -entropic=0)
	echo "== fuzz_$t ${limit[*]}"
	if "$bin" "$grown" "$seeds" "${limit[@]}" -timeout=10 -rss_limit_mb=2048 -max_len=1024 \
		-print_final_stats=1 -artifact_prefix="$work/artifacts/$t-" "${extra[@]}" >"$log" 2>&1; then
		status=ok
	else
		status=FAILED
		fail=1
		grep -E "ERROR|invariant failed|SUMMARY|runtime error" "$log" | head -20 || true
	fi
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
	wall=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
	summary+=("$(printf '%-14s %-6s %12s execs %8s exec/s %8s s' "$t" "$status" "${execs:-?}" "${rate:-?}" "${wall:-?}")")
done

echo "== summary (logs and artifacts in $work)"
printf '%s\n' "${summary[@]}"
exit $fail
