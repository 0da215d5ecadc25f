#include <malloc.h>
#include "malloc_tune.h"

/* Larger than any frame's data (SL_FRAME_MAX_DATA, 8 MiB) with headroom. */
#define SL_MMAP_THRESHOLD	(32 << 20)
#define SL_TRIM_THRESHOLD	(256 << 20)

void sl_malloc_tune_for_io(void)
{
	mallopt(M_MMAP_THRESHOLD, SL_MMAP_THRESHOLD);
	mallopt(M_TRIM_THRESHOLD, SL_TRIM_THRESHOLD);
}
