/*
 * atrest vault: "serve" runs the loopback Key Vault (vault/kv_server.h);
 * every other subcommand is a Key Vault client command
 * (cli/vault_client.c).  docs/VAULT.md describes both.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "fsutil.h"
#include "kv_server.h"
#include "vault_client.h"
#include "vault_fedtoken.h"
#include "jwk.h"

#define MAX_CLIENTS 32
#define MAX_SANS 32

static void
usage_top(FILE *f)
{
	fprintf(f,
	    "usage: atrest vault serve --state DIR [OPTIONS]\n"
	    "       atrest vault federated-token --issuer-key KEY.pem --issuer URL\n"
	    "                    --subject S [--jwks FILE] [--out FILE] ...\n"
	    "       atrest vault create|get|disable|enable|update|rotate|versions|\n"
	    "                    delete|recover|purge ... (see 'atrest vault get --help')\n\n"
	    "  serve     run the loopback Key Vault-compatible HTTPS server\n"
	    "  federated-token  a workload-identity token for serve --federated\n"
	    "  others    Key Vault client commands (Azure or the loopback server)\n");
}

static void
usage_serve(FILE *f)
{
	fprintf(f,
	    "usage: atrest vault serve --state DIR [--listen HOST:PORT] [OPTIONS]\n\n"
	    "Runs a Key Vault-compatible HTTPS server (keys API, challenge auth,\n"
	    "token and IMDS endpoints, fault injection) until SIGINT or SIGTERM.\n"
	    "On start it prints KEY=VALUE lines (url=, ca=, tenant=, client_id=,\n"
	    "client_secret_file=, ...) and last 'ready=1'.\n\n"
	    "  --state DIR              keys, test CA and server state (created)\n"
	    "  --listen HOST:PORT       default 127.0.0.1:0 (0: a free port),\n"
	    "                           loopback only unless --allow-remote\n"
	    "  --allow-remote           allow a non-loopback --listen address\n"
	    "                           (forces --token-mode validate)\n"
	    "  --admin                  serve /admin/...; every request needs\n"
	    "                           x-atrest-admin: $(cat STATE/admin-token)\n"
	    "  --managed-identity ID    IMDS issues tokens for client ID (only)\n"
	    "  --max-connections N      connections at once (512), each a thread\n"
	    "  --max-per-ip N           of them from one client address (256)\n"
	    "  --faults SPEC            e.g. 'latency=5ms,jitter=2ms,429=0.1,\n"
	    "                           retry-after=1,500=0.05,503=0.05,drop=0.02'\n"
	    "  --limits on|off          Azure's per-vault limits per 10 s (off)\n"
	    "  --limit-scale X          multiply every limit by X (1)\n"
	    "  --throttle-retry-after on|off  Retry-After on limit 429s (off)\n"
	    "  --token-mode any|validate      bearer checks (any)\n"
	    "  --client-file FILE       another client of the token endpoint,\n"
	    "                           ID:SECRET in FILE (mode 0600)\n"
	    "  --client ID:SECRET       the same, but the secret shows in ps\n"
	    "  --client-cert ID:CERT.pem  a certificate client: its token\n"
	    "                           requests carry a JWT client assertion\n"
	    "                           signed by CERT.pem's key (repeatable)\n"
	    "  --federated ID:ISSUER:JWKS.json  a federated client: tokens of\n"
	    "                           ISSUER signed by a JWKS key (repeatable)\n"
	    "  --federated-subject S    their sub claim (system:serviceaccount:\n"
	    "                           default:atrest)\n"
	    "  --tenant ID              tenant GUID (default: generated, kept)\n"
	    "  --authority URL          challenge authorization= (URL/TENANT)\n"
	    "  --resource URL           challenge resource= and token audience\n"
	    "                           (https://vault.azure.net; '' omits it)\n"
	    "  --scope SCOPE            add scope= to the challenge\n"
	    "  --disabled-blocks LIST   ops a disabled key refuses: all, none or\n"
	    "                           encrypt,decrypt,wrapKey,unwrapKey (all)\n"
	    "  --disabled-get 200|403   GET of a disabled key (200)\n"
	    "  --api-versions strict|any  unknown api-version: 400 or accept\n"
	    "  --purge-protection       recoveryLevel Recoverable, purge refused\n"
	    "  --recoverable-days N     soft-delete retention, 7..90 (90)\n"
	    "  --no-oct                 refuse oct-HSM keys, as a vault does\n"
	    "  --managed-hsm            act as a Managed HSM: resource and token\n"
	    "                           audience https://managedhsm.azure.net,\n"
	    "                           HSM key types only (RSA-HSM, oct-HSM);\n"
	    "                           add --san NAME.managedhsm.azure.net\n"
	    "  --token-lifetime SECS    issued tokens (3599)\n"
	    "  --san NAME               extra DNS name or IP in the server cert\n"
	    "  --pidfile PATH           write the pid, removed on exit\n"
	    "  --print-env              also print 'export AZURE_...' lines\n"
	    "  --verbose                access lines on stderr\n");
}

static void
log_stderr(void *arg, const char *line)
{
	char ts[32];
	time_t t = time(NULL);
	struct tm tm;

	(void)arg;
	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		ts[0] = '\0';
	fprintf(stderr, "%s atrest vault: %s\n", ts, line);
}

static int
on_off(const char *v, int *out)
{
	if (strcmp(v, "on") == 0 || strcmp(v, "1") == 0 ||
	    strcmp(v, "true") == 0)
		*out = 1;
	else if (strcmp(v, "off") == 0 || strcmp(v, "0") == 0 ||
	    strcmp(v, "false") == 0)
		*out = 0;
	else
		return -1;
	return 0;
}

/* "all", "none" or a list of encrypt, decrypt, wrapKey, unwrapKey
 * (core/jwk.h spells them). */
static int
parse_blocks(const char *v, unsigned *out)
{
	char buf[256], *p, *q;

	if (strcmp(v, "all") == 0) {
		*out = ATR_JWK_CRYPTO_ALL;
		return 0;
	}
	*out = 0;
	if (strcmp(v, "none") == 0)
		return 0;
	if (strlen(v) >= sizeof(buf))
		return -1;
	snprintf(buf, sizeof(buf), "%s", v);
	for (p = buf; p != NULL; p = q) {
		unsigned bit;

		q = strchr(p, ',');
		if (q != NULL)
			*q++ = '\0';
		bit = atr_jwk_op_parse(p) & ATR_JWK_CRYPTO_ALL;
		if (bit == 0)
			return -1;
		*out |= bit;
	}
	return 0;
}

/* Single-quoted for sh; ' becomes '\''. */
static void
print_quoted(const char *s)
{
	putchar('\'');
	for (; *s != '\0'; s++) {
		if (*s == '\'')
			fputs("'\\''", stdout);
		else
			putchar(*s);
	}
	putchar('\'');
}

static void
print_env(struct atr_kv_server *s, int mi)
{
	const char *url = atr_kv_server_url(s);

	/* The secret itself is never printed: the line reads its file. */
	printf("export AZURE_TENANT_ID=%s\n", atr_kv_server_tenant(s));
	printf("export AZURE_CLIENT_ID=%s\n", atr_kv_server_client_id(s));
	printf("export AZURE_CLIENT_SECRET=\"$(cat ");
	print_quoted(atr_kv_server_client_secret_path(s));
	printf(")\"\n");
	printf("export AZURE_AUTHORITY_HOST=%s\n", url);
	if (mi)
		printf("export AZURE_POD_IDENTITY_AUTHORITY_HOST=%s\n", url);
	printf("export ATREST_VAULT_URL=%s\n", url);
	printf("export ATREST_VAULT_CA=");
	print_quoted(atr_kv_server_ca_path(s));
	putchar('\n');
	printf("export NODE_EXTRA_CA_CERTS=");
	print_quoted(atr_kv_server_ca_path(s));
	putchar('\n');
}

static int
write_pidfile(const char *path)
{
	char buf[32];
	enum atr_err err;

	snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	err = atr_write_file(path, 0644, buf, strlen(buf));
	if (err != ATR_OK)
		return cli_error(path, err);
	return 0;
}

/*
 * --client-file: one "ID:SECRET" line in a regular file that only its
 * owner can read or write, checked as a private key is (core/fsutil.h).
 * On the command line the secret would be in every local user's process
 * list (/proc/PID/cmdline).  *out is wiped and freed by the caller.
 */
static int
read_client_file(const char *path, char **out, size_t *len)
{
	struct stat st;
	unsigned char *buf = NULL;
	size_t n = 0;
	enum atr_err err;
	char *colon;

	/* stat first: opening a FIFO would wait for a writer. */
	if (stat(path, &st) != 0) {
		fprintf(stderr, "atrest vault serve: %s: %s\n", path,
		    strerror(errno));
		return 2;
	}
	if (!S_ISREG(st.st_mode)) {
		fprintf(stderr, "atrest vault serve: %s: not a regular file\n",
		    path);
		return 2;
	}
	if ((st.st_mode & 077) != 0) {
		fprintf(stderr, "atrest vault serve: %s: a client secret file "
		    "must not be accessible by group or others (mode %03o); "
		    "run chmod 600 on it\n", path,
		    (unsigned)(st.st_mode & 0777));
		return 2;
	}
	/* fsutil checks the opened file again (it may have changed). */
	err = atr_read_small_file(path, 1024, 1, &buf, &n);
	if (err != ATR_OK)
		return cli_error(path, err);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	colon = strchr((char *)buf, ':');
	if (n == 0 || strlen((char *)buf) != n || colon == NULL ||
	    colon == (char *)buf || colon[1] == '\0' ||
	    strpbrk((char *)buf, "\r\n") != NULL) {
		atr_secure_free(buf, n);
		fprintf(stderr, "atrest vault serve: %s: expected one line "
		    "ID:SECRET\n", path);
		return 2;
	}
	*out = (char *)buf;
	*len = n;
	return 0;
}

/* What `vault serve` was asked to do. */
struct serve_args {
	struct atr_kv_server_opts o;    /* its arrays point below */
	const char *clients[MAX_CLIENTS]; /* --client, then --client-file */
	size_t nclients;
	const char *sans[MAX_SANS];
	size_t nsans;
	const char *certs[MAX_CLIENTS];   /* --client-cert */
	size_t ncerts;
	const char *feds[MAX_CLIENTS];    /* --federated */
	size_t nfeds;
	const char *cfile_paths[MAX_CLIENTS];
	size_t ncfiles;
	/* The --client-file contents, read by read_client_files, wiped and
	 * freed by free_client_files once the server has its copies. */
	char *cfiles[MAX_CLIENTS];
	size_t cfile_lens[MAX_CLIENTS];
	size_t nread;
	const char *pidfile;
	int print_env;
	int mode_any;                   /* --token-mode any given */
};

enum {
	O_LISTEN = 256, O_STATE, O_FAULTS, O_LIMITS, O_SCALE, O_TRA,
	O_TOKEN_MODE, O_CLIENT, O_TENANT, O_AUTHORITY, O_RESOURCE,
	O_SCOPE, O_BLOCKS, O_DGET, O_APIV, O_PURGE, O_DAYS, O_NOOCT,
	O_LIFETIME, O_SAN, O_PIDFILE, O_PRINTENV, O_VERBOSE, O_MHSM,
	O_REMOTE, O_ADMIN, O_MI, O_CLIENT_FILE, O_MAXCONN, O_MAXIP,
	O_CLIENT_CERT, O_FEDERATED, O_FED_SUBJECT,
};

static const struct option serve_opts[] = {
	{"listen", required_argument, NULL, O_LISTEN},
	{"state", required_argument, NULL, O_STATE},
	{"faults", required_argument, NULL, O_FAULTS},
	{"limits", required_argument, NULL, O_LIMITS},
	{"limit-scale", required_argument, NULL, O_SCALE},
	{"throttle-retry-after", required_argument, NULL, O_TRA},
	{"token-mode", required_argument, NULL, O_TOKEN_MODE},
	{"client", required_argument, NULL, O_CLIENT},
	{"client-file", required_argument, NULL, O_CLIENT_FILE},
	{"client-cert", required_argument, NULL, O_CLIENT_CERT},
	{"federated", required_argument, NULL, O_FEDERATED},
	{"federated-subject", required_argument, NULL, O_FED_SUBJECT},
	{"allow-remote", no_argument, NULL, O_REMOTE},
	{"admin", no_argument, NULL, O_ADMIN},
	{"managed-identity", required_argument, NULL, O_MI},
	{"max-connections", required_argument, NULL, O_MAXCONN},
	{"max-per-ip", required_argument, NULL, O_MAXIP},
	{"tenant", required_argument, NULL, O_TENANT},
	{"authority", required_argument, NULL, O_AUTHORITY},
	{"resource", required_argument, NULL, O_RESOURCE},
	{"scope", required_argument, NULL, O_SCOPE},
	{"disabled-blocks", required_argument, NULL, O_BLOCKS},
	{"disabled-get", required_argument, NULL, O_DGET},
	{"api-versions", required_argument, NULL, O_APIV},
	{"purge-protection", no_argument, NULL, O_PURGE},
	{"recoverable-days", required_argument, NULL, O_DAYS},
	{"no-oct", no_argument, NULL, O_NOOCT},
	{"managed-hsm", no_argument, NULL, O_MHSM},
	{"token-lifetime", required_argument, NULL, O_LIFETIME},
	{"san", required_argument, NULL, O_SAN},
	{"pidfile", required_argument, NULL, O_PIDFILE},
	{"print-env", no_argument, NULL, O_PRINTENV},
	{"verbose", no_argument, NULL, O_VERBOSE},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

/* A decimal integer in lo..hi, the whole of v.  -1 otherwise. */
static int
long_in(const char *v, long lo, long hi, long *out)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (end == v || *end != '\0' || errno != 0 || n < lo || n > hi)
		return -1;
	*out = n;
	return 0;
}

/* v is a (*out = 0) or b (*out = 1).  -1 otherwise. */
static int
one_of(const char *v, const char *a, const char *b, int *out)
{
	if (strcmp(v, a) == 0)
		*out = 0;
	else if (strcmp(v, b) == 0)
		*out = 1;
	else
		return -1;
	return 0;
}

#define USAGE(...) cli_usage_error("vault serve", __VA_ARGS__)

/*
 * One option c with its argument v into a.  Returns -1 to go on, else
 * the exit code.  The switch is the table of options and reads better
 * whole than cut.
 */
static int /* NOLINTNEXTLINE(readability-function-size): option table */
serve_option(struct serve_args *a, int c, const char *v, const char *text)
{
	struct atr_kv_server_opts *o = &a->o;
	char *end;
	long n;
	int flag;

	switch (c) {
	case O_LISTEN:
		o->listen = v;
		break;
	case O_STATE:
		o->state_dir = v;
		break;
	case O_FAULTS:
		o->faults = v;
		break;
	case O_LIMITS:
		if (on_off(v, &o->limits) != 0)
			return USAGE("--limits takes on or off");
		break;
	case O_SCALE:
		errno = 0;
		o->limit_scale = strtod(v, &end);
		if (end == v || *end != '\0' || errno != 0 ||
		    !(o->limit_scale > 0 && o->limit_scale <= 1000))
			return USAGE("--limit-scale takes a number in "
			    "(0, 1000]");
		break;
	case O_TRA:
		if (on_off(v, &o->throttle_retry_after) != 0)
			return USAGE("--throttle-retry-after takes on or off");
		break;
	case O_TOKEN_MODE:
		a->mode_any = strcmp(v, "any") == 0;
		if (one_of(v, "any", "validate", &flag) != 0)
			return USAGE("--token-mode takes any or validate");
		o->token_mode = flag ? ATR_KV_TOKEN_VALIDATE : ATR_KV_TOKEN_ANY;
		break;
	case O_CLIENT:
		if (a->nclients + a->ncfiles == MAX_CLIENTS ||
		    strchr(v, ':') == NULL)
			return USAGE("--client takes ID:SECRET (at most %d)",
			    MAX_CLIENTS);
		a->clients[a->nclients++] = v;
		cli_warn("--client shows the secret to every local user (ps); "
		    "--client-file FILE keeps it out");
		break;
	case O_CLIENT_FILE:
		if (a->nclients + a->ncfiles == MAX_CLIENTS)
			return USAGE("at most %d clients", MAX_CLIENTS);
		a->cfile_paths[a->ncfiles++] = v;
		break;
	case O_CLIENT_CERT:
		if (a->ncerts == MAX_CLIENTS || strchr(v, ':') == NULL)
			return USAGE("--client-cert takes ID:CERT.pem (at "
			    "most %d)", MAX_CLIENTS);
		a->certs[a->ncerts++] = v;
		break;
	case O_FEDERATED:
		if (a->nfeds == MAX_CLIENTS ||
		    strchr(v, ':') == strrchr(v, ':'))
			return USAGE("--federated takes ID:ISSUER:JWKS.json "
			    "(at most %d)", MAX_CLIENTS);
		a->feds[a->nfeds++] = v;
		break;
	case O_FED_SUBJECT:
		if (*v == '\0')
			return USAGE("--federated-subject takes a subject");
		o->fed_subject = v;
		break;
	case O_REMOTE:
		o->allow_remote = 1;
		break;
	case O_ADMIN:
		o->admin = 1;
		break;
	case O_MI:
		o->managed_identity = v;
		break;
	case O_MAXCONN:
		if (long_in(v, 1, 4096, &n) != 0)
			return USAGE("--max-connections takes 1..4096");
		o->max_connections = (unsigned)n;
		break;
	case O_MAXIP:
		if (long_in(v, 1, 4096, &n) != 0)
			return USAGE("--max-per-ip takes 1..4096");
		o->max_per_ip = (unsigned)n;
		break;
	case O_TENANT:
		o->tenant = v;
		break;
	case O_AUTHORITY:
		o->challenge_authority = v;
		break;
	case O_RESOURCE:
		o->challenge_resource = v;
		break;
	case O_SCOPE:
		o->challenge_scope = v;
		break;
	case O_BLOCKS:
		if (parse_blocks(v, &o->disabled_blocks) != 0)
			return USAGE("--disabled-blocks takes all, none or a "
			    "list of encrypt,decrypt,wrapKey,unwrapKey");
		break;
	case O_DGET:
		if (one_of(v, "200", "403", &o->disabled_get_forbidden) != 0)
			return USAGE("--disabled-get takes 200 or 403");
		break;
	case O_APIV:
		if (one_of(v, "any", "strict", &o->api_version_strict) != 0)
			return USAGE("--api-versions takes strict or any");
		break;
	case O_PURGE:
		o->purge_protection = 1;
		break;
	case O_DAYS:
		if (long_in(v, 7, 90, &n) != 0)
			return USAGE("--recoverable-days takes 7..90");
		o->recoverable_days = (int)n;
		break;
	case O_NOOCT:
		o->allow_oct = 0;
		break;
	case O_MHSM:
		o->managed_hsm = 1;
		break;
	case O_LIFETIME:
		if (long_in(v, 1, 604800, &o->token_lifetime) != 0)
			return USAGE("--token-lifetime takes 1..604800 "
			    "seconds");
		break;
	case O_SAN:
		if (a->nsans == MAX_SANS)
			return USAGE("too many --san");
		a->sans[a->nsans++] = v;
		break;
	case O_PIDFILE:
		a->pidfile = v;
		break;
	case O_PRINTENV:
		a->print_env = 1;
		break;
	case O_VERBOSE:
		o->log_access = 1;
		break;
	case 'h':
		usage_serve(stdout);
		return 0;
	default:
		return USAGE("unknown option '%s'", text);
	}
	return -1;
}

/* The command line into a.  Returns -1 to go on, else the exit code. */
static int
parse_args(int argc, char **argv, struct serve_args *a)
{
	int c, rc;

	memset(a, 0, sizeof(*a));
	atr_kv_server_opts_init(&a->o);
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", serve_opts, NULL)) != -1) {
		rc = serve_option(a, c, optarg, argv[optind - 1]);
		if (rc >= 0)
			return rc;
	}
	if (optind != argc)
		return USAGE("unexpected argument '%s'", argv[optind]);
	if (a->o.state_dir == NULL)
		return USAGE("--state DIR is required");
	if (a->o.allow_remote && a->mode_any)
		return USAGE("--allow-remote validates tokens: it cannot be "
		    "used with --token-mode any");
	return -1;
}

/* The --client-file files, each one more client.  0 or the exit code. */
static int
read_client_files(struct serve_args *a)
{
	int rc;

	for (a->nread = 0; a->nread < a->ncfiles; a->nread++) {
		rc = read_client_file(a->cfile_paths[a->nread],
		    &a->cfiles[a->nread], &a->cfile_lens[a->nread]);
		if (rc != 0)
			return rc;
		a->clients[a->nclients++] = a->cfiles[a->nread];
	}
	return 0;
}

static void
free_client_files(struct serve_args *a)
{
	size_t i;

	for (i = 0; i < a->nread; i++)
		atr_secure_free(a->cfiles[i], a->cfile_lens[i]);
	a->nread = 0;
}

/* One fact per line, machine-readable, "ready=1" last, then flushed. */
static void
print_facts(struct atr_kv_server *s, int env)
{
	const char *admin_path = atr_kv_server_admin_token_path(s);
	const char *mi = atr_kv_server_mi_client_id(s);
	const char *id;
	size_t i;
	int fed = 0;

	printf("url=%s\n", atr_kv_server_url(s));
	printf("port=%u\n", (unsigned)atr_kv_server_port(s));
	printf("ca=%s\n", atr_kv_server_ca_path(s));
	printf("tenant=%s\n", atr_kv_server_tenant(s));
	printf("client_id=%s\n", atr_kv_server_client_id(s));
	printf("client_secret_file=%s\n", atr_kv_server_client_secret_path(s));
	printf("token_mode=%s\n", atr_kv_server_token_mode(s) ==
	    ATR_KV_TOKEN_VALIDATE ? "validate" : "any");
	printf("token_url=%s/%s/oauth2/v2.0/token\n", atr_kv_server_url(s),
	    atr_kv_server_tenant(s));
	if (mi != NULL) {
		printf("mi_client_id=%s\n", mi);
		printf("imds_url=%s/metadata/identity/oauth2/token\n",
		    atr_kv_server_url(s));
	}
	if (admin_path != NULL) {
		printf("admin_url=%s/admin\n", atr_kv_server_url(s));
		printf("admin_token_file=%s\n", admin_path);
	}
	for (i = 0; (id = atr_kv_server_assert_client(s, i, &fed)) != NULL;
	    i++)
		printf("%s=%s\n", fed ? "federated" : "client_cert", id);
	printf("challenge=%s\n", atr_kv_server_challenge(s));
	printf("pid=%ld\n", (long)getpid());
	if (env)
		print_env(s, mi != NULL);
	printf("ready=1\n");
	fflush(stdout);
}

/* Starts the server, says so, serves until SIGINT or SIGTERM. */
static int
serve_run(struct serve_args *a)
{
	struct atr_kv_server *s = NULL;
	sigset_t set;
	enum atr_err err;
	int rc, sig = 0;

	a->o.clients = a->clients;
	a->o.nclients = a->nclients;
	a->o.cert_clients = a->certs;
	a->o.ncert_clients = a->ncerts;
	a->o.fed_clients = a->feds;
	a->o.nfed_clients = a->nfeds;
	a->o.extra_sans = a->sans;
	a->o.n_extra_sans = a->nsans;
	a->o.log = log_stderr;
	/* Signals are taken by sigwait below: block them before the
	 * server's threads exist so that every thread inherits the mask. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	err = atr_kv_server_start(&a->o, &s);
	/* The server keeps its own copies of the secrets. */
	free_client_files(a);
	if (err != ATR_OK)
		return cli_error("vault serve", err); /* the detail names files */
	if (a->pidfile != NULL && (rc = write_pidfile(a->pidfile)) != 0) {
		atr_kv_server_stop(s);
		return rc;
	}
	print_facts(s, a->print_env);
	while (sigwait(&set, &sig) != 0 || sig == SIGHUP)
		;
	log_stderr(NULL, sig == SIGINT ? "SIGINT: stopping" :
	    "SIGTERM: stopping");
	atr_kv_server_stop(s);
	if (a->pidfile != NULL)
		unlink(a->pidfile);
	return 0;
}

static int
serve_main(int argc, char **argv)
{
	struct serve_args a;
	int rc = parse_args(argc, argv, &a);

	if (rc >= 0)
		return rc;
	rc = read_client_files(&a);
	if (rc == 0)
		rc = serve_run(&a);
	free_client_files(&a);
	return rc;
}

int
cmd_vault(int argc, char **argv)
{
	if (argc < 2) {
		usage_top(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage_top(stdout);
		return 0;
	}
	if (strcmp(argv[1], "serve") == 0)
		return serve_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "federated-token") == 0)
		return vault_fedtoken_main(argc - 1, argv + 1);
	/* argv[0] is the subcommand, as for any command (cli.h). */
	return vault_client_main(argc - 1, argv + 1);
}
