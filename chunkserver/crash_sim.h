/*
 * Crash-simulating disk (configure --enable-crash-sim, test builds only),
 * in the manner of SQLite's crash-test VFS.  Every write the chunkserver
 * makes goes through it: aio.c hands it every libaio request and the UNMAP
 * punch, and the synchronous calls of chunk_file.c and disk.c reach it
 * through cs_fs.h.  Names and file sizes (create, O_TRUNC, ftruncate,
 * rename, unlink) go through the undo journal (crash_undo.h), which settles
 * them the same way at the next start.
 *
 * Why: kill -9 of a normal chunkserver loses nothing a power cut would
 * lose, because requests already in the kernel complete and the page cache
 * survives the process.  Here no byte reaches a file before the model says
 * the disk holds it, and the model lives in process memory, so kill -9
 * loses exactly what a power cut with volatile disk caches may lose: what
 * was not yet behind a device cache flush or a FUA write.
 *
 * The durability model grants only what ext4 and XFS grant.  It looks at
 * the file descriptors (fstat, fcntl), never at what the caller meant:
 *
 *   write + RWF_DSYNC,   durable when it completes (the kernel flushes
 *   or O_DSYNC fd        the device after it, or writes it FUA).  Nothing
 *                        else becomes durable with it (on a disk with FUA
 *                        no flush is issued), except the file's size
 *                        (crash_undo.h).
 *   plain write          completes into the "disk cache" (the unflushed
 *   (pwrite, libaio)     list): reads see it, kill -9 drops it.
 *   UNMAP's punch        a plain write of zeros that also frees the blocks:
 *   (fallocate          ordered with the writes around it (sector by
 *   PUNCH_HOLE)          sector, the newer wins), durable only by an
 *                        fdatasync of its own file (it changes the file's
 *                        extents), applied to the file by a real punch.
 *   fdatasync/fsync of   a device cache flush (blkdev_issue_flush in
 *   a regular file       ext4_sync_file and xfs_file_fsync): every plain
 *                        write that completed before it was submitted, on
 *                        the same device, becomes durable ... if it is an
 *                        O_DIRECT overwrite of blocks the file durably
 *                        held when the write was submitted (allocated in
 *                        the file, and no write that may fill a hole or
 *                        punch still pending or unflushed over them).  A
 *                        write into a hole, past the end, a buffered one or
 *                        a punch needs the sync of its own file: its
 *                        blocks' allocation (or its page cache) is that
 *                        file's business, which a flush of the device does
 *                        not commit.
 *   fdatasync/fsync of   makes no data write durable.  It persists the
 *   a directory          directory's names only (crash_undo.h): XFS forces
 *                        the log without a cache flush, ext4 with a journal
 *                        commits a transaction only if one is open.
 *
 * Timing: every request falls due 0.2..SHOAL_CRASH_SIM_MAX_US µs after it
 * was submitted (reads: pread plus an overlay of the unflushed writes).
 * Making writes durable is torn: a random subset of their 512-byte sectors
 * reaches the file first, the rest a little later (a synchronous sync
 * sleeps 0.1..1 ms in between), and only then does the durable write or
 * the sync complete.  A kill at any point thus drops unflushed writes or
 * leaves them torn at sector granularity, and never loses a write that
 * completed as durable.  A sector that reached the file hides the same
 * sector of every older write still unflushed (the disk holds the newer
 * data).  Sectors are applied through a buffered descriptor of the same
 * file, which survives kill -9 like a disk that got the sector.
 *
 * Subset mode (SHOAL_CRASH_SIM_SUBSET=1): a real disk writes its cache back
 * whenever it likes, so at a power cut any subset of the unflushed sectors
 * may be on the medium, in any order.  Each plain write (and punch) draws a
 * chance p in [0, 1]; while it is in flight each of its sectors, in random
 * order, reaches the file with probability p, and only then does it
 * complete.  A kill thus leaves a random subset of every unflushed write;
 * the rest stays unflushed until a sync covers it.  Without it, nothing
 * unflushed survives a kill (the all-or-nothing model).
 *
 * Evidence: a page of counters (struct in crash_sim.c) shared with the
 * file <first data dir>.crash-undo/sim-stats survives kill -9 in the page
 * cache; the next start logs what the cut found not yet durable ("crash-sim:
 * power cut of ...": writes and sectors, how many had reached the disk),
 * so a scenario can prove the model ran and what it did.
 */
#ifndef SHOAL_CS_CRASH_SIM_H
#define SHOAL_CS_CRASH_SIM_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct cs_aio_req;
struct sl_loop;
struct cs_csim;

/* The simulated disks of this process (created at first use). */
struct cs_csim *cs_csim_get(void);
/* On loop, kick(arg) runs when work falls due (it reaps); loop NULL: detach. */
void cs_csim_attach(struct cs_csim *s, struct sl_loop *loop, void (*kick)(void *arg), void *arg);
/* r->iocb is prepared (pread, pwrite, fdsync or fsync); r->done runs later. */
void cs_csim_submit(struct cs_csim *s, struct cs_aio_req *r);
/* UNMAP's punch of [off, off + len): r->done(r, 0) later. */
void cs_csim_submit_punch(struct cs_csim *s, struct cs_aio_req *r, int fd, off_t off, off_t len);
/* Runs what is due; completions call r->done.  *errors += failed ones. */
int cs_csim_pump(struct cs_csim *s, uint64_t *errors);
unsigned int cs_csim_pending(const struct cs_csim *s);
/* Microseconds until the next request falls due (0: now or nothing pending). */
uint64_t cs_csim_wait_us(const struct cs_csim *s);

/* Synchronous calls (cs_fs.h): the same model, completed before they return. */
ssize_t cs_csim_pwrite(struct cs_csim *s, int fd, const void *buf, size_t len, off_t off);
ssize_t cs_csim_pread(struct cs_csim *s, int fd, void *buf, size_t len, off_t off);
/* fdatasync/fsync of a regular file: 0 or -1 (errno). */
int cs_csim_sync(struct cs_csim *s, int fd);

/*
 * A data directory comes under the model: at the first one, logs what the
 * previous run's power cut found not yet durable (the counters page) and
 * maps a fresh page there.  0 or -1 (one line in err).
 */
int cs_csim_stats_attach(struct cs_csim *s, const char *udir, char *line, size_t linelen,
			 char *err, size_t errlen);
/* Subset mode on (SHOAL_CRASH_SIM_SUBSET=1), and a seed for the undo journal. */
bool cs_csim_subset(const struct cs_csim *s);
uint64_t cs_csim_seed(struct cs_csim *s);

#endif
