/*
 * The chunkserver's synchronous file calls (replica files in chunk_file.c,
 * the id file in disk.c): the system calls themselves, except in crash-sim
 * builds (configure --enable-crash-sim), where they go through the
 * simulated disk (crash_sim.h: bytes, syncs) and the undo journal
 * (crash_undo.h: names and sizes), so that kill -9 loses of them exactly
 * what a power cut would (crash_fs.c).
 *
 * cs_fs_attach(dir) puts a data directory under the model before anything
 * in it is read: in crash-sim builds it first settles what the previous
 * run's power cut left there.  Everything else has the system call's
 * contract (return value, errno).  cs_fs_fsync/fdatasync of a directory
 * persist its names only, as on ext4 and XFS.
 */
#ifndef SHOAL_CS_FS_H
#define SHOAL_CS_FS_H

#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>
#include <unistd.h>

#ifdef SHOAL_CRASH_SIM
int cs_fs_attach(const char *dir, char *err, size_t errlen);
int cs_fs_open(const char *path, int flags, mode_t mode);
ssize_t cs_fs_pwrite(int fd, const void *buf, size_t len, off_t off);
ssize_t cs_fs_pread(int fd, void *buf, size_t len, off_t off);
int cs_fs_fsync(int fd);
int cs_fs_fdatasync(int fd);
int cs_fs_ftruncate(int fd, off_t len);
int cs_fs_rename(const char *from, const char *to);
int cs_fs_unlink(const char *path);
#else
static inline int cs_fs_attach(const char *dir, char *err, size_t errlen) { return 0; }
static inline int cs_fs_open(const char *path, int flags, mode_t mode) { return open(path, flags, mode); }
static inline ssize_t cs_fs_pwrite(int fd, const void *buf, size_t len, off_t off)
{
	return pwrite(fd, buf, len, off);
}
static inline ssize_t cs_fs_pread(int fd, void *buf, size_t len, off_t off) { return pread(fd, buf, len, off); }
static inline int cs_fs_fsync(int fd) { return fsync(fd); }
static inline int cs_fs_fdatasync(int fd) { return fdatasync(fd); }
static inline int cs_fs_ftruncate(int fd, off_t len) { return ftruncate(fd, len); }
static inline int cs_fs_rename(const char *from, const char *to) { return rename(from, to); }
static inline int cs_fs_unlink(const char *path) { return unlink(path); }
#endif

#endif
