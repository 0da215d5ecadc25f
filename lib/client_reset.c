/*
 * A volume's LUN RESET generation (client.h): read it (VOLUME_INFO) or
 * record one more reset (VOLUME_RESET), from any thread but the I/O thread.
 * Either answer carries the volume's size, adopted here (an online resize).
 *
 * The call runs on the I/O thread like an I/O: it counts in v->ops, so
 * sl_volume_close() waits for it, and it ends by its deadline (the master
 * link's own).  A reply about another volume of the same name (deleted and
 * created again) is SL_E_NOENT: its generation means nothing to us.
 */
#include <stdlib.h>
#include <string.h>
#include "client_int.h"
#include "msg_types.h"
#include "status.h"

struct gen_call {
	struct sl_volume *v;
	bool bump;
	uint32_t deadline_ms;
	sl_volume_gen_cb cb;
	void *arg;
};

static void gen_reply(int status, const ProtobufCMessage *reply, void *arg)
{
	struct gen_call *gc = arg;
	struct sl_volume *v = gc->v;
	const Shoal__VolumeInfo *vi = reply ? ((const Shoal__VolumeRep *)reply)->volume : NULL;
	uint64_t gen = 0;

	if (status == SL_OK) {
		if (!vi)
			status = SL_E_PROTO;
		else if (vi->id != v->info.id)
			status = SL_E_NOENT;
		else
			gen = vi->reset_gen;
		if (status == SL_OK && vi->chunk_shift == v->info.chunk_shift)
			sl_volume_set_size(v, vi->size);	/* an online resize */
	}
	gc->cb(status, gen, gc->arg);
	free(gc);
	sl_volume_op_put(v);	/* last: v may be freed once this is 0 */
}

static void gen_begin(void *arg)
{
	struct gen_call *gc = arg;
	Shoal__VolumeNameReq rq = SHOAL__VOLUME_NAME_REQ__INIT;
	Shoal__DedupId dd = SHOAL__DEDUP_ID__INIT;
	int rc;

	rq.name = gc->v->info.name;
	if (gc->bump) {
		/* The master client retries with the same id: one reset is counted once. */
		sl_master_dedup(gc->v->c->mc, &dd);
		rq.dedup = &dd;
	}
	rc = sl_master_call(gc->v->c->mc, gc->bump ? SL_MSG_M_VOLUME_RESET : SL_MSG_M_VOLUME_INFO,
			    &rq.base, gc->deadline_ms, gen_reply, gc);
	if (rc)
		gen_reply(rc, NULL, gc);
}

int sl_volume_reset_gen(struct sl_volume *v, bool bump, uint32_t deadline_ms,
			sl_volume_gen_cb cb, void *arg)
{
	struct gen_call *gc;

	if (!v || !cb)
		return SL_E_INVAL;
	gc = calloc(1, sizeof(*gc));
	if (!gc)
		return SL_E_INTERNAL;
	gc->v = v;
	gc->bump = bump;
	gc->deadline_ms = deadline_ms ? deadline_ms : v->c->deadline_ms;
	gc->cb = cb;
	gc->arg = arg;
	pthread_mutex_lock(&v->lock);
	v->ops++;
	pthread_mutex_unlock(&v->lock);
	if (sl_loop_post(v->c->loop, gen_begin, gc)) {
		free(gc);
		sl_volume_op_put(v);
		return SL_E_INTERNAL;
	}
	return 0;
}

struct gen_sync {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
	int status;
	uint64_t gen;
};

static void gen_sync_done(int status, uint64_t gen, void *arg)
{
	struct gen_sync *s = arg;

	pthread_mutex_lock(&s->lock);
	s->status = status;
	s->gen = gen;
	s->done = true;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

int sl_volume_reset_gen_sync(struct sl_volume *v, bool bump, uint32_t deadline_ms, uint64_t *gen)
{
	struct gen_sync s = { .done = false };
	int rc;

	pthread_mutex_init(&s.lock, NULL);
	pthread_cond_init(&s.cond, NULL);
	rc = sl_volume_reset_gen(v, bump, deadline_ms, gen_sync_done, &s);
	if (rc == 0) {
		/* The master call ends by its deadline, so this wait is bounded. */
		sl_client_wait(v->c, &s.lock, &s.cond, &s.done);
		rc = s.status;
		if (rc == SL_OK && gen)
			*gen = s.gen;
	}
	pthread_cond_destroy(&s.cond);
	pthread_mutex_destroy(&s.lock);
	return rc;
}
