/*
 * Asynchronous reads and writes of a replica (layout and invariants in
 * chunk_store.h).
 *
 * A write runs in phases; each phase issues its I/O in parallel and the op
 * moves on when op->pending drops to zero:
 *
 *   PREP   mark the regions busy and touched; if a region's dirty bit is not
 *          yet on disk, set it and wait for the header (cs_psync); read the
 *          edge blocks (or, for COMPARE_AND_WRITE, the whole span) and verify
 *          their CRCs
 *   APPLY  compare (CAW), patch the new bytes in, compute the CRCs, update the
 *          in-memory CRC array and raise the tracks to the chunk's version
 *          (their pages are marked for lazy write-back), then write the data
 *          (RWF_DSYNC; UNMAP punches the block-aligned interior)
 *   DONE   unbusy the regions (their bits are cleared lazily), done()
 *
 * cs_psync is a group commit per 4 KiB page of the .meta file: changes bump
 * gen; one write is in flight at a time and carries the page as it was when
 * submitted; a waiter is released when a write carrying its gen is durable,
 * and the page is written again while gen > submitted.  So concurrent
 * writes into one CRC page share flushes and never overwrite each other's
 * entries with stale content.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include "chunk_meta.h"
#include "chunk_store.h"
#include "crc32c.h"
#include "evloop.h"
#include "log.h"
#include "status.h"

enum { PH_PREP, PH_APPLY, PH_DONE };

uint64_t cs_regions_differ(const uint32_t *ours, const uint32_t *theirs, uint64_t mask,
			   uint64_t busy_either, uint64_t *busy)
{
	uint64_t m = 0;
	unsigned int r;

	*busy = mask & busy_either;
	mask &= ~*busy;
	for (r = 0; r < CS_REGIONS; r++)
		if ((mask & (1ull << r)) && ours[r] != theirs[r])
			m |= 1ull << r;
	return m;
}

uint64_t cs_recon_candidates(const uint32_t *ours, const uint32_t *theirs, uint64_t mask,
			     uint64_t busy_either)
{
	uint64_t busy, m = cs_regions_differ(ours, theirs, mask, busy_either, &busy);

	return m | busy;
}

static void report_io_error(struct cs_chunk *ch, long res)
{
	if (res == -ENOSPC || res == -EDQUOT || res == -EINVAL)
		return;
	if (ch->env->io_error)
		ch->env->io_error(ch->env->arg, ch, (int)res);
}

/* ---- page durability (group commit) ---- */

static void psync_submit(struct cs_psync *ps);
static void psync_submit_or_hold(struct cs_psync *ps);

static void psync_done(struct cs_aio_req *r, long res)
{
	struct cs_psync *ps = r->arg;
	struct cs_pwait *w, *n;
	/*
	 * What this write made durable.  A waiter's callback may submit the
	 * next write of the page (a finished op rechecks the device flush),
	 * which moves ps->submitted on: later waiters must still be compared
	 * with what completed, not with what was just submitted.
	 */
	uint64_t done = ps->submitted;
	int err = 0;

	ps->inflight = false;
	if (ps->page >= 0)
		ps->ch->meta_inflight--;
	if (res != (ps->page < 0 && ps->page != CS_PS_HDR ? 0 : CS_BLOCK)) {
		err = res < 0 ? (int)res : -EIO;
		if (ps->page == CS_PS_DISK) {
			struct cs_disk_flush *df = container_of(ps, struct cs_disk_flush, ps);

			sl_err("device flush failed: %s", strerror(-err));
			if (df->failed)
				df->failed(df, err);
		} else {
			sl_err("chunk %016" PRIx64 ": meta page %d write failed: %s", ps->ch->id,
			       ps->page, strerror(-err));
			report_io_error(ps->ch, err);
		}
	} else {
		ps->durable = done;
	}
	/* on error every waiter fails: each relied on this page */
	list_for_each_entry_safe(w, n, &ps->waiters, link) {
		if (!err && w->gen > done)
			continue;
		list_del_init(&w->link);
		w->cb(w, err);
	}
	if (ps->gen > ps->durable && !ps->inflight && !err)
		psync_submit_or_hold(ps);
}

static void psync_submit(struct cs_psync *ps)
{
	struct cs_chunk *ch = ps->ch;
	off_t off;

	ps->inflight = true;
	ps->submitted = ps->gen;
	ps->req.done = psync_done;
	ps->req.arg = ps;
	if (ps->page == CS_PS_DISK) {
		struct cs_disk_flush *df = container_of(ps, struct cs_disk_flush, ps);

		cs_aio_fdsync(df->aio, &ps->req, df->fd);
		return;
	}
	if (ps->page == CS_PS_DATA) {
		cs_aio_fdsync(ch->env->aio, &ps->req, ch->data_fd);
		return;
	}
	if (ps->page == CS_PS_HDR) {
		ch->hdr_seq++;
		cs_meta_encode(ch, ch->hdr_seq, ps->buf);
		off = (off_t)(ch->hdr_seq & 1) * CS_BLOCK;
	} else {
		memcpy(ps->buf, (uint8_t *)ch->crc + (size_t)ps->page * CS_BLOCK, CS_BLOCK);
		off = CS_META_HDR_LEN + (off_t)ps->page * CS_BLOCK;
		ch->meta_inflight++;
	}
	ps->req.done = psync_done;
	ps->req.arg = ps;
	cs_aio_pwrite(ch->env->aio, &ps->req, ch->meta_fd, ps->buf, CS_BLOCK, off, RWF_DSYNC);
}

/*
 * A device flush is held back while writes to the disk are still on their
 * way to it (df->writers counts every write in flight on the disk; those
 * that joined wait in ps->waiters), so one flush covers them all instead of
 * one flush going out per completion.  The hold ends when every write in
 * flight has joined, or CS_FLUSH_HOLD_US after it began, checked at every
 * join and every write's end: a write that has not joined yet always ends
 * in one or the other (it never waits on this flush), so a hold always
 * ends.  Other pages are written at once.
 */
#define CS_FLUSH_HOLD_US	500

static void psync_submit_or_hold(struct cs_psync *ps)
{
	struct cs_disk_flush *df;
	struct cs_pwait *w;
	unsigned int joined = 0;
	uint64_t now;

	if (ps->page != CS_PS_DISK) {
		psync_submit(ps);
		return;
	}
	df = container_of(ps, struct cs_disk_flush, ps);
	list_for_each_entry(w, &ps->waiters, link)
		joined++;
	now = sl_now_us();
	if (!df->hold_since_us)
		df->hold_since_us = now;
	if (joined < df->writers && now - df->hold_since_us < CS_FLUSH_HOLD_US)
		return;
	df->hold_since_us = 0;
	psync_submit(ps);
}

/* A write on the disk ended: a held flush may be due. */
static void disk_flush_recheck(struct cs_disk_flush *df)
{
	if (!df->ps.inflight && df->ps.gen > df->ps.durable)
		psync_submit_or_hold(&df->ps);
}

/* The caller changed the page (gen already bumped): w waits for it to be durable. */
static void psync_wait(struct cs_psync *ps, struct cs_pwait *w)
{
	w->gen = ps->gen;
	INIT_LIST_HEAD(&w->link);
	list_add_tail(&w->link, &ps->waiters);
	if (!ps->inflight)
		psync_submit_or_hold(ps);
}

static void psync_kick(struct cs_psync *ps)
{
	if (!ps->inflight && ps->gen > ps->durable)
		psync_submit(ps);
}

/* ---- writes ---- */

static void wop_step(struct cs_wop *op);

static void wop_fail(struct cs_wop *op, int status)
{
	if (op->status == SL_OK)
		op->status = status;
}

static void wop_put(struct cs_wop *op)
{
	if (--op->pending == 0)
		wop_step(op);
}

static void wop_pwait_done(struct cs_pwait *w, int err);

static void wop_io_done(struct cs_aio_req *r, long res)
{
	struct cs_wop *op = r->arg;
	size_t want = r->iocb.u.c.nbytes;

	if (res < 0 || (size_t)res != want) {
		long e = res < 0 ? res : -EIO;

		sl_err("chunk %016" PRIx64 ": %s at %lld: %s", op->ch->id,
		       r->iocb.aio_lio_opcode == IO_CMD_PREAD ? "read" : "write",
		       r->iocb.u.c.offset, strerror((int)-e));
		report_io_error(op->ch, e);
		wop_fail(op, cs_errno_status((int)e));
	} else if (r->iocb.aio_lio_opcode == IO_CMD_PWRITE && op->sync) {
		/* written, not yet durable: join the next flush of the file or device */
		struct cs_pwait *w = &op->data_w[r - op->rq];

		w->cb = wop_pwait_done;
		w->arg = op;
		op->pending++;
		op->sync->gen++;
		psync_wait(op->sync, w);
	}
	wop_put(op);
}

static void wop_pwait_done(struct cs_pwait *w, int err)
{
	struct cs_wop *op = w->arg;

	if (err)
		wop_fail(op, cs_errno_status(err));
	wop_put(op);
}

/* UNMAP: the hole is punched; its blocks read as zeros, durably once the fdsync is back. */
static void wop_punch_synced(struct cs_aio_req *r, long res)
{
	struct cs_wop *op = r->arg;

	if (res < 0) {
		report_io_error(op->ch, res);
		wop_fail(op, SL_E_IO);
	}
	wop_put(op);
}

static void wop_punch_done(struct cs_aio_req *r, long res)
{
	struct cs_wop *op = r->arg;
	struct cs_chunk *ch = op->ch;
	uint64_t ia = (uint64_t)r->punch_off, ie = ia + (uint64_t)r->punch_len, b;
	uint32_t pg;

	if (res < 0) {
		report_io_error(ch, res);
		wop_fail(op, cs_errno_status((int)res));
		wop_put(op);
		return;
	}
	/* the region stays busy until the op ends: no CRC page is written back before this */
	for (b = ia; b < ie; b += CS_BLOCK)
		ch->crc[b >> CS_BLOCK_SHIFT] = 0;
	for (pg = (uint32_t)((ia >> CS_BLOCK_SHIFT) * 4 / CS_BLOCK);
	     pg <= (uint32_t)(((ie - 1) >> CS_BLOCK_SHIFT) * 4 / CS_BLOCK); pg++)
		ch->crc_sync[pg].gen++;
	r->done = wop_punch_synced;
	cs_aio_fdsync(ch->env->aio, r, ch->data_fd);
}

static uint64_t region_mask(const struct cs_chunk *ch, uint64_t a, uint64_t e)
{
	unsigned int r0 = a >> ch->region_shift, r1 = (e - 1) >> ch->region_shift;
	uint64_t m = 0;

	for (; r0 <= r1 && r0 < CS_REGIONS; r0++)
		m |= 1ull << r0;
	return m;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static void read_block(struct cs_wop *op, int slot, uint64_t blk_off, uint8_t *into)
{
	struct cs_aio_req *r = &op->rq[slot];

	r->done = wop_io_done;
	r->arg = op;
	op->pending++;
	cs_aio_pread(op->ch->env->aio, r, op->ch->data_fd, into, CS_BLOCK, (off_t)blk_off);
}

static void write_span(struct cs_wop *op, int slot, uint64_t off, uint64_t len)
{
	struct cs_aio_req *r = &op->rq[slot];

	r->done = wop_io_done;
	r->arg = op;
	op->pending++;
	cs_aio_pwrite(op->ch->env->aio, r, op->ch->data_fd, op->abuf + (off - op->a), len,
		      (off_t)off, op->sync ? 0 : RWF_DSYNC);
}

/* UNMAP keeps only the partial edge blocks in abuf: slot 0 = first block, 1 = last. */
static bool unmap_head(const struct cs_wop *op) { return op->off != op->a; }
static bool unmap_tail(const struct cs_wop *op)
{
	return (op->off + op->len) != op->e && !(unmap_head(op) && op->e - op->a == CS_BLOCK);
}

static void wop_prep(struct cs_wop *op)
{
	struct cs_chunk *ch = op->ch;
	uint64_t m = op->regions;
	unsigned int i;

	op->pending = 1;	/* held until every PREP request is issued */
	for (i = 0; i < CS_REGIONS; i++)
		if (m & (1ull << i))
			ch->region_busy[i]++;
	ch->touched |= m;
	/*
	 * Wait also when our bits are set but not yet durable (another write
	 * set them, its header write is in flight): no data write may be
	 * issued before its region's bit is on disk.
	 */
	if ((m & ~ch->dirty) || ch->hdr.gen > ch->hdr.durable) {
		if (m & ~ch->dirty) {
			ch->dirty |= m;
			ch->hdr.gen++;
		}
		op->hdr_w.cb = wop_pwait_done;
		op->hdr_w.arg = op;
		op->pending++;
		psync_wait(&ch->hdr, &op->hdr_w);
	}
	if (op->kind == CS_W_CAW) {
		/* the whole span: it is compared, and the frame bounds its length */
		struct cs_aio_req *rq = &op->rq[0];

		rq->done = wop_io_done;
		rq->arg = op;
		op->pending++;
		cs_aio_pread(ch->env->aio, rq, ch->data_fd, op->abuf, op->e - op->a, (off_t)op->a);
	} else if (op->kind == CS_W_UNMAP) {
		if (unmap_head(op))
			read_block(op, 0, op->a, op->abuf);
		if (unmap_tail(op))
			read_block(op, 1, op->e - CS_BLOCK, op->abuf + CS_BLOCK);
	} else {
		if (op->off != op->a)
			read_block(op, 0, op->a, op->abuf);
		if (op->off + op->len != op->e && (op->e - CS_BLOCK != op->a || op->off == op->a))
			read_block(op, 1, op->e - CS_BLOCK, op->abuf + (op->e - CS_BLOCK - op->a));
	}
	wop_put(op);
}

/* Verifies the CRC of a block read back into abuf during PREP. */
static bool verify_block(struct cs_wop *op, uint64_t blk_off, const uint8_t *p)
{
	struct cs_chunk *ch = op->ch;
	uint32_t b = blk_off >> CS_BLOCK_SHIFT;

	if (cs_crc_entry(p) == ch->crc[b])
		return true;
	ch->checksum_errors++;
	sl_err("chunk %016" PRIx64 ": checksum mismatch in block at %" PRIu64 " (read-modify-write)",
	       ch->id, blk_off);
	return false;
}

/* Every block of [a, e) holds written data (a hole's CRC entry is 0). */
static bool span_allocated(const struct cs_chunk *ch, uint64_t a, uint64_t e)
{
	for (; a < e; a += CS_BLOCK)
		if (!ch->crc[a >> CS_BLOCK_SHIFT])
			return false;
	return true;
}

/*
 * How the data write becomes durable (cs_disk_flush): a device flush
 * shared by the disk's writes, the chunk's fdatasync shared by its own, or
 * RWF_DSYNC when it is alone (one round trip is faster).  Decided before
 * the CRC entries are updated: they tell which blocks are holes.
 */
static struct cs_psync *pick_sync(const struct cs_wop *op)
{
	struct cs_chunk *ch = op->ch;

	if (!ch->env->group_flush)
		return NULL;
	if (ch->disk_flush && ch->disk_flush->writers > 1 && op->kind != CS_W_UNMAP &&
	    span_allocated(ch, op->a, op->e))
		return &ch->disk_flush->ps;
	return ch->ops_in_flight > 1 ? &ch->dsync : NULL;
}

static void wop_apply(struct cs_wop *op)
{
	struct cs_chunk *ch = op->ch;
	uint32_t pg0, pg1, pg, t0, t1, t;
	uint64_t b;

	/* verify what PREP read */
	if (op->kind == CS_W_CAW) {
		const uint8_t *cur;
		uint32_t k;

		for (b = op->a; b < op->e; b += CS_BLOCK)
			if (!verify_block(op, b, op->abuf + (b - op->a)))
				return wop_fail(op, SL_E_CHECKSUM);
		cur = op->abuf + (op->off - op->a);
		if (memcmp(cur, op->data, op->len)) {
			for (k = 0; k < op->len && cur[k] == op->data[k]; k++)
				;
			op->miscompare_off = op->off + k;
			return wop_fail(op, SL_E_MISCOMPARE);
		}
		memcpy(op->abuf + (op->off - op->a), op->data + op->len, op->len);
	} else if (op->kind == CS_W_UNMAP) {
		if (unmap_head(op) && !verify_block(op, op->a, op->abuf))
			return wop_fail(op, SL_E_CHECKSUM);
		if (unmap_tail(op) && !verify_block(op, op->e - CS_BLOCK, op->abuf + CS_BLOCK))
			return wop_fail(op, SL_E_CHECKSUM);
	} else {
		if (op->off != op->a && !verify_block(op, op->a, op->abuf))
			return wop_fail(op, SL_E_CHECKSUM);
		if (op->off + op->len != op->e && (op->e - CS_BLOCK != op->a || op->off == op->a) &&
		    !verify_block(op, op->e - CS_BLOCK, op->abuf + (op->e - CS_BLOCK - op->a)))
			return wop_fail(op, SL_E_CHECKSUM);
		if (op->kind == CS_W_WRITE) {
			memcpy(op->abuf + (op->off - op->a), op->data, op->len);
		} else {
			uint64_t o;

			for (o = 0; o < op->len; o += op->data_len)
				memcpy(op->abuf + (op->off - op->a) + o, op->data, op->data_len);
		}
	}

	op->pending = 1;
	op->sync = pick_sync(op);
	if (op->kind == CS_W_UNMAP) {
		uint64_t ia = cs_block_up(op->off), ie = cs_block_down(op->off + op->len);

		if (unmap_head(op)) {
			uint64_t end = op->off + op->len < op->a + CS_BLOCK ? op->off + op->len : op->a + CS_BLOCK;

			memset(op->abuf + (op->off - op->a), 0, end - op->off);
			ch->crc[op->a >> CS_BLOCK_SHIFT] = cs_crc_entry(op->abuf);
		}
		if (unmap_tail(op)) {
			uint64_t tb = op->e - CS_BLOCK, st = op->off > tb ? op->off : tb;

			memset(op->abuf + CS_BLOCK + (st - tb), 0, op->off + op->len - st);
			ch->crc[tb >> CS_BLOCK_SHIFT] = cs_crc_entry(op->abuf + CS_BLOCK);
		}
		if (ie > ia) {
			/*
			 * The punch and the fdatasync that makes the hole durable
			 * (O_DSYNC covers no punch) may block for long: the punch
			 * runs on aio's helper thread, the sync as an AIO fdsync,
			 * never on the loop (wop_punch_done).
			 */
			struct cs_aio_req *r = &op->rq[2];

			r->done = wop_punch_done;
			r->arg = op;
			op->pending++;
			cs_aio_punch(ch->env->aio, r, ch->data_fd, (off_t)ia, (off_t)(ie - ia));
		}
		/* slot 0 and 1 of abuf are the head and tail block images */
		if (unmap_head(op)) {
			struct cs_aio_req *r = &op->rq[0];

			r->done = wop_io_done;
			r->arg = op;
			op->pending++;
			cs_aio_pwrite(ch->env->aio, r, ch->data_fd, op->abuf, CS_BLOCK, (off_t)op->a,
				      op->sync ? 0 : RWF_DSYNC);
		}
		if (unmap_tail(op)) {
			struct cs_aio_req *r = &op->rq[1];

			r->done = wop_io_done;
			r->arg = op;
			op->pending++;
			cs_aio_pwrite(ch->env->aio, r, ch->data_fd, op->abuf + CS_BLOCK, CS_BLOCK,
				      (off_t)(op->e - CS_BLOCK), op->sync ? 0 : RWF_DSYNC);
		}
	} else {
		for (b = op->a; b < op->e; b += CS_BLOCK)
			ch->crc[b >> CS_BLOCK_SHIFT] = cs_crc_entry(op->abuf + (b - op->a));
		write_span(op, 2, op->a, op->e - op->a);
	}

	/*
	 * The CRC and track pages the span touches are only marked: the
	 * region's durable dirty bit covers them until cs_chunk_clean writes
	 * them back (chunk_store.h).
	 */
	pg0 = (uint32_t)((op->a >> CS_BLOCK_SHIFT) * 4 / CS_BLOCK);
	pg1 = (uint32_t)((((op->e - 1) >> CS_BLOCK_SHIFT)) * 4 / CS_BLOCK);
	for (pg = pg0; pg <= pg1; pg++)
		ch->crc_sync[pg].gen++;
	t0 = (uint32_t)(op->a >> CS_TRACK_SHIFT);
	t1 = (uint32_t)((op->e - 1) >> CS_TRACK_SHIFT);
	for (t = t0; t <= t1; t++) {
		if (le64toh(ch->track[t]) < ch->version) {
			ch->track[t] = htole64(ch->version);
			ch->crc_sync[ch->ncrc_pages + t * 8 / CS_BLOCK].gen++;
		}
	}
	/* the caller (wop_step) drops the hold taken above */
}

static void wop_finish(struct cs_wop *op)
{
	struct cs_chunk *ch = op->ch;
	unsigned int i;

	for (i = 0; i < CS_REGIONS; i++)
		if ((op->regions & (1ull << i)) && ch->region_busy[i])
			ch->region_busy[i]--;
	ch->ops_in_flight--;
	if (ch->disk_flush) {
		ch->disk_flush->writers--;
		disk_flush_recheck(ch->disk_flush);
	}
	free(op->abuf);
	op->abuf = NULL;
	op->done(op, op->status);
}

static void wop_step(struct cs_wop *op)
{
	switch (op->phase) {
	case PH_PREP:
		op->phase = PH_APPLY;
		if (op->status == SL_OK) {
			op->pending = 0;
			wop_apply(op);
			/* apply holds one reference while it issues; drop it here */
			if (op->pending && --op->pending)
				return;
		}
		/* fall through */
	case PH_APPLY:
		op->phase = PH_DONE;
		wop_finish(op);
		return;
	}
}

void cs_chunk_write(struct cs_wop *op)
{
	struct cs_chunk *ch = op->ch;
	uint64_t end = op->off + op->len;
	size_t alen;

	op->status = SL_OK;
	op->phase = PH_PREP;
	op->abuf = NULL;
	op->miscompare_off = 0;
	if (ch->failed) {
		op->done(op, SL_E_IO);
		return;
	}
	if (op->len == 0 || end > ch->chunk_size || end < op->off) {
		op->done(op, SL_E_RANGE);
		return;
	}
	switch (op->kind) {
	case CS_W_WRITE:
		if (op->data_len != op->len)
			return op->done(op, SL_E_INVAL);
		break;
	case CS_W_CAW:
		if (op->data_len != 2ull * op->len)
			return op->done(op, SL_E_INVAL);
		break;
	case CS_W_WRITE_SAME:
		if (op->data_len == 0 || op->data_len > CS_BLOCK || op->len % op->data_len)
			return op->done(op, SL_E_INVAL);
		/* a zero pattern is an UNMAP: thin, and it reads back the same */
		if (all_zero(op->data, op->data_len))
			op->kind = CS_W_UNMAP;
		break;
	case CS_W_UNMAP:
		if (op->data_len != 0)
			return op->done(op, SL_E_INVAL);
		break;
	default:
		return op->done(op, SL_E_INVAL);
	}
	op->a = cs_block_down(op->off);
	op->e = cs_block_up(end);
	op->regions = region_mask(ch, op->a, op->e);
	alen = op->kind == CS_W_UNMAP ? 2 * CS_BLOCK : op->e - op->a;
	if (posix_memalign((void **)&op->abuf, CS_BLOCK, alen))
		return op->done(op, SL_E_INTERNAL);
	ch->ops_in_flight++;
	if (ch->disk_flush)
		ch->disk_flush->writers++;
	op->sync = NULL;
	wop_prep(op);
}

/* The meta pages (CRC, then track) holding entries of region reg. */
static void region_pages(const struct cs_chunk *ch, unsigned int reg, uint32_t *c0, uint32_t *c1,
			 uint32_t *t0, uint32_t *t1)
{
	uint64_t off = (uint64_t)reg << ch->region_shift, end = off + (1ull << ch->region_shift);

	if (off >= ch->chunk_size)
		off = end = ch->chunk_size - 1;	/* no such region: its bit is never set */
	if (end > ch->chunk_size)
		end = ch->chunk_size;
	*c0 = (uint32_t)((off >> CS_BLOCK_SHIFT) * 4 / CS_BLOCK);
	*c1 = (uint32_t)(((end - 1) >> CS_BLOCK_SHIFT) * 4 / CS_BLOCK);
	*t0 = ch->ncrc_pages + (uint32_t)((off >> CS_TRACK_SHIFT) * 8 / CS_BLOCK);
	*t1 = ch->ncrc_pages + (uint32_t)(((end - 1) >> CS_TRACK_SHIFT) * 8 / CS_BLOCK);
}

/* Writes back what is not durable among pages [p0, p1]; true if all are durable. */
static bool pages_durable(struct cs_chunk *ch, uint32_t p0, uint32_t p1)
{
	bool durable = true;
	uint32_t pg;

	for (pg = p0; pg <= p1 && pg < ch->nmeta_pages; pg++) {
		struct cs_psync *ps = &ch->crc_sync[pg];

		if (ps->gen <= ps->durable)
			continue;
		durable = false;
		psync_kick(ps);
	}
	return durable;
}

bool cs_chunk_clean(struct cs_chunk *ch, bool force)
{
	uint64_t idle, clear = 0;
	unsigned int i;

	if (ch->failed)
		return false;
	idle = ch->dirty & (force ? ~0ull : ~ch->touched);
	if (!force)
		ch->touched = 0;	/* a forced pass must not reset the idle interval */
	for (i = 0; i < CS_REGIONS; i++) {
		uint32_t c0, c1, t0, t1;
		bool c_ok, t_ok;

		if (!(idle & (1ull << i)) || ch->region_busy[i])
			continue;
		region_pages(ch, i, &c0, &c1, &t0, &t1);
		c_ok = pages_durable(ch, c0, c1);
		t_ok = pages_durable(ch, t0, t1);
		if (c_ok && t_ok)
			clear |= 1ull << i;
	}
	if (clear) {
		ch->dirty &= ~clear;
		ch->hdr.gen++;
		psync_kick(&ch->hdr);
	}
	return ch->dirty != 0;
}

bool cs_chunk_idle(const struct cs_chunk *ch)
{
	return !ch->ops_in_flight && !ch->meta_inflight && !ch->hdr.inflight && !ch->dsync.inflight;
}

/* ---- tracks ---- */

uint64_t cs_track_get(const struct cs_chunk *ch, uint32_t t)
{
	return t < ch->ntracks ? le64toh(ch->track[t]) : 0;
}

static void top_put(struct cs_top *op)
{
	if (--op->pending)
		return;
	op->ch->ops_in_flight--;
	free(op->w);
	op->w = NULL;
	op->done(op, op->status);
}

static void top_pwait_done(struct cs_pwait *w, int err)
{
	struct cs_top *op = w->arg;

	if (err && op->status == SL_OK)
		op->status = cs_errno_status(err);
	top_put(op);
}

void cs_chunk_merge_tracks(struct cs_top *op)
{
	struct cs_chunk *ch = op->ch;
	uint32_t t, pg;

	op->status = SL_OK;
	op->w = NULL;
	if (ch->failed)
		return op->done(op, SL_E_IO);
	op->w = calloc(ch->ntrack_pages, sizeof(*op->w));
	if (!op->w)
		return op->done(op, SL_E_INTERNAL);
	for (t = 0; t < ch->ntracks; t++) {
		if (le64toh(ch->track[t]) < le64toh(op->src[t])) {
			ch->track[t] = op->src[t];
			ch->crc_sync[ch->ncrc_pages + t * 8 / CS_BLOCK].gen++;
		}
	}
	ch->ops_in_flight++;
	op->pending = 1;
	for (pg = 0; pg < ch->ntrack_pages; pg++) {
		struct cs_psync *ps = &ch->crc_sync[ch->ncrc_pages + pg];

		if (ps->gen <= ps->durable)
			continue;
		op->w[pg].cb = top_pwait_done;
		op->w[pg].arg = op;
		op->pending++;
		psync_wait(ps, &op->w[pg]);
	}
	top_put(op);
}

/* ---- reads ---- */

static void rop_done(struct cs_aio_req *r, long res)
{
	struct cs_rop *op = r->arg;
	struct cs_chunk *ch = op->ch;
	uint64_t b;

	ch->ops_in_flight--;
	if (res < 0 || (uint64_t)res != op->e - op->a) {
		long e = res < 0 ? res : -EIO;

		sl_err("chunk %016" PRIx64 ": read at %" PRIu64 ": %s", ch->id, op->a, strerror((int)-e));
		report_io_error(ch, e);
		op->done(op, cs_errno_status((int)e));
		return;
	}
	op->bad_blocks = 0;
	for (b = op->a; b < op->e; b += CS_BLOCK) {
		if (cs_crc_entry(op->buf + (b - op->a)) == ch->crc[b >> CS_BLOCK_SHIFT])
			continue;
		if (!op->bad_blocks)
			op->bad_off = b;
		op->bad_blocks++;
	}
	if (op->bad_blocks) {
		ch->checksum_errors += op->bad_blocks;
		sl_err("chunk %016" PRIx64 ": checksum mismatch in %u block(s) from %" PRIu64,
		       ch->id, op->bad_blocks, op->bad_off);
		op->done(op, SL_E_CHECKSUM);
		return;
	}
	op->data = op->buf + (op->off - op->a);
	op->done(op, SL_OK);
}

void cs_chunk_read(struct cs_rop *op)
{
	struct cs_chunk *ch = op->ch;
	uint64_t end = op->off + op->len;

	op->buf = NULL;
	op->data = NULL;
	op->bad_blocks = 0;
	op->bad_off = 0;
	if (ch->failed)
		return op->done(op, SL_E_IO);
	if (op->len == 0 || end > ch->chunk_size || end < op->off)
		return op->done(op, SL_E_RANGE);
	op->a = cs_block_down(op->off);
	op->e = cs_block_up(end);
	if (posix_memalign((void **)&op->buf, CS_BLOCK, op->e - op->a))
		return op->done(op, SL_E_INTERNAL);
	op->rq.done = rop_done;
	op->rq.arg = op;
	ch->ops_in_flight++;
	cs_aio_pread(ch->env->aio, &op->rq, ch->data_fd, op->buf, op->e - op->a, (off_t)op->a);
}

void cs_rop_release(struct cs_rop *op)
{
	free(op->buf);
	op->buf = NULL;
	op->data = NULL;
}

/* ---- version ---- */

static void vop_done(struct cs_pwait *w, int err)
{
	struct cs_vop *op = w->arg;

	op->ch->ops_in_flight--;
	op->done(op, err ? cs_errno_status(err) : SL_OK);
}

int cs_chunk_check_version(const struct cs_chunk *ch, uint64_t version)
{
	return version == ch->version ? SL_OK : SL_E_STALE_VERSION;
}

enum cs_setver_verdict cs_set_version_verdict(const struct cs_chunk *ch, uint64_t version,
					      uint64_t epoch)
{
	if (version < ch->version)
		return CS_SV_STALE;
	if (version == ch->version && epoch == ch->epoch)
		return CS_SV_SAME;
	return CS_SV_ADVANCE;
}

void cs_chunk_set_version(struct cs_vop *op)
{
	struct cs_chunk *ch = op->ch;

	if (ch->failed)
		return op->done(op, SL_E_IO);
	if (cs_set_version_verdict(ch, op->version, op->epoch) == CS_SV_STALE)
		return op->done(op, SL_E_STALE_VERSION);
	ch->version = op->version;
	ch->epoch = op->epoch;
	ch->hdr.gen++;
	op->w.cb = vop_done;
	op->w.arg = op;
	ch->ops_in_flight++;
	psync_wait(&ch->hdr, &op->w);
}
