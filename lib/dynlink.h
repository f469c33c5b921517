/*
 * dynlink.h - libcurl and libmicrohttpd are loaded on first use
 * (lib/dynlink.c defines the functions atrest calls and forwards them).
 */
#ifndef ATR_DYNLINK_H
#define ATR_DYNLINK_H

/* Why the last load failed ("libcurl.so.4: cannot open shared object
 * file..."), or "" when nothing failed. */
const char *atr_dynlink_error(void);

#endif
