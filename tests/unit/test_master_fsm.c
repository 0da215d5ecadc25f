/* FSM: apply results, snapshot/restore roundtrip (dump-identical), dedup, bad entries. */
#include <stdlib.h>
#include <string.h>
#include <CUnit/Basic.h>
#include "status.h"
#include "fsm.h"
#include "maintenance.h"
#include "cunit_main.h"

static uint64_t run(struct fsm *f, struct wbuf *w)
{
	CU_ASSERT_FATAL(!w->bad);
	uint64_t r = fsm_apply(f, w->p, w->len);
	wbuf_free(w);
	return r;
}

static void populate(struct fsm *f, int nvol, int nchunk)
{
	struct wbuf w;
	for (int i = 0; i < 4; i++) {
		char addr[32], host[8];
		snprintf(addr, sizeof(addr), "127.0.0.1:%d", 7400 + i);
		snprintf(host, sizeof(host), "h%d", i);
		wbuf_init(&w);
		fsm_enc_cs_register(&w, 0, addr, host, "", addr);
		CU_ASSERT_EQUAL(run(f, &w), FSM_RES(SL_OK, i + 1));
	}
	for (int v = 0; v < nvol; v++) {
		char name[32];
		uint8_t uuid[16];
		memset(uuid, v, 16);
		snprintf(name, sizeof(name), "vol%03d", v);
		wbuf_init(&w);
		fsm_enc_vol_create(&w, 77, v + 1, name, uuid, 1ull << 40, 0, 3, 0, 0, 1000 + v);
		CU_ASSERT_EQUAL(run(f, &w), FSM_RES(SL_OK, v + 1));
	}
	struct fsm_alloc *a = calloc(nchunk, sizeof(*a));
	for (int i = 0; i < nchunk; i++)
		a[i] = (struct fsm_alloc){ .index = i, .nrep = 3,
					   .rep = { 1 + i % 4, 1 + (i + 1) % 4, 1 + (i + 2) % 4 } };
	for (int v = 0; v < nvol; v++)
		for (int i = 0; i < nchunk; i += FSM_ALLOC_MAX) {
			int n = nchunk - i < FSM_ALLOC_MAX ? nchunk - i : FSM_ALLOC_MAX;
			wbuf_init(&w);
			fsm_enc_chunk_alloc(&w, 0, 0, v + 1, a + i, n);
			CU_ASSERT_EQUAL(run(f, &w), FSM_RES(SL_OK, n));
		}
	free(a);
}

static void test_apply_results(void)
{
	struct fsm *f = fsm_new();
	struct wbuf w;
	uint8_t uuid[16] = { 0 };
	populate(f, 2, 10);
	/* Duplicate name. */
	wbuf_init(&w);
	fsm_enc_vol_create(&w, 0, 0, "vol000", uuid, 1 << 30, 0, 0, 0, 0, 1);
	CU_ASSERT_EQUAL(FSM_RES_STATUS(run(f, &w)), SL_E_EXIST);
	/* Bad parameters: size not a multiple of 512, bad name, min > replicas. */
	wbuf_init(&w);
	fsm_enc_vol_create(&w, 0, 0, "x", uuid, 1000, 0, 0, 0, 0, 1);
	CU_ASSERT_EQUAL(FSM_RES_STATUS(run(f, &w)), SL_E_INVAL);
	wbuf_init(&w);
	fsm_enc_vol_create(&w, 0, 0, "a b", uuid, 1 << 30, 0, 0, 0, 0, 1);
	CU_ASSERT_EQUAL(FSM_RES_STATUS(run(f, &w)), SL_E_INVAL);
	wbuf_init(&w);
	fsm_enc_vol_create(&w, 0, 0, "y", uuid, 1 << 30, 0, 2, 3, 0, 1);
	CU_ASSERT_EQUAL(FSM_RES_STATUS(run(f, &w)), SL_E_INVAL);
	/* Defaults: shift 26, replicas 3, min 2. */
	struct volume *v = volume_by_name(&f->vols, "vol001");
	CU_ASSERT_EQUAL(v->chunk_shift, 26);
	CU_ASSERT_EQUAL(v->replicas, 3);
	CU_ASSERT_EQUAL(v->min_replicas, 2);
	CU_ASSERT_EQUAL(v->allocated, 10);
	/* Shrink refused without force; grow OK; shrink with force drops chunks. */
	wbuf_init(&w);
	fsm_enc_vol_resize(&w, 0, 0, "vol001", 1 << 28, false);
	CU_ASSERT_EQUAL(FSM_RES_STATUS(run(f, &w)), SL_E_NOTEMPTY);
	wbuf_init(&w);
	fsm_enc_vol_resize(&w, 0, 0, "vol001", 1ull << 41, false);
	CU_ASSERT_EQUAL(FSM_RES_STATUS(run(f, &w)), SL_OK);
	wbuf_init(&w);
	fsm_enc_vol_resize(&w, 0, 0, "vol001", 3ull << 26, true);
	CU_ASSERT_EQUAL(FSM_RES_STATUS(run(f, &w)), SL_OK);
	CU_ASSERT_EQUAL(v->allocated, 3);
	CU_ASSERT_PTR_NULL(chunk_map_by_pos(&f->chunks, 2, 3));
	CU_ASSERT_PTR_NOT_NULL(chunk_map_by_pos(&f->chunks, 2, 2));
	/* Dropped chunks were queued for deletion on their replicas. */
	CU_ASSERT(cs_by_id(&f->css, 1)->ndel + cs_by_id(&f->css, 2)->ndel +
		  cs_by_id(&f->css, 3)->ndel + cs_by_id(&f->css, 4)->ndel == 7 * 3);
	/* Allocation out of range. */
	struct fsm_alloc a = { .index = 3, .nrep = 1, .rep = { 1 } };
	wbuf_init(&w);
	fsm_enc_chunk_alloc(&w, 0, 0, 2, &a, 1);
	CU_ASSERT_EQUAL(FSM_RES_STATUS(run(f, &w)), SL_E_RANGE);
	/* Delete: volume and chunks gone, chunk ids never reused. */
	uint64_t next = f->next_chunk_id;
	wbuf_init(&w);
	fsm_enc_vol_delete(&w, 0, 0, "vol000");
	CU_ASSERT_EQUAL(FSM_RES_STATUS(run(f, &w)), SL_OK);
	CU_ASSERT_PTR_NULL(volume_by_name(&f->vols, "vol000"));
	CU_ASSERT_EQUAL(f->chunks.count, 3);
	CU_ASSERT_EQUAL(f->next_chunk_id, next);
	wbuf_init(&w);
	fsm_enc_vol_delete(&w, 0, 0, "vol000");
	CU_ASSERT_EQUAL(FSM_RES_STATUS(run(f, &w)), SL_E_NOENT);
	/* Garbage entries: never crash, never change state. */
	uint8_t junk[64];
	for (int i = 0; i < 64; i++)
		junk[i] = i * 37;
	for (size_t n = 0; n <= sizeof(junk); n++)
		(void)fsm_apply(f, junk, n);
	CU_ASSERT_EQUAL(f->chunks.count, 3);
	CU_ASSERT_EQUAL(f->vols.count, 1);
	fsm_free(f);
}

static void test_snapshot_roundtrip(void)
{
	struct fsm *f = fsm_new(), *g = fsm_new();
	struct wbuf w;
	size_t l1, l2;
	populate(f, 5, 3000);
	wbuf_init(&w);
	CU_ASSERT_EQUAL(fsm_snapshot(f, &w), 0);
	CU_ASSERT_EQUAL(fsm_restore(g, w.p, w.len), 0);
	char *d1 = fsm_dump(f, &l1), *d2 = fsm_dump(g, &l2);
	CU_ASSERT_EQUAL(l1, l2);
	CU_ASSERT(l1 > 0 && !memcmp(d1, d2, l1));
	CU_ASSERT_EQUAL(g->chunks.count, 15000);
	/* Dedup table survives too: a replayed create answers as before. */
	struct wbuf c;
	uint8_t uuid[16] = { 0 };
	wbuf_init(&c);
	fsm_enc_vol_create(&c, 77, 3, "vol002", uuid, 1 << 30, 0, 0, 0, 0, 5);
	CU_ASSERT_EQUAL(run(g, &c), FSM_RES(SL_OK, 3));
	/* Truncated snapshots are refused, never half-loaded. */
	for (size_t cut = 0; cut < w.len; cut += w.len / 7 + 1) {
		struct fsm *h = fsm_new();
		CU_ASSERT_EQUAL(fsm_restore(h, w.p, cut), -1);
		fsm_free(h);
	}
	free(d1);
	free(d2);
	wbuf_free(&w);
	fsm_free(f);
	fsm_free(g);
}

static void test_dedup(void)
{
	struct fsm *f = fsm_new();
	struct wbuf w;
	uint8_t uuid[16] = { 9 };
	wbuf_init(&w);
	fsm_enc_vol_create(&w, 42, 1, "d", uuid, 1 << 30, 0, 1, 1, 0, 1);
	CU_ASSERT_EQUAL(run(f, &w), FSM_RES(SL_OK, 1));
	/* Same (client, seq) again -- e.g. retried after LEADERSHIPLOST: same answer, applied once. */
	wbuf_init(&w);
	fsm_enc_vol_create(&w, 42, 1, "d", uuid, 1 << 30, 0, 1, 1, 0, 1);
	CU_ASSERT_EQUAL(run(f, &w), FSM_RES(SL_OK, 1));
	CU_ASSERT_EQUAL(f->vols.count, 1);
	CU_ASSERT_EQUAL(f->next_vol_id, 2);
	/* A new seq is a new request: the name exists now. */
	wbuf_init(&w);
	fsm_enc_vol_create(&w, 42, 2, "d", uuid, 1 << 30, 0, 1, 1, 0, 1);
	CU_ASSERT_EQUAL(FSM_RES_STATUS(run(f, &w)), SL_E_EXIST);
	/* Delete once, retry gets OK again (not NOENT). */
	wbuf_init(&w);
	fsm_enc_vol_delete(&w, 42, 3, "d");
	CU_ASSERT_EQUAL(FSM_RES_STATUS(run(f, &w)), SL_OK);
	wbuf_init(&w);
	fsm_enc_vol_delete(&w, 42, 3, "d");
	CU_ASSERT_EQUAL(FSM_RES_STATUS(run(f, &w)), SL_OK);
	/* client 0 means no dedup. */
	wbuf_init(&w);
	fsm_enc_vol_delete(&w, 0, 3, "d");
	CU_ASSERT_EQUAL(FSM_RES_STATUS(run(f, &w)), SL_E_NOENT);
	/* The table is bounded: after FSM_DEDUP_MAX newer entries the oldest is forgotten. */
	for (int i = 0; i < FSM_DEDUP_MAX; i++) {
		wbuf_init(&w);
		fsm_enc_vol_delete(&w, 43, i + 1, "none");
		run(f, &w);
	}
	wbuf_init(&w);
	fsm_enc_vol_create(&w, 42, 1, "d", uuid, 1 << 30, 0, 1, 1, 0, 1);
	CU_ASSERT_EQUAL(run(f, &w), FSM_RES(SL_OK, 2));
	fsm_free(f);
}

/* An older snapshot's head, as that version wrote it: the counters and one volume "old". */
static void put_old_snapshot_head(struct wbuf *w, uint32_t version)
{
	uint8_t uuid[16] = { 7 };

	put_u64(w, 0x50414e534c4f4853ull);
	put_u32(w, version);
	put_u32(w, 2);		/* next_vol_id */
	put_u64(w, 2);		/* next_chunk_id */
	put_u32(w, 2);		/* next_cs_id */
	put_u32(w, 1);		/* one volume */
	put_u32(w, 1);
	put_str(w, "old");
	put_bytes(w, uuid, 16);
	put_u64(w, 1 << 30);
	put_u32(w, 26);
	put_u32(w, 3);
	put_u32(w, 2);
	put_u32(w, 0);
	put_u64(w, 1234);
	if (version >= 2)
		put_u64(w, 5);	/* reset_gen */
}

/* An empty dedup table ends every snapshot. */
static void put_snapshot_tail(struct wbuf *w)
{
	put_u32(w, 0);		/* dedup_next */
	for (int i = 0; i < FSM_DEDUP_MAX * 3; i++)
		put_u64(w, 0);
}

/* LUN RESET generation: bumped by FSM_VOL_RESET, once per dedup id, kept by snapshots. */
static void test_reset_gen(void)
{
	struct fsm *f = fsm_new(), *g = fsm_new();
	struct wbuf w;
	populate(f, 2, 4);
	struct volume *v = volume_by_name(&f->vols, "vol001");
	CU_ASSERT_EQUAL_FATAL(v->reset_gen, 0);
	for (int i = 0; i < 3; i++) {
		wbuf_init(&w);
		fsm_enc_vol_reset(&w, 5, 100 + i, "vol001");
		CU_ASSERT_EQUAL(run(f, &w), FSM_RES(SL_OK, 2));
	}
	CU_ASSERT_EQUAL(v->reset_gen, 3);
	CU_ASSERT_EQUAL(volume_by_name(&f->vols, "vol000")->reset_gen, 0);
	/* A retried request (same dedup id) is applied once. */
	wbuf_init(&w);
	fsm_enc_vol_reset(&w, 5, 102, "vol001");
	CU_ASSERT_EQUAL(run(f, &w), FSM_RES(SL_OK, 2));
	CU_ASSERT_EQUAL(v->reset_gen, 3);
	wbuf_init(&w);
	fsm_enc_vol_reset(&w, 0, 0, "nosuch");
	CU_ASSERT_EQUAL(FSM_RES_STATUS(run(f, &w)), SL_E_NOENT);
	/* Truncated entry: refused, nothing changes. */
	wbuf_init(&w);
	fsm_enc_vol_reset(&w, 0, 0, "vol001");
	CU_ASSERT_EQUAL(FSM_RES_STATUS(fsm_apply(f, w.p, w.len - 3)), SL_E_INTERNAL);
	wbuf_free(&w);
	CU_ASSERT_EQUAL(v->reset_gen, 3);
	/* Snapshot and restore keep it (and the dump shows it). */
	wbuf_init(&w);
	CU_ASSERT_EQUAL(fsm_snapshot(f, &w), 0);
	CU_ASSERT_EQUAL(fsm_restore(g, w.p, w.len), 0);
	wbuf_free(&w);
	CU_ASSERT_EQUAL(volume_by_name(&g->vols, "vol001")->reset_gen, 3);
	CU_ASSERT_EQUAL(volume_by_name(&g->vols, "vol000")->reset_gen, 0);
	size_t l;
	char *d = fsm_dump(g, &l), *line = d ? strstr(d, "name=vol001 ") : NULL;
	CU_ASSERT_PTR_NOT_NULL_FATAL(line);
	/* on vol001's own line, at its end */
	CU_ASSERT(strstr(line, " reset_gen=3\n") && strstr(line, " reset_gen=3\n") + 12 == strchr(line, '\n'));
	free(d);
	/* The restored FSM keeps counting from there. */
	wbuf_init(&w);
	fsm_enc_vol_reset(&w, 0, 0, "vol001");
	CU_ASSERT_EQUAL(run(g, &w), FSM_RES(SL_OK, 2));
	CU_ASSERT_EQUAL(volume_by_name(&g->vols, "vol001")->reset_gen, 4);
	fsm_free(g);
	/* A version 1 snapshot (before reset_gen existed) still loads, with generation 0. */
	wbuf_init(&w);
	put_old_snapshot_head(&w, 1);
	put_u32(&w, 0);		/* chunkservers */
	put_u32(&w, 0);		/* chunks */
	put_snapshot_tail(&w);
	g = fsm_new();
	CU_ASSERT_EQUAL(fsm_restore(g, w.p, w.len), 0);
	wbuf_free(&w);
	v = volume_by_name(&g->vols, "old");
	CU_ASSERT_PTR_NOT_NULL_FATAL(v);
	CU_ASSERT_EQUAL(v->ctime, 1234);
	CU_ASSERT_EQUAL(v->reset_gen, 0);
	fsm_free(g);
	fsm_free(f);
}

/* Restores f's snapshot into g; asserts both dump the same, and returns f's dump (free it). */
static char *roundtrip(struct fsm *f, struct fsm *g)
{
	struct wbuf w;
	size_t l1, l2;
	char *a, *b;

	wbuf_init(&w);
	CU_ASSERT_EQUAL(fsm_snapshot(f, &w), 0);
	CU_ASSERT_EQUAL(fsm_restore(g, w.p, w.len), 0);
	wbuf_free(&w);
	a = fsm_dump(f, &l1);
	b = fsm_dump(g, &l2);
	CU_ASSERT_FATAL(a && b);
	CU_ASSERT(l1 == l2 && !memcmp(a, b, l1));
	free(b);
	return a;
}

/* A volume of 3 chunks on servers 1..4 (set {1,2,3} each), as populate, plus disk identities. */
static struct fsm *existence_fsm(void)
{
	struct fsm *f = fsm_new();
	struct wbuf w;
	struct cs_disk_id d[2] = { { 0, "aaaa" }, { 1, "bbbb" } };

	populate(f, 1, 3);
	wbuf_init(&w);
	fsm_enc_cs_disks(&w, 1, d, 2);
	CU_ASSERT_EQUAL(run(f, &w), FSM_RES(SL_OK, 1));
	return f;
}

static void test_replica_existence(void)
{
	struct fsm *f = existence_fsm(), *g = fsm_new();
	struct wbuf w;
	struct cs_disk_id d1 = { 1, "cccc" };
	uint64_t ids[3];

	/* Allocated chunks are unwritten: the first primary may create their replicas. */
	for (int i = 0; i < 3; i++) {
		struct chunk *c = chunk_map_by_pos(&f->chunks, 1, i);
		CU_ASSERT_PTR_NOT_NULL_FATAL(c);
		CU_ASSERT(chunk_unwritten(c));
		ids[i] = c->id;
	}
	struct chunk *c0 = chunk_map_by_id(&f->chunks, ids[0]), *c1 = chunk_map_by_id(&f->chunks, ids[1]);
	/* Creation is recorded only at the version the primary created them at. */
	wbuf_init(&w);
	fsm_enc_chunk_created(&w, ids[0], 7);
	CU_ASSERT_EQUAL(run(f, &w), FSM_RES(SL_E_STALE_VERSION, 1));
	CU_ASSERT(chunk_unwritten(c0));
	wbuf_init(&w);
	fsm_enc_chunk_created(&w, ids[0], 1);
	CU_ASSERT_EQUAL(run(f, &w), FSM_RES(SL_OK, 1));
	CU_ASSERT(!chunk_unwritten(c0));
	wbuf_init(&w);
	fsm_enc_chunk_created(&w, 999, 1);
	CU_ASSERT_EQUAL(FSM_RES_STATUS(run(f, &w)), SL_E_NOENT);

	/*
	 * Server 1's report lacks all three: it leaves the written chunk's set
	 * (a version bump; it was primary, so the next member is, and the
	 * leader's soft lease is gone), never an unwritten chunk's.
	 */
	c0->lease_expiry = 12345;
	wbuf_init(&w);
	fsm_enc_replicas_missing(&w, 1, ids, 3);
	CU_ASSERT_EQUAL(run(f, &w), FSM_RES(SL_OK, 1));
	CU_ASSERT_EQUAL(c0->nrep, 2);
	CU_ASSERT_EQUAL(chunk_rep_pos(c0, 1), -1);
	CU_ASSERT_EQUAL(c0->version, 2);
	CU_ASSERT_EQUAL(c0->primary, 2);
	CU_ASSERT_EQUAL(c0->lease_expiry, 0);
	CU_ASSERT_EQUAL(c1->nrep, 3);
	CU_ASSERT_EQUAL(c1->version, 1);
	/* A non-member's report changes nothing; a secondary leaves without moving the primary. */
	wbuf_init(&w);
	fsm_enc_replicas_missing(&w, 1, ids, 1);
	CU_ASSERT_EQUAL(run(f, &w), FSM_RES(SL_OK, 0));
	c0->lease_expiry = 777;
	wbuf_init(&w);
	fsm_enc_replicas_missing(&w, 3, ids, 1);
	CU_ASSERT_EQUAL(run(f, &w), FSM_RES(SL_OK, 1));
	CU_ASSERT_EQUAL(c0->primary, 2);
	CU_ASSERT_EQUAL(c0->lease_expiry, 777);
	CU_ASSERT_EQUAL(c0->version, 3);
	/* Too many ids in one entry is malformed. */
	wbuf_init(&w);
	put_u8(&w, FSM_REPLICAS_MISSING);
	put_u64(&w, 0);
	put_u64(&w, 0);
	put_u32(&w, 1);
	put_u32(&w, FSM_MISSING_MAX + 1);
	CU_ASSERT_EQUAL(FSM_RES_STATUS(run(f, &w)), SL_E_INTERNAL);

	/* Disk identities replace the recorded ones. */
	struct cs *cs1 = cs_by_id(&f->css, 1);
	CU_ASSERT_EQUAL(cs1->ndisk_ids, 2);
	CU_ASSERT_STRING_EQUAL(cs_disk_id(cs1, 1)->uuid, "bbbb");
	wbuf_init(&w);
	fsm_enc_cs_disks(&w, 1, &d1, 1);
	CU_ASSERT_EQUAL(run(f, &w), FSM_RES(SL_OK, 1));
	CU_ASSERT_EQUAL(cs1->ndisk_ids, 1);
	CU_ASSERT_STRING_EQUAL(cs_disk_id(cs1, 1)->uuid, "cccc");
	CU_ASSERT_PTR_NULL(cs_disk_id(cs1, 0));
	wbuf_init(&w);
	fsm_enc_cs_disks(&w, 9, &d1, 1);
	CU_ASSERT_EQUAL(FSM_RES_STATUS(run(f, &w)), SL_E_NOENT);

	/* Snapshot round trip: written flags and disk identities survive (dump-identical). */
	char *a = roundtrip(f, g);
	CU_ASSERT_PTR_NOT_NULL(strstr(a, "disks=1:cccc\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(a, " created=1\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(a, " created=0\n"));
	free(a);
	CU_ASSERT(!chunk_unwritten(chunk_map_by_id(&g->chunks, ids[0])));
	CU_ASSERT(chunk_unwritten(chunk_map_by_id(&g->chunks, ids[1])));
	CU_ASSERT_STRING_EQUAL(cs_disk_id(cs_by_id(&g->css, 1), 1)->uuid, "cccc");
	fsm_free(g);

	/* An allocation logged by older code: nothing says it was never written. */
	struct fsm_alloc al = { .index = 5, .nrep = 3, .rep = { 1, 2, 3 } };
	wbuf_init(&w);
	fsm_enc_chunk_alloc(&w, 0, 0, 1, &al, 1);
	w.p[0] = FSM_CHUNK_ALLOC_OLD;
	CU_ASSERT_EQUAL(run(f, &w), FSM_RES(SL_OK, 1));
	CU_ASSERT(!chunk_unwritten(chunk_map_by_pos(&f->chunks, 1, 5)));
	fsm_free(f);
}

static bool delete_queued(struct fsm *f, uint32_t cs_id, uint64_t chunk_id)
{
	struct cs *cs = cs_by_id(&f->css, cs_id);
	for (uint32_t i = 0; cs && i < cs->ndel; i++)
		if (cs->del[i] == chunk_id)
			return true;
	return false;
}

static uint64_t set_reps(struct fsm *f, uint64_t id, uint64_t expect, const uint32_t *rep, uint8_t n)
{
	struct wbuf w;
	wbuf_init(&w);
	fsm_enc_set_replicas(&w, 0, 0, id, expect, rep, n, rep[0]);
	return run(f, &w);
}

static uint64_t missing(struct fsm *f, uint32_t cs_id, uint64_t id)
{
	struct wbuf w;
	wbuf_init(&w);
	fsm_enc_replicas_missing(&w, cs_id, &id, 1);
	return run(f, &w);
}

/*
 * Fallbacks (chunk_map.h K1-K4), volume of 3 replicas, min_replicas 2.
 * Mutations: set_members deleting every member that leaves -> "2 is told
 * to delete"; fall_rejoin doing nothing -> the emptied set stays empty.
 */
static void test_fallbacks(void)
{
	struct fsm *f = existence_fsm(), *g = fsm_new();
	struct chunk *c = chunk_map_by_pos(&f->chunks, 1, 0), *d = chunk_map_by_pos(&f->chunks, 1, 1);
	uint32_t s12[] = { 1, 2 }, s1[] = { 1 }, s14[] = { 1, 4 }, s4[] = { 4 }, s2[] = { 2 };
	uint64_t id = c->id, id2 = d->id;
	struct wbuf w;

	wbuf_init(&w);
	fsm_enc_chunk_created(&w, id, 1);
	CU_ASSERT_EQUAL(run(f, &w), FSM_RES(SL_OK, 1));
	wbuf_init(&w);
	fsm_enc_chunk_created(&w, id2, 1);
	CU_ASSERT_EQUAL(run(f, &w), FSM_RES(SL_OK, 1));
	/* {1,2,3} -> {1,2}: still at min_replicas, so 3 is stale and told to delete */
	CU_ASSERT_EQUAL(set_reps(f, id, 1, s12, 2), FSM_RES(SL_OK, 2));
	CU_ASSERT_EQUAL(c->nfall, 0);
	CU_ASSERT(delete_queued(f, 3, id));
	/* {1,2} -> {1}: below it; 2 holds every acknowledged write (K1), nothing deletes it (K2) */
	CU_ASSERT_EQUAL(set_reps(f, id, 2, s1, 1), FSM_RES(SL_OK, 3));
	CU_ASSERT_EQUAL(c->nrep, 1);
	CU_ASSERT_EQUAL(c->nfall, 1);
	CU_ASSERT_EQUAL(chunk_fall_pos(c, 2), 0);
	CU_ASSERT_EQUAL(chunk_rep_pos(c, 2), -1);
	CU_ASSERT(!delete_queued(f, 2, id));
	/* the log keeps them: snapshot round trip, dump-identical */
	char *a = roundtrip(f, g);
	CU_ASSERT_PTR_NOT_NULL(strstr(a, " reps=1 created=1 fallbacks=2\n"));
	free(a);
	CU_ASSERT_EQUAL(chunk_fall_pos(chunk_map_by_id(&g->chunks, id), 2), 0);
	fsm_free(g);
	/* a copy joins: {1,4} is at min_replicas, writes go on without 2: stale now (K4) */
	CU_ASSERT_EQUAL(set_reps(f, id, 3, s14, 2), FSM_RES(SL_OK, 4));
	CU_ASSERT_EQUAL(c->nfall, 0);
	CU_ASSERT(delete_queued(f, 2, id));
	/* {1,4} -> {4}, then 4's disk comes back empty: fallback 1 becomes the set (K3) */
	CU_ASSERT_EQUAL(set_reps(f, id, 4, s4, 1), FSM_RES(SL_OK, 5));
	CU_ASSERT_EQUAL(chunk_fall_pos(c, 1), 0);
	CU_ASSERT_EQUAL(missing(f, 4, id), FSM_RES(SL_OK, 1));
	CU_ASSERT_EQUAL(c->nrep, 1);
	CU_ASSERT_EQUAL(c->rep[0], 1);
	CU_ASSERT_EQUAL(c->primary, 1);
	CU_ASSERT_EQUAL(c->nfall, 0);
	CU_ASSERT_EQUAL(c->version, 6);

	/* {2,3,4} -> {2}: two fallbacks; the one that left last is taken first */
	CU_ASSERT_EQUAL(set_reps(f, id2, 1, s2, 1), FSM_RES(SL_OK, 2));
	CU_ASSERT_EQUAL(d->nfall, 2);
	/* a fallback whose replica is gone is none (its report lacks it) */
	CU_ASSERT_EQUAL(missing(f, 3, id2), FSM_RES(SL_OK, 0));
	CU_ASSERT_EQUAL(d->nfall, 1);
	CU_ASSERT_EQUAL(chunk_fall_pos(d, 3), -1);
	/* a removed server is no fallback either */
	wbuf_init(&w);
	fsm_enc_cs_state(&w, 0, 0, 4, CS_REMOVED, true);
	CU_ASSERT_EQUAL(FSM_RES_STATUS(run(f, &w)), SL_OK);
	CU_ASSERT_EQUAL(d->nfall, 0);
	/* with none left, the set loses its last member honestly: empty */
	CU_ASSERT_EQUAL(missing(f, 2, id2), FSM_RES(SL_OK, 1));
	CU_ASSERT_EQUAL(d->nrep, 0);
	CU_ASSERT_EQUAL(d->primary, 0);
	fsm_free(f);
}

/* A version 2 snapshot (before replica existence): its chunks count as written, no disk identities. */
static void test_snapshot_v2_chunks_written(void)
{
	struct wbuf w;
	wbuf_init(&w);
	put_old_snapshot_head(&w, 2);
	put_u32(&w, 1);		/* one chunkserver */
	put_u32(&w, 1);
	put_u8(&w, 0);
	put_str(&w, "127.0.0.1:7400");
	put_str(&w, "h1");
	put_str(&w, "");
	put_str(&w, "u1");
	put_u32(&w, 1);		/* one chunk */
	put_u64(&w, 1);
	put_u64(&w, 4);		/* version */
	put_u32(&w, 1);
	put_u32(&w, 0);
	put_u32(&w, 1);		/* primary */
	put_u8(&w, 1);
	put_u32(&w, 1);
	put_snapshot_tail(&w);
	struct fsm *g = fsm_new();
	CU_ASSERT_EQUAL(fsm_restore(g, w.p, w.len), 0);
	wbuf_free(&w);
	struct chunk *c = chunk_map_by_id(&g->chunks, 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(c->version, 4);
	CU_ASSERT(!chunk_unwritten(c));
	struct cs *cs = cs_by_id(&g->css, 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cs);
	CU_ASSERT_STRING_EQUAL(cs->uuid, "u1");
	CU_ASSERT_EQUAL(cs->ndisk_ids, 0);
	CU_ASSERT_EQUAL(volume_by_name(&g->vols, "old")->reset_gen, 5);
	fsm_free(g);
}

static void test_chunk_map(void)
{
	/* Insert, find, delete at scale: hash tables stay consistent. */
	struct chunk_map m;
	chunk_map_init(&m);
	for (uint32_t i = 0; i < 50000; i++)
		CU_ASSERT_PTR_NOT_NULL_FATAL(chunk_map_add(&m, i + 1, i % 7, i));
	for (uint32_t i = 0; i < 50000; i += 3)
		chunk_map_del(&m, chunk_map_by_id(&m, i + 1));
	for (uint32_t i = 0; i < 50000; i++) {
		struct chunk *c = chunk_map_by_id(&m, i + 1), *d = chunk_map_by_pos(&m, i % 7, i);
		if (i % 3 == 0) {
			CU_ASSERT_FATAL(!c && !d);
		} else {
			CU_ASSERT_FATAL(c && c == d && c->index == i);
		}
	}
	for (uint32_t i = 0; i < 50000; i += 3)
		CU_ASSERT_PTR_NOT_NULL_FATAL(chunk_map_add(&m, 100000 + i, 9, i));
	CU_ASSERT_EQUAL(m.count, 50000);
	CU_ASSERT_PTR_NOT_NULL(chunk_map_by_pos(&m, 9, 3));
	chunk_map_free(&m);
}

/* Maintenance (maintenance.h): logged, kept by snapshots, ended by a drain; rules M1 and M3. */
static void test_maintenance(void)
{
	struct fsm *f = fsm_new(), *g = fsm_new();
	struct volume v = { .replicas = 3, .min_replicas = 2 };
	struct wbuf w;
	struct cs *cs;

	populate(f, 1, 4);
	wbuf_init(&w);
	fsm_enc_cs_maintenance(&w, 5, 1, 2, 10000);
	CU_ASSERT_EQUAL(run(f, &w), FSM_RES(SL_OK, 2));
	cs = cs_by_id(&f->css, 2);
	CU_ASSERT_EQUAL(cs->maint_until, 10000);
	CU_ASSERT(maint_active(cs, 9999));
	CU_ASSERT(!maint_active(cs, 10000));	/* M3: ends at its time */
	/* M1's k: down, or up but not heard; an up and heard server holds nothing back */
	cs->up = false;
	CU_ASSERT_EQUAL(maint_pending(&f->css, 5000, 100, 1500), 1);
	cs->up = true;
	CU_ASSERT_EQUAL(maint_pending(&f->css, 5000, 100, 1500), 1);
	cs->heard = true;
	cs->last_hb_ms = 50;
	CU_ASSERT_EQUAL(maint_pending(&f->css, 5000, 100, 1500), 0);
	CU_ASSERT_EQUAL(maint_pending(&f->css, 5000, 1551, 1500), 1);	/* silent: stopped (M1b) */
	cs->up = false;
	CU_ASSERT_EQUAL(maint_pending(&f->css, 10000, 100, 1500), 0);
	/* M1: held while min_replicas are good and at most k are missing */
	CU_ASSERT(maint_holds(&v, 2, 1));
	CU_ASSERT(!maint_holds(&v, 2, 0));
	CU_ASSERT(!maint_holds(&v, 1, 1));	/* below min_replicas: copy now */
	CU_ASSERT(!maint_holds(&v, 1, 2));
	v.min_replicas = 1;
	CU_ASSERT(!maint_holds(&v, 1, 1));	/* two missing, one server in maintenance */
	CU_ASSERT(maint_holds(&v, 1, 2));
	/* kept by a snapshot (version 4) */
	char *d1 = roundtrip(f, g);
	CU_ASSERT_PTR_NOT_NULL(strstr(d1, "maint_until=10000"));
	free(d1);
	CU_ASSERT_EQUAL(cs_by_id(&g->css, 2)->maint_until, 10000);
	/* --off */
	wbuf_init(&w);
	fsm_enc_cs_maintenance(&w, 5, 2, 2, 0);
	CU_ASSERT_EQUAL(run(f, &w), FSM_RES(SL_OK, 2));
	CU_ASSERT_EQUAL(cs->maint_until, 0);
	/* a drain ends it, and a draining server cannot enter it */
	wbuf_init(&w);
	fsm_enc_cs_maintenance(&w, 5, 3, 3, 20000);
	CU_ASSERT_EQUAL(run(f, &w), FSM_RES(SL_OK, 3));
	wbuf_init(&w);
	fsm_enc_cs_state(&w, 5, 4, 3, CS_DRAINING, false);
	CU_ASSERT_EQUAL(FSM_RES_STATUS(run(f, &w)), SL_OK);
	CU_ASSERT_EQUAL(cs_by_id(&f->css, 3)->maint_until, 0);
	wbuf_init(&w);
	fsm_enc_cs_maintenance(&w, 5, 5, 3, 20000);
	CU_ASSERT_EQUAL(FSM_RES_STATUS(run(f, &w)), SL_E_INVAL);
	wbuf_init(&w);
	fsm_enc_cs_maintenance(&w, 5, 6, 99, 20000);
	CU_ASSERT_EQUAL(FSM_RES_STATUS(run(f, &w)), SL_E_NOENT);
	fsm_free(f);
	fsm_free(g);
}

int main(void)
{
	static const struct sl_cunit_test tests[] = {
		{ "apply results", test_apply_results },
		{ "snapshot/restore roundtrip", test_snapshot_roundtrip },
		{ "dedup", test_dedup },
		{ "reset generation", test_reset_gen },
		{ "chunk map", test_chunk_map },
		{ "replica existence: created, missing, disks", test_replica_existence },
		{ "version 2 snapshot: chunks count as written", test_snapshot_v2_chunks_written },
		{ "maintenance", test_maintenance },
		{ "fallbacks: kept below min_replicas, take an emptied set", test_fallbacks },
		{ NULL, NULL },
	};

	return sl_cunit_run("master_fsm", tests);
}
