/*
 * atrest encrypt --key URI [--key URI ...] [--frame-size N] [--jobs N] -o OUT IN
 */
#include <getopt.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "common.h"
#include "stream.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: atrest encrypt --key URI [--key URI ...] [--frame-size N] [--jobs N] -o OUT IN\n\n"
	    "Encrypts IN into an atrest envelope (docs/FORMAT.md) with a new\n"
	    "AES-256 data key wrapped for every --key (each key alone opens it).\n"
	    "IN and OUT may be '-' (stdin/stdout).  A directory IN with -o DIR\n"
	    "mirrors the tree.  Outputs are written to a temporary file and\n"
	    "renamed, so a failure leaves nothing at OUT.\n"
	    "OUT may be a new or regular file (replaced), '-', /dev/stdout,\n"
	    "/dev/fd/N or a character device such as /dev/null (written in\n"
	    "place); a symbolic link, FIFO or socket at OUT is refused, and\n"
	    "links inside a tree are never followed (docs/FILES.md).\n"
	    "IN may be a named pipe (read like '-'), not a symbolic link.\n\n"
	    "  -k, --key URI         recipient key (file:PATH, pkcs11:..., https://VAULT/keys/NAME)\n"
	    "  -f, --frame-size N    plaintext bytes per frame, %u..%u (default 64K)\n"
	    "  -j, --jobs N          threads (default 0: one per CPU): on the frames\n"
	    "                        of one large file, or on N files at once in a tree\n"
	    "  -o, --output OUT      output file or directory ('-' = stdout)\n"
	    "  -q, --quiet           no summary on stderr\n"
	    "  -h, --help\n",
	    ATR_FRAME_MIN, ATR_FRAME_MAX);
}

struct enc_arg {
	struct cli_keys *ks;
	uint32_t frame_size;
	unsigned jobs;
	_Atomic uint64_t bytes;   /* files may run in parallel */
};

static enum atr_err
enc_one(int in_fd, int out_fd, unsigned threads, void *arg)
{
	struct enc_arg *a = arg;
	struct atr_enc_params p = {a->ks->k, a->ks->n, NULL, a->frame_size};
	struct atr_stream_stats st;
	struct atr_enc *e = NULL;
	enum atr_err err;

	err = atr_enc_new(&p, &e);
	if (err != ATR_OK)
		return err;
	err = atr_encrypt_stream(e, in_fd, out_fd, threads, &st);
	atr_enc_free(e);
	atomic_fetch_add(&a->bytes, st.plain_bytes);
	return err;
}

int
cmd_encrypt(int argc, char **argv)
{
	static const struct option opts[] = {
		{"key", required_argument, NULL, 'k'},
		{"frame-size", required_argument, NULL, 'f'},
		{"jobs", required_argument, NULL, 'j'},
		{"output", required_argument, NULL, 'o'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct cli_keys ks = {0};
	struct enc_arg a = {&ks, ATR_FRAME_DEFAULT, 0, 0};
	const char *out = NULL;
	unsigned ok = 0, fail = 0;
	uint64_t fs;
	int c, rc, quiet = 0;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "k:f:j:o:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'k':
			if (cli_keys_add("encrypt", &ks, optarg))
				return 2;
			break;
		case 'f':
			if (cli_parse_size(optarg, &fs) != 0 ||
			    fs < ATR_FRAME_MIN || fs > ATR_FRAME_MAX)
				return cli_usage_error("encrypt",
				    "--frame-size must be %u..%u", ATR_FRAME_MIN,
				    ATR_FRAME_MAX);
			a.frame_size = (uint32_t)fs;
			break;
		case 'j':
			if (cli_parse_jobs("encrypt", optarg, &a.jobs) != 0)
				return 2;
			break;
		case 'o':
			out = optarg;
			break;
		case 'q':
			quiet = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			return cli_bad_option("encrypt", argv);
		}
	}
	if (ks.n == 0)
		return cli_usage_error("encrypt", "at least one --key is required");
	if (out == NULL)
		return cli_usage_error("encrypt", "-o OUT is required");
	if (optind != argc - 1)
		return cli_usage_error("encrypt", "exactly one input is required");
	rc = cli_keys_open(&ks);
	if (rc == 0) {
		rc = cli_transform("encrypt", argv[optind], out, 0644, enc_one,
		    &a, a.jobs, &ok, &fail);
		if (!quiet && ok + fail > 1)
			fprintf(stderr, "atrest encrypt: %u file(s) encrypted, %u failed\n",
			    ok, fail);
	}
	cli_keys_free(&ks);
	return rc;
}
