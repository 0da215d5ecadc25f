# tests/unit: chunkserver storage engine (real files, O_DIRECT, libaio).
check_PROGRAMS += tests/unit/test_chunk_store tests/unit/test_chunk_range_lock
TESTS += tests/unit/test_chunk_store tests/unit/test_chunk_range_lock
tests_unit_test_chunk_store_SOURCES = tests/unit/test_chunk_store.c
tests_unit_test_chunk_store_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/chunkserver
tests_unit_test_chunk_store_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS) $(PROTOBUF_C_CFLAGS)
tests_unit_test_chunk_store_LDADD = chunkserver/libcsstore.la lib/libshoal.la $(CUNIT_LIBS) $(AIO_LIBS)
tests_unit_test_chunk_range_lock_SOURCES = tests/unit/test_chunk_range_lock.c
tests_unit_test_chunk_range_lock_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/chunkserver
tests_unit_test_chunk_range_lock_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS) $(PROTOBUF_C_CFLAGS)
tests_unit_test_chunk_range_lock_LDADD = chunkserver/libcsstore.la lib/libshoal.la $(CUNIT_LIBS) $(AIO_LIBS)
# resync tracking (per-track modification versions in the .meta file)
check_PROGRAMS += tests/unit/test_chunk_resync
TESTS += tests/unit/test_chunk_resync
tests_unit_test_chunk_resync_SOURCES = tests/unit/test_chunk_resync.c
tests_unit_test_chunk_resync_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/chunkserver
tests_unit_test_chunk_resync_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS) $(PROTOBUF_C_CFLAGS)
tests_unit_test_chunk_resync_LDADD = chunkserver/libcsstore.la lib/libshoal.la $(CUNIT_LIBS) $(AIO_LIBS)
# COMPARE AND WRITE outcome records (chunkserver/op_record.h)
check_PROGRAMS += tests/unit/test_op_record
TESTS += tests/unit/test_op_record
tests_unit_test_op_record_SOURCES = tests/unit/test_op_record.c
tests_unit_test_op_record_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/chunkserver
tests_unit_test_op_record_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS)
tests_unit_test_op_record_LDADD = chunkserver/libcsstore.la lib/libshoal.la $(CUNIT_LIBS) $(AIO_LIBS)
# the crash model's undo journal (chunkserver/crash_undo.h; built into crash-sim chunkservers and the master's preload)
check_PROGRAMS += tests/unit/test_crash_undo
TESTS += tests/unit/test_crash_undo
tests_unit_test_crash_undo_SOURCES = tests/unit/test_crash_undo.c chunkserver/crash_undo.c chunkserver/crash_recover.c chunkserver/crash_undo.h chunkserver/crash_undo_int.h
tests_unit_test_crash_undo_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/chunkserver
tests_unit_test_crash_undo_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS)
tests_unit_test_crash_undo_LDADD = $(CUNIT_LIBS)
# the crash-simulating disk itself (chunkserver/crash_sim.h), built here with SHOAL_CRASH_SIM
check_PROGRAMS += tests/unit/test_crash_sim
TESTS += tests/unit/test_crash_sim
tests_unit_test_crash_sim_SOURCES = tests/unit/test_crash_sim.c \
	chunkserver/aio.c chunkserver/chunk_file.c chunkserver/chunk_store.c chunkserver/range_lock.c \
	chunkserver/crash_sim.c chunkserver/crash_fs.c chunkserver/crash_undo.c chunkserver/crash_recover.c
tests_unit_test_crash_sim_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/chunkserver -DSHOAL_CRASH_SIM
tests_unit_test_crash_sim_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS) $(PROTOBUF_C_CFLAGS)
tests_unit_test_crash_sim_LDADD = lib/libshoal.la $(CUNIT_LIBS) $(AIO_LIBS)
