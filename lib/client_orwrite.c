/*
 * ORWRITE on a volume (SBC ORWRITE(16): new = old | data), atomic per chunk
 * piece without a write kind of its own at the chunkservers.
 *
 * Each piece (at most one CAW unit, so inside one chunk and one frame)
 * reads the current bytes from the chunk's primary, ORs the caller's data
 * in, and sends COMPARE_AND_WRITE(old || new).  The primary compares and
 * writes under its range lock, so a piece lands only if nothing changed its
 * bytes since the read -- through this gateway or any other.  A miscompare
 * means another write got in between: read again.
 *
 * Piece state machine (all on the I/O thread):
 *
 *   READ --ok--> CAW --ok--> done
 *     ^           |
 *     └-MISCOMPARE┘   (at most ORW_MAX_TRIES reads, and within the deadline)
 *   any other error, or tries used up: the op ends with that error.
 *
 * The op starts on the I/O thread (sl_loop_post) and its sub-I/Os complete
 * there, so nothing here is locked.  It holds a volume op reference from
 * submit to free, so sl_volume_close waits for it like for any I/O.
 * io->done runs once: when every piece is done, or after the first failure
 * once the pieces in flight are back (they own parts of the caller's data
 * view until then).
 */
#include <stdlib.h>
#include <string.h>
#include "client_int.h"
#include "log.h"
#include "status.h"

#define ORW_WINDOW	8	/* pieces in flight per op */
#define ORW_MAX_TRIES	64	/* reads per piece before giving up as BUSY */

struct orw_op {
	struct sl_volume *v;
	struct sl_io *io;
	uint64_t deadline;
	unsigned int unit_shift;
	uint64_t next_pos, end;
	unsigned int active;		/* pieces alive */
	int status;
	bool pumping;			/* a piece ending inside the loop must not end the op */
};

struct orw_piece {
	struct orw_op *op;
	struct sl_io sub;
	uint64_t pos, len;
	uint8_t *buf;			/* 2 * len: old || new */
	unsigned int tries;
};

static void orw_pump(struct orw_op *op);
static void orw_read(struct orw_piece *p);

static uint32_t orw_left_ms(const struct orw_op *op)
{
	uint64_t now = sl_now_ms();

	return op->deadline > now ? (uint32_t)(op->deadline - now) : 0;
}

static void orw_piece_end(struct orw_piece *p, int status)
{
	struct orw_op *op = p->op;

	if (status != SL_OK && op->status == SL_OK)
		op->status = status;
	free(p->buf);
	free(p);
	op->active--;
	orw_pump(op);
}

static void orw_caw_done(struct sl_io *sub)
{
	struct orw_piece *p = sub->arg;

	if (sub->status == SL_E_MISCOMPARE && p->op->status == SL_OK) {
		orw_read(p);	/* changed since our read: again */
		return;
	}
	orw_piece_end(p, sub->status);
}

static void orw_read_done(struct sl_io *sub)
{
	struct orw_piece *p = sub->arg;
	struct orw_op *op = p->op;
	const uint8_t *data = (const uint8_t *)op->io->buf + (p->pos - op->io->offset);
	uint32_t left = orw_left_ms(op);
	uint64_t i;
	int rc;

	if (sub->status != SL_OK || op->status != SL_OK || !left) {
		orw_piece_end(p, sub->status != SL_OK ? sub->status : left ? SL_OK : SL_E_TIMEDOUT);
		return;
	}
	for (i = 0; i < p->len; i++)
		p->buf[p->len + i] = p->buf[i] | data[i];
	memset(sub, 0, sizeof(*sub));
	sub->op = SL_IO_CAW;
	sub->offset = p->pos;
	sub->length = p->len;
	sub->buf = p->buf;
	sub->fua = op->io->fua;
	sub->deadline_ms = left;
	sub->done = orw_caw_done;
	sub->arg = p;
	rc = sl_client_submit(op->v, sub);
	if (rc)
		orw_piece_end(p, rc);
}

static void orw_read(struct orw_piece *p)
{
	struct orw_op *op = p->op;
	uint32_t left = orw_left_ms(op);
	int rc;

	if (!left) {
		orw_piece_end(p, SL_E_TIMEDOUT);
		return;
	}
	if (++p->tries > ORW_MAX_TRIES) {
		sl_warn("client: %s: ORWRITE at %llu lost %u races in a row", op->v->info.name,
			(unsigned long long)p->pos, ORW_MAX_TRIES);
		orw_piece_end(p, SL_E_BUSY);
		return;
	}
	memset(&p->sub, 0, sizeof(p->sub));
	p->sub.op = SL_IO_READ;
	p->sub.offset = p->pos;
	p->sub.length = p->len;
	p->sub.buf = p->buf;
	p->sub.deadline_ms = left;
	p->sub.done = orw_read_done;
	p->sub.arg = p;
	rc = sl_client_submit(op->v, &p->sub);
	if (rc)
		orw_piece_end(p, rc);
}

static void orw_pump(struct orw_op *op)
{
	struct sl_volume *v = op->v;
	struct orw_piece *p;
	struct sl_io *io;

	if (op->pumping)
		return;
	op->pumping = true;
	while (op->status == SL_OK && op->active < ORW_WINDOW && op->next_pos < op->end) {
		p = calloc(1, sizeof(*p));
		if (p) {
			p->len = sl_split_piece_len(op->next_pos, op->end, op->unit_shift);
			p->buf = malloc(2 * p->len);
		}
		if (!p || !p->buf) {
			free(p);
			op->status = SL_E_INTERNAL;
			break;
		}
		p->op = op;
		p->pos = op->next_pos;
		op->next_pos += p->len;
		op->active++;
		orw_read(p);
	}
	op->pumping = false;
	if (op->active || (op->status == SL_OK && op->next_pos < op->end))
		return;
	io = op->io;
	io->status = op->status;
	io->miscompare_offset = 0;
	if (op->status != SL_OK)
		sl_debug("client: %s ORWRITE at %llu+%llu failed: %s", v->info.name,
			 (unsigned long long)io->offset, (unsigned long long)io->length,
			 sl_status_str(op->status));
	free(op);
	io->done(io);
	sl_volume_op_put(v);
}

static void orw_begin(void *arg)
{
	orw_pump(arg);
}

int sl_client_orwrite_start(struct sl_volume *v, struct sl_io *io)
{
	struct orw_op *op = calloc(1, sizeof(*op));
	uint32_t dl = io->deadline_ms ? io->deadline_ms : v->c->deadline_ms;

	if (!op)
		return SL_E_INTERNAL;
	op->v = v;
	op->io = io;
	op->deadline = sl_now_ms() + dl;
	op->unit_shift = sl_split_unit_shift(SL_IO_CAW, v->info.chunk_shift);
	op->next_pos = io->offset;
	op->end = io->offset + io->length;
	op->status = SL_OK;
	io->status = SL_E_INTERNAL;
	pthread_mutex_lock(&v->lock);
	v->ops++;
	pthread_mutex_unlock(&v->lock);
	if (sl_loop_post(v->c->loop, orw_begin, op)) {
		free(op);
		sl_volume_op_put(v);
		return SL_E_INTERNAL;
	}
	return 0;
}
