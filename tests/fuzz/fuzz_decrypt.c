/*
 * libFuzzer target: the whole decrypt path (header, unwrap, commitment,
 * MAC, frame decoder) with the worked example's test-only AES KEK, so
 * mutations of fixtures/format/hello.atr reach past the parser.  Any
 * input must be refused cleanly unless it authenticates.
 */
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct atr_key *key;

static void
setup(void)
{
	static const char path[] = "/tmp/atrest-fuzz-kek.hex";
	FILE *f;

	if (key != NULL)
		return;
	f = fopen(path, "w");
	if (f == NULL)
		abort();
	fputs("000102030405060708090a0b0c0d0e0f"
	    "101112131415161718191a1b1c1d1e1f\n", f);
	fclose(f);
	chmod(path, 0600);
	if (atr_key_open("file:/tmp/atrest-fuzz-kek.hex", NULL, &key) != ATR_OK)
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
