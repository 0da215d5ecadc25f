/*
 * FSM apply (snapshot, restore and dump are in fsm_snapshot.c).  See
 * fsm.h for the rules.
 *
 * Entry layout (little-endian, codec.h): u8 command, u64 client_id,
 * u64 seq, then the command's fields.  Trailing bytes (raft_glue pads
 * entries to 8 bytes) are ignored.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "status.h"
#include "log.h"
#include "fsm.h"
#include "fsm_int.h"

void *fsm_xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n, sz);
	if (!p) {
		/* The FSM cannot refuse a committed entry without diverging. */
		sl_err("fsm: out of memory");
		abort();
	}
	return p;
}

struct fsm *fsm_new(void)
{
	struct fsm *f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	volume_table_init(&f->vols);
	chunk_map_init(&f->chunks);
	cs_registry_init(&f->css);
	f->next_vol_id = 1;
	f->next_chunk_id = 1;
	f->next_cs_id = 1;
	return f;
}

void fsm_clear(struct fsm *f)
{
	volume_table_free(&f->vols);
	chunk_map_free(&f->chunks);
	cs_registry_free(&f->css);
	memset(f->dedup, 0, sizeof(f->dedup));
	f->dedup_next = 0;
	f->next_vol_id = 1;
	f->next_chunk_id = 1;
	f->next_cs_id = 1;
}

void fsm_free(struct fsm *f)
{
	if (!f)
		return;
	fsm_clear(f);
	free(f);
}

/* ---- dedup ---- */

static bool dedup_find(const struct fsm *f, uint64_t client, uint64_t seq, uint64_t *res)
{
	if (!client)
		return false;
	for (uint32_t i = 0; i < FSM_DEDUP_MAX; i++)
		if (f->dedup[i].client == client && f->dedup[i].seq == seq) {
			*res = f->dedup[i].result;
			return true;
		}
	return false;
}

static void dedup_put(struct fsm *f, uint64_t client, uint64_t seq, uint64_t res)
{
	if (!client)
		return;
	f->dedup[f->dedup_next] = (struct fsm_dedup){ client, seq, res };
	f->dedup_next = (f->dedup_next + 1) % FSM_DEDUP_MAX;
}

/* ---- encoders ---- */

static void enc_hdr(struct wbuf *w, uint8_t cmd, uint64_t client, uint64_t seq)
{
	put_u8(w, cmd);
	put_u64(w, client);
	put_u64(w, seq);
}

void fsm_enc_vol_create(struct wbuf *w, uint64_t client, uint64_t seq, const char *name,
			const uint8_t uuid[16], uint64_t size, uint32_t chunk_shift, uint32_t replicas,
			uint32_t min_replicas, uint32_t flags, uint64_t ctime)
{
	enc_hdr(w, FSM_VOL_CREATE, client, seq);
	put_str(w, name);
	put_bytes(w, uuid, 16);
	put_u64(w, size);
	put_u32(w, chunk_shift);
	put_u32(w, replicas);
	put_u32(w, min_replicas);
	put_u32(w, flags);
	put_u64(w, ctime);
}

void fsm_enc_vol_resize(struct wbuf *w, uint64_t client, uint64_t seq, const char *name,
			uint64_t size, bool force)
{
	enc_hdr(w, FSM_VOL_RESIZE, client, seq);
	put_str(w, name);
	put_u64(w, size);
	put_u8(w, force);
}

void fsm_enc_vol_delete(struct wbuf *w, uint64_t client, uint64_t seq, const char *name)
{
	enc_hdr(w, FSM_VOL_DELETE, client, seq);
	put_str(w, name);
}

void fsm_enc_vol_reset(struct wbuf *w, uint64_t client, uint64_t seq, const char *name)
{
	enc_hdr(w, FSM_VOL_RESET, client, seq);
	put_str(w, name);
}

void fsm_enc_chunk_alloc(struct wbuf *w, uint64_t client, uint64_t seq, uint32_t vol,
			 const struct fsm_alloc *a, uint32_t n)
{
	enc_hdr(w, FSM_CHUNK_ALLOC, client, seq);
	put_u32(w, vol);
	put_u32(w, n);
	for (uint32_t i = 0; i < n; i++) {
		put_u32(w, a[i].index);
		put_u8(w, a[i].nrep);
		for (int k = 0; k < a[i].nrep; k++)
			put_u32(w, a[i].rep[k]);
	}
}

void fsm_enc_chunk_created(struct wbuf *w, uint64_t chunk_id, uint64_t version)
{
	enc_hdr(w, FSM_CHUNK_CREATED, 0, 0);
	put_u64(w, chunk_id);
	put_u64(w, version);
}

void fsm_enc_replicas_missing(struct wbuf *w, uint32_t cs_id, const uint64_t *chunk_ids, uint32_t n)
{
	enc_hdr(w, FSM_REPLICAS_MISSING, 0, 0);
	put_u32(w, cs_id);
	put_u32(w, n);
	for (uint32_t i = 0; i < n; i++)
		put_u64(w, chunk_ids[i]);
}

void fsm_enc_cs_disks(struct wbuf *w, uint32_t cs_id, const struct cs_disk_id *d, uint32_t n)
{
	enc_hdr(w, FSM_CS_DISKS, 0, 0);
	put_u32(w, cs_id);
	put_u32(w, n);
	for (uint32_t i = 0; i < n; i++) {
		put_u32(w, d[i].index);
		put_str(w, d[i].uuid);
	}
}

void fsm_enc_lease_grant(struct wbuf *w, uint64_t chunk_id, uint64_t expect, uint32_t primary)
{
	enc_hdr(w, FSM_LEASE_GRANT, 0, 0);
	put_u64(w, chunk_id);
	put_u64(w, expect);
	put_u32(w, primary);
}

void fsm_enc_set_replicas(struct wbuf *w, uint64_t client, uint64_t seq, uint64_t chunk_id,
			  uint64_t expect, const uint32_t *rep, uint8_t nrep, uint32_t primary)
{
	enc_hdr(w, FSM_SET_REPLICAS, client, seq);
	put_u64(w, chunk_id);
	put_u64(w, expect);
	put_u32(w, primary);
	put_u8(w, nrep);
	for (int k = 0; k < nrep; k++)
		put_u32(w, rep[k]);
}

void fsm_enc_cs_register(struct wbuf *w, uint32_t cs_id, const char *addr, const char *host,
			 const char *rack, const char *uuid)
{
	enc_hdr(w, FSM_CS_REGISTER, 0, 0);
	put_u32(w, cs_id);
	put_str(w, addr);
	put_str(w, host);
	put_str(w, rack);
	put_str(w, uuid);
}

void fsm_enc_cs_state(struct wbuf *w, uint64_t client, uint64_t seq, uint32_t cs_id, uint8_t admin,
		      bool force)
{
	enc_hdr(w, FSM_CS_STATE, client, seq);
	put_u32(w, cs_id);
	put_u8(w, admin);
	put_u8(w, force);
}

void fsm_enc_cs_maintenance(struct wbuf *w, uint64_t client, uint64_t seq, uint32_t cs_id,
			    uint64_t until_ms)
{
	enc_hdr(w, FSM_CS_MAINTENANCE, client, seq);
	put_u32(w, cs_id);
	put_u64(w, until_ms);
}

/* ---- apply ---- */

static void drop_chunk(struct fsm *f, struct volume *v, struct chunk *c)
{
	/* Garbage collection: every replica is told to delete it (soft queue). */
	for (int i = 0; i < c->nrep; i++) {
		struct cs *cs = cs_by_id(&f->css, c->rep[i]);
		if (cs)
			cs_queue_delete(cs, c->id);
	}
	if (v && v->allocated)
		v->allocated--;
	chunk_map_del(&f->chunks, c);
}

/* K4: c's fallbacks are stale replicas now; they are told to delete. */
static void fall_stale(struct fsm *f, struct chunk *c)
{
	for (int i = 0; i < c->nfall; i++) {
		struct cs *cs = cs_by_id(&f->css, c->rep[c->nrep + i]);
		if (cs)
			cs_queue_delete(cs, c->id);
	}
	c->nfall = 0;
}

static bool below_min(struct fsm *f, const struct chunk *c, uint8_t nrep)
{
	struct volume *v = volume_by_id(&f->vols, c->vol);
	return v && nrep < v->min_replicas;
}

/*
 * K3: a set that lost its last member takes the fallback that left last
 * (the others stay fallbacks while it is still below min_replicas).
 */
static void fall_rejoin(struct fsm *f, struct chunk *c)
{
	uint32_t *r = c->rep, last;

	if (c->nrep || !c->nfall)
		return;
	last = r[c->nfall - 1];
	memmove(&r[1], &r[0], (c->nfall - 1) * sizeof(r[0]));
	r[0] = last;
	c->nrep = 1;
	c->nfall--;
	c->primary = last;
	if (!below_min(f, c, c->nrep))
		fall_stale(f, c);
}

/*
 * cs_id, a member at position p, leaves c's set because it holds no
 * replica (or is removed): never a fallback.  A set change bumps the
 * version; the next member is primary if it was, or a fallback if none is
 * left (K3).  Returns whether it was primary.
 */
static bool leave_set(struct fsm *f, struct chunk *c, uint32_t cs_id, int p)
{
	bool was_primary = c->primary == cs_id;

	memmove(&c->rep[p], &c->rep[p + 1], (c->nrep + c->nfall - p - 1) * sizeof(c->rep[0]));
	c->nrep--;
	if (was_primary)
		c->primary = c->nrep ? c->rep[0] : 0;
	c->version++;
	c->live = 0;
	fall_rejoin(f, c);
	return was_primary;
}

/*
 * c's set becomes rep[0 .. nrep).  A member leaving while the new set is
 * below min_replicas becomes a fallback (K1, K2: nothing deleted); one
 * leaving a set at or above it is stale and told to delete, and so is
 * every fallback (K4).
 */
static void set_members(struct fsm *f, struct chunk *c, const uint32_t *rep, uint8_t nrep)
{
	bool below = below_min(f, c, nrep);
	uint32_t out[2 * SL_MAX_REPLICAS];
	int nout = 0, skip;

	/* the old fallbacks (oldest first), then the members leaving now */
	for (int i = 0; i < c->nrep + c->nfall; i++) {
		int i2 = (i + c->nrep) % (c->nrep + c->nfall);
		bool kept = false;
		for (int k = 0; k < nrep; k++)
			kept |= rep[k] == c->rep[i2];
		if (!kept)
			out[nout++] = c->rep[i2];
	}
	/* below: at most SL_MAX_REPLICAS - nrep fallbacks, the most recent */
	skip = !below ? nout : nout > SL_MAX_REPLICAS - nrep ? nout - (SL_MAX_REPLICAS - nrep) : 0;
	for (int i = 0; i < skip; i++) {
		struct cs *cs = cs_by_id(&f->css, out[i]);
		if (cs)
			cs_queue_delete(cs, c->id);
	}
	memcpy(c->rep, rep, nrep * sizeof(rep[0]));
	memcpy(&c->rep[nrep], &out[skip], (nout - skip) * sizeof(out[0]));
	c->nrep = nrep;
	c->nfall = nout - skip;
}

static uint64_t apply_vol_create(struct fsm *f, struct rbuf *r)
{
	char name[VOL_NAME_MAX + 1];
	uint8_t uuid[16];

	get_str(r, name, sizeof(name));
	const uint8_t *u = get_bytes(r, 16);
	uint64_t size = get_u64(r);
	uint32_t shift = get_u32(r), reps = get_u32(r), minr = get_u32(r), flags = get_u32(r);
	uint64_t ctime = get_u64(r);
	if (r->bad)
		return FSM_RES(SL_E_INTERNAL, 0);
	memcpy(uuid, u, 16);
	if (volume_check_params(name, size, &shift, &reps, &minr) != SL_OK)
		return FSM_RES(SL_E_INVAL, 0);
	if (volume_by_name(&f->vols, name))
		return FSM_RES(SL_E_EXIST, 0);
	struct volume *v = fsm_xcalloc(1, sizeof(*v));
	v->id = f->next_vol_id++;
	strcpy(v->name, name);
	memcpy(v->uuid, uuid, 16);
	v->size = size;
	v->chunk_shift = shift;
	v->replicas = reps;
	v->min_replicas = minr;
	v->flags = flags;
	v->ctime = ctime;
	volume_insert(&f->vols, v);
	return FSM_RES(SL_OK, v->id);
}

static uint64_t apply_vol_resize(struct fsm *f, struct rbuf *r)
{
	char name[VOL_NAME_MAX + 1];
	uint32_t idx;
	struct chunk *c;

	get_str(r, name, sizeof(name));
	uint64_t size = get_u64(r);
	bool force = get_u8(r);
	if (r->bad)
		return FSM_RES(SL_E_INTERNAL, 0);
	struct volume *v = volume_by_name(&f->vols, name);
	if (!v)
		return FSM_RES(SL_E_NOENT, 0);
	if (size == 0 || size % 512 || ((size - 1) >> v->chunk_shift) >= UINT32_MAX)
		return FSM_RES(SL_E_INVAL, 0);
	if (size < v->size && !force)
		return FSM_RES(SL_E_NOTEMPTY, 0);
	v->size = size;
	uint64_t n = volume_nchunks(v);
	chunk_map_for_each(&f->chunks, c, idx)
		if (c->vol == v->id && c->index >= n)
			drop_chunk(f, v, c);
	return FSM_RES(SL_OK, v->id);
}

static uint64_t apply_vol_delete(struct fsm *f, struct rbuf *r)
{
	char name[VOL_NAME_MAX + 1];
	uint32_t idx;
	struct chunk *c;

	get_str(r, name, sizeof(name));
	if (r->bad)
		return FSM_RES(SL_E_INTERNAL, 0);
	struct volume *v = volume_by_name(&f->vols, name);
	if (!v)
		return FSM_RES(SL_E_NOENT, 0);
	if (v->allocated)
		chunk_map_for_each(&f->chunks, c, idx)
			if (c->vol == v->id)
				drop_chunk(f, v, c);
	volume_remove(&f->vols, v);
	uint32_t id = v->id;
	free(v);
	return FSM_RES(SL_OK, id);
}

static uint64_t apply_vol_reset(struct fsm *f, struct rbuf *r)
{
	char name[VOL_NAME_MAX + 1];

	get_str(r, name, sizeof(name));
	if (r->bad)
		return FSM_RES(SL_E_INTERNAL, 0);
	struct volume *v = volume_by_name(&f->vols, name);
	if (!v)
		return FSM_RES(SL_E_NOENT, 0);
	v->reset_gen++;
	return FSM_RES(SL_OK, v->id);
}

/* Allocates each listed chunk that does not exist yet with lflags; value = chunks created. */
static uint64_t apply_chunk_alloc(struct fsm *f, struct rbuf *r, uint8_t lflags)
{
	uint32_t vol = get_u32(r), n = get_u32(r), created = 0;
	if (r->bad || n > FSM_ALLOC_MAX)
		return FSM_RES(SL_E_INTERNAL, 0);
	struct volume *v = volume_by_id(&f->vols, vol);
	size_t start = r->off;
	/* Validate the whole entry first: all or nothing. */
	for (uint32_t i = 0; i < n; i++) {
		uint32_t index = get_u32(r);
		uint8_t nrep = get_u8(r);
		if (nrep == 0 || nrep > SL_MAX_REPLICAS)
			return FSM_RES(SL_E_INTERNAL, 0);
		for (int k = 0; k < nrep; k++)
			get_u32(r);
		if (r->bad)
			return FSM_RES(SL_E_INTERNAL, 0);
		if (v && index >= volume_nchunks(v))
			return FSM_RES(SL_E_RANGE, 0);
	}
	if (!v)
		return FSM_RES(SL_E_NOENT, 0);
	r->off = start;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t index = get_u32(r);
		uint8_t nrep = get_u8(r);
		uint32_t rep[SL_MAX_REPLICAS];
		for (int k = 0; k < nrep; k++)
			rep[k] = get_u32(r);
		if (chunk_map_by_pos(&f->chunks, vol, index))
			continue;	/* a concurrent request allocated it first */
		struct chunk *c = chunk_map_add(&f->chunks, f->next_chunk_id++, vol, index);
		if (!c) {
			sl_err("fsm: out of memory");
			abort();
		}
		c->version = 1;
		c->nrep = nrep;
		memcpy(c->rep, rep, nrep * sizeof(rep[0]));
		c->primary = rep[0];
		c->lflags = lflags;
		v->allocated++;
		created++;
	}
	return FSM_RES(SL_OK, created);
}

static uint64_t apply_lease_grant(struct fsm *f, struct rbuf *r)
{
	uint64_t id = get_u64(r), expect = get_u64(r);
	uint32_t primary = get_u32(r);
	if (r->bad)
		return FSM_RES(SL_E_INTERNAL, 0);
	struct chunk *c = chunk_map_by_id(&f->chunks, id);
	if (!c)
		return FSM_RES(SL_E_NOENT, 0);
	if (c->version != expect)
		return FSM_RES(SL_E_STALE_VERSION, c->version);
	if (chunk_rep_pos(c, primary) < 0)
		return FSM_RES(SL_E_NOT_PRIMARY, c->version);
	c->version++;
	c->primary = primary;
	return FSM_RES(SL_OK, c->version);
}

static uint64_t apply_set_replicas(struct fsm *f, struct rbuf *r)
{
	uint64_t id = get_u64(r), expect = get_u64(r);
	uint32_t primary = get_u32(r), rep[SL_MAX_REPLICAS];
	uint8_t nrep = get_u8(r);
	if (nrep > SL_MAX_REPLICAS)
		return FSM_RES(SL_E_INTERNAL, 0);
	for (int k = 0; k < nrep; k++)
		rep[k] = get_u32(r);
	if (r->bad)
		return FSM_RES(SL_E_INTERNAL, 0);
	struct chunk *c = chunk_map_by_id(&f->chunks, id);
	if (!c)
		return FSM_RES(SL_E_NOENT, 0);
	if (c->version != expect)
		return FSM_RES(SL_E_STALE_VERSION, c->version);
	set_members(f, c, rep, nrep);
	c->primary = primary;
	c->live = 0;
	c->version++;
	fall_rejoin(f, c);
	return FSM_RES(SL_OK, c->version);
}

static uint64_t apply_chunk_created(struct fsm *f, struct rbuf *r)
{
	uint64_t id = get_u64(r), version = get_u64(r);
	if (r->bad)
		return FSM_RES(SL_E_INTERNAL, 0);
	struct chunk *c = chunk_map_by_id(&f->chunks, id);
	if (!c)
		return FSM_RES(SL_E_NOENT, 0);
	if (c->version != version)
		return FSM_RES(SL_E_STALE_VERSION, c->version);
	c->lflags |= CHUNK_LF_CREATED;
	return FSM_RES(SL_OK, c->version);
}

static uint64_t apply_replicas_missing(struct fsm *f, struct rbuf *r)
{
	uint32_t cs_id = get_u32(r), n = get_u32(r), left = 0;
	if (r->bad || n > FSM_MISSING_MAX)
		return FSM_RES(SL_E_INTERNAL, 0);
	for (uint32_t i = 0; i < n; i++) {
		struct chunk *c = chunk_map_by_id(&f->chunks, get_u64(r));
		int p = c && !chunk_unwritten(c) ? chunk_rep_pos(c, cs_id) : -1;
		if (r->bad)
			return FSM_RES(SL_E_INTERNAL, left);
		if (c)
			chunk_fall_del(c, cs_id);	/* a fallback without its replica is none */
		if (p < 0)
			continue;
		/*
		 * The leader's soft lease was cs_id's (the lease holder is the
		 * recorded primary), which cannot serve without the replica: the
		 * new primary starts with a grant, never an inherited lease.
		 */
		if (leave_set(f, c, cs_id, p))
			c->lease_expiry = 0;
		left++;
	}
	return FSM_RES(SL_OK, left);
}

static uint64_t apply_cs_disks(struct fsm *f, struct rbuf *r)
{
	struct cs_disk_id d[CS_MAX_DISKS];
	uint32_t id = get_u32(r), n = get_u32(r);
	if (r->bad || n > CS_MAX_DISKS)
		return FSM_RES(SL_E_INTERNAL, 0);
	for (uint32_t i = 0; i < n; i++) {
		d[i].index = get_u32(r);
		get_str(r, d[i].uuid, sizeof(d[i].uuid));
	}
	if (r->bad)
		return FSM_RES(SL_E_INTERNAL, 0);
	struct cs *cs = cs_by_id(&f->css, id);
	if (!cs)
		return FSM_RES(SL_E_NOENT, 0);
	if (!cs_set_disk_ids(cs, d, n)) {
		sl_err("fsm: out of memory");
		abort();
	}
	return FSM_RES(SL_OK, id);
}

static uint64_t apply_cs_register(struct fsm *f, struct rbuf *r)
{
	char addr[CS_ADDR_MAX + 1], host[CS_LABEL_MAX + 1], rack[CS_LABEL_MAX + 1], uuid[CS_LABEL_MAX + 1];
	uint32_t id = get_u32(r);
	get_str(r, addr, sizeof(addr));
	get_str(r, host, sizeof(host));
	get_str(r, rack, sizeof(rack));
	get_str(r, uuid, sizeof(uuid));
	if (r->bad)
		return FSM_RES(SL_E_INTERNAL, 0);
	struct cs *cs = id ? cs_by_id(&f->css, id) : NULL;
	if (!cs) {
		if (!id)
			id = f->next_cs_id;
		cs = cs_add(&f->css, id);
		if (!cs) {
			sl_err("fsm: out of memory");
			abort();
		}
		if (id >= f->next_cs_id)
			f->next_cs_id = id + 1;
	} else if (cs->uuid[0] && uuid[0] && strcmp(cs->uuid, uuid)) {
		return FSM_RES(SL_E_EXIST, id);
	}
	if (cs->admin == CS_REMOVED)
		return FSM_RES(SL_E_NOENT, id);
	strcpy(cs->addr, addr);
	strcpy(cs->host, host);
	strcpy(cs->rack, rack);
	strcpy(cs->uuid, uuid);
	return FSM_RES(SL_OK, id);
}

static uint64_t apply_cs_state(struct fsm *f, struct rbuf *r)
{
	uint32_t id = get_u32(r), idx;
	uint8_t admin = get_u8(r);
	bool force = get_u8(r);
	struct chunk *c;

	if (r->bad || admin > CS_REMOVED)
		return FSM_RES(SL_E_INTERNAL, 0);
	struct cs *cs = cs_by_id(&f->css, id);
	if (!cs)
		return FSM_RES(SL_E_NOENT, 0);
	/* Removed is final: a drain must not bring the id back (it could register again). */
	if (cs->admin == CS_REMOVED)
		return FSM_RES(admin == CS_REMOVED ? SL_OK : SL_E_NOENT, 0);
	if (admin == CS_REMOVED) {
		uint64_t held = 0;
		chunk_map_for_each(&f->chunks, c, idx)
			held += chunk_rep_pos(c, id) >= 0;
		if (held && !force)
			return FSM_RES(SL_E_NOTEMPTY, held);
		/* Forced: drop it from every set (a set change bumps the version). */
		chunk_map_for_each(&f->chunks, c, idx) {
			int p = chunk_rep_pos(c, id);
			chunk_fall_del(c, id);
			if (p >= 0)
				leave_set(f, c, id, p);
		}
	}
	cs->admin = admin;
	if (admin != CS_ACTIVE)
		cs->maint_until = 0;	/* M3: leaving ends it */
	return FSM_RES(SL_OK, id);
}

/* The time is the leader's wall clock, fixed when it was proposed: every member applies the same. */
static uint64_t apply_cs_maintenance(struct fsm *f, struct rbuf *r)
{
	uint32_t id = get_u32(r);
	uint64_t until = get_u64(r);

	if (r->bad)
		return FSM_RES(SL_E_INTERNAL, 0);
	struct cs *cs = cs_by_id(&f->css, id);
	if (!cs || cs->admin == CS_REMOVED)
		return FSM_RES(SL_E_NOENT, 0);
	if (until && cs->admin != CS_ACTIVE)
		return FSM_RES(SL_E_INVAL, 0);	/* a draining server is leaving: nothing to wait for */
	cs->maint_until = until;
	return FSM_RES(SL_OK, id);
}

uint64_t fsm_apply(struct fsm *f, const void *buf, size_t len)
{
	struct rbuf r;
	uint64_t res;

	rbuf_init(&r, buf, len);
	uint8_t cmd = get_u8(&r);
	uint64_t client = get_u64(&r), seq = get_u64(&r);
	f->applied++;
	if (r.bad)
		return FSM_RES(SL_E_INTERNAL, 0);
	if (dedup_find(f, client, seq, &res))
		return res;
	switch (cmd) {
	case FSM_VOL_CREATE: res = apply_vol_create(f, &r); break;
	case FSM_VOL_RESIZE: res = apply_vol_resize(f, &r); break;
	case FSM_VOL_DELETE: res = apply_vol_delete(f, &r); break;
	case FSM_CHUNK_ALLOC_OLD: res = apply_chunk_alloc(f, &r, CHUNK_LF_CREATED); break;
	case FSM_CHUNK_ALLOC: res = apply_chunk_alloc(f, &r, 0); break;
	case FSM_LEASE_GRANT: res = apply_lease_grant(f, &r); break;
	case FSM_SET_REPLICAS: res = apply_set_replicas(f, &r); break;
	case FSM_CS_REGISTER: res = apply_cs_register(f, &r); break;
	case FSM_CS_STATE: res = apply_cs_state(f, &r); break;
	case FSM_VOL_RESET: res = apply_vol_reset(f, &r); break;
	case FSM_CHUNK_CREATED: res = apply_chunk_created(f, &r); break;
	case FSM_REPLICAS_MISSING: res = apply_replicas_missing(f, &r); break;
	case FSM_CS_DISKS: res = apply_cs_disks(f, &r); break;
	case FSM_CS_MAINTENANCE: res = apply_cs_maintenance(f, &r); break;
	default: res = FSM_RES(SL_E_INTERNAL, 0); break;
	}
	dedup_put(f, client, seq, res);
	return res;
}
