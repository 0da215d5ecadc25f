/*
 * Copy from peer: re-replication and resync of a replica (the target side
 * of doc/protocol.md "Re-replication, drain and resync").
 *
 * Two modes:
 *   WHOLE   no usable replica here: a new one is created at version 0
 *           (never mistaken for current) and every piece is copied, all
 *           zero pieces left sparse.
 *   RESYNC  (order.only_dirty) our replica is stale at version S =
 *           min(since_version, our version): it keeps its file, and only
 *           the 64 KiB tracks that may differ are copied: those the source
 *           modified at version >= S, those we modified at >= S (a write
 *           that reached us and not the others, a torn region raised at
 *           open), and those in a region busy on the source when asked.
 *           Inclusive: the write that dropped us from the set was at S.
 *
 * Why that is enough: every replica of the set had every write of a
 * version < S when we were moved to S (a member holds all of them; a
 * missed write drops it from the set before the version moves), and a
 * track's entry is >= the version of every write applied to it
 * (chunk_store.h "Tracks").  So a track both sides left below S holds the
 * same bytes on both.  It is still checked, not assumed: see VERIFY.
 *
 * Steps (struct copy, loop thread):
 *
 *   LOCK     our range lock over the whole chunk: a write of the old
 *            version queued behind it fails its version check afterwards
 *   FENCE    (source_version set) CS_SET_VERSION moves the source to the
 *            copy's version: a write of the old one is refused there
 *   TRACKS   CS_DIGEST(tracks) from the source: its track versions
 *   COPY     per run of wanted tracks (up to 1 MiB): CS_READ local_only
 *            from the source, write here (RESYNC: a zero run is unmapped)
 *   VERIFY   CS_DIGEST(all regions) from the source against ours: every
 *            region must be equal and busy on neither side, else the copy
 *            fails (the master deletes what is here and copies it whole)
 *   TRACKS'  raise our tracks to the source's (a later resync from us
 *            must know what the source knew), durable
 *   VERSION  persist the copy's version last; unlock
 *
 * A source that sends no tracks (older code) makes every track wanted
 * (a whole copy into the kept file), and ours end at the copy's version.
 */
#include <endian.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "chunkserver.h"
#include "integrity.h"
#include "log.h"
#include "msg_types.h"
#include "status.h"

#define COPY_PIECE (1u << 20)
#define TRACK (1u << CS_TRACK_SHIFT)

struct copy {
	struct chunkserver *cs;
	struct cs_chunk *ch;
	struct sl_conn *src;
	uint64_t chunk_id, version, epoch, source_version;
	uint64_t off, bytes;
	bool resync, locked;
	uint64_t since;			/* RESYNC: copy tracks modified at >= since */
	uint64_t src_busy;		/* regions busy on the source at TRACKS */
	uint64_t *src_tracks;		/* ntracks, little-endian */
	uint32_t ntracks_copied;
	uint32_t run;			/* length of the run being copied */
	struct cs_range rl;
	struct cs_wop op;
	uint8_t *buf;
	struct cs_vop vop;
	struct cs_top top;
	void (*done)(void *arg, int status, uint64_t bytes);
	void *arg;
};

static void copy_next(struct copy *k);

static void copy_finish(struct copy *k, int status)
{
	if (k->locked)
		cs_range_unlock(&k->ch->lock, &k->rl);
	k->ch->ops_in_flight--;		/* the hold that kept CS_DELETE away */
	if (status != SL_OK && k->ch->version == 0) {
		/* never completed: it must not linger as a replica */
		if (cs_delete_chunk(k->cs, k->chunk_id, 0))
			sl_warn("chunk %016" PRIx64 ": cannot remove the incomplete copy", k->chunk_id);
	}
	if (status != SL_OK)
		sl_err("chunk %016" PRIx64 ": %s failed at %" PRIu64 ": %s", k->chunk_id,
		       k->resync ? "resync" : "copy", k->off, sl_status_str(status));
	else if (k->resync)
		sl_info("chunk %016" PRIx64 ": resynced %" PRIu64 " bytes (%u of %u tracks modified "
			"since version %" PRIu64 "), now at version %" PRIu64, k->chunk_id, k->bytes,
			k->ntracks_copied, k->ch->ntracks, k->since, k->version);
	else
		sl_info("chunk %016" PRIx64 ": copied %" PRIu64 " bytes, now at version %" PRIu64,
			k->chunk_id, k->bytes, k->version);
	k->done(k->arg, status, k->bytes);
	free(k->src_tracks);
	free(k->buf);
	free(k);
}

/* ---- the end: tracks, then the version ---- */

static void copy_vdone(struct cs_vop *op, int status)
{
	copy_finish(op->arg, status);
}

static void copy_tdone(struct cs_top *op, int status)
{
	struct copy *k = op->arg;

	if (status != SL_OK)
		return copy_finish(k, status);
	/* complete: only now does the replica carry the real version */
	k->vop = (struct cs_vop){ .ch = k->ch, .version = k->version, .epoch = k->epoch,
				  .done = copy_vdone, .arg = k };
	cs_chunk_set_version(&k->vop);
}

static void copy_verify_done(struct sl_conn *c, int status, const struct sl_msg *rep, void *arg)
{
	struct copy *k = arg;
	Shoal__CsDigestRep *d;
	uint64_t differ = 0;
	unsigned int r;

	if (status == SL_OK)
		status = rep->hdr.status;
	if (status != SL_OK)
		return copy_finish(k, status);
	d = (Shoal__CsDigestRep *)sl_msg_unpack(rep, true);
	if (!d)
		return copy_finish(k, SL_E_PROTO);
	if (d->n_digest != CS_REGIONS || d->region_shift != k->ch->region_shift) {
		sl_msg_free(&d->base);
		return copy_finish(k, SL_E_PROTO);
	}
	for (r = 0; r < CS_REGIONS; r++)
		if (d->digest[r] != cs_region_digest(k->ch, r))
			differ |= 1ull << r;
	differ |= d->busy_mask;
	sl_msg_free(&d->base);
	if (differ) {
		sl_err("chunk %016" PRIx64 ": after the %s, regions %#" PRIx64 " differ from the source",
		       k->chunk_id, k->resync ? "resync" : "copy", differ);
		return copy_finish(k, SL_E_CHECKSUM);
	}
	k->top = (struct cs_top){ .ch = k->ch, .src = k->src_tracks, .done = copy_tdone, .arg = k };
	cs_chunk_merge_tracks(&k->top);
}

static int send_digest(struct copy *k, bool tracks,
		       void (*cb)(struct sl_conn *, int, const struct sl_msg *, void *))
{
	Shoal__CsDigestReq rq = SHOAL__CS_DIGEST_REQ__INIT;
	Shoal__ChunkRef ref = SHOAL__CHUNK_REF__INIT;

	ref.chunk_id = k->chunk_id;
	ref.version = k->version;
	ref.epoch = k->epoch;
	rq.ref = &ref;
	rq.region_mask = ~0ull;
	rq.tracks = tracks;
	return sl_rpc_call(k->src, SL_MSG_CS_DIGEST, &rq.base, NULL, 0,
			   (uint32_t)k->cs->o.rpc_timeout_ms, cb, k);
}

/* ---- COPY ---- */

static bool want(const struct copy *k, uint32_t t)
{
	uint64_t off = (uint64_t)t << CS_TRACK_SHIFT;

	if (!k->resync)
		return true;
	return le64toh(k->src_tracks[t]) >= k->since || cs_track_get(k->ch, t) >= k->since ||
	       (k->src_busy & (1ull << (off >> k->ch->region_shift)));
}

static void copy_wdone(struct cs_wop *op, int status)
{
	struct copy *k = op->arg;

	if (status != SL_OK)
		return copy_finish(k, status);
	k->off += k->run;
	copy_next(k);
}

static bool zero_piece(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static void copy_read_done(struct sl_conn *c, int status, const struct sl_msg *rep, void *arg)
{
	struct copy *k = arg;
	uint32_t len = k->run;

	if (status == SL_OK)
		status = rep->hdr.status;
	if (status != SL_OK)
		return copy_finish(k, status);
	if (rep->data_len != len)
		return copy_finish(k, SL_E_PROTO);
	k->ntracks_copied += len / TRACK;
	if (zero_piece(rep->data, len)) {
		if (!k->resync) {
			/* the new replica is sparse already */
			k->off += len;
			return copy_next(k);
		}
		/* ours may hold data there: make it a hole too */
		k->bytes += len;
		k->cs->st.resync_bytes += len;
		k->op = (struct cs_wop){ .ch = k->ch, .kind = CS_W_UNMAP, .off = k->off, .len = len,
					 .done = copy_wdone, .arg = k };
		return cs_chunk_write(&k->op);
	}
	memcpy(k->buf, rep->data, len);
	k->bytes += len;
	k->cs->st.resync_bytes += len;
	k->op = (struct cs_wop){ .ch = k->ch, .kind = CS_W_WRITE, .off = k->off, .len = len,
				 .data = k->buf, .data_len = len, .done = copy_wdone, .arg = k };
	cs_chunk_write(&k->op);
}

static void copy_next(struct copy *k)
{
	Shoal__CsReadReq rq = SHOAL__CS_READ_REQ__INIT;
	Shoal__ChunkRef ref = SHOAL__CHUNK_REF__INIT;
	uint64_t size = k->ch->chunk_size;
	int r;

	/* the next run of wanted tracks (chunk sizes are multiples of a track) */
	while (k->off < size && !want(k, (uint32_t)(k->off >> CS_TRACK_SHIFT)))
		k->off += TRACK;
	if (k->off >= size) {
		r = send_digest(k, false, copy_verify_done);
		if (r)
			copy_finish(k, r);
		return;
	}
	k->run = 0;
	while (k->off + k->run < size && k->run < COPY_PIECE &&
	       want(k, (uint32_t)((k->off + k->run) >> CS_TRACK_SHIFT)))
		k->run += TRACK;
	ref.chunk_id = k->chunk_id;
	ref.version = k->version;
	ref.epoch = k->epoch;
	rq.ref = &ref;
	rq.offset = k->off;
	rq.length = k->run;
	rq.local_only = true;
	r = sl_rpc_call(k->src, SL_MSG_CS_READ, &rq.base, NULL, 0, (uint32_t)k->cs->o.rpc_timeout_ms,
			copy_read_done, k);
	if (r)
		copy_finish(k, r);
}

/* ---- TRACKS ---- */

static void copy_tracks_done(struct sl_conn *c, int status, const struct sl_msg *rep, void *arg)
{
	struct copy *k = arg;
	uint32_t n = k->ch->ntracks, t;
	Shoal__CsDigestRep *d;

	if (status == SL_OK)
		status = rep->hdr.status;
	if (status != SL_OK)
		return copy_finish(k, status);
	d = (Shoal__CsDigestRep *)sl_msg_unpack(rep, true);
	if (!d)
		return copy_finish(k, SL_E_PROTO);
	k->src_busy = d->busy_mask;
	if (d->track_shift == CS_TRACK_SHIFT && rep->data_len == (size_t)n * 8) {
		memcpy(k->src_tracks, rep->data, (size_t)n * 8);
	} else {
		/* no tracks from the source: everything is wanted, ours end at our version */
		if (k->resync)
			sl_warn("chunk %016" PRIx64 ": the source sent no track versions: "
				"resync copies every track", k->chunk_id);
		for (t = 0; t < n; t++)
			k->src_tracks[t] = htole64(k->version);
		k->since = 0;
	}
	sl_msg_free(&d->base);
	copy_next(k);
}

static void copy_tracks(struct copy *k)
{
	int r = send_digest(k, true, copy_tracks_done);

	if (r)
		copy_finish(k, r);
}

/* ---- LOCK, FENCE ---- */

static void copy_fence_done(struct sl_conn *c, int status, const struct sl_msg *rep, void *arg)
{
	struct copy *k = arg;

	if (status == SL_OK)
		status = rep->hdr.status;
	if (status != SL_OK)
		return copy_finish(k, status);
	copy_tracks(k);
}

/*
 * Re-replication fence: move the source to the copy's version before the
 * first read, so a write of the old version still in flight towards the
 * source is refused there rather than landing after we read that range.
 */
static void copy_fence(struct copy *k)
{
	Shoal__CsSetVersionReq rq = SHOAL__CS_SET_VERSION_REQ__INIT;
	Shoal__ChunkRef ref = SHOAL__CHUNK_REF__INIT;
	int r;

	ref.chunk_id = k->chunk_id;
	ref.version = k->version;
	ref.epoch = k->epoch;
	rq.ref = &ref;
	rq.chunk_size = k->ch->chunk_size;
	rq.old_version = k->source_version;
	r = sl_rpc_call(k->src, SL_MSG_CS_SET_VERSION, &rq.base, NULL, 0,
			(uint32_t)k->cs->o.rpc_timeout_ms, copy_fence_done, k);
	if (r)
		copy_finish(k, r);
}

static void copy_locked(struct cs_range *r, void *arg)
{
	struct copy *k = arg;

	if (k->ch->failed)
		return copy_finish(k, SL_E_IO);
	if (k->resync && k->ch->version >= k->version)
		return copy_finish(k, SL_E_STALE_VERSION);	/* moved while we waited */
	if (k->source_version && k->source_version != k->version)
		return copy_fence(k);
	copy_tracks(k);
}

void cs_copy_from_peer(struct chunkserver *cs, const Shoal__CsCopyFromPeerReq *req,
		       void (*done)(void *arg, int status, uint64_t bytes), void *arg)
{
	struct cs_chunk *ch;
	struct copy *k;
	bool resync = false;
	int r;

	if (!req->ref || !req->source || !req->source->addr || !req->source->addr[0] ||
	    req->ref->chunk_id == 0 || req->ref->version == 0)
		return done(arg, SL_E_INVAL, 0);
	ch = cs_disks_find(&cs->disks, req->ref->chunk_id);
	if (ch && ch->version == req->ref->version)
		return done(arg, SL_OK, 0);
	if (ch && req->only_dirty && !ch->failed && ch->version > 0 &&
	    ch->version < req->ref->version && ch->chunk_size == req->chunk_size) {
		resync = true;
	} else if (ch) {
		/* nothing here to build on: start over with a whole copy */
		sl_info("chunk %016" PRIx64 ": replacing the replica at version %" PRIu64 " with a whole copy%s",
			ch->id, ch->version, req->only_dirty ? " (it cannot be resynced)" : "");
		r = cs_delete_chunk(cs, ch->id, 0);
		if (r)
			return done(arg, r, 0);
		ch = NULL;
	}
	if (!ch) {
		/* version 0 until the copy is complete: never mistaken for current */
		r = cs_disks_create(&cs->disks, req->ref->chunk_id, req->chunk_size, 0, 0, &ch);
		if (r)
			return done(arg, r, 0);
	}
	k = calloc(1, sizeof(*k));
	if (!k || posix_memalign((void **)&k->buf, CS_BLOCK, COPY_PIECE) ||
	    !(k->src_tracks = calloc(ch->ntracks, sizeof(*k->src_tracks)))) {
		if (k)
			free(k->buf);
		free(k);
		if (!resync && cs_delete_chunk(cs, ch->id, 0))
			sl_warn("chunk %016" PRIx64 ": cannot remove the incomplete copy", ch->id);
		return done(arg, SL_E_INTERNAL, 0);
	}
	k->cs = cs;
	k->ch = ch;
	k->chunk_id = ch->id;
	k->version = req->ref->version;
	k->epoch = req->ref->epoch;
	k->source_version = req->source_version;
	k->resync = resync;
	if (resync) {
		k->since = req->since_version && req->since_version < ch->version ? req->since_version
										   : ch->version;
		/* a stale replica is no one's primary */
		cs_primary_drop(cs, ch);
		sl_info("chunk %016" PRIx64 ": resyncing from version %" PRIu64 " to %" PRIu64
			" (tracks modified since %" PRIu64 ")", ch->id, ch->version, k->version, k->since);
	}
	k->done = done;
	k->arg = arg;
	ch->ops_in_flight++;
	k->src = cs_peer_conn(cs, req->source->addr);
	if (!k->src)
		return copy_finish(k, SL_E_INVAL);
	k->locked = true;
	cs_range_lock(&ch->lock, &k->rl, 0, ch->chunk_size, copy_locked, k);
}

/*
 * Deleting a replica, the other end of a move (the master's order, a
 * CS_DELETE, or a copy that failed here): never while it is busy.
 */
int cs_delete_chunk(struct chunkserver *cs, uint64_t chunk_id, uint64_t max_version)
{
	struct cs_chunk *ch = cs_disks_find(&cs->disks, chunk_id);

	if (!ch)
		return SL_E_NOENT;
	if (max_version && ch->version > max_version)
		return SL_E_STALE_VERSION;
	if (!cs_chunk_idle(ch) || !cs_range_lock_idle(&ch->lock))
		return SL_E_BUSY;
	cs_primary_drop(cs, ch);
	sl_info("chunk %016" PRIx64 ": deleting replica at version %" PRIu64, ch->id, ch->version);
	return cs_disks_delete(&cs->disks, ch);
}
