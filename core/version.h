/* version.h - atrest's version, printed by --version and in reports: a
 * string literal (static storage, never freed). */
#ifndef ATR_VERSION_H
#define ATR_VERSION_H

#define ATR_VERSION_STRING "0.1.0"

#endif
