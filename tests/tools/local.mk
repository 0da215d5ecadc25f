# tests/tools: rules go here
# tests/tools: libiscsi tools for the gateway scenarios (tests/cluster/4NN-*.sh)
noinst_PROGRAMS += tests/tools/iscsi_vpd tests/tools/iscsi_caw_race
tests_tools_iscsi_vpd_SOURCES = tests/tools/iscsi_vpd.c
tests_tools_iscsi_vpd_CFLAGS = $(AM_CFLAGS) $(LIBISCSI_CFLAGS)
tests_tools_iscsi_vpd_LDADD = $(LIBISCSI_LIBS)
tests_tools_iscsi_caw_race_SOURCES = tests/tools/iscsi_caw_race.c
tests_tools_iscsi_caw_race_CFLAGS = $(AM_CFLAGS) $(LIBISCSI_CFLAGS)
tests_tools_iscsi_caw_race_LDADD = $(LIBISCSI_LIBS)
# tests/tools: master_load drives shoal-master over RPC (tests/cluster/3NN-*.sh, tests/bench/master_alloc.sh)
noinst_PROGRAMS += tests/tools/master_load
tests_tools_master_load_SOURCES = tests/tools/master_load.c
tests_tools_master_load_CFLAGS = $(AM_CFLAGS) $(PROTOBUF_C_CFLAGS)
tests_tools_master_load_LDADD = lib/libshoal.la $(PROTOBUF_C_LIBS)
# tests/tools: cs_probe, a CS_* client for the chunkserver scenarios (tests/cluster/2NN-*.sh)
noinst_PROGRAMS += tests/tools/cs_probe
tests_tools_cs_probe_SOURCES = tests/tools/cs_probe.c
tests_tools_cs_probe_CFLAGS = $(AM_CFLAGS) $(PROTOBUF_C_CFLAGS) $(LIBCONFIG_CFLAGS)
tests_tools_cs_probe_LDADD = lib/libshoal.la
# tests/tools: iscsi_torture, the verifying writer of the crash-torture scenarios (tests/cluster/8NN-*.sh)
noinst_PROGRAMS += tests/tools/iscsi_torture
tests_tools_iscsi_torture_SOURCES = tests/tools/iscsi_torture.c tests/tools/tool_util.h
tests_tools_iscsi_torture_CFLAGS = $(AM_CFLAGS) $(LIBISCSI_CFLAGS)
tests_tools_iscsi_torture_LDADD = $(LIBISCSI_LIBS)
# tests/tools: iscsi_reset_ua, LUN RESET through one gateway and its UA on another (tests/cluster/405-gw-reset-ua.sh)
noinst_PROGRAMS += tests/tools/iscsi_reset_ua
tests_tools_iscsi_reset_ua_SOURCES = tests/tools/iscsi_reset_ua.c
tests_tools_iscsi_reset_ua_CFLAGS = $(AM_CFLAGS) $(LIBISCSI_CFLAGS)
tests_tools_iscsi_reset_ua_LDADD = $(LIBISCSI_LIBS)
# tests/tools: iscsi_late_write, a multipath initiator that gives up on a path (tests/cluster/76N-*.sh)
noinst_PROGRAMS += tests/tools/iscsi_late_write
tests_tools_iscsi_late_write_SOURCES = tests/tools/iscsi_late_write.c tests/tools/tool_iscsi.h
tests_tools_iscsi_late_write_CFLAGS = $(AM_CFLAGS) $(LIBISCSI_CFLAGS)
tests_tools_iscsi_late_write_LDADD = $(LIBISCSI_LIBS)
# tests/tools: iscsi_caw_outcome, COMPARE AND WRITE answers against outcomes (tests/cluster/763-*.sh)
noinst_PROGRAMS += tests/tools/iscsi_caw_outcome
tests_tools_iscsi_caw_outcome_SOURCES = tests/tools/iscsi_caw_outcome.c tests/tools/tool_iscsi.h
tests_tools_iscsi_caw_outcome_CFLAGS = $(AM_CFLAGS) $(LIBISCSI_CFLAGS)
tests_tools_iscsi_caw_outcome_LDADD = $(LIBISCSI_LIBS)
# tests/tools: iscsi_flush_check, a device flush behind every acknowledged write (tests/cluster/209-cs-device-flush.sh)
noinst_PROGRAMS += tests/tools/iscsi_flush_check
tests_tools_iscsi_flush_check_SOURCES = tests/tools/iscsi_flush_check.c tests/tools/tool_util.h
tests_tools_iscsi_flush_check_CFLAGS = $(AM_CFLAGS) $(LIBISCSI_CFLAGS)
tests_tools_iscsi_flush_check_LDADD = $(LIBISCSI_LIBS)
# tests/tools: iscsi_nemesis, the multipath workload of the nemesis (tests/nemesis/run)
noinst_PROGRAMS += tests/tools/iscsi_nemesis
tests_tools_iscsi_nemesis_SOURCES = tests/tools/iscsi_nemesis.c tests/tools/tool_util.h
tests_tools_iscsi_nemesis_CFLAGS = $(AM_CFLAGS) $(LIBISCSI_CFLAGS)
tests_tools_iscsi_nemesis_LDADD = $(LIBISCSI_LIBS)
# tests/tools: crash_preload.so, the master's power cuts (LD_PRELOAD; tests/cluster/81crash-lib.sh).
# A shared module (-rpath makes libtool build one) without sanitizers: it is loaded into other programs.
noinst_LTLIBRARIES += tests/tools/crash_preload.la
tests_tools_crash_preload_la_SOURCES = tests/tools/crash_preload.c \
	chunkserver/crash_undo.c chunkserver/crash_recover.c chunkserver/crash_undo.h chunkserver/crash_undo_int.h
tests_tools_crash_preload_la_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/chunkserver
tests_tools_crash_preload_la_CFLAGS = -std=gnu11 $(WARN_CFLAGS) -fPIC -fvisibility=hidden -pthread
tests_tools_crash_preload_la_LDFLAGS = -module -avoid-version -shared -rpath /nowhere -pthread
tests_tools_crash_preload_la_LIBADD = -ldl
# tests/tools: iscsi_capacity, an online resize as initiators see it (tests/cluster/630-*.sh)
noinst_PROGRAMS += tests/tools/iscsi_capacity
tests_tools_iscsi_capacity_SOURCES = tests/tools/iscsi_capacity.c tests/tools/tool_iscsi.h
tests_tools_iscsi_capacity_CFLAGS = $(AM_CFLAGS) $(LIBISCSI_CFLAGS)
tests_tools_iscsi_capacity_LDADD = $(LIBISCSI_LIBS)
