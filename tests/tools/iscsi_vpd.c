/*
 * iscsi_vpd URL PAGE: print INQUIRY VPD page PAGE (decimal or 0x..) of the
 * LUN at URL as raw hex, header included, on one line.  iscsi-inq prints
 * NAA designators as strings, which cannot be compared across gateways.
 *
 * iscsi_vpd URL wce: print "wce 0" or "wce 1", the WCE bit of the caching
 * mode page (MODE SENSE(6), page 8, current values).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

int main(int argc, char **argv)
{
	struct iscsi_context *iscsi;
	struct iscsi_url *url;
	struct scsi_task *task;
	char *end = NULL;
	long page;
	int i, rc = 1;
	bool wce;

	if (argc != 3) {
		fprintf(stderr, "usage: iscsi_vpd iscsi://HOST:PORT/IQN/LUN PAGE|wce\n");
		return 2;
	}
	wce = !strcmp(argv[2], "wce");
	page = wce ? 8 : strtol(argv[2], &end, 0);
	if (!wce && (*end || page < 0 || page > 255)) {
		fprintf(stderr, "iscsi_vpd: PAGE: '%s' is not a page code 0..255\n", argv[2]);
		return 2;
	}
	iscsi = iscsi_create_context("iqn.2024-01.org.shoal:vpd");
	if (!iscsi) {
		fprintf(stderr, "iscsi_vpd: cannot create an iSCSI context\n");
		return 1;
	}
	url = iscsi_parse_full_url(iscsi, argv[1]);
	if (!url) {
		fprintf(stderr, "iscsi_vpd: URL: %s\n", iscsi_get_error(iscsi));
		iscsi_destroy_context(iscsi);
		return 2;
	}
	iscsi_set_session_type(iscsi, ISCSI_SESSION_NORMAL);
	iscsi_set_header_digest(iscsi, ISCSI_HEADER_DIGEST_NONE_CRC32C);
	if (iscsi_full_connect_sync(iscsi, url->portal, url->lun)) {
		fprintf(stderr, "iscsi_vpd: login to %s failed: %s\n", argv[1], iscsi_get_error(iscsi));
		goto out;
	}
	if (wce) {
		task = iscsi_modesense6_sync(iscsi, url->lun, 1, SCSI_MODESENSE_PC_CURRENT, 8, 0, 255);
		/* header (4), no block descriptor (DBD), then the page: code, length, flags */
		if (!task || task->status != SCSI_STATUS_GOOD || task->datain.size < 7 ||
		    task->datain.data[3] != 0 || (task->datain.data[4] & 0x3f) != 8) {
			fprintf(stderr, "iscsi_vpd: MODE SENSE of the caching page failed: %s\n",
				iscsi_get_error(iscsi));
			if (task)
				scsi_free_scsi_task(task);
			goto logout;
		}
		printf("wce %d\n", (task->datain.data[6] & 0x04) ? 1 : 0);
		scsi_free_scsi_task(task);
		rc = 0;
		goto logout;
	}
	task = iscsi_inquiry_sync(iscsi, url->lun, 1, (int)page, 255);
	if (!task || task->status != SCSI_STATUS_GOOD) {
		fprintf(stderr, "iscsi_vpd: INQUIRY page 0x%02lx failed: %s\n", page, iscsi_get_error(iscsi));
		if (task)
			scsi_free_scsi_task(task);
		goto logout;
	}
	for (i = 0; i < task->datain.size; i++)
		printf("%02x%s", task->datain.data[i], i + 1 < task->datain.size ? " " : "\n");
	scsi_free_scsi_task(task);
	rc = 0;
logout:
	iscsi_logout_sync(iscsi);
out:
	iscsi_destroy_url(url);
	iscsi_destroy_context(iscsi);
	return rc;
}
