/*
 * bs_shoal.so: tgt backing store that exports a Shoal volume as a LUN.
 *
 *   tgtadm --op new --mode logicalunit --tid T --lun L --bstype shoal \
 *          --backing-store VOLUME --bsopts 'conf=/etc/shoal/shoal.conf;masters=H:P'
 *
 * Threading: everything runs on tgtd's main thread.  The
 * client library is embedded (sl_client_opts.embedded): its event loop is
 * one more descriptor in tgtd's epoll set (gw_client_event runs it), so
 * neither a submission nor a completion crosses threads -- a 4 KiB read at
 * QD1 saves two wake-ups.  bs_cmd_submit marks the command async and
 * submits it; the client's callback queues it on the LU's done list, which
 * gw_answer_done() empties -- the only place target_cmd_io_done() and
 * sense_data_build() run, never from inside the client's loop: right after
 * the client's run that completed it (gw_client_event), or, for a command
 * completed anywhere else, when the LU's eventfd the callback wrote wakes
 * tgtd (gw_complete).  Every command ends by its deadline (the client's
 * per-I/O timer), since tgt has no abort path into a backing store.
 *
 * Command lifecycle:  submit -> sl_io (client loop) [-> next UNMAP
 * descriptor ...] -> done list -> gw_answer_done -> target_cmd_io_done.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

#include "list.h"	/* tgt's, from $(TGT_SRC)/usr */
#include "util.h"
#include "tgtd.h"
#include "scsi.h"
#include "spc.h"
#include "target.h"
#include "tgtadm_error.h"

#include "bs_conf.h"
#include "malloc_tune.h"
#include "bs_ident.h"
#include "bs_sense.h"
#include "bs_gw.h"
#include "bs_reset.h"
#include "bs_fence.h"
/* by path: tgt has a log.h of its own */
#include "../lib/client.h"
#include "../lib/log.h"
#include "../lib/status.h"

#define GW_EXPORT __attribute__((visibility("default")))
#define GW_CAW_MAX_BLOCKS	128	/* VPD B0 MAXIMUM COMPARE AND WRITE LENGTH (tgt core) */
#define GW_UNMAP_MAX_DESC	4096
#define GW_UNMAP_PAR		16	/* UNMAP ranges in flight per command */
/* VPD B0 MAXIMUM UNMAP LBA COUNT: libiscsi calls anything above 1M blocks insane */
#define GW_UNMAP_MAX_LBAS	(1u << 20)

/* Layout of the tgt 1.0.85 headers we were built with, as verified against Debian's tgtd. */
#define TGT_SIZEOF_SCSI_LU	7608
#define TGT_OFF_LU_BST		6336
#define TGT_OFF_LU_ATTRS	6376
#define TGT_OFF_LU_CMD_DONE	7600
#define TGT_SIZEOF_SCSI_CMD	480

struct gw_sense {
	uint8_t key;
	uint16_t asc;			/* (ASC << 8) | ASCQ */
};

struct gw_cmd {
	struct list_head node;
	struct gw_lu *g;
	struct scsi_cmd *cmd;
	uint8_t opcode;
	struct sl_io io;
	int status;			/* final SL_* */
	uint64_t info;			/* MISCOMPARE: byte offset */
	uint8_t *tmp;			/* VERIFY: media copy; WRITE SAME: zero block */
	uint32_t vlen;			/* VERIFY: bytes compared */
	uint64_t (*desc)[2];		/* UNMAP: (offset, length) in bytes, sorted, disjoint */
	uint32_t ndesc;
	/* UNMAP: GW_UNMAP_PAR ranges in flight at a time (gw_unmap_pump) */
	struct sl_io *uio;		/* GW_UNMAP_PAR slots */
	uint32_t ufree;			/* bitmap of idle slots */
	uint32_t next_desc, uinflight;
	int ustatus;
	bool udone;
	bool direct;			/* answered with direct_sense, decided at submit */
	struct gw_sense direct_sense;
	uint64_t fence_epoch;		/* g->fence_epoch when submitted (bs_fence.h DRAINING) */
};

static struct backingstore_template gw_bst;

/* What gw_prepare decided for a command. */
enum gw_prep {
	GW_PREP_SUBMIT,		/* gc->io is filled: sl_volume_submit it */
	GW_PREP_GOOD,		/* nothing to transfer: GOOD at once */
	GW_PREP_UNMAP,		/* gw_unmap_pump issues gc->desc */
	GW_PREP_SENSE,		/* CHECK CONDITION with the sense it set, at once */
};

/* ---- completion: out of the client's loop ---- */

static void gw_queue_done(struct gw_cmd *gc, int status)
{
	struct gw_lu *g = gc->g;

	gc->status = status;
	list_add_tail(&gc->node, &g->done);
	/* inside the client's run, gw_client_event answers it when the run is over */
	if (g->in_run)
		g->done_waiting = true;
	else
		gw_kick(g);
}

static void gw_io_done(struct sl_io *io)
{
	struct gw_cmd *gc = io->arg;

	if (io->status != SL_OK) {
		gc->info = io->miscompare_offset;
		gw_queue_done(gc, io->status);
		return;
	}
	if (gc->opcode == VERIFY_10 || gc->opcode == VERIFY_12 || gc->opcode == VERIFY_16) {
		const uint8_t *want = scsi_get_out_buffer(gc->cmd);
		uint32_t i;

		for (i = 0; i < gc->vlen; i++)
			if (want[i] != gc->tmp[i])
				break;
		gc->info = i;
		gw_queue_done(gc, i < gc->vlen ? SL_E_MISCOMPARE : SL_OK);
		return;
	}
	gw_queue_done(gc, SL_OK);
}

/*
 * UNMAP: keeps up to GW_UNMAP_PAR ranges in flight until every range is
 * issued or one failed, then answers once (udone) when the last one in
 * flight is back.  A range may complete inside sl_volume_submit (a refused
 * one) and so re-enter the pump: the state is read again after each submit.
 *
 * gc is freed once answered, so a completion may touch it only while it
 * counts in uinflight: it keeps its range's count (held = 1) until the pump
 * decides what comes next, and only the call that sees nothing in flight
 * answers (udone).
 */
static void gw_unmap_done(struct sl_io *io);

static void gw_unmap_pump(struct gw_cmd *gc, uint32_t held)
{
	struct gw_lu *g = gc->g;
	struct sl_io *io;
	bool finish;
	uint32_t d;
	int slot, rc;

	for (;;) {
		gc->uinflight -= held;
		held = 0;
		if (gc->ustatus != SL_OK || gc->next_desc >= gc->ndesc || !gc->ufree) {
			finish = !gc->uinflight && !gc->udone &&
				 (gc->ustatus != SL_OK || gc->next_desc >= gc->ndesc);
			if (finish) {
				gc->udone = true;
				gw_queue_done(gc, gc->ustatus);
			}
			return;
		}
		slot = __builtin_ctz(gc->ufree);
		gc->ufree &= ~(1u << slot);
		d = gc->next_desc++;
		gc->uinflight++;

		io = &gc->uio[slot];
		memset(io, 0, sizeof(*io));
		io->op = SL_IO_UNMAP;
		io->offset = gc->desc[d][0];
		io->length = gc->desc[d][1];
		io->deadline_ms = g->conf.deadline_ms;
		io->done = gw_unmap_done;
		io->arg = gc;
		rc = sl_volume_submit(g->vol, io);
		if (rc) {
			io->status = rc;
			gw_unmap_done(io);
			return;
		}
	}
}

static void gw_unmap_done(struct sl_io *io)
{
	struct gw_cmd *gc = io->arg;

	gc->ufree |= 1u << (io - gc->uio);
	if (io->status != SL_OK && gc->ustatus == SL_OK)
		gc->ustatus = io->status;
	gw_unmap_pump(gc, 1);	/* still counted in uinflight: gc cannot be answered yet */
}

static bool gw_is_write(uint8_t op)
{
	switch (op) {
	case WRITE_6: case WRITE_10: case WRITE_12: case WRITE_16:
	case WRITE_VERIFY: case WRITE_VERIFY_12: case WRITE_VERIFY_16:
	case WRITE_SAME: case WRITE_SAME_16: case UNMAP: case COMPARE_AND_WRITE:
	case ORWRITE_16: case SYNCHRONIZE_CACHE: case SYNCHRONIZE_CACHE_16:
		return true;
	default:
		return false;
	}
}

static void gw_cmd_free(struct gw_cmd *gc)
{
	free(gc->tmp);
	free(gc->desc);
	free(gc->uio);
	free(gc);
}

/* Answer one command (never from inside the client's loop). */
static void gw_finish(struct gw_cmd *gc)
{
	struct scsi_cmd *cmd = gc->cmd;
	struct gw_lu *g = gc->g;
	struct bs_sense s;

	bs_sense_from_status(gc->status, gw_is_write(gc->opcode), gc->info, &s);
	if (gc->direct) {
		s.status = BS_SAM_CHECK_CONDITION;
		s.key = gc->direct_sense.key;
		s.asc = gc->direct_sense.asc;
		s.has_info = false;
	}
	/*
	 * sbc_unmap builds a bogus 25/00 sense after every successful submit
	 * (tgt 1.0.85 sbc.c); it ran before this callback, so wipe it here.
	 */
	if (gc->opcode == UNMAP)
		cmd->sense_len = 0;
	if (s.status != BS_SAM_GOOD) {
		g->errors++;
		if (gc->status != SL_E_MISCOMPARE)
			sl_warn("bs_shoal: %s: opcode 0x%02x at %llu: %s -> sense %x/%04x",
				g->conf.volume, gc->opcode, (unsigned long long)cmd->offset,
				sl_status_str(gc->status), s.key, s.asc);
		if (scsi_get_data_dir(cmd) == DATA_READ || scsi_get_data_dir(cmd) == DATA_BIDIRECTIONAL)
			scsi_set_in_resid_by_actual(cmd, 0);
		if (s.has_info)
			sense_data_build_with_info(cmd, s.key, s.asc, s.info);
		else
			sense_data_build(cmd, s.key, s.asc);
		scsi_set_result(cmd, SAM_STAT_CHECK_CONDITION);
	} else {
		scsi_set_result(cmd, SAM_STAT_GOOD);
	}
	g->completed++;
	gw_fence_answered(g, gc->fence_epoch);
	gw_cmd_free(gc);
	target_cmd_io_done(cmd, scsi_get_result(cmd));
}

static void gw_answer_done(struct gw_lu *g)
{
	struct gw_cmd *gc;
	LIST_HEAD(l);

	list_splice_init(&g->done, &l);
	while (!list_empty(&l)) {
		gc = list_first_entry(&l, struct gw_cmd, node);
		list_del(&gc->node);
		gw_finish(gc);
	}
	gw_reset_drain(g);
}

static void gw_complete(int fd, int events, void *data)
{
	uint64_t n;

	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		sl_err("bs_shoal: eventfd read failed: %s", strerror(errno));
	gw_answer_done(data);
	gw_fence_drop(data);
}

/*
 * tgtd's epoll says the embedded client loop has work.  Commands the run
 * completed are answered right after it, outside the client's loop, as
 * gw_complete would: without the eventfd's write, read and extra round
 * of tgtd's epoll on every command.
 */
static void gw_client_event(int fd, int events, void *data)
{
	struct gw_lu *g = data;

	g->in_run = true;
	sl_client_run(g->client);
	g->in_run = false;
	if (g->done_waiting) {
		g->done_waiting = false;
		gw_answer_done(g);
	}
}

/* ---- submission ---- */

static int gw_desc_cmp(const void *a, const void *b)
{
	const uint64_t *x = a, *y = b;

	return x[0] < y[0] ? -1 : x[0] > y[0];
}

/* A command refused at submit: *sense is its answer. */
static enum gw_prep gw_refuse(struct gw_sense *sense, uint8_t key, uint16_t asc)
{
	sense->key = key;
	sense->asc = asc;
	return GW_PREP_SENSE;
}

/*
 * Parses the UNMAP parameter list into gc->desc, sorted and with
 * overlapping or adjacent ranges merged (an initiator that unmaps block by
 * block then costs one round trip per chunk, not one per block).
 * GW_PREP_UNMAP, or GW_PREP_SENSE with *sense set if the list is refused.
 */
static enum gw_prep gw_parse_unmap(struct gw_cmd *gc, struct scsi_lu *lu, struct gw_sense *sense)
{
	struct scsi_cmd *cmd = gc->cmd;
	const uint8_t *p = scsi_get_out_buffer(cmd);
	uint32_t len = scsi_get_out_length(cmd), dlen, i, n, m;
	uint64_t nblocks = lu->size >> lu->blk_shift, total = 0;

	if (len < 8)
		return GW_PREP_UNMAP;	/* no descriptors: nothing to do */
	dlen = get_unaligned_be16(p + 2);
	if (dlen > len - 8)
		dlen = len - 8;
	n = dlen / 16;
	if (n > GW_UNMAP_MAX_DESC)
		return gw_refuse(sense, ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_PARMS);
	gc->desc = calloc(n ? n : 1, sizeof(*gc->desc));
	if (!gc->desc)
		return gw_refuse(sense, HARDWARE_ERROR, ASC_INTERNAL_TGT_FAILURE);
	for (i = 0; i < n; i++) {
		const uint8_t *d = p + 8 + 16 * i;
		uint64_t lba = get_unaligned_be64(d);
		uint32_t cnt = get_unaligned_be32(d + 8);

		if (lba > nblocks || cnt > nblocks - lba)
			return gw_refuse(sense, ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE);
		/* SBC: the sum over all descriptors is bounded by MAXIMUM UNMAP LBA COUNT */
		total += cnt;
		if (total > GW_UNMAP_MAX_LBAS)
			return gw_refuse(sense, ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_PARMS);
		if (!cnt)
			continue;
		gc->desc[gc->ndesc][0] = lba << lu->blk_shift;
		gc->desc[gc->ndesc][1] = (uint64_t)cnt << lu->blk_shift;
		gc->ndesc++;
	}
	if (gc->ndesc < 2)
		return GW_PREP_UNMAP;
	qsort(gc->desc, gc->ndesc, sizeof(*gc->desc), gw_desc_cmp);
	for (m = 0, i = 1; i < gc->ndesc; i++) {
		uint64_t end = gc->desc[m][0] + gc->desc[m][1];

		if (gc->desc[i][0] <= end) {
			if (gc->desc[i][0] + gc->desc[i][1] > end)
				gc->desc[m][1] = gc->desc[i][0] + gc->desc[i][1] - gc->desc[m][0];
		} else {
			gc->desc[++m][0] = gc->desc[i][0];
			gc->desc[m][1] = gc->desc[i][1];
		}
	}
	gc->ndesc = m + 1;
	return GW_PREP_UNMAP;
}

/*
 * The caching mode page's WCE says whether an acknowledged write may sit in
 * a volatile cache until SYNCHRONIZE CACHE.  tgt's default page says yes
 * for every LU; a write-through volume acknowledges a write only when every
 * replica holds it durably, so it reports WCE=0 (initiators then need no
 * flushes); a write-back volume keeps WCE=1.  An initiator may still
 * change it with MODE SELECT on one gateway (tgt allows it); that changes
 * nothing the volume does.
 */
static void gw_set_wce(struct scsi_lu *lu, const struct sl_volume_info *vi)
{
	struct mode_pg *pg = find_mode_page(lu, 0x08, 0);

	if (!pg)
		return;
	if (vi->flags & SL_VOL_F_WRITE_BACK)
		pg->mode_data[0] |= 0x04;
	else
		pg->mode_data[0] &= (uint8_t)~0x04;
}

static bool gw_wce(struct scsi_lu *lu)
{
	struct mode_pg *pg = find_mode_page(lu, 0x08, 0);

	return !pg || (pg->mode_data[0] & 0x04);
}

/* Fills gc->io (or gc->desc) for cmd; *sense is set for GW_PREP_SENSE. */
static enum gw_prep gw_prepare(struct gw_cmd *gc, struct scsi_lu *lu, struct gw_sense *sense)
{
	struct scsi_cmd *cmd = gc->cmd;
	struct sl_io *io = &gc->io;
	uint8_t *scb = cmd->scb;
	uint32_t bs = 1u << lu->blk_shift;

	io->offset = cmd->offset;
	switch (gc->opcode) {
	case READ_6: case READ_10: case READ_12: case READ_16:
		io->op = SL_IO_READ;
		io->length = cmd->tl < scsi_get_in_length(cmd) ? cmd->tl : scsi_get_in_length(cmd);
		io->buf = scsi_get_in_buffer(cmd);
		return io->length ? GW_PREP_SUBMIT : GW_PREP_GOOD;
	case WRITE_6: case WRITE_10: case WRITE_12: case WRITE_16:
	case WRITE_VERIFY: case WRITE_VERIFY_12: case WRITE_VERIFY_16:
		io->op = SL_IO_WRITE;
		io->length = cmd->tl < scsi_get_out_length(cmd) ? cmd->tl : scsi_get_out_length(cmd);
		io->buf = scsi_get_out_buffer(cmd);
		io->fua = (gc->opcode != WRITE_6 && (scb[1] & 0x08)) || !gw_wce(lu) ||
			  gc->opcode == WRITE_VERIFY || gc->opcode == WRITE_VERIFY_12 ||
			  gc->opcode == WRITE_VERIFY_16;
		return io->length ? GW_PREP_SUBMIT : GW_PREP_GOOD;
	case ORWRITE_16:
		/*
		 * Core has checked range, ORPROTECT and read-only.  The client
		 * ORs at the chunk primary through COMPARE AND WRITE, so each
		 * chunk's part is atomic against every other writer.
		 */
		io->op = SL_IO_ORWRITE;
		io->length = cmd->tl < scsi_get_out_length(cmd) ? cmd->tl : scsi_get_out_length(cmd);
		io->buf = scsi_get_out_buffer(cmd);
		io->fua = (scb[1] & 0x08) || !gw_wce(lu);
		return io->length ? GW_PREP_SUBMIT : GW_PREP_GOOD;
	case VERIFY_10: case VERIFY_12: case VERIFY_16:
		/* Core passes only BYTCHK=1 here; 11b (one block for all) is not supported. */
		if (scb[1] & 0x04)
			return gw_refuse(sense, ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
		gc->vlen = scsi_get_out_length(cmd);
		if (!gc->vlen)
			return GW_PREP_GOOD;
		if (cmd->offset + gc->vlen > lu->size)
			return gw_refuse(sense, ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE);
		gc->tmp = malloc(gc->vlen);
		if (!gc->tmp)
			return gw_refuse(sense, HARDWARE_ERROR, ASC_INTERNAL_TGT_FAILURE);
		io->op = SL_IO_READ;
		io->length = gc->vlen;
		io->buf = gc->tmp;
		return GW_PREP_SUBMIT;
	case PRE_FETCH_10: case PRE_FETCH_16:
		return GW_PREP_GOOD;
	case SYNCHRONIZE_CACHE: case SYNCHRONIZE_CACHE_16:
		io->op = SL_IO_FLUSH;
		return GW_PREP_SUBMIT;
	case WRITE_SAME: case WRITE_SAME_16:
		if (scb[1] & 0x06)	/* LBDATA / PBDATA */
			return gw_refuse(sense, ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
		if (!cmd->tl)
			return GW_PREP_GOOD;
		io->length = cmd->tl;
		io->blk_len = bs;
		if (scsi_get_out_length(cmd) == bs) {
			io->buf = scsi_get_out_buffer(cmd);
		} else {
			gc->tmp = calloc(1, bs);
			if (!gc->tmp)
				return gw_refuse(sense, HARDWARE_ERROR, ASC_INTERNAL_TGT_FAILURE);
			io->buf = gc->tmp;
		}
		io->op = SL_IO_WRITE_SAME;
		/*
		 * UNMAP bit (core allows it only on a thin LU): unmap the range
		 * whatever the data block holds, as tgt's bs_rdwr does.  The LU
		 * reports LBPRZ=1, so the range then reads as zeros, which is
		 * what initiators (and libiscsi's WriteSame*.Unmap* tests) expect
		 * after an unmapping WRITE SAME.
		 */
		if (scb[1] & 0x08) {
			io->op = SL_IO_UNMAP;
			io->buf = NULL;
			io->blk_len = 0;
		}
		return GW_PREP_SUBMIT;
	case UNMAP: {
		enum gw_prep r = gw_parse_unmap(gc, lu, sense);
		uint32_t n;

		if (r != GW_PREP_UNMAP)
			return r;
		if (!gc->ndesc)
			return GW_PREP_GOOD;
		n = gc->ndesc < GW_UNMAP_PAR ? gc->ndesc : GW_UNMAP_PAR;
		gc->uio = calloc(n, sizeof(*gc->uio));
		if (!gc->uio)
			return gw_refuse(sense, HARDWARE_ERROR, ASC_INTERNAL_TGT_FAILURE);
		gc->ufree = (1u << n) - 1;
		gc->ustatus = SL_OK;
		return GW_PREP_UNMAP;
	}
	case COMPARE_AND_WRITE:
		/*
		 * Length checks first: NUMBER OF BLOCKS is one byte, so an
		 * initiator asking for 256 blocks sends 0 with 2 x 256 blocks of
		 * data, and only the Data-Out length shows the mismatch.
		 */
		if (scsi_get_out_length(cmd) != 2 * (uint64_t)cmd->tl ||
		    (cmd->tl >> lu->blk_shift) > GW_CAW_MAX_BLOCKS)
			return gw_refuse(sense, ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
		if (!cmd->tl)
			return GW_PREP_GOOD;
		io->op = SL_IO_CAW;
		io->length = cmd->tl;
		io->buf = scsi_get_out_buffer(cmd);
		return GW_PREP_SUBMIT;
	default:
		return gw_refuse(sense, ILLEGAL_REQUEST, ASC_INVALID_OP_CODE);
	}
}

static int gw_submit(struct scsi_cmd *cmd)
{
	struct scsi_lu *lu = cmd->dev;
	struct gw_lu *g = GW(lu);
	struct gw_cmd *gc;
	enum gw_prep r;
	int rc;

	gc = calloc(1, sizeof(*gc));
	if (!gc)
		return ENOMEM;	/* core answers HARDWARE ERROR */
	INIT_LIST_HEAD(&gc->node);
	gc->g = g;
	gc->cmd = cmd;
	gc->opcode = cmd->scb[0];
	gc->io.deadline_ms = g->conf.deadline_ms;
	gc->io.done = gw_io_done;
	gc->io.arg = gc;
	gc->fence_epoch = g->fence_epoch;
	set_cmd_async(cmd);
	g->submitted++;
	if (gw_fence_refuse(g, cmd->cmd_itn_id)) {
		/* bs_fence.h: it may have waited while this gateway was stopped */
		gw_queue_done(gc, SL_E_UNAVAIL);
		return 0;
	}
	r = gw_prepare(gc, lu, &gc->direct_sense);
	switch (r) {
	case GW_PREP_GOOD:
		gw_queue_done(gc, SL_OK);
		break;
	case GW_PREP_UNMAP:
		gw_unmap_pump(gc, 0);
		break;
	case GW_PREP_SENSE:
		gc->direct = true;	/* gw_finish answers exactly this sense */
		gw_queue_done(gc, SL_E_INVAL);
		break;
	case GW_PREP_SUBMIT:
		rc = sl_volume_submit(g->vol, &gc->io);
		if (rc)
			gw_queue_done(gc, rc);
		break;
	}
	return 0;
}

/* ---- LU lifecycle ---- */

/* tgtd is built from the same 1.0.85 headers; refuse to run if the live layout disagrees. */
static bool gw_layout_ok(struct scsi_lu *lu)
{
	bool ok = sizeof(struct scsi_lu) == TGT_SIZEOF_SCSI_LU &&
		  offsetof(struct scsi_lu, bst) == TGT_OFF_LU_BST &&
		  offsetof(struct scsi_lu, attrs) == TGT_OFF_LU_ATTRS &&
		  offsetof(struct scsi_lu, cmd_done) == TGT_OFF_LU_CMD_DONE &&
		  sizeof(struct scsi_cmd) == TGT_SIZEOF_SCSI_CMD &&
		  lu->bst == &gw_bst && lu->cmd_perform == target_cmd_perform &&
		  lu->cmd_done != NULL && lu->attrs.device_type == TYPE_DISK;

	if (ok)
		sl_info("bs_shoal: struct scsi_lu layout check OK (sizeof=%zu, bst@%zu attrs@%zu cmd_done@%zu, scsi_cmd %zu)",
			sizeof(struct scsi_lu), offsetof(struct scsi_lu, bst),
			offsetof(struct scsi_lu, attrs), offsetof(struct scsi_lu, cmd_done),
			sizeof(struct scsi_cmd));
	else
		sl_err("bs_shoal: struct scsi_lu layout check FAILED (sizeof=%zu bst@%zu attrs@%zu cmd_done@%zu scsi_cmd=%zu, bst %s, cmd_perform %s): "
		       "rebuild against the installed tgt's source",
		       sizeof(struct scsi_lu), offsetof(struct scsi_lu, bst),
		       offsetof(struct scsi_lu, attrs), offsetof(struct scsi_lu, cmd_done),
		       sizeof(struct scsi_cmd), lu->bst == &gw_bst ? "ok" : "bad",
		       lu->cmd_perform == target_cmd_perform ? "ok" : "bad");
	return ok;
}

static tgtadm_err gw_init(struct scsi_lu *lu, char *bsopts)
{
	struct gw_lu *g = GW(lu);
	struct sl_client_opts co;
	char err[256] = "";
	int lvl;

	memset(g, 0, sizeof(*g));
	g->lu = lu;
	g->efd = -1;
	INIT_LIST_HEAD(&g->done);
	gw_reset_init(g);
	if (!gw_layout_ok(lu))
		return TGTADM_UNKNOWN_ERR;
	if (bs_conf_load(&g->conf, bsopts, err, sizeof(err)) < 0) {
		sl_err("bs_shoal: %s", err);
		bs_conf_free(&g->conf);
		return TGTADM_INVALID_REQUEST;
	}
	if (g->conf.log_level) {
		lvl = sl_log_level_parse(g->conf.log_level);
		if (lvl < 0) {
			sl_err("bs_shoal: log_level: unknown level '%s'", g->conf.log_level);
			bs_conf_free(&g->conf);
			return TGTADM_INVALID_REQUEST;
		}
		sl_log_set_level(lvl);
	}
	g->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (g->efd < 0) {
		sl_err("bs_shoal: eventfd: %s", strerror(errno));
		goto fail;
	}
	if (tgt_event_add(g->efd, EPOLLIN, gw_complete, g)) {
		sl_err("bs_shoal: tgt_event_add failed");
		close(g->efd);
		g->efd = -1;
		goto fail;
	}
	memset(&co, 0, sizeof(co));
	co.deadline_ms = (uint32_t)g->conf.deadline_ms;
	co.rpc_timeout_ms = (uint32_t)g->conf.rpc_timeout_ms;
	co.embedded = true;
	snprintf(g->session_name, sizeof(g->session_name), "tgtd %d lun %llu", (int)getpid(),
		 (unsigned long long)lu->lun);
	co.session_name = g->session_name;
	co.fence_on_loss = true;
	co.on_lost = gw_fence_lost;
	co.lost_arg = g;
	g->client = sl_client_new(&g->conf.masters, &co);
	if (!g->client)
		goto fail;
	if (tgt_event_add(sl_client_fd(g->client), EPOLLIN, gw_client_event, g)) {
		sl_err("bs_shoal: tgt_event_add failed for the client loop");
		sl_client_free(g->client);
		g->client = NULL;
		goto fail;
	}
	/* COMPARE AND WRITE: core maps it to spc_illegal_op; sbc_rw validates it like WRITE(16). */
	lu->dev_type_template.ops[COMPARE_AND_WRITE] = lu->dev_type_template.ops[WRITE_16];
	/* TEST UNIT READY asks the master whether another gateway reset the LU. */
	lu->dev_type_template.ops[TEST_UNIT_READY].cmd_perform = gw_reset_tur;
	gw_reset_hook(&gw_bst);
	return TGTADM_SUCCESS;
fail:
	if (g->efd >= 0) {
		tgt_event_del(g->efd);
		close(g->efd);
		g->efd = -1;
	}
	bs_conf_free(&g->conf);
	return TGTADM_UNKNOWN_ERR;
}

static void gw_set_identity(struct scsi_lu *lu, const struct sl_volume_info *vi)
{
	struct lu_phy_attr *a = &lu->attrs;
	struct bs_ident id;
	struct vpd *pg;

	bs_ident_from_uuid(vi->uuid, &id);
	snprintf(a->scsi_id, sizeof(a->scsi_id), "%s", id.scsi_id);
	snprintf(a->scsi_sn, sizeof(a->scsi_sn), "%s", id.scsi_sn);
	a->numeric_id = id.numeric_id;
	snprintf(a->vendor_id, sizeof(a->vendor_id), "%s", BS_IDENT_VENDOR);
	snprintf(a->product_id, sizeof(a->product_id), "%s", BS_IDENT_PRODUCT);
	snprintf(a->product_rev, sizeof(a->product_rev), "%s", BS_IDENT_REV);
	/* Regenerate the pages core built from tid/lun in sbc_lu_init. */
	pg = a->lu_vpd[PCODE_OFFSET(0x80)];
	if (pg && pg->vpd_update)
		pg->vpd_update(lu, a->scsi_sn);
	pg = a->lu_vpd[PCODE_OFFSET(0x83)];
	if (pg && pg->vpd_update)
		pg->vpd_update(lu, a->scsi_id);
	if (vi->flags & SL_VOL_F_THIN) {
		a->thinprovisioning = 1;
		pg = a->lu_vpd[PCODE_OFFSET(0xb2)];
		if (pg && pg->vpd_update)
			pg->vpd_update(lu, NULL);
		pg = a->lu_vpd[PCODE_OFFSET(0xb0)];
		if (pg && pg->vpd_update) {
			pg->vpd_update(lu, NULL);
			/* Real limits instead of core's 0xffffffff (libiscsi reads those as -1). */
			put_unaligned_be32(GW_UNMAP_MAX_LBAS, pg->data + 16);
			put_unaligned_be32(GW_UNMAP_MAX_DESC, pg->data + 20);
		}
	}
}

static int gw_open(struct scsi_lu *lu, char *path, int *fd, uint64_t *size)
{
	struct gw_lu *g = GW(lu);
	const struct sl_volume_info *vi;
	int rc;

	if (!path || !*path || strlen(path) >= sizeof(g->conf.volume)) {
		sl_err("bs_shoal: --backing-store must name a volume");
		return -1;
	}
	snprintf(g->conf.volume, sizeof(g->conf.volume), "%s", path);
	rc = sl_volume_open(g->client, path, (uint32_t)g->conf.deadline_ms, &g->vol);
	if (rc != SL_OK) {
		sl_err("bs_shoal: cannot open volume '%s': %s", path, sl_status_str(rc));
		return -1;
	}
	vi = sl_volume_get_info(g->vol);
	if (vi->size >> lu->blk_shift << lu->blk_shift != vi->size) {
		sl_err("bs_shoal: volume '%s' size %llu is not a multiple of the %u-byte block",
		       path, (unsigned long long)vi->size, 1u << lu->blk_shift);
		sl_volume_close(g->vol);
		g->vol = NULL;
		return -1;
	}
	gw_set_identity(lu, vi);
	gw_set_wce(lu, vi);
	update_lbppbe(lu, 4096);
	gw_reset_open(g, vi->reset_gen);
	*fd = -1;	/* no local file: GET LBA STATUS reports everything mapped */
	*size = vi->size;
	sl_info("bs_shoal: opened volume '%s' (id %llu, %llu bytes, chunk %u KiB, %u replicas%s), scsi_id %s",
		path, (unsigned long long)vi->id, (unsigned long long)vi->size,
		(1u << vi->chunk_shift) >> 10, vi->replicas,
		vi->flags & SL_VOL_F_THIN ? ", thin" : "", lu->attrs.scsi_id);
	return 0;
}

static void gw_close(struct scsi_lu *lu)
{
	struct gw_lu *g = GW(lu);

	gw_reset_close(g);
	gw_fence_stop(g);
	if (g->vol) {
		sl_volume_close(g->vol);
		g->vol = NULL;
	}
	sl_info("bs_shoal: closed volume '%s': %llu commands, %llu failed",
		g->conf.volume, (unsigned long long)g->completed, (unsigned long long)g->errors);
}

static void gw_exit(struct scsi_lu *lu)
{
	struct gw_lu *g = GW(lu);

	gw_reset_close(g);
	gw_fence_stop(g);
	if (g->vol) {
		sl_volume_close(g->vol);
		g->vol = NULL;
	}
	if (g->client)
		tgt_event_del(sl_client_fd(g->client));
	sl_client_free(g->client);
	g->client = NULL;
	if (g->efd >= 0) {
		tgt_event_del(g->efd);
		close(g->efd);
		g->efd = -1;
	}
	bs_conf_free(&g->conf);
}

static struct backingstore_template gw_bst = {
	.bs_name = "shoal",
	.bs_datasize = sizeof(struct gw_lu),
	.bs_open = gw_open,
	.bs_close = gw_close,
	.bs_init = gw_init,
	.bs_exit = gw_exit,
	.bs_cmd_submit = gw_submit,
	.bs_oflags_supported = 0,
};

GW_EXPORT void register_bs_module(void);

void register_bs_module(void)
{
	unsigned char ops[] = {
		ALLOW_MEDIUM_REMOVAL, COMPARE_AND_WRITE, FORMAT_UNIT, INQUIRY, MAINT_PROTOCOL_IN,
		MODE_SELECT, MODE_SELECT_10, MODE_SENSE, MODE_SENSE_10, ORWRITE_16,
		PERSISTENT_RESERVE_IN, PERSISTENT_RESERVE_OUT, PRE_FETCH_10, PRE_FETCH_16,
		READ_6, READ_10, READ_12, READ_16, READ_CAPACITY, RELEASE, REPORT_LUNS,
		REQUEST_SENSE, RESERVE, SEND_DIAGNOSTIC, SERVICE_ACTION_IN, START_STOP,
		SYNCHRONIZE_CACHE, SYNCHRONIZE_CACHE_16, TEST_UNIT_READY, UNMAP,
		VERIFY_10, VERIFY_12, VERIFY_16, WRITE_6, WRITE_10, WRITE_12, WRITE_16,
		WRITE_SAME, WRITE_SAME_16, WRITE_VERIFY, WRITE_VERIFY_12, WRITE_VERIFY_16,
	};

	sl_malloc_tune_for_io();

	sl_log_open("bs_shoal", SL_LOG_INFO, false);
	bs_create_opcode_map(&gw_bst, ops, sizeof(ops));
	register_backingstore_template(&gw_bst);
	sl_info("bs_shoal: registered backing store 'shoal' (built against tgt %s headers)", TGT_VERSION);
}
