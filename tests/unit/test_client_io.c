/*
 * The volume client (lib/client.c, lib/client_io.c) against fake
 * neighbours on 127.0.0.1: a master that redirects (NOT_LEADER with a
 * hint), a master that answers VOLUME_INFO and LOOKUP, and two
 * chunkservers that keep one in-memory copy of the volume and refuse
 * requests when they are not the chunk's primary or the version differs.
 *
 * Checks: writes across chunk boundaries read back; unwritten chunks read
 * as zeros without a chunkserver request; a lease move (NOT_PRIMARY, new
 * version) is retried invisibly; COMPARE AND WRITE match and miscompare;
 * WRITE SAME and UNMAP; ORWRITE, also when another writer changes the
 * bytes between its read and its compare-and-write; a chunkserver that
 * never answers ends the I/O with TIMEDOUT by its deadline; a write-back
 * volume's FLUSH reaches every chunkserver and is never answered OK by
 * its deadline alone; every write carries a gateway session, and one whose
 * attempt went unanswered is answered only after that session was closed
 * at the master (lib/client_io.c F1).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "client.h"
#include "log.h"
#include "msg_types.h"
#include "rpc.h"
#include "status.h"
#include "cunit_main.h"

#define VOL_SIZE	(8u << 20)
#define CHUNK_SHIFT	20
#define NCHUNKS		(VOL_SIZE >> CHUNK_SHIFT)

/* Runs io to its answer; says what it was when the status is not the one wanted. */
#define EXPECT_IO(io, want, what)								\
	do {											\
		int rc_ = sl_volume_io_sync(V, (io));						\
		if (rc_ != (want))								\
			fprintf(stderr, "[%s: %s] ", (what), sl_status_str(rc_));		\
		CU_ASSERT_EQUAL(rc_, (want));							\
	} while (0)

struct fake {
	struct sl_loop *loop;
	pthread_t thread;
	struct sl_server *redir, *master, *cs[2];
	char redir_addr[64], master_addr[64], cs_addr[2][64];
	uint8_t data[VOL_SIZE];
	uint64_t chunk_id[NCHUNKS];
	uint64_t version[NCHUNKS];
	int primary[NCHUNKS];
	int cs_requests[2];		/* atomics */
	int move_chunk;			/* atomic: next CS request on this chunk gets NOT_PRIMARY and the lease moves */
	int blackhole;			/* atomic: chunkservers swallow requests */
	int blackhole_cs;		/* atomic: this chunkserver (0, 1) swallows requests; -1: none */
	int lease_left_ms;		/* atomic: lookups say the primary's lease runs this long */
	int stay_lookups;		/* atomic: lookups of stay_chunk name cs 0 this often, then cs 1 */
	int stay_chunk;
	int cs_flushes[2];		/* atomics: CS_FLUSH requests answered */
	int race_chunk;			/* atomic: after the next read of this chunk, a racer sets 0x40 in its first byte */
	int lookups;
	int sessions_opened, sessions_closed;	/* atomics: M_GW_SESSION OPEN / CLOSE answered */
	int close_delay_ms;		/* atomic: GW_CLOSE is answered this much later */
	int write_sessions_zero;	/* atomic: writes that came without a session */
	uint64_t last_write_session;
	int lose_next_reply;		/* atomic: the next N writes run, their replies are lost */
	int blackhole_after_lost;	/* atomic: ... and then the chunkservers go silent */
	int drop_next_write;		/* atomic: the next write is lost on its way in */
	int forget_next_caw;		/* atomic: the next COMPARE AND WRITE leaves no record (a restart) */
	int tear_next_caw;		/* atomic: the next COMPARE AND WRITE lands its first sector only (a crash) */
	struct { uint64_t client, id; int status; } caw_rec[16];	/* R1, as the real primary */
	int questions;			/* atomic: R3 questions (outcome_only) answered */
	int fail_next_read;		/* atomic: the next read is refused NOT_PRIMARY (the lease moved) */
	uint64_t question_session;	/* the session of the last question, answered or not */
	uint64_t closed[64];		/* sessions closed (GW_CLOSE), a ring */
	unsigned int nclosed;
	unsigned int n_caw_rec;
};

static struct fake F;

static int ld(int *p) { return __atomic_load_n(p, __ATOMIC_SEQ_CST); }
static void st(int *p, int v) { __atomic_store_n(p, v, __ATOMIC_SEQ_CST); }

static void on_redir(struct sl_conn *c, const struct sl_msg *req, void *arg)
{
	Shoal__MasterRedirect r = SHOAL__MASTER_REDIRECT__INIT;

	r.leader_addr = F.master_addr;
	sl_rpc_reply(c, req->hdr.req_id, req->hdr.type, SL_E_NOT_LEADER, &r.base, NULL, 0);
}

/* A GW_CLOSE answered later (the master fences a session only when every statement ran out). */
struct late_close {
	struct sl_timer t;
	struct sl_conn *c;
	uint64_t req_id;
	uint16_t type;
};

static void late_close_cb(struct sl_timer *t, void *arg)
{
	struct late_close *k = arg;

	__atomic_add_fetch(&F.sessions_closed, 1, __ATOMIC_SEQ_CST);
	sl_rpc_reply(k->c, k->req_id, k->type, SL_OK, NULL, NULL, 0);
	sl_conn_put(k->c);
	free(k);
}

static void on_master(struct sl_conn *c, const struct sl_msg *req, void *arg)
{
	ProtobufCMessage *m = sl_msg_unpack(req, false);

	if (!m) {
		sl_rpc_reply(c, req->hdr.req_id, req->hdr.type, SL_E_PROTO, NULL, NULL, 0);
		return;
	}
	if (req->hdr.type == SL_MSG_M_VOLUME_INFO) {
		Shoal__VolumeNameReq *rq = (Shoal__VolumeNameReq *)m;
		Shoal__VolumeRep rep = SHOAL__VOLUME_REP__INIT;
		Shoal__VolumeInfo vi = SHOAL__VOLUME_INFO__INIT;
		static uint8_t uuid[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };

		/* wb1: the same volume, write-back */
		if (strcmp(rq->name, "v1") && strcmp(rq->name, "wb1")) {
			sl_rpc_reply(c, req->hdr.req_id, req->hdr.type, SL_E_NOENT, NULL, NULL, 0);
			goto out;
		}
		vi.id = 7;
		vi.name = rq->name;
		vi.uuid.data = uuid;
		vi.uuid.len = 16;
		vi.size = VOL_SIZE;
		vi.chunk_shift = CHUNK_SHIFT;
		vi.replicas = 2;
		vi.flags = SL_VOL_F_THIN | (strcmp(rq->name, "wb1") ? 0 : SL_VOL_F_WRITE_BACK);
		rep.volume = &vi;
		sl_rpc_reply(c, req->hdr.req_id, req->hdr.type, SL_OK, &rep.base, NULL, 0);
	} else if (req->hdr.type == SL_MSG_M_LOOKUP) {
		Shoal__LookupReq *rq = (Shoal__LookupReq *)m;
		Shoal__LookupRep rep = SHOAL__LOOKUP_REP__INIT;
		Shoal__ChunkLoc loc[NCHUNKS], *locs[NCHUNKS];
		Shoal__ServerAddr pa[NCHUNKS];
		uint64_t i;

		F.lookups++;
		CU_ASSERT_EQUAL(rq->volume_id, 7);
		if (rq->first >= NCHUNKS || rq->count > NCHUNKS - rq->first) {
			sl_rpc_reply(c, req->hdr.req_id, req->hdr.type, SL_E_RANGE, NULL, NULL, 0);
			goto out;
		}
		for (i = 0; i < rq->count; i++) {
			uint64_t ix = rq->first + i;

			if (rq->for_write && !F.chunk_id[ix]) {
				F.chunk_id[ix] = 100 + ix;
				F.version[ix] = 1;
			}
			/* the master keeps a silent primary while its lease lives, then grants elsewhere */
			if ((int)ix == ld(&F.stay_chunk) && F.primary[ix] == 0 &&
			    __atomic_sub_fetch(&F.stay_lookups, 1, __ATOMIC_SEQ_CST) < 0) {
				F.primary[ix] = 1;
				F.version[ix]++;
			}
			shoal__chunk_loc__init(&loc[i]);
			shoal__server_addr__init(&pa[i]);
			loc[i].index = ix;
			loc[i].chunk_id = F.chunk_id[ix];
			loc[i].version = F.version[ix];
			loc[i].epoch = F.version[ix];
			if (F.chunk_id[ix]) {
				pa[i].cs_id = F.primary[ix] + 1;
				pa[i].addr = F.cs_addr[F.primary[ix]];
				loc[i].primary = &pa[i];
				loc[i].lease_left_ms = (uint32_t)ld(&F.lease_left_ms);
			}
			locs[i] = &loc[i];
		}
		rep.n_chunks = rq->count;
		rep.chunks = locs;
		sl_rpc_reply(c, req->hdr.req_id, req->hdr.type, SL_OK, &rep.base, NULL, 0);
	} else if (req->hdr.type == SL_MSG_M_GW_SESSION) {
		Shoal__GwSessionReq *rq = (Shoal__GwSessionReq *)m;
		Shoal__GwSessionRep rep = SHOAL__GW_SESSION_REP__INIT;

		rep.lease_ms = 3000;
		if (rq->op == SHOAL__GW_SESSION_OP__GW_CLOSE)
			F.closed[F.nclosed++ % 64] = rq->session;
		if (rq->op == SHOAL__GW_SESSION_OP__GW_OPEN) {
			rep.session = (1ull << 32) | (uint64_t)(__atomic_add_fetch(&F.sessions_opened, 1, __ATOMIC_SEQ_CST));
		} else if (rq->op == SHOAL__GW_SESSION_OP__GW_CLOSE && ld(&F.close_delay_ms)) {
			struct late_close *k = calloc(1, sizeof(*k));

			k->c = c;
			k->req_id = req->hdr.req_id;
			k->type = req->hdr.type;
			sl_conn_get(c);
			sl_timer_init(&k->t, late_close_cb, k);
			sl_timer_arm(F.loop, &k->t, (uint64_t)ld(&F.close_delay_ms));
			goto out;
		} else if (rq->op == SHOAL__GW_SESSION_OP__GW_CLOSE) {
			__atomic_add_fetch(&F.sessions_closed, 1, __ATOMIC_SEQ_CST);
		}
		sl_rpc_reply(c, req->hdr.req_id, req->hdr.type, SL_OK, &rep.base, NULL, 0);
	} else {
		sl_rpc_reply(c, req->hdr.req_id, req->hdr.type, SL_E_PROTO, NULL, NULL, 0);
	}
out:
	sl_msg_free(m);
}

/* Returns the chunk index, or -1 after answering a refusal. */
static int cs_check(struct sl_conn *c, const struct sl_msg *req, int me, const Shoal__ChunkRef *ref)
{
	uint64_t ix = ref ? ref->chunk_id - 100 : NCHUNKS;

	if (ix >= NCHUNKS || F.chunk_id[ix] != ref->chunk_id) {
		sl_rpc_reply(c, req->hdr.req_id, req->hdr.type, SL_E_NOENT, NULL, NULL, 0);
		return -1;
	}
	if (ld(&F.move_chunk) == (int)ix) {
		/* The lease moves to the other server with a new version. */
		st(&F.move_chunk, -1);
		F.primary[ix] ^= 1;
		F.version[ix]++;
	}
	if (F.primary[ix] != me) {
		sl_rpc_reply(c, req->hdr.req_id, req->hdr.type, SL_E_NOT_PRIMARY, NULL, NULL, 0);
		return -1;
	}
	if (ref->version != F.version[ix]) {
		sl_rpc_reply(c, req->hdr.req_id, req->hdr.type, SL_E_STALE_VERSION, NULL, NULL, 0);
		return -1;
	}
	return (int)ix;
}

static void on_cs(struct sl_conn *c, const struct sl_msg *req, void *arg)
{
	int me = (int)(intptr_t)arg;
	ProtobufCMessage *m;
	int ix;

	__atomic_add_fetch(&F.cs_requests[me], 1, __ATOMIC_SEQ_CST);
	m = sl_msg_unpack(req, false);
	if (m && req->hdr.type == SL_MSG_CS_WRITE && ((Shoal__CsWriteReq *)m)->outcome_only)
		F.question_session = ((Shoal__CsWriteReq *)m)->session;
	if (ld(&F.blackhole) || ld(&F.blackhole_cs) == me) {
		if (m)
			protobuf_c_message_free_unpacked(m, NULL);
		return;		/* never answered */
	}
	if (!m) {
		sl_rpc_reply(c, req->hdr.req_id, req->hdr.type, SL_E_PROTO, NULL, NULL, 0);
		return;
	}
	if (req->hdr.type == SL_MSG_CS_READ) {
		Shoal__CsReadReq *rq = (Shoal__CsReadReq *)m;
		Shoal__CsReadRep rep = SHOAL__CS_READ_REP__INIT;

		ix = cs_check(c, req, me, rq->ref);
		if (ix >= 0 && __atomic_exchange_n(&F.fail_next_read, 0, __ATOMIC_SEQ_CST)) {
			sl_rpc_reply(c, req->hdr.req_id, req->hdr.type, SL_E_NOT_PRIMARY, NULL, NULL, 0);
		} else if (ix >= 0) {
			CU_ASSERT(rq->offset + rq->length <= (1u << CHUNK_SHIFT));
			rep.version = F.version[ix];
			sl_rpc_reply(c, req->hdr.req_id, req->hdr.type, SL_OK, &rep.base,
				     F.data + ((uint64_t)ix << CHUNK_SHIFT) + rq->offset, rq->length);
			if (ld(&F.race_chunk) == ix) {
				st(&F.race_chunk, -1);
				F.data[((uint64_t)ix << CHUNK_SHIFT) + rq->offset] |= 0x40;
			}
		}
	} else if (req->hdr.type == SL_MSG_CS_WRITE) {
		Shoal__CsWriteReq *rq = (Shoal__CsWriteReq *)m;
		Shoal__CsWriteRep rep = SHOAL__CS_WRITE_REP__INIT;
		uint8_t *p;
		int status = SL_OK;
		uint32_t i;

		if (!rq->session)
			__atomic_add_fetch(&F.write_sessions_zero, 1, __ATOMIC_SEQ_CST);
		F.last_write_session = rq->session;
		if (__atomic_exchange_n(&F.drop_next_write, 0, __ATOMIC_SEQ_CST))
			goto out;
		if (rq->kind == SHOAL__WRITE_KIND__COMPARE_AND_WRITE)
			for (i = 0; i < F.n_caw_rec; i++)
				if (F.caw_rec[i].client == rq->op_client && F.caw_rec[i].id == rq->op_id) {
					/* an attempt answered from the record loses its reply too; a question never */
					if (!rq->outcome_only && ld(&F.lose_next_reply) > 0 &&
					    __atomic_sub_fetch(&F.lose_next_reply, 1, __ATOMIC_SEQ_CST) >= 0)
						goto out;
					sl_rpc_reply(c, req->hdr.req_id, req->hdr.type, F.caw_rec[i].status,
						     &rep.base, NULL, 0);
					__atomic_add_fetch(&F.questions, rq->outcome_only, __ATOMIC_SEQ_CST);
					goto out;
				}
		if (rq->outcome_only) {
			/* a question: no record here, and it never runs (op_record.h R3) */
			CU_ASSERT(rq->kind == SHOAL__WRITE_KIND__COMPARE_AND_WRITE);
			sl_rpc_reply(c, req->hdr.req_id, req->hdr.type, SL_E_NOENT, &rep.base, NULL, 0);
			__atomic_add_fetch(&F.questions, 1, __ATOMIC_SEQ_CST);
			goto out;
		}
		ix = cs_check(c, req, me, rq->ref);
		if (ix < 0)
			goto out;
		CU_ASSERT(rq->offset + rq->length <= (1u << CHUNK_SHIFT));
		p = F.data + ((uint64_t)ix << CHUNK_SHIFT) + rq->offset;
		switch (rq->kind) {
		case SHOAL__WRITE_KIND__WRITE:
			CU_ASSERT_EQUAL(req->data_len, rq->length);
			memcpy(p, req->data, rq->length);
			break;
		case SHOAL__WRITE_KIND__WRITE_SAME:
			for (i = 0; i < rq->length; i += req->data_len)
				memcpy(p + i, req->data, req->data_len);
			break;
		case SHOAL__WRITE_KIND__UNMAP:
			memset(p, 0, rq->length);
			break;
		case SHOAL__WRITE_KIND__COMPARE_AND_WRITE:
			CU_ASSERT_EQUAL(req->data_len, 2 * rq->length);
			for (i = 0; i < rq->length && p[i] == req->data[i]; i++)
				;
			if (i < rq->length) {
				status = SL_E_MISCOMPARE;
				rep.miscompare_offset = rq->offset + i;	/* chunk offset, as the real primary */
			} else if (__atomic_exchange_n(&F.tear_next_caw, 0, __ATOMIC_SEQ_CST)) {
				memcpy(p, req->data + rq->length, 512);
			} else {
				memcpy(p, req->data + rq->length, rq->length);
			}
			break;
		default:
			status = SL_E_INVAL;
		}
		rep.version = F.version[ix];
		if (rq->kind == SHOAL__WRITE_KIND__COMPARE_AND_WRITE &&
		    !__atomic_exchange_n(&F.forget_next_caw, 0, __ATOMIC_SEQ_CST)) {
			i = F.n_caw_rec++ % 16;
			F.caw_rec[i].client = rq->op_client;
			F.caw_rec[i].id = rq->op_id;
			F.caw_rec[i].status = status;
		}
		if (ld(&F.lose_next_reply) > 0 && __atomic_sub_fetch(&F.lose_next_reply, 1, __ATOMIC_SEQ_CST) >= 0) {
			if (__atomic_exchange_n(&F.blackhole_after_lost, 0, __ATOMIC_SEQ_CST))
				st(&F.blackhole, 1);
			goto out;
		}
		sl_rpc_reply(c, req->hdr.req_id, req->hdr.type, status, &rep.base, NULL, 0);
	} else if (req->hdr.type == SL_MSG_CS_FLUSH) {
		__atomic_add_fetch(&F.cs_flushes[me], 1, __ATOMIC_SEQ_CST);
		sl_rpc_reply(c, req->hdr.req_id, req->hdr.type, SL_OK, NULL, NULL, 0);
	} else {
		sl_rpc_reply(c, req->hdr.req_id, req->hdr.type, SL_E_PROTO, NULL, NULL, 0);
	}
out:
	sl_msg_free(m);
}

static void *fake_thread(void *arg)
{
	sl_loop_run(F.loop);
	return NULL;
}

static struct sl_server *listen_any(sl_request_cb cb, void *arg, char *addr)
{
	struct sl_server *s = sl_server_listen(F.loop, "127.0.0.1:0", cb, arg);

	if (!s) {
		fprintf(stderr, "cannot listen on 127.0.0.1\n");
		exit(2);
	}
	snprintf(addr, 64, "127.0.0.1:%d", sl_server_port(s));
	return s;
}

static struct sl_client *C;
static struct sl_volume *V;

static void test_open(void)
{
	struct sl_str_list masters = { 2, { F.redir_addr, F.master_addr } };
	struct sl_client_opts o = { .deadline_ms = 5000, .rpc_timeout_ms = 1000 };
	struct sl_volume *none = NULL;
	const struct sl_volume_info *vi;

	C = sl_client_new(&masters, &o);
	CU_ASSERT_PTR_NOT_NULL_FATAL(C);
	CU_ASSERT_EQUAL(sl_volume_open(C, "nope", 3000, &none), SL_E_NOENT);
	CU_ASSERT_PTR_NULL(none);
	CU_ASSERT_EQUAL_FATAL(sl_volume_open(C, "v1", 3000, &V), SL_OK);
	vi = sl_volume_get_info(V);
	CU_ASSERT_EQUAL(vi->size, VOL_SIZE);
	CU_ASSERT_EQUAL(vi->chunk_shift, CHUNK_SHIFT);
	CU_ASSERT_EQUAL(vi->uuid[15], 16);
	CU_ASSERT_STRING_EQUAL(vi->name, "v1");
}

static int do_io(enum sl_io_op op, uint64_t off, uint64_t len, void *buf)
{
	struct sl_io io = { .op = op, .offset = off, .length = len, .buf = buf };

	return sl_volume_io_sync(V, &io);
}

static int total_cs(void)
{
	return ld(&F.cs_requests[0]) + ld(&F.cs_requests[1]);
}

static void test_zero_read(void)
{
	uint8_t *b = malloc(2 << 20);
	int before = total_cs();

	memset(b, 0xee, 2 << 20);
	CU_ASSERT_EQUAL(do_io(SL_IO_READ, 3 << 20, 2 << 20, b), SL_OK);
	CU_ASSERT_EQUAL(b[0], 0);
	CU_ASSERT_EQUAL(b[(2 << 20) - 1], 0);
	for (int i = 0; i < (2 << 20); i += 4096)
		CU_ASSERT_EQUAL(b[i], 0);
	CU_ASSERT_EQUAL(total_cs(), before);	/* no chunkserver round trip */
	free(b);
}

static void test_write_read_across_chunks(void)
{
	const uint64_t off = (1 << 20) - 4096, len = (3 << 20) + 8192;
	uint8_t *w = malloc(len), *r = malloc(len);
	uint64_t i;
	int before = total_cs();

	for (i = 0; i < len; i++)
		w[i] = (uint8_t)(i * 7 + (i >> 9));
	CU_ASSERT_EQUAL(do_io(SL_IO_WRITE, off, len, w), SL_OK);
	CU_ASSERT(total_cs() - before >= 5);	/* 5 chunks touched */
	CU_ASSERT_EQUAL(memcmp(F.data + off, w, len), 0);
	memset(r, 0, len);
	CU_ASSERT_EQUAL(do_io(SL_IO_READ, off, len, r), SL_OK);
	CU_ASSERT_EQUAL(memcmp(r, w, len), 0);
	/* out of range is refused up front */
	CU_ASSERT_EQUAL(do_io(SL_IO_READ, VOL_SIZE - 512, 1024, r), SL_E_RANGE);
	free(w);
	free(r);
}

static void test_lease_move(void)
{
	uint8_t w[8192], r[8192];
	int p0 = F.primary[2];

	memset(w, 0x5a, sizeof(w));
	st(&F.move_chunk, 2);
	CU_ASSERT_EQUAL(do_io(SL_IO_WRITE, (2 << 20) + 4096, sizeof(w), w), SL_OK);
	CU_ASSERT_NOT_EQUAL(F.primary[2], p0);
	CU_ASSERT_EQUAL(ld(&F.move_chunk), -1);
	CU_ASSERT_EQUAL(do_io(SL_IO_READ, (2 << 20) + 4096, sizeof(r), r), SL_OK);
	CU_ASSERT_EQUAL(memcmp(r, w, sizeof(w)), 0);
}

static void test_caw(void)
{
	uint8_t buf[1024], r[512];
	struct sl_io io = { .op = SL_IO_CAW, .offset = (7 << 20) + 4096, .length = 512, .buf = buf };

	/* chunk 7 is unwritten: compare against zeros */
	memset(buf, 0, 512);
	memset(buf + 512, 0x11, 512);
	CU_ASSERT_EQUAL(sl_volume_io_sync(V, &io), SL_OK);
	CU_ASSERT_EQUAL(do_io(SL_IO_READ, (7 << 20) + 4096, 512, r), SL_OK);
	CU_ASSERT_EQUAL(r[100], 0x11);
	/* the same CAW again now miscompares at byte 0 */
	CU_ASSERT_EQUAL(sl_volume_io_sync(V, &io), SL_E_MISCOMPARE);
	CU_ASSERT_EQUAL(io.miscompare_offset, 0);
	memset(buf, 0x11, 512);
	buf[300] = 0;
	CU_ASSERT_EQUAL(sl_volume_io_sync(V, &io), SL_E_MISCOMPARE);
	CU_ASSERT_EQUAL(io.miscompare_offset, 300);
	/* crossing a chunk boundary cannot be atomic: refused */
	io.offset = (5 << 20) - 256;
	CU_ASSERT_EQUAL(sl_volume_submit(V, &io), SL_E_INVAL);
}

static void test_write_same_unmap(void)
{
	uint8_t blk[512], r[4096];
	struct sl_io io = { .op = SL_IO_WRITE_SAME, .offset = (6 << 20) - 2048, .length = 4096,
			    .buf = blk, .blk_len = 512 };

	memset(blk, 0xc3, sizeof(blk));
	CU_ASSERT_EQUAL(sl_volume_io_sync(V, &io), SL_OK);
	CU_ASSERT_EQUAL(do_io(SL_IO_READ, (6 << 20) - 2048, 4096, r), SL_OK);
	CU_ASSERT_EQUAL(r[0], 0xc3);
	CU_ASSERT_EQUAL(r[4095], 0xc3);
	CU_ASSERT_EQUAL(do_io(SL_IO_UNMAP, (6 << 20) - 1024, 2048, NULL), SL_OK);
	CU_ASSERT_EQUAL(do_io(SL_IO_READ, (6 << 20) - 2048, 4096, r), SL_OK);
	CU_ASSERT_EQUAL(r[0], 0xc3);
	CU_ASSERT_EQUAL(r[1024], 0);
	CU_ASSERT_EQUAL(r[3071], 0);
	CU_ASSERT_EQUAL(r[3072], 0xc3);
	/* a flush on a write-through volume has nothing to wait for */
	CU_ASSERT_EQUAL(do_io(SL_IO_FLUSH, 0, 0, NULL), SL_OK);
}

static void never_done(struct sl_io *io)
{
	CU_FAIL("done() of an I/O refused at submit");
}

static void test_orwrite(void)
{
	const uint64_t off = (4 << 20) - 512;	/* 512 bytes in chunk 3, 512 in chunk 4 */
	uint8_t w[1024], r[1024];
	struct sl_io io = { .op = SL_IO_ORWRITE, .offset = off, .length = sizeof(w), .buf = w };
	int i;

	memset(w, 0x01, sizeof(w));
	CU_ASSERT_EQUAL(do_io(SL_IO_WRITE, off, sizeof(w), w), SL_OK);
	memset(w, 0x10, sizeof(w));
	/* another writer sets a bit in chunk 4 after ORWRITE read it: its CAW miscompares, it reads again */
	st(&F.race_chunk, 4);
	CU_ASSERT_EQUAL(sl_volume_io_sync(V, &io), SL_OK);
	CU_ASSERT_EQUAL(ld(&F.race_chunk), -1);
	CU_ASSERT_EQUAL(do_io(SL_IO_READ, off, sizeof(r), r), SL_OK);
	for (i = 0; i < (int)sizeof(r); i++)
		if (r[i] != (i == 512 ? 0x51 : 0x11))
			break;
	CU_ASSERT_EQUAL(i, (int)sizeof(r));
	/* an unwritten chunk ORs with zeros */
	CU_ASSERT_EQUAL(do_io(SL_IO_ORWRITE, 5 << 20, 512, w), SL_OK);
	CU_ASSERT_EQUAL(do_io(SL_IO_READ, 5 << 20, 512, r), SL_OK);
	CU_ASSERT_EQUAL(r[0], 0x10);
	CU_ASSERT_EQUAL(r[511], 0x10);
	/* malformed and out of range are refused up front */
	io.done = never_done;
	io.length = 0;
	CU_ASSERT_EQUAL(sl_volume_submit(V, &io), SL_E_INVAL);
	io.offset = VOL_SIZE - 512;
	io.length = 1024;
	CU_ASSERT_EQUAL(sl_volume_submit(V, &io), SL_E_RANGE);
}

static void test_deadline(void)
{
	uint8_t w[4096];
	struct sl_io io = { .op = SL_IO_WRITE, .offset = 1 << 20, .length = sizeof(w), .buf = w,
			    .deadline_ms = 700 };
	uint64_t t0;

	memset(w, 1, sizeof(w));
	st(&F.blackhole, 1);
	t0 = sl_now_ms();
	CU_ASSERT_EQUAL(sl_volume_io_sync(V, &io), SL_E_TIMEDOUT);
	CU_ASSERT(sl_now_ms() - t0 >= 650);
	CU_ASSERT(sl_now_ms() - t0 < 1500);
	st(&F.blackhole, 0);
	/* and the client recovers */
	io.deadline_ms = 0;
	CU_ASSERT_EQUAL(sl_volume_io_sync(V, &io), SL_OK);
}

/*
 * F1 (lib/client_io.c): a write whose attempt went unanswered may still
 * land, so its answer -- here TIMEDOUT -- waits until its session was
 * closed at the master (fenced); writes go on under a new session.  The
 * fake master answers GW_CLOSE 600 ms late: the I/O must not end before.
 */
static void test_fence_before_answer(void)
{
	uint8_t w[4096];
	struct sl_io io = { .op = SL_IO_WRITE, .offset = 2 << 20, .length = sizeof(w), .buf = w,
			    .deadline_ms = 500 };
	int closed0 = ld(&F.sessions_closed), opened0 = ld(&F.sessions_opened);
	uint64_t t0, s0 = F.last_write_session, dt;

	memset(w, 7, sizeof(w));
	CU_ASSERT_EQUAL(sl_volume_io_sync(V, &io), SL_OK);	/* a session exists */
	s0 = F.last_write_session;
	CU_ASSERT_NOT_EQUAL(s0, 0);
	st(&F.close_delay_ms, 600);
	st(&F.blackhole, 1);
	t0 = sl_now_ms();
	CU_ASSERT_EQUAL(sl_volume_io_sync(V, &io), SL_E_TIMEDOUT);
	dt = sl_now_ms() - t0;
	CU_ASSERT(dt >= 1050);		/* the 500 ms attempt, then the 600 ms fence */
	CU_ASSERT(dt < 3000);
	CU_ASSERT_EQUAL(ld(&F.sessions_closed), closed0 + 1);
	st(&F.blackhole, 0);
	st(&F.close_delay_ms, 0);
	io.deadline_ms = 0;
	CU_ASSERT_EQUAL(sl_volume_io_sync(V, &io), SL_OK);
	CU_ASSERT(ld(&F.sessions_opened) > opened0);		/* a new session ... */
	CU_ASSERT_NOT_EQUAL(F.last_write_session, s0);		/* ... carries the writes */
	CU_ASSERT_EQUAL(ld(&F.write_sessions_zero), 0);		/* and no write ever went without one */
}

static int write_chunk(int ix, uint8_t pattern)
{
	uint8_t w[4096];
	struct sl_io io = { .op = SL_IO_WRITE, .offset = (uint64_t)ix << CHUNK_SHIFT, .length = sizeof(w),
			    .buf = w };

	memset(w, pattern, sizeof(w));
	return sl_volume_io_sync(V, &io);
}

/*
 * Q1 (lib/client_io.c): once a chunkserver left an attempt unanswered,
 * another chunk the client knew it as primary of is looked up before it
 * is written, and goes to the primary the master names now -- no second
 * attempt at the silent server, no second retired session.  Q2: a lookup
 * that still names the silent server with a live lease is waited out once,
 * then asked again, but not a lease granted after the silence.  Q3: the
 * connection that swallowed the attempt is dropped and made again.  Mutations: without Q1, chunk 6 goes to cs 0 (a
 * request there, a retire); without Q2, chunk 2's write goes to cs 0;
 * without Q2's version condition, chunk 4's last write waits 350 ms;
 * without Q3, cs 0 never sees a new connection.
 */
static uint64_t accepted(int cs)
{
	struct sl_rpc_stats st;

	sl_server_stats(F.cs[cs], &st);
	return __atomic_load_n(&st.conns_accepted, __ATOMIC_SEQ_CST);
}

static void test_silent_primary(void)
{
	int r0, closed0;
	uint64_t t0, acc0;

	for (int ix = 2; ix <= 6; ix += 2) {
		__atomic_store_n(&F.primary[ix], 0, __ATOMIC_SEQ_CST);
		CU_ASSERT_EQUAL_FATAL(write_chunk(ix, 0x11), SL_OK);	/* cached: cs 0 */
	}
	acc0 = accepted(0);
	st(&F.blackhole_cs, 0);
	/* the master has granted chunks 4 and 6 to cs 1 */
	for (int ix = 4; ix <= 6; ix += 2) {
		__atomic_store_n(&F.primary[ix], 1, __ATOMIC_SEQ_CST);
		__atomic_add_fetch(&F.version[ix], 1, __ATOMIC_SEQ_CST);
	}
	r0 = ld(&F.cs_requests[0]);
	CU_ASSERT_EQUAL(write_chunk(4, 0x22), SL_OK);		/* the unanswered attempt, then cs 1 */
	CU_ASSERT_EQUAL(ld(&F.cs_requests[0]), r0 + 1);
	for (int i = 0; i < 100 && accepted(0) == acc0; i++)
		usleep(10000);
	CU_ASSERT(accepted(0) > acc0);				/* Q3 */
	closed0 = ld(&F.sessions_closed);
	CU_ASSERT_EQUAL(write_chunk(6, 0x33), SL_OK);		/* Q1 */
	CU_ASSERT_EQUAL(ld(&F.cs_requests[0]), r0 + 1);
	CU_ASSERT_EQUAL(ld(&F.sessions_closed), closed0);
	/* chunk 2: the master names cs 0 once more (lease 300 ms left), then cs 1 */
	st(&F.lease_left_ms, 300);
	st(&F.stay_lookups, 1);
	st(&F.stay_chunk, 2);
	t0 = sl_now_ms();
	CU_ASSERT_EQUAL(write_chunk(2, 0x44), SL_OK);		/* Q2 */
	CU_ASSERT(sl_now_ms() - t0 >= 300);
	CU_ASSERT_EQUAL(ld(&F.cs_requests[0]), r0 + 1);
	CU_ASSERT_EQUAL(ld(&F.sessions_closed), closed0);
	CU_ASSERT_EQUAL(F.data[(2u << CHUNK_SHIFT)], 0x44);
	CU_ASSERT_EQUAL(F.data[(6u << CHUNK_SHIFT)], 0x33);
	st(&F.stay_chunk, -1);
	/* cs 0 is back and granted chunk 4 anew (a new version): no wait, though it is still "silent" here */
	st(&F.blackhole_cs, -1);
	__atomic_store_n(&F.primary[4], 0, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&F.version[4], 1, __ATOMIC_SEQ_CST);
	t0 = sl_now_ms();
	CU_ASSERT_EQUAL(write_chunk(4, 0x55), SL_OK);
	CU_ASSERT(sl_now_ms() - t0 < 250);
	CU_ASSERT_EQUAL(ld(&F.cs_requests[0]), r0 + 2);
	st(&F.lease_left_ms, 0);
}

/*
 * R3 (lib/client_io.c): a COMPARE AND WRITE whose attempt went unanswered
 * is asked about once its session is fenced.  It ran: the recorded GOOD is
 * the answer, not an error an initiator would retry on another path and
 * see MISCOMPARE against its own write (removing R3 turns it into
 * INDOUBT).  It never arrived: nothing is recorded and the range still
 * holds the compare half, so it did not take effect: the answer is the
 * retryable error it would have had, never INDOUBT, and nothing is written
 * (a question that ran it would leave 0xc3; R5 unconditional -> INDOUBT).
 */
static void test_caw_resolved_after_fence(void)
{
	uint64_t off = (3 << 20) + 8192;
	uint8_t buf[1024], r[512];
	struct sl_io io = { .op = SL_IO_CAW, .offset = off, .length = 512, .buf = buf, .deadline_ms = 500 };

	memset(buf, 0xa1, 512);
	CU_ASSERT_EQUAL_FATAL(do_io(SL_IO_WRITE, off, 512, buf), SL_OK);
	memset(buf + 512, 0xb2, 512);
	st(&F.lose_next_reply, 1);
	CU_ASSERT_EQUAL(sl_volume_io_sync(V, &io), SL_OK);
	CU_ASSERT_EQUAL(ld(&F.lose_next_reply), 0);
	CU_ASSERT_EQUAL(do_io(SL_IO_READ, off, 512, r), SL_OK);
	CU_ASSERT_EQUAL(r[0], 0xb2);

	memset(buf, 0xb2, 512);
	memset(buf + 512, 0xc3, 512);
	st(&F.drop_next_write, 1);
	int q0 = ld(&F.questions);
	EXPECT_IO(&io, SL_E_TIMEDOUT, "COMPARE AND WRITE that never arrived");
	CU_ASSERT_EQUAL(ld(&F.drop_next_write), 0);
	CU_ASSERT(ld(&F.questions) > q0);
	CU_ASSERT_EQUAL(do_io(SL_IO_READ, off, 512, r), SL_OK);
	CU_ASSERT_EQUAL(r[511], 0xb2);
	/* the initiator runs it again, as a new command */
	CU_ASSERT_EQUAL(sl_volume_io_sync(V, &io), SL_OK);
	CU_ASSERT_EQUAL(do_io(SL_IO_READ, off, 512, r), SL_OK);
	CU_ASSERT_EQUAL(r[511], 0xc3);
	/* and a real miscompare after a lost attempt stays a miscompare (R3 reads c3, not b2 or f6) */
	memset(buf + 512, 0xf6, 512);
	st(&F.drop_next_write, 1);
	CU_ASSERT_EQUAL(sl_volume_io_sync(V, &io), SL_E_MISCOMPARE);
	CU_ASSERT_EQUAL(do_io(SL_IO_READ, off, 512, r), SL_OK);
	CU_ASSERT_EQUAL(r[0], 0xc3);
}

/*
 * R4: the CAW ran, its reply was lost, and its record with it (the primary
 * restarted): asked again it miscompares against its own write, which
 * the client reads back and answers GOOD.  Without R4: MISCOMPARE.
 */
static void test_caw_own_write_after_lost_record(void)
{
	uint64_t off = (3 << 20) + 16384;
	uint8_t buf[1024], r[512];
	struct sl_io io = { .op = SL_IO_CAW, .offset = off, .length = 512, .buf = buf, .deadline_ms = 500 };

	memset(buf, 0xd4, 512);
	CU_ASSERT_EQUAL_FATAL(do_io(SL_IO_WRITE, off, 512, buf), SL_OK);
	memset(buf + 512, 0xe5, 512);
	st(&F.forget_next_caw, 1);
	st(&F.lose_next_reply, 1);
	CU_ASSERT_EQUAL(sl_volume_io_sync(V, &io), SL_OK);
	CU_ASSERT_EQUAL(do_io(SL_IO_READ, off, 512, r), SL_OK);
	CU_ASSERT_EQUAL(r[200], 0xe5);
	/*
	 * R3's read-back refused (the server lost the lease meanwhile): the
	 * question is asked again within its budget, not answered in doubt.
	 * Mutation: a failed read-back answered SL_E_INDOUBT -> INDOUBT here.
	 */
	memset(buf, 0xe5, 512);
	memset(buf + 512, 0xf7, 512);
	st(&F.forget_next_caw, 1);
	st(&F.lose_next_reply, 1);
	st(&F.fail_next_read, 1);
	EXPECT_IO(&io, SL_OK, "R3 read-back refused once");
	CU_ASSERT_EQUAL(ld(&F.fail_next_read), 0);
	CU_ASSERT_EQUAL(do_io(SL_IO_READ, off, 512, r), SL_OK);
	CU_ASSERT_EQUAL(r[100], 0xf7);
	/* a plain miscompare reads nothing back: no attempt of it went unanswered */
	memset(buf, 0x01, 512);
	io.deadline_ms = 0;
	CU_ASSERT_EQUAL(sl_volume_io_sync(V, &io), SL_E_MISCOMPARE);
}

/*
 * R3 cannot resolve: the COMPARE AND WRITE ran, its reply was lost, and no
 * chunkserver answers the question after the fence either.  Its outcome is
 * unknown, so the answer is SL_E_INDOUBT (HARDWARE ERROR 44/00, which
 * multipath passes up), never a retryable error (NOT READY, which
 * multipath sends down the other path, where it would compare against its
 * own write).  The same when it never ran: the client cannot tell.
 */
static void test_caw_in_doubt(void)
{
	uint64_t off = (3 << 20) + 24576;
	uint8_t buf[1024], r[512];
	struct sl_io io = { .op = SL_IO_CAW, .offset = off, .length = 512, .buf = buf, .deadline_ms = 400 };
	int rc;

	memset(buf, 0x17, 512);
	CU_ASSERT_EQUAL_FATAL(do_io(SL_IO_WRITE, off, 512, buf), SL_OK);
	memset(buf + 512, 0x28, 512);
	st(&F.lose_next_reply, 1);
	st(&F.blackhole_after_lost, 1);
	F.question_session = 0;
	EXPECT_IO(&io, SL_E_INDOUBT, "COMPARE AND WRITE that ran, unresolved");
	/*
	 * The question went unanswered too, yet writes nothing: its session is
	 * not retired, and the answer waits for no fence of it (one that did
	 * could push the answer past D + U + 2L: nemesis seed 3038).
	 * Mutation: a question counted at risk (attempt_gen) -> closed.
	 */
	CU_ASSERT_NOT_EQUAL(F.question_session, 0);
	for (unsigned int k = 0; k < F.nclosed && k < 64; k++)
		CU_ASSERT_NOT_EQUAL(F.closed[k], F.question_session);
	st(&F.blackhole, 0);
	CU_ASSERT_EQUAL(do_io(SL_IO_READ, off, 512, r), SL_OK);
	CU_ASSERT_EQUAL(r[0], 0x28);	/* it took effect: a retry elsewhere would miscompare */

	memset(buf, 0x28, 512);
	memset(buf + 512, 0x39, 512);
	st(&F.blackhole, 1);
	rc = sl_volume_io_sync(V, &io);
	CU_ASSERT_EQUAL(rc, SL_E_INDOUBT);
	st(&F.blackhole, 0);
	/* a plain write unanswered stays retryable (F1 fences it) */
	st(&F.blackhole, 1);
	io.op = SL_IO_WRITE;
	CU_ASSERT_EQUAL(sl_volume_io_sync(V, &io), SL_E_TIMEDOUT);
	st(&F.blackhole, 0);
}

/*
 * R4 after a crash that tore the attempt: the CAW's first sector landed,
 * the second did not, its reply and record are gone.  Asked again it
 * miscompares against a block that holds part of its own write: neither
 * GOOD nor MISCOMPARE is true, so SL_E_INDOUBT.  Without the sector check:
 * MISCOMPARE.
 */
static void test_caw_torn_own_write(void)
{
	uint64_t off = (3 << 20) + 32768;
	uint8_t buf[2048], r[1024];
	struct sl_io io = { .op = SL_IO_CAW, .offset = off, .length = 1024, .buf = buf, .deadline_ms = 500 };
	int q0;

	memset(buf, 0x4b, 1024);
	CU_ASSERT_EQUAL_FATAL(do_io(SL_IO_WRITE, off, 1024, buf), SL_OK);
	memset(buf + 1024, 0x5c, 1024);
	st(&F.tear_next_caw, 1);
	st(&F.forget_next_caw, 1);
	st(&F.lose_next_reply, 1);
	EXPECT_IO(&io, SL_E_INDOUBT, "torn COMPARE AND WRITE asked again");
	CU_ASSERT_EQUAL(do_io(SL_IO_READ, off, 1024, r), SL_OK);
	CU_ASSERT_EQUAL(r[0], 0x5c);
	CU_ASSERT_EQUAL(r[600], 0x4b);
	/* a real miscompare after a lost attempt: no sector of its write is there */
	memset(buf, 0x11, 1024);
	memset(buf + 1024, 0x22, 1024);
	st(&F.drop_next_write, 1);
	CU_ASSERT_EQUAL(sl_volume_io_sync(V, &io), SL_E_MISCOMPARE);
	/*
	 * The same crash with time for a second attempt (nemesis seed 3277): it
	 * miscompares against the torn block, and the primary records that
	 * MISCOMPARE (R1).  R4 reads part of the write back: INDOUBT; R3's
	 * question after the fence gets the recorded MISCOMPARE, which an
	 * initiator takes for "not done", and must read it back as R4 does.
	 * Before the fix (and with a recorded MISCOMPARE final in R3):
	 * MISCOMPARE.
	 */
	io.offset = off = (3 << 20) + 40960;
	memset(buf, 0x6d, 1024);
	CU_ASSERT_EQUAL_FATAL(do_io(SL_IO_WRITE, off, 1024, buf), SL_OK);
	memset(buf + 1024, 0x7e, 1024);
	io.deadline_ms = 0;	/* the client's 5 s: a second attempt after the first times out */
	st(&F.tear_next_caw, 1);
	st(&F.forget_next_caw, 1);
	st(&F.lose_next_reply, 1);
	EXPECT_IO(&io, SL_E_INDOUBT, "torn COMPARE AND WRITE, second attempt recorded MISCOMPARE");
	CU_ASSERT_EQUAL(do_io(SL_IO_READ, off, 1024, r), SL_OK);
	CU_ASSERT_EQUAL(r[0], 0x7e);
	CU_ASSERT_EQUAL(r[600], 0x6d);
	/*
	 * Not torn: the first attempt landed whole, its record went with a
	 * restart; the second miscompares against it and is recorded, and its
	 * reply is lost too, so the op ends in error and R3 asks.  The recorded
	 * MISCOMPARE is read back (R4): the range holds the write: GOOD.
	 * Mutation: a recorded MISCOMPARE final in R3 -> MISCOMPARE.
	 */
	io.offset = off = (3 << 20) + 49152;
	memset(buf, 0x8f, 1024);
	CU_ASSERT_EQUAL_FATAL(do_io(SL_IO_WRITE, off, 1024, buf), SL_OK);
	memset(buf + 1024, 0x90, 1024);
	io.deadline_ms = 2500;
	st(&F.forget_next_caw, 1);
	st(&F.lose_next_reply, 100);	/* every attempt's reply: the op ends in error, R3 asks */
	q0 = ld(&F.questions);
	EXPECT_IO(&io, SL_OK, "COMPARE AND WRITE, recorded MISCOMPARE against its own write");
	st(&F.lose_next_reply, 0);
	CU_ASSERT(ld(&F.questions) > q0);
	CU_ASSERT_EQUAL(do_io(SL_IO_READ, off, 1024, r), SL_OK);
	CU_ASSERT_EQUAL(r[1000], 0x90);
}

/* Holds the client's I/O thread in a completion, so work posted meanwhile starts late. */
struct stall {
	int entered;		/* atomic */
	int done;		/* atomic */
};

static void stall_done(struct sl_io *io)
{
	struct stall *s = io->arg;

	st(&s->entered, 1);
	usleep(100 * 1000);
	st(&s->done, 1);
}

/*
 * A write-through volume's FLUSH has nothing to wait for; a write-back
 * one's asks every chunkserver the client talks to and is OK only when
 * each answered: never by its deadline alone, even one already past when
 * the flush starts.
 */
static void test_write_back_flush(void)
{
	struct stall stall = { 0, 0 };
	struct sl_io slow;
	uint8_t w[4096];
	struct sl_volume *wb = NULL;
	struct sl_io io = { .op = SL_IO_FLUSH };
	int before[2] = { ld(&F.cs_flushes[0]), ld(&F.cs_flushes[1]) };

	CU_ASSERT_EQUAL(do_io(SL_IO_FLUSH, 0, 0, NULL), SL_OK);	/* v1: write-through */
	CU_ASSERT_EQUAL(ld(&F.cs_flushes[0]) + ld(&F.cs_flushes[1]), before[0] + before[1]);

	CU_ASSERT_EQUAL_FATAL(sl_volume_open(C, "wb1", 3000, &wb), SL_OK);
	memset(w, 3, sizeof(w));
	io = (struct sl_io){ .op = SL_IO_WRITE, .offset = 0, .length = sizeof(w), .buf = w };
	CU_ASSERT_EQUAL(sl_volume_io_sync(wb, &io), SL_OK);		/* chunk 0: cs 0 */
	io = (struct sl_io){ .op = SL_IO_WRITE, .offset = 1 << CHUNK_SHIFT, .length = sizeof(w), .buf = w };
	CU_ASSERT_EQUAL(sl_volume_io_sync(wb, &io), SL_OK);		/* chunk 1: cs 1 */
	io = (struct sl_io){ .op = SL_IO_FLUSH };
	CU_ASSERT_EQUAL(sl_volume_io_sync(wb, &io), SL_OK);
	CU_ASSERT(ld(&F.cs_flushes[0]) > before[0]);
	CU_ASSERT(ld(&F.cs_flushes[1]) > before[1]);

	st(&F.blackhole, 1);
	io = (struct sl_io){ .op = SL_IO_FLUSH, .deadline_ms = 300 };
	CU_ASSERT_EQUAL(sl_volume_io_sync(wb, &io), SL_E_TIMEDOUT);
	st(&F.blackhole, 0);

	/* a flush that starts 100 ms after its 5 ms deadline: TIMEDOUT, not OK */
	slow = (struct sl_io){ .op = SL_IO_WRITE, .offset = 0, .length = sizeof(w), .buf = w,
			       .done = stall_done, .arg = &stall };
	CU_ASSERT_EQUAL_FATAL(sl_volume_submit(wb, &slow), SL_OK);
	for (int i = 0; i < 5000 && !ld(&stall.entered); i++)
		usleep(1000);
	CU_ASSERT_FATAL(ld(&stall.entered));
	io = (struct sl_io){ .op = SL_IO_FLUSH, .deadline_ms = 5 };
	CU_ASSERT_EQUAL(sl_volume_io_sync(wb, &io), SL_E_TIMEDOUT);
	CU_ASSERT(ld(&stall.done));	/* it did start after the stall */
	sl_volume_close(wb);
}

static void test_close(void)
{
	sl_volume_close(V);
	sl_client_free(C);
}

int main(void)
{
	static const struct sl_cunit_test tests[] = {
		{ "open", test_open },
		{ "zero_read", test_zero_read },
		{ "write_read_across_chunks", test_write_read_across_chunks },
		{ "lease_move", test_lease_move },
		{ "caw", test_caw },
		{ "write_same_unmap", test_write_same_unmap },
		{ "orwrite", test_orwrite },
		{ "deadline", test_deadline },
		{ "fence_before_answer", test_fence_before_answer },
		{ "silent_primary", test_silent_primary },
		{ "caw_resolved_after_fence", test_caw_resolved_after_fence },
		{ "caw_own_write_after_lost_record", test_caw_own_write_after_lost_record },
		{ "caw_in_doubt", test_caw_in_doubt },
		{ "caw_torn_own_write", test_caw_torn_own_write },
		{ "write_back_flush", test_write_back_flush },
		{ "close", test_close },
		{ NULL, NULL },
	};
	int rc, i;

	sl_log_open("test_client_io", SL_LOG_WARN, false);
	F.loop = sl_loop_new();
	F.move_chunk = -1;
	F.race_chunk = -1;
	F.blackhole_cs = -1;
	F.stay_chunk = -1;
	for (i = 0; i < (int)NCHUNKS; i++)
		F.primary[i] = i & 1;
	F.redir = listen_any(on_redir, NULL, F.redir_addr);
	F.master = listen_any(on_master, NULL, F.master_addr);
	F.cs[0] = listen_any(on_cs, (void *)0, F.cs_addr[0]);
	F.cs[1] = listen_any(on_cs, (void *)1, F.cs_addr[1]);
	pthread_create(&F.thread, NULL, fake_thread, NULL);
	rc = sl_cunit_run("client_io", tests);
	sl_loop_stop(F.loop);
	pthread_join(F.thread, NULL);
	sl_server_close(F.redir);
	sl_server_close(F.master);
	sl_server_close(F.cs[0]);
	sl_server_close(F.cs[1]);
	sl_loop_free(F.loop);
	return rc;
}
