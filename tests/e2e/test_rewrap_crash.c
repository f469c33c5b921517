/*
 * test_rewrap_crash.c - rewrap survives kill -9 at any moment.
 *
 * 1,000 objects are rewrapped from one key to another; the rewrap
 * process is killed with SIGKILL at random moments (5 to 1,205 ms) 20
 * times, so that batches (core/outbatch.h) are cut at every step.  After
 * every kill each object must still open with the old or the new key and
 * give its original plaintext (none unreadable, none lost); then a run
 * to completion finishes the job: every object opens with the new key
 * only, its body is byte-identical to before, and no temporary file is
 * left.  The seed is printed so a failure can be replayed.
 *
 * --to is the new public key, as in a rotation; the new private key is
 * given with --key so that the objects a killed run already rewrapped
 * can be authenticated and reported as done (docs/ROTATION.md): a header
 * that merely names the new key is not enough.
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

#include "crypto.h"
#include "envelope.h"
#include "key.h"
#include "keys.h"
#include "stream.h"
#include "testutil.h"

#define NOBJ 1000
#define KILLS 20

static const char *
bin(void)
{
	const char *b = getenv("ATREST_BIN");

	return b && *b ? b : "build/atrest";
}

struct obj {
	uint8_t pt_hash[32];
	uint8_t body_hash[32];
	size_t len;
};

static int
run(const char *const argv[], unsigned timeout_ms)
{
	struct tu_run_opts o = {0};

	o.timeout_ms = timeout_ms;
	return tu_run(argv, &o);
}

/* Opens path with keys; returns the error and the plaintext hash. */
static enum atr_err
open_obj(const char *path, struct atr_key **keys, size_t n, uint8_t hash[32],
    uint8_t body[32])
{
	char tmp[] = "/tmp/atrest-crash-pt-XXXXXX";
	struct atr_stream_stats st;
	enum atr_err err;
	uint8_t *buf;
	size_t len;
	int in, out;

	in = open(path, O_RDONLY);
	cr_assert_geq(in, 0, "%s disappeared", path);
	out = mkstemp(tmp);
	cr_assert_geq(out, 0);
	err = atr_decrypt_stream(in, out, keys, n, NULL, 1, &st);
	close(in);
	close(out);
	if (err == ATR_OK) {
		buf = tu_read_file(tmp, &len);
		cr_assert_not_null(buf);
		atr_sha256(buf, len, hash);
		free(buf);
		if (body != NULL) {
			struct atr_header *h = malloc(sizeof(*h));

			buf = tu_read_file(path, &len);
			cr_assert_eq(atr_header_parse(buf, len, h), ATR_OK);
			atr_sha256(buf + h->len, len - h->len, body);
			free(h);
			free(buf);
		}
	}
	unlink(tmp);
	return err;
}

static unsigned
count_tmp(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	unsigned n = 0;

	cr_assert_not_null(d);
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, ".atrest-tmp-", 12) == 0)
			n++;
	closedir(d);
	return n;
}

Test(rewrap_crash, kill9_twenty_times_then_complete, .timeout = 600)
{
	char *dir = tu_tmpdir("crash");
	char *plain = tu_path(dir, "plain"), *store = tu_path(dir, "store");
	char *oldk = tu_path(dir, "old.key"), *newk = tu_path(dir, "new.pem");
	char olduri[512], newuri[512], newpub[512], path[600];
	struct atr_key *keys[2], *oldonly[1], *newonly[1];
	static struct obj objs[NOBJ];
	unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
	uint8_t h[32], b[32];
	int i, k, rc;

	fprintf(stderr, "rewrap_crash: seed %u\n", seed);
	srand(seed);
	cr_assert_eq(mkdir(plain, 0700), 0);
	for (i = 0; i < NOBJ; i++) {
		size_t len = (size_t)(rand() % 3000);
		uint8_t *data = malloc(len + 1);

		atr_random(data, len);
		snprintf(path, sizeof(path), "%s/obj%04d", plain, i);
		cr_assert_eq(tu_write_file(path, data, len), 0);
		atr_sha256(data, len, objs[i].pt_hash);
		objs[i].len = len;
		free(data);
	}
	snprintf(olduri, sizeof(olduri), "file:%s", oldk);
	snprintf(newuri, sizeof(newuri), "file:%s", newk);
	snprintf(newpub, sizeof(newpub), "file:%s.pub", newk);
	{
		const char *g1[] = {bin(), "keygen", "-t", "aes-256", "-o", oldk, NULL};
		const char *g2[] = {bin(), "keygen", "-t", "rsa-2048", "-o", newk, NULL};
		const char *enc[] = {bin(), "encrypt", "-q", "-k", olduri, "-o",
		    store, plain, NULL};

		cr_assert_eq(run(g1, 0), 0);
		cr_assert_eq(run(g2, 0), 0);
		cr_assert_eq(run(enc, 0), 0);
	}
	cr_assert_eq(atr_key_open(olduri, NULL, &keys[0]), ATR_OK);
	cr_assert_eq(atr_key_open(newuri, NULL, &keys[1]), ATR_OK);
	oldonly[0] = keys[0];
	newonly[0] = keys[1];
	for (i = 0; i < NOBJ; i++) {
		snprintf(path, sizeof(path), "%s/obj%04d", store, i);
		cr_assert_eq(open_obj(path, oldonly, 1, h, objs[i].body_hash),
		    ATR_OK);
	}

	for (k = 0; k < KILLS; k++) {
		const char *rw[] = {bin(), "rewrap", "-q", "--from", olduri,
		    "--to", newpub, "--key", newuri, store, NULL};
		/* Past ATR_OUTBATCH_MS (core/outbatch.h), so that most kills
		 * find some objects replaced and others not. */
		unsigned ms = 5 + (unsigned)(rand() % 1200);
		int done = 0;

		rc = run(rw, ms);
		cr_assert(rc == TU_RUN_TIMEOUT || rc == 0,
		    "kill %d: rewrap exit %d", k, rc);
		for (i = 0; i < NOBJ; i++) {
			snprintf(path, sizeof(path), "%s/obj%04d", store, i);
			cr_assert_eq(open_obj(path, keys, 2, h, b), ATR_OK,
			    "kill %d (after %u ms): %s unreadable: %s", k, ms,
			    path, atr_detail());
			cr_assert_eq(memcmp(h, objs[i].pt_hash, 32), 0,
			    "kill %d: %s plaintext changed", k, path);
			cr_assert_eq(memcmp(b, objs[i].body_hash, 32), 0,
			    "kill %d: %s body changed", k, path);
			if (open_obj(path, newonly, 1, h, NULL) == ATR_OK)
				done++;
		}
		fprintf(stderr, "rewrap_crash: kill %2d after %3u ms: %4d/%d "
		    "rewrapped, %u temp files\n", k + 1, ms, done, NOBJ,
		    count_tmp(store));
	}
	{
		const char *rw[] = {bin(), "rewrap", "-q", "--from", olduri,
		    "--to", newpub, "--key", newuri, store, NULL};

		cr_assert_eq(run(rw, 0), 0);
	}
	cr_assert_eq(count_tmp(store), 0, "temporary files left behind");
	for (i = 0; i < NOBJ; i++) {
		snprintf(path, sizeof(path), "%s/obj%04d", store, i);
		cr_assert_eq(open_obj(path, newonly, 1, h, b), ATR_OK,
		    "%s does not open with the new key", path);
		cr_assert_eq(memcmp(h, objs[i].pt_hash, 32), 0);
		cr_assert_eq(memcmp(b, objs[i].body_hash, 32), 0);
		cr_assert_eq(open_obj(path, oldonly, 1, h, NULL), ATR_ERR_NOKEY,
		    "%s still opens with the old key", path);
	}
	/* And verify, with the old key as the control, agrees. */
	{
		char err[700];
		struct tu_run_opts ro = {0};
		const char *v[] = {bin(), "verify", "--key", newuri, "--control-key",
		    olduri, "--current-only", store, NULL};
		uint8_t *msg;

		snprintf(err, sizeof(err), "%s/verify.out", dir);
		ro.stdout_path = err;
		ro.stderr_path = err;
		rc = tu_run(v, &ro);
		msg = tu_read_file(err, NULL);
		cr_assert_eq(rc, 0, "verify --current-only exit %d: %s", rc,
		    msg ? (char *)msg : "");
		free(msg);
	}
	atr_key_free(keys[0]);
	atr_key_free(keys[1]);
	tu_rmtree(dir);
}
