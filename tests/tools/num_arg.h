/*
 * A numeric command-line value for the test tools: the whole string a
 * decimal or 0x number in [min, max], else one line naming the option on
 * stderr and -1.  The including file defines `prog`.
 */
#ifndef SHOAL_TEST_NUM_ARG_H
#define SHOAL_TEST_NUM_ARG_H

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static int num_arg(const char *name, const char *v, uint64_t min, uint64_t max, uint64_t *out)
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
