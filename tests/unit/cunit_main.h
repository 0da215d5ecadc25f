/*
 * A shared main() for CUnit test programs: suites from tables, run with the
 * basic interface (its "Run Summary" lands in the test log), exit status
 * non-zero unless every registered test ran and passed.
 *
 * CUnit counts a suite whose setup or teardown failed in neither
 * CU_get_number_of_failures() nor CU_get_number_of_tests_failed(): its
 * tests are simply not run.  sl_cunit_status() counts it, and also refuses
 * a run in which fewer tests ran than were registered.
 */
#ifndef SHOAL_CUNIT_MAIN_H
#define SHOAL_CUNIT_MAIN_H

#include <stdbool.h>
#include <stdio.h>
#include <CUnit/Basic.h>

struct sl_cunit_test {
	const char *name;
	void (*fn)(void);
};

/* Adds a suite with its tests; false (CUnit's error set) on failure. */
static inline bool sl_cunit_add(const char *suite_name, CU_InitializeFunc init,
				CU_CleanupFunc clean, const struct sl_cunit_test *tests)
{
	CU_pSuite suite = CU_add_suite(suite_name, init, clean);

	if (!suite)
		return false;
	for (const struct sl_cunit_test *t = tests; t->name; t++)
		if (!CU_add_test(suite, t->name, t->fn))
			return false;
	return true;
}

/*
 * Runs every registered suite and cleans the registry up.  Returns 0 when
 * every registered test ran with no failed assertion, test, or suite setup
 * or teardown; 1 otherwise.
 */
static inline int sl_cunit_run_all(void)
{
	unsigned int failures, registered, ran, suites_failed;
	CU_ErrorCode rc;

	CU_basic_set_mode(CU_BRM_VERBOSE);
	rc = CU_basic_run_tests();	/* CUE_SINIT_FAILED etc.: counted below too */
	if (rc != CUE_SUCCESS)
		fprintf(stderr, "CUnit: %s\n", CU_get_error_msg());
	suites_failed = CU_get_number_of_suites_failed();
	failures = CU_get_number_of_failures() + CU_get_number_of_tests_failed() + suites_failed;
	registered = CU_get_registry()->uiNumberOfTests;
	ran = CU_get_number_of_tests_run();
	CU_cleanup_registry();
	if (suites_failed)
		fprintf(stderr, "CUnit: %u suite(s) failed their setup or teardown\n", suites_failed);
	if (ran != registered)
		fprintf(stderr, "CUnit: %u of %u registered tests ran\n", ran, registered);
	return failures || ran != registered || rc != CUE_SUCCESS ? 1 : 0;
}

/* One suite from a table, no setup: the common case. */
static inline int sl_cunit_run(const char *suite_name, const struct sl_cunit_test *tests)
{
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	if (!sl_cunit_add(suite_name, NULL, NULL, tests)) {
		fprintf(stderr, "CUnit: %s\n", CU_get_error_msg());
		CU_cleanup_registry();
		return 2;
	}
	return sl_cunit_run_all();
}

#endif
