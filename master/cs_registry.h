/*
 * Chunkservers known to the master.
 *
 * Persistent (in the log): id, address, failure-domain labels, uuid (of the
 * server's set of data directories), each data directory's own identity
 * (its disk uuid, by index: a replaced or emptied directory comes back
 * with a new one) and the administrative state (active, draining,
 * removed).  Soft (leader's
 * view, rebuilt from heartbeats after a failover): up/down, last heartbeat,
 * disk capacity and usage, and the queue of chunk ids it must delete.
 *
 * Liveness state machine (soft, leader only):
 *
 *     register/heartbeat                 no heartbeat for cs_timeout_ms
 *   ---------------------> UP ------------------------------------> DOWN
 *                           ^                                        |
 *                           +----------- heartbeat / register -------+
 *
 * A server that was DOWN is asked to register again (HeartbeatRep.reregister)
 * until its chunk report arrived: deletions handed out in replies it never
 * saw are re-derived from what it reports.
 *
 * A new leader starts every server UP with last_hb = now: it gets one full
 * timeout to hear from them before declaring any down.  Admin state
 * (persistent): ACTIVE -> DRAINING -> REMOVED; only ACTIVE servers receive
 * new chunks; REMOVED servers are never used again.
 */
#ifndef SHOAL_MASTER_CS_REGISTRY_H
#define SHOAL_MASTER_CS_REGISTRY_H

#include <stdbool.h>
#include <stdint.h>
#include "list.h"

#define CS_ADDR_MAX	127
#define CS_LABEL_MAX	63
#define CS_MAX_DISKS	64
#define CS_MAX_PENDING_DEL (1u << 20)

enum cs_admin {
	CS_ACTIVE = 0,
	CS_DRAINING = 1,
	CS_REMOVED = 2,
};

/* A data directory's identity as last registered (log). */
struct cs_disk_id {
	uint32_t index;
	char uuid[CS_LABEL_MAX + 1];
};

/* A disk as last reported (soft). */
struct cs_disk_info {
	char *path;
	uint32_t index;
	bool failed;
	uint64_t capacity, used, chunks;
};

struct cs {
	struct list_head node;
	/* log */
	uint32_t id;
	uint8_t admin;
	char addr[CS_ADDR_MAX + 1];
	char host[CS_LABEL_MAX + 1];
	char rack[CS_LABEL_MAX + 1];
	char uuid[CS_LABEL_MAX + 1];
	struct cs_disk_id *disk_ids;	/* sorted by index */
	uint32_t ndisk_ids;
	uint64_t maint_until;		/* wall-clock ms: in maintenance before then (maintenance.h) */
	/* soft */
	bool up;
	/*
	 * This leader holds the inventory of the server's current process:
	 * its chunk report was applied (missing replicas dropped), here or
	 * before it heartbeats (a chunkserver heartbeats only once its report
	 * was acknowledged).  Until then its set memberships are not counted
	 * as proven in cluster status.
	 */
	bool heard;
	uint64_t last_hb_ms;
	uint64_t capacity, used;
	uint32_t load;
	uint64_t room;		/* bytes a new replica may take on its best disk (fill threshold) */
	struct cs_disk_info *disks;	/* last reported, for chunkserver list */
	uint32_t ndisks;
	bool need_report;	/* was down: deletions sent meanwhile may be lost, ask for a chunk report */
	uint64_t *del;		/* chunk ids to tell it to delete */
	uint32_t ndel, del_cap;
};

struct cs_registry {
	struct list_head list;	/* sorted by id */
	uint32_t count;
};

void cs_registry_init(struct cs_registry *r);
void cs_registry_free(struct cs_registry *r);
struct cs *cs_by_id(const struct cs_registry *r, uint32_t id);
struct cs *cs_by_uuid(const struct cs_registry *r, const char *uuid);
/* Adds a server with this id (must be new); NULL on ENOMEM. */
struct cs *cs_add(struct cs_registry *r, uint32_t id);
/* Queues chunk_id for deletion on cs (soft; bounded, oldest kept). */
void cs_queue_delete(struct cs *cs, uint64_t chunk_id);
/* Marks servers down whose last heartbeat is older than timeout_ms; returns how many changed. */
int cs_registry_check(struct cs_registry *r, uint64_t now, uint64_t timeout_ms);
/* A new leader: every server up, last heartbeat = now, none heard yet. */
void cs_registry_reset_soft(struct cs_registry *r, uint64_t now);
/* Replaces the registered disk identities (copied); false on ENOMEM (the old list is kept). */
bool cs_set_disk_ids(struct cs *cs, const struct cs_disk_id *d, uint32_t n);
/* The registered identity of disk index, or NULL. */
const struct cs_disk_id *cs_disk_id(const struct cs *cs, uint32_t index);
/* Replaces the reported disks (paths copied); false on ENOMEM (the old list is kept). */
bool cs_set_disks(struct cs *cs, const struct cs_disk_info *d, uint32_t n);
/* Usable for new replicas: up and active. */
static inline bool cs_usable(const struct cs *cs)
{
	return cs->up && cs->admin == CS_ACTIVE;
}
/* No heartbeat for more than silence_ms at monotonic time now (master_silence_ms). */
static inline bool cs_silent(const struct cs *cs, uint64_t now, uint64_t silence_ms)
{
	return now - cs->last_hb_ms > silence_ms;
}
const char *cs_state_name(const struct cs *cs);

/*
 * Whether a chunkserver may register at addr: a loopback address only when
 * every master (masters[0..n-1], service addresses) is on loopback too --
 * a one-host test cluster.  Otherwise no peer, gateway or other master's
 * host could reach it, yet it would show up and take replicas.
 */
bool cs_addr_acceptable(const char *addr, const char (*masters)[CS_ADDR_MAX + 1], int n);

#endif
