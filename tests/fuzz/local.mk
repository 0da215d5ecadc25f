# tests/fuzz: libFuzzer target for the wire decoder (clang only).
#
# Built by a plain rule rather than as an automake program: it needs
# clang's -fsanitize=fuzzer on every object, whatever CC is.  `make
# fuzz-check` builds it and runs it for FUZZ_SECONDS; a crash fails.
EXTRA_DIST += tests/fuzz/fuzz_frame.c tests/fuzz/gen_seeds.c tests/fuzz/run-fuzz.sh tests/fuzz/regress
FUZZ_SECONDS = 30
FUZZ_LIB_SRCS = $(top_srcdir)/lib/log.c $(top_srcdir)/lib/status.c \
	$(top_srcdir)/lib/crc32c.c $(top_srcdir)/lib/frame.c $(top_srcdir)/lib/msg_types.c \
	$(top_srcdir)/lib/evloop.c $(top_srcdir)/lib/rpc.c $(top_srcdir)/lib/rpc_util.c \
	lib/shoal.pb-c.c
FUZZ_CPPFLAGS = -std=gnu11 -D_GNU_SOURCE -I$(top_srcdir)/lib -I$(top_builddir)/lib $(PROTOBUF_C_CFLAGS)
FUZZ_LIBS = $(PROTOBUF_C_LIBS) $(ISAL_LIBS) -lpthread
CLEANFILES += tests/fuzz/fuzz_frame tests/fuzz/gen_seeds

if HAVE_CLANG
tests/fuzz/fuzz_frame: $(top_srcdir)/tests/fuzz/fuzz_frame.c $(FUZZ_LIB_SRCS) lib/shoal.pb-c.h
	$(AM_V_GEN)$(MKDIR_P) tests/fuzz && $(CLANG) $(FUZZ_CPPFLAGS) -g -O1 \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
		-o $@ $(top_srcdir)/tests/fuzz/fuzz_frame.c $(FUZZ_LIB_SRCS) $(FUZZ_LIBS)

tests/fuzz/gen_seeds: $(top_srcdir)/tests/fuzz/gen_seeds.c $(FUZZ_LIB_SRCS) lib/shoal.pb-c.h
	$(AM_V_GEN)$(MKDIR_P) tests/fuzz && $(CLANG) $(FUZZ_CPPFLAGS) -g -O1 \
		-o $@ $(top_srcdir)/tests/fuzz/gen_seeds.c $(FUZZ_LIB_SRCS) $(FUZZ_LIBS)

fuzz-check: tests/fuzz/fuzz_frame tests/fuzz/gen_seeds
	$(top_srcdir)/tests/fuzz/run-fuzz.sh tests/fuzz/fuzz_frame tests/fuzz/gen_seeds \
		tests/fuzz/work $(FUZZ_SECONDS)
else
fuzz-check:
	@echo "fuzz-check: clang not found; install the Debian package clang" >&2; exit 1
endif
.PHONY: fuzz-check

clean-local: clean-fuzz
clean-fuzz:
	rm -rf tests/fuzz/work
.PHONY: clean-fuzz
