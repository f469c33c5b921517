/* see json.h */
#include "json.h"

#include <string.h>

#include "crypto.h"

/* One call per level of nesting, which cJSON's parser limits to
 * CJSON_NESTING_LIMIT (1000) and atrest's own documents keep shallow. */
void /* NOLINTNEXTLINE(misc-no-recursion): bounded, see above */
atr_json_wipe(cJSON *j)
{
	for (; j != NULL; j = j->next) {
		if (j->valuestring != NULL)
			atr_memzero(j->valuestring, strlen(j->valuestring));
		/* A member name set with cJSON_AddItemToObjectCS is a
		 * literal, not to be written. */
		if (j->string != NULL && !(j->type & cJSON_StringIsConst))
			atr_memzero(j->string, strlen(j->string));
		atr_json_wipe(j->child);
	}
}

void
atr_json_free_wiped(cJSON *j)
{
	atr_json_wipe(j);
	cJSON_Delete(j);
}
