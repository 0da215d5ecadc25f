/*
 * The volume RPCs (M_VOLUME_CREATE, _RESIZE, _DELETE, _RESET, _INFO,
 * _LIST): each mutation one Raft entry, answered from its apply callback.
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

int h_vol_create(struct master *m, struct m_op *op)
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

int h_vol_resize(struct master *m, struct m_op *op)
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

int h_vol_delete(struct master *m, struct m_op *op)
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
int h_vol_reset(struct master *m, struct m_op *op)
{
	Shoal__VolumeNameReq *rq = (Shoal__VolumeNameReq *)op->req;
	struct wbuf w;
	if (strlen(rq->name) > VOL_NAME_MAX)
		return SL_E_INVAL;
	wbuf_init(&w);
	fsm_enc_vol_reset(&w, rq->dedup ? rq->dedup->client_id : 0, rq->dedup ? rq->dedup->seq : 0, rq->name);
	return m_submit(m, &w, vol_done, op);
}

int h_vol_info(struct master *m, struct m_op *op)
{
	Shoal__VolumeNameReq *rq = (Shoal__VolumeNameReq *)op->req;
	struct volume *v = volume_by_name(&m->fsm->vols, rq->name);
	if (!v)
		return SL_E_NOENT;
	reply_vol(op, v->id, SL_OK);
	return 0;
}

int h_vol_list(struct master *m, struct m_op *op)
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
