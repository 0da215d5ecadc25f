/*
 * Internals shared by the master's RPC handlers: m_service.c (dispatch,
 * volumes, chunkserver admin, status), m_cs.c (chunkservers' register,
 * chunk report, heartbeat) and m_chunk.c (lookup, leases, replica
 * failures).
 */
#ifndef SHOAL_MASTER_M_SERVICE_H
#define SHOAL_MASTER_M_SERVICE_H

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
};

/* ChunkLoc pieces: addresses point into the registry, valid until the reply is packed. */
struct loc_buf {
	Shoal__ChunkLoc loc;
	Shoal__ServerAddr primary;
	Shoal__ServerAddr reps[SL_MAX_REPLICAS];
	Shoal__ServerAddr *rep_ptrs[SL_MAX_REPLICAS];
};

void clock_now(struct master *m);
void op_end(struct m_op *op, int status, const ProtobufCMessage *msg);
int submit(struct master *m, struct wbuf *w, rg_apply_cb cb, void *arg);
enum lease_cs_state cs_lease_state_cb(uint32_t id, void *arg);
void fill_loc(struct master *m, const struct chunk *c, uint32_t index, struct loc_buf *lb);

/* m_cs.c: each returns 0 when it answered or will answer, else the status to answer with. */
int h_register(struct master *m, struct m_op *op);
int h_chunk_report(struct master *m, struct m_op *op);
int h_heartbeat(struct master *m, struct m_op *op);

/* m_chunk.c: each returns 0 when it answered or will answer, else the status to answer with. */
int h_lookup(struct master *m, struct m_op *op);
bool chunk_below_min(struct master *m, const struct chunk *c);
int h_lease(struct master *m, struct m_op *op);
int h_replica_failed(struct master *m, struct m_op *op);

/* m_session.c */
int h_gw_session(struct master *m, struct m_op *op);
/* HeartbeatRep.sessions for HeartbeatReq.sessions; store holds n entries (caller frees). */
Shoal__GwSessionState **m_session_states(struct master *m, const uint64_t *ids, size_t n,
					  Shoal__GwSessionState **store);

#endif
