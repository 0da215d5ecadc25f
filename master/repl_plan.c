#include <stdlib.h>
#include "repl_plan.h"

uint32_t repl_need_key(int good, bool active)
{
	return (uint32_t)good * 2 + !active;
}

static int need_cmp(const void *a, const void *b)
{
	const struct repl_need *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return x->slot < y->slot ? -1 : x->slot > y->slot;
}

void repl_order(struct repl_need *needs, uint32_t n)
{
	if (n)
		qsort(needs, n, sizeof(*needs), need_cmp);
}
