/*
 * M_GW_SESSION and the session part of chunkserver heartbeats: gateway
 * sessions (doc/protocol.md "Gateway sessions"; the table's rules are in
 * gw_session.h).
 *
 * GW_CLOSE is answered only when the session is fenced (G3): the request
 * waits on master.gw_closes, sorted by nothing (few at a time), until its
 * due time passes; gw_timer fires at the earliest.  Losing leadership
 * answers them NOT_LEADER (the gateway asks the next leader, which knows
 * the session's fence time as one of an earlier term).
 */
#include <stdlib.h>
#include <unistd.h>
#include <sys/random.h>
#include "log.h"
#include "msg_types.h"
#include "status.h"
#include "m_service.h"

#define GW_CHECK_MAX	1024

static void closes_arm(struct master *m)
{
	struct m_op *op;
	uint64_t first = UINT64_MAX, now = sl_now_ms();

	list_for_each_entry(op, &m->gw_closes, wait)
		if (op->due < first)
			first = op->due;
	if (first == UINT64_MAX)
		sl_timer_cancel(m->loop, &m->gw_timer);
	else
		sl_timer_arm(m->loop, &m->gw_timer, first > now ? first - now : 0);
}

static void closes_run(struct master *m, bool all, int status)
{
	struct m_op *op, *n;
	uint64_t now = sl_now_ms();

	list_for_each_entry_safe(op, n, &m->gw_closes, wait) {
		if (!all && op->due > now)
			continue;
		list_del_init(&op->wait);
		m_op_end(op, status, NULL);
	}
	closes_arm(m);
}

static void gw_timer_cb(struct sl_timer *t, void *arg)
{
	closes_run(arg, false, SL_OK);
}

int m_session_init(struct master *m)
{
	INIT_LIST_HEAD(&m->gw_closes);
	sl_timer_init(&m->gw_timer, gw_timer_cb, m);
	return gws_init(&m->gws, (uint32_t)m->gw_lease_ms);
}

void m_session_free(struct master *m)
{
	gws_free(&m->gws);
}

/*
 * A previous leader spoke for its sessions only while its leader lease
 * held, which ran out less than the lease window after it was last
 * confirmed, before we were elected (raft_glue.h): every statement it made
 * ran out by now + the window + L.
 */
void m_session_on_ready(struct master *m, uint64_t term)
{
	uint64_t wait = (uint64_t)m->gw_lease_ms + rg_lease_window_ms(m->rg);
	uint32_t epoch = 0;

	/* ids unique across leaders and restarts (gw_session.h) */
	while (!epoch || epoch == m->gws.epoch)
		if (getrandom(&epoch, sizeof(epoch), 0) != sizeof(epoch))
			epoch = (uint32_t)(sl_now_us() ^ ((uint64_t)getpid() << 16) ^ term);
	gws_reset(&m->gws, epoch, sl_now_ms() + wait);
	sl_info("gateway sessions: new table, epoch %08x, term %llu (earlier sessions are dead, fenced in %llu ms)",
		epoch, (unsigned long long)term, (unsigned long long)wait);
}

void m_session_on_lost(struct master *m)
{
	closes_run(m, true, SL_E_NOT_LEADER);
	gws_reset(&m->gws, 0, 0);
}

void m_session_tick(struct master *m)
{
	gws_sweep(&m->gws, sl_now_ms());
}

Shoal__GwSessionState **m_session_states(struct master *m, const uint64_t *ids, size_t n,
					  Shoal__GwSessionState **store)
{
	Shoal__GwSessionState *st = calloc(n + 1, sizeof(*st));
	Shoal__GwSessionState **p = calloc(n + 1, sizeof(*p));
	uint64_t now = sl_now_ms();
	size_t i;

	*store = NULL;
	if (!st || !p) {
		free(st);
		free(p);
		return NULL;
	}
	for (i = 0; i < n; i++) {
		shoal__gw_session_state__init(&st[i]);
		st[i].session = ids[i];
		st[i].remaining_ms = gws_remaining(&m->gws, ids[i], now);
		p[i] = &st[i];
	}
	*store = st;
	return p;
}

int h_gw_session(struct master *m, struct m_op *op)
{
	Shoal__GwSessionReq *rq = (Shoal__GwSessionReq *)op->req;
	Shoal__GwSessionRep rep = SHOAL__GW_SESSION_REP__INIT;
	Shoal__GwSessionState *store, **states;
	uint64_t now = sl_now_ms(), id;
	int rv;

	switch (rq->op) {
	case SHOAL__GW_SESSION_OP__GW_OPEN:
		rv = gws_open(&m->gws, now, rq->name, &id);
		if (rv)
			return rv;
		sl_info("gateway session %016llx opened for '%.63s'", (unsigned long long)id, rq->name);
		rep.session = id;
		rep.lease_ms = (uint32_t)m->gw_lease_ms;
		m_op_end(op, SL_OK, &rep.base);
		return 0;
	case SHOAL__GW_SESSION_OP__GW_RENEW:
		rv = gws_renew(&m->gws, rq->session, now);
		if (rv) {
			sl_info("gateway session %016llx: renewal refused, the session is dead",
				(unsigned long long)rq->session);
			return rv;
		}
		rep.session = rq->session;
		rep.lease_ms = (uint32_t)m->gw_lease_ms;
		m_op_end(op, SL_OK, &rep.base);
		return 0;
	case SHOAL__GW_SESSION_OP__GW_CLOSE:
		op->due = gws_close(&m->gws, rq->session, now);
		sl_info("gateway session %016llx closed: fenced in %llu ms", (unsigned long long)rq->session,
			(unsigned long long)(op->due - now));
		if (op->due <= now) {
			m_op_end(op, SL_OK, NULL);
			return 0;
		}
		list_add_tail(&op->wait, &m->gw_closes);
		closes_arm(m);
		return 0;
	case SHOAL__GW_SESSION_OP__GW_CHECK:
		if (rq->n_check > GW_CHECK_MAX)
			return SL_E_INVAL;
		states = m_session_states(m, rq->check, rq->n_check, &store);
		if (!states)
			return SL_E_INTERNAL;
		rep.sessions = states;
		rep.n_sessions = rq->n_check;
		m_op_end(op, SL_OK, &rep.base);
		free(store);
		free(states);
		return 0;
	default:
		return SL_E_INVAL;
	}
}
