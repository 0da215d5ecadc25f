/*
 * Writes the fuzzer's seed corpus into DIR: for every message type, a
 * request and a reply frame carrying the type's default message, echo
 * frames with text and data, a frame with the largest data the seed size
 * allows, two frames back to back, a few near misses (one bit off in the
 * header CRC, a truncated tail), and chunkserver sessions: one chunk
 * created, then written, read, inspected, flushed and deleted by requests
 * a handler accepts (fuzz_cs starts from these; a default message
 * carries no chunk and is refused at once).
 *
 * usage: gen_seeds DIR
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "crc32c.h"
#include "frame.h"
#include "msg_types.h"
#include "status.h"

static const char *dir;
static int nseeds;

static size_t frame(uint8_t *out, uint16_t type, uint8_t flags, uint32_t status,
		    const ProtobufCMessage *msg, const void *data, size_t dlen)
{
	struct sl_frame_hdr h = {
		.version = SL_FRAME_VERSION, .flags = flags, .type = type,
		.req_id = 1000u + (unsigned int)nseeds, .status = status,
	};

	h.msg_len = msg ? (uint32_t)protobuf_c_message_pack(msg, out + SL_FRAME_HDR_LEN) : 0;
	h.data_len = (uint32_t)dlen;
	if (dlen)
		memcpy(out + SL_FRAME_HDR_LEN + h.msg_len, data, dlen);
	h.data_crc = sl_crc32c(data, dlen);
	sl_frame_encode_hdr(&h, out);
	return SL_FRAME_HDR_LEN + h.msg_len + dlen;
}

static int save(const uint8_t *buf, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/seed-%03d", dir, nseeds++);
	f = fopen(path, "wb");
	if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
		fprintf(stderr, "gen_seeds: cannot write %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Chunkserver sessions: chunk 7 (1 MiB) created, then one request of each
 * kind on it; the second session ends with a delete, the third writes in
 * every mode.
 */
static int cs_sessions(uint8_t *buf, const uint8_t *data)
{
	Shoal__ChunkRef ref = SHOAL__CHUNK_REF__INIT;
	Shoal__CsSetVersionReq sv = SHOAL__CS_SET_VERSION_REQ__INIT;
	Shoal__CsWriteReq w = SHOAL__CS_WRITE_REQ__INIT;
	Shoal__CsReadReq r = SHOAL__CS_READ_REQ__INIT;
	Shoal__CsChunkInfoReq ci = SHOAL__CS_CHUNK_INFO_REQ__INIT;
	Shoal__CsDigestReq dg = SHOAL__CS_DIGEST_REQ__INIT;
	Shoal__CsFlushReq fl = SHOAL__CS_FLUSH_REQ__INIT;
	Shoal__CsDeleteReq del = SHOAL__CS_DELETE_REQ__INIT;
	Shoal__Empty e = SHOAL__EMPTY__INIT;
	size_t n = 0;

	ref.chunk_id = 7;
	ref.version = ref.epoch = 1;
	sv.ref = w.ref = r.ref = dg.ref = fl.ref = &ref;
	sv.create = true;
	sv.chunk_size = 1 << 20;
	w.forwarded = true;
	w.offset = 4096;
	w.length = 8192;
	r.local_only = true;
	r.offset = 0;
	r.length = 16384;
	ci.chunk_id = del.chunk_id = 7;
	n += frame(buf + n, SL_MSG_CS_SET_VERSION, 0, 0, &sv.base, NULL, 0);
	n += frame(buf + n, SL_MSG_CS_WRITE, 0, 0, &w.base, data, 8192);
	n += frame(buf + n, SL_MSG_CS_READ, 0, 0, &r.base, NULL, 0);
	n += frame(buf + n, SL_MSG_CS_CHUNK_INFO, 0, 0, &ci.base, NULL, 0);
	n += frame(buf + n, SL_MSG_CS_DIGEST, 0, 0, &dg.base, NULL, 0);
	n += frame(buf + n, SL_MSG_CS_FLUSH, 0, 0, &fl.base, NULL, 0);
	n += frame(buf + n, SL_MSG_CS_STATUS, 0, 0, &e.base, NULL, 0);
	if (save(buf, n) < 0)
		return -1;
	n += frame(buf + n, SL_MSG_CS_DELETE, 0, 0, &del.base, NULL, 0);
	if (save(buf, n) < 0)
		return -1;
	n = frame(buf, SL_MSG_CS_SET_VERSION, 0, 0, &sv.base, NULL, 0);
	w.kind = SHOAL__WRITE_KIND__WRITE_SAME;
	w.length = 65536;
	n += frame(buf + n, SL_MSG_CS_WRITE, 0, 0, &w.base, data, 512);
	w.kind = SHOAL__WRITE_KIND__UNMAP;
	w.offset = 5000;
	w.length = 20000;
	n += frame(buf + n, SL_MSG_CS_WRITE, 0, 0, &w.base, NULL, 0);
	w.kind = SHOAL__WRITE_KIND__COMPARE_AND_WRITE;
	w.offset = 4096;
	w.length = 512;
	n += frame(buf + n, SL_MSG_CS_WRITE, 0, 0, &w.base, data, 1024);
	sv.create = false;
	ref.version = ref.epoch = 2;
	n += frame(buf + n, SL_MSG_CS_SET_VERSION, 0, 0, &sv.base, NULL, 0);
	n += frame(buf + n, SL_MSG_CS_READ, 0, 0, &r.base, NULL, 0);
	return save(buf, n);
}

int main(int argc, char **argv)
{
	static uint8_t buf[1 << 17], data[32768];
	Shoal__Echo e = SHOAL__ECHO__INIT;
	size_t n, n2;

	if (argc != 2) {
		fprintf(stderr, "usage: gen_seeds DIR\n");
		return 2;
	}
	dir = argv[1];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 31 + 7);

	for (unsigned int t = 0; t < 65536; t++) {
		const struct sl_msg_type_info *ti = sl_msg_type_lookup((uint16_t)t);
		ProtobufCMessage *rq, *rp;

		if (!ti)
			continue;
		rq = calloc(1, ti->req->sizeof_message);
		rp = calloc(1, ti->rep->sizeof_message);
		if (!rq || !rp)
			return 1;
		protobuf_c_message_init(ti->req, rq);
		protobuf_c_message_init(ti->rep, rp);
		if (save(buf, frame(buf, (uint16_t)t, 0, 0, rq, NULL, 0)) < 0 ||
		    save(buf, frame(buf, (uint16_t)t, SL_FRAME_F_REPLY, SL_OK, rp, data, 512)) < 0)
			return 1;
		free(rq);
		free(rp);
	}

	e.value = 0x123456789abcdefull;
	e.text = "hello, shoal";
	if (save(buf, frame(buf, SL_MSG_ECHO, 0, 0, &e.base, data, 100)) < 0 ||
	    save(buf, frame(buf, SL_MSG_ECHO, SL_FRAME_F_REPLY, SL_E_NOT_LEADER, &e.base, NULL, 0)) < 0 ||
	    save(buf, frame(buf, SL_MSG_CS_WRITE, 0, 0, NULL, data, sizeof(data))) < 0)
		return 1;

	/* Two frames back to back. */
	n = frame(buf, SL_MSG_ECHO, 0, 0, &e.base, data, 10);
	n2 = frame(buf + n, SL_MSG_CS_READ, SL_FRAME_F_REPLY, SL_OK, NULL, data, 4096);
	if (save(buf, n + n2) < 0)
		return 1;

	if (cs_sessions(buf, data) < 0)
		return 1;

	/* Near misses. */
	n = frame(buf, SL_MSG_ECHO, 0, 0, &e.base, data, 64);
	if (save(buf, n - 1) < 0)
		return 1;
	buf[33] ^= 0x01;
	if (save(buf, n) < 0)
		return 1;
	printf("gen_seeds: %d seeds in %s\n", nseeds, dir);
	return 0;
}
