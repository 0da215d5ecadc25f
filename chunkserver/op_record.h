/*
 * Outcomes of COMPARE AND WRITE operations by the writer's identity
 * (op_client, op_id), the same in every attempt of one operation
 * (doc/protocol.md "Exactly-once answers").  Plain writes need no record:
 * applying one twice leaves the same bytes, and an attempt that could land
 * late is fenced by its session before the writer answers (gw_session.h).
 *
 * One operation here:
 *
 *   (none) --primary orders it--> RUNNING     (attempts arriving meanwhile wait on it)
 *   RUNNING --compared (applied or MISCOMPARE), final answer known--> DONE(answer)
 *   RUNNING --refused before the compare--> (none), waiters get the refusal
 *   (none) --the forwarded write half applied on a secondary--> DONE(OK)
 *   (none) --a question (CsWriteReq.outcome_only)--> (none), answered NOENT
 *   DONE --REC_KEEP_MS later--> forgotten
 *
 * R1  An attempt of an operation that is RUNNING or DONE here is answered
 *     with that outcome; it is never compared again.  So a COMPARE AND
 *     WRITE never miscompares against its own write, on the primary that
 *     ran it or on a secondary that became primary after applying it.
 * R2  Records live REC_KEEP_MS, more than any writer's command deadline
 *     (bs_shoal caps deadline_ms at 60 s) plus its session's fence: no
 *     attempt of an operation arrives after its record is gone.
 * R3  A question (CsWriteReq.outcome_only, the writer's lib/client_io.c R3)
 *     is answered like an attempt where a record exists, and NOENT where
 *     none does; it never runs the operation, so it can never land late.
 */
#ifndef SHOAL_CS_OP_RECORD_H
#define SHOAL_CS_OP_RECORD_H

#include <stdbool.h>
#include <stdint.h>
#include "list.h"

#define REC_KEEP_MS	180000

struct cs_op_records;

struct cs_rec_wait {
	struct list_head link;
	void (*cb)(struct cs_rec_wait *w, int status, uint64_t miscompare_off);
};

enum cs_rec_begin {
	REC_RUN,		/* new: the caller runs it and ends it with cs_rec_end */
	REC_WAIT,		/* running: w->cb will get its outcome */
	REC_DONE,		/* done: *status and *miscompare_off hold the outcome */
};

struct cs_op_records *cs_rec_new(void);
/* Wakes every waiter with SL_E_UNAVAIL and frees. */
void cs_rec_free(struct cs_op_records *r);
enum cs_rec_begin cs_rec_begin(struct cs_op_records *r, uint64_t client, uint64_t id,
			       struct cs_rec_wait *w, int *status, uint64_t *miscompare_off);
/* The RUNNING operation ended: compared = whether its answer is final (else forgotten). */
void cs_rec_end(struct cs_op_records *r, uint64_t client, uint64_t id, bool compared, int status,
		uint64_t miscompare_off);
/* A secondary applied the write half of this operation. */
void cs_rec_applied(struct cs_op_records *r, uint64_t client, uint64_t id);
void cs_rec_cancel(struct cs_rec_wait *w);

#endif
