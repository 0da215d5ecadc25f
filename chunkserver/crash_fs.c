/*
 * The synchronous file calls of a crash-sim build (cs_fs.h): bytes and
 * syncs go to the simulated disk (crash_sim.h), names and sizes through the
 * undo journal (crash_undo.h).
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "crash_sim.h"
#include "crash_undo.h"
#include "cs_fs.h"
#include "log.h"

int cs_fs_attach(const char *dir, char *err, size_t errlen)
{
	struct cs_csim *s = cs_csim_get();
	char rdir[PATH_MAX], udir[PATH_MAX + 16], line[512];
	struct cu_outcome o;

	if (!s) {
		snprintf(err, errlen, "crash-sim: out of memory");
		return -1;
	}
	if (cu_tree_open(dir, cs_csim_subset(s), cs_csim_seed(s), &o, err, errlen))
		return -1;
	/* cu_tree_open created the undo directory beside the canonical dir */
	if (!realpath(dir, rdir)) {
		snprintf(err, errlen, "crash-sim: %s: %s", dir, strerror(errno));
		return -1;
	}
	snprintf(udir, sizeof(udir), "%s.crash-undo", rdir);
	if (cs_csim_stats_attach(s, udir, line, sizeof(line), err, errlen))
		return -1;
	if (o.replaced)
		sl_warn("crash-sim: %s was made anew since its last run: what the journal beside it said is dropped", dir);
	sl_warn("crash-sim: power cut of %s settled: names/sizes not durable: %u (%u kept)%s%s", dir, o.meta,
		o.meta_kept, *line ? "; " : "", line);
	return 0;
}

int cs_fs_open(const char *path, int flags, mode_t mode)
{
	return cu_open(path, flags, mode);
}

ssize_t cs_fs_pwrite(int fd, const void *buf, size_t len, off_t off)
{
	return cs_csim_pwrite(cs_csim_get(), fd, buf, len, off);
}

ssize_t cs_fs_pread(int fd, void *buf, size_t len, off_t off)
{
	return cs_csim_pread(cs_csim_get(), fd, buf, len, off);
}

int cs_fs_fsync(int fd)
{
	return cs_csim_sync(cs_csim_get(), fd);
}

int cs_fs_fdatasync(int fd)
{
	return cs_csim_sync(cs_csim_get(), fd);
}

int cs_fs_ftruncate(int fd, off_t len)
{
	return cu_ftruncate(fd, len);
}

int cs_fs_rename(const char *from, const char *to)
{
	return cu_rename(from, to);
}

int cs_fs_unlink(const char *path)
{
	return cu_unlink(path);
}
