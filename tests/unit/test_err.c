/*
 * test_err.c - core/err.c: the per-thread failure detail.
 */
#include <string.h>

#include <criterion/criterion.h>

#include "err.h"

/*
 * "atr_fail(E, "%s: %s", path, atr_detail())" prefixes the reason a
 * callee left.  The detail is both an argument and the destination: it
 * must come out as the expected string, not a garbled or repeated one
 * (vsnprintf into its own input is undefined, C11 7.21.6.12).
 */
Test(err, detail_may_be_an_argument_of_its_own_setter)
{
	atr_detail_set("permission denied");
	cr_assert_eq(atr_fail(ATR_ERR_IO, "pin-source %s: %s", "/p",
	    atr_detail()), ATR_ERR_IO);
	cr_assert_str_eq(atr_detail(), "pin-source /p: permission denied");

	atr_detail_set("%s", "inner");
	atr_detail_set("outer (%s) [%s]", atr_detail(), atr_detail());
	cr_assert_str_eq(atr_detail(), "outer (inner) [inner]");

	/* Only a prefix of the old detail, and the detail after a '%'. */
	atr_detail_set("abcdef");
	atr_detail_set("%.3s|%s", atr_detail(), atr_detail() + 3);
	cr_assert_str_eq(atr_detail(), "abc|def");
}

Test(err, long_details_are_cut_and_terminated)
{
	char big[5000];

	/* 2048 bytes: the credential chain's one line per credential. */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	atr_detail_set("%s", big);
	cr_assert_eq(strlen(atr_detail()), 2047);
	atr_detail_set("%s%s", atr_detail(), atr_detail());
	cr_assert_eq(strlen(atr_detail()), 2047);
	atr_detail_clear();
	cr_assert_str_empty(atr_detail());
}

Test(err, names_and_exit_codes)
{
	cr_assert_str_eq(atr_errname(ATR_ERR_AUTH), "auth");
	cr_assert_str_eq(atr_strerror(ATR_ERR__COUNT), "unknown error");
	cr_assert_eq(atr_exit_code(ATR_OK), 0);
	cr_assert_eq(atr_exit_code(ATR_ERR_AUTH), 1);
	cr_assert_eq(atr_exit_code(ATR_ERR_BAD_RESPONSE), 2);
}
