# Master unit tests (CUnit): placement, leases, FSM apply/snapshot/restore/dedup.
check_PROGRAMS += tests/unit/test_master_placement tests/unit/test_master_lease tests/unit/test_master_fsm \
	tests/unit/test_master_gw_session
TESTS += tests/unit/test_master_placement tests/unit/test_master_lease tests/unit/test_master_fsm \
	tests/unit/test_master_gw_session

MASTER_UNIT_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/master
MASTER_UNIT_LDADD = master/libmcore.la lib/libshoal.la $(CUNIT_LIBS)

tests_unit_test_master_placement_SOURCES = tests/unit/test_master_placement.c
tests_unit_test_master_placement_CPPFLAGS = $(MASTER_UNIT_CPPFLAGS)
tests_unit_test_master_placement_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS)
tests_unit_test_master_placement_LDADD = $(MASTER_UNIT_LDADD)

tests_unit_test_master_lease_SOURCES = tests/unit/test_master_lease.c
tests_unit_test_master_lease_CPPFLAGS = $(MASTER_UNIT_CPPFLAGS)
tests_unit_test_master_lease_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS)
tests_unit_test_master_lease_LDADD = $(MASTER_UNIT_LDADD)

tests_unit_test_master_fsm_SOURCES = tests/unit/test_master_fsm.c
tests_unit_test_master_fsm_CPPFLAGS = $(MASTER_UNIT_CPPFLAGS)
tests_unit_test_master_fsm_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS)
tests_unit_test_master_fsm_LDADD = $(MASTER_UNIT_LDADD)

tests_unit_test_master_gw_session_SOURCES = tests/unit/test_master_gw_session.c
tests_unit_test_master_gw_session_CPPFLAGS = $(MASTER_UNIT_CPPFLAGS)
tests_unit_test_master_gw_session_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS)
tests_unit_test_master_gw_session_LDADD = $(MASTER_UNIT_LDADD)
