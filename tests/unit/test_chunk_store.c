/*
 * The chunkserver's storage engine on real files: O_DIRECT data and meta
 * files in a temporary directory under the build directory (tmpfs has no
 * O_DIRECT), real libaio.  Nothing is faked: each test drives the store and
 * reaps its completions with cs_aio_reap(); the crash tests run the store in
 * a child process that dies of SIGKILL (see "real crashes" below).
 */
#include <CUnit/Basic.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "chunk_store.h"
#include "cunit_main.h"
#include "evloop.h"
#include "status.h"

#define CHUNK (4ull << 20)

static char dir[4096];
static struct cs_store_env env;
static int io_errors;

static void on_io_error(void *arg, struct cs_chunk *ch, int err)
{
	io_errors++;
}

static void wait_for(int *flag)
{
	uint64_t deadline = sl_now_ms() + 10000;

	while (!*flag && sl_now_ms() < deadline)
		cs_aio_reap(env.aio, 100);
	CU_ASSERT_FATAL(*flag);
}

struct res {
	int done;
	int status;
};

static void wdone(struct cs_wop *op, int status)
{
	struct res *r = op->arg;

	r->status = status;
	r->done = 1;
}

static int do_write(struct cs_chunk *ch, enum cs_wkind kind, uint64_t off, uint32_t len,
		    const void *data, uint32_t data_len, uint64_t *mis)
{
	struct cs_wop op = { .ch = ch, .kind = kind, .off = off, .len = len, .data = data,
			     .data_len = data_len, .done = wdone };
	struct res r = { 0, -1 };

	op.arg = &r;
	cs_chunk_write(&op);
	wait_for(&r.done);
	if (mis)
		*mis = op.miscompare_off;
	return r.status;
}

static void rdone(struct cs_rop *op, int status)
{
	struct res *r = op->arg;

	r->status = status;
	r->done = 1;
}

/* Reads into out; returns the status, and *bad the first bad block. */
static int do_read(struct cs_chunk *ch, uint64_t off, uint32_t len, void *out, uint64_t *bad)
{
	struct cs_rop op = { .ch = ch, .off = off, .len = len, .done = rdone };
	struct res r = { 0, -1 };

	op.arg = &r;
	cs_chunk_read(&op);
	wait_for(&r.done);
	if (r.status == SL_OK)
		memcpy(out, op.data, len);
	if (bad)
		*bad = op.bad_off;
	cs_rop_release(&op);
	return r.status;
}

static void vdone(struct cs_vop *op, int status)
{
	struct res *r = op->arg;

	r->status = status;
	r->done = 1;
}

static int do_set_version(struct cs_chunk *ch, uint64_t v, uint64_t e)
{
	struct cs_vop op = { .ch = ch, .version = v, .epoch = e, .done = vdone };
	struct res r = { 0, -1 };

	op.arg = &r;
	cs_chunk_set_version(&op);
	wait_for(&r.done);
	return r.status;
}

static void fill(uint8_t *p, size_t n, unsigned int seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 9));
}

static struct cs_chunk *mk(uint64_t id)
{
	struct cs_chunk *ch = NULL;

	CU_ASSERT_EQUAL_FATAL(cs_chunk_create(&env, dir, id, CHUNK, 1, 1, &ch), SL_OK);
	return ch;
}

/* A clean stop: dirty bits cleared and durable, as the daemon does on exit. */
static void settle(struct cs_chunk *ch)
{
	uint64_t deadline = sl_now_ms() + 5000;

	while ((cs_chunk_clean(ch, true) || !cs_chunk_idle(ch)) && sl_now_ms() < deadline)
		cs_aio_reap(env.aio, 100);
	CU_ASSERT_EQUAL(ch->dirty, 0);
	CU_ASSERT_EQUAL(ch->hdr.gen, ch->hdr.durable);
}

static struct cs_chunk *reopen(struct cs_chunk *ch)
{
	uint64_t id = ch->id;
	struct cs_chunk *n = NULL;

	settle(ch);
	CU_ASSERT_EQUAL(ch->ops_in_flight, 0);
	cs_chunk_close(ch);
	CU_ASSERT_EQUAL_FATAL(cs_chunk_open(&env, dir, id, &n), SL_OK);
	return n;
}

static void test_write_read(void)
{
	struct cs_chunk *ch = mk(1);
	uint8_t *w = malloc(256 << 10), *r = malloc(256 << 10);

	fill(w, 256 << 10, 1);
	CU_ASSERT_EQUAL(do_write(ch, CS_W_WRITE, 64 << 10, 256 << 10, w, 256 << 10, NULL), SL_OK);
	CU_ASSERT_EQUAL(do_read(ch, 64 << 10, 256 << 10, r, NULL), SL_OK);
	CU_ASSERT(memcmp(w, r, 256 << 10) == 0);
	/* never written: zeros, and the hole's CRC (entry 0) verifies */
	memset(w, 0, 8192);
	CU_ASSERT_EQUAL(do_read(ch, CHUNK - 8192, 8192, r, NULL), SL_OK);
	CU_ASSERT(memcmp(w, r, 8192) == 0);
	/* bounds */
	CU_ASSERT_EQUAL(do_write(ch, CS_W_WRITE, CHUNK - 512, 1024, w, 1024, NULL), SL_E_RANGE);
	CU_ASSERT_EQUAL(do_read(ch, CHUNK, 512, r, NULL), SL_E_RANGE);
	CU_ASSERT_EQUAL(do_write(ch, CS_W_WRITE, 0, 512, w, 100, NULL), SL_E_INVAL);
	free(w);
	free(r);
	cs_chunk_close(ch);
}

static void test_sub_block(void)
{
	struct cs_chunk *ch = mk(2);
	uint8_t blk[3 * CS_BLOCK], expect[3 * CS_BLOCK], got[3 * CS_BLOCK], small[700];
	unsigned int i;

	fill(blk, sizeof(blk), 2);
	CU_ASSERT_EQUAL(do_write(ch, CS_W_WRITE, 0, sizeof(blk), blk, sizeof(blk), NULL), SL_OK);
	memcpy(expect, blk, sizeof(blk));
	/* 700 bytes straddling blocks 0 and 1, then 512 inside block 2 */
	fill(small, sizeof(small), 3);
	CU_ASSERT_EQUAL(do_write(ch, CS_W_WRITE, 3900, 700, small, 700, NULL), SL_OK);
	memcpy(expect + 3900, small, 700);
	CU_ASSERT_EQUAL(do_write(ch, CS_W_WRITE, 8192 + 1024, 512, small, 512, NULL), SL_OK);
	memcpy(expect + 8192 + 1024, small, 512);
	for (i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(ch->crc[i], cs_crc_entry(expect + i * CS_BLOCK));
	ch = reopen(ch);
	for (i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(ch->crc[i], cs_crc_entry(expect + i * CS_BLOCK));
	CU_ASSERT_EQUAL(do_read(ch, 0, sizeof(got), got, NULL), SL_OK);
	CU_ASSERT(memcmp(got, expect, sizeof(got)) == 0);
	/* an odd-sized read in the middle */
	CU_ASSERT_EQUAL(do_read(ch, 3899, 702, got, NULL), SL_OK);
	CU_ASSERT(memcmp(got, expect + 3899, 702) == 0);
	cs_chunk_close(ch);
}

static void test_version(void)
{
	struct cs_chunk *ch = mk(3);

	CU_ASSERT_EQUAL(cs_chunk_check_version(ch, 1), SL_OK);
	CU_ASSERT_EQUAL(cs_chunk_check_version(ch, 2), SL_E_STALE_VERSION);
	CU_ASSERT_EQUAL(cs_chunk_check_version(ch, 0), SL_E_STALE_VERSION);
	CU_ASSERT_EQUAL(do_set_version(ch, 5, 5), SL_OK);
	CU_ASSERT_EQUAL(cs_chunk_check_version(ch, 1), SL_E_STALE_VERSION);
	/* never backwards */
	CU_ASSERT_EQUAL(do_set_version(ch, 4, 4), SL_E_STALE_VERSION);
	CU_ASSERT_EQUAL(ch->version, 5);
	/* persisted, through several alternating header slots */
	CU_ASSERT_EQUAL(do_set_version(ch, 6, 6), SL_OK);
	CU_ASSERT_EQUAL(do_set_version(ch, 7, 6), SL_OK);
	ch = reopen(ch);
	CU_ASSERT_EQUAL(ch->version, 7);
	CU_ASSERT_EQUAL(ch->epoch, 6);
	CU_ASSERT_EQUAL(cs_chunk_check_version(ch, 6), SL_E_STALE_VERSION);
	/* creating it again is refused */
	{
		struct cs_chunk *dup = NULL;

		CU_ASSERT_EQUAL(cs_chunk_create(&env, dir, 3, CHUNK, 1, 1, &dup), SL_E_EXIST);
	}
	cs_chunk_close(ch);
}

/* CS_SET_VERSION's rule: forward only; the same (version, epoch) is a no-op; a new epoch moves. */
static void test_set_version_verdict(void)
{
	struct cs_chunk *ch = mk(30);

	CU_ASSERT_EQUAL(do_set_version(ch, 5, 7), SL_OK);
	CU_ASSERT_EQUAL(cs_set_version_verdict(ch, 4, 7), CS_SV_STALE);
	CU_ASSERT_EQUAL(cs_set_version_verdict(ch, 4, 9), CS_SV_STALE);
	CU_ASSERT_EQUAL(cs_set_version_verdict(ch, 5, 7), CS_SV_SAME);
	CU_ASSERT_EQUAL(cs_set_version_verdict(ch, 5, 8), CS_SV_ADVANCE);
	CU_ASSERT_EQUAL(cs_set_version_verdict(ch, 5, 6), CS_SV_ADVANCE);
	CU_ASSERT_EQUAL(cs_set_version_verdict(ch, 6, 0), CS_SV_ADVANCE);
	/* the persisting step keeps the same rule */
	CU_ASSERT_EQUAL(do_set_version(ch, 4, 7), SL_E_STALE_VERSION);
	CU_ASSERT_EQUAL(ch->version, 5);
	CU_ASSERT_EQUAL(do_set_version(ch, 5, 8), SL_OK);
	CU_ASSERT_EQUAL(ch->epoch, 8);
	cs_chunk_close(ch);
}

static void test_unmap(void)
{
	struct cs_chunk *ch = mk(4);
	size_t n = 1 << 20;
	uint8_t *w = malloc(n), *r = malloc(n), *expect = malloc(n);
	uint64_t before;

	fill(w, n, 4);
	CU_ASSERT_EQUAL(do_write(ch, CS_W_WRITE, 0, n, w, n, NULL), SL_OK);
	before = cs_chunk_allocated(ch);
	CU_ASSERT(before >= n);
	/* unaligned at both ends: edges are zeroed in place, the middle punched */
	CU_ASSERT_EQUAL(do_write(ch, CS_W_UNMAP, 1000, 512 << 10, NULL, 0, NULL), SL_OK);
	memcpy(expect, w, n);
	memset(expect + 1000, 0, 512 << 10);
	CU_ASSERT(cs_chunk_allocated(ch) < before);
	CU_ASSERT_EQUAL(do_read(ch, 0, n, r, NULL), SL_OK);
	CU_ASSERT(memcmp(r, expect, n) == 0);
	/* inside a single block */
	CU_ASSERT_EQUAL(do_write(ch, CS_W_UNMAP, (700 << 10) + 100, 300, NULL, 0, NULL), SL_OK);
	memset(expect + (700 << 10) + 100, 0, 300);
	ch = reopen(ch);
	CU_ASSERT_EQUAL(do_read(ch, 0, n, r, NULL), SL_OK);
	CU_ASSERT(memcmp(r, expect, n) == 0);
	free(w);
	free(r);
	free(expect);
	cs_chunk_close(ch);
}

static void test_write_same(void)
{
	struct cs_chunk *ch = mk(5);
	uint8_t pat[512], r[20000], zero[512];
	unsigned int i;

	fill(pat, sizeof(pat), 5);
	CU_ASSERT_EQUAL(do_write(ch, CS_W_WRITE_SAME, 1536, 512 * 30, pat, 512, NULL), SL_OK);
	CU_ASSERT_EQUAL(do_read(ch, 1536, 512 * 30, r, NULL), SL_OK);
	for (i = 0; i < 30; i++)
		CU_ASSERT(memcmp(r + i * 512, pat, 512) == 0);
	CU_ASSERT_EQUAL(do_write(ch, CS_W_WRITE_SAME, 0, 1000, pat, 512, NULL), SL_E_INVAL);
	/* a zero pattern unmaps */
	memset(zero, 0, sizeof(zero));
	CU_ASSERT_EQUAL(do_write(ch, CS_W_WRITE_SAME, 2048, 512 * 8, zero, 512, NULL), SL_OK);
	CU_ASSERT_EQUAL(do_read(ch, 2048, 4096, r, NULL), SL_OK);
	for (i = 0; i < 4096; i++)
		if (r[i])
			break;
	CU_ASSERT_EQUAL(i, 4096);
	cs_chunk_close(ch);
}

static void test_caw(void)
{
	struct cs_chunk *ch = mk(6);
	uint8_t old[1024], neu[1024], both[2048], r[1024];
	uint64_t mis = 0;

	fill(old, sizeof(old), 6);
	fill(neu, sizeof(neu), 7);
	CU_ASSERT_EQUAL(do_write(ch, CS_W_WRITE, 5000, 1024, old, 1024, NULL), SL_OK);
	memcpy(both, old, 1024);
	memcpy(both + 1024, neu, 1024);
	CU_ASSERT_EQUAL(do_write(ch, CS_W_CAW, 5000, 1024, both, 2048, NULL), SL_OK);
	CU_ASSERT_EQUAL(do_read(ch, 5000, 1024, r, NULL), SL_OK);
	CU_ASSERT(memcmp(r, neu, 1024) == 0);
	/* now the compare half is stale: refused, with the first differing byte */
	both[0] = neu[0];
	both[1] = neu[1];
	CU_ASSERT_EQUAL(do_write(ch, CS_W_CAW, 5000, 1024, both, 2048, &mis), SL_E_MISCOMPARE);
	CU_ASSERT(mis >= 5002 && mis < 6024);
	memcpy(both, neu, 10);
	CU_ASSERT_EQUAL(do_read(ch, 5000, 1024, r, NULL), SL_OK);
	CU_ASSERT(memcmp(r, neu, 1024) == 0);
	CU_ASSERT_EQUAL(do_write(ch, CS_W_CAW, 5000, 1024, both, 1024, NULL), SL_E_INVAL);
	cs_chunk_close(ch);
}

/* Flips one byte of the data file behind the store's back (O_DIRECT, durable). */
static void flip_byte(uint64_t id, uint64_t off)
{
	char p[4096];
	uint8_t *b = NULL;
	int fd;

	cs_chunk_path(p, sizeof(p), dir, id, "data");
	fd = open(p, O_RDWR | O_DIRECT);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_FATAL(posix_memalign((void **)&b, CS_BLOCK, CS_BLOCK) == 0);
	CU_ASSERT(pread(fd, b, CS_BLOCK, (off_t)cs_block_down(off)) == CS_BLOCK);
	b[off % CS_BLOCK] ^= 0x5a;
	CU_ASSERT(pwrite(fd, b, CS_BLOCK, (off_t)cs_block_down(off)) == CS_BLOCK);
	fsync(fd);
	close(fd);
	free(b);
}

static void test_checksum_mismatch(void)
{
	struct cs_chunk *ch = mk(7);
	uint8_t w[16384], r[16384];
	uint64_t bad = 0;

	fill(w, sizeof(w), 8);
	CU_ASSERT_EQUAL(do_write(ch, CS_W_WRITE, 65536, sizeof(w), w, sizeof(w), NULL), SL_OK);
	settle(ch);
	flip_byte(7, 65536 + 8192 + 77);
	memset(r, 0xee, sizeof(r));
	CU_ASSERT_EQUAL(do_read(ch, 65536, sizeof(w), r, &bad), SL_E_CHECKSUM);
	CU_ASSERT_EQUAL(bad, 65536 + 8192);
	CU_ASSERT_EQUAL(ch->checksum_errors, 1);
	/* the bad block is never handed out, but its neighbours are fine */
	CU_ASSERT_EQUAL(do_read(ch, 65536, 8192, r, NULL), SL_OK);
	CU_ASSERT(memcmp(r, w, 8192) == 0);
	/* a sub-block write into the bad block must not launder it */
	CU_ASSERT_EQUAL(do_write(ch, CS_W_WRITE, 65536 + 8192 + 100, 10, w, 10, NULL), SL_E_CHECKSUM);
	/* a whole-block rewrite repairs it */
	CU_ASSERT_EQUAL(do_write(ch, CS_W_WRITE, 65536 + 8192, 4096, w + 8192, 4096, NULL), SL_OK);
	CU_ASSERT_EQUAL(do_read(ch, 65536, sizeof(w), r, NULL), SL_OK);
	CU_ASSERT(memcmp(r, w, sizeof(w)) == 0);
	/* rot in a hole is caught too */
	flip_byte(7, 3 << 20);
	ch = reopen(ch);
	CU_ASSERT_EQUAL(ch->torn_regions, 0);
	CU_ASSERT_EQUAL(do_read(ch, 3 << 20, 4096, r, &bad), SL_E_CHECKSUM);
	CU_ASSERT_EQUAL(bad, 3 << 20);
	cs_chunk_close(ch);
}

/*
 * Not a crash: the on-disk state a crash mid-write can leave, built by
 * hand.  The region is dirty, the data changed (one byte, behind the
 * store's back) and its CRC did not: open() rebuilds the CRC from the data
 * instead of reporting bit rot.  The real crashes are further down.
 */
static void test_torn_state_recovery(void)
{
	struct cs_chunk *ch = mk(8);
	uint8_t w[4096], r[4096];

	fill(w, sizeof(w), 9);
	CU_ASSERT_EQUAL(do_write(ch, CS_W_WRITE, 0, 4096, w, 4096, NULL), SL_OK);
	/* the dirty bit stays set until cleaned: drop the descriptors now */
	CU_ASSERT(ch->dirty & 1);
	cs_chunk_close(ch);
	flip_byte(8, 10);	/* "the new data" of a write that never completed */
	w[10] ^= 0x5a;
	CU_ASSERT_EQUAL_FATAL(cs_chunk_open(&env, dir, 8, &ch), SL_OK);
	CU_ASSERT_EQUAL(ch->torn_regions, 1);
	CU_ASSERT_EQUAL(ch->dirty, 0);
	CU_ASSERT_EQUAL(do_read(ch, 0, 4096, r, NULL), SL_OK);
	CU_ASSERT(memcmp(r, w, 4096) == 0);
	cs_chunk_close(ch);
}

/*
 * ---- real crashes ----
 *
 * The store runs in a child process that ends with SIGKILL to itself,
 * exactly as kill -9 ends the daemon: the kernel finishes the I/O the
 * child had submitted, and nothing the child had queued in user space,
 * nor any completion it had not reaped, ever runs.  The child has an aio
 * context of its own (an io_setup context does not cross fork) and uses
 * no CUnit assertion (a failed one would longjmp into the child's copy of
 * the test run): it reports through a shared page, and the parent checks
 * that page, that the child died of SIGKILL, and what the files hold.
 */
#define CRASH_MAX_WRITES 32

struct crash_log {
	int error;			/* first failure in the child: its line, 0 if none */
	int status[CRASH_MAX_WRITES];	/* SL_* of write k, -1 while not completed */
	int inflight;			/* writes submitted and not completed at the kill */
	int dirty_regions;		/* popcount of ch->dirty at the kill */
	int meta_durable_pages;		/* meta pages with nothing unwritten at the kill */
	int meta_inflight;		/* lazy meta writes in flight at the kill */
};

struct crash_wop {
	struct cs_wop op;
	struct crash_log *log;
	int k;
};

static void crash_wdone(struct cs_wop *op, int status)
{
	struct crash_wop *w = (struct crash_wop *)op;

	w->log->status[w->k] = status;
}

/* Submits write k of the child (data must outlive the child's run). */
static void crash_submit(struct crash_wop *w, struct crash_log *log, int k, struct cs_chunk *ch,
			 uint64_t off, uint32_t len, const void *data)
{
	*w = (struct crash_wop){ .op = { .ch = ch, .kind = CS_W_WRITE, .off = off, .len = len,
					 .data = data, .data_len = len, .done = crash_wdone },
				 .log = log, .k = k };
	log->status[k] = -1;
	cs_chunk_write(&w->op);
}

/* Reaps in the child until *flag != -1; false after 10 s. */
static bool crash_wait(const int *flag)
{
	uint64_t deadline = sl_now_ms() + 10000;

	while (*flag == -1 && sl_now_ms() < deadline)
		cs_aio_reap(env.aio, 100);
	return *flag != -1;
}

#define CRASH_CHECK(log, cond)                       \
	do {                                         \
		if (!(cond)) {                       \
			(log)->error = __LINE__;     \
			_exit(3);                    \
		}                                    \
	} while (0)

/* The kill -9: records the chunk's state first. */
static void crash_now(struct crash_log *log, const struct cs_chunk *ch, int nwrites)
{
	unsigned int i;

	for (int k = 0; k < nwrites; k++)
		log->inflight += log->status[k] == -1;
	log->dirty_regions = __builtin_popcountll(ch->dirty);
	for (i = 0; i < ch->nmeta_pages; i++)
		log->meta_durable_pages += ch->crc_sync[i].durable >= ch->crc_sync[i].gen;
	log->meta_inflight = (int)ch->meta_inflight;
	kill(getpid(), SIGKILL);
	_exit(4);	/* not reached */
}

/* Runs fn(log) in a child that must die of SIGKILL; the log is shared. */
static struct crash_log *crash_run(void (*fn)(struct crash_log *log))
{
	struct crash_log *log = mmap(NULL, sizeof(*log), PROT_READ | PROT_WRITE,
				     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t pid;
	int st = 0;

	CU_ASSERT_FATAL(log != MAP_FAILED);
	memset(log, 0, sizeof(*log));
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		env.aio = cs_aio_new(128);
		CRASH_CHECK(log, env.aio);
		fn(log);
		_exit(4);	/* fn must end in crash_now() */
	}
	CU_ASSERT_FATAL(waitpid(pid, &st, 0) == pid);
	if (log->error)
		fprintf(stderr, "crash child failed at line %d\n", log->error);
	CU_ASSERT_EQUAL_FATAL(log->error, 0);
	CU_ASSERT_FATAL(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	return log;
}

static void crash_free(struct crash_log *log)
{
	munmap(log, sizeof(*log));
}

/*
 * Acknowledged writes whose CRC and track pages were never written back,
 * then kill -9 with nothing in flight: the dirty bits cover them, open()
 * rebuilds both from the data, every block reads back with no checksum
 * error.
 */
#define LAZY_CHUNK 12

static uint8_t lazy_w[16][CS_BLOCK];

static uint64_t lazy_off(int i)
{
	return (uint64_t)i * (CHUNK / 16) + 8192;
}

static void lazy_child(struct crash_log *log)
{
	static struct crash_wop w[16];
	struct cs_chunk *ch = NULL;
	int i;

	CRASH_CHECK(log, cs_chunk_create(&env, dir, LAZY_CHUNK, CHUNK, 1, 1, &ch) == SL_OK);
	for (i = 0; i < 16; i++) {
		crash_submit(&w[i], log, i, ch, lazy_off(i), CS_BLOCK, lazy_w[i]);
		CRASH_CHECK(log, crash_wait(&log->status[i]));
	}
	crash_now(log, ch, 16);
}

static void test_lazy_meta_crash(void)
{
	struct crash_log *log;
	struct cs_chunk *ch;
	uint8_t r[CS_BLOCK];
	int i;

	for (i = 0; i < 16; i++)
		fill(lazy_w[i], CS_BLOCK, 200 + i);
	log = crash_run(lazy_child);
	for (i = 0; i < 16; i++)
		CU_ASSERT_EQUAL(log->status[i], SL_OK);
	/* at the kill: acknowledged, 16 regions dirty, no meta page written back */
	CU_ASSERT_EQUAL(log->inflight, 0);
	CU_ASSERT_EQUAL(log->meta_inflight, 0);
	CU_ASSERT_EQUAL(log->dirty_regions, 16);
	CU_ASSERT_EQUAL(log->meta_durable_pages, 0);
	crash_free(log);
	CU_ASSERT_EQUAL_FATAL(cs_chunk_open(&env, dir, LAZY_CHUNK, &ch), SL_OK);
	CU_ASSERT_EQUAL(ch->torn_regions, 16);
	for (i = 0; i < 16; i++) {
		CU_ASSERT_EQUAL(do_read(ch, lazy_off(i), CS_BLOCK, r, NULL), SL_OK);
		CU_ASSERT(memcmp(r, lazy_w[i], CS_BLOCK) == 0);
		CU_ASSERT(cs_track_get(ch, (uint32_t)(lazy_off(i) >> CS_TRACK_SHIFT)) >= 1);
	}
	CU_ASSERT_EQUAL(ch->checksum_errors, 0);
	ch = reopen(ch);
	CU_ASSERT_EQUAL(ch->torn_regions, 0);
	cs_chunk_close(ch);
}

/*
 * kill -9 with writes in flight at every stage.  Region 0 (64 KiB in a
 * 4 MiB chunk) holds an acknowledged write and is dirty; then, with no
 * completion reaped: a 64 KiB overwrite of region 0 (its data write goes
 * straight to the kernel), a write into clean region 2 (it waits for the
 * header write that makes bit 2 durable), and two writes into clean region
 * 3 (they wait for the next header write, which waits for the first: one
 * header write is in flight at a time).  The process dies.  No data write
 * may have reached a region whose dirty bit was not durable: after the
 * restart the dirty regions are recovered, every written block holds its
 * old or its new data, the acknowledged data is intact, and nothing counts
 * as a checksum error (a torn write is never taken for bit rot).
 */
#define INFL_CHUNK 13
#define REGION (CHUNK / CS_REGIONS)

static uint8_t infl_old[REGION], infl_new[REGION], infl_w[3][CS_BLOCK];

static uint64_t infl_off(int k)	/* the small writes: region 2, region 3 twice */
{
	return k == 0 ? 2 * REGION : 3 * REGION + (uint64_t)(k - 1) * 2 * CS_BLOCK;
}

static void inflight_child(struct crash_log *log)
{
	static struct crash_wop w[5];
	struct cs_chunk *ch = NULL;
	int k;

	CRASH_CHECK(log, cs_chunk_create(&env, dir, INFL_CHUNK, CHUNK, 1, 1, &ch) == SL_OK);
	crash_submit(&w[0], log, 0, ch, 0, REGION, infl_old);
	CRASH_CHECK(log, crash_wait(&log->status[0]) && log->status[0] == SL_OK);
	CRASH_CHECK(log, ch->dirty == 1 && ch->hdr.durable == ch->hdr.gen);
	crash_submit(&w[1], log, 1, ch, 0, REGION, infl_new);
	for (k = 0; k < 3; k++)
		crash_submit(&w[2 + k], log, 2 + k, ch, infl_off(k), CS_BLOCK, infl_w[k]);
	crash_now(log, ch, 5);
}

/* A block read back is img (NULL: a hole, zeros). */
static bool block_is(const uint8_t *got, const uint8_t *img)
{
	static const uint8_t zero[CS_BLOCK];

	return !memcmp(got, img ? img : zero, CS_BLOCK);
}

static void test_inflight_crash(void)
{
	static uint8_t r[4 * REGION];
	struct crash_log *log;
	struct cs_chunk *ch;
	unsigned int b, k;

	fill(infl_old, REGION, 40);
	fill(infl_new, REGION, 41);
	for (k = 0; k < 3; k++)
		fill(infl_w[k], CS_BLOCK, 42 + k);
	log = crash_run(inflight_child);
	CU_ASSERT_EQUAL(log->status[0], SL_OK);
	CU_ASSERT_EQUAL(log->inflight, 4);	/* the kill landed with all four in flight */
	CU_ASSERT_EQUAL(log->dirty_regions, 3);	/* in memory: 0, 2 and 3 */
	crash_free(log);

	CU_ASSERT_EQUAL_FATAL(cs_chunk_open(&env, dir, INFL_CHUNK, &ch), SL_OK);
	/* at least regions 0 and 2 were durably dirty */
	CU_ASSERT(ch->torn_regions >= 2);
	CU_ASSERT_EQUAL_FATAL(do_read(ch, 0, sizeof(r), r, NULL), SL_OK);
	for (b = 0; b < REGION / CS_BLOCK; b++)
		CU_ASSERT(block_is(r + b * CS_BLOCK, infl_old + b * CS_BLOCK) ||
			  block_is(r + b * CS_BLOCK, infl_new + b * CS_BLOCK));
	for (k = 0; k < 3; k++)
		CU_ASSERT(block_is(r + infl_off((int)k), infl_w[k]) ||
			  block_is(r + infl_off((int)k), NULL));
	/* every other block of regions 1-3 was never written */
	for (b = REGION / CS_BLOCK; b < 4 * REGION / CS_BLOCK; b++)
		if (b * CS_BLOCK != infl_off(0) && b * CS_BLOCK != infl_off(1) &&
		    b * CS_BLOCK != infl_off(2))
			CU_ASSERT(block_is(r + b * CS_BLOCK, NULL));
	CU_ASSERT_EQUAL(ch->checksum_errors, 0);
	cs_chunk_close(ch);
}

/*
 * A write that joined a flush (op->sync) may complete only once a flush
 * that covers it (its waiter's gen) completed: counts those that did not.
 */
static int flushed_early;

static void wdone_flushed(struct cs_wop *op, int status)
{
	int slot = op->kind == CS_W_WRITE ? 2 : 0;

	if (op->sync && op->data_w[slot].gen > op->sync->durable)
		flushed_early++;
	wdone(op, status);
}

/*
 * Group commit across replicas of one disk: concurrent overwrites of
 * allocated blocks in four chunks share device flushes; a write that may
 * fill a hole keeps its own durability; everything reads back after a
 * clean stop and reopen.  The device flush is the fdatasync of a regular
 * file on the chunks' filesystem (a directory's flushes nothing on XFS).
 */
static void test_disk_flush(void)
{
	struct cs_disk_flush df;
	struct cs_aio_stats st0, st1;
	struct cs_chunk *ch[4];
	static uint8_t w[65][CS_BLOCK];
	struct cs_wop ops[65];
	struct res res[65];
	uint8_t r[CS_BLOCK];
	struct stat fst, cst;
	int i, round, joined = 0;

	CU_ASSERT_EQUAL_FATAL(cs_disk_flush_open(&df, dir, env.aio), 0);
	CU_ASSERT_FATAL(fstat(df.fd, &fst) == 0);
	CU_ASSERT(S_ISREG(fst.st_mode));
	for (i = 0; i < 4; i++) {
		ch[i] = mk(20 + i);
		ch[i]->disk_flush = &df;
	}
	CU_ASSERT_FATAL(fstat(ch[0]->data_fd, &cst) == 0);
	CU_ASSERT_EQUAL(fst.st_dev, cst.st_dev);
	/* allocate blocks 0..15 of every chunk */
	for (i = 0; i < 64; i++) {
		fill(w[i], CS_BLOCK, 50 + i);
		CU_ASSERT_EQUAL(do_write(ch[i % 4], CS_W_WRITE, (uint64_t)(i / 4) * CS_BLOCK, CS_BLOCK,
					 w[i], CS_BLOCK, NULL), SL_OK);
	}
	CU_ASSERT_EQUAL(df.writers, 0);
	/*
	 * A flush is submitted while an earlier one is still releasing its
	 * writers: 32 overwrites share a flush; while it is in flight 32 more
	 * finish their data and join the next one; when the first completes,
	 * the first writer it releases finds every write in flight joined and
	 * submits the next flush, before the loop reached the 32 late ones.
	 */
	flushed_early = 0;
	for (round = 0; round < 10; round++) {
		uint64_t deadline = sl_now_ms() + 2000;

		for (i = 0; i < 64; i++) {
			res[i].done = 0;
			ops[i] = (struct cs_wop){ .ch = ch[i % 4], .kind = CS_W_WRITE,
						  .off = (uint64_t)(i / 4) * CS_BLOCK, .len = CS_BLOCK,
						  .data = w[i], .data_len = CS_BLOCK,
						  .done = wdone_flushed, .arg = &res[i] };
		}
		for (i = 0; i < 32; i++)
			cs_chunk_write(&ops[i]);
		while (env.group_flush && !df.ps.inflight && sl_now_ms() < deadline)
			cs_aio_reap(env.aio, 1);
		for (i = 32; i < 64; i++)
			cs_chunk_write(&ops[i]);
		for (i = 0; i < 64; i++)
			wait_for(&res[i].done);
	}
	CU_ASSERT_EQUAL(flushed_early, 0);
	/* 64 overwrites and one write into a hole, all in flight together */
	cs_aio_get_stats(env.aio, &st0);
	for (i = 0; i < 65; i++) {
		fill(w[i], CS_BLOCK, 150 + i);
		res[i].done = 0;
		ops[i] = (struct cs_wop){ .ch = ch[i % 4], .kind = CS_W_WRITE,
					  .off = i < 64 ? (uint64_t)(i / 4) * CS_BLOCK : CHUNK - CS_BLOCK,
					  .len = CS_BLOCK, .data = w[i], .data_len = CS_BLOCK,
					  .done = wdone_flushed, .arg = &res[i] };
		cs_chunk_write(&ops[i]);
	}
	for (i = 0; i < 65; i++) {
		wait_for(&res[i].done);
		CU_ASSERT_EQUAL(res[i].status, SL_OK);
		if (ops[i].sync == &df.ps)
			joined++;
	}
	/* with group_flush off every write carries RWF_DSYNC */
	CU_ASSERT(env.group_flush ? joined > 0 : joined == 0);
	CU_ASSERT_EQUAL(flushed_early, 0);
	CU_ASSERT(ops[64].sync != &df.ps);	/* the hole */
	CU_ASSERT_EQUAL(df.writers, 0);
	CU_ASSERT(!df.ps.inflight && df.ps.durable == df.ps.gen);
	/*
	 * Fewer flushes than writes that joined them: besides the 65 data
	 * writes, the batch submitted only flushes (device ones, and the hole
	 * write's chunk fdatasync at most).
	 */
	cs_aio_get_stats(env.aio, &st1);
	if (joined)
		CU_ASSERT(st1.submitted - st0.submitted - 65 < (uint64_t)joined);
	for (i = 0; i < 4; i++) {
		ch[i] = reopen(ch[i]);
		ch[i]->disk_flush = &df;
	}
	for (i = 0; i < 65; i++) {
		CU_ASSERT_EQUAL(do_read(ch[i % 4], ops[i].off, CS_BLOCK, r, NULL), SL_OK);
		CU_ASSERT(memcmp(r, w[i], CS_BLOCK) == 0);
	}
	for (i = 0; i < 4; i++)
		cs_chunk_close(ch[i]);
	close(df.fd);
}

static void test_clean_and_persist(void)
{
	struct cs_chunk *ch = mk(9);
	static uint8_t w[64][CS_BLOCK];
	struct cs_wop ops[64];
	struct res res[64];
	uint8_t r[CS_BLOCK];
	int i, all = 0;

	/* 64 concurrent writes into one CRC page: the group commit must keep all */
	for (i = 0; i < 64; i++) {
		fill(w[i], CS_BLOCK, 100 + i);
		memset(&ops[i], 0, sizeof(ops[i]));
		res[i].done = 0;
		ops[i] = (struct cs_wop){ .ch = ch, .kind = CS_W_WRITE, .off = (uint64_t)i * 2 * CS_BLOCK,
					  .len = CS_BLOCK, .data = w[i], .data_len = CS_BLOCK,
					  .done = wdone, .arg = &res[i] };
		cs_chunk_write(&ops[i]);
	}
	for (i = 0; i < 64; i++) {
		wait_for(&res[i].done);
		CU_ASSERT_EQUAL(res[i].status, SL_OK);
		all += res[i].done;
	}
	CU_ASSERT_EQUAL(all, 64);
	/* acknowledged with the data durable; the CRC page is written back lazily */
	CU_ASSERT(ch->crc_sync[0].durable < ch->crc_sync[0].gen);
	CU_ASSERT(ch->dirty & 1);
	/* touched during this interval: the first pass leaves the region dirty */
	CU_ASSERT(cs_chunk_clean(ch, false));
	CU_ASSERT(ch->dirty & 1);
	settle(ch);
	CU_ASSERT(ch->crc_sync[0].durable == ch->crc_sync[0].gen);
	ch = reopen(ch);
	CU_ASSERT_EQUAL(ch->torn_regions, 0);
	for (i = 0; i < 64; i++) {
		CU_ASSERT_EQUAL(do_read(ch, (uint64_t)i * 2 * CS_BLOCK, CS_BLOCK, r, NULL), SL_OK);
		CU_ASSERT(memcmp(r, w[i], CS_BLOCK) == 0);
	}
	CU_ASSERT_EQUAL(cs_chunk_unlink(dir, 9), SL_OK);
	cs_chunk_close(ch);
	CU_ASSERT_EQUAL(cs_chunk_open(&env, dir, 9, &ch), SL_E_NOENT);
}

static bool group_flush;

static int setup(void)
{
	char cwd[2048], p[4200];

	if (!getcwd(cwd, sizeof(cwd)))
		return -1;
	snprintf(dir, sizeof(dir), "%s/test-chunk-store-XXXXXX", cwd);
	if (!mkdtemp(dir))
		return -1;
	snprintf(p, sizeof(p), "%s/chunks", dir);
	if (mkdir(p, 0700))
		return -1;
	env.aio = cs_aio_new(128);
	env.io_error = on_io_error;
	env.group_flush = group_flush;
	return env.aio ? 0 : -1;
}

static int setup_group(void)
{
	group_flush = true;
	return setup();
}

static int teardown(void)
{
	char cmd[4200];

	cs_aio_free(env.aio);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	static const struct sl_cunit_test tests[] = {
		{ "write and read, zeros in holes, bounds", test_write_read },
		{ "sub-block writes keep block checksums right", test_sub_block },
		{ "version fencing and persistence", test_version },
		{ "CS_SET_VERSION acceptance rule", test_set_version_verdict },
		{ "unmap punches holes that read zeros", test_unmap },
		{ "write same", test_write_same },
		{ "compare and write", test_caw },
		{ "checksum mismatch detected, never returned", test_checksum_mismatch },
		{ "a torn write's on-disk state is recovered, not rot", test_torn_state_recovery },
		{ "kill -9: lazy CRC and track pages rebuilt", test_lazy_meta_crash },
		{ "kill -9 with writes in flight at every stage", test_inflight_crash },
		{ "overwrites on one disk share device flushes", test_disk_flush },
		{ "concurrent writes, dirty clean, reopen", test_clean_and_persist },
		{ NULL, NULL },
	};

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	/* the same tests with per-write RWF_DSYNC and with group flushes */
	if (!sl_cunit_add("chunk_store (RWF_DSYNC)", setup, teardown, tests) ||
	    !sl_cunit_add("chunk_store (group flush)", setup_group, teardown, tests)) {
		fprintf(stderr, "CUnit: %s\n", CU_get_error_msg());
		CU_cleanup_registry();
		return 2;
	}
	return sl_cunit_run_all();
}
