/*
 * iscsi_capacity --size BYTES [--timeout-ms N] [--hook CMD] URL...
 *
 * An online resize as initiators see it.  Logs in to every URL (the same
 * LUN through several gateways) and clears what the target has pending
 * (TEST UNIT READY until GOOD), runs --hook CMD (the resize), then asks
 * each session in turn, every 200 ms: TEST UNIT READY, then READ
 * CAPACITY(16).  Each session must report UNIT ATTENTION, CAPACITY DATA HAS
 * CHANGED (6/2A/09) once, and READ CAPACITY must give BYTES, within
 * --timeout-ms (default 10000) of the hook's end.  Prints one line per
 * session; exit 0 when every session saw both, 1 when one did not (each
 * printed as FINDING: ...), 2 usage, 3 set-up failure.
 */
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
#include "tool_iscsi.h"

#define MAX_URLS 8

struct sess {
	const char *u;
	struct iscsi_context *iscsi;
	struct iscsi_url *url;
	bool ua;		/* 2A/09 seen */
	uint64_t ua_ms, size_ms, size;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void nap(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static int login(struct sess *s, int i)
{
	char iqn[64];

	snprintf(iqn, sizeof(iqn), "iqn.2024-01.org.shoal.test:capacity-%d", i);
	return tool_login("iscsi_capacity", iqn, s->u, &s->iscsi, &s->url);
}

/* TEST UNIT READY: 0 GOOD, the (key << 16 | ascq) of a CHECK CONDITION, or -1. */
static long tur(struct sess *s)
{
	struct scsi_task *t = iscsi_testunitready_sync(s->iscsi, s->url->lun);
	long r = -1;

	if (t && t->status == SCSI_STATUS_GOOD)
		r = 0;
	else if (t && t->status == SCSI_STATUS_CHECK_CONDITION)
		r = (long)t->sense.key << 16 | t->sense.ascq;
	if (t)
		scsi_free_scsi_task(t);
	return r;
}

static void saw_ua(struct sess *s, uint64_t t0)
{
	if (!s->ua) {
		s->ua = true;
		s->ua_ms = now_ms() - t0;
	}
}

/*
 * READ CAPACITY(16): the LU's size in bytes, 0 on failure.  A unit
 * attention 2A/09 it meets (raised since the TEST UNIT READY) is counted
 * and the command sent again.
 */
static uint64_t capacity(struct sess *s, uint64_t t0)
{
	struct scsi_task *t = iscsi_readcapacity16_sync(s->iscsi, s->url->lun);
	struct scsi_readcapacity16 *rc;
	uint64_t size = 0;

	if (t && t->status == SCSI_STATUS_CHECK_CONDITION && t->sense.key == SCSI_SENSE_UNIT_ATTENTION &&
	    t->sense.ascq == 0x2a09) {
		saw_ua(s, t0);
		scsi_free_scsi_task(t);
		t = iscsi_readcapacity16_sync(s->iscsi, s->url->lun);
	}
	if (t && t->status == SCSI_STATUS_GOOD) {
		rc = scsi_datain_unmarshall(t);
		if (rc)
			size = (rc->returned_lba + 1) * rc->block_length;
	}
	if (t)
		scsi_free_scsi_task(t);
	return size;
}

int main(int argc, char **argv)
{
	struct sess ss[MAX_URLS] = { 0 };
	const char *hook = NULL;
	uint64_t want = 0, timeout_ms = 10000, t0, end;
	int n = 0, i, k, bad = 0;
	long r;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--size") && i + 1 < argc)
			want = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--timeout-ms") && i + 1 < argc)
			timeout_ms = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--hook") && i + 1 < argc)
			hook = argv[++i];
		else if (!strncmp(argv[i], "iscsi://", 8) && n < MAX_URLS)
			ss[n++].u = argv[i];
		else {
			fprintf(stderr, "usage: iscsi_capacity --size BYTES [--timeout-ms N] [--hook CMD] URL...\n");
			return 2;
		}
	}
	if (!n || !want || !timeout_ms) {
		fprintf(stderr, "usage: iscsi_capacity --size BYTES [--timeout-ms N] [--hook CMD] URL...\n");
		return 2;
	}
	for (i = 0; i < n; i++) {
		if (login(&ss[i], i))
			return 3;
		/* what a new nexus has pending (power on, an earlier change) goes first */
		for (k = 0; k < 10 && (r = tur(&ss[i])) != 0; k++)
			if (r < 0) {
				fprintf(stderr, "iscsi_capacity: TEST UNIT READY through %s failed\n", ss[i].u);
				return 3;
			}
		ss[i].size = capacity(&ss[i], now_ms());
		if (!ss[i].size) {
			fprintf(stderr, "iscsi_capacity: READ CAPACITY(16) through %s failed\n", ss[i].u);
			return 3;
		}
		printf("iscsi_capacity: %s: %llu bytes before\n", ss[i].u, (unsigned long long)ss[i].size);
		ss[i].size = 0;
		ss[i].ua = false;	/* only what the hook causes counts */
	}
	if (hook && system(hook) != 0) {
		fprintf(stderr, "iscsi_capacity: '%s' failed\n", hook);
		return 3;
	}
	t0 = now_ms();
	end = t0 + timeout_ms;
	for (;;) {
		bool all = true;

		for (i = 0; i < n; i++) {
			struct sess *s = &ss[i];
			uint64_t sz;

			if (s->ua && s->size == want)
				continue;
			r = tur(s);
			if (r == (6L << 16 | 0x2a09)) {
				saw_ua(s, t0);
			} else if (r < 0) {
				printf("FINDING: %s: TEST UNIT READY failed after the resize\n", s->u);
				return 1;
			}
			sz = capacity(s, t0);
			if (sz == want && s->size != want)
				s->size_ms = now_ms() - t0;
			s->size = sz;
			all = all && s->ua && s->size == want;
		}
		if (all || now_ms() >= end)
			break;
		nap(200);
	}
	for (i = 0; i < n; i++) {
		struct sess *s = &ss[i];

		if (!s->ua) {
			printf("FINDING: %s: no unit attention CAPACITY DATA HAS CHANGED within %llu ms\n", s->u,
			       (unsigned long long)timeout_ms);
			bad = 1;
		}
		if (s->size != want) {
			printf("FINDING: %s: READ CAPACITY(16) says %llu bytes, not %llu, %llu ms after the resize\n",
			       s->u, (unsigned long long)s->size, (unsigned long long)want,
			       (unsigned long long)timeout_ms);
			bad = 1;
		}
		if (s->ua && s->size == want)
			printf("iscsi_capacity: %s: unit attention 2A/09 after %llu ms, %llu bytes after %llu ms\n",
			       s->u, (unsigned long long)s->ua_ms, (unsigned long long)want,
			       (unsigned long long)s->size_ms);
		iscsi_logout_sync(s->iscsi);
		iscsi_destroy_url(s->url);
		iscsi_destroy_context(s->iscsi);
	}
	return bad;
}
