/*
 * atrest bench [OPTIONS]
 * atrest bench compare BASE.json NEW.json [--max-regression PCT]
 *
 * Argument parsing and printing only; the measuring is bench/ (bench.h).
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "cli.h"
#include "common.h"
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
	    "                            [--metric cpu|wall|cpu-best|wall-best]\n\n"
	    "Measures envelope encryption with customer-managed keys (CMK) against\n"
	    "service-managed keys (SMK), next to the machine's own limits measured\n"
	    "in the same run (raw AES-256-GCM, RSA, AES-KWP).  With no options it\n"
	    "runs an embedded matrix in about a minute on ephemeral keys.\n"
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
	    "  -r, --reps N             repetitions per cell, interleaved (3)\n"
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
	    "      --vault-latency LIST added loopback vault latency in ms, one vault\n"
	    "                           setup per value, e.g. 0,5,20,100\n"
	    "      --vault-faults SPEC  more vault faults, e.g. 429=0.05 (docs/VAULT.md)\n"
	    "      --vault-limits       enforce Azure's per-vault service limits\n"
	    "      --vault-limit-scale X  multiply those limits (e.g. 0.1)\n"
	    "      --ca-file FILE       CA bundle for https:// key URIs\n"
	    "      --noise PCT          spread that marks a cell noisy (10)\n"
	    "      --limits             measure only the machine limits\n"
	    "      --limit NAME         only the limits whose name contains NAME\n"
	    "      --no-table           print no table (files only)\n"
	    "  -h, --help\n\n"
	    "compare: cells are compared on their ratio to the limit measured in\n"
	    "the same run: vs_limit_cpu (--metric cpu, the default: CPU time, so\n"
	    "time slices lost to other jobs do not count) or vs_limit (wall).\n"
	    "Exit 1 when a cell's best repetition fell more than\n"
	    "--max-regression (default 15%%) below the base median, or the\n"
	    "geometric mean over all cells fell more than\n"
	    "--max-geomean-regression (default 8%%, 0 = off); 0 otherwise; 2 on\n"
	    "a bad file.\n");
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
parse_double(const char *s, double lo, double hi, double *out)
{
	char *end = NULL;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || isnan(v) || v < lo ||
	    v > hi)
		return -1;
	*out = v;
	return 0;
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

struct bench_args {
	struct atb_config cfg;
	char keybuf[LIST_MAX * 4];
	size_t keyoff;
	int keys_set;
	const char *json, *csv, *charts;
	int limits_only, no_table;
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

static int
bench_compare(int argc, char **argv)
{
	static const struct option opts[] = {
		{"max-regression", required_argument, NULL, 'm'},
		{"max-geomean-regression", required_argument, NULL, 'g'},
		{"metric", required_argument, NULL, 'M'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	double pct = 15.0, gpct = 8.0;
	unsigned char *buf[2] = {NULL, NULL};
	char *text[2] = {NULL, NULL};
	size_t len[2] = {0, 0};
	struct atb_cmp cmp;
	enum atr_err err;
	int c, i, rc = 2, cpu = 1;

	optind = 1;
	while ((c = getopt_long(argc, argv, "m:g:M:h", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			if (parse_double(optarg, 0, 1000, &pct) != 0)
				return cli_usage_error("bench compare",
				    "--max-regression: bad percentage '%s'", optarg);
			break;
		case 'g':
			if (parse_double(optarg, 0, 1000, &gpct) != 0)
				return cli_usage_error("bench compare",
				    "--max-geomean-regression: bad percentage '%s'",
				    optarg);
			break;
		case 'M':
			cpu = atb_metric_parse(optarg);
			if (cpu < 0)
				return cli_usage_error("bench compare",
				    "--metric: wall, cpu, wall-best or cpu-best, "
				    "not '%s'", optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			return cli_usage_error("bench compare", "bad option");
		}
	}
	if (argc - optind != 2)
		return cli_usage_error("bench compare",
		    "needs BASE.json and NEW.json");
	for (i = 0; i < 2; i++) {
		err = atr_read_small_file(argv[optind + i], 256U * 1024U * 1024U,
		    0, &buf[i], &len[i]);
		if (err != ATR_OK) {
			rc = cli_error_file(argv[optind + i], err);
			goto out;
		}
		text[i] = malloc(len[i] + 1);
		if (text[i] == NULL) {
			rc = cli_error_file(argv[optind + i], ATR_ERR_NOMEM);
			goto out;
		}
		memcpy(text[i], buf[i], len[i]);
		text[i][len[i]] = '\0';
	}
	err = atb_compare(text[0], text[1], pct, gpct, cpu, &cmp);
	if (err == ATR_ERR_FORMAT) {
		/* Not an envelope: a results file that is not one is an
		 * input error (exit 2), named by its role and path. */
		const char *d = atr_detail();
		int is_new = strncmp(d, "new", 3) == 0;

		char q[ATR_QUOTE_BUF], e[4 * 512 + 8];

		fprintf(stderr, "atrest: bench compare: %s: %s\n",
		    atr_quote(argv[optind + is_new], q, sizeof(q)),
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
	rc = cmp.regressions > 0 || cmp.geomean_regressed ? 1 : 0;
	if (cmp.regressions > 0)
		fprintf(stderr, "atrest bench compare: %zu cell(s) regressed by "
		    "more than %.1f%%\n", cmp.regressions, pct);
	if (cmp.geomean_regressed)
		fprintf(stderr, "atrest bench compare: the geometric mean fell "
		    "by %.1f%% (threshold %.1f%%)\n", -cmp.geomean_change_pct,
		    gpct);
	atb_cmp_free(&cmp);
out:
	for (i = 0; i < 2; i++) {
		free(buf[i]);
		free(text[i]);
	}
	return rc;
}

int
cmd_bench(int argc, char **argv)
{
	enum {
		O_KEY = 256, O_IK_EVERY, O_IK_SECONDS, O_MAX_AGE, O_MAX_USES,
		O_MAX_BYTES, O_VAULT_LAT, O_VAULT_FAULTS, O_VAULT_LIMITS,
		O_VAULT_SCALE, O_CA, O_NOISE, O_LIMITS, O_LIMIT, O_NO_TABLE,
	};
	static const struct option opts[] = {
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
		{"vault-latency", required_argument, NULL, O_VAULT_LAT},
		{"vault-faults", required_argument, NULL, O_VAULT_FAULTS},
		{"vault-limits", no_argument, NULL, O_VAULT_LIMITS},
		{"vault-limit-scale", required_argument, NULL, O_VAULT_SCALE},
		{"ca-file", required_argument, NULL, O_CA},
		{"noise", required_argument, NULL, O_NOISE},
		{"limits", no_argument, NULL, O_LIMITS},
		{"limit", required_argument, NULL, O_LIMIT},
		{"no-table", no_argument, NULL, O_NO_TABLE},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	static const char *shortopts = "k:H:s:o:t:T:r:w:f:qj:c:C:h";
	struct bench_args *a;
	struct atb_results *res = NULL;
	enum atr_err err;
	FILE *tab;
	uint64_t u;
	double d;
	int c, i, rc = 0;

	if (argc >= 2 && strcmp(argv[1], "compare") == 0)
		return bench_compare(argc - 1, argv + 1);
	a = calloc(1, sizeof(*a));
	if (a == NULL)
		return cli_error("bench", ATR_ERR_NOMEM);
	atb_config_default(&a->cfg);
	/* --quick sets the base; every other option overrides it,
	 * whatever the order. */
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "--quick") == 0 || strcmp(argv[i], "-q") == 0)
			atb_config_quick(&a->cfg);
	}
	optind = 1;
	while ((c = getopt_long(argc, argv, shortopts, opts, NULL)) != -1) {
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
			if (parse_double(optarg, 0.001, 3600, &a->cfg.seconds) != 0)
				rc = cli_usage_error("bench", "--time: bad seconds "
				    "'%s' (0.001..3600)", optarg);
			break;
		case 'r':
			if (parse_u64(optarg, 1, 100, &u) != 0)
				rc = cli_usage_error("bench", "--reps: 1..100");
			else
				a->cfg.reps = (unsigned)u;
			break;
		case 'w':
			if (parse_double(optarg, 0, 600, &a->cfg.warmup) != 0)
				rc = cli_usage_error("bench", "--warmup: bad seconds "
				    "'%s'", optarg);
			break;
		case 'f':
			if (parse_u64(optarg, ATR_FRAME_MIN, ATR_FRAME_MAX, &u) != 0)
				rc = cli_usage_error("bench", "--frame-size: %u..%u",
				    ATR_FRAME_MIN, ATR_FRAME_MAX);
			else
				a->cfg.frame_size = (uint32_t)u;
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
			if (parse_u64(optarg, 0, UINT64_MAX, &a->cfg.ik_every) != 0)
				rc = cli_usage_error("bench",
				    "--intermediate-every: bad count '%s'", optarg);
			break;
		case O_IK_SECONDS:
			if (parse_double(optarg, 0, 1e9, &a->cfg.ik_seconds) != 0)
				rc = cli_usage_error("bench",
				    "--intermediate-seconds: bad seconds '%s'",
				    optarg);
			break;
		case O_MAX_AGE:
			if (parse_double(optarg, 0, 1e9, &a->cfg.cache_max_age) != 0)
				rc = cli_usage_error("bench",
				    "--cache-max-age: bad seconds '%s'", optarg);
			break;
		case O_MAX_USES:
			if (parse_u64(optarg, 0, UINT64_MAX,
			    &a->cfg.cache_max_uses) != 0)
				rc = cli_usage_error("bench",
				    "--cache-max-uses: bad count '%s'", optarg);
			break;
		case O_MAX_BYTES:
			if (parse_u64(optarg, 0, UINT64_MAX,
			    &a->cfg.cache_max_bytes) != 0)
				rc = cli_usage_error("bench",
				    "--cache-max-bytes: bad size '%s'", optarg);
			break;
		case O_VAULT_LAT: {
			char tmp[LIST_MAX], *items[16];
			size_t n, k;

			if (strlen(optarg) >= sizeof(tmp)) {
				rc = cli_usage_error("bench", "--vault-latency: "
				    "list too long");
				break;
			}
			memcpy(tmp, optarg, strlen(optarg) + 1);
			n = split(tmp, items, 15);
			if (n == 0 || n > 15)
				rc = cli_usage_error("bench", "--vault-latency: "
				    "1..15 values");
			for (k = 0; rc == 0 && k < n; k++) {
				if (parse_double(items[k], 0, 60000, &d) != 0)
					rc = cli_usage_error("bench",
					    "--vault-latency: bad milliseconds '%s'",
					    items[k]);
				a->cfg.vault_latency_ms[k] = d;
			}
			a->cfg.nvault_latency = rc == 0 ? n : 0;
			break;
		}
		case O_VAULT_FAULTS:
			a->cfg.vault_faults = optarg;
			break;
		case O_VAULT_LIMITS:
			a->cfg.vault_limits = 1;
			break;
		case O_VAULT_SCALE:
			if (parse_double(optarg, 1e-6, 1e6,
			    &a->cfg.vault_limit_scale) != 0)
				rc = cli_usage_error("bench", "--vault-limit-scale: "
				    "bad factor '%s'", optarg);
			break;
		case O_CA:
			a->cfg.key_opts.ca_file = optarg;
			break;
		case O_NOISE:
			if (parse_double(optarg, 0, 1000, &a->cfg.noise_pct) != 0)
				rc = cli_usage_error("bench", "--noise: bad "
				    "percentage '%s'", optarg);
			break;
		case O_LIMITS:
			a->limits_only = 1;
			break;
		case O_LIMIT:
			a->cfg.limit_filter = optarg;
			break;
		case O_NO_TABLE:
			a->no_table = 1;
			break;
		case 'h':
			usage(stdout);
			free(a);
			return 0;
		default:
			rc = cli_usage_error("bench", "bad option");
			break;
		}
		if (rc != 0) {
			free(a);
			return rc;
		}
	}
	if (optind < argc) {
		rc = cli_usage_error("bench", "unexpected argument '%s'",
		    argv[optind]);
		free(a);
		return rc;
	}
	if (cli_stderr_tty()) {
		a->cfg.progress = progress_cb;
		a->cfg.progress_arg = NULL;
	}
	/* JSON or CSV on stdout: the table goes to stderr. */
	tab = (a->json && strcmp(a->json, "-") == 0) ||
	    (a->csv && strcmp(a->csv, "-") == 0) ? stderr : stdout;
	if (a->limits_only)
		err = atb_run_limits(&a->cfg, &res);
	else
		err = atb_run(&a->cfg, &res);
	if (err != ATR_OK) {
		if (a->cfg.progress != NULL)
			progress_cb(NULL, 0, 0, "");
		rc = cli_error("bench", err);
		free(a);
		return rc;
	}
	if (!a->no_table) {
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
	atb_results_free(res);
	free(a);
	return rc;
}
