/*
 * curl_dl.h - the libcurl functions the Key Vault client calls, opened
 * on first use (core/dlib.h says why it is not linked).
 *
 * Each member has libcurl's own prototype, variadic ones included, so a
 * call through it is the call the library expects (ISO C 6.5.2.2).  A
 * function atrest starts to use must be added here, or it does not
 * compile: nothing else in atrest may call curl_* directly.
 */
#ifndef ATR_CURL_DL_H
#define ATR_CURL_DL_H

#include <time.h>

#include <curl/curl.h>

#include "err.h"

struct atr_curl {
	CURLcode (*global_init)(long flags);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *h, CURLoption opt, ...);
	CURLcode (*easy_perform)(CURL *h);
	CURLcode (*easy_getinfo)(CURL *h, CURLINFO info, ...);
	void (*easy_cleanup)(CURL *h);
	void (*easy_reset)(CURL *h);
	const char *(*easy_strerror)(CURLcode cc);
	time_t (*getdate)(const char *s, const time_t *unused);
};

/*
 * Loads libcurl once (ATREST_LIBCURL may name another file): ATR_OK, or
 * ATR_ERR_CONFIG with the loader's reason ("cannot load libcurl:
 * libcurl.so.4: cannot open shared object file...").
 */
enum atr_err atr_curl_load(void);

/*
 * The table (static, never NULL).  Before a successful load, or when
 * libcurl cannot be loaded, every function fails the way libcurl reports
 * failure (NULL, CURLE_FAILED_INIT, -1) instead of crashing.
 */
const struct atr_curl *atr_curl(void);

#endif
