/* COMPARE AND WRITE outcomes by operation identity: the rules are in op_record.h. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include "evloop.h"
#include "log.h"
#include "op_record.h"
#include "status.h"

#define REC_BUCKETS	4096
#define REC_MAX		65536

struct rec {
	struct rec *next;		/* hash chain */
	struct list_head age;		/* oldest first */
	uint64_t client, id;
	bool done;
	int status;
	uint64_t miscompare_off;
	uint64_t at;			/* ms: begun, or done */
	struct list_head waiters;	/* struct cs_rec_wait */
};

struct cs_op_records {
	struct rec *b[REC_BUCKETS];
	struct list_head age;
	unsigned int n;
};

static unsigned int bucket(uint64_t client, uint64_t id)
{
	return (unsigned int)(((client ^ (id * 0x9e3779b97f4a7c15ull)) * 0xff51afd7ed558ccdull) >> 52) &
	       (REC_BUCKETS - 1);
}

struct cs_op_records *cs_rec_new(void)
{
	struct cs_op_records *r = calloc(1, sizeof(*r));

	if (r)
		INIT_LIST_HEAD(&r->age);
	return r;
}

static void wake(struct rec *e, int status, uint64_t moff)
{
	struct cs_rec_wait *w, *n;
	SL_LIST_HEAD(run);

	list_splice_tail_init(&e->waiters, &run);
	list_for_each_entry_safe(w, n, &run, link) {
		list_del_init(&w->link);
		w->cb(w, status, moff);
	}
}

static void drop(struct cs_op_records *r, struct rec *e)
{
	struct rec **pp = &r->b[bucket(e->client, e->id)];

	for (; *pp; pp = &(*pp)->next)
		if (*pp == e) {
			*pp = e->next;
			break;
		}
	list_del_init(&e->age);
	r->n--;
	free(e);
}

void cs_rec_free(struct cs_op_records *r)
{
	struct rec *e, *n;

	if (!r)
		return;
	list_for_each_entry_safe(e, n, &r->age, age) {
		wake(e, SL_E_UNAVAIL, 0);
		drop(r, e);
	}
	free(r);
}

/* Forgets DONE records older than REC_KEEP_MS (R2), oldest first. */
static void expire(struct cs_op_records *r, uint64_t now)
{
	struct rec *e, *n;

	list_for_each_entry_safe(e, n, &r->age, age) {
		if (now - e->at < REC_KEEP_MS)
			break;
		if (e->done)
			drop(r, e);
	}
}

static struct rec *find(struct cs_op_records *r, uint64_t client, uint64_t id)
{
	struct rec *e;

	for (e = r->b[bucket(client, id)]; e; e = e->next)
		if (e->client == client && e->id == id)
			return e;
	return NULL;
}

static struct rec *add(struct cs_op_records *r, uint64_t client, uint64_t id, uint64_t now)
{
	struct rec *e;
	unsigned int h;

	expire(r, now);
	if (r->n >= REC_MAX) {
		/* Over REC_MAX operations within REC_KEEP_MS: the oldest answer goes (R2 weakened, logged). */
		e = list_first_entry(&r->age, struct rec, age);
		if (!e->done)
			return NULL;
		sl_warn("compare-and-write records full (%u): forgetting one %" PRIu64 " ms old", r->n, now - e->at);
		drop(r, e);
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->client = client;
	e->id = id;
	e->at = now;
	INIT_LIST_HEAD(&e->waiters);
	list_add_tail(&e->age, &r->age);
	h = bucket(client, id);
	e->next = r->b[h];
	r->b[h] = e;
	r->n++;
	return e;
}

enum cs_rec_begin cs_rec_begin(struct cs_op_records *r, uint64_t client, uint64_t id,
			       struct cs_rec_wait *w, int *status, uint64_t *miscompare_off)
{
	struct rec *e = find(r, client, id);

	if (e && e->done) {
		*status = e->status;
		*miscompare_off = e->miscompare_off;
		return REC_DONE;
	}
	if (e) {
		list_add_tail(&w->link, &e->waiters);
		return REC_WAIT;
	}
	/* Without room to record it, it still runs: a retry may then compare again (logged in add). */
	add(r, client, id, sl_now_ms());
	return REC_RUN;
}

void cs_rec_end(struct cs_op_records *r, uint64_t client, uint64_t id, bool compared, int status,
		uint64_t miscompare_off)
{
	struct rec *e = find(r, client, id);

	if (!e || e->done)
		return;
	wake(e, status, miscompare_off);
	if (!compared) {
		drop(r, e);
		return;
	}
	e->done = true;
	e->status = status;
	e->miscompare_off = miscompare_off;
	/* re-age: kept REC_KEEP_MS from its answer */
	e->at = sl_now_ms();
	list_del_init(&e->age);
	list_add_tail(&e->age, &r->age);
}

void cs_rec_applied(struct cs_op_records *r, uint64_t client, uint64_t id)
{
	struct rec *e = find(r, client, id);

	if (!e)
		e = add(r, client, id, sl_now_ms());
	if (!e || e->done)
		return;
	wake(e, SL_OK, 0);
	e->done = true;
	e->status = SL_OK;
	e->miscompare_off = 0;
}

void cs_rec_cancel(struct cs_rec_wait *w)
{
	list_del_init(&w->link);
}
