/*
 * libaio behind one small interface: the chunkserver's only path to its disks
 * for block data.  Requests are iocbs submitted with io_submit(); every
 * iocb signals one eventfd (io_set_eventfd) that the sl_loop watches, and
 * the loop callback reaps completions with a non-blocking io_getevents().
 * No thread per request: the kernel does the work, the loop thread finishes it.
 *
 * Invariant: a submitted request's done() runs exactly once, on the thread
 * that calls cs_aio_reap() (the loop thread), with res = bytes or -errno.
 * When the kernel queue is full (EAGAIN) requests wait in a FIFO and are
 * submitted as completions free slots, so callers never see EAGAIN.
 */
#ifndef SHOAL_CS_AIO_H
#define SHOAL_CS_AIO_H

#include <libaio.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "list.h"

struct sl_loop;
struct cs_aio;

struct cs_aio_req {
	struct iocb iocb;
	struct list_head wait;		/* on the FIFO while the kernel queue is full; punch queues */
	off_t punch_off, punch_len;	/* cs_aio_punch */
	long punch_res;
	struct list_head busy;		/* in the kernel, oldest first (cs_aio_oldest) */
	uint64_t submitted_ms;
	void (*done)(struct cs_aio_req *r, long res);
	void *arg;
};

struct cs_aio_stats {
	uint64_t submitted, completed, errors, queued_full, in_flight;
};

/* depth: kernel queue size (io_setup nr_events). NULL on failure (errno set). */
struct cs_aio *cs_aio_new(unsigned int depth);
/* Waits for every in-flight request (bounded by 30 s), then frees. */
void cs_aio_free(struct cs_aio *a);
/* Watch the eventfd on loop: completions are then reaped by the loop. */
int cs_aio_attach(struct cs_aio *a, struct sl_loop *loop);
void cs_aio_detach(struct cs_aio *a);

/* rw_flags: RWF_DSYNC for a write that must be durable when done() runs. */
void cs_aio_pread(struct cs_aio *a, struct cs_aio_req *r, int fd, void *buf, size_t len, off_t off);
void cs_aio_pwrite(struct cs_aio *a, struct cs_aio_req *r, int fd, const void *buf, size_t len,
		   off_t off, int rw_flags);

/*
 * fallocate(fd, PUNCH_HOLE | KEEP_SIZE, off, len) on a helper thread (no
 * AIO opcode exists for it, and it can block on a busy disk for long):
 * done() runs on the reaping thread like any request, res 0 or -errno.
 */
void cs_aio_punch(struct cs_aio *a, struct cs_aio_req *r, int fd, off_t off, off_t len);
/*
 * fdatasync(fd) as an AIO request (generic since Linux 4.18): res 0 or
 * -errno.  Of a regular file on ext4 or XFS it also flushes the device's
 * cache (chunk_store.h, struct cs_disk_flush); of a directory it does not.
 */
void cs_aio_fdsync(struct cs_aio *a, struct cs_aio_req *r, int fd);

/*
 * Reaps completions and runs their done() callbacks; waits up to
 * timeout_ms (0: poll) for at least one when any is in flight.  Returns the
 * number reaped or -errno.  Used by the loop callback and by unit tests that
 * drive the store without a loop.
 */
int cs_aio_reap(struct cs_aio *a, int timeout_ms);
unsigned int cs_aio_in_flight(const struct cs_aio *a);
/*
 * Calls fn(fd, age_ms, arg) for each request that has waited in the kernel
 * longer than older_than_ms, oldest first, at most `max` of them: a disk
 * that stops completing requests shows here (disk.h, cs_disks_hung_check).
 */
void cs_aio_for_each_stuck(const struct cs_aio *a, uint64_t older_than_ms, unsigned int max,
			   void (*fn)(int fd, uint64_t age_ms, void *arg), void *arg);
void cs_aio_get_stats(const struct cs_aio *a, struct cs_aio_stats *st);

#endif
