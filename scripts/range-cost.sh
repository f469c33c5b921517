#!/usr/bin/env bash
# range-cost.sh - the cost of `atrest decrypt --range` follows the range,
# not the object (docs/FORMAT.md, section 5: frames are opened alone).
#
#   scripts/range-cost.sh [ATREST_BIN] [MIB] [RUNS]
#
# In one run, in $DIR (default /dev/shm, else $TMPDIR): one object of MIB
# MiB (default 1024) with the default frames of 64 KiB and a SMK (file:
# AES-256 KEK), then the median wall time of RUNS (default 21) runs each
# of: a 4 KiB range in the middle of it, a 4 KiB range in its final frame,
# and the whole decryption of a 64 KiB object (one frame and the header:
# the floor a range is compared with); and of 3 whole decryptions of the
# big object.  Every command is a whole process (key file read, header
# opened).  Prints the figures and the ratios; asserts nothing.  The
# files are deleted on exit.
set -euo pipefail
bin=${1:-${ATREST_BIN:-build/atrest}}
mib=${2:-1024}
runs=${3:-21}
[ -x "$bin" ] || { echo "range-cost: $bin is not executable" >&2; exit 2; }
base=${DIR:-}
if [ -z "$base" ]; then
	base=${TMPDIR:-/tmp}
	[ -d /dev/shm ] && [ -w /dev/shm ] && base=/dev/shm
fi
d=$(mktemp -d "$base/atrest-range-XXXXXX")
trap 'rm -rf "$d"' EXIT
"$bin" keygen --type aes-256 -o "$d/k" >/dev/null
k="file:$d/k"
head -c "$((mib * 1048576))" /dev/zero >"$d/p"
"$bin" encrypt -q -k "$k" -o "$d/big" "$d/p"
rm -f "$d/p"
head -c 65536 /dev/urandom >"$d/p1"
"$bin" encrypt -q -k "$k" -o "$d/one" "$d/p1"

# Median wall time in microseconds of $1 runs of the rest.
median_us() {
	local n=$1 i t0 t1
	shift
	for ((i = 0; i < n; i++)); do
		t0=$(date +%s%N)
		"$@" >/dev/null
		t1=$(date +%s%N)
		echo $(((t1 - t0) / 1000))
	done | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'
}
mid=$((mib * 1048576 / 2 + 1000))
last=$((mib * 1048576 - 4096))
r_mid=$(median_us "$runs" "$bin" decrypt -q -k "$k" --range "$mid:4096" \
    -o - "$d/big")
r_end=$(median_us "$runs" "$bin" decrypt -q -k "$k" --range "$last:" \
    -o - "$d/big")
one=$(median_us "$runs" "$bin" decrypt -q -k "$k" -o - "$d/one")
whole=$(median_us 3 "$bin" decrypt -q -k "$k" -o /dev/null "$d/big")
echo "range-cost: $mib MiB object in $base, 64 KiB frames, SMK, medians"
printf '  4 KiB range, middle      %10d us\n' "$r_mid"
printf '  4 KiB range, final frame %10d us\n' "$r_end"
printf '  64 KiB object, whole     %10d us  (header + one frame)\n' "$one"
printf '  %d MiB object, whole   %10d us\n' "$mib" "$whole"
awk -v m="$r_mid" -v e="$r_end" -v o="$one" -v w="$whole" 'BEGIN {
	printf "  range / one-frame object: %.2f (middle), %.2f (final)\n",
	    m / o, e / o
	printf "  whole object / range:     %.0fx\n", w / m
}'
