/*
 * libFuzzer target: the configuration verify reads from files a user
 * (or an attacker who can write next to the store) supplies: the
 * --policy JSON and the --manifest JSON.  Both must refuse bad input
 * with an error, never crash or read out of bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "verify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vfy_policy p;
	struct vfy_manifest *m = NULL;
	char *json = malloc(size + 1);

	if (json == NULL)
		return 0;
	memcpy(json, data, size);
	json[size] = '\0';
	vfy_policy_default(&p);
	(void)vfy_policy_parse(json, size, &p);
	if (vfy_manifest_parse(json, size, &m) == ATR_OK)
		vfy_manifest_free(m);
	free(json);
	return 0;
}
