/*
 * The undo journal of the crash model (chunkserver/crash_undo.h), on real
 * files: what a simulated power cut (cu_forget: the process dies; then
 * cu_tree_open settles) keeps and takes back.  Every durability rule of the
 * header is checked both ways: the change survives with its sync, and is
 * gone without it.
 */
#include <CUnit/Basic.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "crash_undo.h"
#include "cunit_main.h"

static char base[256], root[512];
static uint64_t seed = 1;

static void path(char *out, const char *name)
{
	snprintf(out, PATH_MAX, "%s/%s", root, name);
}

static void start(bool subset)
{
	struct cu_outcome o;
	char err[256] = "";

	CU_ASSERT_EQUAL_FATAL(cu_tree_open(root, subset, seed++, &o, err, sizeof(err)), 0);
}

/* kill -9, then the next start: returns what it settled. */
static struct cu_outcome cut(bool subset)
{
	struct cu_outcome o;
	char err[256] = "";

	cu_forget();
	CU_ASSERT_EQUAL(cu_tree_open(root, subset, seed++, &o, err, sizeof(err)), 0);
	return o;
}

static void fresh(void)
{
	char cmd[PATH_MAX * 2 + 32];

	cu_forget();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s.crash-undo'", root, root);
	CU_ASSERT_EQUAL_FATAL(system(cmd), 0);
	CU_ASSERT_EQUAL_FATAL(mkdir(root, 0700), 0);
}

/* Writes a whole file through the journal (create, write, sync file and root). */
static void durable_file(const char *name, const char *content)
{
	char p[PATH_MAX];
	int fd, dfd;
	uint64_t id;

	path(p, name);
	fd = cu_open(p, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CU_ASSERT_FATAL(fd >= 0);
	if (*content) {
		id = cu_write_begin(fd, 0, strlen(content));
		CU_ASSERT(id != 0);
		CU_ASSERT_EQUAL(pwrite(fd, content, strlen(content), 0), (ssize_t)strlen(content));
		cu_write_end(id, false);
	}
	CU_ASSERT_EQUAL(fsync(fd), 0);
	cu_synced(fd);
	close(fd);
	dfd = open(root, O_RDONLY | O_DIRECTORY);
	CU_ASSERT_EQUAL(fsync(dfd), 0);
	cu_synced(dfd);
	close(dfd);
}

static void sync_root(void)
{
	int dfd = open(root, O_RDONLY | O_DIRECTORY);

	CU_ASSERT_EQUAL(fsync(dfd), 0);
	cu_synced(dfd);
	close(dfd);
}

/* The file's content ("" if it is empty), or NULL if it does not exist. */
static const char *content(const char *name)
{
	static char buf[4096];
	char p[PATH_MAX];
	ssize_t n;
	int fd;

	path(p, name);
	fd = open(p, O_RDONLY);
	if (fd < 0)
		return NULL;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	return buf;
}

static off_t size_of(const char *name)
{
	char p[PATH_MAX];
	struct stat st;

	path(p, name);
	return stat(p, &st) ? -1 : st.st_size;
}

static bool has(const char *name, const char *want)
{
	const char *c = content(name);

	return c && !strcmp(c, want);
}

/* Names and sizes without a sync are taken back; with one they stay. */
static void test_names(void)
{
	char a[PATH_MAX], b[PATH_MAX], d[PATH_MAX], e[PATH_MAX];
	struct cu_outcome o;
	int fd;

	fresh();
	start(false);
	durable_file("a", "aaaa");
	durable_file("d", "dddd");
	CU_ASSERT_EQUAL(cu_pending(), 0);
	path(a, "a");
	path(b, "b");
	path(d, "d");
	path(e, "e");
	fd = cu_open(b, O_RDWR | O_CREAT, 0600);	/* a new name */
	CU_ASSERT(fd >= 0);
	close(fd);
	CU_ASSERT_EQUAL(cu_rename(a, e), 0);
	CU_ASSERT_EQUAL(cu_unlink(d), 0);
	fd = open(e, O_RDWR);
	CU_ASSERT_EQUAL(cu_ftruncate(fd, 1 << 20), 0);	/* a size */
	close(fd);
	CU_ASSERT_EQUAL(cu_pending(), 4);
	o = cut(false);
	CU_ASSERT_EQUAL(o.meta, 4);
	CU_ASSERT_EQUAL(o.meta_kept, 0);
	CU_ASSERT(has("a", "aaaa"));
	CU_ASSERT_EQUAL(size_of("a"), 4);
	CU_ASSERT(has("d", "dddd"));
	CU_ASSERT_PTR_NULL(content("b"));
	CU_ASSERT_PTR_NULL(content("e"));

	/* the same with the directory synced: the names stay, the size does not */
	fd = cu_open(b, O_RDWR | O_CREAT, 0600);
	close(fd);
	CU_ASSERT_EQUAL(cu_rename(a, e), 0);
	CU_ASSERT_EQUAL(cu_unlink(d), 0);
	fd = open(e, O_RDWR);
	CU_ASSERT_EQUAL(cu_ftruncate(fd, 1 << 20), 0);
	close(fd);
	sync_root();
	CU_ASSERT_EQUAL(cu_pending(), 1);
	o = cut(false);
	CU_ASSERT_EQUAL(o.meta, 1);
	CU_ASSERT(has("b", ""));
	CU_ASSERT(has("e", "aaaa"));
	CU_ASSERT_EQUAL(size_of("e"), 4);
	CU_ASSERT_PTR_NULL(content("a"));
	CU_ASSERT_PTR_NULL(content("d"));

	/* a size with the file's own sync (or an O_DSYNC write) stays */
	fd = open(e, O_RDWR);
	CU_ASSERT_EQUAL(cu_ftruncate(fd, 8192), 0);
	CU_ASSERT_EQUAL(fdatasync(fd), 0);
	cu_synced(fd);
	CU_ASSERT_EQUAL(cu_ftruncate(fd, 16384), 0);
	cu_dsync_written(fd);
	close(fd);
	CU_ASSERT_EQUAL(cu_pending(), 0);
	cut(false);
	CU_ASSERT_EQUAL(size_of("e"), 16384);
	cu_forget();
}

/* A rename over a file, and O_TRUNC of one: the old file comes back unless durable. */
static void test_replace(void)
{
	char x[PATH_MAX], y[PATH_MAX];
	int fd;

	fresh();
	start(false);
	durable_file("x", "old x");
	durable_file("y", "new x");
	path(x, "x");
	path(y, "y");
	CU_ASSERT_EQUAL(cu_rename(y, x), 0);
	CU_ASSERT(has("x", "new x"));
	cut(false);
	CU_ASSERT(has("x", "old x"));
	CU_ASSERT(has("y", "new x"));

	fd = cu_open(x, O_RDWR | O_TRUNC, 0600);
	CU_ASSERT(fd >= 0);
	close(fd);
	CU_ASSERT_EQUAL(size_of("x"), 0);
	cut(false);
	CU_ASSERT(has("x", "old x"));

	CU_ASSERT_EQUAL(cu_rename(y, x), 0);
	sync_root();
	cut(false);
	CU_ASSERT(has("x", "new x"));
	CU_ASSERT_PTR_NULL(content("y"));
	cu_forget();
}

/* Bytes: back to the pre-image unless synced after completion or O_DSYNC; in flight never durable. */
static void test_bytes(void)
{
	char p[PATH_MAX];
	uint64_t id;
	int fd;

	fresh();
	start(false);
	durable_file("p", "0123456789");
	path(p, "p");
	fd = open(p, O_RDWR);
	id = cu_write_begin(fd, 2, 3);
	CU_ASSERT_EQUAL(pwrite(fd, "abc", 3, 2), 3);
	cu_write_end(id, false);
	id = cu_write_begin(fd, 8, 6);			/* in flight at the cut, extends the file */
	CU_ASSERT_EQUAL(pwrite(fd, "XYZXYZ", 6, 8), 6);
	close(fd);
	CU_ASSERT(has("p", "01abc567XYZXYZ"));
	CU_ASSERT_EQUAL(cut(false).sectors, 2);
	CU_ASSERT(has("p", "0123456789"));

	fd = open(p, O_RDWR);
	id = cu_write_begin(fd, 2, 3);
	CU_ASSERT_EQUAL(pwrite(fd, "abc", 3, 2), 3);
	cu_write_end(id, false);
	CU_ASSERT_EQUAL(fdatasync(fd), 0);
	cu_synced(fd);
	id = cu_write_begin(fd, 5, 1);			/* O_DSYNC: durable at its end */
	CU_ASSERT_EQUAL(pwrite(fd, "D", 1, 5), 1);
	cu_write_end(id, true);
	id = cu_write_begin(fd, 6, 1);			/* a sync before its end does not cover it */
	CU_ASSERT_EQUAL(pwrite(fd, "S", 1, 6), 1);
	CU_ASSERT_EQUAL(fdatasync(fd), 0);
	cu_synced(fd);
	cu_write_end(id, false);
	close(fd);
	cut(false);
	CU_ASSERT(has("p", "01abcD6789"));
	cu_forget();
}

/* Subset mode: durable changes always stay; each sector is old or new, and both happen. */
static void test_subset(void)
{
	char p[PATH_MAX], q[PATH_MAX], big[4096];
	int i, kept = 0, dropped = 0, names_kept = 0, names_dropped = 0, fd;

	memset(big, 'N', sizeof(big));
	fresh();
	start(true);
	durable_file("p", "");
	path(p, "p");
	path(q, "q");
	for (i = 0; i < 20; i++) {
		uint64_t id;
		char buf[4096];
		int s, k;

		fd = open(p, O_RDWR | O_TRUNC);
		memset(buf, 'O', sizeof(buf));
		CU_ASSERT_EQUAL(pwrite(fd, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
		CU_ASSERT_EQUAL(fsync(fd), 0);
		close(fd);
		cut(true);				/* untracked writes: the file is as written */
		fd = open(p, O_RDWR);
		id = cu_write_begin(fd, 0, sizeof(big));
		CU_ASSERT_EQUAL(pwrite(fd, big, sizeof(big), 0), (ssize_t)sizeof(big));
		cu_write_end(id, false);
		close(fd);
		fd = cu_open(q, O_RDWR | O_CREAT, 0600);
		close(fd);
		cut(true);
		fd = open(p, O_RDONLY);
		CU_ASSERT_EQUAL(pread(fd, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
		close(fd);
		for (s = 0; s < 8; s++) {
			char c = buf[s * 512];

			CU_ASSERT(c == 'O' || c == 'N');
			for (k = 1; k < 512; k++)
				CU_ASSERT_EQUAL(buf[s * 512 + k], c);	/* a sector is never mixed */
			if (c == 'N')
				kept++;
			else
				dropped++;
		}
		if (content("q"))
			names_kept++;
		else
			names_dropped++;
		cu_unlink(q);
		sync_root();
	}
	CU_ASSERT(kept > 0 && dropped > 0);
	CU_ASSERT(names_kept > 0 && names_dropped > 0);
	cu_forget();
}

/* A record cut short by kill -9 ends the journal; the changes before it are still settled. */
static void test_torn_journal(void)
{
	char b[PATH_MAX], j[PATH_MAX + 32];
	int fd;

	fresh();
	start(false);
	path(b, "b");
	fd = cu_open(b, O_RDWR | O_CREAT, 0600);
	close(fd);
	snprintf(j, sizeof(j), "%s.crash-undo/journal", root);
	fd = open(j, O_WRONLY | O_APPEND);
	CU_ASSERT_EQUAL(write(fd, "SCRU\1\0\0\0garbage", 15), 15);
	close(fd);
	CU_ASSERT_EQUAL(cut(false).meta, 1);
	CU_ASSERT_PTR_NULL(content("b"));
	cu_forget();
}

/* A root removed and made again (an emptied disk) is a new directory: nothing comes back into it. */
static void test_replaced_root(void)
{
	char d[PATH_MAX], cmd[PATH_MAX + 16];
	struct cu_outcome o;

	fresh();
	start(false);
	durable_file("d", "dddd");
	path(d, "d");
	CU_ASSERT_EQUAL(cu_unlink(d), 0);		/* not durable: would come back */
	cu_forget();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	CU_ASSERT_EQUAL_FATAL(system(cmd), 0);
	CU_ASSERT_EQUAL_FATAL(mkdir(root, 0700), 0);
	o = cut(false);
	CU_ASSERT(o.replaced);
	CU_ASSERT_EQUAL(o.meta, 0);
	CU_ASSERT_PTR_NULL(content("d"));
	o = cut(false);
	CU_ASSERT(!o.replaced);
	cu_forget();
}

int main(void)
{
	static const struct sl_cunit_test tests[] = {
		{ "names", test_names },
		{ "replace", test_replace },
		{ "bytes", test_bytes },
		{ "subset", test_subset },
		{ "torn_journal", test_torn_journal },
		{ "replaced_root", test_replaced_root },
		{ NULL, NULL },
	};
	char cmd[PATH_MAX + 16];
	int rc;

	snprintf(base, sizeof(base), "%s/test_crash_undo.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(base))
		return 2;
	snprintf(root, sizeof(root), "%s/root", base);
	rc = sl_cunit_run("crash_undo", tests);
	cu_forget();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	if (system(cmd))
		rc = rc ? rc : 2;
	return rc;
}
