/*
 * test_rewrap_providers.c - rewrap through the remote providers.
 *
 * Key Vault: objects wrapped by version 1 of a vault key are moved to
 * the version a rotation made (same key name, new kid); after disabling
 * version 1 every object still opens, and a second run has nothing left
 * to do.  PKCS#11: objects are moved from a local SMK file to an AES key
 * in a SoftHSM2 token; afterwards only the token opens them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <criterion/criterion.h>

#include "crypto.h"
#include "kv_client.h"
#include "kv_server.h"
#include "softhsm.h"
#include "testutil.h"

static const char *
bin(void)
{
	const char *b = getenv("ATREST_BIN");

	return b && *b ? b : "build/atrest";
}

static char *dir;

static int
run(const char *const argv[], const char *const *env, char **out)
{
	char *o = tu_path(dir, "run.out");
	struct tu_run_opts ro = {0};
	int rc;

	ro.stdout_path = o;
	ro.stderr_path = o;
	ro.env = env;
	ro.timeout_ms = 120000;
	rc = tu_run(argv, &ro);
	if (out != NULL)
		*out = (char *)tu_read_file(o, NULL);
	free(o);
	return rc;
}

static void
make_plain(const char *plain)
{
	char p[700];
	uint8_t buf[3000];
	int i;

	cr_assert_eq(mkdir(plain, 0700), 0);
	for (i = 0; i < 5; i++) {
		snprintf(p, sizeof(p), "%s/f%d", plain, i);
		atr_random(buf, sizeof(buf));
		cr_assert_eq(tu_write_file(p, buf, (size_t)(i * 600)), 0);
	}
}

Test(rewrap_providers, key_vault_rotated_version, .timeout = 300)
{
	struct atr_kv_server_opts o;
	struct atr_kv_server *srv = NULL;
	struct atr_kv_client *c = NULL;
	struct atr_kv_create cr = {0};
	struct atr_kv_key v1, v2;
	char ca[700], key[600], key1[1100], plain[600], store[600], outd[600];
	const char *env[] = {ca, "ATREST_AZURE_TOKEN=rewrap-test-token", NULL};
	char *msg = NULL;
	int rc;

	dir = tu_tmpdir("rwkv");
	atr_kv_server_opts_init(&o);
	o.listen = "127.0.0.1:0";
	o.state_dir = tu_path(dir, "vault");
	cr_assert_eq(atr_kv_server_start(&o, &srv), ATR_OK, "%s", atr_detail());
	snprintf(ca, sizeof(ca), "ATREST_CA_FILE=%s", atr_kv_server_ca_path(srv));
	setenv("ATREST_CA_FILE", atr_kv_server_ca_path(srv), 1);
	setenv("ATREST_AZURE_TOKEN", "rewrap-test-token", 1);
	setenv("ATREST_AZURE_CREDENTIAL", "token", 1);
	cr_assert_eq(atr_kv_client_new(atr_kv_server_url(srv), NULL, &c), ATR_OK);
	cr.kty = "RSA";
	cr.size = 2048;
	cr_assert_eq(atr_kv_create_key(c, "rot", &cr, &v1), ATR_OK, "%s",
	    atr_detail());
	snprintf(key, sizeof(key), "%s/keys/rot", atr_kv_server_url(srv));
	snprintf(key1, sizeof(key1), "%s", v1.kid);
	snprintf(plain, sizeof(plain), "%s/plain", dir);
	snprintf(store, sizeof(store), "%s/store", dir);
	snprintf(outd, sizeof(outd), "%s/out", dir);
	make_plain(plain);
	{
		const char *enc[] = {bin(), "encrypt", "-q", "-k", key, "-o", store,
		    plain, NULL};

		rc = run(enc, env, &msg);
		cr_assert_eq(rc, 0, "encrypt: %s", msg);
		free(msg);
	}
	cr_assert_eq(atr_kv_rotate_key(c, "rot", &v2), ATR_OK, "%s", atr_detail());
	cr_assert_str_neq(v1.kid, v2.kid);
	{
		const char *rw[] = {bin(), "rewrap", "-q", "--from", key1, "--to",
		    key, store, NULL};
		const char *dis[] = {bin(), "vault", "disable", key1, NULL};
		const char *dec[] = {bin(), "decrypt", "-q", "-k", key, "-o", outd,
		    store, NULL};
		const char *ins[] = {bin(), "inspect", "--json", NULL, NULL};
		char f[700];

		rc = run(rw, env, &msg);
		cr_assert_eq(rc, 0, "rewrap: %s", msg);
		cr_assert_not_null(strstr(msg, "5 rewrapped"), "%s", msg);
		free(msg);
		snprintf(f, sizeof(f), "%s/f3", store);
		ins[3] = f;
		rc = run(ins, env, &msg);
		cr_assert_eq(rc, 0);
		cr_assert_not_null(strstr(msg, v2.kid), "new version missing: %s",
		    msg);
		cr_assert_null(strstr(msg, v1.kid), "old version left: %s", msg);
		free(msg);
		/* Version 1 disabled: the objects no longer need it. */
		cr_assert_eq(run(dis, env, NULL), 0);
		rc = run(dec, env, &msg);
		cr_assert_eq(rc, 0, "decrypt after disabling v1: %s", msg);
		free(msg);
		rc = run(rw, env, &msg);
		cr_assert_eq(rc, 0, "second rewrap: %s", msg);
		cr_assert_not_null(strstr(msg, "0 rewrapped, 5 skipped"), "%s", msg);
		free(msg);
	}
	atr_kv_client_free(c);
	atr_kv_thread_cleanup();
	atr_kv_cache_clear();
	atr_kv_server_stop(srv);
	tu_rmtree(dir);
}

Test(rewrap_providers, file_smk_to_pkcs11_token, .timeout = 300)
{
	struct softhsm hsm;
	uint8_t aes[32], smk[32];
	char p11[1024], smkf[600], smkuri[700], plain[600], store[600];
	char outd[600];
	char *msg = NULL, *hex;
	int rc;

	if (!softhsm_available())
		cr_skip_test("SoftHSM2 is not installed");
	dir = tu_tmpdir("rwp11");
	cr_assert_eq(softhsm_init(&hsm, "rewrap", "pin-rewrap-1"), 0);
	/* Drawn so that softhsm2-util can import it (no 0x00 or 0x0a). */
	softhsm_draw_aes(aes);
	cr_assert_eq(softhsm_import_aes(&hsm, aes, "kek", "07"), 0);
	cr_assert_eq(softhsm_uri(&hsm, "kek", NULL, SOFTHSM_PIN_SOURCE, p11,
	    sizeof(p11)), 0);
	atr_random(smk, sizeof(smk));
	hex = tu_hex(smk, sizeof(smk));
	snprintf(smkf, sizeof(smkf), "%s/smk.key", dir);
	cr_assert_eq(tu_write_file(smkf, hex, strlen(hex)), 0);
	free(hex);
	snprintf(smkuri, sizeof(smkuri), "file:%s", smkf);
	snprintf(plain, sizeof(plain), "%s/plain", dir);
	snprintf(store, sizeof(store), "%s/store", dir);
	snprintf(outd, sizeof(outd), "%s/out", dir);
	make_plain(plain);
	{
		const char *enc[] = {bin(), "encrypt", "-q", "-k", smkuri, "-o",
		    store, plain, NULL};
		const char *rw[] = {bin(), "rewrap", "-q", "--from", smkuri, "--to",
		    p11, store, NULL};
		const char *dp[] = {bin(), "decrypt", "-q", "-k", p11, "-o", outd,
		    store, NULL};
		const char *ds[] = {bin(), "decrypt", "-q", "-k", smkuri, "-o", outd,
		    store, NULL};

		cr_assert_eq(run(enc, NULL, NULL), 0);
		rc = run(rw, NULL, &msg);
		cr_assert_eq(rc, 0, "rewrap to the token: %s", msg);
		free(msg);
		rc = run(dp, NULL, &msg);
		cr_assert_eq(rc, 0, "decrypt with the token: %s", msg);
		free(msg);
		cr_assert_eq(run(ds, NULL, NULL), 1,
		    "the old SMK still opens the objects");
	}
	atr_memzero(aes, sizeof(aes));
	atr_memzero(smk, sizeof(smk));
	softhsm_cleanup(&hsm);
	tu_rmtree(dir);
}
