/*
 * atrest vault create|get|disable|enable|update|rotate|versions|delete|
 * recover|purge: Key Vault client commands for people and scripts, on
 * the same client code as the azure key provider (keyvault/kv_client.h), so
 * they authenticate, retry and fail the same way (docs/KEYVAULT.md).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "common.h"
#include "kv_client.h"
#include "vault_client.h"

/* The parsed command line; the strings are argv's (borrowed). */
struct vc_args {
	const char *cmd;
	const char *label;        /* "vault CMD" in label_buf, for messages */
	char label_buf[32];
	const char *uri;          /* positional key identifier */
	const char *url;          /* --url (create) */
	const char *name;         /* --name (create) */
	const char *kty;
	unsigned size;
	int set_ops;
	unsigned ops;
	int set_nbf, set_exp, set_enabled, enabled;
	int64_t nbf, exp;
	int disabled;             /* create --disabled */
	int json;
	struct atr_kv_opts ko;
};

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: atrest vault create (--url VAULT --name NAME | VAULT/keys/NAME)\n"
	    "                           [--kty RSA|RSA-HSM|oct-HSM] [--size BITS]\n"
	    "                           [--ops LIST] [--nbf T] [--exp T] [--disabled]\n"
	    "       atrest vault get KEY-URI\n"
	    "       atrest vault disable|enable KEY-URI\n"
	    "       atrest vault update KEY-URI [--ops LIST] [--nbf T] [--exp T]\n"
	    "                                   [--enabled true|false]\n"
	    "       atrest vault rotate KEY-URI\n"
	    "       atrest vault versions KEY-URI\n"
	    "       atrest vault delete|recover|purge KEY-URI\n"
	    "       atrest vault rotation-policy get|set KEY-URI [...]\n\n"
	    "Key Vault client commands (Azure Key Vault or 'atrest vault serve').\n"
	    "KEY-URI is https://HOST[:PORT]/keys/NAME[/VERSION].\n\n"
	    "  create    create a key (a new version if NAME exists); prints its kid\n"
	    "  get       print the key's attributes as JSON (latest version when\n"
	    "            the URI has none)\n"
	    "  disable   disable the key: every version for a versionless URI,\n"
	    "  enable    only that version for a versioned one (enable alike)\n"
	    "  update    change key_ops, nbf, exp or enabled of one version\n"
	    "            (the latest for a versionless URI)\n"
	    "  rotate    create a new version; prints its kid\n"
	    "  versions  print every version's kid and attributes as JSON\n"
	    "  delete    soft-delete the key (all versions)\n"
	    "  recover   recover a soft-deleted key\n"
	    "  purge     purge a soft-deleted key for good\n"
	    "  rotation-policy  print or set the key's rotation policy\n"
	    "            (atrest vault rotation-policy --help)\n\n"
	    "options:\n"
	    "  --url VAULT        vault URL https://HOST[:PORT] (create)\n"
	    "  --name NAME        key name (create)\n"
	    "  --kty KTY          RSA (default; RSA-HSM on *.managedhsm.azure.net),\n"
	    "                     RSA-HSM, oct-HSM (Managed HSM)\n"
	    "  --size BITS        2048, 3072, 4096 (RSA); 256 (oct-HSM)\n"
	    "  --ops LIST         key_ops, e.g. wrapKey,unwrapKey\n"
	    "  --nbf T, --exp T   not-before / expiry: seconds since 1970, or\n"
	    "                     +N, +Nm, +Nh, +Nd from now\n"
	    "  --disabled         create the key disabled\n"
	    "  --enabled BOOL     update: true or false\n"
	    "  --json             print the vault's answer as JSON\n"
	    "  --ca-file FILE     CA bundle for the vault (default ATREST_CA_FILE)\n"
	    "  --api-version V    Key Vault api-version (default 7.4)\n"
	    "  --timeout-ms MS    per-request timeout\n"
	    "  --retries N        retries on 429, 5xx and network errors\n"
	    "  -h, --help\n\n"
	    "Authentication, first configured: AZURE_CLIENT_SECRET,\n"
	    "AZURE_CLIENT_CERTIFICATE_PATH, AZURE_FEDERATED_TOKEN_FILE, a managed\n"
	    "identity, the Azure CLI (az), ATREST_AZURE_TOKEN;\n"
	    "ATREST_AZURE_CREDENTIAL pins one.  See docs/KEYVAULT.md.\n");
}

static int
parse_time(const char *s, int64_t *out)
{
	char *end;
	long long v;
	int rel = 0;

	if (*s == '+') {
		rel = 1;
		s++;
	}
	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || v < 0)
		return -1;
	if (rel && *end != '\0' && end[1] == '\0') {
		switch (*end) {
		case 's':
			break;
		case 'm':
			v *= 60;
			break;
		case 'h':
			v *= 3600;
			break;
		case 'd':
			v *= 86400;
			break;
		default:
			return -1;
		}
		end++;
	}
	if (*end != '\0' || v > ATR_DATE_MAX)
		return -1;
	*out = rel ? (int64_t)time(NULL) + v : v;
	return 0;
}

static cJSON *
key_json(const struct atr_kv_key *k)
{
	cJSON *o = cJSON_CreateObject(), *ops;

	if (o == NULL)
		return NULL;
	cJSON_AddStringToObject(o, "kid", k->kid);
	cJSON_AddStringToObject(o, "name", k->name);
	cJSON_AddStringToObject(o, "version", k->version);
	if (k->kty[0] != '\0')
		cJSON_AddStringToObject(o, "kty", k->kty);
	if (k->bits > 0)
		cJSON_AddNumberToObject(o, "key_size", k->bits);
	if (k->key_ops_present) {
		ops = atr_kv_ops_json(k->key_ops);
		if (ops != NULL)
			cJSON_AddItemToObject(o, "key_ops", ops);
	}
	cJSON_AddBoolToObject(o, "enabled", k->enabled);
	if (k->has_nbf)
		cJSON_AddNumberToObject(o, "nbf", (double)k->nbf);
	if (k->has_exp)
		cJSON_AddNumberToObject(o, "exp", (double)k->exp);
	if (k->created != 0)
		cJSON_AddNumberToObject(o, "created", (double)k->created);
	if (k->updated != 0)
		cJSON_AddNumberToObject(o, "updated", (double)k->updated);
	if (k->recovery_level[0] != '\0')
		cJSON_AddStringToObject(o, "recoveryLevel", k->recovery_level);
	if (k->recoverable_days != 0)
		cJSON_AddNumberToObject(o, "recoverableDays",
		    k->recoverable_days);
	if (k->managed)
		cJSON_AddBoolToObject(o, "managed", 1);
	if (k->recovery_id[0] != '\0')
		cJSON_AddStringToObject(o, "recoveryId", k->recovery_id);
	if (k->deleted_date != 0)
		cJSON_AddNumberToObject(o, "deletedDate",
		    (double)k->deleted_date);
	if (k->scheduled_purge_date != 0)
		cJSON_AddNumberToObject(o, "scheduledPurgeDate",
		    (double)k->scheduled_purge_date);
	return o;
}

static int
print_json(cJSON *o)
{
	char *s;

	if (o == NULL)
		return cli_error(NULL, atr_fail(ATR_ERR_NOMEM, "out of memory"));
	s = cJSON_Print(o);
	cJSON_Delete(o);
	if (s == NULL)
		return cli_error(NULL, atr_fail(ATR_ERR_NOMEM, "out of memory"));
	printf("%s\n", s);
	free(s);
	return fflush(stdout) == 0 ? 0 : 2;
}

static int
print_key(const struct vc_args *a, const struct atr_kv_key *k,
    const char *line_prefix)
{
	if (a->json)
		return print_json(key_json(k));
	printf("%s%s\n", line_prefix, k->kid);
	return fflush(stdout) == 0 ? 0 : 2;
}

/* Parses the positional key URI; versioned says whether one is allowed. */
static int
need_uri(const struct vc_args *a, struct atr_kv_kid *id, int versioned_ok,
    struct atr_kv_client **c)
{
	enum atr_err err;

	if (a->uri == NULL)
		return cli_usage_error(a->label, "a key URI is required");
	err = atr_kv_parse_kid(a->uri, id);
	if (err != ATR_OK)
		return cli_error(NULL, err);
	if (!versioned_ok && id->version[0] != '\0')
		return cli_usage_error(a->label,
		    "%s names a version; '%s' works on the whole key (drop "
		    "/%s)", a->uri, a->cmd, id->version);
	err = atr_kv_client_new(a->uri, &a->ko, c);
	if (err != ATR_OK)
		return cli_error(NULL, err);
	return 0;
}

static int
do_create(const struct vc_args *a)
{
	struct atr_kv_create p;
	struct atr_kv_client *c = NULL;
	struct atr_kv_key k;
	struct atr_kv_kid id;
	char uri[ATR_URI_MAX];
	const char *name;
	enum atr_err err;
	int rc;

	if (a->uri != NULL && (a->url != NULL || a->name != NULL))
		return cli_usage_error(a->label,
		    "give either KEY-URI or --url and --name");
	if (a->uri != NULL) {
		rc = need_uri(a, &id, 0, &c);
		if (rc != 0)
			return rc;
		name = id.name;
	} else {
		if (a->url == NULL || a->name == NULL)
			return cli_usage_error(a->label,
			    "--url and --name are required");
		err = atr_kv_parse_vault_url(a->url, &id);
		if (err != ATR_OK)
			return cli_error(NULL, err);
		snprintf(uri, sizeof(uri), "%s/keys/%s", id.origin, a->name);
		err = atr_kv_parse_kid(uri, &id);
		if (err != ATR_OK)
			return cli_usage_error(a->label, "bad key name '%s'",
			    a->name);
		err = atr_kv_client_new(a->url, &a->ko, &c);
		if (err != ATR_OK)
			return cli_error(NULL, err);
		name = a->name;
	}
	memset(&p, 0, sizeof(p));
	p.kty = a->kty;
	p.size = a->size;
	p.key_ops = a->set_ops ? a->ops : 0;
	p.disabled = a->disabled;
	p.nbf = a->set_nbf ? a->nbf : 0;
	p.exp = a->set_exp ? a->exp : 0;
	err = atr_kv_create_key(c, name, &p, &k);
	atr_kv_client_free(c);
	if (err != ATR_OK)
		return cli_error(NULL, err);
	return print_key(a, &k, "");
}

static int
do_get(const struct vc_args *a)
{
	struct atr_kv_client *c = NULL;
	struct atr_kv_key k;
	struct atr_kv_kid id;
	enum atr_err err;
	int rc;

	if ((rc = need_uri(a, &id, 1, &c)) != 0)
		return rc;
	err = atr_kv_get_key(c, id.name, id.version, &k);
	atr_kv_client_free(c);
	if (err != ATR_OK)
		return cli_error(NULL, err);
	return print_json(key_json(&k));
}

static int
do_versions(const struct vc_args *a)
{
	struct atr_kv_client *c = NULL;
	struct atr_kv_key *items = NULL;
	struct atr_kv_kid id;
	size_t n = 0, i;
	cJSON *arr;
	enum atr_err err;
	int rc;

	if ((rc = need_uri(a, &id, 0, &c)) != 0)
		return rc;
	err = atr_kv_list_versions(c, id.name, &items, &n);
	atr_kv_client_free(c);
	if (err != ATR_OK)
		return cli_error(NULL, err);
	arr = cJSON_CreateArray();
	for (i = 0; arr != NULL && i < n; i++)
		cJSON_AddItemToArray(arr, key_json(&items[i]));
	free(items);
	return print_json(arr);
}

/* enable/disable/update: one version, or every version (versionless
 * enable/disable), since disabling only the latest would leave older
 * versions opening old data. */
static int
do_update(const struct vc_args *a, int mode)
{
	struct atr_kv_client *c = NULL;
	struct atr_kv_update u;
	struct atr_kv_key k, *items = NULL;
	struct atr_kv_kid id;
	size_t n = 0, i;
	enum atr_err err = ATR_OK;
	int rc;

	if ((rc = need_uri(a, &id, 1, &c)) != 0)
		return rc;
	memset(&u, 0, sizeof(u));
	if (mode != 0) {
		u.set_enabled = 1;
		u.enabled = mode > 0;
	} else {
		u.set_enabled = a->set_enabled;
		u.enabled = a->enabled;
		u.set_key_ops = a->set_ops;
		u.key_ops = a->ops;
		u.set_nbf = a->set_nbf;
		u.nbf = a->nbf;
		u.set_exp = a->set_exp;
		u.exp = a->exp;
		if (!u.set_enabled && !u.set_key_ops && !u.set_nbf &&
		    !u.set_exp) {
			atr_kv_client_free(c);
			return cli_usage_error(a->label,
			    "nothing to change (--ops, --nbf, --exp, --enabled)");
		}
	}
	if (mode == 0 || id.version[0] != '\0') {
		err = atr_kv_update_key(c, id.name, id.version, &u, &k);
		atr_kv_client_free(c);
		if (err != ATR_OK)
			return cli_error(NULL, err);
		return print_key(a, &k, mode == 0 ? "updated " :
		    mode > 0 ? "enabled " : "disabled ");
	}
	err = atr_kv_list_versions(c, id.name, &items, &n);
	if (err != ATR_OK) {
		atr_kv_client_free(c);
		return cli_error(NULL, err);
	}
	rc = 0;
	for (i = 0; i < n && rc == 0; i++) {
		err = atr_kv_update_key(c, id.name, items[i].version, &u, &k);
		if (err != ATR_OK)
			rc = cli_error(NULL, err);
		else
			rc = print_key(a, &k, mode > 0 ? "enabled " :
			    "disabled ");
	}
	if (rc == 0 && n == 0)
		rc = cli_error(NULL, atr_fail(ATR_ERR_NOT_FOUND,
		    "%s has no versions", a->uri));
	free(items);
	atr_kv_client_free(c);
	return rc;
}

static int
do_simple(const struct vc_args *a)
{
	struct atr_kv_client *c = NULL;
	struct atr_kv_key k;
	struct atr_kv_kid id;
	enum atr_err err;
	int rc;

	if ((rc = need_uri(a, &id, 0, &c)) != 0)
		return rc;
	if (strcmp(a->cmd, "rotate") == 0) {
		err = atr_kv_rotate_key(c, id.name, &k);
		atr_kv_client_free(c);
		return err != ATR_OK ? cli_error(NULL, err) : print_key(a, &k, "");
	}
	if (strcmp(a->cmd, "recover") == 0) {
		err = atr_kv_recover_key(c, id.name, &k);
		atr_kv_client_free(c);
		return err != ATR_OK ? cli_error(NULL, err) :
		    print_key(a, &k, "recovered ");
	}
	if (strcmp(a->cmd, "purge") == 0) {
		err = atr_kv_purge_key(c, id.name);
		atr_kv_client_free(c);
		if (err != ATR_OK)
			return cli_error(NULL, err);
		printf("purged %s/keys/%s\n", id.origin, id.name);
		return fflush(stdout) == 0 ? 0 : 2;
	}
	err = atr_kv_delete_key(c, id.name, &k);
	atr_kv_client_free(c);
	if (err != ATR_OK)
		return cli_error(NULL, err);
	if (a->json)
		return print_json(key_json(&k));
	if (k.recovery_id[0] != '\0')
		printf("deleted %s/keys/%s (recoverable as %s)\n", id.origin,
		    id.name, k.recovery_id);
	else
		printf("deleted %s/keys/%s\n", id.origin, id.name);
	return fflush(stdout) == 0 ? 0 : 2;
}

static const char *const vc_cmds[] = {
	"create", "get", "disable", "enable", "update", "rotate",
	"versions", "delete", "recover", "purge", NULL,
};

enum {
	O_URL = 256, O_NAME, O_KTY, O_SIZE, O_OPS, O_NBF, O_EXP,
	O_DISABLED, O_ENABLED, O_JSON, O_CA, O_API, O_TIMEOUT,
	O_RETRIES,
};

static const struct option vc_opts[] = {
	{"url", required_argument, NULL, O_URL},
	{"name", required_argument, NULL, O_NAME},
	{"kty", required_argument, NULL, O_KTY},
	{"size", required_argument, NULL, O_SIZE},
	{"ops", required_argument, NULL, O_OPS},
	{"nbf", required_argument, NULL, O_NBF},
	{"exp", required_argument, NULL, O_EXP},
	{"disabled", no_argument, NULL, O_DISABLED},
	{"enabled", required_argument, NULL, O_ENABLED},
	{"json", no_argument, NULL, O_JSON},
	{"ca-file", required_argument, NULL, O_CA},
	{"api-version", required_argument, NULL, O_API},
	{"timeout-ms", required_argument, NULL, O_TIMEOUT},
	{"retries", required_argument, NULL, O_RETRIES},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

/*
 * One option into a.  Returns -1 to go on, else the exit code (0 after
 * --help).  The switch is the option table and reads better whole.
 */
static int
take_option(struct vc_args *a, int c, const char *arg)
{
	long v;

	switch (c) {
	case O_URL:
		a->url = arg;
		break;
	case O_NAME:
		a->name = arg;
		break;
	case O_KTY:
		a->kty = arg;
		break;
	case O_SIZE:
		if (cli_parse_long(arg, 128, 16384, &v) != 0)
			return cli_usage_error(a->label, "bad --size '%s'", arg);
		a->size = (unsigned)v;
		break;
	case O_OPS:
		if (atr_kv_ops_parse_list(arg, &a->ops) != 0)
			return cli_usage_error(a->label,
			    "bad --ops '%s' (encrypt, decrypt, sign, "
			    "verify, wrapKey, unwrapKey, import, export)", arg);
		a->set_ops = 1;
		break;
	case O_NBF:
		if (parse_time(arg, &a->nbf) != 0)
			return cli_usage_error(a->label, "bad --nbf '%s'", arg);
		a->set_nbf = 1;
		break;
	case O_EXP:
		if (parse_time(arg, &a->exp) != 0)
			return cli_usage_error(a->label, "bad --exp '%s'", arg);
		a->set_exp = 1;
		break;
	case O_DISABLED:
		a->disabled = 1;
		break;
	case O_ENABLED:
		if (strcmp(arg, "true") == 0)
			a->enabled = 1;
		else if (strcmp(arg, "false") == 0)
			a->enabled = 0;
		else
			return cli_usage_error(a->label,
			    "--enabled takes true or false");
		a->set_enabled = 1;
		break;
	case O_JSON:
		a->json = 1;
		break;
	case O_CA:
		a->ko.ca_file = arg;
		break;
	case O_API:
		a->ko.api_version = arg;
		break;
	case O_TIMEOUT:
		if (cli_parse_long(arg, 1, 3600000, &v) != 0)
			return cli_usage_error(a->label,
			    "bad --timeout-ms '%s'", arg);
		a->ko.timeout_ms = v;
		break;
	case O_RETRIES:
		if (cli_parse_long(arg, 0, 20, &v) != 0)
			return cli_usage_error(a->label,
			    "bad --retries '%s' (0 to 20)", arg);
		a->ko.max_retries = (int)v;
		break;
	case 'h':
		usage(stdout);
		return 0;
	default:
		return cli_usage_error(a->label, "bad option");
	}
	return -1;
}

/* Options that the command does not take are refused, not ignored. */
static int
check_options(const struct vc_args *a)
{
	if (strcmp(a->cmd, "create") != 0 &&
	    (a->url != NULL || a->name != NULL || a->kty != NULL ||
	    a->size != 0 || a->disabled))
		return cli_usage_error(a->label,
		    "--url, --name, --kty, --size and --disabled are for create");
	if (strcmp(a->cmd, "create") != 0 && strcmp(a->cmd, "update") != 0 &&
	    (a->set_ops || a->set_nbf || a->set_exp))
		return cli_usage_error(a->label,
		    "--ops, --nbf and --exp are for create and update");
	if (strcmp(a->cmd, "update") != 0 && a->set_enabled)
		return cli_usage_error(a->label, "--enabled is for update");
	return -1;
}

/*
 * The command line (argv[0] the subcommand, "vault" before it allowed)
 * into *a.  Returns -1 to go on, else the exit code (help, usage).
 */
static int
parse_args(int argc, char **argv, struct vc_args *a)
{
	int c, i, rc;

	if (argc >= 1 && strcmp(argv[0], "vault") == 0) {
		argc--;
		argv++;
	}
	if (argc < 1 || strcmp(argv[0], "--help") == 0 ||
	    strcmp(argv[0], "-h") == 0 || strcmp(argv[0], "help") == 0) {
		usage(argc < 1 ? stderr : stdout);
		return argc < 1 ? 2 : 0;
	}
	for (i = 0; vc_cmds[i] != NULL; i++)
		if (strcmp(argv[0], vc_cmds[i]) == 0)
			break;
	if (vc_cmds[i] == NULL)
		return cli_usage_error("vault", "unknown vault command '%s'",
		    argv[0]);
	memset(a, 0, sizeof(*a));
	a->cmd = vc_cmds[i];
	a->ko.max_retries = -1;
	snprintf(a->label_buf, sizeof(a->label_buf), "vault %s", a->cmd);
	a->label = a->label_buf;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", vc_opts, NULL)) != -1)
		if ((rc = take_option(a, c, optarg)) >= 0)
			return rc;
	if (optind < argc)
		a->uri = argv[optind++];
	if (optind < argc)
		return cli_usage_error(a->label, "unexpected argument '%s'",
		    argv[optind]);
	return check_options(a);
}

int
vault_client_main(int argc, char **argv)
{
	struct vc_args a;
	int rc;

	if (argc >= 1 && strcmp(argv[0], "rotation-policy") == 0)
		return vault_rotation_main(argc, argv);
	if ((rc = parse_args(argc, argv, &a)) >= 0)
		return rc;
	if (strcmp(a.cmd, "create") == 0)
		return do_create(&a);
	if (strcmp(a.cmd, "get") == 0)
		return do_get(&a);
	if (strcmp(a.cmd, "versions") == 0)
		return do_versions(&a);
	if (strcmp(a.cmd, "disable") == 0)
		return do_update(&a, -1);
	if (strcmp(a.cmd, "enable") == 0)
		return do_update(&a, 1);
	if (strcmp(a.cmd, "update") == 0)
		return do_update(&a, 0);
	return do_simple(&a);
}
