/*
 * iscsi_late_write URL1 URL2 [options]: does a write the initiator gave up
 * on (or was answered with an error) land after a later acknowledged write?
 *
 * It plays a multipath initiator with one path through each gateway:
 *   1. logs in on both paths (and a reader session on path 2), writes the
 *      block with an initial pattern I through path 2 and reads it back;
 *   2. starts a reader on path 2 that reads another block of the same chunk
 *      every --reader-ms (so the chunk's primary keeps its lease);
 *   3. runs --fault CMD (e.g. nftables drops gateway 1's flows, or SIGSTOP
 *      of gateway 1's tgtd), then sends write A through path 1;
 *   4. waits --abandon-ms for A: if A is answered (an error: the fault
 *      held), or not answered in time (the path is then closed, as
 *      dm-multipath does after its path failover timer), it writes B
 *      through path 2, retrying within 60 s, and reads B back;
 *   5. runs --heal CMD (lifts the fault, SIGCONT), then reads the block
 *      through path 2 every 100 ms for --watch-ms.
 * --second-ms N: N ms after A, a second write through path 1, to a block
 * 64 KiB further in the same chunk, whose outcome is not waited for (it
 * gives the gateway a command of its own on A's connection).
 * A write that was answered with an error or abandoned may take effect
 * before B, never after B was acknowledged (DESIGN.md invariant 5): any
 * watch read that returns A's bytes is a finding (exit 1).  A watch read
 * that returns anything but B or A is a finding too.  Exit 3: the set-up
 * failed or the fault did not hold (A was answered GOOD), 2: usage.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
#include "tool_iscsi.h"

#define BLK	512
#define LEN	4096		/* one chunkserver block, 8 LBAs */
#define READER_LBA_OFF	64	/* the reader's block: 32 KiB further, same chunk */
#define SECOND_LBA_OFF	128	/* --second-ms's block: 64 KiB further, same chunk */

struct path {
	const char *url_s;
	struct iscsi_context *iscsi;
	struct iscsi_url *url;
};

struct cmd {
	bool done;
	int status;
	int key, asc;
	unsigned char data[LEN];
	size_t len;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int login(struct path *p, const char *iqn)
{
	return tool_login("iscsi_late_write", iqn, p->url_s, &p->iscsi, &p->url);
}

static void logout(struct path *p)
{
	if (p->url)
		iscsi_destroy_url(p->url);
	if (p->iscsi)
		iscsi_destroy_context(p->iscsi);	/* closes the TCP connection */
	p->url = NULL;
	p->iscsi = NULL;
}

static void cmd_cb(struct iscsi_context *iscsi, int status, void *command_data, void *private_data)
{
	struct cmd *c = private_data;
	struct scsi_task *task = command_data;

	c->done = true;
	c->status = status;
	if (task) {
		c->key = task->sense.key;
		c->asc = task->sense.ascq;
		if (status == SCSI_STATUS_GOOD && task->datain.size > 0) {
			c->len = (size_t)task->datain.size < LEN ? (size_t)task->datain.size : LEN;
			memcpy(c->data, task->datain.data, c->len);
		}
		scsi_free_scsi_task(task);
	}
}

static void fill(unsigned char *b, unsigned char pat, uint64_t lba)
{
	int i;

	for (i = 0; i < LEN; i++)
		b[i] = (unsigned char)(pat ^ (i / BLK) ^ (unsigned char)lba);
}

/*
 * Services the given sessions (NULL ones skipped) until *until is done or
 * deadline passes.  A session whose service fails is reported in *broken.
 */
static void service(struct path **ps, int n, bool *until, uint64_t deadline, int *broken)
{
	while (!(until && *until) && now_ms() < deadline) {
		struct pollfd pfd[4];
		int i, k = 0, map[4];
		uint64_t left = deadline - now_ms();

		for (i = 0; i < n; i++) {
			if (!ps[i] || !ps[i]->iscsi)
				continue;
			pfd[k] = (struct pollfd){ iscsi_get_fd(ps[i]->iscsi), (short)iscsi_which_events(ps[i]->iscsi), 0 };
			map[k++] = i;
		}
		if (!k)
			return;
		if (poll(pfd, k, left > 100 ? 100 : (int)left) < 0 && errno != EINTR)
			return;
		for (i = 0; i < k; i++) {
			if (iscsi_service(ps[map[i]]->iscsi, pfd[i].revents) < 0) {
				if (broken)
					*broken = map[i];
				return;
			}
		}
	}
}

static int write_sync(struct path *p, uint64_t lba, unsigned char *buf, struct cmd *c, uint64_t deadline)
{
	struct path *ps[1] = { p };

	memset(c, 0, sizeof(*c));
	if (!iscsi_write16_task(p->iscsi, p->url->lun, lba, buf, LEN, BLK, 0, 0, 0, 0, 0, cmd_cb, c))
		return -1;
	service(ps, 1, &c->done, deadline, NULL);
	return c->done && c->status == SCSI_STATUS_GOOD ? 0 : -1;
}

static int read_sync(struct path *p, uint64_t lba, struct cmd *c, uint64_t deadline)
{
	struct path *ps[1] = { p };

	memset(c, 0, sizeof(*c));
	if (!iscsi_read16_task(p->iscsi, p->url->lun, lba, LEN, BLK, 0, 0, 0, 0, 0, cmd_cb, c))
		return -1;
	service(ps, 1, &c->done, deadline, NULL);
	return c->done && c->status == SCSI_STATUS_GOOD && c->len == LEN ? 0 : -1;
}

static void run(const char *what, const char *cmd)
{
	int rc;

	if (!cmd)
		return;
	rc = system(cmd);
	printf("iscsi_late_write: %s: '%s' exited %d\n", what, cmd, WEXITSTATUS(rc));
	fflush(stdout);
}

static long opt_num(const char *name, const char *v)
{
	char *end;
	long x = strtol(v, &end, 10);

	if (*end || x < 0) {
		fprintf(stderr, "iscsi_late_write: bad value '%s' for %s\n", v, name);
		exit(2);
	}
	return x;
}

int main(int argc, char **argv)
{
	struct path p1 = { 0 }, p2 = { 0 }, rd = { 0 };
	unsigned char init[LEN], a[LEN], b[LEN];
	const char *fault = NULL, *heal = NULL;
	long abandon_ms = 8000, watch_ms = 40000, reader_ms = 200, second_ms = 0;
	uint64_t lba = 0, t, end, next_read;
	struct cmd ca, cr, cw, c2;
	bool second_sent = false;
	bool a_abandoned = false;
	long reads = 0, read_errors = 0, reader_reads = 0;
	int i, broken = -1;

	if (argc < 3) {
		fprintf(stderr, "usage: iscsi_late_write URL1 URL2 [--lba N] [--abandon-ms N] [--fault CMD] "
				"[--heal CMD] [--watch-ms N] [--reader-ms N] [--second-ms N]\n");
		return 2;
	}
	p1.url_s = argv[1];
	p2.url_s = argv[2];
	rd.url_s = argv[2];
	for (i = 3; i < argc; i++) {
		if (i + 1 >= argc) {
			fprintf(stderr, "iscsi_late_write: %s needs a value\n", argv[i]);
			return 2;
		}
		if (!strcmp(argv[i], "--lba"))
			lba = (uint64_t)opt_num(argv[i], argv[i + 1]);
		else if (!strcmp(argv[i], "--abandon-ms"))
			abandon_ms = opt_num(argv[i], argv[i + 1]);
		else if (!strcmp(argv[i], "--watch-ms"))
			watch_ms = opt_num(argv[i], argv[i + 1]);
		else if (!strcmp(argv[i], "--reader-ms"))
			reader_ms = opt_num(argv[i], argv[i + 1]);
		else if (!strcmp(argv[i], "--second-ms"))
			second_ms = opt_num(argv[i], argv[i + 1]);
		else if (!strcmp(argv[i], "--fault"))
			fault = argv[i + 1];
		else if (!strcmp(argv[i], "--heal"))
			heal = argv[i + 1];
		else {
			fprintf(stderr, "iscsi_late_write: unknown option '%s'\n", argv[i]);
			return 2;
		}
		i++;
	}
	fill(init, 0x11, lba);
	fill(a, 0xaa, lba);
	fill(b, 0xbb, lba);
	if (login(&p1, "iqn.2024-01.org.shoal.test:late-w1") ||
	    login(&p2, "iqn.2024-01.org.shoal.test:late-w2") ||
	    login(&rd, "iqn.2024-01.org.shoal.test:late-rd"))
		return 3;
	if (write_sync(&p2, lba, init, &cw, now_ms() + 30000) ||
	    write_sync(&p2, lba + READER_LBA_OFF, init, &cw, now_ms() + 30000) ||
	    read_sync(&p1, lba, &cr, now_ms() + 30000) || memcmp(cr.data, init, LEN)) {
		fprintf(stderr, "iscsi_late_write: initial write/read-back failed\n");
		return 3;
	}

	/* the reader keeps the chunk's lease alive from here to the end */
	memset(&cr, 0, sizeof(cr));
	cr.done = true;
	next_read = now_ms();
	run("fault", fault);

	memset(&ca, 0, sizeof(ca));
	t = now_ms();
	if (!iscsi_write16_task(p1.iscsi, p1.url->lun, lba, a, LEN, BLK, 0, 0, 0, 0, 0, cmd_cb, &ca)) {
		fprintf(stderr, "iscsi_late_write: cannot queue write A\n");
		return 3;
	}
	end = t + (uint64_t)abandon_ms;
	memset(&c2, 0, sizeof(c2));
	while (!ca.done && now_ms() < end) {
		struct path *ps[2] = { &p1, &rd };

		if (second_ms && !second_sent && now_ms() >= t + (uint64_t)second_ms) {
			second_sent = true;
			if (!iscsi_write16_task(p1.iscsi, p1.url->lun, lba + SECOND_LBA_OFF, a, LEN, BLK, 0, 0, 0,
						0, 0, cmd_cb, &c2))
				fprintf(stderr, "iscsi_late_write: cannot queue the second write\n");
			else
				printf("iscsi_late_write: second write sent through path 1 after %ld ms\n", second_ms);
		}
		if (cr.done && now_ms() >= next_read) {
			memset(&cr, 0, sizeof(cr));
			iscsi_read16_task(rd.iscsi, rd.url->lun, lba + READER_LBA_OFF, LEN, BLK, 0, 0, 0, 0, 0,
					  cmd_cb, &cr);
			next_read = now_ms() + (uint64_t)reader_ms;
			reader_reads++;
		}
		broken = -1;
		service(ps, 2, &ca.done, now_ms() + 100, &broken);
		if (broken == 0)
			break;	/* path 1 failed under us: as good as abandoned */
	}
	if (ca.done && ca.status == SCSI_STATUS_GOOD) {
		fprintf(stderr, "iscsi_late_write: write A was acknowledged: the fault did not hold\n");
		return 3;
	}
	if (ca.done)
		printf("iscsi_late_write: write A answered after %llu ms: status %d sense %x/%04x\n",
		       (unsigned long long)(now_ms() - t), ca.status, ca.key, ca.asc);
	else {
		a_abandoned = true;
		printf("iscsi_late_write: write A unanswered after %llu ms: path 1 abandoned (connection closed)\n",
		       (unsigned long long)(now_ms() - t));
	}
	logout(&p1);
	fflush(stdout);

	/* B through path 2, as multipath retries: within 60 s */
	end = now_ms() + 60000;
	t = now_ms();
	while (write_sync(&p2, lba, b, &cw, end))
		if (now_ms() >= end) {
			fprintf(stderr, "iscsi_late_write: write B through path 2 failed for 60 s (status %d, sense %x/%04x)\n",
				cw.status, cw.key, cw.asc);
			return 3;
		}
	if (read_sync(&p2, lba, &cw, now_ms() + 30000) || memcmp(cw.data, b, LEN)) {
		fprintf(stderr, "iscsi_late_write: B does not read back after its acknowledgement\n");
		return 1;
	}
	printf("iscsi_late_write: write B acknowledged through path 2 in %llu ms and read back\n",
	       (unsigned long long)(now_ms() - t));
	fflush(stdout);
	run("heal", heal);

	end = now_ms() + (uint64_t)watch_ms;
	while (now_ms() < end) {
		struct path *ps[1] = { &rd };

		if (!cr.done)
			service(ps, 1, &cr.done, now_ms() + 2000, NULL);
		if (read_sync(&p2, lba, &cw, now_ms() + 30000)) {
			read_errors++;
		} else {
			reads++;
			if (!memcmp(cw.data, a, LEN)) {
				printf("FINDING: block %llu holds write A (%s) %ld reads after write B was acknowledged: "
				       "the acknowledged write B is lost\n", (unsigned long long)lba,
				       a_abandoned ? "abandoned by the initiator" : "answered with an error", reads);
				return 1;
			}
			if (memcmp(cw.data, b, LEN)) {
				printf("FINDING: block %llu holds neither B nor A after B was acknowledged (byte 0 = 0x%02x)\n",
				       (unsigned long long)lba, cw.data[0]);
				return 1;
			}
		}
		service(ps, 1, NULL, now_ms() + 100, NULL);	/* the reader's session, 100 ms */
		if (cr.done && now_ms() >= next_read) {
			memset(&cr, 0, sizeof(cr));
			iscsi_read16_task(rd.iscsi, rd.url->lun, lba + READER_LBA_OFF, LEN, BLK, 0, 0, 0, 0, 0,
					  cmd_cb, &cr);
			next_read = now_ms() + (uint64_t)reader_ms;
			reader_reads++;
		}
	}
	printf("iscsi_late_write: block %llu held B in all %ld reads over %ld ms after the heal "
	       "(%ld read errors, %ld reader reads); write A %s\n", (unsigned long long)lba, reads, watch_ms,
	       read_errors, reader_reads, a_abandoned ? "abandoned" : "answered with an error");
	logout(&p2);
	logout(&rd);
	return 0;
}
