/*
 * The master's RPCs from chunkservers: M_REGISTER_CS (identity, address,
 * disks), M_CHUNK_REPORT (the inventory, checked against the FSM) and
 * M_HEARTBEAT (liveness, disk usage, deletes and gateway-session states
 * handed back).  Dispatch, replies and the rules they share are in
 * m_service.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config.h"
#include "log.h"
#include "msg_types.h"
#include "status.h"
#include "maintenance.h"
#include "master.h"
#include "m_service.h"

#define HB_DELETE_MAX	4096
#define HB_RENEW_MAX	65536

static void update_disks(struct master *m, struct cs *cs, Shoal__DiskStatus **disks, size_t n)
{
	uint64_t cap = 0, used = 0, room = 0;
	struct cs_disk_info info[CS_MAX_DISKS] = { 0 };
	for (size_t i = 0; i < n && i < CS_MAX_DISKS; i++)
		info[i] = (struct cs_disk_info){ disks[i]->path, disks[i]->index, disks[i]->failed,
						 disks[i]->capacity, disks[i]->used, disks[i]->chunks };
	cs_set_disks(cs, info, n < CS_MAX_DISKS ? (uint32_t)n : CS_MAX_DISKS);
	for (size_t i = 0; i < n; i++)
		if (!disks[i]->failed) {
			uint64_t u = disks[i]->used < disks[i]->capacity ? disks[i]->used : disks[i]->capacity;
			/* room below the fill threshold (re-replication never goes past it) */
			uint64_t limit = disks[i]->capacity / 100 * (uint64_t)m->disk_full_percent;
			cap += disks[i]->capacity;
			used += u;
			if (limit > u && limit - u > room)
				room = limit - u;
		}
	cs->capacity = cap;
	cs->used = used;
	cs->room = room;
}

static void cs_seen(struct cs *cs)
{
	if (!cs->up)
		sl_info("chunkserver %u (%s) up", cs->id, cs->addr);
	cs->up = true;
	cs->heard = true;	/* register and chunk report take it back until the report applied */
	cs->last_hb_ms = sl_now_ms();
}

/* ---- M_REGISTER_CS ---- */

/*
 * The identities of the data directories a registration reports, by index;
 * false if none carries one (a chunkserver from before disk identities).
 */
static bool reported_disk_ids(const Shoal__RegisterCsReq *rq, struct cs_disk_id *d, uint32_t *n)
{
	*n = 0;
	for (size_t i = 0; i < rq->n_disks && *n < CS_MAX_DISKS; i++) {
		if (!rq->disks[i]->uuid[0])
			continue;
		d[*n].index = rq->disks[i]->index;
		snprintf(d[*n].uuid, sizeof(d[*n].uuid), "%s", rq->disks[i]->uuid);
		(*n)++;
	}
	return *n > 0;
}

/* Whether the registration changes the recorded disk identities; logs each new one. */
static bool disks_changed(const struct cs *cs, const Shoal__RegisterCsReq *rq, struct cs_disk_id *d,
			  uint32_t *n)
{
	bool changed;

	if (!reported_disk_ids(rq, d, n))
		return false;
	changed = *n != cs->ndisk_ids;
	for (uint32_t i = 0; i < *n; i++) {
		const struct cs_disk_id *old = cs_disk_id(cs, d[i].index);

		if (old && !strcmp(old->uuid, d[i].uuid))
			continue;
		changed = true;
		if (old)
			sl_warn("chunkserver %u: disk %u is a new data directory (disk %s, was %s): "
				"what the old one held is gone; its chunk report decides",
				cs->id, d[i].index, d[i].uuid, old->uuid);
		else if (cs->ndisk_ids)
			sl_info("chunkserver %u: disk %u added (disk %s)", cs->id, d[i].index, d[i].uuid);
	}
	return changed;
}

static void register_reply(struct m_op *op, uint32_t id, int status)
{
	struct master *m = op->m;
	Shoal__RegisterCsReq *rq = (Shoal__RegisterCsReq *)op->req;
	Shoal__RegisterCsRep rep = SHOAL__REGISTER_CS_REP__INIT;
	struct cs *cs = cs_by_id(&m->fsm->css, id);
	if (status == SL_OK && cs) {
		cs_seen(cs);
		cs->heard = false;	/* a new process, or one the master lost: until its report */
		update_disks(m, cs, rq->disks, rq->n_disks);
		struct rg_status st;
		rg_get_status(m->rg, &st);
		rep.cs_id = id;
		rep.term = st.term;
		rep.heartbeat_ms = m->heartbeat_ms;
		rep.lease_ms = m->lease_ms;
		rep.leader_addr = (char *)m->self_addr;
		sl_info("chunkserver %u registered: %s host=%s rack=%s", id, cs->addr, cs->host, cs->rack);
		struct cs *o;
		list_for_each_entry(o, &m->fsm->css.list, node)
			if (!rq->cs_id && o != cs && o->admin != CS_REMOVED && !strcmp(o->addr, cs->addr))
				sl_warn("chunkserver %u at %s is new (no data directory of the server there "
					"was kept) and replaces chunkserver %u: remove %u once its chunks "
					"are re-replicated", id, cs->addr, o->id, o->id);
	}
	m_op_end(op, status, &rep.base);
}

static void register_disks_done(void *arg, int status, uint64_t res)
{
	struct m_op *op = arg;
	if (status == SL_OK)
		status = FSM_RES_STATUS(res);
	register_reply(op, FSM_RES_VALUE(res), status);
}

/* The server is registered as id: record its disks' identities if they changed, then answer. */
static void register_disks(struct m_op *op, uint32_t id)
{
	struct master *m = op->m;
	struct cs *cs = cs_by_id(&m->fsm->css, id);
	struct cs_disk_id d[CS_MAX_DISKS];
	uint32_t n;
	struct wbuf w;
	int rv;

	if (!cs || !disks_changed(cs, (const Shoal__RegisterCsReq *)op->req, d, &n)) {
		register_reply(op, id, cs ? SL_OK : SL_E_NOENT);
		return;
	}
	wbuf_init(&w);
	fsm_enc_cs_disks(&w, id, d, n);
	rv = m_submit(m, &w, register_disks_done, op);
	if (rv)
		m_op_end(op, rv, NULL);
}

static void register_done(void *arg, int status, uint64_t res)
{
	struct m_op *op = arg;
	if (status == SL_OK)
		status = FSM_RES_STATUS(res);
	if (status == SL_OK)
		register_disks(op, FSM_RES_VALUE(res));
	else
		register_reply(op, FSM_RES_VALUE(res), status);
}

int h_register(struct master *m, struct m_op *op)
{
	Shoal__RegisterCsReq *rq = (Shoal__RegisterCsReq *)op->req;
	struct wbuf w;

	if (!rq->addr[0] || strlen(rq->addr) > CS_ADDR_MAX || strlen(rq->host) > CS_LABEL_MAX ||
	    strlen(rq->rack) > CS_LABEL_MAX || strlen(rq->uuid) > CS_LABEL_MAX ||
	    rq->n_disks > CS_MAX_DISKS || rq->cs_id > UINT32_MAX)
		return SL_E_INVAL;
	if (!sl_label_valid(rq->host) || !sl_label_valid(rq->rack)) {
		sl_warn("chunkserver at %s refused: its host or rack label is not one (at most %d of "
			"A-Z a-z 0-9 . _ -)", rq->addr, SL_LABEL_MAX);
		return SL_E_INVAL;
	}
	if (!cs_addr_acceptable(rq->addr, m->svc_addr, m->nmasters)) {
		sl_warn("chunkserver at %s refused: a loopback address, and the masters are not all on "
			"loopback (no other host could reach it)", rq->addr);
		return SL_E_INVAL;
	}
	struct cs *cs = rq->cs_id ? cs_by_id(&m->fsm->css, rq->cs_id) : cs_by_uuid(&m->fsm->css, rq->uuid);
	if (cs && cs->admin == CS_REMOVED)
		return SL_E_NOENT;
	if (cs && rq->uuid[0] && cs->uuid[0] && strcmp(cs->uuid, rq->uuid))
		return SL_E_EXIST;
	for (size_t i = 0; i < rq->n_disks; i++)
		if (strlen(rq->disks[i]->uuid) > CS_LABEL_MAX)
			return SL_E_INVAL;
	if (cs && !strcmp(cs->addr, rq->addr) && !strcmp(cs->host, rq->host) &&
	    !strcmp(cs->rack, rq->rack) && !strcmp(cs->uuid, rq->uuid)) {
		register_disks(op, cs->id);	/* the server itself is unchanged */
		return 0;
	}
	wbuf_init(&w);
	fsm_enc_cs_register(&w, cs ? cs->id : (uint32_t)rq->cs_id, rq->addr, rq->host, rq->rack, rq->uuid);
	return m_submit(m, &w, register_done, op);
}

/* ---- M_CHUNK_REPORT ---- */

/*
 * The report is the server's full inventory (doc/protocol.md "Replica
 * existence"): a member of a written (CREATED) chunk's set whose report
 * lacks the chunk holds no replica of it (an emptied or replaced disk, a
 * file removed by hand) and leaves the set, through Raft, before the
 * report is acknowledged; the chunk is then under-replicated and copied
 * from the members that hold it.  An unwritten chunk's members have no
 * file until its first primary creates them, so they stay.  The
 * chunkserver creates no replica until its report was acknowledged, so a
 * replica created after the report was built cannot be taken for missing
 * (and a CREATED chunk's replicas are never created, only copied).
 */

static int id_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void report_reply(struct m_op *op)
{
	struct master *m = op->m;
	Shoal__ChunkReportReq *rq = (Shoal__ChunkReportReq *)op->req;
	Shoal__ChunkReportRep rep = SHOAL__CHUNK_REPORT_REP__INIT;
	struct cs *cs = cs_by_id(&m->fsm->css, (uint32_t)rq->cs_id);
	if (!cs || cs->admin == CS_REMOVED) {
		m_op_end(op, SL_E_NOENT, NULL);
		return;
	}
	uint64_t *del = malloc((rq->n_chunks + 1) * sizeof(*del));
	if (!del) {
		m_op_end(op, SL_E_INTERNAL, NULL);
		return;
	}
	for (size_t i = 0; i < rq->n_chunks; i++) {
		struct chunk *c = chunk_map_by_id(&m->fsm->chunks, rq->chunks[i]->chunk_id);
		int pos = c ? chunk_rep_pos(c, cs->id) : -1;
		if (pos < 0 && c && repl_copying_to(m, c->id, cs->id))
			continue;	/* a copy to it finished and is about to join the set */
		if (pos < 0 && c && repl_keep_stale(m, c, cs, rq->chunks[i]->version))
			continue;	/* stale, kept: a resync copies only what changed since */
		if (pos < 0 && c && chunk_fall_pos(c, cs->id) >= 0)
			continue;	/* a fallback (chunk_map.h K2) */
		if (pos < 0) {
			/* Unknown chunk (deleted volume) or not in the set: stale. */
			del[rep.n_delete_chunks++] = rq->chunks[i]->chunk_id;
			continue;
		}
		c->live |= 1u << pos;
	}
	rep.delete_chunks = del;
	rep.missing = op->dropped;
	if (rep.n_delete_chunks)
		sl_info("chunkserver %u: %zu of %zu reported replicas are stale or orphaned",
			cs->id, rep.n_delete_chunks, rq->n_chunks);
	cs->heard = true;
	m_op_end(op, SL_OK, &rep.base);
	free(del);
}

/* K3, once applied: the chunks whose set is now the fallback that left last. */
static void log_takeovers(struct m_op *op)
{
	const Shoal__ChunkReportReq *rq = (const Shoal__ChunkReportReq *)op->req;

	for (uint32_t i = 0; i < op->ntakeover; i++) {
		const struct chunk *c = chunk_map_by_id(&op->m->fsm->chunks, op->takeover[i]);
		if (c && c->nrep == 1 && c->rep[0] != rq->cs_id)
			sl_warn("chunk %llu: its last member, cs %llu, lost its replica; cs %u, which left "
				"the set below min_replicas and holds every acknowledged write, takes its place",
				(unsigned long long)c->id, (unsigned long long)rq->cs_id, c->rep[0]);
	}
}

static void report_missing_done(void *arg, int status, uint64_t res)
{
	struct m_op *op = arg;
	if (status == SL_OK)
		status = FSM_RES_STATUS(res);
	if (status != SL_OK && !op->status)
		op->status = status;
	if (--op->pending > 0)
		return;
	if (!op->status)
		log_takeovers(op);
	free(op->takeover);
	if (op->status)
		m_op_end(op, op->status, NULL);	/* the server registers and reports again */
	else
		report_reply(op);
}

int h_chunk_report(struct master *m, struct m_op *op)
{
	Shoal__ChunkReportReq *rq = (Shoal__ChunkReportReq *)op->req;
	struct cs *cs = rq->cs_id <= UINT32_MAX ? cs_by_id(&m->fsm->css, rq->cs_id) : NULL;
	struct chunk *c;
	uint32_t idx, nmiss = 0;
	if (!cs || cs->admin == CS_REMOVED)
		return SL_E_NOENT;
	cs_seen(cs);
	cs->heard = false;
	cs->need_report = false;
	uint64_t *ids = malloc((rq->n_chunks + 1) * sizeof(*ids));
	uint64_t *miss = malloc((m->fsm->chunks.count + 1) * sizeof(*miss));
	if (!ids || !miss) {
		free(ids);
		free(miss);
		return SL_E_INTERNAL;
	}
	op->takeover = malloc((m->fsm->chunks.count + 1) * sizeof(*op->takeover));	/* NULL: not logged */
	for (size_t i = 0; i < rq->n_chunks; i++)
		ids[i] = rq->chunks[i]->chunk_id;
	qsort(ids, rq->n_chunks, sizeof(*ids), id_cmp);
	chunk_map_for_each(&m->fsm->chunks, c, idx) {
		bool member = chunk_rep_pos(c, cs->id) >= 0;
		if (chunk_unwritten(c) || (!member && chunk_fall_pos(c, cs->id) < 0) ||
		    bsearch(&c->id, ids, rq->n_chunks, sizeof(*ids), id_cmp))
			continue;
		miss[nmiss++] = c->id;
		if (member && c->nrep == 1 && c->nfall && op->takeover)
			op->takeover[op->ntakeover++] = c->id;
	}
	free(ids);
	op->dropped = nmiss;
	if (nmiss)
		sl_warn("chunkserver %u: %u replicas counted in replica sets are not in its chunk report "
			"(an emptied or replaced disk?): it leaves those sets; they are re-replicated",
			cs->id, nmiss);
	op->pending = 1;	/* guard while submitting */
	for (uint32_t i = 0; i < nmiss && !op->status; i += FSM_MISSING_MAX) {
		uint32_t n = nmiss - i < FSM_MISSING_MAX ? nmiss - i : FSM_MISSING_MAX;
		struct wbuf w;
		wbuf_init(&w);
		fsm_enc_replicas_missing(&w, cs->id, miss + i, n);
		int rv = m_submit(m, &w, report_missing_done, op);
		if (rv == 0)
			op->pending++;
		else
			op->status = rv;
	}
	free(miss);
	report_missing_done(op, SL_OK, FSM_RES(SL_OK, 0));	/* drop the guard */
	return 0;
}

/* ---- M_HEARTBEAT ---- */

static void lost_done(void *arg, int status, uint64_t res)
{
	(void)arg;
	if (status != SL_OK || FSM_RES_STATUS(res) != SL_OK)
		sl_debug("dropping a lost replica: %s", sl_status_str(status ? status : FSM_RES_STATUS(res)));
}

/* Renews the leases cs asks for that it holds, into rep->renewed (n_lease_renew slots). */
static void hb_renew_leases(struct master *m, struct cs *cs, const Shoal__HeartbeatReq *rq,
			    Shoal__HeartbeatRep *rep)
{
	for (size_t i = 0; i < rq->n_lease_renew; i++) {
		struct chunk *c = chunk_map_by_id(&m->fsm->chunks, rq->lease_renew[i]);
		if (c && !chunk_below_min(m, c) && lease_for_request(&m->lc, c, cs->id, true) == LEASE_LIVE) {
			lease_start(&m->lc, c);
			rep->renewed[rep->n_renewed++] = c->id;
		}
	}
}

/*
 * Replicas lost to a failed disk leave their sets (a set change bumps
 * the version), or the chunk's fallbacks: never as fallbacks, they hold
 * nothing.  A last member stays (the set says where the data was)
 * unless a fallback can take its place (chunk_map.h K3).
 */
static void hb_lost_replicas(struct master *m, struct cs *cs, const Shoal__HeartbeatReq *rq)
{
	uint64_t lost[FSM_MISSING_MAX];
	uint32_t nlost = 0;
	struct wbuf w;

	for (size_t i = 0; i < rq->n_lost && nlost < FSM_MISSING_MAX; i++) {
		struct chunk *c = chunk_map_by_id(&m->fsm->chunks, rq->lost[i]->chunk_id);
		if (!c || (c->flags & CHUNK_F_GRANTING))
			continue;
		if (chunk_rep_pos(c, cs->id) < 0 ? chunk_fall_pos(c, cs->id) < 0 : c->nrep < 2 && !c->nfall)
			continue;
		if (c->primary == cs->id)
			lease_drop(c);
		lost[nlost++] = c->id;
	}
	if (!nlost)
		return;
	wbuf_init(&w);
	fsm_enc_replicas_missing(&w, cs->id, lost, nlost);
	m_submit(m, &w, lost_done, NULL);
}

/*
 * Garbage collection: the queued deletions to hand out now, at the head of
 * cs->del (how many returned).  Never one of a replica the server holds as
 * a member of the chunk's set now, or as one of its fallbacks (chunk_map.h
 * K2), or is being copied to.  The queue is also filled by replaying the
 * Raft log after a master restart, where a server that once left a set and
 * rejoined it later would otherwise be told to delete its current copy:
 * after a whole-cluster restart, every replica of a chunk at once.
 */
static uint32_t hb_deletions(struct master *m, struct cs *cs)
{
	uint32_t keep = 0;

	for (uint32_t i = 0; i < cs->ndel; i++) {
		struct chunk *c = chunk_map_by_id(&m->fsm->chunks, cs->del[i]);
		if (c && (chunk_rep_pos(c, cs->id) >= 0 || chunk_fall_pos(c, cs->id) >= 0 ||
			  repl_copying_to(m, c->id, cs->id)))
			continue;
		cs->del[keep++] = cs->del[i];
	}
	cs->ndel = keep;
	return cs->ndel < HB_DELETE_MAX ? cs->ndel : HB_DELETE_MAX;
}

/*
 * A chunkserver's heartbeat: liveness and disks, then one concern each --
 * lease renewals, gateway sessions, lost replicas, re-replication orders,
 * deletions -- in one reply.
 */
int h_heartbeat(struct master *m, struct m_op *op)
{
	Shoal__HeartbeatReq *rq = (Shoal__HeartbeatReq *)op->req;
	Shoal__HeartbeatRep rep = SHOAL__HEARTBEAT_REP__INIT;
	struct rg_status st;
	struct cs *cs = rq->cs_id <= UINT32_MAX ? cs_by_id(&m->fsm->css, rq->cs_id) : NULL;
	Shoal__GwSessionState *sess_store = NULL;
	struct repl_hb_out ro;
	uint64_t *renewed;
	uint32_t nd;
	size_t nsess;
	bool leased;

	rg_get_status(m->rg, &st);
	rep.term = st.term;
	if (!cs || cs->admin == CS_REMOVED) {
		rep.reregister = true;
		m_op_end(op, SL_OK, &rep.base);
		return 0;
	}
	if (rq->n_disks > CS_MAX_DISKS || rq->n_lease_renew > HB_RENEW_MAX)
		return SL_E_INVAL;
	cs_seen(cs);
	update_disks(m, cs, rq->disks, rq->n_disks);
	cs->load = rq->load;
	rep.reregister = cs->need_report;
	m_clock_now(m);
	renewed = malloc((rq->n_lease_renew + 1) * sizeof(*renewed));
	if (!renewed)
		return SL_E_INTERNAL;
	/* A leader not confirmed lately renews nothing and states nothing of sessions (raft_glue.h). */
	leased = rg_leased(m->rg);
	rep.renewed = renewed;
	if (leased)
		hb_renew_leases(m, cs, rq, &rep);
	/* Gateway sessions whose writes the server takes: how long each lives (gw_session.h G2). */
	nsess = !leased ? 0 : rq->n_sessions < 4096 ? rq->n_sessions : 4096;
	rep.sessions = m_session_states(m, rq->sessions, nsess, &sess_store);
	rep.n_sessions = rep.sessions ? nsess : 0;
	hb_lost_replicas(m, cs, rq);
	/* Re-replication: finished copies in, new copy orders out (replication.h). */
	repl_heartbeat(m, cs, rq, &ro);
	rep.replicate = ro.ptrs;
	rep.n_replicate = ro.n;
	nd = hb_deletions(m, cs);
	rep.delete_chunks = cs->del;
	rep.n_delete_chunks = nd;
	m_op_end(op, SL_OK, &rep.base);
	if (nd) {
		memmove(cs->del, cs->del + nd, (cs->ndel - nd) * sizeof(*cs->del));
		cs->ndel -= nd;
	}
	repl_hb_free(&ro);
	free(renewed);
	free(sess_store);
	free(rep.sessions);
	return 0;
}
