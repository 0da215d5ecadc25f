/*
 * Chunks, found by chunk id and by (volume, index).
 *
 * Records live in fixed pages of CHUNK_PAGE slots, so a struct chunk *
 * stays valid until that chunk is deleted (no realloc moves it).  Two
 * open-addressing hash tables hold slot numbers (u32, 0 = empty), so the
 * cost per chunk is the 64-byte record plus 8-16 bytes of index.
 *
 * Fields marked "log" are replicated through Raft and in snapshots; fields
 * marked "soft" are the leader's volatile view (lease expiry, which
 * replicas reported the chunk) and are rebuilt after a failover.
 *
 * Replica existence (doc/protocol.md "Replica existence"): a chunk is
 * allocated UNWRITTEN (no replica file exists anywhere, none may hold
 * data); its first primary creates every member's file and has
 * CHUNK_LF_CREATED committed before it serves anything.  From then on the
 * chunk may hold data, and no replica of it is ever created empty again:
 * a member missing its file is dropped from the set and re-replicated.
 *
 * Fallbacks (doc/protocol.md "Fallback replicas"): a member that left the
 * set while fewer than its volume's min_replicas members remained.  No
 * write is acknowledged on a set below min_replicas, so a fallback's
 * replica holds every acknowledged write for as long as the set stays
 * below it (K1); the master never deletes it then (K2), and when the set
 * loses its last member the fallback that left last becomes the set (K3).
 * Once the set is back at min_replicas writes resume without them: they
 * are stale replicas like any other (K4).  They are kept in
 * rep[nrep .. nrep + nfall), log state, so the record stays 64 bytes; at
 * most SL_MAX_REPLICAS - nrep are remembered (the most recent).
 */
#ifndef SHOAL_MASTER_CHUNK_MAP_H
#define SHOAL_MASTER_CHUNK_MAP_H

#include <stdbool.h>
#include <stdint.h>

#define SL_MAX_REPLICAS	5
#define CHUNK_PAGE_SHIFT 12
#define CHUNK_PAGE	(1u << CHUNK_PAGE_SHIFT)

/* soft flags */
#define CHUNK_F_GRANTING	0x01	/* a lease/version change is in Raft: answer BUSY */
#define CHUNK_F_COPYING		0x04	/* re-replication job: no lease granted or renewed */
#define CHUNK_F_UNTAKEN		0x08	/* the live lease was granted by a lookup: no process took it yet */

/* log flags */
#define CHUNK_LF_CREATED	0x01	/* replicas were created: it may hold data */

struct chunk {
	uint64_t id;			/* log; 0 marks a free slot */
	uint64_t version;		/* log */
	uint64_t lease_expiry;		/* soft: leader clock (ms), 0 = no lease */
	uint32_t vol;			/* log */
	uint32_t index;			/* log */
	uint32_t primary;		/* log: recorded primary cs id (0 none); free list link when free */
	uint32_t rep[SL_MAX_REPLICAS];	/* log: replica set, cs ids */
	uint8_t nrep;			/* log */
	uint8_t live;			/* soft: bit i set = rep[i] reported holding it */
	uint8_t flags;			/* soft: CHUNK_F_* */
	uint8_t lflags;			/* log: CHUNK_LF_* */
	uint8_t nfall;			/* log: fallbacks, in rep[nrep ..] */
};

/* No replica of c was ever created: none holds data, creating them is allowed. */
static inline bool chunk_unwritten(const struct chunk *c)
{
	return !(c->lflags & CHUNK_LF_CREATED);
}

struct chunk_map {
	struct chunk **pages;
	uint32_t npages;
	uint32_t used;		/* slots ever handed out (high-water mark) */
	uint32_t count;		/* live chunks */
	uint32_t free_head;	/* slot + 1 of the first free slot, 0 = none */
	uint32_t *by_id;	/* slot + 1, 0 = empty */
	uint32_t *by_pos;
	uint32_t mask;		/* table size - 1 (power of two) */
};

void chunk_map_init(struct chunk_map *m);
void chunk_map_free(struct chunk_map *m);
/* Adds a chunk (id must be new and non-zero); NULL only on ENOMEM. */
struct chunk *chunk_map_add(struct chunk_map *m, uint64_t id, uint32_t vol, uint32_t index);
struct chunk *chunk_map_by_id(const struct chunk_map *m, uint64_t id);
struct chunk *chunk_map_by_pos(const struct chunk_map *m, uint32_t vol, uint32_t index);
void chunk_map_del(struct chunk_map *m, struct chunk *c);
/* Slot i (< m->used) or NULL if free: for iteration. */
struct chunk *chunk_map_slot(const struct chunk_map *m, uint32_t i);
/* Whether cs_id is in c's replica set; returns its position or -1. */
int chunk_rep_pos(const struct chunk *c, uint32_t cs_id);
/* Whether cs_id is one of c's fallbacks; returns its index (0 = oldest) or -1. */
int chunk_fall_pos(const struct chunk *c, uint32_t cs_id);
/* Forgets fallback cs_id of c, if it is one. */
void chunk_fall_del(struct chunk *c, uint32_t cs_id);
/* Bytes used by the map's allocations (records and tables). */
uint64_t chunk_map_bytes(const struct chunk_map *m);

#define chunk_map_for_each(m, c, i) \
	for ((i) = 0; (i) < (m)->used; (i)++) \
		if (((c) = chunk_map_slot((m), (i))) != NULL)

#endif
