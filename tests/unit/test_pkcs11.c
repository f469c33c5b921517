/*
 * test_pkcs11.c - the RFC 7512 URI parser (keys/pkcs11_uri.c) and the
 * PKCS#11 key provider (keys/provider_pkcs11.c) against a SoftHSM2 token
 * made per test in a temporary directory (tests/testlib/softhsm.c).
 */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "crypto.h"
#include "key.h"
#include "keys.h"
#include "pkcs11_uri.h"
#include "softhsm.h"
#include "testutil.h"

#define TOKEN "atrest-test"
#define PIN "27182818"     /* distinctive: searched for in outputs */
#define BAD_PIN "31415926" /* likewise */

/* ---- URI parser ---- */

TestSuite(p11uri);

Test(p11uri, valid_full)
{
	struct atr_p11_uri u;
	enum atr_err e;

	e = atr_p11_uri_parse("pkcs11:token=softhsm;object=kek;id=%01%02;"
	    "type=private;serial=abc123;manufacturer=SoftHSM%20project;"
	    "model=SoftHSM%20v2;slot-id=42?module-path=/usr/lib/softhsm/"
	    "libsofthsm2.so&pin-value=1234", &u);
	cr_assert_eq(e, ATR_OK, "%s", atr_detail());
	cr_assert_str_eq(u.token, "softhsm");
	cr_assert_str_eq(u.object, "kek");
	cr_assert_eq(u.id_len, 2);
	cr_assert_eq(u.id[0], 1);
	cr_assert_eq(u.id[1], 2);
	cr_assert_eq(u.type, ATR_P11_TYPE_PRIVATE);
	cr_assert_str_eq(u.serial, "abc123");
	cr_assert_str_eq(u.manufacturer, "SoftHSM project");
	cr_assert_str_eq(u.model, "SoftHSM v2");
	cr_assert(u.has_slot_id);
	cr_assert_eq(u.slot_id, 42);
	cr_assert_str_eq(u.module_path, "/usr/lib/softhsm/libsofthsm2.so");
	cr_assert(u.has_pin);
	cr_assert_eq(u.pin_len, 4);
	cr_assert_str_eq(u.pin, "1234");
	cr_assert(!u.has_pin_source);
	atr_p11_uri_clear(&u);
	cr_assert_eq(u.pin_len, 0);
	cr_assert_eq(u.pin[0], '\0');
}

Test(p11uri, minimal_and_types)
{
	struct atr_p11_uri u;

	cr_assert_eq(atr_p11_uri_parse("pkcs11:token=t;object=o", &u), ATR_OK);
	cr_assert_eq(u.type, ATR_P11_TYPE_ANY);
	cr_assert(!u.has_module_path && !u.has_pin && !u.has_id);
	cr_assert_eq(atr_p11_uri_parse("pkcs11:token=t;id=%aB;type=secret-key",
	    &u), ATR_OK);
	cr_assert_eq(u.type, ATR_P11_TYPE_SECRET);
	cr_assert_eq(u.id_len, 1);
	cr_assert_eq(u.id[0], 0xab);
	cr_assert_eq(atr_p11_uri_parse("pkcs11:token=t;object=o;type=secret;",
	    &u), ATR_OK, "alias 'secret' and a trailing ';'");
	cr_assert_eq(u.type, ATR_P11_TYPE_SECRET);
	cr_assert_eq(atr_p11_uri_parse("pkcs11:token=t;object=o;type=key", &u),
	    ATR_ERR_CONFIG);
	cr_assert(strstr(atr_detail(), "type") != NULL, "%s", atr_detail());
	cr_assert_eq(atr_p11_uri_parse("pkcs11:token=t;slot-id=1x", &u),
	    ATR_ERR_CONFIG);
	cr_assert_eq(atr_p11_uri_parse("file:/x", &u), ATR_ERR_CONFIG);
}

Test(p11uri, percent_encoding)
{
	struct atr_p11_uri u;

	cr_assert_eq(atr_p11_uri_parse("pkcs11:token=My%20Token;"
	    "object=a%2Fb%3Bc=d&e?module-path=/opt/x%20y/lib.so", &u), ATR_OK,
	    "%s", atr_detail());
	cr_assert_str_eq(u.token, "My Token");
	cr_assert_str_eq(u.object, "a/b;c=d&e", "'=' and '&' are plain in a path value");
	cr_assert_str_eq(u.module_path, "/opt/x y/lib.so");
	/* UTF-8 label, %-encoded */
	cr_assert_eq(atr_p11_uri_parse("pkcs11:token=%C3%A9t%C3%A9;object=o",
	    &u), ATR_OK);
	cr_assert_str_eq(u.token, "\xc3\xa9t\xc3\xa9");

	/* malformed escapes */
	cr_assert_eq(atr_p11_uri_parse("pkcs11:token=a%2;object=o", &u),
	    ATR_ERR_CONFIG);
	cr_assert(strstr(atr_detail(), "escape") != NULL, "%s", atr_detail());
	cr_assert_eq(atr_p11_uri_parse("pkcs11:token=a%zz;object=o", &u),
	    ATR_ERR_CONFIG);
	cr_assert_eq(atr_p11_uri_parse("pkcs11:token=a%", &u), ATR_ERR_CONFIG);
	/* characters that must be encoded */
	cr_assert_eq(atr_p11_uri_parse("pkcs11:token=My Token;object=o", &u),
	    ATR_ERR_CONFIG);
	cr_assert(strstr(atr_detail(), "%20") != NULL, "%s", atr_detail());
	cr_assert_eq(atr_p11_uri_parse("pkcs11:token=a/b;object=o", &u),
	    ATR_ERR_CONFIG, "'/' must be encoded in the path");
	cr_assert_eq(atr_p11_uri_parse("pkcs11:token=a;object=o#frag", &u),
	    ATR_ERR_CONFIG);
	/* NUL in a text value, over-long CK_TOKEN_INFO label */
	cr_assert_eq(atr_p11_uri_parse("pkcs11:token=a%00b;object=o", &u),
	    ATR_ERR_CONFIG);
	cr_assert_eq(atr_p11_uri_parse(
	    "pkcs11:token=123456789012345678901234567890123;object=o", &u),
	    ATR_ERR_CONFIG);
	cr_assert(strstr(atr_detail(), "32") != NULL, "%s", atr_detail());
	cr_assert_eq(atr_p11_uri_parse(
	    "pkcs11:token=12345678901234567890123456789012;object=o", &u),
	    ATR_OK, "exactly 32 bytes fits");
}

Test(p11uri, missing_token)
{
	struct atr_p11_uri u;

	cr_assert_eq(atr_p11_uri_parse("pkcs11:object=kek;type=private", &u),
	    ATR_ERR_CONFIG);
	cr_assert(strstr(atr_detail(), "token") != NULL, "%s", atr_detail());
	cr_assert_eq(atr_p11_uri_parse("pkcs11:", &u), ATR_ERR_CONFIG);
	cr_assert_eq(atr_p11_uri_parse("pkcs11:token=;object=o", &u),
	    ATR_ERR_CONFIG);
}

Test(p11uri, unknown_and_duplicate_attributes)
{
	struct atr_p11_uri u;

	cr_assert_eq(atr_p11_uri_parse("pkcs11:token=t;colour=red", &u),
	    ATR_ERR_CONFIG);
	cr_assert(strstr(atr_detail(), "'colour'") != NULL, "%s", atr_detail());
	cr_assert_eq(atr_p11_uri_parse("pkcs11:token=t;object=o?colour=red",
	    &u), ATR_ERR_CONFIG);
	cr_assert(strstr(atr_detail(), "query") != NULL, "%s", atr_detail());
	cr_assert_eq(atr_p11_uri_parse("pkcs11:token=t;x-vendor=1", &u),
	    ATR_ERR_CONFIG);
	cr_assert_eq(atr_p11_uri_parse("pkcs11:token=t;slot-description=s",
	    &u), ATR_ERR_CONFIG);
	cr_assert(strstr(atr_detail(), "not supported") != NULL, "%s",
	    atr_detail());
	cr_assert_eq(atr_p11_uri_parse("pkcs11:token=t;object=o?module-name=x",
	    &u), ATR_ERR_CONFIG);
	cr_assert_eq(atr_p11_uri_parse("pkcs11:token=t;token=u", &u),
	    ATR_ERR_CONFIG);
	cr_assert(strstr(atr_detail(), "more than once") != NULL);
	cr_assert_eq(atr_p11_uri_parse("pkcs11:token=t;object", &u),
	    ATR_ERR_CONFIG, "no '='");
	/* a query attribute in the path is unknown there */
	cr_assert_eq(atr_p11_uri_parse("pkcs11:token=t;module-path=/x", &u),
	    ATR_ERR_CONFIG);
}

Test(p11uri, pin_value_never_echoed)
{
	struct atr_p11_uri u;

	cr_assert_eq(atr_p11_uri_parse("pkcs11:token=t;object=o?pin-value="
	    PIN "#", &u), ATR_ERR_CONFIG);
	cr_assert(strstr(atr_detail(), PIN) == NULL, "%s", atr_detail());
	cr_assert(strstr(atr_detail(), "pin-value") != NULL, "%s", atr_detail());
	cr_assert_eq(atr_p11_uri_parse("pkcs11:token=t;object=o?pin-value="
	    PIN "&pin-value=" PIN, &u), ATR_ERR_CONFIG);
	cr_assert(strstr(atr_detail(), PIN) == NULL, "%s", atr_detail());
	/* a mistyped attribute carrying the PIN is not echoed either */
	cr_assert_eq(atr_p11_uri_parse("pkcs11:token=t;object=o?pinvalue"
	    PIN "=1", &u), ATR_ERR_CONFIG);
	cr_assert(strstr(atr_detail(), PIN) == NULL, "%s", atr_detail());
	/* nor in capitals, with the '=' forgotten, in either part */
	cr_assert_eq(atr_p11_uri_parse("pkcs11:token=t;object=o?PIN-VALUE"
	    PIN, &u), ATR_ERR_CONFIG);
	cr_assert(strstr(atr_detail(), PIN) == NULL, "%s", atr_detail());
	cr_assert_eq(atr_p11_uri_parse("pkcs11:token=t;Pin-Value" PIN
	    ";object=o", &u), ATR_ERR_CONFIG);
	cr_assert(strstr(atr_detail(), PIN) == NULL, "%s", atr_detail());
	cr_assert_eq(atr_p11_uri_parse("pkcs11:token=t;object=o?PIN_VALUE"
	    PIN "=x", &u), ATR_ERR_CONFIG);
	cr_assert(strstr(atr_detail(), PIN) == NULL, "%s", atr_detail());
	cr_assert_eq(atr_p11_uri_parse("pkcs11:token=t;object=o?pin-value="
	    PIN "&pin-source=file:/x", &u), ATR_ERR_CONFIG,
	    "RFC 7512: both refused");
	cr_assert(strstr(atr_detail(), PIN) == NULL, "%s", atr_detail());
	cr_assert_eq(u.pin_len, 0, "the struct is wiped on failure");
}

/*
 * The CLI never echoes a key URI with its attribute values: a mistyped
 * PIN attribute is unknown to the parser, so nothing recognises it as
 * a PIN; the messages name the URI by token and object only
 * (core/keyuri.h).  Run through encrypt, decrypt and verify's
 * --control-key, each of which prints "atrest: URI: reason".
 */
Test(p11uri, misspelled_pin_attribute_never_reaches_stderr, .timeout = 60)
{
	static const char *const uris[] = {
		"pkcs11:token=t;object=o?PIN-VALUE=" PIN,
		"pkcs11:token=t;object=o?pin_value=" PIN,
		"pkcs11:token=t;object=o?pin%2Dvalue=" PIN,
		"pkcs11:token=t;PIN-VALUE=" PIN ";object=o",
		"https://u:" PIN "@127.0.0.1:1/keys/k",
		"https://127.0.0.1:1/keys/k?sig=" PIN,
	};
	const char *bin = getenv("ATREST_BIN");
	char *dir, *in, *out, *err, *key, *kuri;
	uint8_t *msg;
	size_t i, j, n;
	int rc;

	cr_assert(bin != NULL && *bin != '\0',
	    "ATREST_BIN is not set (scripts/run-tests.sh sets it)");
	dir = tu_tmpdir("p11echo");
	cr_assert_not_null(dir);
	in = tu_path(dir, "in");
	out = tu_path(dir, "out");
	err = tu_path(dir, "stderr");
	key = tu_path(dir, "smk.key");
	cr_assert_eq(tu_write_file(in, "x", 1), 0);
	cr_assert_eq(atr_keygen("aes-256", key), ATR_OK, "%s", atr_detail());
	n = strlen(key) + 8;
	kuri = malloc(n);
	cr_assert_not_null(kuri);
	snprintf(kuri, n, "file:%s", key);
	for (i = 0; i < sizeof(uris) / sizeof(uris[0]); i++) {
		const char *argv[4][11] = {
			{bin, "encrypt", "-q", "-k", uris[i], "-o", out, in,
			    NULL},
			{bin, "decrypt", "-k", uris[i], "-o", out, in, NULL},
			{bin, "verify", "-q", "-k", kuri, "--control-key",
			    uris[i], in, NULL},
			{bin, "bench", "--keys", uris[i], "--sizes", "1K",
			    "--time", "0.01", "--reps", "1", NULL},
		};

		for (j = 0; j < 4; j++) {
			struct tu_run_opts o = {.stderr_path = err,
			    .timeout_ms = 30000};

			rc = tu_run(argv[j], &o);
			msg = tu_read_file(err, NULL);
			cr_assert_not_null(msg);
			cr_assert_eq(rc, 2, "%s %s: exit %d: %s", argv[j][1],
			    uris[i], rc, (char *)msg);
			cr_assert(strstr((char *)msg, PIN) == NULL,
			    "%s echoed the PIN: %s", argv[j][1], (char *)msg);
			if (i < 4)
				cr_assert(strstr((char *)msg, j < 3 ?
				    "pkcs11:token=t;object=o:" :
				    "'pkcs11:token=t;object=o'") != NULL,
				    "%s: %s", argv[j][1], (char *)msg);
			free(msg);
		}
	}
	free(kuri);
	free(key);
	free(err);
	free(out);
	free(in);
	tu_rmtree(dir);
	free(dir);
}

static char *
tmp_pin_file(const char *content, mode_t mode)
{
	char *path = strdup("/tmp/atr-p11pin-XXXXXX");
	int fd;

	cr_assert_not_null(path);
	fd = mkstemp(path);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, content, strlen(content)),
	    (ssize_t)strlen(content));
	close(fd);
	cr_assert_eq(chmod(path, mode), 0);
	return path;
}

Test(p11uri, pin_source_file)
{
	struct atr_p11_uri u;
	char uri[512];
	char *path = tmp_pin_file(PIN "\r\n", 0600);

	snprintf(uri, sizeof(uri), "pkcs11:token=t;object=o?pin-source=file:%s",
	    path);
	cr_assert_eq(atr_p11_uri_parse(uri, &u), ATR_OK, "%s", atr_detail());
	cr_assert(u.has_pin_source && !u.has_pin);
	cr_assert_eq(atr_p11_uri_load_pin(&u), ATR_OK, "%s", atr_detail());
	cr_assert(u.has_pin);
	cr_assert_eq(u.pin_len, strlen(PIN), "CR/LF stripped");
	cr_assert_str_eq(u.pin, PIN);
	atr_p11_uri_clear(&u);

	/* file:///abs and a plain path */
	snprintf(uri, sizeof(uri), "pkcs11:token=t;object=o?pin-source=file://%s",
	    path);
	cr_assert_eq(atr_p11_uri_parse(uri, &u), ATR_OK);
	cr_assert_eq(atr_p11_uri_load_pin(&u), ATR_OK, "%s", atr_detail());
	cr_assert_str_eq(u.pin, PIN);
	snprintf(uri, sizeof(uri), "pkcs11:token=t;object=o?pin-source=%s", path);
	cr_assert_eq(atr_p11_uri_parse(uri, &u), ATR_OK);
	cr_assert_eq(atr_p11_uri_load_pin(&u), ATR_OK, "%s", atr_detail());
	cr_assert_str_eq(u.pin, PIN);

	/* readable by others: refused, PIN not shown */
	cr_assert_eq(chmod(path, 0644), 0);
	cr_assert_eq(atr_p11_uri_parse(uri, &u), ATR_OK);
	cr_assert_eq(atr_p11_uri_load_pin(&u), ATR_ERR_CONFIG);
	cr_assert(strstr(atr_detail(), "chmod 600") != NULL, "%s", atr_detail());
	cr_assert(strstr(atr_detail(), PIN) == NULL);
	cr_assert(!u.has_pin);
	unlink(path);

	/* missing file, a command */
	cr_assert_eq(atr_p11_uri_parse(uri, &u), ATR_OK);
	cr_assert_neq(atr_p11_uri_load_pin(&u), ATR_OK);
	cr_assert(strstr(atr_detail(), path) != NULL, "%s", atr_detail());
	cr_assert_eq(atr_p11_uri_parse("pkcs11:token=t;object=o?pin-source="
	    "%7C/bin/echo", &u), ATR_OK);
	cr_assert_eq(atr_p11_uri_load_pin(&u), ATR_ERR_UNSUPPORTED);
	free(path);

	/* empty file */
	path = tmp_pin_file("\n", 0600);
	snprintf(uri, sizeof(uri), "pkcs11:token=t;object=o?pin-source=%s", path);
	cr_assert_eq(atr_p11_uri_parse(uri, &u), ATR_OK);
	cr_assert_eq(atr_p11_uri_load_pin(&u), ATR_ERR_CONFIG);
	unlink(path);
	free(path);
}

Test(p11uri, canonical_format)
{
	struct atr_p11_uri u;
	char out[512];

	cr_assert_eq(atr_p11_uri_parse("pkcs11:type=private;id=%0a%FF;"
	    "object=k%20ek;token=My%20Tok?module-path=/x&pin-value=1", &u),
	    ATR_OK);
	cr_assert_eq(atr_p11_uri_format(&u, out, sizeof(out)), ATR_OK);
	cr_assert_str_eq(out,
	    "pkcs11:token=My%20Tok;object=k%20ek;id=%0A%FF;type=private");
	/* the canonical form parses back to the same form */
	cr_assert_eq(atr_p11_uri_parse(out, &u), ATR_OK);
	cr_assert_eq(atr_p11_uri_format(&u, out, sizeof(out)), ATR_OK);
	cr_assert_str_eq(out,
	    "pkcs11:token=My%20Tok;object=k%20ek;id=%0A%FF;type=private");
	/* id made of printable bytes is still fully encoded */
	cr_assert_eq(atr_p11_uri_parse("pkcs11:token=t;id=AB;type=secret", &u),
	    ATR_OK);
	cr_assert_eq(atr_p11_uri_format(&u, out, sizeof(out)), ATR_OK);
	cr_assert_str_eq(out, "pkcs11:token=t;id=%41%42;type=secret-key");
	cr_assert_eq(atr_p11_uri_format(&u, out, 10), ATR_ERR_LIMIT);
	cr_assert_str_eq(out, "");
}

Test(p11uri, redact)
{
	char out[512];

	cr_assert_eq(atr_p11_uri_redact("pkcs11:token=t;object=o?module-path=/m"
	    "&pin-value=" PIN, out, sizeof(out)), ATR_OK);
	cr_assert_str_eq(out, "pkcs11:token=t;object=o?module-path=/m");
	cr_assert_eq(atr_p11_uri_redact("pkcs11:token=t;object=o?pin-value="
	    PIN "&module-path=/m", out, sizeof(out)), ATR_OK);
	cr_assert_str_eq(out, "pkcs11:token=t;object=o?module-path=/m");
	cr_assert_eq(atr_p11_uri_redact("pkcs11:token=t;object=o?pin-value="
	    PIN, out, sizeof(out)), ATR_OK);
	cr_assert_str_eq(out, "pkcs11:token=t;object=o");
	cr_assert_eq(atr_p11_uri_redact("pkcs11:token=t;pin-value=" PIN
	    ";object=o?pin-source=file:/p", out, sizeof(out)), ATR_OK);
	cr_assert_str_eq(out, "pkcs11:token=t;object=o?pin-source=file:/p");
	cr_assert_eq(atr_p11_uri_redact("pkcs11:token=t;object=o?pin-value="
	    PIN, out, 12), ATR_ERR_LIMIT);
	cr_assert(strstr(out, PIN) == NULL);
}

/* ---- provider against SoftHSM2 ---- */

static struct softhsm H;

static void
hsm_up(void)
{
	cr_assert(softhsm_available(), "SoftHSM2, softhsm2-util and "
	    "pkcs11-tool are required (scripts/deps.sh installs them)");
	cr_assert_eq(softhsm_init(&H, TOKEN, PIN), 0,
	    "cannot create a SoftHSM2 token (see %s/log)", H.dir);
	unsetenv("ATREST_PKCS11_MODULE");
}

static void
hsm_down(void)
{
	softhsm_cleanup(&H);
}

TestSuite(pkcs11, .init = hsm_up, .fini = hsm_down);

static struct atr_key *
open_ok(const char *uri)
{
	struct atr_key *k = NULL;
	enum atr_err e = atr_key_open(uri, NULL, &k);

	cr_assert_eq(e, ATR_OK, "%s: %s (%s)", uri, atr_errname(e),
	    atr_detail());
	cr_assert_not_null(k);
	return k;
}

static void
assert_no_pin(const struct atr_key *k)
{
	if (k != NULL) {
		cr_assert(strstr(k->uri, PIN) == NULL, "uri %s", k->uri);
		cr_assert(strstr(k->key_id, PIN) == NULL, "id %s", k->key_id);
		cr_assert(strstr(k->desc, PIN) == NULL, "desc %s", k->desc);
		cr_assert(strstr(k->uri, BAD_PIN) == NULL);
	}
	cr_assert(strstr(atr_detail(), PIN) == NULL, "%s", atr_detail());
	cr_assert(strstr(atr_detail(), BAD_PIN) == NULL, "%s", atr_detail());
}

static void
make_msg(uint8_t msg[64], unsigned seed)
{
	size_t i;

	for (i = 0; i < 64; i++)
		msg[i] = (uint8_t)(seed * 31U + i * 7U + 1U);
}

static void
roundtrip(struct atr_key *k, unsigned seed)
{
	uint8_t msg[64], w[ATR_WRAPPED_MAX], back[ATR_WRAPPED_MAX];
	size_t wl = sizeof(w), bl = sizeof(back);
	enum atr_err e;

	make_msg(msg, seed);
	e = k->ops->wrap(k, msg, sizeof(msg), w, &wl);
	cr_assert_eq(e, ATR_OK, "wrap: %s", atr_detail());
	cr_assert(wl >= 72);
	e = k->ops->unwrap(k, k->key_id, k->alg, w, wl, back, &bl);
	cr_assert_eq(e, ATR_OK, "unwrap: %s (%s)", atr_errname(e), atr_detail());
	cr_assert_eq(bl, sizeof(msg));
	cr_assert_arr_eq(back, msg, sizeof(msg));
}

static EVP_PKEY *
read_pem(const char *path)
{
	FILE *fp = fopen(path, "r");
	EVP_PKEY *pk;

	cr_assert_not_null(fp, "%s", path);
	pk = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
	fclose(fp);
	cr_assert_not_null(pk);
	return pk;
}

Test(pkcs11, open_rsa_imported)
{
	char uri[PATH_MAX + 256];
	struct atr_key *k;

	cr_assert_eq(softhsm_import_rsa(&H, 2048, "rsa1", "01", NULL, 0), 0);
	cr_assert_eq(softhsm_uri(&H, "rsa1", "type=private", SOFTHSM_PIN_VALUE,
	    uri, sizeof(uri)), 0);
	k = open_ok(uri);
	cr_assert_eq(k->provider, ATR_PROV_PKCS11);
	cr_assert_eq(k->customer_managed, 1);
	cr_assert(k->can_wrap && k->can_unwrap);
	cr_assert_eq(k->bits, 2048);
	cr_assert_str_eq(k->key_id,
	    "pkcs11:token=" TOKEN ";object=rsa1;id=%01;type=private");
	cr_assert(strncmp(k->desc, "RSA-2048 PKCS#11 key (token " TOKEN,
	    strlen("RSA-2048 PKCS#11 key (token " TOKEN)) == 0, "%s", k->desc);
	cr_assert(strstr(k->uri, "module-path=" SOFTHSM_MODULE) != NULL,
	    "%s", k->uri);
	cr_assert(strstr(k->uri, "pin-value") == NULL, "%s", k->uri);
	assert_no_pin(k);
	roundtrip(k, 1);
	atr_key_free(k);

	/* the same key by id only, with the PIN from a file: same key id */
	cr_assert_eq(softhsm_uri(&H, NULL, "id=%01", SOFTHSM_PIN_SOURCE, uri,
	    sizeof(uri)), 0);
	k = open_ok(uri);
	cr_assert_str_eq(k->key_id,
	    "pkcs11:token=" TOKEN ";object=rsa1;id=%01;type=private");
	cr_assert(strstr(k->uri, "pin-source=file:") != NULL, "%s", k->uri);
	roundtrip(k, 2);
	atr_key_free(k);
}

/*
 * The OAEP hash detection must agree with what the token does when asked
 * directly (straight PKCS#11 in tests/testlib/softhsm.c, not keys/): SoftHSM2
 * 2.6.1 refuses SHA-256 (softhsm#474), a fixed build accepts it.
 */
Test(pkcs11, oaep_detection_matches_token)
{
	char uri[PATH_MAX + 256], pem[PATH_MAX];
	uint8_t pt[32], ct[512], back[512];
	size_t ctl = sizeof(ct), bl = sizeof(back);
	EVP_PKEY *pk;
	unsigned long rv;
	int token_sha256;
	struct atr_key *k;

	cr_assert_eq(softhsm_import_rsa(&H, 3072, "rsa3", "03", pem,
	    sizeof(pem)), 0);
	pk = read_pem(pem);
	memset(pt, 0x5c, sizeof(pt));
	cr_assert_eq(atr_rsa_oaep_encrypt(pk, EVP_sha256(), NULL, 0, pt,
	    sizeof(pt), ct, &ctl), ATR_OK);
	rv = softhsm_rsa_decrypt(&H, "rsa3", 1, ct, ctl, back, &bl);
	token_sha256 = rv == 0 && bl == sizeof(pt) &&
	    memcmp(back, pt, sizeof(pt)) == 0;
	cr_log_info("token decrypts OAEP-SHA-256: %s (CK_RV 0x%lx)",
	    token_sha256 ? "yes" : "no", rv);
	/* and SHA-1 works straight through the module */
	ctl = sizeof(ct);
	bl = sizeof(back);
	cr_assert_eq(atr_rsa_oaep_encrypt(pk, EVP_sha1(), NULL, 0, pt,
	    sizeof(pt), ct, &ctl), ATR_OK);
	cr_assert_eq(softhsm_rsa_decrypt(&H, "rsa3", 0, ct, ctl, back, &bl), 0);
	cr_assert_arr_eq(back, pt, sizeof(pt));

	cr_assert_eq(softhsm_uri(&H, "rsa3", NULL, SOFTHSM_PIN_VALUE, uri,
	    sizeof(uri)), 0);
	k = open_ok(uri);
	cr_assert_eq(k->bits, 3072);
	if (token_sha256) {
		cr_assert_eq(k->alg, ATR_WRAP_RSA_OAEP_256);
		cr_assert(strstr(k->desc, "SHA-1") == NULL, "%s", k->desc);
	} else {
		cr_assert_eq(k->alg, ATR_WRAP_RSA_OAEP_SHA1);
		cr_assert_str_eq(k->desc, "RSA-3072 PKCS#11 key (token " TOKEN
		    ": OAEP with SHA-1 only)");
	}
	roundtrip(k, 3);
	atr_key_free(k);
	EVP_PKEY_free(pk);
}

/* Stanzas wrapped locally with the same RSA key open in the token and the
 * other way round. */
Test(pkcs11, rsa_interop_with_local_key)
{
	char uri[PATH_MAX + 256], pem[PATH_MAX], furi[PATH_MAX + 8];
	uint8_t msg[64], w[512], back[512];
	size_t wl = sizeof(w), bl = sizeof(back);
	struct atr_key *k, *fk = NULL;
	EVP_PKEY *pk;
	enum atr_err e;

	cr_assert_eq(softhsm_import_rsa(&H, 2048, "rsa2", "0a0b", pem,
	    sizeof(pem)), 0);
	pk = read_pem(pem);
	cr_assert_eq(softhsm_uri(&H, "rsa2", NULL, SOFTHSM_PIN_VALUE, uri,
	    sizeof(uri)), 0);
	k = open_ok(uri);
	make_msg(msg, 7);

	/* local OAEP-SHA1 (what the file key would write for RSA-OAEP) */
	cr_assert_eq(atr_rsa_oaep_encrypt(pk, EVP_sha1(), NULL, 0, msg,
	    sizeof(msg), w, &wl), ATR_OK);
	e = k->ops->unwrap(k, k->key_id, ATR_WRAP_RSA_OAEP_SHA1, w, wl, back,
	    &bl);
	cr_assert_eq(e, ATR_OK, "%s", atr_detail());
	cr_assert_eq(bl, sizeof(msg));
	cr_assert_arr_eq(back, msg, sizeof(msg));

	/* token key's wrap opens with the file provider's private key */
	snprintf(furi, sizeof(furi), "file:%s", pem);
	cr_assert_eq(atr_key_open(furi, NULL, &fk), ATR_OK, "%s", atr_detail());
	wl = sizeof(w);
	bl = sizeof(back);
	cr_assert_eq(k->ops->wrap(k, msg, sizeof(msg), w, &wl), ATR_OK);
	cr_assert_eq(wl, 256);
	cr_assert_eq(fk->ops->unwrap(fk, fk->key_id, k->alg, w, wl, back, &bl),
	    ATR_OK, "%s", atr_detail());
	cr_assert_arr_eq(back, msg, sizeof(msg));

	/* the file key wraps with OAEP-SHA-256: the token opens it only if
	 * it can do SHA-256, and says so otherwise (not an auth failure) */
	wl = sizeof(w);
	bl = sizeof(back);
	cr_assert_eq(fk->ops->wrap(fk, msg, sizeof(msg), w, &wl), ATR_OK);
	e = k->ops->unwrap(k, k->key_id, ATR_WRAP_RSA_OAEP_256, w, wl, back,
	    &bl);
	if (k->alg == ATR_WRAP_RSA_OAEP_256) {
		cr_assert_eq(e, ATR_OK, "%s", atr_detail());
		cr_assert_arr_eq(back, msg, sizeof(msg));
	} else {
		cr_assert_eq(e, ATR_ERR_UNSUPPORTED, "%s", atr_errname(e));
		cr_assert(strstr(atr_detail(), "SHA-1 only") != NULL, "%s",
		    atr_detail());
		cr_assert_eq(bl, 0);
	}
	cr_assert_str_eq(k->key_id,
	    "pkcs11:token=" TOKEN ";object=rsa2;id=%0A%0B;type=private");
	atr_key_free(fk);
	atr_key_free(k);
	EVP_PKEY_free(pk);
}

Test(pkcs11, rsa_generated_in_token)
{
	char uri[PATH_MAX + 256];
	struct atr_key *k;

	cr_assert_eq(softhsm_gen_rsa(&H, 3072, "rsagen", "33"), 0);
	cr_assert_eq(softhsm_uri(&H, "rsagen", "type=private",
	    SOFTHSM_PIN_SOURCE, uri, sizeof(uri)), 0);
	k = open_ok(uri);
	cr_assert_eq(k->bits, 3072);
	roundtrip(k, 4);
	roundtrip(k, 5);
	atr_key_free(k);
}

Test(pkcs11, aes_known_key_matches_rfc5649)
{
	uint8_t kek[32], msg[64], w[128], ref[128], back[128];
	size_t wl = sizeof(w), rl = sizeof(ref), bl = sizeof(back);
	char uri[PATH_MAX + 256];
	struct atr_key *k;
	size_t i;

	for (i = 0; i < sizeof(kek); i++)
		kek[i] = (uint8_t)(0xA0 + i);
	cr_assert_eq(softhsm_import_aes(&H, kek, "kek1", "c0ffee"), 0);
	cr_assert_eq(softhsm_uri(&H, "kek1", "type=secret-key",
	    SOFTHSM_PIN_VALUE, uri, sizeof(uri)), 0);
	k = open_ok(uri);
	cr_assert_eq(k->provider, ATR_PROV_PKCS11);
	cr_assert_eq(k->alg, ATR_WRAP_AES_KWP);
	cr_assert_eq(k->customer_managed, 1);
	cr_assert_eq(k->bits, 256);
	cr_assert(k->can_wrap && k->can_unwrap);
	cr_assert_str_eq(k->key_id,
	    "pkcs11:token=" TOKEN ";object=kek1;id=%C0%FF%EE;type=secret-key");
	cr_assert_str_eq(k->desc, "AES-256 PKCS#11 key (token " TOKEN ")");
	assert_no_pin(k);

	make_msg(msg, 9);
	cr_assert_eq(k->ops->wrap(k, msg, sizeof(msg), w, &wl), ATR_OK, "%s",
	    atr_detail());
	cr_assert_eq(wl, 72);
	/* RFC 5649 is deterministic: the token's output is the reference's */
	cr_assert_eq(atr_aes_kw_wrap(1, kek, sizeof(kek), msg, sizeof(msg),
	    ref, &rl), ATR_OK);
	cr_assert_eq(rl, wl);
	cr_assert_arr_eq(w, ref, wl);
	/* and a locally wrapped value unwraps in the token */
	make_msg(msg, 10);
	rl = sizeof(ref);
	cr_assert_eq(atr_aes_kw_wrap(1, kek, sizeof(kek), msg, sizeof(msg),
	    ref, &rl), ATR_OK);
	cr_assert_eq(k->ops->unwrap(k, k->key_id, ATR_WRAP_AES_KWP, ref, rl,
	    back, &bl), ATR_OK, "%s", atr_detail());
	cr_assert_eq(bl, sizeof(msg));
	cr_assert_arr_eq(back, msg, sizeof(msg));
	/* a length that is not a multiple of 8 (RFC 5649 padding) */
	rl = sizeof(ref);
	bl = sizeof(back);
	cr_assert_eq(atr_aes_kw_wrap(1, kek, sizeof(kek), msg, 21, ref, &rl),
	    ATR_OK);
	cr_assert_eq(k->ops->unwrap(k, k->key_id, ATR_WRAP_AES_KWP, ref, rl,
	    back, &bl), ATR_OK, "%s", atr_detail());
	cr_assert_eq(bl, 21);
	cr_assert_arr_eq(back, msg, 21);
	/* SoftHSM2 2.6.1 pads the value itself before KWP (the MLI says 24,
	 * not 21), so the provider wraps whole 8-byte blocks only */
	wl = sizeof(w);
	cr_assert_eq(k->ops->wrap(k, msg, 21, w, &wl), ATR_ERR_USAGE);
	/* other block multiples agree with the reference */
	for (i = 8; i <= 64; i += 8) {
		wl = sizeof(w);
		rl = sizeof(ref);
		cr_assert_eq(k->ops->wrap(k, msg, i, w, &wl), ATR_OK);
		cr_assert_eq(atr_aes_kw_wrap(1, kek, sizeof(kek), msg, i, ref,
		    &rl), ATR_OK);
		cr_assert_eq(wl, rl);
		cr_assert_arr_eq(w, ref, wl, "length %zu", i);
	}
	atr_key_free(k);
}

Test(pkcs11, aes_generated_in_token)
{
	char uri[PATH_MAX + 256];
	struct atr_key *k;

	cr_assert_eq(softhsm_gen_aes(&H, "kekgen", "44"), 0);
	cr_assert_eq(softhsm_uri(&H, "kekgen", NULL, SOFTHSM_PIN_VALUE, uri,
	    sizeof(uri)), 0);
	k = open_ok(uri);
	cr_assert_eq(k->alg, ATR_WRAP_AES_KWP);
	cr_assert_str_eq(k->key_id,
	    "pkcs11:token=" TOKEN ";object=kekgen;id=%44;type=secret-key");
	roundtrip(k, 11);
	roundtrip(k, 12);
	atr_key_free(k);
}

static void
tamper_case(struct atr_key *k, size_t pos, char *detail, size_t cap)
{
	uint8_t msg[64], w[ATR_WRAPPED_MAX], back[ATR_WRAPPED_MAX];
	size_t wl = sizeof(w), bl = sizeof(back);
	enum atr_err e;

	make_msg(msg, 13);
	cr_assert_eq(k->ops->wrap(k, msg, sizeof(msg), w, &wl), ATR_OK);
	cr_assert(pos < wl);
	w[pos] ^= 0x01;
	memset(back, 0x77, sizeof(back));
	e = k->ops->unwrap(k, k->key_id, k->alg, w, wl, back, &bl);
	cr_assert_eq(e, ATR_ERR_AUTH, "byte %zu: %s (%s)", pos, atr_errname(e),
	    atr_detail());
	cr_assert_eq(bl, 0);
	snprintf(detail, cap, "%s", atr_detail());
}

Test(pkcs11, tampered_is_auth_failure)
{
	uint8_t kek[32], back[128], junk[72];
	size_t bl;
	char uri[PATH_MAX + 256], d1[512], d2[512];
	struct atr_key *rk, *ak;

	memset(kek, 0x42, sizeof(kek));
	cr_assert_eq(softhsm_import_rsa(&H, 2048, "rsa1", "01", NULL, 0), 0);
	cr_assert_eq(softhsm_import_aes(&H, kek, "kek1", "02"), 0);
	cr_assert_eq(softhsm_uri(&H, "rsa1", NULL, SOFTHSM_PIN_VALUE, uri,
	    sizeof(uri)), 0);
	rk = open_ok(uri);
	cr_assert_eq(softhsm_uri(&H, "kek1", NULL, SOFTHSM_PIN_VALUE, uri,
	    sizeof(uri)), 0);
	ak = open_ok(uri);

	/* The failure says the same whichever byte was changed: OAEP's
	 * leading byte and the hash area, KWP's AIV and the padding. */
	tamper_case(rk, 0, d1, sizeof(d1));
	tamper_case(rk, 255, d2, sizeof(d2));
	cr_assert_str_eq(d1, d2);
	tamper_case(ak, 0, d1, sizeof(d1));
	tamper_case(ak, 71, d2, sizeof(d2));
	cr_assert_str_eq(d1, d2);

	/* wrong lengths, wrong algorithm, random bytes */
	bl = sizeof(back);
	memset(junk, 0x33, sizeof(junk));
	cr_assert_eq(ak->ops->unwrap(ak, ak->key_id, ATR_WRAP_AES_KWP, junk, 20,
	    back, &bl), ATR_ERR_AUTH);
	bl = sizeof(back);
	cr_assert_eq(ak->ops->unwrap(ak, ak->key_id, ATR_WRAP_AES_KWP, junk, 72,
	    back, &bl), ATR_ERR_AUTH);
	cr_assert_eq(bl, 0);
	bl = sizeof(back);
	cr_assert_eq(ak->ops->unwrap(ak, ak->key_id, ATR_WRAP_RSA_OAEP_SHA1,
	    junk, 72, back, &bl), ATR_ERR_AUTH);
	bl = sizeof(back);
	cr_assert_eq(rk->ops->unwrap(rk, rk->key_id, ATR_WRAP_RSA_OAEP_SHA1,
	    junk, 72, back, &bl), ATR_ERR_AUTH, "short RSA input");
	bl = sizeof(back);
	cr_assert_eq(rk->ops->unwrap(rk, rk->key_id, ATR_WRAP_AES_KWP, junk,
	    72, back, &bl), ATR_ERR_AUTH);
	/* the keys still work afterwards (no session left mid-operation) */
	roundtrip(rk, 14);
	roundtrip(ak, 15);
	atr_key_free(rk);
	atr_key_free(ak);
}

Test(pkcs11, wrong_pin_is_unauthorized)
{
	char uri[PATH_MAX + 256], *pf;
	struct atr_key *k = NULL;
	enum atr_err e;

	cr_assert_eq(softhsm_import_rsa(&H, 2048, "rsa1", "01", NULL, 0), 0);
	snprintf(uri, sizeof(uri), "pkcs11:token=" TOKEN ";object=rsa1"
	    "?module-path=" SOFTHSM_MODULE "&pin-value=" BAD_PIN);
	e = atr_key_open(uri, NULL, &k);
	cr_assert_eq(e, ATR_ERR_UNAUTHORIZED, "%s: %s", atr_errname(e),
	    atr_detail());
	cr_assert_null(k);
	cr_assert(strstr(atr_detail(), "PIN incorrect") != NULL, "%s",
	    atr_detail());
	assert_no_pin(NULL);

	/* from a file */
	pf = tmp_pin_file(BAD_PIN "\n", 0600);
	snprintf(uri, sizeof(uri), "pkcs11:token=" TOKEN ";object=rsa1"
	    "?module-path=" SOFTHSM_MODULE "&pin-source=file:%s", pf);
	cr_assert_eq(atr_key_open(uri, NULL, &k), ATR_ERR_UNAUTHORIZED);
	assert_no_pin(NULL);
	unlink(pf);
	free(pf);

	/* no PIN at all: SoftHSM tokens need a login */
	cr_assert_eq(softhsm_uri(&H, "rsa1", NULL, SOFTHSM_NO_PIN, uri,
	    sizeof(uri)), 0);
	cr_assert_eq(atr_key_open(uri, NULL, &k), ATR_ERR_UNAUTHORIZED);
	cr_assert(strstr(atr_detail(), "pin-source") != NULL, "%s",
	    atr_detail());

	/* the right PIN still works (the token is not locked by two tries) */
	cr_assert_eq(softhsm_uri(&H, "rsa1", NULL, SOFTHSM_PIN_VALUE, uri,
	    sizeof(uri)), 0);
	k = open_ok(uri);
	atr_key_free(k);
}

Test(pkcs11, unknown_token_object_module)
{
	char uri[PATH_MAX + 256];
	struct atr_key *k = NULL;
	enum atr_err e;

	cr_assert_eq(softhsm_import_rsa(&H, 2048, "rsa1", "01", NULL, 0), 0);
	snprintf(uri, sizeof(uri), "pkcs11:token=nosuchtoken;object=rsa1"
	    "?module-path=" SOFTHSM_MODULE "&pin-value=" PIN);
	e = atr_key_open(uri, NULL, &k);
	cr_assert_eq(e, ATR_ERR_NOT_FOUND, "%s", atr_errname(e));
	cr_assert(strstr(atr_detail(), "'nosuchtoken'") != NULL, "%s",
	    atr_detail());
	assert_no_pin(NULL);

	cr_assert_eq(softhsm_uri(&H, "nosuchkey", NULL, SOFTHSM_PIN_VALUE, uri,
	    sizeof(uri)), 0);
	e = atr_key_open(uri, NULL, &k);
	cr_assert_eq(e, ATR_ERR_NOT_FOUND, "%s", atr_errname(e));
	cr_assert(strstr(atr_detail(), "'nosuchkey'") != NULL, "%s",
	    atr_detail());
	assert_no_pin(NULL);

	/* right label, wrong type / id */
	cr_assert_eq(softhsm_uri(&H, "rsa1", "type=secret-key",
	    SOFTHSM_PIN_VALUE, uri, sizeof(uri)), 0);
	cr_assert_eq(atr_key_open(uri, NULL, &k), ATR_ERR_NOT_FOUND);
	cr_assert_eq(softhsm_uri(&H, "rsa1", "id=%02", SOFTHSM_PIN_VALUE, uri,
	    sizeof(uri)), 0);
	cr_assert_eq(atr_key_open(uri, NULL, &k), ATR_ERR_NOT_FOUND);

	/* module that does not exist, and a file that is not a library */
	snprintf(uri, sizeof(uri), "pkcs11:token=" TOKEN ";object=rsa1"
	    "?module-path=/nonexistent/libp11.so&pin-value=" PIN);
	e = atr_key_open(uri, NULL, &k);
	cr_assert_eq(e, ATR_ERR_CONFIG, "%s", atr_errname(e));
	cr_assert(strstr(atr_detail(), "/nonexistent/libp11.so") != NULL, "%s",
	    atr_detail());
	snprintf(uri, sizeof(uri), "pkcs11:token=" TOKEN ";object=rsa1"
	    "?module-path=%s&pin-value=" PIN, H.conf);
	e = atr_key_open(uri, NULL, &k);
	cr_assert_eq(e, ATR_ERR_CONFIG, "%s", atr_errname(e));
	cr_assert(strstr(atr_detail(), H.conf) != NULL, "%s", atr_detail());
	assert_no_pin(NULL);
	cr_assert_null(k);

	/* no object named, unusable type */
	snprintf(uri, sizeof(uri), "pkcs11:token=" TOKEN "?module-path="
	    SOFTHSM_MODULE "&pin-value=" PIN);
	cr_assert_eq(atr_key_open(uri, NULL, &k), ATR_ERR_CONFIG);
	cr_assert_eq(softhsm_uri(&H, "rsa1", "type=cert", SOFTHSM_PIN_VALUE,
	    uri, sizeof(uri)), 0);
	cr_assert_eq(atr_key_open(uri, NULL, &k), ATR_ERR_UNSUPPORTED);
	assert_no_pin(NULL);
}

Test(pkcs11, module_from_environment)
{
	char uri[PATH_MAX + 256];
	struct atr_key *k = NULL;

	cr_assert_eq(softhsm_import_aes(&H, (const uint8_t *)
	    "0123456789abcdef0123456789abcdef", "kek1", "01"), 0);
	snprintf(uri, sizeof(uri), "pkcs11:token=" TOKEN ";object=kek1"
	    "?pin-value=" PIN);
	cr_assert_eq(atr_key_open(uri, NULL, &k), ATR_ERR_CONFIG);
	cr_assert(strstr(atr_detail(), "ATREST_PKCS11_MODULE") != NULL, "%s",
	    atr_detail());
	setenv("ATREST_PKCS11_MODULE", SOFTHSM_MODULE, 1);
	k = open_ok(uri);
	cr_assert_str_eq(k->uri, "pkcs11:token=" TOKEN ";object=kek1");
	roundtrip(k, 16);
	atr_key_free(k);
	/* the URI wins over the environment */
	setenv("ATREST_PKCS11_MODULE", "/nonexistent/x.so", 1);
	cr_assert_eq(softhsm_uri(&H, "kek1", NULL, SOFTHSM_PIN_VALUE, uri,
	    sizeof(uri)), 0);
	k = open_ok(uri);
	atr_key_free(k);
	unsetenv("ATREST_PKCS11_MODULE");
}

Test(pkcs11, matches_canonical_key_id)
{
	char uri[PATH_MAX + 256], kid[512];
	struct atr_key *k;

	cr_assert_eq(softhsm_import_rsa(&H, 2048, "rsa1", "0a", NULL, 0), 0);
	cr_assert_eq(softhsm_uri(&H, "rsa1", NULL, SOFTHSM_PIN_VALUE, uri,
	    sizeof(uri)), 0);
	k = open_ok(uri);
	cr_assert_str_eq(k->key_id,
	    "pkcs11:token=" TOKEN ";object=rsa1;id=%0A;type=private");
	cr_assert(k->ops->matches(k, ATR_PROV_PKCS11, k->key_id));
	cr_assert(!k->ops->matches(k, ATR_PROV_FILE_RSA, k->key_id));
	/* other order, lower-case escape, encoded label: same key */
	cr_assert(k->ops->matches(k, ATR_PROV_PKCS11,
	    "pkcs11:type=private;id=%0a;object=%72sa1;token=" TOKEN));
	/* the token's serial, when a stanza records it, must be this one */
	snprintf(kid, sizeof(kid), "pkcs11:token=" TOKEN ";serial=%s;"
	    "object=rsa1;id=%%0A;type=private", H.serial);
	cr_assert(k->ops->matches(k, ATR_PROV_PKCS11, kid), "%s", kid);
	cr_assert(!k->ops->matches(k, ATR_PROV_PKCS11, "pkcs11:token=" TOKEN
	    ";serial=0000;object=rsa1;id=%0A;type=private"));
	cr_assert(!k->ops->matches(k, ATR_PROV_PKCS11,
	    "pkcs11:token=" TOKEN ";object=rsa2;id=%0A;type=private"));
	cr_assert(!k->ops->matches(k, ATR_PROV_PKCS11,
	    "pkcs11:token=" TOKEN ";object=rsa1;id=%0B;type=private"));
	cr_assert(!k->ops->matches(k, ATR_PROV_PKCS11,
	    "pkcs11:token=" TOKEN ";object=rsa1;type=private"));
	cr_assert(!k->ops->matches(k, ATR_PROV_PKCS11,
	    "pkcs11:token=other;object=rsa1;id=%0A;type=private"));
	cr_assert(!k->ops->matches(k, ATR_PROV_PKCS11,
	    "pkcs11:token=" TOKEN ";object=rsa1;id=%0A;type=secret-key"));
	cr_assert(!k->ops->matches(k, ATR_PROV_PKCS11, "garbage"));
	/* matches() leaves the failure detail alone */
	atr_detail_set("previous detail");
	cr_assert(!k->ops->matches(k, ATR_PROV_PKCS11, "pkcs11:colour=red"));
	cr_assert_str_eq(atr_detail(), "previous detail");
	atr_key_free(k);

	/* a URI naming the serial keeps it in the key id */
	snprintf(uri, sizeof(uri), "pkcs11:token=" TOKEN ";serial=%s;id=%%0A"
	    "?module-path=" SOFTHSM_MODULE "&pin-value=" PIN, H.serial);
	k = open_ok(uri);
	cr_assert_str_eq(k->key_id, kid);
	/* a wrong serial: no such token */
	atr_key_free(k);
	k = NULL;
	snprintf(uri, sizeof(uri), "pkcs11:token=" TOKEN ";serial=0000;"
	    "object=rsa1?module-path=" SOFTHSM_MODULE "&pin-value=" PIN);
	cr_assert_eq(atr_key_open(uri, NULL, &k), ATR_ERR_NOT_FOUND);
}

Test(pkcs11, ambiguous_label_needs_id)
{
	char uri[PATH_MAX + 256];
	struct atr_key *k = NULL;
	enum atr_err e;

	cr_assert_eq(softhsm_import_rsa(&H, 2048, "dup", "01", NULL, 0), 0);
	cr_assert_eq(softhsm_import_aes(&H, (const uint8_t *)
	    "0123456789abcdef0123456789abcdef", "dup", "02"), 0);
	cr_assert_eq(softhsm_uri(&H, "dup", NULL, SOFTHSM_PIN_VALUE, uri,
	    sizeof(uri)), 0);
	e = atr_key_open(uri, NULL, &k);
	cr_assert_eq(e, ATR_ERR_CONFIG, "%s", atr_errname(e));
	cr_assert(strstr(atr_detail(), "add id=") != NULL, "%s", atr_detail());
	cr_assert_eq(softhsm_uri(&H, "dup", "id=%02", SOFTHSM_PIN_VALUE, uri,
	    sizeof(uri)), 0);
	k = open_ok(uri);
	cr_assert_eq(k->alg, ATR_WRAP_AES_KWP);
	atr_key_free(k);
	cr_assert_eq(softhsm_uri(&H, "dup", "type=private", SOFTHSM_PIN_VALUE,
	    uri, sizeof(uri)), 0);
	k = open_ok(uri);
	cr_assert(k->alg == ATR_WRAP_RSA_OAEP_SHA1 ||
	    k->alg == ATR_WRAP_RSA_OAEP_256);
	atr_key_free(k);
}

/* Two keys share the module and the login; freeing them in either order
 * and reopening after the module was finalised works. */
Test(pkcs11, module_shared_and_reloaded)
{
	char u1[1024], u2[1024];
	struct atr_key *a, *b;

	cr_assert_eq(softhsm_import_rsa(&H, 2048, "rsa1", "01", NULL, 0), 0);
	cr_assert_eq(softhsm_gen_aes(&H, "kek1", "02"), 0);
	cr_assert_eq(softhsm_uri(&H, "rsa1", NULL, SOFTHSM_PIN_VALUE, u1,
	    sizeof(u1)), 0);
	cr_assert_eq(softhsm_uri(&H, "kek1", NULL, SOFTHSM_PIN_SOURCE, u2,
	    sizeof(u2)), 0);
	a = open_ok(u1);
	b = open_ok(u2);
	roundtrip(a, 17);
	roundtrip(b, 18);
	atr_key_free(a);
	roundtrip(b, 19);
	a = open_ok(u1);
	atr_key_free(b);
	roundtrip(a, 20);
	atr_key_free(a);
	/* everything was freed: the module was finalised; load it again */
	a = open_ok(u1);
	roundtrip(a, 21);
	atr_key_free(a);
}

/* opts->wrap_alg: RSA-OAEP forces SHA-1; RSA-OAEP-256 needs a token
 * that can do it; anything else is refused. */
Test(pkcs11, wrap_alg_override)
{
	char ru[PATH_MAX + 256], au[PATH_MAX + 256];
	struct atr_key_opts o = {.max_retries = -1};
	struct atr_key *k = NULL, *auto_k;
	enum atr_err e;

	cr_assert_eq(softhsm_import_rsa(&H, 2048, "rsa1", "01", NULL, 0), 0);
	cr_assert_eq(softhsm_gen_aes(&H, "kek1", "02"), 0);
	cr_assert_eq(softhsm_uri(&H, "rsa1", NULL, SOFTHSM_PIN_VALUE, ru,
	    sizeof(ru)), 0);
	cr_assert_eq(softhsm_uri(&H, "kek1", NULL, SOFTHSM_PIN_VALUE, au,
	    sizeof(au)), 0);
	auto_k = open_ok(ru);

	o.wrap_alg = "RSA-OAEP";
	cr_assert_eq(atr_key_open(ru, &o, &k), ATR_OK, "%s", atr_detail());
	cr_assert_eq(k->alg, ATR_WRAP_RSA_OAEP_SHA1);
	roundtrip(k, 30);
	atr_key_free(k);
	k = NULL;

	o.wrap_alg = "RSA-OAEP-256";
	e = atr_key_open(ru, &o, &k);
	if (auto_k->alg == ATR_WRAP_RSA_OAEP_256) {
		cr_assert_eq(e, ATR_OK, "%s", atr_detail());
		cr_assert_eq(k->alg, ATR_WRAP_RSA_OAEP_256);
		atr_key_free(k);
	} else {
		cr_assert_eq(e, ATR_ERR_UNSUPPORTED, "%s", atr_errname(e));
		cr_assert(strstr(atr_detail(), "SHA-1 only") != NULL, "%s",
		    atr_detail());
		cr_assert_null(k);
	}
	k = NULL;
	o.wrap_alg = "A256KW";
	cr_assert_eq(atr_key_open(ru, &o, &k), ATR_ERR_UNSUPPORTED);
	cr_assert_eq(atr_key_open(au, &o, &k), ATR_ERR_UNSUPPORTED);
	o.wrap_alg = "AES-KWP";
	cr_assert_eq(atr_key_open(au, &o, &k), ATR_OK, "%s", atr_detail());
	cr_assert_eq(k->alg, ATR_WRAP_AES_KWP);
	atr_key_free(k);
	atr_key_free(auto_k);
}

/* ---- threads ---- */

#define THREADS 4
#define ITERS 25

struct worker {
	struct atr_key *keys[2];
	unsigned id;
	int ok;
	enum atr_err err;
	char detail[256];
};

static void *
work(void *arg)
{
	struct worker *w = arg;
	unsigned i, j;

	for (i = 0; i < ITERS; i++) {
		for (j = 0; j < 2; j++) {
			struct atr_key *k = w->keys[j];
			uint8_t msg[64], wr[ATR_WRAPPED_MAX], back[ATR_WRAPPED_MAX];
			size_t wl = sizeof(wr), bl = sizeof(back);

			make_msg(msg, w->id * 1000U + i * 2U + j);
			w->err = k->ops->wrap(k, msg, sizeof(msg), wr, &wl);
			if (w->err == ATR_OK)
				w->err = k->ops->unwrap(k, k->key_id, k->alg, wr,
				    wl, back, &bl);
			if (w->err != ATR_OK || bl != sizeof(msg) ||
			    memcmp(back, msg, sizeof(msg)) != 0) {
				snprintf(w->detail, sizeof(w->detail), "%s",
				    atr_detail());
				return NULL;
			}
			w->ok++;
		}
	}
	return NULL;
}

Test(pkcs11, concurrent_threads)
{
	char uri[PATH_MAX + 256];
	struct worker w[THREADS];
	pthread_t t[THREADS];
	struct atr_key *rk, *ak;
	unsigned i;

	cr_assert_eq(softhsm_import_rsa(&H, 2048, "rsa1", "01", NULL, 0), 0);
	cr_assert_eq(softhsm_gen_aes(&H, "kek1", "02"), 0);
	cr_assert_eq(softhsm_uri(&H, "rsa1", NULL, SOFTHSM_PIN_VALUE, uri,
	    sizeof(uri)), 0);
	rk = open_ok(uri);
	cr_assert_eq(softhsm_uri(&H, "kek1", NULL, SOFTHSM_PIN_VALUE, uri,
	    sizeof(uri)), 0);
	ak = open_ok(uri);
	memset(w, 0, sizeof(w));
	for (i = 0; i < THREADS; i++) {
		w[i].keys[0] = rk;
		w[i].keys[1] = ak;
		w[i].id = i;
		cr_assert_eq(pthread_create(&t[i], NULL, work, &w[i]), 0);
	}
	for (i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	for (i = 0; i < THREADS; i++)
		cr_assert_eq(w[i].ok, 2 * ITERS, "thread %u: %d ok, %s: %s", i,
		    w[i].ok, atr_errname(w[i].err), w[i].detail);
	atr_key_free(rk);
	atr_key_free(ak);
}

/* The PIN is in none of the key's strings nor in any failure detail. */
Test(pkcs11, pin_never_exposed)
{
	char uri[PATH_MAX + 256];
	struct atr_key *k = NULL;
	uint8_t junk[256], back[256];
	size_t bl = sizeof(back);

	cr_assert_eq(softhsm_import_rsa(&H, 2048, "rsa1", "01", NULL, 0), 0);
	cr_assert_eq(softhsm_uri(&H, "rsa1", NULL, SOFTHSM_PIN_VALUE, uri,
	    sizeof(uri)), 0);
	cr_assert(strstr(uri, PIN) != NULL, "the test URI carries the PIN");
	k = open_ok(uri);
	assert_no_pin(k);
	memset(junk, 0x11, sizeof(junk));
	cr_assert_eq(k->ops->unwrap(k, k->key_id, k->alg, junk, sizeof(junk),
	    back, &bl), ATR_ERR_AUTH);
	assert_no_pin(k);
	atr_key_free(k);
	k = NULL;

	/* failures after the PIN was parsed */
	snprintf(uri, sizeof(uri), "pkcs11:token=" TOKEN ";object=nokey"
	    "?module-path=" SOFTHSM_MODULE "&pin-value=" PIN);
	cr_assert_eq(atr_key_open(uri, NULL, &k), ATR_ERR_NOT_FOUND);
	assert_no_pin(NULL);
	snprintf(uri, sizeof(uri), "pkcs11:token=" TOKEN ";object=rsa1"
	    "?module-path=" SOFTHSM_MODULE "&pin-value=" PIN "%%20");
	cr_assert_eq(atr_key_open(uri, NULL, &k), ATR_ERR_UNAUTHORIZED);
	assert_no_pin(NULL);
	snprintf(uri, sizeof(uri), "pkcs11:token=" TOKEN ";object=rsa1;"
	    "bogus=1?module-path=" SOFTHSM_MODULE "&pin-value=" PIN);
	cr_assert_eq(atr_key_open(uri, NULL, &k), ATR_ERR_CONFIG);
	assert_no_pin(NULL);
	cr_assert_null(k);
}

/* The helper must refuse keys softhsm2-util would import short (CI once
 * drew a key with a 0x00 byte and the token held a 7-byte AES key), and
 * its random keys must always be importable. */
Test(pkcs11, helper_refuses_keys_softhsm_would_cut)
{
	uint8_t k[32];
	int i;

	memset(k, 0x41, sizeof(k));
	k[7] = 0x00;
	cr_assert_eq(softhsm_import_aes(&H, k, "cut0", "a0"), -2);
	k[7] = 0x0a;
	cr_assert_eq(softhsm_import_aes(&H, k, "cutn", "a1"), -2);
	for (i = 0; i < 64; i++) {
		softhsm_draw_aes(k);
		cr_assert(softhsm_aes_importable(k));
	}
}
