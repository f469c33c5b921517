#!/usr/bin/env bash
# Runs the atrest binary under valgrind memcheck: end-to-end tests point
# ATREST_BIN here (make check-valgrind).  Any memory error or definite
# leak turns into exit status 97, which every e2e test treats as failure.
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${ATREST_REAL_BIN:-$here/build/atrest}
exec valgrind -q --error-exitcode=97 --leak-check=full \
	--errors-for-leak-kinds=definite --show-leak-kinds=definite \
	--track-fds=no --num-callers=30 "$bin" "$@"
