/*
 * atrest rewrap --from URI --to URI [--add URI] [--remove URI] [--key URI] STORE...
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "common.h"
#include "rewrap.h"
#include "walk.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: atrest rewrap [--from URI --to URI] [--add URI] [--remove URI]\n"
	    "                     [--key URI] [-q] STORE...\n\n"
	    "Replaces recipients of every object in each STORE (a file or a directory,\n"
	    "walked recursively) without re-encrypting its data: the body is copied\n"
	    "byte for byte and only the header changes.  Each object is replaced\n"
	    "atomically (temporary file, fsync, rename, directory fsync), so after a\n"
	    "crash every object opens with the old or the new key; running the same\n"
	    "command again finishes the job, skips objects already done and removes\n"
	    "temporary files a killed run left (do not run two rewraps on one store\n"
	    "at once).\n\n"
	    "  --from URI     key to replace (must be able to unwrap)\n"
	    "  --to URI       key that replaces it (only needs to wrap)\n"
	    "  --add URI      add a recipient (repeatable)\n"
	    "  --remove URI   drop a recipient (repeatable)\n"
	    "  --key URI      another key that may open the objects (repeatable)\n"
	    "  -q, --quiet    no per-file lines\n"
	    "  -h, --help\n\n"
	    "exit status: 0 all done or skipped, 1 an object failed authentication or\n"
	    "no given key opens it, 2 usage, configuration or I/O error\n");
}

struct rw {
	struct atr_rewrap_spec spec;
	unsigned done, skipped, failed, stale;
	int rc, quiet;
};

static enum atr_err
rw_cb(const char *path, const char *rel, enum atr_walk_type type,
    const struct stat *st, void *arg)
{
	struct rw *r = arg;
	enum atr_err err;
	const char *base;
	int changed = 0, code;

	(void)rel;
	(void)st;
	if (type == ATR_WALK_DIR)
		return ATR_OK;
	if (type != ATR_WALK_FILE) {
		cli_warn("%s: skipped (not a regular file)", path);
		return ATR_OK;
	}
	/* A temporary file of a run that was killed: never an object (the
	 * rename is what publishes one), so it is removed, not rewrapped.
	 * Two rewraps must not run on one store at the same time. */
	base = strrchr(path, '/');
	base = base ? base + 1 : path;
	if (strncmp(base, ".atrest-tmp-", 12) == 0) {
		if (unlink(path) == 0)
			r->stale++;
		return ATR_OK;
	}
	atr_detail_clear();
	err = atr_rewrap_file(path, &r->spec, &changed);
	if (err != ATR_OK) {
		code = cli_error(path, err);
		if (code > r->rc)
			r->rc = code;
		r->failed++;
		return ATR_OK;
	}
	if (changed) {
		r->done++;
		if (!r->quiet)
			printf("rewrapped %s\n", path);
	} else {
		r->skipped++;
	}
	return ATR_OK;
}

int
cmd_rewrap(int argc, char **argv)
{
	static const struct option opts[] = {
		{"from", required_argument, NULL, 'F'},
		{"to", required_argument, NULL, 'T'},
		{"add", required_argument, NULL, 'a'},
		{"remove", required_argument, NULL, 'r'},
		{"key", required_argument, NULL, 'k'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct cli_keys from = {0}, to = {0}, add = {0}, rem = {0}, keys = {0};
	struct atr_key *open[2 * ATR_MAX_STANZAS], *remove[2 * ATR_MAX_STANZAS];
	struct atr_key *addk[2 * ATR_MAX_STANZAS];
	struct rw r;
	size_t i;
	int c, rc, a;

	memset(&r, 0, sizeof(r));
	optind = 1;
	while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
		switch (c) {
		case 'F':
			if (from.n > 0 || cli_keys_add("rewrap", &from, optarg))
				return cli_usage_error("rewrap", "one --from");
			break;
		case 'T':
			if (to.n > 0 || cli_keys_add("rewrap", &to, optarg))
				return cli_usage_error("rewrap", "one --to");
			break;
		case 'a':
			if (cli_keys_add("rewrap", &add, optarg))
				return 2;
			break;
		case 'r':
			if (cli_keys_add("rewrap", &rem, optarg))
				return 2;
			break;
		case 'k':
			if (cli_keys_add("rewrap", &keys, optarg))
				return 2;
			break;
		case 'q':
			r.quiet = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			return cli_usage_error("rewrap", "bad option");
		}
	}
	if ((from.n > 0) != (to.n > 0))
		return cli_usage_error("rewrap", "--from and --to go together");
	if (to.n + add.n + rem.n == 0)
		return cli_usage_error("rewrap", "nothing to do: give --from/--to, --add or --remove");
	if (from.n + keys.n == 0)
		return cli_usage_error("rewrap",
		    "a key that opens the objects is needed: --from or --key");
	if (optind >= argc)
		return cli_usage_error("rewrap", "at least one STORE is required");
	rc = cli_keys_open(&from);
	if (rc == 0)
		rc = cli_keys_open(&to);
	if (rc == 0)
		rc = cli_keys_open(&add);
	if (rc == 0)
		rc = cli_keys_open(&rem);
	if (rc == 0)
		rc = cli_keys_open(&keys);
	if (rc != 0)
		goto out;
	for (i = 0; i < from.n; i++) {
		open[r.spec.nopen++] = from.k[i];
		remove[r.spec.nremove++] = from.k[i];
	}
	for (i = 0; i < keys.n; i++)
		open[r.spec.nopen++] = keys.k[i];
	for (i = 0; i < rem.n; i++)
		remove[r.spec.nremove++] = rem.k[i];
	for (i = 0; i < to.n; i++)
		addk[r.spec.nadd++] = to.k[i];
	for (i = 0; i < add.n; i++)
		addk[r.spec.nadd++] = add.k[i];
	r.spec.open = open;
	r.spec.remove = remove;
	r.spec.add = addk;
	for (a = optind; a < argc; a++) {
		enum atr_err err = atr_walk(argv[a], rw_cb, &r);

		if (err != ATR_OK) {
			int code = cli_error(argv[a], err);

			if (code > r.rc)
				r.rc = code;
		}
	}
	fprintf(stderr, "atrest rewrap: %u rewrapped, %u skipped (already done), %u failed",
	    r.done, r.skipped, r.failed);
	if (r.stale > 0)
		fprintf(stderr, "; removed %u temporary file(s) of an interrupted run",
		    r.stale);
	fputc('\n', stderr);
	rc = r.rc;
out:
	cli_keys_free(&from);
	cli_keys_free(&to);
	cli_keys_free(&add);
	cli_keys_free(&rem);
	cli_keys_free(&keys);
	return rc;
}
