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
#include "crash_undo.h"

#define CU_MAGIC	0x55524353u	/* "SCRU" */
#define CU_SECTOR	512u
#define CU_MAX_TREES	8
#define CU_MAX_PRE	(64u << 20)	/* a pre-image larger than this is refused */

enum cu_type {
	CU_CREATE = 1,		/* path1 (new name) */
	CU_RENAME,		/* path1 -> path2, ino of path1; grave: the old path2 */
	CU_UNLINK,		/* path1, ino; grave: the file */
	CU_SIZE,		/* path1, ino, old_size -> len; grave: the cut tail */
	CU_DATA,		/* path1, ino, [off, off + len), old_size; pre-image follows */
	CU_END,			/* id: the DATA write completed; flags & CU_F_DSYNC: durable */
	CU_CANCEL,		/* id: the change was not made */
	CU_SYNCDIR,		/* path1: names in that directory are durable */
	CU_SYNCFILE,		/* dev, ino: size and completed writes durable */
	CU_SIZESYNC,		/* dev, ino: size durable */
};

#define CU_F_DSYNC	1

struct cu_rec {
	uint32_t magic;
	uint16_t type;
	uint16_t flags;
	uint32_t size;			/* the whole record */
	uint32_t sum;			/* FNV-1a of the record, this field 0 */
	uint64_t id;
	uint64_t dev, ino;
	uint64_t off, len;
	uint64_t old_size;
	uint32_t n1, n2, ng, nd;	/* path1, path2, grave, pre-image: bytes that follow */
};

/* A change not yet durable (at run time; at recovery, an index into the records). */
struct cu_pend {
	uint64_t id;
	int type;
	uint64_t dev, ino;
	char *dir;			/* name changes: the directory whose fsync makes it durable */
	char *grave;			/* removed once durable */
	bool ended, dsync;		/* DATA */
	size_t rec;			/* recovery: index of the record */
};

struct cu_tree {
	char root[PATH_MAX];
	size_t rlen;
	char udir[PATH_MAX - 64];	/* room for a grave's name in a PATH_MAX buffer */
	int jfd;
	dev_t dev;
	uint64_t next_id;
	struct cu_pend *pend;
	size_t npend, cap;
	bool replay;			/* recovery: no journal, no graves touched */
};

static struct cu_tree *trees[CU_MAX_TREES];
static unsigned int ntrees;

static uint32_t fnv(const void *p, size_t n, uint32_t h)
{
	const uint8_t *b = p;

	while (n--)
		h = (h ^ *b++) * 16777619u;
	return h;
}

/* ---- paths ---- */

/* The directory of path (its text before the last '/'), in buf. */
static void parent_of(const char *path, char *buf, size_t len)
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

	parent_of(path, dir, sizeof(dir));
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
		h = fnv(iov[n].iov_base, iov[n].iov_len, h);
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

static struct cu_pend *pend_add(struct cu_tree *t, uint64_t id, int type, uint64_t dev, uint64_t ino,
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
static void pend_drop(struct cu_tree *t, size_t i)
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
static bool event(struct cu_tree *t, int type, uint64_t id, uint64_t dev, uint64_t ino,
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
			pend_drop(t, i);
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

	if (!event(t, type, id, dev, ino, dir, dsync, NULL, NULL))
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
			pend_drop(t, t->npend - 1);
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
		parent_of(type == CU_RENAME ? p2 : p1, dir, sizeof(dir));
	if (!pend_add(t, id, type, dev, ino,
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

/* ---- recovery: what the power cut left ---- */

struct cu_loaded {
	struct cu_rec r;
	char *p1, *p2, *grave;
	uint8_t *data;
};

/* Per file: sectors whose content is settled (by a later kept or durable write), and the size they need. */
struct cu_file {
	uint64_t dev, ino;
	uint8_t *decided;
	uint64_t nsec;
	uint64_t floor;
};

struct cu_recovery {
	struct cu_tree *t;
	struct cu_loaded *rec;
	size_t n;
	bool *durable, *kept, *voided;
	struct cu_file *files;
	size_t nfiles;
	size_t *renames;		/* kept renames met so far (later ones first) */
	size_t nrenames;
	uint64_t rnd;
	bool subset;
	struct cu_outcome *out;
};

static uint64_t rnd_next(struct cu_recovery *c)
{
	c->rnd ^= c->rnd << 13;
	c->rnd ^= c->rnd >> 7;
	c->rnd ^= c->rnd << 17;
	return c->rnd;
}

static int load(int jfd, struct cu_loaded **out, size_t *n)
{
	struct stat st;
	uint8_t *buf, *p, *end;
	size_t cap = 0;

	*out = NULL;
	*n = 0;
	if (fstat(jfd, &st))
		return -1;
	if (!st.st_size)
		return 0;
	buf = malloc((size_t)st.st_size);
	if (!buf || pread(jfd, buf, (size_t)st.st_size, 0) != st.st_size) {
		free(buf);
		return -1;
	}
	for (p = buf, end = buf + st.st_size; (size_t)(end - p) >= sizeof(struct cu_rec);) {
		struct cu_rec r;
		struct cu_loaded *l;
		uint32_t sum;
		uint8_t *q;

		memcpy(&r, p, sizeof(r));
		if (r.magic != CU_MAGIC || r.size < sizeof(r) || r.size > (size_t)(end - p) ||
		    (uint64_t)sizeof(r) + r.n1 + r.n2 + r.ng + r.nd != r.size)
			break;
		sum = r.sum;
		((struct cu_rec *)p)->sum = 0;
		if (fnv(p, r.size, 2166136261u) != sum)
			break;	/* cut by kill -9: the change it announced was never made */
		if (*n == cap) {
			size_t c2 = cap ? cap * 2 : 64;
			struct cu_loaded *nl = realloc(*out, c2 * sizeof(*nl));

			if (!nl)
				break;
			*out = nl;
			cap = c2;
		}
		l = &(*out)[(*n)++];
		l->r = r;
		q = p + sizeof(r);
		l->p1 = strndup((char *)q, r.n1);
		q += r.n1;
		l->p2 = strndup((char *)q, r.n2);
		q += r.n2;
		l->grave = strndup((char *)q, r.ng);
		q += r.ng;
		l->data = r.nd ? malloc(r.nd) : NULL;
		if (r.nd && l->data)
			memcpy(l->data, q, r.nd);
		p += r.size;
	}
	free(buf);
	return 0;
}

static struct cu_file *file_state(struct cu_recovery *c, uint64_t dev, uint64_t ino)
{
	struct cu_file *f;
	size_t i;

	for (i = 0; i < c->nfiles; i++)
		if (c->files[i].dev == dev && c->files[i].ino == ino)
			return &c->files[i];
	f = realloc(c->files, (c->nfiles + 1) * sizeof(*f));
	if (!f)
		return NULL;
	c->files = f;
	f = &c->files[c->nfiles++];
	memset(f, 0, sizeof(*f));
	f->dev = dev;
	f->ino = ino;
	return f;
}

static bool decided(const struct cu_file *f, uint64_t s)
{
	return s < f->nsec && (f->decided[s / 8] & (1u << (s % 8)));
}

static void decide(struct cu_file *f, uint64_t s)
{
	if (s >= f->nsec) {
		uint64_t n = (s + 1) * 2;
		uint8_t *d = realloc(f->decided, (size_t)((n + 7) / 8));

		if (!d)
			return;
		memset(d + (f->nsec + 7) / 8, 0, (size_t)((n + 7) / 8 - (f->nsec + 7) / 8));
		f->decided = d;
		f->nsec = n;
	}
	f->decided[s / 8] |= (uint8_t)(1u << (s % 8));
}

/* path as it is named now: through the renames kept after the record (oldest first). */
static void resolve(const struct cu_recovery *c, const char *path, char *out)
{
	size_t i;

	snprintf(out, PATH_MAX, "%s", path);
	for (i = c->nrenames; i-- > 0;) {
		const struct cu_loaded *l = &c->rec[c->renames[i]];

		if (!strcmp(out, l->p1))
			snprintf(out, PATH_MAX, "%s", l->p2);
	}
}

/* Finds the file (dev, ino) under dir, depth-limited; its path in out. */
static bool find_ino(const char *dir, uint64_t dev, uint64_t ino, char *out, int depth)
{
	struct dirent *de;
	struct stat st;
	bool found = false;
	DIR *d = opendir(dir);

	if (!d)
		return false;
	while (!found && (de = readdir(d))) {
		char p[PATH_MAX];

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (snprintf(p, sizeof(p), "%s/%s", dir, de->d_name) >= (int)sizeof(p) || lstat(p, &st))
			continue;
		if (S_ISREG(st.st_mode) && (uint64_t)st.st_dev == dev && (uint64_t)st.st_ino == ino) {
			snprintf(out, PATH_MAX, "%s", p);
			found = true;
		} else if (S_ISDIR(st.st_mode) && depth > 0) {
			found = find_ino(p, dev, ino, out, depth - 1);
		}
	}
	closedir(d);
	return found;
}

/* Opens the file a record names, checking it is the same inode; -1 if it is gone. */
static int open_rec_file(struct cu_recovery *c, const struct cu_loaded *l)
{
	char p[PATH_MAX];
	struct stat st;
	int fd;

	resolve(c, l->p1, p);
	if (lstat(p, &st) || (uint64_t)st.st_ino != l->r.ino || (uint64_t)st.st_dev != l->r.dev) {
		if (!find_ino(c->t->root, l->r.dev, l->r.ino, p, 3)) {
			c->out->lost_files++;
			return -1;
		}
	}
	fd = open(p, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		c->out->lost_files++;
	return fd;
}

static void truncate_to_need(int fd, const struct cu_file *f, uint64_t old_size)
{
	struct stat st;
	uint64_t need = old_size > f->floor ? old_size : f->floor;

	if (!fstat(fd, &st) && (uint64_t)st.st_size > need && ftruncate(fd, (off_t)need))
		return;
}

/* A write not durable: each sector kept or given back its pre-image (or zeros past the old end). */
static void undo_data(struct cu_recovery *c, const struct cu_loaded *l, bool durable)
{
	static const uint8_t zeros[CU_SECTOR];
	uint64_t off = l->r.off, end = l->r.off + l->r.len, s;
	struct cu_file *f = file_state(c, l->r.dev, l->r.ino);
	int fd = -1;

	if (!f)
		return;
	if (!durable)
		fd = open_rec_file(c, l);
	for (s = off / CU_SECTOR; s * CU_SECTOR < end; s++) {
		uint64_t a = s * CU_SECTOR > off ? s * CU_SECTOR : off;
		uint64_t b = (s + 1) * CU_SECTOR < end ? (s + 1) * CU_SECTOR : end;

		if (decided(f, s))
			continue;
		if (!durable) {
			c->out->sectors++;
			if (!c->subset || (rnd_next(c) & 1)) {
				/* the disk never got this sector of the write: its older content */
				if (fd >= 0 && a < l->r.old_size) {
					uint64_t pb = b < l->r.old_size ? b : l->r.old_size;

					if (pwrite(fd, l->data + (a - off), pb - a, (off_t)a) != (ssize_t)(pb - a))
						c->out->lost_files++;
				}
				if (fd >= 0 && b > l->r.old_size) {
					uint64_t za = a > l->r.old_size ? a : l->r.old_size;

					if (pwrite(fd, zeros, b - za, (off_t)za) != (ssize_t)(b - za))
						c->out->lost_files++;
				}
				continue;
			}
			c->out->sectors_kept++;
		}
		decide(f, s);
		if (b > f->floor)
			f->floor = b;
	}
	if (fd >= 0) {
		truncate_to_need(fd, f, l->r.old_size);
		close(fd);
	}
}

static void undo_size(struct cu_recovery *c, const struct cu_loaded *l, bool keep)
{
	struct cu_file *f = file_state(c, l->r.dev, l->r.ino);
	uint64_t s;
	int fd;

	if (!f)
		return;
	if (keep) {
		/* a kept shrink settles the tail it cut: older writes there are gone */
		for (s = l->r.len / CU_SECTOR; s * CU_SECTOR < l->r.old_size; s++)
			if (s * CU_SECTOR >= l->r.len)
				decide(f, s);
		if (l->r.len > f->floor)
			f->floor = l->r.len;
		return;
	}
	fd = open_rec_file(c, l);
	if (fd < 0)
		return;
	if (l->r.old_size > l->r.len) {
		/* a shrink taken back: the tail from the grave, where no later write settled it */
		int g = open(l->grave, O_RDONLY | O_CLOEXEC);

		if (ftruncate(fd, (off_t)l->r.old_size) == 0 && g >= 0) {
			uint8_t buf[CU_SECTOR];

			for (s = l->r.len / CU_SECTOR; s * CU_SECTOR < l->r.old_size; s++) {
				uint64_t a = s * CU_SECTOR > l->r.len ? s * CU_SECTOR : l->r.len;
				uint64_t b = (s + 1) * CU_SECTOR < l->r.old_size ? (s + 1) * CU_SECTOR : l->r.old_size;
				ssize_t n;

				if (decided(f, s))
					continue;
				n = pread(g, buf, b - a, (off_t)a);
				if (n > 0 && pwrite(fd, buf, (size_t)n, (off_t)a) != n)
					c->out->lost_files++;
			}
		}
		if (g >= 0)
			close(g);
	} else {
		truncate_to_need(fd, f, l->r.old_size);
	}
	close(fd);
}

/* Names: a change taken back. */
static void undo_name(struct cu_recovery *c, const struct cu_loaded *l)
{
	char p[PATH_MAX];
	struct stat st;

	switch (l->r.type) {
	case CU_CREATE:
		resolve(c, l->p1, p);
		unlink(p);
		break;
	case CU_RENAME:
		/* only if the rename happened: the new name holds the moved file */
		if (!lstat(l->p2, &st) && (uint64_t)st.st_ino == l->r.ino && rename(l->p2, l->p1) == 0 &&
		    *l->grave && rename(l->grave, l->p2))
			c->out->lost_files++;
		break;
	case CU_UNLINK:
		if (lstat(l->p1, &st) && rename(l->grave, l->p1))
			c->out->lost_files++;
		break;
	}
}

static void settle(struct cu_recovery *c)
{
	size_t i, m = 0, k, seen = 0;

	/* replay the durability events: what stays pending was not durable */
	for (i = 0; i < c->n; i++) {
		struct cu_loaded *l = &c->rec[i];
		char dir[PATH_MAX];
		struct cu_pend *p;
		size_t voided = SIZE_MAX;
		int ty = l->r.type;

		switch (ty) {
		case CU_CREATE:
		case CU_RENAME:
		case CU_UNLINK:
		case CU_SIZE:
		case CU_DATA:
			if (ty == CU_CREATE || ty == CU_UNLINK || ty == CU_RENAME)
				parent_of(ty == CU_RENAME ? l->p2 : l->p1, dir, sizeof(dir));
			p = pend_add(c->t, l->r.id, ty, l->r.dev, l->r.ino,
				     ty == CU_SIZE || ty == CU_DATA ? NULL : dir, NULL);
			if (p)
				p->rec = i;
			break;
		default:
			event(c->t, ty, l->r.id, l->r.dev, l->r.ino, l->p1, l->r.flags & CU_F_DSYNC,
			      c->durable, &voided);
			if (voided != SIZE_MAX)
				c->voided[voided] = true;
			break;
		}
	}
	/* subset mode: names and sizes keep a random prefix of what was not durable */
	for (k = 0; k < c->t->npend; k++)
		if (c->t->pend[k].type != CU_DATA)
			m++;
	c->out->meta = (unsigned int)m;
	m = c->subset ? rnd_next(c) % (m + 1) : 0;
	c->out->meta_kept = (unsigned int)m;
	for (k = 0; k < c->t->npend; k++) {
		if (c->t->pend[k].type == CU_DATA)
			continue;
		if (seen++ < m)
			c->kept[c->t->pend[k].rec] = true;
	}
	/* the changes not durable nor kept are taken back, newest first */
	for (i = c->n; i-- > 0;) {
		struct cu_loaded *l = &c->rec[i];
		bool keep = c->durable[i] || c->kept[i];

		if (c->voided[i])
			continue;
		switch (l->r.type) {
		case CU_CREATE:
		case CU_UNLINK:
			if (!keep)
				undo_name(c, l);
			break;
		case CU_RENAME:
			if (keep)
				c->renames[c->nrenames++] = i;
			else
				undo_name(c, l);
			break;
		case CU_SIZE:
			undo_size(c, l, keep);
			break;
		case CU_DATA:
			undo_data(c, l, c->durable[i]);
			break;
		}
	}
	while (c->t->npend)
		pend_drop(c->t, c->t->npend - 1);
}

/* Removes everything in the undo directory but the journal: graves are settled. */
static void clear_graves(const char *udir)
{
	struct dirent *de;
	DIR *d = opendir(udir);

	if (!d)
		return;
	while ((de = readdir(d))) {
		char p[PATH_MAX + 300];

		if (de->d_name[0] != 'g')
			continue;
		snprintf(p, sizeof(p), "%s/%s", udir, de->d_name);
		unlink(p);
	}
	closedir(d);
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
	struct cu_recovery c = { 0 };
	struct stat rs, us;
	struct cu_tree *t;
	char jpath[PATH_MAX + 32];
	size_t i;

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
	if (t->jfd < 0 || (out->replaced && ftruncate(t->jfd, 0)) || load(t->jfd, &c.rec, &c.n)) {
		snprintf(err, errlen, "crash-undo: %s: %s", jpath, strerror(errno));
		goto fail;
	}
	c.t = t;
	c.subset = subset;
	/* splitmix64: any seed, even a small counter, gives a well-mixed start */
	seed += 0x9e3779b97f4a7c15ull;
	seed = (seed ^ (seed >> 30)) * 0xbf58476d1ce4e5b9ull;
	seed = (seed ^ (seed >> 27)) * 0x94d049bb133111ebull;
	c.rnd = (seed ^ (seed >> 31)) | 1;
	c.out = out;
	c.durable = calloc(c.n + 1, sizeof(bool));
	c.kept = calloc(c.n + 1, sizeof(bool));
	c.voided = calloc(c.n + 1, sizeof(bool));
	c.renames = calloc(c.n + 1, sizeof(size_t));
	if (!c.durable || !c.kept || !c.voided || !c.renames) {
		snprintf(err, errlen, "crash-undo: out of memory");
		goto fail_rec;
	}
	t->replay = true;
	settle(&c);
	t->replay = false;
	clear_graves(t->udir);
	if (ftruncate(t->jfd, 0)) {
		snprintf(err, errlen, "crash-undo: %s: %s", jpath, strerror(errno));
		goto fail_rec;
	}
	for (i = 0; i < c.n; i++) {
		free(c.rec[i].p1);
		free(c.rec[i].p2);
		free(c.rec[i].grave);
		free(c.rec[i].data);
	}
	for (i = 0; i < c.nfiles; i++)
		free(c.files[i].decided);
	free(c.files);
	free(c.rec);
	free(c.durable);
	free(c.kept);
	free(c.voided);
	free(c.renames);
	trees[ntrees++] = t;
	return 0;

fail_rec:
	for (i = 0; i < c.n; i++) {
		free(c.rec[i].p1);
		free(c.rec[i].p2);
		free(c.rec[i].grave);
		free(c.rec[i].data);
	}
	free(c.rec);
	free(c.durable);
	free(c.kept);
	free(c.voided);
	free(c.renames);
fail:
	if (t->jfd >= 0)
		close(t->jfd);
	free(t->pend);
	free(t);
	return -1;
}
