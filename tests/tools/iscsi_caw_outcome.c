/*
 * iscsi_caw_outcome URL CHECK_URL [--lba N] [--pause CMD] [--resume CMD]
 *                   [--hold-ms N] [--rounds N]
 *
 * Does a COMPARE AND WRITE's answer match what it did?  Each round reads
 * the block (X), runs --pause CMD (e.g. SIGSTOP of one chunkserver), sends
 * "if the block holds X, write Y" through URL, runs --resume CMD after
 * --hold-ms, waits for the answer (120 s at most), then reads the block
 * through CHECK_URL (another gateway) and checks:
 *   GOOD         the block holds Y;
 *   MISCOMPARE   the block holds X: nobody else writes it, so a miscompare
 *                while it holds Y means the command compared against its
 *                own write (a blind retry) -- the lie VMware ATS cannot
 *                survive (DESIGN.md invariant 5);
 *   a path error (NOT READY, ABORTED COMMAND, UNIT ATTENTION: what
 *                multipath sends again on another gateway, as a new
 *                command)  X: had it taken effect, that retry would
 *                compare against its own write (lib/client_io.c R5);
 *   other error  (HARDWARE ERROR 44/00: outcome unknown, passed up to the
 *                application) X or Y.
 * Exit 0: every round consistent; 1: a finding (printed as FINDING: ...);
 * 2: usage; 3: set-up or I/O failure.
 */
#include <errno.h>
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

#define BLK 512

struct sess {
	struct iscsi_context *iscsi;
	struct iscsi_url *url;
};

struct answer {
	bool done;
	int status, key, asc;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int login(struct sess *s, const char *u, const char *iqn)
{
	return tool_login("iscsi_caw_outcome", iqn, u, &s->iscsi, &s->url);
}

static int read_block(struct sess *s, uint64_t lba, unsigned char *out)
{
	struct scsi_task *t = iscsi_read16_sync(s->iscsi, s->url->lun, lba, BLK, BLK, 0, 0, 0, 0, 0);
	int rc = -1;

	if (t && t->status == SCSI_STATUS_GOOD && t->datain.size == BLK) {
		memcpy(out, t->datain.data, BLK);
		rc = 0;
	} else {
		fprintf(stderr, "iscsi_caw_outcome: READ(16) failed: %s\n", iscsi_get_error(s->iscsi));
	}
	if (t)
		scsi_free_scsi_task(t);
	return rc;
}

static void caw_cb(struct iscsi_context *iscsi, int status, void *command_data, void *private_data)
{
	struct answer *a = private_data;
	struct scsi_task *task = command_data;

	a->done = true;
	a->status = status;
	if (task) {
		a->key = task->sense.key;
		a->asc = task->sense.ascq;
		scsi_free_scsi_task(task);
	}
}

static void run(const char *cmd)
{
	if (cmd && system(cmd) != 0)
		fprintf(stderr, "iscsi_caw_outcome: '%s' failed\n", cmd);
}

static long num(const char *name, const char *v)
{
	char *end;
	long x = strtol(v, &end, 10);

	if (*end || x < 0) {
		fprintf(stderr, "iscsi_caw_outcome: bad value '%s' for %s\n", v, name);
		exit(2);
	}
	return x;
}

int main(int argc, char **argv)
{
	struct sess s = { 0 }, chk = { 0 };
	const char *pause_cmd = NULL, *resume_cmd = NULL;
	long hold_ms = 8000, rounds = 1, r, good = 0, miscompare = 0, errors = 0;
	unsigned char x[BLK], buf[2 * BLK], now[BLK];
	uint64_t lba = 0, t0, end;
	bool resumed;
	int i;

	if (argc < 3) {
		fprintf(stderr, "usage: iscsi_caw_outcome URL CHECK_URL [--lba N] [--pause CMD] [--resume CMD] "
				"[--hold-ms N] [--rounds N]\n");
		return 2;
	}
	for (i = 3; i < argc; i += 2) {
		if (i + 1 >= argc) {
			fprintf(stderr, "iscsi_caw_outcome: %s needs a value\n", argv[i]);
			return 2;
		}
		if (!strcmp(argv[i], "--lba"))
			lba = (uint64_t)num(argv[i], argv[i + 1]);
		else if (!strcmp(argv[i], "--pause"))
			pause_cmd = argv[i + 1];
		else if (!strcmp(argv[i], "--resume"))
			resume_cmd = argv[i + 1];
		else if (!strcmp(argv[i], "--hold-ms"))
			hold_ms = num(argv[i], argv[i + 1]);
		else if (!strcmp(argv[i], "--rounds"))
			rounds = num(argv[i], argv[i + 1]);
		else {
			fprintf(stderr, "iscsi_caw_outcome: unknown option '%s'\n", argv[i]);
			return 2;
		}
	}
	if (login(&s, argv[1], "iqn.2024-01.org.shoal.test:caw-outcome") ||
	    login(&chk, argv[2], "iqn.2024-01.org.shoal.test:caw-check"))
		return 3;
	for (r = 0; r < rounds; r++) {
		struct answer a = { 0 };

		if (read_block(&chk, lba, x))
			return 3;
		memcpy(buf, x, BLK);
		memset(buf + BLK, 0, BLK);
		snprintf((char *)buf + BLK, BLK, "caw_outcome round %ld pid %d", r, (int)getpid());
		run(pause_cmd);
		t0 = now_ms();
		if (!iscsi_compareandwrite_task(s.iscsi, s.url->lun, lba, buf, 2 * BLK, BLK, 0, 0, 0, 0, 0,
						caw_cb, &a)) {
			fprintf(stderr, "iscsi_caw_outcome: cannot queue COMPARE AND WRITE\n");
			run(resume_cmd);
			return 3;
		}
		resumed = false;
		end = t0 + 120000;
		while (!a.done && now_ms() < end) {
			struct pollfd p = { iscsi_get_fd(s.iscsi), (short)iscsi_which_events(s.iscsi), 0 };

			if (!resumed && now_ms() >= t0 + (uint64_t)hold_ms) {
				run(resume_cmd);
				resumed = true;
			}
			if (poll(&p, 1, 100) < 0 && errno != EINTR)
				break;
			if (iscsi_service(s.iscsi, p.revents) < 0) {
				fprintf(stderr, "iscsi_caw_outcome: session failed: %s\n", iscsi_get_error(s.iscsi));
				if (!resumed)
					run(resume_cmd);
				return 3;
			}
		}
		if (!resumed)
			run(resume_cmd);
		if (!a.done) {
			printf("FINDING: round %ld: COMPARE AND WRITE unanswered after 120 s\n", r);
			return 1;
		}
		if (read_block(&chk, lba, now))
			return 3;
		if (a.status == SCSI_STATUS_GOOD) {
			good++;
			if (memcmp(now, buf + BLK, BLK)) {
				printf("FINDING: round %ld: COMPARE AND WRITE answered GOOD but the block does not hold its data\n", r);
				return 1;
			}
		} else if (a.key == SCSI_SENSE_MISCOMPARE) {
			miscompare++;
			if (!memcmp(now, buf + BLK, BLK)) {
				printf("FINDING: round %ld: COMPARE AND WRITE answered MISCOMPARE (%x/%04x) after %llu ms "
				       "but the block holds its own write: it compared against itself\n",
				       r, a.key, a.asc, (unsigned long long)(now_ms() - t0));
				return 1;
			}
			if (memcmp(now, x, BLK)) {
				printf("FINDING: round %ld: MISCOMPARE, and the block holds neither the old data nor the new\n", r);
				return 1;
			}
		} else if (a.key == SCSI_SENSE_NOT_READY || a.key == SCSI_SENSE_COMMAND_ABORTED ||
			   a.key == SCSI_SENSE_UNIT_ATTENTION || a.status != SCSI_STATUS_CHECK_CONDITION) {
			errors++;
			if (memcmp(now, x, BLK)) {
				printf("FINDING: round %ld: COMPARE AND WRITE answered a path error (status %d, %x/%04x) "
				       "after %llu ms but %s: multipath's retry on another gateway would compare "
				       "against its own write\n", r, a.status, a.key, a.asc,
				       (unsigned long long)(now_ms() - t0),
				       memcmp(now, buf + BLK, BLK) ? "the block changed" : "it took effect");
				return 1;
			}
		} else {
			errors++;
			if (memcmp(now, x, BLK) && memcmp(now, buf + BLK, BLK)) {
				printf("FINDING: round %ld: error %d (%x/%04x), and the block holds neither the old data nor the new\n",
				       r, a.status, a.key, a.asc);
				return 1;
			}
		}
		printf("iscsi_caw_outcome: round %ld: status %d sense %x/%04x after %llu ms: consistent\n", r,
		       a.status, a.key, a.asc, (unsigned long long)(now_ms() - t0));
		fflush(stdout);
	}
	printf("iscsi_caw_outcome: %ld rounds: %ld GOOD, %ld MISCOMPARE, %ld other errors; every answer matched the block\n",
	       rounds, good, miscompare, errors);
	return 0;
}
