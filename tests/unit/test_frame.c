/* Wire frame codec: roundtrip and every rejection reason. */
#include <stdlib.h>
#include <string.h>
#include "crc32c.h"
#include "frame.h"
#include "msg_types.h"
#include "rpc.h"
#include "cunit_main.h"

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* Re-seals a header after a test poked at its bytes. */
static void reseal(uint8_t *hdr)
{
	put32(hdr + 32, sl_crc32c(hdr, 32));
}

/* A whole echo frame with data into buf; returns its length. */
static size_t make_frame(uint8_t *buf, uint64_t req_id, const char *text,
			 const void *data, size_t data_len)
{
	Shoal__Echo e = SHOAL__ECHO__INIT;
	struct sl_frame_hdr h = {
		.version = SL_FRAME_VERSION, .type = SL_MSG_ECHO, .req_id = req_id,
	};

	e.value = req_id * 3;
	e.text = (char *)text;
	h.msg_len = (uint32_t)shoal__echo__pack(&e, buf + SL_FRAME_HDR_LEN);
	h.data_len = (uint32_t)data_len;
	if (data_len)
		memcpy(buf + SL_FRAME_HDR_LEN + h.msg_len, data, data_len);
	h.data_crc = sl_crc32c(data, data_len);
	sl_frame_encode_hdr(&h, buf);
	return SL_FRAME_HDR_LEN + h.msg_len + data_len;
}

static void test_hdr_roundtrip(void)
{
	struct sl_frame_hdr h = {
		.version = SL_FRAME_VERSION, .flags = SL_FRAME_F_REPLY, .type = SL_MSG_M_DUMP,
		.req_id = 0x0123456789abcdefull, .msg_len = SL_FRAME_MAX_MSG,
		.data_len = SL_FRAME_MAX_DATA, .data_crc = 0xdeadbeef, .status = SL_E_NOT_LEADER,
	}, d;
	uint8_t b[SL_FRAME_HDR_LEN];

	sl_frame_encode_hdr(&h, b);
	/* Little-endian on the wire: magic spells "SHOL". */
	CU_ASSERT_EQUAL(memcmp(b, "SHOL", 4), 0);
	CU_ASSERT_EQUAL(b[8], 0xef);
	CU_ASSERT_EQUAL(b[15], 0x01);
	CU_ASSERT_EQUAL(sl_frame_decode_hdr(b, &d), SL_FRAME_OK);
	CU_ASSERT_EQUAL(d.version, h.version);
	CU_ASSERT_EQUAL(d.flags, h.flags);
	CU_ASSERT_EQUAL(d.type, h.type);
	CU_ASSERT_EQUAL(d.req_id, h.req_id);
	CU_ASSERT_EQUAL(d.msg_len, h.msg_len);
	CU_ASSERT_EQUAL(d.data_len, h.data_len);
	CU_ASSERT_EQUAL(d.data_crc, h.data_crc);
	CU_ASSERT_EQUAL(d.status, h.status);
}

static void test_parse_roundtrip(void)
{
	uint8_t buf[4096], data[1000];
	struct sl_frame_hdr h;
	const uint8_t *msg, *dp;
	size_t len, used, len2;
	struct sl_msg m;
	ProtobufCMessage *pm;
	Shoal__Echo *e;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7);
	len = make_frame(buf, 42, "hello", data, sizeof(data));
	/* Two frames back to back: consumed stops at the first. */
	len2 = make_frame(buf + len, 43, "", NULL, 0);
	CU_ASSERT_EQUAL(sl_frame_parse(buf, len + len2, &h, &msg, &dp, &used), SL_FRAME_OK);
	CU_ASSERT_EQUAL(used, len);
	CU_ASSERT_EQUAL(h.req_id, 42);
	CU_ASSERT_EQUAL(h.data_len, sizeof(data));
	CU_ASSERT_PTR_EQUAL(msg, buf + SL_FRAME_HDR_LEN);
	CU_ASSERT_EQUAL(memcmp(dp, data, sizeof(data)), 0);

	m = (struct sl_msg){ .hdr = h, .msg = msg, .msg_len = h.msg_len, .data = dp,
			     .data_len = h.data_len };
	pm = sl_msg_unpack(&m, false);
	CU_ASSERT_FATAL(pm != NULL);
	e = (Shoal__Echo *)pm;
	CU_ASSERT_EQUAL(e->value, 42 * 3);
	CU_ASSERT_STRING_EQUAL(e->text, "hello");
	sl_msg_free(pm);

	CU_ASSERT_EQUAL(sl_frame_parse(buf + len, len2, &h, &msg, &dp, &used), SL_FRAME_OK);
	CU_ASSERT_EQUAL(used, len2);
	CU_ASSERT_EQUAL(h.data_len, 0);
	CU_ASSERT_EQUAL(h.data_crc, 0);

	/* Every proper prefix is truncated, never accepted. */
	for (size_t l = 0; l < len; l++)
		CU_ASSERT_EQUAL(sl_frame_parse(buf, l, &h, &msg, &dp, &used), SL_FRAME_TRUNCATED);
}

static void test_rejections(void)
{
	uint8_t good[256], b[256];
	struct sl_frame_hdr h;
	size_t len = make_frame(good, 1, "x", "abcd", 4);

#define BAD(expect, poke) do {							\
		memcpy(b, good, len);						\
		poke;								\
		CU_ASSERT_EQUAL(sl_frame_parse(b, len, &h, NULL, NULL, NULL), expect); \
	} while (0)

	BAD(SL_FRAME_OK, (void)0);
	BAD(SL_FRAME_BAD_MAGIC, b[0] ^= 1);
	BAD(SL_FRAME_BAD_MAGIC, (b[3] = 'X', reseal(b)));
	BAD(SL_FRAME_BAD_VERSION, (b[4] = 2, reseal(b)));
	BAD(SL_FRAME_BAD_VERSION, (b[4] = 0, reseal(b)));
	BAD(SL_FRAME_BAD_HDR_CRC, b[10] ^= 0x80);
	BAD(SL_FRAME_BAD_HDR_CRC, b[35] ^= 0x01);
	BAD(SL_FRAME_BAD_FLAGS, (b[5] = 0x02, reseal(b)));
	BAD(SL_FRAME_BAD_FLAGS, (b[5] = 0x81, reseal(b)));
	BAD(SL_FRAME_MSG_TOO_BIG, (put32(b + 16, SL_FRAME_MAX_MSG + 1), reseal(b)));
	BAD(SL_FRAME_MSG_TOO_BIG, (put32(b + 16, 0xffffffffu), reseal(b)));
	BAD(SL_FRAME_DATA_TOO_BIG, (put32(b + 20, SL_FRAME_MAX_DATA + 1), reseal(b)));
	BAD(SL_FRAME_DATA_TOO_BIG, (put32(b + 20, 0xffffffffu), reseal(b)));
	BAD(SL_FRAME_UNKNOWN_TYPE, (b[6] = 0, b[7] = 0, reseal(b)));
	BAD(SL_FRAME_UNKNOWN_TYPE, (b[6] = 99, b[7] = 0, reseal(b)));
	BAD(SL_FRAME_UNKNOWN_TYPE, (b[6] = 0xff, b[7] = 0xff, reseal(b)));
	BAD(SL_FRAME_BAD_DATA_CRC, b[len - 1] ^= 0x01);
	BAD(SL_FRAME_BAD_DATA_CRC, (put32(b + 24, 0), reseal(b)));
	/* A length that runs past the buffer is truncation, not an overread. */
	BAD(SL_FRAME_TRUNCATED, (put32(b + 20, 5), reseal(b)));
#undef BAD

	/* The bounds are inclusive: exactly the maximum is fine. */
	memcpy(b, good, SL_FRAME_HDR_LEN);
	put32(b + 16, SL_FRAME_MAX_MSG);
	put32(b + 20, SL_FRAME_MAX_DATA);
	reseal(b);
	CU_ASSERT_EQUAL(sl_frame_decode_hdr(b, &h), SL_FRAME_OK);
}

static void test_strerror(void)
{
	for (int e = SL_FRAME_OK; e >= SL_FRAME_TRUNCATED; e--) {
		const char *s = sl_frame_strerror((enum sl_frame_err)e);

		CU_ASSERT_PTR_NOT_NULL(s);
		CU_ASSERT_PTR_NULL(strstr(s, "unknown frame error"));
		for (int f = e - 1; f >= SL_FRAME_TRUNCATED; f--)
			CU_ASSERT_STRING_NOT_EQUAL(s, sl_frame_strerror((enum sl_frame_err)f));
	}
	CU_ASSERT_STRING_EQUAL(sl_frame_strerror((enum sl_frame_err)-99), "unknown frame error");
	CU_ASSERT_STRING_EQUAL(sl_status_str(SL_OK), "ok");
	CU_ASSERT_STRING_EQUAL(sl_status_str(SL_E_TIMEDOUT), "timed out");
	CU_ASSERT_STRING_EQUAL(sl_status_str(-1), "unknown status");
	CU_ASSERT_STRING_EQUAL(sl_status_str(SL_E_MAX), "unknown status");
	for (int s = 0; s < SL_E_MAX; s++)
		CU_ASSERT_STRING_NOT_EQUAL(sl_status_str(s), "unknown status");
}

static void test_msg_types(void)
{
	CU_ASSERT_PTR_NULL(sl_msg_type_lookup(0));
	CU_ASSERT_PTR_NULL(sl_msg_type_lookup(2));
	CU_ASSERT_PTR_NULL(sl_msg_type_lookup(65535));
	CU_ASSERT_PTR_NOT_NULL(sl_msg_type_lookup(SL_MSG_ECHO));
	CU_ASSERT_PTR_NOT_NULL(sl_msg_type_lookup(SL_MSG_CS_WRITE));
	CU_ASSERT_PTR_NOT_NULL(sl_msg_type_lookup(SL_MSG_M_DUMP));
}

static void test_unpack_garbage(void)
{
	uint8_t junk[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	struct sl_msg m = { .hdr = { .type = SL_MSG_ECHO }, .msg = junk, .msg_len = sizeof(junk) };

	CU_ASSERT_PTR_NULL(sl_msg_unpack(&m, false));
	CU_ASSERT_PTR_NULL(sl_msg_unpack(&m, true));
	m.hdr.type = 9999;
	m.msg_len = 0;
	CU_ASSERT_PTR_NULL(sl_msg_unpack(&m, false));
}

int main(void)
{
	static const struct sl_cunit_test tests[] = {
		{ "header roundtrip", test_hdr_roundtrip },
		{ "frame parse roundtrip and truncation", test_parse_roundtrip },
		{ "every rejection reason", test_rejections },
		{ "error and status strings", test_strerror },
		{ "message type table", test_msg_types },
		{ "garbage protobuf does not decode", test_unpack_garbage },
		{ NULL, NULL },
	};

	return sl_cunit_run("frame", tests);
}
