/*
 * Replica files: create, open (with torn-write recovery), close, unlink.
 * Synchronous: these run at start-up and on the rare CS_SET_VERSION(create)
 * and CS_DELETE; the data path is asynchronous in chunk_store.c.
 * The layout is described in chunk_store.h.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "chunk_meta.h"
#include "chunk_store.h"
#include "crc32c.h"
#include "cs_fs.h"
#include "log.h"
#include "status.h"

static uint32_t crc_zero_block(void)
{
	static uint32_t z;	/* a constant, computed once */
	static uint8_t zeros[CS_BLOCK];

	if (!z)
		z = sl_crc32c(zeros, CS_BLOCK);
	return z;
}

uint32_t cs_crc_entry(const void *block)
{
	return sl_crc32c(block, CS_BLOCK) ^ crc_zero_block();
}

void cs_chunk_path(char *buf, size_t len, const char *dir, uint64_t id, const char *ext)
{
	snprintf(buf, len, "%s/chunks/%016" PRIx64 ".%s", dir, id, ext);
}

void cs_meta_encode(const struct cs_chunk *ch, uint64_t seq, void *page)
{
	struct cs_meta_slot *s = page;

	memset(page, 0, CS_BLOCK);
	s->magic = htole32(CS_META_MAGIC);
	s->format = htole32(CS_META_FORMAT);
	s->seq = htole64(seq);
	s->chunk_id = htole64(ch->id);
	s->chunk_size = htole64(ch->chunk_size);
	s->version = htole64(ch->version);
	s->epoch = htole64(ch->epoch);
	s->dirty = htole64(ch->dirty);
	s->crc = htole32(sl_crc32c(s, offsetof(struct cs_meta_slot, crc)));
}

/* 0 when the slot is valid (format 1 or 2), filling *out in host order. */
static int meta_decode(const void *page, struct cs_meta_slot *out)
{
	const struct cs_meta_slot *s = page;
	uint32_t format = le32toh(s->format);

	if (le32toh(s->magic) != CS_META_MAGIC ||
	    (format != CS_META_FORMAT && format != CS_META_FORMAT_V1))
		return -1;
	if (le32toh(s->crc) != sl_crc32c(s, offsetof(struct cs_meta_slot, crc)))
		return -1;
	out->format = format;
	out->seq = le64toh(s->seq);
	out->chunk_id = le64toh(s->chunk_id);
	out->chunk_size = le64toh(s->chunk_size);
	out->version = le64toh(s->version);
	out->epoch = le64toh(s->epoch);
	out->dirty = le64toh(s->dirty);
	return 0;
}

int cs_errno_status(int err)
{
	if (err < 0)
		err = -err;
	switch (err) {
	case 0:
		return SL_OK;
	case ENOENT:
		return SL_E_NOENT;
	case EEXIST:
		return SL_E_EXIST;
	case ENOSPC:
	case EDQUOT:
		return SL_E_NOSPACE;
	case EINVAL:
		return SL_E_INVAL;
	default:
		return SL_E_IO;
	}
}

static bool valid_size(uint64_t sz)
{
	return sz >= CS_MIN_CHUNK_SIZE && sz <= CS_MAX_CHUNK_SIZE && (sz & (sz - 1)) == 0;
}

/* Allocates the in-memory parts for ch->chunk_size. */
static int chunk_alloc(struct cs_store_env *env, struct cs_chunk *ch)
{
	unsigned int shift = 0, i;

	ch->env = env;
	ch->data_fd = ch->meta_fd = -1;
	ch->nblocks = ch->chunk_size >> CS_BLOCK_SHIFT;
	ch->ncrc_pages = (ch->nblocks * 4 + CS_BLOCK - 1) / CS_BLOCK;
	ch->ntracks = (uint32_t)(ch->chunk_size >> CS_TRACK_SHIFT);
	ch->ntrack_pages = (ch->ntracks * 8 + CS_BLOCK - 1) / CS_BLOCK;
	ch->nmeta_pages = ch->ncrc_pages + ch->ntrack_pages;
	while ((1ull << shift) < ch->chunk_size)
		shift++;
	/* 64 regions, none smaller than 64 KiB */
	ch->region_shift = shift > 6 + 16 ? shift - 6 : 16;
	if (posix_memalign((void **)&ch->crc, CS_BLOCK, (size_t)ch->nmeta_pages * CS_BLOCK))
		return SL_E_INTERNAL;
	memset(ch->crc, 0, (size_t)ch->nmeta_pages * CS_BLOCK);
	ch->track = (uint64_t *)((uint8_t *)ch->crc + (size_t)ch->ncrc_pages * CS_BLOCK);
	ch->crc_sync = calloc(ch->nmeta_pages, sizeof(*ch->crc_sync));
	if (!ch->crc_sync)
		return SL_E_INTERNAL;
	if (posix_memalign(&ch->hdr.buf, CS_BLOCK, CS_BLOCK))
		return SL_E_INTERNAL;
	ch->hdr.page = CS_PS_HDR;
	ch->hdr.ch = ch;
	INIT_LIST_HEAD(&ch->hdr.waiters);
	ch->dsync.page = CS_PS_DATA;
	ch->dsync.ch = ch;
	INIT_LIST_HEAD(&ch->dsync.waiters);
	for (i = 0; i < ch->nmeta_pages; i++) {
		struct cs_psync *ps = &ch->crc_sync[i];

		if (posix_memalign(&ps->buf, CS_BLOCK, CS_BLOCK))
			return SL_E_INTERNAL;
		ps->page = i;
		ps->ch = ch;
		INIT_LIST_HEAD(&ps->waiters);
	}
	cs_range_lock_init(&ch->lock);
	INIT_LIST_HEAD(&ch->link);
	return SL_OK;
}

void cs_chunk_close(struct cs_chunk *ch)
{
	unsigned int i;

	if (!ch)
		return;
	if (ch->data_fd >= 0)
		close(ch->data_fd);
	if (ch->meta_fd >= 0)
		close(ch->meta_fd);
	if (ch->crc_sync)
		for (i = 0; i < ch->nmeta_pages; i++)
			free(ch->crc_sync[i].buf);
	free(ch->crc_sync);
	free(ch->hdr.buf);
	free(ch->crc);
	free(ch);
}

int cs_disk_flush_open(struct cs_disk_flush *df, const char *dir, struct cs_aio *aio)
{
	char p[4096];
	struct stat st;
	int fd;

	snprintf(p, sizeof(p), "%s/chunks/" CS_FLUSH_FILE, dir);
	fd = cs_fs_open(p, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	memset(df, 0, sizeof(*df));
	df->fd = fd;
	df->ps.page = CS_PS_DISK;
	INIT_LIST_HEAD(&df->ps.waiters);
	df->aio = aio;
	return 0;
}

static int fsync_dir(const char *dir)
{
	char p[4096];
	int fd, r;

	snprintf(p, sizeof(p), "%s/chunks", dir);
	fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = cs_fs_fsync(fd) ? -errno : 0;
	close(fd);
	return r;
}

/* Synchronous O_DIRECT write of one header slot, durable on return. */
static int write_header_sync(struct cs_chunk *ch)
{
	ch->hdr_seq++;
	cs_meta_encode(ch, ch->hdr_seq, ch->hdr.buf);
	if (cs_fs_pwrite(ch->meta_fd, ch->hdr.buf, CS_BLOCK, (off_t)(ch->hdr_seq & 1) * CS_BLOCK) != CS_BLOCK)
		return -EIO;
	return cs_fs_fdatasync(ch->meta_fd) ? -errno : 0;
}

int cs_chunk_create(struct cs_store_env *env, const char *dir, uint64_t id, uint64_t chunk_size,
		    uint64_t version, uint64_t epoch, struct cs_chunk **out)
{
	char dpath[4096], mpath[4096], tpath[4096];
	struct cs_chunk *ch;
	int r;

	if (!valid_size(chunk_size) || id == 0)
		return SL_E_INVAL;
	ch = calloc(1, sizeof(*ch));
	if (!ch)
		return SL_E_INTERNAL;
	ch->id = id;
	ch->chunk_size = chunk_size;
	ch->version = version;
	ch->epoch = epoch;
	r = chunk_alloc(env, ch);
	if (r)
		goto fail;
	cs_chunk_path(dpath, sizeof(dpath), dir, id, "data");
	cs_chunk_path(mpath, sizeof(mpath), dir, id, "meta");
	cs_chunk_path(tpath, sizeof(tpath), dir, id, "meta.tmp");
	if (access(mpath, F_OK) == 0) {
		r = SL_E_EXIST;
		goto fail;
	}
	/* A .data without .meta is a create that crashed: start it over. */
	ch->data_fd = cs_fs_open(dpath, O_RDWR | O_CREAT | O_TRUNC | O_DIRECT | O_CLOEXEC, 0600);
	if (ch->data_fd < 0 || cs_fs_ftruncate(ch->data_fd, (off_t)chunk_size) || cs_fs_fdatasync(ch->data_fd)) {
		r = cs_errno_status(errno);
		goto fail_unlink;
	}
	ch->meta_fd = cs_fs_open(tpath, O_RDWR | O_CREAT | O_TRUNC | O_DIRECT | O_CLOEXEC, 0600);
	if (ch->meta_fd < 0 ||
	    cs_fs_ftruncate(ch->meta_fd, CS_META_HDR_LEN + (off_t)ch->nmeta_pages * CS_BLOCK)) {
		r = cs_errno_status(errno);
		goto fail_unlink;
	}
	r = write_header_sync(ch);
	if (r) {
		r = cs_errno_status(r);
		goto fail_unlink;
	}
	/* The rename makes the replica exist; the directory fsync makes that durable. */
	if (cs_fs_rename(tpath, mpath) || fsync_dir(dir)) {
		r = cs_errno_status(errno);
		goto fail_unlink;
	}
	ch->hdr.gen = ch->hdr.durable = 1;
	*out = ch;
	return SL_OK;

fail_unlink:
	cs_fs_unlink(tpath);
	cs_fs_unlink(dpath);
fail:
	cs_chunk_close(ch);
	return r;
}

/* Synchronous write of meta pages [pg0, pg1] (CRC or track pages, from memory). */
static int write_meta_pages(struct cs_chunk *ch, uint32_t pg0, uint32_t pg1)
{
	for (; pg0 <= pg1; pg0++)
		if (cs_fs_pwrite(ch->meta_fd, (uint8_t *)ch->crc + (size_t)pg0 * CS_BLOCK, CS_BLOCK,
			   CS_META_HDR_LEN + (off_t)pg0 * CS_BLOCK) != CS_BLOCK)
			return -EIO;
	return 0;
}

/* Raises tracks [t0, t1) to at least v in memory: true if one changed. */
static bool raise_tracks(struct cs_chunk *ch, uint32_t t0, uint32_t t1, uint64_t v)
{
	bool changed = false;

	for (; t0 < t1 && t0 < ch->ntracks; t0++) {
		if (le64toh(ch->track[t0]) < v) {
			ch->track[t0] = htole64(v);
			changed = true;
		}
	}
	return changed;
}

/*
 * Recomputes the CRCs of every dirty region from the data, and raises its
 * tracks to the replica's version (a torn write there may have been at
 * any version up to it): see chunk_store.h.
 */
static int recover_dirty(struct cs_chunk *ch)
{
	uint64_t rsize = 1ull << ch->region_shift;
	uint8_t *buf;
	unsigned int reg;
	int r = 0;

	if (posix_memalign((void **)&buf, CS_BLOCK, rsize))
		return -ENOMEM;
	for (reg = 0; reg < CS_REGIONS; reg++) {
		uint64_t off = (uint64_t)reg << ch->region_shift, b;
		uint32_t first, pg, last_pg;

		if (!(ch->dirty & (1ull << reg)) || off >= ch->chunk_size)
			continue;
		if (cs_fs_pread(ch->data_fd, buf, rsize, (off_t)off) != (ssize_t)rsize) {
			r = -EIO;
			break;
		}
		first = off >> CS_BLOCK_SHIFT;
		for (b = 0; b < rsize / CS_BLOCK; b++)
			ch->crc[first + b] = cs_crc_entry(buf + b * CS_BLOCK);
		pg = first * 4 / CS_BLOCK;
		last_pg = (first + rsize / CS_BLOCK - 1) * 4 / CS_BLOCK;
		r = write_meta_pages(ch, pg, last_pg);
		if (r)
			goto out;
		{
			uint32_t t0 = (uint32_t)(off >> CS_TRACK_SHIFT);
			uint32_t t1 = (uint32_t)((off + rsize) >> CS_TRACK_SHIFT);

			if (t1 == t0)
				t1 = t0 + 1;
			if (raise_tracks(ch, t0, t1, ch->version)) {
				r = write_meta_pages(ch, ch->ncrc_pages + t0 * 8 / CS_BLOCK,
						     ch->ncrc_pages + (t1 - 1) * 8 / CS_BLOCK);
				if (r)
					goto out;
			}
		}
		ch->torn_regions++;
	}
out:
	free(buf);
	if (r == 0 && cs_fs_fdatasync(ch->meta_fd))
		r = -errno;
	if (r == 0) {
		ch->dirty = 0;
		r = write_header_sync(ch);
	}
	return r;
}

int cs_chunk_open(struct cs_store_env *env, const char *dir, uint64_t id, struct cs_chunk **out)
{
	char dpath[4096], mpath[4096];
	struct cs_meta_slot s[2];
	struct cs_chunk *ch;
	uint8_t *hdr = NULL;
	int ok[2], best, r;
	struct stat st;

	ch = calloc(1, sizeof(*ch));
	if (!ch)
		return SL_E_INTERNAL;
	ch->data_fd = ch->meta_fd = -1;
	cs_chunk_path(dpath, sizeof(dpath), dir, id, "data");
	cs_chunk_path(mpath, sizeof(mpath), dir, id, "meta");
	ch->meta_fd = open(mpath, O_RDWR | O_DIRECT | O_CLOEXEC);
	if (ch->meta_fd < 0) {
		r = cs_errno_status(errno);
		goto fail;
	}
	if (posix_memalign((void **)&hdr, CS_BLOCK, CS_META_HDR_LEN)) {
		r = SL_E_INTERNAL;
		goto fail;
	}
	if (cs_fs_pread(ch->meta_fd, hdr, CS_META_HDR_LEN, 0) != CS_META_HDR_LEN) {
		r = SL_E_IO;
		goto fail;
	}
	ok[0] = meta_decode(hdr, &s[0]) == 0;
	ok[1] = meta_decode(hdr + CS_BLOCK, &s[1]) == 0;
	if (!ok[0] && !ok[1]) {
		sl_err("chunk %016" PRIx64 ": no valid header slot in %s", id, mpath);
		r = SL_E_CHECKSUM;
		goto fail;
	}
	best = !ok[0] || (ok[1] && s[1].seq > s[0].seq) ? 1 : 0;
	if (s[best].chunk_id != id || !valid_size(s[best].chunk_size)) {
		sl_err("chunk %016" PRIx64 ": header names chunk %016" PRIx64 " size %" PRIu64,
		       id, s[best].chunk_id, s[best].chunk_size);
		r = SL_E_INVAL;
		goto fail;
	}
	/* chunk_alloc resets the fds: keep the meta one */
	{
		int mfd = ch->meta_fd;

		ch->id = id;
		ch->chunk_size = s[best].chunk_size;
		r = chunk_alloc(env, ch);
		ch->meta_fd = mfd;
		if (r)
			goto fail;
	}
	ch->version = s[best].version;
	ch->epoch = s[best].epoch;
	ch->dirty = s[best].dirty;
	ch->hdr_seq = s[best].seq;
	ch->hdr.gen = ch->hdr.durable = 1;
	{
		/* format 1 has no track pages: read the CRC pages only */
		uint32_t n = s[best].format == CS_META_FORMAT ? ch->nmeta_pages : ch->ncrc_pages;

		if (cs_fs_pread(ch->meta_fd, ch->crc, (size_t)n * CS_BLOCK, CS_META_HDR_LEN) !=
		    (ssize_t)n * CS_BLOCK) {
			r = SL_E_IO;
			goto fail;
		}
	}
	ch->data_fd = open(dpath, O_RDWR | O_DIRECT | O_CLOEXEC);
	if (ch->data_fd < 0 || fstat(ch->data_fd, &st)) {
		r = cs_errno_status(errno);
		goto fail;
	}
	if ((uint64_t)st.st_size != ch->chunk_size && cs_fs_ftruncate(ch->data_fd, (off_t)ch->chunk_size)) {
		r = cs_errno_status(errno);
		goto fail;
	}
	if (s[best].format == CS_META_FORMAT_V1) {
		/*
		 * Upgrade: every track counts as modified at the current version
		 * (true of every write it holds), durable before the header says
		 * format 2; a crash in between redoes it.
		 */
		raise_tracks(ch, 0, ch->ntracks, ch->version);
		r = write_meta_pages(ch, ch->ncrc_pages, ch->nmeta_pages - 1);
		if (!r && cs_fs_fdatasync(ch->meta_fd))
			r = -errno;
		if (!r && !ch->dirty)
			r = write_header_sync(ch);	/* else recover_dirty writes it */
		if (r) {
			r = cs_errno_status(r);
			goto fail;
		}
		sl_info("chunk %016" PRIx64 ": meta format 1 upgraded to %d", id, CS_META_FORMAT);
	}
	if (ch->dirty) {
		uint64_t was = ch->dirty;

		r = recover_dirty(ch);
		if (r) {
			r = cs_errno_status(r);
			goto fail;
		}
		sl_warn("chunk %016" PRIx64 ": recovered dirty regions %#" PRIx64 " after an unclean stop",
			id, was);
	}
	free(hdr);
	*out = ch;
	return SL_OK;

fail:
	free(hdr);
	cs_chunk_close(ch);
	return r;
}

int cs_chunk_unlink(const char *dir, uint64_t id)
{
	char p[4096];
	int r = 0;

	cs_chunk_path(p, sizeof(p), dir, id, "meta");
	if (cs_fs_unlink(p) && errno != ENOENT)
		r = -errno;
	cs_chunk_path(p, sizeof(p), dir, id, "data");
	if (cs_fs_unlink(p) && errno != ENOENT && !r)
		r = -errno;
	fsync_dir(dir);
	return r ? cs_errno_status(r) : SL_OK;
}

uint64_t cs_chunk_allocated(const struct cs_chunk *ch)
{
	struct stat st;

	if (fstat(ch->data_fd, &st))
		return 0;
	return (uint64_t)st.st_blocks * 512;
}

uint64_t cs_chunk_dirty_bytes(const struct cs_chunk *ch)
{
	return (uint64_t)__builtin_popcountll(ch->dirty) << ch->region_shift;
}
