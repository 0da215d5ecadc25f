/*
 * unmap_check URL: UNMAP parameter lists that libiscsi's Unmap suite does
 * not send, checked the same way on stock tgt and on Shoal (thin LUs).
 *
 *  1. many descriptors in one command, out of order, some overlapping or
 *     adjacent, one across the middle of the LU and one at its end: exactly
 *     the listed blocks read back as zeros (LBPRZ=1), every other block of
 *     the pattern is intact;
 *  2. a descriptor past the end after a good one: ILLEGAL REQUEST, LBA OUT
 *     OF RANGE (whether the good one was unmapped is not specified: stock
 *     tgt unmaps it, Shoal checks the whole list first).
 *
 * Exit 0 when every check passes; one line per failure on stderr.
 * Bounded: a fixed number of commands, each answered or failed by libiscsi.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#define SPAN	512		/* blocks written and checked per area */
#define NDESC	200

static int failures;

#define FAIL(...) do { fprintf(stderr, "unmap_check: " __VA_ARGS__); fputc('\n', stderr); failures++; } while (0)

static int task_ok(struct iscsi_context *is, struct scsi_task *t, const char *what)
{
	if (t && t->status == SCSI_STATUS_GOOD)
		return 1;
	FAIL("%s: %s", what, t ? iscsi_get_error(is) : "no task");
	return 0;
}

/* The byte pattern of block lba: its number, so a misplaced block shows. */
static void fill(uint8_t *b, uint64_t lba, uint32_t bs)
{
	uint32_t i;

	for (i = 0; i < bs; i++)
		b[i] = (uint8_t)(lba * 31 + i / 7 + 1) | 1;	/* never zero */
}

static int write_area(struct iscsi_context *is, int lun, uint64_t lba, uint32_t bs)
{
	uint8_t *buf = malloc((size_t)SPAN * bs);
	struct scsi_task *t;
	int ok, i;

	for (i = 0; i < SPAN; i++)
		fill(buf + (size_t)i * bs, lba + i, bs);
	t = iscsi_write16_sync(is, lun, lba, buf, SPAN * bs, bs, 0, 0, 0, 0, 0);
	ok = task_ok(is, t, "WRITE(16)");
	if (t)
		scsi_free_scsi_task(t);
	free(buf);
	return ok;
}

/* Checks [lba, lba+SPAN): block b zero iff unmapped[b - lba]. */
static void check_area(struct iscsi_context *is, int lun, uint64_t lba, uint32_t bs,
		       const uint8_t *unmapped, const char *what)
{
	uint8_t *want = malloc(bs), *zero = calloc(1, bs);
	struct scsi_task *t;
	int i, bad = 0;

	t = iscsi_read16_sync(is, lun, lba, SPAN * bs, bs, 0, 0, 0, 0, 0);
	if (!task_ok(is, t, "READ(16)") || t->datain.size != (int)(SPAN * bs)) {
		FAIL("%s: read of %d blocks at %" PRIu64 " failed", what, SPAN, lba);
		goto out;
	}
	for (i = 0; i < SPAN; i++) {
		const uint8_t *got = t->datain.data + (size_t)i * bs;

		fill(want, lba + i, bs);
		if (memcmp(got, unmapped[i] ? zero : want, bs) && bad++ < 5)
			FAIL("%s: block %" PRIu64 " should be %s", what, lba + i,
			     unmapped[i] ? "zeros (unmapped)" : "the pattern (not unmapped)");
	}
out:
	if (t)
		scsi_free_scsi_task(t);
	free(want);
	free(zero);
}

int main(int argc, char **argv)
{
	struct iscsi_context *is;
	struct iscsi_url *url;
	struct scsi_task *t;
	struct scsi_readcapacity16 *rc16;
	struct unmap_list list[NDESC];
	uint8_t um[2][SPAN];
	uint64_t nblocks, area[2];
	uint32_t bs;
	int lun, n = 0, i, k;

	if (argc != 2) {
		fprintf(stderr, "usage: unmap_check iscsi://HOST:PORT/IQN/LUN\n");
		return 2;
	}
	is = iscsi_create_context("iqn.2024-01.org.shoal.conformance:unmap-check");
	url = is ? iscsi_parse_full_url(is, argv[1]) : NULL;
	if (!url) {
		fprintf(stderr, "unmap_check: bad URL %s: %s\n", argv[1], is ? iscsi_get_error(is) : "no memory");
		return 2;
	}
	iscsi_set_targetname(is, url->target);
	iscsi_set_session_type(is, ISCSI_SESSION_NORMAL);
	iscsi_set_header_digest(is, ISCSI_HEADER_DIGEST_NONE_CRC32C);
	lun = url->lun;
	if (iscsi_full_connect_sync(is, url->portal, lun)) {
		fprintf(stderr, "unmap_check: cannot log in to %s: %s\n", argv[1], iscsi_get_error(is));
		return 2;
	}
	t = iscsi_readcapacity16_sync(is, lun);
	rc16 = t && t->status == SCSI_STATUS_GOOD ? scsi_datain_unmarshall(t) : NULL;
	if (!rc16 || !rc16->lbpme || !rc16->lbprz) {
		fprintf(stderr, "unmap_check: %s is not a thin LU with LBPRZ=1\n", argv[1]);
		return 2;
	}
	bs = rc16->block_length;
	nblocks = rc16->returned_lba + 1;
	scsi_free_scsi_task(t);
	/* one area in the middle (a chunk boundary on Shoal's 64 MiB chunks for 128 MiB+ LUs), one at the end */
	area[0] = (nblocks / 2) - SPAN / 2;
	area[1] = nblocks - SPAN;

	/* 1. many descriptors, shuffled, overlapping and adjacent */
	memset(um, 0, sizeof(um));
	for (k = 0; k < 2; k++) {
		if (!write_area(is, lun, area[k], bs))
			goto done;
		for (i = 1; i < SPAN - 8 && n < NDESC; i += 5) {
			uint32_t len = 1 + (i % 3);	/* 1..3 blocks, gaps of 2..4 */

			list[n].lba = area[k] + i;
			list[n].num = len;
			memset(&um[k][i], 1, len);
			n++;
		}
	}
	/* one overlapping an existing descriptor, and the LU's last two blocks */
	list[n].lba = area[0] + 1;
	list[n].num = 2;
	memset(&um[0][1], 1, 2);
	n++;
	list[n].lba = area[1] + SPAN - 2;	/* the LU's last two blocks */
	list[n].num = 2;
	memset(&um[1][SPAN - 2], 1, 2);
	n++;
	for (i = n - 1; i > 0; i--) {		/* a fixed shuffle */
		struct unmap_list x = list[i];
		int j = (i * 7919) % (i + 1);

		list[i] = list[j];
		list[j] = x;
	}
	t = iscsi_unmap_sync(is, lun, 0, 0, list, n);
	if (task_ok(is, t, "UNMAP with many descriptors")) {
		check_area(is, lun, area[0], bs, um[0], "many descriptors (middle)");
		check_area(is, lun, area[1], bs, um[1], "many descriptors (end)");
	}
	if (t)
		scsi_free_scsi_task(t);

	/* 2. one descriptor past the end spoils the command */
	list[0].lba = area[0];
	list[0].num = 4;
	list[1].lba = nblocks - 1;
	list[1].num = 2;
	t = iscsi_unmap_sync(is, lun, 0, 0, list, 2);
	if (!t || t->status != SCSI_STATUS_CHECK_CONDITION || t->sense.key != SCSI_SENSE_ILLEGAL_REQUEST ||
	    t->sense.ascq != SCSI_SENSE_ASCQ_LBA_OUT_OF_RANGE)
		FAIL("UNMAP past the end: want ILLEGAL REQUEST / LBA OUT OF RANGE, got status %d sense %x/%04x",
		     t ? t->status : -1, t ? t->sense.key : 0, t ? t->sense.ascq : 0);
	if (t)
		scsi_free_scsi_task(t);
done:
	iscsi_logout_sync(is);
	iscsi_destroy_context(is);
	iscsi_destroy_url(url);
	printf("unmap_check %s: %s (%d descriptors in one UNMAP)\n", argv[1],
	       failures ? "FAILED" : "ok", n);
	return failures ? 1 : 0;
}
