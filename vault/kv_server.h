/*
 * kv_server.h - a loopback server that speaks the Azure Key Vault keys
 * REST API (docs/VAULT.md), for tests and benchmarks without a cloud.
 *
 * HTTPS only (libmicrohttpd + GnuTLS), with a test CA generated into the
 * state directory; keys persist there, one JSON file per key name.  It
 * also serves an Entra-ID-like client-credentials token endpoint, an
 * IMDS-like managed-identity endpoint (only with managed_identity set)
 * and an admin endpoint for fault injection and statistics (only with
 * admin set, and then only to holders of STATE/admin-token).  Behaviours
 * the public documentation leaves open are switches below.
 * docs/VAULT.md states the threat model.
 *
 * The server never prints: it reports through opts->log, if set.
 *
 * Ownership: the caller owns struct atr_kv_server_opts and every string
 * and array it points to; atr_kv_server_start reads them during the call
 * only (it copies what it keeps), except log and log_arg, which must
 * stay valid until atr_kv_server_stop returns.  The server (struct
 * atr_kv_server) is allocated by atr_kv_server_start and freed by
 * atr_kv_server_stop, nothing else.  Every string an accessor returns
 * belongs to the server: it is borrowed, unchanged, until
 * atr_kv_server_stop, which the caller must not call while another
 * thread still uses the server or such a string.
 */
#ifndef ATR_KV_SERVER_H
#define ATR_KV_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "jwk.h"

enum atr_kv_token_mode {
	ATR_KV_TOKEN_ANY = 0,      /* any non-empty bearer is accepted */
	ATR_KV_TOKEN_VALIDATE = 1, /* our HS256 tokens: signature, exp, nbf, iss, aud */
};

struct atr_kv_server_opts {
	/* "HOST:PORT" or "[V6]:PORT"; port 0 picks a free one.  The host
	 * must resolve to a loopback address unless allow_remote is set. */
	const char *listen;
	/* 1: a non-loopback listen address is allowed; it forces
	 * ATR_KV_TOKEN_VALIDATE, whatever token_mode says. */
	int allow_remote;
	/* 1: serve /admin/...; each request must then carry the header
	 * "x-atrest-admin: TOKEN", TOKEN being the random value written
	 * (0600) to STATE/admin-token at start.  0: /admin answers 404. */
	int admin;
	/* Client id of the one managed identity the IMDS endpoint issues
	 * tokens for; NULL or "": the endpoint issues none. */
	const char *managed_identity;
	/* Connection limits: in total and per client address, and the
	 * seconds a connection may stay silent before its first request is
	 * authenticated (TLS handshake and headers included) and after. */
	unsigned max_connections;       /* 512 */
	unsigned max_per_ip;            /* 256: a bench's most workers */
	unsigned handshake_timeout;     /* 10 */
	unsigned idle_timeout;          /* 60 */
	/* Required: CA, server certificate, keys, server.json live here. */
	const char *state_dir;
	/* Fault spec (docs/VAULT.md), NULL or "" for none. */
	const char *faults;
	/* Per-vault service limits per 10 s as Azure publishes them. */
	int limits;
	double limit_scale;         /* multiplies every limit; 1.0 */
	int throttle_retry_after;   /* send Retry-After on a limit 429 */
	enum atr_kv_token_mode token_mode;
	/* Tenant GUID; NULL = the one generated into server.json. */
	const char *tenant;
	/* WWW-Authenticate parameters.  authority NULL = "URL/TENANT" of
	 * this server; resource NULL = "https://vault.azure.net", "" omits
	 * it; scope NULL omits it. */
	const char *challenge_authority;
	const char *challenge_resource;
	const char *challenge_scope;
	/* Extra clients for the token endpoint, each "ID:SECRET" (the
	 * server keeps copies; the caller may wipe its own after start).
	 * A default test client is always generated into the state dir. */
	const char *const *clients;
	size_t nclients;
	/*
	 * Certificate clients, each "ID:CERT.pem": the token endpoint
	 * takes from ID only a JWT client assertion (RFC 7523) signed by
	 * the key of the (RSA) certificate in CERT.pem and naming it by
	 * x5t#S256 or x5t.  Read during the start.
	 */
	const char *const *cert_clients;
	size_t ncert_clients;
	/*
	 * Federated clients, each "ID:ISSUER:JWKS.json" (ID up to the
	 * first ':', the file after the last one, ISSUER a URL between):
	 * the token endpoint takes from ID only an assertion signed by a
	 * key of the JWKS (RFC 7517) with iss ISSUER, sub fed_subject and
	 * aud api://AzureADTokenExchange, as Entra ID checks a federated
	 * identity credential.  fed_subject NULL or "":
	 * "system:serviceaccount:default:atrest".
	 */
	const char *const *fed_clients;
	size_t nfed_clients;
	const char *fed_subject;
	/* ATR_KV_OP_* bits a disabled key refuses with 403 KeyDisabled. */
	unsigned disabled_blocks;
	/* 1: GET of a disabled key answers 403 KeyDisabled (default 200). */
	int disabled_get_forbidden;
	/* 1: unknown api-version gets 400 BadParameter; 0: accepted. */
	int api_version_strict;
	int purge_protection;       /* recoveryLevel "Recoverable", no purge */
	int recoverable_days;       /* 7..90, default 90 */
	int allow_oct;              /* oct-HSM keys (Managed HSM behaviour) */
	/* 1: a Managed HSM (docs/VAULT.md): the challenge resource and
	 * token audience default to https://managedhsm.azure.net, and only
	 * HSM key types are created (RSA-HSM, oct-HSM); an import of RSA
	 * material makes an RSA-HSM key. */
	int managed_hsm;
	long token_lifetime;        /* seconds, default 3599 */
	/* 1: recoveryLevel gains "+ProtectedSubscription" with purge
	 * protection (a subscription that cannot be cancelled). */
	int protected_subscription;
	/* Extra DNS names / IP addresses for the server certificate. */
	const char *const *extra_sans;
	size_t n_extra_sans;
	/* Optional sink for access lines and server errors.  Never given
	 * secrets, tokens or bodies.  Called from the server's threads,
	 * several at once, until atr_kv_server_stop returns; line is
	 * borrowed for the call.  log_arg is passed as arg, not used. */
	void (*log)(void *arg, const char *line);
	void *log_arg;
	int log_access;             /* also one line per request */
};

struct atr_kv_server_stats {
	uint64_t requests;          /* every request, admin excluded */
	uint64_t unauthorized;      /* 401 answers on the vault API */
	uint64_t throttled;         /* 429 from the service limits */
	uint64_t fault_latency;     /* requests delayed by a fault */
	uint64_t fault_status;      /* 429/5xx injected */
	uint64_t fault_drop;        /* connections dropped */
	uint64_t tokens_issued;
};

struct atr_kv_server;

/* Fills opts with the defaults documented above; the strings it sets
 * are static. */
void atr_kv_server_opts_init(struct atr_kv_server_opts *opts);

/*
 * Creates the state directory and its test CA on first use, loads the
 * keys, binds and starts serving on internal threads (one per
 * connection).  Returns when the port is bound, with *out the new
 * server (the caller's, to give to atr_kv_server_stop); on an error,
 * *out is NULL, nothing is left running and atr_detail() says why.
 */
enum atr_err atr_kv_server_start(const struct atr_kv_server_opts *opts,
    struct atr_kv_server **out);
/* Stops serving, waits for the connection threads, removes
 * STATE/admin-token, wipes and frees s.  NULL-safe. */
void atr_kv_server_stop(struct atr_kv_server *s);

/* The accessors may be called from any thread while s runs; the strings
 * they return are s's (see Ownership above). */
unsigned short atr_kv_server_port(const struct atr_kv_server *s);
/* "https://ADDR:PORT", ADDR the numeric address bound ("[V6]" for
 * IPv6), which the server certificate names. */
const char *atr_kv_server_url(const struct atr_kv_server *s);
/* Absolute path of the test CA certificate (PEM). */
const char *atr_kv_server_ca_path(const struct atr_kv_server *s);
const char *atr_kv_server_tenant(const struct atr_kv_server *s);
/* The default test client and the 0600 file holding its secret. */
const char *atr_kv_server_client_id(const struct atr_kv_server *s);
const char *atr_kv_server_client_secret_path(const struct atr_kv_server *s);
/* The WWW-Authenticate value sent with every 401. */
const char *atr_kv_server_challenge(const struct atr_kv_server *s);
/* STATE/admin-token, or NULL when the admin API is off. */
const char *atr_kv_server_admin_token_path(const struct atr_kv_server *s);
/* The i-th certificate or federated client's id (*federated says
 * which), in the order of the options, or NULL past the last. */
const char *atr_kv_server_assert_client(const struct atr_kv_server *s,
    size_t i, int *federated);
/* The managed identity's client id, or NULL when IMDS is off. */
const char *atr_kv_server_mi_client_id(const struct atr_kv_server *s);
/* The token mode in force (allow_remote forces validate). */
enum atr_kv_token_mode atr_kv_server_token_mode(struct atr_kv_server *s);

/* Replaces the fault configuration (same grammar as opts->faults); spec
 * is read during the call only.  On an error the faults stay as they
 * were. */
enum atr_err atr_kv_server_set_faults(struct atr_kv_server *s,
    const char *spec);

/* Copies the counters into the caller's *st. */
void atr_kv_server_get_stats(struct atr_kv_server *s,
    struct atr_kv_server_stats *st);

#endif
