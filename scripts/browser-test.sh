#!/usr/bin/env bash
# Renders `atrest report` pages and checks them in headless Chromium
# (tests/browser/report.test.mjs under node's built-in test runner;
# tests/browser/README.md says what is checked).  make check-browser runs
# it; make test calls that.
#
#   bash scripts/browser-test.sh [ATREST_BIN]      (default build/atrest)
#   bash scripts/browser-test.sh --large [ATREST_BIN]
#                 times opening large reports instead (tests/browser/
#                 large-report.mjs: figures, nothing asserted)
#
# - Needs node >= 20, npm and Chromium (Debian's chromium package,
#   /usr/bin/chromium, or $CHROMIUM; scripts/deps.sh installs it).  When
#   one is missing it skips with exit 0 and says so, except under CI
#   (CI=true), where a missing browser is a failure: CI must run it.
# - Installs the locked puppeteer-core into tests/browser/node_modules
#   with "npm ci" when missing or older than the lock file (puppeteer-core
#   downloads no browser).
# - Screenshots (full page, PNG) and A4 PDFs of every rendered report are
#   kept in $ARTIFACT_DIR (default BUILD/test-artifacts, BUILD being the
#   atrest binary's directory); the inputs are made in a temporary
#   directory that is removed (KEEP_TMP=1 keeps it).
# - Ends with node's summary and one line "browser: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
root=$(pwd)
dir=tests/browser
large=0
if [ "${1:-}" = --large ]; then
	large=1
	shift
fi
atrest=${1:-${ATREST_BIN:-build/atrest}}
chromium=${CHROMIUM:-/usr/bin/chromium}

skip() {
	if [ "${CI:-}" = true ]; then
		echo "browser: FAILED: $* (CI must run the browser tests; make deps installs Chromium)" >&2
		exit 1
	fi
	echo "browser: SKIPPED: $*"
	exit 0
}
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	skip "node and npm are needed (found: node=$(command -v node || echo none), npm=$(command -v npm || echo none))"
fi
major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "${major:-0}" -lt 20 ]; then
	echo "browser: FAILED: Node.js $(node --version) is too old; the tests need Node.js 20 or later" >&2
	exit 1
fi
[ -x "$chromium" ] || skip "no Chromium at $chromium (apt-get install chromium, or set CHROMIUM)"
case $atrest in /*) ;; *) atrest=$root/$atrest ;; esac
if [ ! -x "$atrest" ]; then
	echo "browser: FAILED: no atrest binary at $atrest (build it first: make)" >&2
	exit 2
fi

npm_flags=(--no-audit --no-fund --loglevel=error --fetch-retries=1 --fetch-timeout=30000)
if [ ! -f "$dir/node_modules/.package-lock.json" ] ||
	[ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
	echo "browser: installing the locked packages: npm ci"
	if ! (cd "$dir" && PUPPETEER_SKIP_DOWNLOAD=1 npm ci "${npm_flags[@]}"); then
		echo "browser: FAILED: npm ci did not complete; is the npm registry ($(npm config get registry)) reachable?" >&2
		exit 1
	fi
fi
pv=$(cd "$dir" && node -p 'require("puppeteer-core/package.json").version' 2>/dev/null) || {
	echo "browser: FAILED: puppeteer-core does not load (remove $dir/node_modules and retry)" >&2
	exit 1
}
echo "browser: $("$chromium" --version 2>/dev/null | head -1), puppeteer-core $pv, node $(node --version)"

if [ $large -eq 1 ]; then
	CHROMIUM=$chromium exec node "$dir/large-report.mjs" "$atrest"
fi

artifacts=${ARTIFACT_DIR:-$(dirname "$atrest")/test-artifacts}
mkdir -p "$artifacts" || exit 2
tap=$(mktemp "${TMPDIR:-/tmp}/atrest-browser-tap.XXXXXX") || exit 2
trap 'rm -f "$tap"' EXIT
ATREST_BIN=$atrest ATREST_ROOT=$root CHROMIUM=$chromium ARTIFACT_DIR=$artifacts \
	timeout 600 node --test --test-timeout=120000 \
	--test-reporter=spec --test-reporter-destination=stdout \
	--test-reporter=tap --test-reporter-destination="$tap" \
	"$dir/report.test.mjs"
rc=$?
pass=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$tap" | tail -1)
fail=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$tap" | tail -1)
pass=${pass:-0} fail=${fail:-0}
[ "$rc" -ne 0 ] && [ "$fail" -eq 0 ] && fail=1
echo "browser: screenshots and PDFs in $artifacts"
echo "browser: $pass passed, $fail failed"
[ "$rc" -eq 0 ] && [ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
