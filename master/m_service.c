/*
 * The master's dispatcher: every M_* message (lib/msg_types.h) to its
 * handler -- the chunkservers' own (register, chunk report, heartbeat) in
 * m_cs.c, lookups, leases and replica failures in m_chunk.c, gateway
 * sessions in m_session.c, volumes, chunkserver admin and status here --
 * and the leader's tick.  Handlers share m_op.c and never call back here.
 *
 * Only the ready leader (raft_glue.h) answers; a follower answers
 * SL_E_NOT_LEADER with MasterRedirect{leader's service address or ""}, a
 * leader whose post-election barrier is still pending answers SL_E_BUSY.
 * M_MASTER_STATUS is the exception: every master answers it with its own
 * view (so operators and tests can watch followers catch up).
 *
 * Every mutation is one Raft entry; its reply is sent from the apply
 * callback, after the FSM applied it on this leader.  A callback with
 * SL_E_NOT_LEADER (leadership lost: outcome unknown) is passed on as
 * NOT_LEADER + redirect; the client retries with the same dedup id.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/random.h>
#include "log.h"
#include "msg_types.h"
#include "status.h"
#include "maintenance.h"
#include "placement.h"
#include "master.h"
#include "m_service.h"

static void fill_vol(const struct volume *v, Shoal__VolumeInfo *vi)
{
	vi->id = v->id;
	vi->name = (char *)v->name;
	vi->uuid.data = (uint8_t *)v->uuid;
	vi->uuid.len = 16;
	vi->size = v->size;
	vi->chunk_shift = v->chunk_shift;
	vi->replicas = v->replicas;
	vi->min_replicas = v->min_replicas;
	vi->flags = v->flags;
	vi->allocated_chunks = v->allocated;
	vi->ctime = v->ctime;
	vi->reset_gen = v->reset_gen;
}

static void reply_vol(struct m_op *op, uint32_t vol_id, int status)
{
	Shoal__VolumeRep rep = SHOAL__VOLUME_REP__INIT;
	Shoal__VolumeInfo vi = SHOAL__VOLUME_INFO__INIT;
	struct volume *v = volume_by_id(&op->m->fsm->vols, vol_id);
	if (status == SL_OK && v) {
		fill_vol(v, &vi);
		rep.volume = &vi;
	}
	m_op_end(op, status, &rep.base);
}

/* ---- volumes ---- */

static void vol_done(void *arg, int status, uint64_t res)
{
	struct m_op *op = arg;
	if (status == SL_OK)
		status = FSM_RES_STATUS(res);
	if (op->type == SL_MSG_M_VOLUME_DELETE)
		m_op_end(op, status, NULL);
	else
		reply_vol(op, FSM_RES_VALUE(res), status);
}

static int h_vol_create(struct master *m, struct m_op *op)
{
	Shoal__VolumeCreateReq *rq = (Shoal__VolumeCreateReq *)op->req;
	uint32_t shift = rq->chunk_shift, reps = rq->replicas, minr = rq->min_replicas;
	uint8_t uuid[16];
	struct wbuf w;

	if (volume_check_params(rq->name, rq->size, &shift, &reps, &minr) != SL_OK)
		return SL_E_INVAL;
	if (getrandom(uuid, sizeof(uuid), 0) != sizeof(uuid))
		return SL_E_INTERNAL;
	uuid[6] = (uuid[6] & 0x0f) | 0x40;	/* RFC 4122 version 4 */
	uuid[8] = (uuid[8] & 0x3f) | 0x80;
	wbuf_init(&w);
	fsm_enc_vol_create(&w, rq->dedup ? rq->dedup->client_id : 0, rq->dedup ? rq->dedup->seq : 0,
			   rq->name, uuid, rq->size, shift, reps, minr, rq->flags, (uint64_t)time(NULL));
	return m_submit(m, &w, vol_done, op);
}

static int h_vol_resize(struct master *m, struct m_op *op)
{
	Shoal__VolumeResizeReq *rq = (Shoal__VolumeResizeReq *)op->req;
	struct wbuf w;
	if (strlen(rq->name) > VOL_NAME_MAX)
		return SL_E_INVAL;
	wbuf_init(&w);
	fsm_enc_vol_resize(&w, rq->dedup ? rq->dedup->client_id : 0, rq->dedup ? rq->dedup->seq : 0,
			   rq->name, rq->size, rq->force);
	return m_submit(m, &w, vol_done, op);
}

static int h_vol_delete(struct master *m, struct m_op *op)
{
	Shoal__VolumeNameReq *rq = (Shoal__VolumeNameReq *)op->req;
	struct wbuf w;
	if (strlen(rq->name) > VOL_NAME_MAX)
		return SL_E_INVAL;
	wbuf_init(&w);
	fsm_enc_vol_delete(&w, rq->dedup ? rq->dedup->client_id : 0, rq->dedup ? rq->dedup->seq : 0, rq->name);
	return m_submit(m, &w, vol_done, op);
}

/* A gateway saw LUN RESET: record it, so every gateway exporting the volume raises a UA. */
static int h_vol_reset(struct master *m, struct m_op *op)
{
	Shoal__VolumeNameReq *rq = (Shoal__VolumeNameReq *)op->req;
	struct wbuf w;
	if (strlen(rq->name) > VOL_NAME_MAX)
		return SL_E_INVAL;
	wbuf_init(&w);
	fsm_enc_vol_reset(&w, rq->dedup ? rq->dedup->client_id : 0, rq->dedup ? rq->dedup->seq : 0, rq->name);
	return m_submit(m, &w, vol_done, op);
}

static int h_vol_info(struct master *m, struct m_op *op)
{
	Shoal__VolumeNameReq *rq = (Shoal__VolumeNameReq *)op->req;
	struct volume *v = volume_by_name(&m->fsm->vols, rq->name);
	if (!v)
		return SL_E_NOENT;
	reply_vol(op, v->id, SL_OK);
	return 0;
}

static int h_vol_list(struct master *m, struct m_op *op)
{
	Shoal__VolumeListRep rep = SHOAL__VOLUME_LIST_REP__INIT;
	uint32_t n = m->fsm->vols.count, i = 0;
	Shoal__VolumeInfo *vi = calloc(n + 1, sizeof(*vi));
	Shoal__VolumeInfo **vp = calloc(n + 1, sizeof(*vp));
	struct volume *v;
	if (!vi || !vp) {
		free(vi);
		free(vp);
		return SL_E_INTERNAL;
	}
	list_for_each_entry(v, &m->fsm->vols.list, node) {
		shoal__volume_info__init(&vi[i]);
		fill_vol(v, &vi[i]);
		vp[i] = &vi[i];
		i++;
	}
	rep.volumes = vp;
	rep.n_volumes = i;
	m_op_end(op, SL_OK, &rep.base);
	free(vi);
	free(vp);
	return 0;
}

/* ---- chunkserver admin ---- */

static void cs_state_done(void *arg, int status, uint64_t res)
{
	struct m_op *op = arg;
	if (status == SL_OK)
		status = FSM_RES_STATUS(res);
	m_op_end(op, status, NULL);
}

static int h_cs_state(struct master *m, struct m_op *op, uint8_t admin)
{
	Shoal__CsIdReq *rq = (Shoal__CsIdReq *)op->req;
	struct wbuf w;
	struct cs *cs = rq->cs_id && rq->cs_id <= UINT32_MAX ? cs_by_id(&m->fsm->css, rq->cs_id) : NULL;
	if (!cs || (cs->admin == CS_REMOVED && admin != CS_REMOVED))
		return SL_E_NOENT;	/* a removed server is gone for good (apply_cs_state) */
	wbuf_init(&w);
	fsm_enc_cs_state(&w, rq->dedup ? rq->dedup->client_id : 0, rq->dedup ? rq->dedup->seq : 0,
			 rq->cs_id, admin, rq->force);
	return m_submit(m, &w, cs_state_done, op);
}

/* maintenance.h: the end is fixed here, on the leader's wall clock, so every member applies the same. */
static int h_cs_maintenance(struct master *m, struct m_op *op)
{
	Shoal__CsIdReq *rq = (Shoal__CsIdReq *)op->req;
	struct wbuf w;
	struct cs *cs = rq->cs_id && rq->cs_id <= UINT32_MAX ? cs_by_id(&m->fsm->css, rq->cs_id) : NULL;

	if (!cs || cs->admin == CS_REMOVED)
		return SL_E_NOENT;
	if (rq->maintenance_ms > MAINT_MAX_MS || (rq->maintenance_ms && cs->admin != CS_ACTIVE))
		return SL_E_INVAL;
	wbuf_init(&w);
	fsm_enc_cs_maintenance(&w, rq->dedup ? rq->dedup->client_id : 0, rq->dedup ? rq->dedup->seq : 0,
			       rq->cs_id, rq->maintenance_ms ? maint_wall_ms() + rq->maintenance_ms : 0);
	return m_submit(m, &w, cs_state_done, op);
}

static int h_cs_list(struct master *m, struct m_op *op)
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

static int h_cluster_status(struct master *m, struct m_op *op)
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

static int h_master_status(struct master *m, struct m_op *op)
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

static int h_dump(struct master *m, struct m_op *op)
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

/* ---- dispatch ---- */

void m_service_request(struct sl_conn *c, const struct sl_msg *req, void *arg)
{
	struct master *m = arg;
	uint16_t type = req->hdr.type;
	int rv;

	if (!sl_msg_type_lookup(type) || type < SL_MSG_M_REGISTER_CS || m->closing) {
		m_reply(c, req->hdr.req_id, type, m->closing ? SL_E_UNAVAIL : SL_E_PROTO, NULL);
		return;
	}
	if (type != SL_MSG_M_MASTER_STATUS && !rg_ready(m->rg)) {
		struct rg_status st;
		rg_get_status(m->rg, &st);
		if (!strcmp(st.role, "leader-pending"))
			m_reply(c, req->hdr.req_id, type, SL_E_BUSY, NULL);
		else
			m_reply_redirect(m, c, req->hdr.req_id, type);
		return;
	}
	/*
	 * Leases and session statements only from a leader whose majority
	 * confirmed it lately (raft_glue.h, leader lease): a deposed leader
	 * that has not noticed yet answers BUSY, and the client asks again.
	 */
	if ((type == SL_MSG_M_LOOKUP || type == SL_MSG_M_LEASE || type == SL_MSG_M_REPLICA_FAILED ||
	     type == SL_MSG_M_GW_SESSION) && !rg_leased(m->rg)) {
		m_reply(c, req->hdr.req_id, type, SL_E_BUSY, NULL);
		return;
	}
	ProtobufCMessage *pm = sl_msg_unpack(req, false);
	if (!pm) {
		sl_warn("%s: %s request did not decode", sl_conn_peer(c), sl_msg_type_lookup(type)->name);
		m_reply(c, req->hdr.req_id, type, SL_E_PROTO, NULL);
		return;
	}
	struct m_op *op = m_op_new(m, c, req, pm);
	if (!op) {
		sl_msg_free(pm);
		m_reply(c, req->hdr.req_id, type, SL_E_INTERNAL, NULL);
		return;
	}
	switch (type) {
	case SL_MSG_M_REGISTER_CS: rv = h_register(m, op); break;
	case SL_MSG_M_CHUNK_REPORT: rv = h_chunk_report(m, op); break;
	case SL_MSG_M_HEARTBEAT: rv = h_heartbeat(m, op); break;
	case SL_MSG_M_VOLUME_CREATE: rv = h_vol_create(m, op); break;
	case SL_MSG_M_VOLUME_LIST: rv = h_vol_list(m, op); break;
	case SL_MSG_M_VOLUME_INFO: rv = h_vol_info(m, op); break;
	case SL_MSG_M_VOLUME_RESIZE: rv = h_vol_resize(m, op); break;
	case SL_MSG_M_VOLUME_DELETE: rv = h_vol_delete(m, op); break;
	case SL_MSG_M_LOOKUP: rv = h_lookup(m, op); break;
	case SL_MSG_M_LEASE: rv = h_lease(m, op); break;
	case SL_MSG_M_REPLICA_FAILED: rv = h_replica_failed(m, op); break;
	case SL_MSG_M_CS_LIST: rv = h_cs_list(m, op); break;
	case SL_MSG_M_CS_DRAIN: rv = h_cs_state(m, op, CS_DRAINING); break;
	case SL_MSG_M_CS_REMOVE: rv = h_cs_state(m, op, CS_REMOVED); break;
	case SL_MSG_M_CS_MAINTENANCE: rv = h_cs_maintenance(m, op); break;
	case SL_MSG_M_CLUSTER_STATUS: rv = h_cluster_status(m, op); break;
	case SL_MSG_M_MASTER_STATUS: rv = h_master_status(m, op); break;
	case SL_MSG_M_DUMP: rv = h_dump(m, op); break;
	case SL_MSG_M_VOLUME_RESET: rv = h_vol_reset(m, op); break;
	case SL_MSG_M_GW_SESSION: rv = h_gw_session(m, op); break;
	default: rv = SL_E_PROTO; break;
	}
	/* A handler returns non-zero only when it did not answer and nothing is in flight. */
	if (rv)
		m_op_end(op, rv, NULL);
}

/* ---- leadership and liveness ---- */

void m_service_on_ready(void *arg)
{
	struct master *m = arg;
	struct chunk *c;
	uint32_t idx;

	m_clock_now(m);
	/*
	 * We cannot know the old leader's lease expiries: it granted nothing
	 * after its leader lease ran out, which was before we were elected
	 * (raft_glue.h), so wait one lease period plus that window.
	 */
	m->ready_ms = m->lc.now;
	lease_clock_ready(&m->lc, m->lc.now, rg_lease_window_ms(m->rg));
	cs_registry_reset_soft(&m->fsm->css, m->lc.now);
	repl_reset(m);
	{
		struct rg_status st;

		rg_get_status(m->rg, &st);
		m_session_on_ready(m, st.term);
	}
	chunk_map_for_each(&m->fsm->chunks, c, idx) {
		c->lease_expiry = 0;
		c->live = 0;
		c->flags = 0;
	}
	sl_info("serving as leader at %s (%u volumes, %u chunks, %u chunkservers); new leases wait %u ms",
		m->self_addr, m->fsm->vols.count, m->fsm->chunks.count, m->fsm->css.count,
		m->lc.lease_ms + rg_lease_window_ms(m->rg));
	sl_timer_arm(m->loop, &m->tick, m->heartbeat_ms);
}

void m_service_on_lost(void *arg)
{
	struct master *m = arg;
	sl_timer_cancel(m->loop, &m->tick);
	repl_reset(m);
	m_session_on_lost(m);
}

void m_service_tick(struct sl_timer *t, void *arg)
{
	struct master *m = arg;
	if (!rg_ready(m->rg))
		return;
	cs_registry_check(&m->fsm->css, sl_now_ms(), m->cs_timeout_ms);
	repl_tick(m);
	m_session_tick(m);
	sl_timer_arm(m->loop, t, m->heartbeat_ms);
}
