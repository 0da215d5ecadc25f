/*
 * Keep I/O-sized buffers on the heap instead of fresh mmaps.
 *
 * glibc serves allocations above M_MMAP_THRESHOLD (adaptive, starting at
 * 128 KiB) with a new mmap and returns them with munmap, so every 1 MiB
 * request buffer cost ~256 page faults: measured 45% of the gateway I/O
 * thread's time and half the sequential-read throughput
 * (doc/benchmarks.md).  Raising both thresholds keeps freed buffers for
 * reuse.  Called once at start by the chunkserver and by the gateway
 * module (where it applies to all of tgtd, whose own buffers benefit too).
 */
#ifndef SHOAL_MALLOC_TUNE_H
#define SHOAL_MALLOC_TUNE_H

void sl_malloc_tune_for_io(void);

#endif
