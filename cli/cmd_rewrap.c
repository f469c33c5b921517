/*
 * atrest rewrap --from URI --to URI [--add URI] [--remove URI] [--key URI]
 *               [--break-hardlinks] STORE...
 */
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "common.h"
#include "outbatch.h"
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
	    "atomically (temporary file made durable, then renamed over it; in a\n"
	    "directory, up to 1,024 at a time after one syncfs, each directory\n"
	    "fsynced once: docs/DURABILITY.md) by a file with its owner, group,\n"
	    "mode and extended attributes (ACLs included), or not at all; after a\n"
	    "crash every object opens with the old or the new key; exit 0 means\n"
	    "every replacement is durable.  SIGINT/SIGTERM/SIGHUP stop the run\n"
	    "between objects, with no temporary file left.\n"
	    "Running the same command again finishes the job and removes the\n"
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

/* What the command line asked for. */
struct rw_args {
	struct cli_keys from, to, add, rem, keys;
	unsigned flags;     /* ATR_REWRAP_* */
	int quiet;
	int first;          /* argv index of the first STORE */
};

/* The run: the spec (its key lists point into the arrays here, which
 * borrow the keys of a struct rw_args) and the counts for the summary. */
struct rw {
	struct atr_rewrap_spec spec;
	struct atr_key *open[2 * ATR_MAX_STANZAS];
	struct atr_key *remove[2 * ATR_MAX_STANZAS];
	struct atr_key *add[2 * ATR_MAX_STANZAS];
	unsigned done, skipped, failed, linked, stale, kept, unverified;
	unsigned flags;
	int rc, quiet;
	/* The key service refused the credential: the run stops there. */
	int halted;
	/* SIGINT, SIGTERM or SIGHUP is pending: the run stops there. */
	int interrupted;
	/* The STORE's batch (core/outbatch.h), NULL for a single file. */
	struct atr_outbatch *batch;
};

/* What waits in the batch for an object: its shown path and link count
 * (the messages of rw_cb). */
struct rw_tag {
	unsigned long nlink;
	char path[];
};

static void
worst(struct rw *r, int code)
{
	if (code > r->rc)
		r->rc = code;
}

/* A rewrap holds the stop signals (cli_stop_sigset) and checks them
 * between objects. */
static int
rw_interrupted(struct rw *r)
{
	if (!r->interrupted && cli_stop_pending())
		r->interrupted = 1;
	return r->interrupted;
}

/* "rewrapped PATH", once the object's replacement is durable. */
static void
rw_replaced(struct rw *r, const char *q, unsigned long nlink)
{
	r->done++;
	if (r->quiet)
		return;
	if (nlink > 1)
		printf("rewrapped %s (hard link broken: it had %lu links)\n", q,
		    nlink);
	else
		printf("rewrapped %s\n", q);
}

/* The batch's word on an object (core/outbatch.h). */
static void
rw_done(void *tag, enum atr_err err, void *arg)
{
	struct rw *r = arg;
	struct rw_tag *t = tag;
	char q[ATR_QUOTE_BUF];

	if (err == ATR_OK) {
		rw_replaced(r, atr_quote(t->path, q, sizeof(q)), t->nlink);
	} else if (!r->interrupted) {
		worst(r, cli_error_file(t->path, err));
		r->failed++;
	}
	free(t);
}

/* Rewraps e through the STORE's batch; ATR_REWRAP_QUEUED when it waits
 * there (rw_done then reports it). */
static enum atr_err
rw_object(struct rw *r, const struct atr_walk_ent *e,
    struct atr_rewrap_result *res)
{
	struct rw_tag *t;
	enum atr_err err;
	size_t n;

	if (e->depth == 0 || r->batch == NULL)
		return e->depth == 0 ?
		    atr_rewrap_file(e->path, &r->spec, r->flags, res) :
		    atr_rewrap_fileat(e->dirfd, e->name, &r->spec, r->flags,
		    res);
	n = strlen(e->path) + 1;
	t = malloc(sizeof(*t) + n);
	if (t == NULL) {
		res->outcome = ATR_REWRAP_ALREADY_DONE;
		res->nlink = 0;
		return ATR_ERR_NOMEM;
	}
	memcpy(t->path, e->path, n);
	/* Filled before the call: once queued, t is the batch's, and the
	 * batch may flush (rw_done frees t) before the call returns.  The
	 * walk's link count, for the message only. */
	t->nlink = e->st != NULL ? (unsigned long)e->st->st_nlink : 1;
	err = atr_rewrap_fileat_batch(e->dirfd, e->name, &r->spec, r->flags,
	    r->batch, t, res);
	if (err != ATR_OK || res->outcome != ATR_REWRAP_QUEUED)
		free(t);
	return err;
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

	if (rw_interrupted(r))
		return atr_fail(ATR_ERR_IO, "interrupted");
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
	err = rw_object(r, e, &res);
	if (err == ATR_ERR_UNAUTHORIZED) {
		/* A credential that failed fails every later object the same
		 * way: said once, and the walk stops.  The object was left as
		 * it was (core/rewrap.h); the ones done stay done. */
		worst(r, cli_error_file(e->path, err));
		r->failed++;
		r->halted = 1;
		return ATR_ERR_UNAUTHORIZED;
	}
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
	case ATR_REWRAP_QUEUED:
		break;   /* rw_done reports it */
	case ATR_REWRAP_REPLACED:
		rw_replaced(r, q, res.nlink);
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

/*
 * Fills a from argv; the switch is the option table and reads better
 * whole.  Returns -1 to go on, else the exit code (0 after --help, 2
 * after a usage line).  No key is opened here.
 */
static int
parse_args(int argc, char **argv, struct rw_args *a)
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
	int c;

	memset(a, 0, sizeof(*a));
	optind = 1;
	while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
		switch (c) {
		case 'F':
			if (a->from.n > 0 ||
			    cli_keys_add("rewrap", &a->from, optarg))
				return cli_usage_error("rewrap", "one --from");
			break;
		case 'T':
			if (a->to.n > 0 || cli_keys_add("rewrap", &a->to, optarg))
				return cli_usage_error("rewrap", "one --to");
			break;
		case 'a':
			if (cli_keys_add("rewrap", &a->add, optarg))
				return 2;
			break;
		case 'r':
			if (cli_keys_add("rewrap", &a->rem, optarg))
				return 2;
			break;
		case 'k':
			if (cli_keys_add("rewrap", &a->keys, optarg))
				return 2;
			break;
		case 'B':
			a->flags |= ATR_REWRAP_BREAK_HARDLINKS;
			break;
		case 'q':
			a->quiet = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			return cli_usage_error("rewrap", "bad option");
		}
	}
	if ((a->from.n > 0) != (a->to.n > 0))
		return cli_usage_error("rewrap", "--from and --to go together");
	if (a->to.n + a->add.n + a->rem.n == 0)
		return cli_usage_error("rewrap", "nothing to do: give "
		    "--from/--to, --add or --remove");
	if (a->from.n + a->keys.n == 0)
		return cli_usage_error("rewrap",
		    "a key that opens the objects is needed: --from or --key");
	if (optind >= argc)
		return cli_usage_error("rewrap",
		    "at least one STORE is required");
	a->first = optind;
	return -1;
}

/* Opens every key of a; prints and returns the exit code on the first
 * that does not open, 0 when all are open. */
static int
open_keys(struct rw_args *a)
{
	int rc;

	rc = cli_keys_open(&a->from);
	if (rc == 0)
		rc = cli_keys_open(&a->to);
	if (rc == 0)
		rc = cli_keys_open(&a->add);
	if (rc == 0)
		rc = cli_keys_open(&a->rem);
	if (rc == 0)
		rc = cli_keys_open(&a->keys);
	return rc;
}

/* The spec from the open keys: --from opens and is removed, --key
 * opens, --remove is removed, --to and --add are added. */
static void
build_spec(struct rw *r, const struct rw_args *a)
{
	size_t i;

	memset(r, 0, sizeof(*r));
	for (i = 0; i < a->from.n; i++) {
		r->open[r->spec.nopen++] = a->from.k[i];
		r->remove[r->spec.nremove++] = a->from.k[i];
	}
	for (i = 0; i < a->keys.n; i++)
		r->open[r->spec.nopen++] = a->keys.k[i];
	for (i = 0; i < a->rem.n; i++)
		r->remove[r->spec.nremove++] = a->rem.k[i];
	for (i = 0; i < a->to.n; i++)
		r->add[r->spec.nadd++] = a->to.k[i];
	for (i = 0; i < a->add.n; i++)
		r->add[r->spec.nadd++] = a->add.k[i];
	r->spec.open = r->open;
	r->spec.remove = r->remove;
	r->spec.add = r->add;
	r->flags = a->flags;
	r->quiet = a->quiet;
}

/* The closing summary on stderr. */
static void
report(const struct rw *r)
{
	fprintf(stderr, "atrest rewrap: %u rewrapped, %u skipped (already "
	    "done), %u failed", r->done, r->skipped, r->failed);
	if (r->linked > 0)
		fprintf(stderr, ", %u hard-linked left as they were", r->linked);
	if (r->stale > 0)
		fprintf(stderr, "; removed %u temporary file(s) of an "
		    "interrupted run", r->stale);
	if (r->kept > 0)
		fprintf(stderr, "; left %u other temporary file(s) alone",
		    r->kept);
	if (r->halted)
		fprintf(stderr, "; stopped at the credential failure above "
		    "(the objects not reached are unchanged)");
	fputc('\n', stderr);
	if (r->unverified > 0)
		fprintf(stderr, "atrest rewrap: %u object(s) name the new "
		    "recipients but no key given can authenticate them; give "
		    "one that can (e.g. the private key of --to) with --key\n",
		    r->unverified);
}

/* Walks one STORE; a directory's objects through a batch made before
 * any of them is written (core/outbatch.h). */
static enum atr_err
rw_store(struct rw *r, const char *store)
{
	enum atr_err err;
	int fd;

	r->batch = NULL;
	/* Not followed: atr_walkat refuses a STORE that is a link. */
	fd = open(store, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0) {
		err = atr_batch_new(fd, ATR_OUTBATCH_FILES, 64,
		    ATR_OUTBATCH_BYTES, rw_done, r, &r->batch);
		close(fd);
		if (err != ATR_OK)
			return err;
	}
	err = atr_walkat(store, rw_cb, r);
	if (r->batch != NULL) {
		if (rw_interrupted(r))
			atr_batch_discard(r->batch);
		else
			(void)atr_batch_flush(r->batch);   /* rw_done said */
		atr_batch_free(r->batch);
		r->batch = NULL;
	}
	return err;
}

/* Opens the keys, walks every STORE and reports; the exit code. */
static int
run(struct rw_args *a, int argc, char **argv)
{
	struct rw r;
	sigset_t hold, old;
	int rc, i;

	rc = open_keys(a);
	if (rc != 0)
		return rc;
	build_spec(&r, a);
	/* Held, so that a signal ends the run between objects, with the
	 * batch's temporary files removed (docs/DURABILITY.md). */
	cli_stop_sigset(&hold);
	sigprocmask(SIG_BLOCK, &hold, &old);
	for (i = a->first; i < argc; i++) {
		enum atr_err err = rw_store(&r, argv[i]);

		if (r.halted || r.interrupted)
			break;
		if (err != ATR_OK)
			worst(&r, cli_error_file(argv[i], err));
	}
	report(&r);
	fflush(stdout);
	/* A pending signal ends the process here, as it would have. */
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (r.interrupted)
		worst(&r, 2);
	return r.rc;
}

int
cmd_rewrap(int argc, char **argv)
{
	struct rw_args a;
	int rc;

	rc = parse_args(argc, argv, &a);
	if (rc >= 0)
		return rc;
	rc = run(&a, argc, argv);
	cli_keys_free(&a.from);
	cli_keys_free(&a.to);
	cli_keys_free(&a.add);
	cli_keys_free(&a.rem);
	cli_keys_free(&a.keys);
	return rc;
}
