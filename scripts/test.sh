#!/usr/bin/env bash
# The one test command (README): from a bare Debian 12 as root it installs
# what the tests need, builds twice (warnings as errors; then ASan+UBSan),
# runs every unit test in both builds, the network-namespace suite against
# the sanitized daemon and its interop part against the plain one.
# Any failure, including a namespace test that cannot run, fails the run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bash scripts/setup.sh

jobs=$(nproc)
build() { # dir, extra cmake args...
	local dir=$1
	shift
	cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWGD_WERROR=ON "$@" >/dev/null
	ninja -C "$dir" -j "$jobs"
}

echo "== build (warnings are errors)"
build build
echo "== unit tests"
ctest --test-dir build --output-on-failure -j "$jobs"

echo "== build with ASan+UBSan"
build build-asan -DWGD_SANITIZE=ON
echo "== unit tests under ASan+UBSan"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	ctest --test-dir build-asan --output-on-failure -j "$jobs"

echo "== fuzzing: every libFuzzer target briefly from its seed corpus"
# A fixed seed makes the run the same on every machine (up to how far 10 s
# get), so a result can be reproduced; WGD_FUZZ_SEED=0 draws a random one.
# Exploring is for long runs: scripts/fuzz.sh -t 600.
bash scripts/fuzz.sh -S "${WGD_FUZZ_SEED:-1}"

echo "== network namespace suite (root), daemon built with ASan+UBSan"
# The whole suite runs against the sanitized daemon: its logs are scanned
# for sanitizer reports (tests/netns/lib.sh), and it exits through the same
# paths as in production, so leaks at exit are reported too.
ASAN_OPTIONS=detect_leaks=1 IMPL_UNDER_TEST="$root/build-asan/wgd" bash tests/netns/run.sh

echo "== interop suite on the portable data path (what FreeBSD and macOS run)"
# WGD_PORTABLE=1: plain read/write/sendmsg, one packet at a time, no TUN or
# UDP offloads.
WGD_PORTABLE=1 WGDT_SCRIPTS="interop wgshow" IMPL_UNDER_TEST="$root/build/wgd" \
	bash tests/netns/run.sh

echo "== cross-builds: FreeBSD, macOS and static Linux/musl (zig, warnings are errors)"
# The cross-built libraries are cached outside the checkout so a CI run on
# a reused machine does not rebuild them (about 12 minutes cold).
WGD_CROSS_DIR=${WGD_CROSS_DIR:-/var/cache/wgd-cross} bash scripts/cross-build.sh

echo "== Debian package"
# CI installs the .deb with apt, checks the unit and runs the demo with the
# packaged binary, then purges it; elsewhere the package is unpacked into a
# temporary directory instead of being installed on the developer's host.
if [ "${CI:-}" = true ]; then
	bash scripts/test-deb.sh --install
else
	bash scripts/test-deb.sh
fi
echo "== all tests passed"
