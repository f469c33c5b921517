#!/usr/bin/env bash
# The main job on embedded defaults: ephemeral keys, the bundled fixture
# files encrypted for a CMK (RSA-3072) and for an SMK (AES-256), inspected,
# decrypted with each key alone and compared.  Nothing is left behind.
set -euo pipefail
A=$(realpath "${1:-build/atrest}")
cd "$(dirname "$0")/.."
FIX=fixtures/demo
work=$(mktemp -d /tmp/atrest-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT

"$A" keygen --type rsa-3072 -o "$work/cmk.pem"
"$A" keygen --type aes-256 -o "$work/smk.key"

echo "== encrypt $FIX with a CMK (RSA-3072, RSA-OAEP-256) and an SMK (AES-256, KWP)"
"$A" encrypt --key "file:$work/cmk.pem.pub" -o "$work/cmk" "$FIX"
"$A" encrypt --key "file:$work/smk.key" -o "$work/smk" "$FIX"

echo "== inspect (no key needed)"
"$A" inspect "$work/cmk/patients.csv" | sed "s|$work/||"

echo "== decrypt each store with its key alone and compare"
"$A" decrypt --key "file:$work/cmk.pem" -o "$work/cmk-out" "$work/cmk"
"$A" decrypt --key "file:$work/smk.key" -o "$work/smk-out" "$work/smk"
diff -r "$FIX" "$work/cmk-out" && diff -r "$FIX" "$work/smk-out"

echo "== a wrong key opens nothing"
"$A" keygen --type aes-256 -o "$work/other.key"
if "$A" decrypt -q --key "file:$work/other.key" -o "$work/x" "$work/smk/patients.csv" 2>/dev/null; then
	echo "demo: a wrong key opened an object" >&2
	exit 1
fi

n=$(find "$FIX" -type f | wc -l)
bytes=$(find "$FIX" -type f -printf '%s\n' | awk '{s+=$1} END {print s}')
cbytes=$(find "$work/cmk" -type f -printf '%s\n' | awk '{s+=$1} END {print s}')
sbytes=$(find "$work/smk" -type f -printf '%s\n' | awk '{s+=$1} END {print s}')
echo
echo "summary: $n files, $bytes plaintext bytes"
echo "  CMK store: $cbytes bytes (RSA-3072 wrapped DEK per object), decrypts identically"
echo "  SMK store: $sbytes bytes (AES-KWP wrapped DEK per object), decrypts identically"
echo "  wrong key: refused (exit 1)"
