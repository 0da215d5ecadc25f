# chunkserver: the storage engine as a convenience library (the daemon and
# the unit tests link the same code), then the daemon.
noinst_LTLIBRARIES += chunkserver/libcsstore.la
chunkserver_libcsstore_la_SOURCES = \
	chunkserver/aio.c chunkserver/aio.h \
	chunkserver/range_lock.c chunkserver/range_lock.h \
	chunkserver/chunk_meta.h \
	chunkserver/chunk_file.c \
	chunkserver/chunk_store.c chunkserver/chunk_store.h \
	chunkserver/op_record.c chunkserver/op_record.h
chunkserver_libcsstore_la_CFLAGS = $(AM_CFLAGS) $(PROTOBUF_C_CFLAGS)
chunkserver_libcsstore_la_LIBADD = $(AIO_LIBS)
# Test builds (configure --enable-crash-sim): aio.c hands every request to
# the crash-simulating backend (crash_sim.h).
chunkserver_libcsstore_la_CPPFLAGS = $(AM_CPPFLAGS) $(CS_CRASH_SIM_CPPFLAGS)
if CRASH_SIM
chunkserver_libcsstore_la_SOURCES += chunkserver/crash_sim.c chunkserver/crash_sim.h
CS_CRASH_SIM_CPPFLAGS = -DSHOAL_CRASH_SIM
else
CS_CRASH_SIM_CPPFLAGS =
EXTRA_DIST += chunkserver/crash_sim.c chunkserver/crash_sim.h
endif

sbin_PROGRAMS += chunkserver/shoal-chunkserver
chunkserver_shoal_chunkserver_SOURCES = \
	chunkserver/chunkserver.h \
	chunkserver/disk.c chunkserver/disk.h \
	chunkserver/cs_service.c \
	chunkserver/copy.c \
	chunkserver/primary.c \
	chunkserver/gw_session.c chunkserver/gw_session.h \
	chunkserver/master_link.c \
	chunkserver/integrity.h chunkserver/reconcile.c chunkserver/scrub.c \
	chunkserver/main.c
chunkserver_shoal_chunkserver_CFLAGS = $(AM_CFLAGS) $(PROTOBUF_C_CFLAGS) $(LIBCONFIG_CFLAGS)
chunkserver_shoal_chunkserver_LDADD = chunkserver/libcsstore.la lib/libshoal.la $(AIO_LIBS)
