/*
 * The undo journal of a simulated power cut (test builds only): the
 * crash-sim chunkserver's names and file sizes (crash_sim.h) and, in the
 * crash preload library (tests/tools/crash_preload.c), every change the
 * master makes to its Raft directory.
 *
 * A tracked directory tree (a "root") always holds what the page cache
 * would hold: changes are made to it at once.  Before each change, a record
 * of how to take it back is appended to <root>.crash-undo/journal (a file
 * beside the root, on the same filesystem, so that an unlinked or replaced
 * file can live on there as a hard link, a "grave").  kill -9 keeps the
 * page cache, so the journal survives it; the next cu_tree_open() of the
 * root settles what the power cut left: every change not yet durable is
 * taken back, or (subset mode) kept or taken back at random within what a
 * disk could have done, and the journal starts empty again.
 *
 * When a change is durable (what ext4 with a journal and XFS grant; the
 * model grants less where they differ):
 *   a name: create, rename  by an fsync of the directory holding the (new)
 *   (the new name), unlink  name.  An fsync of the file does not count:
 *                           ext4 and XFS happen to commit the name with it
 *                           when the inode is new, POSIX does not promise it.
 *   a file's size:          by fsync/fdatasync of the file, or by an
 *   ftruncate, O_TRUNC,     O_DSYNC/RWF_DSYNC write to it completing: the
 *   fallocate (mode 0)      size is metadata fdatasync must commit for the
 *                           data to be read back (ext4's i_datasync_tid,
 *                           XFS's ili_fsync_fields include it).
 *   bytes (cu_write_*;      by the write's own completion if it is O_DSYNC or
 *   the preload only: the   RWF_DSYNC, else by an fsync/fdatasync of the
 *   chunkserver keeps its   file issued after the write completed.  A write
 *   data in crash_sim.c)    still in flight (an io_submit not yet reaped) is
 *                           never durable, whatever its flags.
 *
 * What a cut leaves of the changes not durable:
 *   - default mode: nothing: all of them are taken back;
 *   - subset mode: names and sizes keep a random prefix of their changes
 *     (jbd2 and the XFS log commit metadata transactions in order, so what
 *     reached the disk is a prefix); bytes keep a random subset of their
 *     512-byte sectors, each sector some point of its own history (its
 *     durable content, or one of its later writes: a disk never writes an
 *     older version of a sector over a newer one).
 *
 * Not modelled: mkdir (the chunkserver's and the master's directories are
 * created before anything is written into them, and every later name in
 * them is made durable by an fsync of them); writes through a descriptor
 * of a file unlinked meanwhile; hard links; cross-directory renames are
 * durable only with the new name's directory.
 *
 * Process-wide: the trees stand for the filesystems of the machine, shared
 * by every descriptor.  Not thread-safe: the preload serializes its calls.
 */
#ifndef SHOAL_CS_CRASH_UNDO_H
#define SHOAL_CS_CRASH_UNDO_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* What the last power cut left of a root's changes that were not durable. */
struct cu_outcome {
	unsigned int meta;		/* name and size changes not durable */
	unsigned int meta_kept;		/* of those, reached the disk (subset mode) */
	uint64_t sectors;		/* sectors of writes not durable (preload) */
	uint64_t sectors_kept;		/* of those, reached the disk */
	unsigned int lost_files;	/* a file a record names was not found */
	bool replaced;			/* root is not the directory the journal was kept for
					 * (removed and made again): the journal was dropped */
};

/*
 * Settles the previous run's journal of root (see above), then tracks root.
 * A journal kept for another directory of that name (root removed and made
 * again, e.g. an emptied disk) is dropped, never replayed into the new one.
 * subset: the subset mode; seed: its randomness.  0, or -1 with a one-line
 * reason in err.
 */
int cu_tree_open(const char *root, bool subset, uint64_t seed, struct cu_outcome *out,
		 char *err, size_t errlen);
/* Forgets every tree without settling anything, as kill -9 does (unit tests). */
void cu_forget(void);
/* Changes not yet durable, in every tree (0: nothing to journal on a sync). */
unsigned int cu_pending(void);

/*
 * The calls themselves, journaled when their name or file lies in a tracked
 * tree (else plain): each returns what the call returns, errno set.
 */
int cu_open(const char *path, int flags, mode_t mode);
int cu_rename(const char *from, const char *to);
int cu_unlink(const char *path);
int cu_ftruncate(int fd, off_t size);
/* fallocate(fd, mode, off, len); only mode 0 and KEEP_SIZE change nothing else than the size. */
int cu_fallocate(int fd, int mode, off_t off, off_t len);

/*
 * A write of [off, off + len) to fd is about to be issued: its pre-image is
 * journaled.  Returns its id for cu_write_end, 0 if fd is not tracked.
 */
uint64_t cu_write_begin(int fd, off_t off, size_t len);
/* The write completed (or was refused); durable: it was O_DSYNC or RWF_DSYNC. */
void cu_write_end(uint64_t id, bool durable);

/* fsync/fdatasync(fd) succeeded: a directory's names, a file's size and completed writes. */
void cu_synced(int fd);
/* An O_DSYNC or RWF_DSYNC write to fd completed: the file's size is durable. */
void cu_dsync_written(int fd);

#endif
