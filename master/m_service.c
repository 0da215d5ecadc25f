/*
 * The master's dispatcher: every M_* message (lib/msg_types.h) to its
 * handler -- the chunkservers' own (register, chunk report, heartbeat) in
 * m_cs.c, lookups, leases and replica failures in m_chunk.c, gateway
 * sessions in m_session.c, volumes in m_volume.c, listings and status in
 * m_status.c, chunkserver membership (drain, remove, maintenance) here --
 * and the leader's tick.  Handlers share m_op.c and never call back here.
 *
 * Only the ready leader (raft_glue.h) answers; a follower answers
 * SL_E_NOT_LEADER with MasterRedirect{leader's service address or ""}, a
 * leader whose post-election barrier is still pending answers SL_E_BUSY.
 * M_MASTER_STATUS is the exception: every master answers it with its own
 * view (so operators and tests can watch followers catch up).
 *
 * Every mutation is one Raft entry; its reply is sent from the apply
 * callback, after the FSM applied it on this leader.  A callback with
 * SL_E_NOT_LEADER (leadership lost: outcome unknown) is passed on as
 * NOT_LEADER + redirect; the client retries with the same dedup id.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "log.h"
#include "msg_types.h"
#include "status.h"
#include "maintenance.h"
#include "master.h"
#include "m_service.h"

/* ---- chunkserver admin ---- */

static void cs_state_done(void *arg, int status, uint64_t res)
{
	struct m_op *op = arg;
	if (status == SL_OK)
		status = FSM_RES_STATUS(res);
	m_op_end(op, status, NULL);
}

static int h_cs_state(struct master *m, struct m_op *op, uint8_t admin)
{
	Shoal__CsIdReq *rq = (Shoal__CsIdReq *)op->req;
	struct wbuf w;
	struct cs *cs = rq->cs_id && rq->cs_id <= UINT32_MAX ? cs_by_id(&m->fsm->css, rq->cs_id) : NULL;
	if (!cs || (cs->admin == CS_REMOVED && admin != CS_REMOVED))
		return SL_E_NOENT;	/* a removed server is gone for good (apply_cs_state) */
	wbuf_init(&w);
	fsm_enc_cs_state(&w, rq->dedup ? rq->dedup->client_id : 0, rq->dedup ? rq->dedup->seq : 0,
			 rq->cs_id, admin, rq->force);
	return m_submit(m, &w, cs_state_done, op);
}

/* maintenance.h: the end is fixed here, on the leader's wall clock, so every member applies the same. */
static int h_cs_maintenance(struct master *m, struct m_op *op)
{
	Shoal__CsIdReq *rq = (Shoal__CsIdReq *)op->req;
	struct wbuf w;
	struct cs *cs = rq->cs_id && rq->cs_id <= UINT32_MAX ? cs_by_id(&m->fsm->css, rq->cs_id) : NULL;

	if (!cs || cs->admin == CS_REMOVED)
		return SL_E_NOENT;
	if (rq->maintenance_ms > MAINT_MAX_MS || (rq->maintenance_ms && cs->admin != CS_ACTIVE))
		return SL_E_INVAL;
	wbuf_init(&w);
	fsm_enc_cs_maintenance(&w, rq->dedup ? rq->dedup->client_id : 0, rq->dedup ? rq->dedup->seq : 0,
			       rq->cs_id, rq->maintenance_ms ? maint_wall_ms() + rq->maintenance_ms : 0);
	return m_submit(m, &w, cs_state_done, op);
}

/* ---- dispatch ---- */

void m_service_request(struct sl_conn *c, const struct sl_msg *req, void *arg)
{
	struct master *m = arg;
	uint16_t type = req->hdr.type;
	int rv;

	if (!sl_msg_type_lookup(type) || type < SL_MSG_M_REGISTER_CS || m->closing) {
		m_reply(c, req->hdr.req_id, type, m->closing ? SL_E_UNAVAIL : SL_E_PROTO, NULL);
		return;
	}
	if (type != SL_MSG_M_MASTER_STATUS && !rg_ready(m->rg)) {
		struct rg_status st;
		rg_get_status(m->rg, &st);
		if (!strcmp(st.role, "leader-pending"))
			m_reply(c, req->hdr.req_id, type, SL_E_BUSY, NULL);
		else
			m_reply_redirect(m, c, req->hdr.req_id, type);
		return;
	}
	/*
	 * Leases and session statements only from a leader whose majority
	 * confirmed it lately (raft_glue.h, leader lease): a deposed leader
	 * that has not noticed yet answers BUSY, and the client asks again.
	 */
	if ((type == SL_MSG_M_LOOKUP || type == SL_MSG_M_LEASE || type == SL_MSG_M_REPLICA_FAILED ||
	     type == SL_MSG_M_GW_SESSION) && !rg_leased(m->rg)) {
		m_reply(c, req->hdr.req_id, type, SL_E_BUSY, NULL);
		return;
	}
	ProtobufCMessage *pm = sl_msg_unpack(req, false);
	if (!pm) {
		sl_warn("%s: %s request did not decode", sl_conn_peer(c), sl_msg_type_lookup(type)->name);
		m_reply(c, req->hdr.req_id, type, SL_E_PROTO, NULL);
		return;
	}
	struct m_op *op = m_op_new(m, c, req, pm);
	if (!op) {
		sl_msg_free(pm);
		m_reply(c, req->hdr.req_id, type, SL_E_INTERNAL, NULL);
		return;
	}
	switch (type) {
	case SL_MSG_M_REGISTER_CS: rv = h_register(m, op); break;
	case SL_MSG_M_CHUNK_REPORT: rv = h_chunk_report(m, op); break;
	case SL_MSG_M_HEARTBEAT: rv = h_heartbeat(m, op); break;
	case SL_MSG_M_VOLUME_CREATE: rv = h_vol_create(m, op); break;
	case SL_MSG_M_VOLUME_LIST: rv = h_vol_list(m, op); break;
	case SL_MSG_M_VOLUME_INFO: rv = h_vol_info(m, op); break;
	case SL_MSG_M_VOLUME_RESIZE: rv = h_vol_resize(m, op); break;
	case SL_MSG_M_VOLUME_DELETE: rv = h_vol_delete(m, op); break;
	case SL_MSG_M_LOOKUP: rv = h_lookup(m, op); break;
	case SL_MSG_M_LEASE: rv = h_lease(m, op); break;
	case SL_MSG_M_REPLICA_FAILED: rv = h_replica_failed(m, op); break;
	case SL_MSG_M_CS_LIST: rv = h_cs_list(m, op); break;
	case SL_MSG_M_CS_DRAIN: rv = h_cs_state(m, op, CS_DRAINING); break;
	case SL_MSG_M_CS_REMOVE: rv = h_cs_state(m, op, CS_REMOVED); break;
	case SL_MSG_M_CS_MAINTENANCE: rv = h_cs_maintenance(m, op); break;
	case SL_MSG_M_CLUSTER_STATUS: rv = h_cluster_status(m, op); break;
	case SL_MSG_M_MASTER_STATUS: rv = h_master_status(m, op); break;
	case SL_MSG_M_DUMP: rv = h_dump(m, op); break;
	case SL_MSG_M_VOLUME_RESET: rv = h_vol_reset(m, op); break;
	case SL_MSG_M_GW_SESSION: rv = h_gw_session(m, op); break;
	default: rv = SL_E_PROTO; break;
	}
	/* A handler returns non-zero only when it did not answer and nothing is in flight. */
	if (rv)
		m_op_end(op, rv, NULL);
}

/* ---- leadership and liveness ---- */

void m_service_on_ready(void *arg)
{
	struct master *m = arg;
	struct chunk *c;
	uint32_t idx;

	m_clock_now(m);
	/*
	 * We cannot know the old leader's lease expiries: it granted nothing
	 * after its leader lease ran out, which was before we were elected
	 * (raft_glue.h), so wait one lease period plus that window.
	 */
	m->ready_ms = m->lc.now;
	lease_clock_ready(&m->lc, m->lc.now, rg_lease_window_ms(m->rg));
	cs_registry_reset_soft(&m->fsm->css, m->lc.now);
	repl_reset(m);
	{
		struct rg_status st;

		rg_get_status(m->rg, &st);
		m_session_on_ready(m, st.term);
	}
	chunk_map_for_each(&m->fsm->chunks, c, idx) {
		c->lease_expiry = 0;
		c->live = 0;
		c->flags = 0;
	}
	sl_info("serving as leader at %s (%u volumes, %u chunks, %u chunkservers); new leases wait %u ms",
		m->self_addr, m->fsm->vols.count, m->fsm->chunks.count, m->fsm->css.count,
		m->lc.lease_ms + rg_lease_window_ms(m->rg));
	sl_timer_arm(m->loop, &m->tick, m->heartbeat_ms);
}

void m_service_on_lost(void *arg)
{
	struct master *m = arg;
	sl_timer_cancel(m->loop, &m->tick);
	repl_reset(m);
	m_session_on_lost(m);
}

void m_service_tick(struct sl_timer *t, void *arg)
{
	struct master *m = arg;
	if (!rg_ready(m->rg))
		return;
	cs_registry_check(&m->fsm->css, sl_now_ms(), m->cs_timeout_ms);
	repl_tick(m);
	m_session_tick(m);
	sl_timer_arm(m->loop, t, m->heartbeat_ms);
}
