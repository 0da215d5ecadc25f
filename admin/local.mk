# shoal-admin: the operator's CLI (volumes, chunkservers, cluster, LUNs).
sbin_PROGRAMS += admin/shoal-admin
admin_shoal_admin_SOURCES = \
	admin/admin.h \
	admin/main.c \
	admin/util.c \
	admin/json_out.c admin/json_out.h \
	admin/cmd_volume.c \
	admin/cmd_cluster.c \
	admin/cmd_chunkserver_status.c \
	admin/cmd_lun.c \
	admin/lun.h \
	admin/lun_apply.c \
	admin/lun_conf.c admin/lun_conf.h \
	admin/tgtadm.c admin/tgtadm.h
admin_shoal_admin_CPPFLAGS = $(AM_CPPFLAGS) -DSHOAL_VERSION=\"$(PACKAGE_VERSION)\"
admin_shoal_admin_CFLAGS = $(AM_CFLAGS) $(PROTOBUF_C_CFLAGS) $(LIBCONFIG_CFLAGS) $(JSONC_CFLAGS)
admin_shoal_admin_LDADD = lib/libshoal.la $(JSONC_LIBS)

# The local cluster launcher (scripts/shoal-cluster) and the example config.
dist_noinst_SCRIPTS += scripts/shoal-cluster
EXTRA_DIST += etc/shoal.conf.example

# systemd units (installed into --with-systemdunitdir), made from their .in
# files at build time so that ExecStart names the programs where `make
# install` puts them ($(sbindir): /usr/local/sbin by default, /usr/sbin with
# --prefix=/usr).
systemdunit_DATA = systemd/shoal-master.service systemd/shoal-chunkserver.service \
	systemd/shoal-gateway.service
EXTRA_DIST += systemd/shoal-master.service.in systemd/shoal-chunkserver.service.in \
	systemd/shoal-gateway.service.in
CLEANFILES += $(systemdunit_DATA)
unit_edit = $(MKDIR_P) systemd && sed -e 's|@sbindir[@]|$(sbindir)|g'
systemd/shoal-master.service: $(top_srcdir)/systemd/shoal-master.service.in Makefile
	$(AM_V_GEN)$(unit_edit) $(top_srcdir)/systemd/shoal-master.service.in >$@
systemd/shoal-chunkserver.service: $(top_srcdir)/systemd/shoal-chunkserver.service.in Makefile
	$(AM_V_GEN)$(unit_edit) $(top_srcdir)/systemd/shoal-chunkserver.service.in >$@
systemd/shoal-gateway.service: $(top_srcdir)/systemd/shoal-gateway.service.in Makefile
	$(AM_V_GEN)$(unit_edit) $(top_srcdir)/systemd/shoal-gateway.service.in >$@
