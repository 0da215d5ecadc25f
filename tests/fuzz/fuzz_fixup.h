/*
 * The fuzz targets' custom mutator: libFuzzer's mutation, then the CRCs of
 * the frames in the input made right again.
 *
 * Why: a header whose CRC does not match is refused before any other
 * check, so left alone libFuzzer's mutations of a header almost never got
 * past that check, and only message bodies behind intact headers were
 * fuzzed.  After each mutation fuzz_fix_crcs() walks the frames and
 * rewrites each data CRC and header CRC, 15 times in 16 (the rest keep
 * what the mutation left, so the CRC checks stay fuzzed too): mutated
 * types, flags, lengths, statuses and data reach the bound checks, the
 * protobuf decoders and the request handlers.  SHOAL_FUZZ_RAW=1 in the
 * environment turns the fix-up off.
 *
 * Included by exactly one file of each fuzz target.
 */
#ifndef SHOAL_FUZZ_FIXUP_H
#define SHOAL_FUZZ_FIXUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include "crc32c.h"
#include "frame.h"

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed);

static inline uint32_t fuzz_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void fuzz_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/*
 * The length of the frame at buf (header, message, data) as its header
 * says, whatever the header's other fields; 0 if fewer than a header's
 * bytes remain.  May exceed len.
 */
static inline uint64_t fuzz_frame_len(const uint8_t *buf, size_t len)
{
	if (len < SL_FRAME_HDR_LEN)
		return 0;
	return SL_FRAME_HDR_LEN + (uint64_t)fuzz_get32(buf + 16) + fuzz_get32(buf + 20);
}

/*
 * Rewrites the data CRC (when the frame's data lies inside buf) and the
 * header CRC of every frame in buf, in order, as a sender would; stops at
 * the first header whose lengths leave buf (its CRC fixed all the same, so
 * the length checks behind it are reached).
 */
static inline void fuzz_fix_crcs(uint8_t *buf, size_t len)
{
	size_t off = 0;
	uint64_t n;

	while ((n = fuzz_frame_len(buf + off, len - off)) != 0) {
		uint8_t *h = buf + off;
		uint32_t mlen = fuzz_get32(h + 16);
		bool inside = n <= len - off;

		if (inside)
			fuzz_put32(h + 24, sl_crc32c(h + SL_FRAME_HDR_LEN + mlen, (size_t)(n - SL_FRAME_HDR_LEN - mlen)));
		fuzz_put32(h + 32, sl_crc32c(h, 32));
		if (!inside)
			return;
		off += (size_t)n;
	}
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
	static int raw = -1;

	if (raw < 0) {
		const char *e = getenv("SHOAL_FUZZ_RAW");

		raw = e && *e == '1';
	}
	size = LLVMFuzzerMutate(data, size, max_size);
	if (!raw && seed % 16 != 0)
		fuzz_fix_crcs(data, size);
	return size;
}

#endif
