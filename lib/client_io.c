/*
 * One I/O on a volume: split into pieces at chunk (and frame) boundaries,
 * each piece sent to its chunk's primary, retried inside the I/O's deadline.
 *
 * Piece state machine (all on the I/O thread):
 *
 *   START ──map entry valid──────────────────────────> SEND ──OK──> DONE
 *     |  \──lookup in flight for the chunk──> WAIT       |
 *     |                                        |         | STALE_VERSION, NOT_PRIMARY,
 *     └──no lookup yet: start one────────────> WAIT      | NOENT, BUSY, UNAVAIL, TIMEDOUT,
 *                                              |         | transport error: invalidate the
 *      lookup answered: chunk known ─> SEND    |         | entry, then BACKOFF ─> START
 *                       chunk_id 0 ─> ZERO ─> DONE (read: zeros; unmap: nothing to do)
 *                       failed ─> BACKOFF ─> START, or DONE(error)
 *
 * The op ends (io->done) once: when every piece is done, at the first
 * piece's final error, or when its deadline timer fires.  Pieces still out
 * after that see op->finished and only free themselves; the op's memory
 * lives until its last piece is gone, so late replies never touch the
 * caller's buffer (which may be freed right after done()).
 *
 * Invariant: a piece is in exactly one place -- a waiters list, an RPC
 * in flight, an armed backoff timer, a wait for a live session, or being
 * run by the current callback.
 *
 * Writes (doc/protocol.md "Gateway sessions", client_session.h): every
 * attempt carries the client's live session and the piece's operation
 * identity (op_client, op_id: the same in every attempt, so a COMPARE AND
 * WRITE retried gets its first outcome, chunkserver/op_record.h R1).
 *
 * F1  An attempt that ends without an answer (timeout, connection lost)
 *     may still land: its session is retired at once, and the op's risk
 *     (op->risk_gen) covers it.  So does an attempt still out when the op
 *     ends.  The op is answered -- OK or error -- only when every session
 *     up to its risk is fenced (client_session.h C2): nothing it sent can
 *     land after its answer, so never after a later write that was
 *     acknowledged (DESIGN.md invariant 5).
 *
 * Q1  A chunkserver that left an attempt unanswered is silent (its link's
 *     silent_since) until it answers anything again.  Every unanswered
 *     write attempt costs a retired session and its fence, so a map entry
 *     naming a silent primary that was looked up before the silence is
 *     looked up again before use: the master may have granted the chunk to
 *     another member (master/lease.h passes over a silent server).
 * Q2  A lookup that still names the silent primary under the same lease
 *     (the version the unanswered attempt, or the entry Q1 dropped, had;
 *     a new grant bumps it, and the master grants a silent server nothing
 *     while another member is heard) with time left on it: the piece waits
 *     that lease out once (lease_left_ms) and asks again rather than send
 *     it another attempt; after that it sends, so a server the master still
 *     hears from (only this client's flow to it is lost) gets one attempt a
 *     lease, not one per RPC timeout.
 * Q3  An attempt that timed out on a connection that received nothing after
 *     the millisecond it was sent in: the connection swallows what is sent
 *     on it (a black-holed flow, a half-open connection).  It is dropped
 *     and made again, as a new flow, rather than fed one attempt after
 *     another.
 *
 * R3  A COMPARE AND WRITE whose answer would be an error only because an
 *     attempt went unanswered is resolved once its fence is done: the
 *     primary is asked for the operation's outcome (CsWriteReq.outcome_only,
 *     the same identity), within 2 * rpc_timeout_ms and never past the
 *     answer bound D + U + 2L.  The fence makes the outcome final: the lost
 *     attempt ran, or can never run.  A question writes nothing, so one left
 *     unanswered needs no fence of its own (the answer is then R5's, at
 *     once; a question that wrote could land late, and waiting for its
 *     fence would pass the bound).  Answers: the recorded outcome (the
 *     primary or a secondary that took its write half recorded it, R1); or
 *     no record (NOENT), and the range is read back: holding the write half,
 *     GOOD; some sector of it, R5; the compare half, it did not take effect
 *     (the held answer, NOT READY: the initiator runs it again as a new
 *     command); anything else, MISCOMPARE, as the comparison made now would
 *     be.  A recorded MISCOMPARE is read back as R4 says: the attempt that
 *     recorded it may have compared against an earlier one of the same
 *     operation that landed, whole or torn, while its record was lost
 *     (nemesis seed 3277).  Not after a loss (C3: the initiator gave the
 *     command up), and only once.
 *
 * R5  A COMPARE AND WRITE with an attempt that went unanswered, not
 *     resolved by R3 (no primary answered within its budget), is answered
 *     SL_E_INDOUBT: it may have taken effect.  The gateway reports it as
 *     HARDWARE ERROR, INTERNAL TARGET FAILURE (04/44/00), a target failure
 *     that multipath passes up to the application instead of retrying on
 *     another path (Linux: BLK_STS_TARGET is not a path error), where a
 *     new command the gateways cannot link to this one would compare
 *     against its own write and answer MISCOMPARE.  Every other error a
 *     COMPARE AND WRITE is answered (NOT READY and the rest) means it did
 *     not take effect.
 *
 * R4  A COMPARE AND WRITE that miscompares after an earlier attempt of it
 *     went unanswered reads the range back from the primary: holding
 *     exactly its write half, it is answered GOOD; holding some sector of
 *     it (one that differs from the compare half: the attempt was torn by
 *     a crash), or unreadable, SL_E_INDOUBT (R5); else MISCOMPARE.  R1's records live in
 *     the memory of the servers that ran the operation; a primary that
 *     restarted (or a new one that took the bytes by reconciliation) has
 *     the write without the record, and compares the retry against it.
 *     Only the operation's own retries are checked, and ESXi's ATS, whose
 *     write half names the host, reads back the same way after a retried
 *     miscompare.
 */
#include <stdlib.h>
#include <string.h>
#include "client_int.h"
#include "frame.h"
#include "log.h"
#include "msg_types.h"
#include "status.h"

#define OP_WINDOW		32	/* pieces in flight per op */
#define BACKOFF_MIN_MS		10
#define BACKOFF_MAX_MS		500
#define IO_ERR_RETRIES		3
#define SILENT_LEASE_MARGIN_MS	50	/* Q2: after the lease ran out at the master */
#define R3_MIN_MS		100	/* less time left than this: no question after the fence */

struct op {
	struct list_head node;		/* on c->ops */
	struct list_head piece_list;	/* alive pieces */
	struct sl_volume *v;
	struct sl_io *io;		/* NULL once finished */
	uint64_t deadline;
	struct sl_timer timer;
	unsigned int unit_shift;
	uint64_t next_pos, end;
	unsigned int pieces;		/* alive */
	int last_err;			/* last retryable failure, for the deadline answer */
	bool finished;
	bool pumping;
	bool zero_block;		/* WRITE_SAME of zeros: like UNMAP on unwritten chunks */
	unsigned int flushes;		/* FLUSH: answers outstanding */
	uint32_t risk_gen;		/* F1: sessions up to this one may still land an attempt */
	bool fence_waiting;		/* finished, its answer waits for the fence (F1) */
	int held_status;		/* the answer that waits */
	uint64_t caw_op_id;		/* CAW (never split): its identity, kept for R3 */
	bool resolved;			/* R3 done, or not to be done */
	bool question;			/* R3 under way: attempts are questions (outcome_only) */
	bool not_run;			/* R3 found it did not take effect: no R5 */
	struct sl_sess_wait fence_w;
};

struct piece {
	struct list_head node;
	struct list_head op_node;	/* on op->pieces */
	struct op *op;
	uint64_t pos, len;		/* volume bytes */
	uint64_t index;			/* chunk */
	uint64_t version;		/* map version the request was sent with */
	uint32_t backoff_ms;
	int io_errors;
	struct sl_timer timer;
	uint64_t op_id;			/* writes: the same in every attempt */
	uint32_t attempt_gen;		/* session of the attempt out, 0: none (F1) */
	uint64_t sent_ms;		/* the attempt out was sent then (Q3) */
	struct sl_sess_wait sw;		/* waiting for a live session */
	struct sl_cs_link *link;	/* the attempt out went there (Q1) */
	bool lease_waited;		/* Q2: waited out a silent primary's lease once */
	bool own_checked;		/* R4: read back once */
};

struct lookup_ctx {
	struct sl_volume *v;
	uint64_t index;
	uint64_t sent;
	bool for_write;
};

static void op_pump(struct op *op);
static void piece_start(struct piece *p);

static bool op_needs_alloc(const struct op *op)
{
	switch (op->io->op) {
	case SL_IO_WRITE:
	case SL_IO_CAW:
		return true;
	case SL_IO_WRITE_SAME:
		return !op->zero_block;
	default:
		return false;
	}
}

static bool all_zero(const uint8_t *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

void *sl_client_op_new(struct sl_volume *v, struct sl_io *io)
{
	struct op *op = calloc(1, sizeof(*op));
	uint32_t dl = io->deadline_ms ? io->deadline_ms : v->c->deadline_ms;

	if (!op)
		return NULL;
	INIT_LIST_HEAD(&op->node);
	INIT_LIST_HEAD(&op->piece_list);
	INIT_LIST_HEAD(&op->fence_w.link);
	op->v = v;
	op->io = io;
	op->deadline = sl_now_ms() + dl;
	op->unit_shift = sl_split_unit_shift(io->op, v->info.chunk_shift);
	op->next_pos = io->offset;
	op->end = io->offset + io->length;
	op->last_err = SL_E_TIMEDOUT;
	if (io->op == SL_IO_WRITE_SAME)
		op->zero_block = all_zero(io->buf, io->blk_len);
	return op;
}

static void op_maybe_free(struct op *op)
{
	struct sl_volume *v = op->v;

	if (!op->finished || op->pieces || op->pumping || op->flushes || op->fence_waiting)
		return;
	sl_timer_cancel(v->c->loop, &op->timer);
	list_del_init(&op->node);
	free(op);
	sl_volume_op_put(v);
}

static void op_answer(struct op *op, int status);

/* R3: run the CAW once more now that nothing it sent can land later. */
static bool op_resolve(struct op *op)
{
	struct sl_client *c = op->v->c;
	/* never past the answer bound D + U + 2L (doc/protocol.md, timing contract) */
	uint64_t now = sl_now_ms(), bound = op->deadline + SL_MASTER_USER_TIMEOUT_MS + 2ull * c->sess.lease_ms;
	uint64_t budget = 2ull * c->rpc_timeout_ms;

	if (op->resolved || op->io->op != SL_IO_CAW || op->pieces ||
	    op->held_status == SL_OK || op->held_status == SL_E_MISCOMPARE)
		return false;
	op->resolved = true;
	if (bound < now + R3_MIN_MS)
		return false;
	if (budget > bound - now)
		budget = bound - now;
	op->finished = false;
	op->question = true;
	op->last_err = op->held_status;
	op->next_pos = op->io->offset;
	op->deadline = now + budget;
	sl_timer_arm(c->loop, &op->timer, (uint32_t)budget);
	sl_info("client: %s: COMPARE AND WRITE at %llu: an attempt went unanswered; asking the primary for its outcome after its fence",
		op->v->info.name, (unsigned long long)op->io->offset);
	op_pump(op);
	return true;
}

static void op_fenced(struct sl_sess_wait *w, int status)
{
	struct op *op = container_of(w, struct op, fence_w);

	op->fence_waiting = false;
	if (!op_resolve(op))
		op_answer(op, op->held_status);
	op_maybe_free(op);
}

static void op_finish(struct op *op, int status)
{
	struct sl_client *c = op->v->c;
	struct piece *p;

	if (op->finished)
		return;
	op->finished = true;
	sl_timer_cancel(c->loop, &op->timer);
	/* F1: attempts still out may land; their sessions go, and the answer waits for the fence */
	list_for_each_entry(p, &op->piece_list, op_node) {
		if (!p->attempt_gen)
			continue;
		if (p->attempt_gen > op->risk_gen)
			op->risk_gen = p->attempt_gen;
		sl_session_retire(c, p->attempt_gen);
	}
	if (op->risk_gen) {
		op->held_status = status;
		op->fence_w.cb = op_fenced;
		if (!sl_session_fenced(c, op->risk_gen, &op->fence_w)) {
			op->fence_waiting = true;
			return;
		}
		if (op_resolve(op))
			return;
	}
	op_answer(op, status);
}

static void op_answer(struct op *op, int status)
{
	struct sl_io *io = op->io;

	/* R5: an attempt went unanswered and R3 learnt nothing: unknown */
	if (io->op == SL_IO_CAW && op->risk_gen && !op->not_run && status != SL_OK &&
	    status != SL_E_MISCOMPARE)
		status = SL_E_INDOUBT;
	op->io = NULL;
	io->status = status;
	if (status != SL_OK && status != SL_E_MISCOMPARE)
		sl_debug("client: %s io op %d at %llu+%llu failed: %s", op->v->info.name, io->op,
			 (unsigned long long)io->offset, (unsigned long long)io->length,
			 sl_status_str(status));
	io->done(io);
}

static void op_deadline_cb(struct sl_timer *t, void *arg)
{
	struct op *op = arg;

	op_finish(op, op->last_err == SL_E_UNAVAIL ? SL_E_UNAVAIL : SL_E_TIMEDOUT);
	op_maybe_free(op);
}

static void piece_free(struct piece *p)
{
	struct op *op = p->op;

	sl_timer_cancel(op->v->c->loop, &p->timer);
	list_del_init(&p->op_node);
	free(p);
	op->pieces--;
}

static void piece_done(struct piece *p, int status)
{
	struct op *op = p->op;

	piece_free(p);
	if (status != SL_OK)
		op_finish(op, status);
	else
		op_pump(op);
	op_maybe_free(op);
}

static void piece_timer_cb(struct sl_timer *t, void *arg)
{
	struct piece *p = arg;

	piece_start(p);
}

/* A retryable failure: wait, then look the chunk up again. */
static void piece_retry(struct piece *p, int status)
{
	struct op *op = p->op;
	uint64_t now = sl_now_ms();
	uint32_t wait = p->backoff_ms;

	op->last_err = status;
	if (op->finished) {
		piece_free(p);
		op_maybe_free(op);
		return;
	}
	if (now + wait >= op->deadline) {
		/* No time left for another try: the deadline timer answers. */
		piece_free(p);
		op_maybe_free(op);
		return;
	}
	p->backoff_ms = p->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : p->backoff_ms * 2;
	sl_timer_arm(op->v->c->loop, &p->timer, wait);
}

static void ent_invalidate(struct sl_chunk_ent *e, uint64_t version)
{
	if (e->valid && e->version == version)
		e->valid = false;
}

/* The chunk was never written: nothing to fetch or to clear. */
static void piece_zero(struct piece *p)
{
	struct op *op = p->op;
	struct sl_io *io = op->io;

	if (io->op == SL_IO_READ)
		memset((uint8_t *)io->buf + (p->pos - io->offset), 0, p->len);
	piece_done(p, SL_OK);
}

static bool retryable(int st)
{
	switch (st) {
	case SL_E_STALE_VERSION:
	case SL_E_STALE_EPOCH:
	case SL_E_NOT_PRIMARY:
	case SL_E_NOT_LEADER:
	case SL_E_NOENT:
	case SL_E_BUSY:
	case SL_E_UNAVAIL:
	case SL_E_TIMEDOUT:
		return true;
	default:
		return false;
	}
}

/*
 * R4: whether NOW (the range read back) holds a 512-byte sector of the
 * write half that differs from the compare half: the operation's own
 * attempt landed there, though not everywhere (a primary that crashed
 * while writing it tore it, and made its torn copy the set's).
 */
static bool own_sector(const uint8_t *now, const void *buf, uint64_t len)
{
	const uint8_t *cmp = buf, *wr = (const uint8_t *)buf + len;

	for (uint64_t o = 0; o + 512 <= len; o += 512)
		if (!memcmp(now + o, wr + o, 512) && memcmp(wr + o, cmp + o, 512))
			return true;
	return false;
}

/* R4: the range read back after a retried COMPARE AND WRITE miscompared. */
static void own_check_reply(struct sl_conn *c, int status, const struct sl_msg *reply, void *arg)
{
	struct piece *p = arg;
	struct op *op = p->op;
	struct sl_io *io = op->io;

	(void)c;
	if (op->finished) {
		piece_free(p);
		op_maybe_free(op);
		return;
	}
	if (status != SL_OK || reply->hdr.status != SL_OK || reply->data_len != p->len) {
		if (op->question) {
			/* R3: ask again (this server may not be the primary now), within its budget */
			p->own_checked = false;
			ent_invalidate(&op->v->map[p->index], p->version);
			piece_retry(p, SL_E_UNAVAIL);
			return;
		}
		piece_done(p, SL_E_INDOUBT);	/* R4: could not look */
		return;
	}
	if (!memcmp(reply->data, (const uint8_t *)io->buf + p->len, p->len)) {
		sl_info("client: %s: COMPARE AND WRITE at %llu: the range holds its own write (an earlier "
			"attempt landed): GOOD", op->v->info.name, (unsigned long long)io->offset);
		io->miscompare_offset = 0;
		piece_done(p, SL_OK);
		return;
	}
	if (own_sector(reply->data, io->buf, p->len)) {
		sl_warn("client: %s: COMPARE AND WRITE at %llu: the range holds part of its own write "
			"(a crash tore it): outcome unknown", op->v->info.name,
			(unsigned long long)io->offset);
		piece_done(p, SL_E_INDOUBT);
		return;
	}
	if (op->question && !memcmp(reply->data, io->buf, p->len)) {
		sl_info("client: %s: COMPARE AND WRITE at %llu: the range holds its compare half and none "
			"of its write: it did not take effect", op->v->info.name, (unsigned long long)io->offset);
		op->not_run = true;
		piece_done(p, op->held_status);
		return;
	}
	if (op->question) {
		/* where the comparison made now would find the first difference */
		const uint8_t *now = reply->data, *cmp = io->buf;
		uint64_t o = 0;
		while (o < p->len && now[o] == cmp[o])
			o++;
		io->miscompare_offset = o;
	}
	piece_done(p, SL_E_MISCOMPARE);
}

static int own_check(struct piece *p, struct sl_conn *c)
{
	struct sl_volume *v = p->op->v;
	struct sl_chunk_ent *e = &v->map[p->index];
	Shoal__CsReadReq rq = SHOAL__CS_READ_REQ__INIT;
	Shoal__ChunkRef ref = SHOAL__CHUNK_REF__INIT;

	p->own_checked = true;
	ref.chunk_id = e->chunk_id;
	ref.version = e->version;
	ref.epoch = e->epoch;
	rq.ref = &ref;
	rq.offset = p->pos - (p->index << v->info.chunk_shift);
	rq.length = (uint32_t)p->len;
	return sl_rpc_call(c, SL_MSG_CS_READ, &rq.base, NULL, 0, v->c->rpc_timeout_ms, own_check_reply, p);
}

/* Q1, Q3: whether the link answered an attempt sent at sent_ms; logs the change. */
static void link_heard(struct sl_client *c, struct sl_cs_link *l, int status, uint64_t sent_ms)
{
	if (!l)
		return;
	if (status == SL_E_TIMEDOUT && sl_conn_last_rx(l->conn) <= sent_ms)
		sl_loop_defer(c->loop, &l->reset);	/* not from inside the connection's callback */
	if (status == SL_OK) {
		if (l->silent_since)
			sl_info("client: chunkserver %s answers again", l->addr);
		l->silent_since = 0;
	} else if (!l->silent_since) {
		l->silent_since = sl_now_ms();
		sl_info("client: chunkserver %s left an attempt unanswered (%s): its chunks are looked up before use",
			l->addr, sl_status_str(status));
	}
}

static void piece_reply(struct sl_conn *c, int status, const struct sl_msg *reply, void *arg)
{
	struct piece *p = arg;
	struct op *op = p->op;
	struct sl_volume *v = op->v;
	struct sl_chunk_ent *e = &v->map[p->index];
	struct sl_io *io = op->io;
	uint32_t gen = p->attempt_gen;
	int st;

	p->attempt_gen = 0;
	link_heard(v->c, p->link, status, p->sent_ms);
	if (status != SL_OK && e->primary == p->link)
		e->suspect_version = p->version;	/* Q2 */
	if (status != SL_OK && gen) {
		/* F1: no answer, so it may land yet: the session goes, the op's answer waits for its fence */
		if (gen > op->risk_gen)
			op->risk_gen = gen;
		sl_session_retire(v->c, gen);
	}
	if (op->finished) {
		piece_free(p);
		op_maybe_free(op);
		return;
	}
	if (status != SL_OK) {
		ent_invalidate(e, p->version);
		piece_retry(p, status);
		return;
	}
	st = (int)reply->hdr.status;
	if (st == SL_E_STALE_EPOCH && gen)
		sl_session_dead(v->c, gen);	/* refused: it did not land; the next attempt needs a new session */
	if (st == SL_OK) {
		if (io->op == SL_IO_READ) {
			if (reply->data_len != p->len) {
				sl_warn("client: %s: read of %llu bytes got %zu from %s", v->info.name,
					(unsigned long long)p->len, reply->data_len, sl_conn_peer(c));
				piece_done(p, SL_E_PROTO);
				return;
			}
			memcpy((uint8_t *)io->buf + (p->pos - io->offset), reply->data, p->len);
		}
		piece_done(p, SL_OK);
		return;
	}
	if (st == SL_E_MISCOMPARE && io->op == SL_IO_CAW) {
		Shoal__CsWriteRep *rep = (Shoal__CsWriteRep *)protobuf_c_message_unpack(
			&shoal__cs_write_rep__descriptor, NULL, reply->msg_len, reply->msg);
		uint64_t coff = p->pos - (p->index << v->info.chunk_shift);

		/* The primary names the differing byte by its chunk offset; the caller wants it in the data. */
		io->miscompare_offset = 0;
		if (rep && rep->miscompare_offset >= coff && rep->miscompare_offset - coff < p->len)
			io->miscompare_offset = rep->miscompare_offset - coff;
		if (rep)
			protobuf_c_message_free_unpacked(&rep->base, NULL);
		/*
		 * R4, also for R3's recorded answer: the attempt that recorded it
		 * may have compared against an earlier one of the same operation
		 * that landed while its record was lost (a restarted primary).
		 */
		if (op->risk_gen && !p->own_checked && own_check(p, c) == 0)
			return;
		piece_done(p, SL_E_MISCOMPARE);
		return;
	}
	if (st == SL_E_NOENT && op->question) {
		/* R3: no outcome recorded there: look at the range */
		if (!p->own_checked && own_check(p, c) == 0)
			return;
		piece_done(p, SL_E_INDOUBT);
		return;
	}
	if (retryable(st) || (st == SL_E_IO && ++p->io_errors < IO_ERR_RETRIES)) {
		sl_debug("client: %s chunk %llu v%llu at %s: %s, refreshing", v->info.name,
			 (unsigned long long)e->chunk_id, (unsigned long long)p->version,
			 sl_conn_peer(c), sl_status_str(st));
		ent_invalidate(e, p->version);
		piece_retry(p, st);
		return;
	}
	piece_done(p, st);
}

static void piece_send(struct piece *p)
{
	struct op *op = p->op;
	struct sl_volume *v = op->v;
	struct sl_chunk_ent *e = &v->map[p->index];
	struct sl_io *io = op->io;
	Shoal__ChunkRef ref = SHOAL__CHUNK_REF__INIT;
	uint64_t now = sl_now_ms();
	uint64_t coff = p->pos - (p->index << v->info.chunk_shift);
	uint64_t session = 0;
	uint32_t tmo, gen = 0;
	int rc;

	if (now >= op->deadline) {
		piece_retry(p, op->last_err);
		return;
	}
	tmo = op->deadline - now < v->c->rpc_timeout_ms ? (uint32_t)(op->deadline - now) : v->c->rpc_timeout_ms;
	if (io->op != SL_IO_READ) {
		rc = sl_session_get(v->c, &p->sw, &session, &gen);
		if (rc == 1)
			return;		/* piece_session_cb sends it */
		if (rc) {
			piece_retry(p, rc);
			return;
		}
	}
	ref.chunk_id = e->chunk_id;
	ref.version = e->version;
	ref.epoch = e->epoch;
	p->version = e->version;
	p->link = e->primary;
	p->sent_ms = now;
	if (io->op == SL_IO_READ) {
		Shoal__CsReadReq rq = SHOAL__CS_READ_REQ__INIT;

		rq.ref = &ref;
		rq.offset = coff;
		rq.length = (uint32_t)p->len;
		rc = sl_rpc_call(e->primary->conn, SL_MSG_CS_READ, &rq.base, NULL, 0, tmo, piece_reply, p);
	} else {
		Shoal__CsWriteReq rq = SHOAL__CS_WRITE_REQ__INIT;
		const void *data = NULL;
		size_t dlen = 0;

		rq.ref = &ref;
		rq.offset = coff;
		rq.length = (uint32_t)p->len;
		rq.fua = io->fua;
		rq.session = session;
		rq.op_client = sl_master_client_id(v->c->mc);
		rq.op_id = p->op_id;
		rq.answer_within_ms = tmo;
		rq.outcome_only = op->question;
		switch (io->op) {
		case SL_IO_WRITE:
			rq.kind = SHOAL__WRITE_KIND__WRITE;
			data = (const uint8_t *)io->buf + (p->pos - io->offset);
			dlen = p->len;
			break;
		case SL_IO_WRITE_SAME:
			rq.kind = SHOAL__WRITE_KIND__WRITE_SAME;
			data = io->buf;
			dlen = io->blk_len;
			break;
		case SL_IO_UNMAP:
			rq.kind = SHOAL__WRITE_KIND__UNMAP;
			break;
		case SL_IO_CAW:
			/* Never split (sl_volume_submit), so buf is exactly compare || write. */
			rq.kind = SHOAL__WRITE_KIND__COMPARE_AND_WRITE;
			data = io->buf;
			dlen = 2 * p->len;
			break;
		default:
			piece_done(p, SL_E_INTERNAL);
			return;
		}
		rc = sl_rpc_call(e->primary->conn, SL_MSG_CS_WRITE, &rq.base, data, dlen, tmo, piece_reply, p);
		if (rc == 0 && !op->question)
			p->attempt_gen = gen;	/* F1; R3's question writes nothing: never at risk */
	}
	if (rc != 0) {
		ent_invalidate(e, p->version);
		piece_retry(p, rc);
	}
}

static void lookup_cb(int status, const ProtobufCMessage *reply, void *arg)
{
	struct lookup_ctx *lc = arg;
	struct sl_volume *v = lc->v;
	struct sl_chunk_ent *e = &v->map[lc->index];
	const Shoal__LookupRep *rep = (const Shoal__LookupRep *)reply;
	const Shoal__ChunkLoc *loc = NULL;
	struct piece *p, *tmp;
	bool zero = false;
	SL_LIST_HEAD(waiters);
	size_t i;

	e->lookup = false;
	list_splice_tail_init(&e->waiters, &waiters);
	if (status == SL_OK && rep) {
		for (i = 0; i < rep->n_chunks; i++)
			if (rep->chunks[i] && rep->chunks[i]->index == lc->index)
				loc = rep->chunks[i];
		if (!loc) {
			status = SL_E_PROTO;
		} else if (!loc->chunk_id) {
			zero = true;
		} else if (loc->primary && loc->primary->addr && *loc->primary->addr) {
			struct sl_cs_link *l = sl_client_link(v->c, loc->primary->addr);

			if (l) {
				e->chunk_id = loc->chunk_id;
				e->version = loc->version;
				e->epoch = loc->epoch;
				e->primary = l;
				e->confirmed = lc->sent;
				e->lease_until = loc->lease_left_ms ? lc->sent + loc->lease_left_ms : 0;
				e->valid = true;
			} else {
				status = SL_E_UNAVAIL;
			}
		} else {
			status = SL_E_BUSY;	/* no live primary yet */
		}
	}
	list_for_each_entry_safe(p, tmp, &waiters, node) {
		struct op *op = p->op;

		list_del_init(&p->node);
		if (op->finished) {
			piece_free(p);
			op_maybe_free(op);
		} else if (status == SL_OK && !zero) {
			piece_start(p);
		} else if (zero && !op_needs_alloc(op)) {
			piece_zero(p);
		} else if (zero && !lc->for_write) {
			piece_start(p);		/* ask again, allocating */
		} else if (zero) {
			piece_retry(p, SL_E_BUSY);	/* allocating lookup said unallocated */
		} else if (retryable(status)) {
			piece_retry(p, status);
		} else {
			piece_done(p, status);
		}
	}
	free(lc);
}

static void lookup_start(struct sl_volume *v, struct piece *p, bool for_write)
{
	struct sl_chunk_ent *e = &v->map[p->index];
	Shoal__LookupReq rq = SHOAL__LOOKUP_REQ__INIT;
	Shoal__DedupId dd;
	struct lookup_ctx *lc;
	uint64_t now = sl_now_ms();
	int rc;

	lc = calloc(1, sizeof(*lc));
	if (!lc) {
		piece_retry(p, SL_E_INTERNAL);
		return;
	}
	lc->v = v;
	lc->index = p->index;
	lc->sent = now;
	lc->for_write = for_write;
	rq.volume_id = v->info.id;
	rq.first = p->index;
	rq.count = 1;
	rq.for_write = for_write;
	if (for_write) {
		sl_master_dedup(v->c->mc, &dd);
		rq.dedup = &dd;
	}
	e->lookup = true;
	list_add_tail(&p->node, &e->waiters);
	rc = sl_master_call(v->c->mc, SL_MSG_M_LOOKUP, &rq.base,
			    p->op->deadline > now ? (uint32_t)(p->op->deadline - now) : 1, lookup_cb, lc);
	if (rc)
		lookup_cb(rc, NULL, lc);
}

/*
 * Q1, Q2: e names a silent primary.  True when the piece now waits (its
 * timer); false to go on, after a lookup if e was made invalid.
 */
static bool avoid_silent(struct piece *p, struct sl_chunk_ent *e)
{
	struct op *op = p->op;
	uint64_t now = sl_now_ms(), wait;

	if (e->confirmed <= e->primary->silent_since) {
		e->valid = false;	/* Q1: named before the silence */
		e->suspect_version = e->version;
		return false;
	}
	if (p->lease_waited || e->lease_until <= now || e->version != e->suspect_version)
		return false;
	p->lease_waited = true;
	wait = e->lease_until - now + SILENT_LEASE_MARGIN_MS;
	if (now + wait >= op->deadline)
		return false;
	e->valid = false;	/* Q2: ask again once the lease ran out */
	sl_timer_arm(op->v->c->loop, &p->timer, (uint32_t)wait);
	return true;
}

static void piece_start(struct piece *p)
{
	struct op *op = p->op;
	struct sl_volume *v = op->v;
	struct sl_chunk_ent *e = &v->map[p->index];

	if (op->finished) {
		piece_free(p);
		op_maybe_free(op);
		return;
	}
	if (e->valid && e->primary->silent_since && avoid_silent(p, e))
		return;
	if (e->valid)
		piece_send(p);
	else if (e->lookup)
		list_add_tail(&p->node, &e->waiters);
	else
		lookup_start(v, p, op_needs_alloc(op));
}

/* A write waited for a live session (client_session.h). */
static void piece_session_cb(struct sl_sess_wait *w, int status)
{
	struct piece *p = container_of(w, struct piece, sw);

	if (status == SL_OK)
		piece_start(p);
	else if (p->op->finished)
		piece_start(p);		/* frees it */
	else
		piece_retry(p, status);
}

static void op_pump(struct op *op)
{
	struct piece *p;

	if (op->pumping)
		return;
	op->pumping = true;
	while (!op->finished && op->pieces < OP_WINDOW && op->next_pos < op->end) {
		p = calloc(1, sizeof(*p));
		if (!p) {
			op_finish(op, SL_E_INTERNAL);
			break;
		}
		INIT_LIST_HEAD(&p->node);
		INIT_LIST_HEAD(&p->sw.link);
		p->sw.cb = piece_session_cb;
		list_add_tail(&p->op_node, &op->piece_list);
		if (op->io->op == SL_IO_CAW && op->caw_op_id)
			p->op_id = op->caw_op_id;	/* R3: the same operation */
		else
			p->op_id = ++op->v->c->next_op_id;
		if (op->io->op == SL_IO_CAW)
			op->caw_op_id = p->op_id;
		p->op = op;
		p->pos = op->next_pos;
		p->len = sl_split_piece_len(op->next_pos, op->end, op->unit_shift);
		p->index = p->pos >> op->v->info.chunk_shift;
		p->backoff_ms = BACKOFF_MIN_MS;
		sl_timer_init(&p->timer, piece_timer_cb, p);
		op->next_pos += p->len;
		op->pieces++;
		piece_start(p);
	}
	op->pumping = false;
	if (!op->finished && !op->pieces && op->next_pos >= op->end)
		op_finish(op, SL_OK);
}

static void flush_reply(struct sl_conn *c, int status, const struct sl_msg *reply, void *arg)
{
	struct op *op = arg;

	if (status == SL_OK && reply->hdr.status != SL_OK)
		status = (int)reply->hdr.status;
	if (status != SL_OK)
		op_finish(op, retryable(status) ? SL_E_UNAVAIL : status);
	op->flushes--;
	if (!op->flushes)
		op_finish(op, SL_OK);
	op_maybe_free(op);
}

/*
 * Write-through volumes: every acknowledged write is already on stable
 * storage on every replica, so a flush has nothing to wait for.  Write-back
 * volumes ask every chunkserver this client talks to.
 */
static void op_flush(struct op *op)
{
	struct sl_client *c = op->v->c;
	Shoal__CsFlushReq rq = SHOAL__CS_FLUSH_REQ__INIT;
	Shoal__ChunkRef ref = SHOAL__CHUNK_REF__INIT;
	struct sl_cs_link *l;
	uint64_t now = sl_now_ms();
	uint32_t tmo = op->deadline - now < c->rpc_timeout_ms ? (uint32_t)(op->deadline - now) : c->rpc_timeout_ms;

	if (!(op->v->info.flags & SL_VOL_F_WRITE_BACK)) {
		op_finish(op, SL_OK);
		return;
	}
	/* a write-back flush is answered OK only by every chunkserver it asked */
	if (now >= op->deadline) {
		op_finish(op, SL_E_TIMEDOUT);
		return;
	}
	rq.ref = &ref;
	op->flushes = 1;	/* held while sending */
	list_for_each_entry(l, &c->links, node) {
		if (sl_rpc_call(l->conn, SL_MSG_CS_FLUSH, &rq.base, NULL, 0, tmo, flush_reply, op) == 0)
			op->flushes++;
		else
			op_finish(op, SL_E_UNAVAIL);
	}
	op->flushes--;
	if (!op->flushes)
		op_finish(op, SL_OK);
}

/*
 * Hands a checked io to the I/O thread (any thread): refused while the
 * gateway session is lost (client_session.h C3), as every I/O of
 * sl_volume_submit and each part of an ORWRITE (client_orwrite.c).
 */
int sl_client_submit(struct sl_volume *v, struct sl_io *io)
{
	void *op;

	if (sl_client_blocked(v->c))
		return SL_E_STALE_EPOCH;	/* client_session.h C3 */
	io->status = SL_E_INTERNAL;
	io->miscompare_offset = 0;
	op = sl_client_op_new(v, io);
	if (!op)
		return SL_E_INTERNAL;
	pthread_mutex_lock(&v->lock);
	v->ops++;
	pthread_mutex_unlock(&v->lock);
	if (sl_loop_call(v->c->loop, sl_client_io_begin, op)) {
		free(op);
		sl_volume_op_put(v);
		return SL_E_INTERNAL;
	}
	return 0;
}

void sl_client_io_begin(void *arg)
{
	struct op *op = arg;

	list_add_tail(&op->node, &op->v->c->ops);
	sl_timer_init(&op->timer, op_deadline_cb, op);
	sl_timer_arm(op->v->c->loop, &op->timer,
		     op->deadline > sl_now_ms() ? op->deadline - sl_now_ms() : 0);
	if (op->io->op == SL_IO_FLUSH)
		op_flush(op);
	else
		op_pump(op);
	op_maybe_free(op);
}

void sl_client_io_fail_all(struct sl_client *c, int status)
{
	struct op *op, *n;

	list_for_each_entry_safe(op, n, &c->ops, node) {
		if (op->finished)
			continue;
		op->resolved = true;	/* R3: the initiator gave it up (C3) */
		op_finish(op, status);
		op_maybe_free(op);
	}
}
