/*
 * kv_server_int.h - what the vault/kv_server*.c files share.  Not an
 * API: only they and their tests (tests/unit/test_kv_server.c,
 * tests/testlib) include it.
 *
 * The files, by the order a request meets them:
 *   kv_server.c           lifetime: start, stop, accessors; listen
 *                         address; clock, switches, log
 *   kv_server_state.c     STATE: lock, server.json, clients, admin token
 *   kv_server_tls.c       the test CA and server certificate
 *   kv_server_store.c     keys in memory and in STATE/keys
 *   kv_server_http.c      HTTP front end: admission, bodies, answers
 *   kv_server_admin.c     the admin API
 *   kv_server_auth.c      bearer check, token signing
 *   kv_server_identity.c  token endpoint, OIDC metadata, IMDS
 *   kv_server_pipeline.c  faults, route, api-version, limits, in order
 *   kv_server_faults.c    fault grammar and injector
 *   kv_server_route.c     paths to operations, limit costs, dispatch
 *   kv_server_keys.c      key management handlers and their shapes
 *   kv_server_import.c    PUT /keys/{name}
 *   kv_server_rotate.c    rotate, rotation policy
 *   kv_server_crypto.c    wrapkey, unwrapkey, encrypt, decrypt
 *   kv_server_util.c      files, encodings, names, text
 *
 * Ownership, unless a declaration says otherwise: pointer arguments are
 * borrowed for the call.  A struct kvs_http is one request, on the
 * stack of the thread answering it; its strings (method, path, body,
 * api_version, note) are borrowed from libmicrohttpd or the request's
 * buffer until the answer is queued, and the answer it holds (resp) is
 * its own.  A function that "answers" or "replies" has stored the
 * answer in h.  Keys and versions a lookup returns belong to the store
 * and are valid while the caller holds st->lock.  A cJSON * returned is
 * the caller's to delete (atr_json_free_wiped when it may hold
 * secrets); one taken is said so.
 */
#ifndef ATR_KV_SERVER_INT_H
#define ATR_KV_SERVER_INT_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include "err.h"
#include "jwk.h"
#include "kv_server.h"
#include "json.h"

/* Object names and versions: "about-keys-secrets-certificates",
 * https://learn.microsoft.com/en-us/azure/key-vault/general/about-keys-secrets-certificates */
#define KVS_VERSION_LEN 32U     /* system-generated; hex here */
#define KVS_BODY_MAX (1U << 20)
#define KVS_BASE_MAX 320U

/*
 * What one key may hold, checked when a request writes it, so that
 * every acknowledged write stays loadable (docs/VAULT.md, "Limits").
 * Tags: the Azure tag limits (15 pairs, names up to 512 characters,
 * values up to 256).  Versions and rotation policies: ours, chosen so
 * that the largest possible key file fits the loader's KVS_FILE_MAX
 * (the _Static_assert in kv_server_store.c does the sum).
 */
#define KVS_TAGS_MAX 15U
#define KVS_TAG_NAME_MAX 512U       /* characters (code points) */
#define KVS_TAG_VALUE_MAX 256U
#define KVS_VERSIONS_MAX 256U       /* per key name */
#define KVS_POLICY_MAX 16384U       /* rotation policy, compact JSON */
#define KVS_POLICY_DEPTH 6U         /* nesting inside the policy */
#define KVS_FILE_MAX (16U << 20)    /* the loader's limit per key file */

/* ------------------------------------------------------------------ */
/* Keys */

enum kvs_kty {
	KVS_KTY_RSA = 1,
	KVS_KTY_RSA_HSM = 2,
	KVS_KTY_OCT_HSM = 3,
};

/* One version of a key; it owns tags, pkey, n_b64 and e_b64
 * (kvs_version_free frees them and wipes the rest). */
struct kvs_version {
	char id[KVS_VERSION_LEN + 1];
	enum kvs_kty kty;
	unsigned bits;
	unsigned key_ops;           /* ATR_JWK_* (core/jwk.h) */
	int enabled;
	int has_nbf, has_exp;
	int64_t nbf, exp;
	int64_t created, updated;
	int exportable;
	cJSON *tags;                /* object, or NULL when never set */
	EVP_PKEY *pkey;             /* RSA */
	uint8_t oct[32];            /* oct-HSM */
	size_t oct_len;
	char *n_b64, *e_b64;        /* public JWK parts, base64url */
};

/* A key name and its versions, which it owns (kvs_key_free). */
struct kvs_key {
	char name[ATR_KV_NAME_MAX + 1];    /* as first created */
	struct kvs_version **v;         /* creation order: last is latest */
	size_t nv, capv;
	int deleted;
	int64_t deleted_date, purge_date;
	cJSON *rotation_policy;         /* as PUT, or NULL */
};

/* Every key, owned by the store: lookups under a read lock, changes
 * under the write lock. */
struct kvs_store {
	pthread_rwlock_t lock;
	struct kvs_key **keys;
	size_t n, cap;
	char dir[PATH_MAX - 256];       /* STATE/keys */
	size_t skipped;                 /* key files the loader reported */
};

struct atr_kv_server;
/*
 * Creates dir (mode 0700) or tightens it to 0700, and refuses one that
 * group or others may write to (ATR_ERR_CONFIG, naming it): anyone who
 * can write there can plant keys and tokens.  For STATE and STATE/keys.
 */
enum atr_err kvs_state_dir_prepare(const char *dir);
/*
 * Loads STATE/keys (dir) after removing the temporary files an
 * interrupted write left in STATE and STATE/keys.  A key file that
 * cannot be loaded is reported through s's log, left as it is and
 * skipped; its name stays reserved (kvs_store_file_exists).  A key file
 * others can read stops the start, naming it.
 */
enum atr_err kvs_store_open(struct kvs_store *st, const char *dir,
    struct atr_kv_server *s);
void kvs_store_close(struct kvs_store *st);
/* Lookups: the caller holds st->lock.  Case-insensitive, as Key Vault
 * compares identifiers. */
struct kvs_key *kvs_store_find(struct kvs_store *st, const char *name);
/* Version ver (NULL or "": the latest) of the key name unless it is
 * deleted, else NULL; *key gets the key, deleted or not (or NULL). */
struct kvs_version *kvs_store_find_version(struct kvs_store *st,
    const char *name, const char *ver, struct kvs_key **key);
/* ver NULL or "" = latest. */
struct kvs_version *kvs_key_version(struct kvs_key *k, const char *ver);
struct kvs_version *kvs_key_latest(struct kvs_key *k);
/* Write lock held.  Atomic rewrite of the key's file.  ATR_ERR_LIMIT
 * (nothing written) when the file would exceed KVS_FILE_MAX. */
enum atr_err kvs_store_persist(struct kvs_store *st, struct kvs_key *k);
/* 1 when a file for name exists that no loaded key owns (one the
 * loader skipped): it must not be overwritten. */
int kvs_store_file_exists(struct kvs_store *st, const char *name);
/* Write lock held.  Takes k (on success only). */
enum atr_err kvs_store_add(struct kvs_store *st, struct kvs_key *k);
/* Write lock held.  Removes k and its file, frees k. */
enum atr_err kvs_store_purge(struct kvs_store *st, struct kvs_key *k);

/* New version with fresh material (no lock needed).  RSA generation
 * gives up (ATR_ERR_TIMEOUT) as soon as *cancel (may be NULL) is set:
 * the server sets it when it stops. */
enum atr_err kvs_version_generate(enum kvs_kty kty, unsigned bits,
    const _Atomic int *cancel, struct kvs_version **out);
/* Wipes and frees v and what it owns.  NULL-safe. */
void kvs_version_free(struct kvs_version *v);
/* A new key without versions (name copied), or NULL; kvs_key_free
 * frees it and its versions (NULL-safe). */
struct kvs_key *kvs_key_new(const char *name);
void kvs_key_free(struct kvs_key *k);
/* Takes v (on success only) as k's newest version. */
enum atr_err kvs_key_append(struct kvs_key *k, struct kvs_version *v);

/* JsonWebKeyType: "RSA", "RSA-HSM", "oct-HSM" (static strings);
 * parse is case-sensitive, -1 for any other. */
const char *kvs_kty_name(enum kvs_kty kty);
int kvs_kty_parse(const char *s, enum kvs_kty *out);
/* ATR_JWK_* bits (core/jwk.h) as a JSON array of their names, in the
 * REST API's order.  Caller deletes. */
cJSON *kvs_kop_json(unsigned ops);
/* The ATR_JWK_* bits an array of names gives, unknown names and
 * non-strings ignored; 0 when a is not an array. */
unsigned kvs_kop_parse(const cJSON *a);
/* An AES key of 128, 192 or 256 bits from base64url into v (oct, oct_len,
 * bits).  -1 when b64 is not that. */
int kvs_version_set_oct(struct kvs_version *v, const char *b64);
/* v->n_b64, v->e_b64 and v->bits from v->pkey (RSA). */
enum atr_err kvs_version_rsa_public(struct kvs_version *v);

/* JsonWebKeyEncryptionAlgorithm values we implement. */
enum kvs_alg {
	KVS_ALG_NONE = 0,
	KVS_ALG_RSA_OAEP,
	KVS_ALG_RSA_OAEP_256,
	KVS_ALG_RSA1_5,
	KVS_ALG_A128KW,
	KVS_ALG_A192KW,
	KVS_ALG_A256KW,
	KVS_ALG_A128GCM,
	KVS_ALG_A192GCM,
	KVS_ALG_A256GCM,
	KVS_ALG_UNSUPPORTED,        /* a valid enum value we do not do */
};
/* kv_server_crypto.c: the algorithms. */
enum kvs_alg kvs_alg_parse(const char *s);

/* One operation's buffers, all the caller's: in, iv, aad and tag are
 * read, out (at least in_len + 512 bytes) and the rest written. */
struct kvs_crypt_io {
	const uint8_t *in;
	size_t in_len;
	const uint8_t *iv, *aad, *tag;
	size_t iv_len, aad_len, tag_len;
	uint8_t *out;               /* at least in_len + 512 bytes */
	size_t out_len;
	uint8_t iv_out[12], tag_out[16];
	int has_iv_out;
};
/*
 * forward: encrypt/wrapKey; else decrypt/unwrapKey.  ATR_ERR_USAGE for
 * an algorithm that does not fit the key or bad lengths (detail set),
 * ATR_ERR_AUTH when decryption fails.
 */
enum atr_err kvs_crypt(const struct kvs_version *v, enum kvs_alg alg,
    int forward, struct kvs_crypt_io *io);

/* ------------------------------------------------------------------ */
/* kv_server_util.c */

/* buf into path atomically (core/fsutil.h: a temporary file of mode
 * mode from its first byte, fsync, rename). */
/* 1 when a[alen] equals b[blen], in time that shows neither (for
 * secrets and tokens). */
int kvs_secret_equal(const void *a, size_t alen, const void *b,
    size_t blen);
/* base64url without padding (RFC 4648 section 5), malloc'd: the
 * caller frees it (atr_secure_free when it encodes a secret); NULL
 * without memory. */
char *kvs_b64url(const uint8_t *in, size_t len);
/* Strict alphabet; '=' padding tolerated.  -1 on a bad character or
 * length (*out NULL).  *out malloc'd: the caller wipes and frees it. */
int kvs_unb64url(const char *in, uint8_t **out, size_t *len);
/* A random version-4 UUID (RFC 4122), a random key version id. */
void kvs_uuid(char out[37]);
void kvs_hex_id(char out[KVS_VERSION_LEN + 1]);
/*
 * 1 when s is well-formed UTF-8 (RFC 3629) of at most max_chars
 * characters without C0 controls or DEL (JSON writes those as six
 * bytes, RFC 8259 section 7).
 */
int kvs_text_valid(const char *s, size_t max_chars);
/* kvs_text_valid for every member name and string of j, which nests
 * at most depth levels. */
int kvs_json_text_valid(const cJSON *j, unsigned depth);
/* x-www-form-urlencoded: finds key, decodes into out (NUL-terminated).
 * Returns 1 when found, 0 when absent, -1 when too long/bad. */
int kvs_form_get(const char *body, size_t len, const char *key, char *out,
    size_t cap);
/* RFC 3339-ish "2025-01-02 03:04:05Z" (for AAD error bodies). */
void kvs_timestamp(int64_t t, char *out, size_t cap);

/* ------------------------------------------------------------------ */
/* Faults, limits, stats */

#define KVS_FAULT_NSTATUS 5 /* 429 500 502 503 504 */

struct kvs_faults {
	unsigned latency_ms, jitter_ms;
	double p_status[KVS_FAULT_NSTATUS];
	double p_drop;
	int retry_after;            /* seconds; -1 = no header */
	uint32_t ops;               /* bit per enum kvs_op; 0 = all */
	uint64_t seed;
	int has_seed;
};
extern const int kvs_fault_status[KVS_FAULT_NSTATUS];

/* kv_server_faults.c */
/* The fault grammar (docs/VAULT.md), as a spec string or as the admin
 * API's JSON; *f is written only on success. */
enum atr_err kvs_faults_parse(const char *spec, struct kvs_faults *f);
enum atr_err kvs_faults_from_json(const cJSON *j, struct kvs_faults *f);
cJSON *kvs_faults_json(const struct kvs_faults *f);
/* Puts a copy of f in force and reseeds the draws. */
void kvs_faults_install(struct atr_kv_server *s, const struct kvs_faults *f);

enum kvs_op {
	KVS_OP_OTHER = 0,
	KVS_OP_CREATE,
	KVS_OP_IMPORT,
	KVS_OP_GET,
	KVS_OP_UPDATE,
	KVS_OP_ROTATE,
	KVS_OP_VERSIONS,
	KVS_OP_LIST,
	KVS_OP_DELETE,
	KVS_OP_GET_DELETED,
	KVS_OP_LIST_DELETED,
	KVS_OP_RECOVER,
	KVS_OP_PURGE,
	KVS_OP_WRAP,
	KVS_OP_UNWRAP,
	KVS_OP_ENCRYPT,
	KVS_OP_DECRYPT,
	KVS_OP_GET_POLICY,
	KVS_OP_SET_POLICY,
	KVS_OP__COUNT
};
/* "wrapkey", ... (static strings); parse ORs s's bit, "all" or
 * "crypto" into *mask, -1 when unknown. */
const char *kvs_op_name(enum kvs_op op);
int kvs_op_parse(const char *s, uint32_t *mask);

/* What the faults in force pick for one request of operation op (and
 * count in the statistics). */
struct kvs_fault_pick {
	unsigned delay_ms;
	int status;                 /* 0 = none */
	int retry_after;            /* -1: no header */
	int drop;                   /* close without an answer */
};
void kvs_fault_decide(struct atr_kv_server *s, enum kvs_op op,
    struct kvs_fault_pick *p);
/* Sleeps ms, in slices that end early when the server stops. */
void kvs_fault_sleep(struct atr_kv_server *s, unsigned ms);

/* Runtime switches (opts at start, POST /admin/config later). */
struct kvs_config {
	unsigned disabled_blocks;
	int disabled_get_forbidden;
	int api_version_strict;
	int limits;
	double limit_scale;
	int throttle_retry_after;
	enum atr_kv_token_mode token_mode;
	int64_t clock_offset;       /* seconds added to the server's clock */
};

enum kvs_lim_bucket {
	KVS_LIM_VAULT,
	KVS_LIM_KEY_OTHER,
	KVS_LIM_KEY_CREATE,
	KVS_LIM__N
};

struct kvs_limits {
	int64_t slot_sec[KVS_LIM__N][10];
	uint32_t slot_units[KVS_LIM__N][10];
};

struct kvs_stats {
	struct atr_kv_server_stats pub;
	uint64_t fault_by_status[KVS_FAULT_NSTATUS];
	uint64_t ops[KVS_OP__COUNT];
	uint64_t status[600];
};

/* ------------------------------------------------------------------ */
/* The server */

enum kvs_client_kind {
	KVS_CLIENT_SECRET = 0,      /* client_secret (RFC 6749 2.3.1) */
	KVS_CLIENT_CERT,            /* private_key_jwt (RFC 7523 2.2) */
	KVS_CLIENT_FED,             /* a federated identity credential */
};

/* One signing key of a federated client's issuer (its JWKS). */
struct kvs_fed_key {
	char kid[128];
	EVP_PKEY *pub;
};

/* A token-endpoint client; the server owns every pointer in it
 * (kvs_client_free; the secret is wiped). */
struct kvs_client {
	char id[128];
	enum kvs_client_kind kind;
	char *secret;               /* KVS_CLIENT_SECRET */
	size_t secret_len;
	/* KVS_CLIENT_CERT: the certificate's public key and the SHA-256
	 * and SHA-1 of its DER, which x5t#S256 and x5t name (RFC 7515
	 * 4.1.8, 4.1.7). */
	EVP_PKEY *cert_pub;
	uint8_t x5t_s256[32];
	uint8_t x5t_sha1[20];
	/* KVS_CLIENT_FED */
	char *issuer;
	char *subject;
	struct kvs_fed_key *keys;
	size_t nkeys;
};

/* A used certificate assertion, kept until its exp (replay check). */
struct kvs_jti {
	uint8_t h[32];              /* SHA-256 of client id, NUL, jti */
	uint8_t a[32];              /* SHA-256 of the whole assertion */
	int64_t exp;
};
#define KVS_JTI_MAX 4096U

/* The server; it owns every pointer in it (atr_kv_server_stop frees). */
struct atr_kv_server {
	struct MHD_Daemon *daemon;
	/* 0 until url and challenge are written (they need the port the
	 * daemon bound, so they come after it started), 1 then, -1 when the
	 * start failed: request threads wait for it (on_request). */
	_Atomic int started;
	char listen_host[128];      /* as given, without brackets */
	int ipv6;
	unsigned short port;
	char url[KVS_BASE_MAX];
	char state_dir[PATH_MAX - 256];
	char ca_path[PATH_MAX];
	char secret_path[PATH_MAX];
	char tenant[64];
	char client_id[64];
	char mi_client_id[64];
	/* Front end (kv_server.c): what was bound, who may do what. */
	char bound_host[80];        /* numeric address, no brackets */
	int allow_remote;
	int mi_enabled;             /* IMDS issues tokens for mi_client_id */
	int admin;                  /* /admin served, to admin_token holders */
	char admin_token[64];       /* base64url of 32 random bytes */
	char admin_path[PATH_MAX];  /* STATE/admin-token */
	unsigned idle_timeout;
	int64_t last_limit_log;     /* under mu: one limit line a second */
	uint8_t token_key[32];
	struct kvs_client *clients;
	size_t nclients;
	char resource[256];
	char challenge[1024];
	long token_lifetime;
	int purge_protection;
	int recoverable_days;
	int protected_subscription;
	int allow_oct;
	int managed_hsm;            /* opts->managed_hsm */
	char *tls_cert;             /* PEM, for the daemon */
	char *tls_key;              /* PEM, wiped when freed */
	size_t tls_key_len;
	int lock_fd;
	/* Set by atr_kv_server_stop before it waits for the connection
	 * threads: long work (key generation, injected latency) ends. */
	_Atomic int stopping;
	struct kvs_store store;
	pthread_mutex_t mu;         /* everything below */
	struct kvs_faults faults;
	struct kvs_config cfg;
	struct kvs_stats stats;
	struct kvs_limits limits;
	struct kvs_jti *jti;        /* KVS_JTI_MAX, allocated on first use */
	size_t njti;
	uint64_t rng;
	void (*log)(void *arg, const char *line);
	void *log_arg;
	int log_access;
};

/* One request being answered. */
struct kvs_http {
	struct atr_kv_server *s;
	struct MHD_Connection *conn;
	const char *method;         /* after X-HTTP-METHOD */
	const char *path;
	const char *body;
	size_t body_len;
	char base[KVS_BASE_MAX];    /* "https://HOST:PORT" as the client
	                             * named us */
	const char *api_version;
	/* The answer. */
	int status;
	char *resp;                 /* malloc'd JSON or NULL; h's own */
	size_t resp_len;
	int retry_after;            /* -1: none */
	int www_auth;
	int token_headers;          /* Cache-Control: no-store (AAD style) */
	const char *note;           /* for the access line */
};

/* kv_server.c */
/* The server's clock: time(NULL) plus the admin API's clock_offset. */
int64_t kvs_now(struct atr_kv_server *s);
/* A copy of the runtime switches. */
void kvs_config_get(struct atr_kv_server *s, struct kvs_config *c);
/* 1 when the client's address is a loopback one. */
int kvs_peer_loopback(struct kvs_http *h);
/* One line to opts->log, if set (never secrets). */
void kvs_logf(struct atr_kv_server *s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* kv_server_http.c */
/* Takes body (wiped and deleted here; NULL: no body). */
void kvs_reply(struct kvs_http *h, int status, cJSON *body);
/* {"error":{"code":..,"message":..[,"innererror":{"code":..}]}} */
void kvs_reply_error(struct kvs_http *h, int status, const char *code,
    const char *inner, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;
void kvs_reply_oom(struct kvs_http *h);
/* 503 ServiceUnavailable, "Please retry later". */
void kvs_reply_unavailable(struct kvs_http *h);
/* A request header or query argument, or NULL: libmicrohttpd's string,
 * borrowed until the answer is queued. */
const char *kvs_header(struct kvs_http *h, const char *name);
const char *kvs_query(struct kvs_http *h, const char *name);
/* Starts the daemon on ss (TLS, one thread per connection, the
 * connection limits of o); sets s->daemon and s->port. */
enum atr_err kvs_http_start(struct atr_kv_server *s,
    const struct atr_kv_server_opts *o, struct sockaddr_storage *ss);

/* kv_server_pipeline.c */
/* Judges and answers a vault API request.  0 when an injected fault
 * drops it: the caller closes the connection without an answer. */
int kvs_vault_request(struct kvs_http *h);

/* kv_server_admin.c */
void kvs_admin(struct kvs_http *h);

/* kv_server_state.c */
/* Prepares and locks STATE, loads server.json (made on first start),
 * writes STATE/client-secret and, with admin, STATE/admin-token; adds
 * the default client and those of o. */
enum atr_err kvs_state_open(struct atr_kv_server *s,
    const struct atr_kv_server_opts *o);
/* Removes STATE/admin-token, frees the clients, unlocks STATE. */
void kvs_state_close(struct atr_kv_server *s);

/* A new client named id at the end of s->clients, zeroed but for its
 * id; ATR_ERR_USAGE when id is empty, too long or already a client. */
enum atr_err kvs_client_new(struct atr_kv_server *s, const char *id,
    struct kvs_client **out);

/* kv_server_assert.c: certificate and federated clients */
/* Adds the client of "ID:CERT.pem" / "ID:ISSUER:JWKS.json" (subject:
 * the federated subject).  ATR_ERR_USAGE or ATR_ERR_CONFIG naming the
 * option or file. */
enum atr_err kvs_cert_client_add(struct atr_kv_server *s, const char *spec);
enum atr_err kvs_fed_client_add(struct atr_kv_server *s, const char *spec,
    const char *subject);
/* Frees what c owns (not c). */
void kvs_client_free(struct kvs_client *c);

/* How the token endpoint refuses an assertion (its aad_error). */
struct kvs_assert_fail {
	int status;
	const char *error;          /* static: "invalid_client", ... */
	long code;                  /* AADSTS number */
	char desc[700];
};
/*
 * 0 when the JWT client assertion jwt authenticates c (a certificate
 * or federated client) at the token endpoint whose URL is endpoint
 * (the assertion's aud for a certificate client); a certificate
 * assertion's jti is then spent (the same assertion may come again
 * until its exp, another one with that jti may not).  -1 with f filled
 * otherwise.
 */
int kvs_assert_verify(struct atr_kv_server *s, const struct kvs_client *c,
    const char *jwt, const char *endpoint, struct kvs_assert_fail *f);
/* The sub claim of jwt, unverified, into out (the client when the
 * request names none, RFC 7521 4.2); -1 when there is none. */
int kvs_assert_subject(const char *jwt, char *out, size_t cap);
/* "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" (RFC 7523
 * 2.2), static. */
const char *kvs_assert_type(void);

/* kv_server_route.c */
struct kvs_route {
	enum kvs_op op;
	char name[ATR_KV_NAME_MAX + 2];
	char version[KVS_VERSION_LEN + 8];
	int has_name;               /* the path names a key (maybe "") */
	int name_too_long;
	int bad_version;
	int status;                 /* 404/405 when the route is unknown */
};
void kvs_route_parse(const char *method, const char *path,
    struct kvs_route *r);
/* 1 when the key name (if the path has one, "" included) is valid and
 * the version may be one; else 0, answered (400 or 404). */
int kvs_route_check(struct kvs_http *h, const struct kvs_route *r);
/* Which service-limit bucket and cost this request has. */
void kvs_route_classify(struct kvs_http *h, const struct kvs_route *r,
    enum kvs_lim_bucket *bucket, unsigned *cost);
/* Answers the request through the handler of r->op. */
void kvs_route_dispatch(struct kvs_http *h, const struct kvs_route *r);

/* kv_server_keys.c: handlers, and what the other handlers share */
void kvs_handle_create(struct kvs_http *h, const struct kvs_route *r);
void kvs_handle_get(struct kvs_http *h, const struct kvs_route *r);
void kvs_handle_update(struct kvs_http *h, const struct kvs_route *r);
void kvs_handle_versions(struct kvs_http *h, const struct kvs_route *r);
void kvs_handle_list(struct kvs_http *h, int deleted);
void kvs_handle_delete(struct kvs_http *h, const struct kvs_route *r);
void kvs_handle_get_deleted(struct kvs_http *h, const struct kvs_route *r);
void kvs_handle_recover(struct kvs_http *h, const struct kvs_route *r);
void kvs_handle_purge(struct kvs_http *h, const struct kvs_route *r);

/* "BASE/keys/NAME[/VERSION]" into out. */
void kvs_kid_of(struct kvs_http *h, const struct kvs_key *k,
    const struct kvs_version *v, char *out, size_t cap);
/* 404 KeyNotFound for name (and ver, NULL or "" for none). */
void kvs_not_found(struct kvs_http *h, const char *name, const char *ver);
/* The body as a JSON object (an empty body is {} unless required).
 * NULL after replying 400; else the caller deletes it. */
cJSON *kvs_parse_body(struct kvs_http *h, int required);

/* key_ops, attributes and tags of a create, import or update body. */
struct kvs_attr_update {
	int has_enabled, enabled;
	int set_nbf, has_nbf;       /* set_*: present; has_*: non-null */
	int64_t nbf;
	int set_exp, has_exp;
	int64_t exp;
	int has_exportable, exportable;
	int has_ops;
	unsigned ops;
	cJSON *tags;                /* owned; NULL = not given */
};
/* Fills u from j; -1 after replying 400.  The caller deletes u->tags. */
int kvs_parse_common(struct kvs_http *h, const cJSON *j,
    struct kvs_attr_update *u);
/* Applies u to v; takes u->tags. */
void kvs_apply_update(struct kvs_version *v, struct kvs_attr_update *u,
    int64_t now);
/* key_ops of a new key when the request names none. */
unsigned kvs_default_ops(enum kvs_kty kty);
/* 1 when this vault takes the key type / size; else 0, replied 400. */
int kvs_kty_allowed(struct kvs_http *h, const char *kty, enum kvs_kty *t);
int kvs_size_allowed(struct kvs_http *h, enum kvs_kty t, unsigned bits);
/* The answer when kvs_store_persist failed with err. */
void kvs_persist_failed(struct kvs_http *h, const char *name,
    enum atr_err err);
/* Adds v (taken, freed on failure) as the newest version of name,
 * creating the key unless must_exist; persists and answers. */
void kvs_add_version(struct kvs_http *h, const char *name,
    struct kvs_version *v, int must_exist);
/* The answer when kvs_version_generate failed with err. */
void kvs_generate_failed(struct kvs_http *h, enum atr_err err);

/* kv_server_import.c */
void kvs_handle_import(struct kvs_http *h, const struct kvs_route *r);

/* kv_server_rotate.c */
void kvs_handle_rotate(struct kvs_http *h, const struct kvs_route *r);
/* set: PUT, else GET of the rotation policy. */
void kvs_handle_policy(struct kvs_http *h, const struct kvs_route *r,
    int set);

/* kv_server_crypto.c */
void kvs_handle_crypt(struct kvs_http *h, const struct kvs_route *r);

/* kv_server_auth.c */
/* Returns 1 when the request may proceed; else the 401 is set. */
int kvs_auth_check(struct kvs_http *h);
/* A signed token for appid and audience aud into out[cap]; out is
 * wiped on an error (ATR_ERR_LIMIT when cap is too small). */
enum atr_err kvs_token_issue(struct atr_kv_server *s, const char *appid,
    const char *aud, long lifetime, char *out, size_t cap);
/* The "iss" of tokens for tenant: "https://sts.windows.net/TENANT/",
 * as a v1 access token's. */
void kvs_token_issuer(const char *tenant, char *out, size_t cap);

/* kv_server_identity.c */
/* 1 when the path is an identity endpoint (and it has been answered). */
int kvs_identity_dispatch(struct kvs_http *h);
/* 1 when the path is an identity endpoint (nothing answered). */
int kvs_identity_path(const char *path);


/* kv_server_tls.c */
/* Makes sure STATE/ca.pem, ca-key.pem, server.pem, server-key.pem
 * exist, are valid and cover the names (sans: extra ones, read during
 * the call); loads the server certificate and key into s. */
enum atr_err kvs_tls_setup(struct atr_kv_server *s,
    const char *const *sans, size_t nsans);

#endif
