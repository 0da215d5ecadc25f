/*
 * What the master reports: M_CS_LIST, M_CLUSTER_STATUS, M_MASTER_STATUS
 * (every master answers it with its own view) and M_DUMP (tests).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "log.h"
#include "msg_types.h"
#include "status.h"
#include "maintenance.h"
#include "master.h"
#include "m_service.h"

int h_cs_list(struct master *m, struct m_op *op)
{
	Shoal__CsListRep rep = SHOAL__CS_LIST_REP__INIT;
	uint32_t n = m->fsm->css.count, i = 0, idx, nd = 0, d = 0;
	struct cs *cs;
	struct chunk *c;
	uint64_t now = sl_now_ms(), wall = maint_wall_ms();
	list_for_each_entry(cs, &m->fsm->css.list, node)
		nd += cs->ndisks;
	Shoal__CsInfo *ci = calloc(n + 1, sizeof(*ci));
	Shoal__CsInfo **cp = calloc(n + 1, sizeof(*cp));
	Shoal__DiskStatus *ds = calloc(nd + 1, sizeof(*ds));
	Shoal__DiskStatus **dp = calloc(nd + 1, sizeof(*dp));
	if (!ci || !cp || !ds || !dp) {
		free(ci);
		free(cp);
		free(ds);
		free(dp);
		return SL_E_INTERNAL;
	}
	list_for_each_entry(cs, &m->fsm->css.list, node) {
		shoal__cs_info__init(&ci[i]);
		ci[i].cs_id = cs->id;
		ci[i].addr = cs->addr;
		ci[i].host = cs->host;
		ci[i].rack = cs->rack;
		ci[i].state = (char *)cs_state_name(cs);
		ci[i].last_heartbeat_ms = now - cs->last_hb_ms;
		ci[i].maintenance_left_ms = maint_active(cs, wall) ? cs->maint_until - wall : 0;
		ci[i].disks = &dp[d];
		ci[i].n_disks = cs->ndisks;
		for (uint32_t k = 0; k < cs->ndisks && d < nd; k++, d++) {
			shoal__disk_status__init(&ds[d]);
			ds[d].index = cs->disks[k].index;
			ds[d].path = cs->disks[k].path;
			ds[d].capacity = cs->disks[k].capacity;
			ds[d].used = cs->disks[k].used;
			ds[d].failed = cs->disks[k].failed;
			ds[d].chunks = cs->disks[k].chunks;
			const struct cs_disk_id *di = cs_disk_id(cs, cs->disks[k].index);
			ds[d].uuid = di ? (char *)di->uuid : "";
			dp[d] = &ds[d];
		}
		cp[i] = &ci[i];
		i++;
	}
	chunk_map_for_each(&m->fsm->chunks, c, idx)
		for (int k = 0; k < c->nrep; k++)
			for (uint32_t j = 0; j < i; j++)
				if (ci[j].cs_id == c->rep[k])
					ci[j].chunks++;
	rep.servers = cp;
	rep.n_servers = i;
	m_op_end(op, SL_OK, &rep.base);
	free(ci);
	free(cp);
	free(ds);
	free(dp);
	return 0;
}

/*
 * A member whose replica is proven: good (up, active) and its server's
 * current inventory applied by this leader (cs->heard).  A new leader
 * assumes every server up, but until one is heard from its memberships
 * prove nothing: it may have come back empty meanwhile.
 */
static int proven_count(struct master *m, const struct chunk *c)
{
	int n = 0;
	for (int i = 0; i < c->nrep; i++) {
		struct cs *cs = cs_by_id(&m->fsm->css, c->rep[i]);
		n += cs && cs->heard && repl_member_good(m, c->rep[i]);
	}
	return n;
}

int h_cluster_status(struct master *m, struct m_op *op)
{
	Shoal__ClusterStatusRep rep = SHOAL__CLUSTER_STATUS_REP__INIT;
	struct rg_status st;
	struct cs *cs;
	struct chunk *c;
	uint32_t idx;
	uint64_t wall = maint_wall_ms();

	rg_get_status(m->rg, &st);
	list_for_each_entry(cs, &m->fsm->css.list, node) {
		if (cs->admin == CS_REMOVED)
			continue;
		rep.servers_maintenance += maint_active(cs, wall);
		if (cs->up) {
			rep.servers_up++;
			rep.servers_unheard += !cs->heard;
			rep.capacity += cs->capacity;
			rep.used += cs->used;
		} else {
			rep.servers_down++;
		}
	}
	rep.volumes = m->fsm->vols.count;
	rep.chunks = m->fsm->chunks.count;
	/* Under-replicated: fewer proven members than the volume's count. */
	chunk_map_for_each(&m->fsm->chunks, c, idx) {
		struct volume *v = volume_by_id(&m->fsm->vols, c->vol);
		rep.under_replicated += v && proven_count(m, c) < (int)v->replicas;
		rep.unavailable += chunk_below_min(m, c);
	}
	rep.replications_running = m->repl->njobs;
	rep.held = m->repl->held;
	rep.replicated_bytes = m->repl->replicated_bytes;
	rep.leader_addr = (char *)m->self_addr;
	rep.term = st.term;
	m_op_end(op, SL_OK, &rep.base);
	return 0;
}

int h_master_status(struct master *m, struct m_op *op)
{
	Shoal__MasterStatusRep rep = SHOAL__MASTER_STATUS_REP__INIT;
	Shoal__MasterNode nodes[RG_MAX_NODES], *np[RG_MAX_NODES];
	char raddr[RG_MAX_NODES][MASTER_ADDR_MAX + 8];
	struct rg_status st;

	rg_get_status(m->rg, &st);
	for (int i = 0; i < m->nmasters; i++) {
		const char *colon = strrchr(m->svc_addr[i], ':');
		int port = colon ? atoi(colon + 1) : 0;
		snprintf(raddr[i], sizeof(raddr[i]), "%.*s:%d", colon ? (int)(colon - m->svc_addr[i]) : 0,
			 m->svc_addr[i], port + 1);
		shoal__master_node__init(&nodes[i]);
		nodes[i].id = i + 1;
		nodes[i].addr = m->svc_addr[i];
		nodes[i].raft_addr = raddr[i];
		if (i + 1 == m->id)
			nodes[i].role = (char *)st.role;
		else
			nodes[i].role = st.leader_id == (uint32_t)(i + 1) ? "leader" : "follower";
		np[i] = &nodes[i];
	}
	rep.nodes = np;
	rep.n_nodes = m->nmasters;
	rep.term = st.term;
	rep.commit_index = st.commit_index;
	rep.applied_index = st.applied_index;
	rep.last_snapshot_index = st.last_snapshot_index;
	m_op_end(op, SL_OK, &rep.base);
	return 0;
}

int h_dump(struct master *m, struct m_op *op)
{
	Shoal__DumpRep rep = SHOAL__DUMP_REP__INIT;
	size_t len;
	char *text = fsm_dump(m->fsm, &len);
	if (!text)
		return SL_E_INTERNAL;
	if (len >= SL_FRAME_MAX_MSG - 64) {
		free(text);
		return SL_E_RANGE;	/* too big for one frame: use smaller test sets */
	}
	rep.text = text;
	m_op_end(op, SL_OK, &rep.base);
	free(text);
	return 0;
}
