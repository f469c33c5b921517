/*
 * libFuzzer target: the whole decrypt path (header, unwrap, commitment,
 * MAC, frame decoder) with the worked example's test-only AES KEK, so
 * mutations of fixtures/format/hello.atr reach past the parser.  Any
 * input must be refused cleanly unless it authenticates.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "envelope.h"
#include "keys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct atr_key *key;

/*
 * The KEK goes through the file provider, so it is written to a fresh
 * private directory (mkdtemp: mode 0700, a name no one could plant a
 * symbolic link at) with O_EXCL | O_NOFOLLOW, opened, and removed.  A
 * fixed name in /tmp opened with fopen("w") would follow a link
 * someone else made there and, run as root, overwrite its target.
 */
static void
setup(void)
{
	static const char hex[] = "000102030405060708090a0b0c0d0e0f"
	    "101112131415161718191a1b1c1d1e1f\n";
	const char *tmp = getenv("TMPDIR");
	char dir[PATH_MAX], path[PATH_MAX + 16], uri[PATH_MAX + 32];
	int fd, ok;

	if (key != NULL)
		return;
	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";
	if ((size_t)snprintf(dir, sizeof(dir), "%s/atrest-fuzz-XXXXXX", tmp) >=
	    sizeof(dir) || mkdtemp(dir) == NULL)
		abort();
	snprintf(path, sizeof(path), "%s/kek.hex", dir);
	snprintf(uri, sizeof(uri), "file:%s", path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (fd < 0)
		abort();
	ok = write(fd, hex, sizeof(hex) - 1) == (ssize_t)(sizeof(hex) - 1);
	ok = close(fd) == 0 && ok;
	ok = ok && atr_key_open(uri, NULL, &key) == ATR_OK;
	unlink(path);
	rmdir(dir);
	if (!ok)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct atr_header h;
	static uint8_t out[ATR_FRAME_MAX];
	struct atr_dec *d = NULL;
	uint64_t frames, i;
	size_t rec, body;

	setup();
	if (atr_header_parse(data, size, &h) != ATR_OK)
		return 0;
	body = size - h.len;
	if (atr_body_frames(body, h.frame_size, &frames) != ATR_OK)
		return 0;
	if (atr_dec_new(&h, &key, 1, NULL, &d, NULL, NULL) != ATR_OK)
		return 0;
	rec = (size_t)h.frame_size + ATR_GCM_TAGBYTES;
	for (i = 0; i < frames; i++) {
		size_t off = h.len + (size_t)i * rec;
		size_t n = i + 1 == frames ? size - off : rec;

		if (atr_dec_frame(d, i, i + 1 == frames, data + off, n, out) !=
		    ATR_OK)
			break;
	}
	atr_dec_free(d);
	return 0;
}
