/* see vectors.h */
#include "vectors.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* ---- Wycheproof ---- */

const char *
wp_str(const cJSON *obj, const char *name)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);

	return cJSON_IsString(it) ? it->valuestring : NULL;
}

int
wp_int(const cJSON *obj, const char *name, long *out)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);

	/* cJSON keeps numbers as double: accept integral values only, in
	 * a range where the conversion to long is defined. */
	if (!cJSON_IsNumber(it) || it->valuedouble < -1e15 ||
	    it->valuedouble > 1e15 ||
	    it->valuedouble != (double)(long)it->valuedouble)
		return -1;
	*out = (long)it->valuedouble;
	return 0;
}

uint8_t *
wp_hex(const cJSON *obj, const char *name, size_t *len)
{
	const char *s = wp_str(obj, name);

	return s != NULL ? tu_unhex(s, len) : NULL;
}

int
wp_has_flag(const struct wp_test *t, const char *flag)
{
	const cJSON *flags = cJSON_GetObjectItemCaseSensitive(t->test, "flags");
	const cJSON *f;

	cJSON_ArrayForEach(f, flags) {
		if (cJSON_IsString(f) && strcmp(f->valuestring, flag) == 0)
			return 1;
	}
	return 0;
}

const char *
wp_result_name(enum wp_result r)
{
	switch (r) {
	case WP_VALID:
		return "valid";
	case WP_INVALID:
		return "invalid";
	case WP_ACCEPTABLE:
		return "acceptable";
	}
	return "?";
}

int
wp_load(const char *path, struct wp_file *f, char *err, size_t errlen)
{
	uint8_t *text;
	size_t len;

	memset(f, 0, sizeof(*f));
	f->path = path;
	text = tu_read_file(path, &len);
	if (text == NULL) {
		seterr(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	f->root = cJSON_ParseWithLength((const char *)text, len);
	free(text);
	if (f->root == NULL) {
		seterr(err, errlen, "%s: not valid JSON", path);
		return -1;
	}
	f->algorithm = wp_str(f->root, "algorithm");
	if (f->algorithm == NULL ||
	    wp_int(f->root, "numberOfTests", &f->number_of_tests) != 0 ||
	    !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(f->root,
	    "testGroups"))) {
		seterr(err, errlen, "%s: no algorithm, numberOfTests or "
		    "testGroups: not a Wycheproof v1 file", path);
		wp_free(f);
		return -1;
	}
	return 0;
}

void
wp_free(struct wp_file *f)
{
	cJSON_Delete(f->root);
	f->root = NULL;
}

static void
join_flags(const cJSON *flags, char *out, size_t cap)
{
	const cJSON *fl;
	size_t used = 0;

	out[0] = '\0';
	cJSON_ArrayForEach(fl, flags) {
		int n;

		if (!cJSON_IsString(fl))
			continue;
		n = snprintf(out + used, cap - used, "%s%s", used ? "," : "",
		    fl->valuestring);
		if (n < 0 || (size_t)n >= cap - used)
			return; /* cut: only used for messages */
		used += (size_t)n;
	}
}

long
wp_foreach(const struct wp_file *f, wp_test_fn fn, void *arg, char *err,
    size_t errlen)
{
	const cJSON *groups, *g, *tests, *t;
	struct wp_test wt;
	long n = 0, gi = 0;

	groups = cJSON_GetObjectItemCaseSensitive(f->root, "testGroups");
	cJSON_ArrayForEach(g, groups) {
		tests = cJSON_GetObjectItemCaseSensitive(g, "tests");
		if (!cJSON_IsArray(tests)) {
			seterr(err, errlen, "%s: testGroups[%ld] has no tests "
			    "array", f->path, gi);
			return -1;
		}
		cJSON_ArrayForEach(t, tests) {
			const char *res = wp_str(t, "result");

			memset(&wt, 0, sizeof(wt));
			wt.group = g;
			wt.test = t;
			if (wp_int(t, "tcId", &wt.tc_id) != 0 || res == NULL) {
				seterr(err, errlen, "%s: test %ld of group %ld "
				    "has no tcId or result", f->path, n, gi);
				return -1;
			}
			if (strcmp(res, "valid") == 0) {
				wt.result = WP_VALID;
			} else if (strcmp(res, "invalid") == 0) {
				wt.result = WP_INVALID;
			} else if (strcmp(res, "acceptable") == 0) {
				wt.result = WP_ACCEPTABLE;
			} else {
				seterr(err, errlen, "%s: tcId %ld: unknown "
				    "result \"%s\"", f->path, wt.tc_id, res);
				return -1;
			}
			wt.comment = wp_str(t, "comment");
			if (wt.comment == NULL)
				wt.comment = "";
			join_flags(cJSON_GetObjectItemCaseSensitive(t, "flags"),
			    wt.flags, sizeof(wt.flags));
			n++;
			if (fn != NULL && fn(&wt, arg) != 0) {
				seterr(err, errlen, "%s: stopped at tcId %ld",
				    f->path, wt.tc_id);
				return -1;
			}
		}
		gi++;
	}
	return n;
}

/* ---- NIST CAVP .rsp ---- */

static const char *
attr_get(const struct rsp_attr *a, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(a[i].name, name) == 0)
			return a[i].value;
	return NULL;
}

const char *
rsp_field(const struct rsp_case *c, const char *name)
{
	return attr_get(c->field, c->nfield, name);
}

const char *
rsp_sect(const struct rsp_case *c, const char *name)
{
	return attr_get(c->sect, c->nsect, name);
}

static int
parse_long(const char *s, long *out)
{
	char *end;
	long v;

	if (s == NULL || s[0] == '\0')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

int
rsp_sect_long(const struct rsp_case *c, const char *name, long *out)
{
	return parse_long(rsp_sect(c, name), out);
}

/* Strips spaces and tabs at both ends, in place. */
static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		*--e = '\0';
	return s;
}

/* Splits "Name = value" (or "Name") in place. */
static void
split_attr(char *s, struct rsp_attr *a)
{
	char *eq = strchr(s, '=');

	if (eq != NULL) {
		*eq = '\0';
		a->name = trim(s);
		a->value = trim(eq + 1);
	} else {
		a->name = trim(s);
		a->value = "";
	}
}

struct rsp_state {
	struct rsp_case c;
	int in_case;
	int last_was_header;  /* previous non-blank line was "[...]" */
	long ncases;
	rsp_case_fn fn;
	void *arg;
};

/* Hands a finished block to the callback; -1 when it asks to stop. */
static int
emit(struct rsp_state *st)
{
	int rc = 0;

	if (!st->in_case)
		return 0;
	st->in_case = 0;
	st->ncases++;
	if (st->fn != NULL)
		rc = st->fn(&st->c, st->arg);
	return rc != 0 ? -1 : 0;
}

long
rsp_foreach(const char *path, rsp_case_fn fn, void *arg, char *err,
    size_t errlen)
{
	struct rsp_state st;
	struct rsp_attr a;
	char *text, *line, *next;
	size_t len;
	unsigned lineno = 0;
	long rc = -1;

	memset(&st, 0, sizeof(st));
	st.fn = fn;
	st.arg = arg;
	st.c.path = path;
	text = (char *)tu_read_file(path, &len);
	if (text == NULL) {
		seterr(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (strlen(text) != len) {
		seterr(err, errlen, "%s: contains a NUL byte", path);
		goto out;
	}
	for (line = text; line != NULL; line = next) {
		char *s;

		lineno++;
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		else if (*line == '\0')
			break; /* the end, after a final newline */
		s = trim(line);
		if (s[0] != '\0' && s[strlen(s) - 1] == '\r')
			s[strlen(s) - 1] = '\0';
		s = trim(s);
		if (s[0] == '#')
			continue;
		if (s[0] == '\0') {
			if (emit(&st) != 0)
				goto stopped;
			continue;
		}
		if (s[0] == '[') {
			size_t sl = strlen(s);

			if (sl < 2 || s[sl - 1] != ']') {
				seterr(err, errlen, "%s:%u: unterminated "
				    "section header", path, lineno);
				goto out;
			}
			if (emit(&st) != 0)
				goto stopped;
			if (!st.last_was_header)
				st.c.nsect = 0;
			s[sl - 1] = '\0';
			split_attr(s + 1, &a);
			if (st.c.nsect == RSP_MAX_ATTRS ||
			    attr_get(st.c.sect, st.c.nsect, a.name) != NULL) {
				seterr(err, errlen, "%s:%u: too many or "
				    "repeated section attributes", path, lineno);
				goto out;
			}
			st.c.sect[st.c.nsect++] = a;
			st.last_was_header = 1;
			continue;
		}
		st.last_was_header = 0;
		if (strcmp(s, "FAIL") == 0) {
			if (!st.in_case || st.c.fail) {
				seterr(err, errlen, "%s:%u: FAIL outside a "
				    "Count block or repeated", path, lineno);
				goto out;
			}
			st.c.fail = 1;
			continue;
		}
		if (strchr(s, '=') == NULL) {
			seterr(err, errlen, "%s:%u: unrecognised line", path,
			    lineno);
			goto out;
		}
		split_attr(s, &a);
		if (strcmp(a.name, "Count") == 0) {
			if (emit(&st) != 0)
				goto stopped;
			if (parse_long(a.value, &st.c.count) != 0 ||
			    st.c.count < 0) {
				seterr(err, errlen, "%s:%u: bad Count \"%s\"",
				    path, lineno, a.value);
				goto out;
			}
			st.in_case = 1;
			st.c.line = lineno;
			st.c.nfield = 0;
			st.c.fail = 0;
			continue;
		}
		if (!st.in_case) {
			/* A per-section parameter written without brackets. */
			if (st.c.nsect == RSP_MAX_ATTRS ||
			    attr_get(st.c.sect, st.c.nsect, a.name) != NULL) {
				seterr(err, errlen, "%s:%u: \"%s\" outside a "
				    "Count block", path, lineno, a.name);
				goto out;
			}
			st.c.sect[st.c.nsect++] = a;
			continue;
		}
		if (st.c.nfield == RSP_MAX_ATTRS ||
		    attr_get(st.c.field, st.c.nfield, a.name) != NULL) {
			seterr(err, errlen, "%s:%u: too many or repeated "
			    "fields (\"%s\")", path, lineno, a.name);
			goto out;
		}
		st.c.field[st.c.nfield++] = a;
	}
	if (emit(&st) != 0)
		goto stopped;
	rc = st.ncases;
	goto out;
stopped:
	seterr(err, errlen, "%s: stopped at Count %ld (line %u)", path,
	    st.c.count, st.c.line);
out:
	free(text);
	return rc;
}
