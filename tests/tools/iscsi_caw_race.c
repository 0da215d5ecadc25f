/*
 * iscsi_caw_race URL_A URL_B ROUNDS [LBA]: two sessions (normally through
 * two gateways) race COMPARE AND WRITE on one block, ROUNDS times.
 *
 * Each round both send "if the block holds CUR, write MINE" at the same
 * moment.  The block is atomic at the chunk primary, so exactly one must
 * get GOOD and the other MISCOMPARE (0e/1d/00); the winner's data then
 * reads back through the loser's session.  Prints a summary; exits 1 at
 * the first round that breaks the rule.
 */
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#define BLK 512

struct side {
	const char *name;
	struct iscsi_context *iscsi;
	struct iscsi_url *url;
	unsigned char buf[2 * BLK];
	bool done;
	int status;
	int key, ascq;
};

static void caw_cb(struct iscsi_context *iscsi, int status, void *command_data, void *private_data)
{
	struct side *s = private_data;
	struct scsi_task *task = command_data;

	s->done = true;
	s->status = status;
	if (task) {
		s->key = task->sense.key;
		s->ascq = task->sense.ascq;
		scsi_free_scsi_task(task);
	}
}

static int connect_side(struct side *s, const char *u, const char *iqn)
{
	s->iscsi = iscsi_create_context(iqn);
	if (!s->iscsi)
		return -1;
	s->url = iscsi_parse_full_url(s->iscsi, u);
	if (!s->url) {
		fprintf(stderr, "iscsi_caw_race: URL %s: %s\n", u, iscsi_get_error(s->iscsi));
		return -1;
	}
	iscsi_set_session_type(s->iscsi, ISCSI_SESSION_NORMAL);
	iscsi_set_header_digest(s->iscsi, ISCSI_HEADER_DIGEST_NONE_CRC32C);
	if (iscsi_full_connect_sync(s->iscsi, s->url->portal, s->url->lun)) {
		fprintf(stderr, "iscsi_caw_race: login to %s failed: %s\n", u, iscsi_get_error(s->iscsi));
		return -1;
	}
	return 0;
}

static int read_block(struct side *s, uint64_t lba, unsigned char *out)
{
	struct scsi_task *t = iscsi_read16_sync(s->iscsi, s->url->lun, lba, BLK, BLK, 0, 0, 0, 0, 0);

	if (!t || t->status != SCSI_STATUS_GOOD || t->datain.size != BLK) {
		fprintf(stderr, "iscsi_caw_race: READ(16) through %s failed: %s\n", s->name,
			iscsi_get_error(s->iscsi));
		if (t)
			scsi_free_scsi_task(t);
		return -1;
	}
	memcpy(out, t->datain.data, BLK);
	scsi_free_scsi_task(t);
	return 0;
}

/* Drive both sessions until both CAWs answered, at most 60 s. */
static int wait_both(struct side *a, struct side *b)
{
	time_t stop = time(NULL) + 60;

	while (!(a->done && b->done)) {
		struct pollfd p[2] = {
			{ iscsi_get_fd(a->iscsi), iscsi_which_events(a->iscsi), 0 },
			{ iscsi_get_fd(b->iscsi), iscsi_which_events(b->iscsi), 0 },
		};

		if (time(NULL) > stop) {
			fprintf(stderr, "iscsi_caw_race: no answer within 60 s\n");
			return -1;
		}
		if (poll(p, 2, 1000) < 0)
			return -1;
		if (iscsi_service(a->iscsi, p[0].revents) < 0 || iscsi_service(b->iscsi, p[1].revents) < 0) {
			fprintf(stderr, "iscsi_caw_race: session failed\n");
			return -1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct side a = { .name = "A" }, b = { .name = "B" };
	unsigned char cur[BLK], check[BLK];
	long rounds, r, wins_a = 0, wins_b = 0;
	uint64_t lba = 0;
	char *end;
	int rc = 1;

	if (argc < 4 || argc > 5) {
		fprintf(stderr, "usage: iscsi_caw_race URL_A URL_B ROUNDS [LBA]\n");
		return 2;
	}
	rounds = strtol(argv[3], &end, 10);
	if (*end || rounds < 1 || rounds > 1000000) {
		fprintf(stderr, "iscsi_caw_race: ROUNDS: '%s' is not a count 1..1000000\n", argv[3]);
		return 2;
	}
	if (argc == 5) {
		lba = strtoull(argv[4], &end, 0);
		if (*end) {
			fprintf(stderr, "iscsi_caw_race: LBA: '%s' is not a number\n", argv[4]);
			return 2;
		}
	}
	if (connect_side(&a, argv[1], "iqn.2024-01.org.shoal:caw-a") ||
	    connect_side(&b, argv[2], "iqn.2024-01.org.shoal:caw-b"))
		goto out;
	if (read_block(&a, lba, cur))
		goto out;
	for (r = 0; r < rounds; r++) {
		struct side *win, *lose;

		memcpy(a.buf, cur, BLK);
		memcpy(b.buf, cur, BLK);
		memset(a.buf + BLK, 0, BLK);
		memset(b.buf + BLK, 0, BLK);
		snprintf((char *)a.buf + BLK, BLK, "round %ld won by A", r);
		snprintf((char *)b.buf + BLK, BLK, "round %ld won by B", r);
		a.done = b.done = false;
		a.key = b.key = a.ascq = b.ascq = 0;
		if (!iscsi_compareandwrite_task(a.iscsi, a.url->lun, lba, a.buf, 2 * BLK, BLK,
						0, 0, 0, 0, 0, caw_cb, &a) ||
		    !iscsi_compareandwrite_task(b.iscsi, b.url->lun, lba, b.buf, 2 * BLK, BLK,
						0, 0, 0, 0, 0, caw_cb, &b)) {
			fprintf(stderr, "iscsi_caw_race: cannot queue COMPARE AND WRITE\n");
			goto out;
		}
		if (wait_both(&a, &b))
			goto out;
		if (a.status == SCSI_STATUS_GOOD && b.status == SCSI_STATUS_CHECK_CONDITION) {
			win = &a;
			lose = &b;
		} else if (b.status == SCSI_STATUS_GOOD && a.status == SCSI_STATUS_CHECK_CONDITION) {
			win = &b;
			lose = &a;
		} else {
			fprintf(stderr, "iscsi_caw_race: round %ld: A status %d (sense %x/%04x), B status %d (sense %x/%04x): want exactly one GOOD\n",
				r, a.status, a.key, a.ascq, b.status, b.key, b.ascq);
			goto out;
		}
		if (lose->key != SCSI_SENSE_MISCOMPARE || lose->ascq != 0x1d00) {
			fprintf(stderr, "iscsi_caw_race: round %ld: loser %s got sense %x/%04x, want 0e/1d00\n",
				r, lose->name, lose->key, lose->ascq);
			goto out;
		}
		memcpy(cur, win->buf + BLK, BLK);
		if (read_block(lose, lba, check))
			goto out;
		if (memcmp(check, cur, BLK)) {
			fprintf(stderr, "iscsi_caw_race: round %ld: %s reads back other data than %s wrote\n",
				r, lose->name, win->name);
			goto out;
		}
		if (win == &a)
			wins_a++;
		else
			wins_b++;
	}
	printf("iscsi_caw_race: %ld rounds: A won %ld, B won %ld, every loser MISCOMPARE 0e/1d00\n",
	       rounds, wins_a, wins_b);
	rc = 0;
out:
	if (a.iscsi) {
		iscsi_logout_sync(a.iscsi);
		if (a.url)
			iscsi_destroy_url(a.url);
		iscsi_destroy_context(a.iscsi);
	}
	if (b.iscsi) {
		iscsi_logout_sync(b.iscsi);
		if (b.url)
			iscsi_destroy_url(b.url);
		iscsi_destroy_context(b.iscsi);
	}
	return rc;
}
