#!/usr/bin/env bash
# The main job on embedded defaults: ephemeral local keys, the bundled
# fixture files, and the loopback Key Vault (started here, stopped on
# exit).  The fixtures are encrypted for three kinds of key (a CMK in
# the vault, a local RSA-3072 CMK, a local AES-256 SMK), inspected,
# decrypted with each key alone and compared; a wrong key and a
# disabled vault key open nothing; verify proves the store is protected
# by exactly the configured key; a short bench states what CMK costs;
# atrest report puts verify's and bench's JSON on one page,
# results/demo-report.html (docs/report.png is a screenshot of it).
set -euo pipefail
A=$(realpath "${1:-build/atrest}")
cd "$(dirname "$0")/.."
root=$(pwd)
FIX=fixtures/demo
work=$(mktemp -d /tmp/atrest-demo.XXXXXX)
cleanup() {
	ATREST_BIN=$A scripts/vault-stop.sh "$work/vault" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT
step() { printf '\n== %s\n' "$*"; }

"$A" keygen --type rsa-3072 -o "$work/cmk.pem"
"$A" keygen --type aes-256 -o "$work/smk.key"

step "loopback Key Vault (HTTPS, test CA, client-credentials auth)"
eval "$(ATREST_BIN=$A scripts/vault-start.sh "$work/vault" --listen 127.0.0.1:0 --purge-protection)"
export ATREST_CA_FILE=$VAULT_CA
echo "vault at $VAULT_URL"
"$A" vault create --url "$VAULT_URL" --name demo-cmk --kty RSA --size 3072 --ops wrapKey,unwrapKey >/dev/null
KV="$VAULT_URL/keys/demo-cmk"

step "encrypt $FIX for a vault CMK, a local RSA-3072 CMK and a local AES-256 SMK"
"$A" encrypt -q --key "$KV" -o "$work/kv" "$FIX"
"$A" encrypt -q --key "file:$work/cmk.pem.pub" -o "$work/cmk" "$FIX"
"$A" encrypt -q --key "file:$work/smk.key" -o "$work/smk" "$FIX"

step "inspect (no key needed)"
"$A" inspect "$work/kv/patients.csv" | sed "s|$work/||"

step "decrypt each store with its key alone and compare"
"$A" decrypt -q --key "$KV" -o "$work/kv-out" "$work/kv"
"$A" decrypt -q --key "file:$work/cmk.pem" -o "$work/cmk-out" "$work/cmk"
"$A" decrypt -q --key "file:$work/smk.key" -o "$work/smk-out" "$work/smk"
diff -r "$FIX" "$work/kv-out" && diff -r "$FIX" "$work/cmk-out" && diff -r "$FIX" "$work/smk-out"
echo "all three stores decrypt to the fixtures"

step "a wrong key and a disabled vault key open nothing"
"$A" keygen --type aes-256 -o "$work/other.key"
if "$A" decrypt -q --key "file:$work/other.key" -o "$work/x" "$work/smk/patients.csv" 2>/dev/null; then
	echo "demo: a wrong key opened an object" >&2
	exit 1
fi
"$A" vault disable "$KV" >/dev/null
if "$A" decrypt -q --key "$KV" -o "$work/x" "$work/kv/patients.csv" 2>"$work/err"; then
	echo "demo: a disabled vault key opened an object" >&2
	exit 1
fi
sed 's/^/  /' "$work/err"
"$A" vault enable "$KV" >/dev/null

if "$A" verify --help >/dev/null 2>&1; then
	step "verify: the vault store is protected by exactly $KV"
	# From the work directory, so the report shows "kv", not a temporary path.
	(cd "$work" && "$A" verify --key "$KV" --json verify.json kv) || {
		echo "demo: verify found a problem" >&2
		exit 1
	}
fi

if "$A" bench --help >/dev/null 2>&1; then
	step "bench (quick): CMK against SMK, next to this machine's limits"
	"$A" bench --quick --keys "smk,rsa-3072" --sizes 1K,1M --json "$work/bench.json"
fi

reports=()
[ -f "$work/verify.json" ] && reports+=(verify.json)
[ -f "$work/bench.json" ] && reports+=(bench.json)
if [ ${#reports[@]} -gt 0 ] && "$A" report --help >/dev/null 2>&1; then
	step "report: verify and bench on one page"
	mkdir -p "$root/results"
	(cd "$work" && "$A" report -o "$root/results/demo-report.html" \
		--title "atrest demo: evidence report" "${reports[@]}")
fi

n=$(find "$FIX" -type f | wc -l)
bytes=$(find "$FIX" -type f -printf '%s\n' | awk '{s+=$1} END {print s}')
echo
echo "summary: $n files, $bytes plaintext bytes, encrypted for three keys;"
echo "  each key alone decrypts its store identically; a wrong key and a"
echo "  disabled vault key open nothing."
if [ -f "$root/results/demo-report.html" ] && [ ${#reports[@]} -gt 0 ]; then
	echo "report: $root/results/demo-report.html"
fi
