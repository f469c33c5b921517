#!/usr/bin/env bash
# bench-vs-age.sh - atrest next to cp and age on the same 256 MiB file, in
# the same run, plus in-memory 64 MiB throughput next to openssl speed.
#
#   scripts/bench-vs-age.sh [ATREST_BIN] [RUNS] [MIB]
#
# File part: RUNS (default 5) runs of each command, the order of the
#   commands reversed every other run, median wall time:
#   cp of the plaintext (and of the ciphertext, for decrypt), with and
#   without a `sync FILE` after it; atrest encrypt/decrypt with an SMK
#   (file: AES-256 KEK, AES-KWP) and a CMK (file: RSA-3072, RSA-OAEP-256),
#   with the default --jobs (one per CPU) and with -j 1; age
#   encrypt/decrypt with an X25519 recipient (age-keygen), with and
#   without sync.  atrest fsyncs every output before renaming it into
#   place (core/fsutil.h); cp and age do not, hence the "+sync" rows.
#   DIRS (space-separated) overrides where the files go; MEMORY=0 skips
#   the memory part.  Then the ratios
#   of the medians, atrest/cp and age/atrest, for encrypt and decrypt,
#   next to the targets (docs/BENCH.md, "Against cp and age"): atrest
#   encrypt within 1.3x of cp and age >= 2.5x atrest, in memory.
# Memory part: `atrest bench` 64 MiB per-object encrypt/decrypt (SMK and
#   RSA-3072, one thread) and `openssl speed -evp aes-256-gcm -bytes 16384`.
set -euo pipefail
bin=${1:-${ATREST_BIN:-build/atrest}}
runs=${2:-5}
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
# ratio A B: median(A) / median(B), and the median and range of the
# per-run ratios (run r of A over run r of B: the same minute of the host).
ratio() {
	local a=$1 b=$2 want=$3 cmpop=$4
	paste "times.$a" "times.$b" | awk '{ printf "%.6f\n", $1 / $2 }' | sort -n |
	awk -v a="$a" -v b="$b" -v want="$want" -v op="$cmpop" -v ma="$(med "$a")" -v mb="$(med "$b")" '
		{ r[NR] = $1 }
		END {
			n = NR
			pm = (n % 2) ? r[(n + 1) / 2] : (r[n / 2] + r[n / 2 + 1]) / 2
			rr = ma / mb
			ok = (op == "<=") ? (rr <= want) : (rr >= want)
			printf "  %-18s / %-18s %5.2f  (per run: median %.2f, %.2f-%.2f)  target %s %.1f: %s\n",
			    a, b, rr, pm, r[1], r[n], op, want, ok ? "met" : "NOT met"
		}'
}
# The timed commands of one run, by name (enc.* and out.* are deleted as
# soon as they are timed and checked; smk.atr, cmk.atr and plain.age,
# made once before the runs, are the decrypt inputs).
job() {
	case $1 in
	cp-enc) t cp-enc enc.cp cp plain enc.cp; same enc.cp ;;
	cp-enc-sync) t cp-enc-sync enc.cps sh -c "cp plain enc.cps && sync enc.cps"; same enc.cps ;;
	atrest-smk-enc) t atrest-smk-enc enc.smk "$bin" encrypt -q -k file:smk.key -o enc.smk plain; rm -f enc.smk ;;
	atrest-smk-enc-j1) t atrest-smk-enc-j1 enc.smk1 "$bin" encrypt -q -j 1 -k file:smk.key -o enc.smk1 plain; rm -f enc.smk1 ;;
	atrest-cmk-enc) t atrest-cmk-enc enc.cmk "$bin" encrypt -q -k file:cmk.pem.pub -o enc.cmk plain; rm -f enc.cmk ;;
	age-enc) t age-enc enc.age age -r "$recip" -o enc.age plain; rm -f enc.age ;;
	age-enc-sync) t age-enc-sync enc.ages sh -c "age -r '$recip' -o enc.ages plain && sync enc.ages"; rm -f enc.ages ;;
	cp-dec) t cp-dec out.cp cp smk.atr out.cp; cmp -s smk.atr out.cp || { echo "bench-vs-age: cp differs" >&2; exit 1; }; rm -f out.cp ;;
	atrest-smk-dec) t atrest-smk-dec out.smk "$bin" decrypt -q -k file:smk.key -o out.smk smk.atr; same out.smk ;;
	atrest-smk-dec-j1) t atrest-smk-dec-j1 out.smk1 "$bin" decrypt -q -j 1 -k file:smk.key -o out.smk1 smk.atr; same out.smk1 ;;
	atrest-cmk-dec) t atrest-cmk-dec out.cmk "$bin" decrypt -q -k file:cmk.pem -o out.cmk cmk.atr; same out.cmk ;;
	age-dec) t age-dec out.age age -d -i age.key -o out.age plain.age; same out.age ;;
	age-dec-sync) t age-dec-sync out.ages sh -c "age -d -i age.key -o out.ages plain.age && sync out.ages"; same out.ages ;;
	esac
}
jobs=(cp-enc atrest-smk-enc age-enc atrest-smk-enc-j1 atrest-cmk-enc cp-enc-sync age-enc-sync
	cp-dec atrest-smk-dec age-dec atrest-smk-dec-j1 atrest-cmk-dec age-dec-sync)

for base in $dirs; do
	dir=$(mktemp -d "$base/atrest-vs-age-XXXXXX")
	work+=("$dir")
	cd "$dir"
	echo
	echo "file to file, $mib MiB in $dir ($(df -T . | awk 'NR == 2 { print $2 }')), median of $runs runs, order reversed every other run (MB = 10^6 B):"
	head -c $((mib * 1024 * 1024)) /dev/urandom > plain
	"$bin" keygen --type aes-256 -o smk.key >/dev/null
	"$bin" keygen --type rsa-3072 -o cmk.pem >/dev/null
	age-keygen -o age.key 2>/dev/null
	recip=$(age-keygen -y age.key)
	"$bin" encrypt -q -k file:smk.key -o smk.atr plain
	"$bin" encrypt -q -k file:cmk.pem.pub -o cmk.atr plain
	age -r "$recip" -o plain.age plain
	rm -f times.*
	for r in $(seq 1 "$runs"); do
		if [ $((r % 2)) -eq 1 ]; then
			order=("${jobs[@]}")
		else
			order=()
			for ((i = ${#jobs[@]} - 1; i >= 0; i--)); do order+=("${jobs[i]}"); done
		fi
		for j in "${order[@]}"; do job "$j"; done
	done
	row cp-enc cp-enc
	row cp-enc-sync cp-enc
	row atrest-smk-enc cp-enc
	row atrest-smk-enc-j1 cp-enc
	row atrest-cmk-enc cp-enc
	row age-enc cp-enc
	row age-enc-sync cp-enc
	row cp-dec cp-dec
	row atrest-smk-dec cp-dec
	row atrest-smk-dec-j1 cp-dec
	row atrest-cmk-dec cp-dec
	row age-dec cp-dec
	row age-dec-sync cp-dec
	echo "ratios of the medians (targets in memory, i.e. on tmpfs: atrest within 1.3x of cp, age >= 2.5x atrest):"
	ratio atrest-smk-enc cp-enc 1.3 "<="
	ratio atrest-cmk-enc cp-enc 1.3 "<="
	ratio atrest-smk-enc cp-enc-sync 1.3 "<="
	ratio age-enc atrest-smk-enc 2.5 ">="
	ratio age-enc-sync atrest-smk-enc 2.5 ">="
	ratio atrest-smk-dec cp-dec 1.3 "<="
	ratio atrest-cmk-dec cp-dec 1.3 "<="
	ratio age-dec atrest-smk-dec 2.5 ">="
	ratio age-dec-sync atrest-smk-dec 2.5 ">="
	rm -f plain smk.atr cmk.atr plain.age enc.* out.*
done

[ "${MEMORY:-1}" = 0 ] && exit 0
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
