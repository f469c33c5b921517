#!/usr/bin/env bash
# bench-accuracy.sh - does atrest bench's own raw AES-256-GCM figure agree
# with `openssl speed -evp aes-256-gcm` at the same size?
#
#   scripts/bench-accuracy.sh [ATREST_BIN] [ROUNDS] [SECONDS]
#
# Runs the two back to back, ROUNDS times (default 3), alternating which
# goes first, each for SECONDS (default 3).  The bench's figure is its
# aes-256-gcm-stream-16384 limit: EVP_EncryptUpdate in place on 16 KiB
# with one context, which is what `openssl speed -evp` times.
#
# `openssl speed` divides by CPU user time unless given -elapsed, so two
# pairs are compared: openssl (CPU time) with the bench's CPU-time figure,
# and `openssl speed -elapsed` with the bench's wall-clock figure.  On an
# idle machine the four agree; on a busy one only the CPU-time pair does.
# The harness's own overhead per operation (an empty op in the measuring
# loop) is printed too.  Exit 0 when the median CPU-time ratio is within
# 10 %.
set -euo pipefail
bin=${1:-${ATREST_BIN:-build/atrest}}
rounds=${2:-3}
secs=${3:-3}
size=16384

[ -x "$bin" ] || { echo "bench-accuracy: $bin is not executable (build it, or pass ATREST_BIN)" >&2; exit 2; }
command -v openssl >/dev/null || { echo "bench-accuracy: openssl not found" >&2; exit 2; }

ossl() {
	# The last line is "AES-256-GCM  NNNN.NNk" in 1000s of bytes per second.
	openssl speed "$@" -seconds "$secs" -bytes "$size" -evp aes-256-gcm 2>/dev/null |
		awk '/^AES-256-GCM/ { v = $NF; sub(/k$/, "", v); printf "%.0f\n", v * 1000 / 1e6 }'
}
# Prints "WALL CPU" MB/s of the bench's stream reference.
mine() {
	"$bin" bench --limits --keys smk --sizes 16K --limit aes-256-gcm-stream \
	    --time "$secs" --reps 1 2>/dev/null |
		awk -v n="aes-256-gcm-stream-$size" '$1 == n {
			for (i = 1; i <= NF; i++) if ($i == "MB/s") m[++k] = $(i - 1)
			print m[1], m[2] }'
}
med() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "openssl: $(openssl version)"
echo "atrest:  $bin; load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-6s %12s %12s %7s   %12s %12s %7s\n' round "openssl cpu" "atrest cpu" ratio \
    "ossl elapsed" "atrest wall" ratio
rc=() rw=()
for r in $(seq 1 "$rounds"); do
	if [ $((r % 2)) -eq 1 ]; then
		o=$(ossl); e=$(ossl -elapsed); read -r aw ac <<<"$(mine)"
	else
		read -r aw ac <<<"$(mine)"; e=$(ossl -elapsed); o=$(ossl)
	fi
	[ -n "$o" ] && [ -n "$e" ] && [ -n "${aw:-}" ] && [ -n "${ac:-}" ] ||
		{ echo "bench-accuracy: could not read a figure" >&2; exit 2; }
	x=$(awk -v a="$ac" -v o="$o" 'BEGIN { printf "%.3f", a / o }')
	y=$(awk -v a="$aw" -v o="$e" 'BEGIN { printf "%.3f", a / o }')
	rc+=("$x") rw+=("$y")
	printf '%-6s %12s %12s %7s   %12s %12s %7s\n' "$r" "$o" "$ac" "$x" "$e" "$aw" "$y"
done
mc=$(printf '%s\n' "${rc[@]}" | med)
mw=$(printf '%s\n' "${rw[@]}" | med)
echo "median ratio, CPU time: $mc; wall clock: $mw (want 0.90..1.10)"
"$bin" bench --limits --keys smk --sizes 1K --limit harness --time 0.5 --reps 1 2>/dev/null |
	grep 'harness:' || true
awk -v m="$mc" 'BEGIN { exit (m >= 0.9 && m <= 1.1) ? 0 : 1 }'
