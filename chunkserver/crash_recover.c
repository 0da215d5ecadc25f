/* Recovery after a simulated power cut: what the journal's changes left (crash_undo.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include "crash_undo_int.h"

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
		/* records follow each other unaligned: never through a struct pointer */
		memset(p + offsetof(struct cu_rec, sum), 0, sizeof(r.sum));
		if (cu_fnv(p, r.size, 2166136261u) != sum)
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
				cu_parent_of(ty == CU_RENAME ? l->p2 : l->p1, dir, sizeof(dir));
			p = cu_pend_add(c->t, l->r.id, ty, l->r.dev, l->r.ino,
				     ty == CU_SIZE || ty == CU_DATA ? NULL : dir, NULL);
			if (p)
				p->rec = i;
			break;
		default:
			cu_event(c->t, ty, l->r.id, l->r.dev, l->r.ino, l->p1, l->r.flags & CU_F_DSYNC,
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
		cu_pend_drop(c->t, c->t->npend - 1);
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

static void loaded_free(struct cu_recovery *c)
{
	size_t i;

	for (i = 0; i < c->n; i++) {
		free(c->rec[i].p1);
		free(c->rec[i].p2);
		free(c->rec[i].grave);
		free(c->rec[i].data);
	}
	for (i = 0; i < c->nfiles; i++)
		free(c->files[i].decided);
	free(c->files);
	free(c->rec);
	free(c->durable);
	free(c->kept);
	free(c->voided);
	free(c->renames);
}

int cu_recover(struct cu_tree *t, bool subset, uint64_t seed, struct cu_outcome *out,
	       char *err, size_t errlen)
{
	struct cu_recovery c = { 0 };
	int rc = -1;

	if (load(t->jfd, &c.rec, &c.n)) {
		snprintf(err, errlen, "crash-undo: %s/journal: %s", t->udir, strerror(errno));
		return -1;
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
		goto out;
	}
	t->replay = true;
	settle(&c);
	t->replay = false;
	clear_graves(t->udir);
	if (ftruncate(t->jfd, 0)) {
		snprintf(err, errlen, "crash-undo: %s/journal: %s", t->udir, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	loaded_free(&c);
	return rc;
}
