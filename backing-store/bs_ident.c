/* SCSI identity from a volume UUID (see bs_ident.h). */
#include <stdio.h>
#include "bs_ident.h"

void bs_ident_from_uuid(const uint8_t uuid[16], struct bs_ident *out)
{
	uint64_t hi = 0, lo = 0;
	int i;

	for (i = 0; i < 16; i++)
		snprintf(out->scsi_id + 2 * i, 3, "%02x", uuid[i]);
	snprintf(out->scsi_sn, sizeof(out->scsi_sn), "SL%.30s", out->scsi_id);
	for (i = 0; i < 8; i++) {
		hi = hi << 8 | uuid[i];
		lo = lo << 8 | uuid[8 + i];
	}
	out->numeric_id = (hi ^ lo) & 0x0fffffffffffffffull;
}
