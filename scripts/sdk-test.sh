#!/usr/bin/env bash
# Runs Azure's official JavaScript SDK (@azure/keyvault-keys and
# @azure/identity, versions locked in tests/sdk/package-lock.json) against
# "atrest vault serve": tests/sdk/keyvault-sdk.test.mjs under node's
# built-in test runner.  make check-sdk runs it; make test calls that.
#
#   bash scripts/sdk-test.sh [ATREST_BIN]      (default build/atrest)
#
# - Skips (exit 0) only when node or npm is missing, and says so.
# - Installs the locked packages into tests/sdk/node_modules with "npm ci"
#   when they are missing or older than the lock file ("npm install" when
#   there is no lock file yet); fails clearly if the registry is unreachable.
# - Makes a client certificate (openssl) and a federated issuer key, JWKS
#   and token (atrest vault federated-token) in the temporary directory.
# - Starts the server on 127.0.0.1:0 with a fresh state directory, the admin
#   API, a managed identity, a certificate client and a federated client,
#   runs the tests with NODE_EXTRA_CA_CERTS set to
#   its test CA, stops it, cleans up.
# - Ends with node's summary and one line "sdk: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
root=$(pwd)
sdk=tests/sdk
atrest=${1:-${ATREST_BIN:-build/atrest}}

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	echo "sdk: SKIPPED: node and npm are needed for the Azure SDK tests" \
		"(found: node=$(command -v node || echo none), npm=$(command -v npm || echo none))"
	exit 0
fi
major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "${major:-0}" -lt 20 ]; then
	echo "sdk: FAILED: Node.js $(node --version) is too old; the locked Azure SDK packages need Node.js 20 or later" >&2
	exit 1
fi
case $atrest in /*) ;; *) atrest=$root/$atrest ;; esac
if [ ! -x "$atrest" ]; then
	echo "sdk: FAILED: no atrest binary at $atrest (build it first: make)" >&2
	exit 2
fi

# Install the packages when needed.  npm ci keeps to the lock file, so
# every run tests exactly the versions recorded there.
npm_flags=(--no-audit --no-fund --loglevel=error --fetch-retries=1 --fetch-timeout=30000)
if [ ! -f "$sdk/package-lock.json" ]; then
	echo "sdk: no package-lock.json yet: npm install (creates it)"
	if ! (cd "$sdk" && npm install "${npm_flags[@]}"); then
		echo "sdk: FAILED: npm install did not complete; is the npm registry ($(npm config get registry)) reachable?" >&2
		exit 1
	fi
elif [ ! -f "$sdk/node_modules/.package-lock.json" ] ||
	[ "$sdk/package-lock.json" -nt "$sdk/node_modules/.package-lock.json" ]; then
	echo "sdk: installing the locked packages: npm ci"
	if ! (cd "$sdk" && npm ci "${npm_flags[@]}"); then
		echo "sdk: FAILED: npm ci did not complete; is the npm registry ($(npm config get registry)) reachable?" >&2
		exit 1
	fi
fi
versions=$(cd "$sdk" && node -p '["@azure/keyvault-keys","@azure/identity","@azure/msal-node","@azure/core-rest-pipeline"].map(n => n + "@" + require(n + "/package.json").version).join(" ")' 2>/dev/null) || {
	echo "sdk: FAILED: the installed SDK packages do not load (remove $sdk/node_modules and retry)" >&2
	exit 1
}
echo "sdk: $versions, node $(node --version)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/atrest-sdk.XXXXXX") || exit 2
state=$tmp/vault
cleanup() {
	bash scripts/vault-stop.sh "$state" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mi_id=$(node -p 'require("node:crypto").randomUUID()')

# A certificate client and a federated (workload identity) client, for
# @azure/identity's ClientCertificateCredential, WorkloadIdentityCredential
# and ClientAssertionCredential (docs/VAULT.md, "Certificate and federated
# clients").  The certificate PEM holds the certificate and its key, the
# form ClientCertificateCredential's certificatePath takes; a second one,
# never registered, is for the refusal test.  The issuer key signs the
# federated tokens, its public JWKS is what the server checks them with.
cert_id=$(node -p 'require("node:crypto").randomUUID()')
fed_id=$(node -p 'require("node:crypto").randomUUID()')
fed_issuer=https://oidc.atrest.test/$(node -p 'require("node:crypto").randomUUID()')
fed_subject=system:serviceaccount:sdk:atrest-sdk-test
mkdir -m 700 "$tmp/id" || exit 2
for c in cert other-cert; do
	if ! openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=atrest sdk $c" \
		-keyout "$tmp/id/$c.key" -out "$tmp/id/$c.crt" >/dev/null 2>&1; then
		echo "sdk: FAILED: openssl could not make the test certificate $c" >&2
		exit 1
	fi
	cat "$tmp/id/$c.crt" "$tmp/id/$c.key" >"$tmp/id/$c.pem"
done
if ! "$atrest" vault federated-token --issuer-key "$tmp/id/issuer.pem" \
	--issuer "$fed_issuer" --subject "$fed_subject" \
	--jwks "$tmp/id/jwks.json" --out "$tmp/id/federated-token"; then
	echo "sdk: FAILED: atrest vault federated-token did not make a token" >&2
	exit 1
fi

if ! facts=$(ATREST_BIN=$atrest bash scripts/vault-start.sh "$state" --listen 127.0.0.1:0 \
	--admin --managed-identity "$mi_id" \
	--client-cert "$cert_id:$tmp/id/cert.crt" \
	--federated "$fed_id:$fed_issuer:$tmp/id/jwks.json" \
	--federated-subject "$fed_subject" --verbose); then
	echo "sdk: FAILED: atrest vault serve did not start" >&2
	exit 1
fi
# vault-start.sh prints VAULT_*= assignments and export lines; only the
# former are taken, so no client secret ends up in the environment.
eval "$(printf '%s\n' "$facts" | grep '^VAULT_')"
export VAULT_URL VAULT_CA VAULT_TENANT VAULT_CLIENT_ID VAULT_CLIENT_SECRET_FILE \
	VAULT_ADMIN_TOKEN_FILE VAULT_MI_CLIENT_ID
export VAULT_CERT_CLIENT_ID=$cert_id VAULT_CERT_PEM=$tmp/id/cert.pem \
	VAULT_OTHER_CERT_PEM=$tmp/id/other-cert.pem VAULT_FED_CLIENT_ID=$fed_id \
	VAULT_FED_ISSUER=$fed_issuer VAULT_FED_SUBJECT=$fed_subject \
	VAULT_FED_ISSUER_KEY=$tmp/id/issuer.pem VAULT_FED_TOKEN_FILE=$tmp/id/federated-token
export ATREST_BIN=$atrest NODE_EXTRA_CA_CERTS=$VAULT_CA
unset AZURE_CLIENT_ID AZURE_CLIENT_SECRET AZURE_TENANT_ID AZURE_AUTHORITY_HOST \
	AZURE_POD_IDENTITY_AUTHORITY_HOST AZURE_FEDERATED_TOKEN_FILE IDENTITY_ENDPOINT \
	MSI_ENDPOINT ATREST_AZURE_TOKEN HTTPS_PROXY https_proxy HTTP_PROXY http_proxy
echo "sdk: vault $VAULT_URL (state $state)"

tap=$tmp/results.tap
timeout 300 node --test --test-timeout=60000 \
	--test-reporter=spec --test-reporter-destination=stdout \
	--test-reporter=tap --test-reporter-destination="$tap" \
	"$sdk/keyvault-sdk.test.mjs"
rc=$?
pass=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$tap" | tail -1)
fail=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$tap" | tail -1)
pass=${pass:-0} fail=${fail:-0}
if [ "$rc" -ne 0 ]; then
	[ "$fail" -eq 0 ] && fail=1
	echo "sdk: node exited with status $rc; the server's last access lines:"
	tail -n 25 "$state/serve.log" 2>/dev/null
fi
echo "sdk: $pass passed, $fail failed"
[ "$rc" -eq 0 ] && [ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
