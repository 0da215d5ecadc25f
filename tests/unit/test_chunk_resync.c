/*
 * Resync tracking of the chunkserver's storage engine (chunk_store.h,
 * "Tracks"): each 64 KiB track of a replica remembers the highest version
 * a write was applied to it at, durably, so a stale replica is brought up
 * to date by copying only the tracks modified since its version.  Real
 * O_DIRECT files in a temporary directory under the build directory and
 * real libaio, as test_chunk_store.c; nothing is faked.
 */
#include <CUnit/Basic.h>
#include <endian.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "chunk_meta.h"
#include "chunk_store.h"
#include "crc32c.h"
#include "cunit_main.h"
#include "evloop.h"
#include "status.h"

#define CHUNK	(4ull << 20)
#define TRACK	(1u << CS_TRACK_SHIFT)
#define NTRACKS	((uint32_t)(CHUNK / TRACK))

static char dir[4096];
static struct cs_store_env env;

struct res {
	int done, status;
};

static void wait_for(int *flag)
{
	uint64_t deadline = sl_now_ms() + 10000;

	while (!*flag && sl_now_ms() < deadline)
		cs_aio_reap(env.aio, 100);
	CU_ASSERT_FATAL(*flag);
}

static void wdone(struct cs_wop *op, int status)
{
	struct res *r = op->arg;

	r->status = status;
	r->done = 1;
}

static int do_write(struct cs_chunk *ch, enum cs_wkind kind, uint64_t off, uint32_t len,
		    const void *data, uint32_t data_len)
{
	struct cs_wop op = { .ch = ch, .kind = kind, .off = off, .len = len, .data = data,
			     .data_len = data_len, .done = wdone };
	struct res r = { 0, -1 };

	op.arg = &r;
	cs_chunk_write(&op);
	wait_for(&r.done);
	return r.status;
}

static void rdone(struct cs_rop *op, int status)
{
	struct res *r = op->arg;

	r->status = status;
	r->done = 1;
}

static void vdone(struct cs_vop *op, int status)
{
	struct res *r = op->arg;

	r->status = status;
	r->done = 1;
}

static int do_set_version(struct cs_chunk *ch, uint64_t v)
{
	struct cs_vop op = { .ch = ch, .version = v, .epoch = v, .done = vdone };
	struct res r = { 0, -1 };

	op.arg = &r;
	cs_chunk_set_version(&op);
	wait_for(&r.done);
	return r.status;
}

static void tdone(struct cs_top *op, int status)
{
	struct res *r = op->arg;

	r->status = status;
	r->done = 1;
}

static int do_merge(struct cs_chunk *ch, const uint64_t *src_le)
{
	struct cs_top op = { .ch = ch, .src = src_le, .done = tdone };
	struct res r = { 0, -1 };

	op.arg = &r;
	cs_chunk_merge_tracks(&op);
	wait_for(&r.done);
	return r.status;
}

/* A clean stop (dirty bits cleared and durable), close, open again. */
static struct cs_chunk *reopen(struct cs_chunk *ch)
{
	uint64_t id = ch->id, deadline = sl_now_ms() + 5000;
	struct cs_chunk *n = NULL;

	while ((cs_chunk_clean(ch, true) || !cs_chunk_idle(ch)) && sl_now_ms() < deadline)
		cs_aio_reap(env.aio, 100);
	CU_ASSERT_EQUAL(ch->ops_in_flight, 0);
	cs_chunk_close(ch);
	CU_ASSERT_EQUAL_FATAL(cs_chunk_open(&env, dir, id, &n), SL_OK);
	return n;
}

/* Expected track versions: exp[t]; every other assertion names the track. */
static void check_tracks(const struct cs_chunk *ch, const uint64_t *exp)
{
	for (uint32_t t = 0; t < NTRACKS; t++) {
		if (cs_track_get(ch, t) != exp[t])
			fprintf(stderr, "track %u: %llu, expected %llu\n", t,
				(unsigned long long)cs_track_get(ch, t), (unsigned long long)exp[t]);
		CU_ASSERT_EQUAL(cs_track_get(ch, t), exp[t]);
	}
}

static struct cs_chunk *mk(uint64_t id, uint64_t version)
{
	struct cs_chunk *ch = NULL;

	CU_ASSERT_EQUAL_FATAL(cs_chunk_create(&env, dir, id, CHUNK, version, version, &ch), SL_OK);
	CU_ASSERT_EQUAL(ch->ntracks, NTRACKS);
	return ch;
}

/* Writes of every kind raise exactly the tracks they touch, durably. */
/*
 * Reconciliation's candidates (chunk_store.h cs_recon_candidates): a region
 * busy on either side has a meaningless digest; it must be looked at again
 * under the primary's lock, not left out (it used to be skipped for good,
 * so replicas could stay different there).
 */
static void test_recon_candidates(void)
{
	uint32_t ours[CS_REGIONS], theirs[CS_REGIONS];
	uint64_t busy = 0;
	unsigned int r;

	for (r = 0; r < CS_REGIONS; r++)
		ours[r] = theirs[r] = 100 + r;
	theirs[3] = 7;		/* differs, quiet */
	theirs[5] = 8;		/* differs, busy */
	/* region 9: same digest, busy; region 3 outside the mask in the last check */
	CU_ASSERT_EQUAL(cs_recon_candidates(ours, theirs, ~0ull, 0), 1ull << 3 | 1ull << 5);
	CU_ASSERT_EQUAL(cs_recon_candidates(ours, theirs, ~0ull, 1ull << 5 | 1ull << 9),
			1ull << 3 | 1ull << 5 | 1ull << 9);
	CU_ASSERT_EQUAL(cs_recon_candidates(ours, theirs, ~(1ull << 3), 1ull << 9), 1ull << 5 | 1ull << 9);
	/* the recheck keeps them apart: differing (quiet) vs busy (ask again) */
	CU_ASSERT_EQUAL(cs_regions_differ(ours, theirs, ~0ull, 1ull << 5 | 1ull << 9, &busy), 1ull << 3);
	CU_ASSERT_EQUAL(busy, 1ull << 5 | 1ull << 9);
}

static void test_writes_raise_tracks(void)
{
	static uint8_t buf[256 << 10];
	uint64_t exp[NTRACKS] = { 0 };
	struct cs_chunk *ch = mk(1, 1);
	uint8_t pat[512];

	check_tracks(ch, exp);		/* new: never written */
	memset(buf, 0xab, sizeof(buf));
	/* [100 KiB, 200 KiB): tracks 1..3 */
	CU_ASSERT_EQUAL(do_write(ch, CS_W_WRITE, 100 << 10, 100 << 10, buf, 100 << 10), SL_OK);
	exp[1] = exp[2] = exp[3] = 1;
	check_tracks(ch, exp);
	CU_ASSERT_EQUAL(do_set_version(ch, 5), SL_OK);
	/* a 10-byte write inside one block of track 0 */
	CU_ASSERT_EQUAL(do_write(ch, CS_W_WRITE, 7, 10, buf, 10), SL_OK);
	exp[0] = 5;
	/* write same over tracks 10 and 11, unmap in track 20, CAW in track 2 */
	memset(pat, 0x11, sizeof(pat));
	CU_ASSERT_EQUAL(do_write(ch, CS_W_WRITE_SAME, 10ull * TRACK, 2 * TRACK, pat, sizeof(pat)), SL_OK);
	exp[10] = exp[11] = 5;
	CU_ASSERT_EQUAL(do_write(ch, CS_W_UNMAP, 20ull * TRACK + 4096, 8192, NULL, 0), SL_OK);
	exp[20] = 5;
	memcpy(buf + 4096, buf, 4096);
	memset(buf + 4096, 0xcd, 4096);
	memset(buf, 0xab, 4096);
	CU_ASSERT_EQUAL(do_write(ch, CS_W_CAW, 2ull * TRACK, 4096, buf, 8192), SL_OK);
	exp[2] = 5;
	/* a failed compare changes nothing, so it raises nothing */
	CU_ASSERT_EQUAL(do_set_version(ch, 6), SL_OK);
	CU_ASSERT_EQUAL(do_write(ch, CS_W_CAW, 40ull * TRACK, 4096, buf, 8192), SL_E_MISCOMPARE);
	/* the last track, to the last byte */
	CU_ASSERT_EQUAL(do_write(ch, CS_W_WRITE, CHUNK - 1, 1, buf, 1), SL_OK);
	exp[NTRACKS - 1] = 6;
	check_tracks(ch, exp);
	ch = reopen(ch);
	check_tracks(ch, exp);
	/* a lower version never lowers a track (versions only move forward anyway) */
	CU_ASSERT_EQUAL(do_write(ch, CS_W_WRITE, 7, 10, buf, 10), SL_OK);
	exp[0] = 6;
	check_tracks(ch, exp);
	cs_chunk_close(ch);
}

/* Merging a copy source's tracks raises, never lowers, and is durable. */
static void test_merge(void)
{
	uint64_t exp[NTRACKS] = { 0 }, src[NTRACKS] = { 0 };
	struct cs_chunk *ch = mk(2, 3);
	uint8_t b[4096];

	memset(b, 1, sizeof(b));
	CU_ASSERT_EQUAL(do_write(ch, CS_W_WRITE, 5ull * TRACK, 4096, b, 4096), SL_OK);
	CU_ASSERT_EQUAL(do_write(ch, CS_W_WRITE, 6ull * TRACK, 4096, b, 4096), SL_OK);
	src[0] = htole64(9);
	src[5] = htole64(2);		/* lower than ours: kept at 3 */
	src[6] = htole64(7);
	src[NTRACKS - 1] = htole64(4);
	CU_ASSERT_EQUAL(do_merge(ch, src), SL_OK);
	exp[0] = 9;
	exp[5] = 3;
	exp[6] = 7;
	exp[NTRACKS - 1] = 4;
	check_tracks(ch, exp);
	CU_ASSERT_EQUAL(ch->ops_in_flight, 0);
	ch = reopen(ch);
	check_tracks(ch, exp);
	cs_chunk_close(ch);
}

/*
 * A crash with a region dirty: the write there may be torn at any version
 * up to the replica's, so open() raises that region's tracks to it.
 */
static void test_torn_raises_region(void)
{
	uint64_t exp[NTRACKS] = { 0 };
	struct cs_chunk *ch = mk(3, 4);
	uint32_t per_region, t;
	uint8_t b[4096];

	memset(b, 2, sizeof(b));
	CU_ASSERT_EQUAL(do_write(ch, CS_W_WRITE, 0, 4096, b, 4096), SL_OK);
	CU_ASSERT_EQUAL(do_set_version(ch, 8), SL_OK);
	/* region 0's bit is still set (cleaned lazily): crash now */
	CU_ASSERT_FATAL(ch->dirty & 1);
	per_region = (uint32_t)((1ull << ch->region_shift) / TRACK);
	cs_chunk_close(ch);
	CU_ASSERT_EQUAL_FATAL(cs_chunk_open(&env, dir, 3, &ch), SL_OK);
	CU_ASSERT_EQUAL(ch->torn_regions, 1);
	for (t = 0; t < per_region; t++)
		exp[t] = 8;
	check_tracks(ch, exp);
	ch = reopen(ch);
	check_tracks(ch, exp);
	cs_chunk_close(ch);
}

/* Rewrites both header slots as format 1 and drops the track pages. */
static void make_format1(const struct cs_chunk *ch)
{
	char p[4200];
	uint8_t *page = NULL;
	int fd;

	snprintf(p, sizeof(p), "%s/chunks/%016llx.meta", dir, (unsigned long long)ch->id);
	fd = open(p, O_RDWR);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_FATAL(posix_memalign((void **)&page, 4096, 4096) == 0);
	for (int slot = 0; slot < 2; slot++) {
		struct cs_meta_slot *s = (struct cs_meta_slot *)page;

		cs_meta_encode(ch, ch->hdr_seq + 1 + slot, page);
		s->format = htole32(CS_META_FORMAT_V1);
		s->crc = htole32(sl_crc32c(s, offsetof(struct cs_meta_slot, crc)));
		CU_ASSERT(pwrite(fd, page, 4096, (off_t)((ch->hdr_seq + 1 + slot) & 1) * 4096) == 4096);
	}
	CU_ASSERT(ftruncate(fd, CS_META_HDR_LEN + (off_t)ch->ncrc_pages * 4096) == 0);
	CU_ASSERT(fsync(fd) == 0);
	close(fd);
	free(page);
}

/* A replica written by format-1 code: every track counts as modified at its version. */
static void test_format1_upgrade(void)
{
	uint64_t exp[NTRACKS];
	struct cs_chunk *ch = mk(4, 1);
	uint8_t b[4096], r[4096];
	struct res rr = { 0, -1 };
	struct cs_rop rop = { .off = 3ull * TRACK, .len = 4096 };
	struct stat st;
	char p[4200];

	memset(b, 3, sizeof(b));
	CU_ASSERT_EQUAL(do_write(ch, CS_W_WRITE, 3ull * TRACK, 4096, b, 4096), SL_OK);
	CU_ASSERT_EQUAL(do_set_version(ch, 12), SL_OK);
	ch = reopen(ch);
	make_format1(ch);
	cs_chunk_close(ch);
	CU_ASSERT_EQUAL_FATAL(cs_chunk_open(&env, dir, 4, &ch), SL_OK);
	CU_ASSERT_EQUAL(ch->version, 12);
	for (uint32_t t = 0; t < NTRACKS; t++)
		exp[t] = 12;
	check_tracks(ch, exp);
	/* the data and its checksums survived the upgrade */
	rop.ch = ch;
	rop.done = rdone;
	rop.arg = &rr;
	cs_chunk_read(&rop);
	wait_for(&rr.done);
	CU_ASSERT_EQUAL(rr.status, SL_OK);
	if (rr.status == SL_OK)
		memcpy(r, rop.data, 4096);
	cs_rop_release(&rop);
	CU_ASSERT(memcmp(r, b, 4096) == 0);
	/* the upgrade is durable: format 2 now, the track pages in the file */
	snprintf(p, sizeof(p), "%s/chunks/%016llx.meta", dir, 4ull);
	CU_ASSERT(stat(p, &st) == 0);
	CU_ASSERT_EQUAL((uint64_t)st.st_size, CS_META_HDR_LEN + (uint64_t)ch->nmeta_pages * 4096);
	ch = reopen(ch);
	check_tracks(ch, exp);
	cs_chunk_close(ch);
}

static const struct sl_cunit_test tests[] = {
	{ "writes raise exactly the tracks they touch, durably", test_writes_raise_tracks },
	{ "merging a source's tracks raises, never lowers", test_merge },
	{ "a torn region's tracks rise to the version at open", test_torn_raises_region },
	{ "format-1 meta upgraded: every track at the version", test_format1_upgrade },
	{ "reconcile looks again at busy regions, never skips them", test_recon_candidates },
	{ NULL, NULL }
};

int main(void)
{
	char cwd[2048], p[4200], cmd[4300];
	int r;

	if (!getcwd(cwd, sizeof(cwd)))
		return 2;
	snprintf(dir, sizeof(dir), "%s/test-chunk-resync-XXXXXX", cwd);
	if (!mkdtemp(dir))
		return 2;
	snprintf(p, sizeof(p), "%s/chunks", dir);
	if (mkdir(p, 0700))
		return 2;
	env.aio = cs_aio_new(128);
	if (!env.aio)
		return 2;
	r = sl_cunit_run("chunk_resync", tests);
	cs_aio_free(env.aio);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		r = r ? r : 2;
	return r;
}
