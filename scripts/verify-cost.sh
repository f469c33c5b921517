#!/usr/bin/env bash
# verify-cost.sh - `atrest verify` of large objects against the limit of
# the machine: AES-GCM opening on JOBS cores (docs/VERIFY.md,
# "Performance").
#
#   scripts/verify-cost.sh [ATREST_BIN] [MIB] [RUNS]
#
# In $DIR (default /dev/shm, else $TMPDIR): MIB MiB (default 2048) of
# random plaintext encrypted twice with 64 KiB frames and an RSA-3072
# CMK: as one object, and as a store of 32 objects of MIB/32 MiB.  Each
# store is verified RUNS times (default 3) with --jobs $JOBS (default 2),
# no manifest; the rate is the report's summary.bytes / run.elapsed_ms,
# the CPU time that of the whole command (/usr/bin/time, user + system).
# The limit is `atrest bench --limits --limit aes-256-gcm-open` at 64 KiB
# (one thread), measured before and after the runs (the higher of the
# two is kept); the ratio is rate / (JOBS x the one-thread figure), on
# wall time, and per CPU second against the one-thread CPU figure.
# Verify also reads every byte (a copy from the page cache, which the
# GCM limit does not include): the rate of one thread reading the object
# (dd) gives the bound of open + read on JOBS cores, printed too.  On a
# shared machine the wall ratios drop with the other jobs' load: the CPU
# ratio says what the work costs, the wall ratio what it got.  Prints
# the figures and the ratios; asserts nothing.  The files are deleted on
# exit.
set -euo pipefail
bin=${1:-${ATREST_BIN:-build/atrest}}
mib=${2:-2048}
runs=${3:-3}
jobs=${JOBS:-2}
[ -x "$bin" ] || { echo "verify-cost: $bin is not executable" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "verify-cost: /usr/bin/time is needed" >&2; exit 2; }
base=${DIR:-}
if [ -z "$base" ]; then
	base=${TMPDIR:-/tmp}
	[ -d /dev/shm ] && [ -w /dev/shm ] && base=/dev/shm
fi
d=$(mktemp -d "$base/atrest-verify-cost-XXXXXX")
trap 'rm -rf "$d"' EXIT
"$bin" keygen --type rsa-3072 -o "$d/cmk.pem" >/dev/null
"$bin" keygen --type rsa-3072 -o "$d/ctl.pem" >/dev/null
mkdir "$d/p1" "$d/p32"
head -c "$((mib * 1048576))" /dev/urandom >"$d/p1/object.bin"
"$bin" encrypt -q -k "file:$d/cmk.pem" -o "$d/one" "$d/p1"
(cd "$d/p32" && split -d -a 2 -n 32 "$d/p1/object.bin" obj-)
rm -f "$d/p1/object.bin"
"$bin" encrypt -q -k "file:$d/cmk.pem" -o "$d/store32" "$d/p32"
rm -rf "$d/p1" "$d/p32"

# "WALL CPU" MB/s of one thread opening 64 KiB frames.
limit() {
	"$bin" bench --limits --keys smk --sizes 64K --limit aes-256-gcm-open \
	    --time 1 --reps 3 2>/dev/null |
		awk '$1 == "aes-256-gcm-open-65536" {
			for (i = 1; i <= NF; i++) if ($i == "MB/s") m[++k] = $(i - 1)
			print m[1], m[2] }'
}
# MB/s of one thread reading the store (dd, 256 KiB blocks, page cache
# warm): verify reads every byte, which the GCM limit does not count.
readrate() {
	local f t0 t1 n=0
	t0=$(date +%s%N)
	for f in $(find "$1" -type f); do
		dd if="$f" of=/dev/null bs=256k 2>/dev/null
		n=$((n + $(stat -c %s "$f")))
	done
	t1=$(date +%s%N)
	awk -v n="$n" -v ns="$((t1 - t0))" 'BEGIN { printf "%.0f", n / ns * 1000 }'
}
num() { grep -o "\"$1\": [0-9]*" "$2" | head -1 | awk '{print $2}'; }

rd=$(readrate "$d/one")
read -r lw1 lc1 <<<"$(limit)"
declare -A rate cpu help
for s in one store32; do
	for ((i = 1; i <= runs; i++)); do
		/usr/bin/time -f "%U %S" -o "$d/t" "$bin" verify -q --jobs "$jobs" \
		    -k "file:$d/cmk.pem" --control-key "file:$d/ctl.pem" \
		    --json "$d/r.json" "$d/$s" || {
			echo "verify-cost: verify of $s failed" >&2; exit 1; }
		b=$(num bytes "$d/r.json")
		ms=$(num elapsed_ms "$d/r.json")
		c=$(awk '{print $1 + $2}' "$d/t")
		rate[$s]+="$(awk -v b="$b" -v ms="$ms" 'BEGIN { printf "%.0f", b / (ms > 0 ? ms : 1) / 1000 }') "
		cpu[$s]+="$(awk -v b="$b" -v c="$c" 'BEGIN { printf "%.0f", b / (c > 0 ? c : 0.01) / 1e6 }') "
		help[$s]+="$(num helped_batches "$d/r.json") "
	done
done
read -r lw2 lc2 <<<"$(limit)"
lw=$(awk -v a="$lw1" -v b="$lw2" 'BEGIN { print (a > b ? a : b) }')
lc=$(awk -v a="$lc1" -v b="$lc2" 'BEGIN { print (a > b ? a : b) }')

echo "verify-cost: $mib MiB, 64 KiB frames, RSA-3072 CMK, no manifest, --jobs $jobs, in $base"
echo "  load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
echo "  limit, one thread: aes-256-gcm-open-65536 $lw1 / $lw2 MB/s wall," \
    "$lc1 / $lc2 MB/s CPU (before / after)"
# Opening and reading on the same core: 1 / (1 / open + 1 / read).
lr=$(awk -v o="$lw" -v r="$rd" 'BEGIN { printf "%.0f", 1 / (1 / o + 1 / r) }')
echo "  reading the object, one thread: $rd MB/s; open + read on one core: $lr MB/s"
for s in one store32; do
	name="1 object of $mib MiB"
	[ "$s" = store32 ] && name="32 objects of $((mib / 32)) MiB"
	awk -v n="$name" -v r="${rate[$s]}" -v c="${cpu[$s]}" -v h="${help[$s]}" \
	    -v lw="$lw" -v lc="$lc" -v lr="$lr" -v j="$jobs" 'BEGIN {
		k = split(r, rv, " "); split(c, cv, " ")
		best = 0; bc = 0
		for (i = 1; i <= k; i++) {
			if (rv[i] > best) best = rv[i]
			if (cv[i] > bc) bc = cv[i]
			s[i] = rv[i]
		}
		# median
		for (i = 1; i <= k; i++) for (m = i + 1; m <= k; m++)
			if (s[m] < s[i]) { t = s[i]; s[i] = s[m]; s[m] = t }
		med = s[int((k + 1) / 2)]
		printf "  %s: MB/s per run %s(helped batches: %s)\n", n, r, h
		printf "    best %d MB/s = %.2f x %d-core limit; median %d MB/s = %.2f\n",
		    best, best / (j * lw), j, med, med / (j * lw)
		printf "    best = %.2f x %d x (open + read)\n", best / (j * lr), j
		printf "    per CPU second: best %d MB/s = %.2f x the one-thread CPU limit\n",
		    bc, bc / lc
	}'
done
