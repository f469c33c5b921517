/*
 * atrest bench [OPTIONS]
 * atrest bench compare BASE.json NEW.json [--max-regression PCT]
 *                      [--alpha P]
 *
 * Argument parsing and printing only; the measuring is bench/ (bench.h).
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "cli.h"
#include "common.h"
#include "envelope.h"
#include "fsutil.h"
#include "quote.h"
#include "util.h"

#define LIST_MAX 1024U

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: atrest bench [OPTIONS]\n"
	    "       atrest bench compare BASE.json NEW.json [--max-regression PCT]\n"
	    "                            [--max-geomean-regression PCT]\n"
	    "                            [--metric cpu|wall|cpu-best|wall-best]\n"
	    "                            [--alpha P]\n\n"
	    "Measures envelope encryption with customer-managed keys (CMK) against\n"
	    "service-managed keys (SMK), next to the machine's own limits measured\n"
	    "in the same run (raw AES-256-GCM, RSA, AES-KWP).  With no options it\n"
	    "runs an embedded matrix in about a minute and a half on ephemeral keys.\n"
	    "docs/BENCH.md explains every column and the JSON schema.\n\n"
	    "  -k, --keys LIST          key setups: smk, rsa-2048, rsa-3072, rsa-4096,\n"
	    "                           vault[:rsa-N] (the loopback Key Vault, started\n"
	    "                           by the run) or key URIs (default\n"
	    "                           smk,rsa-3072,vault)\n"
	    "      --key URI            add one key URI (not split at commas)\n"
	    "  -H, --hierarchy LIST     per-object, intermediate, cached (default all)\n"
	    "  -s, --sizes LIST         object sizes, e.g. 1K,64K,1M,64M (the default)\n"
	    "  -o, --ops LIST           encrypt, decrypt (default both)\n"
	    "  -t, --threads LIST       thread counts, 'all' = every core (default 1,all)\n"
	    "  -T, --time SECONDS       measured time per cell and repetition (0.1)\n"
	    "  -r, --reps N             repetitions per cell, interleaved (5: the fewest\n"
	    "                           whose U test in compare can reach p < 0.01)\n"
	    "  -w, --warmup SECONDS     unrecorded warm-up per cell (0.025)\n"
	    "  -f, --frame-size N       envelope frame size (64K)\n"
	    "  -q, --quick              small matrix for CI: 1K,64K, 1 thread, 5 x 0.04 s\n"
	    "  -j, --json FILE          write the results as JSON ('-' = stdout)\n"
	    "  -c, --csv FILE           write one CSV row per cell ('-' = stdout)\n"
	    "  -C, --charts DIR         gnuplot charts (throughput, latency CDF)\n"
	    "      --intermediate-every N     new intermediate key every N objects (10000)\n"
	    "      --intermediate-seconds T   ... or every T seconds (300)\n"
	    "      --cache-max-age S    cached DEK lifetime (300)\n"
	    "      --cache-max-uses N   objects per cached DEK (10000)\n"
	    "      --cache-max-bytes B  bytes per cached DEK (1G)\n"
	    "      --cache-ttl LIST     decrypt-side key cache lifetime in seconds\n"
	    "                           (300; --revocation: each value, default 2,10)\n"
	    "      --revocation         measure revocation latency: per hierarchy and\n"
	    "                           cache TTL, how long a reader and a writer go on\n"
	    "                           after the key is disabled in the loopback vault\n"
	    "      --revocation-window S  most seconds to wait after the disable\n"
	    "                           (default: TTL or key lifetime + 3, at most 15)\n"
	    "      --vault-latency LIST added loopback vault latency in ms, one vault\n"
	    "                           setup per value, e.g. 0,5,20,100\n"
	    "      --vault-faults SPEC  more vault faults, e.g. 429=0.05 (docs/VAULT.md)\n"
	    "      --vault-limits       enforce Azure's per-vault service limits\n"
	    "      --vault-limit-scale X  multiply those limits (e.g. 0.1)\n"
	    "      --ca-file FILE       CA bundle for https:// key URIs\n"
	    "      --noise PCT          spread that marks a cell noisy (10)\n"
	    "      --until-quiet S      spend up to S seconds on more repetitions\n"
	    "                           of the cells that are not quiet (spread over\n"
	    "                           --noise or too few reps for --alpha)\n"
	    "      --alpha P            the U test level those reps must allow (0.05)\n"
	    "      --limits             measure only the machine limits\n"
	    "      --limit NAME         only the limits whose name contains NAME\n"
	    "      --io DIR             run the cells through files in DIR (an existing\n"
	    "                           directory): encrypt writes each object as\n"
	    "                           encrypt does (temp file, fsync, rename, directory\n"
	    "                           fsync), decrypt reads files back; each limit adds\n"
	    "                           the storage limit io-write-N / io-read-N measured\n"
	    "                           on DIR.  Default: in memory (docs/BENCH.md)\n"
	    "      --no-table           print no table (files only)\n"
	    "  -h, --help\n\n"
	    "compare: cells are compared on their ratio to the limit measured in\n"
	    "the same run: vs_limit_cpu (--metric cpu, the default: CPU time, so\n"
	    "time slices lost to other jobs do not count) or vs_limit (wall).\n"
	    "Per cell, a two-sided Mann-Whitney U test over the repetitions\n"
	    "(--alpha, default 0.05) and the change of the median against\n"
	    "--max-regression (default 15%%): regressed when both say so;\n"
	    "inconclusive when the repetitions are too few for the test (fewer\n"
	    "than 4 a side at 0.05) or their spread is wider than the threshold.\n"
	    "The geometric mean over all cells is judged the same way against\n"
	    "--max-geomean-regression (default 8%%, 0 = off), its test over the\n"
	    "per-repetition geometric means.  Exit 1 when a cell or the geometric\n"
	    "mean regressed; else 3 when one is inconclusive (the run could not\n"
	    "judge it); 0 otherwise; 2 on a bad file.\n");
}

/* Splits a comma-separated list in place (buf is a copy). */
static size_t
split(char *buf, char **out, size_t max)
{
	size_t n = 0;
	char *p = buf;

	while (p != NULL && *p != '\0') {
		char *c = strchr(p, ',');

		if (c != NULL)
			*c = '\0';
		if (*p != '\0') {
			if (n == max)
				return max + 1;
			out[n++] = p;
		}
		p = c ? c + 1 : NULL;
	}
	return n;
}

static int
parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	uint64_t v;

	if (cli_parse_size(s, &v) != 0 || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

/* What `atrest bench` was asked; the strings point into argv or into
 * the buffers here, so cfg is valid while this struct and argv are. */
struct bench_args {
	struct atb_config cfg;
	char keybuf[LIST_MAX * 4];
	size_t keyoff;
	int keys_set;
	const char *json, *csv, *charts;
	int limits_only, no_table, help;
	int revocation, ttl_set;
	char lists[5][LIST_MAX];
};

static int
add_key(struct bench_args *a, const char *k)
{
	if (!a->keys_set) {
		a->cfg.nkeys = 0;
		a->keys_set = 1;
	}
	if (a->cfg.nkeys == ATB_MAX_KEYS)
		return cli_usage_error("bench", "at most %u key setups",
		    ATB_MAX_KEYS);
	a->cfg.keys[a->cfg.nkeys++] = k;
	return 0;
}

static int
parse_keys(struct bench_args *a, const char *list)
{
	char *items[ATB_MAX_KEYS + 1], *copy;
	size_t n, i, len = strlen(list) + 1;

	if (a->keyoff + len > sizeof(a->keybuf))
		return cli_usage_error("bench", "--keys lists too long");
	copy = a->keybuf + a->keyoff;
	memcpy(copy, list, len);
	a->keyoff += len;
	n = split(copy, items, ATB_MAX_KEYS);
	if (n == 0 || n > ATB_MAX_KEYS)
		return cli_usage_error("bench", "--keys needs 1..%u setups",
		    ATB_MAX_KEYS);
	for (i = 0; i < n; i++)
		if (add_key(a, items[i]) != 0)
			return 2;
	return 0;
}

static int
parse_list(struct bench_args *a, int which, const char *opt,
    const char *list)
{
	struct atb_config *c = &a->cfg;
	char *items[64];
	size_t n, i;

	if (strlen(list) >= LIST_MAX)
		return cli_usage_error("bench", "%s: list too long", opt);
	memcpy(a->lists[which], list, strlen(list) + 1);
	n = split(a->lists[which], items, 63);
	if (n == 0 || n > 63)
		return cli_usage_error("bench", "%s: empty or too long list", opt);
	switch (which) {
	case 0:
		memset(c->hier, 0, sizeof(c->hier));
		for (i = 0; i < n; i++) {
			enum atb_hier h;

			if (atb_hier_parse(items[i], &h) != 0)
				return cli_usage_error("bench", "%s: unknown "
				    "hierarchy '%s' (per-object, intermediate, "
				    "cached)", opt, items[i]);
			c->hier[h] = 1;
		}
		break;
	case 1:
		memset(c->ops, 0, sizeof(c->ops));
		for (i = 0; i < n; i++) {
			enum atb_op o;

			if (atb_op_parse(items[i], &o) != 0)
				return cli_usage_error("bench", "%s: unknown "
				    "operation '%s' (encrypt, decrypt)", opt,
				    items[i]);
			c->ops[o] = 1;
		}
		break;
	case 2:
		if (n > ATB_MAX_SIZES)
			return cli_usage_error("bench", "%s: at most %u sizes",
			    opt, ATB_MAX_SIZES);
		for (i = 0; i < n; i++)
			if (parse_u64(items[i], 1, 1ULL << 30, &c->sizes[i]) != 0)
				return cli_usage_error("bench", "%s: bad size '%s' "
				    "(1 byte to 1G, e.g. 64K)", opt, items[i]);
		c->nsizes = n;
		break;
	case 3:
		if (n > ATB_MAX_THREADS)
			return cli_usage_error("bench", "%s: at most %u entries",
			    opt, ATB_MAX_THREADS);
		for (i = 0; i < n; i++) {
			uint64_t v;

			if (strcmp(items[i], "all") == 0) {
				v = atr_cpu_count();
				if (v > ATB_MAX_WORKERS)
					v = ATB_MAX_WORKERS;
			} else if (parse_u64(items[i], 1, ATB_MAX_WORKERS,
			    &v) != 0)
				return cli_usage_error("bench", "%s: bad thread "
				    "count '%s' (1..%u or all)", opt, items[i],
				    ATB_MAX_WORKERS);
			c->threads[i] = (unsigned)v;
		}
		c->nthreads = n;
		break;
	default:
		break;
	}
	return 0;
}

static void
progress_cb(void *arg, size_t done, size_t total, const char *what)
{
	(void)arg;
	/* The run ends with an empty `what`: clear the line. */
	if (what[0] == '\0') {
		fprintf(stderr, "\r\033[K");
		fflush(stderr);
		return;
	}
	fprintf(stderr, "\r\033[K[%zu/%zu] %s", done, total, what);
	fflush(stderr);
}

/* ---- atrest bench compare ------------------------------------------ */

struct compare_args {
	double pct, gpct, alpha;
	int metric;
	int help;
	const char *path[2];       /* BASE.json, NEW.json (argv's) */
};

static int
compare_parse_args(int argc, char **argv, struct compare_args *a)
{
	static const struct option opts[] = {
		{"max-regression", required_argument, NULL, 'm'},
		{"max-geomean-regression", required_argument, NULL, 'g'},
		{"metric", required_argument, NULL, 'M'},
		{"alpha", required_argument, NULL, 'a'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	a->pct = 15.0;
	a->gpct = 8.0;
	a->alpha = 0.05;
	a->metric = 1;
	optind = 1;
	while ((c = getopt_long(argc, argv, "m:g:M:a:h", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			if (cli_parse_double(optarg, 1e-9, 0.5, &a->alpha) != 0)
				return cli_usage_error("bench compare",
				    "--alpha: a significance level in (0, 0.5], "
				    "not '%s'", optarg);
			break;
		case 'm':
			if (cli_parse_double(optarg, 0, 1000, &a->pct) != 0)
				return cli_usage_error("bench compare",
				    "--max-regression: bad percentage '%s'", optarg);
			break;
		case 'g':
			if (cli_parse_double(optarg, 0, 1000, &a->gpct) != 0)
				return cli_usage_error("bench compare",
				    "--max-geomean-regression: bad percentage '%s'",
				    optarg);
			break;
		case 'M':
			a->metric = atb_metric_parse(optarg);
			if (a->metric < 0)
				return cli_usage_error("bench compare",
				    "--metric: wall, cpu, wall-best or cpu-best, "
				    "not '%s'", optarg);
			break;
		case 'h':
			a->help = 1;
			return 0;
		default:
			return cli_usage_error("bench compare", "bad option");
		}
	}
	if (argc - optind != 2)
		return cli_usage_error("bench compare",
		    "needs BASE.json and NEW.json");
	a->path[0] = argv[optind];
	a->path[1] = argv[optind + 1];
	return 0;
}

/* A results file as a NUL-terminated text (*text malloc'd, the caller
 * frees it); on error the message is printed and the exit code is
 * returned. */
static int
read_results(const char *path, char **text)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	enum atr_err err;

	*text = NULL;
	err = atr_read_small_file(path, 256U * 1024U * 1024U, 0, &buf, &len);
	if (err != ATR_OK)
		return cli_error_file(path, err);
	*text = malloc(len + 1);
	if (*text == NULL) {
		free(buf);
		return cli_error_file(path, ATR_ERR_NOMEM);
	}
	memcpy(*text, buf, len);
	(*text)[len] = '\0';
	free(buf);
	return 0;
}

/* Compares the two files and prints the table: exit 1 on a regression,
 * 3 when a cell could not be judged (and none regressed), 2 on a file
 * that is not a results document. */
static int
compare_run(const struct compare_args *a)
{
	char *text[2] = {NULL, NULL};
	struct atb_cmp cmp;
	enum atr_err err;
	int i, rc = 2;

	for (i = 0; i < 2; i++) {
		rc = read_results(a->path[i], &text[i]);
		if (rc != 0)
			goto out;
	}
	err = atb_compare(text[0], text[1], a->pct, a->gpct, a->alpha,
	    a->metric, &cmp);
	if (err == ATR_ERR_FORMAT) {
		/* Not an envelope: a results file that is not one is an
		 * input error (exit 2), named by its role and path. */
		const char *d = atr_detail();
		int is_new = strncmp(d, "new", 3) == 0;

		char q[ATR_QUOTE_BUF], e[4 * 512 + 8];

		fprintf(stderr, "atrest: bench compare: %s: %s\n",
		    atr_quote(a->path[is_new], q, sizeof(q)),
		    atr_escape(d, e, sizeof(e)));
		atr_detail_clear();
		rc = 2;
		goto out;
	}
	if (err != ATR_OK) {
		rc = cli_error("bench compare", err);
		goto out;
	}
	atb_cmp_print(stdout, &cmp);
	rc = atb_cmp_status(&cmp);
	if (cmp.regressions > 0)
		fprintf(stderr, "atrest bench compare: %zu cell(s) regressed by "
		    "more than %.1f%% (U test p < %g)\n", cmp.regressions,
		    a->pct, a->alpha);
	if (cmp.geomean_regressed)
		fprintf(stderr, "atrest bench compare: the geometric mean fell "
		    "by %.1f%% (threshold %.1f%%)\n", -cmp.geomean_change_pct,
		    a->gpct);
	if (rc == 3 && cmp.noisy + cmp.few > 0)
		fprintf(stderr, "atrest bench compare: could not judge %zu "
		    "cell(s): %zu with noise wider than %.1f%%, %zu with too "
		    "few repetitions for p < %g (at least %u a side) (exit 3)\n",
		    cmp.noisy + cmp.few, cmp.noisy, a->pct, cmp.few, a->alpha,
		    atb_utest_min_reps(a->alpha));
	if (rc == 3 && (cmp.geomean.verdict == ATB_V_NOISY ||
	    cmp.geomean.verdict == ATB_V_FEW))
		fprintf(stderr, "atrest bench compare: could not judge the "
		    "geometric mean (%+.1f%%): %s (exit 3)\n",
		    cmp.geomean_change_pct, cmp.geomean.verdict == ATB_V_FEW ?
		    "too few repetitions for the U test" : "its per-repetition "
		    "values spread wider than the threshold");
	atb_cmp_free(&cmp);
out:
	for (i = 0; i < 2; i++)
		free(text[i]);
	return rc;
}

static int
bench_compare(int argc, char **argv)
{
	struct compare_args a;
	int rc;

	memset(&a, 0, sizeof(a));
	rc = compare_parse_args(argc, argv, &a);
	if (rc != 0)
		return rc;
	if (a.help) {
		usage(stdout);
		return 0;
	}
	return compare_run(&a);
}

/* ---- atrest bench ---------------------------------------------------- */

enum {
	O_KEY = 256, O_IK_EVERY, O_IK_SECONDS, O_MAX_AGE, O_MAX_USES,
	O_MAX_BYTES, O_VAULT_LAT, O_VAULT_FAULTS, O_VAULT_LIMITS,
	O_VAULT_SCALE, O_CA, O_NOISE, O_LIMITS, O_LIMIT, O_NO_TABLE,
	O_CACHE_TTL, O_REVOCATION, O_REV_WINDOW,
	O_UNTIL_QUIET, O_ALPHA, O_IO,
};

static const struct option bench_opts[] = {
	{"keys", required_argument, NULL, 'k'},
	{"key", required_argument, NULL, O_KEY},
	{"hierarchy", required_argument, NULL, 'H'},
	{"sizes", required_argument, NULL, 's'},
	{"ops", required_argument, NULL, 'o'},
	{"threads", required_argument, NULL, 't'},
	{"time", required_argument, NULL, 'T'},
	{"reps", required_argument, NULL, 'r'},
	{"warmup", required_argument, NULL, 'w'},
	{"frame-size", required_argument, NULL, 'f'},
	{"quick", no_argument, NULL, 'q'},
	{"json", required_argument, NULL, 'j'},
	{"csv", required_argument, NULL, 'c'},
	{"charts", required_argument, NULL, 'C'},
	{"intermediate-every", required_argument, NULL, O_IK_EVERY},
	{"intermediate-seconds", required_argument, NULL, O_IK_SECONDS},
	{"cache-max-age", required_argument, NULL, O_MAX_AGE},
	{"cache-max-uses", required_argument, NULL, O_MAX_USES},
	{"cache-max-bytes", required_argument, NULL, O_MAX_BYTES},
	{"cache-ttl", required_argument, NULL, O_CACHE_TTL},
	{"revocation", no_argument, NULL, O_REVOCATION},
	{"revocation-window", required_argument, NULL, O_REV_WINDOW},
	{"vault-latency", required_argument, NULL, O_VAULT_LAT},
	{"vault-faults", required_argument, NULL, O_VAULT_FAULTS},
	{"vault-limits", no_argument, NULL, O_VAULT_LIMITS},
	{"vault-limit-scale", required_argument, NULL, O_VAULT_SCALE},
	{"ca-file", required_argument, NULL, O_CA},
	{"noise", required_argument, NULL, O_NOISE},
	{"until-quiet", required_argument, NULL, O_UNTIL_QUIET},
	{"alpha", required_argument, NULL, O_ALPHA},
	{"limits", no_argument, NULL, O_LIMITS},
	{"limit", required_argument, NULL, O_LIMIT},
	{"no-table", no_argument, NULL, O_NO_TABLE},
	{"io", required_argument, NULL, O_IO},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

/* --time, --reps, --warmup, --frame-size: how each cell is measured. */
static int
parse_timing(struct atb_config *c, int opt, const char *arg)
{
	uint64_t u;

	switch (opt) {
	case 'T':
		if (cli_parse_double(arg, 0.001, 3600, &c->seconds) != 0)
			return cli_usage_error("bench", "--time: bad seconds "
			    "'%s' (0.001..3600)", arg);
		break;
	case 'r':
		if (parse_u64(arg, 1, 100, &u) != 0)
			return cli_usage_error("bench", "--reps: 1..100");
		c->reps = (unsigned)u;
		break;
	case 'w':
		if (cli_parse_double(arg, 0, 600, &c->warmup) != 0)
			return cli_usage_error("bench", "--warmup: bad seconds "
			    "'%s'", arg);
		break;
	case 'f':
		if (parse_u64(arg, ATR_FRAME_MIN, ATR_FRAME_MAX, &u) != 0)
			return cli_usage_error("bench", "--frame-size: %u..%u",
			    ATR_FRAME_MIN, ATR_FRAME_MAX);
		c->frame_size = (uint32_t)u;
		break;
	default:
		break;
	}
	return 0;
}

/* The intermediate key's and the DEK cache's rotation policies. */
static int
parse_rotation(struct atb_config *c, int opt, const char *arg)
{
	switch (opt) {
	case O_IK_EVERY:
		if (parse_u64(arg, 0, UINT64_MAX, &c->ik_every) != 0)
			return cli_usage_error("bench",
			    "--intermediate-every: bad count '%s'", arg);
		break;
	case O_IK_SECONDS:
		if (cli_parse_double(arg, 0, 1e9, &c->ik_seconds) != 0)
			return cli_usage_error("bench",
			    "--intermediate-seconds: bad seconds '%s'", arg);
		break;
	case O_MAX_AGE:
		if (cli_parse_double(arg, 0, 1e9, &c->cache_max_age) != 0)
			return cli_usage_error("bench",
			    "--cache-max-age: bad seconds '%s'", arg);
		break;
	case O_MAX_USES:
		if (parse_u64(arg, 0, UINT64_MAX, &c->cache_max_uses) != 0)
			return cli_usage_error("bench",
			    "--cache-max-uses: bad count '%s'", arg);
		break;
	case O_MAX_BYTES:
		if (parse_u64(arg, 0, UINT64_MAX, &c->cache_max_bytes) != 0)
			return cli_usage_error("bench",
			    "--cache-max-bytes: bad size '%s'", arg);
		break;
	default:
		break;
	}
	return 0;
}

/* --cache-ttl LIST: seconds, each > 0 (an entry without a lifetime is
 * what the TTL prevents) and at most a day. */
static int
parse_cache_ttl(struct bench_args *a, const char *arg)
{
	struct atb_config *c = &a->cfg;
	char tmp[LIST_MAX], *items[ATB_MAX_TTLS + 1];
	size_t n, k;

	if (strlen(arg) >= sizeof(tmp))
		return cli_usage_error("bench", "--cache-ttl: list too long");
	memcpy(tmp, arg, strlen(arg) + 1);
	n = split(tmp, items, ATB_MAX_TTLS + 1);
	if (n == 0 || n > ATB_MAX_TTLS)
		return cli_usage_error("bench", "--cache-ttl: 1..%u values",
		    ATB_MAX_TTLS);
	for (k = 0; k < n; k++)
		if (cli_parse_double(items[k], 0.001, ATR_KCACHE_TTL_MAX_S,
		    &c->cache_ttl[k]) != 0)
			return cli_usage_error("bench", "--cache-ttl: bad "
			    "seconds '%s' (0.001..%u)", items[k],
			    ATR_KCACHE_TTL_MAX_S);
	c->ncache_ttl = n;
	a->ttl_set = 1;
	return 0;
}

/* --vault-latency LIST: one vault setup per added latency (ms). */
static int
parse_vault_latency(struct atb_config *c, const char *arg)
{
	char tmp[LIST_MAX], *items[16];
	size_t n, k;

	if (strlen(arg) >= sizeof(tmp))
		return cli_usage_error("bench", "--vault-latency: list too long");
	memcpy(tmp, arg, strlen(arg) + 1);
	n = split(tmp, items, 15);
	c->nvault_latency = 0;
	if (n == 0 || n > 15)
		return cli_usage_error("bench", "--vault-latency: 1..15 values");
	for (k = 0; k < n; k++)
		if (cli_parse_double(items[k], 0, 60000,
		    &c->vault_latency_ms[k]) != 0)
			return cli_usage_error("bench",
			    "--vault-latency: bad milliseconds '%s'", items[k]);
	c->nvault_latency = n;
	return 0;
}

/*
 * Fills a from the command line: --quick first (it sets the base that
 * every other option overrides, whatever the order), then the options
 * in order.  Returns 0 or the usage error's exit code; a->help is set
 * by -h.  The switch is the option table and reads better whole.
 */
static int
parse_args(int argc, char **argv, struct bench_args *a)
{
	struct atb_config *cfg = &a->cfg;
	int c, i, rc = 0;

	atb_config_default(cfg);
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "--quick") == 0 || strcmp(argv[i], "-q") == 0)
			atb_config_quick(cfg);
	}
	optind = 1;
	while (rc == 0 && (c = getopt_long(argc, argv,
	    "k:H:s:o:t:T:r:w:f:qj:c:C:h", bench_opts, NULL)) != -1) {
		switch (c) {
		case 'k':
			rc = parse_keys(a, optarg);
			break;
		case O_KEY:
			rc = add_key(a, optarg);
			break;
		case 'H':
			rc = parse_list(a, 0, "--hierarchy", optarg);
			break;
		case 'o':
			rc = parse_list(a, 1, "--ops", optarg);
			break;
		case 's':
			rc = parse_list(a, 2, "--sizes", optarg);
			break;
		case 't':
			rc = parse_list(a, 3, "--threads", optarg);
			break;
		case 'T':
		case 'r':
		case 'w':
		case 'f':
			rc = parse_timing(cfg, c, optarg);
			break;
		case 'q':
			break;
		case 'j':
			a->json = optarg;
			break;
		case 'c':
			a->csv = optarg;
			break;
		case 'C':
			a->charts = optarg;
			break;
		case O_IK_EVERY:
		case O_IK_SECONDS:
		case O_MAX_AGE:
		case O_MAX_USES:
		case O_MAX_BYTES:
			rc = parse_rotation(cfg, c, optarg);
			break;
		case O_VAULT_LAT:
			rc = parse_vault_latency(cfg, optarg);
			break;
		case O_VAULT_FAULTS:
			cfg->vault_faults = optarg;
			break;
		case O_VAULT_LIMITS:
			cfg->vault_limits = 1;
			break;
		case O_VAULT_SCALE:
			if (cli_parse_double(optarg, 1e-6, 1e6,
			    &cfg->vault_limit_scale) != 0)
				rc = cli_usage_error("bench", "--vault-limit-scale: "
				    "bad factor '%s'", optarg);
			break;
		case O_CA:
			cfg->key_opts.ca_file = optarg;
			break;
		case O_NOISE:
			if (cli_parse_double(optarg, 0, 1000, &cfg->noise_pct) != 0)
				rc = cli_usage_error("bench", "--noise: bad "
				    "percentage '%s'", optarg);
			break;
		case O_UNTIL_QUIET:
			if (cli_parse_double(optarg, 0, 86400,
			    &cfg->until_quiet) != 0)
				rc = cli_usage_error("bench", "--until-quiet: bad "
				    "seconds '%s' (0..86400)", optarg);
			break;
		case O_ALPHA:
			if (cli_parse_double(optarg, 1e-6, 0.5, &cfg->alpha) != 0)
				rc = cli_usage_error("bench", "--alpha: bad "
				    "level '%s' (0.000001..0.5)", optarg);
			break;
		case O_LIMITS:
			a->limits_only = 1;
			break;
		case O_LIMIT:
			cfg->limit_filter = optarg;
			break;
		case O_NO_TABLE:
			a->no_table = 1;
			break;
		case O_IO:
			cfg->io_dir = optarg;
			break;
		case O_CACHE_TTL:
			rc = parse_cache_ttl(a, optarg);
			break;
		case O_REVOCATION:
			a->revocation = 1;
			break;
		case O_REV_WINDOW:
			if (cli_parse_double(optarg, 0.1, 3600,
			    &cfg->rev_window) != 0)
				rc = cli_usage_error("bench",
				    "--revocation-window: bad seconds '%s' "
				    "(0.1..3600)", optarg);
			break;
		case 'h':
			a->help = 1;
			return 0;
		default:
			rc = cli_usage_error("bench", "bad option");
			break;
		}
	}
	if (rc == 0 && optind < argc)
		rc = cli_usage_error("bench", "unexpected argument '%s'",
		    argv[optind]);
	return rc;
}

/* The table, the environment, the targets and the warnings on tab. */
static void
print_report(FILE *tab, const struct bench_args *a,
    const struct atb_results *res)
{
	atb_print_env(tab, res);
	atb_print_limits(tab, res);
	if (!a->limits_only) {
		atb_print_table(tab, res);
		atb_print_targets(tab, res);
	}
	atb_print_warnings(tab, res);
	fprintf(tab, "run: %.1f s wall, %.1f s CPU\n", res->wall_s,
	    res->cpu_s);
}

/* The files asked for; returns the exit code of the last that failed
 * (0 when none did).  A charts note goes to tab. */
static int
write_files(FILE *tab, const struct bench_args *a,
    const struct atb_results *res)
{
	enum atr_err err;
	int rc = 0;

	if (a->json != NULL) {
		err = atb_write_json(res, a->json);
		if (err != ATR_OK)
			rc = cli_error_file(a->json, err);
	}
	if (a->csv != NULL) {
		err = atb_write_csv(res, a->csv);
		if (err != ATR_OK)
			rc = cli_error_file(a->csv, err);
	}
	if (a->charts != NULL && !a->limits_only) {
		char note[512];
		int drawn;

		err = atb_write_charts(res, a->charts, &drawn, note, sizeof(note));
		if (err != ATR_OK)
			rc = cli_error_file(a->charts, err);
		else
			fprintf(tab, "%s: %s\n", drawn ? "charts" : "note", note);
	}
	return rc;
}

/* --revocation: the revocation table (text, and JSON with --json). */
static int
bench_revocation(struct bench_args *a)
{
	struct atb_rev_results *res;
	enum atr_err err;
	FILE *tab;
	int rc = 0;

	if (a->limits_only || a->csv != NULL || a->charts != NULL ||
	    a->cfg.io_dir != NULL)
		return cli_usage_error("bench", "--revocation: no --limits, "
		    "--csv, --charts or --io");
	if (!a->ttl_set) {
		/* Short TTLs, so the default run ends in about a minute. */
		a->cfg.cache_ttl[0] = 2;
		a->cfg.cache_ttl[1] = 10;
		a->cfg.ncache_ttl = 2;
	}
	res = calloc(1, sizeof(*res));
	if (res == NULL)
		return cli_error("bench", ATR_ERR_NOMEM);
	if (cli_stderr_tty())
		a->cfg.progress = progress_cb;
	tab = a->json && strcmp(a->json, "-") == 0 ? stderr : stdout;
	err = atb_run_revocation(&a->cfg, res);
	if (err != ATR_OK) {
		free(res);
		return cli_error("bench", err);
	}
	if (!a->no_table)
		atb_rev_print(tab, res);
	if (a->json != NULL) {
		err = atb_rev_write_json(res, a->json);
		if (err != ATR_OK)
			rc = cli_error_file(a->json, err);
	}
	free(res);
	return rc;
}

/*
 * --io: SIGINT, SIGTERM and SIGHUP are held (blocked in every thread,
 * which all inherit the mask) while the run has files in DIR; the run
 * asks io_stop between repetitions and, when one is pending, ends
 * through its clean-up, which leaves DIR as it was.  The signal is then
 * taken and the exit status is 128 + its number, as a shell reports.
 */
static int
io_stop(void *arg)
{
	(void)arg;
	return cli_stop_pending();
}

/* Takes a pending held signal (0: none) and restores the mask. */
static int
io_release(const sigset_t *old)
{
	int sig = cli_stop_take();

	pthread_sigmask(SIG_SETMASK, old, NULL);
	return sig;
}

/* Runs the matrix (or only the limits) and reports it. */
static int
bench_run(struct bench_args *a)
{
	struct atb_results *res = NULL;
	sigset_t held, old;
	enum atr_err err;
	FILE *tab;
	int rc, sig = 0;

	if (cli_stderr_tty()) {
		a->cfg.progress = progress_cb;
		a->cfg.progress_arg = NULL;
	}
	/* JSON or CSV on stdout: the table goes to stderr. */
	tab = (a->json && strcmp(a->json, "-") == 0) ||
	    (a->csv && strcmp(a->csv, "-") == 0) ? stderr : stdout;
	if (a->cfg.io_dir != NULL) {
		cli_stop_sigset(&held);
		pthread_sigmask(SIG_BLOCK, &held, &old);
		a->cfg.stop = io_stop;
	}
	if (a->limits_only)
		err = atb_run_limits(&a->cfg, &res);
	else
		err = atb_run(&a->cfg, &res);
	if (a->cfg.io_dir != NULL)
		sig = io_release(&old);
	if (sig != 0) {
		if (a->cfg.progress != NULL)
			progress_cb(NULL, 0, 0, "");
		atr_detail_clear();
		atb_results_free(res);
		fprintf(stderr, "atrest: bench: interrupted (%s); the run's "
		    "files in --io DIR were removed\n", strsignal(sig));
		return 128 + sig;
	}
	if (err != ATR_OK) {
		if (a->cfg.progress != NULL)
			progress_cb(NULL, 0, 0, "");
		return cli_error("bench", err);
	}
	if (!a->no_table)
		print_report(tab, a, res);
	rc = write_files(tab, a, res);
	atb_results_free(res);
	return rc;
}

int
cmd_bench(int argc, char **argv)
{
	struct bench_args *a;
	int rc;

	if (argc >= 2 && strcmp(argv[1], "compare") == 0)
		return bench_compare(argc - 1, argv + 1);
	a = calloc(1, sizeof(*a));
	if (a == NULL)
		return cli_error("bench", ATR_ERR_NOMEM);
	rc = parse_args(argc, argv, a);
	if (rc == 0 && a->help)
		usage(stdout);
	else if (rc == 0 && a->revocation)
		rc = bench_revocation(a);
	else if (rc == 0)
		rc = bench_run(a);
	free(a);
	return rc;
}
