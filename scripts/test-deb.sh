#!/usr/bin/env bash
# Builds the Debian package with CPack and tests it (root, Debian 12).
#
#   scripts/test-deb.sh             unpacks the .deb into a temporary
#                                   directory and runs the demo with that
#                                   binary: safe on a shared machine
#   scripts/test-deb.sh --install   what CI does on a throwaway machine:
#                                   installs it with apt (pulling its
#                                   dependencies), checks the unit with
#                                   systemd-analyze and the man page, runs the
#                                   demo with /usr/bin/wgd, then purges it
#
# Env: WGD_DEB_BUILD_DIR (default build-pkg), WGD_SOURCE_DIR (default this
# checkout), WGD_SKIP_SETUP (default 1: scripts/setup.sh already ran).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SOURCE=${WGD_SOURCE_DIR:-$ROOT}
BUILD=${WGD_DEB_BUILD_DIR:-$ROOT/build-pkg}
INSTALL=0
[ "${1:-}" = --install ] && INSTALL=1
export WGD_SKIP_SETUP=${WGD_SKIP_SETUP:-1}

say() { printf '[test-deb] %s\n' "$*"; }
die() { printf '[test-deb] FAIL: %s\n' "$*" >&2; exit 1; }

build_deb()
{
	cmake -S "$SOURCE" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DWGD_WERROR=ON -DWGD_TESTS=OFF -DWGD_BENCH=OFF -DCMAKE_INSTALL_PREFIX=/usr >/dev/null
	ninja -C "$BUILD" >/dev/null
	rm -f "$BUILD"/wgd_*.deb
	(cd "$BUILD" && cpack -G DEB >/dev/null)
	DEB=$(ls "$BUILD"/wgd_*.deb)
	say "built $DEB"
}

check_contents()
{
	local list f
	list=$(dpkg-deb -c "$DEB" | awk '{print $NF}')
	for f in ./usr/bin/wgd ./usr/share/man/man8/wgd.8 ./usr/lib/systemd/system/wgd@.service \
		./usr/share/doc/wgd/operations.md; do
		grep -qx -- "$f" <<<"$list" || die "$f missing from the package"
	done
	dpkg-deb -f "$DEB" Depends | grep -q libsodium || die "no libsodium dependency"
	say "contents and dependencies: $(dpkg-deb -f "$DEB" Depends)"
}

test_unpacked()
{
	UNPACKED=$(mktemp -d)
	trap 'rm -rf "$UNPACKED"' EXIT
	dpkg-deb -x "$DEB" "$UNPACKED"
	grep -q '^ExecStart=/usr/bin/wgd ' "$UNPACKED/usr/lib/systemd/system/wgd@.service" ||
		die "the unit does not start /usr/bin/wgd"
	"$UNPACKED/usr/bin/wgd" --version
	WGD_BIN=$UNPACKED/usr/bin/wgd bash "$ROOT/scripts/demo.sh"
}

test_installed()
{
	trap 'dpkg --purge wgd >/dev/null 2>&1 || true' EXIT
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$DEB"
	[ "$(command -v wgd)" = /usr/bin/wgd ] || die "wgd not on PATH as /usr/bin/wgd"
	systemd-analyze verify /usr/lib/systemd/system/wgd@.service
	man -w wgd >/dev/null || die "wgd(8) not found by man"
	WGD_BIN=/usr/bin/wgd bash "$ROOT/scripts/demo.sh"
	dpkg --purge wgd
	[ ! -e /usr/bin/wgd ] || die "purge left /usr/bin/wgd"
}

[ "$(id -u)" -eq 0 ] || die "run as root"
build_deb
check_contents
if [ $INSTALL = 1 ]; then
	test_installed
else
	test_unpacked
fi
say "ok"
