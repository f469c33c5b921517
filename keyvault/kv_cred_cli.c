/*
 * kv_cred_cli.c - the Azure CLI credential (kv_cred_cli.h).
 *
 * The CLI's output ("az account get-access-token --output json"):
 *   {"accessToken": "...", "expiresOn": "2024-05-01 13:14:15.000000",
 *    "expires_on": 1714569255, "subscription": "...", "tenant": "...",
 *    "tokenType": "Bearer"}
 * expires_on (POSIX seconds) exists since az 2.54 and is preferred;
 * expiresOn is the machine's LOCAL time without a zone, so it is read
 * with mktime and tm_isdst = -1, as Azure Identity does.
 *   https://learn.microsoft.com/en-us/cli/azure/account#az-account-get-access-token
 *
 * Unavailable (ATR_ERR_NOT_FOUND, so that a credential chain moves on),
 * as AzureCliCredential decides it: the program is not found, its exit
 * status is 127 (the "az" wrapper found no Python), or it failed asking
 * for "az login" / "az account set".  Anything else is a failure of a
 * configured credential, reported with the first line of az's stderr,
 * in which anything shaped like a token is masked; stdout (which holds
 * the token) is never echoed.
 *   https://learn.microsoft.com/en-us/dotnet/api/azure.identity.azureclicredential
 *
 * The child is started with posix_spawn: no shell, no fork of a
 * multi-threaded process, default signal dispositions and an empty
 * signal mask, a process group of its own (so that a timeout kills
 * whatever az started too), stdin on /dev/null and the working
 * directory "/" (az must not pick up a configuration from wherever
 * atrest was started).  Every descriptor of ours is O_CLOEXEC, so a
 * child started by another thread at the same time inherits none.
 */
/* pipe2 (descriptors born O_CLOEXEC, no window for another thread's
 * spawn to inherit them) and posix_spawn_file_actions_addchdir_np are
 * GNU extensions (glibc 2.9 and 2.29). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "crypto.h"
#include "kv_cred_cli.h"
#include "util.h"

extern char **environ;

#define CRED "AzureCliCredential"
#define TIMEOUT_DEFAULT_MS 10000L
#define TIMEOUT_MAX_MS 600000L
/* az prints a few hundred bytes; anything near these bounds is not the
 * CLI's answer. */
#define OUT_MAX 65536U
#define ERR_MAX 65536U
#define TOKEN_MAX 16384U
#define REASON_MAX 200U
/* A run of token characters this long in stderr is masked: a JWT, a
 * refresh token or a secret, never a word of an error message. */
#define SECRETISH_MIN 24U

struct cli_run {
	char *out;   /* stdout, OUT_MAX + 1 bytes, wiped when freed */
	size_t outlen;
	char *err;   /* stderr, first ERR_MAX bytes */
	size_t errlen;
	int status;  /* waitpid status */
	int timed_out;
	int overflow;
};

static void
run_free(struct cli_run *r)
{
	if (r->out != NULL)
		atr_memzero(r->out, OUT_MAX + 1);
	free(r->out);
	free(r->err);
	r->out = NULL;
	r->err = NULL;
}

static enum atr_err
cli_timeout(long *ms)
{
	const char *s = getenv("ATREST_AZ_TIMEOUT_MS");
	char *end;
	long v;

	*ms = TIMEOUT_DEFAULT_MS;
	if (s == NULL || *s == '\0')
		return ATR_OK;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < 1 || v > TIMEOUT_MAX_MS)
		return atr_fail(ATR_ERR_CONFIG, CRED ": ATREST_AZ_TIMEOUT_MS "
		    "must be a number of milliseconds from 1 to %ld", TIMEOUT_MAX_MS);
	*ms = v;
	return ATR_OK;
}

static int
is_exec(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	    access(path, X_OK) == 0;
}

/* The program to run, as an absolute path (the child runs in "/"). */
static enum atr_err
cli_program(char *buf, size_t cap)
{
	const char *p = getenv("ATREST_AZ_PATH");
	const char *path, *s, *e;
	int n;

	if (p != NULL && *p != '\0') {
		if (strchr(p, '/') == NULL || !is_exec(p) ||
		    realpath(p, buf) == NULL || strlen(buf) >= cap)
			return atr_fail(ATR_ERR_NOT_FOUND, CRED ": ATREST_AZ_PATH "
			    "does not name an executable file");
		return ATR_OK;
	}
	path = getenv("PATH");
	if (path == NULL || *path == '\0')
		path = "/usr/local/bin:/usr/bin:/bin";
	for (s = path; ; s = e + 1) {
		e = strchr(s, ':');
		if (e == NULL)
			e = s + strlen(s);
		/* An empty or relative PATH entry means the current directory:
		 * never run an "az" found there. */
		if (e > s && *s == '/') {
			n = snprintf(buf, cap, "%.*s/az", (int)(e - s), s);
			if (n > 0 && (size_t)n < cap && is_exec(buf))
				return ATR_OK;
		}
		if (*e == '\0')
			break;
	}
	return atr_fail(ATR_ERR_NOT_FOUND, CRED ": Azure CLI not found "
	    "(no az on PATH)");
}

static enum atr_err
spawn_az(const char *prog, char *const argv[], int outfd[2], int errfd[2],
    pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, all;
	int rc;

	if (posix_spawn_file_actions_init(&fa) != 0)
		return atr_fail(ATR_ERR_NOMEM, CRED ": cannot start az");
	if (posix_spawnattr_init(&at) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return atr_fail(ATR_ERR_NOMEM, CRED ": cannot start az");
	}
	sigemptyset(&none);
	sigfillset(&all);
	rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (rc == 0)
		rc = posix_spawn_file_actions_adddup2(&fa, outfd[1], 1);
	if (rc == 0)
		rc = posix_spawn_file_actions_adddup2(&fa, errfd[1], 2);
	if (rc == 0)
		rc = posix_spawn_file_actions_addchdir_np(&fa, "/");
	if (rc == 0)
		rc = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP |
		    POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	if (rc == 0)
		rc = posix_spawnattr_setpgroup(&at, 0);
	if (rc == 0)
		rc = posix_spawnattr_setsigmask(&at, &none);
	if (rc == 0)
		rc = posix_spawnattr_setsigdefault(&at, &all);
	if (rc == 0)
		rc = posix_spawn(pid, prog, &fa, &at, argv, environ);
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	if (rc == ENOENT || rc == EACCES || rc == ENOEXEC)
		return atr_fail(ATR_ERR_NOT_FOUND, CRED ": cannot run az: %s",
		    strerror(rc));
	if (rc != 0)
		return atr_fail(ATR_ERR_IO, CRED ": cannot start az: %s",
		    strerror(rc));
	return ATR_OK;
}

/* Reads whatever fd has; closes it at end of file.  Past cap the bytes
 * are dropped and *over set. */
static void
drain(int *fd, char *buf, size_t *len, size_t cap, int *over)
{
	char scratch[4096];
	ssize_t n;

	if (*len < cap)
		n = read(*fd, buf + *len, cap - *len);
	else
		n = read(*fd, scratch, sizeof(scratch));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		close(*fd);
		*fd = -1;
		return;
	}
	if (*len < cap)
		*len += (size_t)n;
	else
		*over = 1;
	atr_memzero(scratch, sizeof(scratch));
}

/* Collects stdout and stderr until both close or the deadline passes
 * (then, or when stdout overflows, the process group is killed), and
 * reaps the child.  Always closes both read ends. */
static void
pump(pid_t pid, int ofd, int efd, uint64_t deadline, struct cli_run *r)
{
	struct pollfd pf[2];
	uint64_t now;
	int over_err = 0, killed = 0, rc;
	long left;

	while (ofd >= 0 || efd >= 0) {
		now = atr_now_ns();
		if (now >= deadline) {
			r->timed_out = 1;
			break;
		}
		left = (long)((deadline - now) / 1000000U) + 1;
		pf[0].fd = ofd;
		pf[0].events = POLLIN;
		pf[1].fd = efd;
		pf[1].events = POLLIN;
		pf[0].revents = pf[1].revents = 0;
		rc = poll(pf, 2, left > INT_MAX ? INT_MAX : (int)left);
		if (rc < 0 && errno != EINTR)
			break;
		if (rc <= 0)
			continue;
		if (ofd >= 0 && pf[0].revents != 0)
			drain(&ofd, r->out, &r->outlen, OUT_MAX, &r->overflow);
		if (efd >= 0 && pf[1].revents != 0)
			drain(&efd, r->err, &r->errlen, ERR_MAX, &over_err);
		if (r->overflow)
			break;
	}
	if (ofd >= 0 || efd >= 0) {
		(void)kill(-pid, SIGKILL);
		killed = 1;
	}
	/* Both pipes closed, yet the child may still run (it closed them
	 * itself): wait for it until the deadline, then kill it. */
	while (!killed) {
		rc = (int)waitpid(pid, &r->status, WNOHANG);
		if (rc == pid)
			goto closed;
		if (rc < 0 && errno != EINTR)
			goto closed;
		if (atr_now_ns() >= deadline) {
			r->timed_out = 1;
			(void)kill(-pid, SIGKILL);
			break;
		}
		(void)nanosleep(&(struct timespec){0, 2000000L}, NULL);
	}
	while (waitpid(pid, &r->status, 0) < 0 && errno == EINTR)
		;
closed:
	if (ofd >= 0)
		close(ofd);
	if (efd >= 0)
		close(efd);
	r->out[r->outlen] = '\0';
	r->err[r->errlen] = '\0';
}

static enum atr_err
run_az(const char *prog, char *const argv[], long timeout_ms,
    struct cli_run *r)
{
	int outfd[2] = {-1, -1}, errfd[2] = {-1, -1};
	enum atr_err err;
	uint64_t deadline;
	pid_t pid;

	memset(r, 0, sizeof(*r));
	r->out = malloc(OUT_MAX + 1);
	r->err = malloc(ERR_MAX + 1);
	if (r->out == NULL || r->err == NULL) {
		err = atr_fail(ATR_ERR_NOMEM, CRED ": out of memory");
		goto out;
	}
	if (pipe2(outfd, O_CLOEXEC) != 0 || pipe2(errfd, O_CLOEXEC) != 0) {
		err = atr_fail(ATR_ERR_IO, CRED ": pipe: %s", strerror(errno));
		goto out;
	}
	deadline = atr_now_ns() + (uint64_t)timeout_ms * 1000000U;
	err = spawn_az(prog, argv, outfd, errfd, &pid);
	if (err != ATR_OK)
		goto out;
	close(outfd[1]);
	close(errfd[1]);
	outfd[1] = errfd[1] = -1;
	pump(pid, outfd[0], errfd[0], deadline, r);
	outfd[0] = errfd[0] = -1;
out:
	if (outfd[0] >= 0)
		close(outfd[0]);
	if (outfd[1] >= 0)
		close(outfd[1]);
	if (errfd[0] >= 0)
		close(errfd[0]);
	if (errfd[1] >= 0)
		close(errfd[1]);
	return err;
}

static int
tokenish(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
	    c == '~' || c == '+' || c == '/' || c == '=';
}

/* The first non-empty line of az's stderr, trimmed and cut, with
 * control characters dropped and every run of token characters of
 * SECRETISH_MIN or more replaced by "[redacted]". */
static void
cli_reason(const char *err, char *buf, size_t cap)
{
	const unsigned char *s = (const unsigned char *)err;
	size_t n = 0, run, k;

	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	while (*s != '\0' && *s != '\n' && *s != '\r' && n + 1 < cap) {
		for (run = 0; tokenish(s[run]); run++)
			;
		if (run >= SECRETISH_MIN) {
			k = (size_t)snprintf(buf + n, cap - n, "[redacted]");
			n = k < cap - n ? n + k : cap - 1;
			s += run;
			continue;
		}
		if (run > 0) {
			for (k = 0; k < run && n + 1 < cap; k++)
				buf[n++] = (char)s[k];
			s += run;
			continue;
		}
		if (*s >= 0x20 && *s != 0x7f)
			buf[n++] = (char)*s;
		s++;
	}
	while (n > 0 && (buf[n - 1] == ' ' || buf[n - 1] == '\t'))
		n--;
	buf[n] = '\0';
	if (n == 0)
		(void)snprintf(buf, cap, "no message on stderr");
}

static int
digits(const char *s, int n, int *v)
{
	int i;

	*v = 0;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		*v = *v * 10 + (s[i] - '0');
	}
	return 1;
}

/* "YYYY-MM-DD HH:MM:SS[.ffffff]", the machine's local time. */
static int
local_time(const char *s, int64_t *out)
{
	struct tm tm;
	int y, mo, d, h, mi, se;
	const char *f;
	time_t t;

	if (strlen(s) < 19 || !digits(s, 4, &y) || s[4] != '-' ||
	    !digits(s + 5, 2, &mo) || s[7] != '-' || !digits(s + 8, 2, &d) ||
	    (s[10] != ' ' && s[10] != 'T') || !digits(s + 11, 2, &h) ||
	    s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' ||
	    !digits(s + 17, 2, &se))
		return 0;
	f = s + 19;
	if (*f == '.')
		for (f++; *f >= '0' && *f <= '9'; f++)
			;
	if (*f != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
	    mi > 59 || se > 60)
		return 0;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	tm.tm_isdst = -1;
	t = mktime(&tm);
	if (t == (time_t)-1)
		return 0;
	*out = (int64_t)t;
	return 1;
}

static int
token_ok(const char *t)
{
	size_t n = strlen(t), i;

	if (n == 0 || n > TOKEN_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)t[i] <= 0x20 || (unsigned char)t[i] >= 0x7f)
			return 0;
	return 1;
}

static enum atr_err
cli_parse(const char *json, struct kv_cli_token *out)
{
	cJSON *root = cJSON_Parse(json), *tok = NULL, *type, *on, *at;
	enum atr_err err = ATR_OK;
	int64_t exp = 0;

	if (root == NULL || !cJSON_IsObject(root)) {
		err = atr_fail(ATR_ERR_BAD_RESPONSE, CRED ": az printed no "
		    "JSON object");
		goto out;
	}
	tok = cJSON_GetObjectItemCaseSensitive(root, "accessToken");
	type = cJSON_GetObjectItemCaseSensitive(root, "tokenType");
	on = cJSON_GetObjectItemCaseSensitive(root, "expires_on");
	at = cJSON_GetObjectItemCaseSensitive(root, "expiresOn");
	if (!cJSON_IsString(tok) || !token_ok(tok->valuestring)) {
		err = atr_fail(ATR_ERR_BAD_RESPONSE, CRED ": az's answer has "
		    "no usable accessToken");
		goto out;
	}
	if (type != NULL && (!cJSON_IsString(type) ||
	    strcasecmp(type->valuestring, "Bearer") != 0)) {
		err = atr_fail(ATR_ERR_BAD_RESPONSE, CRED ": az's tokenType "
		    "is not Bearer");
		goto out;
	}
	if (cJSON_IsNumber(on) && on->valuedouble > 0 &&
	    on->valuedouble < 253402300800.0)
		exp = (int64_t)on->valuedouble;
	else if (cJSON_IsString(at) && !local_time(at->valuestring, &exp)) {
		err = atr_fail(ATR_ERR_BAD_RESPONSE, CRED ": az's expiresOn "
		    "is not a \"YYYY-MM-DD HH:MM:SS\" time");
		goto out;
	}
	out->token = strdup(tok->valuestring);
	if (out->token == NULL) {
		err = atr_fail(ATR_ERR_NOMEM, CRED ": out of memory");
		goto out;
	}
	out->expires_on = exp;
out:
	if (cJSON_IsString(tok))
		atr_memzero(tok->valuestring, strlen(tok->valuestring));
	cJSON_Delete(root);
	return err;
}

static int
valid_arg(const char *s, const char *extra)
{
	const char *p;

	if (*s == '\0' || *s == '-' || strlen(s) > 512)
		return 0;
	for (p = s; *p != '\0'; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || strchr(extra, *p) != NULL))
			return 0;
	return 1;
}

/* Why a run that exited non-zero failed; ATR_ERR_NOT_FOUND when the
 * credential is merely unavailable. */
static enum atr_err
cli_failed(const struct cli_run *r)
{
	char why[REASON_MAX + 1];

	if (r->timed_out)
		return atr_fail(ATR_ERR_TIMEOUT, CRED ": az did not answer "
		    "within ATREST_AZ_TIMEOUT_MS; it was stopped");
	if (r->overflow)
		return atr_fail(ATR_ERR_BAD_RESPONSE, CRED ": az printed more "
		    "than %u bytes", OUT_MAX);
	if (WIFSIGNALED(r->status))
		return atr_fail(ATR_ERR_UNAUTHORIZED, CRED ": az was killed "
		    "by signal %d", WTERMSIG(r->status));
	if (WIFEXITED(r->status) && WEXITSTATUS(r->status) == 127)
		return atr_fail(ATR_ERR_NOT_FOUND, CRED ": Azure CLI not "
		    "installed (az exited 127)");
	if (strstr(r->err, "az login") != NULL ||
	    strstr(r->err, "az account set") != NULL)
		return atr_fail(ATR_ERR_NOT_FOUND, CRED ": not logged in; "
		    "run 'az login'");
	cli_reason(r->err, why, sizeof(why));
	return atr_fail(ATR_ERR_UNAUTHORIZED, CRED ": az exited %d: %s",
	    WIFEXITED(r->status) ? WEXITSTATUS(r->status) : -1, why);
}

/* az before 2.23 has no --scope: argparse says so on stderr. */
static int
lacks_scope(const struct cli_run *r)
{
	return !r->timed_out && WIFEXITED(r->status) &&
	    WEXITSTATUS(r->status) != 0 &&
	    strstr(r->err, "unrecognized arguments") != NULL &&
	    strstr(r->err, "--scope") != NULL;
}

enum atr_err
kv_cli_get_token(const char *scope, const char *tenant,
    struct kv_cli_token *out)
{
	char prog[PATH_MAX], resource[600];
	const char *argv[11];
	struct cli_run r = {0};
	enum atr_err err;
	long ms;
	size_t n, sl;
	int attempt;

	atr_detail_clear();
	if (out == NULL || scope == NULL)
		return atr_fail(ATR_ERR_USAGE, CRED ": no scope");
	out->token = NULL;
	out->expires_on = 0;
	/* The values become arguments of az: refuse what could be read as
	 * an option or is no scope or tenant (Azure Identity validates both
	 * the same way before running the CLI). */
	if (!valid_arg(scope, "._-:/"))
		return atr_fail(ATR_ERR_CONFIG, CRED ": invalid scope");
	if (tenant != NULL && *tenant != '\0' && !valid_arg(tenant, ".-"))
		return atr_fail(ATR_ERR_CONFIG, CRED ": invalid tenant id");
	err = cli_timeout(&ms);
	if (err == ATR_OK)
		err = cli_program(prog, sizeof(prog));
	if (err != ATR_OK)
		return err;
	/* --resource takes the scope without "/.default". */
	sl = strlen(scope);
	n = sl > 9 && strcmp(scope + sl - 9, "/.default") == 0 ? sl - 9 : sl;
	(void)snprintf(resource, sizeof(resource), "%.*s", (int)n, scope);
	for (attempt = 0; attempt < 2; attempt++) {
		n = 0;
		argv[n++] = "az";
		argv[n++] = "account";
		argv[n++] = "get-access-token";
		argv[n++] = "--output";
		argv[n++] = "json";
		argv[n++] = attempt == 0 ? "--scope" : "--resource";
		argv[n++] = attempt == 0 ? scope : resource;
		if (tenant != NULL && *tenant != '\0') {
			argv[n++] = "--tenant";
			argv[n++] = tenant;
		}
		argv[n] = NULL;
		err = run_az(prog, (char *const *)(uintptr_t)argv, ms, &r);
		if (err != ATR_OK)
			goto out;
		if (r.timed_out || r.overflow || !WIFEXITED(r.status) ||
		    WEXITSTATUS(r.status) != 0) {
			if (attempt == 0 && lacks_scope(&r)) {
				run_free(&r);
				continue;
			}
			err = cli_failed(&r);
			goto out;
		}
		err = cli_parse(r.out, out);
		goto out;
	}
out:
	run_free(&r);
	return err;
}

void
kv_cli_token_free(struct kv_cli_token *t)
{
	if (t == NULL)
		return;
	if (t->token != NULL) {
		atr_memzero(t->token, strlen(t->token));
		free(t->token);
	}
	t->token = NULL;
	t->expires_on = 0;
}
