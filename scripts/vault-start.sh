#!/usr/bin/env bash
# Starts "atrest vault serve" in the background and prints what it
# reported as shell assignments, for scripts:
#
#   eval "$(scripts/vault-start.sh STATE_DIR [serve options...])"
#   curl --cacert "$VAULT_CA" -H "Authorization: Bearer x" \
#        "$VAULT_URL/keys?api-version=7.4"
#   scripts/vault-stop.sh STATE_DIR
#
# Sets VAULT_URL, VAULT_PORT, VAULT_CA, VAULT_TENANT, VAULT_CLIENT_ID,
# VAULT_CLIENT_SECRET_FILE, VAULT_TOKEN_MODE, VAULT_TOKEN_URL,
# VAULT_CHALLENGE, VAULT_PID, with --managed-identity also
# VAULT_MI_CLIENT_ID and VAULT_IMDS_URL, with --admin also VAULT_ADMIN_URL
# and VAULT_ADMIN_TOKEN_FILE (send its content as x-atrest-admin), and
# exports the AZURE_* variables of --print-env (secrets are read from
# their files, never printed).  The server log goes to STATE_DIR/serve.log.
set -euo pipefail
if [ $# -lt 1 ]; then
	echo "usage: vault-start.sh STATE_DIR [atrest vault serve options]" >&2
	exit 2
fi
atrest=${ATREST_BIN:-build/atrest}
dir=$1
shift
# 0700 whatever the umask: the server refuses a state directory that
# group or others may write to (docs/VAULT.md, "State directory").
mkdir -p -m 700 "$dir"
out=$dir/serve.out
log=$dir/serve.log
: >"$out"
"$atrest" vault serve --state "$dir" --pidfile "$dir/serve.pid" --print-env \
	"$@" >"$out" 2>"$log" &
bg=$!
for _ in $(seq 1 200); do
	grep -qx 'ready=1' "$out" && break
	if ! kill -0 "$bg" 2>/dev/null; then
		echo "vault-start: the server exited: $(tail -n 1 "$log")" >&2
		exit 2
	fi
	sleep 0.05
done
if ! grep -qx 'ready=1' "$out"; then
	echo "vault-start: no ready line after 10 s (see $log)" >&2
	kill "$bg" 2>/dev/null || true
	exit 2
fi
while IFS='=' read -r k v; do
	case $k in
	export\ *) printf '%s=%s\n' "$k" "$v" ;;
	ready) ;;
	*) printf 'VAULT_%s=%q\n' "${k^^}" "$v" ;;
	esac
done <"$out"
