/*
 * vault_fedtoken.c - `atrest vault federated-token`: a token of a
 * stand-in OIDC issuer for `vault serve --federated`, as a Kubernetes
 * cluster projects one into a pod for workload identity
 * (vault/kv_fedtoken.h makes and signs it; this file parses and
 * writes).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "common.h"
#include "crypto.h"
#include "fsutil.h"
#include "kv_fedtoken.h"
#include "vault_fedtoken.h"

#define USAGE(...) cli_usage_error("vault federated-token", __VA_ARGS__)

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: atrest vault federated-token --issuer-key KEY.pem --issuer URL\n"
	    "           --subject S [--audience A] [--lifetime SECS] [--jwks FILE]\n"
	    "           [--out FILE]\n\n"
	    "Signs a token (RS256 JWT: iss, sub, aud, exp, iat, nbf, jti) as a\n"
	    "Kubernetes cluster's issuer does for workload identity, for\n"
	    "'atrest vault serve --federated ID:ISSUER:JWKS.json'.\n\n"
	    "  --issuer-key KEY.pem  the issuer's RSA key (created, 2048 bits,\n"
	    "                        mode 0600, when absent)\n"
	    "  --issuer URL          iss\n"
	    "  --subject S           sub, e.g. system:serviceaccount:NS:NAME\n"
	    "  --audience A          aud (api://AzureADTokenExchange)\n"
	    "  --lifetime SECS       1..86400 (3600)\n"
	    "  --jwks FILE           write the issuer's public JWKS there\n"
	    "  --out FILE            the token into FILE (atomically, 0600)\n"
	    "                        instead of standard output\n");
}

enum { F_KEY = 256, F_ISS, F_SUB, F_AUD, F_LIFE, F_JWKS, F_OUT };

static const struct option fed_opts[] = {
	{"issuer-key", required_argument, NULL, F_KEY},
	{"issuer", required_argument, NULL, F_ISS},
	{"subject", required_argument, NULL, F_SUB},
	{"audience", required_argument, NULL, F_AUD},
	{"lifetime", required_argument, NULL, F_LIFE},
	{"jwks", required_argument, NULL, F_JWKS},
	{"out", required_argument, NULL, F_OUT},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

/* -1 to go on, else the exit code. */
static int
parse(int argc, char **argv, struct atr_fedtoken_opts *o, const char **out)
{
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", fed_opts, NULL)) != -1) {
		switch (c) {
		case F_KEY:
			o->key_path = optarg;
			break;
		case F_ISS:
			o->issuer = optarg;
			break;
		case F_SUB:
			o->subject = optarg;
			break;
		case F_AUD:
			o->audience = optarg;
			break;
		case F_JWKS:
			o->jwks_path = optarg;
			break;
		case F_OUT:
			*out = optarg;
			break;
		case F_LIFE:
			if (cli_parse_long(optarg, 1, 86400, &o->lifetime) != 0)
				return USAGE("--lifetime takes 1..86400 "
				    "seconds");
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			return USAGE("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind != argc)
		return USAGE("unexpected argument '%s'", argv[optind]);
	if (o->key_path == NULL || o->issuer == NULL || o->subject == NULL)
		return USAGE("--issuer-key, --issuer and --subject are "
		    "required");
	if (*o->issuer == '\0' || *o->subject == '\0' ||
	    (o->audience != NULL && *o->audience == '\0'))
		return USAGE("--issuer, --subject and --audience must not be "
		    "empty");
	return -1;
}

int
vault_fedtoken_main(int argc, char **argv)
{
	struct atr_fedtoken_opts o;
	const char *out = NULL;
	char *tok = NULL;
	size_t len = 0;
	enum atr_err err;
	int rc;

	memset(&o, 0, sizeof(o));
	rc = parse(argc, argv, &o, &out);
	if (rc >= 0)
		return rc;
	err = atr_fedtoken_make(&o, &tok, &len);
	if (err != ATR_OK)
		return cli_error("vault federated-token", err);
	if (out != NULL) {
		/* A bearer credential: private, and never half-written. */
		err = atr_write_file(out, 0600, tok, len);
		rc = err == ATR_OK ? 0 : cli_error_file(out, err);
	} else {
		rc = printf("%s\n", tok) < 0 || fflush(stdout) != 0 ?
		    cli_error("standard output", ATR_ERR_IO) : 0;
	}
	atr_secure_free(tok, len);
	return rc;
}
