/*
 * The handlers m_service.c dispatches to: m_cs.c (chunkservers' register,
 * chunk report, heartbeat), m_chunk.c (lookup, leases, replica failures),
 * m_volume.c (volumes), m_status.c (listings and status) and m_session.c
 * (gateway sessions).  What they share is in m_op.h.
 */
#ifndef SHOAL_MASTER_M_SERVICE_H
#define SHOAL_MASTER_M_SERVICE_H

#include "m_op.h"

/* m_cs.c: each returns 0 when it answered or will answer, else the status to answer with. */
int h_register(struct master *m, struct m_op *op);
int h_chunk_report(struct master *m, struct m_op *op);
int h_heartbeat(struct master *m, struct m_op *op);

/* m_chunk.c: each returns 0 when it answered or will answer, else the status to answer with. */
int h_lookup(struct master *m, struct m_op *op);
bool chunk_below_min(struct master *m, const struct chunk *c);
int h_lease(struct master *m, struct m_op *op);
int h_replica_failed(struct master *m, struct m_op *op);

/* m_volume.c */
int h_vol_create(struct master *m, struct m_op *op);
int h_vol_resize(struct master *m, struct m_op *op);
int h_vol_delete(struct master *m, struct m_op *op);
int h_vol_reset(struct master *m, struct m_op *op);
int h_vol_info(struct master *m, struct m_op *op);
int h_vol_list(struct master *m, struct m_op *op);

/* m_status.c */
int h_cs_list(struct master *m, struct m_op *op);
int h_cluster_status(struct master *m, struct m_op *op);
int h_master_status(struct master *m, struct m_op *op);
int h_dump(struct master *m, struct m_op *op);

/* m_session.c */
int h_gw_session(struct master *m, struct m_op *op);
/* HeartbeatRep.sessions for HeartbeatReq.sessions; store holds n entries (caller frees). */
Shoal__GwSessionState **m_session_states(struct master *m, const uint64_t *ids, size_t n,
					  Shoal__GwSessionState **store);

#endif
