#!/usr/bin/env bash
# Cross-builds wgd's libraries (libsodium, libevent, libb2) for one zig
# target from their Debian source packages, as static archives with
# pkg-config files, into PREFIX. Used by scripts/cross-build.sh.
#
#   cross-deps.sh TARGET PREFIX      TARGET: x86_64-freebsd, aarch64-macos,
#                                    x86_64-linux-musl, ...
#
# Sources: `apt-get source` through a private apt configuration (deb-src of
# the host's Debian suites, lists under $SRC/apt), so the system's apt setup
# is left alone; apt checks every file against the signed Sources index.
# Each library is rebuilt only when its source version, the zig version or
# this script changes (stamp files in PREFIX).
#
# Env: ZIG (zig executable), WGD_CROSS_SRC (source cache, default
# build-xcross/src), WGD_DEBIAN_SUITE (default: the host's codename).
set -euo pipefail

TARGET=${1:?usage: cross-deps.sh TARGET PREFIX}
PREFIX=${2:?usage: cross-deps.sh TARGET PREFIX}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SRC=${WGD_CROSS_SRC:-$ROOT/build-xcross/src}
ZIG=${ZIG:-$(command -v zig || echo /opt/wgd-peers/bin/zig)}
SUITE=${WGD_DEBIAN_SUITE:-$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")}
PKGS=(libsodium libevent libb2 libgpg-error libgcrypt20)
JOBS=${WGD_JOBS:-2}

say() { printf '[cross-deps %s] %s\n' "$TARGET" "$*"; }
die() { printf '[cross-deps %s] error: %s\n' "$TARGET" "$*" >&2; exit 1; }

case $TARGET in
x86_64-freebsd*) HOST=x86_64-unknown-freebsd14.0 ;;
aarch64-freebsd*) HOST=aarch64-unknown-freebsd14.0 ;;
aarch64-macos*) HOST=aarch64-apple-darwin ;;
x86_64-macos*) HOST=x86_64-apple-darwin ;;
x86_64-linux-musl*) HOST=x86_64-pc-linux-musl ;;
*) die "unknown target $TARGET" ;;
esac
# The static musl build is the small one: every function in its own section
# so wgd's --gc-sections link drops what it does not call, and no libevent
# thread locking or debug-mode bookkeeping (wgd never calls evthread_* or
# event_enable_debug_mode: its loop runs on one thread).
EXTRA_CFLAGS=
LIBEVENT_EXTRA=()
case $TARGET in
*-linux-musl*)
	EXTRA_CFLAGS="-ffunction-sections -fdata-sections"
	LIBEVENT_EXTRA=(-DEVENT__DISABLE_THREAD_SUPPORT=ON -DEVENT__DISABLE_DEBUG_MODE=ON)
	;;
esac
TOOLCHAIN=$ROOT/cmake/toolchains/zig-${TARGET%%.*}.cmake
[ -x "$ZIG" ] || die "zig not found (run scripts/setup.sh or set ZIG)"
[ -f "$TOOLCHAIN" ] || die "no toolchain file $TOOLCHAIN"

apt_private()
{
	apt-get -q -o Dir::Etc::SourceList="$SRC/apt/sources.list" \
		-o Dir::Etc::SourceParts=/nonexistent -o Dir::State::Lists="$SRC/apt/lists" \
		-o Dir::Cache="$SRC/apt/cache" -o APT::Sandbox::User=root "$@"
}

write_sources_list()
{
	mkdir -p "$SRC/apt/lists/partial" "$SRC/apt/cache/archives/partial"
	cat >"$SRC/apt/sources.list" <<-EOF
		deb-src http://deb.debian.org/debian $SUITE main
		deb-src http://deb.debian.org/debian $SUITE-updates main
		deb-src http://deb.debian.org/debian-security $SUITE-security main
	EOF
}

# Unpacked (Debian patches applied) once into $SRC/<pkg>-<version>; the
# directory name is printed. Serialised with flock: targets may run in
# parallel.
fetch_all()
{
	local p
	mkdir -p "$SRC"
	exec 9>"$SRC/.lock"
	flock 9
	if ! (for p in "${PKGS[@]}"; do ls "$SRC/$p"_*.dsc || exit 1; done) >/dev/null 2>&1; then
		write_sources_list
		say "fetching Debian $SUITE sources: ${PKGS[*]}"
		apt_private update >/dev/null
		(cd "$SRC" && apt_private source --download-only "${PKGS[@]}" >/dev/null)
	fi
	for p in "${PKGS[@]}"; do
		unpack "$p"
	done
	flock -u 9
}

unpack()
{
	local dsc dir
	dsc=$(ls "$SRC/$1"_*.dsc | sort -V | tail -n1)
	dir=$(sed -n 's/^Source: //p;s/^Version: //p' "$dsc" | paste -sd' ' |
		awk '{v=$2; sub(/^[0-9]+:/, "", v); sub(/-[^-]*$/, "", v); print $1 "-" v}')
	if [ ! -f "$SRC/$dir/.unpacked" ]; then
		rm -rf "${SRC:?}/$dir"
		# The signers' keys are not in a keyring here; apt already checked
		# the files against the signed Sources index.
		(cd "$SRC" && dpkg-source -q -x "$(basename "$dsc")" "$dir" >/dev/null 2>&1)
		touch "$SRC/$dir/.unpacked"
	fi
	eval "SRCDIR_${1//-/_}=\$SRC/\$dir"
	eval "VERSION_${1//-/_}=\$(sed -n 's/^Version: //p' \"\$dsc\")"
}

# Stamp: library version + zig version + this script and the toolchain.
stamp_of()
{
	local v
	eval "v=\$VERSION_${1//-/_}"
	printf '%s %s %s' "$v" "$("$ZIG" version)" \
		"$(cat "$0" "$ROOT/cmake/toolchains/zig.cmake" "$TOOLCHAIN" | sha256sum | cut -c1-16)"
}

built() { [ "$(cat "$PREFIX/.stamp-$1" 2>/dev/null)" = "$(stamp_of "$1")" ]; }
mark_built() { stamp_of "$1" >"$PREFIX/.stamp-$1"; }

autotools_env()
{
	export CC="$ZIG cc -target $TARGET" AR="$ZIG ar" RANLIB="$ZIG ranlib"
	export CFLAGS="-O2 -fno-sanitize=undefined${EXTRA_CFLAGS:+ $EXTRA_CFLAGS}" CPPFLAGS="" LDFLAGS=""
}

# libsodium's and libb2's Debian sources (git snapshots) ship no configure:
# regenerate it once, shared by all targets, as Debian's dh_autoreconf does.
regen()
{
	(
		flock 9
		[ -x "$1/configure" ] || (cd "$1" && autoreconf -fi >/dev/null 2>&1)
	) 9>"$SRC/.lock"
	[ -x "$1/configure" ] || die "autoreconf failed in $1"
}

build_libsodium()
{
	local b="$WORK/libsodium"
	regen "$SRCDIR_libsodium"
	rm -rf "$b" && mkdir -p "$b"
	(cd "$b" && autotools_env &&
		"$SRCDIR_libsodium/configure" -q --host="$HOST" --prefix="$PREFIX" \
			--disable-shared --enable-static --with-pic --disable-dependency-tracking \
			--disable-ssp &&
		make -s -j"$JOBS" && make -s install) >"$WORK/libsodium.log" 2>&1 ||
		{ tail -n 30 "$WORK/libsodium.log"; die "libsodium failed (log: $WORK/libsodium.log)"; }
}

# libevent's CMake build, with the same toolchain file wgd uses: its
# autotools build runs a test program to enable kqueue, which a cross-build
# cannot, and would silently fall back to poll(2).
build_libevent()
{
	local b="$WORK/libevent"
	rm -rf "$b"
	(cmake -S "$SRCDIR_libevent" -B "$b" -G Ninja -DZIG="$ZIG" \
		-DCMAKE_TOOLCHAIN_FILE="$TOOLCHAIN" -DCMAKE_BUILD_TYPE=Release \
		-DCMAKE_INSTALL_PREFIX="$PREFIX" -DEVENT__LIBRARY_TYPE=STATIC \
		-DEVENT__DISABLE_OPENSSL=ON -DEVENT__DISABLE_TESTS=ON \
		-DEVENT__DISABLE_REGRESS=ON -DEVENT__DISABLE_SAMPLES=ON \
		-DEVENT__DISABLE_BENCHMARK=ON -DEVENT__DISABLE_DEBUG_MODE=OFF \
		${LIBEVENT_EXTRA[@]+"${LIBEVENT_EXTRA[@]}"} &&
		cmake --build "$b" -j "$JOBS" && cmake --install "$b") >"$WORK/libevent.log" 2>&1 ||
		{ tail -n 30 "$WORK/libevent.log"; die "libevent failed (log: $WORK/libevent.log)"; }
}

# Configured as Debian does: --disable-native; --enable-fat on x86_64
# (SSE2..AVX variants chosen at run time). Its src/Makefile.am passes a
# bare directory among the preprocessor flags, which gcc ignores and clang
# (zig cc) rejects as an input file: override that variable.
build_libb2()
{
	local b="$WORK/libb2" fat=--disable-fat
	regen "$SRCDIR_libb2"
	[ "${TARGET%%-*}" = x86_64 ] && fat=--enable-fat
	rm -rf "$b" && mkdir -p "$b"
	(cd "$b" && autotools_env &&
		"$SRCDIR_libb2/configure" -q --host="$HOST" --prefix="$PREFIX" \
			--disable-shared --enable-static --with-pic --disable-dependency-tracking \
			--disable-native $fat --disable-openmp &&
		make -s -j"$JOBS" "libb2_la_CPPFLAGS=-DSUFFIX=" && make -s install) >"$WORK/libb2.log" 2>&1 ||
		{ tail -n 30 "$WORK/libb2.log"; die "libb2 failed (log: $WORK/libb2.log)"; }
}

# libgpg-error ships the layout of its lock object for the targets it knows
# (src/syscfg), not for FreeBSD: make it the way its configure does for a
# cross-built Linux, from an object file of the target compiler.
lock_obj_header()
{
	local os=${HOST#*-*-} out
	out=$SRCDIR_libgpg_error/src/syscfg/lock-obj-pub.$os.h
	[ -f "$out" ] || [ -f "$SRCDIR_libgpg_error/src/syscfg/lock-obj-pub.$HOST.h" ] ||
		(cd "$WORK" && LOCK_ABI_VERSION=1 host=$HOST host_alias=$HOST \
			CC="$ZIG cc -target $TARGET" OBJDUMP=objdump ac_ext=c ac_objext=o AWK=awk \
			sh "$SRCDIR_libgpg_error/src/gen-lock-obj.sh" >"$out.tmp" && mv "$out.tmp" "$out") ||
		die "no lock-object layout for $HOST"
}

# libgcrypt's error codes and its locks. Its mkheader runs on the build
# machine (CC_FOR_BUILD).
build_libgpg_error()
{
	local b="$WORK/libgpg-error"
	rm -rf "$b" && mkdir -p "$b"
	lock_obj_header
	(cd "$b" && autotools_env && export CC_FOR_BUILD=cc &&
		"$SRCDIR_libgpg_error/configure" -q --host="$HOST" --prefix="$PREFIX" \
			--disable-shared --enable-static --with-pic --disable-dependency-tracking \
			--disable-nls --disable-doc --disable-tests --disable-languages \
			--enable-install-gpg-error-config &&
		make -s -j"$JOBS" && make -s install) >"$WORK/libgpg-error.log" 2>&1 ||
		{ tail -n 30 "$WORK/libgpg-error.log"; die "libgpg-error failed (log: $WORK/libgpg-error.log)"; }
}

# The data-path AEAD (src/aead.c): only ChaCha20 among the ciphers, the
# digests its random generator and KDFs link to, with its assembly (ChaCha20 stitched
# with Poly1305: AVX2 on x86-64, NEON on aarch64).
build_libgcrypt20()
{
	local b="$WORK/libgcrypt" dirs="compat mpi cipher random src"
	rm -rf "$b" && mkdir -p "$b"
	local extra=(ac_cv_sys_symbol_underscore=no)
	# Cross-compiling, its configure cannot see that Mach-O C symbols
	# carry an underscore; its assembly must name them so. Its tests for
	# the assembler call an undeclared function (an error in clang 16 and
	# later) and, for aarch64, use ELF symbol names: without help they
	# fail and no assembly is built. A failed test for the ARMv8 crypto
	# extensions turns NEON off too (a slip in its configure.ac): wgd
	# needs neither AES nor SHA, so they are left out. Its aarch64 ChaCha20
	# names its functions as ELF does: give them Mach-O's underscore.
	local f mach=-O2
	for f in _gcry_chacha20_aarch64_blocks4 _gcry_chacha20_poly1305_aarch64_blocks4; do
		mach="$mach -D$f=_$f"
	done
	case $TARGET in
	aarch64-macos*)
		extra=(ac_cv_sys_symbol_underscore=yes gcry_cv_gcc_aarch64_platform_as_ok=yes
			gcry_cv_gcc_inline_asm_aarch64_neon=yes --disable-arm-crypto-support
			"CCASFLAGS=$mach")
		;;
	*-macos*) extra=(ac_cv_sys_symbol_underscore=yes) ;;
	esac
	(cd "$b" && autotools_env && CFLAGS="$CFLAGS -Wno-error=implicit-function-declaration" &&
		"$SRCDIR_libgcrypt20/configure" -q --host="$HOST" --prefix="$PREFIX" \
			--disable-shared --enable-static --with-pic --disable-dependency-tracking \
			--disable-doc --disable-jent-support --disable-large-data-tests \
			--enable-ciphers=chacha20 --enable-digests=sha256,sha512,blake2 \
			--enable-pubkey-ciphers=ecc --enable-kdfs=s2k \
			--with-libgpg-error-prefix="$PREFIX" "${extra[@]}" &&
		make -s -j"$JOBS" SUBDIRS="$dirs" && make -s install SUBDIRS="$dirs") \
		>"$WORK/libgcrypt.log" 2>&1 ||
		{ tail -n 30 "$WORK/libgcrypt.log"; die "libgcrypt failed (log: $WORK/libgcrypt.log)"; }
}

main()
{
	local p
	mkdir -p "$PREFIX"
	PREFIX=$(cd "$PREFIX" && pwd)
	WORK="$PREFIX.build"
	fetch_all
	for p in "${PKGS[@]}"; do
		if built "$p"; then
			say "$p up to date ($(cat "$PREFIX/.stamp-$p" | cut -d' ' -f1))"
			continue
		fi
		say "building $p $(eval echo "\$VERSION_${p//-/_}")"
		"build_${p//-/_}"
		mark_built "$p"
	done
}

main
