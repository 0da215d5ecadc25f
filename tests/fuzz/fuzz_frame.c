/*
 * libFuzzer target for the wire decoder: bytes -> sl_frame_parse() for as
 * many frames as the input holds, and every frame that parses has its
 * message unpacked as both the request and the reply of its type.  A
 * message that decodes, and has no unknown fields, is packed again and must
 * decode to the same bytes (protobuf-c's packer is deterministic for a
 * given message).
 *
 * The invariants checked here are the ones the RPC layer relies on: after
 * SL_FRAME_OK the lengths are within their bounds and inside the input,
 * the type is in the table, and the data matched its CRC.
 *
 * CRC fix-up (the default; SHOAL_FUZZ_RAW=1 in the environment turns it
 * off): a header whose CRC does not match is refused before any other
 * check, so left alone libFuzzer's mutations of a header almost never got
 * past that check, and only message bodies behind intact headers were
 * fuzzed.  The custom mutator below runs libFuzzer's mutation, then walks
 * the frames of the result and makes each data CRC and header CRC right
 * again, 15 times in 16 (the rest keep what the mutation left, so the CRC
 * checks stay fuzzed too): mutated types, flags, lengths, statuses and data
 * reach the bound checks, the protobuf decoders and the round trip.
 */
#include <stdlib.h>
#include <string.h>
#include "crc32c.h"
#include "frame.h"
#include "msg_types.h"
#include "rpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len);
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed);

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/*
 * Rewrites the data CRC (when the frame's data lies inside buf) and the
 * header CRC of every frame in buf, in order, as a sender would; stops at
 * the first header whose lengths leave buf (its CRC fixed all the same, so
 * the length checks behind it are reached).
 */
static void fix_crcs(uint8_t *buf, size_t len)
{
	size_t off = 0;

	while (len - off >= SL_FRAME_HDR_LEN) {
		uint8_t *h = buf + off;
		uint64_t mlen = get32(h + 16), dlen = get32(h + 20);
		uint64_t end = off + SL_FRAME_HDR_LEN + mlen + dlen;
		bool inside = end <= len;

		if (inside)
			put32(h + 24, sl_crc32c(h + SL_FRAME_HDR_LEN + mlen, (size_t)dlen));
		put32(h + 32, sl_crc32c(h, 32));
		if (!inside)
			return;
		off = (size_t)end;
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
		fix_crcs(data, size);
	return size;
}

static void check(int cond)
{
	if (!cond)
		abort();
}

static void roundtrip(const struct sl_msg *m, bool is_reply)
{
	ProtobufCMessage *pm = sl_msg_unpack(m, is_reply), *pm2;
	size_t n, n2;
	uint8_t *out, *out2;

	if (!pm)
		return;
	/*
	 * Unknown fields are kept (a newer peer may send them), but protobuf-c
	 * re-emits some malformed ones (e.g. field number 0) in a form it will
	 * not read back; nothing in Shoal re-packs a received message, so the
	 * round trip is required of messages whose fields are all known.
	 */
	if (pm->n_unknown_fields) {
		sl_msg_free(pm);
		return;
	}
	n = protobuf_c_message_get_packed_size(pm);
	out = malloc(n ? n : 1);
	check(out != NULL);
	check(protobuf_c_message_pack(pm, out) == n);
	pm2 = protobuf_c_message_unpack(pm->descriptor, NULL, n, out);
	check(pm2 != NULL);
	n2 = protobuf_c_message_get_packed_size(pm2);
	check(n2 == n);
	out2 = malloc(n2 ? n2 : 1);
	check(out2 != NULL);
	check(protobuf_c_message_pack(pm2, out2) == n2);
	check(memcmp(out, out2, n) == 0);
	free(out2);
	free(out);
	sl_msg_free(pm2);
	sl_msg_free(pm);
}

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len)
{
	/* Frames back to back, as a connection would carry them. */
	for (int frames = 0; frames < 64 && len > 0; frames++) {
		struct sl_frame_hdr h;
		const uint8_t *msg = NULL, *data = NULL;
		size_t used = 0;
		enum sl_frame_err e = sl_frame_parse(buf, len, &h, &msg, &data, &used);
		struct sl_msg m;

		check(sl_frame_strerror(e) != NULL);
		if (e != SL_FRAME_OK)
			break;
		check(h.msg_len <= SL_FRAME_MAX_MSG && h.data_len <= SL_FRAME_MAX_DATA);
		check(used == SL_FRAME_HDR_LEN + (size_t)h.msg_len + h.data_len && used <= len);
		check(msg == buf + SL_FRAME_HDR_LEN && data == msg + h.msg_len);
		check(sl_msg_type_lookup(h.type) != NULL);
		check(sl_crc32c(data, h.data_len) == h.data_crc);
		check((h.flags & ~SL_FRAME_F_REPLY) == 0);

		/* The header re-encodes to the same bytes. */
		uint8_t hdr[SL_FRAME_HDR_LEN];

		sl_frame_encode_hdr(&h, hdr);
		check(memcmp(hdr, buf, SL_FRAME_HDR_LEN) == 0);

		m = (struct sl_msg){ .hdr = h, .msg = msg, .msg_len = h.msg_len,
				     .data = data, .data_len = h.data_len };
		roundtrip(&m, false);
		roundtrip(&m, true);
		buf += used;
		len -= used;
	}
	return 0;
}
