/* Gateway sessions at the chunkserver: the rules are in gw_session.h. */
#include <inttypes.h>
#include <stdlib.h>
#include "chunkserver.h"
#include "gw_session.h"
#include "log.h"
#include "msg_types.h"
#include "status.h"

#define GWS_BUCKETS	1024
#define GWS_FORGET_MS	120000
#define GWS_MAX_ENTRIES	65536

enum gws_state { GWS_UNKNOWN, GWS_CHECKING, GWS_ALIVE, GWS_DEAD };

struct cs_gws {
	struct cs_gws *next;
	uint64_t id;
	enum gws_state state;
	uint64_t until;			/* ALIVE: ms, this server's clock */
	uint64_t used;			/* last write that needed it */
	struct list_head waiters;	/* struct cs_gws_wait, CHECKING */
};

struct cs_gws_table {
	struct cs_gws *b[GWS_BUCKETS];
	unsigned int n;
};

static unsigned int bucket(uint64_t id)
{
	return (unsigned int)((id * 0x9e3779b97f4a7c15ull) >> 40) & (GWS_BUCKETS - 1);
}

struct cs_gws_table *cs_gws_new(void)
{
	return calloc(1, sizeof(struct cs_gws_table));
}

static void wake(struct cs_gws *s, int status)
{
	struct cs_gws_wait *w, *n;
	SL_LIST_HEAD(run);

	list_splice_tail_init(&s->waiters, &run);
	list_for_each_entry_safe(w, n, &run, link) {
		list_del_init(&w->link);
		w->cb(w, status);
	}
}

void cs_gws_free(struct cs_gws_table *t)
{
	unsigned int i;

	if (!t)
		return;
	for (i = 0; i < GWS_BUCKETS; i++) {
		struct cs_gws *s, *n;

		for (s = t->b[i]; s; s = n) {
			n = s->next;
			wake(s, SL_E_UNAVAIL);
			free(s);
		}
	}
	free(t);
}

static struct cs_gws *lookup(struct cs_gws_table *t, uint64_t id, bool create)
{
	struct cs_gws *s;
	unsigned int h = bucket(id);

	for (s = t->b[h]; s; s = s->next)
		if (s->id == id)
			return s;
	if (!create || t->n >= GWS_MAX_ENTRIES)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->id = id;
	INIT_LIST_HEAD(&s->waiters);
	s->next = t->b[h];
	t->b[h] = s;
	t->n++;
	return s;
}

/* What a master said of s at `asked` (this server's clock when it asked). */
static void learn(struct cs_gws *s, uint64_t asked, uint32_t remaining)
{
	if (s->state == GWS_DEAD)
		return;		/* S2 */
	if (!remaining) {
		s->state = GWS_DEAD;
		sl_info("gateway session %016" PRIx64 ": dead", s->id);
		return;
	}
	if (s->state != GWS_ALIVE || asked + remaining > s->until)
		s->until = asked + remaining;
	s->state = GWS_ALIVE;
}

struct check_call {
	struct chunkserver *cs;
	uint64_t id;
	uint64_t sent;
};

static void check_done(int status, const ProtobufCMessage *reply, void *arg)
{
	struct check_call *k = arg;
	struct cs_gws *s = lookup(k->cs->gws, k->id, false);
	const Shoal__GwSessionRep *rep = (const Shoal__GwSessionRep *)reply;
	size_t i;

	if (s) {
		if (status == SL_OK && rep)
			for (i = 0; i < rep->n_sessions; i++)
				if (rep->sessions[i] && rep->sessions[i]->session == k->id)
					learn(s, k->sent, rep->sessions[i]->remaining_ms);
		if (s->state == GWS_CHECKING)
			s->state = GWS_UNKNOWN;
		if (s->state == GWS_ALIVE && sl_now_ms() >= s->until)
			s->state = GWS_UNKNOWN;	/* the answer came too late to count */
		wake(s, s->state == GWS_ALIVE ? SL_OK : s->state == GWS_DEAD ? SL_E_STALE_EPOCH : SL_E_UNAVAIL);
	}
	free(k);
}

int cs_gws_check(struct chunkserver *cs, uint64_t id, struct cs_gws_wait *w)
{
	Shoal__GwSessionReq rq = SHOAL__GW_SESSION_REQ__INIT;
	uint64_t now = sl_now_ms();
	struct check_call *k;
	struct cs_gws *s;

	if (!id)
		return SL_E_STALE_EPOCH;	/* a write without a session is never taken */
	s = lookup(cs->gws, id, true);
	if (!s)
		return SL_E_UNAVAIL;
	s->used = now;
	if (s->state == GWS_ALIVE && now >= s->until)
		s->state = GWS_UNKNOWN;
	switch (s->state) {
	case GWS_ALIVE:
		return SL_OK;
	case GWS_DEAD:
		return SL_E_STALE_EPOCH;
	case GWS_CHECKING:
		list_add_tail(&w->link, &s->waiters);
		return 1;
	case GWS_UNKNOWN:
		break;
	}
	if (!cs->mc)
		return SL_E_UNAVAIL;
	k = malloc(sizeof(*k));
	if (!k)
		return SL_E_UNAVAIL;
	*k = (struct check_call){ cs, id, now };
	rq.op = SHOAL__GW_SESSION_OP__GW_CHECK;
	rq.n_check = 1;
	rq.check = &k->id;
	if (sl_master_call(cs->mc, SL_MSG_M_GW_SESSION, &rq.base, (uint32_t)cs->o.rpc_timeout_ms,
			   check_done, k)) {
		free(k);
		return SL_E_UNAVAIL;
	}
	s->state = GWS_CHECKING;
	list_add_tail(&w->link, &s->waiters);
	return 1;
}

void cs_gws_cancel(struct cs_gws_wait *w)
{
	list_del_init(&w->link);
}

size_t cs_gws_heartbeat_list(struct chunkserver *cs, uint64_t *ids, size_t max)
{
	struct cs_gws_table *t = cs->gws;
	uint64_t now = sl_now_ms();
	size_t n = 0;
	unsigned int i;

	for (i = 0; i < GWS_BUCKETS; i++) {
		struct cs_gws **pp = &t->b[i], *s;

		while ((s = *pp)) {
			if (now - s->used > GWS_FORGET_MS && s->state != GWS_CHECKING) {
				*pp = s->next;
				t->n--;
				free(s);
				continue;
			}
			if (s->state == GWS_ALIVE && n < max)
				ids[n++] = s->id;
			pp = &s->next;
		}
	}
	return n;
}

void cs_gws_heartbeat_reply(struct chunkserver *cs, uint64_t sent_ms, const uint64_t *ids,
			    const uint32_t *remaining, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		struct cs_gws *s = lookup(cs->gws, ids[i], false);

		if (s)
			learn(s, sent_ms, remaining[i]);
	}
}
