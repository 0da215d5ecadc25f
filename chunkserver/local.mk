# chunkserver: the storage engine as a convenience library (the daemon and
# the unit tests link the same code), then the daemon.
noinst_LTLIBRARIES += chunkserver/libcsstore.la
chunkserver_libcsstore_la_SOURCES = \
	chunkserver/aio.c chunkserver/aio.h \
	chunkserver/range_lock.c chunkserver/range_lock.h \
	chunkserver/chunk_meta.h \
	chunkserver/chunk_file.c chunkserver/cs_fs.h \
	chunkserver/chunk_store.c chunkserver/chunk_store.h \
	chunkserver/op_record.c chunkserver/op_record.h \
	chunkserver/prim_rule.c chunkserver/prim_rule.h
chunkserver_libcsstore_la_CFLAGS = $(AM_CFLAGS) $(PROTOBUF_C_CFLAGS)
chunkserver_libcsstore_la_LIBADD = $(AIO_LIBS)
# Test builds (configure --enable-crash-sim): aio.c hands every request,
# and cs_fs.h every synchronous file call, to the crash-simulating disk
# (crash_sim.h) and its undo journal (crash_undo.h).
chunkserver_libcsstore_la_CPPFLAGS = $(AM_CPPFLAGS) $(CS_CRASH_SIM_CPPFLAGS)
CS_CRASH_SIM_SOURCES = chunkserver/crash_sim.c chunkserver/crash_sim.h \
	chunkserver/crash_fs.c chunkserver/crash_undo.c chunkserver/crash_recover.c chunkserver/crash_undo.h chunkserver/crash_undo_int.h
if CRASH_SIM
chunkserver_libcsstore_la_SOURCES += $(CS_CRASH_SIM_SOURCES)
CS_CRASH_SIM_CPPFLAGS = -DSHOAL_CRASH_SIM
else
CS_CRASH_SIM_CPPFLAGS =
EXTRA_DIST += $(CS_CRASH_SIM_SOURCES)
endif

sbin_PROGRAMS += chunkserver/shoal-chunkserver
chunkserver_shoal_chunkserver_SOURCES = \
	chunkserver/chunkserver.h \
	chunkserver/disk.c chunkserver/disk.h \
	chunkserver/peers.c chunkserver/set_version.c \
	chunkserver/cs_service.c \
	chunkserver/copy.c \
	chunkserver/primary.c chunkserver/primary_read.c chunkserver/primary_int.h \
	chunkserver/gw_session.c chunkserver/gw_session.h \
	chunkserver/master_link.c \
	chunkserver/integrity.h chunkserver/reconcile.c chunkserver/scrub.c \
	chunkserver/main.c
chunkserver_shoal_chunkserver_CFLAGS = $(AM_CFLAGS) $(PROTOBUF_C_CFLAGS) $(LIBCONFIG_CFLAGS)
chunkserver_shoal_chunkserver_CPPFLAGS = $(AM_CPPFLAGS) $(CS_CRASH_SIM_CPPFLAGS)
chunkserver_shoal_chunkserver_LDADD = chunkserver/libcsstore.la lib/libshoal.la $(AIO_LIBS)
