#!/usr/bin/env bash
# tree-cost.sh - files/s of atrest on a tree of small files, next to
# `cp -r` + `sync` of the same tree, in one run (docs/DURABILITY.md).
#
#   scripts/tree-cost.sh [ATREST_BIN] [N] [SIZE] [ROUNDS]
#
# In $DIR (default build/tree-cost under the repository: the real disk,
# never /dev/shm, where nothing is written back), a tree of N (default
# 10000) files of SIZE bytes (default 1024) in directories of 1,000, then
# ROUNDS (default 3) rounds, each in alternating order, of: `atrest
# encrypt` of the tree with --jobs 2 and 4, `atrest decrypt` and `atrest
# rewrap` of the encrypted tree (--jobs 2), and `cp -r` + `sync`.  With
# BASE=/path/to/older/atrest, that binary's encrypt (--jobs 2) is timed
# in the same rounds, for the ratio.  Prints the median wall time of each
# and files/s, and the ratios; asserts nothing.
#
# Every output goes to a new directory and all are removed at the end:
# ext4 scans the inodes freed in the last seconds when it allocates new
# ones (recently_deleted), so removing a tree just before a run makes
# that run several times slower, whatever it is.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${1:-${ATREST_BIN:-build/atrest}}")
n=${2:-10000}
size=${3:-1024}
rounds=${4:-3}
base=${BASE:-}
[ -x "$bin" ] || { echo "tree-cost: $bin is not executable" >&2; exit 2; }
d=${DIR:-build/tree-cost}
mkdir -p "$d"
d=$(mktemp -d "$(realpath "$d")/run-XXXXXX")
trap 'rm -rf "$d"' EXIT
"$bin" keygen --type aes-256 -o "$d/k" >/dev/null
"$bin" keygen --type aes-256 -o "$d/k2" >/dev/null
k="file:$d/k"
k2="file:$d/k2"
mkdir "$d/src"
head -c "$((n * size))" /dev/urandom | (
	cd "$d/src"
	i=0
	while [ "$i" -lt "$n" ]; do
		[ $((i % 1000)) -eq 0 ] && mkdir "d$((i / 1000))"
		head -c "$size" >"d$((i / 1000))/f$i"
		i=$((i + 1))
	done
)
"$bin" encrypt -q -j 2 -k "$k" -o "$d/enc" "$d/src"
sync

# Wall time in ms of the rest (one process tree).
ms() {
	local t0 t1
	t0=$(date +%s%N)
	"$@" >/dev/null
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 1000000))
}
declare -A T
add() { T[$1]="${T[$1]:-} $2"; }
seq_id=0
run_one() {
	seq_id=$((seq_id + 1))
	local o="$d/o$seq_id"
	case $1 in
	enc2) add enc2 "$(ms "$bin" encrypt -q -j 2 -k "$k" -o "$o" "$d/src")" ;;
	enc4) add enc4 "$(ms "$bin" encrypt -q -j 4 -k "$k" -o "$o" "$d/src")" ;;
	dec2) add dec2 "$(ms "$bin" decrypt -q -j 2 -k "$k" -o "$o" "$d/enc")" ;;
	rewrap)
		cp -r "$d/enc" "$o"
		sync
		add rewrap "$(ms "$bin" rewrap -q --from "$k" --to "$k2" "$o")" ;;
	base2) add base2 "$(ms "$base" encrypt -q -j 2 -k "$k" -o "$o" "$d/src")" ;;
	cp) add cp "$(ms sh -c "cp -r '$d/src' '$o' && sync")" ;;
	esac
	sync
}
kinds=(cp enc2 enc4 dec2 rewrap)
[ -n "$base" ] && kinds+=(base2)
for ((r = 0; r < rounds; r++)); do
	if ((r % 2 == 0)); then
		for x in "${kinds[@]}"; do run_one "$x"; done
	else
		for ((i = ${#kinds[@]} - 1; i >= 0; i--)); do run_one "${kinds[$i]}"; done
	fi
done
med() { tr ' ' '\n' | grep . | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
echo "tree-cost: $n files of $size bytes in $d ($(df -T "$d" | awk 'NR == 2 {print $2}')), $rounds rounds, medians"
cpm=$(echo "${T[cp]}" | med)
for x in "${kinds[@]}"; do
	m=$(echo "${T[$x]}" | med)
	awk -v x="$x" -v m="$m" -v n="$n" -v c="$cpm" 'BEGIN {
		printf "  %-7s %7d ms %8.0f files/s  %5.2f x cp+sync\n", x, m,
		    n / (m / 1000), m / c }'
done
if [ -n "$base" ]; then
	b=$(echo "${T[base2]}" | med)
	e=$(echo "${T[enc2]}" | med)
	awk -v b="$b" -v e="$e" 'BEGIN {
		printf "  encrypt -j 2: %.2f x the files/s of BASE\n", b / e }'
fi
