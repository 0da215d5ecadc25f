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
 * Mutations go through fuzz_fixup.h, which makes the CRCs of mutated
 * frames right again, so they reach the checks behind them.
 */
#include <stdlib.h>
#include <string.h>
#include "crc32c.h"
#include "frame.h"
#include "fuzz_fixup.h"
#include "msg_types.h"
#include "rpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len);

static void check(int cond)
{
	if (!cond)
		abort();
}

/* Whether M, or any message nested in it, holds an unknown field. */
static bool has_unknown_fields(const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;

	if (m->n_unknown_fields)
		return true;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const char *at = (const char *)m + f->offset;

		if (f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)((const char *)m + f->quantifier_offset);
			ProtobufCMessage *const *v = *(ProtobufCMessage *const *const *)at;

			for (size_t k = 0; k < n; k++)
				if (v[k] && has_unknown_fields(v[k]))
					return true;
		} else {
			const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)at;

			if (sub && has_unknown_fields(sub))
				return true;
		}
	}
	return false;
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
	 * not read back (an overlong varint tag 80 80 00 is read as field 0 and
	 * packed as 00 00, which the unpacker refuses); nothing in Shoal re-packs
	 * a received message, so the round trip is required of messages whose
	 * fields are all known, at every depth.
	 */
	if (has_unknown_fields(pm)) {
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
