/*
 * Re-replication and drain: scheduling, throttles, heartbeat orders and
 * the commit of a finished copy.  State machine and invariants: see
 * replication.h.
 */
#include <stdlib.h>
#include <string.h>
#include "log.h"
#include "status.h"
#include "placement.h"
#include "repl_plan.h"
#include "m_service.h"
#include "maintenance.h"
#include "replication.h"

#define REPL_ACTIVE_LEASES	10	/* "recent I/O": lease expired within this many lease periods */
#define REPL_BACKOFF_MS		3000	/* a failed chunk waits this long (or 5 heartbeats) */
#define REPL_CAND_MAX		768	/* target candidates considered per chunk */
#define REPL_TRIES_PER_SLOT	8	/* chunks examined per free job slot and tick (bounds a tick) */
#define REPL_STALE_MS		300000	/* a stale replica no job took by then is deleted */

struct repl *repl_new(uint32_t max_cluster)
{
	struct repl *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->cap = max_cluster ? max_cluster : 1;
	r->jobs = calloc(r->cap, sizeof(*r->jobs));
	r->stale = calloc(REPL_STALE_MAX, sizeof(*r->stale));
	if (!r->jobs || !r->stale) {
		free(r->jobs);
		free(r->stale);
		free(r);
		return NULL;
	}
	return r;
}

void repl_free(struct repl *r)
{
	if (!r)
		return;
	free(r->jobs);
	free(r->stale);
	free(r);
}

void repl_reset(struct master *m)
{
	struct repl *r = m->repl;
	r->njobs = 0;
	r->nbackoff = 0;
	r->nstale = 0;		/* the servers report again to the new leader */
	r->tokens = 0;
	r->tokens_ms = sl_now_ms();
	r->under_replicated = 0;
}

bool repl_member_good(struct master *m, uint32_t cs_id)
{
	struct cs *cs = cs_by_id(&m->fsm->css, cs_id);
	return cs && cs->up && cs->admin == CS_ACTIVE;
}

int repl_good_count(struct master *m, const struct chunk *c)
{
	int n = 0;
	for (int i = 0; i < c->nrep; i++)
		n += repl_member_good(m, c->rep[i]);
	return n;
}

/* ---- jobs ---- */

static struct repl_job *job_find(struct repl *r, uint64_t chunk_id)
{
	for (uint32_t i = 0; i < r->njobs; i++)
		if (r->jobs[i].chunk_id == chunk_id)
			return &r->jobs[i];
	return NULL;
}

static uint32_t server_jobs(const struct repl *r, uint32_t cs_id)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < r->njobs; i++)
		n += (r->jobs[i].source == cs_id) + (r->jobs[i].target == cs_id);
	return n;
}

static bool backed_off(struct repl *r, uint64_t chunk_id, uint64_t now)
{
	for (uint32_t i = 0; i < r->nbackoff; i++)
		if (r->backoff[i].chunk_id == chunk_id)
			return r->backoff[i].until_ms > now;
	return false;
}

static void backoff_add(struct master *m, uint64_t chunk_id, uint64_t now)
{
	struct repl *r = m->repl;
	uint64_t wait = 5 * (uint64_t)m->heartbeat_ms > REPL_BACKOFF_MS ? 5 * (uint64_t)m->heartbeat_ms
									  : REPL_BACKOFF_MS;
	uint32_t i, w = 0;

	/* drop expired entries, then append (the oldest goes when full) */
	for (i = 0; i < r->nbackoff; i++)
		if (r->backoff[i].until_ms > now && r->backoff[i].chunk_id != chunk_id)
			r->backoff[w++] = r->backoff[i];
	r->nbackoff = w;
	if (r->nbackoff == REPL_BACKOFF_MAX) {
		memmove(r->backoff, r->backoff + 1, (REPL_BACKOFF_MAX - 1) * sizeof(r->backoff[0]));
		r->nbackoff--;
	}
	r->backoff[r->nbackoff++] = (struct repl_backoff){ chunk_id, now + wait };
}

bool repl_copying_to(struct master *m, uint64_t chunk_id, uint32_t cs_id)
{
	struct repl_job *j = job_find(m->repl, chunk_id);
	return j && j->target == cs_id && j->state >= R_SENT;
}

/* ---- stale replicas kept for a resync ---- */

static void unqueue_delete(struct cs *cs, uint64_t chunk_id);

static struct repl_stale *stale_find(struct repl *r, uint64_t chunk_id, uint32_t cs_id)
{
	for (uint32_t i = 0; i < r->nstale; i++)
		if (r->stale[i].chunk_id == chunk_id && (!cs_id || r->stale[i].cs_id == cs_id))
			return &r->stale[i];
	return NULL;
}

static void stale_drop(struct repl *r, struct repl_stale *s)
{
	*s = r->stale[--r->nstale];
}

bool repl_keep_stale(struct master *m, struct chunk *c, struct cs *cs, uint64_t version)
{
	struct repl *r = m->repl;
	struct volume *v = volume_by_id(&m->fsm->vols, c->vol);
	struct repl_job *j = job_find(r, c->id);
	struct repl_stale *s;

	if (!v || !cs_usable(cs) || version == 0 || version >= c->version ||
	    repl_good_count(m, c) >= (int)v->replicas)
		return false;
	if (j && j->target != cs->id && j->state >= R_ASSIGNED)
		return false;	/* another copy is under way */
	if (j && j->target == cs->id && j->state < R_SENT)
		j->since = version;	/* not yet ordered: make it a resync */
	/* the set change that dropped it queued its deletion: keep it after all */
	unqueue_delete(cs, c->id);
	s = stale_find(r, c->id, cs->id);
	if (!s) {
		if (r->nstale == REPL_STALE_MAX)
			return false;
		s = &r->stale[r->nstale++];
	}
	*s = (struct repl_stale){ c->id, version, sl_now_ms(), cs->id };
	sl_debug("chunk %llu: keeping the replica on cs %u at version %llu for a resync",
		 (unsigned long long)c->id, cs->id, (unsigned long long)version);
	return true;
}

/* Forgets stale replicas no job needs any more, deleting those that are still not in the set. */
static void stale_sweep(struct master *m, uint64_t now)
{
	struct repl *r = m->repl;

	for (uint32_t i = 0; i < r->nstale;) {
		struct repl_stale *s = &r->stale[i];
		struct chunk *c = chunk_map_by_id(&m->fsm->chunks, s->chunk_id);
		struct volume *v = c ? volume_by_id(&m->fsm->vols, c->vol) : NULL;
		struct cs *cs = cs_by_id(&m->fsm->css, s->cs_id);
		struct repl_job *j = job_find(r, s->chunk_id);
		bool mine = j && j->target == s->cs_id;
		bool drop = false, del = false;

		if (!cs || !cs->up || cs->admin == CS_REMOVED) {
			drop = true;	/* its next chunk report decides */
		} else if (!c || !v) {
			drop = del = true;
		} else if (chunk_rep_pos(c, s->cs_id) >= 0) {
			drop = true;	/* it joined */
		} else if (!mine && (repl_good_count(m, c) >= (int)v->replicas ||
				     now - s->seen_ms > REPL_STALE_MS || cs->admin != CS_ACTIVE)) {
			drop = del = true;
		}
		if (del)
			cs_queue_delete(cs, s->chunk_id);
		if (drop)
			stale_drop(r, s);
		else
			i++;
	}
}

/* Removes chunk_id from cs's delete queue: it is about to hold it legitimately. */
static void unqueue_delete(struct cs *cs, uint64_t chunk_id)
{
	uint32_t w = 0;
	for (uint32_t i = 0; i < cs->ndel; i++)
		if (cs->del[i] != chunk_id)
			cs->del[w++] = cs->del[i];
	cs->ndel = w;
}

/* Ends a job (chunk back to normal); failed ones back off and leave nothing behind. */
static void job_end(struct master *m, struct repl_job *j, int status, const char *why)
{
	struct repl *r = m->repl;
	struct chunk *c = chunk_map_by_id(&m->fsm->chunks, j->chunk_id);
	uint64_t now = sl_now_ms();

	if (c)
		c->flags &= ~CHUNK_F_COPYING;
	if (status == SL_OK || (j->state >= R_SENT && status != SL_E_NOT_LEADER)) {
		/* it joined, or what it held is deleted below */
		struct repl_stale *s = stale_find(r, j->chunk_id, j->target);
		if (s)
			stale_drop(r, s);
	}
	if (status == SL_OK) {
		r->completed++;
		r->replicated_bytes += j->bytes;
		sl_info("chunk %llu: %s cs %u from cs %u (%llu bytes, %llu ms)",
			(unsigned long long)j->chunk_id, j->since ? "resynced" : "copied to", j->target,
			j->source, (unsigned long long)j->bytes, (unsigned long long)(now - j->start_ms));
	} else {
		r->failed++;
		sl_warn("chunk %llu: copy to cs %u from cs %u abandoned: %s (%s)",
			(unsigned long long)j->chunk_id, j->target, j->source, sl_status_str(status), why);
		backoff_add(m, j->chunk_id, now);
		if (j->state >= R_SENT && status != SL_E_NOT_LEADER) {
			/* whatever the target holds is outside the set: it goes (not when
			 * leadership was lost: the commit may still apply) */
			struct cs *t = cs_by_id(&m->fsm->css, j->target);
			if (t && (!c || chunk_rep_pos(c, j->target) < 0))
				cs_queue_delete(t, j->chunk_id);
		}
	}
	*j = r->jobs[--r->njobs];
}

/* ---- commit ---- */

struct commit_ctx {
	struct master *m;
	uint64_t chunk_id;
	uint64_t version;
};

static void commit_applied(void *arg, int status, uint64_t res)
{
	struct commit_ctx *x = arg;
	struct master *m = x->m;
	struct repl_job *j = job_find(m->repl, x->chunk_id);

	if (status == SL_OK)
		status = FSM_RES_STATUS(res);
	if (j && j->state == R_COMMIT && j->version == x->version)
		job_end(m, j, status, status == SL_OK ? "" : "set change refused");
	free(x);
}

static void job_commit(struct master *m, struct repl_job *j, struct chunk *c)
{
	struct volume *v = volume_by_id(&m->fsm->vols, c->vol);
	uint32_t rep[SL_MAX_REPLICAS];
	uint8_t n = 0;
	int drop = -1;
	struct wbuf w;

	/* One bad member leaves as the target joins, when the set would outgrow the volume's count. */
	if (v && c->nrep + 1u > v->replicas) {
		for (int i = 0; i < c->nrep && drop < 0; i++) {
			struct cs *cs = cs_by_id(&m->fsm->css, c->rep[i]);
			if (!cs || !cs->up || cs->admin == CS_REMOVED)
				drop = i;
		}
		for (int i = 0; i < c->nrep && drop < 0; i++)
			if (!repl_member_good(m, c->rep[i]))
				drop = i;
	}
	for (int i = 0; i < c->nrep; i++)
		if (i != drop)
			rep[n++] = c->rep[i];
	if (n >= SL_MAX_REPLICAS) {
		job_end(m, j, SL_E_RANGE, "replica set full");
		return;
	}
	rep[n++] = j->target;
	uint32_t primary = c->primary;
	if (drop >= 0 && c->rep[drop] == primary)
		primary = rep[0];
	struct commit_ctx *x = calloc(1, sizeof(*x));
	if (!x) {
		job_end(m, j, SL_E_INTERNAL, "out of memory");
		return;
	}
	x->m = m;
	x->chunk_id = c->id;
	x->version = j->version;
	j->state = R_COMMIT;
	wbuf_init(&w);
	fsm_enc_set_replicas(&w, 0, 0, c->id, j->version, rep, n, primary);
	if (m_submit(m, &w, commit_applied, x)) {
		free(x);
		job_end(m, j, SL_E_NOT_LEADER, "cannot submit");
	}
}

/* ---- heartbeat: results in, orders out ---- */

void repl_heartbeat(struct master *m, struct cs *cs, const Shoal__HeartbeatReq *rq,
		    struct repl_hb_out *out)
{
	struct repl *r = m->repl;
	uint64_t now = sl_now_ms();
	size_t n = 0;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < rq->n_copies && i < LOOKUP_MAX; i++) {
		const Shoal__CopyResult *res = rq->copies[i];
		struct repl_job *j = job_find(r, res->chunk_id);
		if (!j || j->target != cs->id || j->state != R_SENT || res->version != j->version + 1)
			continue;	/* late or duplicate report of an ended job */
		struct chunk *c = chunk_map_by_id(&m->fsm->chunks, j->chunk_id);
		j->bytes = res->bytes;
		if (res->status != SL_OK) {
			job_end(m, j, res->status >= SL_E_MAX ? SL_E_INTERNAL : (int)res->status,
				"target reported");
		} else if (!c || c->version != j->version) {
			job_end(m, j, SL_E_STALE_VERSION, "the set changed during the copy");
		} else {
			job_commit(m, j, c);
		}
	}
	for (uint32_t i = 0; i < r->njobs; i++)
		n += r->jobs[i].target == cs->id && r->jobs[i].state == R_ASSIGNED;
	if (!n)
		return;
	out->reqs = calloc(n, sizeof(*out->reqs));
	out->ptrs = calloc(n, sizeof(*out->ptrs));
	out->refs = calloc(n, sizeof(*out->refs));
	out->srcs = calloc(n, sizeof(*out->srcs));
	if (!out->reqs || !out->ptrs || !out->refs || !out->srcs) {
		repl_hb_free(out);
		return;		/* the orders go with the next heartbeat */
	}
	for (uint32_t i = 0; i < r->njobs && out->n < n; i++) {
		struct repl_job *j = &r->jobs[i];
		struct cs *src = cs_by_id(&m->fsm->css, j->source);
		size_t k = out->n;
		struct chunk *c = chunk_map_by_id(&m->fsm->chunks, j->chunk_id);
		uint64_t since = j->since;
		if (j->target != cs->id || j->state != R_ASSIGNED || !src || !c)
			continue;
		/*
		 * A whole copy would start by deleting what the target holds: a
		 * fallback's replica (chunk_map.h K2) is resynced in place instead,
		 * from its own version if its report gave it, else every track.
		 */
		if (!since && chunk_fall_pos(c, cs->id) >= 0)
			since = 1;
		shoal__chunk_ref__init(&out->refs[k]);
		out->refs[k].chunk_id = j->chunk_id;
		out->refs[k].version = j->version + 1;
		out->refs[k].epoch = j->version + 1;
		shoal__server_addr__init(&out->srcs[k]);
		out->srcs[k].cs_id = src->id;
		out->srcs[k].addr = src->addr;
		shoal__cs_copy_from_peer_req__init(&out->reqs[k]);
		out->reqs[k].ref = &out->refs[k];
		out->reqs[k].source = &out->srcs[k];
		out->reqs[k].chunk_size = j->chunk_size;
		out->reqs[k].source_version = j->version;
		out->reqs[k].only_dirty = since != 0;
		out->reqs[k].since_version = since;
		out->ptrs[k] = &out->reqs[k];
		out->n++;
		unqueue_delete(cs, j->chunk_id);
		j->state = R_SENT;
		j->sent_ms = now;
	}
}

void repl_hb_free(struct repl_hb_out *out)
{
	free(out->reqs);
	free(out->ptrs);
	free(out->refs);
	free(out->srcs);
	memset(out, 0, sizeof(*out));
}

/* ---- tick: advance jobs ---- */

/* M1b: a whole copy not ordered yet, for a chunk held now: gone, no backoff, nothing counted. */
static bool job_held(struct master *m, struct repl_job *j, struct chunk *c, uint32_t pending)
{
	struct volume *v = volume_by_id(&m->fsm->vols, c->vol);
	struct repl *r = m->repl;

	if (!pending || j->since || j->state >= R_SENT || !v || !maint_holds(v, repl_good_count(m, c), pending))
		return false;
	sl_info("chunk %llu: copy to cs %u called off: held for a server in maintenance",
		(unsigned long long)j->chunk_id, j->target);
	c->flags &= ~CHUNK_F_COPYING;
	*j = r->jobs[--r->njobs];
	return true;
}

static void advance_jobs(struct master *m, uint64_t now, uint32_t pending)
{
	struct repl *r = m->repl;

	for (uint32_t i = 0; i < r->njobs;) {
		struct repl_job *j = &r->jobs[i];
		struct chunk *c = chunk_map_by_id(&m->fsm->chunks, j->chunk_id);
		struct cs *t = cs_by_id(&m->fsm->css, j->target);
		struct cs *s = cs_by_id(&m->fsm->css, j->source);
		uint32_t before = r->njobs;

		if (j->state == R_COMMIT) {
			i++;
			continue;	/* Raft answers */
		}
		if (!c) {
			job_end(m, j, SL_E_NOENT, "chunk deleted");
		} else if (job_held(m, j, c, pending)) {
			continue;
		} else if (!t || !t->up || t->admin != CS_ACTIVE) {
			job_end(m, j, SL_E_UNAVAIL, "target not usable");
		} else if (!s || !s->up || chunk_rep_pos(c, j->source) < 0) {
			job_end(m, j, SL_E_UNAVAIL, "source gone");
		} else if (now - j->start_ms > (uint64_t)m->repl_timeout_ms) {
			job_end(m, j, SL_E_TIMEDOUT, "no result in time");
		} else if (j->state == R_WAIT_LEASE && !(c->flags & CHUNK_F_GRANTING) &&
			   !lease_live(&m->lc, c)) {
			/* no write can start now: the copy's version is fixed */
			j->version = c->version;
			j->state = R_ASSIGNED;
		} else if (j->state >= R_ASSIGNED && c->version != j->version) {
			job_end(m, j, SL_E_STALE_VERSION, "the set changed");
		}
		if (r->njobs == before)
			i++;
	}
}

/* ---- tick: start jobs ---- */

/* A target for c outside its set; 0 when none may take it now (placement.h decides which). */
static uint32_t pick_target(struct master *m, const struct chunk *c, uint64_t size)
{
	struct place_cand cands[REPL_CAND_MAX], members[SL_MAX_REPLICAS];
	int n = 0, nm = 0;
	struct cs *cs;
	uint32_t out, quiet = master_silence_ms(m);
	uint64_t now = sl_now_ms();

	for (int i = 0; i < c->nrep; i++) {
		struct cs *o = cs_by_id(&m->fsm->css, c->rep[i]);
		if (o && repl_member_good(m, o->id))
			members[nm++] = (struct place_cand){ o->id, o->host, o->rack, o->room };
	}
	list_for_each_entry(cs, &m->fsm->css.list, node) {
		/* a silent server (paused, cut off) would hold the chunk COPYING, unwritable, until marked down */
		if (!cs_usable(cs) || cs_silent(cs, now, quiet) ||
		    chunk_rep_pos(c, cs->id) >= 0 || cs->room < size ||
		    server_jobs(m->repl, cs->id) >= (uint32_t)m->repl_max_per_server)
			continue;
		if (n == REPL_CAND_MAX)
			break;
		cands[n++] = (struct place_cand){ cs->id, cs->host, cs->rack, cs->room };
	}
	return placement_pick_more(members, nm, cands, n, 1, 1, size, &m->rng, &out) == 1 ? out : 0;
}

/* A server keeping a stale replica of c for a resync, usable now; 0 when none. */
static uint32_t stale_target(struct master *m, const struct chunk *c, uint64_t *since)
{
	struct repl *r = m->repl;
	uint64_t now = sl_now_ms();

	for (uint32_t i = 0; i < r->nstale; i++) {
		struct repl_stale *s = &r->stale[i];
		struct cs *cs;

		if (s->chunk_id != c->id || chunk_rep_pos(c, s->cs_id) >= 0)
			continue;
		cs = cs_by_id(&m->fsm->css, s->cs_id);
		if (!cs || !cs_usable(cs) || cs_silent(cs, now, master_silence_ms(m)) ||
		    server_jobs(r, cs->id) >= (uint32_t)m->repl_max_per_server)
			continue;
		*since = s->version;
		return cs->id;
	}
	return 0;
}

/* A source in c's set: up (draining is fine), least busy. */
static uint32_t pick_source(struct master *m, const struct chunk *c)
{
	uint32_t best = 0, best_jobs = UINT32_MAX;
	for (int i = 0; i < c->nrep; i++) {
		struct cs *cs = cs_by_id(&m->fsm->css, c->rep[i]);
		if (!cs || !cs->up || cs->admin == CS_REMOVED)
			continue;
		uint32_t n = server_jobs(m->repl, cs->id);
		if (n < (uint32_t)m->repl_max_per_server && n < best_jobs) {
			best = cs->id;
			best_jobs = n;
		}
	}
	return best;
}

static void start_jobs(struct master *m, uint64_t now, uint32_t pending)
{
	struct repl *r = m->repl;
	struct chunk *c;
	uint32_t idx, nneed = 0, cap = 0;
	struct repl_need *need = NULL;
	uint64_t under = 0, held = 0;

	/* refill the rate bucket: at most one second's worth (or one chunk) may pile up */
	if (m->repl_rate_mb > 0) {
		double rate = (double)m->repl_rate_mb * 1048576.0;
		r->tokens += rate * (double)(now - r->tokens_ms) / 1000.0;
		if (r->tokens > rate)
			r->tokens = rate;
	}
	r->tokens_ms = now;

	chunk_map_for_each(&m->fsm->chunks, c, idx) {
		struct volume *v = volume_by_id(&m->fsm->vols, c->vol);
		int good = repl_good_count(m, c);
		if (!v || good >= (int)v->replicas)
			continue;
		under++;
		if (maint_holds(v, good, pending)) {
			held++;		/* M1 */
			continue;
		}
		if ((c->flags & (CHUNK_F_COPYING | CHUNK_F_GRANTING)) || backed_off(r, c->id, now))
			continue;
		if (nneed == cap) {
			uint32_t ncap = cap ? cap * 2 : 256;
			struct repl_need *nn = realloc(need, ncap * sizeof(*nn));
			if (!nn)
				break;
			need = nn;
			cap = ncap;
		}
		bool active = c->lease_expiry &&
			      c->lease_expiry + REPL_ACTIVE_LEASES * (uint64_t)m->lease_ms > now;
		need[nneed++] = (struct repl_need){ repl_need_key(good, active), idx };
	}
	r->under_replicated = under;
	r->held = held;
	repl_order(need, nneed);
	uint32_t tries = (r->cap - r->njobs) * REPL_TRIES_PER_SLOT;
	for (uint32_t i = 0; i < nneed && i < tries && r->njobs < r->cap; i++) {
		c = chunk_map_slot(&m->fsm->chunks, need[i].slot);
		struct volume *v = c ? volume_by_id(&m->fsm->vols, c->vol) : NULL;
		if (!v)
			continue;
		uint64_t size = 1ull << v->chunk_shift;
		/* over the rate: next tick (a full bucket lets a chunk larger than it go) */
		if (m->repl_rate_mb > 0 && r->tokens < (double)size &&
		    r->tokens < (double)m->repl_rate_mb * 1048576.0)
			break;
		uint32_t src = pick_source(m, c);
		uint64_t since = 0;
		uint32_t tgt = src ? stale_target(m, c, &since) : 0;
		if (src && !tgt)
			tgt = pick_target(m, c, size);
		if (!src || !tgt)
			continue;
		struct cs *tcs = cs_by_id(&m->fsm->css, tgt);
		struct repl_job *j = &r->jobs[r->njobs++];
		*j = (struct repl_job){ .chunk_id = c->id, .chunk_size = size, .source = src,
					.target = tgt, .state = R_WAIT_LEASE, .start_ms = now,
					.since = since };
		c->flags |= CHUNK_F_COPYING;
		/* reserve the room on the target until its next heartbeat says otherwise
		 * (a resync target holds the chunk already) */
		if (!since)
			tcs->room = tcs->room > size ? tcs->room - size : 0;
		if (m->repl_rate_mb > 0)
			r->tokens -= (double)size;
		sl_debug("chunk %llu: %d good replica(s), copying to cs %u from cs %u",
			 (unsigned long long)c->id, need[i].key / 2, tgt, src);
	}
	free(need);
}

void repl_tick(struct master *m)
{
	uint64_t now = sl_now_ms();
	uint32_t pending = maint_pending(&m->fsm->css, maint_wall_ms(), now, master_silence_ms(m));

	m_clock_now(m);
	advance_jobs(m, now, pending);
	start_jobs(m, now, pending);
	stale_sweep(m, now);
}
