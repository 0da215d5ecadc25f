/*
 * Replica reconciliation: the primary makes every secondary's copy of a
 * chunk equal to its own, region by region (64 regions per chunk, as the
 * dirty-region bits).
 *
 * Why: a crash tears writes that were in flight (never acknowledged), and
 * each replica recovers its dirty regions from whatever reached its disk, so
 * replicas may differ there; a primary that crashed mid-forward leaves some
 * secondaries with the write and some without.  Either content is allowed
 * (nothing acknowledged is involved), but replicas must agree, or a read
 * after the next failover could go back in time.  The primary runs this
 * when it activates a new lease (after CS_SET_VERSION moved every replica,
 * so no write of an older lease can land any more), and the scrubber runs
 * it for chunks it holds a live lease on.
 *
 * Steps (one struct recon, on the loop thread):
 *
 *   DIGEST_ALL  CS_DIGEST(all regions) to every secondary; a region whose
 *               digest differs from ours, or that is busy on either side
 *               (its digest means nothing then), is a candidate for that
 *               secondary
 *   per candidate region, in order:
 *     LOCK      our range lock over the region (writes through us wait)
 *     RECHECK   CS_DIGEST(region) again to the candidates: only a copy
 *               still different under the lock is a target; one still
 *               busy there is asked again (UNLOCK, 20 ms, LOCK) up to
 *               RECON_BUSY_TRIES times, then counts as failed: a busy
 *               region is never skipped for good
 *     PUSH      read the region locally (checksums verified) in 1 MiB
 *               pieces and send each as a forwarded WRITE to the targets
 *     UNLOCK
 *   DONE        done(arg, mask of secondaries that failed a call)
 *
 * Invariant: a region is pushed only under our range lock at the chunk's
 * current version, so it carries our latest content and no write of ours
 * can interleave; a secondary applies it under its own range lock.
 * A region we cannot read (local checksum error) is left alone: the read
 * path or the scrubber repairs our copy first.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "chunkserver.h"
#include "integrity.h"
#include "crc32c.h"
#include "log.h"
#include "msg_types.h"
#include "status.h"

#define PIECE (1u << 20)
#define RECON_BUSY_TRIES	50
#define RECON_BUSY_WAIT_MS	20

struct recon {
	struct chunkserver *cs;
	uint64_t chunk_id, version, epoch;
	unsigned int n;
	char *addr[CS_MAX_REPLICAS];
	uint64_t diff[CS_MAX_REPLICAS];
	uint64_t failed;		/* bit i: secondary i failed a call */
	uint64_t targets;		/* bit i: push the current region to i */
	uint64_t busy;			/* bit i: the current region is busy on i: ask again */
	unsigned int busy_tries;	/* for the current region */
	struct sl_timer timer;
	unsigned int region;
	int pending;
	bool locked;
	struct cs_range rl;
	struct cs_rop rop;
	uint64_t piece_off, region_end;
	unsigned int pushed;
	void (*done)(void *arg, uint64_t failed);
	void *arg;
};

struct recall {
	struct recon *k;
	unsigned int i;
};

static void next_region(struct recon *k);
static void push_piece(struct recon *k);
static void push_put(struct recon *k);

uint32_t cs_region_digest(const struct cs_chunk *ch, unsigned int r)
{
	uint64_t start = (uint64_t)r << ch->region_shift, len = 1ull << ch->region_shift;

	if (start >= ch->chunk_size)
		return 0;
	if (len > ch->chunk_size - start)
		len = ch->chunk_size - start;
	return sl_crc32c(&ch->crc[start >> CS_BLOCK_SHIFT], (size_t)(len >> CS_BLOCK_SHIFT) * 4) | 1;
}

static uint64_t busy_mask(const struct cs_chunk *ch)
{
	uint64_t m = 0;
	unsigned int i;

	for (i = 0; i < CS_REGIONS; i++)
		if (ch->region_busy[i])
			m |= 1ull << i;
	return m;
}

/* The chunk as it must still be, or NULL (deleted, or the version moved). */
static struct cs_chunk *chunk(struct recon *k)
{
	struct cs_chunk *ch = cs_disks_find(&k->cs->disks, k->chunk_id);

	return ch && !ch->failed && ch->version == k->version ? ch : NULL;
}

static void finish(struct recon *k)
{
	unsigned int i;

	if (k->pushed)
		sl_warn("chunk %016" PRIx64 ": reconciled %u region(s) onto secondaries", k->chunk_id,
			k->pushed);
	k->done(k->arg, k->failed);
	for (i = 0; i < k->n; i++)
		free(k->addr[i]);
	free(k);
}

static void unlock(struct recon *k)
{
	struct cs_chunk *ch = cs_disks_find(&k->cs->disks, k->chunk_id);

	if (k->locked && ch)
		cs_range_unlock(&ch->lock, &k->rl);
	k->locked = false;
}

static int send_digest(struct recon *k, unsigned int i, uint64_t mask,
		       void (*cb)(struct sl_conn *, int, const struct sl_msg *, void *))
{
	Shoal__CsDigestReq rq = SHOAL__CS_DIGEST_REQ__INIT;
	Shoal__ChunkRef ref = SHOAL__CHUNK_REF__INIT;
	struct sl_conn *c = cs_peer_conn(k->cs, k->addr[i]);
	struct recall *x = malloc(sizeof(*x));

	ref.chunk_id = k->chunk_id;
	ref.version = k->version;
	ref.epoch = k->epoch;
	rq.ref = &ref;
	rq.region_mask = mask;
	if (!c || !x) {
		free(x);
		return -1;
	}
	x->k = k;
	x->i = i;
	if (sl_rpc_call(c, SL_MSG_CS_DIGEST, &rq.base, NULL, 0, (uint32_t)k->cs->o.rpc_timeout_ms, cb, x)) {
		free(x);
		return -1;
	}
	k->pending++;
	return 0;
}

/*
 * Regions of mask where the reply differs from ours, busy on neither side;
 * *busy: those busy on either side (their digests mean nothing); with busy
 * NULL, the candidates instead: differing or busy (cs_recon_candidates).
 * ~0 when the reply does not decode.
 */
static uint64_t compare(struct recon *k, struct cs_chunk *ch, const struct sl_msg *rep, uint64_t mask,
			uint64_t *busy)
{
	Shoal__CsDigestRep *d;
	uint64_t m = 0;
	unsigned int r;

	d = (Shoal__CsDigestRep *)sl_msg_unpack(rep, true);
	if (!d)
		return ~0ull;
	if (d->n_digest != CS_REGIONS || d->region_shift != ch->region_shift) {
		sl_msg_free(&d->base);
		return ~0ull;
	}
	{
		uint32_t ours[CS_REGIONS];

		for (r = 0; r < CS_REGIONS; r++)
			ours[r] = (mask & (1ull << r)) ? cs_region_digest(ch, r) : 0;
		if (busy)
			m = cs_regions_differ(ours, d->digest, mask, d->busy_mask | busy_mask(ch), busy);
		else
			m = cs_recon_candidates(ours, d->digest, mask, d->busy_mask | busy_mask(ch));
	}
	sl_msg_free(&d->base);
	return m;
}

static void all_done(struct sl_conn *c, int status, const struct sl_msg *rep, void *arg)
{
	struct recall *x = arg;
	struct recon *k = x->k;
	struct cs_chunk *ch = chunk(k);
	unsigned int i = x->i;

	free(x);
	if (status == SL_OK)
		status = rep->hdr.status;
	if (status != SL_OK || !ch) {
		if (ch)
			k->failed |= 1ull << i;
	} else {
		/* a busy region is a candidate too: checked again under our lock */
		k->diff[i] = compare(k, ch, rep, ~0ull, NULL);
		if (k->diff[i] == ~0ull) {
			k->diff[i] = 0;
			k->failed |= 1ull << i;
		}
	}
	if (--k->pending)
		return;
	k->region = 0;
	next_region(k);
}

static void relock(struct sl_timer *t, void *arg)
{
	struct recon *k = arg;

	next_region(k);		/* the same region: k->region did not move */
}

static void recheck_put(struct recon *k)
{
	struct cs_chunk *ch = chunk(k);
	unsigned int i;

	if (--k->pending)
		return;
	if (ch && k->busy) {
		if (++k->busy_tries < RECON_BUSY_TRIES) {
			/* let the write that holds it there end, then ask again */
			unlock(k);
			sl_timer_arm(k->cs->loop, &k->timer, RECON_BUSY_WAIT_MS);
			return;
		}
		for (i = 0; i < k->n; i++)
			if (k->busy & (1ull << i)) {
				sl_warn("chunk %016" PRIx64 ": region %u stays busy on %s: reconcile fails it",
					k->chunk_id, k->region, k->addr[i]);
				k->failed |= 1ull << i;
			}
	}
	k->busy_tries = 0;
	if (!ch || !k->targets) {
		unlock(k);
		k->region++;
		return next_region(k);
	}
	k->piece_off = (uint64_t)k->region << ch->region_shift;
	k->region_end = k->piece_off + (1ull << ch->region_shift);
	if (k->region_end > ch->chunk_size)
		k->region_end = ch->chunk_size;
	push_piece(k);
}

static void recheck_done(struct sl_conn *c, int status, const struct sl_msg *rep, void *arg)
{
	struct recall *x = arg;
	struct recon *k = x->k;
	struct cs_chunk *ch = chunk(k);
	unsigned int i = x->i;
	uint64_t bit = 1ull << k->region;

	free(x);
	if (status == SL_OK)
		status = rep->hdr.status;
	if (status != SL_OK) {
		k->failed |= 1ull << i;
	} else if (ch) {
		uint64_t busy = 0, m = compare(k, ch, rep, bit, &busy);

		if (m == ~0ull)
			k->failed |= 1ull << i;
		else if (busy & bit)
			k->busy |= 1ull << i;
		else if (m & bit)
			k->targets |= 1ull << i;
	}
	recheck_put(k);
}

static void locked(struct cs_range *rl, void *arg)
{
	struct recon *k = arg;
	unsigned int i;

	k->locked = true;
	k->targets = 0;
	k->busy = 0;
	k->pending = 1;
	for (i = 0; i < k->n; i++)
		if (!(k->failed & (1ull << i)) && (k->diff[i] & (1ull << k->region)) &&
		    send_digest(k, i, 1ull << k->region, recheck_done))
			k->failed |= 1ull << i;
	recheck_put(k);
}

static void next_region(struct recon *k)
{
	struct cs_chunk *ch = chunk(k);
	unsigned int i;

	for (; ch && k->region < CS_REGIONS; k->region++) {
		uint64_t any = 0;

		for (i = 0; i < k->n; i++)
			if (!(k->failed & (1ull << i)))
				any |= k->diff[i];
		if (!(any & (1ull << k->region)))
			continue;
		{
			uint64_t a = (uint64_t)k->region << ch->region_shift;
			uint64_t e = a + (1ull << ch->region_shift);

			cs_range_lock(&ch->lock, &k->rl, a, e > ch->chunk_size ? ch->chunk_size : e, locked, k);
		}
		return;
	}
	finish(k);
}

static void push_put(struct recon *k)
{
	if (--k->pending)
		return;
	k->piece_off += k->rop.len;
	cs_rop_release(&k->rop);
	if (k->piece_off < k->region_end && chunk(k))
		return push_piece(k);
	k->pushed++;
	k->cs->st.reconciled_regions++;
	unlock(k);
	k->region++;
	next_region(k);
}

static void push_write_done(struct sl_conn *c, int status, const struct sl_msg *rep, void *arg)
{
	struct recall *x = arg;
	struct recon *k = x->k;

	if (status == SL_OK)
		status = rep->hdr.status;
	if (status != SL_OK) {
		sl_warn("chunk %016" PRIx64 ": reconcile write to %s: %s", k->chunk_id,
			k->addr[x->i], sl_status_str(status));
		k->failed |= 1ull << x->i;
	}
	free(x);
	push_put(k);
}

static void piece_read(struct cs_rop *op, int status)
{
	struct recon *k = op->arg;
	Shoal__CsWriteReq rq = SHOAL__CS_WRITE_REQ__INIT;
	Shoal__ChunkRef ref = SHOAL__CHUNK_REF__INIT;
	unsigned int i;

	k->cs->load--;
	if (status != SL_OK) {
		sl_warn("chunk %016" PRIx64 ": reconcile: our copy of %" PRIu64 "+%u unreadable (%s); left alone",
			k->chunk_id, op->off, op->len, sl_status_str(status));
		cs_rop_release(op);
		unlock(k);
		k->region++;
		return next_region(k);
	}
	ref.chunk_id = k->chunk_id;
	ref.version = k->version;
	ref.epoch = k->epoch;
	rq.ref = &ref;
	rq.kind = SHOAL__WRITE_KIND__WRITE;
	rq.offset = op->off;
	rq.length = op->len;
	rq.forwarded = true;
	k->pending = 1;
	for (i = 0; i < k->n; i++) {
		struct sl_conn *c;
		struct recall *x;

		if (!(k->targets & (1ull << i)) || (k->failed & (1ull << i)))
			continue;
		c = cs_peer_conn(k->cs, k->addr[i]);
		x = malloc(sizeof(*x));
		if (!c || !x) {
			free(x);
			k->failed |= 1ull << i;
			continue;
		}
		x->k = k;
		x->i = i;
		k->pending++;
		if (sl_rpc_call(c, SL_MSG_CS_WRITE, &rq.base, op->data, op->len,
				(uint32_t)k->cs->o.rpc_timeout_ms, push_write_done, x)) {
			k->pending--;
			free(x);
			k->failed |= 1ull << i;
		}
	}
	push_put(k);
}

static void push_piece(struct recon *k)
{
	struct cs_chunk *ch = chunk(k);
	uint64_t len = k->region_end - k->piece_off;

	if (!ch) {
		unlock(k);
		return finish(k);
	}
	k->rop = (struct cs_rop){ .ch = ch, .off = k->piece_off, .len = (uint32_t)(len > PIECE ? PIECE : len),
				  .done = piece_read, .arg = k };
	k->cs->load++;
	cs_chunk_read(&k->rop);
}

void cs_reconcile(struct chunkserver *cs, struct cs_chunk *ch, unsigned int n, char *const *addrs,
		  void (*done)(void *arg, uint64_t failed), void *arg)
{
	struct recon *k = calloc(1, sizeof(*k));
	unsigned int i;

	if (!k || n > CS_MAX_REPLICAS) {
		free(k);
		return done(arg, 0);
	}
	k->cs = cs;
	k->chunk_id = ch->id;
	k->version = ch->version;
	k->epoch = ch->epoch;
	k->done = done;
	k->arg = arg;
	sl_timer_init(&k->timer, relock, k);
	for (i = 0; i < n; i++) {
		k->addr[i] = strdup(addrs[i]);
		if (!k->addr[i])
			k->failed |= 1ull << i;
	}
	k->n = n;
	k->pending = 1;
	for (i = 0; i < n; i++)
		if (!(k->failed & (1ull << i)) && send_digest(k, i, ~0ull, all_done))
			k->failed |= 1ull << i;
	k->pending--;
	if (k->pending)
		return;
	k->region = 0;
	next_region(k);
}

void cs_handle_digest(struct chunkserver *cs, struct sl_conn *c, const struct sl_msg *m,
		      const Shoal__CsDigestReq *req)
{
	Shoal__CsDigestRep rep = SHOAL__CS_DIGEST_REP__INIT;
	uint32_t dig[CS_REGIONS];
	struct cs_chunk *ch;
	unsigned int r;
	int st;

	if (!req->ref)
		return (void)sl_rpc_reply(c, m->hdr.req_id, m->hdr.type, SL_E_INVAL, NULL, NULL, 0);
	ch = cs_disks_find(&cs->disks, req->ref->chunk_id);
	st = !ch ? SL_E_NOENT : ch->failed ? SL_E_IO : cs_chunk_check_version(ch, req->ref->version);
	if (st != SL_OK)
		return (void)sl_rpc_reply(c, m->hdr.req_id, m->hdr.type, st, NULL, NULL, 0);
	for (r = 0; r < CS_REGIONS; r++)
		dig[r] = (req->region_mask & (1ull << r)) ? cs_region_digest(ch, r) : 0;
	rep.region_shift = ch->region_shift;
	rep.n_digest = CS_REGIONS;
	rep.digest = dig;
	rep.busy_mask = busy_mask(ch);
	if (req->tracks)
		rep.track_shift = CS_TRACK_SHIFT;
	sl_rpc_reply(c, m->hdr.req_id, m->hdr.type, SL_OK, &rep.base, req->tracks ? ch->track : NULL,
		     req->tracks ? (size_t)ch->ntracks * 8 : 0);
}
