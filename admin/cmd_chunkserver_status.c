/*
 * shoal-admin chunkserver status ID|ADDR: one chunkserver's own counters
 * (CS_STATUS), asked of the chunkserver directly: I/O, scrubbing and the
 * integrity counters that only the chunkserver keeps (checksum errors,
 * repairs, reconciled and torn regions).
 *
 * ID is looked up in the master's chunkserver list (which also gives the
 * state the master holds it in); ADDR ("host:port") needs no master.  Both
 * are bounded by --timeout-ms.  The scrubber's progress is shown as what
 * the chunkserver counts: completed passes, bytes verified in all and the
 * rate, and from them the average size and duration of one pass.
 */
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include "admin.h"
#include "json_out.h"
#include "evloop.h"
#include "msg_types.h"
#include "rpc.h"
#include "status.h"

struct cs_target {
	uint64_t id;			/* 0: asked by address, not known */
	char addr[64];
	char state[16];			/* the master's view; "" when asked by address */
};

/* ID -> address and state, from the master's list. */
static int resolve_id(struct admin_ctx *ctx, uint64_t id, struct cs_target *t)
{
	Shoal__Empty req = SHOAL__EMPTY__INIT;
	ProtobufCMessage *rep = NULL;
	Shoal__CsListRep *l;
	int status, rc = AX_NOTFOUND;
	char what[48];

	snprintf(what, sizeof(what), "chunkserver %" PRIu64, id);
	if (admin_call(ctx, SL_MSG_M_CS_LIST, &req.base, &rep, &status))
		return status ? admin_status_err(ctx, status, what) : AX_FAILED;
	l = (Shoal__CsListRep *)rep;
	for (size_t i = 0; i < l->n_servers; i++) {
		const Shoal__CsInfo *s = l->servers[i];

		if (s->cs_id != id)
			continue;
		if (strlen(s->addr) >= sizeof(t->addr)) {
			rc = admin_err(AX_FAILED, "%s: the master lists an address that is too long", what);
			goto out;
		}
		t->id = id;
		snprintf(t->addr, sizeof(t->addr), "%s", s->addr);
		snprintf(t->state, sizeof(t->state), "%s", s->state);
		rc = AX_OK;
		goto out;
	}
	rc = admin_err(AX_NOTFOUND, "%s does not exist", what);
out:
	sl_msg_free(rep);
	return rc;
}

static void print_json(const struct cs_target *t, const Shoal__CsStatusRep *s, uint64_t used)
{
	struct json_object *o = jo_obj();

	jo_u64(o, "id", s->cs_id);
	jo_str(o, "addr", *s->addr ? s->addr : t->addr);
	if (*t->state)
		jo_str(o, "state", t->state);
	jo_u64(o, "chunks", s->chunks);
	jo_u64(o, "used", used);
	jo_u64(o, "reads", s->reads);
	jo_u64(o, "writes", s->writes);
	jo_u64(o, "bytes_read", s->bytes_read);
	jo_u64(o, "bytes_written", s->bytes_written);
	jo_u64(o, "checksum_errors", s->checksum_errors);
	jo_u64(o, "repaired_blocks", s->repaired_blocks);
	jo_u64(o, "unrepaired_blocks", s->unrepaired_blocks);
	jo_u64(o, "reconciled_regions", s->reconciled_regions);
	jo_u64(o, "torn_regions", s->torn_regions);
	jo_u64(o, "resync_bytes", s->resync_bytes);
	jo_u64(o, "scrub_rate", s->scrub_rate);
	jo_u64(o, "scrub_passes", s->scrub_passes);
	jo_u64(o, "scrubbed_bytes", s->scrubbed_bytes);
	jo_u64(o, "master_term", s->master_term);
	jo_add(o, "disks", disks_json(s->disks, s->n_disks));
	jo_print(o);
}

static void print_text(const struct cs_target *t, const Shoal__CsStatusRep *s, uint64_t cap, uint64_t used,
		       int failed)
{
	char a[32], b[32], c[32];

	printf("chunkserver %" PRIu64 " at %s", s->cs_id, *s->addr ? s->addr : t->addr);
	if (*t->state)
		printf(" (%s)", t->state);
	printf("\n");
	fmt_size(a, sizeof(a), used);
	fmt_size(b, sizeof(b), cap);
	printf("chunks:              %" PRIu64 " on %zu disk(s), %d failed; %s used of %s\n", s->chunks,
	       s->n_disks, failed, a, b);
	for (size_t d = 0; d < s->n_disks; d++) {
		const Shoal__DiskStatus *k = s->disks[d];

		fmt_size(a, sizeof(a), k->used);
		fmt_size(b, sizeof(b), k->capacity);
		printf("disk %-2u             %s  disk %s  %" PRIu64 " chunks, %s used of %s%s\n", k->index,
		       k->path, *k->uuid ? k->uuid : "-", k->chunks, a, b, k->failed ? "  FAILED" : "");
	}
	fmt_size(a, sizeof(a), s->bytes_read);
	fmt_size(b, sizeof(b), s->bytes_written);
	printf("I/O:                 %" PRIu64 " reads (%s), %" PRIu64 " writes (%s)\n", s->reads, a, s->writes, b);
	fmt_size(a, sizeof(a), s->scrubbed_bytes);
	if (!s->scrub_rate) {
		printf("scrub:               off; %" PRIu64 " passes, %s verified\n", s->scrub_passes, a);
	} else {
		fmt_size(b, sizeof(b), s->scrub_rate);
		printf("scrub:               %s/s; %" PRIu64 " passes complete, %s verified in all", b,
		       s->scrub_passes, a);
		if (s->scrub_passes) {
			/* the current, partial pass is in scrubbed_bytes too: an upper bound */
			uint64_t per = s->scrubbed_bytes / s->scrub_passes;

			fmt_size(c, sizeof(c), per);
			printf(" (~%s a pass, ~%" PRIu64 " s each)", c, (per + s->scrub_rate - 1) / s->scrub_rate);
		}
		printf("\n");
	}
	printf("checksum errors:     %" PRIu64 " (%" PRIu64 " blocks repaired, %" PRIu64 " unrepaired)\n",
	       s->checksum_errors, s->repaired_blocks, s->unrepaired_blocks);
	printf("reconciled regions:  %" PRIu64 " (made equal on secondaries before a new lease)\n",
	       s->reconciled_regions);
	printf("torn regions:        %" PRIu64 " (in flight at an unclean stop, recovered)\n", s->torn_regions);
	fmt_size(a, sizeof(a), s->resync_bytes);
	printf("resync:              %s copied in\n", a);
	printf("master term:         %" PRIu64 "\n", s->master_term);
}

static int ask(struct admin_ctx *ctx, const struct cs_target *t)
{
	struct sl_conn_opts opts = { .connect_timeout_ms = ctx->timeout_ms < 2000 ? (uint32_t)ctx->timeout_ms : 2000 };
	Shoal__Empty req = SHOAL__EMPTY__INIT;
	ProtobufCMessage *rep = NULL;
	const Shoal__CsStatusRep *s;
	struct sl_loop *loop;
	struct sl_conn *c;
	uint64_t cap = 0, used = 0;
	int failed = 0, st = 0, r, rc;

	loop = sl_loop_new();
	if (!loop)
		return admin_err(AX_FAILED, "cannot create the event loop");
	c = sl_conn_connect(loop, t->addr, &opts);
	if (!c) {
		sl_loop_free(loop);
		return admin_err(AX_USAGE, "bad chunkserver address '%s' (host:port)", t->addr);
	}
	r = sl_rpc_call_sync(loop, c, SL_MSG_CS_STATUS, &req.base, NULL, 0, (uint32_t)ctx->timeout_ms, &rep,
			     NULL, NULL, &st);
	if (r != SL_OK) {
		rc = admin_err(AX_UNREACHABLE, "chunkserver at %s did not answer within %" PRId64 " ms (%s)",
			       t->addr, ctx->timeout_ms, sl_status_str(r));
		goto out;
	}
	if (st != SL_OK || !rep) {
		rc = admin_err(AX_FAILED, "chunkserver at %s: status %s", t->addr, sl_status_str(st));
		goto out;
	}
	s = (const Shoal__CsStatusRep *)rep;
	if (t->id && s->cs_id != t->id) {
		rc = admin_err(AX_FAILED, "%s answers as chunkserver %" PRIu64 ", not %" PRIu64, t->addr,
			       s->cs_id, t->id);
		goto out;
	}
	for (size_t d = 0; d < s->n_disks; d++) {
		cap += s->disks[d]->capacity;
		used += s->disks[d]->used;
		failed += s->disks[d]->failed;
	}
	if (ctx->json)
		print_json(t, s, used);
	else
		print_text(t, s, cap, used, failed);
	rc = AX_OK;
out:
	sl_msg_free(rep);
	sl_conn_close(c);
	sl_loop_free(loop);
	return rc;
}

int cmd_chunkserver_status(struct admin_ctx *ctx, int argc, char **argv)
{
	static const struct option lo[] = { { NULL, 0, NULL, 0 } };
	struct cs_target t = { 0 };
	const char *arg;
	int rc;

	optind = 0;
	if (admin_getopt(argc, argv, lo, "chunkserver status") != -1)
		return AX_USAGE;
	rc = admin_nargs(argc, argv, 1, "chunkserver status", "ID or ADDR");
	if (rc)
		return rc;
	arg = argv[optind];
	if (strchr(arg, ':')) {
		struct sockaddr_in sa;

		if (strlen(arg) >= sizeof(t.addr) || sl_parse_addr(arg, &sa, false))
			return admin_err(AX_USAGE, "bad chunkserver address '%s' (host:port)", arg);
		snprintf(t.addr, sizeof(t.addr), "%s", arg);
	} else {
		uint64_t id;

		if (admin_parse_uint(arg, "ID", 1, UINT32_MAX, &id))
			return AX_USAGE;
		rc = resolve_id(ctx, id, &t);
		if (rc)
			return rc;
	}
	return ask(ctx, &t);
}
