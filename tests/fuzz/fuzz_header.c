/*
 * libFuzzer target: the envelope header parser and the body-length
 * arithmetic, on arbitrary bytes.  Neither may crash, read out of
 * bounds or accept a header whose fields break the documented limits.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct atr_header h;
	uint64_t frames;
	size_t i;

	if (atr_header_parse(data, size, &h) != ATR_OK)
		return 0;
	if (h.len > size || h.len > ATR_HEADER_MAX || h.nstanzas == 0 ||
	    h.nstanzas > ATR_MAX_STANZAS || h.frame_size < ATR_FRAME_MIN ||
	    h.frame_size > ATR_FRAME_MAX)
		abort();
	for (i = 0; i < h.nstanzas; i++)
		if (strlen(h.st[i].key_id) == 0 ||
		    strlen(h.st[i].key_id) > ATR_KEYID_MAX ||
		    h.st[i].wrapped_len > ATR_WRAPPED_MAX)
			abort();
	(void)atr_body_frames(size - h.len, h.frame_size, &frames);
	return 0;
}
