/*
 * crash_preload.so: power cuts for the master's Raft log and snapshots
 * (tests/cluster/81crash-lib.sh loads it into shoal-master with LD_PRELOAD;
 * no code of the master changes).
 *
 *   SHOAL_CRASH_ROOT=DIR        the directory whose changes are journaled
 *   SHOAL_CRASH_SIM_SUBSET=1    subset mode (chunkserver/crash_undo.h)
 *
 * Every change the process makes under DIR goes through the undo journal
 * of chunkserver/crash_undo.h: the files hold the page cache's view, the
 * journal how to take back what is not yet durable.  kill -9 is the power
 * cut; at the next start this library's constructor, before main(),
 * settles what the cut left (all of it taken back, or in subset mode a
 * random prefix of the name and size changes and a random subset of the
 * written sectors kept) and prints one line to stderr (the master's log):
 * "crash-preload: power cut of DIR settled: ...".
 *
 * What libraft 0.15 and libuv 1.44 call (strace of shoal-master, and their
 * imported symbols): open64 (O_CREAT|O_EXCL|O_DSYNC segments, O_CREAT
 * metadata and snapshot files), pwrite/pwrite64/write and, through
 * syscall(), pwritev; syscall(io_submit)/syscall(io_getevents) for the
 * segment writes (O_DIRECT on an O_DSYNC descriptor, RWF_NOWAIT, falling
 * back to a blocking io_submit in a pool thread); posix_fallocate, fsync,
 * fdatasync, ftruncate64, rename, unlink.  All of them are interposed here
 * (and the other spellings of the same calls).  A write submitted with
 * io_submit counts as in flight until io_getevents hands its completion to
 * the caller: only then can libraft have acted on it.  The kernel finishes
 * in-flight requests of a killed process, so at a cut such a write is
 * complete on file; the journal takes it back (or tears it) anyway, as a
 * power cut could.
 *
 * Calls are serialized by one mutex (libuv's pool threads write too); the
 * journal's own calls reach the real functions (a thread-local guard).
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/aio_abi.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include "crash_undo.h"

#define EXPORT __attribute__((visibility("default")))
#define MAX_INFLIGHT 256

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static __thread int inside;		/* the journal's own calls go straight through */
static bool active;

static struct {
	const struct iocb *cb;
	uint64_t id;
	bool dsync;
} inflight[MAX_INFLIGHT];

/* The next definition of name (libc's). */
static void *real(const char *name)
{
	void *f = dlsym(RTLD_NEXT, name);

	if (!f) {
		fprintf(stderr, "crash-preload: no %s in libc\n", name);
		abort();
	}
	return f;
}

#define REAL(ret, name, ...) \
	static ret (*real_##name)(__VA_ARGS__); \
	if (!real_##name) \
		real_##name = real(#name)

/* Whether this call is ours to journal; if so, the lock is held until leave(). */
static bool enter(void)
{
	if (!active || inside)
		return false;
	pthread_mutex_lock(&mu);
	inside++;
	return true;
}

static void leave(void)
{
	inside--;
	pthread_mutex_unlock(&mu);
}

/* path relative to dirfd, made absolute in buf; path itself when it needs nothing. */
static const char *at_path(int dirfd, const char *path, char *buf)
{
	char p[64], d[PATH_MAX];
	ssize_t n;

	if (!path || path[0] == '/' || dirfd == AT_FDCWD)
		return path;
	snprintf(p, sizeof(p), "/proc/self/fd/%d", dirfd);
	n = readlink(p, d, sizeof(d) - 1);
	if (n <= 0)
		return path;
	d[n] = 0;
	if (snprintf(buf, PATH_MAX, "%s/%s", d, path) >= PATH_MAX)
		return path;
	return buf;
}

static bool fd_dsync(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl >= 0 && (fl & O_DSYNC);
}

/* ---- writes ---- */

/* Journals the write, runs it (do_write), ends it. */
#define JOURNALED_WRITE(fd, off, len, durable_flag, call) ({ \
	uint64_t id_ = 0; \
	ssize_t r_; \
	int e_; \
	bool dsync_ = false; \
	if (enter()) { \
		id_ = cu_write_begin(fd, off, len); \
		dsync_ = (durable_flag) || fd_dsync(fd); \
		leave(); \
	} \
	r_ = call; \
	e_ = errno; \
	if (id_ && enter()) { \
		cu_write_end(id_, dsync_ || r_ <= 0); \
		leave(); \
	} \
	errno = e_; \
	r_; })

static size_t iov_len(const struct iovec *iov, int n)
{
	size_t len = 0;
	int i;

	for (i = 0; i < n; i++)
		len += iov[i].iov_len;
	return len;
}

/* write()'s offset: the file's position, or its end under O_APPEND. */
static off_t cur_off(int fd)
{
	struct stat st;
	int fl = fcntl(fd, F_GETFL);

	if (fl >= 0 && (fl & O_APPEND))
		return fstat(fd, &st) ? -1 : st.st_size;
	return lseek(fd, 0, SEEK_CUR);
}

EXPORT ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	REAL(ssize_t, pwrite, int, const void *, size_t, off_t);
	return JOURNALED_WRITE(fd, off, n, false, real_pwrite(fd, buf, n, off));
}

EXPORT ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
	REAL(ssize_t, pwrite64, int, const void *, size_t, off_t);
	return JOURNALED_WRITE(fd, off, n, false, real_pwrite64(fd, buf, n, off));
}

EXPORT ssize_t write(int fd, const void *buf, size_t n)
{
	REAL(ssize_t, write, int, const void *, size_t);
	if (!active || inside)
		return real_write(fd, buf, n);
	return JOURNALED_WRITE(fd, cur_off(fd), n, false, real_write(fd, buf, n));
}

EXPORT ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	REAL(ssize_t, writev, int, const struct iovec *, int);
	if (!active || inside)
		return real_writev(fd, iov, cnt);
	return JOURNALED_WRITE(fd, cur_off(fd), iov_len(iov, cnt), false, real_writev(fd, iov, cnt));
}

EXPORT ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
	REAL(ssize_t, pwritev, int, const struct iovec *, int, off_t);
	return JOURNALED_WRITE(fd, off, iov_len(iov, cnt), false, real_pwritev(fd, iov, cnt, off));
}

EXPORT ssize_t pwritev64(int fd, const struct iovec *iov, int cnt, off_t off)
{
	REAL(ssize_t, pwritev64, int, const struct iovec *, int, off_t);
	return JOURNALED_WRITE(fd, off, iov_len(iov, cnt), false, real_pwritev64(fd, iov, cnt, off));
}

EXPORT ssize_t pwritev2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
	REAL(ssize_t, pwritev2, int, const struct iovec *, int, off_t, int);
	return JOURNALED_WRITE(fd, off, iov_len(iov, cnt), flags & (RWF_DSYNC | RWF_SYNC),
			       real_pwritev2(fd, iov, cnt, off, flags));
}

/* ---- kernel AIO (libraft calls it through syscall()) ---- */

static void inflight_add(const struct iocb *cb, uint64_t id, bool dsync)
{
	int i;

	for (i = 0; i < MAX_INFLIGHT; i++)
		if (!inflight[i].cb) {
			inflight[i].cb = cb;
			inflight[i].id = id;
			inflight[i].dsync = dsync;
			return;
		}
	/* no room: untracked from here on, it counts as complete and not durable */
	cu_write_end(id, false);
}

/* The request's write ended (completed, failed, or never submitted). */
static void inflight_end(const struct iocb *cb, bool wrote)
{
	int i;

	for (i = 0; i < MAX_INFLIGHT; i++)
		if (inflight[i].cb == cb) {
			cu_write_end(inflight[i].id, inflight[i].dsync || !wrote);
			inflight[i].cb = NULL;
			return;
		}
}

static long aio_submit(long (*sys)(long, ...), long ctx, long nr, struct iocb **cbs)
{
	long r, i, n;

	if (enter()) {
		for (i = 0; i < nr; i++) {
			struct iocb *cb = cbs[i];
			size_t len = (size_t)cb->aio_nbytes;
			uint64_t id;

			if (cb->aio_lio_opcode != IOCB_CMD_PWRITE && cb->aio_lio_opcode != IOCB_CMD_PWRITEV)
				continue;
			if (cb->aio_lio_opcode == IOCB_CMD_PWRITEV)
				len = iov_len((const struct iovec *)(uintptr_t)cb->aio_buf, (int)cb->aio_nbytes);
			id = cu_write_begin((int)cb->aio_fildes, (off_t)cb->aio_offset, len);
			if (id)
				inflight_add(cb, id, (cb->aio_rw_flags & (RWF_DSYNC | RWF_SYNC)) ||
							     fd_dsync((int)cb->aio_fildes));
		}
		leave();
	}
	r = sys(SYS_io_submit, ctx, nr, cbs);
	n = r < 0 ? 0 : r;
	if (n < nr && enter()) {
		for (i = n; i < nr; i++)
			inflight_end(cbs[i], false);
		leave();
	}
	return r;
}

static void aio_reaped(const struct io_event *ev, long n)
{
	long i;

	if (n <= 0 || !enter())
		return;
	for (i = 0; i < n; i++)
		inflight_end((const struct iocb *)(uintptr_t)ev[i].obj, ev[i].res >= 0);
	leave();
}

EXPORT long syscall(long nr, ...)
{
	REAL(long, syscall, long, ...);
	long a[6], r;
	va_list ap;
	int i;

	/* every syscall() passes its arguments in registers: reading six is what libc does */
	va_start(ap, nr);
	for (i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	switch (nr) {
	case SYS_io_submit:
		return aio_submit(real_syscall, a[0], a[1], (struct iocb **)a[2]);
	case SYS_io_getevents:
	case SYS_io_pgetevents:
		r = real_syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
		aio_reaped((const struct io_event *)a[3], r);
		return r;
	case SYS_pwritev:
		return JOURNALED_WRITE((int)a[0], (off_t)a[3], iov_len((const struct iovec *)a[1], (int)a[2]),
				       false, real_syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]));
	case SYS_pwritev2:
		return JOURNALED_WRITE((int)a[0], (off_t)a[3], iov_len((const struct iovec *)a[1], (int)a[2]),
				       a[5] & (RWF_DSYNC | RWF_SYNC),
				       real_syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]));
	default:
		return real_syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
	}
}

/* ---- syncs, sizes, names ---- */

static int synced(int r, int fd)
{
	int e = errno;

	if (r == 0 && enter()) {
		cu_synced(fd);
		leave();
	}
	errno = e;
	return r;
}

EXPORT int fsync(int fd)
{
	REAL(int, fsync, int);
	return synced(real_fsync(fd), fd);
}

EXPORT int fdatasync(int fd)
{
	REAL(int, fdatasync, int);
	return synced(real_fdatasync(fd), fd);
}

/* Runs a journaled call under the lock, or the real one. */
#define JOURNALED(journaled, plain) ({ \
	int r_; \
	if (enter()) { \
		r_ = (journaled); \
		int e_ = errno; \
		leave(); \
		errno = e_; \
	} else { \
		r_ = (plain); \
	} \
	r_; })

EXPORT int ftruncate(int fd, off_t len)
{
	REAL(int, ftruncate, int, off_t);
	return JOURNALED(cu_ftruncate(fd, len), real_ftruncate(fd, len));
}

EXPORT int ftruncate64(int fd, off_t len)
{
	REAL(int, ftruncate64, int, off_t);
	return JOURNALED(cu_ftruncate(fd, len), real_ftruncate64(fd, len));
}

EXPORT int fallocate(int fd, int mode, off_t off, off_t len)
{
	REAL(int, fallocate, int, int, off_t, off_t);
	return JOURNALED(cu_fallocate(fd, mode, off, len), real_fallocate(fd, mode, off, len));
}

EXPORT int fallocate64(int fd, int mode, off_t off, off_t len)
{
	REAL(int, fallocate64, int, int, off_t, off_t);
	return JOURNALED(cu_fallocate(fd, mode, off, len), real_fallocate64(fd, mode, off, len));
}

/* posix_fallocate returns the error number instead of setting errno. */
EXPORT int posix_fallocate(int fd, off_t off, off_t len)
{
	REAL(int, posix_fallocate, int, off_t, off_t);
	int r = JOURNALED(cu_fallocate(fd, 0, off, len) ? -1 : 0, -2);

	if (r == -2)
		return real_posix_fallocate(fd, off, len);
	return r ? errno : 0;
}

EXPORT int posix_fallocate64(int fd, off_t off, off_t len)
{
	return posix_fallocate(fd, off, len);
}

EXPORT int rename(const char *from, const char *to)
{
	REAL(int, rename, const char *, const char *);
	return JOURNALED(cu_rename(from, to), real_rename(from, to));
}

EXPORT int renameat(int fd1, const char *from, int fd2, const char *to)
{
	REAL(int, renameat, int, const char *, int, const char *);
	char b1[PATH_MAX], b2[PATH_MAX];

	return JOURNALED(cu_rename(at_path(fd1, from, b1), at_path(fd2, to, b2)),
			 real_renameat(fd1, from, fd2, to));
}

EXPORT int renameat2(int fd1, const char *from, int fd2, const char *to, unsigned int flags)
{
	REAL(int, renameat2, int, const char *, int, const char *, unsigned int);
	char b1[PATH_MAX], b2[PATH_MAX];

	if (flags)	/* RENAME_EXCHANGE and friends: not modelled, and nobody here uses them */
		return real_renameat2(fd1, from, fd2, to, flags);
	return JOURNALED(cu_rename(at_path(fd1, from, b1), at_path(fd2, to, b2)),
			 real_renameat2(fd1, from, fd2, to, flags));
}

EXPORT int unlink(const char *path)
{
	REAL(int, unlink, const char *);
	return JOURNALED(cu_unlink(path), real_unlink(path));
}

EXPORT int unlinkat(int fd, const char *path, int flags)
{
	REAL(int, unlinkat, int, const char *, int);
	char b[PATH_MAX];

	if (flags & AT_REMOVEDIR)
		return real_unlinkat(fd, path, flags);
	return JOURNALED(cu_unlink(at_path(fd, path, b)), real_unlinkat(fd, path, flags));
}

static int open_common(int dirfd, const char *path, int flags, mode_t mode)
{
	REAL(int, openat, int, const char *, int, ...);
	char b[PATH_MAX];

	if (!(flags & (O_CREAT | O_TRUNC)))
		return real_openat(dirfd, path, flags, mode);
	return JOURNALED(cu_open(at_path(dirfd, path, b), flags, mode), real_openat(dirfd, path, flags, mode));
}

/* open's mode argument exists only with O_CREAT or O_TMPFILE. */
#define OPEN_MODE(flags) ({ \
	mode_t m_ = 0; \
	if ((flags) & (O_CREAT | __O_TMPFILE)) { \
		va_list ap_; \
		va_start(ap_, flags); \
		m_ = (mode_t)va_arg(ap_, int); \
		va_end(ap_); \
	} \
	m_; })

EXPORT int open(const char *path, int flags, ...)
{
	return open_common(AT_FDCWD, path, flags, OPEN_MODE(flags));
}

EXPORT int open64(const char *path, int flags, ...)
{
	return open_common(AT_FDCWD, path, flags, OPEN_MODE(flags));
}

EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
	return open_common(dirfd, path, flags, OPEN_MODE(flags));
}

EXPORT int openat64(int dirfd, const char *path, int flags, ...)
{
	return open_common(dirfd, path, flags, OPEN_MODE(flags));
}

/* ---- the power cut's outcome, before main() ---- */

__attribute__((constructor)) static void crash_preload_init(void)
{
	const char *root = getenv("SHOAL_CRASH_ROOT"), *sub = getenv("SHOAL_CRASH_SIM_SUBSET");
	bool subset = sub && !strcmp(sub, "1");
	struct timespec ts;
	struct cu_outcome o;
	char err[512];

	if (!root || !*root)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	inside++;
	if ((mkdir(root, 0750) && errno != EEXIST) ||
	    cu_tree_open(root, subset, ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)getpid() ^ (uint64_t)ts.tv_sec,
			 &o, err, sizeof(err))) {
		fprintf(stderr, "crash-preload: %s: cannot journal it: %s\n", root,
			errno ? strerror(errno) : err);
		fprintf(stderr, "crash-preload: %s\n", err);
		_exit(70);
	}
	inside--;
	if (o.replaced)
		fprintf(stderr, "crash-preload: %s was made anew since its last run: what the journal beside it said is dropped\n",
			root);
	fprintf(stderr,
		"crash-preload: power cut of %s settled: names/sizes not durable: %u (%u kept); "
		"sectors not durable: %llu (%llu kept); files gone: %u; %s mode\n",
		root, o.meta, o.meta_kept, (unsigned long long)o.sectors, (unsigned long long)o.sectors_kept,
		o.lost_files, subset ? "subset" : "all-or-nothing");
	active = true;
}
