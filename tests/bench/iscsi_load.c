/*
 * iscsi_load: an asynchronous iSCSI load generator on libiscsi, for the
 * benchmarks.  Keeps --qd commands in flight against one LUN for --seconds
 * (and at most --count commands), then prints one line:
 *
 *   ops=N iops=X mbps=X lat_mean_us=X lat_p50_us=X lat_p99_us=X errors=N
 *
 * Random offsets are aligned to --bs and drawn from a fixed-seed generator,
 * so the two sides of a comparison see the same pattern.  Any failed
 * command is counted and makes the exit status 1.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#define MAX_QD		256
#define MAX_SAMPLES	(4u << 20)

struct load {
	struct iscsi_context *iscsi;
	int lun;
	uint32_t block_size;
	uint64_t lun_blocks;
	bool write, random;
	uint32_t bs;
	uint64_t span_blocks;	/* offsets drawn from [0, span) */
	uint64_t next_seq;	/* sequential cursor, in blocks */
	uint64_t rng;
	unsigned char *buf;
	uint64_t deadline_ns, max_ops;
	uint64_t issued, done, errors;
	unsigned int inflight;
	uint32_t *lat_us;
	uint64_t nsamples;
	double lat_sum_us;
};

struct slot {
	struct load *ld;
	uint64_t start_ns;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

static uint64_t rng_next(uint64_t *s)	/* xorshift64* */
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

static int issue(struct load *ld, struct slot *sl);

static void done_cb(struct iscsi_context *iscsi, int status, void *data, void *priv)
{
	struct slot *sl = priv;
	struct load *ld = sl->ld;
	struct scsi_task *task = data;
	uint64_t lat = (now_ns() - sl->start_ns) / 1000;

	if (status != SCSI_STATUS_GOOD) {
		if (ld->errors++ < 5)
			fprintf(stderr, "iscsi_load: command failed: %s\n", iscsi_get_error(iscsi));
	}
	if (task)
		scsi_free_scsi_task(task);
	ld->done++;
	ld->inflight--;
	ld->lat_sum_us += lat;
	if (ld->nsamples < MAX_SAMPLES)
		ld->lat_us[ld->nsamples++] = lat > UINT32_MAX ? UINT32_MAX : lat;
	if (now_ns() < ld->deadline_ns && ld->issued < ld->max_ops)
		issue(ld, sl);
	else
		free(sl);
}

static int issue(struct load *ld, struct slot *sl)
{
	uint32_t nblk = ld->bs / ld->block_size;
	uint64_t lba;
	struct scsi_task *t;

	if (ld->random) {
		lba = (rng_next(&ld->rng) % (ld->span_blocks / nblk)) * nblk;
	} else {
		if (ld->next_seq + nblk > ld->span_blocks)
			ld->next_seq = 0;
		lba = ld->next_seq;
		ld->next_seq += nblk;
	}
	sl->start_ns = now_ns();
	if (ld->write)
		t = iscsi_write16_task(ld->iscsi, ld->lun, lba, ld->buf, ld->bs, ld->block_size,
				       0, 0, 0, 0, 0, done_cb, sl);
	else
		t = iscsi_read16_task(ld->iscsi, ld->lun, lba, ld->bs, ld->block_size,
				      0, 0, 0, 0, 0, done_cb, sl);
	if (!t) {
		fprintf(stderr, "iscsi_load: cannot queue command: %s\n", iscsi_get_error(ld->iscsi));
		free(sl);
		return -1;
	}
	ld->issued++;
	ld->inflight++;
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: iscsi_load [--rw read|write|randread|randwrite] [--bs BYTES] [--qd N]\n"
		"                  [--seconds S] [--count N] [--span BYTES] [--seed N] URL\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "rw", required_argument, NULL, 'r' },
		{ "bs", required_argument, NULL, 'b' },
		{ "qd", required_argument, NULL, 'q' },
		{ "seconds", required_argument, NULL, 's' },
		{ "count", required_argument, NULL, 'n' },
		{ "span", required_argument, NULL, 'S' },
		{ "seed", required_argument, NULL, 'x' },
		{ NULL, 0, NULL, 0 }
	};
	struct load ld = { .bs = 4096, .rng = 0x9e3779b97f4a7c15ull, .max_ops = UINT64_MAX };
	unsigned int qd = 1, secs = 10;
	uint64_t span = 0;
	const char *rw = "randread";
	struct iscsi_url *url;
	struct scsi_task *task;
	struct scsi_readcapacity16 *rc16;
	uint64_t t0, elapsed;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'r': rw = optarg; break;
		case 'b': ld.bs = strtoul(optarg, NULL, 0); break;
		case 'q': qd = strtoul(optarg, NULL, 0); break;
		case 's': secs = strtoul(optarg, NULL, 0); break;
		case 'n': ld.max_ops = strtoull(optarg, NULL, 0); break;
		case 'S': span = strtoull(optarg, NULL, 0); break;
		case 'x': ld.rng = strtoull(optarg, NULL, 0) | 1; break;
		default: usage();
		}
	}
	if (optind != argc - 1)
		usage();
	if (!strcmp(rw, "read") || !strcmp(rw, "randread"))
		ld.write = false;
	else if (!strcmp(rw, "write") || !strcmp(rw, "randwrite"))
		ld.write = true;
	else {
		fprintf(stderr, "iscsi_load: bad --rw '%s'\n", rw);
		return 2;
	}
	ld.random = !strncmp(rw, "rand", 4);
	if (qd < 1 || qd > MAX_QD || ld.bs == 0 || secs < 1 || secs > 3600) {
		fprintf(stderr, "iscsi_load: --qd must be 1..%d, --bs > 0, --seconds 1..3600\n", MAX_QD);
		return 2;
	}

	ld.iscsi = iscsi_create_context("iqn.2026-11.org.shoal:bench");
	url = ld.iscsi ? iscsi_parse_full_url(ld.iscsi, argv[optind]) : NULL;
	if (!url) {
		fprintf(stderr, "iscsi_load: bad URL '%s'\n", argv[optind]);
		return 2;
	}
	iscsi_set_targetname(ld.iscsi, url->target);
	iscsi_set_session_type(ld.iscsi, ISCSI_SESSION_NORMAL);
	iscsi_set_header_digest(ld.iscsi, ISCSI_HEADER_DIGEST_NONE);
	if (iscsi_full_connect_sync(ld.iscsi, url->portal, url->lun) != 0) {
		fprintf(stderr, "iscsi_load: login to %s failed: %s\n", url->portal, iscsi_get_error(ld.iscsi));
		return 1;
	}
	ld.lun = url->lun;
	task = iscsi_readcapacity16_sync(ld.iscsi, ld.lun);
	rc16 = task && task->status == SCSI_STATUS_GOOD ? scsi_datain_unmarshall(task) : NULL;
	if (!rc16) {
		fprintf(stderr, "iscsi_load: READ CAPACITY(16) failed: %s\n", iscsi_get_error(ld.iscsi));
		return 1;
	}
	ld.block_size = rc16->block_length;
	ld.lun_blocks = rc16->returned_lba + 1;
	scsi_free_scsi_task(task);
	if (ld.bs % ld.block_size) {
		fprintf(stderr, "iscsi_load: --bs must be a multiple of the block size %u\n", ld.block_size);
		return 2;
	}
	ld.span_blocks = span ? span / ld.block_size : ld.lun_blocks;
	if (ld.span_blocks > ld.lun_blocks)
		ld.span_blocks = ld.lun_blocks;
	if (ld.span_blocks < ld.bs / ld.block_size) {
		fprintf(stderr, "iscsi_load: LUN or --span smaller than one I/O\n");
		return 2;
	}
	ld.buf = malloc(ld.bs);
	ld.lat_us = malloc(sizeof(uint32_t) * MAX_SAMPLES);
	if (!ld.buf || !ld.lat_us)
		return 1;
	for (uint32_t i = 0; i < ld.bs; i++)
		ld.buf[i] = (unsigned char)(rng_next(&ld.rng) >> 56);

	t0 = now_ns();
	ld.deadline_ns = t0 + (uint64_t)secs * 1000000000u;
	for (unsigned int i = 0; i < qd && ld.issued < ld.max_ops; i++) {
		struct slot *sl = calloc(1, sizeof(*sl));

		if (!sl)
			return 1;
		sl->ld = &ld;
		if (issue(&ld, sl))
			return 1;
	}
	/* Bounded: every command ends by the libiscsi timeout, and no new one starts after the deadline. */
	iscsi_set_timeout(ld.iscsi, 60);
	while (ld.inflight > 0) {
		struct pollfd pfd = { .fd = iscsi_get_fd(ld.iscsi), .events = iscsi_which_events(ld.iscsi) };

		if (poll(&pfd, 1, 1000) < 0 && errno != EINTR)
			break;
		if (iscsi_service(ld.iscsi, pfd.revents) < 0) {
			fprintf(stderr, "iscsi_load: connection failed: %s\n", iscsi_get_error(ld.iscsi));
			ld.errors += ld.inflight;
			break;
		}
		if (now_ns() > ld.deadline_ns + 90ull * 1000000000u) {
			fprintf(stderr, "iscsi_load: %u commands still in flight 90 s after the end\n", ld.inflight);
			ld.errors += ld.inflight;
			break;
		}
	}
	elapsed = now_ns() - t0;
	qsort(ld.lat_us, ld.nsamples, sizeof(uint32_t), cmp_u32);
	printf("ops=%" PRIu64 " iops=%.0f mbps=%.1f lat_mean_us=%.0f lat_p50_us=%u lat_p99_us=%u errors=%" PRIu64 "\n",
	       ld.done, ld.done * 1e9 / elapsed, ld.done * (double)ld.bs * 1e9 / elapsed / (1 << 20),
	       ld.done ? ld.lat_sum_us / ld.done : 0.0,
	       ld.nsamples ? ld.lat_us[ld.nsamples / 2] : 0,
	       ld.nsamples ? ld.lat_us[ld.nsamples * 99 / 100] : 0, ld.errors);
	iscsi_logout_sync(ld.iscsi);
	iscsi_destroy_url(url);
	iscsi_destroy_context(ld.iscsi);
	free(ld.buf);
	free(ld.lat_us);
	return ld.errors ? 1 : 0;
}
