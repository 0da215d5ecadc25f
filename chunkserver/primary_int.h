/*
 * The primary's state shared by its files (internal to the chunkserver):
 * primary.c keeps the lease state machine, the ops' common path (pop_new,
 * pop_run, pop_reply) and the write path; primary_read.c, above it, the
 * read path with its repair from a secondary.  The invariants are stated
 * in primary.c's header.
 */
#ifndef SHOAL_CS_PRIMARY_INT_H
#define SHOAL_CS_PRIMARY_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "chunkserver.h"
#include "gw_session.h"
#include "op_record.h"

enum prim_state { P_NONE, P_ACQUIRING, P_SETTING, P_LIVE };

struct cs_prim {
	uint64_t chunk_id;
	enum prim_state state;
	uint64_t version, epoch, chunk_size, old_version;
	bool created;
	bool confirming;			/* the M_LEASE in flight records creation */
	uint64_t lease_until_ms, sent_ms, last_use_ms;
	unsigned int nrep;			/* secondaries, self excluded */
	uint64_t rep_id[CS_MAX_REPLICAS];
	char *rep_addr[CS_MAX_REPLICAS];
	uint64_t seq;
	int refs;				/* ops and master calls using it */
	int set_pending, set_rounds, set_status;
	uint64_t set_failed[CS_MAX_REPLICAS];
	unsigned int nset_failed;
	struct list_head waiters;		/* struct pop.wait */
	uint32_t peer_tmo;			/* the set-version round's wait on a peer (ms) */
	struct cs_prim *next;
	struct chunkserver *cs;
	struct cs_setver sv;
};

struct pop {
	struct chunkserver *cs;
	struct sl_conn *c;
	uint64_t req_id;
	bool is_read;
	uint64_t chunk_id, version;
	enum cs_wkind kind;
	uint64_t off;
	uint32_t len;
	bool fua;
	uint8_t *data;
	uint32_t data_len;
	struct cs_prim *p;
	struct cs_chunk *ch;
	struct cs_range rl;
	bool locked;
	struct cs_wop wop;
	struct cs_rop rop;
	int pending, status;
	uint64_t miscompare_off;
	uint64_t fwd_version;
	uint64_t failed[CS_MAX_REPLICAS];
	unsigned int nfailed, rep_try;
	uint32_t peer_tmo;		/* forward's wait on a secondary (ms), peer_tmo() */
	bool answer_when_live;		/* write done; waits for the survivors' new version */
	bool asked;			/* re-asked the master once for a newer version */
	struct list_head wait;
	void (*on_locked)(struct cs_range *r, void *arg);	/* the read's or the write's work, locked */
	/* gateway writes: the session (gw_session.h) and the operation's identity (op_record.h) */
	uint64_t session, op_client, op_id;
	struct cs_gws_wait gws_wait;
	struct cs_rec_wait rec_wait;
	bool rec_running;		/* CAW: this attempt runs the operation's record */
	bool compared;			/* CAW: compared (applied or MISCOMPARE): its answer is final */
	bool duplicate;			/* answered from the record of an earlier attempt */
	bool outcome_only;		/* CAW: a question about the record, never run (R3) */
};

/* A client op on ref's chunk; NULL with *err (an SL_E_*) to answer. */
struct pop *pop_new(struct chunkserver *cs, struct sl_conn *c, uint64_t req_id,
		    const Shoal__ChunkRef *ref, int *err);
/*
 * Runs (or resumes) an op: lease and version checks, then op->on_locked
 * under the op's range lock.  Every path that lets go of the lock comes
 * back here.
 */
void pop_run(struct pop *op);
/* Answers the op (data for a read) and frees it. */
void pop_reply(struct pop *op, int status, const void *data, size_t len);
/*
 * With the range lock held: whether the lease and version still hold; if
 * not, the lock is released and the op goes back through pop_run.
 */
bool pop_still_primary(struct pop *op);

#endif
