/*
 * The volume client (client.h), the top of its files: its I/O thread,
 * opening and closing volumes, and checking I/Os before client_io.c (the
 * per-I/O state machine) or client_orwrite.c takes them.  Below client_io.c
 * are client_link.c (chunkserver connections) and client_session.c.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "client_int.h"
#include "log.h"
#include "msg_types.h"
#include "status.h"

#define SL_CHUNK_SHIFT_MIN	12
#define SL_CHUNK_SHIFT_MAX	40
#define SL_MAX_CHUNKS		(1ull << 24)	/* map entries per volume */

static void *client_thread(void *arg)
{
	struct sl_client *c = arg;
	int rc = sl_loop_run(c->loop);

	if (rc)
		sl_err("client: I/O loop failed: %s", strerror(-rc));
	return NULL;
}

struct sl_client *sl_client_new(const struct sl_str_list *masters, const struct sl_client_opts *opts)
{
	struct sl_client *c = calloc(1, sizeof(*c));
	sigset_t all, old;
	int rc;

	if (!c)
		return NULL;
	INIT_LIST_HEAD(&c->links);
	INIT_LIST_HEAD(&c->ops);
	if (opts && opts->session_name)
		snprintf(c->sess.name, sizeof(c->sess.name), "%s", opts->session_name);
	c->sess.fence_on_loss = opts && opts->fence_on_loss && opts->embedded;
	c->sess.on_lost = opts ? opts->on_lost : NULL;
	c->sess.lost_arg = opts ? opts->lost_arg : NULL;
	c->deadline_ms = opts && opts->deadline_ms ? opts->deadline_ms : 30000;
	c->rpc_timeout_ms = opts && opts->rpc_timeout_ms ? opts->rpc_timeout_ms : 5000;
	c->embed_fd = -1;
	c->loop = sl_loop_new();
	if (!c->loop)
		goto fail;
	c->mc = sl_master_client_new(c->loop, masters);
	if (!c->mc) {
		sl_err("client: no usable master address");
		goto fail;
	}
	if (opts && opts->embedded) {
		c->embed_fd = sl_loop_hosted(c->loop);
		if (c->embed_fd < 0) {
			sl_err("client: cannot embed the I/O loop: %s", strerror(errno));
			goto fail;
		}
		sl_session_init(c, sl_client_io_fail_all);
		return c;
	}
	sl_session_init(c, sl_client_io_fail_all);
	/*
	 * The thread must not take any signal: inside tgtd, a SIGUSR2 meant
	 * for the main thread's signalfd would kill the process.
	 */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&c->thread, NULL, client_thread, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		sl_err("client: cannot start I/O thread: %s", strerror(rc));
		goto fail;
	}
	c->thread_started = true;
	return c;
fail:
	if (c->mc)
		sl_master_client_free(c->mc);
	if (c->loop)
		sl_loop_free(c->loop);
	free(c);
	return NULL;
}

void sl_client_free(struct sl_client *c)
{
	struct sl_cs_link *l, *tmp;

	if (!c)
		return;
	if (c->thread_started) {
		sl_loop_stop(c->loop);
		pthread_join(c->thread, NULL);
	}
	/* The loop no longer runs: this thread is the only one touching it. */
	list_for_each_entry_safe(l, tmp, &c->links, node) {
		list_del_init(&l->node);
		sl_conn_close(l->conn);
		free(l);
	}
	sl_master_client_free(c->mc);
	sl_session_fini(c);
	sl_loop_free(c->loop);
	free(c);
}

int sl_client_fd(struct sl_client *c)
{
	return c->embed_fd;
}

void sl_client_run(struct sl_client *c)
{
	int rc = sl_loop_run_once(c->loop, 0);

	if (rc)
		sl_err("client: I/O loop failed: %s", strerror(-rc));
}

void sl_client_wait(struct sl_client *c, pthread_mutex_t *lock, pthread_cond_t *cond,
		    const bool *done)
{
	if (c->embed_fd >= 0) {
		/* this thread runs the loop: nobody else can set *done */
		while (!*done)
			sl_loop_run_once(c->loop, 100);
		return;
	}
	pthread_mutex_lock(lock);
	while (!*done)
		pthread_cond_wait(cond, lock);
	pthread_mutex_unlock(lock);
}

/* ---- opening a volume: a VOLUME_INFO call made on the I/O thread ---- */

struct open_ctx {
	struct sl_client *c;
	const char *name;
	uint32_t deadline_ms;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
	int status;
	struct sl_volume_info info;
};

static void open_signal(struct open_ctx *o, int status)
{
	pthread_mutex_lock(&o->lock);
	o->status = status;
	o->done = true;
	pthread_cond_signal(&o->cond);
	pthread_mutex_unlock(&o->lock);
}

static int info_from_msg(const Shoal__VolumeInfo *vi, struct sl_volume_info *out)
{
	if (!vi || vi->uuid.len != 16 || !vi->name || strlen(vi->name) >= sizeof(out->name) ||
	    vi->chunk_shift < SL_CHUNK_SHIFT_MIN || vi->chunk_shift > SL_CHUNK_SHIFT_MAX ||
	    !vi->size || (vi->size & 511) ||
	    ((vi->size + (1ull << vi->chunk_shift) - 1) >> vi->chunk_shift) > SL_MAX_CHUNKS)
		return SL_E_PROTO;
	memset(out, 0, sizeof(*out));
	out->id = vi->id;
	snprintf(out->name, sizeof(out->name), "%s", vi->name);
	memcpy(out->uuid, vi->uuid.data, 16);
	out->size = vi->size;
	out->chunk_shift = vi->chunk_shift;
	out->replicas = vi->replicas;
	out->min_replicas = vi->min_replicas;
	out->flags = vi->flags;
	out->reset_gen = vi->reset_gen;
	return SL_OK;
}

static void open_reply(int status, const ProtobufCMessage *reply, void *arg)
{
	struct open_ctx *o = arg;

	if (status == SL_OK)
		status = info_from_msg(reply ? ((const Shoal__VolumeRep *)reply)->volume : NULL, &o->info);
	open_signal(o, status);
}

static void open_begin(void *arg)
{
	struct open_ctx *o = arg;
	Shoal__VolumeNameReq rq = SHOAL__VOLUME_NAME_REQ__INIT;
	int rc;

	rq.name = (char *)o->name;
	rc = sl_master_call(o->c->mc, SL_MSG_M_VOLUME_INFO, &rq.base, o->deadline_ms, open_reply, o);
	if (rc)
		open_signal(o, rc);
}

int sl_volume_open(struct sl_client *c, const char *name, uint32_t deadline_ms, struct sl_volume **out)
{
	struct open_ctx o = { .c = c, .name = name, .deadline_ms = deadline_ms };
	struct sl_volume *v;
	uint64_t i;
	int rc;

	*out = NULL;
	if (!name || !*name)
		return SL_E_INVAL;
	pthread_mutex_init(&o.lock, NULL);
	pthread_cond_init(&o.cond, NULL);
	rc = sl_loop_post(c->loop, open_begin, &o);
	if (rc) {
		rc = SL_E_INTERNAL;
		goto out;
	}
	/* The master call ends by its deadline, so this wait is bounded. */
	sl_client_wait(c, &o.lock, &o.cond, &o.done);
	rc = o.status;
	if (rc != SL_OK)
		goto out;
	v = calloc(1, sizeof(*v));
	if (!v) {
		rc = SL_E_INTERNAL;
		goto out;
	}
	v->c = c;
	v->info = o.info;
	v->nchunks = (v->info.size + (1ull << v->info.chunk_shift) - 1) >> v->info.chunk_shift;
	v->map = calloc(v->nchunks, sizeof(*v->map));
	if (!v->map) {
		free(v);
		rc = SL_E_INTERNAL;
		goto out;
	}
	for (i = 0; i < v->nchunks; i++)
		INIT_LIST_HEAD(&v->map[i].waiters);
	pthread_mutex_init(&v->lock, NULL);
	pthread_cond_init(&v->cond, NULL);
	*out = v;
out:
	pthread_cond_destroy(&o.cond);
	pthread_mutex_destroy(&o.lock);
	return rc;
}

const struct sl_volume_info *sl_volume_get_info(const struct sl_volume *v)
{
	return &v->info;
}

void sl_volume_close(struct sl_volume *v)
{
	if (!v)
		return;
	/* Each op ends by its deadline and frees itself soon after. */
	if (v->c->embed_fd >= 0) {
		while (v->ops)
			sl_loop_run_once(v->c->loop, 100);
	} else {
		pthread_mutex_lock(&v->lock);
		while (v->ops)
			pthread_cond_wait(&v->cond, &v->lock);
		pthread_mutex_unlock(&v->lock);
	}
	pthread_cond_destroy(&v->cond);
	pthread_mutex_destroy(&v->lock);
	free(v->map);
	free(v);
}

uint64_t sl_volume_size(const struct sl_volume *v)
{
	return __atomic_load_n(&v->info.size, __ATOMIC_ACQUIRE);
}

/*
 * The master gave the volume a new size (client_reset.c, on the I/O
 * thread, the only one that touches the map): the map grows first, then
 * the size is published, so an I/O admitted against the new size by
 * sl_volume_submit (any thread) finds its chunks when it runs here.  The
 * map never shrinks; a size the map cannot hold is ignored.
 */
void sl_volume_set_size(struct sl_volume *v, uint64_t size)
{
	uint64_t n = (size + (1ull << v->info.chunk_shift) - 1) >> v->info.chunk_shift, i;
	struct sl_chunk_ent *map;

	if (!size || (size & 511) || n > SL_MAX_CHUNKS || size == v->info.size)
		return;
	if (n > v->nchunks) {
		map = calloc(n, sizeof(*map));
		if (!map) {
			sl_warn("client: %s: no memory to grow to %llu bytes", v->info.name,
				(unsigned long long)size);
			return;
		}
		for (i = 0; i < n; i++) {
			INIT_LIST_HEAD(&map[i].waiters);
			if (i >= v->nchunks)
				continue;
			map[i] = v->map[i];
			/* waiters point at the list head: move them to the new one */
			INIT_LIST_HEAD(&map[i].waiters);
			list_splice_tail_init(&v->map[i].waiters, &map[i].waiters);
		}
		free(v->map);
		v->map = map;
		v->nchunks = n;
	}
	sl_info("client: %s: size %llu -> %llu bytes", v->info.name, (unsigned long long)v->info.size,
		(unsigned long long)size);
	__atomic_store_n(&v->info.size, size, __ATOMIC_RELEASE);
}

int sl_volume_submit(struct sl_volume *v, struct sl_io *io)
{
	unsigned int shift;
	uint64_t size;

	if (!io || !io->done)
		return SL_E_INVAL;
	switch (io->op) {
	case SL_IO_FLUSH:
		break;
	case SL_IO_READ:
	case SL_IO_WRITE:
	case SL_IO_UNMAP:
	case SL_IO_ORWRITE:
		if (!io->length || (io->op != SL_IO_UNMAP && !io->buf))
			return SL_E_INVAL;
		break;
	case SL_IO_WRITE_SAME:
		if (!io->length || !io->buf || !io->blk_len || io->length % io->blk_len)
			return SL_E_INVAL;
		break;
	case SL_IO_CAW:
		/* Atomic only within one chunk; a frame carries both halves. */
		shift = sl_split_unit_shift(io->op, v->info.chunk_shift);
		if (!io->length || !io->buf || sl_split_count(io->offset, io->length, shift) != 1)
			return SL_E_INVAL;
		break;
	default:
		return SL_E_INVAL;
	}
	size = sl_volume_size(v);
	if (io->op != SL_IO_FLUSH && (io->offset > size || io->length > size - io->offset))
		return SL_E_RANGE;
	if (io->op == SL_IO_ORWRITE) {
		if (sl_client_blocked(v->c))
			return SL_E_STALE_EPOCH;	/* client_session.h C3 */
		io->status = SL_E_INTERNAL;
		io->miscompare_offset = 0;
		return sl_client_orwrite_start(v, io);
	}
	return sl_client_submit(v, io);
}

struct sync_ctx {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
	void (*user_done)(struct sl_io *io);
	void *user_arg;
};

static void sync_done(struct sl_io *io)
{
	struct sync_ctx *s = io->arg;

	pthread_mutex_lock(&s->lock);
	s->done = true;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

int sl_volume_io_sync(struct sl_volume *v, struct sl_io *io)
{
	struct sync_ctx s = { .done = false };
	int rc;

	pthread_mutex_init(&s.lock, NULL);
	pthread_cond_init(&s.cond, NULL);
	s.user_done = io->done;
	s.user_arg = io->arg;
	io->done = sync_done;
	io->arg = &s;
	rc = sl_volume_submit(v, io);
	if (rc == 0) {
		sl_client_wait(v->c, &s.lock, &s.cond, &s.done);
		rc = io->status;
	}
	io->done = s.user_done;
	io->arg = s.user_arg;
	pthread_cond_destroy(&s.cond);
	pthread_mutex_destroy(&s.lock);
	return rc;
}
