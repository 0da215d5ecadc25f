/*
 * The chunkserver's one context struct, and the entry points its files
 * offer each other.  Everything runs on the loop thread.
 */
#ifndef SHOAL_CHUNKSERVER_H
#define SHOAL_CHUNKSERVER_H

#include <stdbool.h>
#include <stdint.h>
#include "aio.h"
#include "config.h"
#include "disk.h"
#include "evloop.h"
#include "master_client.h"
#include "rpc.h"

struct cs_peer {
	char *addr;
	struct sl_conn *conn;
	struct cs_peer *next;
};

struct cs_opts {
	char *listen;
	char *advertise;
	struct sl_str_list data_dirs;
	struct sl_str_list masters;
	char *host;
	char *rack;
	char *log_level;
	bool syslog;
	bool foreground;
	int64_t aio_depth;
	int64_t rpc_timeout_ms;
	int64_t clean_ms;
	int64_t dirty_limit_mb;
	int64_t disk_timeout_ms;	/* disk.h cs_disks_hung_check */
	bool group_flush;
	int64_t scrub_rate;		/* bytes/s, 0: off (scrub.c) */
	int64_t scrub_interval_s;
};

struct cs_stats {
	uint64_t reads, writes, bytes_read, bytes_written;
	uint64_t checksum_errors, repaired_blocks, resync_bytes;
	uint64_t stale_refused;
	uint64_t scrubbed_bytes, scrub_passes, reconciled_regions, unrepaired_blocks;
};

/* Outcome of a re-replication order from the master, reported in the next heartbeat. */
#define CS_MAX_COPY_RESULTS 1024
struct cs_copy_result {
	uint64_t chunk_id, version, bytes;
	uint32_t status;
};

#define CS_PRIM_HASH 1024
#define CS_MAX_REPLICAS 16
struct cs_prim;
struct cs_scrub;
struct cs_gws_table;
struct cs_op_records;

#define CS_MAX_DEFERRED_DELETES 1024

struct chunkserver {
	struct cs_opts o;
	const char *addr;		/* advertised "host:port" */
	struct sl_loop *loop;
	struct sl_server *srv;
	struct cs_aio *aio;
	struct cs_store_env env;
	struct cs_disks disks;
	struct sl_master_client *mc;
	struct cs_peer *peers;
	struct cs_prim *prim_hash[CS_PRIM_HASH];	/* primary.c: lease state per chunk */

	/* master link state (master_link.c) */
	bool registered, registering, reported;
	uint32_t heartbeat_ms, lease_ms;
	uint64_t term;
	struct sl_timer hb_timer;
	uint64_t hb_sent_ms;
	bool hb_inflight;
	struct cs_copy_result copies[CS_MAX_COPY_RESULTS];	/* not yet reported */
	unsigned int ncopies;
	/*
	 * Deletions the master ordered while the replica was busy (I/O in
	 * flight).  The master sends each order once, so they are retried at
	 * every heartbeat until done; a full list drops the newest (the next
	 * chunk report brings them back as orphans).
	 */
	uint64_t deferred_del[CS_MAX_DEFERRED_DELETES];
	unsigned int ndeferred_del;

	struct sl_timer clean_timer;
	uint64_t next_idle_clean_ms;	/* main.c: the next pass over idle regions */
	int sig_fd;
	unsigned int load;		/* requests in flight */
	struct cs_scrub *scrub;		/* scrub.c */
	struct cs_gws_table *gws;	/* gateway sessions (gw_session.h) */
	struct cs_op_records *recs;	/* COMPARE AND WRITE outcomes (op_record.h) */
	struct cs_stats st;
};

/* master_link.c */
Shoal__DiskStatus **cs_disk_status_list(struct chunkserver *cs, Shoal__DiskStatus **store);

/* cs_service.c: the dispatcher */
void cs_on_request(struct sl_conn *c, const struct sl_msg *req, void *arg);

/* peers.c */
struct sl_conn *cs_peer_conn(struct chunkserver *cs, const char *addr);
void cs_peers_close(struct chunkserver *cs);

/* copy.c */
/* Deletes a replica once it is idle (lease state included). */
int cs_delete_chunk(struct chunkserver *cs, uint64_t chunk_id, uint64_t max_version);
/* Copies a replica from a peer (CS_COPY_FROM_PEER and heartbeat work). */
void cs_copy_from_peer(struct chunkserver *cs, const Shoal__CsCopyFromPeerReq *req,
		       void (*done)(void *arg, int status, uint64_t bytes), void *arg);

/*
 * CS_SET_VERSION on a local replica (set_version.c), the acceptance rule in
 * one place: a lower version is STALE_VERSION, the same (version, epoch)
 * is OK as it is, a higher one is persisted.  Under the whole chunk's range
 * lock (doc/protocol.md "Set-version drains"): a write of the old version
 * in progress finishes first, and none starts after.  done runs once.
 */
struct cs_setver {
	struct chunkserver *cs;
	struct cs_chunk *ch;
	uint64_t version, epoch;
	void (*done)(struct cs_setver *sv, int status);
	struct cs_range rl;
	struct cs_vop vop;
};
void cs_set_version_drained(struct cs_setver *sv);

/* primary.c: client (not forwarded) reads and writes */
void cs_primary_write(struct chunkserver *cs, struct sl_conn *c, uint64_t req_id,
		      const Shoal__CsWriteReq *req, const uint8_t *data, size_t len);
void cs_primary_read(struct chunkserver *cs, struct sl_conn *c, uint64_t req_id,
		     const Shoal__CsReadReq *req);
bool cs_primary_live(struct chunkserver *cs, struct cs_chunk *ch);
/* Chunk ids whose lease should be renewed (recently used); returns count. */
size_t cs_primary_renew_list(struct chunkserver *cs, uint64_t *ids, size_t max);
void cs_primary_renewed(struct chunkserver *cs, uint64_t chunk_id, uint64_t sent_ms);
void cs_primary_drop(struct chunkserver *cs, struct cs_chunk *ch);
/* At exit, after the loop stopped: frees every lease state. */
void cs_primary_free_all(struct chunkserver *cs);

/* master_link.c */
int cs_master_start(struct chunkserver *cs);
void cs_master_stop(struct chunkserver *cs);

#endif
