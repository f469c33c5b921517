#!/usr/bin/env bash
# check-layers.sh [ROOT] - the layering of docs/ARCHITECTURE.md, checked
# on every source file:
#
#   1. every #include "..." names a header of the file's own layer or of
#      a layer it may use (below), by its bare name (no "../x/y.h");
#   2. no layer below cli/ prints or exits: no stdout, stderr, printf,
#      puts, putchar, perror, exit or abort outside comments and strings
#      (reports are written to a FILE * the caller passes in);
#   3. no cycle of includes between headers.
#
# The Makefile compiles each folder with only the include paths this
# table allows, so an upward include does not build either; this script
# names the file and the line, and also covers tests/testlib (which the
# layers never see) and the print/exit rule.  `--self-test` plants one
# violation of each kind in a copy of the tree and fails unless each is
# caught.
set -uo pipefail

# layer: the layers whose headers it may include (itself first).  Keep in
# step with INC_* in the Makefile.
declare -A ALLOW=(
	[core]="core"
	[keyvault]="keyvault core"
	[keys]="keys keyvault core"
	[vault]="vault core"
	[verify]="verify keys keyvault core"
	[bench]="bench vault keys keyvault core"
	[report]="report bench vault keys keyvault core"
	[cli]="cli report bench verify vault keys keyvault core"
	[tests/testlib]="tests/testlib cli report bench verify vault keys keyvault core"
)
LAYERS="core keyvault keys vault verify bench report cli tests/testlib"
QUIET_LAYERS="core keyvault keys vault verify bench report"

# Source text without comments and string or character literals, so that
# "/dev/stdout" or a comment about exit() is not a finding.  Line numbers
# are kept.
strip_c() {
	awk '
	FNR == 1 { inc = 0 }
	{
		out = ""; i = 1; n = length($0); s = $0
		while (i <= n) {
			c = substr(s, i, 1); d = substr(s, i, 2)
			if (inc) {
				if (d == "*/") { inc = 0; i += 2; continue }
				i++; continue
			}
			if (d == "/*") { inc = 1; i += 2; continue }
			if (d == "//") break
			if (c == "\"" || c == "'\''") {
				q = c; out = out q; i++
				while (i <= n) {
					c = substr(s, i, 1)
					if (c == "\\") { i += 2; continue }
					i++
					if (c == q) break
				}
				out = out q
				continue
			}
			out = out c; i++
		}
		print FILENAME ":" FNR ":" out
	}' "$@"
}

check_tree() {
	local root=$1 bad=0 layer f line inc where l ok
	declare -A home=()

	# Where each header lives.
	for layer in $LAYERS; do
		for f in "$root/$layer"/*.h; do
			[ -e "$f" ] || continue
			home[$(basename "$f")]+="$layer "
		done
	done
	local files=()
	for layer in $LAYERS; do
		for f in "$root/$layer"/*.[ch]; do
			[ -e "$f" ] && files+=("$f")
		done
	done
	while IFS=: read -r f line inc; do
		layer=${f#$root/}
		layer=${layer%/*}
		inc=${inc#*\"}
		inc=${inc%%\"*}
		if [[ $inc == */* ]]; then
			echo "${f#$root/}:$line: #include \"$inc\": a path; name headers by their bare name (the Makefile sets the include paths)"
			bad=1
			continue
		fi
		where=${home[$inc]:-}
		if [ -z "$where" ]; then
			echo "${f#$root/}:$line: #include \"$inc\": no such header in any layer"
			bad=1
			continue
		fi
		ok=0
		for l in $where; do
			[[ " ${ALLOW[$layer]} " == *" $l "* ]] && ok=1
		done
		if [ $ok -eq 0 ]; then
			echo "${f#$root/}:$line: #include \"$inc\" reaches ${where% } from $layer/, which may use only: ${ALLOW[$layer]}"
			bad=1
		fi
	done < <(grep -Hn '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "${files[@]}")

	# 2. Lower layers never print and never exit.
	local quiet=()
	for layer in $QUIET_LAYERS; do
		for f in "$root/$layer"/*.[ch]; do
			[ -e "$f" ] && quiet+=("$f")
		done
	done
	if strip_c "${quiet[@]}" |
	    grep -E '^[^:]*:[0-9]+:.*\b(stdout|stderr|printf|vprintf|puts|putchar|perror|exit|_Exit|abort)\b' |
	    grep -vE 'format *\( *printf' | sed "s|^$root/||; s|\$| (prints or exits below cli/)|" | grep .; then
		bad=1
	fi

	# 3. No include cycle between headers (depth-first search).
	declare -A edges=() state=()
	local h hs=()
	for layer in $LAYERS; do
		for f in "$root/$layer"/*.h; do
			[ -e "$f" ] && hs+=("$f") && edges[$(basename "$f")]=""
		done
	done
	while IFS=: read -r f inc; do
		inc=${inc#*\"}
		inc=${inc%%\"*}
		h=${f##*/}
		edges[$h]+="$inc "
	done < <(grep -HoE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"[^"/]+"' "${hs[@]}")
	visit() {
		local n=$1 m
		state[$n]=1
		for m in ${edges[$n]:-}; do
			[ -n "${edges[$m]+x}" ] || continue
			if [ "${state[$m]:-0}" = 1 ]; then
				echo "include cycle: $n -> $m"
				return 1
			fi
			if [ "${state[$m]:-0}" = 0 ]; then
				visit "$m" || return 1
			fi
		done
		state[$n]=2
	}
	for h in "${!edges[@]}"; do
		if [ "${state[$h]:-0}" = 0 ]; then
			visit "$h" || bad=1
		fi
	done
	return $bad
}

self_test() {
	local src=$1 tmp rc=0 what
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/atrest-layers-XXXXXX") || exit 2
	trap 'rm -rf "$tmp"' RETURN
	plant() {
		rm -rf "$tmp/t"
		mkdir -p "$tmp/t/tests"
		for l in $LAYERS; do
			mkdir -p "$tmp/t/$l"
			cp "$src/$l"/*.[ch] "$tmp/t/$l/" 2>/dev/null
		done
		printf '%s\n' "$2" >>"$tmp/t/$1"
		if check_tree "$tmp/t" >/dev/null; then
			echo "check-layers self-test: not caught: $3"
			rc=1
		fi
	}
	if ! check_tree "$src" >/dev/null; then
		echo "check-layers self-test: the tree itself does not pass"
		return 1
	fi
	plant core/err.c '#include "cli.h"' "core/ including cli/"
	plant keyvault/kv_parse.c '#include "keys.h"' "keyvault/ including keys/"
	plant vault/kv_server.c '#include "kv_client.h"' "vault/ including keyvault/"
	plant verify/policy.c '#include "bench.h"' "verify/ including bench/"
	plant bench/env.c '#include "../cli/cli.h"' "a relative include"
	plant core/walk.c '#include "leaky_key.h"' "core/ including tests/testlib"
	plant keys/keys.c 'void f(void) { printf("x"); }' "printf in keys/"
	plant verify/merge.c 'void g(void) { exit(2); }' "exit in verify/"
	plant core/err.c 'void h(void) { fputs("x", stderr); }' "stderr in core/"
	plant core/crypto.h '#include "envelope.h"' "an include cycle"
	[ $rc -eq 0 ] && echo "check-layers self-test: all 10 planted violations caught"
	return $rc
}

if [ "${1:-}" = "--self-test" ]; then
	self_test "$(pwd)"
	exit $?
fi
root=$(cd "${1:-.}" 2>/dev/null && pwd) || { echo "check-layers: no such directory" >&2; exit 2; }
if check_tree "$root"; then
	echo "check-layers: every include follows docs/ARCHITECTURE.md; nothing below cli/ prints or exits; no include cycle"
else
	echo "check-layers: FAILED (docs/ARCHITECTURE.md)"
	exit 1
fi
