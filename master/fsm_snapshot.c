/*
 * FSM snapshot (the whole state, for libraft's snapshots), restore, and
 * the text dump (M_DUMP, tests).  Above fsm.c: nothing there calls here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "status.h"
#include "log.h"
#include "fsm.h"
#include "fsm_int.h"

#define SNAP_MAGIC	0x50414e534c4f4853ull	/* "SHOLSNAP" */
/*
 * 3: chunks carry their log flags, chunkservers their disk identities;
 * 2: volumes carry reset_gen.  Older ones are still read: reset_gen 0, no
 * disk identities, and every chunk CREATED (nothing recorded that it was
 * never written).
 */
#define SNAP_VERSION	5	/* 4: maint_until; 5: fallbacks */

/* ---- snapshot / restore ---- */

int fsm_snapshot(const struct fsm *f, struct wbuf *w)
{
	struct volume *v;
	struct cs *cs;
	struct chunk *c;
	uint32_t idx;

	put_u64(w, SNAP_MAGIC);
	put_u32(w, SNAP_VERSION);
	put_u32(w, f->next_vol_id);
	put_u64(w, f->next_chunk_id);
	put_u32(w, f->next_cs_id);
	put_u32(w, f->vols.count);
	list_for_each_entry(v, &f->vols.list, node) {
		put_u32(w, v->id);
		put_str(w, v->name);
		put_bytes(w, v->uuid, 16);
		put_u64(w, v->size);
		put_u32(w, v->chunk_shift);
		put_u32(w, v->replicas);
		put_u32(w, v->min_replicas);
		put_u32(w, v->flags);
		put_u64(w, v->ctime);
		put_u64(w, v->reset_gen);
	}
	put_u32(w, f->css.count);
	list_for_each_entry(cs, &f->css.list, node) {
		put_u32(w, cs->id);
		put_u8(w, cs->admin);
		put_str(w, cs->addr);
		put_str(w, cs->host);
		put_str(w, cs->rack);
		put_str(w, cs->uuid);
		put_u32(w, cs->ndisk_ids);
		for (uint32_t k = 0; k < cs->ndisk_ids; k++) {
			put_u32(w, cs->disk_ids[k].index);
			put_str(w, cs->disk_ids[k].uuid);
		}
		put_u64(w, cs->maint_until);
	}
	put_u32(w, f->chunks.count);
	chunk_map_for_each(&f->chunks, c, idx) {
		put_u64(w, c->id);
		put_u64(w, c->version);
		put_u32(w, c->vol);
		put_u32(w, c->index);
		put_u32(w, c->primary);
		put_u8(w, c->nrep);
		for (int k = 0; k < c->nrep; k++)
			put_u32(w, c->rep[k]);
		put_u8(w, c->lflags);
		put_u8(w, c->nfall);
		for (int k = 0; k < c->nfall; k++)
			put_u32(w, c->rep[c->nrep + k]);
	}
	put_u32(w, f->dedup_next);
	for (uint32_t i = 0; i < FSM_DEDUP_MAX; i++) {
		put_u64(w, f->dedup[i].client);
		put_u64(w, f->dedup[i].seq);
		put_u64(w, f->dedup[i].result);
	}
	return w->bad ? -1 : 0;
}

int fsm_restore(struct fsm *f, const void *buf, size_t len)
{
	struct rbuf r;
	uint32_t n, version;

	rbuf_init(&r, buf, len);
	if (get_u64(&r) != SNAP_MAGIC)
		return -1;
	version = get_u32(&r);
	if (version < 1 || version > SNAP_VERSION)
		return -1;
	fsm_clear(f);
	f->next_vol_id = get_u32(&r);
	f->next_chunk_id = get_u64(&r);
	f->next_cs_id = get_u32(&r);
	n = get_u32(&r);
	for (uint32_t i = 0; i < n && !r.bad; i++) {
		struct volume *v = fsm_xcalloc(1, sizeof(*v));
		v->id = get_u32(&r);
		get_str(&r, v->name, sizeof(v->name));
		const uint8_t *u = get_bytes(&r, 16);
		if (u)
			memcpy(v->uuid, u, 16);
		v->size = get_u64(&r);
		v->chunk_shift = get_u32(&r);
		v->replicas = get_u32(&r);
		v->min_replicas = get_u32(&r);
		v->flags = get_u32(&r);
		v->ctime = get_u64(&r);
		v->reset_gen = version >= 2 ? get_u64(&r) : 0;
		if (r.bad || v->chunk_shift < VOL_MIN_CHUNK_SHIFT || v->chunk_shift > VOL_MAX_CHUNK_SHIFT) {
			free(v);
			goto bad;
		}
		volume_insert(&f->vols, v);
	}
	n = get_u32(&r);
	for (uint32_t i = 0; i < n && !r.bad; i++) {
		struct cs *cs = cs_add(&f->css, get_u32(&r));
		if (!cs)
			goto bad;
		cs->admin = get_u8(&r);
		get_str(&r, cs->addr, sizeof(cs->addr));
		get_str(&r, cs->host, sizeof(cs->host));
		get_str(&r, cs->rack, sizeof(cs->rack));
		get_str(&r, cs->uuid, sizeof(cs->uuid));
		if (version >= 3) {
			struct cs_disk_id d[CS_MAX_DISKS];
			uint32_t nd = get_u32(&r);
			if (nd > CS_MAX_DISKS)
				goto bad;
			for (uint32_t k = 0; k < nd; k++) {
				d[k].index = get_u32(&r);
				get_str(&r, d[k].uuid, sizeof(d[k].uuid));
			}
			if (r.bad || !cs_set_disk_ids(cs, d, nd))
				goto bad;
		}
		cs->maint_until = version >= 4 ? get_u64(&r) : 0;
	}
	n = get_u32(&r);
	for (uint32_t i = 0; i < n && !r.bad; i++) {
		uint64_t id = get_u64(&r), ver = get_u64(&r);
		uint32_t vol = get_u32(&r), index = get_u32(&r), primary = get_u32(&r);
		uint8_t nrep = get_u8(&r);
		if (r.bad || nrep > SL_MAX_REPLICAS || !id || chunk_map_by_id(&f->chunks, id))
			goto bad;
		struct chunk *c = chunk_map_add(&f->chunks, id, vol, index);
		if (!c)
			goto bad;
		c->version = ver;
		c->primary = primary;
		c->nrep = nrep;
		for (int k = 0; k < nrep; k++)
			c->rep[k] = get_u32(&r);
		c->lflags = version >= 3 ? get_u8(&r) : CHUNK_LF_CREATED;
		c->nfall = version >= 5 ? get_u8(&r) : 0;
		if (c->nfall > SL_MAX_REPLICAS - nrep)
			goto bad;
		for (int k = 0; k < c->nfall; k++)
			c->rep[nrep + k] = get_u32(&r);
		struct volume *v = volume_by_id(&f->vols, vol);
		if (v)
			v->allocated++;
	}
	f->dedup_next = get_u32(&r) % FSM_DEDUP_MAX;
	for (uint32_t i = 0; i < FSM_DEDUP_MAX; i++) {
		f->dedup[i].client = get_u64(&r);
		f->dedup[i].seq = get_u64(&r);
		f->dedup[i].result = get_u64(&r);
	}
	if (r.bad)
		goto bad;
	return 0;
bad:
	sl_err("fsm: snapshot is malformed at byte %zu of %zu", r.off, len);
	fsm_clear(f);
	return -1;
}

/* ---- dump ---- */

static int chunk_cmp(const void *a, const void *b)
{
	const struct chunk *x = *(const struct chunk *const *)a, *y = *(const struct chunk *const *)b;
	if (x->vol != y->vol)
		return x->vol < y->vol ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

char *fsm_dump(const struct fsm *f, size_t *lenp)
{
	char *buf = NULL;
	size_t len = 0;
	struct volume *v;
	struct cs *cs;
	struct chunk *c, **sorted;
	uint32_t idx, n = 0;
	FILE *fp = open_memstream(&buf, &len);

	if (!fp)
		return NULL;
	fprintf(fp, "next_vol_id %u\nnext_chunk_id %llu\nnext_cs_id %u\n", f->next_vol_id,
		(unsigned long long)f->next_chunk_id, f->next_cs_id);
	list_for_each_entry(cs, &f->css.list, node) {
		fprintf(fp, "cs %u addr=%s host=%s rack=%s uuid=%s admin=%u disks=", cs->id, cs->addr,
			cs->host, cs->rack, cs->uuid, cs->admin);
		for (uint32_t k = 0; k < cs->ndisk_ids; k++)
			fprintf(fp, k ? ",%u:%s" : "%u:%s", cs->disk_ids[k].index, cs->disk_ids[k].uuid);
		if (cs->maint_until)
			fprintf(fp, " maint_until=%llu", (unsigned long long)cs->maint_until);
		fputc('\n', fp);
	}
	list_for_each_entry(v, &f->vols.list, node) {
		fprintf(fp, "vol %u name=%s uuid=", v->id, v->name);
		for (int i = 0; i < 16; i++)
			fprintf(fp, "%02x", v->uuid[i]);
		fprintf(fp, " size=%llu chunk_shift=%u replicas=%u min_replicas=%u flags=%u ctime=%llu chunks=%llu reset_gen=%llu\n",
			(unsigned long long)v->size, v->chunk_shift, v->replicas, v->min_replicas,
			v->flags, (unsigned long long)v->ctime, (unsigned long long)v->allocated,
			(unsigned long long)v->reset_gen);
	}
	sorted = malloc((f->chunks.count + 1) * sizeof(*sorted));
	if (!sorted) {
		fclose(fp);
		free(buf);
		return NULL;
	}
	chunk_map_for_each(&f->chunks, c, idx)
		sorted[n++] = c;
	qsort(sorted, n, sizeof(*sorted), chunk_cmp);
	for (uint32_t i = 0; i < n; i++) {
		c = sorted[i];
		fprintf(fp, "chunk %u %u id=%llu version=%llu primary=%u reps=", c->vol, c->index,
			(unsigned long long)c->id, (unsigned long long)c->version, c->primary);
		for (int k = 0; k < c->nrep; k++)
			fprintf(fp, k ? ",%u" : "%u", c->rep[k]);
		fprintf(fp, " created=%u", !chunk_unwritten(c));
		for (int k = 0; k < c->nfall; k++)
			fprintf(fp, k ? ",%u" : " fallbacks=%u", c->rep[c->nrep + k]);
		fputc('\n', fp);
	}
	free(sorted);
	if (fclose(fp))
		return NULL;
	*lenp = len;
	return buf;
}
