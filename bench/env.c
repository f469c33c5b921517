/* see bench.h: the environment a result was measured in */
#include "bench.h"
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/opensslv.h>

#define CPUINFO_MAX (1024U * 1024U)

/* 1 when the space-separated list holds the word w. */
static int
has_word(const char *list, size_t len, const char *w)
{
	size_t wl = strlen(w), i = 0;

	while (i < len) {
		size_t j;

		while (i < len && (list[i] == ' ' || list[i] == '\t'))
			i++;
		j = i;
		while (j < len && list[j] != ' ' && list[j] != '\t' &&
		    list[j] != '\n')
			j++;
		if (j - i == wl && memcmp(list + i, w, wl) == 0)
			return 1;
		if (j < len && list[j] == '\n')
			break;
		i = j;
	}
	return 0;
}

/* The value of the first "key<TAB>: value" line, trimmed; len 0 if none. */
static const char *
field(const char *text, const char *key, size_t *len)
{
	size_t kl = strlen(key);
	const char *p = text;

	*len = 0;
	while (p != NULL && *p != '\0') {
		const char *eol = strchr(p, '\n');
		size_t ll = eol ? (size_t)(eol - p) : strlen(p);

		if (ll > kl && strncmp(p, key, kl) == 0 &&
		    (p[kl] == ' ' || p[kl] == '\t' || p[kl] == ':')) {
			const char *c = memchr(p, ':', ll);

			if (c != NULL) {
				c++;
				while (*c == ' ' || *c == '\t')
					c++;
				*len = ll - (size_t)(c - p);
				return c;
			}
		}
		p = eol ? eol + 1 : NULL;
	}
	return NULL;
}

static void
add_flag(struct atb_env *e, int on, const char *name)
{
	size_t n = strlen(e->cpu_flags);

	if (!on)
		return;
	snprintf(e->cpu_flags + n, sizeof(e->cpu_flags) - n, "%s%s",
	    n ? " " : "", name);
}

void
atb_env_parse_cpuinfo(const char *text, struct atb_env *e)
{
	const char *v;
	size_t len;

	v = field(text, "model name", &len);
	if (v != NULL)
		snprintf(e->cpu_model, sizeof(e->cpu_model), "%.*s", (int)len, v);
	/* x86 calls them "flags", arm64 "Features". */
	v = field(text, "flags", &len);
	if (v == NULL)
		v = field(text, "Features", &len);
	e->cpu_flags[0] = '\0';
	if (v == NULL)
		return;
	e->aes = has_word(v, len, "aes");
	e->pclmulqdq = has_word(v, len, "pclmulqdq") ||
	    has_word(v, len, "pmull");
	e->vaes = has_word(v, len, "vaes");
	e->vpclmulqdq = has_word(v, len, "vpclmulqdq");
	e->avx2 = has_word(v, len, "avx2");
	e->avx512f = has_word(v, len, "avx512f");
	e->avx512ifma = has_word(v, len, "avx512ifma");
	e->sha_ni = has_word(v, len, "sha_ni") || has_word(v, len, "sha2");
	add_flag(e, e->aes, "aes");
	add_flag(e, e->pclmulqdq, "pclmulqdq");
	add_flag(e, e->vaes, "vaes");
	add_flag(e, e->vpclmulqdq, "vpclmulqdq");
	add_flag(e, e->avx2, "avx2");
	add_flag(e, e->avx512f, "avx512f");
	add_flag(e, e->avx512ifma, "avx512ifma");
	add_flag(e, e->sha_ni, "sha_ni");
}

static void
read_line(const char *path, char *out, size_t cap)
{
	FILE *f = fopen(path, "r");

	out[0] = '\0';
	if (f == NULL)
		return;
	if (fgets(out, (int)cap, f) == NULL)
		out[0] = '\0';
	fclose(f);
	out[strcspn(out, "\n")] = '\0';
}

double
atb_loadavg(void)
{
	char line[128], *end = NULL;
	double v;

	read_line("/proc/loadavg", line, sizeof(line));
	v = strtod(line, &end);
	return end == line ? NAN : v;
}

enum atr_err
atb_env_collect(struct atb_env *e)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	struct utsname u;
	char line[256];
	const char *p, *q;
	time_t now = time(NULL);
	struct tm tm;
	long n;

	memset(e, 0, sizeof(*e));
	snprintf(e->cpu_model, sizeof(e->cpu_model), "unknown");
	/* /proc files report size 0, so read them like a stream. */
	{
		FILE *f = fopen("/proc/cpuinfo", "r");

		if (f != NULL) {
			buf = malloc(CPUINFO_MAX + 1);
			if (buf != NULL) {
				len = fread(buf, 1, CPUINFO_MAX, f);
				buf[len] = '\0';
			}
			fclose(f);
		}
	}
	if (buf != NULL) {
		atb_env_parse_cpuinfo((const char *)buf, e);
		free(buf);
	}
	e->cores = atr_cpu_count();
	n = sysconf(_SC_PHYS_PAGES);
	if (n > 0 && sysconf(_SC_PAGESIZE) > 0)
		e->mem_total_mb = (unsigned long)((double)n *
		    (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0));
	snprintf(e->openssl_version, sizeof(e->openssl_version), "%s",
	    OpenSSL_version(OPENSSL_VERSION));
	snprintf(e->openssl_build, sizeof(e->openssl_build), "%s; %s; %s",
	    OpenSSL_version(OPENSSL_BUILT_ON), OpenSSL_version(OPENSSL_PLATFORM),
	    OpenSSL_version(OPENSSL_CFLAGS));
	snprintf(e->openssl_cpuinfo, sizeof(e->openssl_cpuinfo), "%s",
	    OpenSSL_version(OPENSSL_CPU_INFO));
	snprintf(e->openssl_header, sizeof(e->openssl_header), "%s",
	    OPENSSL_VERSION_TEXT);
#ifdef __VERSION__
	snprintf(e->compiler, sizeof(e->compiler), "%s%s",
#if defined(__clang__)
	    "clang ",
#elif defined(__GNUC__)
	    "gcc ",
#else
	    "",
#endif
	    __VERSION__);
#else
	snprintf(e->compiler, sizeof(e->compiler), "unknown");
#endif
	if (uname(&u) == 0)
		snprintf(e->kernel, sizeof(e->kernel), "%s %s %s %s", u.sysname,
		    u.release, u.version, u.machine);
	/* "always [madvise] never": keep the bracketed choice. */
	read_line("/sys/kernel/mm/transparent_hugepage/enabled", line,
	    sizeof(line));
	p = strchr(line, '[');
	q = p ? strchr(p, ']') : NULL;
	if (p != NULL && q != NULL)
		snprintf(e->thp, sizeof(e->thp), "%.*s", (int)(q - p - 1), p + 1);
	e->load_start = atb_loadavg();
	e->load_end = NAN;
	if (gmtime_r(&now, &tm) != NULL)
		strftime(e->started, sizeof(e->started), "%Y-%m-%dT%H:%M:%SZ",
		    &tm);
	return ATR_OK;
}
