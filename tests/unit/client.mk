# tests/unit: the volume client and the gateway module's pure parts (CUnit).
CLIENT_UNIT_TESTS = tests/unit/test_client_split tests/unit/test_client_io \
	tests/unit/test_master_client
check_PROGRAMS += $(CLIENT_UNIT_TESTS)
TESTS += $(CLIENT_UNIT_TESTS)
CLIENT_UNIT_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS) $(PROTOBUF_C_CFLAGS)
CLIENT_UNIT_LDADD = lib/libshoal.la $(CUNIT_LIBS) -lpthread

tests_unit_test_client_split_SOURCES = tests/unit/test_client_split.c \
	backing-store/bs_sense.c backing-store/bs_ident.c
tests_unit_test_client_split_CFLAGS = $(CLIENT_UNIT_CFLAGS)
tests_unit_test_client_split_LDADD = $(CLIENT_UNIT_LDADD)
tests_unit_test_client_io_SOURCES = tests/unit/test_client_io.c
tests_unit_test_client_io_CFLAGS = $(CLIENT_UNIT_CFLAGS)
tests_unit_test_client_io_LDADD = $(CLIENT_UNIT_LDADD)
tests_unit_test_master_client_SOURCES = tests/unit/test_master_client.c
tests_unit_test_master_client_CFLAGS = $(CLIENT_UNIT_CFLAGS)
tests_unit_test_master_client_LDADD = $(CLIENT_UNIT_LDADD)
