/*
 * util.h - the machine: online CPUs and a monotonic clock, one
 * definition for the stream, verify, bench and the Key Vault code.
 * No pointers, no state: safe from any thread.
 */
#ifndef ATR_UTIL_H
#define ATR_UTIL_H

#include <stdint.h>

/* Online CPUs (sysconf _SC_NPROCESSORS_ONLN), 1..4096; asked each call
 * (CPUs may come and go). */
unsigned atr_cpu_count(void);

/* CLOCK_MONOTONIC in nanoseconds: for intervals, never for dates. */
uint64_t atr_now_ns(void);

/*
 * The largest date (seconds since 1970) atrest accepts anywhere:
 * 9999-12-31T23:59:59Z, the last second a four-digit year of RFC 3339
 * can write, and the largest IntDate Key Vault takes.
 */
#define ATR_DATE_MAX 253402300799LL

#endif
