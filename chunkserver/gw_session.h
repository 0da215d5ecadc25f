/*
 * Gateway sessions as this chunkserver knows them (doc/protocol.md
 * "Gateway sessions"; the leader's side is master/gw_session.h).  A
 * client write (not forwarded) is taken only under a session alive here.
 *
 * One session id here:
 *
 *   UNKNOWN --a write needs it--> CHECKING: GW_CHECK to the master, sent at t
 *   CHECKING --remaining r > 0--> ALIVE until t + r
 *            --r = 0----------> DEAD (final)
 *            --no answer------> UNKNOWN (the writes that waited: UNAVAIL)
 *   ALIVE --heartbeat reply, r > 0--> ALIVE until max(until, hb_sent + r)
 *         --heartbeat reply, r = 0--> DEAD
 *         --until passes-----------> UNKNOWN (the next write checks again)
 *
 * S1  A write of session s is ordered (primary.c) only while s is ALIVE
 *     here, and `until` is always counted from when this server asked, so
 *     it never runs past the master's own expiry (master/gw_session.h G2):
 *     once the master fenced s, no write of s starts here.
 * S2  DEAD is final: a late "alive" answer cannot bring a session back.
 * Heartbeats ask about every session used here in the last 2 minutes (so
 * busy sessions never expire between checks); older entries are forgotten.
 */
#ifndef SHOAL_CS_GW_SESSION_H
#define SHOAL_CS_GW_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "list.h"

struct chunkserver;

/* A write waiting for a session's check; cb(w, SL_OK | SL_E_STALE_EPOCH | SL_E_UNAVAIL). */
struct cs_gws_wait {
	struct list_head link;
	void (*cb)(struct cs_gws_wait *w, int status);
};

struct cs_gws_table;

struct cs_gws_table *cs_gws_new(void);
/* Answers every waiter UNAVAIL and frees. */
void cs_gws_free(struct cs_gws_table *t);
/*
 * SL_OK: alive now (S1); SL_E_STALE_EPOCH: dead; SL_E_UNAVAIL: no master
 * to ask; 1: a check is under way and w->cb will run.
 */
int cs_gws_check(struct chunkserver *cs, uint64_t id, struct cs_gws_wait *w);
/* Withdraws a waiting w (its op ended otherwise). */
void cs_gws_cancel(struct cs_gws_wait *w);
/* Sessions to ask about in a heartbeat (ids, at most max). */
size_t cs_gws_heartbeat_list(struct chunkserver *cs, uint64_t *ids, size_t max);
/* A heartbeat sent at sent_ms was answered with these states. */
void cs_gws_heartbeat_reply(struct chunkserver *cs, uint64_t sent_ms, const uint64_t *ids,
			    const uint32_t *remaining, size_t n);

#endif
