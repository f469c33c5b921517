/* see util.h */
#include "util.h"

#include <stdio.h>
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
