/*
 * CRC32C through ISA-L.  crc32_iscsi() neither pre- nor post-inverts: it
 * runs the reflected Castagnoli table from init and returns the register.
 * The standard CRC32C starts from ~0 and inverts the result, so a finished
 * CRC is continued by feeding its inverse back in as init.
 */
#include <limits.h>
#include <isa-l/crc.h>
#include "crc32c.h"

uint32_t sl_crc32c_extend(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	uint32_t reg = ~crc;

	/* crc32_iscsi() takes an int length. */
	while (len > 0) {
		int n = len > (size_t)(INT_MAX & ~4095) ? (INT_MAX & ~4095) : (int)len;

		reg = crc32_iscsi((unsigned char *)p, n, reg);
		p += n;
		len -= (size_t)n;
	}
	return ~reg;
}

uint32_t sl_crc32c(const void *buf, size_t len)
{
	return sl_crc32c_extend(0, buf, len);
}
