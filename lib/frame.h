/*
 * The wire frame: a fixed 36-byte header, the protobuf message, the raw data.
 *
 *   off size field
 *     0    4 magic      SL_FRAME_MAGIC ("SHOL" read as little-endian u32)
 *     4    1 version    SL_FRAME_VERSION
 *     5    1 flags      SL_FRAME_F_*
 *     6    2 type       enum sl_msg_type (msg_types.h)
 *     8    8 req_id     chosen by the caller, echoed in the reply
 *    16    4 msg_len    protobuf bytes that follow the header
 *    20    4 data_len   raw bytes that follow the message
 *    24    4 data_crc   CRC32C of the raw bytes (0 when data_len is 0)
 *    28    4 status     reply frames: enum sl_status of the whole call
 *    32    4 hdr_crc    CRC32C of bytes 0..31
 *
 * All integers are little-endian.  Block payloads never go through
 * protobuf: they ride in the data part and are checked by data_crc.
 *
 * Invariant: sl_frame_decode_hdr() accepts a header only if every field is
 * within its bound (msg_len <= SL_FRAME_MAX_MSG, data_len <=
 * SL_FRAME_MAX_DATA, known version, known type, hdr_crc right), so a reader
 * may allocate msg_len + data_len bytes after it returns 0.
 */
#ifndef SHOAL_FRAME_H
#define SHOAL_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define SL_FRAME_MAGIC		0x4c4f4853u	/* "SHOL" */
#define SL_FRAME_VERSION	1
#define SL_FRAME_HDR_LEN	36
#define SL_FRAME_MAX_MSG	(1u << 20)	/* 1 MiB of protobuf */
#define SL_FRAME_MAX_DATA	(8u << 20)	/* 8 MiB of block data */

#define SL_FRAME_F_REPLY	0x01

struct sl_frame_hdr {
	uint8_t version;
	uint8_t flags;
	uint16_t type;
	uint64_t req_id;
	uint32_t msg_len;
	uint32_t data_len;
	uint32_t data_crc;
	uint32_t status;
};

/* Why a header was refused; each closes the connection with a log line. */
enum sl_frame_err {
	SL_FRAME_OK = 0,
	SL_FRAME_BAD_MAGIC = -1,
	SL_FRAME_BAD_VERSION = -2,
	SL_FRAME_BAD_HDR_CRC = -3,
	SL_FRAME_MSG_TOO_BIG = -4,
	SL_FRAME_DATA_TOO_BIG = -5,
	SL_FRAME_UNKNOWN_TYPE = -6,
	SL_FRAME_BAD_FLAGS = -7,
	SL_FRAME_BAD_DATA_CRC = -8,
	SL_FRAME_BAD_MSG = -9,		/* protobuf did not decode */
	SL_FRAME_TRUNCATED = -10,
};

void sl_frame_encode_hdr(const struct sl_frame_hdr *h, uint8_t out[SL_FRAME_HDR_LEN]);
enum sl_frame_err sl_frame_decode_hdr(const uint8_t in[SL_FRAME_HDR_LEN], struct sl_frame_hdr *h);
const char *sl_frame_strerror(enum sl_frame_err e);

/*
 * Decode a whole frame held in buf (header, message, data) without
 * allocating: on success *h is filled and *msg / *data point into buf.
 * Used by the fuzzer and by tests; the RPC layer decodes incrementally.
 */
enum sl_frame_err sl_frame_parse(const uint8_t *buf, size_t len, struct sl_frame_hdr *h,
				 const uint8_t **msg, const uint8_t **data, size_t *consumed);

#endif
