/*
 * The chunkserver's link to the master group (doc/protocol.md,
 * "Chunkserver membership").  sl_master_client follows NOT_LEADER redirects
 * and retries across the configured masters; this file keeps the state:
 *
 *   UNREGISTERED --M_REGISTER_CS ok--> REGISTERED, not reported
 *   REGISTERED --M_CHUNK_REPORT ok--> REPORTED: M_HEARTBEAT every heartbeat_ms
 *   any --reply asks to re-register / master lost us--> UNREGISTERED
 *
 * The chunk report is the full inventory: the master drops this server
 * from the set of every written chunk it lacks before acknowledging it.
 * Until then (from the registration that precedes the report to the
 * report's acknowledgement) this server creates no replica and takes no
 * lease (cs->reported is false), so nothing it creates meanwhile can be
 * taken for missing (doc/protocol.md "Replica existence").
 *
 * One timer drives it; at most one master call is in flight.  Heartbeats
 * carry lease renewals for chunks this server is primary of and used
 * recently, replicas lost to a failed disk and the outcome of re-replication
 * orders (HeartbeatRep.replicate), each cleared once acknowledged.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "chunkserver.h"
#include "gw_session.h"
#include "log.h"
#include "msg_types.h"
#include "status.h"

#define MAX_RENEW 4096

static void hb_tick(struct sl_timer *t, void *arg);

/*
 * The disks as DiskStatus messages, for heartbeats and status replies:
 * returns the pointer array and stores the messages' array in *store (the
 * caller frees both), or NULL when out of memory.
 */
Shoal__DiskStatus **cs_disk_status_list(struct chunkserver *cs, Shoal__DiskStatus **store)
{
	Shoal__DiskStatus *ds = calloc(cs->disks.n, sizeof(*ds));
	Shoal__DiskStatus **pds = calloc(cs->disks.n, sizeof(*pds));
	int i;

	if (!ds || !pds) {
		free(ds);
		free(pds);
		*store = NULL;
		return NULL;
	}
	cs_disks_refresh(&cs->disks);
	for (i = 0; i < cs->disks.n; i++) {
		struct cs_disk *d = &cs->disks.d[i];

		shoal__disk_status__init(&ds[i]);
		ds[i].index = d->index;
		ds[i].path = d->path;
		ds[i].capacity = d->capacity;
		ds[i].used = d->used;
		ds[i].failed = d->failed;
		ds[i].chunks = d->nchunks;
		ds[i].uuid = d->uuid;
		pds[i] = &ds[i];
	}
	*store = ds;
	return pds;
}

static void arm(struct chunkserver *cs, uint64_t ms)
{
	sl_timer_arm(cs->loop, &cs->hb_timer, ms);
}

static void defer_delete(struct chunkserver *cs, uint64_t id)
{
	unsigned int i;

	for (i = 0; i < cs->ndeferred_del; i++)
		if (cs->deferred_del[i] == id)
			return;
	if (cs->ndeferred_del < CS_MAX_DEFERRED_DELETES)
		cs->deferred_del[cs->ndeferred_del++] = id;
}

/*
 * A copy order supersedes an earlier deletion of the same chunk: the
 * master keeps a stale replica for a resync, or copies into this server
 * again; a deferred delete retried after the copy joined the set would
 * remove a current replica.
 */
static void undefer_delete(struct chunkserver *cs, uint64_t id)
{
	unsigned int i, keep = 0;

	for (i = 0; i < cs->ndeferred_del; i++)
		if (cs->deferred_del[i] != id)
			cs->deferred_del[keep++] = cs->deferred_del[i];
	cs->ndeferred_del = keep;
}

static void delete_list(struct chunkserver *cs, const uint64_t *ids, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		int r = cs_delete_chunk(cs, ids[i], 0);

		if (r == SL_E_BUSY) {
			sl_debug("chunk %016" PRIx64 ": busy; deleting it later", ids[i]);
			defer_delete(cs, ids[i]);
		} else if (r && r != SL_E_NOENT) {
			sl_warn("chunk %016" PRIx64 ": master asked to delete it: %s", ids[i],
				sl_status_str(r));
		}
	}
}

static void retry_deferred_deletes(struct chunkserver *cs)
{
	unsigned int i, keep = 0;

	for (i = 0; i < cs->ndeferred_del; i++) {
		uint64_t id = cs->deferred_del[i];
		int r = cs_delete_chunk(cs, id, 0);

		if (r == SL_E_BUSY)
			cs->deferred_del[keep++] = id;
		else if (r && r != SL_E_NOENT)
			sl_warn("chunk %016" PRIx64 ": deferred delete: %s", id, sl_status_str(r));
	}
	cs->ndeferred_del = keep;
}

static void report_done(int status, const ProtobufCMessage *reply, void *arg)
{
	struct chunkserver *cs = arg;

	cs->hb_inflight = false;
	if (status != SL_OK) {
		sl_warn("master: chunk report failed: %s", sl_status_str(status));
		cs->registered = false;
		return arm(cs, cs->heartbeat_ms);
	}
	if (reply) {
		const Shoal__ChunkReportRep *rep = (const Shoal__ChunkReportRep *)reply;

		delete_list(cs, rep->delete_chunks, rep->n_delete_chunks);
		if (rep->missing)
			sl_warn("master: %" PRIu64 " replicas it counted on this server are not here "
				"(an emptied or replaced disk?): it dropped them from their sets",
				rep->missing);
	}
	cs->reported = true;
	sl_info("master: reported %" PRIu64 " replicas", cs->disks.nchunks);
	arm(cs, cs->heartbeat_ms);
}

static void send_report(struct chunkserver *cs)
{
	Shoal__ChunkReportReq rq = SHOAL__CHUNK_REPORT_REQ__INIT;
	Shoal__ChunkVersion *cv;
	Shoal__ChunkVersion **pcv;
	size_t n = 0;
	int i, r;

	cv = calloc(cs->disks.nchunks + 1, sizeof(*cv));
	pcv = calloc(cs->disks.nchunks + 1, sizeof(*pcv));
	if (!cv || !pcv)
		goto out;
	for (i = 0; i < cs->disks.n; i++) {
		struct cs_chunk *ch;

		list_for_each_entry(ch, &cs->disks.d[i].chunks, link) {
			if (n > cs->disks.nchunks || ch->version == 0)
				continue;	/* version 0: a copy still in progress */
			shoal__chunk_version__init(&cv[n]);
			cv[n].chunk_id = ch->id;
			cv[n].version = ch->version;
			cv[n].disk = ch->disk_index;
			pcv[n] = &cv[n];
			n++;
		}
	}
	rq.cs_id = cs->disks.cs_id;
	rq.n_chunks = n;
	rq.chunks = pcv;
	cs->hb_inflight = true;
	r = sl_master_call(cs->mc, SL_MSG_M_CHUNK_REPORT, &rq.base, (uint32_t)cs->o.rpc_timeout_ms,
			   report_done, cs);
	if (r) {
		cs->hb_inflight = false;
		arm(cs, cs->heartbeat_ms);
	}
out:
	free(cv);
	free(pcv);
}

static void register_done(int status, const ProtobufCMessage *reply, void *arg)
{
	struct chunkserver *cs = arg;
	const Shoal__RegisterCsRep *rep = (const Shoal__RegisterCsRep *)reply;

	cs->hb_inflight = false;
	if (status == SL_E_INVAL && sl_addr_is_loopback(cs->addr)) {
		sl_err("master: registration refused: %s is a loopback address and the masters are not "
		       "all on loopback; set the chunkserver's listen (or advertise) address to one the "
		       "other hosts reach", cs->addr);
		return arm(cs, cs->heartbeat_ms);
	}
	if (status != SL_OK || !rep || rep->cs_id == 0) {
		sl_warn("master: register failed: %s", sl_status_str(status ? status : SL_E_PROTO));
		return arm(cs, cs->heartbeat_ms);
	}
	if (rep->cs_id != cs->disks.cs_id) {
		if (cs->disks.cs_id)
			sl_warn("master: our id changed from %" PRIu64 " to %" PRIu64,
				cs->disks.cs_id, rep->cs_id);
		if (cs_disks_set_id(&cs->disks, rep->cs_id))
			sl_err("cannot store chunkserver id %" PRIu64 " in every data dir", rep->cs_id);
	}
	cs->term = rep->term;
	if (rep->heartbeat_ms >= 10 && rep->heartbeat_ms <= 60000)
		cs->heartbeat_ms = rep->heartbeat_ms;
	if (rep->lease_ms >= 100 && rep->lease_ms <= 600000)
		cs->lease_ms = rep->lease_ms;
	cs->registered = true;
	cs->reported = false;
	sl_info("master: registered as cs %" PRIu64 " (heartbeat %u ms, lease %u ms)", rep->cs_id,
		cs->heartbeat_ms, cs->lease_ms);
	send_report(cs);
}

static void send_register(struct chunkserver *cs)
{
	Shoal__RegisterCsReq rq = SHOAL__REGISTER_CS_REQ__INIT;
	Shoal__DiskStatus *store;
	int r;

	rq.cs_id = cs->disks.cs_id;
	rq.addr = (char *)cs->addr;
	rq.host = cs->o.host ? cs->o.host : "";
	rq.rack = cs->o.rack ? cs->o.rack : "";
	rq.disks = cs_disk_status_list(cs, &store);
	rq.n_disks = rq.disks ? cs->disks.n : 0;
	rq.uuid = cs->disks.uuid;
	cs->hb_inflight = true;
	r = sl_master_call(cs->mc, SL_MSG_M_REGISTER_CS, &rq.base, (uint32_t)cs->o.rpc_timeout_ms,
			   register_done, cs);
	free(rq.disks);
	free(store);
	if (r) {
		cs->hb_inflight = false;
		arm(cs, cs->heartbeat_ms);
	}
}

struct repl_order {
	struct chunkserver *cs;
	uint64_t chunk_id, version;
};

/* The copy logged itself; queue its outcome for the master's re-replication. */
static void replicate_done(void *arg, int status, uint64_t bytes)
{
	struct repl_order *o = arg;
	struct chunkserver *cs = o->cs;

	if (cs->ncopies < CS_MAX_COPY_RESULTS)
		cs->copies[cs->ncopies++] = (struct cs_copy_result){ o->chunk_id, o->version, bytes,
								     (uint32_t)status };
	free(o);
}

static void replicate(struct chunkserver *cs, const Shoal__CsCopyFromPeerReq *rq)
{
	struct repl_order *o = calloc(1, sizeof(*o));

	if (!o || !rq->ref) {
		free(o);
		return;		/* unreported: the master times the order out */
	}
	o->cs = cs;
	o->chunk_id = rq->ref->chunk_id;
	o->version = rq->ref->version;
	undefer_delete(cs, o->chunk_id);
	cs_copy_from_peer(cs, rq, replicate_done, o);
}

#define MAX_HB_SESSIONS 4096

struct hb_call {
	struct chunkserver *cs;
	uint64_t sent_ms;
	unsigned int nlost, ncopies;
	size_t nsess;
	uint64_t sess[];		/* the sessions asked about */
};

static void heartbeat_done(int status, const ProtobufCMessage *reply, void *arg)
{
	struct hb_call *h = arg;
	struct chunkserver *cs = h->cs;
	const Shoal__HeartbeatRep *rep = (const Shoal__HeartbeatRep *)reply;
	size_t i;

	cs->hb_inflight = false;
	if (status != SL_OK || !rep) {
		sl_warn("master: heartbeat failed: %s", sl_status_str(status ? status : SL_E_PROTO));
		/* the master may have marked us down meanwhile: register again */
		if (status == SL_E_NOENT || status == SL_E_STALE_EPOCH)
			cs->registered = false;
		free(h);
		return arm(cs, cs->heartbeat_ms);
	}
	cs->term = rep->term;
	for (i = 0; i < rep->n_renewed; i++)
		cs_primary_renewed(cs, rep->renewed[i], h->sent_ms);
	if (rep->n_sessions == h->nsess) {
		uint32_t *rem = calloc(h->nsess + 1, sizeof(*rem));

		for (i = 0; rem && i < h->nsess; i++)
			rem[i] = rep->sessions[i] && rep->sessions[i]->session == h->sess[i] ?
				 rep->sessions[i]->remaining_ms : 0;
		if (rem)
			cs_gws_heartbeat_reply(cs, h->sent_ms, h->sess, rem, h->nsess);
		free(rem);
	}
	delete_list(cs, rep->delete_chunks, rep->n_delete_chunks);
	/* lost replicas reported: forget the ones this heartbeat carried */
	if (h->nlost && h->nlost <= cs->disks.nlost) {
		memmove(cs->disks.lost, cs->disks.lost + h->nlost,
			(cs->disks.nlost - h->nlost) * sizeof(*cs->disks.lost));
		cs->disks.nlost -= h->nlost;
	}
	/* copy results reported: forget them too */
	if (h->ncopies && h->ncopies <= cs->ncopies) {
		memmove(cs->copies, cs->copies + h->ncopies,
			(cs->ncopies - h->ncopies) * sizeof(*cs->copies));
		cs->ncopies -= h->ncopies;
	}
	for (i = 0; i < rep->n_replicate && i < CS_MAX_COPY_RESULTS; i++)
		replicate(cs, rep->replicate[i]);
	if (rep->reregister) {
		sl_info("master: asked to register again");
		cs->registered = false;
	}
	free(h);
	arm(cs, cs->heartbeat_ms);
}

static void send_heartbeat(struct chunkserver *cs)
{
	Shoal__HeartbeatReq rq = SHOAL__HEARTBEAT_REQ__INIT;
	Shoal__DiskStatus *store;
	Shoal__ChunkVersion *cv = NULL, **pcv = NULL;
	Shoal__CopyResult *cr = NULL, **pcr = NULL;
	uint64_t *renew = calloc(MAX_RENEW, sizeof(*renew));
	struct hb_call *h = calloc(1, sizeof(*h) + MAX_HB_SESSIONS * sizeof(uint64_t));
	unsigned int i, nlost = cs->disks.nlost, ncopies = cs->ncopies;
	int r;

	if (nlost) {
		cv = calloc(nlost, sizeof(*cv));
		pcv = calloc(nlost, sizeof(*pcv));
	}
	if (ncopies) {
		cr = calloc(ncopies, sizeof(*cr));
		pcr = calloc(ncopies, sizeof(*pcr));
	}
	if (!renew || !h || (nlost && (!cv || !pcv)) || (ncopies && (!cr || !pcr))) {
		free(h);
		goto out;
	}
	for (i = 0; i < ncopies; i++) {
		shoal__copy_result__init(&cr[i]);
		cr[i].chunk_id = cs->copies[i].chunk_id;
		cr[i].version = cs->copies[i].version;
		cr[i].status = cs->copies[i].status;
		cr[i].bytes = cs->copies[i].bytes;
		pcr[i] = &cr[i];
	}
	for (i = 0; i < nlost; i++) {
		shoal__chunk_version__init(&cv[i]);
		cv[i].chunk_id = cs->disks.lost[i].chunk_id;
		cv[i].version = cs->disks.lost[i].version;
		cv[i].disk = cs->disks.lost[i].disk;
		pcv[i] = &cv[i];
	}
	h->cs = cs;
	h->sent_ms = sl_now_ms();
	h->nlost = nlost;
	h->ncopies = ncopies;
	rq.cs_id = cs->disks.cs_id;
	rq.disks = cs_disk_status_list(cs, &store);
	rq.n_disks = rq.disks ? cs->disks.n : 0;
	rq.load = cs->load;
	rq.n_lease_renew = cs_primary_renew_list(cs, renew, MAX_RENEW);
	rq.lease_renew = renew;
	rq.n_lost = nlost;
	rq.lost = pcv;
	rq.n_copies = ncopies;
	rq.copies = pcr;
	h->nsess = cs_gws_heartbeat_list(cs, h->sess, MAX_HB_SESSIONS);
	rq.n_sessions = h->nsess;
	rq.sessions = h->sess;
	cs->hb_inflight = true;
	r = sl_master_call(cs->mc, SL_MSG_M_HEARTBEAT, &rq.base, cs->heartbeat_ms * 2,
			   heartbeat_done, h);
	free(rq.disks);
	free(store);
	if (r) {
		cs->hb_inflight = false;
		free(h);
	}
out:
	free(renew);
	free(cv);
	free(pcv);
	free(cr);
	free(pcr);
	if (!cs->hb_inflight)
		arm(cs, cs->heartbeat_ms);
}

static void hb_tick(struct sl_timer *t, void *arg)
{
	struct chunkserver *cs = arg;

	retry_deferred_deletes(cs);
	if (cs->hb_inflight)
		return arm(cs, cs->heartbeat_ms);
	if (!cs->registered)
		send_register(cs);
	else if (!cs->reported)
		send_report(cs);
	else
		send_heartbeat(cs);
}

int cs_master_start(struct chunkserver *cs)
{
	cs->heartbeat_ms = 1000;
	cs->lease_ms = 5000;
	sl_timer_init(&cs->hb_timer, hb_tick, cs);
	if (cs->o.masters.n == 0) {
		sl_warn("no --masters: serving replica requests only (no leases, no primary role)");
		return 0;
	}
	cs->mc = sl_master_client_new(cs->loop, &cs->o.masters);
	if (!cs->mc)
		return -1;
	arm(cs, 0);
	return 0;
}

void cs_master_stop(struct chunkserver *cs)
{
	sl_timer_cancel(cs->loop, &cs->hb_timer);
	if (cs->mc)
		sl_master_client_free(cs->mc);
	cs->mc = NULL;
}
