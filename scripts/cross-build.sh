#!/usr/bin/env bash
# Cross-builds the complete wgd daemon for FreeBSD, macOS and static
# Linux/musl with zig cc,
# warnings as errors, against libsodium, libevent and libb2 cross-built from
# their Debian source packages (scripts/cross-deps.sh, cached per target).
# Every target is attempted; the exit status is non-zero if any failed.
#
#   scripts/cross-build.sh [TARGET...]
#       default targets: x86_64-freebsd aarch64-macos x86_64-macos
#       x86_64-linux-musl (static, unused code dropped: the small router
#       build; bench/rss.sh measures it)
#
# Output: $WGD_CROSS_DIR/<target>/wgd/wgd (default dir: build-xcross).
# Env: ZIG (default: zig on PATH, then /opt/wgd-peers/bin/zig from
# scripts/setup.sh), WGD_CROSS_DIR, WGD_JOBS (default 2), WGD_SOURCE_DIR
# (tree to build, default this checkout).
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SOURCE=${WGD_SOURCE_DIR:-$ROOT}
OUT=${WGD_CROSS_DIR:-$ROOT/build-xcross}
JOBS=${WGD_JOBS:-2}
ZIG=${ZIG:-$(command -v zig || echo /opt/wgd-peers/bin/zig)}
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(x86_64-freebsd aarch64-macos x86_64-macos x86_64-linux-musl)
export ZIG WGD_JOBS=$JOBS WGD_CROSS_SRC=$OUT/src

say() { printf '[cross-build] %s\n' "$*"; }

[ -x "$ZIG" ] || { say "zig not found: run scripts/setup.sh or set ZIG"; exit 1; }

# What `file` must say about each target's binary.
expected_format()
{
	case $1 in
	x86_64-freebsd*) echo 'ELF 64-bit LSB.*x86-64.*FreeBSD' ;;
	aarch64-macos*) echo 'Mach-O 64-bit.*arm64' ;;
	x86_64-macos*) echo 'Mach-O 64-bit.*x86_64' ;;
	x86_64-linux-musl*) echo 'ELF 64-bit LSB.*x86-64.*statically linked' ;;
	*) echo . ;;
	esac
}

build_wgd()
{
	local t=$1 dir=$OUT/$1
	# The libraries are cached; wgd itself is always configured afresh, so a
	# cache shared between checkouts (CI clones) never mixes source trees.
	rm -rf "$dir/wgd"
	cmake -S "$SOURCE" -B "$dir/wgd" -G Ninja \
		-DCMAKE_TOOLCHAIN_FILE="$ROOT/cmake/toolchains/zig-${t%%.*}.cmake" \
		-DZIG="$ZIG" -DWGD_DEPS_PREFIX="$dir/deps" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DWGD_WERROR=ON -DWGD_TESTS=OFF -DWGD_BENCH=OFF >"$dir/cmake.log" 2>&1 ||
		{ cat "$dir/cmake.log"; return 1; }
	cmake --build "$dir/wgd" --target wgd -j "$JOBS" || return 1
	file -b "$dir/wgd/wgd" | grep -Eq "$(expected_format "$t")" ||
		{ say "$t: unexpected binary: $(file -b "$dir/wgd/wgd")"; return 1; }
}

build_target()
{
	local t=$1
	mkdir -p "$OUT/$t"
	"$ROOT/scripts/cross-deps.sh" "$t" "$OUT/$t/deps" && build_wgd "$t"
}

main()
{
	local t start secs failed=() results=()
	say "zig $("$ZIG" version), targets: ${TARGETS[*]}"
	for t in "${TARGETS[@]}"; do
		start=$(date +%s)
		if build_target "$t"; then
			secs=$(($(date +%s) - start))
			results+=("$t: ok (${secs}s) $(file -b "$OUT/$t/wgd/wgd" | cut -d, -f1-2)")
		else
			secs=$(($(date +%s) - start))
			results+=("$t: FAILED (${secs}s)")
			failed+=("$t")
		fi
	done
	for t in "${results[@]}"; do
		say "$t"
	done
	[ ${#failed[@]} -eq 0 ] || { say "failed: ${failed[*]}"; exit 1; }
}

main
