/*
 * iscsi_flush_check: is there a device flush behind every acknowledged
 * write on every replica's disk?  For tests/cluster/209-cs-device-flush.sh.
 *
 *   iscsi_flush_check URL --stat FILE [--stat FILE]... [--qd N] [--count N]
 *                     [--seconds S] [--bs BYTES] [--seed N] [--no-fill]
 *
 * FILE is /sys/block/DEV/stat of the block device under one replica's data
 * directory (one per replica: the scenario gives every chunkserver a disk
 * of its own and the volume as many replicas as there are chunkservers, so
 * every write lands on every one of these disks).  Its field 16 is the
 * number of flush requests the device completed (Documentation/block/
 * stat.rst).
 *
 * First (unless --no-fill) the whole LUN is written once in 1 MiB writes,
 * so that every block is allocated on every replica and what follows is
 * overwrites: the case where a filesystem has no metadata of its own to
 * commit and a write is durable only if someone flushes the device cache.
 * Then random --bs overwrites (default 4 KiB, aligned) are kept --qd deep
 * (default 16) until --count were acknowledged or --seconds passed.  For
 * each one every FILE's flush count is read just before the WRITE(16) is
 * queued and again as soon as its GOOD status arrives.
 *
 * The check: a write acknowledged while some disk's count did not move is
 * an UNFLUSHED finding.  Why that is a necessary condition of durability:
 * the volume is write-through (the scenario checks; stock tgtd's caching
 * page says WCE=1 whatever the volume, so MODE SENSE cannot tell), and a
 * write-through volume's GOOD promises that the data survives a power cut
 * on every replica.  The write's
 * data reaches each disk after the command was queued.  A volatile write
 * cache gives data up to stable media only through a flush or a FUA write,
 * and the disks this is meant for are loop devices, which have no FUA
 * (queue/fua is 0; the scenario checks): the block layer turns a FUA
 * write into a write followed by a flush, and counts every flush it issues
 * to the device (blk_account_io_flush).  So a write that is durable at its
 * acknowledgement has a completed flush on each disk between the two
 * reads.  The converse does not hold (a flush issued before the data
 * arrived also moves the count): passing is not proof, failing is.
 *
 * Printed at the end: acknowledged writes, findings, flushes per
 * acknowledged write on each disk, and the latency (queued to GOOD).
 * Exit: 0 every write acknowledged with no finding, 1 a finding or a
 * failure, 2 usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#define MAX_DISKS	8
#define MAX_QD		64
#define FILL_BYTES	(1u << 20)
#define FILL_QD		4
#define MAX_FINDINGS_SHOWN 10

#include "tool_util.h"

static const char *prog = "iscsi_flush_check";

struct disk {
	const char *path;
	int fd;
};

struct run;

struct slot {
	struct run *r;
	bool busy;
	uint64_t lba;
	uint64_t t0_ns;
	uint64_t before[MAX_DISKS];
};

struct run {
	struct iscsi_context *iscsi;
	int lun;
	uint32_t block_size;
	uint64_t blocks;
	struct disk disk[MAX_DISKS];
	unsigned int ndisks;
	bool check;			/* the random-overwrite phase, not the fill */
	uint32_t bs;
	uint64_t rng, next_lba, want, deadline_ns;
	uint64_t issued, acked, failed, findings;
	uint64_t unflushed[MAX_DISKS];
	unsigned int inflight;
	unsigned char *buf;
	uint32_t *lat_us;
	uint64_t nlat;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t rng_next(uint64_t *s)	/* xorshift64* */
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

/* Field 16 of a diskstat line: flush requests completed.  -1 on error. */
static int read_flushes(const struct disk *d, uint64_t *out)
{
	char buf[512], *p = buf, *end;
	ssize_t n = pread(d->fd, buf, sizeof(buf) - 1, 0);
	int f;

	if (n <= 0)
		return -1;
	buf[n] = 0;
	for (f = 1; f <= 16; f++) {
		errno = 0;
		*out = strtoull(p, &end, 10);
		if (end == p || errno)
			return -1;
		p = end;
	}
	return 0;
}

static int read_all(struct run *r, uint64_t *v)
{
	for (unsigned int i = 0; i < r->ndisks; i++)
		if (read_flushes(&r->disk[i], &v[i])) {
			fprintf(stderr, "%s: %s: cannot read field 16 (flushes)\n", prog, r->disk[i].path);
			return -1;
		}
	return 0;
}

static int issue(struct run *r, struct slot *sl);

static void write_cb(struct iscsi_context *iscsi, int status, void *data, void *priv)
{
	struct slot *sl = priv;
	struct run *r = sl->r;
	struct scsi_task *task = data;
	uint64_t after[MAX_DISKS];
	bool read_ok = !r->check || read_all(r, after) == 0;

	sl->busy = false;
	r->inflight--;
	if (status != SCSI_STATUS_GOOD || !read_ok) {
		if (r->failed++ < 5)
			fprintf(stderr, "%s: WRITE(16) at lba %" PRIu64 " failed: %s\n", prog, sl->lba,
				read_ok ? iscsi_get_error(iscsi) : "flush counters unreadable");
	} else {
		uint64_t lat = (now_ns() - sl->t0_ns) / 1000;

		r->acked++;
		if (r->check) {
			bool found = false;

			r->lat_us[r->nlat++] = lat > UINT32_MAX ? UINT32_MAX : (uint32_t)lat;
			for (unsigned int i = 0; i < r->ndisks; i++) {
				if (after[i] != sl->before[i])
					continue;
				r->unflushed[i]++;
				if (!found && r->findings < MAX_FINDINGS_SHOWN)
					printf("UNFLUSHED: write at lba %" PRIu64 " acknowledged after %" PRIu64
					       " us with no flush completed on %s (count stayed %" PRIu64 ")\n",
					       sl->lba, lat, r->disk[i].path, after[i]);
				found = true;
			}
			r->findings += found;
		}
	}
	if (task)
		scsi_free_scsi_task(task);
	if (r->issued < r->want && now_ns() < r->deadline_ns)
		issue(r, sl);
}

static int issue(struct run *r, struct slot *sl)
{
	uint32_t nblk = r->bs / r->block_size;
	struct scsi_task *t;

	if (r->check) {
		sl->lba = (rng_next(&r->rng) % (r->blocks / nblk)) * nblk;
		if (read_all(r, sl->before)) {
			r->failed++;
			return -1;
		}
	} else {
		sl->lba = r->next_lba;
		r->next_lba += nblk;
	}
	sl->t0_ns = now_ns();
	sl->busy = true;
	t = iscsi_write16_task(r->iscsi, r->lun, sl->lba, r->buf, r->bs, r->block_size,
			       0, 0, 0, 0, 0, write_cb, sl);
	if (!t) {
		fprintf(stderr, "%s: cannot queue WRITE(16): %s\n", prog, iscsi_get_error(r->iscsi));
		sl->busy = false;
		r->failed++;
		return -1;
	}
	r->issued++;
	r->inflight++;
	return 0;
}

/* Keeps qd writes in flight until r->want were issued or the deadline; waits for all. */
static int run_phase(struct run *r, unsigned int qd)
{
	struct slot sl[MAX_QD];
	uint64_t hard_end = r->deadline_ns + 60ull * 1000000000u;

	memset(sl, 0, sizeof(sl));
	for (unsigned int i = 0; i < qd && r->issued < r->want; i++) {
		sl[i].r = r;
		if (issue(r, &sl[i]))
			return -1;
	}
	while (r->inflight) {
		struct pollfd p = { .fd = iscsi_get_fd(r->iscsi), .events = iscsi_which_events(r->iscsi) };

		if (poll(&p, 1, 1000) < 0 && errno != EINTR)
			return -1;
		if (iscsi_service(r->iscsi, p.revents) < 0) {
			fprintf(stderr, "%s: session failed: %s\n", prog, iscsi_get_error(r->iscsi));
			return -1;
		}
		if (now_ns() > hard_end) {
			fprintf(stderr, "%s: %u writes still in flight 60 s after the end\n", prog, r->inflight);
			return -1;
		}
	}
	return r->failed ? -1 : 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static int usage(void)
{
	fprintf(stderr, "usage: %s URL --stat FILE [--stat FILE]... [--qd N] [--count N] [--seconds S]\n"
		"       [--bs BYTES] [--seed N] [--no-fill]\n", prog);
	return 2;
}

int main(int argc, char **argv)
{
	uint64_t qd = 16, count = 2000, seconds = 30, bs = 4096, seed = 1;
	struct run r = { .rng = 0 };
	struct iscsi_url *url = NULL;
	struct scsi_task *t;
	struct scsi_readcapacity16 *rc16;
	uint64_t start[MAX_DISKS], end_v[MAX_DISKS];
	const char *url_s = NULL;
	bool fill = true;
	int i, rc = 1;

	for (i = 1; i < argc; i++) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int e = 0;

		if (!strcmp(o, "--no-fill")) {
			fill = false;
			continue;
		}
		if (o[0] != '-') {
			if (url_s) {
				fprintf(stderr, "%s: unexpected argument '%s'\n", prog, o);
				return usage();
			}
			url_s = o;
			continue;
		}
		if (!strcmp(o, "--stat")) {
			if (!v || r.ndisks == MAX_DISKS) {
				fprintf(stderr, "%s: --stat: a file is needed (at most %d)\n", prog, MAX_DISKS);
				return 2;
			}
			r.disk[r.ndisks].path = v;
			r.disk[r.ndisks].fd = open(v, O_RDONLY | O_CLOEXEC);
			if (r.disk[r.ndisks].fd < 0) {
				fprintf(stderr, "%s: --stat: %s: %s\n", prog, v, strerror(errno));
				return 2;
			}
			r.ndisks++;
		} else if (!strcmp(o, "--qd")) {
			e = tool_num_arg(prog, o, v, 1, MAX_QD, &qd);
		} else if (!strcmp(o, "--count")) {
			e = tool_num_arg(prog, o, v, 1, 10000000, &count);
		} else if (!strcmp(o, "--seconds")) {
			e = tool_num_arg(prog, o, v, 1, 3600, &seconds);
		} else if (!strcmp(o, "--bs")) {
			e = tool_num_arg(prog, o, v, 512, 1u << 20, &bs);
		} else if (!strcmp(o, "--seed")) {
			e = tool_num_arg(prog, o, v, 0, UINT64_MAX, &seed);
		} else {
			fprintf(stderr, "%s: unknown option '%s'\n", prog, o);
			return usage();
		}
		if (e)
			return 2;
		i++;
	}
	if (!url_s || !r.ndisks)
		return usage();
	r.bs = (uint32_t)bs;
	r.rng = seed | 1;
	r.lat_us = malloc(count * sizeof(*r.lat_us));
	r.buf = malloc(FILL_BYTES);
	if (!r.lat_us || !r.buf) {
		fprintf(stderr, "%s: out of memory\n", prog);
		return 1;
	}
	/* never all zero: a zero write must not turn into an unmap anywhere */
	for (i = 0; i < (int)FILL_BYTES; i++)
		r.buf[i] = (unsigned char)(rng_next(&r.rng) >> 56) | 1;
	if (read_all(&r, start))
		return 1;

	r.iscsi = iscsi_create_context("iqn.2024-01.org.shoal:flush-check");
	url = r.iscsi ? iscsi_parse_full_url(r.iscsi, url_s) : NULL;
	if (!url) {
		fprintf(stderr, "%s: bad URL '%s'\n", prog, url_s);
		return 2;
	}
	iscsi_set_session_type(r.iscsi, ISCSI_SESSION_NORMAL);
	iscsi_set_header_digest(r.iscsi, ISCSI_HEADER_DIGEST_NONE);
	iscsi_set_timeout(r.iscsi, 60);
	if (iscsi_full_connect_sync(r.iscsi, url->portal, url->lun)) {
		fprintf(stderr, "%s: login to %s failed: %s\n", prog, url->portal, iscsi_get_error(r.iscsi));
		goto out;
	}
	r.lun = url->lun;
	t = iscsi_readcapacity16_sync(r.iscsi, r.lun);
	rc16 = t && t->status == SCSI_STATUS_GOOD ? scsi_datain_unmarshall(t) : NULL;
	if (!rc16) {
		fprintf(stderr, "%s: READ CAPACITY(16) failed: %s\n", prog, iscsi_get_error(r.iscsi));
		goto out;
	}
	r.block_size = rc16->block_length;
	r.blocks = rc16->returned_lba + 1;
	scsi_free_scsi_task(t);
	if (!r.block_size || bs % r.block_size || FILL_BYTES % r.block_size ||
	    (r.blocks * r.block_size) % FILL_BYTES || r.blocks * r.block_size < FILL_BYTES) {
		fprintf(stderr, "%s: --bs and 1 MiB must be multiples of the block size %u, and the LUN of 1 MiB\n",
			prog, r.block_size);
		goto out;
	}

	if (fill) {
		r.bs = FILL_BYTES;
		r.want = r.blocks * r.block_size / FILL_BYTES;
		r.deadline_ns = now_ns() + 600ull * 1000000000u;
		if (run_phase(&r, FILL_QD))
			goto out;
		printf("%s: filled %" PRIu64 " MiB\n", prog, r.acked);
	}
	r.bs = (uint32_t)bs;
	r.check = true;
	r.issued = r.acked = 0;
	r.want = count;
	if (read_all(&r, start))
		goto out;
	r.deadline_ns = now_ns() + seconds * 1000000000u;
	if (run_phase(&r, (unsigned int)qd))
		goto out;
	if (read_all(&r, end_v))
		goto out;
	qsort(r.lat_us, r.nlat, sizeof(*r.lat_us), cmp_u32);
	printf("%s: %" PRIu64 " random %" PRIu64 "-byte overwrites at QD%" PRIu64 " acknowledged, %" PRIu64
	       " with no flush behind them on some disk; latency p50 %u us, p99 %u us\n",
	       prog, r.acked, bs, qd, r.findings, r.nlat ? r.lat_us[r.nlat / 2] : 0,
	       r.nlat ? r.lat_us[r.nlat * 99 / 100] : 0);
	for (unsigned int d = 0; d < r.ndisks; d++)
		printf("%s: %s: %" PRIu64 " flushes, %.2f per write; %" PRIu64 " writes acknowledged unflushed\n",
		       prog, r.disk[d].path, end_v[d] - start[d],
		       r.acked ? (double)(end_v[d] - start[d]) / (double)r.acked : 0.0, r.unflushed[d]);
	rc = r.findings ? 1 : 0;
out:
	if (r.iscsi) {
		if (iscsi_is_logged_in(r.iscsi))
			iscsi_logout_sync(r.iscsi);
		if (url)
			iscsi_destroy_url(url);
		iscsi_destroy_context(r.iscsi);
	}
	for (unsigned int d = 0; d < r.ndisks; d++)
		close(r.disk[d].fd);
	free(r.lat_us);
	free(r.buf);
	return rc;
}
