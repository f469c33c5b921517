/* see testutil.h */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

uint8_t *
tu_unhex_n(const char *hex, size_t hex_len, size_t *len)
{
	uint8_t *buf;
	size_t i;

	if (hex == NULL || hex_len % 2 != 0)
		return NULL;
	/* One spare byte so that "" still gives a non-NULL pointer. */
	buf = malloc(hex_len / 2 + 1);
	if (buf == NULL)
		return NULL;
	for (i = 0; i < hex_len / 2; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);

		if (hi < 0 || lo < 0) {
			free(buf);
			return NULL;
		}
		buf[i] = (uint8_t)(hi << 4 | lo);
	}
	*len = hex_len / 2;
	return buf;
}

uint8_t *
tu_unhex(const char *hex, size_t *len)
{
	if (hex == NULL)
		return NULL;
	return tu_unhex_n(hex, strlen(hex), len);
}

char *
tu_hex(const uint8_t *buf, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	char *s = malloc(2 * n + 1);
	size_t i;

	if (s == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		s[2 * i] = digits[buf[i] >> 4];
		s[2 * i + 1] = digits[buf[i] & 15];
	}
	s[2 * n] = '\0';
	return s;
}

int
tu_all_zero(const void *buf, size_t n)
{
	const uint8_t *p = buf;
	uint8_t acc = 0;
	size_t i;

	for (i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

uint8_t *
tu_read_file(const char *path, size_t *len)
{
	uint8_t *buf = NULL, *nb;
	size_t cap = 0, used = 0;
	ssize_t r;
	int fd, saved;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	for (;;) {
		if (cap - used < 2) {
			/* Grow geometrically; sizes from fstat are not trusted
			 * (pipes, /proc files report 0). */
			size_t ncap = cap == 0 ? 65536 : cap * 2;

			nb = realloc(buf, ncap);
			if (nb == NULL) {
				saved = ENOMEM;
				goto fail;
			}
			buf = nb;
			cap = ncap;
		}
		r = read(fd, buf + used, cap - used - 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			saved = errno;
			goto fail;
		}
		if (r == 0)
			break;
		used += (size_t)r;
	}
	close(fd);
	buf[used] = '\0';
	if (len != NULL)
		*len = used;
	return buf;
fail:
	free(buf);
	close(fd);
	errno = saved;
	return NULL;
}

int
tu_write_file(const char *path, const void *data, size_t len)
{
	const uint8_t *p = data;
	ssize_t w;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	while (len > 0) {
		w = write(fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			close(fd);
			return -1;
		}
		p += w;
		len -= (size_t)w;
	}
	return close(fd) == 0 ? 0 : -1;
}

int
tu_file_contains(const char *path, const char *needle)
{
	size_t len, nlen = strlen(needle), i;
	uint8_t *buf = tu_read_file(path, &len);
	int found = 0;

	if (buf == NULL)
		return 0;
	if (nlen == 0)
		found = 1;
	for (i = 0; !found && nlen <= len && i <= len - nlen; i++)
		found = memcmp(buf + i, needle, nlen) == 0;
	free(buf);
	return found;
}

char *
tu_path(const char *dir, const char *name)
{
	size_t dl = strlen(dir), nl = strlen(name);
	char *p = malloc(dl + nl + 2);

	if (p == NULL)
		return NULL;
	memcpy(p, dir, dl);
	p[dl] = '/';
	memcpy(p + dl + 1, name, nl + 1);
	return p;
}

const char *
vector_dir(void)
{
	const char *d = getenv("VECTOR_DIR");

	return d != NULL && d[0] != '\0' ? d : "../shared/vectors";
}

char *
tu_vector_path(const char *rel)
{
	return tu_path(vector_dir(), rel);
}

char *
tu_tmpdir(const char *tag)
{
	char tmpl[64];
	size_t i, o;
	const char *pre = "/tmp/atrest-";

	o = strlen(pre);
	memcpy(tmpl, pre, o);
	for (i = 0; tag != NULL && tag[i] != '\0' && i < 32; i++)
		tmpl[o++] = tag[i] == '/' ? '_' : tag[i];
	memcpy(tmpl + o, "-XXXXXX", sizeof("-XXXXXX"));
	if (mkdtemp(tmpl) == NULL)
		return NULL;
	return strdup(tmpl);
}

/* Removes the entries of the open directory dfd, depth first. */
static int
rm_entries(int dfd)
{
	DIR *d;
	struct dirent *e;
	struct stat st;
	int rc = 0, sub;

	/* A test may have made a directory read-only: removing its
	 * entries needs write permission on it. */
	(void)fchmod(dfd, 0700);
	d = fdopendir(dfd);
	if (d == NULL) {
		close(dfd);
		return -1;
	}
	while (rc == 0 && (e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
			rc = errno == ENOENT ? 0 : -1;
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			sub = openat(dirfd(d), e->d_name,
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0 || rm_entries(sub) != 0 ||
			    unlinkat(dirfd(d), e->d_name, AT_REMOVEDIR) != 0)
				rc = -1;
		} else if (unlinkat(dirfd(d), e->d_name, 0) != 0 &&
		    errno != ENOENT) {
			rc = -1;
		}
	}
	closedir(d);
	return rc;
}

static int
under_tmp(const char *path)
{
	const char *p;

	if (strncmp(path, "/tmp/", 5) != 0 || path[5] == '\0')
		return 0;
	/* No "." or ".." component anywhere: "/tmp/../etc" stays out. */
	for (p = path; (p = strchr(p, '/')) != NULL; p++) {
		if (p[1] == '.' && (p[2] == '/' || p[2] == '\0'))
			return 0;
		if (p[1] == '.' && p[2] == '.' && (p[3] == '/' || p[3] == '\0'))
			return 0;
	}
	return 1;
}

int
tu_rmtree(const char *path)
{
	struct stat st;
	int fd;

	if (path == NULL || !under_tmp(path)) {
		errno = EINVAL;
		return -1;
	}
	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISDIR(st.st_mode))
		return unlink(path);
	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || rm_entries(fd) != 0)
		return -1;
	return rmdir(path);
}

/* ---- tu_run ---- */

/* Length of the NAME part of "NAME=value" or "NAME". */
static size_t
env_name_len(const char *s)
{
	const char *eq = strchr(s, '=');

	return eq != NULL ? (size_t)(eq - s) : strlen(s);
}

/*
 * environ with opts->env applied, as a malloc'd array of borrowed
 * strings (the strings themselves are not copied).
 */
static char **
build_env(const char *const *extra)
{
	size_t n = 0, m = 0, k = 0, i, j;
	char **env;

	while (environ != NULL && environ[n] != NULL)
		n++;
	while (extra != NULL && extra[m] != NULL)
		m++;
	env = calloc(n + m + 1, sizeof(*env));
	if (env == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		size_t nl = env_name_len(environ[i]);
		int overridden = 0;

		for (j = 0; j < m && !overridden; j++)
			overridden = env_name_len(extra[j]) == nl &&
			    strncmp(extra[j], environ[i], nl) == 0;
		if (!overridden)
			env[k++] = environ[i];
	}
	for (j = 0; j < m; j++)
		if (strchr(extra[j], '=') != NULL)
			env[k++] = (char *)(uintptr_t)extra[j];
	env[k] = NULL;
	return env;
}

/* argv0 resolved against $PATH (malloc'd); a copy of argv0 if not found. */
static char *
resolve(const char *argv0)
{
	const char *path = getenv("PATH"), *p, *end;
	struct stat st;
	char *cand;

	if (strchr(argv0, '/') != NULL)
		return strdup(argv0);
	if (path == NULL || path[0] == '\0')
		path = "/usr/local/bin:/usr/bin:/bin";
	for (p = path;; p = end + 1) {
		size_t dl;

		end = strchr(p, ':');
		dl = end != NULL ? (size_t)(end - p) : strlen(p);
		cand = malloc(dl + strlen(argv0) + 3);
		if (cand == NULL)
			return NULL;
		if (dl == 0) {
			memcpy(cand, ".", 2);
		} else {
			memcpy(cand, p, dl);
			cand[dl] = '\0';
		}
		memcpy(cand + strlen(cand), "/", 2);
		memcpy(cand + strlen(cand), argv0, strlen(argv0) + 1);
		if (stat(cand, &st) == 0 && S_ISREG(st.st_mode) &&
		    access(cand, X_OK) == 0)
			return cand;
		free(cand);
		if (end == NULL)
			break;
	}
	return strdup(argv0);
}

static int
open_out(const char *path)
{
	return open(path != NULL ? path : "/dev/null",
	    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
}

int
tu_run(const char *const argv[], const struct tu_run_opts *opts)
{
	static const struct tu_run_opts none;
	struct timespec start, now, nap = { 0, 5 * 1000 * 1000 };
	char *prog = NULL, **env = NULL;
	int fin = -1, fout = -1, ferr = -1, status = 0, rc = TU_RUN_ERROR;
	long maxfd;
	pid_t pid, w;

	if (opts == NULL)
		opts = &none;
	if (argv == NULL || argv[0] == NULL)
		return TU_RUN_ERROR;
	prog = resolve(argv[0]);
	env = build_env(opts->env);
	if (prog == NULL || env == NULL)
		goto out;
	fin = open(opts->stdin_path != NULL ? opts->stdin_path : "/dev/null",
	    O_RDONLY | O_CLOEXEC);
	fout = open_out(opts->stdout_path);
	if (opts->stderr_path != NULL && opts->stdout_path != NULL &&
	    strcmp(opts->stderr_path, opts->stdout_path) == 0)
		ferr = fcntl(fout, F_DUPFD_CLOEXEC, 3);
	else
		ferr = open_out(opts->stderr_path);
	if (fin < 0 || fout < 0 || ferr < 0)
		goto out;
	maxfd = sysconf(_SC_OPEN_MAX);
	if (maxfd < 0 || maxfd > 65536)
		maxfd = 65536;
	clock_gettime(CLOCK_MONOTONIC, &start);
	pid = fork();
	if (pid < 0)
		goto out;
	if (pid == 0) {
		/* Child: only async-signal-safe calls from here on.  dup2
		 * clears FD_CLOEXEC on 0, 1 and 2; the rest is closed so the
		 * child holds no pipe of the test runner. */
		long fd;

		if (dup2(fin, 0) < 0 || dup2(fout, 1) < 0 || dup2(ferr, 2) < 0)
			_exit(127);
#ifdef SYS_close_range
		if (syscall(SYS_close_range, 3U, ~0U, 0U) != 0)
#endif
			for (fd = 3; fd < maxfd; fd++)
				(void)close((int)fd);
		if (opts->cwd != NULL && chdir(opts->cwd) != 0)
			_exit(127);
		signal(SIGPIPE, SIG_DFL);
		execve(prog, (char *const *)(uintptr_t)argv, env);
		_exit(127);
	}
	for (;;) {
		w = waitpid(pid, &status, opts->timeout_ms > 0 ? WNOHANG : 0);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR)
			goto out;
		if (w == 0) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			if ((now.tv_sec - start.tv_sec) * 1000 +
			    (now.tv_nsec - start.tv_nsec) / 1000000 >=
			    (long)opts->timeout_ms) {
				kill(pid, SIGKILL);
				while (waitpid(pid, &status, 0) < 0 &&
				    errno == EINTR)
					;
				rc = TU_RUN_TIMEOUT;
				goto out;
			}
			nanosleep(&nap, NULL);
		}
	}
	if (WIFEXITED(status))
		rc = WEXITSTATUS(status);
	else if (WIFSIGNALED(status))
		rc = 128 + WTERMSIG(status);
out:
	if (fin >= 0)
		close(fin);
	if (fout >= 0)
		close(fout);
	if (ferr >= 0)
		close(ferr);
	free(prog);
	free(env);
	return rc;
}
