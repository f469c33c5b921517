/*
 * util.h - the machine: online CPUs and a monotonic clock, one
 * definition for the stream, verify, bench and the Key Vault code.
 * No pointers, no state: safe from any thread.
 */
#ifndef ATR_UTIL_H
#define ATR_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Online CPUs (sysconf _SC_NPROCESSORS_ONLN), 1..4096; asked each call
 * (CPUs may come and go). */
unsigned atr_cpu_count(void);

/* CLOCK_MONOTONIC in nanoseconds: for intervals, never for dates. */
uint64_t atr_now_ns(void);

/*
 * Sizes for people, one spelling across the commands (binary units):
 * atr_fmt_bytes gives "512 B", "1.5 KiB", "2.0 GiB" (one decimal above
 * bytes); atr_size_label gives the exact label of an object size, "64K",
 * "1M", or the byte count when it is not a whole number of either (the
 * bench's cell names).  Both write into buf (cap bytes, truncating) and
 * return it.
 */
const char *atr_fmt_bytes(uint64_t bytes, char *buf, size_t cap);
const char *atr_size_label(uint64_t bytes, char *buf, size_t cap);

/*
 * The largest date (seconds since 1970) atrest accepts anywhere:
 * 9999-12-31T23:59:59Z, the last second a four-digit year of RFC 3339
 * can write, and the largest IntDate Key Vault takes.
 */
#define ATR_DATE_MAX 253402300799LL

/*
 * An ISO 8601 duration as Key Vault rotation policies write them
 * ("P90D", "P1Y", "P3M", "PT12H", "P1Y2M10DT2H30M"): PnYnMnWnD then,
 * after T, nHnMnS, each part at most once, in that order, at least one
 * part.  Years count 365 days and months 30, as Key Vault counts them
 * ("Configure cryptographic key auto-rotation",
 * https://learn.microsoft.com/en-us/azure/key-vault/keys/how-to-configure-key-rotation).
 * 0 with *secs set, -1 when s is not one (or above 100000 of a unit).
 */
int atr_iso8601_duration(const char *s, int64_t *secs);

#endif
