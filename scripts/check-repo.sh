#!/usr/bin/env bash
# check-repo.sh - the repository stands on its own.
#
# Fails on any tracked file that names a path of a development machine
# (under the work, home or root directories) or cites a reference file that is
# not in the repository (the notes the project was started from): docs
# and comments cite public sources (RFCs, NIST SPs, Azure's REST
# reference) or the project's own files.  Test vectors are read from
# VECTOR_DIR, a setting, which is not a citation.  `--self-test` plants
# both kinds in a scratch file and fails unless each is caught.
set -uo pipefail

# Split so that this file does not match itself.
P_PATHS='/''work/|/''home/[a-z][a-z0-9_-]*/|/''root/'
P_REFS='(azure-keyvault|azure-identity|envelope-peers|peer-bench|style-anchors)\.''md|SOURCE\.''md|\.\./''shared/reference'
PATTERN="$P_PATHS|$P_REFS"

scan() {
	# $@: files
	grep -nIE "$PATTERN" "$@" 2>/dev/null
}

if [ "${1:-}" = "--self-test" ]; then
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/atrest-repo-XXXXXX") || exit 2
	trap 'rm -rf "$tmp"' EXIT
	rc=0
	for plant in "see /""work/main/docs" "(reference azure-""keyvault.md 2.1)" \
	    "as SOURCE"".md says" "in /""home/dev/atrest"; do
		printf '/* %s */\n' "$plant" >"$tmp/x.c"
		if ! scan "$tmp/x.c" >/dev/null; then
			echo "check-repo self-test: not caught: $plant"
			rc=1
		fi
	done
	[ $rc -eq 0 ] && echo "check-repo self-test: 4 planted citations caught"
	exit $rc
fi

cd "$(dirname "$0")/.." || exit 2
mapfile -t files < <(git ls-files | grep -vE '^tests/fuzz/corpus/|\.(png|svg|json)$')
if hits=$(scan "${files[@]}"); then
	echo "check-repo: paths of a development machine or citations of files not in the repository:"
	printf '%s\n' "$hits"
	exit 1
fi
echo "check-repo: ${#files[@]} files, no machine path, no citation outside the repository"
