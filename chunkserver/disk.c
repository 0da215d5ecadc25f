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
#include "cs_fs.h"
#include "disk.h"
#include "log.h"
#include "status.h"

static int flush_init(struct cs_disks *ds, struct cs_disk *d, char *err, size_t errlen);

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
	char p[4096], t[4200], line[192];
	int fd, n, r = 0;

	snprintf(p, sizeof(p), "%s/" ID_FILE, dir);
	snprintf(t, sizeof(t), "%s.tmp", p);
	n = snprintf(line, sizeof(line), "cs_id=%" PRIu64 " uuid=%s disk=%s\n", id, uuid, disk);
	fd = cs_fs_open(t, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (cs_fs_pwrite(fd, line, (size_t)n, 0) != n || cs_fs_fsync(fd))
		r = errno ? -errno : -EIO;
	close(fd);
	if (!r && cs_fs_rename(t, p))
		r = -errno;
	fd = open(dir, O_RDONLY | O_DIRECTORY);
	if (fd >= 0) {
		cs_fs_fsync(fd);
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
			cs_fs_unlink(p);
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
		if ((mkdir(d->path, 0700) && errno != EEXIST) || (mkdir(p, 0700) && errno != EEXIST)) {
			snprintf(err, errlen, "--data-dirs: cannot create %s: %s", p, strerror(errno));
			return -1;
		}
		/* crash-sim builds: settle what a power cut left here before anything is read */
		if (cs_fs_attach(d->path, err, errlen))
			return -1;
		if (flush_init(ds, d, err, errlen))
			return -1;
		d->inflight_fd = open_inflight(p);
		{
			struct stat dst;

			if (!stat(p, &dst))
				d->dev = dst.st_dev;
		}
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

struct hung_ctx {
	struct cs_disks *ds;
	uint64_t timeout_ms;
};

static void hung_request(int fd, uint64_t age_ms, void *arg)
{
	struct hung_ctx *h = arg;
	struct stat st;
	int i;

	if (fstat(fd, &st))
		return;
	for (i = 0; i < h->ds->n; i++) {
		struct cs_disk *d = &h->ds->d[i];

		if (d->failed || d->dev != st.st_dev)
			continue;
		sl_err("disk %u (%s): a request has been in the kernel for %" PRIu64 " ms (disk_timeout_ms %" PRIu64 "): the disk hangs",
		       d->index, d->path, age_ms, h->timeout_ms);
		disk_failed(h->ds, d, -ETIMEDOUT);
	}
}

void cs_disks_hung_check(struct cs_disks *ds, struct cs_aio *aio, uint64_t timeout_ms)
{
	struct hung_ctx h = { ds, timeout_ms };

	if (timeout_ms)
		cs_aio_for_each_stuck(aio, timeout_ms, 64, hung_request, &h);
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
 * The mount of dev in /proc/self/mountinfo: its filesystem type and super
 * options ("rw,relatime,..."), found by major:minor.  0, or -1 if none.
 */
static int mount_of(dev_t dev, char *fstype, size_t tlen, char *opts, size_t olen)
{
	char line[4096], t[64], o[1024];
	unsigned int ma, mi;
	int r = -1;
	FILE *f = fopen("/proc/self/mountinfo", "re");
	const char *sep;

	if (!f)
		return -1;
	while (r && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%*u %*u %u:%u", &ma, &mi) != 2 || makedev(ma, mi) != dev)
			continue;
		/* the optional fields end at " - ": then type, source, super options */
		sep = strstr(line, " - ");
		if (!sep || sscanf(sep + 3, "%63s %*s %1023s", t, o) != 2)
			continue;
		snprintf(fstype, tlen, "%s", t);
		snprintf(opts, olen, "%s", o);
		r = 0;
	}
	fclose(f);
	return r;
}

/* opt is one of the comma-separated options in opts. */
static bool has_opt(const char *opts, const char *opt)
{
	size_t n = strlen(opt);
	const char *p;

	for (p = opts; (p = strstr(p, opt)); p += n)
		if ((p == opts || p[-1] == ',') && (p[n] == ',' || !p[n]))
			return true;
	return false;
}

/*
 * Only where the durability point is proven (chunk_store.h, struct
 * cs_disk_flush; doc/protocol.md "Durability"): ext4, with a journal or
 * without, and XFS.  Refused there as well: ext4 mounted without cache
 * flushes (nobarrier, barrier=0), and ext4 with data=journal, where
 * O_DIRECT falls back to the page cache and a write completed before the
 * device flush may not have reached the device at all.  One line in err.
 */
static int fs_proven(const char *dir, char *err, size_t errlen)
{
	char p[4096], type[64] = "?", opts[1024] = "";
	struct statfs sf;
	struct stat st;

	snprintf(p, sizeof(p), "%s/chunks", dir);
	if (statfs(p, &sf) || stat(p, &st)) {
		snprintf(err, errlen, "--data-dirs: %s: %s", p, strerror(errno));
		return -1;
	}
	if (mount_of(st.st_dev, type, sizeof(type), opts, sizeof(opts)) ||
	    (sf.f_type != EXT4_SUPER_MAGIC && sf.f_type != XFS_SUPER_MAGIC) ||
	    (strcmp(type, "ext4") && strcmp(type, "xfs"))) {
		snprintf(err, errlen, "--data-dirs: %s is on %s (filesystem type %#lx): only ext4 and xfs "
			 "are supported, where durability is proven (shoal-chunkserver(8), DURABILITY)",
			 dir, type, (unsigned long)sf.f_type);
		return -1;
	}
	if (has_opt(opts, "nobarrier") || has_opt(opts, "barrier=0")) {
		snprintf(err, errlen, "--data-dirs: %s is on %s mounted without cache flushes (nobarrier): "
			 "writes would not be durable (shoal-chunkserver(8), DURABILITY)", dir, type);
		return -1;
	}
	if (has_opt(opts, "data=journal")) {
		snprintf(err, errlen, "--data-dirs: %s is on ext4 with data=journal, where O_DIRECT writes "
			 "go through the page cache: not supported (shoal-chunkserver(8), DURABILITY)", dir);
		return -1;
	}
	return 0;
}

/* The disk's shared device flush; the disk is refused unless its filesystem is proven. */
static int flush_init(struct cs_disks *ds, struct cs_disk *d, char *err, size_t errlen)
{
	int r;

	if (fs_proven(d->path, err, errlen))
		return -1;
	r = cs_disk_flush_open(&d->flush, d->path, ds->env->aio);
	if (r) {
		snprintf(err, errlen, "--data-dirs: %s/chunks/" CS_FLUSH_FILE ": cannot open it as a regular file: %s",
			 d->path, strerror(-r));
		return -1;
	}
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
