# bs_shoal.so: the tgt backing-store module (loaded by the stock tgtd from
# $(tgtbsdir)).  Built against the headers of the tgt source matching the
# installed tgtd; libshoal is linked in whole and everything but
# register_bs_module is hidden, so tgtd's exported symbols and ours never meet.
tgtbs_LTLIBRARIES = backing-store/bs_shoal.la
backing_store_bs_shoal_la_SOURCES = \
	backing-store/bs_shoal.c backing-store/bs_gw.c backing-store/bs_gw.h \
	backing-store/bs_reset.c backing-store/bs_reset.h \
	backing-store/bs_fence.c backing-store/bs_fence.h \
	backing-store/bs_conf.c backing-store/bs_conf.h \
	backing-store/bs_ident.c backing-store/bs_ident.h \
	backing-store/bs_sense.c backing-store/bs_sense.h
nodist_backing_store_bs_shoal_la_SOURCES = lib/shoal.pb-c.h
# tgt's headers first for its list.h/log.h/util.h; ours by path where names clash.
backing_store_bs_shoal_la_CPPFLAGS = -I$(TGT_SRC)/usr $(AM_CPPFLAGS) \
	-DUSE_SIGNALFD -DUSE_TIMERFD -DUSE_EVENTFD \
	-DTGT_VERSION=\"$(TGT_VERSION)\" -DBSDIR=\"$(tgtbsdir)\"
backing_store_bs_shoal_la_CFLAGS = $(AM_CFLAGS) -fPIC -fvisibility=hidden -fno-strict-aliasing \
	-pthread -Wno-sign-compare $(PROTOBUF_C_CFLAGS)
backing_store_bs_shoal_la_LDFLAGS = -module -avoid-version -shared -pthread \
	-Wl,-z,relro -Wl,-z,now -Wl,-Bsymbolic \
	-Wl,--version-script=$(top_srcdir)/backing-store/bs_shoal.map
backing_store_bs_shoal_la_LIBADD = lib/libshoal.la
EXTRA_DIST += backing-store/bs_shoal.map
EXTRA_backing_store_bs_shoal_la_DEPENDENCIES = $(top_srcdir)/backing-store/bs_shoal.map

# tgtd dlopen()s every entry of its module directory: leave only the .so there.
install-data-hook: bs-shoal-install-hook
bs-shoal-install-hook:
	rm -f $(DESTDIR)$(tgtbsdir)/bs_shoal.la
.PHONY: bs-shoal-install-hook
