# tests/unit: libshoal core (CUnit; `make check` runs them).
LIB_UNIT_TESTS = tests/unit/test_crc32c tests/unit/test_frame tests/unit/test_evloop \
	tests/unit/test_config tests/unit/test_rpc
check_PROGRAMS += $(LIB_UNIT_TESTS)
TESTS += $(LIB_UNIT_TESTS)
EXTRA_DIST += tests/unit/cunit_main.h
LIB_UNIT_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS) $(PROTOBUF_C_CFLAGS) $(LIBCONFIG_CFLAGS)
LIB_UNIT_LDADD = lib/libshoal.la $(CUNIT_LIBS) -lpthread

tests_unit_test_crc32c_SOURCES = tests/unit/test_crc32c.c
tests_unit_test_crc32c_CFLAGS = $(LIB_UNIT_CFLAGS)
tests_unit_test_crc32c_LDADD = $(LIB_UNIT_LDADD)
tests_unit_test_frame_SOURCES = tests/unit/test_frame.c
tests_unit_test_frame_CFLAGS = $(LIB_UNIT_CFLAGS)
tests_unit_test_frame_LDADD = $(LIB_UNIT_LDADD)
tests_unit_test_evloop_SOURCES = tests/unit/test_evloop.c
tests_unit_test_evloop_CFLAGS = $(LIB_UNIT_CFLAGS)
tests_unit_test_evloop_LDADD = $(LIB_UNIT_LDADD)
tests_unit_test_config_SOURCES = tests/unit/test_config.c
tests_unit_test_config_CFLAGS = $(LIB_UNIT_CFLAGS)
tests_unit_test_config_LDADD = $(LIB_UNIT_LDADD)
tests_unit_test_rpc_SOURCES = tests/unit/test_rpc.c
tests_unit_test_rpc_CFLAGS = $(LIB_UNIT_CFLAGS)
tests_unit_test_rpc_LDADD = $(LIB_UNIT_LDADD)
