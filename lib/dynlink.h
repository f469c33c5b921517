/*
 * dynlink.h - libcurl and libmicrohttpd are loaded on first use
 * (lib/dynlink.c defines the functions atrest calls and forwards them).
 */
#ifndef ATR_DYNLINK_H
#define ATR_DYNLINK_H

#include "err.h"

/* Load the library if not done yet: ATR_OK, or ATR_ERR_CONFIG with the
 * loader's reason ("cannot load libcurl: libcurl.so.4: cannot open
 * shared object file..."). */
enum atr_err atr_dynlink_curl(void);
enum atr_err atr_dynlink_mhd(void);

#endif
