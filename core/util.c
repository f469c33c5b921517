/* see util.h */
#include "util.h"

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
