#!/usr/bin/env bash
# lint.sh - static analysis of every source file (make lint):
#   1. clang-tidy with the checked-in .clang-tidy (bugprone, CERT C, the
#      Clang static analyzer, function size), each layer with its own
#      include paths, as the Makefile compiles it;
#   2. GCC's -fanalyzer (double frees, use after free, NULL
#      dereferences, uninitialised reads along paths; its leak check is
#      off, see GCC_ANALYZER), with the same flags.
# Prints every finding and a count per check; exits 1 when there is any.
# JOBS=N runs N files at once (default: the CPU count).
# --self-test: lints one planted file instead (a strcmp used as a
# boolean, a use after free) and fails unless both tools report it, so
# that a broken flag or a silenced tool cannot turn make lint green.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

# ATR_LINT: atr_fail, cli_usage_error and cli_bad_option become macros
# that state their result (core/err.h): both analysers read one file at
# a time and otherwise follow "return atr_fail(ATR_ERR_IO, ...)" as if
# it could succeed (17 of the first run's findings).
DEFS="-DATR_LINT -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
-D_FILE_OFFSET_BITS=64"
# -Wno-analyzer-malloc-leak: GCC 12's leak check loses a pointer once it
# is stored into an element of a heap array or a struct reached through
# a parameter (bench/group.c member_alloc, verify/merge.c copy_config,
# the queues of cli/common.c and verify/pool.c, ...) or handed to
# pthread_setspecific (core/crypto.c tls_get).  Each of its 51 findings
# was checked: every one is such a store, released by the owner's free
# function.  Leaks stay checked by clang-analyzer-unix.Malloc above and
# by LeakSanitizer in the SAN=1 test runs.
GCC_ANALYZER="-fanalyzer -Wno-analyzer-malloc-leak"
PKG=$(pkg-config --cflags openssl libcurl libcjson libmicrohttpd 2>/dev/null)
# The per-file commands run in child shells (xargs bash -c): export the
# flags, or every file is analysed without them (no -std=c11, no
# feature macros, no -I/usr/include/cjson).
export DEFS PKG GCC_ANALYZER
declare -A INC=(
	[core]="-Icore"
	[keyvault]="-Icore -Ikeyvault"
	[keys]="-Icore -Ikeyvault -Ikeys -I/usr/include/p11-kit-1"
	[vault]="-Icore -Ivault"
	[verify]="-Icore -Ikeyvault -Ikeys -I/usr/include/p11-kit-1 -Iverify"
	[bench]="-Icore -Ikeyvault -Ikeys -I/usr/include/p11-kit-1 -Ivault -Ibench"
	[report]="-Icore -Ikeyvault -Ikeys -I/usr/include/p11-kit-1 -Ivault -Ibench -Ireport"
	[cli]="-Icore -Ikeyvault -Ikeys -I/usr/include/p11-kit-1 -Ivault -Iverify -Ibench -Ireport -Icli"
)
jobs=${JOBS:-$(nproc)}
out=$(mktemp -d "${TMPDIR:-/tmp}/atrest-lint-XXXXXX") || exit 2
trap 'rm -rf "$out"' EXIT

command -v clang-tidy >/dev/null || { echo "lint: clang-tidy is not installed (apt install clang-tidy)" >&2; exit 2; }
self_test=0
if [ "${1:-}" = --self-test ]; then
	self_test=1
	cat >"$out/planted.c" <<'PLANT'
#include <stdlib.h>
#include <string.h>
#include "err.h"
int planted(const char *a, const char *b);
int
planted(const char *a, const char *b)
{
	char *p = malloc(8);

	if (p == NULL)
		return ATR_ERR_NOMEM;
	free(p);
	if (strcmp(a, b))
		return p[0];
	return 0;
}
PLANT
	printf 'core\t%s\n' "$out/planted.c" >"$out/files"
else
	for layer in core keyvault keys vault verify bench report cli; do
		for f in "$layer"/*.c; do
			printf '%s\t%s\n' "$layer" "$f"
		done
	done >"$out/files"
fi

# Bash cannot export an associative array: pass the paths per line.
while IFS=$'\t' read -r layer f; do
	printf '%s\t%s\t%s\n' "$layer" "$f" "${INC[$layer]}"
done <"$out/files" | xargs -P "$jobs" -d '\n' -n 1 bash -c '
	IFS=$'"'"'\t'"'"' read -r layer f inc <<<"$1"
	log="'"$out"'/$(echo "$f" | tr / _)"
	clang-tidy --quiet --config-file=.clang-tidy "$f" -- $DEFS $PKG $inc >"$log.tidy" 2>/dev/null
	gcc $DEFS $PKG $inc $GCC_ANALYZER -O1 -c -o /dev/null "$f" >"$log.gcc" 2>&1
' _

cat "$out"/*.tidy | grep -E '^[^ ]+:[0-9]+:[0-9]+: (warning|error):' |
    sed "s|^$(pwd)/||" | sort -u >"$out/all"
cat "$out"/*.gcc | grep -E '^[^ ]+:[0-9]+:[0-9]+: (warning|error):' |
    sort -u >>"$out/all"
n=$(wc -l <"$out/all")
if [ "$self_test" = 1 ]; then
	if grep -q 'bugprone-suspicious-string-compare' "$out/all" &&
	    grep -q 'Wanalyzer-use-after-free' "$out/all"; then
		echo "lint self-test: both tools report the planted defects"
		exit 0
	fi
	cat "$out/all"
	echo "lint self-test: a planted defect went unreported" >&2
	exit 1
fi
if [ "$n" -gt 0 ]; then
	cat "$out/all"
	echo "lint: $n finding(s):"
	sed -n 's/.*\[\([^]]*\)\]$/\1/p' "$out/all" | sort | uniq -c | sort -rn
	exit 1
fi
echo "lint: clang-tidy (.clang-tidy) and gcc -fanalyzer: no finding in $(wc -l <"$out/files") files"
