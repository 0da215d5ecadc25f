/*
 * How the volume client cuts an I/O into pieces (client.h): never across a
 * chunk, and never more than one frame's data (or, for the I/Os that carry
 * no data, more than CsWriteReq.length can say).  Pure arithmetic.
 */
#include "client.h"

#define DATA_UNIT_SHIFT		22	/* 4 MiB: well under SL_FRAME_MAX_DATA */
#define NODATA_UNIT_SHIFT	30	/* CsWriteReq.length is 32 bits */

uint64_t sl_split_count(uint64_t offset, uint64_t len, unsigned int unit_shift)
{
	if (!len)
		return 0;
	return ((offset + len - 1) >> unit_shift) - (offset >> unit_shift) + 1;
}

unsigned int sl_split_unit_shift(enum sl_io_op op, unsigned int chunk_shift)
{
	unsigned int cap = (op == SL_IO_UNMAP || op == SL_IO_WRITE_SAME) ? NODATA_UNIT_SHIFT : DATA_UNIT_SHIFT;

	return chunk_shift < cap ? chunk_shift : cap;
}
