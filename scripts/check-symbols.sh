#!/usr/bin/env bash
# check-symbols.sh BIN TESTLIB_OBJECT... - nothing test-only in BIN.
#
# Fails when BIN defines a symbol that one of the test-only objects
# (tests/testlib/*.o) defines, any symbol with the test-only prefix tl_,
# or a libcurl/libmicrohttpd symbol (those libraries are reached only
# through keyvault/curl_dl.h and vault/mhd_dl.h, never redefined).
# `make check-symbols` also links a binary with a test object planted in
# it and checks that this script catches it.
set -uo pipefail
bin=$1
shift
[ -x "$bin" ] || { echo "check-symbols: $bin: not built" >&2; exit 2; }

defined() { nm --defined-only "$@" 2>/dev/null | awk 'NF == 3 && $2 ~ /[TtDdBbRr]/ { print $3 }'; }

bad=0
test_syms=$(nm --defined-only --extern-only "$@" 2>/dev/null |
    awk 'NF == 3 && $2 ~ /[TDBR]/ { print $3 }' | sort -u)
in_bin=$(defined "$bin" | sort -u)
found=$(comm -12 <(printf '%s\n' "$test_syms") <(printf '%s\n' "$in_bin"))
if [ -n "$found" ]; then
	echo "check-symbols: $bin holds test-only code from tests/testlib:"
	printf '  %s\n' $found
	bad=1
fi
found=$(printf '%s\n' "$in_bin" | grep -E '^(tl_|curl_|Curl_|MHD_)' || true)
if [ -n "$found" ]; then
	echo "check-symbols: $bin defines test-only or library symbols:"
	printf '  %s\n' $found
	bad=1
fi
[ $bad -eq 0 ] && echo "check-symbols: $bin: no test-only symbol (of $(printf '%s\n' "$test_syms" | wc -l) in tests/testlib), no libcurl/libmicrohttpd symbol"
exit $bad
