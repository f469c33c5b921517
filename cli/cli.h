/*
 * cli.h - what every subcommand file shares.
 *
 * A command is int cmd_NAME(int argc, char **argv), argv[0] being the
 * command's name.  It parses its own arguments (getopt_long), calls the
 * layers below and prints.  It returns the process exit code: 0 success,
 * 1 the data failed authentication or no key opens it (or, for verify
 * and bench compare, a finding/regression), 2 usage, configuration or I/O
 * error; bench compare also 3, a cell it could not judge (docs/BENCH.md).
 */
#ifndef ATR_CLI_H
#define ATR_CLI_H

#include <stdio.h>

#include "err.h"
#include "version.h"

int cmd_encrypt(int argc, char **argv);
int cmd_decrypt(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_keygen(int argc, char **argv);
int cmd_vault(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_rewrap(int argc, char **argv);
int cmd_report(int argc, char **argv);

/* "atrest: WHAT: REASON[: DETAIL]" on stderr, one line, the detail
 * being this thread's atr_detail(), which is then cleared.  what may be
 * NULL.  Returns atr_exit_code(err). */
int cli_error(const char *what, enum atr_err err);
/* "atrest: WHAT: message" on stderr; returns 2 (usage). */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
int cli_usage_error(const char *cmd, const char *fmt, ...);
/* make lint only: the result, which an analyser cannot see from here
 * (core/err.h, atr_fail). */
#if defined(ATR_LINT)
#define cli_usage_error(...) ((void)cli_usage_error(__VA_ARGS__), 2)
#endif
#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
void cli_warn(const char *fmt, ...);

/* 1 when stderr is a terminal (progress lines) / colour is allowed. */
int cli_stderr_tty(void);
int cli_color(FILE *f);

#endif
