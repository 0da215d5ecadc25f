/*
 * A shared main() for CUnit test programs: one suite from a table, run
 * with the basic interface (its "Run Summary" lands in the test log), exit
 * status non-zero when any assertion or test failed.
 */
#ifndef SHOAL_CUNIT_MAIN_H
#define SHOAL_CUNIT_MAIN_H

#include <stdio.h>
#include <CUnit/Basic.h>

struct sl_cunit_test {
	const char *name;
	void (*fn)(void);
};

static inline int sl_cunit_run(const char *suite_name, const struct sl_cunit_test *tests)
{
	CU_pSuite suite;
	unsigned int failures;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	suite = CU_add_suite(suite_name, NULL, NULL);
	if (!suite)
		goto fail;
	for (const struct sl_cunit_test *t = tests; t->name; t++)
		if (!CU_add_test(suite, t->name, t->fn))
			goto fail;
	CU_basic_set_mode(CU_BRM_VERBOSE);
	if (CU_basic_run_tests() != CUE_SUCCESS)
		goto fail;
	failures = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	return failures ? 1 : 0;
fail:
	fprintf(stderr, "CUnit: %s\n", CU_get_error_msg());
	CU_cleanup_registry();
	return 2;
}

#endif
