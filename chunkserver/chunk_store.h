/*
 * One chunk replica on disk, and the asynchronous reads and writes on it.
 *
 * Files, in the data directory's chunks/ folder, named by the chunk id in hex:
 *   <id>.data  sparse, chunk_size bytes, opened O_DIRECT; a hole reads zeros.
 *   <id>.meta  opened O_DIRECT:
 *     [0, 4096)      header slot 0 } struct cs_meta_slot, each with a sequence
 *     [4096, 8192)   header slot 1 } number and a CRC32C; the valid slot with
 *                                     the higher sequence is current
 *     [8192, ...)    one u32 per 4 KiB data block: crc32c(block) ^ CS_CRC_ZERO
 *                    (so a never-written entry, 0, is the CRC of a hole)
 *     then, from the next 4 KiB boundary (format 2): one u64 per 64 KiB
 *                    "track" of data, the highest version a write was
 *                    applied to it at (0: never written); resync copies
 *                    only the tracks modified since a stale replica's version
 *
 * Invariants:
 *  - Header updates alternate slots and only one is in flight at a time, so
 *    a torn header write leaves the other slot, the previous state, valid.
 *  - A block's data is on stable storage before a write completes (O_DIRECT
 *    with RWF_DSYNC, or for grouped data writes an fdatasync of a regular
 *    file issued after the write finished: the data file's own, or for an
 *    overwrite the disk's flush file, struct cs_disk_flush), and so is its
 *    region's dirty bit: acknowledged = durable.  The write's CRC entries and track entries are changed in
 *    memory and written back lazily (the "meta pages"), because the dirty
 *    bit already covers them: see the next point.  The data write is the
 *    only synchronous write of a write into a dirty region.
 *  - Dirty regions (64 per chunk): a region's bit is durable in the header
 *    before any data write to it is issued, and cleared only when (a) no
 *    write to it is in flight, (b) none touched it during the last clean
 *    interval (hot regions stay dirty, so their writes pay no header write,
 *    as DRBD's activity log does), and (c) every CRC and track page covering
 *    it is durable with its latest content (cs_chunk_clean writes them back
 *    first).  After a crash, a set bit means a write may be torn there, or
 *    its CRC or track entries may not have reached the disk; open()
 *    recomputes that region's CRCs from the data and raises its tracks (the
 *    write was not acknowledged, or its data is durable and the recomputed
 *    CRC matches it).  A CRC mismatch outside dirty regions is therefore bit
 *    rot, never a torn write.
 *  - Tracks (resync): a track's entry is >= the version of every write
 *    applied to it.  It is raised in memory when a write is applied; on
 *    disk it may lag only inside a dirty region, whose tracks open() raises
 *    to the replica's version.  An entry may overstate (copy more), never
 *    understate.  A
 *    format-1 file (no tracks) is upgraded at open with every track at the
 *    replica's version: all of it counts as modified at that version.
 *  - Every read verifies each block's CRC before the data is handed out; a
 *    mismatch completes the read with SL_E_CHECKSUM and the block's offset.
 *  - Callers order access: they hold the chunk's range lock over the
 *    block-aligned range of every read and write (range_lock.h).
 *
 * Completion callbacks run on the thread reaping the aio context.
 */
#ifndef SHOAL_CS_CHUNK_STORE_H
#define SHOAL_CS_CHUNK_STORE_H

#include <stdbool.h>
#include <stdint.h>
#include "aio.h"
#include "list.h"
#include "range_lock.h"

#define CS_BLOCK		4096u
#define CS_BLOCK_SHIFT		12
#define CS_META_HDR_LEN		8192u
#define CS_REGIONS		64
#define CS_TRACK_SHIFT		16	/* resync tracking: 64 KiB tracks */
#define CS_MIN_CHUNK_SIZE	(1ull << 20)
#define CS_MAX_CHUNK_SIZE	(1ull << 30)

struct cs_chunk;

/* What the store needs from its owner: the aio context and where EIO goes. */
struct cs_store_env {
	struct cs_aio *aio;
	/*
	 * Group commit of data: write without RWF_DSYNC, then share one
	 * fdatasync of the data file among every write completed before it
	 * was issued (the write completes when that flush is done).  Used
	 * only while other writes to the chunk are in flight (a lone write is
	 * faster with RWF_DSYNC: one round trip).  Off: every data write
	 * carries RWF_DSYNC.  Durability is the same either way.
	 */
	bool group_flush;
	/* A disk I/O error (EIO and the like, not ENOSPC) on ch's disk. */
	void (*io_error)(void *arg, struct cs_chunk *ch, int err);
	void *arg;
};

/* Something waiting for a header or CRC page to become durable. */
struct cs_pwait {
	struct list_head link;
	uint64_t gen;
	void (*cb)(struct cs_pwait *w, int err);
	void *arg;
};

#define CS_PS_HDR	(-1)
#define CS_PS_DATA	(-2)		/* the data file: an fdatasync, no page */
#define CS_PS_DISK	(-3)		/* a device flush (struct cs_disk_flush) */

/* Durability of one 4 KiB page of the .meta file (a header or a CRC page). */
struct cs_psync {
	uint64_t gen;			/* bumped on every in-memory change */
	uint64_t submitted;		/* gen carried by the write in flight */
	uint64_t durable;		/* gen known on stable storage */
	bool inflight;
	struct list_head waiters;
	struct cs_aio_req req;
	void *buf;			/* aligned 4 KiB, owned while in flight */
	int page;			/* CS_PS_HDR, CS_PS_DATA, else CRC page index */
	struct cs_chunk *ch;
};

/*
 * Group commit across the replicas of one disk.  A write whose blocks are
 * all allocated already (each has a non-zero CRC entry: a hole's is 0)
 * needs no metadata to be durable, only the device's cache flushed; so
 * while other writes to the disk are in flight it is written without
 * RWF_DSYNC and joins the next flush of the device, which any number of
 * concurrent writes to any replicas share.  A write that may fill a hole
 * keeps its own RWF_DSYNC (or its chunk's fdatasync), which also commits
 * the extent allocation.
 *
 * The device flush is an fdatasync of chunks/device-flush, an empty
 * regular file of the disk's own: on ext4 (journal or not) and XFS that
 * call always ends in a flush of the device's volatile cache
 * (ext4_sync_file, xfs_file_fsync: blkdev_issue_flush, or a log force that
 * flushes), so every O_DIRECT overwrite completed before it is durable when
 * it completes.  An fdatasync of the chunks/ directory is not one: XFS
 * forces the log without a cache flush, and ext4 with a journal commits
 * only an open transaction (doc/protocol.md, "Durability").  Other
 * filesystems are refused at start (disk.c).
 */
#define CS_FLUSH_FILE		"device-flush"

struct cs_disk_flush {
	struct cs_psync ps;		/* page CS_PS_DISK, ch NULL */
	struct cs_aio *aio;
	int fd;				/* chunks/device-flush, a regular file */
	unsigned int writers;		/* writes in flight on the disk */
	uint64_t hold_since_us;		/* a flush is held back since (chunk_store.c), or 0 */
	void (*failed)(struct cs_disk_flush *df, int err);
	void *arg;
};

struct cs_chunk {
	uint64_t id;
	uint64_t chunk_size;
	uint64_t version;
	uint64_t epoch;
	int data_fd, meta_fd;
	struct cs_store_env *env;
	void *disk;			/* owner's disk, for io_error */
	unsigned int disk_index;

	/*
	 * The meta pages after the header, as in the file: ncrc_pages of CRC
	 * entries (crc), then ntrack_pages of track versions (track); both in
	 * stored form (little-endian), one aligned buffer.
	 */
	uint32_t *crc;			/* nblocks entries */
	uint64_t *track;		/* ntracks entries */
	uint32_t nblocks, ncrc_pages;
	uint32_t ntracks, ntrack_pages, nmeta_pages;
	struct cs_psync hdr;
	struct cs_psync dsync;		/* group flush of the data file */
	struct cs_disk_flush *disk_flush;	/* the owner's, or NULL */
	struct cs_psync *crc_sync;	/* nmeta_pages: CRC pages, then track pages */
	uint64_t hdr_seq;

	unsigned int region_shift;
	uint64_t dirty;			/* bits as they will be (or are) on disk */
	uint64_t touched;		/* regions written since the last clean */
	uint32_t region_busy[CS_REGIONS];
	unsigned int meta_inflight;	/* lazy meta page writes in flight */

	struct cs_range_lock lock;
	uint64_t checksum_errors;
	uint64_t torn_regions;		/* dirty regions recovered at open */
	uint64_t ops_in_flight;
	bool failed;			/* its disk failed: refuse everything */

	/* Owner's fields (not touched by the store). */
	struct list_head link;
	struct cs_chunk *hnext;
	void *primary;
};

/* ---- files (chunk_file.c), synchronous ---- */

/* Creates and persists a new replica at (version, epoch).  0 or SL_E_*. */
int cs_chunk_create(struct cs_store_env *env, const char *dir, uint64_t id, uint64_t chunk_size,
		    uint64_t version, uint64_t epoch, struct cs_chunk **out);
/* Opens an existing replica, recovering dirty regions.  0 or SL_E_*. */
int cs_chunk_open(struct cs_store_env *env, const char *dir, uint64_t id, struct cs_chunk **out);
/* Waits for nothing: the caller ensured no I/O is in flight (cs_chunk_idle). */
void cs_chunk_close(struct cs_chunk *ch);
/* No operation and no write of the store's own (header, meta page, flush) in flight. */
bool cs_chunk_idle(const struct cs_chunk *ch);
/*
 * Opens (creating it) dir's flush file into a zeroed df ready for writes to
 * join (failed and arg unset).  0 or -errno; -EINVAL if it is not a
 * regular file.
 */
int cs_disk_flush_open(struct cs_disk_flush *df, const char *dir, struct cs_aio *aio);
/* Removes the replica's files (header first, so a crash leaves no half chunk). */
int cs_chunk_unlink(const char *dir, uint64_t id);
/* "chunks/<16 hex>.<ext>" under dir. */
void cs_chunk_path(char *buf, size_t len, const char *dir, uint64_t id, const char *ext);
/* Bytes allocated by the data file. */
uint64_t cs_chunk_allocated(const struct cs_chunk *ch);
/* Number of bytes in dirty regions right now. */
uint64_t cs_chunk_dirty_bytes(const struct cs_chunk *ch);

/* ---- asynchronous operations (chunk_store.c) ---- */

enum cs_wkind { CS_W_WRITE, CS_W_WRITE_SAME, CS_W_UNMAP, CS_W_CAW };

struct cs_wop {
	/* in */
	struct cs_chunk *ch;
	enum cs_wkind kind;
	uint64_t off;
	uint32_t len;
	const uint8_t *data;		/* caller keeps it until done() */
	uint32_t data_len;
	void (*done)(struct cs_wop *op, int status);
	void *arg;
	/* out */
	uint64_t miscompare_off;	/* SL_E_MISCOMPARE: byte offset in the chunk */

	/* private */
	uint64_t a, e;			/* block-aligned span */
	uint8_t *abuf;
	uint64_t regions;
	int pending;
	int status;
	int phase;
	struct cs_aio_req rq[3];
	struct cs_pwait hdr_w;
	struct cs_pwait data_w[3];	/* per write slot, group flush */
	struct cs_psync *sync;		/* data written without RWF_DSYNC, made durable by this */
};

struct cs_rop {
	struct cs_chunk *ch;
	uint64_t off;
	uint32_t len;
	void (*done)(struct cs_rop *op, int status);
	void *arg;
	/* out: data = buf + (off - a), valid until cs_rop_release() */
	const uint8_t *data;
	uint64_t bad_off;		/* SL_E_CHECKSUM: first failing block */
	uint32_t bad_blocks;

	uint64_t a, e;
	uint8_t *buf;
	int status;
	struct cs_aio_req rq;
};

struct cs_vop {
	struct cs_chunk *ch;
	uint64_t version, epoch;
	void (*done)(struct cs_vop *op, int status);
	void *arg;
	struct cs_pwait w;
};

/*
 * Fencing: a request must carry exactly the replica's version
 * (SL_E_STALE_VERSION otherwise); CS_SET_VERSION may only move it forward.
 */
int cs_chunk_check_version(const struct cs_chunk *ch, uint64_t version);

/*
 * CS_SET_VERSION's acceptance rule, the one place it is written
 * (doc/protocol.md "CS_SET_VERSION"): a lower version is stale; the same
 * (version, epoch) is already in place; anything else moves the replica
 * forward (a new epoch at the same version too: a new primary's grant).
 */
enum cs_setver_verdict { CS_SV_STALE, CS_SV_SAME, CS_SV_ADVANCE };
enum cs_setver_verdict cs_set_version_verdict(const struct cs_chunk *ch, uint64_t version,
					      uint64_t epoch);

/* Validates and starts; done() runs exactly once (maybe before return). */
void cs_chunk_write(struct cs_wop *op);
void cs_chunk_read(struct cs_rop *op);
void cs_rop_release(struct cs_rop *op);
/* Persists (version, epoch) unless cs_set_version_verdict says stale. */
void cs_chunk_set_version(struct cs_vop *op);
/*
 * One step of lazy cleaning, called every clean interval: writes back the
 * meta pages of regions idle since the last call and clears the persisted
 * bits of idle regions whose meta pages are durable.  `force` (a clean
 * stop, or the server past its dirty limit) treats every region with no
 * write in flight as idle, and leaves the idle interval running.  Returns
 * true while some region stays dirty.
 */
bool cs_chunk_clean(struct cs_chunk *ch, bool force);

/* Raising tracks to a copy source's (stored form), durable at done(). */
struct cs_top {
	struct cs_chunk *ch;
	const uint64_t *src;		/* ntracks entries, little-endian */
	void (*done)(struct cs_top *op, int status);
	void *arg;

	int pending, status;
	struct cs_pwait *w;
};
void cs_chunk_merge_tracks(struct cs_top *op);
/* Track t's version (host order). */
uint64_t cs_track_get(const struct cs_chunk *ch, uint32_t t);

/* Block-aligned span of [off, off+len). */
static inline uint64_t cs_block_down(uint64_t x) { return x & ~(uint64_t)(CS_BLOCK - 1); }
static inline uint64_t cs_block_up(uint64_t x) { return (x + CS_BLOCK - 1) & ~(uint64_t)(CS_BLOCK - 1); }

/*
 * Reconciliation's comparison of two replicas' region digests (reconcile.c):
 * the regions of mask whose digests differ, busy on neither side; *busy the
 * regions of mask busy on either side, whose digests mean nothing.  The
 * caller treats both as candidates: a busy region is checked again, never
 * skipped for good.
 */
uint64_t cs_regions_differ(const uint32_t *ours, const uint32_t *theirs, uint64_t mask,
			   uint64_t busy_either, uint64_t *busy);
/* The regions of mask reconciliation must look at under its lock: those that differ, and the busy ones. */
uint64_t cs_recon_candidates(const uint32_t *ours, const uint32_t *theirs, uint64_t mask,
			     uint64_t busy_either);
/* The stored CRC entry of a block's content. */
uint32_t cs_crc_entry(const void *block);
/* Maps -errno to SL_E_*. */
int cs_errno_status(int err);

#endif
