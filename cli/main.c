/*
 * main.c - atrest's entry point: one binary, subcommands from a table.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "quote.h"

static const struct {
	const char *name;
	int (*fn)(int, char **);
	const char *summary;
} commands[] = {
	{"bench", cmd_bench, "measure CMK against SMK envelope encryption"},
	{"decrypt", cmd_decrypt, "decrypt envelopes with a key"},
	{"encrypt", cmd_encrypt, "encrypt files into envelopes for one or more keys"},
	{"inspect", cmd_inspect, "show an envelope's header without any key"},
	{"keygen", cmd_keygen, "write a new RSA or AES key file"},
	{"report", cmd_report, "write an HTML evidence page from verify and bench JSON"},
	{"rewrap", cmd_rewrap, "replace recipients without re-encrypting data"},
	{"vault", cmd_vault, "loopback Key Vault server and client commands"},
	{"verify", cmd_verify, "prove that the configured key protects a store"},
};

static void
usage(FILE *f)
{
	size_t i;

	fprintf(f,
	    "usage: atrest COMMAND [OPTIONS] [ARGS]\n"
	    "       atrest --help | --version\n\n"
	    "Encryption at rest with customer-managed keys: envelopes, bench, verify.\n\n"
	    "commands:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
	fprintf(f,
	    "\nkeys are URIs: file:PATH, pkcs11:token=..;object=.., "
	    "https://VAULT/keys/NAME[/VERSION]\n"
	    "exit codes: 0 success, 1 authentication failed or no key opens "
	    "the data, 2 usage, configuration or I/O error\n"
	    "run 'atrest COMMAND --help' for a command's options\n");
}

int
cli_error(const char *what, enum atr_err err)
{
	char w[ATR_QUOTE_BUF], line[2048], d[4 * 2048 + 8];
	const char *p = atr_detail(), *nl = strstr(p, "\n  ");

	/* The detail may name files (the layers below put paths in it): control
	 * characters are escaped, never printed (core/quote.h).  A detail of
	 * indented lines (the credential chain's, keyvault/kv_cred.c) is
	 * printed one line each, each escaped. */
	snprintf(line, sizeof(line), "%.*s",
	    (int)(nl != NULL ? (size_t)(nl - p) : strlen(p)), p);
	atr_escape(line, d, sizeof(d));
	if (what != NULL)
		fprintf(stderr, "atrest: %s: %s%s%s\n",
		    atr_escape(what, w, sizeof(w)), atr_strerror(err),
		    *d ? ": " : "", d);
	else
		fprintf(stderr, "atrest: %s%s%s\n", atr_strerror(err),
		    *d ? ": " : "", d);
	while (nl != NULL) {
		p = nl + 1;
		nl = strstr(p + 2, "\n  ");
		snprintf(line, sizeof(line), "%.*s",
		    (int)(nl != NULL ? (size_t)(nl - p) : strlen(p)), p);
		fprintf(stderr, "%s\n", atr_escape(line, d, sizeof(d)));
	}
	atr_detail_clear();
	return atr_exit_code(err);
}

/* A formatted message with its control characters escaped. */
static void
vescaped(FILE *f, const char *fmt, va_list ap)
{
	char m[2048], e[4 * 2048 + 8];

	vsnprintf(m, sizeof(m), fmt, ap);
	fputs(atr_escape(m, e, sizeof(e)), f);
}

#undef cli_usage_error /* the function itself (cli.h, make lint) */
int
cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "atrest %s: ", cmd);
	va_start(ap, fmt);
	vescaped(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see 'atrest %s --help')\n", cmd);
	return 2;
}

void
cli_warn(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "atrest: warning: ");
	va_start(ap, fmt);
	vescaped(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int
cli_stderr_tty(void)
{
	return isatty(STDERR_FILENO);
}

int
cli_color(FILE *f)
{
	const char *nc = getenv("NO_COLOR");

	if (nc != NULL && *nc != '\0')
		return 0;
	return isatty(fileno(f));
}

int
main(int argc, char **argv)
{
	size_t i;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("atrest %s\n", ATR_VERSION_STRING);
		return 0;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].fn(argc - 1, argv + 1);
	{
		char q[ATR_QUOTE_BUF];

		fprintf(stderr, "atrest: unknown command '%s' (see 'atrest "
		    "--help')\n", atr_escape(argv[1], q, sizeof(q)));
	}
	return 2;
}
