# Test programs: each part of the system keeps its own fragment.
include $(srcdir)/tests/unit/lib.mk
include $(srcdir)/tests/unit/chunkserver.mk
include $(srcdir)/tests/unit/master.mk
include $(srcdir)/tests/unit/client.mk
include $(srcdir)/tests/fuzz/local.mk
include $(srcdir)/tests/tools/local.mk
include $(srcdir)/tests/bench/local.mk
