#!/usr/bin/env bash
# Installs the Debian packages atrest needs, only those that are missing.
set -euo pipefail

pkgs=(
	build-essential pkg-config
	libssl-dev libcurl4-openssl-dev libcjson-dev libcriterion-dev
	libmicrohttpd-dev libp11-kit-dev softhsm2 opensc
	nghttp2-proxy
	age gnuplot-nox
	clang clang-tidy libclang-rt-14-dev valgrind
	libxml2-utils
	parallel
	strace
	chromium
)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}" >&2
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
