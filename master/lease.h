/*
 * Primary leases: pure decisions on a chunk and the leader's clock.
 *
 * Invariant: the master never lets a second server be primary while an
 * earlier lease may still be live.  It holds because
 *  - a grant to a new primary (or after expiry) bumps the version through
 *    Raft and the expiry is set only after that entry applied, while the
 *    chunk is marked GRANTING so no concurrent decision is taken;
 *  - the leader's expiry (apply time + lease_ms) is later than the
 *    primary's own (request send time + lease_ms);
 *  - a new leader does not know the old one's expiries, so for one full
 *    lease_ms plus the leader-lease window after it became ready
 *    (wait_until) it grants only to the recorded primary (as a renewal, no
 *    bump) and answers BUSY otherwise: a deposed leader grants and renews
 *    only while its own leader lease holds, which ran out less than that
 *    window after a majority last confirmed it, before we were elected
 *    (raft_glue.h);
 *  - a chunk marked COPYING (replication.h) gets no grant and no renewal,
 *    so its lease runs out and no write can start until the copy joined.
 *
 * Availability rule (not safety): a client lookup that must grant passes
 * over a member that is up but silent (no heartbeat for 1.5 intervals: a
 * stopped, paused or cut-off server, seconds before cs_timeout_ms marks it
 * down) for one heard from, the recorded primary included; a silent member
 * is chosen only when no member was heard.  Without it a crashed primary is
 * granted again at every expiry until it is marked down, and each client
 * attempt at it goes unanswered (a retired gateway session, a fence).
 *
 * Invariant: a chunkserver process serves a chunk only under a lease
 * granted to that process.  A restarted process holds no lease state, so
 * it asks with epoch 0; if the master still counts a lease live for that
 * server (its predecessor's), the lease is granted anew with a version
 * bump, never renewed: the new version's set-version round fences what the
 * predecessor had in flight (forwarded writes still in the secondaries'
 * sockets are refused as stale) and reconciliation makes the replicas
 * equal before the new process serves.  The restart detector is the epoch
 * the requester sends: that of the last lease the process took on the
 * chunk, lapsed or not, so a running process's renewals never bump
 * (lease_for_acquire): every lease of this server taken since that
 * process started was taken by it.  A lease a client lookup granted
 * (CHUNK_F_UNTAKEN) is taken by the first process that asks, epoch or not:
 * no process has served under it.  A new leader knows of no such lease, so
 * after a failover an ask without an epoch is always a new lease.
 *
 * Per chunk (leader view):
 *
 *            grant (Raft: version+1, primary=P)         expiry passes
 *   NONE ---------------------------------------> LIVE(P) -----------> NONE
 *     ^                                            |  ^
 *     |                                            +--+ renew (no bump)
 *   (after failover: UNKNOWN until wait_until; only P may renew)
 */
#ifndef SHOAL_MASTER_LEASE_H
#define SHOAL_MASTER_LEASE_H

#include <stdbool.h>
#include <stdint.h>
#include "chunk_map.h"

struct lease_clock {
	uint64_t now;		/* ms */
	uint64_t wait_until;	/* ms: leader ready time + lease_ms */
	uint32_t lease_ms;
};

enum lease_verdict {
	LEASE_LIVE,		/* current primary is valid: answer with it (renewed if asked) */
	LEASE_GRANT,		/* bump version through Raft with *primary, then lease_start() */
	LEASE_BUSY,		/* try again shortly (SL_E_BUSY) */
	LEASE_REFUSE,		/* requester may not be primary (SL_E_NOT_PRIMARY) */
	LEASE_UNAVAIL,		/* no usable replica to make primary (SL_E_UNAVAIL) */
};

/* What the leader knows of a member, for choosing a primary. */
enum lease_cs_state {
	LEASE_CS_DOWN,		/* down or removed: never primary */
	LEASE_CS_SILENT,	/* up, but no heartbeat lately */
	LEASE_CS_HEARD,		/* up and heard from lately */
};

typedef enum lease_cs_state (*lease_up_fn)(uint32_t cs_id, void *arg);

bool lease_live(const struct lease_clock *lc, const struct chunk *c);
/* Who should be primary for a client lookup; *primary is set for LIVE and GRANT. */
enum lease_verdict lease_for_lookup(const struct lease_clock *lc, const struct chunk *c,
				    lease_up_fn up, void *arg, uint32_t *primary);
/* Server `who` asks for (or to renew) the lease. */
enum lease_verdict lease_for_request(const struct lease_clock *lc, const struct chunk *c,
				     uint32_t who, bool who_up);
/*
 * Server `who`, whose asking process took a lease of the chunk at epoch
 * held before (0: never), asks for the lease (M_LEASE): lease_for_request,
 * except that a live lease of its own taken by another process (a
 * restarted one's predecessor) is granted anew (LEASE_GRANT),
 * unless no process took it yet (CHUNK_F_UNTAKEN) or the chunk is
 * unwritten (never served: nothing can be in flight).
 */
enum lease_verdict lease_for_acquire(const struct lease_clock *lc, const struct chunk *c,
				     uint32_t who, bool who_up, uint64_t held);
/* Whether `who` holds the lease now (a copy in progress does not revoke a live lease). */
bool lease_held(const struct lease_clock *lc, const struct chunk *c, uint32_t who);
/* The lease of c->primary runs from now (after a grant applied, or a renewal). */
void lease_start(const struct lease_clock *lc, struct chunk *c);
/*
 * This master became the ready leader at now; window is the leader-lease
 * window (raft_glue.h): no grant to another primary before every lease a
 * deposed leader may have handed out ran out (the invariant above).
 */
void lease_clock_ready(struct lease_clock *lc, uint64_t now, uint32_t window_ms);
void lease_drop(struct chunk *c);

#endif
