/* The undo journal of a simulated power cut: the model is in crash_undo.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include "crash_undo_int.h"

static struct cu_tree *trees[CU_MAX_TREES];
static unsigned int ntrees;

/* ---- paths ---- */

/* The directory of path (its text before the last '/'), in buf. */
void cu_parent_of(const char *path, char *buf, size_t len)
{
	const char *s = strrchr(path, '/');

	if (!s)
		snprintf(buf, len, ".");
	else if (s == path)
		snprintf(buf, len, "/");
	else
		snprintf(buf, len, "%.*s", (int)(s - path), path);
}

/* Canonical absolute form of path (its directory resolved); -1 if its directory does not exist. */
static int canon(const char *path, char *out)
{
	char dir[PATH_MAX], rdir[PATH_MAX];
	const char *base = strrchr(path, '/');

	cu_parent_of(path, dir, sizeof(dir));
	if (!realpath(dir, rdir))
		return -1;
	base = base ? base + 1 : path;
	if (snprintf(out, PATH_MAX, "%s/%s", strcmp(rdir, "/") ? rdir : "", base) >= PATH_MAX)
		return -1;
	return 0;
}

static struct cu_tree *tree_of_canon(const char *cpath)
{
	unsigned int i;

	for (i = 0; i < ntrees; i++)
		if (!strncmp(cpath, trees[i]->root, trees[i]->rlen) && cpath[trees[i]->rlen] == '/')
			return trees[i];
	return NULL;
}

/* The tree holding path (canonical form in cpath), or NULL. */
static struct cu_tree *tree_of_path(const char *path, char *cpath)
{
	if (!ntrees || canon(path, cpath))
		return NULL;
	return tree_of_canon(cpath);
}

/* The tree holding fd's file (its path in cpath, dev/ino in st), or NULL. */
static struct cu_tree *tree_of_fd(int fd, char *cpath, struct stat *st)
{
	char p[64];
	ssize_t n;

	if (!ntrees)
		return NULL;
	snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
	n = readlink(p, cpath, PATH_MAX - 1);
	if (n <= 0)
		return NULL;
	cpath[n] = 0;
	if (fstat(fd, st))
		return NULL;
	return tree_of_canon(cpath);
}

/* ---- the journal ---- */

static int append(struct cu_tree *t, struct cu_rec *r, const char *p1, const char *p2,
		  const char *grave, const void *data)
{
	struct iovec iov[5];
	uint32_t h;
	ssize_t n;

	r->magic = CU_MAGIC;
	r->n1 = p1 ? (uint32_t)strlen(p1) : 0;
	r->n2 = p2 ? (uint32_t)strlen(p2) : 0;
	r->ng = grave ? (uint32_t)strlen(grave) : 0;
	r->size = (uint32_t)sizeof(*r) + r->n1 + r->n2 + r->ng + r->nd;
	r->sum = 0;
	iov[0] = (struct iovec){ r, sizeof(*r) };
	iov[1] = (struct iovec){ (void *)p1, r->n1 };
	iov[2] = (struct iovec){ (void *)p2, r->n2 };
	iov[3] = (struct iovec){ (void *)grave, r->ng };
	iov[4] = (struct iovec){ (void *)data, r->nd };
	h = 2166136261u;
	for (n = 0; n < 5; n++)
		h = cu_fnv(iov[n].iov_base, iov[n].iov_len, h);
	r->sum = h;
	/* O_APPEND, one writer: a record cut by kill -9 is the last one, and is skipped */
	n = writev(t->jfd, iov, 5);
	return n == (ssize_t)r->size ? 0 : -1;
}

static void grave_path(const struct cu_tree *t, uint64_t id, char *out)
{
	snprintf(out, PATH_MAX, "%s/g%llu", t->udir, (unsigned long long)id);
}

/* ---- changes not yet durable ---- */

struct cu_pend *cu_pend_add(struct cu_tree *t, uint64_t id, int type, uint64_t dev, uint64_t ino,
				const char *dir, const char *grave)
{
	struct cu_pend *p;

	if (t->npend == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		struct cu_pend *n = realloc(t->pend, cap * sizeof(*n));

		if (!n)
			return NULL;
		t->pend = n;
		t->cap = cap;
	}
	p = &t->pend[t->npend++];
	memset(p, 0, sizeof(*p));
	p->id = id;
	p->type = type;
	p->dev = dev;
	p->ino = ino;
	p->dir = dir ? strdup(dir) : NULL;
	p->grave = grave && *grave ? strdup(grave) : NULL;
	return p;
}

/* p is durable (or void): forget it, and its grave. */
void cu_pend_drop(struct cu_tree *t, size_t i)
{
	struct cu_pend *p = &t->pend[i];

	if (p->grave && !t->replay)
		unlink(p->grave);
	free(p->dir);
	free(p->grave);
	memmove(p, p + 1, (t->npend - i - 1) * sizeof(*p));
	t->npend--;
}

/*
 * Applies a durability event to the pending changes: what it makes durable
 * is dropped.  The same code settles the journal at recovery (t->replay),
 * so the run and the recovery cannot disagree on what was durable.
 * Returns whether it changed anything.
 */
bool cu_event(struct cu_tree *t, int type, uint64_t id, uint64_t dev, uint64_t ino,
		  const char *dir, bool dsync, bool *durable_out, size_t *rec_out)
{
	bool changed = false;
	size_t i = 0;

	while (i < t->npend) {
		struct cu_pend *p = &t->pend[i];
		bool drop = false;

		switch (type) {
		case CU_END:
			if (p->type == CU_DATA && p->id == id) {
				p->ended = true;
				p->dsync = dsync;
				changed = true;
				drop = dsync;
			}
			break;
		case CU_CANCEL:
			drop = p->id == id;
			break;
		case CU_SYNCDIR:
			drop = p->dir && !strcmp(p->dir, dir);
			break;
		case CU_SYNCFILE:
			drop = p->dev == dev && p->ino == ino &&
			       (p->type == CU_SIZE || (p->type == CU_DATA && p->ended));
			break;
		case CU_SIZESYNC:
			drop = p->type == CU_SIZE && p->dev == dev && p->ino == ino;
			break;
		}
		if (drop) {
			if (durable_out)
				durable_out[p->rec] = type != CU_CANCEL;
			if (rec_out && type == CU_CANCEL)
				*rec_out = p->rec;
			cu_pend_drop(t, i);
			changed = true;
		} else {
			i++;
		}
	}
	return changed;
}

/* Journals a durability event at run time; an empty journal is truncated instead. */
static void note_event(struct cu_tree *t, int type, uint64_t id, uint64_t dev, uint64_t ino,
		       const char *dir, bool dsync)
{
	struct cu_rec r = { 0 };

	if (!cu_event(t, type, id, dev, ino, dir, dsync, NULL, NULL))
		return;
	if (!t->npend) {
		/* nothing left to take back: every record is moot */
		if (ftruncate(t->jfd, 0) == 0)
			return;
	}
	r.type = (uint16_t)type;
	r.flags = dsync ? CU_F_DSYNC : 0;
	r.id = id;
	r.dev = dev;
	r.ino = ino;
	append(t, &r, dir, NULL, NULL, NULL);
}

void cu_forget(void)
{
	while (ntrees) {
		struct cu_tree *t = trees[--ntrees];

		while (t->npend) {
			t->replay = true;	/* graves stay: the next open settles them */
			cu_pend_drop(t, t->npend - 1);
		}
		close(t->jfd);
		free(t->pend);
		free(t);
	}
}

unsigned int cu_pending(void)
{
	unsigned int i, n = 0;

	for (i = 0; i < ntrees; i++)
		n += (unsigned int)trees[i]->npend;
	return n;
}

/* Journals a change about to be made; returns its id (0: journal failed, errno set). */
static uint64_t record(struct cu_tree *t, int type, const char *p1, const char *p2, const char *grave,
		       uint64_t dev, uint64_t ino, uint64_t off, uint64_t len, uint64_t old_size,
		       const void *data, uint32_t nd)
{
	struct cu_rec r = { 0 };
	char dir[PATH_MAX];
	uint64_t id = ++t->next_id;

	r.type = (uint16_t)type;
	r.id = id;
	r.dev = dev;
	r.ino = ino;
	r.off = off;
	r.len = len;
	r.old_size = old_size;
	r.nd = nd;
	if (append(t, &r, p1, p2, grave, data))
		return 0;
	if (type == CU_CREATE || type == CU_UNLINK || type == CU_RENAME)
		cu_parent_of(type == CU_RENAME ? p2 : p1, dir, sizeof(dir));
	if (!cu_pend_add(t, id, type, dev, ino,
		      type == CU_CREATE || type == CU_UNLINK || type == CU_RENAME ? dir : NULL, grave))
		return 0;
	return id;
}

/* The call r of the change id failed (r < 0): the change was not made; errno kept. */
static int made(struct cu_tree *t, uint64_t id, int r)
{
	int e = errno;

	if (r < 0) {
		note_event(t, CU_CANCEL, id, 0, 0, NULL, false);
		errno = e;
	}
	return r;
}

/* Copies [off, end) of src into dst at the same offsets, holes left holes. */
static int copy_range(int src, int dst, uint64_t off, uint64_t end)
{
	static char buf[65536];
	off_t d, h;

	while (off < end) {
		d = lseek(src, (off_t)off, SEEK_DATA);
		if (d < 0 || (uint64_t)d >= end)
			return 0;
		h = lseek(src, d, SEEK_HOLE);
		if (h < 0 || (uint64_t)h > end)
			h = (off_t)end;
		for (off = (uint64_t)d; off < (uint64_t)h;) {
			size_t n = (uint64_t)h - off < sizeof(buf) ? (size_t)((uint64_t)h - off) : sizeof(buf);
			ssize_t r = pread(src, buf, n, (off_t)off);

			if (r <= 0 || pwrite(dst, buf, (size_t)r, (off_t)off) != r)
				return -1;
			off += (uint64_t)r;
		}
	}
	return 0;
}

/*
 * Journals a size change of the file at cpath (st) to new_size; a shrink
 * keeps the tail it cuts in a grave.  Returns the id, 0 on failure.
 */
static uint64_t record_size(struct cu_tree *t, const char *cpath, const struct stat *st, uint64_t new_size)
{
	char grave[PATH_MAX] = "";
	uint64_t id = t->next_id + 1;

	if ((uint64_t)st->st_size > new_size) {
		int src, dst;

		grave_path(t, id, grave);
		src = open(cpath, O_RDONLY | O_CLOEXEC);
		dst = open(grave, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (src < 0 || dst < 0 || copy_range(src, dst, new_size, (uint64_t)st->st_size)) {
			if (src >= 0)
				close(src);
			if (dst >= 0)
				close(dst);
			unlink(grave);
			errno = EIO;
			return 0;
		}
		close(src);
		close(dst);
	}
	return record(t, CU_SIZE, cpath, NULL, grave, (uint64_t)st->st_dev, (uint64_t)st->st_ino, 0,
		      new_size, (uint64_t)st->st_size, NULL, 0);
}

/* ---- the calls ---- */

int cu_open(const char *path, int flags, mode_t mode)
{
	char cpath[PATH_MAX];
	struct cu_tree *t;
	uint64_t id = 0;
	struct stat st;

	if (!(flags & (O_CREAT | O_TRUNC)) || !(t = tree_of_path(path, cpath)))
		return open(path, flags, mode);
	if (lstat(cpath, &st)) {
		if (errno != ENOENT || !(flags & O_CREAT))
			return open(path, flags, mode);
		id = record(t, CU_CREATE, cpath, NULL, NULL, 0, 0, 0, 0, 0, NULL, 0);
	} else if ((flags & O_TRUNC) && !(flags & O_EXCL) && S_ISREG(st.st_mode) && st.st_size > 0 &&
		   (flags & O_ACCMODE) != O_RDONLY) {
		id = record_size(t, cpath, &st, 0);
	} else {
		return open(path, flags, mode);
	}
	if (!id)
		return -1;
	return made(t, id, open(path, flags, mode));
}

/*
 * Journals a name change of the file st; the file it removes from the
 * namespace (victim, if any) lives on in a grave until the change is
 * durable.  Returns the id, 0 on failure.
 */
static uint64_t record_name(struct cu_tree *t, int type, const char *p1, const char *p2, const char *victim,
			    const struct stat *st)
{
	char grave[PATH_MAX] = "";

	if (victim) {
		grave_path(t, t->next_id + 1, grave);
		if (link(victim, grave))
			return 0;
	}
	return record(t, type, p1, p2, grave, (uint64_t)st->st_dev, (uint64_t)st->st_ino, 0, 0, 0, NULL, 0);
}

int cu_rename(const char *from, const char *to)
{
	char cfrom[PATH_MAX], cto[PATH_MAX];
	struct stat sf, st;
	struct cu_tree *t;
	uint64_t id;

	if (!(t = tree_of_path(to, cto)) || canon(from, cfrom) || lstat(cfrom, &sf))
		return rename(from, to);
	id = record_name(t, CU_RENAME, cfrom, cto, lstat(cto, &st) ? NULL : cto, &sf);
	return id ? made(t, id, rename(from, to)) : -1;
}

int cu_unlink(const char *path)
{
	char cpath[PATH_MAX];
	struct cu_tree *t;
	struct stat st;
	uint64_t id;

	if (!(t = tree_of_path(path, cpath)) || lstat(cpath, &st))
		return unlink(path);
	id = record_name(t, CU_UNLINK, cpath, NULL, cpath, &st);
	return id ? made(t, id, unlink(path)) : -1;
}

int cu_ftruncate(int fd, off_t size)
{
	char cpath[PATH_MAX];
	struct cu_tree *t;
	struct stat st;
	uint64_t id;


	if (size < 0 || !(t = tree_of_fd(fd, cpath, &st)) || !S_ISREG(st.st_mode) || st.st_size == size)
		return ftruncate(fd, size);
	id = record_size(t, cpath, &st, (uint64_t)size);
	if (!id)
		return -1;
	return made(t, id, ftruncate(fd, size));
}

int cu_fallocate(int fd, int mode, off_t off, off_t len)
{
	char cpath[PATH_MAX];
	struct cu_tree *t;
	struct stat st;
	uint64_t id = 0;
	int r;

	if (off < 0 || len <= 0 || !(t = tree_of_fd(fd, cpath, &st)) || !S_ISREG(st.st_mode))
		return fallocate(fd, mode, off, len);
	if (mode & FALLOC_FL_PUNCH_HOLE) {
		/* zeros written over the range: a write as far as the journal goes */
		id = cu_write_begin(fd, off, (size_t)len);
		r = fallocate(fd, mode, off, len);
		cu_write_end(id, false);
		return r;
	}
	if (!(mode & FALLOC_FL_KEEP_SIZE) && (uint64_t)(off + len) > (uint64_t)st.st_size) {
		id = record_size(t, cpath, &st, (uint64_t)(off + len));
		if (!id)
			return -1;
	}
	r = fallocate(fd, mode, off, len);
	return id ? made(t, id, r) : r;
}

uint64_t cu_write_begin(int fd, off_t off, size_t len)
{
	char cpath[PATH_MAX], p[64];
	struct cu_tree *t;
	uint8_t *pre = NULL;
	uint32_t nd = 0;
	struct stat st;
	uint64_t id;

	if (off < 0 || !len || !(t = tree_of_fd(fd, cpath, &st)) || !S_ISREG(st.st_mode))
		return 0;
	if ((uint64_t)off < (uint64_t)st.st_size) {
		uint64_t end = (uint64_t)off + len < (uint64_t)st.st_size ? (uint64_t)off + len :
									    (uint64_t)st.st_size;
		int rfd;

		if (end - (uint64_t)off > CU_MAX_PRE)
			return 0;
		nd = (uint32_t)(end - (uint64_t)off);
		pre = malloc(nd);
		/* a descriptor of our own: fd may be O_DIRECT or write-only */
		snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
		rfd = open(p, O_RDONLY | O_CLOEXEC);
		if (!pre || rfd < 0 || pread(rfd, pre, nd, off) != (ssize_t)nd) {
			if (rfd >= 0)
				close(rfd);
			free(pre);
			return 0;
		}
		close(rfd);
	}
	id = record(t, CU_DATA, cpath, NULL, NULL, (uint64_t)st.st_dev, (uint64_t)st.st_ino, (uint64_t)off,
		    len, (uint64_t)st.st_size, pre, nd);
	free(pre);
	return id;
}

void cu_write_end(uint64_t id, bool durable)
{
	unsigned int i;
	size_t k;

	if (!id)
		return;
	for (i = 0; i < ntrees; i++)
		for (k = 0; k < trees[i]->npend; k++)
			if (trees[i]->pend[k].id == id && trees[i]->pend[k].type == CU_DATA) {
				note_event(trees[i], CU_END, id, 0, 0, NULL, durable);
				return;
			}
}

void cu_synced(int fd)
{
	char cpath[PATH_MAX];
	struct cu_tree *t;
	struct stat st;

	if (!cu_pending())
		return;
	t = tree_of_fd(fd, cpath, &st);
	if (!t && S_ISDIR(st.st_mode)) {
		/* the root itself is a directory of the tree too */
		unsigned int i;

		for (i = 0; i < ntrees; i++)
			if (!strcmp(cpath, trees[i]->root))
				t = trees[i];
	}
	if (!t)
		return;
	if (S_ISDIR(st.st_mode))
		note_event(t, CU_SYNCDIR, 0, 0, 0, cpath, false);
	else
		note_event(t, CU_SYNCFILE, 0, (uint64_t)st.st_dev, (uint64_t)st.st_ino, NULL, false);
}

void cu_dsync_written(int fd)
{
	char cpath[PATH_MAX];
	struct cu_tree *t;
	struct stat st;

	if (cu_pending() && (t = tree_of_fd(fd, cpath, &st)))
		note_event(t, CU_SIZESYNC, 0, (uint64_t)st.st_dev, (uint64_t)st.st_ino, NULL, false);
}

/*
 * Whether the journal in udir was kept for the directory root (udir/root
 * names its device, inode and inode generation), recording root there for
 * the next start.  A directory removed and made again under the same name
 * is another one, even where it gets the same inode number back (ext4
 * hands a freed inode out again at once; its generation changes).
 */
static bool same_root(const char *udir, const char *root, const struct stat *rs)
{
	char p[PATH_MAX + 16], want[96], got[96] = "";
	ssize_t n = 0;
	int fd, gen = 0;

	fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		if (ioctl(fd, FS_IOC_GETVERSION, &gen))
			gen = 0;	/* no generation here: the inode alone */
		close(fd);
	}
	snprintf(p, sizeof(p), "%s/root", udir);
	snprintf(want, sizeof(want), "%llu %llu %u\n", (unsigned long long)rs->st_dev,
		 (unsigned long long)rs->st_ino, (unsigned int)gen);
	fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return true;
	n = pread(fd, got, sizeof(got) - 1, 0);
	got[n > 0 ? n : 0] = 0;
	if (ftruncate(fd, 0) || pwrite(fd, want, strlen(want), 0) != (ssize_t)strlen(want))
		n = 0;
	close(fd);
	return n <= 0 || !strcmp(got, want);	/* no record: the journal's first use */
}

int cu_tree_open(const char *root, bool subset, uint64_t seed, struct cu_outcome *out,
		 char *err, size_t errlen)
{
	struct stat rs, us;
	struct cu_tree *t;
	char jpath[PATH_MAX + 32];

	memset(out, 0, sizeof(*out));
	if (ntrees == CU_MAX_TREES) {
		snprintf(err, errlen, "crash-undo: more than %d trees", CU_MAX_TREES);
		return -1;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return -1;
	t->jfd = -1;
	if (!realpath(root, t->root) || stat(t->root, &rs)) {
		snprintf(err, errlen, "crash-undo: %s: %s", root, strerror(errno));
		goto fail;
	}
	t->rlen = strlen(t->root);
	if (snprintf(t->udir, sizeof(t->udir), "%.*s.crash-undo", (int)sizeof(t->udir) - 16, t->root) >=
	    (int)sizeof(t->udir) - 16) {
		snprintf(err, errlen, "crash-undo: %s: path too long", root);
		goto fail;
	}
	if ((mkdir(t->udir, 0700) && errno != EEXIST) || stat(t->udir, &us)) {
		snprintf(err, errlen, "crash-undo: cannot create %s: %s", t->udir, strerror(errno));
		goto fail;
	}
	if (us.st_dev != rs.st_dev) {
		/* graves are hard links: they must share the root's filesystem */
		snprintf(err, errlen, "crash-undo: %s is not on the filesystem of %s (a mount point?)",
			 t->udir, t->root);
		goto fail;
	}
	t->dev = rs.st_dev;
	snprintf(jpath, sizeof(jpath), "%s/journal", t->udir);
	t->jfd = open(jpath, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	out->replaced = !same_root(t->udir, t->root, &rs);
	if (t->jfd < 0 || (out->replaced && ftruncate(t->jfd, 0))) {
		snprintf(err, errlen, "crash-undo: %s: %s", jpath, strerror(errno));
		goto fail;
	}
	if (cu_recover(t, subset, seed, out, err, errlen))
		goto fail;
	trees[ntrees++] = t;
	return 0;

fail:
	if (t->jfd >= 0)
		close(t->jfd);
	free(t->pend);
	free(t);
	return -1;
}
