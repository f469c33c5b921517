#!/usr/bin/env bash
# tsan-check.sh - the multi-threaded paths of the atrest binary under
# ThreadSanitizer (make check-tsan builds build-tsan/atrest first).
#
#   scripts/tsan-check.sh [TSAN_ATREST_BIN]
#
# Criterion's runner cannot start under TSan (its shared arena), so this
# drives the binary itself: one large object sealed and opened on three
# threads (core/stream.c), a tampered one (exit 1, no race on the error
# path), the same object verified on four workers that share its frames
# (verify/split.c), intact and tampered, trees of files on four workers
# (cli/common.c) with a file key and with a Key Vault key served by the
# loopback vault (per-thread curl handles, the shared token cache), and
# the vault server itself under TSan.  Any race report makes TSan exit 66 and this script fail.
set -euo pipefail
bin=${1:-build-tsan/atrest}
[ -x "$bin" ] || { echo "tsan-check: $bin is not executable" >&2; exit 2; }
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
root=$(pwd)
export TSAN_OPTIONS="halt_on_error=1 exitcode=66 second_deadlock_stack=1"
dir=$(mktemp -d "${TMPDIR:-/tmp}/atrest-tsan-XXXXXX")
cleanup() {
	ATREST_BIN=$bin "$root/scripts/vault-stop.sh" "$dir/vault" 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT
cd "$dir"

step() { printf 'tsan-check: %s\n' "$*"; }
expect() {
	local want=$1 rc=0
	shift
	"$@" || rc=$?
	if [ "$rc" -ne "$want" ]; then
		echo "tsan-check: exit $rc, want $want: $*" >&2
		[ "$rc" -eq 66 ] && echo "tsan-check: ThreadSanitizer reported a race (above)" >&2
		exit 1
	fi
}

"$bin" keygen --type aes-256 -o smk.key >/dev/null
head -c $((24 * 1024 * 1024 + 333)) /dev/urandom > big
step "one 24 MiB object on 3 threads"
expect 0 "$bin" encrypt -q -j 3 -k file:smk.key -o big.atr big
expect 0 "$bin" decrypt -q -j 3 -k file:smk.key -o big.out big.atr
cmp -s big big.out || { echo "tsan-check: round trip differs" >&2; exit 1; }
printf '\001' | dd of=big.atr bs=1 seek=$((9 * 1024 * 1024)) conv=notrunc 2>/dev/null
step "the same object tampered: exit 1 (one line from atrest below)"
expect 1 "$bin" decrypt -q -j 3 -k file:smk.key -o big.bad big.atr

step "verify: the 24 MiB object's frames on 4 workers (verify/split.c), then tampered"
mkdir -p vstore
"$bin" encrypt -q -k file:smk.key -f 4096 -o vstore/big.atr big
echo '{"recipients": {"require_cmk": false}}' > smk-policy.json
expect 0 "$bin" verify -q --jobs 4 -k file:smk.key -p smk-policy.json \
    --json v.json vstore
grep -q '"helped_batches": [1-9]' v.json ||
    echo "tsan-check: (no worker helped this time; the split ran on one)"
printf '\001' | dd of=vstore/big.atr bs=1 seek=$((20 * 1024 * 1024)) conv=notrunc 2>/dev/null
expect 1 "$bin" verify -q --jobs 4 -k file:smk.key -p smk-policy.json vstore

mkdir -p tree
for d in 0 1 2 3; do
	mkdir -p "tree/d$d"
	for f in $(seq 0 49); do
		head -c $((f * 97 + d)) /dev/urandom > "tree/d$d/f$f"
	done
done
step "a tree of 200 files on 4 workers, file key"
expect 0 "$bin" encrypt -q -j 4 -k file:smk.key -o tree.atr tree
expect 0 "$bin" decrypt -q -j 4 -k file:smk.key -o tree.out tree.atr
diff -r tree tree.out >/dev/null || { echo "tsan-check: tree differs" >&2; exit 1; }

step "the same tree on 4 workers with a Key Vault key (loopback vault, also under TSan)"
eval "$(ATREST_BIN=$bin "$root/scripts/vault-start.sh" "$dir/vault" --listen 127.0.0.1:0)"
export ATREST_CA_FILE=$VAULT_CA
expect 0 "$bin" vault create "$VAULT_URL/keys/tsan" >/dev/null
expect 0 "$bin" encrypt -q -j 4 -k "$VAULT_URL/keys/tsan" -o tree.kv tree
expect 0 "$bin" decrypt -q -j 4 -k "$VAULT_URL/keys/tsan" -o tree.kvout tree.kv
diff -r tree tree.kvout >/dev/null || { echo "tsan-check: vault tree differs" >&2; exit 1; }
ATREST_BIN=$bin "$root/scripts/vault-stop.sh" "$dir/vault"
if grep -q "ThreadSanitizer" "$dir/vault/serve.log"; then
	cat "$dir/vault/serve.log" >&2
	echo "tsan-check: the vault server reported a race" >&2
	exit 1
fi
step "no race reported"
