/* The on-disk header slot of a replica's .meta file (see chunk_store.h). */
#ifndef SHOAL_CS_CHUNK_META_H
#define SHOAL_CS_CHUNK_META_H

#include <stddef.h>
#include <stdint.h>

#define CS_META_MAGIC	0x4d434853u	/* "SHCM" */
#define CS_META_FORMAT	2	/* 2: track pages follow the CRC pages */
#define CS_META_FORMAT_V1	1	/* no track pages: upgraded at open */

/* Little-endian on disk; crc is CRC32C of every byte before it. */
struct cs_meta_slot {
	uint32_t magic;
	uint32_t format;
	uint64_t seq;
	uint64_t chunk_id;
	uint64_t chunk_size;
	uint64_t version;
	uint64_t epoch;
	uint64_t dirty;			/* bit i: region i may hold a torn write */
	uint32_t reserved;
	uint32_t crc;
} __attribute__((packed));

struct cs_chunk;
/* Encodes ch's persistent state into a zeroed 4 KiB page. */
void cs_meta_encode(const struct cs_chunk *ch, uint64_t seq, void *page);

#endif
