#!/usr/bin/env bash
# bench-ci.sh - the CI regression gate (docs/BENCH.md "The CI gate").
#
#   scripts/bench-ci.sh [ATREST_BIN] [BASELINE] [MAX_REGRESSION_PCT] [METRIC]
#                       [GEOMEAN_PCT] [ATTEMPTS]
#
# Runs `atrest bench --quick` into results/tmp/ci.json (CSV next to it),
# then `atrest bench compare BASELINE NEW` on the machine-independent
# ratios (cell against the limit measured in the same run).
#
#   METRIC        cpu (default: CPU-time ratios, steady when other jobs
#                 share the runner) or wall
#   MAX_REGRESSION_PCT  per cell, 30 by default: a cell regressed when
#                 the U test over its repetitions is significant and its
#                 median fell by more than this; a cell whose spread is
#                 wider is inconclusive (15 suits a dedicated runner)
#   GEOMEAN_PCT   the geometric mean over all cells, 10 by default
#   ATTEMPTS      3 by default: a comparison that could not judge a cell
#                 (exit 3: too noisy) is re-run, only then; a regression
#                 fails at once (the rank test already weighed the noise).
#
# Exit 0 pass, 1 regression, 2 error, 3 could not judge (every attempt
# had a cell too noisy to decide, none regressed): not a pass.
set -uo pipefail
bin=${1:-${ATREST_BIN:-build/atrest}}
base=${2:-results/baseline.json}
pct=${3:-30}
metric=${4:-cpu}
gpct=${5:-10}
attempts=${6:-3}
out=results/tmp
mkdir -p "$out" || exit 2
[ -x "$bin" ] || { echo "bench-ci: $bin is not executable" >&2; exit 2; }
[ -f "$base" ] || { echo "bench-ci: no baseline $base" >&2; exit 2; }
rc=3
for a in $(seq 1 "$attempts"); do
	"$bin" bench --quick --json "$out/ci.json" --csv "$out/ci.csv" --no-table || exit 2
	"$bin" bench compare --max-regression "$pct" --max-geomean-regression "$gpct" \
		--metric "$metric" "$base" "$out/ci.json"
	rc=$?
	[ "$rc" -ne 3 ] && break
	if [ "$a" -lt "$attempts" ]; then
		echo "bench-ci: attempt $a of $attempts could not judge every cell (too noisy); running again" >&2
	fi
done
if [ "$rc" -eq 3 ]; then
	echo "bench-ci: could not judge: a cell (or the geometric mean) stayed noisier than its threshold in $attempts attempt(s); no regression found, but this is not a pass" >&2
fi
exit "$rc"
