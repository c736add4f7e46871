// System calls whose names clash with C structs (flock, stat) or that glibc only declares under
// _GNU_SOURCE (fallocate). Each is a plain forward; Swift's System layer does the rest.
#define _GNU_SOURCE
#include "CKVSupport.h"
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

int kv_flock(int fd, int operation) { return flock(fd, operation); }

int kv_zero_range(int fd, long long offset, long long length) {
    // ext4 and xfs zero a range in place; tmpfs only punches holes, so punch and reallocate
    // (the blocks must stay reserved: the range is mapped for writing afterwards).
    if (fallocate(fd, FALLOC_FL_ZERO_RANGE, (off_t)offset, (off_t)length) == 0) return 0;
    if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)offset, (off_t)length) == 0)
        return fallocate(fd, 0, (off_t)offset, (off_t)length);
    return -1;
}

int kv_path_kind(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) return 0;
    if (S_ISDIR(st.st_mode)) return 1;
    if (S_ISREG(st.st_mode)) return 2;
    return 3;
}

int kv_fd_kind(int fd) {
    struct stat st;
    if (fstat(fd, &st) != 0) return -1;
    if (S_ISDIR(st.st_mode)) return 1;
    if (S_ISREG(st.st_mode)) return 2;
    return 3;
}

int kv_fd_identity(int fd, unsigned long long *device, unsigned long long *inode) {
    struct stat st;
    if (fstat(fd, &st) != 0) return -1;
    *device = (unsigned long long)st.st_dev;
    *inode = (unsigned long long)st.st_ino;
    return 0;
}

int kv_path_identity(const char *path, unsigned long long *device, unsigned long long *inode) {
    struct stat st;
    if (stat(path, &st) != 0) return -1;
    *device = (unsigned long long)st.st_dev;
    *inode = (unsigned long long)st.st_ino;
    return 0;
}

#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

int kv_rename_exchange(const char *a, const char *b) {
    return (int)syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE);
}

int kv_start_writeback(int fd, long long offset, long long length) {
    return sync_file_range(fd, (off_t)offset, (off_t)length, SYNC_FILE_RANGE_WRITE);
}

long long kv_fd_link_count(int fd) {
    struct stat st;
    if (fstat(fd, &st) != 0) return -1;
    return (long long)st.st_nlink;
}

int kv_path_is_symlink(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return 0;
    return S_ISLNK(st.st_mode) ? 1 : 0;
}

#include <sys/vfs.h>
#include <linux/magic.h>

int kv_file_system_space(const char *path, int *memory, long long *available) {
    struct statfs fs;
    if (statfs(path, &fs) != 0) return -1;
    *memory = fs.f_type == TMPFS_MAGIC ? 1 : 0;
    *available = (long long)fs.f_bavail * (long long)fs.f_bsize;
    return 0;
}

int kv_fd_owner(int fd, unsigned int *uid) {
    struct stat st;
    if (fstat(fd, &st) != 0) return -1;
    *uid = (unsigned int)st.st_uid;
    return 0;
}

int kv_path_owner(const char *path, unsigned int *uid) {
    struct stat st;
    if (stat(path, &st) != 0) return -1;
    *uid = (unsigned int)st.st_uid;
    return 0;
}
