# shoal-master: metadata master on libraft.
# The core (state machine, placement, leases) is a convenience library so
# that unit tests link exactly the code the daemon runs.
noinst_LTLIBRARIES += master/libmcore.la
master_libmcore_la_SOURCES = \
	master/codec.h \
	master/chunk_map.c master/chunk_map.h \
	master/volume.c master/volume.h \
	master/cs_registry.c master/cs_registry.h \
	master/placement.c master/placement.h \
	master/repl_plan.c master/repl_plan.h \
	master/lease.c master/lease.h \
	master/gw_session.c master/gw_session.h \
	master/maintenance.c master/maintenance.h \
	master/fsm.c master/fsm.h master/fsm_int.h master/fsm_snapshot.c
master_libmcore_la_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/master

sbin_PROGRAMS += master/shoal-master
master_shoal_master_SOURCES = \
	master/master.h \
	master/raft_glue.c master/raft_glue.h \
	master/m_op.c master/m_op.h \
	master/m_service.c master/m_service.h \
	master/m_volume.c master/m_status.c \
	master/m_chunk.c master/m_cs.c \
	master/m_session.c \
	master/replication.c master/replication.h \
	master/main.c
master_shoal_master_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/master
master_shoal_master_CFLAGS = $(AM_CFLAGS) $(RAFT_CFLAGS) $(UV_CFLAGS) $(PROTOBUF_C_CFLAGS)
master_shoal_master_LDADD = master/libmcore.la lib/libshoal.la $(RAFT_LIBS) $(UV_LIBS) $(PROTOBUF_C_LIBS)
