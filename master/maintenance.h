/*
 * Maintenance of a chunkserver (doc/protocol.md "Maintenance"; shoal(7)
 * "Restarting a chunkserver").
 *
 * `shoal-admin chunkserver maintenance ID --for D` logs, through Raft, a
 * wall-clock time until which the server is in maintenance (the leader's
 * clock when proposed + D; `--off` logs 0).  Only an ACTIVE server may
 * enter it; a drain or a removal ends it.  The rule it changes is the
 * re-replication scheduler's:
 *
 * M1  While k servers in maintenance are *pending* (down, up but not yet
 *     heard -- their chunk report is not applied --, or silent for more
 *     than 1.5 heartbeat intervals), a chunk that has at least
 *     min_replicas good members and lacks at most k of its volume's
 *     replica count is not copied ("held").  Writes go on with the good
 *     members (a member on the stopped server leaves the set at the next
 *     grant or write, as for any down server).
 * M1b A stop is seen by its silence, long before cs_timeout_ms marks the
 *     server down; a write that fails on it meanwhile drops it at once,
 *     and a whole copy may have been started for that chunk before the
 *     silence was noticed.  Such a job that has not been ordered yet (it
 *     waits for the chunk's lease to run out, at least lease_ms, or for
 *     the target's next heartbeat) is called off once the chunk is held.
 * M2  A pending server comes back as any returning server does: its
 *     replicas outside the set, at a version S below the chunk's, are kept
 *     for a resync (repl_keep_stale: the chunk needs a copy again once the
 *     server is heard), and the resync copies only the 64 KiB tracks
 *     written at S or later.  Members that no grant dropped serve again.
 * M3  Maintenance ends at its time, at --off, or when the server drains
 *     or is removed; from then on M1 no longer holds anything back and
 *     a server still down is copied around as usual (whole copies).
 *
 * The time is wall-clock so that it means the same to the next leader;
 * a leader whose clock is off by s shifts the end by s.
 */
#ifndef SHOAL_MASTER_MAINTENANCE_H
#define SHOAL_MASTER_MAINTENANCE_H

#include <stdbool.h>
#include <stdint.h>

struct cs;
struct cs_registry;
struct volume;

#define MAINT_MAX_MS	(7ull * 24 * 3600 * 1000)	/* the longest --for */

/* Wall-clock ms (CLOCK_REALTIME). */
uint64_t maint_wall_ms(void);
/* Whether cs is in maintenance at wall-clock time now. */
bool maint_active(const struct cs *cs, uint64_t now);
/*
 * M1's k: servers in maintenance at wall-clock time wall that are down, not
 * yet heard, or silent (no heartbeat for silent_ms at monotonic time now).
 */
uint32_t maint_pending(const struct cs_registry *r, uint64_t wall, uint64_t now, uint64_t silent_ms);
/* M1: whether a chunk of v with good good members waits rather than being copied. */
bool maint_holds(const struct volume *v, int good, uint32_t pending);

#endif
