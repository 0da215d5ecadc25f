/*
 * RPC handlers for every CS_* request.  Each handler bounds every field
 * from the wire before use and answers with one status code from
 * lib/status.h; anything that waits on disk or peers holds a reference on
 * the connection and a context freed when the reply is sent.
 *
 * Replicas refuse a request whose ChunkRef.version is not exactly theirs
 * (SL_E_STALE_VERSION): the version is the fencing token (doc/protocol.md).
 * Client reads and writes (not forwarded, not local_only) go to primary.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "chunkserver.h"
#include "integrity.h"
#include "log.h"
#include "msg_types.h"
#include "op_record.h"
#include "status.h"

static void reply_status(struct sl_conn *c, const struct sl_msg *req, int status)
{
	sl_rpc_reply(c, req->hdr.req_id, req->hdr.type, status, NULL, NULL, 0);
}

/* A request answered later: its connection is held until the answer. */
struct cs_req {
	struct sl_conn *c;
	uint64_t req_id;
	uint16_t type;
};

static void req_hold(struct cs_req *r, struct sl_conn *c, const struct sl_msg *m)
{
	r->c = c;
	r->req_id = m->hdr.req_id;
	r->type = m->hdr.type;
	sl_conn_get(c);
}

static void req_answer(struct cs_req *r, int status, const ProtobufCMessage *msg, const void *data,
		       size_t len)
{
	sl_rpc_reply(r->c, r->req_id, r->type, status, msg, data, len);
	sl_conn_put(r->c);
}

/* A forwarded write or local read names the replica's exact version (the fencing token). */
static int replica_version_ok(struct chunkserver *cs, struct cs_chunk *ch, uint64_t version)
{
	int r = cs_chunk_check_version(ch, version);

	if (r)
		cs->st.stale_refused++;
	return r;
}

/* ---- forwarded writes (this server is a secondary) ---- */

struct swrite {
	struct chunkserver *cs;
	struct cs_req req;
	uint64_t version;
	struct cs_chunk *ch;
	struct cs_range rl;
	struct cs_wop op;
	uint8_t *data;
	uint64_t caw_client, caw_id;	/* the write half of this COMPARE AND WRITE (op_record.h) */
};

static void swrite_done(struct cs_wop *op, int status)
{
	struct swrite *w = op->arg;
	Shoal__CsWriteRep rep = SHOAL__CS_WRITE_REP__INIT;

	cs_range_unlock(&w->ch->lock, &w->rl);
	if (status == SL_OK && w->caw_id)
		cs_rec_applied(w->cs->recs, w->caw_client, w->caw_id);
	rep.version = w->ch->version;
	rep.miscompare_offset = op->miscompare_off;
	if (status == SL_OK) {
		w->cs->st.writes++;
		w->cs->st.bytes_written += op->len;
	}
	req_answer(&w->req, status, &rep.base, NULL, 0);
	w->cs->load--;
	free(w->data);
	free(w);
}

static void swrite_locked(struct cs_range *r, void *arg)
{
	struct swrite *w = arg;

	/* the version may have moved while we waited for the lock */
	if (cs_chunk_check_version(w->ch, w->version) != SL_OK)
		return swrite_done(&w->op, SL_E_STALE_VERSION);
	cs_chunk_write(&w->op);
}

static void handle_forwarded_write(struct chunkserver *cs, struct sl_conn *c, const struct sl_msg *m,
				   const Shoal__CsWriteReq *req)
{
	struct cs_chunk *ch = cs_disks_find(&cs->disks, req->ref->chunk_id);
	struct swrite *w;
	int r;

	if (!ch)
		return reply_status(c, m, SL_E_NOENT);
	r = replica_version_ok(cs, ch, req->ref->version);
	if (r)
		return reply_status(c, m, r);
	w = calloc(1, sizeof(*w));
	if (!w)
		return reply_status(c, m, SL_E_INTERNAL);
	if (m->data_len) {
		w->data = malloc(m->data_len);
		if (!w->data) {
			free(w);
			return reply_status(c, m, SL_E_INTERNAL);
		}
		memcpy(w->data, m->data, m->data_len);
	}
	w->cs = cs;
	w->version = req->ref->version;
	w->ch = ch;
	if (req->caw) {
		w->caw_client = req->op_client;
		w->caw_id = req->op_id;
	}
	w->op = (struct cs_wop){ .ch = ch, .kind = (enum cs_wkind)req->kind, .off = req->offset,
				 .len = req->length, .data = w->data, .data_len = (uint32_t)m->data_len,
				 .done = swrite_done, .arg = w };
	if (req->length == 0 || req->offset >= ch->chunk_size ||
	    req->length > ch->chunk_size - req->offset) {
		free(w->data);
		free(w);
		return reply_status(c, m, SL_E_RANGE);
	}
	req_hold(&w->req, c, m);
	cs->load++;
	cs_range_lock(&ch->lock, &w->rl, cs_block_down(req->offset),
		      cs_block_up(req->offset + req->length), swrite_locked, w);
}

/* ---- local reads (repair reads, copies, tests) ---- */

struct lread {
	struct chunkserver *cs;
	struct cs_req req;
	struct cs_chunk *ch;
	struct cs_range rl;
	struct cs_rop op;
};

static void lread_done(struct cs_rop *op, int status)
{
	struct lread *l = op->arg;
	Shoal__CsReadRep rep = SHOAL__CS_READ_REP__INIT;

	rep.version = l->ch->version;
	if (status == SL_OK) {
		l->cs->st.reads++;
		l->cs->st.bytes_read += op->len;
	} else if (status == SL_E_CHECKSUM) {
		l->cs->st.checksum_errors += op->bad_blocks;
	}
	req_answer(&l->req, status, &rep.base, status == SL_OK ? op->data : NULL,
		   status == SL_OK ? op->len : 0);
	cs_rop_release(op);
	cs_range_unlock(&l->ch->lock, &l->rl);
	l->cs->load--;
	free(l);
}

static void lread_locked(struct cs_range *r, void *arg)
{
	struct lread *l = arg;

	cs_chunk_read(&l->op);
}

static void handle_read(struct chunkserver *cs, struct sl_conn *c, const struct sl_msg *m,
			const Shoal__CsReadReq *req)
{
	struct cs_chunk *ch;
	struct lread *l;
	int r;

	if (!req->ref || req->length == 0 || req->length > SL_FRAME_MAX_DATA)
		return reply_status(c, m, SL_E_INVAL);
	if (!req->local_only)
		return cs_primary_read(cs, c, m->hdr.req_id, req);
	ch = cs_disks_find(&cs->disks, req->ref->chunk_id);
	if (!ch)
		return reply_status(c, m, SL_E_NOENT);
	r = replica_version_ok(cs, ch, req->ref->version);
	if (r)
		return reply_status(c, m, r);
	if (req->offset >= ch->chunk_size || req->length > ch->chunk_size - req->offset)
		return reply_status(c, m, SL_E_RANGE);
	l = calloc(1, sizeof(*l));
	if (!l)
		return reply_status(c, m, SL_E_INTERNAL);
	l->cs = cs;
	l->ch = ch;
	l->op = (struct cs_rop){ .ch = ch, .off = req->offset, .len = req->length, .done = lread_done,
				 .arg = l };
	req_hold(&l->req, c, m);
	cs->load++;
	cs_range_lock(&ch->lock, &l->rl, cs_block_down(req->offset),
		      cs_block_up(req->offset + req->length), lread_locked, l);
}

/* ---- set version ---- */

struct sver {
	struct cs_req req;
	struct cs_setver sv;
};

static void sver_done(struct cs_setver *sv, int status)
{
	struct sver *s = container_of(sv, struct sver, sv);

	req_answer(&s->req, status, NULL, NULL, 0);
	free(s);
}

static void handle_set_version(struct chunkserver *cs, struct sl_conn *c, const struct sl_msg *m,
			       const Shoal__CsSetVersionReq *req)
{
	struct cs_chunk *ch;
	struct sver *s;
	int r;

	if (!req->ref || req->ref->chunk_id == 0 || req->ref->version == 0)
		return reply_status(c, m, SL_E_INVAL);
	cs_scrub_note_peers(cs, req->ref->chunk_id, req->peers, req->n_peers);
	ch = cs_disks_find(&cs->disks, req->ref->chunk_id);
	if (!ch) {
		if (!req->create)
			return reply_status(c, m, SL_E_NOENT);
		/*
		 * create is sent only for an unwritten chunk; and only once the
		 * master holds our inventory, so that a replica created after our
		 * report was built is never taken for a missing one (master_link.c).
		 */
		if (cs->mc && !cs->reported) {
			sl_info("chunk %016" PRIx64 ": create refused: our chunk report is not acknowledged yet",
				req->ref->chunk_id);
			return reply_status(c, m, SL_E_BUSY);
		}
		r = cs_disks_create(&cs->disks, req->ref->chunk_id, req->chunk_size, req->ref->version,
				    req->ref->epoch, &ch);
		if (r == SL_OK)
			sl_info("chunk %016" PRIx64 ": created at version %" PRIu64 " on disk %u",
				ch->id, ch->version, ch->disk_index);
		return reply_status(c, m, r);
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return reply_status(c, m, SL_E_INTERNAL);
	s->sv = (struct cs_setver){ .cs = cs, .ch = ch, .version = req->ref->version,
				    .epoch = req->ref->epoch, .done = sver_done };
	req_hold(&s->req, c, m);
	cs_set_version_drained(&s->sv);
}

/* ---- delete, info, status ---- */

static void handle_chunk_info(struct chunkserver *cs, struct sl_conn *c, const struct sl_msg *m,
			      const Shoal__CsChunkInfoReq *req)
{
	Shoal__CsChunkInfoRep rep = SHOAL__CS_CHUNK_INFO_REP__INIT;
	struct cs_chunk *ch = cs_disks_find(&cs->disks, req->chunk_id);

	if (!ch)
		return reply_status(c, m, SL_E_NOENT);
	rep.chunk_id = ch->id;
	rep.version = ch->version;
	rep.epoch = ch->epoch;
	rep.chunk_size = ch->chunk_size;
	rep.allocated_bytes = cs_chunk_allocated(ch);
	rep.disk = ch->disk_index;
	rep.primary = cs_primary_live(cs, ch);
	rep.dirty_bytes = cs_chunk_dirty_bytes(ch);
	rep.checksum_errors = (uint32_t)ch->checksum_errors;
	sl_rpc_reply(c, m->hdr.req_id, m->hdr.type, SL_OK, &rep.base, NULL, 0);
}

static void handle_status(struct chunkserver *cs, struct sl_conn *c, const struct sl_msg *m)
{
	Shoal__CsStatusRep rep = SHOAL__CS_STATUS_REP__INIT;
	Shoal__DiskStatus *ds;
	Shoal__DiskStatus **pds = cs_disk_status_list(cs, &ds);
	int i;

	if (!pds)
		return reply_status(c, m, SL_E_INTERNAL);
	rep.cs_id = cs->disks.cs_id;
	rep.addr = (char *)cs->addr;
	rep.n_disks = cs->disks.n;
	rep.disks = pds;
	rep.chunks = cs->disks.nchunks;
	rep.reads = cs->st.reads;
	rep.writes = cs->st.writes;
	rep.bytes_read = cs->st.bytes_read;
	rep.bytes_written = cs->st.bytes_written;
	rep.checksum_errors = cs->st.checksum_errors;
	rep.repaired_blocks = cs->st.repaired_blocks;
	rep.resync_bytes = cs->st.resync_bytes;
	rep.master_term = cs->term;
	rep.scrubbed_bytes = cs->st.scrubbed_bytes;
	rep.scrub_passes = cs->st.scrub_passes;
	rep.reconciled_regions = cs->st.reconciled_regions;
	rep.unrepaired_blocks = cs->st.unrepaired_blocks;
	rep.scrub_rate = (uint64_t)cs->o.scrub_rate;
	for (i = 0; i < cs->disks.n; i++) {
		struct cs_chunk *ch;

		list_for_each_entry(ch, &cs->disks.d[i].chunks, link)
			rep.torn_regions += ch->torn_regions;
	}
	sl_rpc_reply(c, m->hdr.req_id, m->hdr.type, SL_OK, &rep.base, NULL, 0);
	free(ds);
	free(pds);
}

/* ---- copy from peer (copy.c) ---- */

static void copy_rpc_done(void *arg, int status, uint64_t bytes)
{
	struct cs_req *x = arg;
	Shoal__CsCopyFromPeerRep rep = SHOAL__CS_COPY_FROM_PEER_REP__INIT;

	rep.bytes_copied = bytes;
	req_answer(x, status, &rep.base, NULL, 0);
	free(x);
}

/* ---- dispatch ---- */

void cs_on_request(struct sl_conn *c, const struct sl_msg *m, void *arg)
{
	struct chunkserver *cs = arg;
	const struct sl_msg_type_info *ti = sl_msg_type_lookup(m->hdr.type);
	ProtobufCMessage *pm;

	if (!ti || m->hdr.type < SL_MSG_CS_SET_VERSION || m->hdr.type > SL_MSG_CS_DIGEST) {
		if (m->hdr.type == SL_MSG_ECHO) {
			pm = sl_msg_unpack(m, false);
			if (!pm)
				return reply_status(c, m, SL_E_PROTO);
			sl_rpc_reply(c, m->hdr.req_id, m->hdr.type, SL_OK, pm, m->data, m->data_len);
			sl_msg_free(pm);
			return;
		}
		return reply_status(c, m, SL_E_PROTO);
	}
	pm = sl_msg_unpack(m, false);
	if (!pm)
		return reply_status(c, m, SL_E_PROTO);
	switch (m->hdr.type) {
	case SL_MSG_CS_SET_VERSION:
		handle_set_version(cs, c, m, (Shoal__CsSetVersionReq *)pm);
		break;
	case SL_MSG_CS_READ:
		handle_read(cs, c, m, (Shoal__CsReadReq *)pm);
		break;
	case SL_MSG_CS_WRITE: {
		Shoal__CsWriteReq *w = (Shoal__CsWriteReq *)pm;

		if (!w->ref || w->kind > SHOAL__WRITE_KIND__COMPARE_AND_WRITE || w->length == 0)
			reply_status(c, m, SL_E_INVAL);
		else if (w->forwarded)
			handle_forwarded_write(cs, c, m, w);
		else
			cs_primary_write(cs, c, m->hdr.req_id, w, m->data, m->data_len);
		break;
	}
	case SL_MSG_CS_FLUSH: {
		/* every acknowledged write is durable already (O_DSYNC): check and answer */
		Shoal__CsFlushReq *f = (Shoal__CsFlushReq *)pm;
		struct cs_chunk *ch;

		if (!f->ref || f->ref->chunk_id == 0) {
			reply_status(c, m, SL_OK);
			break;
		}
		ch = cs_disks_find(&cs->disks, f->ref->chunk_id);
		reply_status(c, m, !ch ? SL_E_NOENT : cs_chunk_check_version(ch, f->ref->version));
		break;
	}
	case SL_MSG_CS_DELETE: {
		Shoal__CsDeleteReq *d = (Shoal__CsDeleteReq *)pm;

		reply_status(c, m, cs_delete_chunk(cs, d->chunk_id, d->max_version));
		break;
	}
	case SL_MSG_CS_CHUNK_INFO:
		handle_chunk_info(cs, c, m, (Shoal__CsChunkInfoReq *)pm);
		break;
	case SL_MSG_CS_COPY_FROM_PEER: {
		struct cs_req *x = calloc(1, sizeof(*x));

		if (!x) {
			reply_status(c, m, SL_E_INTERNAL);
			break;
		}
		req_hold(x, c, m);
		cs_copy_from_peer(cs, (Shoal__CsCopyFromPeerReq *)pm, copy_rpc_done, x);
		break;
	}
	case SL_MSG_CS_STATUS:
		handle_status(cs, c, m);
		break;
	case SL_MSG_CS_DIGEST:
		cs_handle_digest(cs, c, m, (Shoal__CsDigestReq *)pm);
		break;
	}
	sl_msg_free(pm);
}
