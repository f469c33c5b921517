/* see hostile.h */
#include "hostile.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "testutil.h"

#define RULES_MAX 32
#define HEAD_MAX 16384U
#define BODY_MAX (1024U * 1024U)
#define IO_TIMEOUT_S 10

struct hs_rule {
	char *match, *headers, *body;
	int status, times, used;
};

struct hs_server {
	int lfd, port;
	pthread_t th;
	int th_ok;
	atomic_int stop;
	SSL_CTX *ctx;
	char *dir, *ca;
	char url[64];
	pthread_mutex_t mu;
	struct hs_rule rules[RULES_MAX];
	size_t nrules;
	char *log;              /* every request line, head and body */
	size_t loglen, logcap;
	char **lines;           /* request lines, for hs_count */
	size_t nlines, linecap;
	unsigned tunnels;
};

/* ---- certificate ---- */

static int
add_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *e;
	int ok;

	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	if (e == NULL)
		return -1;
	ok = X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	return ok == 1 ? 0 : -1;
}

/* A self-signed P-256 certificate for the loopback names and extra. */
static int
make_cert(struct hs_server *s, const char *const *dns, EVP_PKEY **kout,
    X509 **xout)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *x = X509_new();
	X509_NAME *nm;
	char san[2048];
	size_t i, o;
	FILE *f;
	int rc = -1;

	if (k == NULL || x == NULL)
		goto out;
	o = (size_t)snprintf(san, sizeof(san),
	    "IP:127.0.0.1,IP:::1,DNS:localhost");
	for (i = 0; dns != NULL && dns[i] != NULL; i++) {
		int n = snprintf(san + o, sizeof(san) - o, ",DNS:%s", dns[i]);

		if (n < 0 || (size_t)n >= sizeof(san) - o)
			goto out;
		o += (size_t)n;
	}
	nm = X509_get_subject_name(x);
	if (X509_set_version(x, 2) != 1 ||
	    ASN1_INTEGER_set(X509_get_serialNumber(x), (long)getpid()) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), 86400) == NULL ||
	    X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC,
	    (const unsigned char *)"atrest hostile test vault", -1, -1,
	    0) != 1 || X509_set_issuer_name(x, nm) != 1 ||
	    X509_set_pubkey(x, k) != 1 ||
	    add_ext(x, NID_basic_constraints, "critical,CA:TRUE") != 0 ||
	    add_ext(x, NID_key_usage,
	    "critical,digitalSignature,keyCertSign") != 0 ||
	    add_ext(x, NID_subject_key_identifier, "hash") != 0 ||
	    add_ext(x, NID_subject_alt_name, san) != 0 ||
	    X509_sign(x, k, EVP_sha256()) <= 0)
		goto out;
	f = fopen(s->ca, "wx");
	if (f == NULL)
		goto out;
	rc = PEM_write_X509(f, x) == 1 ? 0 : -1;
	if (fclose(f) != 0)
		rc = -1;
out:
	if (rc != 0) {
		EVP_PKEY_free(k);
		X509_free(x);
		ERR_clear_error();
		return -1;
	}
	*kout = k;
	*xout = x;
	return 0;
}

/* ---- log ---- */

static void
log_add(struct hs_server *s, const char *p, size_t n)
{
	char *np;
	size_t cap;

	if (s->loglen + n + 2 > s->logcap) {
		cap = s->logcap == 0 ? 8192 : s->logcap;
		while (cap < s->loglen + n + 2)
			cap *= 2;
		np = realloc(s->log, cap);
		if (np == NULL)
			return;
		s->log = np;
		s->logcap = cap;
	}
	memcpy(s->log + s->loglen, p, n);
	s->loglen += n;
	s->log[s->loglen++] = '\n';
	s->log[s->loglen] = '\0';
}

static void
line_add(struct hs_server *s, const char *line, size_t n)
{
	char **nl, *d;

	if (s->nlines == s->linecap) {
		size_t cap = s->linecap == 0 ? 32 : s->linecap * 2;

		nl = realloc(s->lines, cap * sizeof(*nl));
		if (nl == NULL)
			return;
		s->lines = nl;
		s->linecap = cap;
	}
	d = malloc(n + 1);
	if (d == NULL)
		return;
	memcpy(d, line, n);
	d[n] = '\0';
	s->lines[s->nlines++] = d;
}

/* ---- one connection ---- */

struct conn {
	int fd;
	SSL *ssl;
};

static long
conn_read(struct conn *c, char *buf, size_t n)
{
	int r;

	if (c->ssl == NULL)
		return recv(c->fd, buf, n, 0);
	r = SSL_read(c->ssl, buf, (int)(n > 65536 ? 65536 : n));
	return r > 0 ? r : -1;
}

static int
conn_write(struct conn *c, const char *buf, size_t n)
{
	size_t off = 0;

	while (off < n) {
		long w = c->ssl != NULL ?
		    SSL_write(c->ssl, buf + off, (int)(n - off)) :
		    send(c->fd, buf + off, n - off, MSG_NOSIGNAL);

		if (w <= 0)
			return -1;
		off += (size_t)w;
	}
	return 0;
}

/* Reads up to the blank line ending a head; the head's length or -1.
 * Bytes after it (the start of a body) stay in buf after the head. */
static long
read_head(struct conn *c, char *buf, size_t cap, size_t *have)
{
	char *end;
	long r;

	*have = 0;
	for (;;) {
		buf[*have] = '\0';
		end = strstr(buf, "\r\n\r\n");
		if (end != NULL)
			return end + 4 - buf;
		if (*have + 1 >= cap)
			return -1;
		r = conn_read(c, buf + *have, cap - 1 - *have);
		if (r <= 0)
			return -1;
		*have += (size_t)r;
	}
}

static long
content_length(const char *head)
{
	const char *p = head;

	while ((p = strchr(p, '\n')) != NULL) {
		p++;
		if (strncasecmp(p, "Content-Length:", 15) == 0)
			return strtol(p + 15, NULL, 10);
	}
	return 0;
}

static const char *
reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 401:
		return "Unauthorized";
	case 404:
		return "Not Found";
	case 429:
		return "Too Many Requests";
	default:
		return status >= 500 ? "Server Error" : "Status";
	}
}

static void
answer(struct hs_server *s, struct conn *c, const char *head, size_t hl,
    const char *body, size_t bl)
{
	const char *eol = strstr(head, "\r\n");
	size_t ll = eol != NULL ? (size_t)(eol - head) : hl;
	struct hs_rule *r = NULL;
	char line[2048], *resp;
	const char *hdrs = "", *rb = "{\"error\":{\"code\":\"NotFound\","
	    "\"message\":\"no canned answer\"}}";
	int status = 404;
	size_t i, rl;

	snprintf(line, sizeof(line), "%.*s", (int)ll, head);
	pthread_mutex_lock(&s->mu);
	log_add(s, head, hl);
	if (bl > 0)
		log_add(s, body, bl);
	line_add(s, line, strlen(line));
	for (i = 0; i < s->nrules; i++) {
		r = &s->rules[i];
		if ((r->match == NULL || strstr(line, r->match) != NULL) &&
		    (r->times == 0 || r->used < r->times))
			break;
		r = NULL;
	}
	if (r != NULL) {
		r->used++;
		status = r->status;
		hdrs = r->headers != NULL ? r->headers : "";
		rb = r->body != NULL ? r->body : "";
	}
	rl = strlen(hdrs) + strlen(rb) + 256;
	resp = malloc(rl);
	if (resp != NULL)
		snprintf(resp, rl, "HTTP/1.1 %d %s\r\nContent-Type: "
		    "application/json; charset=utf-8\r\nContent-Length: %zu\r\n"
		    "Connection: close\r\n%s\r\n%s", status, reason(status),
		    strlen(rb), hdrs, rb);
	pthread_mutex_unlock(&s->mu);
	if (resp != NULL) {
		(void)conn_write(c, resp, strlen(resp));
		free(resp);
	}
}

static void
serve(struct hs_server *s, int fd)
{
	static const char est[] = "HTTP/1.1 200 Connection established\r\n\r\n";
	struct timeval tv = {IO_TIMEOUT_S, 0};
	struct conn c = {fd, NULL};
	char *buf = malloc(HEAD_MAX + BODY_MAX + 1), *body;
	unsigned char first;
	size_t have, want;
	long hl, cl, r;

	if (buf == NULL)
		return;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (recv(fd, &first, 1, MSG_PEEK) != 1)
		goto out;
	if (first != 0x16) {
		/* Not a TLS ClientHello: a proxy's CONNECT, or nothing. */
		hl = read_head(&c, buf, HEAD_MAX, &have);
		if (hl < 0 || strncmp(buf, "CONNECT ", 8) != 0 ||
		    (size_t)hl != have)
			goto out;
		pthread_mutex_lock(&s->mu);
		s->tunnels++;
		log_add(s, buf, (size_t)hl);
		pthread_mutex_unlock(&s->mu);
		if (conn_write(&c, est, sizeof(est) - 1) != 0)
			goto out;
	}
	c.ssl = SSL_new(s->ctx);
	if (c.ssl == NULL || SSL_set_fd(c.ssl, fd) != 1 ||
	    SSL_accept(c.ssl) != 1)
		goto out;
	hl = read_head(&c, buf, HEAD_MAX, &have);
	if (hl < 0)
		goto out;
	cl = content_length(buf);
	if (cl < 0 || (size_t)cl > BODY_MAX)
		goto out;
	want = (size_t)hl + (size_t)cl;
	while (have < want) {
		r = conn_read(&c, buf + have, want - have);
		if (r <= 0)
			goto out;
		have += (size_t)r;
	}
	buf[want] = '\0';
	body = buf + hl;
	buf[hl - 2] = '\0';   /* the head without its blank line */
	answer(s, &c, buf, (size_t)hl - 2, body, (size_t)cl);
	SSL_shutdown(c.ssl);
out:
	SSL_free(c.ssl);
	ERR_clear_error();
	free(buf);
}

static void *
loop(void *arg)
{
	struct hs_server *s = arg;
	struct pollfd p;
	int fd;

	while (!atomic_load(&s->stop)) {
		p.fd = s->lfd;
		p.events = POLLIN;
		if (poll(&p, 1, 50) <= 0)
			continue;
		fd = accept(s->lfd, NULL, NULL);
		if (fd < 0)
			continue;
		serve(s, fd);
		close(fd);
	}
	return NULL;
}

/* ---- API ---- */

static void rules_free(struct hs_server *s);

struct hs_server *
hs_start(const char *const *dns_names)
{
	struct hs_server *s = calloc(1, sizeof(*s));
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	EVP_PKEY *k = NULL;
	X509 *x = NULL;

	if (s == NULL)
		return NULL;
	s->lfd = -1;
	pthread_mutex_init(&s->mu, NULL);
	s->dir = tu_tmpdir("hostile");
	s->ca = s->dir != NULL ? tu_path(s->dir, "ca.pem") : NULL;
	if (s->ca == NULL || make_cert(s, dns_names, &k, &x) != 0)
		goto fail;
	s->ctx = SSL_CTX_new(TLS_server_method());
	if (s->ctx == NULL || SSL_CTX_use_certificate(s->ctx, x) != 1 ||
	    SSL_CTX_use_PrivateKey(s->ctx, k) != 1)
		goto fail;
	SSL_CTX_set_min_proto_version(s->ctx, TLS1_2_VERSION);
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (s->lfd < 0 || bind(s->lfd, (struct sockaddr *)&sa,
	    sizeof(sa)) != 0 || listen(s->lfd, 16) != 0 ||
	    getsockname(s->lfd, (struct sockaddr *)&sa, &sl) != 0)
		goto fail;
	s->port = ntohs(sa.sin_port);
	snprintf(s->url, sizeof(s->url), "https://127.0.0.1:%d", s->port);
	if (pthread_create(&s->th, NULL, loop, s) != 0)
		goto fail;
	s->th_ok = 1;
	EVP_PKEY_free(k);
	X509_free(x);
	return s;
fail:
	EVP_PKEY_free(k);
	X509_free(x);
	ERR_clear_error();
	hs_stop(s);
	return NULL;
}

void
hs_stop(struct hs_server *s)
{
	size_t i;

	if (s == NULL)
		return;
	atomic_store(&s->stop, 1);
	if (s->th_ok)
		pthread_join(s->th, NULL);
	if (s->lfd >= 0)
		close(s->lfd);
	SSL_CTX_free(s->ctx);
	rules_free(s);
	for (i = 0; i < s->nlines; i++)
		free(s->lines[i]);
	free(s->lines);
	free(s->log);
	if (s->dir != NULL)
		tu_rmtree(s->dir);
	free(s->dir);
	free(s->ca);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

const char *
hs_url(const struct hs_server *s)
{
	return s->url;
}

const char *
hs_ca(const struct hs_server *s)
{
	return s->ca;
}

int
hs_port(const struct hs_server *s)
{
	return s->port;
}

static char *
dup_or_null(const char *p)
{
	return p != NULL ? strdup(p) : NULL;
}

int
hs_reply(struct hs_server *s, const char *match, int status,
    const char *headers, const char *body, int times)
{
	struct hs_rule *r;
	int rc = -1;

	pthread_mutex_lock(&s->mu);
	if (s->nrules < RULES_MAX) {
		r = &s->rules[s->nrules];
		memset(r, 0, sizeof(*r));
		r->match = dup_or_null(match);
		r->headers = dup_or_null(headers);
		r->body = dup_or_null(body);
		r->status = status;
		r->times = times;
		if ((match == NULL || r->match != NULL) &&
		    (headers == NULL || r->headers != NULL) &&
		    (body == NULL || r->body != NULL)) {
			s->nrules++;
			rc = 0;
		} else {
			free(r->match);
			free(r->headers);
			free(r->body);
		}
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

static void
rules_free(struct hs_server *s)
{
	size_t i;

	for (i = 0; i < s->nrules; i++) {
		free(s->rules[i].match);
		free(s->rules[i].headers);
		free(s->rules[i].body);
	}
	s->nrules = 0;
}

void
hs_forget(struct hs_server *s)
{
	pthread_mutex_lock(&s->mu);
	rules_free(s);
	pthread_mutex_unlock(&s->mu);
}

unsigned
hs_count(struct hs_server *s, const char *match)
{
	unsigned n = 0;
	size_t i;

	pthread_mutex_lock(&s->mu);
	for (i = 0; i < s->nlines; i++)
		if (match == NULL || strstr(s->lines[i], match) != NULL)
			n++;
	pthread_mutex_unlock(&s->mu);
	return n;
}

int
hs_saw(struct hs_server *s, const char *needle)
{
	size_t i, n = strlen(needle);
	int found = 0;

	pthread_mutex_lock(&s->mu);
	for (i = 0; s->log != NULL && i + n <= s->loglen && !found; i++)
		found = strncasecmp(s->log + i, needle, n) == 0;
	pthread_mutex_unlock(&s->mu);
	return found;
}

unsigned
hs_tunnels(struct hs_server *s)
{
	unsigned n;

	pthread_mutex_lock(&s->mu);
	n = s->tunnels;
	pthread_mutex_unlock(&s->mu);
	return n;
}
