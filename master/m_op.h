/*
 * One request to the master waiting for its answer (often for Raft), and
 * the helpers every handler file shares.  See m_op.c.
 */
#ifndef SHOAL_MASTER_M_OP_H
#define SHOAL_MASTER_M_OP_H

#include "master.h"
#include "shoal.pb-c.h"

#define LOOKUP_MAX	FSM_ALLOC_MAX

/* One request waiting for Raft. */
struct m_op {
	struct master *m;
	struct sl_conn *c;
	uint64_t req_id;
	uint16_t type;
	ProtobufCMessage *req;
	int pending;		/* Raft entries still in flight (LOOKUP grants) */
	int status;		/* first failure among them */
	int rounds;
	uint64_t chunk_id;	/* LEASE / REPLICA_FAILED */
	uint64_t old_version;
	struct list_head wait;	/* GW_CLOSE: on master.gw_closes */
	uint64_t due;		/* GW_CLOSE: fence time */
	uint64_t dropped;	/* CHUNK_REPORT: sets the server left (replicas missing) */
	uint64_t *takeover;	/* CHUNK_REPORT: chunks a fallback may take (K3), logged once applied */
	uint32_t ntakeover;
};

/* ChunkLoc pieces: addresses point into the registry, valid until the reply is packed. */
struct loc_buf {
	Shoal__ChunkLoc loc;
	Shoal__ServerAddr primary;
	Shoal__ServerAddr reps[SL_MAX_REPLICAS];
	Shoal__ServerAddr *rep_ptrs[SL_MAX_REPLICAS];
};

/* The lease clock reads the monotonic clock once per request or scan. */
void m_clock_now(struct master *m);
/* NULL if out of memory; the op holds a reference on c and owns pm. */
struct m_op *m_op_new(struct master *m, struct sl_conn *c, const struct sl_msg *req, ProtobufCMessage *pm);
/* Answers op (SL_E_NOT_LEADER as a redirect) and frees it. */
void m_op_end(struct m_op *op, int status, const ProtobufCMessage *msg);
void m_reply(struct sl_conn *c, uint64_t req_id, uint16_t type, int status, const ProtobufCMessage *msg);
void m_reply_redirect(struct master *m, struct sl_conn *c, uint64_t req_id, uint16_t type);
/* One Raft entry (w is freed); cb runs once it is applied here or lost. */
int m_submit(struct master *m, struct wbuf *w, rg_apply_cb cb, void *arg);
/* lease.h's view of a chunkserver: down, silent or heard. */
enum lease_cs_state m_cs_lease_state(uint32_t id, void *arg);
void m_fill_loc(struct master *m, const struct chunk *c, uint32_t index, struct loc_buf *lb);

#endif
