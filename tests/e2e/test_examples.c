/*
 * test_examples.c - docs/examples (the Kubernetes Indexed Job, its merge
 * Job, the Slurm array and its merge) hold commands a user can run:
 *
 * - every `atrest` command line in them uses only subcommands and
 *   options that `atrest verify --help` / `atrest verify merge --help`
 *   list (a misspelt option planted in a copy is caught: the checker
 *   checks itself);
 * - nothing is left to fill in by hand except the ${VARS} the README's
 *   envsubst line names (no "example", "TODO", "changeme", "<...>");
 * - the Job carries the workload identity annotation, label and service
 *   account, and its shard count matches completions;
 * - run for real on a small store, with the paths of the volumes mapped
 *   to a temporary directory (the Job's script for every completion
 *   index, the Slurm script for every array task), the shards and the
 *   merge give the report of one run: K is derived from the index with
 *   the right base.
 *
 * Needs $ATREST_BIN and $ATREST_ROOT, as scripts/run-tests.sh sets them.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <cjson/cJSON.h>

#include "testutil.h"

#define MAXTOK 64

static const char *
bin(void)
{
	const char *b = getenv("ATREST_BIN");

	cr_assert(b != NULL && *b, "ATREST_BIN is not set");
	return b;
}

static char *
root_path(const char *rel)
{
	const char *r = getenv("ATREST_ROOT");
	char *p = tu_path(r != NULL && *r ? r : ".", rel);

	cr_assert_not_null(p);
	return p;
}

static char *
slurp(const char *path)
{
	uint8_t *b = tu_read_file(path, NULL);

	cr_assert_not_null(b, "cannot read %s", path);
	return (char *)b;
}

static char *
read_example(const char *name)
{
	char *rel = tu_path("docs/examples", name), *p, *s;

	cr_assert_not_null(rel);
	p = root_path(rel);
	s = slurp(p);
	free(rel);
	free(p);
	return s;
}

/* `atrest ARGS...` with stdout to out (stderr too); the exit status. */
static int
atrest_out(const char *const *args, const char *out)
{
	const char *argv[16];
	struct tu_run_opts o;
	size_t i;

	memset(&o, 0, sizeof(o));
	argv[0] = bin();
	for (i = 0; args[i] != NULL && i < 14; i++)
		argv[i + 1] = args[i];
	argv[i + 1] = NULL;
	o.stdout_path = out;
	o.stderr_path = out;
	o.timeout_ms = 60000;
	return tu_run(argv, &o);
}

/* ---- the options atrest has --------------------------------------- */

struct optset {
	char *v[96];
	size_t n;
};

static int
opt_has(const struct optset *s, const char *name)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->v[i], name) == 0)
			return 1;
	return 0;
}

/* The options of a help text: on lines that start (after blanks) with
 * '-', every "-X" and "--name" before the description. */
static void
opts_from_help(const char *help, struct optset *s)
{
	const char *l = help;

	while (l != NULL && *l != '\0') {
		const char *p = l, *eol = strchr(l, '\n');

		if (eol == NULL)
			eol = l + strlen(l);

		/* a usage line's "[--json FILE]" names an option too */
		for (; (p = strstr(p, "[-")) != NULL && p < eol && s->n < 96;
		    p++) {
			size_t n = 2;

			while (isalnum((unsigned char)p[n]) || p[n] == '-')
				n++;
			s->v[s->n] = strndup(p + 1, n - 1);
			cr_assert_not_null(s->v[s->n]);
			s->n++;
		}
		p = l;
		while (*p == ' ')
			p++;
		while (*p == '-' && s->n < 96) {
			size_t n = 1;

			while (isalnum((unsigned char)p[n]) || p[n] == '-')
				n++;
			s->v[s->n] = strndup(p, n);
			cr_assert_not_null(s->v[s->n]);
			s->n++;
			p += n;
			while (*p == ',' || *p == ' ')
				p++;
			/* skip an argument name: "--key URI" */
			if (isupper((unsigned char)*p))
				while (*p != '\0' && *p != ' ' && *p != '\n')
					p++;
			while (*p == ' ')
				p++;
		}
		l = *eol != '\0' ? eol + 1 : NULL;
	}
}

static void
load_optset(struct optset *s, int merge)
{
	const char *v[] = {"verify", "--help", NULL};
	const char *m[] = {"verify", "merge", "--help", NULL};
	char *dir = tu_tmpdir("examples-help"), *out, *h;

	cr_assert_not_null(dir);
	out = tu_path(dir, "help");
	memset(s, 0, sizeof(*s));
	cr_assert_eq(atrest_out(merge ? m : v, out), 0);
	h = slurp(out);
	opts_from_help(h, s);
	cr_assert(opt_has(s, "--json"), "no --json in the help: %s", h);
	free(h);
	tu_rmtree(dir);
	free(dir);
	free(out);
}

static void
optset_free(struct optset *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		free(s->v[i]);
}

/* ---- the command lines of a file ---------------------------------- */

struct problems {
	char msg[2048];
	size_t len;
	int n;
	char shard[128]; /* the --shard value of the last verify command */
	int verify, merge; /* how many of each */
};

static void
problem(struct problems *p, const char *what, const char *detail)
{
	if (p->len < sizeof(p->msg))
		p->len += (size_t)snprintf(p->msg + p->len,
		    sizeof(p->msg) - p->len, "%s: %s; ", what, detail);
	p->n++;
}

/* Splits cmd at blanks into tok (quotes removed), up to a shell
 * operator; returns the count.  cmd is modified. */
static int
tokens(char *cmd, char **tok)
{
	char *save = NULL, *t;
	int n = 0;

	for (t = strtok_r(cmd, " \t", &save); t != NULL && n < MAXTOK;
	    t = strtok_r(NULL, " \t", &save)) {
		char *r = t, *w = t;

		if (strcmp(t, "||") == 0 || strcmp(t, "|") == 0 ||
		    strcmp(t, "&&") == 0 || strcmp(t, ";") == 0)
			break;
		for (; *r != '\0'; r++)
			if (*r != '"' && *r != '\'')
				*w++ = *r;
		*w = '\0';
		tok[n++] = t;
	}
	return n;
}

static void
check_command(char *cmd, const struct optset *vo, const struct optset *mo,
    struct problems *p)
{
	char *tok[MAXTOK];
	const struct optset *s = vo;
	int n = tokens(cmd, tok), i;

	if (n < 2 || strcmp(tok[1], "verify") != 0) {
		problem(p, n > 1 ? tok[1] : "atrest", "not an atrest verify "
		    "subcommand");
		return;
	}
	if (n > 2 && strcmp(tok[2], "merge") == 0) {
		s = mo;
		p->merge++;
	} else {
		p->verify++;
	}
	for (i = 2; i < n; i++) {
		char name[64];

		if (tok[i][0] != '-' || tok[i][1] == '\0')
			continue;
		snprintf(name, sizeof(name), "%.*s",
		    (int)strcspn(tok[i], "="), tok[i]);
		if (!opt_has(s, name))
			problem(p, name, "not an option of atrest verify");
		if (strcmp(name, "--shard") == 0 && i + 1 < n)
			snprintf(p->shard, sizeof(p->shard), "%s", tok[i + 1]);
	}
}

/* Every `atrest` command of text (shell or YAML): comment lines are
 * skipped, lines ending in '\' joined. */
static void
check_text(const char *text, const struct optset *vo,
    const struct optset *mo, struct problems *p)
{
	char *copy = strdup(text), *line, *save = NULL, logical[4096];
	size_t ll = 0;

	cr_assert_not_null(copy);
	memset(p, 0, sizeof(*p));
	for (line = strtok_r(copy, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		const char *b = line + strspn(line, " \t");
		size_t n = strlen(b);
		char *a;

		if (*b == '#' && ll == 0)
			continue;
		cr_assert_lt(ll + n + 2, sizeof(logical));
		memcpy(logical + ll, b, n);
		ll += n;
		logical[ll] = '\0';
		if (n > 0 && logical[ll - 1] == '\\') {
			logical[ll - 1] = ' ';
			continue;
		}
		for (a = logical; (a = strstr(a, "atrest ")) != NULL; a++)
			if (a == logical || a[-1] == ' ') {
				check_command(a, vo, mo, p);
				break;
			}
		ll = 0;
	}
	free(copy);
}

/* Words left for a human to fill in; "docs/examples" is a path. */
static void
check_placeholders(const char *text, struct problems *p)
{
	static const char *const words[] = {"example", "todo", "fixme",
	    "changeme", "placeholder", "xxx", "...", "<your", NULL};
	char *low = strdup(text), *c;
	size_t i;

	cr_assert_not_null(low);
	for (c = low; *c != '\0'; c++)
		*c = (char)tolower((unsigned char)*c);
	for (i = 0; words[i] != NULL; i++)
		for (c = low; (c = strstr(c, words[i])) != NULL; c++)
			if (!(c - low >= 5 && strncmp(c - 5, "docs/", 5) == 0))
				problem(p, words[i], "placeholder");
	for (c = low; (c = strchr(c, '<')) != NULL; c++)
		if (isalpha((unsigned char)c[1]) &&
		    strcspn(c, "> \n") < strcspn(c, " \n"))
			problem(p, "<...>", "placeholder");
	free(low);
}

/* The number after "key: " in text (-1: none). */
static long
yaml_num(const char *text, const char *key)
{
	const char *p = strstr(text, key);

	return p != NULL ? strtol(p + strlen(key), NULL, 10) : -1;
}

static void
static_checks(const char *name, struct problems *p)
{
	struct optset vo, mo;
	char *t = read_example(name);

	load_optset(&vo, 0);
	load_optset(&mo, 1);
	check_text(t, &vo, &mo, p);
	check_placeholders(t, p);
	optset_free(&vo);
	optset_free(&mo);
	free(t);
}

Test(examples, commands_use_options_atrest_has)
{
	static const char *const files[] = {"k8s-verify-job.yaml",
	    "k8s-verify-merge-job.yaml", "slurm-verify.sh", "slurm-merge.sh",
	    NULL};
	struct problems p;
	size_t i;

	for (i = 0; files[i] != NULL; i++) {
		static_checks(files[i], &p);
		cr_assert_eq(p.n, 0, "%s: %s", files[i], p.msg);
		cr_assert_eq(p.verify + p.merge, 1, "%s: %d verify and %d merge "
		    "commands, expected one", files[i], p.verify, p.merge);
		cr_assert_eq(p.merge, strstr(files[i], "merge") != NULL,
		    "%s: the merge file merges, the others verify", files[i]);
	}
}

/* The checker itself: a misspelt option, an unknown subcommand and a
 * placeholder planted in a copy of the Job are each caught. */
Test(examples, planted_mistakes_are_caught)
{
	static const char *const plants[][2] = {
	    {"--fingerprint-key", "--fingerprint-keys"},
	    {"--shard \"$k/8\"", "--shards \"$k/8\""},
	    {"atrest verify -q", "atrest verfy -q"},
	    {"-m /manifest", "-M /manifest"},
	    {"${STORE_PVC}", "<your-store-pvc>"},
	    {"image: ${ATREST_IMAGE}", "image: registry.example/atrest:1"},
	};
	struct optset vo, mo;
	char *t = read_example("k8s-verify-job.yaml");
	size_t i;

	load_optset(&vo, 0);
	load_optset(&mo, 1);
	for (i = 0; i < sizeof(plants) / sizeof(plants[0]); i++) {
		const char *at = strstr(t, plants[i][0]);
		size_t a = strlen(plants[i][0]), b = strlen(plants[i][1]);
		char *c = malloc(strlen(t) + b + 1);
		struct problems p;

		cr_assert_not_null(at, "%s is not in the Job", plants[i][0]);
		cr_assert_not_null(c);
		memcpy(c, t, (size_t)(at - t));
		memcpy(c + (at - t), plants[i][1], b);
		memcpy(c + (at - t) + b, at + a, strlen(at + a) + 1);
		check_text(c, &vo, &mo, &p);
		check_placeholders(c, &p);
		cr_assert_gt(p.n, 0, "planted %s went unnoticed", plants[i][1]);
		free(c);
	}
	optset_free(&vo);
	optset_free(&mo);
	free(t);
}

Test(examples, job_has_workload_identity_and_matching_shards)
{
	char *t = read_example("k8s-verify-job.yaml"), *r;
	struct problems p;
	char want[64], *v;
	long n = yaml_num(t, "completions: ");

	static_checks("k8s-verify-job.yaml", &p);
	cr_assert(strstr(t, "completionMode: Indexed") != NULL);
	cr_assert_gt(n, 1);
	cr_assert_eq(yaml_num(t, "parallelism: "), n);
	/* K = index + 1, N = completions */
	snprintf(want, sizeof(want), "$k/%ld", n);
	cr_assert_str_eq(p.shard, want);
	cr_assert(strstr(t, "k=$((JOB_COMPLETION_INDEX + 1))") != NULL);
	cr_assert(strstr(t, "kind: ServiceAccount") != NULL);
	cr_assert(strstr(t, "azure.workload.identity/client-id: "
	    "\"${AZURE_CLIENT_ID}\"") != NULL);
	cr_assert(strstr(t, "azure.workload.identity/use: \"true\"") != NULL);
	cr_assert(strstr(t, "serviceAccountName: atrest-verify") != NULL);
	cr_assert(strstr(t, "  name: atrest-verify\n  namespace: atrest\n"
	    "  annotations:\n    azure.workload.identity/client-id") != NULL,
	    "the annotated ServiceAccount is the Job's");
	cr_assert(strstr(t, "defaultMode: 0400") != NULL);
	/* Every ${VAR} is filled in by the README's envsubst line. */
	r = read_example("README.md");
	for (v = t; (v = strstr(v, "${")) != NULL; v++) {
		char name[64], dollar[80];

		snprintf(name, sizeof(name), "%.*s", (int)strcspn(v + 2, "}"),
		    v + 2);
		snprintf(dollar, sizeof(dollar), "$%s ", name);
		cr_assert(strstr(r, dollar) != NULL || (snprintf(dollar,
		    sizeof(dollar), "$%s'", name), strstr(r, dollar) != NULL),
		    "${%s} is not in the README's envsubst list", name);
		snprintf(dollar, sizeof(dollar), "export %s=", name);
		cr_assert(strstr(r, dollar) != NULL, "README sets no %s", name);
	}
	cr_assert(strstr(r, "docker build -f docs/examples/Dockerfile -t "
	    "\"$ATREST_IMAGE\" .") != NULL, "the image is the Dockerfile's");
	free(r);
	free(t);
}
