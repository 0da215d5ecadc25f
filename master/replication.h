/*
 * Re-replication and drain (leader soft state; doc/protocol.md
 * "Re-replication").
 *
 * A chunk needs a copy when fewer of its set's members are good (up and
 * ACTIVE) than its volume's replica count: members on down servers, on
 * draining or removed servers, or a set shrunk by failures.  Every tick
 * (heartbeat_ms) the leader scans the chunk map, orders the chunks that
 * need a copy (fewest good replicas first, then chunks with recent I/O —
 * a lease live or expired within the last 10 lease periods), and starts
 * jobs within the throttles: at most max_per_server jobs per chunkserver
 * (as source or target), max_cluster in all, and rate MiB/s of chunk data
 * started (a token bucket).  A target is an up ACTIVE server outside the
 * set, in a failure domain the good members do not use when possible,
 * with a disk whose fill after the copy stays within disk_full_percent.
 *
 * One job per chunk; the chunk carries CHUNK_F_COPYING while it runs, so
 * no lease is granted or renewed (lease.c answers BUSY):
 *
 *   WAIT_LEASE --lease expired (at version V)--> ASSIGNED
 *   ASSIGNED --target's heartbeat reply carries CsCopyFromPeerReq{V+1,
 *              source_version V}--> SENT
 *   SENT --target reports CopyResult OK--> COMMIT: SET_REPLICAS(expect V,
 *          set + target, minus one bad member when the set would exceed
 *          the replica count) through Raft --applied--> done
 *   any --failure, timeout, chunk/server gone--> done, chunk backs off
 *
 * Resync of a returning server's stale replica: a chunk report listing
 * a replica outside the set at version S (0 < S < the chunk's version)
 * of a chunk that needs a copy, on a usable server, is kept instead of
 * deleted (a "stale" entry, soft), and the next job for that chunk takes
 * that server as its target with only_dirty, since_version = S: the
 * target keeps its file and copies only what changed since S (copy.c on
 * the chunkserver).  A stale replica no job needs (the chunk is fully
 * replicated again, or REPL_STALE_MS passed) is deleted; a job on it that
 * fails deletes it too, and the next copy is a whole one.
 *
 * Correctness: no write can happen to the chunk from the moment its lease
 * expired (no new lease while COPYING), and the target fences the source
 * at V+1 before reading, so a write of V still in flight is refused by the
 * source instead of landing after the copy read it.  The target joins the
 * set only when its copy completed, and the join bumps the version, so the
 * next lease moves every member (target included) to a new version.  The
 * set never shrinks here: a bad member leaves only as the target joins.
 */
#ifndef SHOAL_MASTER_REPLICATION_H
#define SHOAL_MASTER_REPLICATION_H

#include <stdbool.h>
#include <stdint.h>
#include "shoal.pb-c.h"

struct master;
struct cs;
struct chunk;

#define REPL_BACKOFF_MAX	1024

enum repl_state { R_WAIT_LEASE, R_ASSIGNED, R_SENT, R_COMMIT };

struct repl_job {
	uint64_t chunk_id;
	uint64_t version;		/* V, fixed when the lease is gone */
	uint64_t chunk_size;
	uint32_t source, target;
	enum repl_state state;
	uint64_t start_ms, sent_ms;
	uint64_t bytes;
	uint64_t since;			/* resync of a stale replica at this version; 0: whole copy */
};

#define REPL_STALE_MAX	4096

/* A stale replica kept for a resync: cs_id holds chunk_id at version. */
struct repl_stale {
	uint64_t chunk_id, version, seen_ms;
	uint32_t cs_id;
};

struct repl_backoff {
	uint64_t chunk_id, until_ms;
};

struct repl {
	struct repl_job *jobs;		/* max_cluster slots, the first njobs used */
	uint32_t njobs, cap;
	double tokens;			/* bytes that may start now */
	uint64_t tokens_ms;
	struct repl_backoff backoff[REPL_BACKOFF_MAX];
	uint32_t nbackoff;
	struct repl_stale *stale;	/* REPL_STALE_MAX slots, the first nstale used */
	uint32_t nstale;
	/* counters since this process started (not reset at a leader change) */
	uint64_t under_replicated;	/* at the last scan */
	uint64_t held;			/* of those, held for a server in maintenance (maintenance.h M1) */
	uint64_t replicated_bytes, completed, failed;
};

struct repl *repl_new(uint32_t max_cluster);
void repl_free(struct repl *r);
/* Leadership gained or lost: forget every job (the flags are reset by the caller). */
void repl_reset(struct master *m);
/* Once per tick on the ready leader: advance jobs, then start new ones. */
void repl_tick(struct master *m);

/*
 * A chunk report from cs lists c at version outside c's set: true if the
 * replica is kept for a resync (it must not be deleted), false if it goes.
 */
bool repl_keep_stale(struct master *m, struct chunk *c, struct cs *cs, uint64_t version);
/* Whether a copy of chunk_id to cs_id is running (its replica must not be deleted). */
bool repl_copying_to(struct master *m, uint64_t chunk_id, uint32_t cs_id);
/* A good member holds current data on a server that should keep it. */
bool repl_member_good(struct master *m, uint32_t cs_id);
/* Good members of c's set. */
int repl_good_count(struct master *m, const struct chunk *c);

/*
 * Heartbeat of cs: consumes its CopyResults, and fills *out with the
 * copy orders for it (arrays owned by *out until repl_hb_free).
 */
struct repl_hb_out {
	Shoal__CsCopyFromPeerReq *reqs, **ptrs;
	Shoal__ChunkRef *refs;
	Shoal__ServerAddr *srcs;
	size_t n;
};
void repl_heartbeat(struct master *m, struct cs *cs, const Shoal__HeartbeatReq *rq,
		    struct repl_hb_out *out);
void repl_hb_free(struct repl_hb_out *out);

#endif
