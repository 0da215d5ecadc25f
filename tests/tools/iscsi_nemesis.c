/*
 * iscsi_nemesis: the workload of the nemesis (tests/nemesis/run), through
 * libiscsi, over two paths to one volume as dm-multipath drives them.
 *
 *   iscsi_nemesis run    URL0 URL1 HISTORY --blocks N [options]
 *   iscsi_nemesis verify URL0 URL1 HISTORY --blocks N [options]
 *
 * URL0 and URL1 are the same LUN through two gateways.  The registers are
 * N blocks of 4 KiB, block b at LBA b * stride.  run keeps --workers
 * logical operations in flight for --seconds (WRITE(16), READ(16) and
 * COMPARE AND WRITE on random blocks, at most one operation per block at a
 * time); verify reads every block once.  Every write carries a value no
 * other write has: each 512-byte sector holds a header (magic, value id,
 * block, sector) and a fill derived from them, so a read names the write
 * each sector came from, and a torn or foreign sector does not parse.
 *
 * Multipath.  An operation is sent on the live path with fewer commands
 * outstanding (round robin between equals), as dm-multipath's queue-length
 * selector does.  An
 * answer GOOD, a MISCOMPARE or a target error (medium, hardware, illegal
 * request, data protect) ends it; NOT READY, ABORTED COMMAND, BUSY and a
 * unit attention are path errors: the operation is sent again on the other
 * path (the same path when it is the only live one, after 200 ms).  An
 * attempt without an answer after --failover-ms (default 8000) fails its
 * path: every attempt on that session is abandoned and its operation sent
 * on the other path, and the path is reinstated by a new login 2 s later.
 * The abandoned session is not closed at once: it is kept (no new
 * commands) until --deadline-ms + 3 s after its last command was sent, so a
 * late answer is seen and logged, and one that never comes is logged as
 * hung.  An operation that finds no live path for --op-timeout-ms ends as
 * failed.
 *
 * HISTORY gets one line per event, appended as it happens (times are
 * CLOCK_MONOTONIC in microseconds, value ids hexadecimal, 0 = zeros):
 *
 *   I OP T KIND BLOCK VALUE [EXPECT]   invoked; KIND W, R or C (compare and
 *                                      write EXPECT, then write VALUE)
 *   S OP T PATH ATT                    attempt ATT sent on PATH
 *   X OP T PATH ATT RESULT             attempt answered or abandoned
 *   Z OP T PATH ATT RESULT MS          an abandoned attempt answered late
 *   H OP T PATH ATT MS                 an abandoned attempt never answered
 *   E OP T OUTCOME [VALUES|WHY]        ended: ok, fail or miscompare; a read's
 *                                      VALUES: one id per sector, or one for all
 *   P PATH T up|down WHY               a path changed state
 *
 * RESULT is good, miscompare, sense:KEY/ASC/ASCQ, status:N, transport,
 * failover (this attempt was silent too long), pathdown (its path failed
 * under it), noqueue.  A sector that does not parse is reported as the id
 * ffffffffffffffff.
 *
 * SIGTERM or SIGINT: stop issuing and finish what is in flight.
 * Exit: 0 done, 1 could not run, 2 usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
#include "tool_util.h"

#define SEC 512
#define SECS_PER_BLK 8
#define BLK (SEC * SECS_PER_BLK)
#define MAX_WORKERS 64
#define MAX_BLOCKS 65536
#define MAGIC "NEMESIS1"
#define GARBAGE UINT64_MAX
#define ZOMBIE_SLACK_US 3000000
#define REINSTATE_US 2000000
#define LOGIN_TIMEOUT_US 5000000
#define SAME_PATH_RETRY_US 200000

static const char *prog = "iscsi_nemesis";
static volatile sig_atomic_t stop_flag;

struct sector_hdr {
	char magic[8];
	uint64_t id;
	uint32_t block;
	uint32_t sector;
};

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The one content value ID has in sector S of BLOCK. */
static void fill_sector(unsigned char *s, uint64_t id, uint32_t block, uint32_t sector)
{
	struct sector_hdr h = { .id = id, .block = block, .sector = sector };
	uint64_t x = tool_mix64(id ^ tool_mix64((uint64_t)block << 8 | sector));

	memcpy(h.magic, MAGIC, 8);
	memcpy(s, &h, sizeof(h));
	for (size_t o = sizeof(h); o < SEC; o += 8) {
		x = tool_mix64(x);
		memcpy(s + o, &x, 8);
	}
}

static void fill_block(unsigned char *b, uint64_t id, uint32_t block)
{
	if (!id) {
		memset(b, 0, BLK);
		return;
	}
	for (uint32_t s = 0; s < SECS_PER_BLK; s++)
		fill_sector(b + (size_t)s * SEC, id, block, s);
}

/* The value id a sector holds: 0 zeros, GARBAGE when it does not parse. */
static uint64_t sector_id(const unsigned char *s, uint32_t block, uint32_t sector)
{
	unsigned char exp[SEC];
	struct sector_hdr h;
	size_t k;

	for (k = 0; k < SEC && !s[k]; k++)
		;
	if (k == SEC)
		return 0;
	memcpy(&h, s, sizeof(h));
	if (memcmp(h.magic, MAGIC, 8) || h.block != block || h.sector != sector || !h.id || h.id == GARBAGE)
		return GARBAGE;
	fill_sector(exp, h.id, block, sector);
	return memcmp(exp, s, SEC) ? GARBAGE : h.id;
}

/* ---- the engine ---- */

enum op_kind { OP_WRITE, OP_READ, OP_CAW };
enum path_state { P_DOWN, P_LOGIN, P_UP };

struct sess;
struct op;

/* One command sent for an operation on one session. */
struct attempt {
	struct op *op;		/* NULL once abandoned: the operation went on without it */
	struct sess *sess;
	struct attempt *next;	/* in sess->att */
	struct scsi_task *task;
	uint64_t op_id;
	int n, path;
	int64_t t_sent;
	unsigned char buf[2 * BLK];
};

struct sess {
	struct iscsi_context *iscsi;
	struct iscsi_url *url;
	int path;
	bool zombie;
	int64_t t_start, drain_until;
	struct attempt *att;
	struct sess *next;	/* in the zombie list */
};

struct path {
	const char *url;
	enum path_state state;
	struct sess *cur;
	int64_t next_try;
	unsigned int logins;
};

struct op {
	bool busy;
	enum op_kind kind;
	uint64_t id, value, expect;
	uint32_t block;
	int64_t t_inv, retry_at, think_until;
	int attempts, avoid_path;
	struct attempt *cur;
};

struct engine {
	struct path path[2];
	struct sess *zombies;
	struct op ops[MAX_WORKERS];
	unsigned int workers, blocks, stride;
	uint64_t client, next_op, next_val, rng;
	int64_t failover_us, deadline_us, op_timeout_us, think_us;
	unsigned int read_pct, caw_pct;
	bool verify;
	uint32_t verify_next;
	bool *busy_block;
	uint64_t *known;	/* what this client believes block b holds; UINT64_MAX: unknown */
	unsigned int rr;
	unsigned int sess_serial;
	FILE *hist;
	uint64_t n_ops, n_ok, n_fail, n_miscompare, n_attempts, n_failovers, n_late, n_hung;
};

/* libiscsi's callbacks carry the attempt, which outlives its operation */
static struct engine *the_engine;

static void hist(struct engine *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void hist(struct engine *e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(e->hist, fmt, ap);
	va_end(ap);
	fputc('\n', e->hist);
}

static uint64_t rnd(struct engine *e)
{
	return tool_mix64(e->rng++);
}

static void sess_free(struct sess *s)
{
	struct attempt *a, *n;

	if (s->iscsi) {
		if (s->url)
			iscsi_destroy_url(s->url);
		iscsi_destroy_context(s->iscsi);
	}
	for (a = s->att; a; a = n) {
		n = a->next;
		free(a);
	}
	free(s);
}

static void sess_unlink(struct sess *s, struct attempt *a)
{
	struct attempt **pp;

	for (pp = &s->att; *pp; pp = &(*pp)->next)
		if (*pp == a) {
			*pp = a->next;
			return;
		}
}

static void login_cb(struct iscsi_context *iscsi, int status, void *command_data, void *private_data);

static void path_connect(struct engine *e, int p)
{
	struct path *pa = &e->path[p];
	struct sess *s = calloc(1, sizeof(*s));
	char iqn[96];

	if (!s)
		goto fail;
	snprintf(iqn, sizeof(iqn), "iqn.2024-01.org.shoal:nemesis-c%" PRIu64 "-p%d-%u", e->client, p,
		 ++e->sess_serial);
	s->path = p;
	s->t_start = now_us();
	s->iscsi = iscsi_create_context(iqn);
	if (!s->iscsi)
		goto fail;
	s->url = iscsi_parse_full_url(s->iscsi, pa->url);
	if (!s->url) {
		fprintf(stderr, "%s: URL %s: %s\n", prog, pa->url, iscsi_get_error(s->iscsi));
		exit(2);
	}
	iscsi_set_noautoreconnect(s->iscsi, 1);
	iscsi_set_timeout(s->iscsi, 0);
	iscsi_set_session_type(s->iscsi, ISCSI_SESSION_NORMAL);
	iscsi_set_header_digest(s->iscsi, ISCSI_HEADER_DIGEST_NONE_CRC32C);
	pa->cur = s;
	pa->state = P_LOGIN;
	if (iscsi_full_connect_async(s->iscsi, s->url->portal, s->url->lun, login_cb, e))
		goto fail;
	return;
fail:
	if (s)
		sess_free(s);
	pa->cur = NULL;
	pa->state = P_DOWN;
	pa->next_try = now_us() + REINSTATE_US;
}

static void login_cb(struct iscsi_context *iscsi, int status, void *command_data, void *private_data)
{
	struct engine *e = private_data;

	(void)command_data;
	for (int p = 0; p < 2; p++) {
		struct path *pa = &e->path[p];

		if (pa->state != P_LOGIN || !pa->cur || pa->cur->iscsi != iscsi)
			continue;
		if (status == SCSI_STATUS_GOOD) {
			pa->state = P_UP;
			pa->logins++;
			hist(e, "P %d %" PRId64 " up login", p, now_us());
		} else {
			/* freed by the main loop, outside libiscsi's callback */
			pa->state = P_DOWN;
			pa->next_try = now_us() + REINSTATE_US;
		}
	}
}

static void op_retry(struct engine *e, struct op *o, int avoid, int64_t at)
{
	(void)e;
	o->cur = NULL;
	o->avoid_path = avoid;
	o->retry_at = at;
}

/* Path P failed (WHY): abandon its attempts, keep the session to drain or close it. */
static void path_fail(struct engine *e, int p, const char *why, bool drain)
{
	struct path *pa = &e->path[p];
	struct sess *s = pa->cur;
	struct attempt *a;
	int64_t t = now_us(), last = 0;

	pa->cur = NULL;
	pa->state = P_DOWN;
	pa->next_try = t + REINSTATE_US;
	hist(e, "P %d %" PRId64 " down %s", p, t, why);
	if (!s)
		return;
	for (a = s->att; a; a = a->next) {
		if (a->t_sent > last)
			last = a->t_sent;
		if (!a->op)
			continue;
		hist(e, "X %" PRIu64 " %" PRId64 " %d %d %s", a->op_id, t, p, a->n,
		     t - a->t_sent >= e->failover_us ? "failover" : "pathdown");
		op_retry(e, a->op, p, t);
		a->op = NULL;
	}
	if (drain && s->att) {
		s->zombie = true;
		s->drain_until = last + e->deadline_us + ZOMBIE_SLACK_US;
		s->next = e->zombies;
		e->zombies = s;
	} else {
		/* the connection is gone: its commands will never be answered to us */
		sess_free(s);
	}
}

static bool retryable_sense(const struct scsi_task *t)
{
	switch (t->sense.key) {
	case SCSI_SENSE_NOT_READY:
	case SCSI_SENSE_UNIT_ATTENTION:
	case SCSI_SENSE_COMMAND_ABORTED:
		return true;
	default:
		return false;
	}
}

static void op_end(struct engine *e, struct op *o, const char *outcome, const char *extra)
{
	hist(e, "E %" PRIu64 " %" PRId64 " %s%s%s", o->id, now_us(), outcome, extra ? " " : "", extra ? extra : "");
	if (!strcmp(outcome, "ok"))
		e->n_ok++;
	else if (!strcmp(outcome, "miscompare"))
		e->n_miscompare++;
	else
		e->n_fail++;
	o->busy = false;
	o->cur = NULL;
	e->busy_block[o->block] = false;
	o->think_until = now_us() + (e->think_us ? (int64_t)(rnd(e) % (uint64_t)e->think_us) : 0);
}

/* A read's values: one id when all sectors agree, else one per sector. */
static void read_done(struct engine *e, struct op *o, const unsigned char *data)
{
	uint64_t id[SECS_PER_BLK];
	char buf[SECS_PER_BLK * 17 + 8];
	size_t n = 0;
	bool same = true;

	for (uint32_t s = 0; s < SECS_PER_BLK; s++) {
		id[s] = sector_id(data + (size_t)s * SEC, o->block, s);
		same &= id[s] == id[0];
	}
	for (uint32_t s = 0; s < (same ? 1 : SECS_PER_BLK); s++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%" PRIx64, s ? "," : "", id[s]);
	e->known[o->block] = same && id[0] != GARBAGE ? id[0] : UINT64_MAX;
	op_end(e, o, "ok", buf);
}

static void scsi_cb(struct iscsi_context *iscsi, int status, void *command_data, void *private_data)
{
	struct attempt *a = private_data;
	struct scsi_task *t = command_data;
	struct engine *e;
	struct op *o = a->op;
	char res[48];
	int64_t now = now_us();

	(void)iscsi;
	if (status == SCSI_STATUS_CANCELLED)
		return;		/* the session is being destroyed; the attempt goes with it */
	if (status == SCSI_STATUS_GOOD)
		snprintf(res, sizeof(res), "good");
	else if (status == SCSI_STATUS_CHECK_CONDITION && t && t->sense.key == SCSI_SENSE_MISCOMPARE)
		snprintf(res, sizeof(res), "miscompare");
	else if (status == SCSI_STATUS_CHECK_CONDITION && t)
		snprintf(res, sizeof(res), "sense:%x/%02x/%02x", t->sense.key, t->sense.ascq >> 8,
			 t->sense.ascq & 0xff);
	else if (status == SCSI_STATUS_ERROR)
		snprintf(res, sizeof(res), "transport");
	else
		snprintf(res, sizeof(res), "status:%d", status);
	a->task = NULL;
	e = the_engine;
	if (!o) {
		hist(e, "Z %" PRIu64 " %" PRId64 " %d %d %s %" PRId64, a->op_id, now, a->path, a->n, res,
		     (now - a->t_sent) / 1000);
		e->n_late++;
	} else {
		hist(e, "X %" PRIu64 " %" PRId64 " %d %d %s", a->op_id, now, a->path, a->n, res);
		if (status == SCSI_STATUS_GOOD) {
			if (o->kind == OP_READ) {
				if (t && t->datain.size == BLK)
					read_done(e, o, t->datain.data);
				else
					op_end(e, o, "fail", "short-read");
			} else {
				e->known[o->block] = o->value;
				op_end(e, o, "ok", NULL);
			}
		} else if (!strcmp(res, "miscompare")) {
			e->known[o->block] = UINT64_MAX;
			op_end(e, o, "miscompare", NULL);
		} else if (status == SCSI_STATUS_CHECK_CONDITION && t && !retryable_sense(t)) {
			e->known[o->block] = UINT64_MAX;
			op_end(e, o, "fail", res);
		} else {
			/* a path error: the other path, or this one a little later */
			int other = 1 - a->path;

			op_retry(e, o, a->path, e->path[other].state == P_UP ? now : now + SAME_PATH_RETRY_US);
		}
	}
	if (a->sess)
		sess_unlink(a->sess, a);
	if (t)
		scsi_free_scsi_task(t);
	free(a);
}

static void op_send(struct engine *e, struct op *o, int p)
{
	struct sess *s = e->path[p].cur;
	struct attempt *a = calloc(1, sizeof(*a));
	int lun = s->url->lun;
	uint64_t lba = (uint64_t)o->block * e->stride;

	if (!a) {
		fprintf(stderr, "%s: out of memory\n", prog);
		exit(1);
	}
	a->op = o;
	a->sess = s;
	a->op_id = o->id;
	a->n = ++o->attempts;
	a->path = p;
	a->t_sent = now_us();
	o->cur = a;
	e->n_attempts++;
	hist(e, "S %" PRIu64 " %" PRId64 " %d %d", o->id, a->t_sent, p, a->n);
	switch (o->kind) {
	case OP_WRITE:
		fill_block(a->buf, o->value, o->block);
		a->task = iscsi_write16_task(s->iscsi, lun, lba, a->buf, BLK, SEC, 0, 0, 0, 0, 0, scsi_cb, a);
		break;
	case OP_READ:
		a->task = iscsi_read16_task(s->iscsi, lun, lba, BLK, SEC, 0, 0, 0, 0, 0, scsi_cb, a);
		break;
	case OP_CAW:
		fill_block(a->buf, o->expect, o->block);
		fill_block(a->buf + BLK, o->value, o->block);
		a->task = iscsi_compareandwrite_task(s->iscsi, lun, lba, a->buf, 2 * BLK, SEC, 0, 0, 0, 0, 0,
						     scsi_cb, a);
		break;
	}
	if (!a->task) {
		hist(e, "X %" PRIu64 " %" PRId64 " %d %d noqueue", o->id, now_us(), p, a->n);
		free(a);
		o->cur = NULL;
		path_fail(e, p, "noqueue", false);
		return;
	}
	a->next = s->att;
	s->att = a;
}

static void op_new(struct engine *e, struct op *o)
{
	uint32_t b;
	uint64_t r;
	unsigned int k;

	if (e->verify) {
		if (e->verify_next >= e->blocks)
			return;
		b = e->verify_next++;
	} else {
		/* a free block; bounded: give up for this turn after 64 tries */
		for (k = 0; k < 64; k++) {
			b = (uint32_t)(rnd(e) % e->blocks);
			if (!e->busy_block[b])
				break;
		}
		if (k == 64)
			return;
	}
	memset(o, 0, sizeof(*o));
	o->busy = true;
	o->block = b;
	o->id = e->client << 48 | ++e->next_op;
	o->t_inv = now_us();
	o->avoid_path = -1;
	o->retry_at = o->t_inv;
	e->busy_block[b] = true;
	r = rnd(e) % 100;
	if (e->verify || r < e->read_pct) {
		o->kind = OP_READ;
	} else if (r < e->read_pct + e->caw_pct && e->known[b] != UINT64_MAX) {
		o->kind = OP_CAW;
		o->expect = e->known[b];
	} else {
		o->kind = OP_WRITE;
	}
	if (o->kind != OP_READ)
		o->value = e->client << 48 | ++e->next_val;
	e->n_ops++;
	if (o->kind == OP_CAW)
		hist(e, "I %" PRIu64 " %" PRId64 " C %u %" PRIx64 " %" PRIx64, o->id, o->t_inv, b, o->value,
		     o->expect);
	else
		hist(e, "I %" PRIu64 " %" PRId64 " %c %u %" PRIx64, o->id, o->t_inv, o->kind == OP_READ ? 'R' : 'W',
		     b, o->value);
}

static unsigned int path_queue(const struct path *pa)
{
	unsigned int n = 0;

	for (const struct attempt *a = pa->cur ? pa->cur->att : NULL; a; a = a->next)
		n++;
	return n;
}

/*
 * Send O on a live path: not the one it just failed on if the other is up,
 * else the one with fewer commands outstanding (dm-multipath's queue-length
 * and service-time selectors), round robin between equals.  So a path whose
 * commands hang gets little new I/O while the other carries the load, as
 * under a real initiator.
 */
static void op_dispatch(struct engine *e, struct op *o, int64_t now)
{
	int p = -1;

	if (now - o->t_inv > e->op_timeout_us) {
		e->known[o->block] = UINT64_MAX;
		op_end(e, o, "fail", "no-path");
		return;
	}
	if (o->avoid_path >= 0 && e->path[1 - o->avoid_path].state == P_UP) {
		p = 1 - o->avoid_path;
	} else if (e->path[0].state == P_UP && e->path[1].state == P_UP) {
		unsigned int q0 = path_queue(&e->path[0]), q1 = path_queue(&e->path[1]);

		p = q0 < q1 ? 0 : q1 < q0 ? 1 : (int)e->rr;
		e->rr = 1 - e->rr;
	} else if (e->path[0].state == P_UP) {
		p = 0;
	} else if (e->path[1].state == P_UP) {
		p = 1;
	}
	if (p < 0)
		return;
	op_send(e, o, p);
}

static int run(struct engine *e, double seconds)
{
	int64_t t_end = now_us() + (int64_t)(seconds * 1e6);
	unsigned int busy;

	for (;;) {
		int64_t now = now_us();
		bool issuing = !stop_flag && (e->verify ? e->verify_next < e->blocks : now < t_end);
		struct pollfd pfd[2 + 64];
		struct sess *ps[2 + 64];
		int np = 0;
		struct sess **zp;

		/* paths: (re)login, login timeout, silent attempts */
		for (int p = 0; p < 2; p++) {
			struct path *pa = &e->path[p];

			if (pa->state == P_DOWN && pa->cur) {
				/* a failed login: the session dies here, not in its callback */
				sess_free(pa->cur);
				pa->cur = NULL;
			}
			if (pa->state == P_DOWN && now >= pa->next_try)
				path_connect(e, p);
			if (pa->state == P_LOGIN && now - pa->cur->t_start > LOGIN_TIMEOUT_US) {
				sess_free(pa->cur);
				pa->cur = NULL;
				pa->state = P_DOWN;
				pa->next_try = now + REINSTATE_US;
			}
			if (pa->state == P_UP)
				for (struct attempt *a = pa->cur->att; a; a = a->next)
					if (a->op && now - a->t_sent >= e->failover_us) {
						e->n_failovers++;
						path_fail(e, p, "silent", true);
						break;
					}
		}
		/* zombies past their drain time: whatever they still hold is hung */
		for (zp = &e->zombies; *zp;) {
			struct sess *z = *zp;

			if (now >= z->drain_until || !z->att) {
				for (struct attempt *a = z->att; a; a = a->next) {
					hist(e, "H %" PRIu64 " %" PRId64 " %d %d %" PRId64, a->op_id, now, a->path, a->n,
					     (now - a->t_sent) / 1000);
					e->n_hung++;
				}
				*zp = z->next;
				sess_free(z);
			} else {
				zp = &z->next;
			}
		}
		/* operations */
		busy = 0;
		for (unsigned int i = 0; i < e->workers; i++) {
			struct op *o = &e->ops[i];

			if (!o->busy && issuing && now >= o->think_until)
				op_new(e, o);
			if (o->busy && !o->cur && now >= o->retry_at)
				op_dispatch(e, o, now);
			busy += o->busy;
		}
		if (!issuing && !busy)
			break;
		for (int p = 0; p < 2; p++) {
			struct path *pa = &e->path[p];

			if (pa->cur && (pa->state == P_UP || pa->state == P_LOGIN)) {
				ps[np] = pa->cur;
				pfd[np].fd = iscsi_get_fd(pa->cur->iscsi);
				pfd[np].events = (short)iscsi_which_events(pa->cur->iscsi);
				pfd[np].revents = 0;
				np++;
			}
		}
		for (struct sess *z = e->zombies; z && np < (int)(sizeof(pfd) / sizeof(pfd[0])); z = z->next) {
			ps[np] = z;
			pfd[np].fd = iscsi_get_fd(z->iscsi);
			pfd[np].events = (short)iscsi_which_events(z->iscsi);
			pfd[np].revents = 0;
			np++;
		}
		if (poll(pfd, (nfds_t)np, 20) < 0 && errno != EINTR) {
			fprintf(stderr, "%s: poll: %s\n", prog, strerror(errno));
			return 1;
		}
		for (int i = 0; i < np; i++) {
			struct sess *s = ps[i];

			if (iscsi_service(s->iscsi, pfd[i].revents) >= 0)
				continue;
			if (s->zombie) {
				/* a dead drained session: its attempts will never answer */
				for (struct attempt *a = s->att; a; a = a->next)
					hist(e, "Z %" PRIu64 " %" PRId64 " %d %d transport %" PRId64, a->op_id,
					     now_us(), a->path, a->n, (now_us() - a->t_sent) / 1000);
				s->drain_until = 0;
			} else if (e->path[s->path].cur == s) {
				if (e->path[s->path].state == P_LOGIN) {
					e->path[s->path].state = P_DOWN;
					e->path[s->path].next_try = now_us() + REINSTATE_US;
				} else {
					path_fail(e, s->path, "transport", false);
				}
			}
		}
	}
	for (int p = 0; p < 2; p++)
		if (e->path[p].cur) {
			sess_free(e->path[p].cur);
			e->path[p].cur = NULL;
		}
	while (e->zombies) {
		struct sess *z = e->zombies;

		e->zombies = z->next;
		for (struct attempt *a = z->att; a; a = a->next)
			hist(e, "H %" PRIu64 " %" PRId64 " %d %d %" PRId64, a->op_id, now_us(), a->path, a->n,
			     (now_us() - a->t_sent) / 1000);
		sess_free(z);
	}
	printf("%s: %s: %" PRIu64 " operations (%" PRIu64 " ok, %" PRIu64 " failed, %" PRIu64
	       " miscompare), %" PRIu64 " attempts, %" PRIu64 " path failovers, %" PRIu64 " late answers, %" PRIu64
	       " hung, logins %u+%u\n",
	       prog, e->verify ? "verify" : "run", e->n_ops, e->n_ok, e->n_fail, e->n_miscompare, e->n_attempts,
	       e->n_failovers, e->n_late, e->n_hung, e->path[0].logins, e->path[1].logins);
	return 0;
}

/* ---- command line ---- */

static int usage(void)
{
	fprintf(stderr,
		"usage: %s run|verify URL0 URL1 HISTORY --blocks N [--stride SECTORS] [--client C]\n"
		"       [--seconds S] [--workers W] [--seed X] [--read-pct P] [--caw-pct P] [--think-ms MS]\n"
		"       [--failover-ms MS] [--deadline-ms MS] [--op-timeout-ms MS]\n", prog);
	return 2;
}

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

int main(int argc, char **argv)
{
	uint64_t blocks = 0, stride = SECS_PER_BLK, client = 1, seconds = 60, workers = 4, seed = 1;
	uint64_t read_pct = 30, caw_pct = 10, think_ms = 20, failover_ms = 8000, deadline_ms = 30000;
	uint64_t op_timeout_ms = 60000;
	static struct engine e;
	struct sigaction sa = { .sa_handler = on_signal };
	bool verify;
	int i, rc;

	if (argc < 5)
		return usage();
	if (!strcmp(argv[1], "run"))
		verify = false;
	else if (!strcmp(argv[1], "verify"))
		verify = true;
	else
		return usage();
	for (i = 5; i < argc; i += 2) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int r;

		if (!strcmp(o, "--blocks"))
			r = tool_num_arg(prog, o, v, 1, MAX_BLOCKS, &blocks);
		else if (!strcmp(o, "--stride"))
			r = tool_num_arg(prog, o, v, SECS_PER_BLK, 1u << 24, &stride);
		else if (!strcmp(o, "--client"))
			r = tool_num_arg(prog, o, v, 1, 0xfffe, &client);
		else if (!strcmp(o, "--seconds"))
			r = tool_num_arg(prog, o, v, 1, 86400, &seconds);
		else if (!strcmp(o, "--workers"))
			r = tool_num_arg(prog, o, v, 1, MAX_WORKERS, &workers);
		else if (!strcmp(o, "--seed"))
			r = tool_num_arg(prog, o, v, 0, UINT64_MAX, &seed);
		else if (!strcmp(o, "--read-pct"))
			r = tool_num_arg(prog, o, v, 0, 100, &read_pct);
		else if (!strcmp(o, "--caw-pct"))
			r = tool_num_arg(prog, o, v, 0, 100, &caw_pct);
		else if (!strcmp(o, "--think-ms"))
			r = tool_num_arg(prog, o, v, 0, 60000, &think_ms);
		else if (!strcmp(o, "--failover-ms"))
			r = tool_num_arg(prog, o, v, 100, 600000, &failover_ms);
		else if (!strcmp(o, "--deadline-ms"))
			r = tool_num_arg(prog, o, v, 100, 3600000, &deadline_ms);
		else if (!strcmp(o, "--op-timeout-ms"))
			r = tool_num_arg(prog, o, v, 100, 3600000, &op_timeout_ms);
		else {
			fprintf(stderr, "%s: unknown option '%s'\n", prog, o);
			return usage();
		}
		if (r)
			return 2;
	}
	if (!blocks) {
		fprintf(stderr, "%s: --blocks is required\n", prog);
		return 2;
	}
	if (read_pct + caw_pct > 100) {
		fprintf(stderr, "%s: --read-pct plus --caw-pct is more than 100\n", prog);
		return 2;
	}
	if (stride % SECS_PER_BLK) {
		fprintf(stderr, "%s: --stride: %" PRIu64 " is not a multiple of %d sectors\n", prog, stride,
			SECS_PER_BLK);
		return 2;
	}
	e.path[0].url = argv[2];
	e.path[1].url = argv[3];
	e.blocks = (unsigned int)blocks;
	e.stride = (unsigned int)stride;
	e.client = client;
	e.workers = (unsigned int)workers;
	e.rng = tool_mix64(seed ^ client << 32);
	e.read_pct = (unsigned int)read_pct;
	e.caw_pct = (unsigned int)caw_pct;
	e.think_us = (int64_t)think_ms * 1000;
	e.failover_us = (int64_t)failover_ms * 1000;
	e.deadline_us = (int64_t)deadline_ms * 1000;
	e.op_timeout_us = (int64_t)op_timeout_ms * 1000;
	e.verify = verify;
	e.busy_block = calloc(blocks, sizeof(*e.busy_block));
	e.known = calloc(blocks, sizeof(*e.known));
	if (!e.busy_block || !e.known) {
		fprintf(stderr, "%s: out of memory\n", prog);
		return 1;
	}
	/* nothing known until read: another client or an earlier run may have written */
	for (i = 0; i < (int)blocks; i++)
		e.known[i] = UINT64_MAX;
	e.hist = fopen(argv[4], "a");
	if (!e.hist) {
		fprintf(stderr, "%s: %s: %s\n", prog, argv[4], strerror(errno));
		return 1;
	}
	setvbuf(e.hist, NULL, _IOLBF, 0);
	the_engine = &e;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	rc = run(&e, (double)seconds);
	fclose(e.hist);
	free(e.busy_block);
	free(e.known);
	return rc;
}
