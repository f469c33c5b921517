/* see dlib.h */
#include "dlib.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

/* dlerror() names the file or the symbol itself. */
static void
note_error(char *buf, size_t cap, const char *what)
{
	const char *e = dlerror();

	snprintf(buf, cap, "%s", e != NULL ? e : what);
}

void *
atr_dlib_open(const char *env, const char *soname,
    const char *const *names, void **slots, size_t n, char *why, size_t cap)
{
	const char *alt = getenv(env);
	void *h;
	size_t i;

	if (alt != NULL && *alt != '\0')
		soname = alt;
	h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		note_error(why, cap, soname);
		return NULL;
	}
	for (i = 0; i < n; i++) {
		slots[i] = dlsym(h, names[i]);
		if (slots[i] == NULL) {
			note_error(why, cap, names[i]);
			dlclose(h);
			return NULL;
		}
	}
	return h;
}
