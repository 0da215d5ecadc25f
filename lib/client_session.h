/*
 * The client's gateway session (doc/protocol.md "Gateway sessions";
 * the master's rules are master/gw_session.h, the chunkservers'
 * chunkserver/gw_session.h).  Internal to the client library.
 *
 * Writes are sent only under a live session; every session the client
 * stops using is fenced before anything that depends on it is answered:
 *
 *   NONE --a write needs one--> OPENING --GW_OPEN answered--> LIVE
 *   LIVE --GW_RENEW every L/3 answered: view = sent + L
 *   LIVE --retire (an attempt under it went unanswered; or the master or a
 *        chunkserver says it is dead while the view holds: a new leader)--> NONE,
 *        the session is RETIRED (fence_on_loss: a new one is opened at once)
 *   LIVE --view passed, or the loop stalled (C3)--> LOST: RETIRED, and with
 *        fence_on_loss the owner is told and the client BLOCKED
 *   NONE, OPENING --the last session's view passed and no new one was
 *        answered (C3, fence_on_loss)--> BLOCKED, the owner told
 *   BLOCKED --sl_client_resume()--> NONE
 *   RETIRED --GW_CLOSE answered, or the self-fence time passed--> FENCED
 *
 * C1  An attempt may land only while its session lives at the chunkserver
 *     that orders it (chunkserver/gw_session.h S1).  A session is FENCED
 *     when the master answered GW_CLOSE (master/gw_session.h G3), or when
 *     no master answered by last_sent + U + 2 L: its last renewal reached a
 *     master within U (SL_MASTER_USER_TIMEOUT_MS) of being sent or never,
 *     the master let it live at most L after that, and the master's own
 *     pause cannot stretch it more than another L without killing it.
 * C2  Sessions are numbered by the client (gen 1, 2, ...) and retired in
 *     that order; fenced_through is the largest gen such that every session
 *     up to it is FENCED.  An I/O whose attempts under sessions up to gen g
 *     may still land is answered only once fenced_through >= g.
 * C3  The view (last renewal sent + L) never outlasts the master's expiry;
 *     a gateway whose view passed -- it was paused or cut off -- must
 *     assume every chunkserver already refuses its session, and that any
 *     command it holds may have been given up by its initiator: with
 *     fence_on_loss it fails them and its owner drops the initiators'
 *     connections (bs_shoal.c) before taking new commands.  With
 *     fence_on_loss the session is kept LIVE from the client's start (so
 *     a pause is always seen), and a stall of the loop longer than L/2
 *     counts as a loss too, session or not: a command read after it may
 *     have waited that long in a socket.  Both are checked on every
 *     sl_session_blocked(), i.e. before the owner acts on a command.
 */
#ifndef SHOAL_CLIENT_SESSION_H
#define SHOAL_CLIENT_SESSION_H

#include <stdbool.h>
#include <stdint.h>
#include "evloop.h"
#include "list.h"

struct sl_client;

/* Something waiting for a live session, or for a fence (C2). */
struct sl_sess_wait {
	struct list_head link;
	uint32_t gen;			/* fence waits: fenced_through >= gen */
	void (*cb)(struct sl_sess_wait *w, int status);
};

enum sl_sess_state { SS_NONE, SS_OPENING, SS_LIVE, SS_BLOCKED };

struct sl_sess_retired;

struct sl_session {
	enum sl_sess_state state;
	uint64_t id;			/* LIVE */
	uint32_t gen;			/* LIVE: this session's number */
	uint32_t next_gen;
	uint32_t fenced_through;	/* C2 */
	uint32_t lease_ms;
	uint64_t last_sent;		/* LIVE: the last GW_OPEN/GW_RENEW sent */
	uint64_t view_until;		/* LIVE: C3 */
	uint64_t last_tick;		/* fence_on_loss: the loop last ran then (C3) */
	uint64_t reopen_at;		/* fence_on_loss: open again then (after a failure) */
	bool renewing;
	struct sl_timer timer;		/* renewals, fences by time */
	struct list_head waiters;	/* want LIVE */
	struct list_head fence_waiters;	/* want fenced_through >= gen */
	struct list_head retired;	/* struct sl_sess_retired, by gen */
	bool fence_on_loss;
	void (*on_lost)(void *arg);
	void *lost_arg;
	/* ends every I/O in flight (client_io.c sl_client_io_fail_all): set by the client */
	void (*fail_all)(struct sl_client *c, int status);
	char name[64];
};

/* fail_all: how a lost session ends the I/Os in flight (C3). */
void sl_session_init(struct sl_client *c, void (*fail_all)(struct sl_client *c, int status));
/* At client free: nothing waits any more (every I/O ended). */
void sl_session_fini(struct sl_client *c);
/*
 * The live session for a write: SL_OK with *id and *gen; 1: not live yet,
 * w->cb runs when it is (SL_OK) or cannot be (the error); or SL_E_STALE_EPOCH
 * while blocked (fence_on_loss, until sl_client_resume).
 */
int sl_session_get(struct sl_client *c, struct sl_sess_wait *w, uint64_t *id, uint32_t *gen);
/* An attempt under session gen went unanswered: stop using that session (C1). */
void sl_session_retire(struct sl_client *c, uint32_t gen);
/* A chunkserver refused session gen as dead. */
void sl_session_dead(struct sl_client *c, uint32_t gen);
/* Whether sessions up to gen are fenced; if not, w->cb runs when they are. */
bool sl_session_fenced(struct sl_client *c, uint32_t gen, struct sl_sess_wait *w);
/* Blocked (fence_on_loss), checking the view now (C3). */
bool sl_session_blocked(struct sl_client *c);
void sl_session_cancel(struct sl_sess_wait *w);

#endif
