/* see keyuri.h */
#include "keyuri.h"

#include <string.h>

struct obuf {
	char *p;
	size_t cap, len;
	int cut;
};

static void
put(struct obuf *b, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		/* Keep room for "..." and the NUL. */
		if (b->len + 4 >= b->cap) {
			b->cut = 1;
			return;
		}
		b->p[b->len++] = (char)((c < 0x20 || c == 0x7f) ? '?' : c);
	}
}

static void
put_str(struct obuf *b, const char *s)
{
	put(b, s, strlen(s));
}

/*
 * RFC 7512 2.3: the path is ';'-separated NAME=VALUE pairs before any
 * '?'.  Only token and object are copied: every other attribute, known
 * or not, is left out, so a mistyped PIN attribute ("PIN-VALUE",
 * "pin_value", "pin%2Dvalue") never reaches a message.
 */
static void
pkcs11_form(struct obuf *b, const char *uri)
{
	const char *p = uri + 7, *end = p + strcspn(p, "?#");
	int first = 1;

	put_str(b, "pkcs11:");
	while (p < end) {
		const char *e = memchr(p, ';', (size_t)(end - p));
		size_t n = e != NULL ? (size_t)(e - p) : (size_t)(end - p);

		if ((n > 6 && memcmp(p, "token=", 6) == 0) ||
		    (n > 7 && memcmp(p, "object=", 7) == 0)) {
			if (!first)
				put(b, ";", 1);
			first = 0;
			put(b, p, n);
		}
		p += n + (e != NULL ? 1 : 0);
	}
}

/* RFC 3986 3.2: authority = [ userinfo "@" ] host [ ":" port ]; the
 * path is kept, user information, query and fragment are not. */
static void
authority_form(struct obuf *b, const char *uri)
{
	const char *auth = strstr(uri, "://") + 3;
	size_t alen = strcspn(auth, "/?#"), i;
	const char *host = auth;

	for (i = alen; i > 0; i--)
		if (auth[i - 1] == '@') {
			host = auth + i;
			break;
		}
	put(b, uri, (size_t)(auth - uri));
	put(b, host, (size_t)(auth + alen - host));
	put(b, auth + alen, strcspn(auth + alen, "?#"));
}

void
atr_key_uri_redact(const char *uri, char *out, size_t cap)
{
	struct obuf b = {out, cap, 0, 0};
	size_t n;

	if (cap == 0)
		return;
	if (cap < 8) {
		out[0] = '\0';
		return;
	}
	if (uri == NULL || *uri == '\0') {
		put_str(&b, "(no key URI)");
	} else if (strncmp(uri, "file:", 5) == 0) {
		put_str(&b, uri);
	} else if (strncmp(uri, "pkcs11:", 7) == 0) {
		pkcs11_form(&b, uri);
	} else {
		/* RFC 3986 3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-"
		 * / "." ).  https:// and any other URI with an authority
		 * lose user information, query and fragment; an opaque one
		 * (a mistyped scheme, "nope:thing") is cut where values
		 * could start. */
		n = strspn(uri, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.");
		if (n == 0 || n > 32 || uri[n] != ':') {
			put_str(&b, "(not a key URI)");
		} else if (strncmp(uri + n, "://", 3) == 0) {
			authority_form(&b, uri);
		} else {
			size_t m = n + 1 + strcspn(uri + n + 1, ";?#&=@");

			put(&b, uri, m);
			if (uri[m] != '\0')
				put_str(&b, "...");
		}
	}
	if (b.cut) {
		memcpy(out + b.len, "...", 3);
		b.len += 3;
	}
	out[b.len] = '\0';
}
