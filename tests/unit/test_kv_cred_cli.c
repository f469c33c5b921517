/*
 * test_kv_cred_cli.c - the Azure CLI credential (keyvault/kv_cred_cli.h)
 * against fake `az` programs: shell scripts the test writes into its
 * temporary directory and puts first on PATH (or names in
 * ATREST_AZ_PATH).  They print what az prints and log their arguments,
 * working directory and standard input to a file.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "kv_cred_cli.h"
#include "testutil.h"
#include "util.h"

#define SCOPE "https://vault.azure.net/.default"
#define TOKEN "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJ2YXVsdCJ9.c2ln"

static char *dir;

static void
setup(void)
{
	char *path;
	const char *old = getenv("PATH");
	size_t n;

	dir = tu_tmpdir("azcli");
	cr_assert_not_null(dir);
	n = strlen(dir) + strlen(old != NULL ? old : "") + 2;
	path = malloc(n);
	cr_assert_not_null(path);
	(void)snprintf(path, n, "%s:%s", dir, old != NULL ? old : "");
	setenv("PATH", path, 1);
	free(path);
	unsetenv("ATREST_AZ_PATH");
	unsetenv("ATREST_AZ_TIMEOUT_MS");
}

static void
teardown(void)
{
	tu_rmtree(dir);
	free(dir);
}

TestSuite(kv_cred_cli, .init = setup, .fini = teardown, .timeout = 60);

/* Writes DIR/name, mode 0755: "#!/bin/sh", then body with every "@D@"
 * replaced by the test's directory. */
static void
script(const char *name, const char *body)
{
	char *p = tu_path(dir, name), *text;
	size_t cap = strlen(body) * 4 + strlen(dir) * 16 + 64, n = 0;
	const char *s;

	text = malloc(cap);
	cr_assert(p != NULL && text != NULL);
	n = (size_t)snprintf(text, cap, "#!/bin/sh\n");
	for (s = body; *s != '\0'; s++) {
		if (strncmp(s, "@D@", 3) == 0) {
			n += (size_t)snprintf(text + n, cap - n, "%s", dir);
			s += 2;
		} else if (n + 1 < cap)
			text[n++] = *s;
	}
	text[n] = '\0';
	cr_assert_eq(tu_write_file(p, text, n), 0);
	cr_assert_eq(chmod(p, 0755), 0);
	free(text);
	free(p);
}

static char *
slurp(const char *name)
{
	char *p = tu_path(dir, name);
	char *t = (char *)tu_read_file(p, NULL);

	free(p);
	return t;
}

static int
open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	cr_assert_not_null(d);
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

#define LOG_ARGS "printf '%s\\n' \"$@\" > @D@/argv.log\n" \
	"pwd > @D@/env.log\nreadlink /proc/$$/fd/0 >> @D@/env.log\n"

Test(kv_cred_cli, token_and_exact_arguments)
{
	struct kv_cli_token t = {0};
	char *log;
	int fds;

	script("az", LOG_ARGS
	    "echo '{\"accessToken\": \"" TOKEN "\", \"expiresOn\": "
	    "\"2030-01-01 00:00:00.000000\", \"expires_on\": 1900000000, "
	    "\"subscription\": \"s\", \"tenant\": \"t\", "
	    "\"tokenType\": \"Bearer\"}'\n");
	fds = open_fds();
	cr_assert_eq(kv_cli_get_token(SCOPE, "72f988bf-86f1-41af-91ab-2d7cd011db47",
	    &t), ATR_OK, "%s", atr_detail());
	cr_assert_str_eq(t.token, TOKEN);
	cr_assert_eq(t.expires_on, 1900000000);
	cr_assert_eq(open_fds(), fds, "a descriptor leaked");
	log = slurp("argv.log");
	cr_assert_str_eq(log, "account\nget-access-token\n--output\njson\n"
	    "--scope\n" SCOPE "\n--tenant\n72f988bf-86f1-41af-91ab-2d7cd011db47\n");
	free(log);
	/* Run in "/" with stdin on /dev/null. */
	log = slurp("env.log");
	cr_assert_str_eq(log, "/\n/dev/null\n");
	free(log);
	cr_assert_eq(strstr(atr_detail(), "eyJ"), NULL);
	kv_cli_token_free(&t);
	cr_assert_null(t.token);

	/* No tenant, no --tenant. */
	cr_assert_eq(kv_cli_get_token(SCOPE, NULL, &t), ATR_OK, "%s",
	    atr_detail());
	log = slurp("argv.log");
	cr_assert_str_eq(log, "account\nget-access-token\n--output\njson\n"
	    "--scope\n" SCOPE "\n");
	free(log);
	kv_cli_token_free(&t);
}

Test(kv_cred_cli, explicit_program_in_atrest_az_path)
{
	struct kv_cli_token t = {0};
	char *p = tu_path(dir, "my-az");

	script("my-az", "echo '{\"accessToken\": \"abc.def\", "
	    "\"expires_on\": 1900000001}'\n");
	setenv("ATREST_AZ_PATH", p, 1);
	cr_assert_eq(kv_cli_get_token(SCOPE, NULL, &t), ATR_OK, "%s",
	    atr_detail());
	cr_assert_str_eq(t.token, "abc.def");
	cr_assert_eq(t.expires_on, 1900000001);
	kv_cli_token_free(&t);
	free(p);
}

Test(kv_cred_cli, expires_on_is_local_time_when_alone)
{
	struct kv_cli_token t = {0};
	struct tm tm = {0};
	time_t utc;

	/* A zone without tzdata: 5 h 30 east of UTC. */
	setenv("TZ", "XST-05:30", 1);
	tzset();
	script("az", "echo '{\"accessToken\": \"a.b.c\", \"expiresOn\": "
	    "\"2030-01-02 03:04:05.123456\", \"tokenType\": \"Bearer\"}'\n");
	cr_assert_eq(kv_cli_get_token(SCOPE, NULL, &t), ATR_OK, "%s",
	    atr_detail());
	tm.tm_year = 130;
	tm.tm_mon = 0;
	tm.tm_mday = 2;
	tm.tm_hour = 3;
	tm.tm_min = 4;
	tm.tm_sec = 5;
	utc = timegm(&tm);
	cr_assert_eq(t.expires_on, (int64_t)utc - 19800,
	    "%lld", (long long)t.expires_on);
	kv_cli_token_free(&t);

	/* Neither: unknown (0), not a failure. */
	script("az", "echo '{\"accessToken\": \"a.b.c\"}'\n");
	cr_assert_eq(kv_cli_get_token(SCOPE, NULL, &t), ATR_OK);
	cr_assert_eq(t.expires_on, 0);
	kv_cli_token_free(&t);

	script("az", "echo '{\"accessToken\": \"a.b.c\", \"expiresOn\": "
	    "\"tomorrow\"}'\n");
	cr_assert_eq(kv_cli_get_token(SCOPE, NULL, &t), ATR_ERR_BAD_RESPONSE);
	cr_assert(strstr(atr_detail(), "expiresOn") != NULL, "%s", atr_detail());
	cr_assert_null(t.token);
}

Test(kv_cred_cli, not_logged_in_is_unavailable)
{
	struct kv_cli_token t = {0};

	script("az", "echo \"ERROR: Please run 'az login' to setup account.\" "
	    ">&2\nexit 1\n");
	cr_assert_eq(kv_cli_get_token(SCOPE, NULL, &t), ATR_ERR_NOT_FOUND);
	cr_assert_str_eq(atr_detail(),
	    "AzureCliCredential: not logged in; run 'az login'");
	script("az", "echo \"ERROR: No subscription found. Run 'az account "
	    "set' to select a subscription.\" >&2\nexit 1\n");
	cr_assert_eq(kv_cli_get_token(SCOPE, NULL, &t), ATR_ERR_NOT_FOUND);
	cr_assert_null(t.token);
}

Test(kv_cred_cli, not_installed_is_unavailable)
{
	struct kv_cli_token t = {0};
	char *p = tu_path(dir, "nothing-here");

	/* PATH without az (only the empty test directory and /bin for
	 * nothing). */
	setenv("PATH", dir, 1);
	cr_assert_eq(kv_cli_get_token(SCOPE, NULL, &t), ATR_ERR_NOT_FOUND);
	cr_assert(strstr(atr_detail(), "not found") != NULL, "%s", atr_detail());
	setenv("ATREST_AZ_PATH", p, 1);
	cr_assert_eq(kv_cli_get_token(SCOPE, NULL, &t), ATR_ERR_NOT_FOUND);
	cr_assert(strstr(atr_detail(), "ATREST_AZ_PATH") != NULL);
	unsetenv("ATREST_AZ_PATH");
	/* The az wrapper that finds no Python exits 127. */
	setenv("PATH", "/usr/bin:/bin", 1);
	free(p);
	p = tu_path(dir, "az");
	script("az", "exit 127\n");
	setenv("ATREST_AZ_PATH", p, 1);
	cr_assert_eq(kv_cli_get_token(SCOPE, NULL, &t), ATR_ERR_NOT_FOUND);
	cr_assert(strstr(atr_detail(), "not installed") != NULL);
	/* An az in the current directory is never run. */
	unsetenv("ATREST_AZ_PATH");
	setenv("PATH", ".", 1);
	cr_assert_eq(chdir(dir), 0);
	cr_assert_eq(kv_cli_get_token(SCOPE, NULL, &t), ATR_ERR_NOT_FOUND);
	cr_assert_null(t.token);
	free(p);
}

static int
gone_now(pid_t pid)
{
	char path[64], *st;
	int z;

	if (kill(pid, 0) != 0 && errno == ESRCH)
		return 1;
	/* Reparented and killed, waiting for a reaper: a zombie is gone. */
	(void)snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	st = (char *)tu_read_file(path, NULL);
	if (st == NULL)
		return 1;
	z = strstr(st, ") Z ") != NULL;
	free(st);
	return z;
}

/* SIGKILL is sent, not waited for (the grandchild is not ours to reap):
 * allow the kernel a moment. */
static int
gone(pid_t pid)
{
	int i;

	for (i = 0; i < 100; i++) {
		if (gone_now(pid))
			return 1;
		(void)nanosleep(&(struct timespec){0, 10000000L}, NULL);
	}
	return 0;
}

static pid_t
pid_in(const char *name)
{
	char *t = slurp(name);
	long v;

	cr_assert_not_null(t, "%s not written", name);
	v = strtol(t, NULL, 10);
	free(t);
	return (pid_t)v;
}

Test(kv_cred_cli, hanging_az_is_killed_at_the_timeout)
{
	struct kv_cli_token t = {0};
	uint64_t t0, ms;
	int fds;

	setenv("ATREST_AZ_TIMEOUT_MS", "400", 1);
	/* az and a child of its own that holds the pipes. */
	script("az", "echo $$ > @D@/az.pid\nsleep 30 &\necho $! > @D@/sleep.pid\n"
	    "wait\n");
	fds = open_fds();
	t0 = atr_now_ns();
	cr_assert_eq(kv_cli_get_token(SCOPE, NULL, &t), ATR_ERR_TIMEOUT);
	ms = (atr_now_ns() - t0) / 1000000U;
	cr_assert(ms >= 350 && ms < 2400, "took %llu ms", (unsigned long long)ms);
	cr_assert(strstr(atr_detail(), "ATREST_AZ_TIMEOUT_MS") != NULL);
	cr_assert(gone(pid_in("az.pid")), "az still runs");
	cr_assert(gone(pid_in("sleep.pid")), "az's child still runs");
	cr_assert_eq(open_fds(), fds, "a descriptor leaked");

	/* One that closes its output and then hangs. */
	script("az", "echo $$ > @D@/az.pid\nexec >&- 2>&-\nexec sleep 30\n");
	t0 = atr_now_ns();
	cr_assert_eq(kv_cli_get_token(SCOPE, NULL, &t), ATR_ERR_TIMEOUT);
	ms = (atr_now_ns() - t0) / 1000000U;
	cr_assert(ms >= 350 && ms < 2400, "took %llu ms", (unsigned long long)ms);
	cr_assert(gone(pid_in("az.pid")), "az still runs");
	cr_assert_eq(open_fds(), fds, "a descriptor leaked");
	cr_assert_null(t.token);

	setenv("ATREST_AZ_TIMEOUT_MS", "soon", 1);
	cr_assert_eq(kv_cli_get_token(SCOPE, NULL, &t), ATR_ERR_CONFIG);
	cr_assert(strstr(atr_detail(), "ATREST_AZ_TIMEOUT_MS") != NULL);
}

Test(kv_cred_cli, garbage_output_is_refused)
{
	struct kv_cli_token t = {0};

	script("az", "echo 'Welcome to Azure CLI'\n");
	cr_assert_eq(kv_cli_get_token(SCOPE, NULL, &t), ATR_ERR_BAD_RESPONSE);
	script("az", "echo '{\"token\": \"x\"}'\n");
	cr_assert_eq(kv_cli_get_token(SCOPE, NULL, &t), ATR_ERR_BAD_RESPONSE);
	cr_assert(strstr(atr_detail(), "accessToken") != NULL);
	script("az", "echo '{\"accessToken\": \"a b\"}'\n");
	cr_assert_eq(kv_cli_get_token(SCOPE, NULL, &t), ATR_ERR_BAD_RESPONSE);
	script("az", "echo '{\"accessToken\": \"a.b\", \"tokenType\": \"pop\"}'\n");
	cr_assert_eq(kv_cli_get_token(SCOPE, NULL, &t), ATR_ERR_BAD_RESPONSE);
	cr_assert(strstr(atr_detail(), "Bearer") != NULL);
	cr_assert_null(t.token);
}

Test(kv_cred_cli, huge_output_is_refused)
{
	struct kv_cli_token t = {0};
	uint64_t t0 = atr_now_ns();

	script("az", "yes aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa | head -c 50000000\n");
	cr_assert_eq(kv_cli_get_token(SCOPE, NULL, &t), ATR_ERR_BAD_RESPONSE);
	cr_assert(strstr(atr_detail(), "more than") != NULL, "%s", atr_detail());
	cr_assert((atr_now_ns() - t0) / 1000000U < 5000);
	/* A flood on stderr is drained and cut, not a hang. */
	script("az", "yes 'ERROR: bad' | head -c 5000000 >&2\nexit 3\n");
	cr_assert_eq(kv_cli_get_token(SCOPE, NULL, &t), ATR_ERR_UNAUTHORIZED);
	cr_assert_str_eq(atr_detail(), "AzureCliCredential: az exited 3: "
	    "ERROR: bad");
	cr_assert_null(t.token);
}

Test(kv_cred_cli, az_error_names_the_reason_never_a_token)
{
	struct kv_cli_token t = {0};

	script("az", "echo '{\"accessToken\": \"" TOKEN "\"}'\n"
	    "printf '\\n  ERROR: AADSTS70043: The refresh token has expired: "
	    TOKEN " \\033[0m\\nsecond line " TOKEN "\\n' >&2\nexit 1\n");
	cr_assert_eq(kv_cli_get_token(SCOPE, NULL, &t), ATR_ERR_UNAUTHORIZED);
	cr_assert_str_eq(atr_detail(), "AzureCliCredential: az exited 1: "
	    "ERROR: AADSTS70043: The refresh token has expired: [redacted] [0m");
	cr_assert_eq(strstr(atr_detail(), "eyJ"), NULL);
	cr_assert_null(t.token);
	/* The same with a signal. */
	script("az", "kill -9 $$\n");
	cr_assert_eq(kv_cli_get_token(SCOPE, NULL, &t), ATR_ERR_UNAUTHORIZED);
	cr_assert(strstr(atr_detail(), "signal 9") != NULL, "%s", atr_detail());
}

Test(kv_cred_cli, old_cli_is_asked_with_resource)
{
	struct kv_cli_token t = {0};
	char *log;

	script("az", "case \"$*\" in *--scope*)\n"
	    "echo 'az: error: unrecognized arguments: --scope " SCOPE "' >&2\n"
	    "exit 2;;\nesac\n" LOG_ARGS
	    "echo '{\"accessToken\": \"a.b\", \"expiresOn\": "
	    "\"2030-01-01 00:00:00.000000\"}'\n");
	cr_assert_eq(kv_cli_get_token(SCOPE, "contoso.onmicrosoft.com", &t),
	    ATR_OK, "%s", atr_detail());
	log = slurp("argv.log");
	cr_assert_str_eq(log, "account\nget-access-token\n--output\njson\n"
	    "--resource\nhttps://vault.azure.net\n--tenant\n"
	    "contoso.onmicrosoft.com\n");
	free(log);
	kv_cli_token_free(&t);
}

Test(kv_cred_cli, arguments_that_could_be_options_are_refused)
{
	struct kv_cli_token t = {0};

	script("az", "touch @D@/ran\n");
	cr_assert_eq(kv_cli_get_token(SCOPE, "--debug", &t), ATR_ERR_CONFIG);
	cr_assert_eq(kv_cli_get_token("--query=x", NULL, &t), ATR_ERR_CONFIG);
	cr_assert_eq(kv_cli_get_token("https://v.net/.default x", NULL, &t),
	    ATR_ERR_CONFIG);
	cr_assert_eq(tu_file_contains("/nonexistent", ""), 0);
	cr_assert_null(slurp("ran"));
}
