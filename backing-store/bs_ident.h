/*
 * A LU's SCSI identity, derived from the volume UUID alone, so every
 * gateway presents byte-identical INQUIRY and VPD 0x80/0x83 pages for a
 * volume whatever its tid and LUN numbers.
 *
 *   scsi_id     32 lowercase hex digits of the UUID (tgt builds the NAA-6
 *               designator from its last 31 digits and the T10 designator
 *               from the string)
 *   scsi_sn     "SL" + the first 30 hex digits (VPD 0x80)
 *   numeric_id  high and low halves of the UUID XORed, top nibble cleared:
 *               tgt ORs NAA type 3 into that nibble for the NAA-3
 *               designator, which otherwise is (tid << 32) | lun
 */
#ifndef SHOAL_BS_IDENT_H
#define SHOAL_BS_IDENT_H

#include <stdint.h>

#define BS_IDENT_VENDOR		"SHOAL"
#define BS_IDENT_PRODUCT	"VOLUME"
#define BS_IDENT_REV		"0001"

struct bs_ident {
	char scsi_id[33];
	char scsi_sn[33];
	uint64_t numeric_id;
};

void bs_ident_from_uuid(const uint8_t uuid[16], struct bs_ident *out);

#endif
