# Benchmarks: built with the tree, run by hand (tests/bench/run), never in CI.
noinst_PROGRAMS += tests/bench/iscsi_load
tests_bench_iscsi_load_SOURCES = tests/bench/iscsi_load.c
tests_bench_iscsi_load_CFLAGS = $(AM_CFLAGS) $(LIBISCSI_CFLAGS)
tests_bench_iscsi_load_LDADD = $(LIBISCSI_LIBS)
