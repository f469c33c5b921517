/*
 * hostile.h - a tiny HTTPS responder with canned answers, for testing
 * how the Key Vault client copes with a vault (or token endpoint) that
 * lies: wrong kids, wrong lengths, absurd numbers, absurd Retry-After.
 *
 * Linked into test binaries only.  It listens on 127.0.0.1 (port 0),
 * serves one request per connection (answers carry "Connection:
 * close") from a thread of the calling test process, and logs every
 * request so a test can assert what the client sent, or did not.
 *
 * It also answers an HTTP CONNECT (RFC 9110 9.3.6) on the same port and
 * then speaks TLS inside the tunnel, so with https_proxy pointing at it
 * a client reaches "https://127.evil.test:PORT" without any DNS: the
 * certificate names the extra hosts given to hs_start.
 *
 * Like testutil.h, nothing here prints, exits or asserts.
 *
 * Ownership: hs_start returns a server the caller stops with hs_stop,
 * which joins its thread and frees everything; the strings it returns
 * (URL, CA path) are the server's, valid until then.  Arguments are
 * copied (hs_reply) or read during the call.  Thread-safety: the server
 * runs on its own thread; hs_reply, hs_forget and the log queries lock,
 * so a test may call them while the client runs; hs_stop must not run
 * concurrently with any other call.
 */
#ifndef ATR_HOSTILE_H
#define ATR_HOSTILE_H

struct hs_server;

/*
 * Starts a server whose self-signed certificate (its own trust anchor,
 * written to hs_ca, in a temporary directory of its own) names
 * 127.0.0.1, ::1, localhost and each of dns_names (NULL-terminated; may
 * be NULL; read during the call).  NULL on failure.
 */
struct hs_server *hs_start(const char *const *dns_names);
/* Stops the thread, frees everything and removes the directory.
 * NULL-safe. */
void hs_stop(struct hs_server *s);

const char *hs_url(const struct hs_server *s);  /* https://127.0.0.1:PORT */
const char *hs_ca(const struct hs_server *s);   /* PEM, for ATREST_CA_FILE */
int hs_port(const struct hs_server *s);

/*
 * Adds a canned answer for requests whose request line ("POST
 * /keys/cmk/wrapkey?api-version=7.4 HTTP/1.1") contains match (NULL:
 * any).  The first rule that matches and is not used up answers: with
 * status, the extra header lines in headers (each ending "\r\n"; may be
 * NULL) and body (JSON; may be NULL).  times 0: for ever.  A request no
 * rule matches gets a 404.  match, headers and body are copied.  0 ok,
 * -1 when full (32 rules) or out of memory.
 */
int hs_reply(struct hs_server *s, const char *match, int status,
    const char *headers, const char *body, int times);

/* Drops every canned answer (the log stays). */
void hs_forget(struct hs_server *s);

/* Requests whose request line contains match (NULL: all) so far. */
unsigned hs_count(struct hs_server *s, const char *match);
/* 1 when any request's head or body so far contains needle, ignoring
 * case (header names have none). */
int hs_saw(struct hs_server *s, const char *needle);
/* CONNECT requests served so far. */
unsigned hs_tunnels(struct hs_server *s);

#endif
