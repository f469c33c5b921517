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
	const char *argv[24];
	struct tu_run_opts o;
	size_t i;

	memset(&o, 0, sizeof(o));
	argv[0] = bin();
	for (i = 0; args[i] != NULL && i < 22; i++)
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

/* ---- the scripts run for real ------------------------------------- */

struct run_env {
	char *dir, *bindir, *store, *manifest, *fk, *cmk, *log;
	char path[4096];
};

static int
sh_run(const struct run_env *r, const char *shell, const char *script,
    const char *const *env)
{
	const char *argv[] = {shell, script, NULL};
	struct tu_run_opts o;

	memset(&o, 0, sizeof(o));
	o.stdout_path = r->log;
	o.stderr_path = r->log;
	o.env = env;
	o.timeout_ms = 120000;
	return tu_run(argv, &o);
}

/* A store of 171 objects (no shard of 16 is empty), its manifest,
 * a fingerprint key, `atrest` on PATH, and one run's report. */
static void
run_env_init(struct run_env *r, int in_data)
{
	const char *pth = getenv("PATH");
	char *plain, *key, *src, *link;
	uint8_t *b;
	size_t n;

	memset(r, 0, sizeof(*r));
	r->dir = tu_tmpdir("examples-run");
	cr_assert_not_null(r->dir);
	r->log = tu_path(r->dir, "log");
	r->bindir = tu_path(r->dir, "bin");
	cr_assert_eq(mkdir(r->bindir, 0700), 0);
	link = tu_path(r->bindir, "atrest");
	cr_assert_eq(symlink(bin(), link), 0);
	free(link);
	snprintf(r->path, sizeof(r->path), "PATH=%s:%s", r->bindir,
	    pth != NULL ? pth : "/usr/bin:/bin");
	/* at DIR/data/store for the Job, whose volume is /data/store */
	r->store = tu_path(r->dir, in_data ? "data/store" : "store");
	if (in_data) {
		char *d = tu_path(r->dir, "data"), *m = tu_path(r->dir,
		    "manifest");

		cr_assert_eq(mkdir(d, 0700), 0);
		cr_assert_eq(mkdir(m, 0700), 0);
		free(d);
		free(m);
	}
	r->manifest = tu_path(r->dir, in_data ? "manifest/manifest.json" :
	    "plain.manifest.json");
	r->fk = tu_path(r->dir, "fk.key");
	cr_assert_eq(tu_write_file(r->fk, "000102030405060708090a0b0c0d0e0f"
	    "101112131415161718191a1b1c1d1e1f\n", 65), 0);
	src = root_path("fixtures/verify/small/keys/TEST-ONLY-cmk-rsa3072.pem");
	key = tu_path(r->dir, "cmk.pem");
	b = tu_read_file(src, &n);
	cr_assert_not_null(b, "%s", src);
	cr_assert_eq(tu_write_file(key, b, n), 0);
	free(b);
	free(src);
	r->cmk = malloc(strlen(key) + 6);
	cr_assert_not_null(r->cmk);
	snprintf(r->cmk, strlen(key) + 6, "file:%s", key);
	free(key);
	plain = tu_path(r->dir, "plain");
	{
		const char *a[] = {"verify", "fixture", "--seed", "3",
		    "--patients", "40", "--journeys", "40", "--blobs", "4",
		    "--rows", "2", "--manifest", r->manifest, plain, NULL};
		const char *e[] = {"encrypt", "-k", r->cmk, "-o", r->store,
		    plain, NULL};
		const char *v[] = {"verify", "-q", "-k", r->cmk, "-m",
		    r->manifest, "--fingerprint-key", r->fk, "--json", NULL,
		    r->store, NULL};
		char *one = tu_path(r->dir, "one.json");

		cr_assert_eq(atrest_out(a, r->log), 0, "%s", slurp(r->log));
		cr_assert_eq(atrest_out(e, r->log), 0, "%s", slurp(r->log));
		v[9] = one;
		cr_assert_eq(atrest_out(v, r->log), 0, "%s", slurp(r->log));
		free(one);
	}
	free(plain);
}

static void
run_env_free(struct run_env *r)
{
	tu_rmtree(r->dir);
	free(r->dir);
	free(r->bindir);
	free(r->store);
	free(r->manifest);
	free(r->fk);
	free(r->cmk);
	free(r->log);
}

/* The merged report (path) equals the single run's, "run" aside. */
static void
assert_merged_equals_one(const struct run_env *r, const char *path)
{
	char *one = tu_path(r->dir, "one.json"), *a = slurp(one),
	    *b = slurp(path);
	cJSON *x = cJSON_Parse(a), *y = cJSON_Parse(b);

	cr_assert(x != NULL && y != NULL);
	cJSON_DeleteItemFromObjectCaseSensitive(x, "run");
	cJSON_DeleteItemFromObjectCaseSensitive(y, "run");
	cr_assert(cJSON_Compare(x, y, 1), "the merged report differs from "
	    "one run");
	cJSON_Delete(x);
	cJSON_Delete(y);
	free(a);
	free(b);
	free(one);
}

Test(examples, slurm_array_and_merge_equal_one_run, .timeout = 300)
{
	struct run_env r;
	char *t = read_example("slurm-verify.sh"), *verify, *merge, *rep;
	char e_key[4200], e_store[4200], e_man[4200], e_fk[4200], e_rep[4200];
	char e_id[64], e_max[64], *at;
	long n, k;

	/* "#SBATCH --array=1-N": the array starts at 1 */
	at = strstr(t, "#SBATCH --array=");
	cr_assert_not_null(at);
	cr_assert(strncmp(at + 16, "1-", 2) == 0, "the array starts at 1");
	n = strtol(at + 18, NULL, 10);
	cr_assert_gt(n, 1);
	run_env_init(&r, 0);
	rep = tu_path(r.dir, "reports");
	cr_assert_eq(mkdir(rep, 0700), 0);
	verify = root_path("docs/examples/slurm-verify.sh");
	merge = root_path("docs/examples/slurm-merge.sh");
	snprintf(e_key, sizeof(e_key), "ATREST_KEY=%s", r.cmk);
	snprintf(e_store, sizeof(e_store), "ATREST_STORE=%s", r.store);
	snprintf(e_man, sizeof(e_man), "ATREST_MANIFEST=%s", r.manifest);
	snprintf(e_fk, sizeof(e_fk), "ATREST_FK=%s", r.fk);
	snprintf(e_rep, sizeof(e_rep), "ATREST_REPORTS=%s", rep);
	snprintf(e_max, sizeof(e_max), "SLURM_ARRAY_TASK_MAX=%ld", n);
	for (k = 1; k <= n; k++) {
		const char *env[] = {r.path, e_key, e_store, e_man, e_fk, e_rep,
		    "SLURM_ARRAY_TASK_MIN=1", e_max, e_id,
		    "SLURM_CPUS_PER_TASK=2", NULL};
		int rc;

		snprintf(e_id, sizeof(e_id), "SLURM_ARRAY_TASK_ID=%ld", k);
		rc = sh_run(&r, "bash", verify, env);
		cr_assert_eq(rc, 0, "task %ld: exit %d: %s", k, rc,
		    slurp(r.log));
	}
	{
		const char *env[] = {r.path, e_rep, NULL};
		char *merged = tu_path(rep, "report.json");
		int rc = sh_run(&r, "bash", merge, env);

		cr_assert_eq(rc, 0, "merge: exit %d: %s", rc, slurp(r.log));
		assert_merged_equals_one(&r, merged);
		free(merged);
	}
	free(verify);
	free(merge);
	free(rep);
	free(t);
	run_env_free(&r);
}

/* The block scalar under "args:" of a YAML container ("- |" then lines
 * indented deeper), dedented, with every mountPath P of the file
 * written as root+P: a pod's script runnable on this host. */
static char *
job_script(const char *yaml, const char *root)
{
	const char *a = strstr(yaml, "args:\n"), *l, *m;
	char *out, mounts[16][64];
	size_t nm = 0, o = 0, cap, ind = 0, i;

	cr_assert_not_null(a, "no args:");
	for (m = yaml; (m = strstr(m, "mountPath: ")) != NULL && nm < 16;
	    m++)
		snprintf(mounts[nm++], sizeof(mounts[0]), "%.*s",
		    (int)strcspn(m + 11, ",}\n "), m + 11);
	l = strchr(a, '\n') + 1;
	cr_assert(strstr(l, "- |\n") == l + strspn(l, " "), "not a block");
	cap = strlen(yaml) * 2 + strlen(root) * 64;
	out = malloc(cap);
	cr_assert_not_null(out);
	for (l = strchr(l, '\n') + 1; *l != '\0';) {
		const char *e = strchr(l, '\n'), *c;
		size_t sp = strspn(l, " ");

		if (ind == 0)
			ind = sp;
		if (e == NULL || sp < ind || sp == (size_t)(e - l))
			break;
		for (c = l + ind; c < e;) {
			for (i = 0; i < nm; i++)
				if (strncmp(c, mounts[i], strlen(mounts[i])) == 0
				    && strchr("/\" \n", c[strlen(mounts[i])]))
					break;
			if (i < nm) {
				o += (size_t)snprintf(out + o, cap - o, "%s",
				    root);
				memcpy(out + o, c, strlen(mounts[i]));
				o += strlen(mounts[i]);
				c += strlen(mounts[i]);
			} else {
				out[o++] = *c++;
			}
		}
		out[o++] = '\n';
		l = e + 1;
	}
	out[o] = '\0';
	return out;
}

static void
write_job_script(const struct run_env *r, const char *yaml_name,
    const char *to)
{
	char *y = read_example(yaml_name), *s = job_script(y, r->dir);

	cr_assert_eq(tu_write_file(to, s, strlen(s)), 0);
	free(s);
	free(y);
}

static char *
mk(const struct run_env *r, const char *rel)
{
	char *p = tu_path(r->dir, rel);

	cr_assert_eq(mkdir(p, 0700), 0, "%s", p);
	return p;
}

Test(examples, k8s_job_indices_and_merge_equal_one_run, .timeout = 300)
{
	struct run_env r;
	char *y, *vs, *ms, *sec, *priv, *tmp, *rep, *fk, *b;
	char e_key[4200], e_tmp[4200], e_idx[64];
	long n, i;
	size_t len;

	run_env_init(&r, 1);
	y = read_example("k8s-verify-job.yaml");
	n = yaml_num(y, "completions: ");
	cr_assert(strstr(y, "- name: ATREST_KEY\n") != NULL);
	free(y);
	/* the volumes, below r.dir; the store is at data/store already */
	/* /manifest/manifest.json: made so by run_env_init */
	sec = mk(&r, "secrets");
	fk = tu_path(sec, "fk.key");
	b = (char *)tu_read_file(r.fk, &len);
	cr_assert_eq(tu_write_file(fk, b, len), 0);
	free(b);
	priv = tu_path(r.dir, "run");
	cr_assert_eq(mkdir(priv, 0700), 0);
	free(priv);
	priv = mk(&r, "run/atrest");
	tmp = mk(&r, "tmp");
	rep = mk(&r, "reports");
	vs = tu_path(r.dir, "verify.sh");
	ms = tu_path(r.dir, "merge.sh");
	write_job_script(&r, "k8s-verify-job.yaml", vs);
	write_job_script(&r, "k8s-verify-merge-job.yaml", ms);
	snprintf(e_key, sizeof(e_key), "ATREST_KEY=%s", r.cmk);
	snprintf(e_tmp, sizeof(e_tmp), "TMPDIR=%s", tmp);
	for (i = 0; i < n; i++) {
		const char *env[] = {r.path, e_key, e_tmp, e_idx, NULL};
		char *pf = tu_path(priv, "fk.key");
		int rc;

		/* a fresh pod: an empty memory volume */
		unlink(pf);
		free(pf);
		snprintf(e_idx, sizeof(e_idx), "JOB_COMPLETION_INDEX=%ld", i);
		rc = sh_run(&r, "sh", vs, env);
		cr_assert_eq(rc, 0, "index %ld: exit %d: %s", i, rc,
		    slurp(r.log));
	}
	{
		const char *env[] = {r.path, NULL};
		char *merged = tu_path(rep, "report.json");
		int rc = sh_run(&r, "sh", ms, env);

		cr_assert_eq(rc, 0, "merge: exit %d: %s", rc, slurp(r.log));
		assert_merged_equals_one(&r, merged);
		free(merged);
	}
	free(vs);
	free(ms);
	free(sec);
	free(fk);
	free(priv);
	free(tmp);
	free(rep);
	run_env_free(&r);
}
