/*
 * Shoal status -> SCSI status and sense, kept apart from tgt's headers so
 * the unit tests can check the table without tgtd.
 *
 * The rules: a cluster that cannot be reached within the deadline (or is
 * busy electing, moving leases) gives a retryable NOT READY 04/01, so the
 * initiator retries and dm-multipath fails over to another gateway; data
 * that fails its checksum on every replica is MEDIUM ERROR 11/00 (reads)
 * or 0c/00 (writes); a COMPARE AND WRITE or VERIFY difference is
 * MISCOMPARE 1d/00 with the offset of the first differing byte in
 * INFORMATION; a COMPARE AND WRITE whose outcome is unknown is HARDWARE
 * ERROR 44/00, which multipath does not retry on another gateway.
 * Nothing maps to GOOD but SL_OK.
 */
#ifndef SHOAL_BS_SENSE_H
#define SHOAL_BS_SENSE_H

#include <stdbool.h>
#include <stdint.h>

#define BS_SAM_GOOD		0x00
#define BS_SAM_CHECK_CONDITION	0x02

#define BS_KEY_NOT_READY	0x02
#define BS_KEY_MEDIUM_ERROR	0x03
#define BS_KEY_HARDWARE_ERROR	0x04
#define BS_KEY_ILLEGAL_REQUEST	0x05
#define BS_KEY_DATA_PROTECT	0x07
#define BS_KEY_MISCOMPARE	0x0e

#define BS_ASC_BECOMING_READY		0x0401
#define BS_ASC_WRITE_ERROR		0x0c00
#define BS_ASC_READ_ERROR		0x1100
#define BS_ASC_MISCOMPARE		0x1d00
#define BS_ASC_LBA_OUT_OF_RANGE		0x2100
#define BS_ASC_INVALID_FIELD_IN_CDB	0x2400
#define BS_ASC_SPACE_ALLOC_FAILED	0x2707
#define BS_ASC_MEDIUM_NOT_PRESENT	0x3a00
#define BS_ASC_INTERNAL_TGT_FAILURE	0x4400

struct bs_sense {
	int status;		/* BS_SAM_* */
	uint8_t key;
	uint16_t asc;		/* (ASC << 8) | ASCQ */
	bool has_info;
	uint64_t info;
};

/* is_write: the command changes data (WRITE, WRITE SAME, UNMAP, CAW). */
void bs_sense_from_status(int sl_status, bool is_write, uint64_t miscompare_offset,
			  struct bs_sense *out);

#endif
