/* see softhsm.h */
/* nftw() is XSI (POSIX.1-2008 XSI option). */
#define _XOPEN_SOURCE 700
#include "softhsm.h"
#include "crypto.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <ftw.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <p11-kit/pkcs11.h>

extern char **environ;

int
softhsm_available(void)
{
	return access(SOFTHSM_MODULE, R_OK) == 0 &&
	    access("/usr/bin/softhsm2-util", X_OK) == 0 &&
	    access("/usr/bin/pkcs11-tool", X_OK) == 0;
}

/* Runs argv with stdout and stderr appended to DIR/log; 0 on exit 0. */
static int
run(struct softhsm *h, char *const argv[])
{
	posix_spawn_file_actions_t fa;
	char log[PATH_MAX + 8];
	pid_t pid;
	int st = 0, rc;

	snprintf(log, sizeof(log), "%s/log", h->dir);
	if (posix_spawn_file_actions_init(&fa) != 0)
		return -1;
	posix_spawn_file_actions_addopen(&fa, 1, log,
	    O_WRONLY | O_CREAT | O_APPEND, 0600);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0)
		return -1;
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static int
write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, buf, len);
	close(fd);
	return n == (ssize_t)len ? 0 : -1;
}

/* ---- straight PKCS#11, for the serial number and independent checks ---- */

struct raw {
	void *dl;
	CK_FUNCTION_LIST_PTR f;
	int finalize;
	CK_SESSION_HANDLE s;
	int have_s;
	CK_SLOT_ID slot;
};

static void
raw_close(struct raw *r)
{
	if (r->have_s)
		r->f->C_CloseSession(r->s);
	if (r->finalize)
		r->f->C_Finalize(NULL);
	if (r->dl != NULL)
		dlclose(r->dl);
	memset(r, 0, sizeof(*r));
}

/* Finds the token by label, opens a session, logs in when login. */
static int
raw_open(struct softhsm *h, struct raw *r, int login)
{
	CK_C_INITIALIZE_ARGS args;
	CK_C_GetFunctionList gfl;
	CK_SLOT_ID slots[16];
	CK_ULONG n = 16, i;
	CK_TOKEN_INFO ti;
	void *sym;
	CK_RV rv;

	memset(r, 0, sizeof(*r));
	r->dl = dlopen(h->module, RTLD_NOW | RTLD_LOCAL);
	if (r->dl == NULL)
		return -1;
	sym = dlsym(r->dl, "C_GetFunctionList");
	if (sym == NULL)
		goto fail;
	memcpy(&gfl, &sym, sizeof(gfl));
	if (gfl(&r->f) != CKR_OK)
		goto fail;
	memset(&args, 0, sizeof(args));
	args.flags = CKF_OS_LOCKING_OK;
	rv = r->f->C_Initialize(&args);
	if (rv == CKR_OK)
		r->finalize = 1;
	else if (rv != CKR_CRYPTOKI_ALREADY_INITIALIZED)
		goto fail;
	if (r->f->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK)
		goto fail;
	for (i = 0; i < n; i++) {
		char lab[33];
		size_t l = sizeof(ti.label);

		if (r->f->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
			continue;
		while (l > 0 && ti.label[l - 1] == ' ')
			l--;
		memcpy(lab, ti.label, l);
		lab[l] = '\0';
		if (strcmp(lab, h->token) != 0)
			continue;
		l = sizeof(ti.serialNumber);
		while (l > 0 && ti.serialNumber[l - 1] == ' ')
			l--;
		memcpy(h->serial, ti.serialNumber, l);
		h->serial[l] = '\0';
		r->slot = slots[i];
		break;
	}
	if (i == n)
		goto fail;
	if (r->f->C_OpenSession(r->slot, CKF_SERIAL_SESSION, NULL, NULL,
	    &r->s) != CKR_OK)
		goto fail;
	r->have_s = 1;
	if (login) {
		rv = r->f->C_Login(r->s, CKU_USER, (CK_UTF8CHAR_PTR)h->pin,
		    strlen(h->pin));
		if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN)
			goto fail;
	}
	return 0;
fail:
	raw_close(r);
	return -1;
}

int
softhsm_init(struct softhsm *h, const char *token, const char *pin)
{
	char conf[PATH_MAX * 2];
	char tokdir[PATH_MAX + 8];
	struct raw r;
	int n;

	memset(h, 0, sizeof(*h));
	h->module = SOFTHSM_MODULE;
	snprintf(h->token, sizeof(h->token), "%s", token);
	snprintf(h->pin, sizeof(h->pin), "%s", pin);
	snprintf(h->so_pin, sizeof(h->so_pin), "so-%s", pin);
	snprintf(h->dir, sizeof(h->dir), "/tmp/atr-softhsm-XXXXXX");
	if (mkdtemp(h->dir) == NULL) {
		h->dir[0] = '\0';
		return -1;
	}
	snprintf(tokdir, sizeof(tokdir), "%s/tokens", h->dir);
	snprintf(h->conf, sizeof(h->conf), "%s/softhsm2.conf", h->dir);
	snprintf(h->pin_file, sizeof(h->pin_file), "%s/user.pin", h->dir);
	if (mkdir(tokdir, 0700) != 0)
		return -1;
	n = snprintf(conf, sizeof(conf),
	    "directories.tokendir = %s\n"
	    "objectstore.backend = file\n"
	    "log.level = ERROR\n"
	    "slots.removable = false\n", tokdir);
	if (n < 0 || (size_t)n >= sizeof(conf) ||
	    write_file(h->conf, conf, (size_t)n) != 0)
		return -1;
	if (setenv("SOFTHSM2_CONF", h->conf, 1) != 0)
		return -1;
	{
		char *argv[] = {"softhsm2-util", "--init-token", "--free",
		    "--label", h->token, "--so-pin", h->so_pin, "--pin", h->pin,
		    NULL};

		if (run(h, argv) != 0)
			return -1;
	}
	{
		char line[80];

		n = snprintf(line, sizeof(line), "%s\n", h->pin);
		if (write_file(h->pin_file, line, (size_t)n) != 0)
			return -1;
	}
	if (raw_open(h, &r, 0) != 0)
		return -1;
	raw_close(&r);
	return 0;
}

int
softhsm_import_rsa(struct softhsm *h, unsigned bits, const char *label,
    const char *id_hex, char *pem, size_t cap)
{
	char path[PATH_MAX + 64];
	EVP_PKEY *pkey;
	FILE *fp;
	int fd, ok;

	snprintf(path, sizeof(path), "%s/%s.pem", h->dir, label);
	pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
	if (pkey == NULL)
		return -1;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	fp = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (fp == NULL) {
		if (fd >= 0)
			close(fd);
		EVP_PKEY_free(pkey);
		return -1;
	}
	/* PEM_write_PrivateKey without a cipher writes PKCS#8, which is
	 * what softhsm2-util --import reads. */
	ok = PEM_write_PrivateKey(fp, pkey, NULL, NULL, 0, NULL, NULL) == 1;
	ok &= fclose(fp) == 0;
	EVP_PKEY_free(pkey);
	if (!ok)
		return -1;
	if (pem != NULL)
		snprintf(pem, cap, "%s", path);
	{
		char *argv[] = {"softhsm2-util", "--import", path, "--token",
		    h->token, "--label", (char *)label, "--id", (char *)id_hex,
		    "--pin", h->pin, NULL};

		return run(h, argv);
	}
}

int
softhsm_gen_rsa(struct softhsm *h, unsigned bits, const char *label,
    const char *id_hex)
{
	char kt[32];
	char *argv[] = {"pkcs11-tool", "--module", (char *)h->module,
	    "--token-label", h->token, "--login", "--pin", h->pin,
	    "--keypairgen", "--key-type", kt, "--label", (char *)label,
	    "--id", (char *)id_hex, "--usage-decrypt", NULL};

	snprintf(kt, sizeof(kt), "rsa:%u", bits);
	return run(h, argv);
}

int
softhsm_aes_importable(const uint8_t key[32])
{
	return memchr(key, '\n', 32) == NULL && memchr(key, 0, 32) == NULL;
}

void
softhsm_draw_aes(uint8_t key[32])
{
	do
		atr_random(key, 32);
	while (!softhsm_aes_importable(key));
}

int
softhsm_import_aes(struct softhsm *h, const uint8_t key[32],
    const char *label, const char *id_hex)
{
	char path[PATH_MAX + 64];
	int rc;

	/* softhsm2-util 2.6.1 reads the key file as a C string on one line:
	 * a 0x00 or 0x0a byte cuts the key short (a 7-byte "AES" key was
	 * seen in CI), so such keys are refused here rather than imported
	 * wrong. */
	if (!softhsm_aes_importable(key))
		return -2;
	snprintf(path, sizeof(path), "%s/%s.aes", h->dir, label);
	if (write_file(path, key, 32) != 0)
		return -1;
	{
		char *argv[] = {"softhsm2-util", "--import", path, "--aes",
		    "--token", h->token, "--label", (char *)label, "--id",
		    (char *)id_hex, "--pin", h->pin, NULL};

		rc = run(h, argv);
	}
	unlink(path);
	return rc;
}

int
softhsm_gen_aes(struct softhsm *h, const char *label, const char *id_hex)
{
	char *argv[] = {"pkcs11-tool", "--module", (char *)h->module,
	    "--token-label", h->token, "--login", "--pin", h->pin,
	    "--keygen", "--key-type", "AES:32", "--label", (char *)label,
	    "--id", (char *)id_hex, NULL};

	return run(h, argv);
}

int
softhsm_uri(const struct softhsm *h, const char *object, const char *extra,
    enum softhsm_pin pin, char *out, size_t cap)
{
	int n;

	n = snprintf(out, cap, "pkcs11:token=%s%s%s%s%s?module-path=%s%s%s",
	    h->token, object != NULL ? ";object=" : "",
	    object != NULL ? object : "", extra != NULL ? ";" : "",
	    extra != NULL ? extra : "", h->module,
	    pin == SOFTHSM_PIN_VALUE ? "&pin-value=" :
	    pin == SOFTHSM_PIN_SOURCE ? "&pin-source=file:" : "",
	    pin == SOFTHSM_PIN_VALUE ? h->pin :
	    pin == SOFTHSM_PIN_SOURCE ? h->pin_file : "");
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

unsigned long
softhsm_rsa_decrypt(struct softhsm *h, const char *label, int sha256,
    const uint8_t *in, size_t in_len, uint8_t *out, size_t *out_len)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE t[2] = {
		{CKA_CLASS, &cls, sizeof(cls)},
		{CKA_LABEL, (void *)label, strlen(label)},
	};
	CK_RSA_PKCS_OAEP_PARAMS prm;
	CK_MECHANISM m;
	CK_OBJECT_HANDLE key;
	CK_ULONG got = 0, olen = *out_len;
	struct raw r;
	CK_RV rv;

	if (raw_open(h, &r, 1) != 0)
		return CKR_GENERAL_ERROR;
	rv = r.f->C_FindObjectsInit(r.s, t, 2);
	if (rv == CKR_OK) {
		rv = r.f->C_FindObjects(r.s, &key, 1, &got);
		r.f->C_FindObjectsFinal(r.s);
	}
	if (rv == CKR_OK && got != 1)
		rv = CKR_KEY_HANDLE_INVALID;
	if (rv != CKR_OK)
		goto out;
	memset(&prm, 0, sizeof(prm));
	prm.hashAlg = sha256 ? CKM_SHA256 : CKM_SHA_1;
	prm.mgf = sha256 ? CKG_MGF1_SHA256 : CKG_MGF1_SHA1;
	prm.source = CKZ_DATA_SPECIFIED;
	m.mechanism = CKM_RSA_PKCS_OAEP;
	m.pParameter = &prm;
	m.ulParameterLen = sizeof(prm);
	rv = r.f->C_DecryptInit(r.s, &m, key);
	if (rv == CKR_OK)
		rv = r.f->C_Decrypt(r.s, (CK_BYTE_PTR)in, in_len, out, &olen);
	if (rv == CKR_OK)
		*out_len = olen;
out:
	raw_close(&r);
	return rv;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void
softhsm_cleanup(struct softhsm *h)
{
	if (h == NULL || h->dir[0] == '\0')
		return;
	nftw(h->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	h->dir[0] = '\0';
}
