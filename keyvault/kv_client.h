/*
 * kv_client.h - an Azure Key Vault keys client (REST, libcurl).
 *
 * Speaks the Key Vault data-plane protocol (api-version 7.4 by default)
 * over HTTPS only, with TLS verification always on.  Authentication
 * follows what the official SDKs do: the first request to a vault goes
 * without a token, the vault's 401 carries a WWW-Authenticate Bearer
 * challenge naming the authority and resource, and a token is then
 * obtained from the first configured credential of Azure Identity's
 * chain (client secret, certificate, workload identity, managed
 * identity, Azure CLI, then ATREST_AZURE_TOKEN; keyvault/kv_cred.c).  Tokens
 * and challenges are cached process-wide; docs/KEYVAULT.md has the
 * details.
 *
 * Every call is retried with exponential back-off and jitter on 408,
 * 429, 5xx (not 501/505) and connection failures, honouring
 * Retry-After, retry-after-ms and x-ms-retry-after-ms up to a budget
 * per call (a delay the budget cannot cover ends the call at once, so
 * a "Retry-After: 3600" fails fast instead of hanging).  A failure maps
 * to one enum atr_err with a one-line detail naming the vault, key and
 * the service's error code and message; never a token or a secret.
 *
 * A client may be used from several threads at once: each thread keeps
 * its own reused curl handle (keep-alive, HTTP/2 where offered).
 *
 * Ownership, for every function below unless it says otherwise: string
 * and struct arguments are borrowed for the call only (nothing keeps a
 * pointer to them); out structs and buffers are the caller's, filled
 * in; strings returned are static or borrowed from the object named.
 * The only allocations handed to the caller are the client
 * (atr_kv_client_new) and the version list (atr_kv_list_versions).
 */
#ifndef ATR_KV_CLIENT_H
#define ATR_KV_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "err.h"
#include "key.h"
#include "util.h"
#include "jwk.h"
#include "codec.h"

#define ATR_KV_API_VERSION_DEFAULT "7.4"
#define ATR_KV_VERSION_MAX 64U   /* 32 hex digits on the real service */
#define ATR_KV_HOST_MAX 255U
#define ATR_KV_ORIGIN_MAX (8U + ATR_KV_HOST_MAX + 6U + 1U)

/* A parsed key identifier https://HOST[:PORT]/keys/NAME[/VERSION]. */
struct atr_kv_kid {
	char origin[ATR_KV_ORIGIN_MAX + 1];   /* "https://host[:port]" */
	char host[ATR_KV_HOST_MAX + 1];       /* lower case; IPv6 in brackets */
	char hostport[ATR_KV_HOST_MAX + 8];   /* "host[:port]", port if not 443 */
	unsigned port;                        /* 443 when absent */
	char name[ATR_KV_NAME_MAX + 1];
	char version[ATR_KV_VERSION_MAX + 1]; /* "" when versionless */
};

/*
 * Parses and validates a key identifier into *out (every field copied:
 * out keeps nothing of uri).  The scheme must be https, the path
 * /keys/NAME or /keys/NAME/VERSION (a trailing slash is allowed, as the
 * SDKs send one), no user info, query or fragment.
 */
enum atr_err atr_kv_parse_kid(const char *uri, struct atr_kv_kid *out);
/* The same for a vault URL https://HOST[:PORT][/]: name and version "". */
enum atr_err atr_kv_parse_vault_url(const char *url, struct atr_kv_kid *out);
/* 1 when two identifiers name the same vault (host and port, any case). */
int atr_kv_same_vault(const struct atr_kv_kid *a, const struct atr_kv_kid *b);
/*
 * 1 when kid, as a vault reported it, is a versioned identifier of key
 * name on vault (same host, any case, and port), with version when
 * version is neither NULL nor "" (names and versions compare without
 * case, as Key Vault's do).  out (may be NULL) gets the parsed kid.
 */
int atr_kv_kid_matches(const struct atr_kv_kid *vault, const char *kid,
    const char *name, const char *version, struct atr_kv_kid *out);
/*
 * 1 for a literal loopback address (127.0.0.0/8, [::1], [::ffff:127.x])
 * or "localhost": the hosts exempt from challenge resource checks (a
 * local emulator).  A name such as "127.evil.test" is not one.
 */
int atr_kv_host_is_loopback(const char *host);
/*
 * Managed HSM (docs/KEYVAULT.md, "Managed HSM"): the same keys REST API
 * on https://NAME.managedhsm.azure.net, tokens for the audience
 * ATR_KV_MHSM_RESOURCE, HSM-protected key types only.  1 when host is a
 * name in that zone (any case).
 */
#define ATR_KV_MHSM_ZONE "managedhsm.azure.net"
#define ATR_KV_MHSM_RESOURCE "https://managedhsm.azure.net"
int atr_kv_host_is_mhsm(const char *host);

/* Client options; zero means "the default" (or the environment's).
 * Borrowed by atr_kv_client_new for the call: the strings are copied. */
struct atr_kv_opts {
	const char *ca_file;      /* NULL: ATREST_CA_FILE, else system store */
	long connect_timeout_ms;  /* ATREST_KV_CONNECT_TIMEOUT_MS or 5000 */
	long timeout_ms;          /* ATREST_KV_TIMEOUT_MS or 30000 (one
	                           * attempt) */
	int max_retries;          /* -1: ATREST_KV_MAX_RETRIES or 4; 0 = none */
	long backoff_ms;          /* ATREST_KV_BACKOFF_MS or 800 (1st delay) */
	long max_backoff_ms;      /* ATREST_KV_MAX_BACKOFF_MS or 60000 */
	long max_wait_ms;         /* ATREST_KV_MAX_WAIT_MS or 60000: back-off
	                           * of one call, in total */
	const char *api_version;  /* ATREST_KV_API_VERSION or "7.4" */
	/* ATREST_KV_CONNECT_TO: "HOST:PORT:CONNECT-HOST:CONNECT-PORT"[,...]
	 * connects to the second pair when a URL names the first, as
	 * curl's --connect-to (CURLOPT_CONNECT_TO): the URL, the Host
	 * header, the TLS name check and the challenge stay the first
	 * pair's. */
	const char *connect_to;
};

struct atr_kv_client;

/*
 * A client for the vault named by url (a vault URL or any key identifier
 * in it).  url and opts (may be NULL) are borrowed for the call.  *out
 * is allocated here and the caller's, released with
 * atr_kv_client_free() once no thread uses it; the caches behind it
 * (tokens, challenges, curl handles) are process-wide and outlive it.
 */
enum atr_err atr_kv_client_new(const char *url, const struct atr_kv_opts *opts,
    struct atr_kv_client **out);
/* NULL-safe. */
void atr_kv_client_free(struct atr_kv_client *c);
/* "host:port" and "https://host[:port]" of the client's vault, for
 * messages: borrowed from c, valid until atr_kv_client_free(c). */
const char *atr_kv_client_hostport(const struct atr_kv_client *c);
const char *atr_kv_client_origin(const struct atr_kv_client *c);

/* Key operations are core/jwk.h's ATR_JWK_* bits.  Parses
 * "wrapKey,unwrapKey"; -1 on an unknown operation. */
int atr_kv_ops_parse_list(const char *list, unsigned *mask);
/* The JSON key_ops array of mask, in bit order (["encrypt","wrapKey"]):
 * a new cJSON array, the caller's to attach or cJSON_Delete; NULL when
 * out of memory. */
struct cJSON;
struct cJSON *atr_kv_ops_json(unsigned mask);


/* A KeyBundle, KeyItem or DeletedKeyBundle; absent fields are 0 / "". */
struct atr_kv_key {
	char kid[ATR_KEYID_MAX + 1];          /* versioned, as the vault sent */
	char name[ATR_KV_NAME_MAX + 1];
	char version[ATR_KV_VERSION_MAX + 1];
	char kty[16];                         /* RSA, RSA-HSM, oct-HSM, EC... */
	unsigned bits;                        /* from n (RSA) or key_size */
	unsigned key_ops;                     /* ATR_JWK_* (core/jwk.h) */
	int key_ops_present;                  /* 0: the vault sent no key_ops */
	int enabled;
	int has_nbf, has_exp;
	int64_t nbf, exp;                     /* IntDate, seconds since 1970 */
	int64_t created, updated;
	char recovery_level[64];
	int recoverable_days;
	int managed;
	uint8_t n[1024];                      /* RSA modulus (<= 8192 bits) */
	size_t n_len;
	uint8_t e[16];
	size_t e_len;
	/* DeletedKeyBundle only. */
	char recovery_id[ATR_KEYID_MAX + 1];
	int64_t deleted_date, scheduled_purge_date;
};

/* Parameters of create; zero means "the service's default". */
struct atr_kv_create {
	const char *kty;     /* NULL: "RSA", "RSA-HSM" on a Managed HSM */
	unsigned size;       /* key_size */
	unsigned key_ops;    /* 0: not sent */
	int disabled;        /* 1: create disabled */
	int64_t nbf, exp;    /* 0: not sent */
};

/* Changes of update; only the set_* ones are sent. */
struct atr_kv_update {
	int set_enabled, enabled;
	int set_key_ops;
	unsigned key_ops;
	int set_nbf, set_exp;
	int64_t nbf, exp;
};

/* The encryption algorithms this client wraps with.  atr_kv_alg_for
 * returns a static name ("RSA-OAEP-256"), NULL when unsupported. */
const char *atr_kv_alg_for(enum atr_wrap_alg a);
int atr_kv_alg_parse(const char *name, enum atr_wrap_alg *out); /* 0 ok */

/*
 * Operations.  version "" or NULL means the latest version (GET) or the
 * versionless path (wrap; the service then uses the current version).
 * c is borrowed (several threads may share it); name, version, p and u
 * for the call; *out is the caller's, zeroed first and filled in.
 */
enum atr_err atr_kv_get_key(struct atr_kv_client *c, const char *name,
    const char *version, struct atr_kv_key *out);
enum atr_err atr_kv_create_key(struct atr_kv_client *c, const char *name,
    const struct atr_kv_create *p, struct atr_kv_key *out);
enum atr_err atr_kv_update_key(struct atr_kv_client *c, const char *name,
    const char *version, const struct atr_kv_update *u,
    struct atr_kv_key *out);
enum atr_err atr_kv_rotate_key(struct atr_kv_client *c, const char *name,
    struct atr_kv_key *out);
/* All versions (following nextLink on the same vault only).  *items is
 * malloc'd (NULL when *count is 0) and the caller's, released with
 * free(); nothing in it points elsewhere.  Items carry kid and
 * attributes, no key material. */
enum atr_err atr_kv_list_versions(struct atr_kv_client *c, const char *name,
    struct atr_kv_key **items, size_t *count);
enum atr_err atr_kv_delete_key(struct atr_kv_client *c, const char *name,
    struct atr_kv_key *out);
enum atr_err atr_kv_get_deleted_key(struct atr_kv_client *c,
    const char *name, struct atr_kv_key *out);
enum atr_err atr_kv_recover_key(struct atr_kv_client *c, const char *name,
    struct atr_kv_key *out);
enum atr_err atr_kv_purge_key(struct atr_kv_client *c, const char *name);

/*
 * wrapkey / unwrapkey.  in[in_len] is borrowed for the call; out
 * (capacity *out_len) and kid (kid_cap bytes) are the caller's.
 * *out_len: in capacity, out bytes written.
 * key_bits is the key's size (the RSA modulus, from the KeyBundle); it
 * fixes the lengths: an RSA wrapped value is exactly the modulus length
 * (RFC 8017 7.1.1) and an A256KW one the input plus 8 bytes (RFC 3394
 * 2.2.1), both ways, so a vault cannot hand back a value that no one
 * can ever open.  The kid the vault reports must be this key on this
 * vault, and this version when one is given (atr_kv_kid_matches); wrap
 * stores it into kid (may be NULL).  unwrap: a 400 from the vault
 * (wrong key, corrupt input) or an input of the wrong length is
 * ATR_ERR_AUTH; on any failure out is wiped and *out_len is 0.
 */
enum atr_err atr_kv_wrap(struct atr_kv_client *c, const char *name,
    const char *version, enum atr_wrap_alg alg, unsigned key_bits,
    const uint8_t *in, size_t in_len, uint8_t *out, size_t *out_len,
    char *kid, size_t kid_cap);
enum atr_err atr_kv_unwrap(struct atr_kv_client *c, const char *name,
    const char *version, enum atr_wrap_alg alg, unsigned key_bits,
    const uint8_t *in, size_t in_len, uint8_t *out, size_t *out_len);

/*
 * A key's rotation policy (Get / Update Key Rotation Policy in the Key
 * Vault REST reference, https://learn.microsoft.com/en-us/rest/api/keyvault/keys/get-key-rotation-policy/get-key-rotation-policy):
 * lifetime actions, each a trigger (a duration after the version's
 * creation, or before its expiry) and an action (Rotate or Notify), and
 * attributes.expiryTime, the lifetime a rotation gives a new version.
 * Durations are kept as sent and in seconds (atr_iso8601_duration: a
 * year is 365 days, a month 30).  A key that never had a policy gets
 * the service's default: Notify 30 days before expiry, no expiryTime.
 */
#define ATR_KV_ROTATION_ACTIONS_MAX 8U
#define ATR_KV_DURATION_MAX 32U
struct atr_kv_rotation_action {
	int rotate;                    /* 1 Rotate, 0 Notify */
	int before_expiry;             /* 1 timeBeforeExpiry, else
	                                * timeAfterCreate */
	char duration[ATR_KV_DURATION_MAX];
	int64_t seconds;
};
struct atr_kv_rotation_policy {
	struct atr_kv_rotation_action actions[ATR_KV_ROTATION_ACTIONS_MAX];
	size_t nactions;
	char expiry[ATR_KV_DURATION_MAX]; /* "" when none */
	int64_t expiry_seconds;           /* 0 when none */
	int64_t created, updated;         /* 0 when not sent */
};

/*
 * GET /keys/{name}/rotationpolicy and PUT of p (its actions and
 * expiry; created and updated are the service's).  *out is zeroed and
 * filled from the reply.  A reply with an action or duration this
 * client cannot read is ATR_ERR_BAD_RESPONSE, never a shorter policy.
 */
enum atr_err atr_kv_get_rotation_policy(struct atr_kv_client *c,
    const char *name, struct atr_kv_rotation_policy *out);
enum atr_err atr_kv_set_rotation_policy(struct atr_kv_client *c,
    const char *name, const struct atr_kv_rotation_policy *p,
    struct atr_kv_rotation_policy *out);
/* Parses a KeyRotationPolicy document (json[len], borrowed). */
enum atr_err atr_kv_rotation_policy_from_json(const char *json, size_t len,
    struct atr_kv_rotation_policy *out);
/* The document of p (created and updated only when not 0), as Update
 * Key Rotation Policy takes it and Get answers: a new cJSON object, the
 * caller's to cJSON_Delete; NULL when out of memory. */
struct cJSON *atr_kv_rotation_policy_json(
    const struct atr_kv_rotation_policy *p);
/* The period p rotates keys at: the Rotate action's time after
 * creation, or expiryTime minus its time before expiry (the shortest
 * when several); 0 when p rotates nothing automatically. */
int64_t atr_kv_rotation_period(const struct atr_kv_rotation_policy *p);

/*
 * Statistics.  Every operation above is one "call"; a call makes one or
 * more HTTP attempts (the challenge, retries, a 401 refresh).  Token
 * requests are counted apart.  The per-thread record of the last call
 * lets a caller (bench) time and count each wrap/unwrap; the global
 * counters are atomic and cover every thread.
 */
struct atr_kv_call {
	unsigned attempts;    /* HTTP requests to the vault for this call */
	unsigned retries;     /* attempts repeated after 408/429/5xx/network */
	unsigned throttled;   /* 429 answers */
	unsigned token_fetches;
	int status;           /* last HTTP status, 0 when none */
	enum atr_err err;
	long slept_ms;        /* back-off waited */
	long retry_after_ms;  /* last Retry-After honoured, -1 when none */
	uint64_t elapsed_ns;
};
/* Copies this thread's record of its last call into *out. */
void atr_kv_last_call(struct atr_kv_call *out);

enum atr_kv_opclass {
	ATR_KV_CALL_GET = 0,
	ATR_KV_CALL_WRAP,
	ATR_KV_CALL_UNWRAP,
	ATR_KV_CALL_MANAGE,   /* create, update, rotate, list, delete... */
	ATR_KV_CALL__COUNT
};
struct atr_kv_stats {
	uint64_t calls[ATR_KV_CALL__COUNT];
	uint64_t failures[ATR_KV_CALL__COUNT];
	uint64_t elapsed_ns[ATR_KV_CALL__COUNT]; /* sum */
	uint64_t max_ns[ATR_KV_CALL__COUNT];
	uint64_t attempts, retries, throttled, token_fetches, challenges;
	uint64_t http2;  /* responses that came over HTTP/2 */
};
void atr_kv_stats_get(struct atr_kv_stats *out);
void atr_kv_stats_reset(void);

/*
 * Drops every cached token (wiped) and challenge, e.g. after the
 * credentials in the environment changed.  Not for use while other
 * threads run calls.
 */
void atr_kv_cache_clear(void);
/* Releases this thread's curl handle (also done at thread exit). */
void atr_kv_thread_cleanup(void);

/*
 * Pure helpers, exposed for the unit tests.  Inputs are borrowed for the
 * call; outputs are the caller's fixed-size structs, copied into.
 */

/* A WWW-Authenticate Bearer challenge. */
struct atr_kv_challenge {
	char authorization[512]; /* authorization or authorization_uri */
	char resource[256];
	char scope[256];          /* as sent, or resource + "/.default" */
	char tenant[128];         /* first path segment of authorization */
	char error[64];           /* e.g. insufficient_claims (CAE) */
};
/* 0 when the header holds a Bearer challenge with an authority or a
 * resource/scope; -1 otherwise. */
int atr_kv_parse_challenge(const char *header, struct atr_kv_challenge *out);

/*
 * 1 when the challenge's resource (or scope) host is vault_host or a
 * parent domain of it (myvault.vault.azure.net and vault.azure.net), as
 * the SDKs' challenge resource verification demands; for a host in a
 * key service's zone (vault.azure.net, managedhsm.azure.net), exactly
 * that zone.
 */
int atr_kv_challenge_fits(const char *vault_host,
    const struct atr_kv_challenge *ch);

/*
 * Delay asked by a Retry-After style header, in milliseconds, or -1.
 * name is "retry-after" (delta-seconds or HTTP-date, RFC 9110 10.2.3),
 * "retry-after-ms" or "x-ms-retry-after-ms".  now is used for dates.
 * Longer delays (any number of digits) read as the cap, one day.
 */
#define ATR_KV_RETRY_AFTER_CAP_MS 86400000L
long atr_kv_parse_retry_after(const char *name, const char *value,
    time_t now);

/*
 * The one conversion of numbers from a vault, token endpoint or header:
 * s[n] must be 1*DIGIT (no sign, no blanks).  0 with *out set when the
 * value is at most max, 1 when it is larger (*out 0; never an overflow),
 * -1 when it is not decimal.
 */
int atr_kv_dec_parse(const char *s, size_t n, int64_t max, int64_t *out);

/*
 * An integer member of a JSON object, range-checked before conversion:
 * an integral JSON number, or a string of digits (as IMDS sends them),
 * within [min, max] (both within +-ATR_KV_INT_EXACT).  1 with *out set;
 * 0 when absent or null; -1 for anything else (1e300, 1.5, "12abc",
 * out of range), so a hostile value is never truncated into a
 * plausible one.
 */
#define ATR_KV_INT_EXACT 9007199254740992LL /* 2^53, exact in a double */
int atr_kv_json_int(const struct cJSON *o, const char *name, int64_t min,
    int64_t max, int64_t *out);

/*
 * Maps an HTTP error answer to an atr_err and sets the detail:
 * "WHAT: HTTP 403 Forbidden/KeyDisabled: MESSAGE".  op is the operation
 * class (a 400 on unwrap is ATR_ERR_AUTH).  attempts > 1 is mentioned.
 */
enum atr_err atr_kv_error_from_response(long status, const char *body,
    size_t body_len, enum atr_kv_opclass op, const char *what,
    unsigned attempts);

/* Parses a KeyBundle / KeyItem / DeletedKeyBundle JSON document. */
enum atr_err atr_kv_key_from_json(const char *json, size_t len,
    struct atr_kv_key *out);

/* Bits of a big-endian unsigned integer (leading zeros ignored). */
unsigned atr_kv_bits_of(const uint8_t *n, size_t len);

#endif
