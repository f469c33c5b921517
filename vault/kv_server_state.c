/*
 * kv_server_state.c - what the loopback Key Vault keeps in its state
 * directory besides keys (kv_server_store.c) and the test PKI
 * (kv_server_tls.c): server.json (tenant, token signing key, default
 * test client) made on first start, STATE/client-secret for scripts,
 * the table of token-endpoint clients, and STATE/admin-token.
 */
#include "kv_server_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "crypto.h"
#include "fsutil.h"
#include "json.h"

static enum atr_err
write_file(const char *path, mode_t mode, const char *text)
{
	struct atr_outfile o;
	enum atr_err err = atr_out_begin(&o, path, mode);

	if (err != ATR_OK)
		return err;
	err = atr_write_all(o.fd, text, strlen(text));
	if (err == ATR_OK)
		return atr_out_commit(&o, 0);
	atr_out_abort(&o);
	return err;
}

enum atr_err
kvs_client_add(struct atr_kv_server *s, const char *id, const char *secret)
{
	struct kvs_client *c;

	if (*id == '\0' || strlen(id) >= sizeof(c->id) || *secret == '\0')
		return atr_fail(ATR_ERR_USAGE, "client: expected ID:SECRET");
	c = realloc(s->clients, (s->nclients + 1) * sizeof(*c));
	if (c == NULL)
		return ATR_ERR_NOMEM;
	s->clients = c;
	c = &s->clients[s->nclients];
	memset(c, 0, sizeof(*c));
	snprintf(c->id, sizeof(c->id), "%s", id);
	c->secret_len = strlen(secret);
	c->secret = malloc(c->secret_len + 1);
	if (c->secret == NULL)
		return ATR_ERR_NOMEM;
	memcpy(c->secret, secret, c->secret_len + 1);
	s->nclients++;
	return ATR_OK;
}

enum atr_err
kvs_state_load(struct atr_kv_server *s)
{
	char path[PATH_MAX], secret[128] = "", hex[65];
	unsigned char *buf = NULL;
	size_t len = 0, klen = 0;
	cJSON *j = NULL;
	const cJSON *t, *k, *c, *cs;
	enum atr_err err;

	snprintf(path, sizeof(path), "%s/server.json", s->state_dir);
	err = atr_read_small_file(path, 65536, 1, &buf, &len);
	if (err == ATR_OK) {
		j = cJSON_ParseWithLength((const char *)buf, len);
		atr_secure_free(buf, len);
		t = cJSON_GetObjectItemCaseSensitive(j, "tenant");
		k = cJSON_GetObjectItemCaseSensitive(j, "token_key");
		c = cJSON_GetObjectItemCaseSensitive(j, "client_id");
		cs = cJSON_GetObjectItemCaseSensitive(j, "client_secret");
		/* An "mi_client_id" of earlier versions is ignored: the
		 * identity is named at start (managed_identity). */
		if (!cJSON_IsString(t) || !cJSON_IsString(k) ||
		    !cJSON_IsString(c) || !cJSON_IsString(cs) ||
		    strlen(t->valuestring) >= 64 ||
		    strlen(c->valuestring) >= 64 ||
		    strlen(cs->valuestring) >= sizeof(secret) ||
		    atr_unhex(k->valuestring, strlen(k->valuestring),
		    s->token_key, sizeof(s->token_key), &klen) != 0 ||
		    klen != sizeof(s->token_key)) {
			err = atr_fail(ATR_ERR_CONFIG, "%s: not a valid state "
			    "file", path);
			goto out;
		}
		snprintf(s->tenant, sizeof(s->tenant), "%s", t->valuestring);
		snprintf(s->client_id, sizeof(s->client_id), "%s", c->valuestring);
		snprintf(secret, sizeof(secret), "%s", cs->valuestring);
	} else if (err == ATR_ERR_CONFIG) {
		/* First start: new tenant, signing key and test client. */
		uint8_t raw[30];
		char *b;

		j = cJSON_CreateObject();
		if (j == NULL) {
			err = ATR_ERR_NOMEM;
			goto out;
		}
		kvs_uuid(s->tenant);
		kvs_uuid(s->client_id);
		err = atr_random(s->token_key, sizeof(s->token_key));
		if (err == ATR_OK)
			err = atr_random(raw, sizeof(raw));
		if (err != ATR_OK)
			goto out;
		b = kvs_b64url(raw, sizeof(raw));
		atr_memzero(raw, sizeof(raw));
		if (b == NULL) {
			err = ATR_ERR_NOMEM;
			goto out;
		}
		snprintf(secret, sizeof(secret), "%s", b);
		atr_secure_free(b, strlen(b));
		atr_hex(s->token_key, sizeof(s->token_key), hex);
		cJSON_AddStringToObject(j, "tenant", s->tenant);
		cJSON_AddStringToObject(j, "token_key", hex);
		cJSON_AddStringToObject(j, "client_id", s->client_id);
		cJSON_AddStringToObject(j, "client_secret", secret);
		atr_memzero(hex, sizeof(hex));
		{
			char *text = cJSON_Print(j);

			if (text == NULL) {
				err = ATR_ERR_NOMEM;
				goto out;
			}
			err = write_file(path, 0600, text);
			atr_secure_free(text, strlen(text));
			if (err != ATR_OK)
				goto out;
		}
	} else {
		err = kvs_fail_path(err, path);
		goto out;
	}
	/* The secret alone, for scripts: $(cat STATE/client-secret). */
	err = write_file(s->secret_path, 0600, secret);
	if (err == ATR_OK)
		err = kvs_client_add(s, s->client_id, secret);
out:
	atr_memzero(secret, sizeof(secret));
	if (j != NULL) {
		atr_json_wipe(j);
		cJSON_Delete(j);
	}
	return err;
}

/* STATE/admin-token: a new random token at every start, 0600. */
enum atr_err
kvs_admin_token_new(struct atr_kv_server *s)
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
	err = write_file(s->admin_path, 0600, s->admin_token);
	if (err != ATR_OK)
		return kvs_fail_path(err, s->admin_path);
	return ATR_OK;
}
