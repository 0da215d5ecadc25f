# tests/fuzz: libFuzzer targets (clang only).
#
#   fuzz_frame  the wire decoder: frame headers, protobuf decoding, round trip
#   fuzz_cs     the chunkserver's request handlers, behind the real RPC
#               server, on a real data directory (fuzz_cs.c)
#
# Both mutate through fuzz_fixup.h, which makes the CRCs of mutated frames
# right again so that mutations reach what lies behind the CRC checks.
# Built by plain rules rather than as automake programs: they need clang's
# -fsanitize=fuzzer on every object, whatever CC is.  `make fuzz-check`
# builds them and runs them for FUZZ_SECONDS in all (FUZZ_FRAME_SECONDS,
# the rest for fuzz_cs, which does disk I/O per input); a crash fails.
EXTRA_DIST += tests/fuzz/fuzz_frame.c tests/fuzz/fuzz_cs.c tests/fuzz/fuzz_fixup.h \
	tests/fuzz/gen_seeds.c tests/fuzz/run-fuzz.sh tests/fuzz/regress
FUZZ_SECONDS = 30
FUZZ_FRAME_SECONDS = 10
FUZZ_LIB_SRCS = $(top_srcdir)/lib/log.c $(top_srcdir)/lib/status.c \
	$(top_srcdir)/lib/crc32c.c $(top_srcdir)/lib/frame.c $(top_srcdir)/lib/msg_types.c \
	$(top_srcdir)/lib/evloop.c $(top_srcdir)/lib/rpc.c $(top_srcdir)/lib/rpc_util.c $(top_srcdir)/lib/addr.c \
	lib/shoal.pb-c.c
# fuzz_cs: the chunkserver daemon's sources but main.c, and all of libshoal,
# taken from their automake lists (so a new source file comes along); the
# recipe keeps the .c files.
FUZZ_CS_LISTS = $(chunkserver_libcsstore_la_SOURCES) $(chunkserver_shoal_chunkserver_SOURCES) \
	$(lib_libshoal_la_SOURCES)
FUZZ_CPPFLAGS = -std=gnu11 -D_GNU_SOURCE -I$(top_srcdir)/lib -I$(top_builddir)/lib $(PROTOBUF_C_CFLAGS)
FUZZ_CFLAGS = -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
FUZZ_LIBS = $(PROTOBUF_C_LIBS) $(ISAL_LIBS) -lpthread
CLEANFILES += tests/fuzz/fuzz_frame tests/fuzz/fuzz_cs tests/fuzz/gen_seeds

if HAVE_CLANG
tests/fuzz/fuzz_frame: $(top_srcdir)/tests/fuzz/fuzz_frame.c $(top_srcdir)/tests/fuzz/fuzz_fixup.h \
		$(FUZZ_LIB_SRCS) lib/shoal.pb-c.h
	$(AM_V_GEN)$(MKDIR_P) tests/fuzz && $(CLANG) $(FUZZ_CPPFLAGS) $(FUZZ_CFLAGS) \
		-o $@ $(top_srcdir)/tests/fuzz/fuzz_frame.c $(FUZZ_LIB_SRCS) $(FUZZ_LIBS)

tests/fuzz/fuzz_cs: $(top_srcdir)/tests/fuzz/fuzz_cs.c $(top_srcdir)/tests/fuzz/fuzz_fixup.h \
		$(FUZZ_CS_LISTS) lib/shoal.pb-c.c lib/shoal.pb-c.h
	$(AM_V_GEN)srcs=; for f in $(FUZZ_CS_LISTS); do \
		case $$f in chunkserver/main.c) ;; *.c) srcs="$$srcs $(top_srcdir)/$$f" ;; esac; \
	done; \
	$(MKDIR_P) tests/fuzz && $(CLANG) $(FUZZ_CPPFLAGS) -I$(top_srcdir)/chunkserver \
		$(LIBCONFIG_CFLAGS) $(FUZZ_CFLAGS) -o $@ $(top_srcdir)/tests/fuzz/fuzz_cs.c $$srcs \
		lib/shoal.pb-c.c $(FUZZ_LIBS) $(AIO_LIBS) $(LIBCONFIG_LIBS)

tests/fuzz/gen_seeds: $(top_srcdir)/tests/fuzz/gen_seeds.c $(FUZZ_LIB_SRCS) lib/shoal.pb-c.h
	$(AM_V_GEN)$(MKDIR_P) tests/fuzz && $(CLANG) $(FUZZ_CPPFLAGS) -g -O1 \
		-o $@ $(top_srcdir)/tests/fuzz/gen_seeds.c $(FUZZ_LIB_SRCS) $(FUZZ_LIBS)

fuzz-check: tests/fuzz/fuzz_frame tests/fuzz/fuzz_cs tests/fuzz/gen_seeds
	$(top_srcdir)/tests/fuzz/run-fuzz.sh tests/fuzz/fuzz_frame tests/fuzz/gen_seeds \
		tests/fuzz/work $(FUZZ_FRAME_SECONDS)
	$(top_srcdir)/tests/fuzz/run-fuzz.sh tests/fuzz/fuzz_cs tests/fuzz/gen_seeds \
		tests/fuzz/work-cs $$(($(FUZZ_SECONDS) - $(FUZZ_FRAME_SECONDS)))
else
fuzz-check:
	@echo "fuzz-check: clang not found; install the Debian package clang" >&2; exit 1
endif
.PHONY: fuzz-check

clean-local: clean-fuzz
clean-fuzz:
	rm -rf tests/fuzz/work tests/fuzz/work-cs
.PHONY: clean-fuzz
