/*
 * A request to the master, from decode to answer, and the helpers every
 * handler file shares (m_service.c dispatches; m_chunk.c, m_cs.c,
 * m_session.c and replication.c handle).  This file calls none of them:
 * the master's files form a DAG with m_op.c under the handlers and
 * m_service.c above them (tests/layering checks it).
 *
 * Answers: m_op_end answers SL_E_NOT_LEADER (leadership lost while the
 * request waited for Raft: outcome unknown) with MasterRedirect{leader's
 * service address, or "" when this master knows no newer leader}; the
 * client retries with the same dedup id.
 */
#include <stdlib.h>
#include <string.h>
#include "log.h"
#include "status.h"
#include "master.h"
#include "m_op.h"

void m_clock_now(struct master *m)
{
	m->lc.now = sl_now_ms();
}

void m_reply(struct sl_conn *c, uint64_t req_id, uint16_t type, int status, const ProtobufCMessage *msg)
{
	int rv = sl_rpc_reply(c, req_id, type, status, msg, NULL, 0);
	if (rv)
		sl_debug("reply to %s: %s", sl_conn_peer(c), sl_status_str(rv));
}

static const char *leader_svc_addr(struct master *m)
{
	struct rg_status st;
	rg_get_status(m->rg, &st);
	if (st.leader_id >= 1 && (int)st.leader_id <= m->nmasters)
		return m->svc_addr[st.leader_id - 1];
	return "";
}

void m_reply_redirect(struct master *m, struct sl_conn *c, uint64_t req_id, uint16_t type)
{
	Shoal__MasterRedirect r = SHOAL__MASTER_REDIRECT__INIT;
	r.leader_addr = (char *)leader_svc_addr(m);
	if (!strcmp(r.leader_addr, m->self_addr))
		r.leader_addr = "";	/* we lost it and know no newer one */
	m_reply(c, req_id, type, SL_E_NOT_LEADER, &r.base);
}

struct m_op *m_op_new(struct master *m, struct sl_conn *c, const struct sl_msg *req, ProtobufCMessage *pm)
{
	struct m_op *op = calloc(1, sizeof(*op));
	if (!op)
		return NULL;
	op->m = m;
	op->c = c;
	op->req_id = req->hdr.req_id;
	op->type = req->hdr.type;
	op->req = pm;
	INIT_LIST_HEAD(&op->wait);
	sl_conn_get(c);
	m->ops_pending++;
	return op;
}

void m_op_end(struct m_op *op, int status, const ProtobufCMessage *msg)
{
	if (status == SL_E_NOT_LEADER)
		m_reply_redirect(op->m, op->c, op->req_id, op->type);
	else
		m_reply(op->c, op->req_id, op->type, status, msg);
	sl_conn_put(op->c);
	sl_msg_free(op->req);
	op->m->ops_pending--;
	free(op);
}

int m_submit(struct master *m, struct wbuf *w, rg_apply_cb cb, void *arg)
{
	int rv = w->bad ? SL_E_INTERNAL : rg_submit(m->rg, w->p, w->len, cb, arg);
	wbuf_free(w);
	return rv;
}

enum lease_cs_state m_cs_lease_state(uint32_t id, void *arg)
{
	struct master *m = arg;
	struct cs *cs = cs_by_id(&m->fsm->css, id);

	if (!cs || !cs->up || cs->admin == CS_REMOVED)
		return LEASE_CS_DOWN;
	if (cs_silent(cs, sl_now_ms(), master_silence_ms(m)))
		return LEASE_CS_SILENT;
	return LEASE_CS_HEARD;
}

void m_fill_loc(struct master *m, const struct chunk *c, uint32_t index, struct loc_buf *lb)
{
	shoal__chunk_loc__init(&lb->loc);
	lb->loc.index = index;
	if (!c)
		return;
	lb->loc.chunk_id = c->id;
	lb->loc.version = c->version;
	lb->loc.epoch = c->version;
	for (int i = 0; i < c->nrep; i++) {
		struct cs *cs = cs_by_id(&m->fsm->css, c->rep[i]);
		shoal__server_addr__init(&lb->reps[i]);
		lb->reps[i].cs_id = c->rep[i];
		lb->reps[i].addr = cs ? cs->addr : "";
		lb->rep_ptrs[i] = &lb->reps[i];
		if (c->rep[i] == c->primary) {
			lb->primary = lb->reps[i];
			lb->loc.primary = &lb->primary;
		}
	}
	lb->loc.n_replicas = c->nrep;
	lb->loc.replicas = lb->rep_ptrs;
	if (lb->loc.primary && lease_live(&m->lc, c))
		lb->loc.lease_left_ms = (uint32_t)(c->lease_expiry - m->lc.now);
}
