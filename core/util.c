/* see util.h */
#include "util.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

unsigned
atr_cpu_count(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1U : n > 4096 ? 4096U : (unsigned)n;
}

uint64_t
atr_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000U + (uint64_t)ts.tv_nsec;
}

const char *
atr_fmt_bytes(uint64_t bytes, char *buf, size_t cap)
{
	static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double v = (double)bytes;
	unsigned i = 0;

	while (v >= 1024.0 && i + 1 < sizeof(unit) / sizeof(unit[0])) {
		v /= 1024.0;
		i++;
	}
	if (i == 0)
		snprintf(buf, cap, "%llu B", (unsigned long long)bytes);
	else
		snprintf(buf, cap, "%.1f %s", v, unit[i]);
	return buf;
}

const char *
atr_size_label(uint64_t bytes, char *buf, size_t cap)
{
	if (bytes >= 1024ULL * 1024 && bytes % (1024ULL * 1024) == 0)
		snprintf(buf, cap, "%lluM", (unsigned long long)(bytes >> 20));
	else if (bytes >= 1024 && bytes % 1024 == 0)
		snprintf(buf, cap, "%lluK", (unsigned long long)(bytes >> 10));
	else
		snprintf(buf, cap, "%llu", (unsigned long long)bytes);
	return buf;
}

int
atr_iso8601_duration(const char *s, int64_t *secs)
{
	/* The designators in their order: date part, then time part. */
	static const char date_units[] = "YMWD", time_units[] = "HMS";
	static const int64_t date_secs[] = {365 * 86400, 30 * 86400,
	    7 * 86400, 86400};
	static const int64_t time_secs[] = {3600, 60, 1};
	const char *units = date_units, *u;
	const int64_t *mult = date_secs;
	int64_t total = 0;
	size_t next = 0;
	int parts = 0;

	if (s == NULL || *s++ != 'P')
		return -1;
	while (*s != '\0') {
		int64_t n = 0;
		int digits = 0;

		if (*s == 'T' && units == date_units) {
			units = time_units;
			mult = time_secs;
			next = 0;
			s++;
			if (*s == '\0')
				return -1;
			continue;
		}
		while (*s >= '0' && *s <= '9' && digits < 7) {
			n = n * 10 + (*s++ - '0');
			digits++;
		}
		if (digits == 0 || n > 100000 || *s == '\0')
			return -1;
		u = strchr(units + next, *s);
		if (u == NULL)
			return -1;
		total += n * mult[u - units];
		next = (size_t)(u - units) + 1;
		parts++;
		s++;
	}
	if (parts == 0)
		return -1;
	*secs = total;
	return 0;
}
