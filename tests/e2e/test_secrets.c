/*
 * test_secrets.c - no secret reaches an output.
 *
 * Runs every command with known secrets: an AES KEK, an RSA private key,
 * a PKCS#11 PIN (in a pin-value URI), a Key Vault bearer token and a
 * client secret, and a DEK recovered from one of the objects.  The
 * commands run on their normal and on their error paths (wrong PIN,
 * wrong secret, wrong key, tampered data).  Then every stdout, stderr,
 * report and result file (the HTML page of `atrest report` too), and
 * every ciphertext, is scanned for each
 * secret as raw bytes, lower and upper hex, base64 and base64url (the
 * whole secret and a 16-byte slice of it): there must be no hit.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "crypto.h"
#include "fsutil.h"
#include "jwt_mint.h"
#include "kv_fedtoken.h"
#include "envelope.h"
#include "kv_mint.h"
#include "kv_server.h"
#include "softhsm.h"
#include "testutil.h"

#define MAXSEC 16
#define MAXNEEDLES (MAXSEC * 12)

struct needle {
	char what[64];
	uint8_t *b;
	size_t n;
};

static struct needle needles[MAXNEEDLES];
static size_t nneedles;
static char *dir, *outdir;
static unsigned nruns;

static const char *
bin(void)
{
	const char *b = getenv("ATREST_BIN");

	return b && *b ? b : "build/atrest";
}

static void
add_form(const char *what, const char *form, const uint8_t *b, size_t n)
{
	struct needle *x;

	cr_assert_lt(nneedles, MAXNEEDLES);
	x = &needles[nneedles++];
	snprintf(x->what, sizeof(x->what), "%s (%s)", what, form);
	x->b = malloc(n + 1);
	memcpy(x->b, b, n);
	x->n = n;
}

static void
add_encodings(const char *what, const uint8_t *s, size_t n)
{
	char *hex = tu_hex(s, n), *p;
	unsigned char b64[4096];
	int l;

	add_form(what, "raw", s, n);
	add_form(what, "hex", (uint8_t *)hex, strlen(hex));
	for (p = hex; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	add_form(what, "HEX", (uint8_t *)hex, strlen(hex));
	free(hex);
	l = EVP_EncodeBlock(b64, s, (int)n);
	/* Without the padding, which depends on what follows. */
	while (l > 0 && b64[l - 1] == '=')
		l--;
	add_form(what, "base64", b64, (size_t)l);
	for (p = (char *)b64; p < (char *)b64 + l; p++)
		*p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
	add_form(what, "base64url", b64, (size_t)l);
}

static void
add_secret(const char *what, const uint8_t *s, size_t n)
{
	add_encodings(what, s, n);
	if (n >= 32) {
		char w[64];

		snprintf(w, sizeof(w), "%s slice", what);
		add_encodings(w, s + n / 2 - 8, 16);
	}
}

/* Runs a command with stdout/stderr to outdir/NAME.{out,err}. */
static int
run(const char *name, const char *const argv[], const char *const *env)
{
	char out[600], err[600];
	struct tu_run_opts o = {0};

	snprintf(out, sizeof(out), "%s/%02u-%s.out", outdir, nruns, name);
	snprintf(err, sizeof(err), "%s/%02u-%s.err", outdir, nruns, name);
	nruns++;
	o.stdout_path = out;
	o.stderr_path = err;
	o.env = env;
	o.timeout_ms = 120000;
	return tu_run(argv, &o);
}

static unsigned
scan_file(const char *path)
{
	size_t len, i, k;
	uint8_t *b = tu_read_file(path, &len);
	unsigned hits = 0;

	cr_assert_not_null(b, "%s", path);
	for (k = 0; k < nneedles; k++) {
		const struct needle *x = &needles[k];

		for (i = 0; x->n <= len && i + x->n <= len; i++)
			if (memcmp(b + i, x->b, x->n) == 0) {
				cr_log_error("%s: %s at offset %zu", path,
				    x->what, i);
				hits++;
				break;
			}
	}
	free(b);
	return hits;
}

static unsigned
scan_tree(const char *d, unsigned *files)
{
	DIR *dd = opendir(d);
	struct dirent *de;
	unsigned hits = 0;

	cr_assert_not_null(dd, "%s", d);
	while ((de = readdir(dd)) != NULL) {
		char p[1024];
		struct stat st;

		if (de->d_name[0] == '.' && (de->d_name[1] == '\0' ||
		    (de->d_name[1] == '.' && de->d_name[2] == '\0')))
			continue;
		snprintf(p, sizeof(p), "%s/%s", d, de->d_name);
		cr_assert_eq(lstat(p, &st), 0);
		if (S_ISDIR(st.st_mode)) {
			hits += scan_tree(p, files);
		} else if (S_ISREG(st.st_mode)) {
			hits += scan_file(p);
			(*files)++;
		}
	}
	closedir(dd);
	return hits;
}

static int
command_exists(const char *cmd)
{
	const char *argv[] = {bin(), cmd, "--help", NULL};

	return run("probe", argv, NULL) == 0;
}

/*
 * The credentials of the chain (keyvault/kv_cred.c): a certificate
 * client (PKCS#12 and its password), a federated client (the issuer's
 * token file) and the Azure CLI (a fake az printing a token).  Their
 * secrets: the certificate's private key, the password, the federated
 * token and the CLI's token.
 */
struct credfx {
	char p12[600], pw[64], issuer_key[600], jwks[600], fedfile[600];
	char az[600], spec_cert[700], spec_fed[800];
	const char *certs[1], *feds[1];
};

static void
cred_setup(struct atr_kv_server_opts *o, struct credfx *cf)
{
	struct atr_fedtoken_opts fo = {0};
	EVP_PKEY *k = tl_rsa_key(2048);
	BIGNUM *d = NULL;
	uint8_t db[512], rnd[12];
	char pem[600], *t = NULL, *hex;
	size_t n = 0;
	int dn;

	cr_assert_not_null(k);
	snprintf(pem, sizeof(pem), "%s/cert.pem", dir);
	snprintf(cf->p12, sizeof(cf->p12), "%s/cert.p12", dir);
	cr_assert_eq(tl_cert_write(k, "secrets-app", pem, NULL), 0);
	cr_assert_eq(atr_random(rnd, sizeof(rnd)), ATR_OK);
	hex = tu_hex(rnd, sizeof(rnd));
	snprintf(cf->pw, sizeof(cf->pw), "p12-%s", hex);
	free(hex);
	cr_assert_eq(tl_p12_write(k, pem, cf->pw, cf->p12), 0);
	add_secret("PKCS#12 password", (uint8_t *)cf->pw, strlen(cf->pw));
	cr_assert(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_D, &d));
	dn = BN_bn2bin(d, db);
	add_secret("certificate private exponent", db, (size_t)dn);
	BN_clear_free(d);
	atr_memzero(db, sizeof(db));
	EVP_PKEY_free(k);
	snprintf(cf->issuer_key, sizeof(cf->issuer_key), "%s/issuer.pem", dir);
	snprintf(cf->jwks, sizeof(cf->jwks), "%s/jwks.json", dir);
	snprintf(cf->fedfile, sizeof(cf->fedfile), "%s/fed-token", dir);
	fo.key_path = cf->issuer_key;
	fo.issuer = "https://oidc.example.test/c1";
	fo.subject = "system:serviceaccount:default:atrest";
	fo.jwks_path = cf->jwks;
	cr_assert_eq(atr_fedtoken_make(&fo, &t, &n), ATR_OK, "%s",
	    atr_detail());
	cr_assert_eq(atr_write_file(cf->fedfile, 0600, t, n), ATR_OK);
	add_secret("federated token", (uint8_t *)t, n);
	atr_secure_free(t, n);
	snprintf(cf->spec_cert, sizeof(cf->spec_cert), "secrets-cert:%s", pem);
	snprintf(cf->spec_fed, sizeof(cf->spec_fed),
	    "secrets-fed:https://oidc.example.test/c1:%s", cf->jwks);
	cf->certs[0] = cf->spec_cert;
	cf->feds[0] = cf->spec_fed;
	o->cert_clients = cf->certs;
	o->ncert_clients = 1;
	o->fed_clients = cf->feds;
	o->nfed_clients = 1;
}

/* vault get through each credential, on its good and error paths. */
static void
cred_runs(struct atr_kv_server *srv, struct credfx *cf, const char *kvkey,
    const char *ca, const char *ah, const char *tid)
{
	char cert[700], pw[200], badpw[200], fed[700], azp[700], tok[4096];
	char script[8192];
	const char *get[] = {bin(), "vault", "get", kvkey, NULL};
	const char *envcert[] = {"ATREST_AZURE_TOKEN", ca, ah, tid,
	    "AZURE_CLIENT_ID=secrets-cert", cert, pw, NULL};
	const char *envbadpw[] = {"ATREST_AZURE_TOKEN", ca, ah, tid,
	    "AZURE_CLIENT_ID=secrets-cert", cert, badpw, NULL};
	const char *envfed[] = {"ATREST_AZURE_TOKEN", ca, ah, tid,
	    "AZURE_CLIENT_ID=secrets-fed", fed, NULL};
	const char *envfedbad[] = {"ATREST_AZURE_TOKEN", ca, ah, tid,
	    "AZURE_CLIENT_ID=secrets-cert", fed, NULL};
	const char *envcli[] = {"ATREST_AZURE_TOKEN", ca, tid, azp,
	    "ATREST_AZURE_CREDENTIAL=cli", NULL};

	snprintf(cert, sizeof(cert), "AZURE_CLIENT_CERTIFICATE_PATH=%s",
	    cf->p12);
	snprintf(pw, sizeof(pw), "AZURE_CLIENT_CERTIFICATE_PASSWORD=%s", cf->pw);
	snprintf(badpw, sizeof(badpw),
	    "AZURE_CLIENT_CERTIFICATE_PASSWORD=wrong-p12-password-31");
	add_secret("wrong PKCS#12 password",
	    (const uint8_t *)"wrong-p12-password-31", 21);
	snprintf(fed, sizeof(fed), "AZURE_FEDERATED_TOKEN_FILE=%s", cf->fedfile);
	snprintf(cf->az, sizeof(cf->az), "%s/az", dir);
	snprintf(azp, sizeof(azp), "ATREST_AZ_PATH=%s", cf->az);
	cr_assert_eq(tl_kv_mint_token(srv, atr_kv_server_client_id(srv),
	    "https://vault.azure.net", 3000, tok, sizeof(tok)), ATR_OK);
	add_secret("CLI token", (uint8_t *)tok, strlen(tok));
	snprintf(script, sizeof(script), "#!/bin/sh\nprintf '%%s' "
	    "'{\"accessToken\":\"%s\",\"expires_on\":%lld}'\n", tok,
	    (long long)time(NULL) + 3000);
	cr_assert_eq(atr_write_file(cf->az, 0700, script, strlen(script)),
	    ATR_OK);
	cr_assert_eq(run("vault-get-cert", get, envcert), 0);
	cr_assert_eq(run("vault-get-cert-badpw", get, envbadpw), 2);
	cr_assert_eq(run("vault-get-fed", get, envfed), 0);
	/* The federated token sent for a client it does not belong to. */
	cr_assert_eq(run("vault-get-fed-refused", get, envfedbad), 2);
	cr_assert_eq(run("vault-get-cli", get, envcli), 0);
	/* A CLI that fails with the token in its error output. */
	snprintf(script, sizeof(script), "#!/bin/sh\necho 'ERROR: bad %s' "
	    ">&2\nexit 1\n", tok);
	cr_assert_eq(atr_write_file(cf->az, 0700, script, strlen(script)),
	    ATR_OK);
	cr_assert_eq(run("vault-get-cli-fails", get, envcli), 2);
	atr_memzero(tok, sizeof(tok));
	atr_memzero(script, sizeof(script));
}

Test(secrets, no_secret_in_any_output, .timeout = 900)
{
	char smk[600], smkuri[700], cmk[600], cmkuri[700], cmkpub[700];
	char data[600], ct[600], pt[600], rep[600], p11aes[1024], p11bad[1024];
	char kvkey[512], tokenv[4200], cse[300], csbad[300];
	char *ctfile, *secret_cs;
	uint8_t aes[32], dek[64], tok[24];
	struct softhsm hsm;
	struct atr_kv_server *srv = NULL;
	struct atr_kv_server_opts o;
	struct credfx cf;
	struct atr_header *h;
	size_t len, dl = 0, i;
	unsigned files = 0, hits;
	uint8_t *buf;
	int have_hsm, rc;

	dir = tu_tmpdir("secrets");
	outdir = tu_path(dir, "outputs");
	cr_assert_eq(mkdir(outdir, 0700), 0);
	snprintf(data, sizeof(data), "%s/data", dir);
	snprintf(ct, sizeof(ct), "%s/ct", dir);
	snprintf(pt, sizeof(pt), "%s/pt", dir);
	snprintf(rep, sizeof(rep), "%s/reports", dir);
	cr_assert_eq(mkdir(data, 0700), 0);
	cr_assert_eq(mkdir(rep, 0700), 0);
	{
		char f[700];
		static const char csv[] = "id,name\n1,Ada CANARY-SECRETS-1\n";

		snprintf(f, sizeof(f), "%s/a.csv", data);
		cr_assert_eq(tu_write_file(f, csv, sizeof(csv) - 1), 0);
		snprintf(f, sizeof(f), "%s/b.bin", data);
		buf = malloc(200000);
		atr_random(buf, 200000);
		cr_assert_eq(tu_write_file(f, buf, 200000), 0);
		free(buf);
	}

	/* 1. File keys: a known AES KEK and an RSA key made by keygen. */
	/* Drawn so that softhsm2-util can import it (no 0x00 or 0x0a). */
	softhsm_draw_aes(aes);
	{
		char *hex = tu_hex(aes, sizeof(aes));
		char line[80];

		snprintf(smk, sizeof(smk), "%s/smk.key", dir);
		snprintf(line, sizeof(line), "%s\n", hex);
		cr_assert_eq(tu_write_file(smk, line, strlen(line)), 0);
		free(hex);
	}
	add_secret("AES KEK", aes, sizeof(aes));
	snprintf(smkuri, sizeof(smkuri), "file:%s", smk);
	snprintf(cmk, sizeof(cmk), "%s/cmk.pem", dir);
	snprintf(cmkuri, sizeof(cmkuri), "file:%s", cmk);
	snprintf(cmkpub, sizeof(cmkpub), "file:%s.pub", cmk);
	{
		const char *argv[] = {bin(), "keygen", "-t", "rsa-2048", "-o",
		    cmk, NULL};
		FILE *f;
		EVP_PKEY *pk;
		BIGNUM *d = NULL;
		uint8_t db[1024];
		int n;

		cr_assert_eq(run("keygen", argv, NULL), 0);
		f = fopen(cmk, "r");
		pk = PEM_read_PrivateKey(f, NULL, NULL, NULL);
		fclose(f);
		cr_assert_not_null(pk);
		cr_assert(EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_D, &d));
		n = BN_bn2bin(d, db);
		add_secret("RSA private exponent", db, (size_t)n);
		BN_clear_free(d);
		EVP_PKEY_free(pk);
		atr_memzero(db, sizeof(db));
	}

	/* 2. A PKCS#11 token with a known PIN. */
	have_hsm = softhsm_available() &&
	    softhsm_init(&hsm, "secrets", "pin-5ec7-3141-5926") == 0;
	if (have_hsm) {
		cr_assert_eq(softhsm_import_aes(&hsm, aes, "hsmaes", "01"), 0);
		cr_assert_eq(softhsm_uri(&hsm, "hsmaes", NULL, SOFTHSM_PIN_VALUE,
		    p11aes, sizeof(p11aes)), 0);
		snprintf(p11bad, sizeof(p11bad), "%s", p11aes);
		/* The same URI with a wrong PIN, for the error path. */
		{
			char *p = strstr(p11bad, "pin-value=");

			cr_assert_not_null(p);
			snprintf(p + 10, sizeof(p11bad) - (size_t)(p + 10 - p11bad),
			    "wrong-pin-2718");
		}
		add_secret("PKCS#11 PIN", (const uint8_t *)hsm.pin,
		    strlen(hsm.pin));
		add_secret("wrong PKCS#11 PIN", (const uint8_t *)"wrong-pin-2718",
		    14);
	} else {
		cr_log_warn("SoftHSM2 not available: PIN paths not scanned");
	}

	/* 3. The loopback vault, a bearer token and a client secret. */
	atr_kv_server_opts_init(&o);
	o.listen = "127.0.0.1:0";
	o.state_dir = tu_path(dir, "vault");
	o.token_mode = ATR_KV_TOKEN_VALIDATE;
	cred_setup(&o, &cf);
	cr_assert_eq(atr_kv_server_start(&o, &srv), ATR_OK, "%s", atr_detail());
	secret_cs = (char *)tu_read_file(atr_kv_server_client_secret_path(srv),
	    &len);
	cr_assert_not_null(secret_cs);
	while (len > 0 && (secret_cs[len - 1] == '\n' || secret_cs[len - 1] == '\r'))
		secret_cs[--len] = '\0';
	add_secret("client secret", (uint8_t *)secret_cs, len);
	{
		char t[4096];

		cr_assert_eq(tl_kv_mint_token(srv,
		    atr_kv_server_client_id(srv), "https://vault.azure.net", 3600,
		    t, sizeof(t)), ATR_OK);
		snprintf(tokenv, sizeof(tokenv), "ATREST_AZURE_TOKEN=%.*s",
		    (int)(sizeof(tokenv) - 20), t);
		cr_assert_lt(strlen(t), sizeof(tokenv) - 20, "token too long");
		add_secret("bearer token", (uint8_t *)t, strlen(t));
		/* The token's signature part alone. */
		{
			char *dot = strrchr(t, '.');

			if (dot != NULL && strlen(dot + 1) >= 16)
				add_form("bearer token", "signature",
				    (uint8_t *)dot + 1, strlen(dot + 1));
		}
		atr_memzero(t, sizeof(t));
	}
	atr_random(tok, sizeof(tok));
	snprintf(cse, sizeof(cse), "AZURE_CLIENT_SECRET=%s", secret_cs);
	snprintf(csbad, sizeof(csbad), "AZURE_CLIENT_SECRET=wrong-secret-1618");
	add_secret("wrong client secret", (const uint8_t *)"wrong-secret-1618", 17);
	snprintf(kvkey, sizeof(kvkey), "%s/keys/cmk", atr_kv_server_url(srv));
	{
		char ca[700], ah[700], tid[200], cid[200];
		const char *envtok[] = {tokenv, ca, "ATREST_AZURE_CREDENTIAL=token",
		    NULL};
		const char *envcc[] = {"ATREST_AZURE_TOKEN", ca, ah, tid, cid, cse, NULL};
		const char *envbad[] = {"ATREST_AZURE_TOKEN", ca, ah, tid, cid, csbad,
		    "ATREST_KV_MAX_RETRIES=0", NULL};
		const char *create[] = {bin(), "vault", "create", kvkey, "--size",
		    "2048", NULL};
		const char *get[] = {bin(), "vault", "get", kvkey, NULL};
		const char *rot[] = {bin(), "vault", "rotate", kvkey, NULL};
		const char *vers[] = {bin(), "vault", "versions", kvkey, NULL};

		snprintf(ca, sizeof(ca), "ATREST_CA_FILE=%s",
		    atr_kv_server_ca_path(srv));
		snprintf(ah, sizeof(ah), "AZURE_AUTHORITY_HOST=%s",
		    atr_kv_server_url(srv));
		snprintf(tid, sizeof(tid), "AZURE_TENANT_ID=%s",
		    atr_kv_server_tenant(srv));
		snprintf(cid, sizeof(cid), "AZURE_CLIENT_ID=%s",
		    atr_kv_server_client_id(srv));
		cr_assert_eq(run("vault-create", create, envtok), 0);
		cr_assert_eq(run("vault-get", get, envcc), 0);
		cr_assert_eq(run("vault-rotate", rot, envtok), 0);
		cr_assert_eq(run("vault-versions", vers, envtok), 0);
		cr_assert_eq(run("vault-get-badsecret", get, envbad), 2);
		cred_runs(srv, &cf, kvkey, ca, ah, tid);

		/* 4. Encrypt for every key; open with each; error paths. */
		{
			const char *enc[] = {bin(), "encrypt", "-k", smkuri, "-k",
			    cmkpub, "-k", kvkey, "-k", have_hsm ? p11aes : smkuri,
			    "-o", ct, data, NULL};

			rc = run("encrypt", enc, envtok);
			cr_assert_eq(rc, 0, "encrypt exit %d", rc);
		}
	/* A DEK: unwrap the SMK stanza of one object with the known KEK. */
		ctfile = tu_path(ct, "a.csv");
		buf = tu_read_file(ctfile, &len);
		cr_assert_not_null(buf);
		h = malloc(sizeof(*h));
		cr_assert_eq(atr_header_parse(buf, len, h), ATR_OK);
		for (i = 0; i < h->nstanzas; i++)
			if (h->st[i].provider == ATR_PROV_FILE_AES &&
			    atr_aes_kw_unwrap(1, aes, 32, h->st[i].wrapped,
			    h->st[i].wrapped_len, dek, &dl) == ATR_OK)
				break;
		cr_assert_eq(dl, 64, "no SMK stanza to recover a DEK from");
		add_secret("DEK", dek, 32);
		free(h);
		free(buf);
		free(ctfile);

		{
			const char *d1[] = {bin(), "decrypt", "-k", smkuri, "-o", pt,
			    ct, NULL};
			const char *d2[] = {bin(), "decrypt", "-k", cmkuri, "-o", pt,
			    ct, NULL};
			const char *d3[] = {bin(), "decrypt", "-k", kvkey, "-o", pt,
			    ct, NULL};
			const char *d5[] = {bin(), "decrypt", "-k", cmkpub, "-o", pt,
			    ct, NULL};
			char ctf[700];
			const char *i1[] = {bin(), "inspect", "--json", ctf, NULL};
			const char *i2[] = {bin(), "inspect", ctf, NULL};

			snprintf(ctf, sizeof(ctf), "%s/a.csv", ct);
			cr_assert_eq(run("decrypt-smk", d1, NULL), 0);
			cr_assert_eq(run("decrypt-cmk", d2, NULL), 0);
			cr_assert_eq(run("decrypt-kv", d3, envtok), 0);
			cr_assert_eq(run("decrypt-kv-cc", d3, envcc), 0);
			cr_assert_eq(run("decrypt-kv-badsecret", d3, envbad), 2);
			cr_assert_eq(run("decrypt-pubonly", d5, NULL), 2);
			cr_assert_eq(run("inspect-json", i1, NULL), 0);
			cr_assert_eq(run("inspect", i2, NULL), 0);
			if (have_hsm) {
				const char *d4[] = {bin(), "decrypt", "-k", p11aes,
				    "-o", pt, ct, NULL};
				const char *d4b[] = {bin(), "decrypt", "-k", p11bad,
				    "-o", pt, ct, NULL};

				cr_assert_eq(run("decrypt-p11", d4, NULL), 0);
				cr_assert_eq(run("decrypt-p11-badpin", d4b, NULL), 2);
			}
		}
		/* A tampered object and a rewrap. */
		{
			char f[700], tout[700];
			const char *d1[] = {bin(), "decrypt", "-k", smkuri, "-o", tout,
			    f, NULL};
			const char *rw[] = {bin(), "rewrap", "--from", smkuri, "--to",
			    cmkpub, ct, NULL};
			int fd;

			snprintf(tout, sizeof(tout), "%s/tampered.out", dir);
			snprintf(f, sizeof(f), "%s/tampered", dir);
			buf = tu_read_file(ct, &len);
			snprintf(f, sizeof(f), "%s/b.bin", ct);
			free(buf);
			buf = tu_read_file(f, &len);
			cr_assert_not_null(buf);
			buf[len - 100] ^= 1;
			snprintf(f, sizeof(f), "%s/tampered", dir);
			cr_assert_eq(tu_write_file(f, buf, len), 0);
			free(buf);
			cr_assert_eq(run("decrypt-tampered", d1, NULL), 1);
			(void)fd;
			cr_assert_eq(run("rewrap", rw, envtok), 0);
		}
		/* verify and bench, with their report files. */
		if (command_exists("verify")) {
			char j[700], x[700];
			const char *v[] = {bin(), "verify", "-k", cmkuri, "--json", j,
			    "--junit", x, ct, NULL};

			snprintf(j, sizeof(j), "%s/verify.json", rep);
			snprintf(x, sizeof(x), "%s/verify.xml", rep);
			rc = run("verify", v, envtok);
			cr_assert(rc == 0 || rc == 1, "verify exit %d", rc);
		}
		if (command_exists("bench")) {
			char j[700], c[700];
			const char *b[] = {bin(), "bench", "--quick", "--keys", smkuri,
			    "--sizes", "1K", "--no-table", "--json", j, "--csv", c,
			    NULL};

			snprintf(j, sizeof(j), "%s/bench.json", rep);
			snprintf(c, sizeof(c), "%s/bench.csv", rep);
			rc = run("bench", b, NULL);
			cr_assert_eq(rc, 0, "bench exit %d", rc);
		}
		/* The HTML page made from both reports: it shows what they
		 * hold (keys, paths, findings), so it is scanned like them. */
		if (command_exists("report") && command_exists("verify") &&
		    command_exists("bench")) {
			char pg[700], j[700], k[700];
			const char *r[] = {bin(), "report", "-o", pg, j, k, NULL};

			snprintf(pg, sizeof(pg), "%s/report.html", rep);
			snprintf(j, sizeof(j), "%s/verify.json", rep);
			snprintf(k, sizeof(k), "%s/bench.json", rep);
			rc = run("report", r, NULL);
			cr_assert_eq(rc, 0, "report exit %d", rc);
		}
	}

	/* ATREST_SECRETS_SELFTEST=1 plants a "secret" that the tampered
	 * decrypt does print, to see the scan fail. */
	if (getenv("ATREST_SECRETS_SELFTEST") != NULL)
		add_secret("self-test", (const uint8_t *)"authentication failed", 21);

	/* 5. Scan every output, report and ciphertext. */
	hits = scan_tree(outdir, &files);
	hits += scan_tree(rep, &files);
	hits += scan_tree(ct, &files);
	fprintf(stderr, "secrets: %u commands, %zu needles (%s), %u files "
	    "scanned, %u hits\n", nruns, nneedles,
	    have_hsm ? "file, PKCS#11 PIN, token, client secret, DEK" :
	    "file, token, client secret, DEK", files, hits);
	cr_assert_eq(hits, 0, "%u secret(s) found in outputs", hits);
	cr_assert_gt(files, 20);

	for (i = 0; i < nneedles; i++) {
		atr_memzero(needles[i].b, needles[i].n);
		free(needles[i].b);
	}
	atr_memzero(aes, sizeof(aes));
	atr_memzero(dek, sizeof(dek));
	atr_memzero(secret_cs, strlen(secret_cs));
	free(secret_cs);
	atr_kv_server_stop(srv);
	if (have_hsm)
		softhsm_cleanup(&hsm);
	tu_rmtree(dir);
	free(outdir);
	free(dir);
}
