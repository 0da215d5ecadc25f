/*
 * The data directories (one per disk) and the replicas on them.
 *
 * Each directory holds `shoal-cs.id` (this server's id, the uuid shared by
 * all its directories: a disk moved from another server is refused, and
 * the directory's own disk uuid) and `chunks/` (chunk_store.h).  New
 * replicas go to the healthy disk with the most free space.
 *
 * Disk identity (doc/protocol.md "Replica existence"): a directory without
 * an id file is a new, empty disk and gets a new disk uuid, never the one
 * of the disk that was there (a replaced disk, a mount that failed, a
 * wiped directory); one that holds replica files but no id file is not
 * ours and is refused.  The master records each directory's uuid at
 * registration; what a new disk lacks, the chunk report tells it.
 *
 * Disk failure: the first I/O error (EIO, not ENOSPC) on a disk marks it
 * failed for good (until restart); every replica on it is failed at once
 * (their I/O is refused), dropped from the index and queued as lost for the
 * next heartbeat, while the other disks keep serving.
 */
#ifndef SHOAL_CS_DISK_H
#define SHOAL_CS_DISK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "chunk_store.h"
#include "config.h"
#include "list.h"

#define CS_HASH_SIZE 4096

struct cs_disk {
	unsigned int index;
	char *path;
	bool failed;
	uint64_t capacity, used;	/* statvfs, refreshed by cs_disks_refresh */
	uint64_t nchunks;
	struct list_head chunks;	/* cs_chunk.link */
	struct cs_disk_flush flush;	/* shared by its replicas (chunk_store.h) */
	int inflight_fd;		/* sysfs "inflight" of its block device, or -1 */
	dev_t dev;			/* st_dev of its chunks/ (cs_disks_hung_check) */
	char uuid[40];			/* this directory's disk identity (id file) */
	bool fresh;			/* it had no id file at start: a new, empty disk */
};

struct cs_lost {
	uint64_t chunk_id, version;
	uint32_t disk;
};

struct cs_disks {
	struct cs_disk *d;
	int n;
	struct cs_chunk *hash[CS_HASH_SIZE];
	uint64_t nchunks;
	uint64_t cs_id;
	char uuid[40];
	struct cs_store_env *env;
	/* lost replicas not yet reported */
	struct cs_lost *lost;
	unsigned int nlost, lost_cap;
	/* failed replicas with I/O possibly in flight: freed at exit */
	struct list_head graveyard;
};

/* Opens (creating if needed) every directory and every replica on them. */
int cs_disks_open(struct cs_disks *ds, const struct sl_str_list *dirs, struct cs_store_env *env,
		  char *err, size_t errlen);
void cs_disks_close(struct cs_disks *ds);
/* Persists the id the master gave this server into every healthy directory. */
int cs_disks_set_id(struct cs_disks *ds, uint64_t cs_id);
/*
 * A replica the master counts here is not here: queue it as lost, so the
 * next heartbeat has the master drop this server from the chunk's set.
 */
void cs_disks_note_missing(struct cs_disks *ds, uint64_t chunk_id, uint64_t version);

struct cs_chunk *cs_disks_find(struct cs_disks *ds, uint64_t id);
int cs_disks_create(struct cs_disks *ds, uint64_t id, uint64_t chunk_size, uint64_t version,
		    uint64_t epoch, struct cs_chunk **out);
/* The caller made sure no I/O is in flight on ch. */
int cs_disks_delete(struct cs_disks *ds, struct cs_chunk *ch);
/* The store's io_error hook (arg = ds). */
/* Requests of anyone's in flight on one of our disks' block devices (sysfs), now. */
bool cs_disks_device_busy(const struct cs_disks *ds);
void cs_disks_io_error(void *arg, struct cs_chunk *ch, int err);
void cs_disks_refresh(struct cs_disks *ds);
/*
 * A disk with a request in the kernel for longer than timeout_ms hangs:
 * it is failed like one that returned EIO (its replicas lost and reported,
 * their leases given up), so the master moves them instead of every
 * command on them timing out.  Called every second.
 */
void cs_disks_hung_check(struct cs_disks *ds, struct cs_aio *aio, uint64_t timeout_ms);

#endif
