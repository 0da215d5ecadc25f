/*
 * cs_probe: a client of the chunkserver (and, for lookups, the master) for
 * the chunkserver cluster scenarios (tests/cluster/2NN-*.sh).  It sends one
 * request and prints the answer; it is a client only, never a fake master.
 *
 *   cs_probe ADDR create CHUNK VERSION [CHUNK_SIZE]     CS_SET_VERSION create
 *   cs_probe ADDR setver CHUNK VERSION                  CS_SET_VERSION
 *   cs_probe ADDR write  CHUNK VERSION OFF FILE [primary] [same LEN|unmap LEN|caw|question]
 *   cs_probe ADDR read   CHUNK VERSION OFF LEN [primary]  (data to stdout)
 *   cs_probe ADDR info   CHUNK
 *   cs_probe ADDR status
 *   cs_probe ADDR delete CHUNK
 *   cs_probe ADDR copy   CHUNK VERSION SOURCE_ADDR CHUNK_SIZE   CS_COPY_FROM_PEER
 *   cs_probe MASTERS vcreate NAME SIZE [CHUNK_SHIFT]    prints volume id
 *   cs_probe MASTERS lookup VOLUME INDEX [write]        prints chunk_id version epoch primary
 *   cs_probe MASTERS replicas VOLUME INDEX              prints chunk_id version, then the
 *                                                       address of each member of its set
 *
 * write sends the file's bytes as one CS_WRITE: forwarded (straight into
 * that replica) by default, or as a client write to the primary, under a
 * gateway session opened at the masters named by $CS_PROBE_MASTERS (none:
 * the write carries no session, and the primary refuses it).  question: a
 * COMPARE_AND_WRITE sent as R3's question (CsWriteReq.outcome_only).
 * Exit status: 0 on SL_OK, the SL_E_* code otherwise (its name on stderr),
 * 64 on a usage error, 70 when the server could not be reached.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "config.h"
#include "evloop.h"
#include "master_client.h"
#include "msg_types.h"
#include "rpc.h"
#include "status.h"

#define TIMEOUT_MS 10000

/* A gateway session for client writes (doc/protocol.md "Gateway sessions"). */
static int open_session(struct sl_loop *loop, const char *masters, uint64_t *id)
{
	Shoal__GwSessionReq rq = SHOAL__GW_SESSION_REQ__INIT;
	struct sl_str_list ml = { 0 };
	struct sl_master_client *mc;
	ProtobufCMessage *rep = NULL;
	char *m = strdup(masters), *save = NULL, *tok;
	int r;

	for (tok = strtok_r(m, ",", &save); tok && ml.n < SL_CONFIG_MAX_LIST; tok = strtok_r(NULL, ",", &save))
		ml.v[ml.n++] = tok;
	mc = sl_master_client_new(loop, &ml);
	if (!mc) {
		free(m);
		return SL_E_INVAL;
	}
	rq.op = SHOAL__GW_SESSION_OP__GW_OPEN;
	rq.name = "cs_probe";
	r = sl_master_call_sync(mc, SL_MSG_M_GW_SESSION, &rq.base, TIMEOUT_MS, &rep);
	if (r == SL_OK)
		*id = ((Shoal__GwSessionRep *)rep)->session;
	else
		fprintf(stderr, "cs_probe: cannot open a gateway session: %s\n", sl_status_str(r));
	sl_msg_free(rep);
	sl_master_client_free(mc);
	free(m);
	return r;
}

static int usage(void)
{
	fprintf(stderr, "usage: cs_probe ADDR create|setver|write|read|info|status|delete ... "
		"| cs_probe MASTERS vcreate|lookup ... (see the source header)\n");
	return 64;
}

static int num(const char *s, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 0);
	if (errno || end == s || *end) {
		fprintf(stderr, "cs_probe: '%s' is not a number\n", s);
		return -1;
	}
	return 0;
}

static int call(struct sl_loop *loop, struct sl_conn *c, uint16_t type, const ProtobufCMessage *m,
		const void *data, size_t len, ProtobufCMessage **rep, void **rdata, size_t *rlen)
{
	int st = 0, r;

	r = sl_rpc_call_sync(loop, c, type, m, data, len, TIMEOUT_MS, rep, rdata, rlen, &st);
	if (r != SL_OK) {
		fprintf(stderr, "cs_probe: no answer from %s: %s\n", sl_conn_peer(c), sl_status_str(r));
		return 70;
	}
	if (st != SL_OK)
		fprintf(stderr, "status=%s\n", sl_status_str(st));
	return st;
}

static void *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	size_t cap = 1 << 16, n = 0, k;
	char *buf = malloc(cap);

	if (!f || !buf) {
		fprintf(stderr, "cs_probe: cannot read %s: %s\n", path, strerror(errno));
		if (f)
			fclose(f);
		free(buf);
		return NULL;
	}
	while ((k = fread(buf + n, 1, cap - n, f)) > 0) {
		n += k;
		if (n == cap) {
			char *nb = realloc(buf, cap * 2);

			if (!nb)
				break;
			buf = nb;
			cap *= 2;
		}
	}
	fclose(f);
	*len = n;
	return buf;
}

static int master_cmd(struct sl_loop *loop, const char *masters, int argc, char **argv)
{
	struct sl_str_list ml = { 0 };
	struct sl_master_client *mc;
	ProtobufCMessage *rep = NULL;
	char *dup = strdup(masters), *tok, *save = NULL;
	uint64_t a, b;
	int r = 64;

	for (tok = strtok_r(dup, ",", &save); tok && ml.n < SL_CONFIG_MAX_LIST; tok = strtok_r(NULL, ",", &save))
		ml.v[ml.n++] = tok;
	mc = sl_master_client_new(loop, &ml);
	if (!mc)
		goto out;
	if (!strcmp(argv[0], "vcreate") && argc >= 3) {
		Shoal__VolumeCreateReq rq = SHOAL__VOLUME_CREATE_REQ__INIT;
		Shoal__DedupId d = SHOAL__DEDUP_ID__INIT;

		if (num(argv[2], &a) || (argc > 3 && num(argv[3], &b)))
			goto out_mc;
		sl_master_dedup(mc, &d);
		rq.dedup = &d;
		rq.name = argv[1];
		rq.size = a;
		rq.chunk_shift = argc > 3 ? (uint32_t)b : 0;
		r = sl_master_call_sync(mc, SL_MSG_M_VOLUME_CREATE, &rq.base, TIMEOUT_MS, &rep);
		if (r == SL_OK && rep && ((Shoal__VolumeRep *)rep)->volume)
			printf("%" PRIu64 "\n", ((Shoal__VolumeRep *)rep)->volume->id);
	} else if ((!strcmp(argv[0], "lookup") || !strcmp(argv[0], "replicas")) && argc >= 3) {
		Shoal__LookupReq rq = SHOAL__LOOKUP_REQ__INIT;
		Shoal__DedupId d = SHOAL__DEDUP_ID__INIT;

		if (num(argv[1], &a) || num(argv[2], &b))
			goto out_mc;
		rq.volume_id = a;
		rq.first = b;
		rq.count = 1;
		rq.for_write = argc > 3 && !strcmp(argv[3], "write");
		sl_master_dedup(mc, &d);
		rq.dedup = &d;
		r = sl_master_call_sync(mc, SL_MSG_M_LOOKUP, &rq.base, TIMEOUT_MS, &rep);
		if (r == SL_OK && rep) {
			Shoal__LookupRep *lr = (Shoal__LookupRep *)rep;
			Shoal__ChunkLoc *l = lr->n_chunks ? lr->chunks[0] : NULL;

			if (l && !strcmp(argv[0], "replicas")) {
				printf("%" PRIu64 " %" PRIu64, l->chunk_id, l->version);
				for (size_t i = 0; i < l->n_replicas; i++)
					printf(" %s", l->replicas[i]->addr);
				printf("\n");
			} else if (l) {
				printf("%" PRIu64 " %" PRIu64 " %" PRIu64 " %s\n", l->chunk_id, l->version,
				       l->epoch, l->primary && l->primary->addr[0] ? l->primary->addr : "-");
			}
		}
	} else {
		goto out_mc;
	}
	if (r != SL_OK)
		fprintf(stderr, "status=%s\n", sl_status_str(r));
	if (rep)
		sl_msg_free(rep);
out_mc:
	sl_master_client_free(mc);
out:
	free(dup);
	return r;
}

int main(int argc, char **argv)
{
	Shoal__ChunkRef ref = SHOAL__CHUNK_REF__INIT;
	struct sl_loop *loop;
	struct sl_conn *c;
	ProtobufCMessage *rep = NULL;
	void *rdata = NULL;
	size_t rlen = 0;
	uint64_t a, b, off, len;
	const char *cmd;
	int r = 64;

	if (argc < 3)
		return usage();
	cmd = argv[2];
	loop = sl_loop_new();
	if (!loop)
		return 70;
	if (!strcmp(cmd, "vcreate") || !strcmp(cmd, "lookup") || !strcmp(cmd, "replicas")) {
		r = master_cmd(loop, argv[1], argc - 2, argv + 2);
		sl_loop_free(loop);
		return r == 64 ? usage() : r;
	}
	c = sl_conn_connect(loop, argv[1], NULL);
	if (!c) {
		fprintf(stderr, "cs_probe: bad address '%s'\n", argv[1]);
		return 64;
	}
	if ((!strcmp(cmd, "create") || !strcmp(cmd, "setver")) && argc >= 5) {
		Shoal__CsSetVersionReq rq = SHOAL__CS_SET_VERSION_REQ__INIT;

		if (num(argv[3], &a) || num(argv[4], &b) || (argc > 5 && num(argv[5], &len)))
			goto out;
		ref.chunk_id = a;
		ref.version = ref.epoch = b;
		rq.ref = &ref;
		rq.create = !strcmp(cmd, "create");
		rq.chunk_size = argc > 5 ? len : 64ull << 20;
		r = call(loop, c, SL_MSG_CS_SET_VERSION, &rq.base, NULL, 0, &rep, NULL, NULL);
	} else if (!strcmp(cmd, "write") && argc >= 7) {
		Shoal__CsWriteReq rq = SHOAL__CS_WRITE_REQ__INIT;
		void *data;
		int k;
		size_t dlen = 0;

		if (num(argv[3], &a) || num(argv[4], &b) || num(argv[5], &off))
			goto out;
		data = slurp(argv[6], &dlen);
		if (!data) {
			r = 64;
			goto out;
		}
		ref.chunk_id = a;
		ref.version = ref.epoch = b;
		rq.ref = &ref;
		rq.offset = off;
		rq.length = (uint32_t)dlen;
		rq.forwarded = true;
		for (k = 7; k < argc; k++) {
			if (!strcmp(argv[k], "primary")) {
				rq.forwarded = false;
			} else if ((!strcmp(argv[k], "same") || !strcmp(argv[k], "unmap")) && k + 1 < argc) {
				if (num(argv[k + 1], &len))
					goto out;
				rq.kind = !strcmp(argv[k], "same") ? SHOAL__WRITE_KIND__WRITE_SAME
								    : SHOAL__WRITE_KIND__UNMAP;
				rq.length = (uint32_t)len;
				if (rq.kind == SHOAL__WRITE_KIND__UNMAP)
					dlen = 0;
				k++;
			} else if (!strcmp(argv[k], "caw") || !strcmp(argv[k], "question")) {
				rq.kind = SHOAL__WRITE_KIND__COMPARE_AND_WRITE;
				rq.length = (uint32_t)(dlen / 2);
				/* R3's question: the recorded outcome of an operation, never run */
				rq.outcome_only = !strcmp(argv[k], "question");
			} else {
				fprintf(stderr, "cs_probe: write: unknown mode '%s'\n", argv[k]);
				free(data);
				r = 64;
				goto out;
			}
		}
		if (!rq.forwarded && getenv("CS_PROBE_MASTERS")) {
			r = open_session(loop, getenv("CS_PROBE_MASTERS"), &rq.session);
			if (r) {
				free(data);
				goto out;
			}
			rq.op_client = (uint64_t)getpid() << 32 | (uint64_t)time(NULL);
			rq.op_id = 1;
		}
		if (rq.outcome_only && !rq.op_id) {
			rq.op_client = (uint64_t)getpid() << 32 | (uint64_t)time(NULL);
			rq.op_id = 1;
		}
		r = call(loop, c, SL_MSG_CS_WRITE, &rq.base, data, dlen, &rep, NULL, NULL);
		if (r == SL_E_MISCOMPARE && rep)
			printf("miscompare_offset=%" PRIu64 "\n", ((Shoal__CsWriteRep *)rep)->miscompare_offset);
		free(data);
	} else if (!strcmp(cmd, "read") && argc >= 7) {
		Shoal__CsReadReq rq = SHOAL__CS_READ_REQ__INIT;

		if (num(argv[3], &a) || num(argv[4], &b) || num(argv[5], &off) || num(argv[6], &len))
			goto out;
		ref.chunk_id = a;
		ref.version = ref.epoch = b;
		rq.ref = &ref;
		rq.offset = off;
		rq.length = (uint32_t)len;
		rq.local_only = !(argc > 7 && !strcmp(argv[7], "primary"));
		r = call(loop, c, SL_MSG_CS_READ, &rq.base, NULL, 0, &rep, &rdata, &rlen);
		if (r == SL_OK && fwrite(rdata, 1, rlen, stdout) != rlen)
			r = 70;
	} else if (!strcmp(cmd, "info") && argc >= 4) {
		Shoal__CsChunkInfoReq rq = SHOAL__CS_CHUNK_INFO_REQ__INIT;

		if (num(argv[3], &a))
			goto out;
		rq.chunk_id = a;
		r = call(loop, c, SL_MSG_CS_CHUNK_INFO, &rq.base, NULL, 0, &rep, NULL, NULL);
		if (r == SL_OK && rep) {
			Shoal__CsChunkInfoRep *i = (Shoal__CsChunkInfoRep *)rep;

			printf("version=%" PRIu64 " epoch=%" PRIu64 " chunk_size=%" PRIu64
			       " allocated=%" PRIu64 " disk=%u primary=%d dirty_bytes=%" PRIu64
			       " checksum_errors=%u\n", i->version, i->epoch, i->chunk_size,
			       i->allocated_bytes, i->disk, i->primary, i->dirty_bytes, i->checksum_errors);
		}
	} else if (!strcmp(cmd, "status")) {
		Shoal__Empty e = SHOAL__EMPTY__INIT;

		r = call(loop, c, SL_MSG_CS_STATUS, &e.base, NULL, 0, &rep, NULL, NULL);
		if (r == SL_OK && rep) {
			Shoal__CsStatusRep *s = (Shoal__CsStatusRep *)rep;
			size_t i;

			printf("cs_id=%" PRIu64 " chunks=%" PRIu64 " reads=%" PRIu64 " writes=%" PRIu64
			       " checksum_errors=%" PRIu64 " repaired_blocks=%" PRIu64 " resync_bytes=%" PRIu64
			       " scrubbed_bytes=%" PRIu64 " scrub_passes=%" PRIu64 " reconciled_regions=%" PRIu64
			       " torn_regions=%" PRIu64 " unrepaired_blocks=%" PRIu64 "\n",
			       s->cs_id, s->chunks, s->reads, s->writes, s->checksum_errors,
			       s->repaired_blocks, s->resync_bytes, s->scrubbed_bytes, s->scrub_passes,
			       s->reconciled_regions, s->torn_regions, s->unrepaired_blocks);
			for (i = 0; i < s->n_disks; i++)
				printf("disk=%u path=%s failed=%d chunks=%" PRIu64 "\n", s->disks[i]->index,
				       s->disks[i]->path, s->disks[i]->failed, s->disks[i]->chunks);
		}
	} else if (!strcmp(cmd, "copy") && argc >= 7) {
		Shoal__CsCopyFromPeerReq rq = SHOAL__CS_COPY_FROM_PEER_REQ__INIT;
		Shoal__ServerAddr src = SHOAL__SERVER_ADDR__INIT;

		if (num(argv[3], &a) || num(argv[4], &b) || num(argv[6], &len))
			goto out;
		ref.chunk_id = a;
		ref.version = ref.epoch = b;
		src.addr = argv[5];
		rq.ref = &ref;
		rq.source = &src;
		rq.chunk_size = len;
		r = call(loop, c, SL_MSG_CS_COPY_FROM_PEER, &rq.base, NULL, 0, &rep, NULL, NULL);
		if (r == SL_OK && rep)
			printf("bytes_copied=%" PRIu64 "\n", ((Shoal__CsCopyFromPeerRep *)rep)->bytes_copied);
	} else if (!strcmp(cmd, "delete") && argc >= 4) {
		Shoal__CsDeleteReq rq = SHOAL__CS_DELETE_REQ__INIT;

		if (num(argv[3], &a))
			goto out;
		rq.chunk_id = a;
		r = call(loop, c, SL_MSG_CS_DELETE, &rq.base, NULL, 0, &rep, NULL, NULL);
	} else {
		r = usage();
	}
out:
	if (rep)
		sl_msg_free(rep);
	free(rdata);
	sl_conn_close(c);
	sl_loop_free(loop);
	return r;
}
