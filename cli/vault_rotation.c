/*
 * atrest vault rotation-policy get|set KEY-URI: a key's rotation policy
 * (Get / Update Key Rotation Policy, docs/KEYVAULT.md), on the same
 * client as the other `atrest vault` commands.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "common.h"
#include "fsutil.h"
#include "kv_client.h"
#include "vault_client.h"

struct rp_args {
	const char *verb;         /* "get" or "set" */
	const char *uri;
	const char *file;         /* --file: a policy document */
	const char *rotate_after, *rotate_before, *notify_before, *expiry;
	struct atr_kv_opts ko;
};

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: atrest vault rotation-policy get KEY-URI\n"
	    "       atrest vault rotation-policy set KEY-URI --file FILE\n"
	    "       atrest vault rotation-policy set KEY-URI [--rotate-after D |\n"
	    "                --rotate-before D] [--notify-before D] [--expiry D]\n\n"
	    "Prints or replaces a key's rotation policy (as JSON, the shape Key\n"
	    "Vault uses: what get prints, set --file takes).  D is an ISO 8601\n"
	    "duration: P90D, P1Y, P3M, PT12H.\n\n"
	    "  --file FILE          the whole policy, JSON\n"
	    "  --rotate-after D     rotate D after a version's creation\n"
	    "  --rotate-before D    rotate D before a version's expiry\n"
	    "  --notify-before D    notify D before expiry (Event Grid)\n"
	    "  --expiry D           expiryTime: the lifetime of a new version\n"
	    "  --ca-file FILE, --api-version V, --timeout-ms MS, --retries N\n"
	    "                       as for the other vault commands\n"
	    "  -h, --help\n");
}

/* One duration option into the next lifetime action of p. */
static int
add_action(struct atr_kv_rotation_policy *p, const char *opt,
    const char *d, int rotate, int before)
{
	struct atr_kv_rotation_action *a = &p->actions[p->nactions];

	if (strlen(d) >= sizeof(a->duration) ||
	    atr_iso8601_duration(d, &a->seconds) != 0)
		return cli_usage_error("vault rotation-policy", "%s: '%s' is "
		    "not an ISO 8601 duration (P90D, P1Y, PT12H)", opt, d);
	a->rotate = rotate;
	a->before_expiry = before;
	snprintf(a->duration, sizeof(a->duration), "%s", d);
	p->nactions++;
	return 0;
}

/* The policy to set, from --file or the flags; 0 or the exit status. */
static int
policy_from_args(const struct rp_args *a, struct atr_kv_rotation_policy *p)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	enum atr_err e;
	int64_t d;

	memset(p, 0, sizeof(*p));
	if (a->file != NULL) {
		e = atr_read_small_file(a->file, 1U << 16, 0, &buf, &len);
		if (e != ATR_OK)
			return cli_error_file(a->file, e);
		e = atr_kv_rotation_policy_from_json((const char *)buf, len, p);
		free(buf);
		return e != ATR_OK ? cli_error_file(a->file, ATR_ERR_CONFIG) :
		    0;
	}
	if (a->rotate_after != NULL && add_action(p, "--rotate-after",
	    a->rotate_after, 1, 0) != 0)
		return 2;
	if (a->rotate_before != NULL && add_action(p, "--rotate-before",
	    a->rotate_before, 1, 1) != 0)
		return 2;
	if (a->notify_before != NULL && add_action(p, "--notify-before",
	    a->notify_before, 0, 1) != 0)
		return 2;
	if (a->expiry != NULL) {
		if (strlen(a->expiry) >= sizeof(p->expiry) ||
		    atr_iso8601_duration(a->expiry, &d) != 0)
			return cli_usage_error("vault rotation-policy",
			    "--expiry: '%s' is not an ISO 8601 duration",
			    a->expiry);
		snprintf(p->expiry, sizeof(p->expiry), "%s", a->expiry);
		p->expiry_seconds = d;
	}
	return 0;
}

static int
print_policy(const struct atr_kv_rotation_policy *p)
{
	cJSON *o = atr_kv_rotation_policy_json(p);
	char *s = o != NULL ? cJSON_Print(o) : NULL;

	cJSON_Delete(o);
	if (s == NULL)
		return cli_error(NULL, atr_fail(ATR_ERR_NOMEM,
		    "out of memory"));
	printf("%s\n", s);
	free(s);
	return fflush(stdout) == 0 ? 0 : 2;
}

static int
run(const struct rp_args *a)
{
	struct atr_kv_rotation_policy want, got;
	struct atr_kv_client *c = NULL;
	struct atr_kv_kid id;
	enum atr_err e;
	int rc = 0;

	e = atr_kv_parse_kid(a->uri, &id);
	if (e != ATR_OK)
		return cli_error(NULL, e);
	if (id.version[0] != '\0')
		return cli_usage_error("vault rotation-policy", "%s names a "
		    "version; a rotation policy belongs to the key (drop /%s)",
		    a->uri, id.version);
	if (strcmp(a->verb, "set") == 0 && (rc = policy_from_args(a,
	    &want)) != 0)
		return rc;
	e = atr_kv_client_new(a->uri, &a->ko, &c);
	if (e != ATR_OK)
		return cli_error(NULL, e);
	if (strcmp(a->verb, "set") == 0)
		e = atr_kv_set_rotation_policy(c, id.name, &want, &got);
	else
		e = atr_kv_get_rotation_policy(c, id.name, &got);
	atr_kv_client_free(c);
	if (e != ATR_OK)
		return cli_error(NULL, e);
	return print_policy(&got);
}

/* -1 to go on, else the exit status.  The switch is the option table. */
static int
parse_args(int argc, char **argv, struct rp_args *a)
{
	enum { O_FILE = 256, O_RA, O_RB, O_NB, O_EXP, O_CA, O_API, O_TO,
	    O_RETRIES };
	static const struct option opts[] = {
		{"file", required_argument, NULL, O_FILE},
		{"rotate-after", required_argument, NULL, O_RA},
		{"rotate-before", required_argument, NULL, O_RB},
		{"notify-before", required_argument, NULL, O_NB},
		{"expiry", required_argument, NULL, O_EXP},
		{"ca-file", required_argument, NULL, O_CA},
		{"api-version", required_argument, NULL, O_API},
		{"timeout-ms", required_argument, NULL, O_TO},
		{"retries", required_argument, NULL, O_RETRIES},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *L = "vault rotation-policy";
	long v;
	int c;

	memset(a, 0, sizeof(*a));
	a->ko.max_retries = -1;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case O_FILE: a->file = optarg; break;
		case O_RA: a->rotate_after = optarg; break;
		case O_RB: a->rotate_before = optarg; break;
		case O_NB: a->notify_before = optarg; break;
		case O_EXP: a->expiry = optarg; break;
		case O_CA: a->ko.ca_file = optarg; break;
		case O_API: a->ko.api_version = optarg; break;
		case O_TO:
			if (cli_parse_long(optarg, 1, 3600000, &v) != 0)
				return cli_usage_error(L, "bad --timeout-ms");
			a->ko.timeout_ms = v;
			break;
		case O_RETRIES:
			if (cli_parse_long(optarg, 0, 20, &v) != 0)
				return cli_usage_error(L,
				    "bad --retries (0 to 20)");
			a->ko.max_retries = (int)v;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			return cli_usage_error(L, "bad option");
		}
	}
	if (argc - optind != 2 || (strcmp(argv[optind], "get") != 0 &&
	    strcmp(argv[optind], "set") != 0))
		return cli_usage_error(L, "expected get or set, then KEY-URI");
	a->verb = argv[optind];
	a->uri = argv[optind + 1];
	return -1;
}

/* Options that do not fit the verb are refused, not ignored. */
static int
check_args(const struct rp_args *a)
{
	const char *L = "vault rotation-policy";
	int flags = a->rotate_after != NULL || a->rotate_before != NULL ||
	    a->notify_before != NULL || a->expiry != NULL;

	if (strcmp(a->verb, "get") == 0 && (flags || a->file != NULL))
		return cli_usage_error(L, "get takes no policy options");
	if (strcmp(a->verb, "set") == 0 && flags == (a->file != NULL))
		return cli_usage_error(L, "set takes --file FILE or the policy "
		    "options, one of the two");
	if (a->rotate_after != NULL && a->rotate_before != NULL)
		return cli_usage_error(L, "--rotate-after or --rotate-before, "
		    "not both");
	return -1;
}

int
vault_rotation_main(int argc, char **argv)
{
	struct rp_args a;
	int rc;

	if ((rc = parse_args(argc, argv, &a)) >= 0)
		return rc;
	if ((rc = check_args(&a)) >= 0)
		return rc;
	return run(&a);
}
