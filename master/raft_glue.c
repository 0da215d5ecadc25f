/*
 * libraft + libuv behind one small interface (raft_glue.h).  Nothing else
 * in the master includes raft.h or uv.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <raft.h>
#include <raft/uv.h>
#include <uv.h>
#include "log.h"
#include "status.h"
#include "list.h"
#include "raft_glue.h"

#define RG_SNAPSHOT_THRESHOLD	4096
#define RG_SNAPSHOT_TRAILING	1024
#define RG_CONNECT_RETRY_MS	100

struct raft_glue {
	struct sl_loop *sl;
	uv_loop_t uv;
	struct raft_uv_transport transport;
	struct raft_io io;
	struct raft_fsm fsm;
	struct raft raft;
	struct rg_fsm_ops ops;
	bool uv_inited, transport_inited, io_inited, raft_inited, started;
	bool ready;			/* leader and the barrier of this term applied */
	bool barrier_pending;
	raft_term barrier_term;
	struct raft_barrier barrier;
	bool closing;
	void (*done)(void *arg);
	void *done_arg;
	/* leader lease (raft_glue.h) */
	unsigned window_ms;
	uint64_t confirmed_at;		/* ms: submit time of the latest entry of ours that committed */
	bool confirm_pending;
	uint64_t confirm_sent;
	struct raft_barrier confirm;
};

struct rg_req {
	struct raft_apply req;
	rg_apply_cb cb;
	void *arg;
	uint64_t sent;			/* ms, for the leader lease */
	struct raft_glue *g;
};

static void confirmed(struct raft_glue *g, uint64_t sent)
{
	if (sent > g->confirmed_at)
		g->confirmed_at = sent;
}

/* ---- FSM adapters ---- */

static int fsm_apply_cb(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
	struct raft_glue *g = fsm->data;
	uint64_t r = g->ops.apply(g->ops.arg, buf->base, buf->len);
	/* Never fail: a non-zero return would make libraft retry the entry. */
	*result = (void *)(uintptr_t)r;
	return 0;
}

static int fsm_snapshot_cb(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs)
{
	struct raft_glue *g = fsm->data;
	void *p = NULL;
	size_t len = 0;

	if (g->ops.snapshot(g->ops.arg, &p, &len))
		return RAFT_NOMEM;
	struct raft_buffer *b = raft_malloc(sizeof(*b));
	void *base = raft_malloc(len ? len : 1);
	if (!b || !base) {
		raft_free(b);
		raft_free(base);
		free(p);
		return RAFT_NOMEM;
	}
	memcpy(base, p, len);
	free(p);
	b->base = base;
	b->len = len;
	*bufs = b;
	*n_bufs = 1;
	return 0;
}

static int fsm_restore_cb(struct raft_fsm *fsm, struct raft_buffer *buf)
{
	struct raft_glue *g = fsm->data;
	if (g->ops.restore(g->ops.arg, buf->base, buf->len))
		return RAFT_MALFORMED;
	raft_free(buf->base);	/* ours on success (master-ha.md 3.5) */
	return 0;
}

/* ---- leadership tracking ---- */

static void confirm_cb(struct raft_barrier *req, int status)
{
	struct raft_glue *g = req->data;

	g->confirm_pending = false;
	if (status == 0 && !g->closing)
		confirmed(g, g->confirm_sent);
}

static void barrier_cb(struct raft_barrier *req, int status)
{
	struct raft_glue *g = req->data;
	g->barrier_pending = false;
	if (g->closing)
		return;
	if (status == 0 && raft_state(&g->raft) == RAFT_LEADER &&
	    g->raft.current_term == g->barrier_term && !g->ready) {
		g->ready = true;
		confirmed(g, g->confirm_sent);
		sl_info("raft: leader of term %llu, log applied up to %llu",
			(unsigned long long)g->barrier_term, (unsigned long long)raft_last_applied(&g->raft));
		g->ops.on_ready(g->ops.arg);
	}
}

static void poll_state(struct raft_glue *g)
{
	if (!g->started || g->closing)
		return;
	bool leader = raft_state(&g->raft) == RAFT_LEADER;
	if (g->ready && (!leader || g->raft.current_term != g->barrier_term)) {
		g->ready = false;
		sl_info("raft: no longer leader (term %llu)", (unsigned long long)g->raft.current_term);
		g->ops.on_lost(g->ops.arg);
	}
	if (g->ready && !g->confirm_pending && sl_now_ms() >= g->confirmed_at + g->window_ms / 2) {
		/* nothing committed lately: confirm the leadership (raft_glue.h, leader lease) */
		g->confirm.data = g;
		g->confirm_sent = sl_now_ms();
		if (raft_barrier(&g->raft, &g->confirm, confirm_cb) == 0)
			g->confirm_pending = true;
	}
	if (leader && !g->ready && !g->barrier_pending) {
		/* 0.15 appends no no-op on election: apply everything first. */
		g->barrier.data = g;
		g->barrier_term = g->raft.current_term;
		g->confirm_sent = sl_now_ms();
		int rv = raft_barrier(&g->raft, &g->barrier, barrier_cb);
		if (rv == 0)
			g->barrier_pending = true;
		else
			sl_warn("raft: barrier: %s", raft_strerror(rv));
	}
}

/* ---- libuv embedded in sl_loop ---- */

static int uv_timeout_cb(void *arg)
{
	struct raft_glue *g = arg;
	return uv_backend_timeout(&g->uv);
}

static void uv_run_cb(void *arg)
{
	struct raft_glue *g = arg;
	uv_run(&g->uv, UV_RUN_NOWAIT);
	poll_state(g);
}

static int mkdir_p(const char *dir)
{
	char tmp[4096];
	if (snprintf(tmp, sizeof(tmp), "%s", dir) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	for (char *p = tmp + 1; *p; p++)
		if (*p == '/') {
			*p = 0;
			if (mkdir(tmp, 0750) && errno != EEXIST)
				return -errno;
			*p = '/';
		}
	if (mkdir(tmp, 0750) && errno != EEXIST)
		return -errno;
	return 0;
}

struct raft_glue *rg_start(struct sl_loop *loop, const struct rg_config *cfg,
			   const struct rg_fsm_ops *ops, char *err, size_t errlen)
{
	struct raft_configuration conf;
	struct raft_glue *g = calloc(1, sizeof(*g));
	int rv;

	if (!g) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	g->sl = loop;
	g->ops = *ops;
	g->window_ms = 2 * cfg->election_ms;
	if ((rv = mkdir_p(cfg->data_dir))) {
		snprintf(err, errlen, "--data-dir %s: %s", cfg->data_dir, strerror(-rv));
		goto fail;
	}
	if ((rv = uv_loop_init(&g->uv))) {
		snprintf(err, errlen, "uv_loop_init: %s", uv_strerror(rv));
		goto fail;
	}
	g->uv_inited = true;
	if ((rv = raft_uv_tcp_init(&g->transport, &g->uv))) {
		snprintf(err, errlen, "raft transport: %s", raft_strerror(rv));
		goto fail;
	}
	g->transport_inited = true;
	if ((rv = raft_uv_tcp_set_bind_address(&g->transport, cfg->bind_addr))) {
		snprintf(err, errlen, "--raft-listen %s: %s", cfg->bind_addr, raft_strerror(rv));
		goto fail;
	}
	if ((rv = raft_uv_init(&g->io, &g->uv, cfg->data_dir, &g->transport))) {
		snprintf(err, errlen, "raft storage in %s: %s", cfg->data_dir, g->io.errmsg);
		goto fail;
	}
	g->io_inited = true;
	raft_uv_set_connect_retry_delay(&g->io, RG_CONNECT_RETRY_MS);
	/* Real corruption must stop the node, never silently truncate the log. */
	raft_uv_set_auto_recovery(&g->io, false);

	g->fsm.version = 1;
	g->fsm.data = g;
	g->fsm.apply = fsm_apply_cb;
	g->fsm.snapshot = fsm_snapshot_cb;
	g->fsm.restore = fsm_restore_cb;
	if ((rv = raft_init(&g->raft, &g->io, &g->fsm, cfg->id, cfg->raft_addr[cfg->id - 1]))) {
		snprintf(err, errlen, "raft_init: %s", raft_strerror(rv));
		goto fail;
	}
	g->raft_inited = true;
	g->raft.data = g;
	raft_set_election_timeout(&g->raft, cfg->election_ms);
	raft_set_heartbeat_timeout(&g->raft, cfg->heartbeat_ms);
	raft_set_pre_vote(&g->raft, true);
	raft_set_snapshot_threshold(&g->raft, RG_SNAPSHOT_THRESHOLD);
	raft_set_snapshot_trailing(&g->raft, RG_SNAPSHOT_TRAILING);

	/* Every node bootstraps the same configuration; later starts get CANTBOOTSTRAP. */
	raft_configuration_init(&conf);
	for (int i = 0; i < cfg->n; i++)
		if ((rv = raft_configuration_add(&conf, i + 1, cfg->raft_addr[i], RAFT_VOTER))) {
			raft_configuration_close(&conf);
			snprintf(err, errlen, "raft configuration: %s", raft_strerror(rv));
			goto fail;
		}
	rv = raft_bootstrap(&g->raft, &conf);
	raft_configuration_close(&conf);
	if (rv && rv != RAFT_CANTBOOTSTRAP) {
		snprintf(err, errlen, "raft_bootstrap: %s", raft_errmsg(&g->raft));
		goto fail;
	}
	if ((rv = raft_start(&g->raft))) {
		snprintf(err, errlen, "raft_start in %s: %s", cfg->data_dir, raft_errmsg(&g->raft));
		goto fail;
	}
	g->started = true;
	if ((rv = sl_loop_embed(loop, uv_backend_fd(&g->uv), uv_timeout_cb, uv_run_cb, g))) {
		snprintf(err, errlen, "embedding libuv: %s", strerror(rv < 0 ? -rv : rv));
		goto fail;
	}
	uv_run(&g->uv, UV_RUN_NOWAIT);	/* arm timers and pollers once */
	return g;
fail:
	/* Partial init: close what exists synchronously through the uv loop. */
	rg_close(g, NULL, NULL);
	rg_free(g);
	return NULL;
}

static void on_raft_closed(struct raft *r)
{
	struct raft_glue *g = r->data;
	raft_uv_close(&g->io);
	raft_uv_tcp_close(&g->transport);
	g->io_inited = g->transport_inited = false;
	if (g->done)
		g->done(g->done_arg);
}

void rg_close(struct raft_glue *g, void (*done)(void *arg), void *arg)
{
	g->closing = true;
	g->ready = false;
	g->done = done;
	g->done_arg = arg;
	if (g->raft_inited) {
		g->raft_inited = false;
		raft_close(&g->raft, on_raft_closed);
		return;
	}
	if (g->io_inited)
		raft_uv_close(&g->io);
	if (g->transport_inited)
		raft_uv_tcp_close(&g->transport);
	g->io_inited = g->transport_inited = false;
	if (done)
		done(arg);
}

void rg_free(struct raft_glue *g)
{
	if (!g)
		return;
	if (g->uv_inited) {
		/* Let close callbacks and pool work drain; bounded by libuv's own close. */
		uv_run(&g->uv, UV_RUN_DEFAULT);
		if (uv_loop_close(&g->uv))
			sl_warn("raft: libuv loop still busy at exit");
	}
	free(g);
}

bool rg_ready(const struct raft_glue *g)
{
	return g->ready;
}

bool rg_leased(const struct raft_glue *g)
{
	return g->ready && sl_now_ms() < g->confirmed_at + g->window_ms;
}

unsigned rg_lease_window_ms(const struct raft_glue *g)
{
	return g->window_ms;
}

static void apply_done(struct raft_apply *req, int status, void *result)
{
	struct rg_req *r = container_of(req, struct rg_req, req);
	int st;
	switch (status) {
	case 0:
		st = SL_OK;
		confirmed(r->g, r->sent);
		break;
	case RAFT_LEADERSHIPLOST:
	case RAFT_NOTLEADER:
		st = SL_E_NOT_LEADER;	/* unknown outcome: the client retries with its dedup id */
		break;
	default:
		st = SL_E_UNAVAIL;
		break;
	}
	r->cb(r->arg, st, (uint64_t)(uintptr_t)result);
	free(r);
}

int rg_submit(struct raft_glue *g, const void *buf, size_t len, rg_apply_cb cb, void *arg)
{
	struct raft_buffer b;
	struct rg_req *r;

	if (!g->ready)
		return SL_E_NOT_LEADER;
	/* The uv backend needs 8-byte multiples (master-ha.md 3.9.2). */
	size_t plen = (len + 7) & ~(size_t)7;
	b.base = raft_malloc(plen);
	r = calloc(1, sizeof(*r));
	if (!b.base || !r) {
		raft_free(b.base);
		free(r);
		return SL_E_INTERNAL;
	}
	memcpy(b.base, buf, len);
	memset((char *)b.base + len, 0, plen - len);
	b.len = plen;
	r->cb = cb;
	r->arg = arg;
	r->g = g;
	r->sent = sl_now_ms();
	int rv = raft_apply(&g->raft, &r->req, &b, 1, apply_done);
	if (rv) {
		raft_free(b.base);
		free(r);
		return rv == RAFT_NOTLEADER || rv == RAFT_LEADERSHIPLOST ? SL_E_NOT_LEADER : SL_E_UNAVAIL;
	}
	return 0;
}

void rg_get_status(struct raft_glue *g, struct rg_status *st)
{
	raft_id id = 0;
	const char *addr = NULL;

	memset(st, 0, sizeof(*st));
	if (!g->started) {
		st->role = "unavailable";
		return;
	}
	switch (raft_state(&g->raft)) {
	case RAFT_LEADER: st->role = g->ready ? "leader" : "leader-pending"; break;
	case RAFT_FOLLOWER: st->role = "follower"; break;
	case RAFT_CANDIDATE: st->role = "candidate"; break;
	default: st->role = "unavailable"; break;
	}
	st->term = g->raft.current_term;
	st->commit_index = g->raft.commit_index;
	st->applied_index = raft_last_applied(&g->raft);
	st->last_snapshot_index = g->raft.log.snapshot.last_index;
	raft_leader(&g->raft, &id, &addr);
	st->leader_id = (uint32_t)id;
}
