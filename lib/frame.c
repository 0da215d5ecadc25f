/*
 * Wire frame encoding (layout in frame.h).  Decoding checks every field
 * before anyone trusts it; see the invariant in frame.h.
 */
#include <string.h>
#include "crc32c.h"
#include "frame.h"
#include "msg_types.h"

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)get16(p) | ((uint32_t)get16(p + 2) << 16);
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | ((uint64_t)get32(p + 4) << 32);
}

void sl_frame_encode_hdr(const struct sl_frame_hdr *h, uint8_t out[SL_FRAME_HDR_LEN])
{
	put32(out + 0, SL_FRAME_MAGIC);
	out[4] = h->version ? h->version : SL_FRAME_VERSION;
	out[5] = h->flags;
	put16(out + 6, h->type);
	put64(out + 8, h->req_id);
	put32(out + 16, h->msg_len);
	put32(out + 20, h->data_len);
	put32(out + 24, h->data_crc);
	put32(out + 28, h->status);
	put32(out + 32, sl_crc32c(out, 32));
}

enum sl_frame_err sl_frame_decode_hdr(const uint8_t in[SL_FRAME_HDR_LEN], struct sl_frame_hdr *h)
{
	if (get32(in) != SL_FRAME_MAGIC)
		return SL_FRAME_BAD_MAGIC;
	if (in[4] != SL_FRAME_VERSION)
		return SL_FRAME_BAD_VERSION;
	if (get32(in + 32) != sl_crc32c(in, 32))
		return SL_FRAME_BAD_HDR_CRC;
	if (in[5] & ~SL_FRAME_F_REPLY)
		return SL_FRAME_BAD_FLAGS;

	h->version = in[4];
	h->flags = in[5];
	h->type = get16(in + 6);
	h->req_id = get64(in + 8);
	h->msg_len = get32(in + 16);
	h->data_len = get32(in + 20);
	h->data_crc = get32(in + 24);
	h->status = get32(in + 28);

	if (h->msg_len > SL_FRAME_MAX_MSG)
		return SL_FRAME_MSG_TOO_BIG;
	if (h->data_len > SL_FRAME_MAX_DATA)
		return SL_FRAME_DATA_TOO_BIG;
	if (!sl_msg_type_lookup(h->type))
		return SL_FRAME_UNKNOWN_TYPE;
	return SL_FRAME_OK;
}

const char *sl_frame_strerror(enum sl_frame_err e)
{
	switch (e) {
	case SL_FRAME_OK:		return "ok";
	case SL_FRAME_BAD_MAGIC:	return "bad magic";
	case SL_FRAME_BAD_VERSION:	return "unsupported frame version";
	case SL_FRAME_BAD_HDR_CRC:	return "bad header checksum";
	case SL_FRAME_MSG_TOO_BIG:	return "message length over limit";
	case SL_FRAME_DATA_TOO_BIG:	return "data length over limit";
	case SL_FRAME_UNKNOWN_TYPE:	return "unknown message type";
	case SL_FRAME_BAD_FLAGS:	return "unknown frame flags";
	case SL_FRAME_BAD_DATA_CRC:	return "bad data checksum";
	case SL_FRAME_BAD_MSG:		return "message did not decode";
	case SL_FRAME_TRUNCATED:	return "truncated frame";
	}
	return "unknown frame error";
}

enum sl_frame_err sl_frame_parse(const uint8_t *buf, size_t len, struct sl_frame_hdr *h,
				 const uint8_t **msg, const uint8_t **data, size_t *consumed)
{
	enum sl_frame_err e;
	size_t total;

	if (len < SL_FRAME_HDR_LEN)
		return SL_FRAME_TRUNCATED;
	e = sl_frame_decode_hdr(buf, h);
	if (e != SL_FRAME_OK)
		return e;
	/* Both lengths are bounded by decode_hdr: no overflow. */
	total = SL_FRAME_HDR_LEN + (size_t)h->msg_len + h->data_len;
	if (len < total)
		return SL_FRAME_TRUNCATED;
	if (sl_crc32c(buf + SL_FRAME_HDR_LEN + h->msg_len, h->data_len) != h->data_crc)
		return SL_FRAME_BAD_DATA_CRC;
	if (msg)
		*msg = buf + SL_FRAME_HDR_LEN;
	if (data)
		*data = buf + SL_FRAME_HDR_LEN + h->msg_len;
	if (consumed)
		*consumed = total;
	return SL_FRAME_OK;
}
