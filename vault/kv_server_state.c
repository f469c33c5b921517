/*
 * kv_server_state.c - the loopback Key Vault's state directory, apart
 * from keys (kv_server_store.c) and the test PKI (kv_server_tls.c): its
 * lock (one server per directory), server.json (tenant, token signing
 * key, default test client) made on first start, STATE/client-secret
 * for scripts, the table of token-endpoint clients and
 * STATE/admin-token.
 */
#include "kv_server_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto.h"
#include "fsutil.h"
#include "json.h"

enum atr_err
kvs_client_new(struct atr_kv_server *s, const char *id,
    struct kvs_client **out)
{
	struct kvs_client *c;
	size_t i;

	*out = NULL;
	if (*id == '\0' || strlen(id) >= sizeof(c->id))
		return atr_fail(ATR_ERR_USAGE, "client: bad client id '%.40s'",
		    id);
	for (i = 0; i < s->nclients; i++)
		if (strcmp(s->clients[i].id, id) == 0)
			return atr_fail(ATR_ERR_USAGE, "client '%.100s' is "
			    "registered twice", id);
	c = realloc(s->clients, (s->nclients + 1) * sizeof(*c));
	if (c == NULL)
		return ATR_ERR_NOMEM;
	s->clients = c;
	c = &s->clients[s->nclients++];
	memset(c, 0, sizeof(*c));
	snprintf(c->id, sizeof(c->id), "%s", id);
	*out = c;
	return ATR_OK;
}

static enum atr_err
client_add(struct atr_kv_server *s, const char *id, const char *secret)
{
	struct kvs_client *c;
	enum atr_err err;

	if (*secret == '\0')
		return atr_fail(ATR_ERR_USAGE, "client: expected ID:SECRET");
	err = kvs_client_new(s, id, &c);
	if (err != ATR_OK)
		return err;
	c->kind = KVS_CLIENT_SECRET;
	c->secret_len = strlen(secret);
	c->secret = malloc(c->secret_len + 1);
	if (c->secret == NULL)
		return ATR_ERR_NOMEM;
	memcpy(c->secret, secret, c->secret_len + 1);
	return ATR_OK;
}

/* The extra clients of the options, each "ID:SECRET". */
static enum atr_err
clients_add(struct atr_kv_server *s, const char *const *clients, size_t n)
{
	enum atr_err err;
	size_t i;

	for (i = 0; i < n; i++) {
		char buf[512];
		char *colon;

		if (strlen(clients[i]) >= sizeof(buf))
			return atr_fail(ATR_ERR_USAGE, "client too long");
		snprintf(buf, sizeof(buf), "%s", clients[i]);
		colon = strchr(buf, ':');
		if (colon == NULL) {
			atr_memzero(buf, sizeof(buf));
			return atr_fail(ATR_ERR_USAGE,
			    "client: expected ID:SECRET");
		}
		*colon = '\0';
		err = client_add(s, buf, colon + 1);
		atr_memzero(buf, sizeof(buf));
		if (err != ATR_OK)
			return err;
	}
	return ATR_OK;
}

/* server.json as state_create wrote it; secret gets the default
 * client's secret. */
static enum atr_err
state_parse(struct atr_kv_server *s, const char *path, const cJSON *j,
    char *secret, size_t cap)
{
	const cJSON *t, *k, *c, *cs;
	size_t klen = 0;

	t = cJSON_GetObjectItemCaseSensitive(j, "tenant");
	k = cJSON_GetObjectItemCaseSensitive(j, "token_key");
	c = cJSON_GetObjectItemCaseSensitive(j, "client_id");
	cs = cJSON_GetObjectItemCaseSensitive(j, "client_secret");
	/* An "mi_client_id" of earlier versions is ignored: the identity
	 * is named at start (managed_identity). */
	if (!cJSON_IsString(t) || !cJSON_IsString(k) ||
	    !cJSON_IsString(c) || !cJSON_IsString(cs) ||
	    strlen(t->valuestring) >= sizeof(s->tenant) ||
	    strlen(c->valuestring) >= sizeof(s->client_id) ||
	    strlen(cs->valuestring) >= cap ||
	    atr_unhex(k->valuestring, strlen(k->valuestring),
	    s->token_key, sizeof(s->token_key), &klen) != 0 ||
	    klen != sizeof(s->token_key))
		return atr_fail(ATR_ERR_CONFIG, "%s: not a valid state file",
		    path);
	snprintf(s->tenant, sizeof(s->tenant), "%s", t->valuestring);
	snprintf(s->client_id, sizeof(s->client_id), "%s", c->valuestring);
	snprintf(secret, cap, "%s", cs->valuestring);
	return ATR_OK;
}

/* First start: a new tenant, token signing key and test client, kept
 * in server.json (0600); secret gets the client's secret. */
static enum atr_err
state_create(struct atr_kv_server *s, const char *path, char *secret,
    size_t cap)
{
	uint8_t raw[30];
	char hex[65], *b, *text;
	cJSON *j = cJSON_CreateObject();
	enum atr_err err;

	if (j == NULL)
		return ATR_ERR_NOMEM;
	kvs_uuid(s->tenant);
	kvs_uuid(s->client_id);
	err = atr_random(s->token_key, sizeof(s->token_key));
	if (err == ATR_OK)
		err = atr_random(raw, sizeof(raw));
	b = err == ATR_OK ? kvs_b64url(raw, sizeof(raw)) : NULL;
	atr_memzero(raw, sizeof(raw));
	if (err != ATR_OK)
		goto out;
	err = ATR_ERR_NOMEM;
	if (b == NULL)
		goto out;
	snprintf(secret, cap, "%s", b);
	atr_secure_free(b, strlen(b));
	atr_hex(s->token_key, sizeof(s->token_key), hex);
	cJSON_AddStringToObject(j, "tenant", s->tenant);
	cJSON_AddStringToObject(j, "token_key", hex);
	cJSON_AddStringToObject(j, "client_id", s->client_id);
	cJSON_AddStringToObject(j, "client_secret", secret);
	atr_memzero(hex, sizeof(hex));
	text = cJSON_Print(j);
	if (text == NULL)
		goto out;
	err = atr_write_file(path, 0600, text, strlen(text));
	atr_secure_free(text, strlen(text));
out:
	atr_json_free_wiped(j);
	return err;
}

/* STATE/server.json, made on first start; STATE/client-secret; the
 * default client. */
static enum atr_err
state_load(struct atr_kv_server *s)
{
	char path[PATH_MAX], secret[128] = "";
	unsigned char *buf = NULL;
	size_t len = 0;
	cJSON *j;
	enum atr_err err;

	snprintf(path, sizeof(path), "%s/server.json", s->state_dir);
	err = atr_read_small_file(path, 65536, 1, &buf, &len);
	if (err == ATR_OK) {
		j = cJSON_ParseWithLength((const char *)buf, len);
		atr_secure_free(buf, len);
		err = state_parse(s, path, j, secret, sizeof(secret));
		atr_json_free_wiped(j);
	} else if (err == ATR_ERR_CONFIG) {
		err = state_create(s, path, secret, sizeof(secret));
	} else {
		err = atr_fail(err, "%s: %s", path, atr_detail());
	}
	/* The secret alone, for scripts: $(cat STATE/client-secret). */
	if (err == ATR_OK)
		err = atr_write_file(s->secret_path, 0600, secret,
		    strlen(secret));
	if (err == ATR_OK)
		err = client_add(s, s->client_id, secret);
	atr_memzero(secret, sizeof(secret));
	return err;
}

/* STATE/admin-token: a new random token at every start, 0600. */
static enum atr_err
admin_token_new(struct atr_kv_server *s)
{
	uint8_t raw[32];
	char *b;
	enum atr_err err;

	err = atr_random(raw, sizeof(raw));
	b = err == ATR_OK ? kvs_b64url(raw, sizeof(raw)) : NULL;
	atr_memzero(raw, sizeof(raw));
	if (err != ATR_OK)
		return err;
	if (b == NULL)
		return ATR_ERR_NOMEM;
	snprintf(s->admin_token, sizeof(s->admin_token), "%s", b);
	atr_secure_free(b, strlen(b));
	snprintf(s->admin_path, sizeof(s->admin_path), "%s/admin-token",
	    s->state_dir);
	err = atr_write_file(s->admin_path, 0600, s->admin_token,
	    strlen(s->admin_token));
	if (err != ATR_OK)
		return atr_fail(err, "%s: %s", s->admin_path,
		    atr_detail());
	return ATR_OK;
}

static enum atr_err
abs_dir(const char *dir, char *out, size_t cap)
{
	char *r = realpath(dir, NULL);

	if (r == NULL)
		return atr_fail(ATR_ERR_IO, "%s: %s", dir, strerror(errno));
	if (strlen(r) >= cap) {
		free(r);
		return atr_fail(ATR_ERR_USAGE, "state path too long");
	}
	snprintf(out, cap, "%s", r);
	free(r);
	return ATR_OK;
}

/* One server per state directory: two would overwrite each other's
 * key files.  The lock lasts as long as s->lock_fd is open. */
static enum atr_err
state_lock(struct atr_kv_server *s)
{
	char path[PATH_MAX + 8];

	snprintf(path, sizeof(path), "%s/.lock", s->state_dir);
	s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (s->lock_fd < 0 || flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0)
		return atr_fail(ATR_ERR_CONFIG, "%s is in use by another "
		    "server", s->state_dir);
	return ATR_OK;
}

/* The certificate and federated clients of the options. */
static enum atr_err
assert_clients_add(struct atr_kv_server *s,
    const struct atr_kv_server_opts *o)
{
	const char *sub = o->fed_subject;
	enum atr_err err = ATR_OK;
	size_t i;

	if (sub == NULL || *sub == '\0')
		sub = "system:serviceaccount:default:atrest";
	for (i = 0; err == ATR_OK && i < o->ncert_clients; i++)
		err = kvs_cert_client_add(s, o->cert_clients[i]);
	for (i = 0; err == ATR_OK && i < o->nfed_clients; i++)
		err = kvs_fed_client_add(s, o->fed_clients[i], sub);
	return err;
}

enum atr_err
kvs_state_open(struct atr_kv_server *s, const struct atr_kv_server_opts *o)
{
	enum atr_err err;

	err = kvs_state_dir_prepare(o->state_dir);
	if (err == ATR_OK)
		err = abs_dir(o->state_dir, s->state_dir, sizeof(s->state_dir));
	if (err == ATR_OK)
		err = state_lock(s);
	if (err != ATR_OK)
		return err;
	snprintf(s->ca_path, sizeof(s->ca_path), "%s/ca.pem", s->state_dir);
	snprintf(s->secret_path, sizeof(s->secret_path), "%s/client-secret",
	    s->state_dir);
	err = state_load(s);
	if (err == ATR_OK && s->admin)
		err = admin_token_new(s);
	if (err != ATR_OK)
		return err;
	if (o->tenant != NULL && *o->tenant != '\0')
		snprintf(s->tenant, sizeof(s->tenant), "%s", o->tenant);
	err = clients_add(s, o->clients, o->nclients);
	return err == ATR_OK ? assert_clients_add(s, o) : err;
}

void
kvs_state_close(struct atr_kv_server *s)
{
	size_t i;

	/* The token dies with the server that honoured it. */
	if (s->admin_path[0] != '\0')
		unlink(s->admin_path);
	for (i = 0; i < s->nclients; i++)
		kvs_client_free(&s->clients[i]);
	free(s->clients);
	free(s->jti);
	s->jti = NULL;
	s->njti = 0;
	s->clients = NULL;
	s->nclients = 0;
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	s->lock_fd = -1;
}
