/*
 * atrest verify --key URI [...] [options] STORE...
 * atrest verify merge [--json FILE] [--junit FILE] REPORT...
 * atrest verify fixture [options] DIR
 *
 * Argument parsing and printing only: the checks live in verify/
 * (docs/VERIFY.md).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "common.h"
#include "crypto.h"
#include "envelope.h"
#include "fsutil.h"
#include "quote.h"
#include "util.h"
#include "verify.h"
#include "keys.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: atrest verify --key URI [--key URI ...] [options] STORE...\n"
	    "       atrest verify merge [--json FILE] [--junit FILE] REPORT...\n"
	    "       atrest verify fixture [options] DIR\n\n"
	    "Proves that the configured key, and only it, protects every file\n"
	    "below each STORE (a file or a directory, walked recursively; hidden\n"
	    "and temporary files count): well-formed envelopes, exactly the\n"
	    "allowed recipients, proof by decryption, a control key that opens\n"
	    "nothing, no plaintext at rest, tamper rejection, uniqueness, policy\n"
	    "and rotation coverage (docs/VERIFY.md).  The first --key is the\n"
	    "primary (current) key; every --key is in the allowed set.\n\n"
	    "  -k, --key URI            allowed key (file:, pkcs11:, https://VAULT/keys/NAME)\n"
	    "  -p, --policy FILE        JSON overrides of the policy (profile first)\n"
	    "      --profile NAME       built-in policy: default, azure-cmk, strict\n"
	    "      --print-policy       print the effective policy as JSON and exit\n"
	    "  -m, --manifest FILE      expected plaintext: path, size, SHA-256, canaries\n"
	    "  -c, --control-key URI    a key that must open nothing (default: generated)\n"
	    "  -j, --json FILE          write the JSON report ('-' = stdout)\n"
	    "  -J, --junit FILE         write a JUnit XML report\n"
	    "      --current-only       an object without the primary key's stanza is a finding\n"
	    "      --min-version V      a vault object older than version V is a finding\n"
	    "      --shard K/N          verify the K-th of N deterministic parts\n"
	    "      --fingerprint-key FILE  32-byte key (raw or hex) for DEK fingerprints;\n"
	    "                           give every shard the same one\n"
	    "      --revocation-drill   disable every vault key version in use, confirm no\n"
	    "                           object opens, restore each version's prior state\n"
	    "      --drill-sample N     the drill tries N objects (deterministic, at least\n"
	    "                           one per version) instead of every object\n"
	    "      --allow-empty        a run that verified no object may pass (exit 0)\n"
	    "      --jobs N             worker threads (default: online CPUs); idle ones\n"
	    "                           help check the frames of a large object\n"
	    "      --cache-ttl S        lifetime of cached unwraps, seconds (300)\n"
	    "  -q, --quiet              no text summary\n"
	    "  -v, --verbose            list info findings too, and up to 50 per check\n"
	    "  -h, --help\n\n"
	    "Colour only on a terminal, never with NO_COLOR set.\n"
	    "exit status: 0 every check passed, 1 an error-severity finding,\n"
	    "2 usage, configuration or I/O error, an incomplete run, or nothing\n"
	    "verified (no file, an empty shard) without --allow-empty;\n"
	    "an interrupted drill restores the key versions, then exits 128+signal\n");
}

static void
usage_merge(FILE *f)
{
	fprintf(f,
	    "usage: atrest verify merge [--json FILE] [--junit FILE] [-q] REPORT...\n\n"
	    "Combines the JSON reports of `atrest verify --shard K/N` (every K once,\n"
	    "the same stores, keys and policy) into the report of one run.\n");
}

static void
usage_fixture(FILE *f)
{
	fprintf(f,
	    "usage: atrest verify fixture [--seed N] [--patients N] [--journeys N]\n"
	    "           [--blobs N] [--rows N] [--frame-size N] [--big SIZE]\n"
	    "           [--manifest FILE] DIR\n\n"
	    "Writes a synthetic plaintext dataset (patient records and customer\n"
	    "journeys in CSV and JSON with planted canaries, binary blobs, frame\n"
	    "edge sizes, a hidden file) under DIR and its manifest (default\n"
	    "DIR.manifest.json).  The same seed gives the same bytes.\n");
}

static void
show_progress(void *arg, const struct vfy_progress *p)
{
	char hb[32];

	(void)arg;
	fprintf(stderr, "\r\033[Katrest verify: %s %llu/%llu files, %s",
	    p->phase == 0 ? "checking" : p->phase == 1 ? "rescanning" :
	    "finishing", (unsigned long long)p->files_done,
	    (unsigned long long)p->files_queued,
	    atr_fmt_bytes(p->bytes_done, hb, sizeof(hb)));
	fflush(stderr);
}

/* Holds SIGINT, SIGTERM and SIGHUP while the drill has a key disabled
 * (the workers are joined by then: only this thread runs).  A signal
 * that arrives meanwhile stops the drill (drill_stop), is consumed when
 * the versions are restored, and sets the exit status (128 + signal)
 * once the report is written. */
static sigset_t drill_old;
static int drill_signal;

static int
drill_stop(void *arg)
{
	(void)arg;
	return cli_stop_pending();
}

static void
drill_guard(void *arg, int on)
{
	sigset_t block;
	int sig;

	(void)arg;
	if (on) {
		cli_stop_sigset(&block);
		sigprocmask(SIG_BLOCK, &block, &drill_old);
		return;
	}
	sig = cli_stop_take();
	if (drill_signal == 0)
		drill_signal = sig;
	sigprocmask(SIG_SETMASK, &drill_old, NULL);
}

static int
parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
	char *end = NULL;
	unsigned long long v;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > max)
		return -1;
	*out = v;
	return 0;
}

static int
parse_shard(const char *s, unsigned *k, unsigned *n)
{
	char *end = NULL;
	unsigned long a, b;

	errno = 0;
	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	a = strtoul(s, &end, 10);
	if (errno != 0 || *end != '/' || end[1] < '0' || end[1] > '9')
		return -1;
	b = strtoul(end + 1, &end, 10);
	if (errno != 0 || *end != '\0' || b < 1 || b > 1000000 || a < 1 || a > b)
		return -1;
	*k = (unsigned)a;
	*n = (unsigned)b;
	return 0;
}

static int
load_fp_key(const char *path, uint8_t key[32])
{
	unsigned char *buf = NULL;
	size_t len = 0, n, got = 0;
	enum atr_err e;
	int rc = 0;

	/* Private like a key file: it keys fingerprints of DEKs. */
	e = atr_read_small_file(path, 4096, 1, &buf, &len);
	if (e != ATR_OK)
		return cli_error_file(path, e);
	n = len;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	if (len == 32)
		memcpy(key, buf, 32);
	else if (n != 64 || atr_unhex((const char *)buf, n, key, 32, &got) != 0 ||
	    got != 32) {
		atr_detail_set("not a 32-byte key (raw, or 64 hex digits)");
		rc = cli_error_file(path, ATR_ERR_KEY);
	}
	atr_secure_free(buf, len);
	return rc;
}

static int
write_outputs(const struct vfy_report *r, const char *json, const char *junit)
{
	enum atr_err e;
	int rc = 0;

	/* A report that cannot be written is an I/O error (2), whatever
	 * atr_exit_code() would say of the error itself. */
	if (json != NULL && (e = vfy_write_json(r, json)) != ATR_OK) {
		cli_error_file(json, e);
		rc = 2;
	}
	if (junit != NULL && (e = vfy_write_junit(r, junit)) != ATR_OK) {
		cli_error_file(junit, e);
		rc = 2;
	}
	return rc;
}

/* Writes the report files, prints the text summary (unless quiet or
 * the JSON goes to stdout) and returns the exit status. */
static int
finish_report(const struct vfy_report *r, const char *json,
    const char *junit, int quiet, struct vfy_text_opts *to)
{
	int rc = write_outputs(r, json, junit);

	if (!quiet && !(json != NULL && strcmp(json, "-") == 0)) {
		to->color = cli_color(stdout);
		vfy_write_text(r, stdout, to);
	}
	return rc == 0 ? vfy_report_exit(r) : rc;
}

/* ---- verify merge ------------------------------------------------------ */

struct merge_args {
	const char *json, *junit;
	int quiet;
	struct vfy_text_opts to;
	char **reports;         /* borrowed from argv */
	int n;
};

/* -1: run; else the exit status (after --help, or a usage error). */
static int
parse_merge_args(int argc, char **argv, struct merge_args *a)
{
	static const struct option opts[] = {
		{"json", required_argument, NULL, 'j'},
		{"junit", required_argument, NULL, 'J'},
		{"quiet", no_argument, NULL, 'q'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	memset(a, 0, sizeof(*a));
	optind = 1;
	while ((c = getopt_long(argc, argv, "j:J:qvh", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			a->json = optarg;
			break;
		case 'J':
			a->junit = optarg;
			break;
		case 'q':
			a->quiet = 1;
			break;
		case 'v':
			a->to.verbose = 1;
			a->to.max_per_check = 50;
			break;
		case 'h':
			usage_merge(stdout);
			return 0;
		default:
			return cli_usage_error("verify merge", "bad option");
		}
	}
	a->n = argc - optind;
	a->reports = argv + optind;
	if (a->n < 1)
		return cli_usage_error("verify merge", "at least one REPORT is "
		    "required");
	return -1;
}

static int
cmd_merge(int argc, char **argv)
{
	struct vfy_report **sh = NULL, *m = NULL;
	struct merge_args a;
	int rc, i;
	enum atr_err e;

	rc = parse_merge_args(argc, argv, &a);
	if (rc >= 0)
		return rc;
	sh = calloc((size_t)a.n, sizeof(struct vfy_report *));
	if (sh == NULL)
		return cli_error(NULL, ATR_ERR_NOMEM);
	for (i = 0; i < a.n; i++) {
		e = vfy_report_load(a.reports[i], &sh[i]);
		if (e != ATR_OK) {
			/* an unreadable or foreign report: a usage error */
			cli_error_file(a.reports[i], e);
			rc = 2;
			goto out;
		}
	}
	e = vfy_merge(sh, (size_t)a.n, &m);
	if (e != ATR_OK) {
		cli_error("verify merge", e);
		rc = 2;
		goto out;
	}
	rc = finish_report(m, a.json, a.junit, a.quiet, &a.to);
out:
	for (i = 0; i < a.n; i++)
		vfy_report_free(sh[i]);
	free(sh);
	vfy_report_free(m);
	return rc;
}

/* ---- verify fixture ---------------------------------------------------- */

struct fixture_args {
	struct vfy_fixture_opts o;
	const char *manifest;   /* NULL: DIR.manifest.json */
	const char *dir;
};

/* -1: run; else the exit status.  The switch is the option table and
 * reads better whole. */
static int
parse_fixture_args(int argc, char **argv, struct fixture_args *a)
{
	static const struct option opts[] = {
		{"seed", required_argument, NULL, 's'},
		{"patients", required_argument, NULL, 'P'},
		{"journeys", required_argument, NULL, 'C'},
		{"blobs", required_argument, NULL, 'B'},
		{"rows", required_argument, NULL, 'R'},
		{"frame-size", required_argument, NULL, 'f'},
		{"big", required_argument, NULL, 'G'},
		{"manifest", required_argument, NULL, 'm'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	unsigned long long v;
	uint64_t sz;
	int c;

	memset(a, 0, sizeof(*a));
	vfy_fixture_defaults(&a->o);
	optind = 1;
	while ((c = getopt_long(argc, argv, "s:m:h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (parse_uint(optarg, ~0ULL, &v) != 0)
				return cli_usage_error("verify fixture",
				    "bad --seed");
			a->o.seed = v;
			break;
		case 'P':
		case 'C':
		case 'B':
		case 'R':
			if (parse_uint(optarg, 1000000, &v) != 0)
				return cli_usage_error("verify fixture",
				    "counts are 0..1000000");
			if (c == 'P')
				a->o.patients = (unsigned)v;
			else if (c == 'C')
				a->o.journeys = (unsigned)v;
			else if (c == 'B')
				a->o.blobs = (unsigned)v;
			else
				a->o.rows = (unsigned)v;
			break;
		case 'f':
			if (cli_parse_size(optarg, &sz) != 0 ||
			    sz < ATR_FRAME_MIN || sz > ATR_FRAME_MAX)
				return cli_usage_error("verify fixture",
				    "--frame-size must be %u..%u",
				    ATR_FRAME_MIN, ATR_FRAME_MAX);
			a->o.frame_size = (uint32_t)sz;
			break;
		case 'G':
			if (cli_parse_size(optarg, &sz) != 0)
				return cli_usage_error("verify fixture",
				    "bad --big");
			a->o.big_bytes = sz;
			break;
		case 'm':
			a->manifest = optarg;
			break;
		case 'h':
			usage_fixture(stdout);
			return 0;
		default:
			return cli_usage_error("verify fixture", "bad option");
		}
	}
	if (optind != argc - 1)
		return cli_usage_error("verify fixture", "exactly one DIR is "
		    "required");
	a->dir = argv[optind];
	return -1;
}

static int
cmd_fixture(int argc, char **argv)
{
	char q1[ATR_QUOTE_BUF], q2[ATR_QUOTE_BUF], mpath[4096];
	struct fixture_args a;
	unsigned nfiles = 0;
	enum atr_err e;
	int rc;

	rc = parse_fixture_args(argc, argv, &a);
	if (rc >= 0)
		return rc;
	if (a.manifest == NULL) {
		snprintf(mpath, sizeof(mpath), "%s.manifest.json", a.dir);
		a.manifest = mpath;
	}
	e = vfy_fixture_dataset(a.dir, a.manifest, &a.o, &nfiles);
	if (e != ATR_OK)
		return cli_error_file(a.dir, e);
	fprintf(stderr, "atrest verify fixture: %u files under %s, manifest "
	    "%s\n", nfiles, atr_quote(a.dir, q1, sizeof(q1)),
	    atr_quote(a.manifest, q2, sizeof(q2)));
	return 0;
}

/* ---- verify ------------------------------------------------------------ */

struct verify_args {
	struct cli_keys ks;
	const char *policy, *manifest, *control_uri, *profile;
	const char *json, *junit, *minver, *fpkey;
	unsigned shard_k, shard_n, jobs, drill_sample;
	double cache_ttl;
	int quiet, current_only, drill, allow_empty, has_sample, print_policy;
	struct vfy_policy scratch;  /* for checking --profile */
	struct vfy_text_opts to;
	char **stores;          /* borrowed from argv */
	size_t nstores;
};

/* verify's long-only options */
enum {
	O_CURRENT = 256, O_MINVER, O_SHARD, O_DRILL, O_FPKEY, O_JOBS,
	O_SAMPLE, O_EMPTY, O_CACHE_TTL, O_PROFILE, O_PRINT_POLICY,
};

/* The options whose value is checked; -1 when good, else the exit
 * status (the usage line printed). */
static int
checked_option(struct verify_args *a, int c, const char *arg)
{
	unsigned long long v;

	switch (c) {
	case O_MINVER:
		a->minver = arg;
		if (*arg == '\0' || strlen(arg) >=
		    sizeof(((struct vfy_policy *)0)->min_version))
			return cli_usage_error("verify",
			    "bad --min-version");
		break;
	case O_SHARD:
		if (parse_shard(arg, &a->shard_k, &a->shard_n) != 0)
			return cli_usage_error("verify", "--shard must "
			    "be K/N with 1 <= K <= N");
		break;
	case O_SAMPLE:
		if (parse_uint(arg, 1U << 20, &v) != 0 || v == 0)
			return cli_usage_error("verify",
			    "--drill-sample must be 1..1048576");
		a->drill_sample = (unsigned)v;
		a->has_sample = 1;
		break;
	case O_JOBS:
		if (parse_uint(arg, 64, &v) != 0 || v == 0)
			return cli_usage_error("verify",
			    "--jobs must be 1..64");
		a->jobs = (unsigned)v;
		break;
	case O_CACHE_TTL:
		if (cli_parse_double(arg, 0.001, ATR_KCACHE_TTL_MAX_S,
		    &a->cache_ttl) != 0)
			return cli_usage_error("verify", "--cache-ttl: "
			    "bad seconds '%s' (0.001..%u)", arg,
			    ATR_KCACHE_TTL_MAX_S);
		break;
	case O_PROFILE:
		/* Checked at once: a bad name is a usage error,
		 * whatever else is wrong. */
		if (vfy_policy_profile(arg, &a->scratch) != ATR_OK)
			return cli_usage_error("verify",
			    "--profile: %s", atr_detail());
		a->profile = arg;
		break;
	}
	return -1;
}

/* -1: run; else the exit status (after --help, or a usage error).  The
 * switch is the option table and reads better whole. */
static int
parse_args(int argc, char **argv, struct verify_args *a)
{
	static const struct option opts[] = {
		{"key", required_argument, NULL, 'k'},
		{"policy", required_argument, NULL, 'p'},
		{"manifest", required_argument, NULL, 'm'},
		{"control-key", required_argument, NULL, 'c'},
		{"json", required_argument, NULL, 'j'},
		{"junit", required_argument, NULL, 'J'},
		{"current-only", no_argument, NULL, O_CURRENT},
		{"min-version", required_argument, NULL, O_MINVER},
		{"shard", required_argument, NULL, O_SHARD},
		{"revocation-drill", no_argument, NULL, O_DRILL},
		{"drill-sample", required_argument, NULL, O_SAMPLE},
		{"allow-empty", no_argument, NULL, O_EMPTY},
		{"fingerprint-key", required_argument, NULL, O_FPKEY},
		{"jobs", required_argument, NULL, O_JOBS},
		{"cache-ttl", required_argument, NULL, O_CACHE_TTL},
		{"profile", required_argument, NULL, O_PROFILE},
		{"print-policy", no_argument, NULL, O_PRINT_POLICY},
		{"quiet", no_argument, NULL, 'q'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c, rc;

	memset(a, 0, sizeof(*a));
	optind = 1;
	while ((c = getopt_long(argc, argv, "k:p:m:c:j:J:qvh", opts, NULL)) !=
	    -1) {
		switch (c) {
		case 'k':
			if (cli_keys_add("verify", &a->ks, optarg))
				return 2;
			break;
		case 'p':
			a->policy = optarg;
			break;
		case 'm':
			a->manifest = optarg;
			break;
		case 'c':
			a->control_uri = optarg;
			break;
		case 'j':
			a->json = optarg;
			break;
		case 'J':
			a->junit = optarg;
			break;
		case O_CURRENT:
			a->current_only = 1;
			break;
		case O_DRILL:
			a->drill = 1;
			break;
		case O_EMPTY:
			a->allow_empty = 1;
			break;
		case O_FPKEY:
			a->fpkey = optarg;
			break;
		case O_PRINT_POLICY:
			a->print_policy = 1;
			break;
		case O_MINVER:
		case O_SHARD:
		case O_SAMPLE:
		case O_JOBS:
		case O_CACHE_TTL:
		case O_PROFILE:
			rc = checked_option(a, c, optarg);
			if (rc >= 0)
				return rc;
			break;
		case 'q':
			a->quiet = 1;
			break;
		case 'v':
			a->to.verbose = 1;
			a->to.max_per_check = 50;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			return cli_usage_error("verify", "bad option");
		}
	}
	if (a->print_policy)
		return optind < argc ? cli_usage_error("verify",
		    "--print-policy takes no STORE") : -1;
	if (a->ks.n == 0)
		return cli_usage_error("verify",
		    "at least one --key is required");
	if (optind >= argc)
		return cli_usage_error("verify",
		    "at least one STORE is required");
	if (a->drill && a->shard_n > 1)
		return cli_usage_error("verify", "--revocation-drill toggles "
		    "the key: run it in one job, not with --shard");
	if (a->has_sample && !a->drill)
		return cli_usage_error("verify", "--drill-sample needs "
		    "--revocation-drill");
	a->stores = argv + optind;
	a->nstores = (size_t)(argc - optind);
	return -1;
}

/* Every STORE must exist before anything is opened. */
static int
check_stores(char **stores, size_t n)
{
	struct stat st;
	size_t i;

	for (i = 0; i < n; i++)
		if (lstat(stores[i], &st) != 0) {
			atr_detail_set("%s", strerror(errno));
			return cli_error_file(stores[i], ATR_ERR_IO);
		}
	return 0;
}

/* The policy (defaults, --policy, then --current-only and
 * --min-version) and the manifest; 0 or the exit status. */
static int
load_inputs(const struct verify_args *a, struct vfy_policy *pol,
    struct vfy_manifest **man)
{
	enum atr_err e;

	e = vfy_policy_profile(a->profile != NULL ? a->profile : "default",
	    pol);
	if (e != ATR_OK)
		return cli_usage_error("verify", "--profile: %s", atr_detail());
	if (a->policy != NULL) {
		e = vfy_policy_load(a->policy, pol);
		if (e != ATR_OK)
			return cli_error_file(a->policy, e);
	}
	if (a->current_only)
		pol->current_only = 1;
	if (a->minver != NULL)
		snprintf(pol->min_version, sizeof(pol->min_version), "%s",
		    a->minver);
	if (a->manifest != NULL) {
		e = vfy_manifest_load(a->manifest, man);
		if (e != ATR_OK)
			return cli_error_file(a->manifest, e);
	}
	return 0;
}

/* Opens the --key keys and the control key (*control, NULL when
 * generated); 0 or the exit status. */
static int
open_keys(struct verify_args *a, struct atr_key **control)
{
	enum atr_err e;
	int rc;

	rc = cli_keys_open(&a->ks);
	if (rc != 0 || a->control_uri == NULL)
		return rc;
	e = atr_key_open(a->control_uri, NULL, control);
	if (e != ATR_OK)
		return cli_key_error(a->control_uri, e);
	return 0;
}

/* The run's configuration: every pointer borrowed from a, pol, man,
 * control and fk, which outlive the run. */
static void
make_config(struct verify_args *a, const struct vfy_policy *pol,
    const struct vfy_manifest *man, struct atr_key *control,
    const uint8_t *fk, struct vfy_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->stores = (const char *const *)a->stores;
	cfg->nstores = a->nstores;
	cfg->keys = a->ks.k;
	cfg->nkeys = a->ks.n;
	cfg->control = control;
	cfg->control_uri = control ? control->uri : NULL;
	cfg->policy = pol;
	cfg->manifest = man;
	cfg->manifest_path = a->manifest;
	cfg->shard_k = a->shard_k;
	cfg->shard_n = a->shard_n;
	cfg->revocation_drill = a->drill;
	cfg->fp_key = fk;
	cfg->fp_key_len = fk != NULL ? 32 : 0;
	cfg->jobs = a->jobs;
	cfg->cache_ttl = a->cache_ttl;
	cfg->started = (int64_t)time(NULL);
	if (cli_stderr_tty() && !a->quiet) {
		cfg->progress = show_progress;
		cfg->progress_arg = NULL;
	}
	cfg->drill_guard = drill_guard;
	cfg->drill_stop = drill_stop;
	cfg->allow_empty = a->allow_empty;
}

static int
run_verify(struct verify_args *a)
{
	struct vfy_policy pol;
	struct vfy_config cfg;
	struct vfy_manifest *man = NULL;
	struct vfy_report *r = NULL;
	struct atr_key *control = NULL;
	uint8_t fk[32];
	int rc, have_fk = 0;
	enum atr_err e;

	rc = check_stores(a->stores, a->nstores);
	if (rc == 0)
		rc = load_inputs(a, &pol, &man);
	if (rc != 0) {
		vfy_manifest_free(man);
		return rc;
	}
	if (a->fpkey != NULL) {
		rc = load_fp_key(a->fpkey, fk);
		if (rc != 0)
			goto out;
		have_fk = 1;
	}
	rc = open_keys(a, &control);
	if (rc != 0)
		goto out;
	if (a->has_sample)
		pol.drill_objects = a->drill_sample;
	make_config(a, &pol, man, control, have_fk ? fk : NULL, &cfg);
	e = vfy_run(&cfg, &r);
	if (cfg.progress != NULL)
		fprintf(stderr, "\r\033[K");
	if (e != ATR_OK) {
		rc = cli_error("verify", e);
	} else {
		/* A credential that failed mid-run: said once here; the
		 * reports carry it as the reason the run is incomplete. */
		if (vfy_report_halted(r) != NULL) {
			char m[ATR_QUOTE_BUF];

			fprintf(stderr, "atrest: verify: stopped: %s\n",
			    atr_escape(vfy_report_halted(r), m, sizeof(m)));
		}
		rc = finish_report(r, a->json, a->junit, a->quiet, &a->to);
	}
	if (drill_signal != 0) {
		fprintf(stderr, "atrest verify: revocation drill interrupted "
		    "by signal %d; the key versions were restored\n",
		    drill_signal);
		rc = 128 + drill_signal;
	}
out:
	atr_memzero(fk, sizeof(fk));
	vfy_report_free(r);
	vfy_manifest_free(man);
	atr_key_free(control);
	return rc;
}

/* --print-policy: the policy a run with these options would apply. */
static int
print_policy(const struct verify_args *a)
{
	struct vfy_policy pol;
	struct vfy_manifest *man = NULL;
	int rc = load_inputs(a, &pol, &man);

	vfy_manifest_free(man);
	if (rc != 0)
		return rc;
	if (vfy_policy_print(&pol, stdout) != 0) {
		atr_detail_set("%s", strerror(errno));
		return cli_error("verify --print-policy", ATR_ERR_IO);
	}
	return 0;
}

int
cmd_verify(int argc, char **argv)
{
	struct verify_args a;
	int rc;

	if (argc >= 2 && strcmp(argv[1], "merge") == 0)
		return cmd_merge(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "fixture") == 0)
		return cmd_fixture(argc - 1, argv + 1);
	rc = parse_args(argc, argv, &a);
	if (rc >= 0)
		return rc;
	rc = a.print_policy ? print_policy(&a) : run_verify(&a);
	cli_keys_free(&a.ks);
	return rc;
}
