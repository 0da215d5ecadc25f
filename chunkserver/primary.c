/*
 * The primary: lease state per chunk, the order of writes, forwarding to
 * the secondaries, and reads with checksum fallback (doc/protocol.md).
 *
 * Lease state machine of one chunk (struct cs_prim):
 *
 *   NONE --client op--> ACQUIRING (M_LEASE sent at t0)
 *   ACQUIRING --LeaseRep(v)--> [local or any replica not at v]
 *                               SETTING: CS_SET_VERSION(v) to every replica,
 *                               itself included; failures -> M_REPLICA_FAILED
 *                               -> new LeaseRep -> SETTING again (bounded)
 *                          --> LIVE until t0 + lease_ms (renewed through
 *                              heartbeats while the chunk is used)
 *   SETTING of an unwritten chunk (LeaseRep.created: every replica was just
 *     created, empty) --M_LEASE(created_version v)--> ACQUIRING: the master
 *     records that the chunk's replicas exist before anything is served
 *   ACQUIRING/SETTING --error--> NONE, waiting ops answered with the error
 *
 * Replica existence (doc/protocol.md): only an unwritten chunk's replicas
 * are created, this one's included; a primary that finds its own replica
 * of a written chunk missing refuses to serve it and reports it lost (the
 * master drops it from the set and the next lease goes to another member).
 * No lease is asked for, and nothing created, before this server's chunk
 * report was acknowledged (master_link.c).
 *
 * Invariants:
 *  - Ops run only while LIVE and only at exactly the lease's version; the
 *    lease is counted from when M_LEASE was sent, so this view expires
 *    before the master's.
 *  - An op holds the range lock over its block-aligned span from before its
 *    local write until every replica answered, so overlapping writes reach
 *    every replica in the primary's order.
 *  - A write is answered OK only when every replica still in the set holds
 *    it durably; a replica that failed it is reported (M_REPLICA_FAILED),
 *    and the survivors are moved to the new version, before the answer.
 *  - Sub-block writes and COMPARE_AND_WRITE are applied locally first (they
 *    read before they write, and a local refusal must leave every replica
 *    untouched), then forwarded as a plain WRITE of the final bytes.
 *  - A COMPARE_AND_WRITE applied locally is answered OK, or SL_E_INDOUBT
 *    when it cannot be made durable on the set: never an error that says
 *    it did not run.
 *  - A silent secondary is given at most peer_tmo() of a client write's
 *    answer budget (CsWriteReq.answer_within_ms), in the forward and in the
 *    set-version round the write waits for: the writer hears the outcome
 *    (the secondary dropped) before its own timeout, which would cost it a
 *    retired gateway session and a fence.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "chunkserver.h"
#include "gw_session.h"
#include "integrity.h"
#include "log.h"
#include "msg_types.h"
#include "op_record.h"
#include "prim_rule.h"
#include "primary_int.h"
#include "status.h"

#define MAX_SET_ROUNDS 3

static void prim_acquire(struct cs_prim *p);

static unsigned int phash(uint64_t id)
{
	return (unsigned int)((id * 0x9e3779b97f4a7c15ull) >> 40) & (CS_PRIM_HASH - 1);
}

static struct cs_prim *prim_find(struct chunkserver *cs, uint64_t id, bool create)
{
	struct cs_prim *p = cs->prim_hash[phash(id)];

	while (p && p->chunk_id != id)
		p = p->next;
	if (p || !create)
		return p;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->chunk_id = id;
	p->cs = cs;
	INIT_LIST_HEAD(&p->waiters);
	p->next = cs->prim_hash[phash(id)];
	cs->prim_hash[phash(id)] = p;
	return p;
}

static bool prim_live(const struct cs_prim *p)
{
	return p->state == P_LIVE && sl_now_ms() < p->lease_until_ms;
}

bool cs_primary_live(struct chunkserver *cs, struct cs_chunk *ch)
{
	struct cs_prim *p = prim_find(cs, ch->id, false);

	return p && prim_live(p) && p->version == ch->version;
}

void cs_primary_drop(struct chunkserver *cs, struct cs_chunk *ch)
{
	struct cs_prim **pp = &cs->prim_hash[phash(ch->id)], *p;
	unsigned int i;

	for (; (p = *pp); pp = &p->next) {
		if (p->chunk_id != ch->id)
			continue;
		if (!list_empty(&p->waiters) || p->refs)
			return;		/* in use: it is dropped when the chunk is gone */
		*pp = p->next;
		for (i = 0; i < p->nrep; i++)
			free(p->rep_addr[i]);
		free(p);
		return;
	}
}

void cs_primary_free_all(struct chunkserver *cs)
{
	unsigned int h, i;

	for (h = 0; h < CS_PRIM_HASH; h++) {
		struct cs_prim *p, *n;

		for (p = cs->prim_hash[h]; p; p = n) {
			n = p->next;
			for (i = 0; i < p->nrep; i++)
				free(p->rep_addr[i]);
			free(p);
		}
		cs->prim_hash[h] = NULL;
	}
}

size_t cs_primary_renew_list(struct chunkserver *cs, uint64_t *ids, size_t max)
{
	uint64_t now = sl_now_ms();
	size_t n = 0;
	unsigned int h;

	for (h = 0; h < CS_PRIM_HASH && n < max; h++) {
		struct cs_prim *p;

		for (p = cs->prim_hash[h]; p && n < max; p = p->next)
			if (prim_live(p) && now - p->last_use_ms < cs->lease_ms)
				ids[n++] = p->chunk_id;
	}
	return n;
}

void cs_primary_renewed(struct chunkserver *cs, uint64_t chunk_id, uint64_t sent_ms)
{
	struct cs_prim *p = prim_find(cs, chunk_id, false);

	if (p && p->state == P_LIVE && sent_ms + cs->lease_ms > p->lease_until_ms)
		p->lease_until_ms = sent_ms + cs->lease_ms;
}

/* ---- answering client ops ---- */

void pop_reply(struct pop *op, int status, const void *data, size_t len)
{
	struct chunkserver *cs = op->cs;

	if (status != SL_OK)
		sl_debug("chunk %016" PRIx64 ": %s [%" PRIu64 ", +%u) kind %d: %s", op->chunk_id,
			 op->is_read ? "read" : "write", op->off, op->len, op->kind, sl_status_str(status));
	if (op->is_read) {
		Shoal__CsReadRep rep = SHOAL__CS_READ_REP__INIT;

		rep.version = op->p ? op->p->version : 0;
		sl_rpc_reply(op->c, op->req_id, SL_MSG_CS_READ, status, &rep.base, data, len);
		if (status == SL_OK) {
			cs->st.reads++;
			cs->st.bytes_read += op->len;
		}
	} else {
		Shoal__CsWriteRep rep = SHOAL__CS_WRITE_REP__INIT;

		/*
		 * A COMPARE AND WRITE applied here whose answer is an error (a
		 * secondary failed it and the master could not drop it, or the
		 * set fell below min_replicas): its write half is on this replica
		 * and maybe others, so whether it took effect is unknown.  Never
		 * a retryable error: the gateway's client would answer NOT READY
		 * and multipath would run it again elsewhere, against its own
		 * write (lib/client_io.c R5).  Recorded so (R1) for its retries.
		 */
		if (op->kind == CS_W_CAW && op->compared && status != SL_OK && status != SL_E_MISCOMPARE)
			status = SL_E_INDOUBT;
		rep.version = op->p ? op->p->version : 0;
		rep.miscompare_offset = op->miscompare_off;
		rep.duplicate = op->duplicate;
		if (op->rec_running)
			cs_rec_end(cs->recs, op->op_client, op->op_id, op->compared, status, op->miscompare_off);
		sl_rpc_reply(op->c, op->req_id, SL_MSG_CS_WRITE, status, &rep.base, NULL, 0);
		if (status == SL_OK) {
			cs->st.writes++;
			cs->st.bytes_written += op->len;
		}
	}
	if (op->locked)
		cs_range_unlock(&op->ch->lock, &op->rl);
	if (op->p)
		op->p->refs--;
	cs->load--;
	sl_conn_put(op->c);
	free(op->data);
	free(op);
}

/* ---- lease acquisition ---- */

static void prim_fail_waiters(struct cs_prim *p, int status)
{
	struct pop *op, *n;

	p->state = P_NONE;
	p->nset_failed = 0;
	list_for_each_entry_safe(op, n, &p->waiters, wait) {
		list_del_init(&op->wait);
		pop_reply(op, status, NULL, 0);
	}
}

static void prim_go_live(struct cs_prim *p)
{
	struct pop *op, *n;
	struct list_head run;

	if (p->created)
		return prim_acquire(p);	/* replicas created: the master records it first */
	p->state = P_LIVE;
	sl_info("chunk %016" PRIx64 ": primary at version %" PRIu64 " with %u secondaries",
		p->chunk_id, p->version, p->nrep);
	INIT_LIST_HEAD(&run);
	list_splice_tail_init(&p->waiters, &run);
	list_for_each_entry_safe(op, n, &run, wait) {
		list_del_init(&op->wait);
		if (op->answer_when_live)
			pop_reply(op, SL_OK, NULL, 0);
		else
			pop_run(op);
	}
}

/* Copies the lease's replica set (self excluded). */
static int prim_take_lease(struct cs_prim *p, const Shoal__LeaseRep *rep)
{
	struct chunkserver *cs = p->cs;
	const Shoal__ChunkLoc *loc = rep->chunk;
	unsigned int i;
	size_t k;

	if (!loc || loc->version == 0 || loc->n_replicas > CS_MAX_REPLICAS + 1 || rep->lease_ms == 0)
		return SL_E_PROTO;
	for (i = 0; i < p->nrep; i++)
		free(p->rep_addr[i]);
	p->nrep = 0;
	for (k = 0; k < loc->n_replicas; k++) {
		const Shoal__ServerAddr *a = loc->replicas[k];

		if (!a || a->cs_id == cs->disks.cs_id)
			continue;
		if (!a->addr || !a->addr[0] || p->nrep >= CS_MAX_REPLICAS)
			return SL_E_PROTO;
		p->rep_id[p->nrep] = a->cs_id;
		p->rep_addr[p->nrep] = strdup(a->addr);
		p->nrep++;
	}
	p->version = loc->version;
	p->epoch = loc->epoch ? loc->epoch : loc->version;
	p->chunk_size = rep->chunk_size;
	p->old_version = rep->old_version;
	p->created = rep->created;
	p->lease_until_ms = p->sent_ms + rep->lease_ms;
	return SL_OK;
}

static void prim_set_versions(struct cs_prim *p);

/* Reconciliation finished (reconcile.c): a secondary that failed it is dropped like a failed set. */
static void prim_reconciled(void *arg, uint64_t failed)
{
	struct cs_prim *p = arg;
	unsigned int i;

	p->refs--;
	for (i = 0; i < p->nrep; i++)
		if ((failed & (1ull << i)) && p->nset_failed < CS_MAX_REPLICAS)
			p->set_failed[p->nset_failed++] = p->rep_id[i];
	if (p->nset_failed) {
		if (++p->set_rounds > MAX_SET_ROUNDS)
			return prim_fail_waiters(p, SL_E_UNAVAIL);
		prim_acquire(p);
		return;
	}
	prim_go_live(p);
}

size_t cs_primary_secondaries(struct chunkserver *cs, struct cs_chunk *ch, char **addrs, size_t max)
{
	struct cs_prim *p = prim_find(cs, ch->id, false);
	size_t n = 0;
	unsigned int i;

	if (!p || !prim_live(p) || p->version != ch->version)
		return 0;
	for (i = 0; i < p->nrep && n < max; i++)
		if ((addrs[n] = strdup(p->rep_addr[i])))
			n++;
	return n;
}

static void prim_set_one_done(struct cs_prim *p, uint64_t cs_id, int status)
{
	if (status != SL_OK) {
		sl_warn("chunk %016" PRIx64 ": set-version %" PRIu64 " on cs %" PRIu64 " failed: %s",
			p->chunk_id, p->version, cs_id, sl_status_str(status));
		if (cs_id == p->cs->disks.cs_id)
			p->set_status = status;	/* our own replica: cannot be primary */
		else if (p->nset_failed < CS_MAX_REPLICAS)
			p->set_failed[p->nset_failed++] = cs_id;
	}
	if (--p->set_pending)
		return;
	if (p->set_status)
		return prim_fail_waiters(p, p->set_status == SL_E_NOENT ? SL_E_UNAVAIL : p->set_status);
	if (p->nset_failed) {
		if (++p->set_rounds > MAX_SET_ROUNDS)
			return prim_fail_waiters(p, SL_E_UNAVAIL);
		/* drop them through the master, then move the survivors */
		prim_acquire(p);
		return;
	}
	/*
	 * Every replica is at the new version, so no write of an older lease
	 * can land any more: make the secondaries equal to us where a crash
	 * left them different (torn or half-forwarded writes), then serve.
	 */
	{
		struct cs_chunk *ch = cs_disks_find(&p->cs->disks, p->chunk_id);

		if (ch && p->nrep) {
			p->refs++;
			cs_reconcile(p->cs, ch, p->nrep, p->rep_addr, prim_reconciled, p);
			return;
		}
	}
	prim_go_live(p);
}

/* One outstanding call to a replica: which one it went to. */
struct rcall {
	void *owner;
	uint64_t cs_id;
	unsigned int idx;
};

static struct rcall *rcall_new(void *owner, uint64_t cs_id, unsigned int idx)
{
	struct rcall *k = malloc(sizeof(*k));

	if (k)
		*k = (struct rcall){ owner, cs_id, idx };
	return k;
}

static void set_rpc_done(struct sl_conn *c, int status, const struct sl_msg *rep, void *arg)
{
	struct rcall *k = arg;
	struct cs_prim *p = k->owner;
	uint64_t id = k->cs_id;

	free(k);
	if (status == SL_OK)
		status = rep->hdr.status;
	prim_set_one_done(p, id, status);
}

static void set_local_done(struct cs_setver *sv, int status)
{
	struct cs_prim *p = container_of(sv, struct cs_prim, sv);

	prim_set_one_done(p, p->cs->disks.cs_id, status);
}

/* CS_SET_VERSION(v) to every replica, this one included. */
static void prim_set_versions(struct cs_prim *p)
{
	struct chunkserver *cs = p->cs;
	Shoal__CsSetVersionReq rq = SHOAL__CS_SET_VERSION_REQ__INIT;
	Shoal__ChunkRef ref = SHOAL__CHUNK_REF__INIT;
	struct cs_chunk *ch = cs_disks_find(&cs->disks, p->chunk_id);
	char *peers[CS_MAX_REPLICAS + 1];
	unsigned int i;

	p->state = P_SETTING;
	p->confirming = false;
	p->set_pending = 1;
	p->set_status = 0;
	p->nset_failed = 0;
	ref.chunk_id = p->chunk_id;
	ref.version = p->version;
	ref.epoch = p->epoch;
	rq.ref = &ref;
	rq.create = p->created;
	rq.chunk_size = p->chunk_size;
	rq.old_version = p->old_version;
	/* every replica learns the set, for its scrubber's repairs */
	peers[0] = (char *)cs->addr;
	for (i = 0; i < p->nrep; i++)
		peers[i + 1] = p->rep_addr[i];
	rq.n_peers = p->nrep + 1;
	rq.peers = peers;
	for (i = 0; i < p->nrep; i++) {
		struct sl_conn *c = cs_peer_conn(cs, p->rep_addr[i]);
		struct rcall *k = rcall_new(p, p->rep_id[i], i);

		p->set_pending++;
		if (!c || !k || sl_rpc_call(c, SL_MSG_CS_SET_VERSION, &rq.base, NULL, 0,
					    p->peer_tmo ? p->peer_tmo : (uint32_t)cs->o.rpc_timeout_ms,
					    set_rpc_done, k)) {
			free(k);
			prim_set_one_done(p, p->rep_id[i], SL_E_UNAVAIL);
		}
	}
	p->set_pending++;
	if (!ch && p->created) {
		int r = cs_disks_create(&cs->disks, p->chunk_id, p->chunk_size, p->version, p->epoch, &ch);

		prim_set_one_done(p, cs->disks.cs_id, r);
	} else if (!ch) {
		/* written, and ours is gone: never create it empty (it would serve zeros) */
		sl_err("chunk %016" PRIx64 ": our replica is missing although the master counts it: "
		       "not serving it, reporting it lost", p->chunk_id);
		cs_disks_note_missing(&cs->disks, p->chunk_id, p->version);
		prim_set_one_done(p, cs->disks.cs_id, SL_E_NOENT);
	} else {
		p->sv = (struct cs_setver){ .cs = cs, .ch = ch, .version = p->version, .epoch = p->epoch,
					    .done = set_local_done };
		cs_set_version_drained(&p->sv);
	}
	/* drop the hold taken above */
	prim_set_one_done(p, 0, SL_OK);
}

static void lease_done(int status, const ProtobufCMessage *reply, void *arg)
{
	struct cs_prim *p = arg;
	struct chunkserver *cs = p->cs;
	struct cs_chunk *ch;

	p->refs--;
	if (status == SL_OK)
		status = reply ? prim_take_lease(p, (const Shoal__LeaseRep *)reply) : SL_E_PROTO;
	if (status != SL_OK) {
		sl_warn("chunk %016" PRIx64 ": lease refused: %s", p->chunk_id, sl_status_str(status));
		return prim_fail_waiters(p, status == SL_E_TIMEDOUT ? SL_E_UNAVAIL : status);
	}
	/* Not recorded (the set moved meanwhile): create at the new version, a bounded number of times. */
	if (p->confirming && p->created && ++p->set_rounds > MAX_SET_ROUNDS)
		return prim_fail_waiters(p, SL_E_UNAVAIL);
	p->confirming = false;
	ch = cs_disks_find(&cs->disks, p->chunk_id);
	if (p->nset_failed || !ch || ch->version != p->version || ch->epoch != p->epoch || p->created) {
		prim_set_versions(p);
		return;
	}
	p->set_rounds = 0;
	prim_go_live(p);
}

static void prim_acquire(struct cs_prim *p)
{
	struct chunkserver *cs = p->cs;
	int r;

	/* the set-version round of an unwritten chunk succeeded: record the creation */
	bool confirm = p->created && p->state == P_SETTING && !p->nset_failed;

	if (!cs->reported)
		return prim_fail_waiters(p, SL_E_UNAVAIL);	/* inventory not acknowledged yet */
	p->confirming = confirm;
	p->state = P_ACQUIRING;
	p->sent_ms = sl_now_ms();
	p->refs++;
	if (p->nset_failed) {
		Shoal__ReplicaFailedReq rq = SHOAL__REPLICA_FAILED_REQ__INIT;

		rq.cs_id = cs->disks.cs_id;
		rq.chunk_id = p->chunk_id;
		rq.epoch = p->epoch;
		rq.n_failed = p->nset_failed;
		rq.failed = p->set_failed;
		sl_warn("chunk %016" PRIx64 ": reporting %u failed replica(s) to the master",
			p->chunk_id, p->nset_failed);
		r = sl_master_call(cs->mc, SL_MSG_M_REPLICA_FAILED, &rq.base,
				   (uint32_t)cs->o.rpc_timeout_ms, lease_done, p);
	} else {
		Shoal__LeaseReq rq = SHOAL__LEASE_REQ__INIT;

		rq.cs_id = cs->disks.cs_id;
		rq.chunk_id = p->chunk_id;
		/*
		 * The last lease this process took on the chunk, live or lapsed;
		 * 0 if it never took one: a restarted process then gets a new
		 * lease, never its predecessor's (master/lease.h).
		 */
		rq.epoch = p->epoch;
		rq.created_version = confirm ? p->version : 0;
		r = sl_master_call(cs->mc, SL_MSG_M_LEASE, &rq.base, (uint32_t)cs->o.rpc_timeout_ms,
				   lease_done, p);
	}
	if (r) {
		p->refs--;
		prim_fail_waiters(p, r);
	}
}

/* ---- writes ---- */

static void pop_write_finish(struct pop *op);

static void fwd_done(struct sl_conn *c, int status, const struct sl_msg *rep, void *arg);

static void forward_one(struct pop *op, unsigned int i)
{
	struct cs_prim *p = op->p;
	Shoal__CsWriteReq rq = SHOAL__CS_WRITE_REQ__INIT;
	Shoal__ChunkRef ref = SHOAL__CHUNK_REF__INIT;
	struct sl_conn *c = cs_peer_conn(op->cs, p->rep_addr[i]);
	const uint8_t *data = op->data;
	uint32_t dlen = op->data_len;
	struct rcall *k;
	int r;

	ref.chunk_id = op->chunk_id;
	ref.version = p->version;
	ref.epoch = p->epoch;
	rq.ref = &ref;
	rq.kind = (Shoal__WriteKind)op->kind;
	rq.offset = op->off;
	rq.length = op->len;
	rq.seq = ++p->seq;
	rq.forwarded = true;
	rq.fua = op->fua;
	if (op->kind == CS_W_CAW) {
		/* compared here already: the secondaries apply the write half, and record it (R1) */
		rq.kind = SHOAL__WRITE_KIND__WRITE;
		data = op->data + op->len;
		dlen = op->len;
		rq.caw = op->op_id != 0;
		rq.op_client = op->op_client;
		rq.op_id = op->op_id;
	}
	k = rcall_new(op, p->rep_id[i], i);
	op->pending++;
	r = c && k ? sl_rpc_call(c, SL_MSG_CS_WRITE, &rq.base, data, dlen, op->peer_tmo, fwd_done, k)
		   : SL_E_UNAVAIL;
	if (r) {
		free(k);
		if (op->nfailed < CS_MAX_REPLICAS)
			op->failed[op->nfailed++] = p->rep_id[i];
		if (--op->pending == 0)
			pop_write_finish(op);
		return;
	}
	sl_conn_send_now(c);
}

/* Current position of secondary cs_id in the set, or -1 once it left it. */
static int prim_rep_pos(const struct cs_prim *p, uint64_t cs_id)
{
	unsigned int i;

	for (i = 0; i < p->nrep; i++)
		if (p->rep_id[i] == cs_id)
			return (int)i;
	return -1;
}

static void fwd_done(struct sl_conn *c, int status, const struct sl_msg *rep, void *arg)
{
	struct rcall *k = arg;
	struct pop *op = k->owner;
	struct cs_prim *p = op->p;
	/*
	 * The set may have changed while this forward was in flight (another
	 * write's failure dropped a replica): positions shift, so the answer is
	 * matched by server id, and one from a server no longer in the set is
	 * ignored.
	 */
	int i = prim_rep_pos(p, k->cs_id);

	free(k);
	if (status == SL_OK)
		status = rep->hdr.status;
	if (status != SL_OK && i >= 0) {
		sl_warn("chunk %016" PRIx64 ": secondary cs %" PRIu64 " (%s) failed a write: %s",
			op->chunk_id, p->rep_id[i], p->rep_addr[i], sl_status_str(status));
		if (status == SL_E_STALE_VERSION && rep && op->fwd_version != p->version) {
			/* the set moved to a new version while this write was in flight */
			op->fwd_version = p->version;
			forward_one(op, i);
		} else if (op->nfailed < CS_MAX_REPLICAS) {
			op->failed[op->nfailed++] = p->rep_id[i];
		}
	}
	if (--op->pending == 0)
		pop_write_finish(op);
}

static void forward_all(struct pop *op)
{
	unsigned int i;

	op->fwd_version = op->p->version;
	for (i = 0; i < op->p->nrep; i++)
		forward_one(op, i);
}

/* A failed secondary was reported and the survivors moved: answer now. */
static void replica_failed_done(int status, const ProtobufCMessage *reply, void *arg)
{
	struct pop *op = arg;
	struct cs_prim *p = op->p;

	bool round_running = p->state == P_ACQUIRING || p->state == P_SETTING;

	if (status != SL_OK) {
		sl_err("chunk %016" PRIx64 ": master refused to drop failed replicas: %s",
		       op->chunk_id, sl_status_str(status));
		/* re-acquire before the next op, unless a lease round is already running */
		if (!round_running)
			p->state = P_NONE;
		return pop_reply(op, SL_E_UNAVAIL, NULL, 0);
	}
	/*
	 * The write is durable on every survivor, and the master dropped the
	 * failed replicas: release the range now.  Holding it until the
	 * survivors' version moved would deadlock with reconciliation, which
	 * locks whole regions before the chunk goes live again.
	 */
	if (op->locked) {
		op->locked = false;
		cs_range_unlock(&op->ch->lock, &op->rl);
	}
	op->status = SL_OK;
	op->answer_when_live = true;
	list_add_tail(&op->wait, &p->waiters);
	/*
	 * One lease round at a time: if another write's failure (or an
	 * acquisition) already started one, this op is answered when it
	 * completes; the master has committed the drop either way, and the
	 * next round learns the current set.
	 */
	if (round_running)
		return;
	status = reply ? prim_take_lease(p, (const Shoal__LeaseRep *)reply) : SL_E_PROTO;
	if (status != SL_OK)
		return prim_fail_waiters(p, SL_E_UNAVAIL);
	p->nset_failed = 0;
	p->set_rounds = 0;
	prim_set_versions(p);
}

static void pop_write_finish(struct pop *op)
{
	struct cs_prim *p = op->p;
	Shoal__ReplicaFailedReq rq = SHOAL__REPLICA_FAILED_REQ__INIT;
	int r;

	if (op->status != SL_OK || op->nfailed == 0)
		return pop_reply(op, op->status, NULL, 0);
	rq.cs_id = op->cs->disks.cs_id;
	rq.chunk_id = op->chunk_id;
	rq.epoch = p->epoch;
	rq.n_failed = op->nfailed;
	rq.failed = op->failed;
	op->is_read = false;
	r = sl_master_call(op->cs->mc, SL_MSG_M_REPLICA_FAILED, &rq.base,
			   (uint32_t)op->cs->o.rpc_timeout_ms, replica_failed_done, op);
	if (r)
		pop_reply(op, SL_E_UNAVAIL, NULL, 0);
}

static void local_write_done(struct cs_wop *w, int status)
{
	struct pop *op = w->arg;

	op->miscompare_off = w->miscompare_off;
	if (status == SL_OK || status == SL_E_MISCOMPARE)
		op->compared = true;
	if (status != SL_OK && op->status == SL_OK)
		op->status = status;
	if (op->pending == 1 && (op->kind == CS_W_CAW || op->off % CS_BLOCK ||
				 (op->off + op->len) % CS_BLOCK)) {
		/* local-first kinds: forward only what succeeded here */
		if (status == SL_OK)
			forward_all(op);
	}
	if (--op->pending == 0)
		pop_write_finish(op);
}

/*
 * Called when an op's range lock is granted.  An op may wait behind slow
 * writes for longer than the lease, while the master moves the chunk to
 * another primary and a new version: applying it then, even locally, would
 * leave this replica different from the set.  So the lease and version are
 * checked again here; if they no longer hold, the op goes back through
 * pop_run (which waits for a new lease or answers STALE).
 */
bool pop_still_primary(struct pop *op)
{
	struct cs_prim *p = op->p;

	if (prim_live(p) && op->version == p->version && op->ch->version == p->version)
		return true;
	cs_range_unlock(&op->ch->lock, &op->rl);
	pop_run(op);
	return false;
}

/* A COMPARE AND WRITE attempt waited for an earlier attempt of the same operation (R1). */
static void pop_rec_done(struct cs_rec_wait *w, int status, uint64_t miscompare_off)
{
	struct pop *op = container_of(w, struct pop, rec_wait);

	op->duplicate = true;
	op->miscompare_off = miscompare_off;
	pop_reply(op, status, NULL, 0);
}

/*
 * The write is ordered now: its session must be alive here at this very
 * moment (gw_session.h S1), and a COMPARE AND WRITE runs at most once per
 * operation (op_record.h R1).  false: the op was answered or waits.
 */
static bool pop_write_admit(struct pop *op)
{
	struct chunkserver *cs = op->cs;
	int r = cs_gws_check(cs, op->session, &op->gws_wait), st;
	uint64_t moff;

	if (r) {
		cs_range_unlock(&op->ch->lock, &op->rl);
		if (r != 1)
			pop_reply(op, r, NULL, 0);
		return false;	/* 1: pop_gws_done runs it again */
	}
	if (op->kind != CS_W_CAW || !op->op_id)
		return true;
	switch (cs_rec_begin(cs->recs, op->op_client, op->op_id, &op->rec_wait, &st, &moff)) {
	case REC_RUN:
		if (op->outcome_only) {
			/* a question (CsWriteReq.outcome_only): no record here, and it never runs */
			cs_rec_end(cs->recs, op->op_client, op->op_id, false, SL_E_NOENT, 0);
			cs_range_unlock(&op->ch->lock, &op->rl);
			pop_reply(op, SL_E_NOENT, NULL, 0);
			return false;
		}
		op->rec_running = true;
		return true;
	case REC_WAIT:
		cs_range_unlock(&op->ch->lock, &op->rl);
		return false;
	case REC_DONE:
		cs_range_unlock(&op->ch->lock, &op->rl);
		pop_rec_done(&op->rec_wait, st, moff);
		return false;
	}
	return false;
}

static void pop_write_locked(struct cs_range *r, void *arg)
{
	struct pop *op = arg;
	bool local_first = op->kind == CS_W_CAW || op->off % CS_BLOCK || (op->off + op->len) % CS_BLOCK;

	if (!pop_still_primary(op) || !pop_write_admit(op))
		return;
	op->locked = true;
	op->status = SL_OK;
	op->pending = 1;
	op->wop = (struct cs_wop){ .ch = op->ch, .kind = op->kind, .off = op->off, .len = op->len,
				   .data = op->data, .data_len = op->data_len, .done = local_write_done,
				   .arg = op };
	if (!local_first)
		forward_all(op);
	cs_chunk_write(&op->wop);
}

/* ---- entry ---- */

/* The session a write waited for was checked with the master. */
static void pop_gws_done(struct cs_gws_wait *w, int status)
{
	struct pop *op = container_of(w, struct pop, gws_wait);

	if (status != SL_OK)
		return pop_reply(op, status, NULL, 0);
	pop_run(op);
}

void pop_run(struct pop *op)
{
	struct chunkserver *cs = op->cs;
	struct cs_prim *p = op->p;

	switch (prim_admit(prim_live(p), p->version, op->version, op->asked)) {
	case PRIM_ACQUIRE:
		op->asked = op->version > p->version;
		list_add_tail(&op->wait, &p->waiters);
		if (p->state != P_ACQUIRING && p->state != P_SETTING)
			prim_acquire(p);
		return;
	case PRIM_STALE:
		cs->st.stale_refused++;
		return pop_reply(op, SL_E_STALE_VERSION, NULL, 0);
	case PRIM_SERVE:
		break;
	}
	op->ch = cs_disks_find(&cs->disks, op->chunk_id);
	if (!op->ch || op->ch->version != p->version)
		return pop_reply(op, op->ch ? SL_E_STALE_VERSION : SL_E_NOENT, NULL, 0);
	if (op->off >= op->ch->chunk_size || op->len > op->ch->chunk_size - op->off)
		return pop_reply(op, SL_E_RANGE, NULL, 0);
	if (!op->is_read) {
		/* ask the master now if need be, not while holding the range (S1 is checked again then) */
		int r = cs_gws_check(cs, op->session, &op->gws_wait);

		if (r == 1)
			return;
		if (r)
			return pop_reply(op, r, NULL, 0);
	}
	p->last_use_ms = sl_now_ms();
	cs_range_lock(&op->ch->lock, &op->rl, cs_block_down(op->off), cs_block_up(op->off + op->len),
		      op->on_locked, op);
}

struct pop *pop_new(struct chunkserver *cs, struct sl_conn *c, uint64_t req_id,
		    const Shoal__ChunkRef *ref, int *err)
{
	struct pop *op;

	*err = SL_E_NOT_PRIMARY;	/* no master link: no lease can be had */
	if (!cs->mc)
		return NULL;
	*err = SL_E_INTERNAL;
	if (!ref || ref->chunk_id == 0) {
		*err = SL_E_INVAL;
		return NULL;
	}
	op = calloc(1, sizeof(*op));
	if (!op)
		return NULL;
	op->p = prim_find(cs, ref->chunk_id, true);
	if (!op->p) {
		free(op);
		return NULL;
	}
	op->p->refs++;
	op->cs = cs;
	op->c = c;
	op->req_id = req_id;
	op->chunk_id = ref->chunk_id;
	op->version = ref->version;
	op->peer_tmo = (uint32_t)cs->o.rpc_timeout_ms;
	INIT_LIST_HEAD(&op->wait);
	INIT_LIST_HEAD(&op->gws_wait.link);
	INIT_LIST_HEAD(&op->rec_wait.link);
	op->gws_wait.cb = pop_gws_done;
	op->rec_wait.cb = pop_rec_done;
	sl_conn_get(c);
	cs->load++;
	return op;
}

/* A silent secondary's share of a writer's answer budget (0: not said). */
static uint32_t peer_tmo(const struct chunkserver *cs, uint32_t answer_within_ms)
{
	uint32_t t = (uint32_t)cs->o.rpc_timeout_ms;

	if (answer_within_ms && answer_within_ms / 4 * 3 < t)
		t = answer_within_ms / 4 * 3;
	return t ? t : 1;
}

void cs_primary_write(struct chunkserver *cs, struct sl_conn *c, uint64_t req_id,
		      const Shoal__CsWriteReq *req, const uint8_t *data, size_t len)
{
	struct pop *op;
	int err;

	op = pop_new(cs, c, req_id, req->ref, &err);
	if (!op) {
		sl_rpc_reply(c, req_id, SL_MSG_CS_WRITE, err, NULL, NULL, 0);
		return;
	}
	op->on_locked = pop_write_locked;
	op->kind = (enum cs_wkind)req->kind;
	op->off = req->offset;
	op->len = req->length;
	op->fua = req->fua;
	op->session = req->session;
	op->op_client = req->op_client;
	op->op_id = req->op_id;
	op->outcome_only = req->outcome_only && op->kind == CS_W_CAW && op->op_id;
	op->peer_tmo = peer_tmo(cs, req->answer_within_ms);
	/* the latest writer's budget bounds the next set-version round */
	op->p->peer_tmo = op->peer_tmo;
	op->data_len = (uint32_t)len;
	if (len) {
		op->data = malloc(len);
		if (!op->data)
			return pop_reply(op, SL_E_INTERNAL, NULL, 0);
		memcpy(op->data, data, len);
	}
	pop_run(op);
}
