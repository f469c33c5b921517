/* see pkcs11_uri.h */
#include "pkcs11_uri.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "codec.h"
#include "crypto.h"
#include "fsutil.h"

#define PIN_FILE_MAX 4096U

/*
 * RFC 7512 2.3: pk11-pchar and pk11-qchar.  Reserved characters that do
 * not delimit anything in their component may appear unencoded; every
 * other byte (space, '/', '#', '%' not starting an escape, non-ASCII)
 * must be percent-encoded.
 */
static int
raw_ok(int c, int query)
{
	if (c <= 0 || c > 0x7e)
		return 0;
	if (atr_uri_unreserved(c))
		return 1;
	if (strchr(":[]@!$'()*+,=", c) != NULL)
		return 1;
	if (query)
		return strchr("/?|", c) != NULL;
	return c == '&';
}

/*
 * Percent-decodes s[n] into out[cap].  Returns 0, or -1 for a malformed
 * escape or a byte that must be encoded, -2 when the value is too long.
 * *bad gets the offending character for the message.
 */
static int
pct_decode(const char *s, size_t n, int query, uint8_t *out, size_t cap,
    size_t *len, int *bad)
{
	size_t i, o = 0;

	*len = 0;
	*bad = 0;
	for (i = 0; i < n; i++) {
		int c = (unsigned char)s[i];

		if (c == '%') {
			int hi, lo;

			if (n - i < 3) {
				*bad = '%';
				return -1;
			}
			hi = atr_hexval((unsigned char)s[i + 1]);
			lo = atr_hexval((unsigned char)s[i + 2]);
			if (hi < 0 || lo < 0) {
				*bad = '%';
				return -1;
			}
			c = hi << 4 | lo;
			i += 2;
		} else if (!raw_ok(c, query)) {
			*bad = c;
			return -1;
		}
		if (o >= cap)
			return -2;
		out[o++] = (uint8_t)c;
	}
	*len = o;
	return 0;
}

static enum atr_err
decode_fail(int rc, const char *name, int bad, size_t max)
{
	if (rc == -2)
		return atr_fail(ATR_ERR_CONFIG,
		    "pkcs11 URI: %s value longer than %zu bytes", name, max);
	if (bad == '%')
		return atr_fail(ATR_ERR_CONFIG,
		    "pkcs11 URI: %s value has a malformed %%-escape "
		    "(expected %%XX with two hex digits)", name);
	/* Never echo a byte of a PIN, even an invalid one. */
	if (strcmp(name, "pin-value") == 0)
		return atr_fail(ATR_ERR_CONFIG,
		    "pkcs11 URI: pin-value has a character that must be "
		    "percent-encoded");
	if (bad > 0x20 && bad < 0x7f)
		return atr_fail(ATR_ERR_CONFIG,
		    "pkcs11 URI: character '%c' in the %s value must be "
		    "percent-encoded as %%%02X (RFC 7512)", bad, name, bad);
	return atr_fail(ATR_ERR_CONFIG,
	    "pkcs11 URI: byte 0x%02x in the %s value must be percent-encoded "
	    "as %%%02X (RFC 7512)", (unsigned)bad & 0xffU, name,
	    (unsigned)bad & 0xffU);
}

/* A text attribute: decoded, no NUL, at most max bytes. */
static enum atr_err
decode_text(const char *name, const char *v, size_t n, int query, char *out,
    size_t max)
{
	size_t len;
	int bad, rc;

	rc = pct_decode(v, n, query, (uint8_t *)out, max, &len, &bad);
	if (rc != 0)
		return decode_fail(rc, name, bad, max);
	if (memchr(out, '\0', len) != NULL)
		return atr_fail(ATR_ERR_CONFIG,
		    "pkcs11 URI: %s value contains %%00", name);
	out[len] = '\0';
	return ATR_OK;
}

static enum atr_err
parse_type(const char *v, size_t n, enum atr_p11_type *t)
{
	static const struct {
		const char *name;
		enum atr_p11_type t;
	} types[] = {
		{"private", ATR_P11_TYPE_PRIVATE},
		{"secret-key", ATR_P11_TYPE_SECRET},
		{"secret", ATR_P11_TYPE_SECRET},
		{"public", ATR_P11_TYPE_PUBLIC},
		{"cert", ATR_P11_TYPE_CERT},
		{"data", ATR_P11_TYPE_DATA},
	};
	char buf[16];
	size_t i;
	enum atr_err err;

	err = decode_text("type", v, n, 0, buf, sizeof(buf) - 1);
	if (err != ATR_OK)
		return err;
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (strcmp(buf, types[i].name) == 0) {
			*t = types[i].t;
			return ATR_OK;
		}
	}
	return atr_fail(ATR_ERR_CONFIG,
	    "pkcs11 URI: unknown type '%s' (private, secret-key, public, "
	    "cert, data)", buf);
}

static enum atr_err
parse_slot_id(const char *v, size_t n, unsigned long *out)
{
	char buf[24];
	char *end;
	size_t i;
	unsigned long long x;

	if (n == 0 || n >= sizeof(buf))
		goto bad;
	for (i = 0; i < n; i++)
		if (v[i] < '0' || v[i] > '9')
			goto bad;
	memcpy(buf, v, n);
	buf[n] = '\0';
	errno = 0;
	x = strtoull(buf, &end, 10);
	if (errno != 0 || *end != '\0' || (unsigned long)x != x)
		goto bad;
	*out = (unsigned long)x;
	return ATR_OK;
bad:
	return atr_fail(ATR_ERR_CONFIG,
	    "pkcs11 URI: slot-id must be a decimal number");
}

/* Attribute names printed in messages: only plain names, and never one
 * that could be a mistyped PIN attribute carrying the PIN ("PIN-VALUE"
 * followed by the PIN with the '=' forgotten), in any case. */
static const char *
safe_name(const char *name, size_t n, char *buf, size_t cap)
{
	size_t i;

	if (n == 0)
		return "(empty)";
	if (n >= cap || (n >= 3 && strncasecmp(name, "pin", 3) == 0))
		return "(unprintable)";
	for (i = 0; i < n; i++) {
		int c = (unsigned char)name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'))
			return "(unprintable)";
	}
	memcpy(buf, name, n);
	buf[n] = '\0';
	return buf;
}

#define NAME_IS(lit) (nlen == sizeof(lit) - 1 && memcmp(name, lit, nlen) == 0)

static enum atr_err
dup_fail(const char *attr)
{
	return atr_fail(ATR_ERR_CONFIG,
	    "pkcs11 URI: attribute '%s' given more than once", attr);
}

static enum atr_err
parse_pattr(struct atr_p11_uri *u, const char *name, size_t nlen,
    const char *v, size_t vlen)
{
	char nb[40];
	int bad, rc;

	if (NAME_IS("token")) {
		if (u->has_token++)
			return dup_fail("token");
		return decode_text("token", v, vlen, 0, u->token,
		    ATR_P11_TOKEN_MAX);
	}
	if (NAME_IS("object")) {
		if (u->has_object++)
			return dup_fail("object");
		return decode_text("object", v, vlen, 0, u->object,
		    ATR_P11_OBJECT_MAX);
	}
	if (NAME_IS("id")) {
		if (u->has_id++)
			return dup_fail("id");
		rc = pct_decode(v, vlen, 0, u->id, sizeof(u->id), &u->id_len,
		    &bad);
		if (rc != 0)
			return decode_fail(rc, "id", bad, ATR_P11_ID_MAX);
		return ATR_OK;
	}
	if (NAME_IS("type")) {
		if (u->type != ATR_P11_TYPE_ANY)
			return dup_fail("type");
		return parse_type(v, vlen, &u->type);
	}
	if (NAME_IS("manufacturer")) {
		if (u->has_manufacturer++)
			return dup_fail("manufacturer");
		return decode_text("manufacturer", v, vlen, 0, u->manufacturer,
		    ATR_P11_MANUF_MAX);
	}
	if (NAME_IS("serial")) {
		if (u->has_serial++)
			return dup_fail("serial");
		return decode_text("serial", v, vlen, 0, u->serial,
		    ATR_P11_SERIAL_MAX);
	}
	if (NAME_IS("model")) {
		if (u->has_model++)
			return dup_fail("model");
		return decode_text("model", v, vlen, 0, u->model,
		    ATR_P11_MODEL_MAX);
	}
	if (NAME_IS("slot-id")) {
		if (u->has_slot_id++)
			return dup_fail("slot-id");
		return parse_slot_id(v, vlen, &u->slot_id);
	}
	if (NAME_IS("library-manufacturer") || NAME_IS("library-description") ||
	    NAME_IS("library-version") || NAME_IS("slot-description") ||
	    NAME_IS("slot-manufacturer"))
		return atr_fail(ATR_ERR_CONFIG,
		    "pkcs11 URI: attribute '%s' is not supported by atrest",
		    safe_name(name, nlen, nb, sizeof(nb)));
	return atr_fail(ATR_ERR_CONFIG,
	    "pkcs11 URI: unknown path attribute '%s' (token, object, id, type, "
	    "manufacturer, serial, model, slot-id)",
	    safe_name(name, nlen, nb, sizeof(nb)));
}

static enum atr_err
parse_qattr(struct atr_p11_uri *u, const char *name, size_t nlen,
    const char *v, size_t vlen)
{
	char nb[40];
	int bad, rc;

	if (NAME_IS("module-path")) {
		if (u->has_module_path++)
			return dup_fail("module-path");
		if (vlen == 0)
			return atr_fail(ATR_ERR_CONFIG,
			    "pkcs11 URI: empty module-path");
		return decode_text("module-path", v, vlen, 1, u->module_path,
		    ATR_P11_PATH_MAX);
	}
	if (NAME_IS("pin-source")) {
		if (u->has_pin_source++)
			return dup_fail("pin-source");
		if (vlen == 0)
			return atr_fail(ATR_ERR_CONFIG,
			    "pkcs11 URI: empty pin-source");
		return decode_text("pin-source", v, vlen, 1, u->pin_source,
		    ATR_P11_PATH_MAX);
	}
	if (NAME_IS("pin-value")) {
		if (u->has_pin++)
			return dup_fail("pin-value");
		rc = pct_decode(v, vlen, 1, (uint8_t *)u->pin, ATR_P11_PIN_MAX,
		    &u->pin_len, &bad);
		if (rc != 0)
			return decode_fail(rc, "pin-value", bad, ATR_P11_PIN_MAX);
		u->pin[u->pin_len] = '\0';
		return ATR_OK;
	}
	if (NAME_IS("module-name"))
		return atr_fail(ATR_ERR_CONFIG,
		    "pkcs11 URI: module-name is not supported; use module-path");
	return atr_fail(ATR_ERR_CONFIG,
	    "pkcs11 URI: unknown query attribute '%s' (module-path, "
	    "pin-source, pin-value)", safe_name(name, nlen, nb, sizeof(nb)));
}

/* Splits s[n] at sep and hands each NAME=VALUE to the attribute parser.
 * Empty components (a trailing ';') are skipped. */
static enum atr_err
parse_part(struct atr_p11_uri *u, const char *s, size_t n, int sep,
    int query)
{
	size_t i = 0;
	enum atr_err err;

	while (i < n) {
		const char *c = s + i, *eq, *e;
		size_t clen;
		char nb[40];

		e = memchr(c, sep, n - i);
		clen = e != NULL ? (size_t)(e - c) : n - i;
		i += clen + 1;
		if (clen == 0)
			continue;
		eq = memchr(c, '=', clen);
		if (eq == NULL)
			return atr_fail(ATR_ERR_CONFIG,
			    "pkcs11 URI: attribute '%s' has no '=value'",
			    safe_name(c, clen, nb, sizeof(nb)));
		if (query)
			err = parse_qattr(u, c, (size_t)(eq - c), eq + 1,
			    clen - (size_t)(eq - c) - 1);
		else
			err = parse_pattr(u, c, (size_t)(eq - c), eq + 1,
			    clen - (size_t)(eq - c) - 1);
		if (err != ATR_OK)
			return err;
	}
	return ATR_OK;
}

enum atr_err
atr_p11_uri_parse(const char *uri, struct atr_p11_uri *u)
{
	static const char scheme[] = "pkcs11:";
	const char *p, *q;
	size_t n;
	enum atr_err err;

	memset(u, 0, sizeof(*u));
	if (uri == NULL || strncmp(uri, scheme, sizeof(scheme) - 1) != 0)
		return atr_fail(ATR_ERR_CONFIG, "not a pkcs11: URI");
	p = uri + sizeof(scheme) - 1;
	n = strlen(p);
	q = memchr(p, '?', n);
	err = parse_part(u, p, q != NULL ? (size_t)(q - p) : n, ';', 0);
	if (err == ATR_OK && q != NULL)
		err = parse_part(u, q + 1, n - (size_t)(q - p) - 1, '&', 1);
	if (err != ATR_OK)
		goto out;
	if (!u->has_token || u->token[0] == '\0') {
		err = atr_fail(ATR_ERR_CONFIG,
		    "pkcs11 URI has no token= attribute (the token label)");
		goto out;
	}
	if (u->has_object && u->object[0] == '\0') {
		err = atr_fail(ATR_ERR_CONFIG, "pkcs11 URI: empty object=");
		goto out;
	}
	/* RFC 7512 2.3: "pin-source" and "pin-value" together are refused. */
	if (u->has_pin && u->has_pin_source) {
		err = atr_fail(ATR_ERR_CONFIG,
		    "pkcs11 URI: pin-value and pin-source are mutually exclusive");
		goto out;
	}
out:
	if (err != ATR_OK)
		atr_p11_uri_clear(u);
	return err;
}

enum atr_err
atr_p11_uri_load_pin(struct atr_p11_uri *u)
{
	const char *path = u->pin_source;
	unsigned char *buf = NULL;
	size_t got = 0, len;
	struct stat st;
	enum atr_err err;

	if (!u->has_pin_source)
		return ATR_OK;
	/* RFC 8089: file:/abs, file:///abs, file://localhost/abs. */
	if (strncmp(path, "file://localhost/", 17) == 0)
		path += 16;
	else if (strncmp(path, "file://", 7) == 0)
		path += 7;
	else if (strncmp(path, "file:", 5) == 0)
		path += 5;
	else if (path[0] == '|')
		return atr_fail(ATR_ERR_UNSUPPORTED,
		    "pkcs11 URI: pin-source commands ('|...') are not "
		    "supported; use file:/path");
	if (*path == '\0')
		return atr_fail(ATR_ERR_CONFIG, "pkcs11 URI: empty pin-source");
	/* A PIN file is as secret as a private key file: refuse one that
	 * group or others can read (checked again on the open descriptor). */
	if (stat(path, &st) == 0 && (st.st_mode & 077) != 0)
		return atr_fail(ATR_ERR_CONFIG,
		    "pin-source %s is accessible by group or others (mode %03o); "
		    "run chmod 600 on it", path, (unsigned)(st.st_mode & 0777));
	err = atr_read_small_file(path, PIN_FILE_MAX, 1, &buf, &got);
	if (err != ATR_OK)
		return atr_fail(err, "pin-source %s: %s", path, atr_detail());
	len = got;
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	if (len == 0)
		err = atr_fail(ATR_ERR_CONFIG, "pin-source %s is empty", path);
	else if (len > ATR_P11_PIN_MAX)
		err = atr_fail(ATR_ERR_CONFIG,
		    "pin-source %s: PIN longer than %u bytes", path,
		    ATR_P11_PIN_MAX);
	else {
		memcpy(u->pin, buf, len);
		u->pin[len] = '\0';
		u->pin_len = len;
		u->has_pin = 1;
	}
	atr_secure_free(buf, got);
	return err;
}

void
atr_p11_uri_clear(struct atr_p11_uri *u)
{
	if (u != NULL)
		atr_memzero(u, sizeof(*u));
}

struct sbuf {
	char *p;
	size_t cap, len;
	int full;
};

static void
sb_raw(struct sbuf *b, const char *s, size_t n)
{
	if (b->full || b->len + n >= b->cap) {
		b->full = 1;
		return;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
sb_str(struct sbuf *b, const char *s)
{
	sb_raw(b, s, strlen(s));
}

/* RFC 3986 2.1: every byte outside "unreserved" encoded (or every byte
 * with all), which is always valid in both components. */
static void
sb_pct(struct sbuf *b, const uint8_t *v, size_t n, int all)
{
	size_t i;

	for (i = 0; i < n; i++) {
		char e[4];
		long l = atr_pct_encode(v + i, 1, all ? ATR_PCT_ALL : 0, e,
		    sizeof(e));

		sb_raw(b, e, (size_t)l);
	}
}

static void
sb_attr(struct sbuf *b, int *first, const char *name, const void *v,
    size_t n, int all)
{
	if (!*first)
		sb_raw(b, ";", 1);
	*first = 0;
	sb_str(b, name);
	sb_raw(b, "=", 1);
	sb_pct(b, v, n, all);
}

const char *
atr_p11_type_name(enum atr_p11_type t)
{
	switch (t) {
	case ATR_P11_TYPE_PRIVATE:
		return "private";
	case ATR_P11_TYPE_SECRET:
		return "secret-key";
	case ATR_P11_TYPE_PUBLIC:
		return "public";
	case ATR_P11_TYPE_CERT:
		return "cert";
	case ATR_P11_TYPE_DATA:
		return "data";
	case ATR_P11_TYPE_ANY:
		break;
	}
	return "";
}

enum atr_err
atr_p11_uri_format(const struct atr_p11_uri *u, char *out, size_t cap)
{
	struct sbuf b = {out, cap, 0, 0};
	int first = 1;

	if (cap == 0)
		return atr_fail(ATR_ERR_USAGE, "no room for the URI");
	out[0] = '\0';
	sb_str(&b, "pkcs11:");
	if (u->has_token)
		sb_attr(&b, &first, "token", u->token, strlen(u->token), 0);
	if (u->has_manufacturer)
		sb_attr(&b, &first, "manufacturer", u->manufacturer,
		    strlen(u->manufacturer), 0);
	if (u->has_model)
		sb_attr(&b, &first, "model", u->model, strlen(u->model), 0);
	if (u->has_serial)
		sb_attr(&b, &first, "serial", u->serial, strlen(u->serial), 0);
	if (u->has_object)
		sb_attr(&b, &first, "object", u->object, strlen(u->object), 0);
	if (u->has_id)
		sb_attr(&b, &first, "id", u->id, u->id_len, 1);
	if (u->type != ATR_P11_TYPE_ANY) {
		const char *t = atr_p11_type_name(u->type);

		sb_attr(&b, &first, "type", t, strlen(t), 0);
	}
	if (b.full) {
		out[0] = '\0';
		return atr_fail(ATR_ERR_LIMIT,
		    "canonical pkcs11 URI longer than %zu bytes", cap - 1);
	}
	return ATR_OK;
}

static int
is_pin_value(const char *c, size_t n)
{
	static const char pv[] = "pin-value";

	return n >= sizeof(pv) - 1 && memcmp(c, pv, sizeof(pv) - 1) == 0 &&
	    (n == sizeof(pv) - 1 || c[sizeof(pv) - 1] == '=');
}

/* Copies the components of s[n] split at sep, without pin-value. */
static void
redact_part(struct sbuf *b, const char *s, size_t n, int sep)
{
	size_t i = 0;
	int first = 1;
	char sc = (char)sep;

	while (i < n) {
		const char *c = s + i, *e = memchr(c, sep, n - i);
		size_t clen = e != NULL ? (size_t)(e - c) : n - i;

		i += clen + 1;
		if (clen == 0 || is_pin_value(c, clen))
			continue;
		if (!first)
			sb_raw(b, &sc, 1);
		first = 0;
		sb_raw(b, c, clen);
	}
}

enum atr_err
atr_p11_uri_redact(const char *uri, char *out, size_t cap)
{
	struct sbuf b = {out, cap, 0, 0};
	const char *p, *q;
	size_t n, mark;

	if (cap == 0)
		return atr_fail(ATR_ERR_USAGE, "no room for the URI");
	out[0] = '\0';
	if (strncmp(uri, "pkcs11:", 7) != 0)
		return atr_fail(ATR_ERR_CONFIG, "not a pkcs11: URI");
	p = uri + 7;
	n = strlen(p);
	q = memchr(p, '?', n);
	sb_str(&b, "pkcs11:");
	redact_part(&b, p, q != NULL ? (size_t)(q - p) : n, ';');
	if (q != NULL) {
		sb_raw(&b, "?", 1);
		mark = b.len;
		redact_part(&b, q + 1, n - (size_t)(q - p) - 1, '&');
		if (!b.full && b.len == mark) {
			/* Only the PIN was in the query: drop the '?'. */
			b.len--;
			out[b.len] = '\0';
		}
	}
	if (b.full) {
		atr_memzero(out, cap);
		out[0] = '\0';
		return atr_fail(ATR_ERR_LIMIT, "pkcs11 URI too long");
	}
	return ATR_OK;
}
