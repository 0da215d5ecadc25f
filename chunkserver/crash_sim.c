/* Crash-simulating I/O backend: the contract is in crash_sim.h. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include "aio.h"
#include "crash_sim.h"
#include "evloop.h"
#include "list.h"
#include "log.h"

#define SECTOR 512u

struct csim_ent {
	struct list_head link;		/* on pending or on unflushed */
	struct cs_aio_req *r;		/* NULL once only unflushed data */
	int op;				/* IO_CMD_PREAD, _PWRITE, _FDSYNC, _FSYNC; -1 refused */
	int fd;
	dev_t dev;			/* the file's, from fstat at submit */
	ino_t ino;
	uint64_t off;
	size_t len;
	uint8_t *data;			/* a write's bytes, copied at submit */
	uint8_t *applied;		/* per sector: on the file (its bytes or a newer write's) */
	bool dsync;			/* write: durable when it completes */
	bool by_device;			/* plain write: any device flush makes it durable */
	bool regular;			/* sync: of a regular file (else a directory's) */
	uint64_t sub;			/* write: submission order */
	uint64_t done;			/* plain write: completion order; sync: the last it covers */
	int stage;
	long res;			/* the result, between pump and completion */
	uint64_t due_us;
};

struct cs_csim {
	struct list_head pending;	/* submitted, not completed */
	struct list_head unflushed;	/* completed plain writes not yet on the file, oldest first */
	unsigned int npending;
	uint64_t nsub, ndone;		/* writes submitted, plain writes completed */
	uint64_t rnd;
	uint64_t max_us;
	struct sl_loop *loop;
	struct sl_timer timer;
	void (*kick)(void *arg);
	void *kick_arg;
};

static uint64_t rnd(struct cs_csim *s)
{
	s->rnd ^= s->rnd << 13;
	s->rnd ^= s->rnd >> 7;
	s->rnd ^= s->rnd << 17;
	return s->rnd;
}

static void on_timer(struct sl_timer *t, void *arg)
{
	struct cs_csim *s = arg;

	if (s->kick)
		s->kick(s->kick_arg);
}

static void arm(struct cs_csim *s)
{
	uint64_t us;

	if (!s->loop || !s->npending)
		return;
	us = cs_csim_wait_us(s);
	sl_timer_arm(s->loop, &s->timer, us ? (us + 999) / 1000 : 0);
}

struct cs_csim *cs_csim_new(void)
{
	struct cs_csim *s = calloc(1, sizeof(*s));
	const char *e = getenv("SHOAL_CRASH_SIM_MAX_US");

	if (!s)
		return NULL;
	INIT_LIST_HEAD(&s->pending);
	INIT_LIST_HEAD(&s->unflushed);
	s->rnd = (sl_now_us() ^ ((uint64_t)getpid() << 32)) | 1;
	s->max_us = e ? strtoull(e, NULL, 10) : 2000;
	if (s->max_us < 400)
		s->max_us = 400;
	sl_timer_init(&s->timer, on_timer, s);
	sl_warn("crash-sim I/O backend: writes reach the files only when durable; kill -9 drops or tears the rest");
	return s;
}

static void ent_free(struct csim_ent *e)
{
	free(e->data);
	free(e->applied);
	free(e);
}

void cs_csim_attach(struct cs_csim *s, struct sl_loop *loop, void (*kick)(void *arg), void *arg)
{
	if (s->loop && sl_timer_armed(&s->timer))
		sl_timer_cancel(s->loop, &s->timer);
	s->loop = loop;
	s->kick = kick;
	s->kick_arg = arg;
	arm(s);
}

void cs_csim_free(struct cs_csim *s)
{
	struct csim_ent *e, *n;

	if (!s)
		return;
	cs_csim_attach(s, NULL, NULL, NULL);
	/* a clean stop: whatever is left was never acknowledged as durable */
	list_for_each_entry_safe(e, n, &s->unflushed, link) {
		list_del_init(&e->link);
		ent_free(e);
	}
	list_for_each_entry_safe(e, n, &s->pending, link) {
		list_del_init(&e->link);
		ent_free(e);
	}
	free(s);
}

uint64_t cs_csim_wait_us(const struct cs_csim *s)
{
	uint64_t now = sl_now_us(), best = UINT64_MAX;
	struct csim_ent *e;

	list_for_each_entry(e, &s->pending, link)
		if (e->due_us < best)
			best = e->due_us;
	return best == UINT64_MAX || best <= now ? 0 : best - now;
}

unsigned int cs_csim_pending(const struct cs_csim *s)
{
	return s->npending;
}

/*
 * [off, off + len) lies in blocks the file already holds.  The file holds
 * only what became durable (plus torn sectors on their way), so these are
 * blocks whose allocation is durable too.
 */
static bool allocated(int fd, uint64_t off, size_t len)
{
	off_t d = lseek(fd, (off_t)off, SEEK_DATA);

	return d == (off_t)off && lseek(fd, (off_t)off, SEEK_HOLE) >= (off_t)(off + len);
}

void cs_csim_submit(struct cs_csim *s, struct cs_aio_req *r)
{
	struct csim_ent *e = calloc(1, sizeof(*e));
	struct iocb *cb = &r->iocb;
	struct stat st;
	int fl;

	if (!e)
		goto fail;
	e->r = r;
	e->op = cb->aio_lio_opcode;
	e->fd = cb->aio_fildes;
	if (fstat(e->fd, &st))
		goto fail_ent;
	e->dev = st.st_dev;
	e->ino = st.st_ino;
	switch (e->op) {
	case IO_CMD_FDSYNC:
	case IO_CMD_FSYNC:
		e->regular = S_ISREG(st.st_mode);
		e->done = s->ndone;
		break;
	case IO_CMD_PWRITE:
		fl = fcntl(e->fd, F_GETFL);
		if (fl < 0)
			goto fail_ent;
		e->off = (uint64_t)cb->u.c.offset;
		e->len = cb->u.c.nbytes;
		e->data = malloc(e->len ? e->len : 1);
		e->applied = calloc((e->len + SECTOR - 1) / SECTOR + 1, 1);
		if (!e->data || !e->applied)
			goto fail_ent;
		memcpy(e->data, cb->u.c.buf, e->len);
		e->dsync = (cb->aio_rw_flags & RWF_DSYNC) || (fl & O_DSYNC);
		e->by_device = (fl & O_DIRECT) && allocated(e->fd, e->off, e->len);
		e->sub = ++s->nsub;
		break;
	case IO_CMD_PREAD:
		e->off = (uint64_t)cb->u.c.offset;
		e->len = cb->u.c.nbytes;
		break;
	default:
		goto fail_ent;
	}
	e->due_us = sl_now_us() + 200 + rnd(s) % (s->max_us - 200);
	list_add_tail(&e->link, &s->pending);
	s->npending++;
	arm(s);
	return;

fail_ent:
	ent_free(e);
fail:
	/* completed from the next pump, like a kernel refusal */
	e = calloc(1, sizeof(*e));
	if (!e) {
		r->done(r, -ENOMEM);
		return;
	}
	e->r = r;
	e->op = -1;
	list_add_tail(&e->link, &s->pending);
	s->npending++;
	arm(s);
}

/* The same file, and the same 512-byte sector grid (O_DIRECT offsets are). */
static bool same_place(const struct csim_ent *a, const struct csim_ent *b, uint64_t *lo, uint64_t *hi)
{
	*lo = a->off > b->off ? a->off : b->off;
	*hi = a->off + a->len < b->off + b->len ? a->off + a->len : b->off + b->len;
	return a->dev == b->dev && a->ino == b->ino && *lo < *hi && (a->off - b->off) % SECTOR == 0;
}

/* Sectors of e on the file hide those of older unflushed writes: the disk holds e's. */
static void supersede(struct cs_csim *s, struct csim_ent *e)
{
	struct csim_ent *w;
	uint64_t x, lo, hi;

	list_for_each_entry(w, &s->unflushed, link) {
		if (w == e || w->sub >= e->sub || !same_place(w, e, &lo, &hi))
			continue;
		for (x = lo; x < hi; x += SECTOR)
			if (e->applied[(x - e->off) / SECTOR])
				w->applied[(x - w->off) / SECTOR] = 1;
	}
}

/*
 * Applies the not yet applied sectors of e: all of them, or (torn) each
 * with probability 1/2.  Through a buffered descriptor: page cache survives
 * kill -9, as a sector that reached the disk survives power loss.
 */
static int apply(struct cs_csim *s, struct csim_ent *e, bool all)
{
	size_t nsec = (e->len + SECTOR - 1) / SECTOR, i;
	char p[64];
	int bfd, r = 0;

	snprintf(p, sizeof(p), "/proc/self/fd/%d", e->fd);
	bfd = open(p, O_WRONLY | O_CLOEXEC);
	if (bfd < 0)
		return -errno;
	for (i = 0; i < nsec; i++) {
		size_t n = e->len - i * SECTOR < SECTOR ? e->len - i * SECTOR : SECTOR;

		if (e->applied[i] || (!all && (rnd(s) & 1)))
			continue;
		if (pwrite(bfd, e->data + i * SECTOR, n, (off_t)(e->off + i * SECTOR)) != (ssize_t)n) {
			r = errno ? -errno : -EIO;
			break;
		}
		e->applied[i] = 1;
	}
	close(bfd);
	supersede(s, e);
	return r;
}

/* Unflushed writes (their sectors not on the file) are what a later read of the file sees. */
static void overlay(struct cs_csim *s, struct csim_ent *rd, uint8_t *buf)
{
	struct csim_ent *w;
	uint64_t lo, hi, x, end;

	list_for_each_entry(w, &s->unflushed, link) {
		if (w->dev != rd->dev || w->ino != rd->ino)
			continue;
		lo = w->off > rd->off ? w->off : rd->off;
		hi = w->off + w->len < rd->off + rd->len ? w->off + w->len : rd->off + rd->len;
		for (x = lo; x < hi; x = end) {
			end = w->off + ((x - w->off) / SECTOR + 1) * SECTOR;
			if (end > hi)
				end = hi;
			if (!w->applied[(x - w->off) / SECTOR])
				memcpy(buf + (x - rd->off), w->data + (x - w->off), end - x);
		}
	}
}

/* A sync f makes the unflushed write w durable (crash_sim.h). */
static bool covers(const struct csim_ent *f, const struct csim_ent *w)
{
	return f->regular && w->done <= f->done && w->dev == f->dev &&
	       (w->by_device || w->ino == f->ino);
}

/* One step of e; returns the completion result, or 1 while it goes on. */
static long step(struct cs_csim *s, struct csim_ent *e)
{
	struct csim_ent *w, *n;
	long r;

	switch (e->op) {
	case IO_CMD_PREAD:
		r = pread(e->fd, e->r->iocb.u.c.buf, e->len, (off_t)e->off);
		if (r < 0)
			return -errno;
		overlay(s, e, e->r->iocb.u.c.buf);
		return r;
	case IO_CMD_PWRITE:
		if (!e->dsync)
			return (long)e->len;	/* moved to unflushed by the caller */
		r = apply(s, e, e->stage > 0);
		if (r < 0)
			return r;
		if (e->stage++ == 0)
			return 1;
		return (long)e->len;
	case IO_CMD_FDSYNC:
	case IO_CMD_FSYNC:
		list_for_each_entry_safe(w, n, &s->unflushed, link) {
			if (!covers(e, w))
				continue;
			r = apply(s, w, e->stage > 0);
			if (r < 0)
				return r;
			if (e->stage > 0) {
				list_del_init(&w->link);
				ent_free(w);
			}
		}
		if (e->stage++ == 0)
			return 1;
		return 0;
	default:
		return -ENOMEM;
	}
}

int cs_csim_pump(struct cs_csim *s, uint64_t *errors)
{
	uint64_t now = sl_now_us();
	struct csim_ent *e, *n;
	struct list_head done;
	int count = 0;

	INIT_LIST_HEAD(&done);
	list_for_each_entry_safe(e, n, &s->pending, link) {
		long res;

		if (e->due_us > now)
			continue;
		res = step(s, e);
		if (res == 1) {
			/* torn on disk until the next stage */
			e->due_us = now + 100 + rnd(s) % 900;
			continue;
		}
		list_del_init(&e->link);
		s->npending--;
		e->res = res;
		list_add_tail(&e->link, &done);
	}
	/* complete after the scan: done() may submit more */
	list_for_each_entry_safe(e, n, &done, link) {
		struct cs_aio_req *r = e->r;
		long res = e->res;

		list_del_init(&e->link);
		if (res < 0 && errors)
			(*errors)++;
		if (e->op == IO_CMD_PWRITE && !e->dsync && res >= 0) {
			e->r = NULL;
			e->done = ++s->ndone;
			list_add_tail(&e->link, &s->unflushed);
		} else {
			ent_free(e);
		}
		count++;
		r->done(r, res);
	}
	arm(s);
	return count;
}
