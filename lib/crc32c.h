/*
 * CRC32C (Castagnoli), the checksum of frames' data and of every 4 KiB
 * block on a chunkserver's disk.  Backed by ISA-L (Debian libisal), which
 * uses the SSE4.2 crc32 instruction or PCLMUL folding where present.
 */
#ifndef SHOAL_CRC32C_H
#define SHOAL_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Standard CRC32C of buf: crc32c("123456789") == 0xe3069283. */
uint32_t sl_crc32c(const void *buf, size_t len);
/* Continue a CRC32C: sl_crc32c_extend(sl_crc32c(a), b) == sl_crc32c(a || b). */
uint32_t sl_crc32c_extend(uint32_t crc, const void *buf, size_t len);

#endif
