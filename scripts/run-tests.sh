#!/usr/bin/env bash
# Runs every Criterion binary under BUILD/tests and prints one closing
# line: "tests: N passed, N failed".  Services the tests need (SoftHSM2
# tokens, the loopback vault) are started by the tests themselves in
# temporary directories and stopped when they finish.
set -uo pipefail
B=${1:-build}
export VECTOR_DIR=${VECTOR_DIR:-../shared/vectors}
export ATREST_BIN=${ATREST_BIN_OVERRIDE:-$(cd "$B" && pwd)/atrest}
export ATREST_ROOT=$(pwd)
jobs=${JOBS:-2}
# Suites whose tests kill and time child processes at chosen moments run
# one test at a time: side by side the kill points mean nothing, and
# under ASan Criterion's own runner leaked 48 bytes when they shared it.
serial=" e2e_test_tree_durability "
pass=0 fail=0 bad=()
tests=()
# ONLY's patterns match under $B/tests, never the current directory.
set -f
pats=(${ONLY:-*})
set +f
for pat in "${pats[@]}"; do
	for t in "$B"/tests/$pat; do tests+=("$t"); done
done
for t in "${tests[@]}"; do
	[ -x "$t" ] && [ -f "$t" ] || continue
	name=$(basename "$t")
	j=$jobs
	[[ $serial == *" $name "* ]] && j=1
	out=$("$t" --jobs "$j" --short-filename 2>&1)
	rc=$?
	syn=$(printf '%s\n' "$out" | grep 'Synthesis:' | tail -1)
	p=$(printf '%s' "$syn" | sed -n 's/.*Passing: \([0-9]*\).*/\1/p')
	f=$(printf '%s' "$syn" | sed -n 's/.*Failing: \([0-9]*\).*/\1/p')
	c=$(printf '%s' "$syn" | sed -n 's/.*Crashing: \([0-9]*\).*/\1/p')
	p=${p:-0} f=${f:-0} c=${c:-0}
	if [ "$rc" -ne 0 ] || [ -z "$syn" ]; then
		[ "$f" -eq 0 ] && f=1
		bad+=("$name")
		printf '%s\n' "$out" | grep -vE '^\[----\] *$' | tail -40
	fi
	printf '%-28s %s\n' "$name" "${syn:-no synthesis line (rc $rc)}"
	pass=$((pass + p))
	fail=$((fail + f))
done
[ ${#bad[@]} -gt 0 ] && echo "failing suites (${B}): ${bad[*]}"
echo "tests: $pass passed, $fail failed"
[ -n "${SUMMARY_FILE:-}" ] && echo "tests: $pass passed, $fail failed" >"$SUMMARY_FILE"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
