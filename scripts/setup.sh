#!/usr/bin/env bash
# Installs everything needed to build and test wgd on Debian 12 (as root).
# Idempotent: each step is skipped when its result is already present.
#
#   Debian packages    build deps, wireguard-tools, Debian's wireguard-go
#                      (0.0.20220316), test tools (netcat-openbsd, nftables...)
#   Go >= 1.23         the `go` on PATH if new enough; otherwise Debian's go
#                      1.19 fetches the official toolchain, which is published
#                      as the Go module golang.org/toolchain on the Go module
#                      proxy (the same thing GOTOOLCHAIN=auto does in go >=
#                      1.21), and it is copied to $PEERS/go. Only the module
#                      proxy is needed, no other download site.
#   wireguard-go       newest, `go install golang.zx2c4.com/wireguard@latest`
#                      -> $PEERS/bin/wireguard, symlink wireguard-go-latest
#   wgctrl-read        tests/tools/wgctrl-read (a wgctrl-go client, used by
#                      tests/netns/source.sh) built with the same Go; its
#                      modules (go.sum pinned) come from the Go module proxy
#                      -> $PEERS/bin/wgctrl-read, rebuilt when a source changes
#   boringtun-cli      `cargo install boringtun-cli --locked`. Needs cargo >=
#                      1.78 (its Cargo.lock is format v4; clap 4.6 needs a
#                      recent rustc): Debian 12's `cargo` 0.66 / rustc 1.63
#                      cannot build it, but Debian 12 also ships Rust 1.9x as
#                      `cargo-web` + `rustc-web` (kept current for the
#                      browsers), which builds boringtun-cli 0.7.1. Used when
#                      no cargo >= 1.78 is found (rustup's included). Note:
#                      cargo-web conflicts with, and replaces, Debian's cargo.
#
# Env: WGD_PEERS_DIR (default /opt/wgd-peers), WGD_GO_VERSION (toolchain
# fetched when needed, default go1.26.8), WGD_SETUP_NO_APT=1 (skip apt).
set -euo pipefail

PEERS=${WGD_PEERS_DIR:-/opt/wgd-peers}
GO_VERSION=${WGD_GO_VERSION:-go1.26.8}
APT_PKGS=(build-essential cmake ninja-build pkg-config libsodium-dev libb2-dev
	libgcrypt20-dev libevent-dev libcmocka-dev wireguard-tools wireguard-go iperf3 iproute2
	iputils-ping lcov clang clang-format netcat-openbsd socat python3 nftables
	# tests/tools/check_exposition.py: the Prometheus client's text parser
	python3-prometheus-client
	util-linux procps kmod ca-certificates git systemd valgrind
	libclang-rt-14-dev llvm
	# bench_crypto --libs: the ChaCha20-Poly1305 libraries the data-path
	# AEAD was chosen among (docs/design.md), measured side by side
	libssl-dev nettle-dev libwolfssl-dev libmbedtls-dev)

say() { printf '[setup] %s\n' "$*"; }

[ "$(id -u)" -eq 0 ] || { echo "setup.sh must run as root" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
APT_UPDATED=0

apt_install()
{
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "${WGD_SETUP_NO_APT:-0}" = 1 ]; then
		say "missing packages (WGD_SETUP_NO_APT=1): ${missing[*]}"
		return 1
	fi
	if [ $APT_UPDATED = 0 ]; then
		apt-get update -q
		APT_UPDATED=1
	fi
	say "apt-get install ${missing[*]}"
	apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# ver_ge A B: version A >= B (dotted numbers).
ver_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }

go_version_of() { "$1" env GOVERSION 2>/dev/null | sed 's/^go//'; }

# Prints the path of a go >= 1.23, installing one into $PEERS/go if needed.
find_go()
{
	local g v arch tmp dir
	for g in "$(command -v go || true)" /usr/local/go/bin/go "$PEERS/go/bin/go"; do
		[ -n "$g" ] && [ -x "$g" ] || continue
		v=$(GOTOOLCHAIN=local go_version_of "$g") || continue
		if ver_ge "$v" 1.23; then echo "$g"; return 0; fi
	done
	apt_install golang-go >&2
	arch=$(dpkg --print-architecture)
	tmp=$(mktemp -d)
	say "fetching the Go $GO_VERSION toolchain module with Debian's go" >&2
	dir=$(cd "$tmp" && GOPATH="$tmp/gopath" GOFLAGS=-modcacherw GO111MODULE=on \
		/usr/bin/go mod download -json "golang.org/toolchain@v0.0.1-$GO_VERSION.linux-$arch" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	[ -x "$dir/bin/go" ] || [ -f "$dir/bin/go" ] || { echo "toolchain download failed" >&2; return 1; }
	rm -rf "$PEERS/go"
	mkdir -p "$PEERS"
	cp -r "$dir" "$PEERS/go"
	# Module zips carry no mode bits: the go command itself chmods these.
	chmod -R u+w "$PEERS/go"
	chmod +x "$PEERS/go/bin/"* "$PEERS/go/pkg/tool/"*/*
	rm -rf "$tmp"
	echo "$PEERS/go/bin/go"
}

install_wireguard_go()
{
	local go
	if [ -x "$PEERS/bin/wireguard" ] && "$PEERS/bin/wireguard" --version >/dev/null 2>&1; then
		say "wireguard-go (newest) already in $PEERS/bin"
	else
		go=$(find_go)
		say "building the newest wireguard-go with $go ($(GOTOOLCHAIN=local "$go" env GOVERSION))"
		mkdir -p "$PEERS/bin"
		GOTOOLCHAIN=local GOBIN="$PEERS/bin" GOPATH="$PEERS/.gopath" \
		GOFLAGS="-modcacherw -buildvcs=false" \
			"$go" install golang.zx2c4.com/wireguard@latest
	fi
	ln -sfn wireguard "$PEERS/bin/wireguard-go-latest"
}

# The wgctrl-go reader of the netns tests, rebuilt when its sources are newer.
install_wgctrl_read()
{
	local src go
	src=$(cd "$(dirname "$0")/.." && pwd)/tests/tools/wgctrl-read
	if [ -x "$PEERS/bin/wgctrl-read" ] &&
		[ -z "$(find "$src" -newer "$PEERS/bin/wgctrl-read" -type f)" ]; then
		say "wgctrl-read already in $PEERS/bin"
		return 0
	fi
	go=$(find_go)
	say "building wgctrl-read with $go"
	mkdir -p "$PEERS/bin"
	(cd "$src" && GOTOOLCHAIN=local GOPATH="$PEERS/.gopath" \
		GOFLAGS="-modcacherw -buildvcs=false" \
		"$go" build -o "$PEERS/bin/wgctrl-read" .)
}

cargo_version_of() { "$1" --version 2>/dev/null | awk '{print $2}'; }

find_cargo()
{
	local c
	for c in "$(command -v cargo || true)" "${HOME:-/root}/.cargo/bin/cargo" /usr/bin/cargo; do
		[ -n "$c" ] && [ -x "$c" ] || continue
		if ver_ge "$(cargo_version_of "$c")" 1.78; then echo "$c"; return 0; fi
	done
	say "no cargo >= 1.78: installing Debian's cargo-web (replaces Debian's cargo)" >&2
	apt_install cargo-web >&2
	ver_ge "$(cargo_version_of /usr/bin/cargo)" 1.78 || return 1
	echo /usr/bin/cargo
}

install_boringtun()
{
	local cargo
	if [ -x "$PEERS/bin/boringtun-cli" ] && "$PEERS/bin/boringtun-cli" --version >/dev/null 2>&1; then
		say "boringtun-cli already in $PEERS/bin"
		return 0
	fi
	cargo=$(find_cargo) || { echo "no usable cargo" >&2; return 1; }
	say "building boringtun-cli with $cargo ($(cargo_version_of "$cargo"))"
	# rustup's cargo proxy finds rustc next to itself; Debian's in /usr/bin.
	PATH="$(dirname "$cargo"):$PATH" "$cargo" install boringtun-cli --locked --root "$PEERS"
}

apt_install "${APT_PKGS[@]}"
install_wireguard_go
install_wgctrl_read
install_boringtun

say "ready:"
say "  $(wg --version)"
say "  wireguard-go (Debian): $(/usr/bin/wireguard-go --version | head -n1)"
say "  wireguard-go-latest:   $("$PEERS/bin/wireguard-go-latest" --version | head -n1)"
say "  boringtun-cli:         $("$PEERS/bin/boringtun-cli" --version)"
say "  wgctrl-read:           $PEERS/bin/wgctrl-read"

# --- Cross-compilation (scripts/cross-build.sh) -----------------------------
# zig (PyPI package ziglang, pinned) as the FreeBSD/macOS cross compiler: it
# bundles their libc headers and link stubs. Installed in a venv (Debian's
# python3 is externally managed) and linked as $PEERS/bin/zig. autoconf,
# automake and libtool regenerate libb2's build system (its Debian source
# ships only configure.ac). Env: WGD_ZIG_VERSION (default 0.15.2).
ZIG_VERSION=${WGD_ZIG_VERSION:-0.15.2}

install_zig()
{
	local venv="$PEERS/zig-$ZIG_VERSION" bin
	if [ "$("$venv/bin/python" -m ziglang version 2>/dev/null)" != "$ZIG_VERSION" ]; then
		say "installing zig $ZIG_VERSION (pip ziglang) into $venv"
		python3 -m venv "$venv"
		"$venv/bin/pip" install -q "ziglang==$ZIG_VERSION"
	fi
	bin=$("$venv/bin/python" -c \
		'import os, ziglang; print(os.path.join(os.path.dirname(ziglang.__file__), "zig"))')
	mkdir -p "$PEERS/bin"
	ln -sfn "$bin" "$PEERS/bin/zig"
}

apt_install autoconf automake libtool python3-venv
install_zig
say "  zig:                   $("$PEERS/bin/zig" version) ($PEERS/bin/zig)"
