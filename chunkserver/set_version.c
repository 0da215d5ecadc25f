/*
 * CS_SET_VERSION on a local replica, under the whole chunk's range lock,
 * by the acceptance rule (chunk_store.h cs_set_version_verdict), used
 * by the request handler (cs_service.c) and by a primary's own replica in
 * its set-version round (primary.c).  Calls only the storage engine.
 */
#include "chunkserver.h"
#include "status.h"

static void setver_done(struct cs_vop *op, int status)
{
	struct cs_setver *sv = op->arg;

	cs_range_unlock(&sv->ch->lock, &sv->rl);
	sv->done(sv, status);
}

static void setver_locked(struct cs_range *r, void *arg)
{
	struct cs_setver *sv = arg;
	struct cs_chunk *ch = sv->ch;

	switch (cs_set_version_verdict(ch, sv->version, sv->epoch)) {
	case CS_SV_STALE:
		sv->cs->st.stale_refused++;
		cs_range_unlock(&ch->lock, &sv->rl);
		return sv->done(sv, SL_E_STALE_VERSION);
	case CS_SV_SAME:
		cs_range_unlock(&ch->lock, &sv->rl);
		return sv->done(sv, SL_OK);
	case CS_SV_ADVANCE:
		break;
	}
	sv->vop = (struct cs_vop){ .ch = ch, .version = sv->version, .epoch = sv->epoch,
				   .done = setver_done, .arg = sv };
	cs_chunk_set_version(&sv->vop);
}

void cs_set_version_drained(struct cs_setver *sv)
{
	/* the whole chunk: a write of the old version in progress finishes first, none starts after */
	cs_range_lock(&sv->ch->lock, &sv->rl, 0, sv->ch->chunk_size, setver_locked, sv);
}
