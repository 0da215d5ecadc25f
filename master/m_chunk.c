/*
 * Chunk handlers: M_LOOKUP (allocation on first write, lease on lookup),
 * M_LEASE and M_REPLICA_FAILED.  Lease decisions are lease.c's; this file
 * turns them into Raft entries and replies.
 *
 * M_LOOKUP state machine:
 *
 *   for_write and chunks missing --place + CHUNK_ALLOC entry--> ALLOCATED
 *   ALLOCATED / read lookup --> GRANTS: LEASE_GRANT entries for chunks
 *   without a usable primary (at most 3 rounds) --> REPLY
 *   BUSY (post-failover wait, grant in flight) or UNAVAIL end it early.
 *
 * M_LEASE: lease_for_acquire() (a requester holding no epoch never has a
 * live lease renewed: lease.h); with created_version, the record that an
 * unwritten chunk's replicas were created (confirm_created).
 */
#include <stdlib.h>
#include <string.h>
#include "log.h"
#include "status.h"
#include "placement.h"
#include "m_service.h"

/*
 * A chunk whose set is smaller than its volume's min_replicas serves no I/O
 * (no lease, reads included) until re-replication has grown it again:
 * writes must not land on fewer copies, and its members stay identical.
 */
bool chunk_below_min(struct master *m, const struct chunk *c)
{
	struct volume *v = volume_by_id(&m->fsm->vols, c->vol);
	return v && c->nrep < v->min_replicas;
}

static uint64_t now_ms_since_ready(struct master *m)
{
	return sl_now_ms() - m->ready_ms;
}

/* ---- M_LOOKUP ---- */

static void lookup_continue(struct m_op *op);

static void lookup_grant_done(void *arg, int status, uint64_t res)
{
	struct m_op *op = arg;
	if (status == SL_OK && FSM_RES_STATUS(res) != SL_OK)
		status = FSM_RES_STATUS(res);
	if (status != SL_OK && !op->status)
		op->status = status;
	if (--op->pending == 0)
		lookup_continue(op);
}

struct grant_ctx {
	struct m_op *op;
	uint64_t chunk_id;
	rg_apply_cb next;
	void *next_arg;
};

/*
 * Wraps a LEASE_GRANT / SET_REPLICAS completion: clears GRANTING, starts the
 * lease; one a lookup granted is not taken by any process yet (lease.h).
 */
static void grant_done(void *arg, int status, uint64_t res)
{
	struct grant_ctx *g = arg;
	struct master *m = g->op->m;
	struct chunk *c = chunk_map_by_id(&m->fsm->chunks, g->chunk_id);
	if (c) {
		c->flags &= ~(CHUNK_F_GRANTING | CHUNK_F_UNTAKEN);
		/* A chunk being copied gets no lease (lease.c): the entry still applies. */
		if (status == SL_OK && FSM_RES_STATUS(res) == SL_OK && !(c->flags & CHUNK_F_COPYING)) {
			m_clock_now(m);
			lease_start(&m->lc, c);
			if (g->next == lookup_grant_done)
				c->flags |= CHUNK_F_UNTAKEN;
		}
	}
	g->next(g->next_arg, status, res);
	free(g);
}

static int submit_grant(struct master *m, struct m_op *op, struct chunk *c, struct wbuf *w,
			rg_apply_cb next)
{
	struct grant_ctx *g = calloc(1, sizeof(*g));
	if (!g) {
		wbuf_free(w);
		return SL_E_INTERNAL;
	}
	g->op = op;
	g->chunk_id = c->id;
	g->next = next;
	g->next_arg = op;
	int rv = m_submit(m, w, grant_done, g);
	if (rv)
		free(g);
	else
		c->flags |= CHUNK_F_GRANTING;
	return rv;
}

static void lookup_reply(struct m_op *op)
{
	struct master *m = op->m;
	Shoal__LookupReq *rq = (Shoal__LookupReq *)op->req;
	Shoal__LookupRep rep = SHOAL__LOOKUP_REP__INIT;
	struct volume *v = volume_by_id(&m->fsm->vols, rq->volume_id);
	if (!v) {
		m_op_end(op, SL_E_NOENT, NULL);
		return;
	}
	struct loc_buf *lb = calloc(rq->count + 1, sizeof(*lb));
	Shoal__ChunkLoc **lp = calloc(rq->count + 1, sizeof(*lp));
	if (!lb || !lp) {
		free(lb);
		free(lp);
		m_op_end(op, SL_E_INTERNAL, NULL);
		return;
	}
	for (uint32_t i = 0; i < rq->count; i++) {
		uint32_t idx = rq->first + i;
		m_fill_loc(m, chunk_map_by_pos(&m->fsm->chunks, v->id, idx), idx, &lb[i]);
		lp[i] = &lb[i].loc;
	}
	rep.chunks = lp;
	rep.n_chunks = rq->count;
	m_op_end(op, SL_OK, &rep.base);
	free(lb);
	free(lp);
}

/* Grant leases where needed, then answer.  Bounded: three rounds. */
static void lookup_continue(struct m_op *op)
{
	struct master *m = op->m;
	Shoal__LookupReq *rq = (Shoal__LookupReq *)op->req;
	struct volume *v = volume_by_id(&m->fsm->vols, rq->volume_id);

	if (op->status) {
		m_op_end(op, op->status, NULL);
		return;
	}
	if (!v) {
		m_op_end(op, SL_E_NOENT, NULL);
		return;
	}
	if (!rg_ready(m->rg)) {
		m_op_end(op, SL_E_NOT_LEADER, NULL);
		return;
	}
	m_clock_now(m);
	op->pending = 1;	/* guard while submitting */
	for (uint32_t i = 0; i < rq->count; i++) {
		struct chunk *c = chunk_map_by_pos(&m->fsm->chunks, v->id, rq->first + i);
		uint32_t p = 0;
		struct wbuf w;
		if (!c)
			continue;
		if (chunk_below_min(m, c)) {
			op->status = SL_E_UNAVAIL;
			break;
		}
		switch (lease_for_lookup(&m->lc, c, m_cs_lease_state, m, &p)) {
		case LEASE_LIVE:
			break;
		case LEASE_GRANT:
			if (op->rounds >= 3) {
				op->status = SL_E_BUSY;
				break;
			}
			wbuf_init(&w);
			fsm_enc_lease_grant(&w, c->id, c->version, p);
			if (submit_grant(m, op, c, &w, lookup_grant_done) == 0)
				op->pending++;
			else
				op->status = SL_E_NOT_LEADER;
			break;
		case LEASE_BUSY:
			op->status = SL_E_BUSY;
			break;
		case LEASE_REFUSE:
		case LEASE_UNAVAIL:
			op->status = SL_E_UNAVAIL;
			break;
		}
		if (op->status)
			break;
	}
	op->rounds++;
	if (--op->pending > 0)
		return;		/* lookup_grant_done continues */
	if (op->status)
		m_op_end(op, op->status, NULL);
	else
		lookup_reply(op);
}

static void lookup_alloc_done(void *arg, int status, uint64_t res)
{
	struct m_op *op = arg;
	struct master *m = op->m;
	Shoal__LookupReq *rq = (Shoal__LookupReq *)op->req;

	if (status == SL_OK)
		status = FSM_RES_STATUS(res);
	if (status != SL_OK) {
		m_op_end(op, status, NULL);
		return;
	}
	/*
	 * A new chunk's first lease goes to rep[0], recorded as primary by the
	 * allocation itself: version 1 never had a lease, so no earlier lease
	 * can be live, and after a failover rep[0] is the recorded primary.
	 */
	m_clock_now(m);
	for (uint32_t i = 0; i < rq->count; i++) {
		struct chunk *c = chunk_map_by_pos(&m->fsm->chunks, rq->volume_id, rq->first + i);
		if (c && c->version == 1 && !c->lease_expiry && !(c->flags & CHUNK_F_GRANTING) &&
		    c->primary == c->rep[0])
			lease_start(&m->lc, c);
	}
	lookup_continue(op);
}

int h_lookup(struct master *m, struct m_op *op)
{
	Shoal__LookupReq *rq = (Shoal__LookupReq *)op->req;
	struct volume *v = rq->volume_id <= UINT32_MAX ? volume_by_id(&m->fsm->vols, rq->volume_id) : NULL;
	if (!v)
		return SL_E_NOENT;
	if (rq->count == 0 || rq->count > LOOKUP_MAX)
		return SL_E_INVAL;
	if (rq->first >= volume_nchunks(v) || rq->count > volume_nchunks(v) - rq->first)
		return SL_E_RANGE;
	if (!rq->for_write) {
		lookup_continue(op);
		return 0;
	}

	/* Place every missing chunk; one Raft entry records them all at version 1. */
	struct fsm_alloc *a = calloc(rq->count, sizeof(*a));
	struct place_cand *cands = calloc(m->fsm->css.count + 1, sizeof(*cands));
	uint32_t na = 0, nc = 0, nsilent = 0;
	struct cs *cs;
	uint64_t now = sl_now_ms();
	uint32_t quiet = master_silence_ms(m);
	int rv = 0;
	if (!a || !cands) {
		rv = SL_E_INTERNAL;
		goto out;
	}
	/* not on a silent server: its replica's create would wait for it to be marked down */
	list_for_each_entry(cs, &m->fsm->css.list, node)
		if (cs_usable(cs) && cs_silent(cs, now, quiet))
			nsilent++;
		else if (cs_usable(cs))
			cands[nc++] = (struct place_cand){ cs->id, cs->host, cs->rack,
							   cs->capacity - cs->used };
	for (uint32_t i = 0; i < rq->count; i++) {
		uint32_t idx = rq->first + i;
		if (chunk_map_by_pos(&m->fsm->chunks, v->id, idx))
			continue;
		int n = placement_pick(cands, nc, v->replicas, v->min_replicas, 1ull << v->chunk_shift,
				       &m->rng, a[na].rep);
		if (n <= 0) {
			/* A new leader learns free space from the first heartbeats, a silent server
			 * is heard again or marked down: retry soon. */
			rv = now_ms_since_ready(m) < (uint64_t)m->cs_timeout_ms || nsilent ? SL_E_BUSY : SL_E_NOSPACE;
			goto out;
		}
		a[na].index = idx;
		a[na].nrep = n;
		na++;
	}
	if (!na) {
		lookup_continue(op);
		goto out;
	}
	struct wbuf w;
	wbuf_init(&w);
	fsm_enc_chunk_alloc(&w, rq->dedup ? rq->dedup->client_id : 0, rq->dedup ? rq->dedup->seq : 0,
			    v->id, a, na);
	rv = m_submit(m, &w, lookup_alloc_done, op);
out:
	free(a);
	free(cands);
	return rv;
}

/* ---- M_LEASE and M_REPLICA_FAILED ---- */

static void lease_reply(struct m_op *op, int status)
{
	struct master *m = op->m;
	Shoal__LeaseRep rep = SHOAL__LEASE_REP__INIT;
	struct loc_buf lb;
	struct chunk *c = chunk_map_by_id(&m->fsm->chunks, op->chunk_id);
	if (status == SL_OK && !c)
		status = SL_E_NOENT;
	if (status == SL_OK) {
		struct volume *v = volume_by_id(&m->fsm->vols, c->vol);
		m_fill_loc(m, c, c->index, &lb);
		rep.chunk = &lb.loc;
		rep.lease_ms = m->lease_ms;
		rep.chunk_size = v ? 1ull << v->chunk_shift : 0;
		/* as the chunk is now: a confirmation just committed says false */
		rep.created = chunk_unwritten(c);
		rep.old_version = rep.created ? 0 : op->old_version;
	}
	m_op_end(op, status, &rep.base);
}

static void lease_done(void *arg, int status, uint64_t res)
{
	struct m_op *op = arg;
	if (status == SL_OK)
		status = FSM_RES_STATUS(res);
	lease_reply(op, status);
}

/*
 * A new lease is the moment to leave down servers out of the set: the new
 * primary would otherwise spend its set-version round on them, fail, and
 * ask again, for as long as they stay down.  They leave only while at least
 * min_replicas stay (below that writes must stop, and do: set-version fails).
 * Encodes one SET_REPLICAS entry (set, primary and version bump together)
 * into w and returns true when some replica is down.
 */
static bool grant_drops_down(struct master *m, struct chunk *c, uint32_t primary, struct wbuf *w)
{
	struct volume *v = volume_by_id(&m->fsm->vols, c->vol);
	uint32_t keep[SL_MAX_REPLICAS];
	uint8_t n = 0;

	for (int i = 0; i < c->nrep; i++) {
		struct cs *r = cs_by_id(&m->fsm->css, c->rep[i]);

		if (c->rep[i] == primary || (r && r->up && r->admin != CS_REMOVED))
			keep[n++] = c->rep[i];
	}
	if (n == c->nrep || (v && n < v->min_replicas))
		return false;
	fsm_enc_set_replicas(w, 0, 0, c->id, c->version, keep, n, primary);
	return true;
}

static void created_done(void *arg, int status, uint64_t res)
{
	struct m_op *op = arg;
	if (status == SL_OK && FSM_RES_STATUS(res) != SL_E_STALE_VERSION)
		status = FSM_RES_STATUS(res);
	/* STALE: the set moved meanwhile; the reply (still unwritten) makes it create again */
	lease_reply(op, status);
}

/*
 * LeaseReq.created_version: the primary of an unwritten chunk created
 * every member's replica file at that version and, before it serves
 * anything, has the master record it (CHUNK_LF_CREATED, through Raft).
 * From then on the chunk may hold data and no replica of it is created
 * empty again (doc/protocol.md "Replica existence").  The reply is the
 * lease, renewed; created = false once recorded.
 */
static int confirm_created(struct master *m, struct m_op *op, struct chunk *c, struct cs *cs,
			   uint64_t version)
{
	struct wbuf w;

	if (c->flags & CHUNK_F_GRANTING)
		return SL_E_BUSY;
	if (!lease_held(&m->lc, c, cs->id))
		return SL_E_NOT_PRIMARY;
	if (c->version != version || !chunk_unwritten(c)) {
		lease_start(&m->lc, c);
		lease_reply(op, SL_OK);
		return 0;
	}
	wbuf_init(&w);
	fsm_enc_chunk_created(&w, c->id, version);
	return submit_grant(m, op, c, &w, created_done);
}

int h_lease(struct master *m, struct m_op *op)
{
	Shoal__LeaseReq *rq = (Shoal__LeaseReq *)op->req;
	struct chunk *c = chunk_map_by_id(&m->fsm->chunks, rq->chunk_id);
	struct cs *cs = rq->cs_id <= UINT32_MAX ? cs_by_id(&m->fsm->css, rq->cs_id) : NULL;
	struct wbuf w;

	if (!c)
		return SL_E_NOENT;
	if (!cs)
		return SL_E_NOT_PRIMARY;
	m_clock_now(m);
	op->chunk_id = c->id;
	op->old_version = c->version;
	if (chunk_below_min(m, c))
		return SL_E_UNAVAIL;
	if (rq->created_version)
		return confirm_created(m, op, c, cs, rq->created_version);
	switch (lease_for_acquire(&m->lc, c, cs->id, cs->up && cs->admin != CS_REMOVED, rq->epoch)) {
	case LEASE_LIVE:
		lease_start(&m->lc, c);
		c->flags &= ~CHUNK_F_UNTAKEN;	/* a process of its primary has it now */
		lease_reply(op, SL_OK);
		return 0;
	case LEASE_GRANT:
		wbuf_init(&w);
		if (grant_drops_down(m, c, cs->id, &w))
			return submit_grant(m, op, c, &w, lease_done);
		fsm_enc_lease_grant(&w, c->id, c->version, cs->id);
		return submit_grant(m, op, c, &w, lease_done);
	case LEASE_BUSY:
		return SL_E_BUSY;
	default:
		return SL_E_NOT_PRIMARY;
	}
}

static void below_min_done(void *arg, int status, uint64_t res)
{
	struct m_op *op = arg;
	struct chunk *c = chunk_map_by_id(&op->m->fsm->chunks, op->chunk_id);
	if (c)
		lease_drop(c);	/* no primary until the set is large enough again */
	if (status == SL_OK)
		status = FSM_RES_STATUS(res);
	m_op_end(op, status == SL_OK ? SL_E_UNAVAIL : status, NULL);
}

int h_replica_failed(struct master *m, struct m_op *op)
{
	Shoal__ReplicaFailedReq *rq = (Shoal__ReplicaFailedReq *)op->req;
	struct chunk *c = chunk_map_by_id(&m->fsm->chunks, rq->chunk_id);
	uint32_t keep[SL_MAX_REPLICAS];
	uint8_t n = 0;
	struct wbuf w;

	if (!c)
		return SL_E_NOENT;
	m_clock_now(m);
	/*
	 * The primary of the current version may drop replicas even after its
	 * lease ran out here: the set-version or write round that found the
	 * failure can outlast a short lease, and dropping a replica grants
	 * nobody anything.  A deposed primary (older epoch) is refused.
	 */
	if (c->flags & CHUNK_F_GRANTING)
		return SL_E_BUSY;
	if (rq->cs_id != c->primary ||
	    (rq->epoch != c->version && !lease_held(&m->lc, c, c->primary)))
		return SL_E_NOT_PRIMARY;
	for (int i = 0; i < c->nrep; i++) {
		bool failed = false;
		for (size_t k = 0; k < rq->n_failed; k++)
			failed |= rq->failed[k] == c->rep[i] && c->rep[i] != c->primary;
		if (!failed)
			keep[n++] = c->rep[i];
	}
	op->chunk_id = c->id;
	op->old_version = c->version;
	if (n == c->nrep) {
		/*
		 * Already dropped (a retry: the master client runs the call again
		 * after the UNAVAIL of a drop below min_replicas).  Below it the
		 * answer stays UNAVAIL: an OK would let the primary acknowledge
		 * the write on fewer copies than min_replicas.  Otherwise the
		 * answer is the current set.  The
		 * lease is extended only if it is still live; an expired one
		 * (e.g. while the chunk is copied) is granted anew, through Raft.
		 */
		if (chunk_below_min(m, c))
			return SL_E_UNAVAIL;
		if (lease_held(&m->lc, c, c->primary))
			lease_start(&m->lc, c);
		lease_reply(op, SL_OK);
		return 0;
	}
	/*
	 * The failed replicas missed a write the primary applied: they leave
	 * the set whatever remains (set = truth; keeping them would let the
	 * members differ).  Below min_replicas the write fails with UNAVAIL
	 * (retryable) and the chunk serves nothing until re-replicated.
	 */
	struct volume *v = volume_by_id(&m->fsm->vols, c->vol);
	bool below = v && n < v->min_replicas;
	if (below)
		sl_warn("chunk %llu: %u of %u replicas left, below min_replicas %u: I/O stops until re-replicated",
			(unsigned long long)c->id, n, c->nrep, v->min_replicas);
	wbuf_init(&w);
	fsm_enc_set_replicas(&w, 0, 0, c->id, c->version, keep, n, c->primary);
	return submit_grant(m, op, c, &w, below ? below_min_done : lease_done);
}

