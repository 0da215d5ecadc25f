/*
 * The primary's reads (doc/protocol.md "Read path"): under the lease, at
 * the lease's version, with the range locked against overlapping writes.
 * A block that fails its checksum is read from a secondary (local_only,
 * one after the other), rewritten here in whole blocks, and answered from
 * the secondary's bytes; when every replica fails it, SL_E_CHECKSUM.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "chunkserver.h"
#include "log.h"
#include "msg_types.h"
#include "primary_int.h"
#include "status.h"

static void repair_read(struct pop *op);

static void repair_write_done(struct cs_wop *w, int status)
{
	struct pop *op = w->arg;

	if (status == SL_OK) {
		op->cs->st.repaired_blocks += (op->rop.e - op->rop.a) / CS_BLOCK;
		sl_warn("chunk %016" PRIx64 ": repaired [%" PRIu64 ", %" PRIu64 ") from a secondary",
			op->chunk_id, op->rop.a, op->rop.e);
	} else {
		sl_err("chunk %016" PRIx64 ": repair write failed: %s", op->chunk_id, sl_status_str(status));
	}
	/* the good data came from the secondary either way */
	pop_reply(op, SL_OK, op->data + (op->off - op->rop.a), op->len);
}

static void repair_rpc_done(struct sl_conn *c, int status, const struct sl_msg *rep, void *arg)
{
	struct pop *op = arg;
	uint64_t span = op->rop.e - op->rop.a;

	if (status == SL_OK)
		status = rep->hdr.status;
	if (status != SL_OK || rep->data_len != span) {
		sl_warn("chunk %016" PRIx64 ": repair read from %s failed: %s", op->chunk_id,
			sl_conn_peer(c), sl_status_str(status ? status : SL_E_PROTO));
		op->rep_try++;
		return repair_read(op);
	}
	if (posix_memalign((void **)&op->data, CS_BLOCK, span))
		return pop_reply(op, SL_E_INTERNAL, NULL, 0);
	memcpy(op->data, rep->data, span);
	/* whole blocks: no read-modify-write of the bad block */
	op->wop = (struct cs_wop){ .ch = op->ch, .kind = CS_W_WRITE, .off = op->rop.a, .len = (uint32_t)span,
				   .data = op->data, .data_len = (uint32_t)span,
				   .done = repair_write_done, .arg = op };
	cs_chunk_write(&op->wop);
}

static void repair_read(struct pop *op)
{
	struct cs_prim *p = op->p;
	Shoal__CsReadReq rq = SHOAL__CS_READ_REQ__INIT;
	Shoal__ChunkRef ref = SHOAL__CHUNK_REF__INIT;
	struct sl_conn *c;

	while (op->rep_try < p->nrep) {
		c = cs_peer_conn(op->cs, p->rep_addr[op->rep_try]);
		ref.chunk_id = op->chunk_id;
		ref.version = p->version;
		ref.epoch = p->epoch;
		rq.ref = &ref;
		rq.offset = op->rop.a;
		rq.length = (uint32_t)(op->rop.e - op->rop.a);
		rq.local_only = true;
		if (c && sl_rpc_call(c, SL_MSG_CS_READ, &rq.base, NULL, 0,
				     (uint32_t)op->cs->o.rpc_timeout_ms, repair_rpc_done, op) == 0)
			return;
		op->rep_try++;
	}
	sl_err("chunk %016" PRIx64 ": [%" PRIu64 ", +%u) fails its checksum on every replica",
	       op->chunk_id, op->off, op->len);
	pop_reply(op, SL_E_CHECKSUM, NULL, 0);
}

static void local_read_done(struct cs_rop *r, int status)
{
	struct pop *op = r->arg;

	if (status == SL_OK) {
		uint8_t *buf = r->buf;	/* r lives in op, which pop_reply frees */

		pop_reply(op, SL_OK, r->data, op->len);
		free(buf);
		return;
	}
	cs_rop_release(r);
	if (status != SL_E_CHECKSUM)
		return pop_reply(op, status, NULL, 0);
	op->cs->st.checksum_errors += r->bad_blocks;
	op->rep_try = 0;
	repair_read(op);
}

static void pop_read_locked(struct cs_range *r, void *arg)
{
	struct pop *op = arg;

	if (!pop_still_primary(op))
		return;
	op->locked = true;
	op->rop = (struct cs_rop){ .ch = op->ch, .off = op->off, .len = op->len,
				   .done = local_read_done, .arg = op };
	cs_chunk_read(&op->rop);
}

void cs_primary_read(struct chunkserver *cs, struct sl_conn *c, uint64_t req_id,
		     const Shoal__CsReadReq *req)
{
	struct pop *op;
	int err;

	op = pop_new(cs, c, req_id, req->ref, &err);
	if (!op) {
		sl_rpc_reply(c, req_id, SL_MSG_CS_READ, err, NULL, NULL, 0);
		return;
	}
	op->is_read = true;
	op->on_locked = pop_read_locked;
	op->off = req->offset;
	op->len = req->length;
	pop_run(op);
}
