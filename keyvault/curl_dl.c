/* see curl_dl.h */
#include "curl_dl.h"

#include <pthread.h>
#include <string.h>

#include "dlib.h"

/* ---- what is called when libcurl is not there ------------------------ */

static CURLcode
no_global_init(long flags)
{
	(void)flags;
	return CURLE_FAILED_INIT;
}

static CURL *
no_easy_init(void)
{
	return NULL;
}

static CURLcode
no_easy_setopt(CURL *h, CURLoption opt, ...)
{
	(void)h;
	(void)opt;
	return CURLE_FAILED_INIT;
}

static CURLcode
no_easy_perform(CURL *h)
{
	(void)h;
	return CURLE_FAILED_INIT;
}

static CURLcode
no_easy_getinfo(CURL *h, CURLINFO info, ...)
{
	(void)h;
	(void)info;
	return CURLE_FAILED_INIT;
}

static void
no_easy_handle(CURL *h)
{
	(void)h;
}

static const char *
no_easy_strerror(CURLcode cc)
{
	(void)cc;
	return "libcurl cannot be loaded";
}

static time_t
no_getdate(const char *s, const time_t *unused)
{
	(void)s;
	(void)unused;
	return -1;
}

static const struct atr_curl missing = {
	no_global_init, no_easy_init, no_easy_setopt, no_easy_perform,
	no_easy_getinfo, no_easy_handle, no_easy_handle, no_easy_strerror,
	no_getdate,
};

/* ---- the library ------------------------------------------------------ */

/* In the order of struct atr_curl's members. */
static const char *const names[] = {
	"curl_global_init", "curl_easy_init", "curl_easy_setopt",
	"curl_easy_perform", "curl_easy_getinfo", "curl_easy_cleanup",
	"curl_easy_reset", "curl_easy_strerror", "curl_getdate",
};
#define NFN (sizeof(names) / sizeof(names[0]))

static struct atr_curl loaded;
static const struct atr_curl *table = &missing;
static char why[256];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void
load(void)
{
	void *slot[NFN];

	if (atr_dlib_open("ATREST_LIBCURL", "libcurl.so.4", names, slot, NFN,
	    why, sizeof(why)) == NULL)
		return;
	ATR_DLIB_FN(loaded.global_init, slot[0]);
	ATR_DLIB_FN(loaded.easy_init, slot[1]);
	ATR_DLIB_FN(loaded.easy_setopt, slot[2]);
	ATR_DLIB_FN(loaded.easy_perform, slot[3]);
	ATR_DLIB_FN(loaded.easy_getinfo, slot[4]);
	ATR_DLIB_FN(loaded.easy_cleanup, slot[5]);
	ATR_DLIB_FN(loaded.easy_reset, slot[6]);
	ATR_DLIB_FN(loaded.easy_strerror, slot[7]);
	ATR_DLIB_FN(loaded.getdate, slot[8]);
	/* Published once, inside pthread_once: every later caller sees the
	 * whole table (pthread_once synchronizes memory, POSIX 4.12). */
	table = &loaded;
}

enum atr_err
atr_curl_load(void)
{
	pthread_once(&once, load);
	return table == &loaded ? ATR_OK :
	    atr_fail(ATR_ERR_CONFIG, "cannot load libcurl: %s", why);
}

const struct atr_curl *
atr_curl(void)
{
	pthread_once(&once, load);
	return table;
}
