/*
 * atrest decrypt --key URI [--key URI ...] [--jobs N] [--range OFF:LEN]
 *     -o OUT IN
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "common.h"
#include "range.h"
#include "stream.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: atrest decrypt --key URI [--key URI ...] [--jobs N]\n"
	    "           [--range OFFSET:LENGTH] -o OUT IN\n\n"
	    "Decrypts an atrest envelope with the first given key that is one of\n"
	    "its recipients.  Every frame is authenticated before it is written;\n"
	    "the output goes to a temporary file renamed only when the whole\n"
	    "object authenticated, so a failure leaves nothing at OUT.  IN and OUT\n"
	    "may be '-'; a directory IN with -o DIR mirrors the tree.\n"
	    "With -o -, frames reach stdout as they authenticate; a truncated or\n"
	    "tampered object still ends with exit status 1.\n"
	    "OUT may be a new or regular file (replaced), '-', /dev/stdout,\n"
	    "/dev/fd/N or a character device such as /dev/null (written in\n"
	    "place); plaintext is never written into a symbolic link, FIFO or\n"
	    "socket found at OUT (to feed a pipe: -o - > pipe), and links\n"
	    "inside a tree are never followed (docs/FILES.md).  IN may be a\n"
	    "named pipe (read like '-'), not a symbolic link.\n\n"
	    "  -k, --key URI      key to try (file:PATH, pkcs11:..., https://VAULT/keys/NAME)\n"
	    "  -j, --jobs N       threads (default 0: one per CPU): on the frames of\n"
	    "                     one large file, or on N files at once in a tree\n"
	    "  -o, --output OUT   output file or directory ('-' = stdout)\n"
	    "  -r, --range OFF:LEN  plaintext bytes OFF..OFF+LEN-1 only\n"
	    "                     (OFF: = to the end; K/M/G suffixes): reads\n"
	    "                     the header and the frames covering them and\n"
	    "                     authenticates only those (docs/FORMAT.md);\n"
	    "                     IN: a regular file; past the end: status 2\n"
	    "  -q, --quiet        no summary on stderr\n"
	    "  -h, --help\n\n"
	    "exit status: 0 ok, 1 authentication failed or no key opens it, 2 other errors\n");
}

struct dec_arg {
	struct cli_keys *ks;
	unsigned jobs;
	int ranged;
	uint64_t off, len;
};

static enum atr_err
dec_one(int in_fd, int out_fd, unsigned threads, void *arg)
{
	struct dec_arg *a = arg;
	struct atr_stream_stats st;
	struct atr_range_stats rs;

	if (a->ranged)
		return atr_decrypt_range(in_fd, out_fd, a->ks->k, a->ks->n,
		    NULL, a->off, a->len, &rs);
	return atr_decrypt_stream(in_fd, out_fd, a->ks->k, a->ks->n, NULL,
	    threads, &st);
}

/* OFFSET:LENGTH or OFFSET: (to the end), sizes as cli_parse_size. */
static int
parse_range(const char *s, struct dec_arg *a)
{
	const char *colon = strchr(s, ':');
	char num[32];
	size_t n;

	if (colon == NULL || (n = (size_t)(colon - s)) == 0 ||
	    n >= sizeof(num))
		return -1;
	memcpy(num, s, n);
	num[n] = '\0';
	if (cli_parse_size(num, &a->off) != 0)
		return -1;
	a->len = ATR_RANGE_TO_END;
	if (colon[1] != '\0' && (cli_parse_size(colon + 1, &a->len) != 0 ||
	    a->len == ATR_RANGE_TO_END))
		return -1;
	a->ranged = 1;
	return 0;
}

int
cmd_decrypt(int argc, char **argv)
{
	static const struct option opts[] = {
		{"key", required_argument, NULL, 'k'},
		{"jobs", required_argument, NULL, 'j'},
		{"output", required_argument, NULL, 'o'},
		{"range", required_argument, NULL, 'r'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct cli_keys ks = {0};
	struct dec_arg da = {&ks, 0, 0, 0, 0};
	struct stat sb;
	const char *out = NULL;
	unsigned ok = 0, fail = 0;
	int c, rc, quiet = 0;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "k:j:o:r:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'k':
			if (cli_keys_add("decrypt", &ks, optarg))
				return 2;
			break;
		case 'j':
			if (cli_parse_jobs("decrypt", optarg, &da.jobs) != 0)
				return 2;
			break;
		case 'o':
			out = optarg;
			break;
		case 'r':
			if (parse_range(optarg, &da) != 0)
				return cli_usage_error("decrypt",
				    "--range must be OFFSET:LENGTH or OFFSET: "
				    "(bytes, K/M/G)");
			break;
		case 'q':
			quiet = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			return cli_bad_option("decrypt", argv);
		}
	}
	if (ks.n == 0)
		return cli_usage_error("decrypt", "at least one --key is required");
	if (out == NULL)
		return cli_usage_error("decrypt", "-o OUT is required");
	if (optind != argc - 1)
		return cli_usage_error("decrypt", "exactly one input is required");
	/* A range is of one object: pread needs a regular file. */
	if (da.ranged && (stat(argv[optind], &sb) != 0 ||
	    !S_ISREG(sb.st_mode)))
		return cli_usage_error("decrypt", "--range needs IN to be one "
		    "regular file");
	rc = cli_keys_open(&ks);
	if (rc == 0) {
		rc = cli_transform("decrypt", argv[optind], out, 0600, dec_one,
		    &da, da.jobs, &ok, &fail);
		if (!quiet && ok + fail > 1)
			fprintf(stderr, "atrest decrypt: %u file(s) decrypted, %u failed\n",
			    ok, fail);
	}
	cli_keys_free(&ks);
	return rc;
}
