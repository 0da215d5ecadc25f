# libshoal: protocol, RPC, event loop, config, logging, checksums, client.
noinst_LTLIBRARIES += lib/libshoal.la

# protobuf-c sources are generated at build time from proto/shoal.proto.
lib/shoal.pb-c.c lib/shoal.pb-c.h: $(top_srcdir)/proto/shoal.proto
	$(AM_V_GEN)$(MKDIR_P) lib && $(PROTOC_C) --c_out=lib -I$(top_srcdir)/proto $(top_srcdir)/proto/shoal.proto
BUILT_SOURCES += lib/shoal.pb-c.c lib/shoal.pb-c.h
CLEANFILES += lib/shoal.pb-c.c lib/shoal.pb-c.h
EXTRA_DIST += proto/shoal.proto

lib_libshoal_la_SOURCES = \
	lib/list.h \
	lib/log.c lib/log.h \
	lib/status.c lib/status.h \
	lib/crc32c.c lib/crc32c.h \
	lib/frame.c lib/frame.h \
	lib/msg_types.c lib/msg_types.h \
	lib/evloop.c lib/evloop.h \
	lib/rpc.c lib/rpc.h lib/rpc_internal.h \
	lib/rpc_server.c lib/rpc_util.c \
	lib/addr.c lib/addr.h \
	lib/config.c lib/config.h \
	lib/malloc_tune.c lib/malloc_tune.h
nodist_lib_libshoal_la_SOURCES = lib/shoal.pb-c.c lib/shoal.pb-c.h
# PIC so that the gateway module (a shared object loaded by tgtd) can link it.
lib_libshoal_la_CFLAGS = $(AM_CFLAGS) -fPIC $(PROTOBUF_C_CFLAGS) $(LIBCONFIG_CFLAGS)
lib_libshoal_la_LIBADD = $(PROTOBUF_C_LIBS) $(LIBCONFIG_LIBS) $(ISAL_LIBS)
# client side: master link and the volume client (used by bs_shoal.so and shoal-admin)
lib_libshoal_la_SOURCES += lib/master_client.c lib/master_client.h \
	lib/client.c lib/client.h lib/client_io.c lib/client_int.h \
	lib/client_link.c lib/client_orwrite.c lib/client_reset.c lib/client_split.c \
	lib/client_session.c lib/client_session.h
