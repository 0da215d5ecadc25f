/*
 * Volumes: the table the FSM keeps, sorted by id (ids are never reused).
 *
 * Defaults (doc/protocol.md, man shoal-master(8)): chunk_shift 26 (64 MiB),
 * replicas 3, min_replicas 2 (or 1 when replicas is 1).  Bounds:
 * chunk_shift 20..32, replicas 1..SL_MAX_REPLICAS, 1 <= min_replicas <=
 * replicas, size a multiple of 512 and at most 2^32 chunks.
 */
#ifndef SHOAL_MASTER_VOLUME_H
#define SHOAL_MASTER_VOLUME_H

#include <stdint.h>
#include "list.h"

#define VOL_NAME_MAX		63
#define VOL_DEF_CHUNK_SHIFT	26
#define VOL_MIN_CHUNK_SHIFT	20
#define VOL_MAX_CHUNK_SHIFT	32
#define VOL_DEF_REPLICAS	3
#define VOL_DEF_MIN_REPLICAS	2

struct volume {
	struct list_head node;
	uint32_t id;
	char name[VOL_NAME_MAX + 1];
	uint8_t uuid[16];
	uint64_t size;
	uint32_t chunk_shift;
	uint32_t replicas;
	uint32_t min_replicas;
	uint32_t flags;
	uint64_t ctime;
	/*
	 * LUN RESETs recorded (FSM_VOL_RESET): logged state, only ever grows.
	 * A gateway that sees it above the value it knows raises a unit
	 * attention on its nexuses (backing-store/bs_reset.c).
	 */
	uint64_t reset_gen;
	uint64_t allocated;	/* chunks allocated (derived, kept in step by the FSM) */
};

struct volume_table {
	struct list_head list;	/* sorted by id */
	uint32_t count;
};

void volume_table_init(struct volume_table *t);
void volume_table_free(struct volume_table *t);
struct volume *volume_by_name(const struct volume_table *t, const char *name);
struct volume *volume_by_id(const struct volume_table *t, uint32_t id);
/* Inserts v (id set by the caller, larger than any existing id keeps order). */
void volume_insert(struct volume_table *t, struct volume *v);
void volume_remove(struct volume_table *t, struct volume *v);
/* Number of chunks covering size bytes. */
uint64_t volume_nchunks(const struct volume *v);
/*
 * Fills in defaults and checks bounds of a create request; returns SL_OK or
 * SL_E_INVAL.  Valid names: 1..63 chars of [A-Za-z0-9._-].
 */
int volume_check_params(const char *name, uint64_t size, uint32_t *chunk_shift,
			uint32_t *replicas, uint32_t *min_replicas);

#endif
