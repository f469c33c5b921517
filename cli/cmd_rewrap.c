/*
 * atrest rewrap --from URI --to URI [--add URI] [--remove URI] [--key URI]
 *               [--break-hardlinks] STORE...
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "common.h"
#include "quote.h"
#include "rewrap.h"
#include "walk.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: atrest rewrap [--from URI --to URI] [--add URI] [--remove URI]\n"
	    "                     [--key URI] [--break-hardlinks] [-q] STORE...\n\n"
	    "Replaces recipients of every object in each STORE (a file or a directory,\n"
	    "walked recursively) without re-encrypting its data: the body is copied\n"
	    "byte for byte and only the header changes.  Each object is replaced\n"
	    "atomically (temporary file, fsync, rename, directory fsync) by a file\n"
	    "with its owner, group, mode and extended attributes (ACLs included), or\n"
	    "not at all; after a crash every object opens with the old or the new\n"
	    "key.  Running the same command again finishes the job and removes the\n"
	    "temporary files a killed run left (do not run two rewraps on one store\n"
	    "at once).  An object is reported as already done only when its header\n"
	    "authenticates with a key this command holds: to resume a rewrap whose\n"
	    "--to is a public key, also give the new private key with --key.\n\n"
	    "  --from URI        key to replace (must be able to unwrap)\n"
	    "  --to URI          key that replaces it (only needs to wrap)\n"
	    "  --add URI         add a recipient (repeatable)\n"
	    "  --remove URI      drop a recipient (repeatable)\n"
	    "  --key URI         another key that may open the objects (repeatable)\n"
	    "  --break-hardlinks rewrap an object with several hard links under the\n"
	    "                    name found; its other names keep the old file\n"
	    "                    (default: report it and leave it as it is)\n"
	    "  -q, --quiet       no per-file lines and notes\n"
	    "  -h, --help\n\n"
	    "exit status: 0 all done or already done, 1 an object failed\n"
	    "authentication, no given key opens it or its header could not be\n"
	    "authenticated, 2 usage, configuration or I/O error, an owner,\n"
	    "mode or attribute that could not be kept, or a hard-linked\n"
	    "object left as it was\n");
}

struct rw {
	struct atr_rewrap_spec spec;
	unsigned done, skipped, failed, linked, stale, kept, unverified;
	unsigned flags;
	int rc, quiet;
};

static void
worst(struct rw *r, int code)
{
	if (code > r->rc)
		r->rc = code;
}

/* A name of the form atrest's writers give their temporary files: never
 * an object.  Only a temporary file of an interrupted rewrap is removed
 * (core/rewrap.h says how it is recognised); another writer's, or a
 * user's file that happens to have such a name, is left alone. */
static void
tmp_entry(struct rw *r, const struct atr_walk_ent *e, const char *qpath)
{
	enum atr_err err;
	char why[ATR_QUOTE_BUF];
	int removed = 0;

	atr_detail_clear();
	if (e->depth == 0)
		err = atr_rewrap_tmp_clean(e->path, &removed);
	else
		err = atr_rewrap_tmp_cleanat(e->dirfd, e->name, &removed);
	if (err != ATR_OK) {
		worst(r, cli_error_file(e->path, err));
		r->failed++;
	} else if (removed) {
		r->stale++;
	} else {
		r->kept++;
		if (!r->quiet)
			fprintf(stderr, "atrest: note: %s: left alone: %s\n",
			    qpath, atr_escape(atr_detail(), why, sizeof(why)));
	}
	atr_detail_clear();
}

/* Every object is opened through the walk's directory descriptor
 * (core/walk.h): a store directory swapped for a symbolic link while the
 * rewrap runs is not followed, so nothing outside the store is read,
 * replaced or removed. */
static enum atr_err
rw_cb(struct atr_walk_ent *e, void *arg)
{
	struct rw *r = arg;
	struct atr_rewrap_result res;
	enum atr_err err;
	char q[ATR_QUOTE_BUF], why[ATR_QUOTE_BUF];
	const char *base;

	if (e->type == ATR_WALK_DIR)
		return ATR_OK;
	atr_quote(e->path, q, sizeof(q));
	if (e->type != ATR_WALK_FILE) {
		cli_warn("%s: skipped (not a regular file)", q);
		return ATR_OK;
	}
	base = strrchr(e->path, '/');
	base = base ? base + 1 : e->path;
	if (atr_rewrap_tmp_reserved(base)) {
		tmp_entry(r, e, q);
		return ATR_OK;
	}
	atr_detail_clear();
	if (e->depth == 0)
		err = atr_rewrap_file(e->path, &r->spec, r->flags, &res);
	else
		err = atr_rewrap_fileat(e->dirfd, e->name, &r->spec, r->flags,
		    &res);
	if (err != ATR_OK) {
		if (res.outcome == ATR_REWRAP_UNVERIFIED) {
			/* Its stanzas look done, but nothing proves it. */
			fprintf(stderr, "atrest: %s: %s\n", q,
			    atr_escape(atr_detail(), why, sizeof(why)));
			atr_detail_clear();
			worst(r, atr_exit_code(err));
			r->unverified++;
		} else {
			worst(r, cli_error_file(e->path, err));
		}
		r->failed++;
		return ATR_OK;
	}
	switch (res.outcome) {
	case ATR_REWRAP_REPLACED:
		r->done++;
		if (r->quiet)
			break;
		if (res.nlink > 1)
			printf("rewrapped %s (hard link broken: it had %lu "
			    "links)\n", q, res.nlink);
		else
			printf("rewrapped %s\n", q);
		break;
	case ATR_REWRAP_HARDLINKED:
		/* Not done: the old key still opens it, so the run must not
		 * look complete (exit 2). */
		r->linked++;
		worst(r, 2);
		fprintf(stderr, "atrest: %s: hard-linked (%lu links), skipped "
		    "(--break-hardlinks rewraps this name alone)\n", q,
		    res.nlink);
		break;
	default:
		r->skipped++;
		break;
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
		{"break-hardlinks", no_argument, NULL, 'B'},
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
		case 'B':
			r.flags |= ATR_REWRAP_BREAK_HARDLINKS;
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
		enum atr_err err = atr_walkat(argv[a], rw_cb, &r);

		if (err != ATR_OK)
			worst(&r, cli_error_file(argv[a], err));
	}
	fprintf(stderr, "atrest rewrap: %u rewrapped, %u skipped (already done), %u failed",
	    r.done, r.skipped, r.failed);
	if (r.linked > 0)
		fprintf(stderr, ", %u hard-linked left as they were", r.linked);
	if (r.stale > 0)
		fprintf(stderr, "; removed %u temporary file(s) of an "
		    "interrupted run", r.stale);
	if (r.kept > 0)
		fprintf(stderr, "; left %u other temporary file(s) alone",
		    r.kept);
	fputc('\n', stderr);
	if (r.unverified > 0)
		fprintf(stderr, "atrest rewrap: %u object(s) name the new "
		    "recipients but no key given can authenticate them; give "
		    "one that can (e.g. the private key of --to) with --key\n",
		    r.unverified);
	rc = r.rc;
out:
	cli_keys_free(&from);
	cli_keys_free(&to);
	cli_keys_free(&add);
	cli_keys_free(&rem);
	cli_keys_free(&keys);
	return rc;
}
