/*
 * atrest keygen --type rsa-2048|rsa-3072|rsa-4096|aes-256 -o PATH
 *
 * "-o -" (standard output) is refused unless --force-stdout is given,
 * and even then when standard output is a terminal: a private key on a
 * screen ends up in scrollback buffers, terminal logs and screen
 * shares.  Only an AES key can go there; an RSA pair needs a path for
 * its two files.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "common.h"
#include "key.h"
#include "keys.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: atrest keygen --type TYPE -o PATH\n\n"
	    "Writes a new key with mode 0600; never overwrites an existing file.\n"
	    "  rsa-2048|rsa-3072|rsa-4096  PKCS#8 PEM private key at PATH and its\n"
	    "                              SPKI public key at PATH.pub (a CMK:\n"
	    "                              use file:PATH.pub to encrypt, file:PATH\n"
	    "                              to decrypt)\n"
	    "  aes-256                     32 random bytes as 64 hex digits (an SMK)\n\n"
	    "  -t, --type TYPE\n"
	    "  -o, --output PATH\n"
	    "      --force-stdout          with -o -: an aes-256 key to a pipe\n"
	    "                              (never a terminal)\n"
	    "  -h, --help\n");
}

/* The parsed command line; the strings are argv's (borrowed). */
struct keygen_args {
	const char *type;
	const char *out;
	int force_stdout;
};

/* Returns -1 to go on, else the exit code (0 after --help). */
static int
parse_args(int argc, char **argv, struct keygen_args *a)
{
	static const struct option opts[] = {
		{"type", required_argument, NULL, 't'},
		{"output", required_argument, NULL, 'o'},
		{"force-stdout", no_argument, NULL, 'F'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	memset(a, 0, sizeof(*a));
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "t:o:h", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			a->type = optarg;
			break;
		case 'o':
			a->out = optarg;
			break;
		case 'F':
			a->force_stdout = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			return cli_bad_option("keygen", argv);
		}
	}
	if (a->type == NULL || a->out == NULL || optind != argc)
		return cli_usage_error("keygen", "--type and -o are required");
	return -1;
}

/* Standard output takes only an AES key, on request, and never a
 * terminal: the file header says why. */
static int
check_stdout(const struct keygen_args *a)
{
	if (strcmp(a->out, "-") != 0)
		return -1;
	if (strncmp(a->type, "rsa-", 4) == 0)
		return cli_usage_error("keygen", "an RSA key pair "
		    "needs -o PATH (the public key is written to "
		    "PATH.pub)");
	if (!a->force_stdout)
		return cli_usage_error("keygen", "refusing to write a "
		    "private key to standard output without "
		    "--force-stdout");
	if (isatty(STDOUT_FILENO))
		return cli_usage_error("keygen", "refusing to print a "
		    "private key on a terminal; redirect standard "
		    "output");
	return -1;
}

int
cmd_keygen(int argc, char **argv)
{
	struct keygen_args a;
	enum atr_err err;
	int rc;

	if ((rc = parse_args(argc, argv, &a)) >= 0)
		return rc;
	if ((rc = check_stdout(&a)) >= 0)
		return rc;
	err = atr_keygen(a.type, a.out);
	if (err != ATR_OK)
		return cli_error(a.out, err);
	return 0;
}
