/* Range locks: overlapping ranges in arrival order, disjoint ones in parallel. */
#include <CUnit/Basic.h>
#include "range_lock.h"
#include "cunit_main.h"

static int order[16], norder;

static void granted(struct cs_range *r, void *arg)
{
	order[norder++] = (int)(long)arg;
}

static void test_order(void)
{
	struct cs_range_lock l;
	struct cs_range a, b, c, d, e;

	cs_range_lock_init(&l);
	norder = 0;
	cs_range_lock(&l, &a, 0, 8192, granted, (void *)1);
	cs_range_lock(&l, &b, 8192, 16384, granted, (void *)2);	/* disjoint: now */
	cs_range_lock(&l, &c, 4096, 12288, granted, (void *)3);	/* overlaps a and b */
	cs_range_lock(&l, &d, 8192, 16384, granted, (void *)4);	/* overlaps b and waiter c */
	cs_range_lock(&l, &e, 100000, 100001, granted, (void *)5);	/* disjoint: now */
	CU_ASSERT_EQUAL(norder, 3);
	CU_ASSERT_EQUAL(order[0], 1);
	CU_ASSERT_EQUAL(order[1], 2);
	CU_ASSERT_EQUAL(order[2], 5);
	cs_range_unlock(&l, &b);		/* c still blocked by a; d by waiter c */
	CU_ASSERT_EQUAL(norder, 3);
	cs_range_unlock(&l, &a);		/* c runs; d overlaps c */
	CU_ASSERT_EQUAL(norder, 4);
	CU_ASSERT_EQUAL(order[3], 3);
	cs_range_unlock(&l, &c);
	CU_ASSERT_EQUAL(norder, 5);
	CU_ASSERT_EQUAL(order[4], 4);
	cs_range_unlock(&l, &d);
	cs_range_unlock(&l, &e);
	CU_ASSERT(cs_range_lock_idle(&l));
}

static void test_adjacent(void)
{
	struct cs_range_lock l;
	struct cs_range a, b;

	cs_range_lock_init(&l);
	norder = 0;
	cs_range_lock(&l, &a, 0, 4096, granted, (void *)1);
	cs_range_lock(&l, &b, 4096, 8192, granted, (void *)2);	/* touching, not overlapping */
	CU_ASSERT_EQUAL(norder, 2);
	cs_range_unlock(&l, &a);
	cs_range_unlock(&l, &b);
	CU_ASSERT(cs_range_lock_idle(&l));
}

int main(void)
{
	static const struct sl_cunit_test tests[] = {
		{ "order of overlapping ranges", test_order },
		{ "adjacent ranges run in parallel", test_adjacent },
		{ NULL, NULL },
	};

	return sl_cunit_run("range_lock", tests);
}
