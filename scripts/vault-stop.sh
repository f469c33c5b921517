#!/usr/bin/env bash
# Stops a server started by vault-start.sh: SIGTERM to the pid in
# STATE_DIR/serve.pid, then waits (up to 10 s) until it has exited.
set -euo pipefail
if [ $# -ne 1 ]; then
	echo "usage: vault-stop.sh STATE_DIR" >&2
	exit 2
fi
pidfile=$1/serve.pid
[ -f "$pidfile" ] || exit 0
pid=$(cat "$pidfile")
case $pid in '' | *[!0-9]*) echo "vault-stop: bad pid file $pidfile" >&2; exit 2 ;; esac
kill -TERM "$pid" 2>/dev/null || exit 0
for _ in $(seq 1 200); do
	kill -0 "$pid" 2>/dev/null || exit 0
	sleep 0.05
done
echo "vault-stop: pid $pid still running after 10 s" >&2
exit 1
