#!/usr/bin/env bash
# bench-vs-age.sh - atrest next to age on the same 256 MiB file, in the
# same run, plus in-memory 64 MiB throughput next to openssl speed.
#
#   scripts/bench-vs-age.sh [ATREST_BIN] [RUNS] [MIB]
#
# File part: RUNS (default 3) runs of each, interleaved, median wall time:
#   atrest encrypt/decrypt with an SMK (file: AES-256 KEK, AES-KWP) and a
#   CMK (file: RSA-3072, RSA-OAEP-256), with the default --jobs (one per
#   CPU) and with -j 1, and age encrypt/decrypt with an X25519 recipient
#   (age-keygen).  DIRS (space-separated) overrides where the files go.  atrest fsyncs every output before renaming it
#   into place (core/fsutil.h); age does not, so age is also shown with a
#   `sync FILE` after it ("age+fsync") for a like-for-like comparison.
# Memory part: `atrest bench` 64 MiB per-object encrypt/decrypt (SMK and
#   RSA-3072, one thread) and `openssl speed -evp aes-256-gcm -bytes 16384`.
set -euo pipefail
bin=${1:-${ATREST_BIN:-build/atrest}}
runs=${2:-3}
mib=${3:-256}

[ -x "$bin" ] || { echo "bench-vs-age: $bin is not executable" >&2; exit 2; }
for t in age age-keygen openssl; do
	command -v "$t" >/dev/null || { echo "bench-vs-age: $t not found (scripts/deps.sh installs it)" >&2; exit 2; }
done
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
# The file part runs on the disk ($TMPDIR, default /tmp) and, when it
# is a tmpfs with room, on /dev/shm, where no disk write bounds either
# tool and the figures are those of the CPU.
dirs=${DIRS:-${TMPDIR:-/tmp}}
if [ -z "${DIRS:-}" ] && [ -d /dev/shm ] &&
    [ "$(df -T /dev/shm | awk 'NR == 2 { print $2 }')" = tmpfs ] &&
    [ "$(df -k /dev/shm | awk 'NR == 2 { print $4 }')" -gt $((mib * 1024 * 5)) ]; then
	dirs="$dirs /dev/shm"
fi
work=()
trap 'rm -rf "${work[@]}"' EXIT

now() { date +%s%N; }
# t NAME OUT CMD...: runs CMD (which writes OUT) once untimed, deletes
# OUT, then runs it again timed and appends the microseconds to NAME's
# list.  The untimed run is a warm-up against this VM's first-touch cost:
# the host backs a guest page only when it is first written, and takes
# freed pages back within seconds (free page reporting), so whichever
# command first needed new memory paid up to 5x (docs/BENCH.md); the
# timed run reuses the pages its warm-up just freed.  The dirty pages of
# the commands before are written out first (untimed): on ext4 an fsync
# can otherwise wait for other files' data.
t() {
	local name=$1 out=$2 t0 t1
	shift 2
	"$@" >/dev/null 2>&1 || { echo "bench-vs-age: $name failed: $*" >&2; exit 1; }
	rm -f "$out"
	sync
	t0=$(now)
	"$@" >/dev/null 2>&1 || { echo "bench-vs-age: $name failed: $*" >&2; exit 1; }
	t1=$(now)
	echo "$(( (t1 - t0) / 1000 ))" >> "times.$name"
}
# same OUT: OUT must equal the plaintext; then it is deleted.
same() {
	cmp -s plain "$1" || { echo "bench-vs-age: $1 differs from the plaintext" >&2; exit 1; }
	rm -f "$1"
}
med() { sort -n "times.$1" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
rng() { sort -n "times.$1" | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.3f-%.3f", lo / 1e6, hi / 1e6 }'; }
row() {
	local name=$1 us ref
	us=$(med "$name")
	ref=$(med "$2")
	awk -v n="$name" -v us="$us" -v ref="$ref" -v mib="$mib" -v r="$2" -v rg="$(rng "$name")" 'BEGIN {
		printf "%-18s %7.3f s [%s] %6.0f MB/s  %5.2fx the time of %s\n", n, us / 1e6,
		    rg, mib * 1048576 / us, us / ref, r }'
}

echo "atrest: $bin; $(age --version | head -1 | sed 's/^/age /'); $(openssl version); $(nproc) CPUs"
for base in $dirs; do
	dir=$(mktemp -d "$base/atrest-vs-age-XXXXXX")
	work+=("$dir")
	cd "$dir"
	echo
	echo "file to file, $mib MiB in $dir ($(df -T . | awk 'NR == 2 { print $2 }')), median of $runs runs (MB = 10^6 B):"
	head -c $((mib * 1024 * 1024)) /dev/urandom > plain
	"$bin" keygen --type aes-256 -o smk.key >/dev/null
	"$bin" keygen --type rsa-3072 -o cmk.pem >/dev/null
	age-keygen -o age.key 2>/dev/null
	recip=$(age-keygen -y age.key)
	for r in $(seq 1 "$runs"); do
		rm -f smk.atr smk1.atr cmk.atr out.* plain.age
		# Outputs are checked and deleted as soon as they are timed, so
		# that the memory in use (tmpfs) stays at five files.
		t atrest-smk-enc smk.atr "$bin" encrypt -q -k file:smk.key -o smk.atr plain
		t atrest-smk-enc-j1 smk1.atr "$bin" encrypt -q -j 1 -k file:smk.key -o smk1.atr plain
		rm -f smk1.atr
		t age-enc plain.age age -r "$recip" -o plain.age plain
		t age-enc-fsync plain.age2 sh -c "age -r '$recip' -o plain.age2 plain && sync plain.age2"
		rm -f plain.age2
		t atrest-cmk-enc cmk.atr "$bin" encrypt -q -k file:cmk.pem.pub -o cmk.atr plain
		t atrest-smk-dec out.smk "$bin" decrypt -q -k file:smk.key -o out.smk smk.atr
		same out.smk
		t atrest-smk-dec-j1 out.smk1 "$bin" decrypt -q -j 1 -k file:smk.key -o out.smk1 smk.atr
		same out.smk1
		t age-dec out.age age -d -i age.key -o out.age plain.age
		same out.age
		t age-dec-fsync out.age2 sh -c "age -d -i age.key -o out.age2 plain.age && sync out.age2"
		rm -f out.age2
		t atrest-cmk-dec out.cmk "$bin" decrypt -q -k file:cmk.pem -o out.cmk cmk.atr
		same out.cmk
	done
	row atrest-smk-enc age-enc
	row atrest-smk-enc-j1 age-enc
	row atrest-cmk-enc age-enc
	row age-enc age-enc
	row age-enc-fsync age-enc
	row atrest-smk-enc age-enc-fsync
	row atrest-smk-dec age-dec
	row atrest-smk-dec-j1 age-dec
	row atrest-cmk-dec age-dec
	row age-dec age-dec
	row age-dec-fsync age-dec
	row atrest-smk-dec age-dec-fsync
	rm -f plain smk.atr smk1.atr cmk.atr out.* plain.age
done

echo
echo "in memory, 64 MiB objects, one thread (atrest bench) vs openssl speed:"
# openssl speed divides by CPU user time, or by wall time with -elapsed:
# each is set beside the bench's figure of the same kind.
ospeed() {
	openssl speed "$@" -seconds 3 -bytes 16384 -evp aes-256-gcm 2>/dev/null |
		awk '/^AES-256-GCM/ { v = $NF; sub(/k$/, "", v); printf "%.0f", v * 1000 / 1e6 }'
}
oc1=$(ospeed); ow1=$(ospeed -elapsed)
"$bin" bench --keys smk,rsa-3072 --hierarchy per-object --sizes 64M --threads 1 \
	--time 1 --reps 3 --csv bench.csv --no-table
ow2=$(ospeed -elapsed); oc2=$(ospeed)
echo "openssl speed -evp aes-256-gcm -bytes 16384: CPU time $oc1 / $oc2 MB/s, -elapsed $ow1 / $ow2 MB/s (before / after)"
awk -F, -v c1="$oc1" -v c2="$oc2" -v w1="$ow1" -v w2="$ow2" 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next } {
	oc = (c1 + c2) / 2; ow = (w1 + w2) / 2
	mc = $c["ops_per_cpu_s"] * 67108864 / 1e6
	printf "%-9s %-8s wall %5.0f MB/s = %.2f of -elapsed;  CPU %5.0f MB/s = %.2f of openssl speed;  vs_aead %.2f\n",
	    $c["key"], $c["op"], $c["mb_per_s"], $c["mb_per_s"] / ow, mc, mc / oc, $c["vs_aead"] }' bench.csv
