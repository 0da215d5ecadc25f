/*
 * Gateway sessions: the leader's table, pure decisions on its clock
 * (doc/protocol.md "Gateway sessions"; the RPCs are in m_session.c).
 *
 * A gateway (each client of the volume library) sends writes only under a
 * session.  Its id is (epoch << 32 | counter), the epoch a random non-zero
 * number each leader draws when it becomes ready: unique across leaders
 * and restarts without a Raft entry (a lone master restarts in the same
 * Raft term, so the term would repeat ids).  The table is soft state: a
 * new leader starts empty, so every session of another epoch is dead to it.
 *
 * One session id at the leader:
 *
 *   (none) --OPEN--> LIVE, expiry = now + L --RENEW (now < expiry)--> LIVE, now + L
 *                      |
 *                      | expiry passes (sweep, RENEW, CHECK) / CLOSE
 *                      v
 *                    DEAD(died_at) --2 L later--> forgotten (unknown = dead)
 *
 * G1  DEAD is final: RENEW of a dead or unknown session is refused.
 * G2  Every statement "alive for r ms" the leader makes (GW_CHECK, heartbeat
 *     replies) has r <= expiry - now; its receiver counts r from before it
 *     sent the question.  So no chunkserver counts a session alive past its
 *     expiry at the leader, i.e. past died_at, plus nothing.
 * G3  A session is fenced -- no chunkserver will take a write of it again --
 *     once its death is known here and every statement made before it ran
 *     out: at died_at + L at the latest (r <= L).  gws_close() says when.
 *     A session of another epoch died, for us, when we took over; the
 *     previous leader may have spoken for it until we were ready, so it is
 *     fenced at ready + L (+ the caller's margin for the old leader, see
 *     master/raft_glue.h, leader lease).
 */
#ifndef SHOAL_MASTER_GW_SESSION_H
#define SHOAL_MASTER_GW_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#define GWS_NAME_MAX	63
#define GWS_MAX		65536	/* live and dead sessions kept at once */

struct gws {
	struct gws *next;		/* hash chain */
	uint64_t id;
	uint64_t expiry;		/* ms; 0 once dead */
	uint64_t died_at;		/* ms, when dead */
	uint64_t opened;		/* ms */
	char name[GWS_NAME_MAX + 1];
};

struct gws_table {
	uint32_t epoch;
	uint32_t counter;
	uint32_t lease_ms;
	uint64_t old_fenced_at;		/* sessions of earlier terms are fenced from then on */
	uint32_t nlive, ndead;
	struct gws **hash;		/* GWS_HASH buckets */
};

int gws_init(struct gws_table *t, uint32_t lease_ms);
void gws_free(struct gws_table *t);
/*
 * A new leader, drawing `epoch` (random, non-zero, not the last one):
 * forget everything; sessions of other epochs are fenced at old_fenced_at.
 */
void gws_reset(struct gws_table *t, uint32_t epoch, uint64_t old_fenced_at);
/* 0 and *id, or SL_E_BUSY (table full). */
int gws_open(struct gws_table *t, uint64_t now, const char *name, uint64_t *id);
/* 0, or SL_E_STALE_EPOCH: the session is dead (G1). */
int gws_renew(struct gws_table *t, uint64_t id, uint64_t now);
/* Milliseconds the session stays alive at most (0: dead or unknown), G2. */
uint32_t gws_remaining(struct gws_table *t, uint64_t id, uint64_t now);
/* Kills the session if alive; returns when it is fenced (G3), >= now. */
uint64_t gws_close(struct gws_table *t, uint64_t id, uint64_t now);
/* Marks expired sessions dead, forgets tombstones older than 2 L. */
void gws_sweep(struct gws_table *t, uint64_t now);

#endif
