/* Crash-simulating disk: the contract is in crash_sim.h. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include "aio.h"
#include "crash_sim.h"
#include "crash_undo.h"
#include "evloop.h"
#include "list.h"
#include "log.h"

#define SECTOR		512u
#define FS_BLOCK	4096u		/* a punch frees whole filesystem blocks */
#define STATS_MAGIC	0x5354415453494d31ull	/* "1MISTATS" */

enum csim_op { OP_READ, OP_WRITE, OP_SYNC, OP_PUNCH, OP_REFUSED };

struct csim_ent {
	struct list_head link;		/* on pending or on unflushed */
	struct cs_aio_req *r;		/* NULL: a synchronous call's, or only unflushed data */
	enum csim_op op;
	int fd;
	dev_t dev;			/* the file's, from fstat at submit */
	ino_t ino;
	uint64_t off;
	size_t len;
	uint8_t *data;			/* a write's bytes, copied at submit (punch: NULL, zeros) */
	uint8_t *applied;		/* per sector: on the file (its bytes or a newer write's) */
	size_t nsec, napplied;
	bool dsync;			/* write: durable when it completes */
	bool by_device;			/* plain write: any device flush makes it durable */
	bool regular;			/* sync: of a regular file (else a directory's) */
	unsigned int early_pct;		/* subset mode: chance a sector reaches the file in flight */
	uint64_t sub;			/* write, punch: submission order */
	uint64_t done;			/* plain write, punch: completion order; sync: the last it covers */
	int stage;
	long res;			/* the result, between pump and completion */
	uint64_t due_us;
};

/*
 * Shared with <first data dir>.crash-undo/sim-stats (MAP_SHARED): the page
 * cache keeps it through kill -9, so the next start reads what the cut
 * found.  "open" counts writes and punches from submission until durable.
 */
struct csim_stats {
	uint64_t magic;
	uint64_t open_writes;
	uint64_t open_sectors;
	uint64_t open_on_disk;		/* of open_sectors: on the file (torn, early, or hidden by a newer write) */
	uint64_t early_sectors;		/* the run's sectors that reached the file before being durable */
	uint64_t writes, syncs;		/* the run's */
};

struct cs_csim {
	struct list_head pending;	/* submitted, not completed */
	struct list_head unflushed;	/* completed plain writes and punches not yet durable, oldest first */
	unsigned int npending;
	uint64_t nsub, ndone;		/* writes submitted, plain writes completed */
	uint64_t rnd;
	uint64_t max_us;
	bool subset;
	struct csim_stats mem, *st;	/* st: the shared page, or &mem until one is mapped */
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

/* One per process: the model stands for the machine's disks, which every descriptor shares. */
struct cs_csim *cs_csim_get(void)
{
	static struct cs_csim *the;
	const char *e = getenv("SHOAL_CRASH_SIM_MAX_US"), *sub = getenv("SHOAL_CRASH_SIM_SUBSET");
	struct cs_csim *s;

	if (the)
		return the;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	INIT_LIST_HEAD(&s->pending);
	INIT_LIST_HEAD(&s->unflushed);
	s->rnd = (sl_now_us() ^ ((uint64_t)getpid() << 32)) | 1;
	s->max_us = e ? strtoull(e, NULL, 10) : 2000;
	if (s->max_us < 400)
		s->max_us = 400;
	s->subset = sub && !strcmp(sub, "1");
	s->st = &s->mem;
	sl_timer_init(&s->timer, on_timer, s);
	sl_warn("crash-sim I/O backend: writes reach the files only when durable; kill -9 drops or tears the rest%s",
		s->subset ? " (subset mode: any subset of the unflushed sectors may survive)" : "");
	the = s;
	return s;
}

bool cs_csim_subset(const struct cs_csim *s)
{
	return s->subset;
}

uint64_t cs_csim_seed(struct cs_csim *s)
{
	return rnd(s);
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

/* ---- entries ---- */

static bool changes_data(const struct csim_ent *e)
{
	return e->op == OP_WRITE || e->op == OP_PUNCH;
}

/* A write or punch is durable (or dropped at a clean stop): it leaves the counters. */
static void ent_free(struct cs_csim *s, struct csim_ent *e)
{
	if (changes_data(e) && e->applied) {
		s->st->open_writes--;
		s->st->open_sectors -= e->nsec;
		s->st->open_on_disk -= e->napplied;
	}
	free(e->data);
	free(e->applied);
	free(e);
}

static void mark_applied(struct cs_csim *s, struct csim_ent *e, size_t i, bool early)
{
	if (e->applied[i])
		return;
	e->applied[i] = 1;
	e->napplied++;
	s->st->open_on_disk++;
	if (early)
		s->st->early_sectors++;
}

static bool overlaps(const struct csim_ent *e, dev_t dev, ino_t ino, uint64_t off, size_t len)
{
	return e->dev == dev && e->ino == ino && e->off < off + len && off < e->off + e->len;
}

/*
 * [off, off + len) of (dev, ino) is durably allocated: the file holds
 * blocks there (it holds only what reached the disk), and no write that
 * may fill a hole, nor a punch, is still pending or unflushed over it (its
 * allocation is not durable before its own file's sync).
 */
static bool allocated(struct cs_csim *s, int fd, dev_t dev, ino_t ino, uint64_t off, size_t len)
{
	off_t d = lseek(fd, (off_t)off, SEEK_DATA);
	struct list_head *lists[2] = { &s->pending, &s->unflushed };
	struct csim_ent *e;
	int i;

	if (d != (off_t)off || lseek(fd, (off_t)off, SEEK_HOLE) < (off_t)(off + len))
		return false;
	for (i = 0; i < 2; i++)
		list_for_each_entry(e, lists[i], link)
			if (((e->op == OP_WRITE && !e->by_device) || e->op == OP_PUNCH) &&
			    overlaps(e, dev, ino, off, len))
				return false;
	return true;
}

/* A write or punch of [off, off + len) on fd; NULL with errno set. */
static struct csim_ent *ent_new_write(struct cs_csim *s, enum csim_op op, int fd, const void *buf,
				      uint64_t off, size_t len, int rw_flags)
{
	struct csim_ent *e = calloc(1, sizeof(*e));
	struct stat st;
	int fl;

	if (!e)
		return NULL;
	e->op = op;
	e->fd = fd;
	e->off = off;
	e->len = len;
	e->nsec = (len + SECTOR - 1) / SECTOR;
	fl = fcntl(fd, F_GETFL);
	if (fstat(fd, &st) || fl < 0)
		goto fail;
	e->dev = st.st_dev;
	e->ino = st.st_ino;
	e->applied = calloc(e->nsec + 1, 1);
	if (!e->applied)
		goto fail;
	if (op == OP_WRITE) {
		e->data = malloc(len ? len : 1);
		if (!e->data)
			goto fail;
		memcpy(e->data, buf, len);
		e->dsync = (rw_flags & RWF_DSYNC) || (fl & O_DSYNC);
		e->by_device = (fl & O_DIRECT) && allocated(s, fd, e->dev, e->ino, off, len);
	}
	e->early_pct = s->subset ? (unsigned int)(rnd(s) % 101) : 0;
	e->sub = ++s->nsub;
	s->st->open_writes++;
	s->st->open_sectors += e->nsec;
	s->st->writes++;
	return e;

fail:
	free(e->applied);
	free(e->data);
	free(e);
	errno = errno ? errno : ENOMEM;
	return NULL;
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
				mark_applied(s, w, (x - w->off) / SECTOR, false);
	}
}

/*
 * The units a write reaches the disk in: a sector; for a punch, the part
 * of a filesystem block it covers.  Unit i spans sectors [*s0, *s1) of e.
 */
static size_t units(const struct csim_ent *e)
{
	if (e->op != OP_PUNCH)
		return e->nsec;
	return (size_t)((e->off + e->len + FS_BLOCK - 1) / FS_BLOCK - e->off / FS_BLOCK);
}

static void unit_span(const struct csim_ent *e, size_t i, uint64_t *a, uint64_t *b)
{
	if (e->op != OP_PUNCH) {
		*a = e->off + i * SECTOR;
		*b = *a + SECTOR < e->off + e->len ? *a + SECTOR : e->off + e->len;
		return;
	}
	*a = (e->off / FS_BLOCK + i) * FS_BLOCK;
	*b = *a + FS_BLOCK;
	if (*a < e->off)
		*a = e->off;
	if (*b > e->off + e->len)
		*b = e->off + e->len;
}

/*
 * Puts e's units not yet applied on the file, in random order: each with
 * probability pct/100 (100: all).  early: e is not durable yet.  Through a
 * buffered descriptor: page cache survives kill -9, as a sector that
 * reached the disk survives power loss.
 */
static int apply(struct cs_csim *s, struct csim_ent *e, unsigned int pct, bool early)
{
	size_t n = units(e), i, j, *order;
	uint64_t a, b, x;
	char p[64];
	int bfd = -1, r = 0;

	if (e->napplied == e->nsec || !pct)
		return 0;
	order = malloc(n * sizeof(*order));
	if (!order)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		order[i] = i;
	for (i = n; i > 1; i--) {
		size_t t;

		j = (size_t)(rnd(s) % i);
		t = order[i - 1];
		order[i - 1] = order[j];
		order[j] = t;
	}
	if (e->op == OP_WRITE) {
		snprintf(p, sizeof(p), "/proc/self/fd/%d", e->fd);
		bfd = open(p, O_WRONLY | O_CLOEXEC);
		if (bfd < 0) {
			free(order);
			return -errno;
		}
	}
	for (i = 0; i < n; i++) {
		bool all_done = true;

		unit_span(e, order[i], &a, &b);
		for (x = a; x < b; x += SECTOR)
			all_done &= e->applied[(x - e->off) / SECTOR] != 0;
		if (all_done || (pct < 100 && rnd(s) % 100 >= pct))
			continue;
		if (e->op == OP_WRITE) {
			if (pwrite(bfd, e->data + (a - e->off), b - a, (off_t)a) != (ssize_t)(b - a)) {
				r = errno ? -errno : -EIO;
				break;
			}
		} else if (fallocate(e->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)a,
				     (off_t)(b - a))) {
			r = -errno;
			break;
		}
		for (x = a; x < b; x += SECTOR)
			mark_applied(s, e, (x - e->off) / SECTOR, early);
	}
	if (bfd >= 0)
		close(bfd);
	free(order);
	supersede(s, e);
	return r;
}

/* Unflushed writes (their sectors not on the file) are what a later read of the file sees. */
static void overlay(struct cs_csim *s, dev_t dev, ino_t ino, uint64_t off, size_t len, uint8_t *buf)
{
	struct csim_ent *w;
	uint64_t lo, hi, x, end;

	list_for_each_entry(w, &s->unflushed, link) {
		if (!overlaps(w, dev, ino, off, len))
			continue;
		lo = w->off > off ? w->off : off;
		hi = w->off + w->len < off + len ? w->off + w->len : off + len;
		for (x = lo; x < hi; x = end) {
			end = w->off + ((x - w->off) / SECTOR + 1) * SECTOR;
			if (end > hi)
				end = hi;
			if (w->applied[(x - w->off) / SECTOR])
				continue;
			if (w->data)
				memcpy(buf + (x - off), w->data + (x - w->off), end - x);
			else
				memset(buf + (x - off), 0, end - x);
		}
	}
}

/* A sync f makes the unflushed write w durable (crash_sim.h). */
static bool covers(const struct csim_ent *f, const struct csim_ent *w)
{
	return f->regular && w->done <= f->done && w->dev == f->dev &&
	       (w->by_device || w->ino == f->ino);
}

/* e's descriptor still names the file e was submitted on. */
static bool same_file(const struct csim_ent *e)
{
	struct stat st;

	return !fstat(e->fd, &st) && st.st_dev == e->dev && st.st_ino == e->ino;
}

/* A sync's stage: 0 tears what it covers (half of each), 1 makes it all durable. */
static int sync_stage(struct cs_csim *s, struct csim_ent *f, int stage)
{
	struct csim_ent *w, *n;
	int r;

	list_for_each_entry_safe(w, n, &s->unflushed, link) {
		if (!covers(f, w))
			continue;
		if (!same_file(w)) {
			/* its descriptor was closed (and maybe reused): the data has no file to reach */
			sl_err("crash-sim: an unflushed write to a closed file (dev %lu ino %lu) is dropped",
			       (unsigned long)w->dev, (unsigned long)w->ino);
			list_del_init(&w->link);
			ent_free(s, w);
			continue;
		}
		r = apply(s, w, stage ? 100 : 50, false);
		if (r < 0)
			return r;
		if (stage) {
			list_del_init(&w->link);
			ent_free(s, w);
		}
	}
	return 0;
}

/* A completed plain write or punch joins the disk cache. */
static void to_unflushed(struct cs_csim *s, struct csim_ent *e)
{
	e->r = NULL;
	e->done = ++s->ndone;
	list_add_tail(&e->link, &s->unflushed);
}

/* A random pause of a synchronous call between its torn stages: a kill may land there. */
static void torn_pause(struct cs_csim *s)
{
	usleep((useconds_t)(100 + rnd(s) % 900));
}

/* ---- asynchronous requests ---- */

static void queue(struct cs_csim *s, struct csim_ent *e)
{
	e->due_us = sl_now_us() + 200 + rnd(s) % (s->max_us - 200);
	list_add_tail(&e->link, &s->pending);
	s->npending++;
	arm(s);
}

/* Completed from the next pump, like a kernel refusal. */
static void refuse(struct cs_csim *s, struct cs_aio_req *r)
{
	struct csim_ent *e = calloc(1, sizeof(*e));

	if (!e) {
		r->done(r, -ENOMEM);
		return;
	}
	e->r = r;
	e->op = OP_REFUSED;
	list_add_tail(&e->link, &s->pending);
	s->npending++;
	arm(s);
}

void cs_csim_submit(struct cs_csim *s, struct cs_aio_req *r)
{
	struct iocb *cb = &r->iocb;
	struct csim_ent *e;
	struct stat st;

	switch (cb->aio_lio_opcode) {
	case IO_CMD_PWRITE:
		e = ent_new_write(s, OP_WRITE, cb->aio_fildes, cb->u.c.buf, (uint64_t)cb->u.c.offset,
				  cb->u.c.nbytes, cb->aio_rw_flags);
		break;
	case IO_CMD_PREAD:
	case IO_CMD_FDSYNC:
	case IO_CMD_FSYNC:
		e = calloc(1, sizeof(*e));
		if (!e || fstat(cb->aio_fildes, &st)) {
			free(e);
			e = NULL;
			break;
		}
		e->fd = cb->aio_fildes;
		e->dev = st.st_dev;
		e->ino = st.st_ino;
		if (cb->aio_lio_opcode == IO_CMD_PREAD) {
			e->op = OP_READ;
			e->off = (uint64_t)cb->u.c.offset;
			e->len = cb->u.c.nbytes;
		} else {
			e->op = OP_SYNC;
			e->regular = S_ISREG(st.st_mode);
			e->done = s->ndone;
		}
		break;
	default:
		e = NULL;
	}
	if (!e) {
		refuse(s, r);
		return;
	}
	e->r = r;
	queue(s, e);
}

void cs_csim_submit_punch(struct cs_csim *s, struct cs_aio_req *r, int fd, off_t off, off_t len)
{
	struct csim_ent *e = off >= 0 && len > 0 ?
		ent_new_write(s, OP_PUNCH, fd, NULL, (uint64_t)off, (size_t)len, 0) : NULL;

	if (!e) {
		refuse(s, r);
		return;
	}
	e->r = r;
	queue(s, e);
}

/* One step of e; returns the completion result, or 1 while it goes on. */
static long step(struct cs_csim *s, struct csim_ent *e)
{
	long r;

	switch (e->op) {
	case OP_READ:
		r = pread(e->fd, e->r->iocb.u.c.buf, e->len, (off_t)e->off);
		if (r < 0)
			return -errno;
		overlay(s, e->dev, e->ino, e->off, e->len, e->r->iocb.u.c.buf);
		return r;
	case OP_WRITE:
	case OP_PUNCH:
		if (!e->dsync) {
			/* in flight: subset mode lets part of it reach the disk already */
			if (e->stage++ == 0 && e->early_pct) {
				r = apply(s, e, e->early_pct, true);
				return r < 0 ? r : 1;
			}
			return e->op == OP_PUNCH ? 0 : (long)e->len;	/* to unflushed by the caller */
		}
		r = apply(s, e, e->stage > 0 ? 100 : 50, false);
		if (r < 0)
			return r;
		if (e->stage++ == 0)
			return 1;
		cu_dsync_written(e->fd);
		return (long)e->len;
	case OP_SYNC:
		r = sync_stage(s, e, e->stage);
		if (r < 0)
			return r;
		if (e->stage++ == 0)
			return 1;
		s->st->syncs++;
		cu_synced(e->fd);
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
		if (changes_data(e) && !e->dsync && res >= 0)
			to_unflushed(s, e);
		else
			ent_free(s, e);
		count++;
		r->done(r, res);
	}
	arm(s);
	return count;
}

/* ---- synchronous calls ---- */

ssize_t cs_csim_pwrite(struct cs_csim *s, int fd, const void *buf, size_t len, off_t off)
{
	struct csim_ent *e;
	int r;

	if (off < 0) {
		errno = EINVAL;
		return -1;
	}
	e = ent_new_write(s, OP_WRITE, fd, buf, (uint64_t)off, len, 0);
	if (!e)
		return -1;
	if (!e->dsync) {
		r = e->early_pct ? apply(s, e, e->early_pct, true) : 0;
		to_unflushed(s, e);
		if (r < 0) {
			errno = -r;
			return -1;
		}
		return (ssize_t)len;
	}
	r = apply(s, e, 50, false);
	torn_pause(s);
	if (r == 0)
		r = apply(s, e, 100, false);
	ent_free(s, e);
	if (r < 0) {
		errno = -r;
		return -1;
	}
	cu_dsync_written(fd);
	return (ssize_t)len;
}

ssize_t cs_csim_pread(struct cs_csim *s, int fd, void *buf, size_t len, off_t off)
{
	struct stat st;
	ssize_t r = pread(fd, buf, len, off);

	if (r > 0 && !fstat(fd, &st))
		overlay(s, st.st_dev, st.st_ino, (uint64_t)off, (size_t)r, buf);
	return r;
}

int cs_csim_sync(struct cs_csim *s, int fd)
{
	struct csim_ent f = { 0 };
	struct stat st;
	int r;

	if (fstat(fd, &st))
		return -1;
	f.op = OP_SYNC;
	f.dev = st.st_dev;
	f.ino = st.st_ino;
	f.regular = S_ISREG(st.st_mode);
	f.done = s->ndone;
	if (!f.regular) {
		/* a directory's: its names only (crash_undo.h) */
		if (fsync(fd))
			return -1;
		cu_synced(fd);
		return 0;
	}
	r = sync_stage(s, &f, 0);
	torn_pause(s);
	if (r == 0)
		r = sync_stage(s, &f, 1);
	if (r < 0) {
		errno = -r;
		return -1;
	}
	s->st->syncs++;
	cu_synced(fd);
	return 0;
}

/* ---- evidence ---- */

int cs_csim_stats_attach(struct cs_csim *s, const char *udir, char *line, size_t linelen,
			 char *err, size_t errlen)
{
	struct csim_stats old = { 0 };
	char p[4200];
	void *page;
	int fd;

	*line = 0;
	if (s->st != &s->mem)
		return 0;	/* the first data directory keeps the page */
	snprintf(p, sizeof(p), "%s/sim-stats", udir);
	fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, 4096) ||
	    (page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED) {
		snprintf(err, errlen, "crash-sim: %s: %s", p, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	memcpy(&old, page, sizeof(old));
	if (old.magic == STATS_MAGIC)
		snprintf(line, linelen,
			 "writes not durable: %" PRIu64 " (%" PRIu64 " sectors: %" PRIu64 " on disk, %" PRIu64
			 " lost); the run before: %" PRIu64 " writes, %" PRIu64 " syncs, %" PRIu64
			 " sectors on disk early",
			 old.open_writes, old.open_sectors, old.open_on_disk,
			 old.open_sectors - old.open_on_disk, old.writes, old.syncs, old.early_sectors);
	else
		snprintf(line, linelen, "no run before");
	s->mem.magic = STATS_MAGIC;
	memcpy(page, &s->mem, sizeof(s->mem));
	s->st = page;
	return 0;
}
