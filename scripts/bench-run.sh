#!/usr/bin/env bash
# bench-run.sh - the full embedded bench with results and charts:
#
#   scripts/bench-run.sh [ATREST_BIN] [OUTDIR] [extra atrest bench options]
#
# Writes OUTDIR/bench.json, bench.csv, bench.txt (the table) and the
# gnuplot charts under OUTDIR/charts (default OUTDIR: results/latest).
set -euo pipefail
bin=${1:-${ATREST_BIN:-build/atrest}}
dir=${2:-results/latest}
shift $(( $# > 2 ? 2 : $# ))
mkdir -p "$dir"
"$bin" bench "$@" --json "$dir/bench.json" --csv "$dir/bench.csv" \
	--charts "$dir/charts" | tee "$dir/bench.txt"
