/*
 * shoal-admin chunkserver list|drain|remove, cluster status, master status
 * (chunkserver status: cmd_chunkserver_status.c).
 */
#include <getopt.h>
#include <inttypes.h>
#include <string.h>
#include "admin.h"
#include "json_out.h"
#include "msg_types.h"
#include "rpc.h"
#include "status.h"

#define MAINT_MAX_DAYS	7	/* the master's MAINT_MAX_MS */

/* Commands without arguments or options share this check. */
static int no_args(int argc, char **argv, const char *cmd)
{
	static const struct option lo[] = { { NULL, 0, NULL, 0 } };

	optind = 0;
	if (admin_getopt(argc, argv, lo, cmd) != -1)
		return AX_USAGE;
	return admin_nargs(argc, argv, 0, cmd, "no arguments");
}

static void disk_totals(Shoal__DiskStatus **disks, size_t n, uint64_t *cap, uint64_t *used, int *failed)
{
	*cap = *used = 0;
	*failed = 0;
	for (size_t i = 0; i < n; i++) {
		*cap += disks[i]->capacity;
		*used += disks[i]->used;
		*failed += disks[i]->failed;
	}
}

static struct json_object *cs_json(const Shoal__CsInfo *s)
{
	struct json_object *o = jo_obj();

	jo_u64(o, "id", s->cs_id);
	jo_str(o, "addr", s->addr);
	jo_str(o, "host", s->host);
	jo_str(o, "rack", s->rack);
	jo_str(o, "state", s->state);
	jo_u64(o, "last_heartbeat_ms", s->last_heartbeat_ms);
	jo_u64(o, "maintenance_left_ms", s->maintenance_left_ms);
	jo_u64(o, "chunks", s->chunks);
	jo_add(o, "disks", disks_json(s->disks, s->n_disks));
	return o;
}

static int cs_list(struct admin_ctx *ctx, int argc, char **argv)
{
	Shoal__Empty req = SHOAL__EMPTY__INIT;
	ProtobufCMessage *rep = NULL;
	Shoal__CsListRep *l;
	int rc, status;

	rc = no_args(argc, argv, "chunkserver list");
	if (rc)
		return rc;
	if (admin_call(ctx, SL_MSG_M_CS_LIST, &req.base, &rep, &status))
		return status ? admin_status_err(ctx, status, "chunkserver list") : AX_FAILED;
	l = (Shoal__CsListRep *)rep;
	if (ctx->json) {
		struct json_object *a = jo_arr();

		for (size_t i = 0; i < l->n_servers; i++)
			jo_add(a, NULL, cs_json(l->servers[i]));
		jo_print(a);
		goto out;
	}
	printf("%4s %-21s %-12s %-8s %-10s %5s %8s %8s %8s %9s\n", "ID", "ADDRESS", "HOST", "RACK",
	       "STATE", "DISKS", "CAPACITY", "USED", "CHUNKS", "HEARTBEAT");
	for (size_t i = 0; i < l->n_servers; i++) {
		const Shoal__CsInfo *s = l->servers[i];
		char cap[32], used[32], disks[32], hb[32], state[32];
		uint64_t c, u;
		int failed;

		disk_totals(s->disks, s->n_disks, &c, &u, &failed);
		fmt_size(cap, sizeof(cap), c);
		fmt_size(used, sizeof(used), u);
		if (failed)
			snprintf(disks, sizeof(disks), "%zu(%dF)", s->n_disks, failed);
		else
			snprintf(disks, sizeof(disks), "%zu", s->n_disks);
		snprintf(hb, sizeof(hb), "%" PRIu64 "ms", s->last_heartbeat_ms);
		if (s->maintenance_left_ms)
			snprintf(state, sizeof(state), "%s,maint", s->state);
		else
			snprintf(state, sizeof(state), "%s", s->state);
		printf("%4" PRIu64 " %-21s %-12s %-8s %-10s %5s %8s %8s %8" PRIu64 " %9s\n", s->cs_id,
		       s->addr, *s->host ? s->host : "-", *s->rack ? s->rack : "-", state, disks,
		       cap, used, s->chunks, hb);
	}
out:
	sl_msg_free(rep);
	return AX_OK;
}

/*
 * The ID argument of a chunkserver command, then the call: AX_OK, a usage
 * code, or AX_CALL_FAILED with *status (0: no master answered).
 */
#define AX_CALL_FAILED	(-1)
static int cs_id_call(struct admin_ctx *ctx, int argc, char **argv, const char *cmd, uint16_t type,
		      Shoal__CsIdReq *req, int *status)
{
	Shoal__DedupId dedup = SHOAL__DEDUP_ID__INIT;
	int rc = admin_nargs(argc, argv, 1, cmd, "ID");

	if (rc)
		return rc;
	if (admin_parse_uint(argv[optind], "ID", 1, UINT32_MAX, &req->cs_id))
		return AX_USAGE;
	rc = admin_dedup(ctx, &dedup);
	if (rc)
		return rc;
	req->dedup = &dedup;
	rc = admin_call(ctx, type, &req->base, NULL, status) ? AX_CALL_FAILED : AX_OK;
	req->dedup = NULL;
	return rc;
}

/* drain ID, remove ID [--force] */
static int cs_by_id(struct admin_ctx *ctx, int argc, char **argv, uint16_t type, const char *cmd)
{
	static const struct option lo_force[] = {
		{ "force", no_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	static const struct option lo_none[] = { { NULL, 0, NULL, 0 } };
	Shoal__CsIdReq req = SHOAL__CS_ID_REQ__INIT;
	bool remove = type == SL_MSG_M_CS_REMOVE;
	char what[64];
	int c, rc, status = 0;

	optind = 0;
	while ((c = admin_getopt(argc, argv, remove ? lo_force : lo_none, cmd)) != -1) {
		if (c != 'f')
			return AX_USAGE;
		req.force = true;
	}
	rc = cs_id_call(ctx, argc, argv, cmd, type, &req, &status);
	if (rc != AX_OK && rc != AX_CALL_FAILED)
		return rc;
	snprintf(what, sizeof(what), "chunkserver %" PRIu64, req.cs_id);
	if (rc == AX_CALL_FAILED) {
		if (remove && (status == SL_E_NOTEMPTY || status == SL_E_BUSY))
			return admin_err(AX_FAILED, "chunkserver %" PRIu64 " still holds the only current "
					 "copy of some chunks: drain it first, or add --force", req.cs_id);
		return status ? admin_status_err(ctx, status, what) : AX_FAILED;
	}
	if (ctx->json) {
		struct json_object *o = jo_obj();

		jo_u64(o, "id", req.cs_id);
		jo_str(o, "state", remove ? "removed" : "draining");
		jo_print(o);
	} else
		printf("chunkserver %" PRIu64 " %s\n", req.cs_id,
		       remove ? "removed" : "draining: its chunks are being copied elsewhere");
	return AX_OK;
}

/* maintenance ID --for DURATION | --off (master/maintenance.h) */
static int cs_maintenance(struct admin_ctx *ctx, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "for", required_argument, NULL, 'f' },
		{ "off", no_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cmd = "chunkserver maintenance";
	Shoal__CsIdReq req = SHOAL__CS_ID_REQ__INIT;
	const char *dur = NULL;
	bool off = false;
	char what[64];
	int c, rc, status = 0;

	optind = 0;
	while ((c = admin_getopt(argc, argv, lo, cmd)) != -1) {
		if (c == 'f')
			dur = optarg;
		else if (c == 'o')
			off = true;
		else
			return AX_USAGE;
	}
	if (!dur == !off)
		return admin_err(AX_USAGE, "%s: give either --for DURATION or --off", cmd);
	if (dur && admin_parse_duration(dur, "--for", MAINT_MAX_DAYS * 24ull * 3600 * 1000, &req.maintenance_ms))
		return AX_USAGE;
	rc = cs_id_call(ctx, argc, argv, cmd, SL_MSG_M_CS_MAINTENANCE, &req, &status);
	if (rc != AX_OK && rc != AX_CALL_FAILED)
		return rc;
	snprintf(what, sizeof(what), "chunkserver %" PRIu64, req.cs_id);
	if (rc == AX_CALL_FAILED) {
		if (status == SL_E_INVAL)
			return admin_err(AX_FAILED, "chunkserver %" PRIu64 " is draining: it cannot enter maintenance",
					 req.cs_id);
		return status ? admin_status_err(ctx, status, what) : AX_FAILED;
	}
	if (ctx->json) {
		struct json_object *o = jo_obj();

		jo_u64(o, "id", req.cs_id);
		jo_u64(o, "maintenance_ms", req.maintenance_ms);
		jo_print(o);
	} else if (off)
		printf("chunkserver %" PRIu64 ": maintenance ended (a server still down is copied around from now)\n",
		       req.cs_id);
	else
		printf("chunkserver %" PRIu64 ": in maintenance for %s: its chunks are not copied elsewhere "
		       "while it is down\n", req.cs_id, dur);
	return AX_OK;
}

int cmd_chunkserver(struct admin_ctx *ctx, int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : NULL;

	if (!sub)
		return admin_err(AX_USAGE, "'chunkserver' needs a subcommand: list, status, drain, remove, "
				 "maintenance");
	if (!strcmp(sub, "list"))
		return cs_list(ctx, argc - 1, argv + 1);
	if (!strcmp(sub, "status"))
		return cmd_chunkserver_status(ctx, argc - 1, argv + 1);
	if (!strcmp(sub, "drain"))
		return cs_by_id(ctx, argc - 1, argv + 1, SL_MSG_M_CS_DRAIN, "chunkserver drain");
	if (!strcmp(sub, "remove"))
		return cs_by_id(ctx, argc - 1, argv + 1, SL_MSG_M_CS_REMOVE, "chunkserver remove");
	if (!strcmp(sub, "maintenance"))
		return cs_maintenance(ctx, argc - 1, argv + 1);
	return admin_err(AX_USAGE, "unknown subcommand 'chunkserver %s' (list, status, drain, remove, maintenance)",
			 sub);
}

static const char *health(const Shoal__ClusterStatusRep *s)
{
	if (s->servers_up == 0)
		return "DOWN";
	if (s->under_replicated || s->servers_down || s->servers_unheard || s->unavailable)
		return "DEGRADED";
	return "OK";
}

static int cluster_status(struct admin_ctx *ctx, int argc, char **argv)
{
	Shoal__Empty req = SHOAL__EMPTY__INIT;
	ProtobufCMessage *rep = NULL;
	const Shoal__ClusterStatusRep *s;
	char cap[32], used[32], copied[32];
	int rc, status;

	rc = no_args(argc, argv, "cluster status");
	if (rc)
		return rc;
	if (admin_call(ctx, SL_MSG_M_CLUSTER_STATUS, &req.base, &rep, &status))
		return status ? admin_status_err(ctx, status, "cluster status") : AX_FAILED;
	s = (Shoal__ClusterStatusRep *)rep;
	if (ctx->json) {
		struct json_object *o = jo_obj();

		jo_str(o, "health", health(s));
		jo_u64(o, "servers_up", s->servers_up);
		jo_u64(o, "servers_down", s->servers_down);
		jo_u64(o, "servers_unheard", s->servers_unheard);
		jo_u64(o, "volumes", s->volumes);
		jo_u64(o, "chunks", s->chunks);
		jo_u64(o, "under_replicated", s->under_replicated);
		jo_u64(o, "unavailable", s->unavailable);
		jo_u64(o, "capacity", s->capacity);
		jo_u64(o, "used", s->used);
		jo_u64(o, "replications_running", s->replications_running);
		jo_u64(o, "replicated_bytes", s->replicated_bytes);
		jo_u64(o, "servers_maintenance", s->servers_maintenance);
		jo_u64(o, "held", s->held);
		jo_str(o, "leader", s->leader_addr);
		jo_u64(o, "term", s->term);
		jo_print(o);
		goto out;
	}
	fmt_size(cap, sizeof(cap), s->capacity);
	fmt_size(used, sizeof(used), s->used);
	fmt_size(copied, sizeof(copied), s->replicated_bytes);
	printf("health:           %s\n", health(s));
	printf("leader:           %s (term %" PRIu64 ")\n", *s->leader_addr ? s->leader_addr : "-", s->term);
	printf("chunkservers:     %u up, %u down", s->servers_up, s->servers_down);
	if (s->servers_unheard)
		printf(" (%u up not heard from yet by this leader)", s->servers_unheard);
	if (s->servers_maintenance)
		printf(", %u in maintenance", s->servers_maintenance);
	printf("\n");
	printf("volumes:          %" PRIu64 "\n", s->volumes);
	printf("chunks:           %" PRIu64 " (%" PRIu64 " under-replicated", s->chunks, s->under_replicated);
	if (s->unavailable)
		printf(", %" PRIu64 " unavailable: below min_replicas", s->unavailable);
	if (s->held)
		printf(", %" PRIu64 " waiting for a server in maintenance", s->held);
	printf(")\n");
	printf("capacity:         %s used of %s", used, cap);
	if (s->capacity)
		printf(" (%.1f%%)", 100.0 * (double)s->used / (double)s->capacity);
	printf("\n");
	printf("re-replication:   %" PRIu64 " copies running, %s copied\n", s->replications_running, copied);
out:
	sl_msg_free(rep);
	return AX_OK;
}

int cmd_cluster(struct admin_ctx *ctx, int argc, char **argv)
{
	if (argc < 2)
		return admin_err(AX_USAGE, "'cluster' needs a subcommand: status");
	if (!strcmp(argv[1], "status"))
		return cluster_status(ctx, argc - 1, argv + 1);
	return admin_err(AX_USAGE, "unknown subcommand 'cluster %s' (status)", argv[1]);
}

static int master_status(struct admin_ctx *ctx, int argc, char **argv)
{
	Shoal__Empty req = SHOAL__EMPTY__INIT;
	ProtobufCMessage *rep = NULL;
	const Shoal__MasterStatusRep *s;
	int rc, status;

	rc = no_args(argc, argv, "master status");
	if (rc)
		return rc;
	if (admin_call(ctx, SL_MSG_M_MASTER_STATUS, &req.base, &rep, &status))
		return status ? admin_status_err(ctx, status, "master status") : AX_FAILED;
	s = (Shoal__MasterStatusRep *)rep;
	if (ctx->json) {
		struct json_object *o = jo_obj(), *nodes = jo_arr();

		jo_u64(o, "term", s->term);
		jo_u64(o, "commit_index", s->commit_index);
		jo_u64(o, "applied_index", s->applied_index);
		jo_u64(o, "last_snapshot_index", s->last_snapshot_index);
		for (size_t i = 0; i < s->n_nodes; i++) {
			struct json_object *n = jo_obj();

			jo_u64(n, "id", s->nodes[i]->id);
			jo_str(n, "addr", s->nodes[i]->addr);
			jo_str(n, "raft_addr", s->nodes[i]->raft_addr);
			jo_str(n, "role", s->nodes[i]->role);
			jo_add(nodes, NULL, n);
		}
		jo_add(o, "nodes", nodes);
		jo_print(o);
		goto out;
	}
	printf("term %" PRIu64 ", commit index %" PRIu64 ", applied index %" PRIu64
	       ", last snapshot %" PRIu64 "\n\n", s->term, s->commit_index, s->applied_index,
	       s->last_snapshot_index);
	printf("%3s %-21s %-21s %s\n", "ID", "ADDRESS", "RAFT ADDRESS", "ROLE");
	for (size_t i = 0; i < s->n_nodes; i++)
		printf("%3" PRIu64 " %-21s %-21s %s\n", s->nodes[i]->id, s->nodes[i]->addr,
		       s->nodes[i]->raft_addr, s->nodes[i]->role);
out:
	sl_msg_free(rep);
	return AX_OK;
}

int cmd_master(struct admin_ctx *ctx, int argc, char **argv)
{
	if (argc < 2)
		return admin_err(AX_USAGE, "'master' needs a subcommand: status");
	if (!strcmp(argv[1], "status"))
		return master_status(ctx, argc - 1, argv + 1);
	return admin_err(AX_USAGE, "unknown subcommand 'master %s' (status)", argv[1]);
}
