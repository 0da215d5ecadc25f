#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include "disk.h"
#include "log.h"
#include "status.h"

static int flush_init(struct cs_disks *ds, struct cs_disk *d);

/* The block device's in-flight counters (a partition has its own); -1: none (tmpfs, ...). */
static int open_inflight(const char *path)
{
	char p[128];
	struct stat st;

	if (stat(path, &st))
		return -1;
	snprintf(p, sizeof(p), "/sys/dev/block/%u:%u/inflight", major(st.st_dev), minor(st.st_dev));
	return open(p, O_RDONLY | O_CLOEXEC);
}

bool cs_disks_device_busy(const struct cs_disks *ds)
{
	unsigned long rd, wr;
	char buf[64];
	ssize_t n;
	int i;

	for (i = 0; i < ds->n; i++) {
		if (ds->d[i].inflight_fd < 0)
			continue;
		n = pread(ds->d[i].inflight_fd, buf, sizeof(buf) - 1, 0);
		if (n <= 0)
			continue;
		buf[n] = 0;
		if (sscanf(buf, "%lu %lu", &rd, &wr) == 2 && rd + wr > 0)
			return true;
	}
	return false;
}

#define ID_FILE "shoal-cs.id"

static unsigned int hslot(uint64_t id)
{
	return (unsigned int)((id * 0x9e3779b97f4a7c15ull) >> 52) & (CS_HASH_SIZE - 1);
}

static void hash_add(struct cs_disks *ds, struct cs_chunk *ch)
{
	unsigned int h = hslot(ch->id);

	ch->hnext = ds->hash[h];
	ds->hash[h] = ch;
	ds->nchunks++;
}

static void hash_del(struct cs_disks *ds, struct cs_chunk *ch)
{
	struct cs_chunk **pp = &ds->hash[hslot(ch->id)];

	for (; *pp; pp = &(*pp)->hnext) {
		if (*pp == ch) {
			*pp = ch->hnext;
			ds->nchunks--;
			return;
		}
	}
}

struct cs_chunk *cs_disks_find(struct cs_disks *ds, uint64_t id)
{
	struct cs_chunk *ch = ds->hash[hslot(id)];

	while (ch && ch->id != id)
		ch = ch->hnext;
	return ch;
}

/*
 * Reads "cs_id=N uuid=U disk=D" from a directory's id file: 0 if it has
 * none, 1 if it has one (disk uuid "" in a file from before disk identities).
 */
static int read_id(const char *dir, uint64_t *id, char *uuid, size_t ulen, char *disk, size_t dlen)
{
	char p[4096], u[64] = "", dk[64] = "";
	unsigned long long v = 0;
	FILE *f;
	int n;

	snprintf(p, sizeof(p), "%s/" ID_FILE, dir);
	f = fopen(p, "r");
	if (!f)
		return errno == ENOENT ? 0 : -errno;
	n = fscanf(f, "cs_id=%llu uuid=%63s disk=%63s", &v, u, dk);
	fclose(f);
	if (n != 2 && n != 3)
		return -EINVAL;
	*id = v;
	snprintf(uuid, ulen, "%s", u);
	snprintf(disk, dlen, "%s", dk);
	return 1;
}

/* Whether a directory's chunks/ holds any replica file. */
static bool has_replicas(const char *chunks)
{
	struct dirent *de;
	bool found = false;
	DIR *dir = opendir(chunks);

	if (!dir)
		return false;
	while (!found && (de = readdir(dir))) {
		const char *dot = strchr(de->d_name, '.');

		found = dot && (!strcmp(dot, ".meta") || !strcmp(dot, ".data"));
	}
	closedir(dir);
	return found;
}

static int write_id(const char *dir, uint64_t id, const char *uuid, const char *disk)
{
	char p[4096], t[4200];
	FILE *f;
	int fd, r = 0;

	snprintf(p, sizeof(p), "%s/" ID_FILE, dir);
	snprintf(t, sizeof(t), "%s.tmp", p);
	f = fopen(t, "w");
	if (!f)
		return -errno;
	fprintf(f, "cs_id=%" PRIu64 " uuid=%s disk=%s\n", id, uuid, disk);
	if (fflush(f) || fsync(fileno(f)))
		r = -errno;
	fclose(f);
	if (!r && rename(t, p))
		r = -errno;
	fd = open(dir, O_RDONLY | O_DIRECTORY);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	return r;
}

static void gen_uuid(char *out, size_t len)
{
	unsigned char b[16];
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC), i;
	size_t o = 0;

	if (fd < 0 || read(fd, b, sizeof(b)) != sizeof(b))
		for (i = 0; i < 16; i++)
			b[i] = (unsigned char)(rand() ^ getpid());
	if (fd >= 0)
		close(fd);
	for (i = 0; i < 16 && o + 3 < len; i++)
		o += snprintf(out + o, len - o, "%02x", b[i]);
}

static int scan_disk(struct cs_disks *ds, struct cs_disk *d, char *err, size_t errlen)
{
	char p[4096];
	struct dirent *de;
	DIR *dir;

	snprintf(p, sizeof(p), "%s/chunks", d->path);
	dir = opendir(p);
	if (!dir) {
		snprintf(err, errlen, "data dir %s: cannot open chunks/: %s", d->path, strerror(errno));
		return -1;
	}
	while ((de = readdir(dir))) {
		unsigned long long id;
		struct cs_chunk *ch;
		char ext[16];
		int r;

		if (sscanf(de->d_name, "%16llx.%15s", &id, ext) != 2)
			continue;
		if (!strcmp(ext, "meta.tmp")) {
			/* a create that crashed before its rename: never acknowledged */
			snprintf(p, sizeof(p), "%s/chunks/%s", d->path, de->d_name);
			unlink(p);
			continue;
		}
		if (strcmp(ext, "meta"))
			continue;
		if (cs_disks_find(ds, id)) {
			sl_err("chunk %016llx is on two disks; keeping the first, ignoring %s", id, d->path);
			continue;
		}
		r = cs_chunk_open(ds->env, d->path, id, &ch);
		if (r) {
			sl_err("chunk %016llx on %s: cannot open: %s", id, d->path, sl_status_str(r));
			continue;
		}
		ch->disk = d;
		ch->disk_flush = d->flush.fd >= 0 ? &d->flush : NULL;
		ch->disk_index = d->index;
		list_add_tail(&ch->link, &d->chunks);
		d->nchunks++;
		hash_add(ds, ch);
	}
	closedir(dir);
	return 0;
}

int cs_disks_open(struct cs_disks *ds, const struct sl_str_list *dirs, struct cs_store_env *env,
		  char *err, size_t errlen)
{
	int i, r;

	memset(ds, 0, sizeof(*ds));
	ds->env = env;
	INIT_LIST_HEAD(&ds->graveyard);
	if (dirs->n < 1) {
		snprintf(err, errlen, "--data-dirs: at least one directory is needed");
		return -1;
	}
	ds->d = calloc(dirs->n, sizeof(*ds->d));
	if (!ds->d)
		return -1;
	ds->n = dirs->n;
	for (i = 0; i < ds->n; i++) {
		struct cs_disk *d = &ds->d[i];
		char p[4096], uuid[64] = "";
		uint64_t id = 0;

		d->index = i;
		d->path = strdup(dirs->v[i]);
		d->flush.fd = -1;
		d->inflight_fd = -1;
		INIT_LIST_HEAD(&d->chunks);
		snprintf(p, sizeof(p), "%s/chunks", d->path);
		if ((mkdir(d->path, 0700) && errno != EEXIST) || (mkdir(p, 0700) && errno != EEXIST) ||
		    flush_init(ds, d)) {
			snprintf(err, errlen, "--data-dirs: cannot create %s: %s", p, strerror(errno));
			return -1;
		}
		d->inflight_fd = open_inflight(p);
		r = read_id(d->path, &id, uuid, sizeof(uuid), d->uuid, sizeof(d->uuid));
		if (r < 0) {
			snprintf(err, errlen, "--data-dirs: %s/" ID_FILE " is unreadable or malformed",
				 d->path);
			return -1;
		}
		if (r == 0 && has_replicas(p)) {
			snprintf(err, errlen, "--data-dirs: %s holds replica files but no " ID_FILE
				 ": not a data directory of this server; move its chunks/ away", d->path);
			return -1;
		}
		d->fresh = r == 0;
		if (!d->uuid[0]) {
			gen_uuid(d->uuid, sizeof(d->uuid));
			if (r > 0)
				sl_info("disk %u (%s): id file without a disk identity: disk %s",
					d->index, d->path, d->uuid);
		}
		if (r > 0) {
			if (ds->uuid[0] && strcmp(ds->uuid, uuid)) {
				snprintf(err, errlen, "--data-dirs: %s belongs to another chunkserver (uuid %s, not %s)",
					 d->path, uuid, ds->uuid);
				return -1;
			}
			snprintf(ds->uuid, sizeof(ds->uuid), "%s", uuid);
			if (id)
				ds->cs_id = id;
		}
	}
	for (i = 0; i < ds->n; i++) {
		struct cs_disk *d = &ds->d[i];

		if (!d->fresh)
			continue;
		if (ds->uuid[0])	/* the server's other disks know it */
			sl_warn("disk %u (%s): no " ID_FILE ": a new, empty data directory (disk %s); "
				"whatever this server held there is gone", d->index, d->path, d->uuid);
		else
			sl_info("disk %u (%s): a new data directory (disk %s)", d->index, d->path, d->uuid);
	}
	if (!ds->uuid[0])
		gen_uuid(ds->uuid, sizeof(ds->uuid));
	for (i = 0; i < ds->n; i++) {
		if (write_id(ds->d[i].path, ds->cs_id, ds->uuid, ds->d[i].uuid)) {
			snprintf(err, errlen, "--data-dirs: cannot write %s/" ID_FILE ": %s",
				 ds->d[i].path, strerror(errno));
			return -1;
		}
		if (scan_disk(ds, &ds->d[i], err, errlen))
			return -1;
	}
	cs_disks_refresh(ds);
	return 0;
}

int cs_disks_set_id(struct cs_disks *ds, uint64_t cs_id)
{
	int i, r = 0;

	ds->cs_id = cs_id;
	for (i = 0; i < ds->n; i++)
		if (!ds->d[i].failed && write_id(ds->d[i].path, cs_id, ds->uuid, ds->d[i].uuid))
			r = -1;
	return r;
}

void cs_disks_refresh(struct cs_disks *ds)
{
	int i;

	for (i = 0; i < ds->n; i++) {
		struct cs_disk *d = &ds->d[i];
		struct statvfs sv;

		if (d->failed || statvfs(d->path, &sv))
			continue;
		d->capacity = (uint64_t)sv.f_blocks * sv.f_frsize;
		d->used = d->capacity - (uint64_t)sv.f_bavail * sv.f_frsize;
	}
}

int cs_disks_create(struct cs_disks *ds, uint64_t id, uint64_t chunk_size, uint64_t version,
		    uint64_t epoch, struct cs_chunk **out)
{
	struct cs_disk *best = NULL;
	struct cs_chunk *ch;
	int i, r;

	if (cs_disks_find(ds, id))
		return SL_E_EXIST;
	cs_disks_refresh(ds);
	for (i = 0; i < ds->n; i++) {
		struct cs_disk *d = &ds->d[i];

		if (d->failed || d->capacity - d->used < chunk_size)
			continue;
		if (!best || d->capacity - d->used > best->capacity - best->used)
			best = d;
	}
	if (!best)
		return SL_E_NOSPACE;
	r = cs_chunk_create(ds->env, best->path, id, chunk_size, version, epoch, &ch);
	if (r) {
		if (r == SL_E_IO)
			cs_disks_io_error(ds, NULL, -EIO);
		return r;
	}
	ch->disk = best;
	ch->disk_flush = best->flush.fd >= 0 ? &best->flush : NULL;
	ch->disk_index = best->index;
	list_add_tail(&ch->link, &best->chunks);
	best->nchunks++;
	hash_add(ds, ch);
	*out = ch;
	return SL_OK;
}

int cs_disks_delete(struct cs_disks *ds, struct cs_chunk *ch)
{
	struct cs_disk *d = ch->disk;
	int r;

	r = cs_chunk_unlink(d->path, ch->id);
	hash_del(ds, ch);
	list_del_init(&ch->link);
	d->nchunks--;
	cs_chunk_close(ch);
	return r;
}

static void add_lost(struct cs_disks *ds, uint64_t chunk_id, uint64_t version, uint32_t disk)
{
	if (ds->nlost == ds->lost_cap) {
		unsigned int cap = ds->lost_cap ? ds->lost_cap * 2 : 64;
		struct cs_lost *n = realloc(ds->lost, cap * sizeof(*n));

		if (!n)
			return;
		ds->lost = n;
		ds->lost_cap = cap;
	}
	ds->lost[ds->nlost++] = (struct cs_lost){ chunk_id, version, disk };
}

void cs_disks_note_missing(struct cs_disks *ds, uint64_t chunk_id, uint64_t version)
{
	unsigned int i;

	for (i = 0; i < ds->nlost; i++)
		if (ds->lost[i].chunk_id == chunk_id)
			return;		/* queued already */
	add_lost(ds, chunk_id, version, UINT32_MAX);
}

static void disk_failed(struct cs_disks *ds, struct cs_disk *d, int err)
{
	struct cs_chunk *ch, *n;

	if (d->failed)
		return;
	d->failed = true;
	sl_err("disk %u (%s) failed: %s; its %" PRIu64 " replicas are lost", d->index, d->path,
	       strerror(-err), d->nchunks);
	list_for_each_entry_safe(ch, n, &d->chunks, link) {
		ch->failed = true;
		add_lost(ds, ch->id, ch->version, ch->disk_index);
		hash_del(ds, ch);
		list_del_init(&ch->link);
		list_add_tail(&ch->link, &ds->graveyard);
	}
	d->nchunks = 0;
}

void cs_disks_io_error(void *arg, struct cs_chunk *bad, int err)
{
	if (bad && bad->disk)
		disk_failed(arg, bad->disk, err);
}

static void flush_failed(struct cs_disk_flush *df, int err)
{
	struct cs_disks *ds = df->arg;

	disk_failed(ds, container_of(df, struct cs_disk, flush), err);
}

/*
 * The device flush stands for the durability of an overwrite only where an
 * overwrite changes no metadata: ext4 and XFS.  On a copy-on-write
 * filesystem (btrfs, ZFS) or anything unknown the disk's replicas keep
 * per-file durability (chunk->disk_flush stays NULL).
 */
static int flush_init(struct cs_disks *ds, struct cs_disk *d)
{
	struct statfs sf;
	char p[4096];

	snprintf(p, sizeof(p), "%s/chunks", d->path);
	if (statfs(p, &sf))
		return -1;
	if (sf.f_type != EXT4_SUPER_MAGIC && sf.f_type != XFS_SUPER_MAGIC) {
		sl_info("disk %u (%s): filesystem type %#lx is not ext4 or XFS: no shared device flush",
			d->index, d->path, (unsigned long)sf.f_type);
		return 0;
	}
	d->flush.fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->flush.fd < 0)
		return -1;
	d->flush.ps.page = CS_PS_DISK;
	INIT_LIST_HEAD(&d->flush.ps.waiters);
	d->flush.aio = ds->env->aio;
	d->flush.failed = flush_failed;
	d->flush.arg = ds;
	return 0;
}

void cs_disks_close(struct cs_disks *ds)
{
	struct cs_chunk *ch, *n;
	int i;

	for (i = 0; i < ds->n; i++) {
		list_for_each_entry_safe(ch, n, &ds->d[i].chunks, link) {
			list_del_init(&ch->link);
			cs_chunk_close(ch);
		}
		if (ds->d[i].flush.fd >= 0)
			close(ds->d[i].flush.fd);
		if (ds->d[i].inflight_fd >= 0)
			close(ds->d[i].inflight_fd);
		free(ds->d[i].path);
	}
	list_for_each_entry_safe(ch, n, &ds->graveyard, link) {
		list_del_init(&ch->link);
		cs_chunk_close(ch);
	}
	free(ds->d);
	free(ds->lost);
	memset(ds->hash, 0, sizeof(ds->hash));
}
