/*
 * util.c - the small helpers every verify file may use: the 64-bit
 * mixer, the path hash that partitions a store into shards and samples
 * objects, and the walk's path order.  Nothing here knows the
 * report or the checks.
 */
#include <stdlib.h>
#include <string.h>

#include "vfy_int.h"

uint64_t
vfy_mix64(uint64_t x)
{
	/* splitmix64's finalizer: every input bit reaches every output bit. */
	x ^= x >> 30;
	x *= 0xBF58476D1CE4E5B9ULL;
	x ^= x >> 27;
	x *= 0x94D049BB133111EBULL;
	x ^= x >> 31;
	return x;
}

uint64_t
vfy_path_hash(const char *salt, const char *rel)
{
	uint64_t h = 1469598103934665603ULL;
	const unsigned char *p;

	for (p = (const unsigned char *)salt; *p; p++) {
		h ^= *p;
		h *= 1099511628211ULL;
	}
	h ^= 0;
	h *= 1099511628211ULL;
	for (p = (const unsigned char *)rel; *p; p++) {
		h ^= *p;
		h *= 1099511628211ULL;
	}
	return vfy_mix64(h);
}

int
vfy_in_shard(const char *rel, unsigned k, unsigned n)
{
	if (n <= 1)
		return 1;
	return vfy_path_hash("shard", rel) % n + 1 == k;
}

int
vfy_path_cmp(const char *a, const char *b)
{
	const unsigned char *x = (const unsigned char *)a;
	const unsigned char *y = (const unsigned char *)b;

	/* The walk visits a directory's entries in byte order, depth first:
	 * "a/b" comes before "a.c".  Comparing with '/' as the lowest byte
	 * gives that order for whole paths. */
	for (; *x && *x == *y; x++, y++)
		;
	if (*x == *y)
		return 0;
	if (*x == '\0')
		return -1;
	if (*y == '\0')
		return 1;
	if (*x == '/')
		return -1;
	if (*y == '/')
		return 1;
	return *x < *y ? -1 : 1;
}
