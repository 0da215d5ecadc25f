/*
 * Crash-simulating I/O backend (configure --enable-crash-sim, test builds
 * only), in the manner of SQLite's crash-test VFS.  aio.c hands every
 * request to it instead of io_submit() when SHOAL_CRASH_SIM is defined.
 *
 * Why: kill -9 of a normal chunkserver loses nothing a power cut would
 * lose, because requests already in the kernel complete and the page cache
 * survives the process.  Here nothing reaches the file before the backend
 * says it is durable, and the backend lives in process memory, so kill -9
 * loses exactly the writes that a power cut with volatile disk caches may
 * lose: those not yet behind a device cache flush or a FUA write.
 *
 * The durability model grants only what ext4 and XFS grant.  It looks at
 * the file descriptors (fstat, fcntl), never at what the caller meant:
 *
 *   write + RWF_DSYNC,   durable when it completes (the kernel flushes
 *   or O_DSYNC fd        the device after it, or writes it FUA).  Nothing
 *                        else becomes durable with it: on a disk with FUA
 *                        no flush is issued.
 *   plain write          completes into the "disk cache" (the unflushed
 *                        list): reads see it, kill -9 drops it.
 *   fdatasync/fsync of   a device cache flush (blkdev_issue_flush in
 *   a regular file       ext4_sync_file and xfs_file_fsync): every plain
 *                        write that completed before it was submitted, on
 *                        the same device, becomes durable ... if it is an
 *                        O_DIRECT overwrite of blocks the file already
 *                        held (durably) when the write was submitted.  A
 *                        write into a hole, or past the end, or a buffered
 *                        one, needs the sync of its own file: its blocks'
 *                        allocation (or its page cache) is that file's
 *                        business, which a flush of the device does not
 *                        commit.
 *   fdatasync/fsync of   makes no data write durable.  It persists the
 *   a directory          directory's entries only (XFS forces the log
 *                        without a cache flush, ext4 with a journal commits
 *                        a transaction only if one is open); entries are
 *                        not modelled here (creates, renames and unlinks go
 *                        to the file system directly).
 *
 * Timing: every request falls due 0.2..SHOAL_CRASH_SIM_MAX_US µs after it
 * was submitted (reads: pread plus an overlay of the unflushed writes).
 * Making writes durable is torn: a random subset of their 512-byte sectors
 * reaches the file first, the rest a little later, and only then does the
 * durable write or the sync complete.  A kill at any point thus drops
 * unflushed writes or leaves them torn at sector granularity, and never
 * loses a write that completed as durable.  A sector that reached the file
 * hides the same sector of every older write still unflushed (the disk
 * holds the newer data).  Sectors are applied through a buffered descriptor
 * of the same file, which survives kill -9 like a disk that got the sector.
 */
#ifndef SHOAL_CS_CRASH_SIM_H
#define SHOAL_CS_CRASH_SIM_H

#include <stdint.h>

struct cs_aio_req;
struct sl_loop;
struct cs_csim;

struct cs_csim *cs_csim_new(void);
void cs_csim_free(struct cs_csim *s);
/* On loop, kick(arg) runs when work falls due (it reaps); loop NULL: detach. */
void cs_csim_attach(struct cs_csim *s, struct sl_loop *loop, void (*kick)(void *arg), void *arg);
/* r->iocb is prepared (pread, pwrite, fdsync or fsync); r->done runs later. */
void cs_csim_submit(struct cs_csim *s, struct cs_aio_req *r);
/* Runs what is due; completions call r->done.  *errors += failed ones. */
int cs_csim_pump(struct cs_csim *s, uint64_t *errors);
unsigned int cs_csim_pending(const struct cs_csim *s);
/* Microseconds until the next request falls due (0: now or nothing pending). */
uint64_t cs_csim_wait_us(const struct cs_csim *s);

#endif
