/*
 * Small helpers shared by the libiscsi test tools (iscsi_torture,
 * iscsi_nemesis): a number argument checked against its range, and the
 * splitmix64 finaliser that derives a block's content from a write's id.
 * Header-only: each tool is one source file.
 */
#ifndef SHOAL_TOOL_UTIL_H
#define SHOAL_TOOL_UTIL_H

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static inline uint64_t tool_mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* Option NAME's value V as a number MIN..MAX into *OUT; else a one-line error and -1. */
static inline int tool_num_arg(const char *prog, const char *name, const char *v, uint64_t min, uint64_t max,
			       uint64_t *out)
{
	char *end;
	unsigned long long x;

	errno = 0;
	x = v ? strtoull(v, &end, 0) : 0;
	if (!v || errno || *end || !*v || x < min || x > max || *v == '-') {
		fprintf(stderr, "%s: %s: '%s' is not a number %" PRIu64 "..%" PRIu64 "\n", prog, name,
			v ? v : "", min, max);
		return -1;
	}
	*out = x;
	return 0;
}

#endif
