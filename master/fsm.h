/*
 * The master's replicated state machine: volumes, chunks, chunkservers and
 * the dedup table, changed only by fsm_apply() of Raft log entries.
 *
 * apply() is deterministic and never fails: the same log gives the same
 * state on every master.  A refused command (no such volume, stale version,
 * ...) changes nothing and reports its sl_status in the result; a
 * malformed entry reports SL_E_INTERNAL.  Only an out-of-memory condition
 * aborts the process (it cannot be reported without diverging).
 *
 * Result: a u64 packing status (low 8 bits) and a value (the rest), e.g.
 * the new volume id, chunk version or chunkserver id.
 *
 * Dedup: a mutating command carries (client_id, seq); when client_id != 0
 * and the pair is in the table, apply returns the remembered result and
 * changes nothing.  The table keeps the last FSM_DEDUP_MAX pairs, evicted
 * in apply order, so it is identical on every master and in snapshots.
 */
#ifndef SHOAL_MASTER_FSM_H
#define SHOAL_MASTER_FSM_H

#include <stddef.h>
#include <stdint.h>
#include "codec.h"
#include "volume.h"
#include "chunk_map.h"
#include "cs_registry.h"

#define FSM_DEDUP_MAX	4096
#define FSM_ALLOC_MAX	1024	/* chunks per CHUNK_ALLOC entry */
#define FSM_MISSING_MAX	1024	/* chunks per REPLICAS_MISSING entry */

enum fsm_cmd {
	FSM_VOL_CREATE = 1,
	FSM_VOL_RESIZE = 2,
	FSM_VOL_DELETE = 3,
	/*
	 * Written only by code older than replica existence tracking: nothing
	 * says its chunks were never written, so they count as CREATED (a
	 * member missing its file is dropped, never re-created empty).
	 */
	FSM_CHUNK_ALLOC_OLD = 4,
	FSM_LEASE_GRANT = 5,
	FSM_SET_REPLICAS = 6,
	FSM_CS_REGISTER = 7,
	FSM_CS_STATE = 8,
	FSM_VOL_RESET = 9,
	FSM_CHUNK_ALLOC = 10,		/* chunks start unwritten */
	FSM_CHUNK_CREATED = 11,
	FSM_REPLICAS_MISSING = 12,
	FSM_CS_DISKS = 13,
	FSM_CS_MAINTENANCE = 14,	/* maintenance until a wall-clock time (0: none) */
};

#define FSM_RES(st, val)	((uint64_t)(st) | (uint64_t)(val) << 8)
#define FSM_RES_STATUS(r)	((int)((r) & 0xff))
#define FSM_RES_VALUE(r)	((r) >> 8)

struct fsm_dedup {
	uint64_t client, seq, result;
};

struct fsm {
	struct volume_table vols;
	struct chunk_map chunks;
	struct cs_registry css;
	uint32_t next_vol_id;
	uint64_t next_chunk_id;
	uint32_t next_cs_id;
	struct fsm_dedup dedup[FSM_DEDUP_MAX];
	uint32_t dedup_next;	/* ring position of the next insert */
	uint64_t applied;	/* entries applied (status) */
};

struct fsm *fsm_new(void);
void fsm_free(struct fsm *f);
uint64_t fsm_apply(struct fsm *f, const void *buf, size_t len);

/* Snapshot of the log state (not the soft state) into w; restore replaces f's content. */
int fsm_snapshot(const struct fsm *f, struct wbuf *w);
int fsm_restore(struct fsm *f, const void *buf, size_t len);

/* Whole logged state as sorted text; malloc'd, NULL on ENOMEM. */
char *fsm_dump(const struct fsm *f, size_t *len);

/* ---- encoders for the commands (used by the service and tests) ---- */
struct fsm_alloc {
	uint32_t index;
	uint8_t nrep;
	uint32_t rep[SL_MAX_REPLICAS];
};

void fsm_enc_vol_create(struct wbuf *w, uint64_t client, uint64_t seq, const char *name,
			const uint8_t uuid[16], uint64_t size, uint32_t chunk_shift, uint32_t replicas,
			uint32_t min_replicas, uint32_t flags, uint64_t ctime);
void fsm_enc_vol_resize(struct wbuf *w, uint64_t client, uint64_t seq, const char *name,
			uint64_t size, bool force);
void fsm_enc_vol_delete(struct wbuf *w, uint64_t client, uint64_t seq, const char *name);
/* Records a LUN RESET: the volume's reset_gen + 1; value = volume id. */
void fsm_enc_vol_reset(struct wbuf *w, uint64_t client, uint64_t seq, const char *name);
/* New chunks at version 1, unwritten (chunk_map.h); value = chunks created. */
void fsm_enc_chunk_alloc(struct wbuf *w, uint64_t client, uint64_t seq, uint32_t vol,
			 const struct fsm_alloc *a, uint32_t n);
/*
 * Every member of the chunk's set at version holds its replica file (the
 * primary created them): marks it CREATED; STALE_VERSION if not at version.
 */
void fsm_enc_chunk_created(struct wbuf *w, uint64_t chunk_id, uint64_t version);
/*
 * cs_id's chunk report lacks these chunks: it leaves the set of each one
 * that is CREATED and lists it (version + 1; a new primary from the rest if
 * it was the primary).  No expected version: leaving a set is always safe,
 * and a report must not lose a drop to a concurrent version change.
 * Value = sets left.
 */
void fsm_enc_replicas_missing(struct wbuf *w, uint32_t cs_id, const uint64_t *chunk_ids, uint32_t n);
/* The identities of cs_id's data directories, replacing the recorded ones. */
void fsm_enc_cs_disks(struct wbuf *w, uint32_t cs_id, const struct cs_disk_id *d, uint32_t n);
/* Version expect -> expect+1 with primary; fails STALE_VERSION if not at expect. */
void fsm_enc_lease_grant(struct wbuf *w, uint64_t chunk_id, uint64_t expect, uint32_t primary);
void fsm_enc_set_replicas(struct wbuf *w, uint64_t client, uint64_t seq, uint64_t chunk_id,
			  uint64_t expect, const uint32_t *rep, uint8_t nrep, uint32_t primary);
/* cs_id 0 assigns a new id. */
void fsm_enc_cs_register(struct wbuf *w, uint32_t cs_id, const char *addr, const char *host,
			 const char *rack, const char *uuid);
void fsm_enc_cs_maintenance(struct wbuf *w, uint64_t client, uint64_t seq, uint32_t cs_id,
			    uint64_t until_ms);
void fsm_enc_cs_state(struct wbuf *w, uint64_t client, uint64_t seq, uint32_t cs_id, uint8_t admin,
		      bool force);

#endif
