/*
 * quote.h - file names and messages made safe for a line of text.
 *
 * A file name may hold any byte but '/' and NUL: a newline can forge a
 * whole line of a report ("[PASS] ..."), an escape sequence can erase
 * lines on a terminal or recolour them.  Every text output (errors,
 * progress, inspect, verify's summary) prints names through these; JSON
 * and JUnit encode the exact bytes themselves.
 *
 * atr_quote() is for names, in the style of GNU ls
 * --quoting-style=shell-escape: a name of ordinary characters is printed
 * as it is (so existing outputs do not change), a name with spaces,
 * quotes or shell metacharacters is put in single quotes, and a name with
 * a control character, an invalid UTF-8 byte or a Unicode character that
 * moves or reorders text (line/paragraph separators, bidirectional
 * overrides) is printed as a bash ANSI-C string $'...' in which every
 * such byte is an escape (\n, \t, \033, ...).  The result can be pasted
 * back into a POSIX shell (bash, zsh, ksh for $'...') to name the file.
 *
 * atr_escape() is for free text (an error's detail, a finding's message):
 * the same bytes are escaped as \n, \033, ... and nothing is quoted.
 *
 * Neither prints: they write into buf (cap bytes, always NUL-terminated
 * when cap > 0; "" when cap < 6) and return buf, so that a call can be
 * an argument of printf.  ATR_QUOTE_BUF holds any name of up to PATH_MAX
 * bytes; a longer input is cut at a whole escape and ends with "...".
 * The input (not NULL) is read during the call only; buf is the
 * caller's.  No state: safe from any thread, each with its own buf.
 */
#ifndef ATR_QUOTE_H
#define ATR_QUOTE_H

#include <limits.h>
#include <stddef.h>

/* Every byte may become 4 ("\ooo"), plus $'' and the NUL. */
#define ATR_QUOTE_BUF (4 * PATH_MAX + 8)

const char *atr_quote(const char *name, char *buf, size_t cap);
const char *atr_escape(const char *text, char *buf, size_t cap);

#endif
