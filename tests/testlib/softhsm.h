/*
 * softhsm.h - a throw-away SoftHSM2 token for tests.
 *
 * softhsm_init() makes a temporary directory holding a softhsm2.conf whose
 * directories.tokendir points inside it, exports SOFTHSM2_CONF (so it must
 * run before the module is first C_Initialize'd in this process) and
 * initialises one token with softhsm2-util.  Keys are then generated or
 * imported with softhsm2-util / pkcs11-tool.  softhsm_cleanup() removes
 * the directory.  Test-only: PINs appear on the tools' command lines.
 *
 * Ownership: struct softhsm is the caller's; softhsm_init fills it
 * (copies of token and PIN, cut to fit) and every other call reads it.
 * Strings and buffers passed in are borrowed for the call.  The
 * temporary directory exists from softhsm_init (once made, even when a
 * later step failed) until softhsm_cleanup.  Not thread-safe: softhsm_init sets
 * SOFTHSM2_CONF with setenv, and the helpers run child processes.
 */
#ifndef ATR_TEST_SOFTHSM_H
#define ATR_TEST_SOFTHSM_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#define SOFTHSM_MODULE "/usr/lib/softhsm/libsofthsm2.so"

struct softhsm {
	char dir[256];           /* temporary directory, removed at cleanup */
	char conf[PATH_MAX];     /* DIR/softhsm2.conf */
	char pin_file[PATH_MAX]; /* DIR/user.pin, mode 0600, holds pin */
	const char *module;      /* SOFTHSM_MODULE */
	char token[33];
	char pin[64];
	char so_pin[64];
	char serial[17];         /* the token's serial number */
};

/* 1 when the SoftHSM2 module and softhsm2-util / pkcs11-tool exist. */
int softhsm_available(void);

/* 0 on success, -1 on failure (the tools' output is in DIR/log). */
int softhsm_init(struct softhsm *h, const char *token, const char *pin);

/*
 * Generates an RSA key pair with OpenSSL, writes the private key to
 * DIR/LABEL.pem (PKCS#8, 0600; its path into pem[cap] when pem is not
 * NULL) and imports it (private and public objects, label and id_hex).
 */
int softhsm_import_rsa(struct softhsm *h, unsigned bits, const char *label,
    const char *id_hex, char *pem, size_t cap);

/* Generates an RSA key pair inside the token (pkcs11-tool --keypairgen).
 * These helpers return 0 on success, -1 on failure. */
int softhsm_gen_rsa(struct softhsm *h, unsigned bits, const char *label,
    const char *id_hex);

/* softhsm2-util reads an AES key file as a C string on one line, so a
 * key holding 0x00 or 0x0a is imported short.  importable() says whether
 * a key survives; draw() makes a random key that does. */
int softhsm_aes_importable(const uint8_t key[32]);
void softhsm_draw_aes(uint8_t key[32]);

/* Imports a known AES-256 key (softhsm2-util --import --aes).  A key
 * that is not importable is refused (-2). */
int softhsm_import_aes(struct softhsm *h, const uint8_t key[32],
    const char *label, const char *id_hex);

/* Generates an AES-256 key inside the token (pkcs11-tool --keygen). */
int softhsm_gen_aes(struct softhsm *h, const char *label,
    const char *id_hex);

enum softhsm_pin { SOFTHSM_NO_PIN, SOFTHSM_PIN_VALUE, SOFTHSM_PIN_SOURCE };

/*
 * "pkcs11:token=T;object=L[;EXTRA]?module-path=M[&pin-value=P |
 * &pin-source=file:DIR/user.pin]".  object may be NULL; extra is
 * appended to the path as given.  0 on success, -1 when out[cap] is too
 * small.
 */
int softhsm_uri(const struct softhsm *h, const char *object,
    const char *extra, enum softhsm_pin pin, char *out, size_t cap);

/*
 * Straight through the module, independent of keys/: decrypts in[in_len]
 * with the private key labelled label and CKM_RSA_PKCS_OAEP (SHA-256 and
 * MGF1-SHA-256 when sha256, else SHA-1).  Returns the CK_RV of
 * C_DecryptInit, or of C_Decrypt when the init succeeded.  *out_len is
 * in: capacity of out, out: bytes written, set only on CKR_OK.  The
 * module is loaded, initialised and finalised within the call.
 */
unsigned long softhsm_rsa_decrypt(struct softhsm *h, const char *label,
    int sha256, const uint8_t *in, size_t in_len, uint8_t *out,
    size_t *out_len);

/* Removes the temporary directory (NULL-safe, idempotent). */
void softhsm_cleanup(struct softhsm *h);

#endif
