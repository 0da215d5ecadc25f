/*
 * iscsi_torture: a verifying writer for the crash-torture scenarios
 * (tests/cluster/82N-*.sh), through libiscsi.
 *
 *   iscsi_torture write URL LOG --run R --seconds S [--qd Q] [--max-blocks M] [--seed N]
 *   iscsi_torture verify URL LOG [--timeout S]
 *
 * write: for S seconds keeps Q WRITE(16)s in flight at random LBAs with
 * random lengths (1..M blocks of 512 bytes) over the whole LUN.  Every
 * sector of every write holds a header (write id, LBA, the write's extent)
 * and a fill derived from them, so a sector names the write it came from
 * and a sector mixed from two writes does not parse.  LOG gets one line
 * per event, appended and flushed as it happens:
 *
 *   I ID LBA NBLK STAMP     issued
 *   A ID STAMP              acknowledged (SCSI GOOD)
 *   F ID STAMP WHY          failed, or abandoned when the session died or
 *                           the run ended with it still in flight
 *
 * IDs are R << 32 | seq, STAMPs R << 40 | event counter: both grow across
 * runs, so one log holds every cycle of a scenario.  A failed session is
 * logged in again (bounded by the run's end); nothing in flight on it is
 * counted as acknowledged.
 *
 * verify: reads the whole LUN and checks every sector against the log.
 * Write W "ended" at its A or F stamp (unended: the end of its run).  A
 * sector at LBA L may hold W when W covers L and no acknowledged write
 * covering L was issued after W ended: the last acknowledged content or a
 * later (or concurrent) unacknowledged one, never an older one.  It may be
 * unwritten (zeros) only if no acknowledged write covers L.  Every finding
 * is printed (the first 20 in full); exit 1 if there is any.
 *
 * Exit: 0 done (write) or no finding (verify), 1 a finding or a failure
 * to run, 2 usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
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

#define BLK 512
#define MAX_QD 64
#define MAX_BLOCKS_PER_WRITE 256
#define MAX_LUN_BLOCKS (1u << 24)		/* 8 GiB: the torture LUN is small */
#define READ_BLOCKS 128
#define MAGIC "SHOALTRT"

static const char *prog = "iscsi_torture";

struct sector_hdr {
	char magic[8];
	uint64_t id;
	uint64_t lba;		/* of this sector */
	uint64_t wlba;		/* the write's first LBA */
	uint32_t nblk;		/* the write's length */
	uint32_t idx;		/* lba - wlba */
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The one content write ID puts at LBA (its extent WLBA+NBLK). */
static void fill_sector(unsigned char *s, uint64_t id, uint64_t lba, uint64_t wlba, uint32_t nblk)
{
	struct sector_hdr h = { .id = id, .lba = lba, .wlba = wlba, .nblk = nblk, .idx = (uint32_t)(lba - wlba) };
	uint64_t x = tool_mix64(id ^ tool_mix64(lba));

	memcpy(h.magic, MAGIC, 8);
	memcpy(s, &h, sizeof(h));
	for (size_t o = sizeof(h); o < BLK; o += 8) {
		x = tool_mix64(x);
		memcpy(s + o, &x, 8);
	}
}

/* ---- session ---- */

struct sess {
	const char *url_s;
	struct iscsi_context *iscsi;
	struct iscsi_url *url;
	uint64_t blocks;
};

static void sess_close(struct sess *s)
{
	if (s->iscsi) {
		if (iscsi_is_logged_in(s->iscsi))
			iscsi_logout_sync(s->iscsi);
		if (s->url)
			iscsi_destroy_url(s->url);
		iscsi_destroy_context(s->iscsi);
	}
	s->iscsi = NULL;
	s->url = NULL;
}

/* One login attempt (sync calls bounded to 5 s); reads the capacity. */
static int sess_open(struct sess *s, bool quiet)
{
	struct scsi_task *t;

	s->iscsi = iscsi_create_context("iqn.2024-01.org.shoal:torture");
	if (!s->iscsi)
		return -1;
	s->url = iscsi_parse_full_url(s->iscsi, s->url_s);
	if (!s->url) {
		fprintf(stderr, "%s: URL %s: %s\n", prog, s->url_s, iscsi_get_error(s->iscsi));
		sess_close(s);
		return -2;
	}
	iscsi_set_noautoreconnect(s->iscsi, 1);
	iscsi_set_timeout(s->iscsi, 5);
	iscsi_set_session_type(s->iscsi, ISCSI_SESSION_NORMAL);
	iscsi_set_header_digest(s->iscsi, ISCSI_HEADER_DIGEST_NONE_CRC32C);
	if (iscsi_full_connect_sync(s->iscsi, s->url->portal, s->url->lun))
		goto fail;
	t = iscsi_readcapacity16_sync(s->iscsi, s->url->lun);
	if (!t || t->status != SCSI_STATUS_GOOD) {
		if (t)
			scsi_free_scsi_task(t);
		goto fail;
	}
	{
		struct scsi_readcapacity16 *rc = scsi_datain_unmarshall(t);

		if (!rc || rc->block_length != BLK) {
			fprintf(stderr, "%s: the LUN's block size is not %d\n", prog, BLK);
			scsi_free_scsi_task(t);
			sess_close(s);
			return -2;
		}
		s->blocks = rc->returned_lba + 1;
	}
	scsi_free_scsi_task(t);
	/* the writer's own deadline bounds commands, not libiscsi's */
	iscsi_set_timeout(s->iscsi, 0);
	return 0;
fail:
	if (!quiet)
		fprintf(stderr, "%s: login to %s: %s\n", prog, s->url_s, iscsi_get_error(s->iscsi));
	sess_close(s);
	return -1;
}

/* Log in, retrying every 200 ms until deadline. */
static int sess_open_until(struct sess *s, double deadline)
{
	int r;

	while ((r = sess_open(s, true)) == -1 && now_s() < deadline)
		usleep(200000);
	if (r == -1)
		fprintf(stderr, "%s: no login to %s before the deadline\n", prog, s->url_s);
	return r;
}

/* ---- write ---- */

struct slot {
	struct writer *w;
	bool busy;
	struct scsi_task *task;
	uint64_t id, lba, issued;
	uint32_t nblk;
	double t0;
	unsigned char buf[MAX_BLOCKS_PER_WRITE * BLK];
};

struct writer {
	struct sess s;
	FILE *log;
	uint64_t run, seq, ctr;
	unsigned int qd, max_blocks;
	uint64_t rng;
	struct slot *slots;
	uint64_t issued, acked, failed, abandoned, sessions;
};

static uint64_t stamp(struct writer *w)
{
	return w->run << 40 | ++w->ctr;
}

static void logf_line(struct writer *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_line(struct writer *w, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(w->log, fmt, ap);
	va_end(ap);
	fflush(w->log);
}

static void slot_end(struct slot *sl, bool ok, const char *why)
{
	struct writer *w = sl->w;

	if (ok) {
		logf_line(w, "A %" PRIu64 " %" PRIu64 "\n", sl->id, stamp(w));
		w->acked++;
	} else {
		logf_line(w, "F %" PRIu64 " %" PRIu64 " %s\n", sl->id, stamp(w), why);
		w->failed++;
	}
	sl->busy = false;
	sl->task = NULL;
}

static void write_cb(struct iscsi_context *iscsi, int status, void *command_data, void *private_data)
{
	struct slot *sl = private_data;
	struct scsi_task *task = command_data;
	char why[64];

	(void)iscsi;
	if (sl->busy && task && task == sl->task) {
		if (status == SCSI_STATUS_GOOD) {
			slot_end(sl, true, NULL);
		} else {
			snprintf(why, sizeof(why), "status=%d/sense=%x/%04x", status, task->sense.key,
				 task->sense.ascq);
			slot_end(sl, false, why);
		}
	}
	if (task)
		scsi_free_scsi_task(task);
}

static int slot_issue(struct writer *w, struct slot *sl)
{
	uint64_t r = tool_mix64(w->rng++);
	uint32_t nblk = 1 + (uint32_t)(r % w->max_blocks);
	uint64_t lba;

	if (nblk > w->s.blocks)
		nblk = (uint32_t)w->s.blocks;
	lba = (r >> 16) % (w->s.blocks - nblk + 1);
	sl->id = w->run << 32 | ++w->seq;
	sl->lba = lba;
	sl->nblk = nblk;
	for (uint32_t i = 0; i < nblk; i++)
		fill_sector(sl->buf + (size_t)i * BLK, sl->id, lba + i, lba, nblk);
	sl->issued = stamp(w);
	logf_line(w, "I %" PRIu64 " %" PRIu64 " %u %" PRIu64 "\n", sl->id, lba, nblk, sl->issued);
	w->issued++;
	sl->busy = true;
	sl->t0 = now_s();
	sl->task = iscsi_write16_task(w->s.iscsi, w->s.url->lun, lba, sl->buf, nblk * BLK, BLK,
				      0, 0, 0, 0, 0, write_cb, sl);
	if (!sl->task) {
		slot_end(sl, false, "not-queued");
		return -1;
	}
	return 0;
}

/* The session is gone: whatever it had in flight is unacknowledged. */
static void abandon_all(struct writer *w, const char *why)
{
	for (unsigned int i = 0; i < w->qd; i++)
		if (w->slots[i].busy) {
			slot_end(&w->slots[i], false, why);
			w->abandoned++;
		}
	sess_close(&w->s);
}

static unsigned int in_flight(const struct writer *w)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < w->qd; i++)
		n += w->slots[i].busy;
	return n;
}

static int do_write(struct writer *w, double seconds, double cmd_timeout)
{
	double t_end = now_s() + seconds, t_drain = t_end + cmd_timeout;
	bool ok_session = false;

	while (now_s() < t_drain) {
		bool issuing = now_s() < t_end;
		struct pollfd p;

		if (!w->s.iscsi) {
			if (!issuing)
				break;
			if (sess_open_until(&w->s, t_end) < 0)
				break;
			w->sessions++;
			ok_session = true;
		}
		if (!issuing && !in_flight(w))
			break;
		for (unsigned int i = 0; issuing && i < w->qd; i++)
			if (!w->slots[i].busy && slot_issue(w, &w->slots[i]))
				break;
		for (unsigned int i = 0; i < w->qd; i++)
			if (w->slots[i].busy && now_s() - w->slots[i].t0 > cmd_timeout) {
				abandon_all(w, "command-timeout");
				break;
			}
		if (!w->s.iscsi)
			continue;
		p.fd = iscsi_get_fd(w->s.iscsi);
		p.events = iscsi_which_events(w->s.iscsi);
		p.revents = 0;
		if (poll(&p, 1, 100) < 0 && errno != EINTR) {
			abandon_all(w, "poll");
			continue;
		}
		if (iscsi_service(w->s.iscsi, p.revents) < 0 || !iscsi_is_logged_in(w->s.iscsi))
			abandon_all(w, "session-lost");
	}
	if (w->s.iscsi || in_flight(w))
		abandon_all(w, "run-ended");
	printf("%s: run %" PRIu64 ": issued %" PRIu64 ", acknowledged %" PRIu64 ", failed %" PRIu64
	       " (%" PRIu64 " abandoned in flight), sessions %" PRIu64 "\n",
	       prog, w->run, w->issued, w->acked, w->failed, w->abandoned, w->sessions);
	return ok_session ? 0 : 1;
}

/* ---- verify ---- */

struct wrec {
	uint64_t id, lba, issued, end;
	uint32_t nblk;
	bool acked, ended;
};

struct wlog {
	struct wrec *v;
	size_t n, cap;
	uint64_t acked;
};

static struct wrec *find_rec(struct wlog *l, uint64_t id)
{
	size_t lo = 0, hi = l->n;

	while (lo < hi) {
		size_t m = lo + (hi - lo) / 2;

		if (l->v[m].id == id)
			return &l->v[m];
		if (l->v[m].id < id)
			lo = m + 1;
		else
			hi = m;
	}
	return NULL;
}

static int load_log(const char *path, struct wlog *l)
{
	FILE *f = fopen(path, "r");
	char line[256];
	unsigned long ln = 0;

	if (!f) {
		fprintf(stderr, "%s: %s: %s\n", prog, path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		uint64_t id, a, b, c;
		unsigned int nblk;
		struct wrec *r;

		ln++;
		if (line[0] == 'I' && sscanf(line + 1, "%" SCNu64 " %" SCNu64 " %u %" SCNu64, &id, &a, &nblk, &c) == 4) {
			if ((l->n && id <= l->v[l->n - 1].id) || !nblk || nblk > MAX_BLOCKS_PER_WRITE)
				goto bad;
			if (l->n == l->cap) {
				size_t cap = l->cap ? 2 * l->cap : 4096;
				struct wrec *v = realloc(l->v, cap * sizeof(*v));

				if (!v)
					goto oom;
				l->v = v;
				l->cap = cap;
			}
			l->v[l->n++] = (struct wrec){ .id = id, .lba = a, .nblk = nblk, .issued = c };
		} else if ((line[0] == 'A' || line[0] == 'F') &&
			   sscanf(line + 1, "%" SCNu64 " %" SCNu64, &id, &b) == 2) {
			r = find_rec(l, id);
			if (!r || r->ended)
				goto bad;
			r->ended = true;
			r->end = b;
			r->acked = line[0] == 'A';
			l->acked += r->acked;
		} else if (line[0] != '\n' && line[0] != '#') {
			/* a line cut by a kill of the writer is the last one */
			if (!feof(f) && strchr(line, '\n'))
				goto bad;
		}
	}
	fclose(f);
	/* unended (the writer itself died): ended with its run */
	for (size_t i = 0; i < l->n; i++)
		if (!l->v[i].ended)
			l->v[i].end = ((l->v[i].issued >> 40) + 1) << 40;
	return 0;
bad:
	fprintf(stderr, "%s: %s line %lu: malformed or out of order: %s", prog, path, ln, line);
	fclose(f);
	return -1;
oom:
	fprintf(stderr, "%s: out of memory\n", prog);
	fclose(f);
	return -1;
}

static int read_blocks(struct sess *s, uint64_t lba, uint32_t n, unsigned char *out, double deadline)
{
	for (;;) {
		struct scsi_task *t = NULL;

		if (s->iscsi || sess_open_until(s, deadline) == 0) {
			t = iscsi_read16_sync(s->iscsi, s->url->lun, lba, n * BLK, BLK, 0, 0, 0, 0, 0);
			if (t && t->status == SCSI_STATUS_GOOD && t->datain.size == (int)(n * BLK)) {
				memcpy(out, t->datain.data, (size_t)n * BLK);
				scsi_free_scsi_task(t);
				return 0;
			}
			if (!t || !iscsi_is_logged_in(s->iscsi))
				sess_close(s);
		}
		if (now_s() >= deadline) {
			fprintf(stderr, "%s: READ(16) of %u blocks at %" PRIu64 " failed until the deadline: %s\n",
				prog, n, lba, t ? "SCSI error" : "no session");
			if (t)
				scsi_free_scsi_task(t);
			return -1;
		}
		if (t)
			scsi_free_scsi_task(t);
		usleep(300000);
	}
}

static void id_str(char *b, size_t n, uint64_t id)
{
	snprintf(b, n, "%" PRIu64 ".%" PRIu64, id >> 32, id & 0xffffffffu);
}

static int do_verify(struct sess *s, const char *logpath, double timeout)
{
	struct wlog l = { 0 };
	uint64_t *last_issue = NULL, *last_id = NULL;
	uint64_t findings = 0, zero = 0, last_ok = 0, later_ok = 0, visible = 0;
	unsigned char *buf = NULL, exp[BLK];
	bool *seen = NULL;
	double deadline = now_s() + timeout;
	int rc = 1;

	if (load_log(logpath, &l))
		return 1;
	if (sess_open_until(s, deadline) < 0)
		goto out;
	if (s->blocks > MAX_LUN_BLOCKS) {
		fprintf(stderr, "%s: the LUN has %" PRIu64 " blocks; at most %u are verified\n", prog,
			s->blocks, MAX_LUN_BLOCKS);
		goto out;
	}
	last_issue = calloc(s->blocks, sizeof(*last_issue));
	last_id = calloc(s->blocks, sizeof(*last_id));
	seen = calloc(l.n ? l.n : 1, sizeof(*seen));
	buf = malloc((size_t)READ_BLOCKS * BLK);
	if (!last_issue || !last_id || !seen || !buf) {
		fprintf(stderr, "%s: out of memory\n", prog);
		goto out;
	}
	/* per LBA: the acknowledged write covering it that was issued last */
	for (size_t i = 0; i < l.n; i++) {
		const struct wrec *r = &l.v[i];

		if (!r->acked)
			continue;
		if (r->lba + r->nblk > s->blocks) {
			fprintf(stderr, "%s: the log has a write past the LUN's end (%" PRIu64 " blocks)\n",
				prog, s->blocks);
			goto out;
		}
		for (uint64_t b = r->lba; b < r->lba + r->nblk; b++)
			if (r->issued > last_issue[b]) {
				last_issue[b] = r->issued;
				last_id[b] = r->id;
			}
	}
	for (uint64_t lba = 0; lba < s->blocks; lba += READ_BLOCKS) {
		uint32_t n = (uint32_t)(s->blocks - lba < READ_BLOCKS ? s->blocks - lba : READ_BLOCKS);

		if (read_blocks(s, lba, n, buf, deadline))
			goto out;
		for (uint32_t i = 0; i < n; i++) {
			const unsigned char *sec = buf + (size_t)i * BLK;
			uint64_t b = lba + i;
			struct sector_hdr h;
			struct wrec *r = NULL;
			char why[96] = "", got[32], want[32];
			size_t k;

			for (k = 0; k < BLK && !sec[k]; k++)
				;
			if (k == BLK) {
				if (last_issue[b])
					snprintf(why, sizeof(why), "unwritten (zeros)");
				else
					zero++;
			} else {
				memcpy(&h, sec, sizeof(h));
				if (memcmp(h.magic, MAGIC, 8) || h.lba != b)
					snprintf(why, sizeof(why), "no write's header (torn or foreign data)");
				else if (!(r = find_rec(&l, h.id)))
					snprintf(why, sizeof(why), "a write the log does not have");
				else if (b < r->lba || b >= r->lba + r->nblk || h.wlba != r->lba || h.nblk != r->nblk)
					snprintf(why, sizeof(why), "a write that does not cover this block");
				else if (fill_sector(exp, r->id, b, r->lba, r->nblk), memcmp(exp, sec, BLK))
					snprintf(why, sizeof(why), "the write's header with other data (torn sector)");
				else if (last_issue[b] > r->end)
					snprintf(why, sizeof(why), "an older write than the last acknowledged one");
				else if (r->id == last_id[b])
					last_ok++;
				else
					later_ok++;
			}
			if (*why) {
				if (findings < 20) {
					id_str(got, sizeof(got), r ? r->id : h.id);
					id_str(want, sizeof(want), last_id[b]);
					printf("FINDING lba %" PRIu64 ": %s: holds write %s (%s), last acknowledged %s\n",
					       b, why, k == BLK ? "-" : got,
					       r ? (r->acked ? "acknowledged" : "unacknowledged") : "?",
					       last_issue[b] ? want : "none");
				}
				findings++;
			} else if (r && !seen[r - l.v]) {
				seen[r - l.v] = true;
				visible += r->acked;
			}
		}
	}
	printf("%s: verified %" PRIu64 " blocks against %zu writes (%" PRIu64 " acknowledged, %" PRIu64
	       " of them still visible): %" PRIu64 " hold the last acknowledged write, %" PRIu64
	       " a later or concurrent one, %" PRIu64 " never written; findings %" PRIu64 "\n",
	       prog, s->blocks, l.n, l.acked, visible, last_ok, later_ok, zero, findings);
	rc = findings ? 1 : 0;
out:
	sess_close(s);
	free(l.v);
	free(last_issue);
	free(last_id);
	free(seen);
	free(buf);
	return rc;
}

/* ---- command line ---- */

static int usage(void)
{
	fprintf(stderr, "usage: %s write URL LOG --run R --seconds S [--qd Q] [--max-blocks M] [--seed N]\n"
		"       %s verify URL LOG [--timeout S]\n", prog, prog);
	return 2;
}

int main(int argc, char **argv)
{
	uint64_t run = 0, seconds = 0, qd = 8, maxb = 64, seed = 0, timeout = 120;
	bool writing;
	int i, rc;

	if (argc < 4)
		return usage();
	if (!strcmp(argv[1], "write"))
		writing = true;
	else if (!strcmp(argv[1], "verify"))
		writing = false;
	else
		return usage();
	for (i = 4; i < argc; i += 2) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int r;

		if (writing && !strcmp(o, "--run"))
			r = tool_num_arg(prog, o, v, 1, 0xffffff, &run);
		else if (writing && !strcmp(o, "--seconds"))
			r = tool_num_arg(prog, o, v, 1, 86400, &seconds);
		else if (writing && !strcmp(o, "--qd"))
			r = tool_num_arg(prog, o, v, 1, MAX_QD, &qd);
		else if (writing && !strcmp(o, "--max-blocks"))
			r = tool_num_arg(prog, o, v, 1, MAX_BLOCKS_PER_WRITE, &maxb);
		else if (writing && !strcmp(o, "--seed"))
			r = tool_num_arg(prog, o, v, 0, UINT64_MAX, &seed);
		else if (!writing && !strcmp(o, "--timeout"))
			r = tool_num_arg(prog, o, v, 1, 3600, &timeout);
		else {
			fprintf(stderr, "%s: unknown option '%s'\n", prog, o);
			return usage();
		}
		if (r)
			return 2;
	}
	if (writing && (!run || !seconds)) {
		fprintf(stderr, "%s: write needs --run and --seconds\n", prog);
		return 2;
	}
	if (!writing) {
		struct sess s = { .url_s = argv[2] };

		return do_verify(&s, argv[3], (double)timeout);
	}
	{
		struct writer w = { .s.url_s = argv[2], .run = run, .qd = (unsigned int)qd,
				    .max_blocks = (unsigned int)maxb, .rng = tool_mix64(seed ^ run) };

		w.log = fopen(argv[3], "a");
		if (!w.log) {
			fprintf(stderr, "%s: %s: %s\n", prog, argv[3], strerror(errno));
			return 1;
		}
		w.slots = calloc(qd, sizeof(*w.slots));
		if (!w.slots) {
			fprintf(stderr, "%s: out of memory\n", prog);
			fclose(w.log);
			return 1;
		}
		for (i = 0; i < (int)qd; i++)
			w.slots[i].w = &w;
		rc = do_write(&w, (double)seconds, 30.0);
		fclose(w.log);
		free(w.slots);
		return rc;
	}
}
