/* The client's gateway session: states and rules in client_session.h. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "client_int.h"
#include "log.h"
#include "msg_types.h"
#include "status.h"

#define SL_SESS_TICK_MS		250	/* fence_on_loss: the loop runs at least this often (C3) */
#define SL_SESS_LEASE_GUESS_MS	3000	/* L before the first session told us */

struct sl_sess_retired {
	struct list_head node;		/* on retired, by gen */
	struct sl_client *c;		/* NULL once the client is gone (a GW_CLOSE may still answer) */
	uint64_t id;
	uint32_t gen;
	uint64_t self_fence_at;		/* C1: fenced by then whatever the masters say */
	bool fenced;
	bool closing;			/* GW_CLOSE in flight */
};

static void sess_arm(struct sl_client *c);

static void wake_live(struct sl_session *s, int status)
{
	struct sl_sess_wait *w, *n;
	SL_LIST_HEAD(run);

	list_splice_tail_init(&s->waiters, &run);
	list_for_each_entry_safe(w, n, &run, link) {
		list_del_init(&w->link);
		w->cb(w, status);
	}
}

static void wake_fenced(struct sl_session *s)
{
	struct sl_sess_wait *w, *n;
	SL_LIST_HEAD(run);

	list_for_each_entry_safe(w, n, &s->fence_waiters, link)
		if (w->gen <= s->fenced_through) {
			list_del_init(&w->link);
			list_add_tail(&w->link, &run);
		}
	list_for_each_entry_safe(w, n, &run, link) {
		list_del_init(&w->link);
		w->cb(w, SL_OK);
	}
}

/* C2: advance fenced_through over the fenced prefix of the retired list. */
static void fence_done(struct sl_session *s, struct sl_sess_retired *r, const char *how)
{
	if (r->fenced)
		return;
	r->fenced = true;
	sl_info("client: gateway session %016" PRIx64 " fenced (%s)", r->id, how);
	while (!list_empty(&s->retired)) {
		struct sl_sess_retired *h = list_first_entry(&s->retired, struct sl_sess_retired, node);

		if (!h->fenced)
			break;
		s->fenced_through = h->gen;
		list_del_init(&h->node);
		if (h->closing)
			h->c = NULL;	/* close_done frees it */
		else
			free(h);
	}
	wake_fenced(s);
}

static void close_done(int status, const ProtobufCMessage *reply, void *arg)
{
	struct sl_sess_retired *r = arg;
	struct sl_client *c = r->c;

	r->closing = false;
	if (!c) {
		free(r);
		return;
	}
	/* fence_done may free r (no longer closing): only c is used after it. */
	if (status == SL_OK)
		fence_done(&c->sess, r, "closed at the master");
	else
		sl_warn("client: closing gateway session %016" PRIx64 ": %s; fenced by time in %lld ms",
			r->id, sl_status_str(status), (long long)(r->self_fence_at - sl_now_ms()));
	sess_arm(c);
}

static int open_session(struct sl_client *c);

/* fence_on_loss: whatever the client holds may be stale (C3). */
static void block(struct sl_client *c)
{
	struct sl_session *s = &c->sess;

	s->state = SS_BLOCKED;
	s->view_until = 0;	/* the loss is told once; a new session sets a new view */
	s->fail_all(c, SL_E_UNAVAIL);
	if (s->on_lost)
		s->on_lost(s->lost_arg);
}

/* Stops using the live session; it is fenced later (C1).  lost: not our choice. */
static void retire(struct sl_client *c, bool lost, const char *why)
{
	struct sl_session *s = &c->sess;
	Shoal__GwSessionReq rq = SHOAL__GW_SESSION_REQ__INIT;
	struct sl_sess_retired *r = calloc(1, sizeof(*r));
	uint64_t now = sl_now_ms(), left;

	if (s->state != SS_LIVE || !r) {
		/* Out of memory: keep it (chunkservers refuse it once dead); retried at the next event. */
		free(r);
		return;
	}
	if (lost)
		sl_warn("client: gateway session %016" PRIx64 " lost: %s", s->id, why);
	else
		sl_info("client: gateway session %016" PRIx64 " retired: %s", s->id, why);
	s->state = lost && s->fence_on_loss ? SS_BLOCKED : SS_NONE;
	r->c = c;
	r->id = s->id;
	r->gen = s->gen;
	r->self_fence_at = s->last_sent + SL_MASTER_USER_TIMEOUT_MS + 2ull * s->lease_ms;
	list_add_tail(&r->node, &s->retired);
	left = r->self_fence_at > now ? r->self_fence_at - now : 1;
	rq.op = SHOAL__GW_SESSION_OP__GW_CLOSE;
	rq.session = r->id;
	if (sl_master_call(c->mc, SL_MSG_M_GW_SESSION, &rq.base, (uint32_t)left, close_done, r) == 0)
		r->closing = true;
	if (s->state == SS_BLOCKED) {
		s->state = SS_NONE;
		block(c);
	} else if (s->fence_on_loss) {
		open_session(c);	/* C3: always LIVE */
	}
	sess_arm(c);
}

/* C3: a stall of the loop, or a view run out, is a loss (fence_on_loss). */
static void check_stall(struct sl_client *c)
{
	struct sl_session *s = &c->sess;
	uint64_t now = sl_now_ms(), gap = now - s->last_tick;

	s->last_tick = now;
	if (s->state == SS_LIVE && now >= s->view_until) {
		retire(c, true, "no renewal answered within its lease (paused or cut off?)");
		return;
	}
	/*
	 * Retired by choice (an unanswered attempt, a new leader) and no new
	 * session answered within the old one's view: the gateway was cut off
	 * all the same, and the commands it holds waited that long (C3).
	 */
	if (s->fence_on_loss && (s->state == SS_NONE || s->state == SS_OPENING) &&
	    s->view_until && now >= s->view_until) {
		sl_warn("client: no gateway session answered within a lease since the last one (cut off?)");
		block(c);
		return;
	}
	if (!s->fence_on_loss || s->state == SS_BLOCKED || gap <= s->lease_ms / 2)
		return;
	if (s->state == SS_LIVE) {
		char why[96];

		snprintf(why, sizeof(why), "this process did not run for %llu ms", (unsigned long long)gap);
		retire(c, true, why);
	} else {
		sl_warn("client: this process did not run for %llu ms: what it holds may be stale",
			(unsigned long long)gap);
		block(c);
	}
}

struct call_ctx {
	struct sl_client *c;
	uint64_t sent;
	uint32_t gen;			/* RENEW: the session it renews */
};

static void renew_done(int status, const ProtobufCMessage *reply, void *arg)
{
	struct call_ctx *k = arg;
	struct sl_client *c = k->c;
	struct sl_session *s = &c->sess;

	s->renewing = false;
	if (s->state == SS_LIVE && s->gen == k->gen) {
		if (status == SL_OK) {
			s->view_until = k->sent + s->lease_ms;
		} else if (status == SL_E_STALE_EPOCH) {
			/*
			 * Dead at the master while our view still holds: not a
			 * stall of ours (check_stall would have seen one) but a new
			 * leader, which knows no session: replace it, drop nothing.
			 */
			check_stall(c);
			if (s->state == SS_LIVE && s->gen == k->gen)
				retire(c, false, "the master says it is dead (a new leader?)");
		} else {
			sl_debug("client: renewing gateway session %016" PRIx64 ": %s", s->id,
				 sl_status_str(status));
		}
	}
	free(k);
	sess_arm(c);
}

static void renew(struct sl_client *c)
{
	struct sl_session *s = &c->sess;
	Shoal__GwSessionReq rq = SHOAL__GW_SESSION_REQ__INIT;
	struct call_ctx *k = malloc(sizeof(*k));
	uint64_t now = sl_now_ms();

	if (!k)
		return;
	*k = (struct call_ctx){ c, now, s->gen };
	rq.op = SHOAL__GW_SESSION_OP__GW_RENEW;
	rq.session = s->id;
	/* a renewal is answered from the leader's memory: a third of the lease per master is plenty */
	if (sl_master_call_attempts(c->mc, SL_MSG_M_GW_SESSION, &rq.base, s->lease_ms, s->lease_ms / 3,
				    renew_done, k)) {
		free(k);
		return;
	}
	s->renewing = true;
	s->last_sent = now;	/* C1 counts from the last renewal sent, answered or not */
}

static void open_done(int status, const ProtobufCMessage *reply, void *arg)
{
	struct call_ctx *k = arg;
	struct sl_client *c = k->c;
	struct sl_session *s = &c->sess;
	const Shoal__GwSessionRep *rep = (const Shoal__GwSessionRep *)reply;

	if (s->state != SS_OPENING) {
		free(k);
		return;
	}
	if (status == SL_OK && (!rep || !rep->session || rep->lease_ms < 100))
		status = SL_E_PROTO;
	if (status != SL_OK) {
		s->state = SS_NONE;
		sl_warn("client: cannot open a gateway session: %s", sl_status_str(status));
		free(k);
		s->reopen_at = sl_now_ms() + 500;
		sess_arm(c);
		wake_live(s, status == SL_E_TIMEDOUT ? SL_E_UNAVAIL : status);
		return;
	}
	if (sl_now_ms() >= k->sent + rep->lease_ms) {
		/* C3: the answer outlived the lease it grants: we were stalled in between */
		s->state = SS_NONE;
		free(k);
		s->reopen_at = sl_now_ms();
		sess_arm(c);
		wake_live(s, SL_E_UNAVAIL);
		return;
	}
	s->state = SS_LIVE;
	s->id = rep->session;
	s->gen = ++s->next_gen;
	s->lease_ms = rep->lease_ms;
	s->last_sent = k->sent;
	s->view_until = k->sent + s->lease_ms;
	sl_info("client: gateway session %016" PRIx64 " open for '%s' (lease %u ms)", s->id, s->name, s->lease_ms);
	free(k);
	sess_arm(c);
	wake_live(s, SL_OK);
}

/* NONE -> OPENING; 0, or the error (still NONE, nobody waits). */
static int open_session(struct sl_client *c)
{
	struct sl_session *s = &c->sess;
	Shoal__GwSessionReq rq = SHOAL__GW_SESSION_REQ__INIT;
	struct call_ctx *k = malloc(sizeof(*k));
	int rc;

	if (!k)
		return SL_E_INTERNAL;
	*k = (struct call_ctx){ c, sl_now_ms(), 0 };
	rq.op = SHOAL__GW_SESSION_OP__GW_OPEN;
	rq.name = s->name;
	rc = sl_master_call(c->mc, SL_MSG_M_GW_SESSION, &rq.base, c->rpc_timeout_ms, open_done, k);
	if (rc) {
		free(k);
		return rc;
	}
	s->state = SS_OPENING;
	return 0;
}

static void sess_timer_cb(struct sl_timer *t, void *arg)
{
	struct sl_client *c = arg;
	struct sl_session *s = &c->sess;
	struct sl_sess_retired *r, *n;
	uint64_t now = sl_now_ms();

	check_stall(c);
	if (s->state == SS_LIVE && !s->renewing && now >= s->last_sent + s->lease_ms / 3)
		renew(c);
	else if (s->state == SS_NONE && s->fence_on_loss && now >= s->reopen_at && open_session(c))
		s->reopen_at = now + 500;
	list_for_each_entry_safe(r, n, &s->retired, node)
		if (!r->fenced && now >= r->self_fence_at)
			fence_done(s, r, "by time: no master can still let it live");
	sess_arm(c);
}

static void sess_arm(struct sl_client *c)
{
	struct sl_session *s = &c->sess;
	struct sl_sess_retired *r;
	uint64_t now = sl_now_ms(), at = UINT64_MAX;

	if (s->state == SS_LIVE) {
		at = s->view_until;
		if (!s->renewing && s->last_sent + s->lease_ms / 3 < at)
			at = s->last_sent + s->lease_ms / 3;
	}
	if (s->fence_on_loss) {
		/* the stall detector's tick (C3), and eager (re)opening */
		if (now + SL_SESS_TICK_MS < at)
			at = now + SL_SESS_TICK_MS;
		if (s->state == SS_NONE && s->reopen_at < at)
			at = s->reopen_at;
	}
	list_for_each_entry(r, &s->retired, node)
		if (!r->fenced && r->self_fence_at < at)
			at = r->self_fence_at;
	if (at == UINT64_MAX)
		sl_timer_cancel(c->loop, &s->timer);
	else
		sl_timer_arm(c->loop, &s->timer, at > now ? at - now : 0);
}

void sl_session_init(struct sl_client *c, void (*fail_all)(struct sl_client *c, int status))
{
	struct sl_session *s = &c->sess;

	s->state = SS_NONE;
	s->fail_all = fail_all;
	INIT_LIST_HEAD(&s->waiters);
	INIT_LIST_HEAD(&s->fence_waiters);
	INIT_LIST_HEAD(&s->retired);
	sl_timer_init(&s->timer, sess_timer_cb, c);
	if (!s->name[0])
		snprintf(s->name, sizeof(s->name), "client %d", (int)getpid());
	s->lease_ms = SL_SESS_LEASE_GUESS_MS;
	s->last_tick = sl_now_ms();
	if (s->fence_on_loss) {
		if (open_session(c))
			s->reopen_at = sl_now_ms() + 500;
		sess_arm(c);
	}
}

void sl_session_fini(struct sl_client *c)
{
	struct sl_session *s = &c->sess;
	struct sl_sess_retired *r, *n;

	sl_timer_cancel(c->loop, &s->timer);
	wake_live(s, SL_E_UNAVAIL);
	list_for_each_entry_safe(r, n, &s->retired, node) {
		list_del_init(&r->node);
		if (r->closing)
			r->c = NULL;
		else
			free(r);
	}
}

int sl_session_get(struct sl_client *c, struct sl_sess_wait *w, uint64_t *id, uint32_t *gen)
{
	struct sl_session *s = &c->sess;

	check_stall(c);
	switch (s->state) {
	case SS_BLOCKED:
		return SL_E_STALE_EPOCH;
	case SS_LIVE:
		*id = s->id;
		*gen = s->gen;
		return SL_OK;
	case SS_NONE: {
		int rc = open_session(c);

		if (rc)
			return rc;
	}
		/* fall through */
	case SS_OPENING:
		list_add_tail(&w->link, &s->waiters);
		return 1;
	}
	return SL_E_INTERNAL;
}

void sl_session_retire(struct sl_client *c, uint32_t gen)
{
	if (c->sess.state == SS_LIVE && c->sess.gen == gen)
		retire(c, false, "an attempt under it went unanswered");
}

void sl_session_dead(struct sl_client *c, uint32_t gen)
{
	check_stall(c);		/* a stall of ours is a loss (C3) */
	if (c->sess.state == SS_LIVE && c->sess.gen == gen)
		retire(c, false, "a chunkserver says it is dead (a new leader?)");
}

bool sl_session_fenced(struct sl_client *c, uint32_t gen, struct sl_sess_wait *w)
{
	struct sl_session *s = &c->sess;

	if (gen <= s->fenced_through)
		return true;
	w->gen = gen;
	list_add_tail(&w->link, &s->fence_waiters);
	return false;
}

bool sl_session_blocked(struct sl_client *c)
{
	check_stall(c);
	return c->sess.state == SS_BLOCKED;
}

void sl_session_cancel(struct sl_sess_wait *w)
{
	list_del_init(&w->link);
}

void sl_client_resume(struct sl_client *c)
{
	struct sl_session *s = &c->sess;

	if (s->state == SS_BLOCKED) {
		s->state = SS_NONE;
		s->last_tick = sl_now_ms();
		sl_info("client: resumed after a lost gateway session");
		if (open_session(c))
			s->reopen_at = sl_now_ms() + 500;
		sess_arm(c);
	}
}

bool sl_client_blocked(struct sl_client *c)
{
	return c->sess.fence_on_loss && sl_session_blocked(c);
}
