/*
 * test_fuzz_harness.c - the libFuzzer targets (tests/fuzz/) are run as
 * root by make test: they must not write anywhere another user could
 * have prepared.  fuzz_decrypt needs its KEK in a file (it goes through
 * the file provider); it used to write it with fopen("w") to a fixed
 * name in /tmp, which follows a symbolic link planted there and
 * truncates whatever it points at.
 *
 * Runs build-fuzz/fuzz_decrypt when it has been built (make fuzz, or
 * make build-fuzz/fuzz_decrypt; clang and libFuzzer), else skips.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "testutil.h"

#define OLD_KEK_PATH "/tmp/atrest-fuzz-kek.hex"

static const char *
fuzzer(void)
{
	static char path[PATH_MAX];
	const char *root = getenv("ATREST_ROOT");

	snprintf(path, sizeof(path), "%s/build-fuzz/fuzz_decrypt",
	    root != NULL && *root != '\0' ? root : ".");
	return path;
}

Test(fuzz_harness, decrypt_target_follows_no_planted_link, .timeout = 120)
{
	static const char victim_text[] = "precious, not to be truncated\n";
	const char *bin = fuzzer();
	char *dir, *victim, *input, *log;
	uint8_t *after;
	size_t n;
	int rc, planted;

	if (access(bin, X_OK) != 0)
		cr_skip_test("%s is not built (make build-fuzz/fuzz_decrypt)",
		    bin);
	dir = tu_tmpdir("fuzzlink");
	cr_assert_not_null(dir);
	victim = tu_path(dir, "victim");
	input = tu_path(dir, "input");
	log = tu_path(dir, "log");
	cr_assert_eq(tu_write_file(victim, victim_text,
	    sizeof(victim_text) - 1), 0);
	cr_assert_eq(tu_write_file(input, "x", 1), 0);
	/* Where the old harness wrote; skipped if something else is
	 * already there (not ours to remove). */
	planted = symlink(victim, OLD_KEK_PATH) == 0;
	if (!planted)
		cr_skip_test("%s exists already", OLD_KEK_PATH);
	{
		const char *argv[] = {bin, "-runs=1", input, NULL};
		struct tu_run_opts o = {.stdout_path = log,
		    .stderr_path = log, .timeout_ms = 60000};

		rc = tu_run(argv, &o);
	}
	unlink(OLD_KEK_PATH);
	after = tu_read_file(victim, &n);
	cr_assert_not_null(after);
	cr_assert_eq(n, sizeof(victim_text) - 1,
	    "the planted link's target was rewritten (%zu bytes)", n);
	cr_assert_str_eq((char *)after, victim_text);
	cr_assert_eq(rc, 0, "the fuzzer failed (exit %d, see %s)", rc, log);
	free(after);
	free(log);
	free(input);
	free(victim);
	tu_rmtree(dir);
	free(dir);
}
