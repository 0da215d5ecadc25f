/*
 * The one wrapper around libraft 0.15 (uv backend) and its libuv loop.
 *
 * It follows /work/shared/research/master-ha.md section 3: entries padded
 * to 8 bytes, auto-recovery off, pre-vote on, connect retry 100 ms,
 * snapshot threshold 4096 (trailing 1024), and a barrier after becoming
 * leader: rg_ready() turns true, and on_ready() runs, only once every
 * entry of earlier terms has been applied.  libuv runs embedded in our
 * sl_loop (its backend fd in our epoll set, uv_run NOWAIT after wakes).
 *
 * Leadership state machine (polled after every uv_run):
 *
 *   FOLLOWER/CANDIDATE --raft_state()==LEADER--> LEADER(barrier pending)
 *        ^                                            | barrier applied
 *        |           raft_state()!=LEADER             v
 *        +-------------------------------------- LEADER(ready)
 *
 * Leader lease: a leader counts as *confirmed* at time t when an entry it
 * submitted at t committed (a majority still had it as leader then; each
 * of them acked before it could vote for anyone else, so any later leader
 * was elected after t).  rg_leased() is true only while now < t + the
 * lease window (2 election timeouts); the glue appends a barrier every
 * half window while nothing else commits.  The master hands out chunk
 * leases, lease renewals and gateway-session statements only while leased,
 * and a new leader waits lease_ms + the window before it grants a chunk to
 * another primary (master/lease.h): every statement of a deposed leader
 * was made before its confirmation ran out, so before that.
 *
 * Submission outcome (rg_apply_cb status): SL_OK with the FSM result;
 * SL_E_NOT_LEADER when leadership was lost before commit -- the outcome is
 * UNKNOWN (it may still commit under the next leader), so callers rely on
 * dedup ids; SL_E_UNAVAIL when shutting down or the submit failed.
 */
#ifndef SHOAL_MASTER_RAFT_GLUE_H
#define SHOAL_MASTER_RAFT_GLUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "evloop.h"

#define RG_MAX_NODES 9

struct rg_config {
	uint32_t id;			/* 1-based */
	int n;				/* voters */
	char raft_addr[RG_MAX_NODES][128];	/* node i+1's Raft address */
	const char *bind_addr;		/* where this node listens for Raft */
	const char *data_dir;
	unsigned election_ms;
	unsigned heartbeat_ms;		/* Raft heartbeat (not the chunkservers') */
};

struct rg_fsm_ops {
	uint64_t (*apply)(void *arg, const void *buf, size_t len);
	int (*snapshot)(void *arg, void **buf, size_t *len);	/* malloc'd */
	int (*restore)(void *arg, const void *buf, size_t len);
	void (*on_ready)(void *arg);		/* leader, barrier applied */
	void (*on_lost)(void *arg);		/* no longer (ready) leader */
	void *arg;
};

struct rg_status {
	const char *role;	/* leader, follower, candidate, unavailable */
	uint64_t term, commit_index, applied_index, last_snapshot_index;
	uint32_t leader_id;	/* 0 unknown */
};

struct raft_glue;

typedef void (*rg_apply_cb)(void *arg, int status, uint64_t result);

struct raft_glue *rg_start(struct sl_loop *loop, const struct rg_config *cfg,
			   const struct rg_fsm_ops *ops, char *err, size_t errlen);
/* Closes Raft and libuv; done(arg) runs once everything is released. */
void rg_close(struct raft_glue *g, void (*done)(void *arg), void *arg);
void rg_free(struct raft_glue *g);
bool rg_ready(const struct raft_glue *g);
/* Ready and confirmed within the lease window (above). */
bool rg_leased(const struct raft_glue *g);
/* The lease window in ms. */
unsigned rg_lease_window_ms(const struct raft_glue *g);
/* Submits one entry (copied and padded); 0 if cb will run, or SL_E_* (cb will not run). */
int rg_submit(struct raft_glue *g, const void *buf, size_t len, rg_apply_cb cb, void *arg);
void rg_get_status(struct raft_glue *g, struct rg_status *st);

#endif
