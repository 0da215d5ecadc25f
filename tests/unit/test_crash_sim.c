/*
 * The crash-simulating disk (chunkserver/crash_sim.h) as the chunkserver
 * drives it, through aio.c and cs_fs.h (built here with SHOAL_CRASH_SIM),
 * on real files: what has reached a file ("on disk": read through a
 * descriptor of our own) and when.  A forked child that _exit()s is the
 * power cut: its process memory (the disk cache) dies with it.
 */
#include <CUnit/Basic.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>
#include "aio.h"
#include "chunk_store.h"
#include "cs_fs.h"
#include "cunit_main.h"
#include "status.h"

#define BLK 4096

static char dir[400];
static struct cs_aio *aio;
static int flush_fd;		/* a regular file of the same disk: its fdsync flushes the device */
static uint8_t *buf;		/* aligned, 2 blocks */

struct done {
	struct cs_aio_req r;
	long res;
	bool fired;
};

static void on_done(struct cs_aio_req *r, long res)
{
	struct done *d = (struct done *)r;

	d->res = res;
	d->fired = true;
}

/* Runs the request to completion (bounded: 100 s); its result. */
static long finish(struct done *d)
{
	int i;

	for (i = 0; i < 1000 && !d->fired; i++)
		cs_aio_reap(aio, 100);
	return d->fired ? d->res : -ETIMEDOUT;
}

static long t_write(int fd, char c, off_t off, int flags)
{
	struct done d = { .r.done = on_done };

	memset(buf, c, BLK);
	cs_aio_pwrite(aio, &d.r, fd, buf, BLK, off, flags);
	return finish(&d);
}

static long t_fdsync(int fd)
{
	struct done d = { .r.done = on_done };

	cs_aio_fdsync(aio, &d.r, fd);
	return finish(&d);
}

static long t_punch(int fd, off_t off, off_t len)
{
	struct done d = { .r.done = on_done };

	cs_aio_punch(aio, &d.r, fd, off, len);
	return finish(&d);
}

/* What the process reads (the model's view): the first byte of the block at off. */
static char seen(int fd, off_t off)
{
	struct done d = { .r.done = on_done };

	cs_aio_pread(aio, &d.r, fd, buf, BLK, off);
	CU_ASSERT_EQUAL(finish(&d), BLK);
	return (char)buf[0];
}

/* What the file holds (the disk): the first byte of the block at off, 0 for a hole. */
static char on_disk(const char *name, off_t off)
{
	char p[600], c = 0;
	int fd;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	fd = open(p, O_RDONLY);
	if (fd < 0 || pread(fd, &c, 1, off) != 1)
		c = '?';
	if (fd >= 0)
		close(fd);
	return c;
}

/* A file of n blocks of c, durable and allocated (plain calls, before the model sees it), opened O_DIRECT. */
static int durable_file(const char *name, char c, int n, bool hole)
{
	char p[600], b[BLK];
	int fd, i;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CU_ASSERT_FATAL(fd >= 0);
	memset(b, c, sizeof(b));
	for (i = 0; i < n && !hole; i++)
		CU_ASSERT(pwrite(fd, b, BLK, (off_t)i * BLK) == BLK);
	CU_ASSERT(ftruncate(fd, (off_t)n * BLK) == 0);
	CU_ASSERT(fsync(fd) == 0);
	close(fd);
	fd = open(p, O_RDWR | O_DIRECT);
	CU_ASSERT_FATAL(fd >= 0);
	return fd;
}

/* A plain O_DIRECT overwrite is durable by any device flush; a hole write only by its file's. */
static void test_device_flush(void)
{
	int a = durable_file("a", 'a', 1, false), h = durable_file("h", 0, 1, true);

	CU_ASSERT_EQUAL(t_write(a, 'b', 0, 0), BLK);
	CU_ASSERT_EQUAL(t_write(h, 'h', 0, 0), BLK);
	CU_ASSERT_EQUAL(on_disk("a", 0), 'a');
	CU_ASSERT_EQUAL(seen(a, 0), 'b');
	CU_ASSERT_EQUAL(t_fdsync(flush_fd), 0);
	CU_ASSERT_EQUAL(on_disk("a", 0), 'b');
	CU_ASSERT_EQUAL(on_disk("h", 0), 0);		/* its allocation is its own file's business */
	CU_ASSERT_EQUAL(seen(h, 0), 'h');
	CU_ASSERT_EQUAL(t_fdsync(h), 0);
	CU_ASSERT_EQUAL(on_disk("h", 0), 'h');
	CU_ASSERT_EQUAL(t_write(a, 'd', 0, RWF_DSYNC), BLK);	/* durable when it completes */
	CU_ASSERT_EQUAL(on_disk("a", 0), 'd');
	close(a);
	close(h);
}

/* A punch is ordered with the writes around it: an older unflushed write never lands after it. */
static void test_punch_order(void)
{
	int p = durable_file("p", 'p', 2, false);

	CU_ASSERT_EQUAL(t_write(p, 'w', 0, 0), BLK);
	CU_ASSERT_EQUAL(t_punch(p, 0, BLK), 0);
	CU_ASSERT_EQUAL(seen(p, 0), 0);
	CU_ASSERT_EQUAL(t_fdsync(flush_fd), 0);	/* a device flush: not the punch's durability point */
	CU_ASSERT_EQUAL(seen(p, 0), 0);
	CU_ASSERT_EQUAL(t_fdsync(p), 0);
	CU_ASSERT_EQUAL(on_disk("p", 0), 0);
	CU_ASSERT_EQUAL(t_fdsync(flush_fd), 0);
	CU_ASSERT_EQUAL(on_disk("p", 0), 0);		/* no resurrection */
	/* a write after the punch fills the hole: the device flush does not cover it */
	CU_ASSERT_EQUAL(t_write(p, 'n', 0, 0), BLK);
	CU_ASSERT_EQUAL(t_fdsync(flush_fd), 0);
	CU_ASSERT_EQUAL(on_disk("p", 0), 0);
	CU_ASSERT_EQUAL(t_fdsync(p), 0);
	CU_ASSERT_EQUAL(on_disk("p", 0), 'n');
	CU_ASSERT_EQUAL(on_disk("p", BLK), 'p');
	close(p);
}

/* The synchronous calls: cs_fs_pwrite is unflushed until cs_fs_fdatasync, and reads see it. */
static void test_sync_calls(void)
{
	int s = durable_file("s", 's', 1, false);

	memset(buf, 'x', BLK);
	CU_ASSERT_EQUAL(cs_fs_pwrite(s, buf, BLK, 0), BLK);
	CU_ASSERT_EQUAL(on_disk("s", 0), 's');
	memset(buf, 0, BLK);
	CU_ASSERT_EQUAL(cs_fs_pread(s, buf, BLK, 0), BLK);
	CU_ASSERT_EQUAL(buf[0], 'x');
	CU_ASSERT_EQUAL(cs_fs_fdatasync(s), 0);
	CU_ASSERT_EQUAL(on_disk("s", 0), 'x');
	close(s);
}

/*
 * Runs the named step in a fresh process (this program, re-executed: its
 * own disk model) that then exits: the power cut.  Its exit status.
 */
static int in_child(const char *step, bool subset)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		if (subset)
			setenv("SHOAL_CRASH_SIM_SUBSET", "1", 1);
		else
			unsetenv("SHOAL_CRASH_SIM_SUBSET");
		execl("/proc/self/exe", "test_crash_sim", "child", step, dir, (char *)NULL);
		_exit(98);
	}
	CU_ASSERT_FATAL(pid > 0);
	CU_ASSERT_FATAL(waitpid(pid, &st, 0) == pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 99;
}

static char tree[500];

/* A replica created as chunk_file.c does, with or without the directory fsync. */
static int create_then_cut(bool dir_sync)
{
	char err[256], tmp[700], fin[700];
	int fd;

	if (cs_fs_attach(tree, err, sizeof(err)))
		return 1;
	snprintf(tmp, sizeof(tmp), "%s/x.tmp", tree);
	snprintf(fin, sizeof(fin), "%s/x", tree);
	fd = cs_fs_open(tmp, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || cs_fs_ftruncate(fd, BLK) || cs_fs_pwrite(fd, "hdr", 3, 0) != 3 || cs_fs_fdatasync(fd))
		return 2;
	close(fd);
	if (cs_fs_rename(tmp, fin))
		return 3;
	if (dir_sync) {
		fd = open(tree, O_RDONLY | O_DIRECTORY);
		if (fd < 0 || cs_fs_fsync(fd))
			return 4;
		close(fd);
	}
	return 0;
}

static int cut_without_dir_sync(void) { return create_then_cut(false); }
static int cut_with_dir_sync(void) { return create_then_cut(true); }

static int settle(void)
{
	char err[256];

	return cs_fs_attach(tree, err, sizeof(err)) ? 1 : 0;
}

static bool exists(const char *name)
{
	char p[700];

	snprintf(p, sizeof(p), "%s/%s", tree, name);
	return access(p, F_OK) == 0;
}

/* A new file's name is durable only with its directory's fsync; its bytes only with its own. */
static void test_cut_names(void)
{
	CU_ASSERT_FATAL(mkdir(tree, 0700) == 0);
	CU_ASSERT_EQUAL(in_child("cut_without_dir_sync", false), 0);
	CU_ASSERT(exists("x"));				/* the page cache's view, until the next start */
	CU_ASSERT_EQUAL(in_child("settle", false), 0);
	CU_ASSERT(!exists("x"));
	CU_ASSERT(!exists("x.tmp"));
	CU_ASSERT_EQUAL(in_child("cut_with_dir_sync", false), 0);
	CU_ASSERT_EQUAL(in_child("settle", false), 0);
	CU_ASSERT(exists("x"));
	CU_ASSERT_EQUAL(on_disk("tree/x", 0), 'h');
}

/* A replica created as the chunkserver creates it (CS_SET_VERSION create), then the cut. */
static int create_chunk(void)
{
	struct cs_store_env env = { .aio = aio };
	struct cs_chunk *ch;
	char err[256];

	if (cs_fs_attach(tree, err, sizeof(err)))
		return 1;
	return cs_chunk_create(&env, tree, 7, 1u << 20, 3, 3, &ch) == SL_OK ? 0 : 2;
}

/* The next start opens it: 0 when it is there at version 3. */
static int open_chunk(void)
{
	struct cs_store_env env = { .aio = aio };
	struct cs_chunk *ch;
	char err[256];
	int r;

	if (cs_fs_attach(tree, err, sizeof(err)))
		return 1;
	r = cs_chunk_open(&env, tree, 7, &ch);
	return r == SL_OK ? (ch->version == 3 ? 0 : 3) : 10 + r;
}

/* A created replica is acknowledged: its files, header and names survive a cut right after. */
static void test_cut_create(void)
{
	char p[600];

	snprintf(p, sizeof(p), "%s/chunks", tree);
	CU_ASSERT_FATAL(mkdir(p, 0700) == 0);
	CU_ASSERT_EQUAL(in_child("create_chunk", false), 0);
	CU_ASSERT_EQUAL(in_child("open_chunk", false), 0);
}

#define NWRITES 64

/* Unflushed overwrites of n blocks, each its own pattern; then the cut. */
static int unflushed_writes(void)
{
	int fd, i;
	char p[600];

	snprintf(p, sizeof(p), "%s/u", dir);
	fd = open(p, O_RDWR | O_DIRECT);
	for (i = 0; i < NWRITES; i++)
		if (fd < 0 || t_write(fd, (char)('A' + i % 26), (off_t)i * BLK, 0) != BLK)
			return 1;
	return 0;
}

/* Each sector of the file: 'o' (old), 'n' (a write's), or 'x' (mixed within the sector). */
static void sectors(int *old, int *new, int *mixed)
{
	char p[600], b[512];
	int fd, i, s, k;

	*old = *new = *mixed = 0;
	snprintf(p, sizeof(p), "%s/u", dir);
	fd = open(p, O_RDONLY);
	for (i = 0; i < NWRITES; i++)
		for (s = 0; s < BLK / 512; s++) {
			CU_ASSERT(pread(fd, b, 512, (off_t)i * BLK + s * 512) == 512);
			for (k = 1; k < 512 && b[k] == b[0]; k++)
				;
			if (k < 512 || (b[0] != 'u' && b[0] != 'A' + i % 26))
				(*mixed)++;
			else if (b[0] == 'u')
				(*old)++;
			else
				(*new)++;
		}
	close(fd);
}

/* Default: a cut keeps nothing unflushed.  Subset mode: some sectors, never a mixed one. */
static void test_cut_subset(void)
{
	int old, new, mixed, fd;

	fd = durable_file("u", 'u', NWRITES, false);
	close(fd);
	CU_ASSERT_EQUAL(in_child("unflushed_writes", false), 0);
	sectors(&old, &new, &mixed);
	CU_ASSERT_EQUAL(new, 0);
	CU_ASSERT_EQUAL(mixed, 0);
	CU_ASSERT_EQUAL(in_child("unflushed_writes", true), 0);
	sectors(&old, &new, &mixed);
	CU_ASSERT(old > 0);
	CU_ASSERT(new > 0);
	CU_ASSERT_EQUAL(mixed, 0);
}

/* A child's step (in_child): its own aio context and disk model; exits without syncing. */
static int child(const char *step)
{
	static const struct {
		const char *name;
		int (*fn)(void);
	} steps[] = {
		{ "cut_without_dir_sync", cut_without_dir_sync },
		{ "cut_with_dir_sync", cut_with_dir_sync },
		{ "settle", settle },
		{ "unflushed_writes", unflushed_writes },
		{ "create_chunk", create_chunk },
		{ "open_chunk", open_chunk },
	};
	unsigned int i;

	aio = cs_aio_new(64);
	if (!aio)
		return 97;
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
		if (!strcmp(step, steps[i].name))
			return steps[i].fn();
	return 96;
}

int main(int argc, char **argv)
{
	static const struct sl_cunit_test tests[] = {
		{ "device_flush", test_device_flush },
		{ "punch_order", test_punch_order },
		{ "sync_calls", test_sync_calls },
		{ "cut_names", test_cut_names },
		{ "cut_subset", test_cut_subset },
		{ "cut_create", test_cut_create },
		{ NULL, NULL },
	};
	char cwd[256], p[600], cmd[1500];
	int rc;

	if (posix_memalign((void **)&buf, BLK, 2 * BLK))
		return 2;
	if (argc == 4 && !strcmp(argv[1], "child")) {
		snprintf(dir, sizeof(dir), "%s", argv[3]);
		snprintf(tree, sizeof(tree), "%s/tree", dir);
		_exit(child(argv[2]));	/* no clean stop: the cut */
	}
	unsetenv("SHOAL_CRASH_SIM_SUBSET");
	if (!getcwd(cwd, sizeof(cwd)))
		return 2;
	snprintf(dir, sizeof(dir), "%s/test-crash-sim-XXXXXX", cwd);
	if (!mkdtemp(dir))
		return 2;
	snprintf(tree, sizeof(tree), "%s/tree", dir);
	snprintf(p, sizeof(p), "%s/flush", dir);
	flush_fd = open(p, O_RDWR | O_CREAT, 0600);
	aio = cs_aio_new(64);
	if (flush_fd < 0 || !aio)
		return 2;
	rc = sl_cunit_run("crash_sim", tests);
	cs_aio_free(aio);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		rc = rc ? rc : 2;
	return rc;
}
