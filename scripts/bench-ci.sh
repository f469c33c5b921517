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
#   MAX_REGRESSION_PCT  per cell, 30 by default: the larger of it and the
#                 cell's own spread between repetitions (15 suits a
#                 dedicated runner)
#   GEOMEAN_PCT   the geometric mean over all cells, 10 by default
#   ATTEMPTS      3 by default: a failing comparison is re-run, and the
#                 gate fails only when every attempt failed.  A real
#                 regression repeats; a burst of noise from other jobs
#                 rarely hits the same run twice.
#
# Exit 0 pass, 1 regression, 2 error.
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
rc=1
for a in $(seq 1 "$attempts"); do
	"$bin" bench --quick --json "$out/ci.json" --csv "$out/ci.csv" --no-table || exit 2
	"$bin" bench compare --max-regression "$pct" --max-geomean-regression "$gpct" \
		--metric "$metric" "$base" "$out/ci.json"
	rc=$?
	[ "$rc" -ne 1 ] && break
	[ "$a" -lt "$attempts" ] && echo "bench-ci: attempt $a of $attempts regressed; running again" >&2
done
exit "$rc"
